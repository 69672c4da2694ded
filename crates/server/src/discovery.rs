//! The discovery documents kubectl and client-go read to learn what the server serves:
//!
//! | Path | Document |
//! |---|---|
//! | `/api` | [`ApiVersions`] (`v1`, for namespaces) |
//! | `/api/v1` | [`ApiResourceList`] with `namespaces` and `namespaces/status` |
//! | `/apis` | [`ApiGroupList`] with `planspec.io`, `v1alpha1` preferred |
//! | `/apis/planspec.io` | [`ApiGroup`] |
//! | `/apis/planspec.io/v1alpha1` | [`ApiResourceList`]: every kind and its `/status`, `plans/graph`, and the upstream `validate` and `apply` operations |
//! | `/version` | [`VersionInfo`] |
//!
//! These are the legacy (unaggregated) documents. Current kubectl first asks for the
//! aggregated form (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,application/json`)
//! and falls back to these when the response's `Content-Type` is plain `application/json`, so
//! the HTTP layer must answer with exactly that content type.

use crate::resource::{ResourceType, GROUP, VERSION};
use planspec_model::Kind;
use serde::{Deserialize, Serialize};

/// Verbs of every PlanSpec kind.
pub const KIND_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Verbs of `namespaces` (as in Kubernetes: no `deletecollection`).
pub const NAMESPACE_VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Verbs of a `/status` subresource.
pub const STATUS_VERBS: [&str; 3] = ["get", "patch", "update"];
/// Categories of every PlanSpec kind: `kubectl get planspec` and `kubectl get all` list them.
pub const CATEGORIES: [&str; 2] = ["planspec", "all"];
/// Categories of the governance kinds (not in `all`, as `kubectl get all` leaves RBAC out).
pub const GOVERNANCE_CATEGORIES: [&str; 1] = ["planspec"];
/// Verbs of `plans/graph` (`GET …/plans/{name}/graph`).
pub const GRAPH_VERBS: [&str; 1] = ["get"];
/// Verbs of the upstream operations `validate` (`POST /apis/planspec.io/v1alpha1/validate`)
/// and `apply` (`POST …/namespaces/{ns}/apply`), listed as create-only resources the way
/// Kubernetes lists its non-CRUD endpoints (`tokenreviews`, `bindings`).
pub const OPERATION_VERBS: [&str; 1] = ["create"];

/// A group version as listed in discovery (`metav1.GroupVersionForDiscovery`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupVersionForDiscovery {
    /// `planspec.io/v1alpha1`.
    pub group_version: String,
    /// `v1alpha1`.
    pub version: String,
}

/// Where clients in a CIDR should reach the server (`metav1.ServerAddressByClientCIDR`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerAddressByClientCidr {
    /// The client CIDR, e.g. `0.0.0.0/0`.
    #[serde(rename = "clientCIDR")]
    pub client_cidr: String,
    /// `host:port` clients in that CIDR use.
    pub server_address: String,
}

/// `/api`: the versions of the core group (`metav1.APIVersions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiVersions {
    /// Always `APIVersions`.
    pub kind: String,
    /// `["v1"]`.
    pub versions: Vec<String>,
    /// Where to reach the server; Kubernetes always sends the field.
    #[serde(rename = "serverAddressByClientCIDRs", default)]
    pub server_address_by_client_cidrs: Vec<ServerAddressByClientCidr>,
}

/// An API group (`metav1.APIGroup`): the document at `/apis/<group>`, and an entry of
/// [`ApiGroupList`] (where `kind` and `apiVersion` are absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroup {
    /// `APIGroup` on the stand-alone document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `v1` on the stand-alone document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The group name, `planspec.io`.
    pub name: String,
    /// The versions served.
    pub versions: Vec<GroupVersionForDiscovery>,
    /// The version clients should use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_version: Option<GroupVersionForDiscovery>,
}

/// `/apis`: the named groups (`metav1.APIGroupList`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroupList {
    /// Always `APIGroupList`.
    pub kind: String,
    /// Always `v1`.
    pub api_version: String,
    /// The groups.
    pub groups: Vec<ApiGroup>,
}

/// One resource in an [`ApiResourceList`] (`metav1.APIResource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// The plural (`plans`), or `plans/status` for the subresource.
    pub name: String,
    /// The singular (`plan`); empty for subresources, as in Kubernetes.
    pub singular_name: String,
    /// `true` for namespaced resources.
    pub namespaced: bool,
    /// The kind (`Plan`).
    pub kind: String,
    /// Supported verbs.
    pub verbs: Vec<String>,
    /// Short names (`pl`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    /// Categories (`planspec`, `all`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// `/apis/<group>/<version>` or `/api/v1`: the resources of one group version
/// (`metav1.APIResourceList`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceList {
    /// Always `APIResourceList`.
    pub kind: String,
    /// Always `v1`.
    pub api_version: String,
    /// `planspec.io/v1alpha1` or `v1`.
    pub group_version: String,
    /// The resources, each followed by its `/status` subresource.
    pub resources: Vec<ApiResource>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn planspec_version() -> GroupVersionForDiscovery {
    GroupVersionForDiscovery {
        group_version: format!("{GROUP}/{VERSION}"),
        version: VERSION.to_owned(),
    }
}

/// `/api`. `server_address` (`host:port`) is advertised for every client CIDR when given.
pub fn api_versions(server_address: Option<&str>) -> ApiVersions {
    ApiVersions {
        kind: "APIVersions".to_owned(),
        versions: vec!["v1".to_owned()],
        server_address_by_client_cidrs: server_address
            .map(|a| ServerAddressByClientCidr {
                client_cidr: "0.0.0.0/0".to_owned(),
                server_address: a.to_owned(),
            })
            .into_iter()
            .collect(),
    }
}

/// `/apis`.
pub fn api_group_list() -> ApiGroupList {
    ApiGroupList {
        kind: "APIGroupList".to_owned(),
        api_version: "v1".to_owned(),
        groups: vec![ApiGroup {
            kind: None,
            api_version: None,
            ..api_group()
        }],
    }
}

/// `/apis/planspec.io`.
pub fn api_group() -> ApiGroup {
    ApiGroup {
        kind: Some("APIGroup".to_owned()),
        api_version: Some("v1".to_owned()),
        name: GROUP.to_owned(),
        versions: vec![planspec_version()],
        preferred_version: Some(planspec_version()),
    }
}

/// The resource and its `/status` subresource (the RBAC kinds have none).
fn entries(resource: ResourceType) -> Vec<ApiResource> {
    let (verbs, categories): (&[&str], &[&str]) = match resource {
        ResourceType::Kind(k) if Kind::PLAN_MODEL.contains(&k) => (&KIND_VERBS, &CATEGORIES),
        ResourceType::Kind(_) => (&KIND_VERBS, &GOVERNANCE_CATEGORIES),
        ResourceType::Namespace => (&NAMESPACE_VERBS, &[]),
    };
    let mut entries = vec![
        ApiResource {
            name: resource.plural().to_owned(),
            singular_name: resource.singular().to_owned(),
            namespaced: resource.namespaced(),
            kind: resource.kind().to_owned(),
            verbs: strings(verbs),
            short_names: strings(resource.short_names()),
            categories: strings(categories),
        },
        ApiResource {
            name: format!("{}/status", resource.plural()),
            singular_name: String::new(),
            namespaced: resource.namespaced(),
            kind: resource.kind().to_owned(),
            verbs: strings(&STATUS_VERBS),
            short_names: Vec::new(),
            categories: Vec::new(),
        },
    ];
    if matches!(resource, ResourceType::Kind(k) if !k.has_spec()) {
        entries.pop();
    }
    entries
}

/// `/apis/planspec.io/v1alpha1`: every kind (name = plural, singular, short names,
/// categories, all verbs) and its `/status` subresource; then `plans/graph` and the upstream
/// operations `validate` (cluster-wide) and `apply` (per namespace).
pub fn api_resource_list() -> ApiResourceList {
    let mut resources: Vec<ApiResource> = Kind::ALL
        .into_iter()
        .flat_map(|k| entries(ResourceType::Kind(k)))
        .collect();
    let plans = ResourceType::Kind(Kind::Plan);
    let operation = |name: &str, namespaced: bool, kind: &str, verbs: &[&str]| ApiResource {
        name: name.to_owned(),
        singular_name: String::new(),
        namespaced,
        kind: kind.to_owned(),
        verbs: strings(verbs),
        short_names: Vec::new(),
        categories: Vec::new(),
    };
    resources.push(operation(
        &format!("{}/graph", plans.plural()),
        true,
        "PlanGraph",
        &GRAPH_VERBS,
    ));
    resources.push(operation(
        "validate",
        false,
        "ValidationResult",
        &OPERATION_VERBS,
    ));
    resources.push(operation("apply", true, "ApplyResult", &OPERATION_VERBS));
    ApiResourceList {
        kind: "APIResourceList".to_owned(),
        api_version: "v1".to_owned(),
        group_version: format!("{GROUP}/{VERSION}"),
        resources,
    }
}

/// `/api/v1`: `namespaces` and `namespaces/status`.
pub fn core_v1_resource_list() -> ApiResourceList {
    ApiResourceList {
        kind: "APIResourceList".to_owned(),
        api_version: "v1".to_owned(),
        group_version: "v1".to_owned(),
        resources: entries(ResourceType::Namespace),
    }
}

/// `/version` (`version.Info`): this server's version in the shape kubectl reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Major version (`0`).
    pub major: String,
    /// Minor version (`1`).
    pub minor: String,
    /// `v0.1.0`.
    pub git_version: String,
    /// The commit built from, when known.
    pub git_commit: String,
    /// `clean`, `dirty`, or empty when unknown.
    pub git_tree_state: String,
    /// When it was built, when known.
    pub build_date: String,
    /// The toolchain (Kubernetes reports its Go version here).
    pub go_version: String,
    /// `rustc`.
    pub compiler: String,
    /// `linux/amd64`, …
    pub platform: String,
}

/// `/version` of this build.
pub fn version_info() -> VersionInfo {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or("0").to_owned();
    let minor = parts.next().unwrap_or("0").to_owned();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    VersionInfo {
        major,
        minor,
        git_version: format!("v{version}"),
        git_commit: String::new(),
        git_tree_state: String::new(),
        build_date: String::new(),
        go_version: String::new(),
        compiler: "rustc".to_owned(),
        platform: format!("{}/{arch}", std::env::consts::OS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn to_json<T: Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap()
    }

    #[test]
    fn api_versions_shape() {
        assert_eq!(
            to_json(&api_versions(None)),
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        );
        assert_eq!(
            to_json(&api_versions(Some("127.0.0.1:8080")))["serverAddressByClientCIDRs"],
            json!([{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:8080"}])
        );
    }

    #[test]
    fn groups_shape() {
        let gv = json!({"groupVersion": "planspec.io/v1alpha1", "version": "v1alpha1"});
        assert_eq!(
            to_json(&api_group_list()),
            json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [{"name": "planspec.io", "versions": [gv], "preferredVersion": gv}]
            })
        );
        assert_eq!(
            to_json(&api_group()),
            json!({
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": "planspec.io",
                "versions": [gv],
                "preferredVersion": gv
            })
        );
    }

    #[test]
    fn planspec_resources() {
        let list = to_json(&api_resource_list());
        assert_eq!(list["kind"], "APIResourceList");
        assert_eq!(list["apiVersion"], "v1");
        assert_eq!(list["groupVersion"], "planspec.io/v1alpha1");
        let resources = list["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 15 + 2 * 2 + 4);
        assert_eq!(
            resources[20..],
            [
                json!({"name": "plans/graph", "singularName": "", "namespaced": true, "kind": "PlanGraph", "verbs": ["get"]}),
                json!({"name": "validate", "singularName": "", "namespaced": false, "kind": "ValidationResult", "verbs": ["create"]}),
                json!({"name": "apply", "singularName": "", "namespaced": true, "kind": "ApplyResult", "verbs": ["create"]}),
            ]
        );
        assert_eq!(
            resources[2],
            json!({
                "name": "plans",
                "singularName": "plan",
                "namespaced": true,
                "kind": "Plan",
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                "shortNames": ["pl"],
                "categories": ["planspec", "all"]
            })
        );
        assert_eq!(
            resources[3],
            json!({
                "name": "plans/status",
                "singularName": "",
                "namespaced": true,
                "kind": "Plan",
                "verbs": ["get", "patch", "update"]
            })
        );
        for kind in Kind::ALL {
            let main = resources
                .iter()
                .find(|r| r["name"] == kind.plural())
                .unwrap();
            assert_eq!(main["kind"], kind.as_str());
            assert_eq!(main["singularName"], kind.as_str().to_lowercase());
            let short: Vec<&str> = kind.short_names().to_vec();
            assert_eq!(
                main.get("shortNames").cloned().unwrap_or(json!([])),
                json!(short)
            );
            assert_eq!(main["namespaced"], kind.namespaced());
            assert_eq!(
                resources
                    .iter()
                    .any(|r| r["name"] == format!("{}/status", kind.plural())),
                kind.has_spec()
            );
            let in_all = main["categories"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "all"));
            assert_eq!(in_all, Kind::PLAN_MODEL.contains(&kind), "{kind:?}");
        }
    }

    #[test]
    fn core_resources() {
        assert_eq!(
            to_json(&core_v1_resource_list()),
            json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "v1",
                "resources": [
                    {
                        "name": "namespaces",
                        "singularName": "namespace",
                        "namespaced": false,
                        "kind": "Namespace",
                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                        "shortNames": ["ns"]
                    },
                    {
                        "name": "namespaces/status",
                        "singularName": "",
                        "namespaced": false,
                        "kind": "Namespace",
                        "verbs": ["get", "patch", "update"]
                    }
                ]
            })
        );
    }

    #[test]
    fn version_shape() {
        let v = to_json(&version_info());
        assert_eq!(v["gitVersion"], format!("v{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(v["compiler"], "rustc");
        for field in [
            "major",
            "minor",
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "platform",
        ] {
            assert!(v[field].is_string(), "{field}");
        }
    }

    #[test]
    fn documents_read_back() {
        let list = api_resource_list();
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(
            serde_json::from_str::<ApiResourceList>(&text).unwrap(),
            list
        );
        let groups = api_group_list();
        let text = serde_json::to_string(&groups).unwrap();
        assert_eq!(serde_json::from_str::<ApiGroupList>(&text).unwrap(), groups);
    }
}
