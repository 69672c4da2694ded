//! The ClusterRoles every control plane starts with, and the bootstrap admin's binding.
//!
//! Created when missing at every start (an existing one, even if edited, is left alone; a
//! deleted one comes back at the next start):
//!
//! | ClusterRole | Grants |
//! |---|---|
//! | `cluster-admin` | every verb on every resource |
//! | `admin` | every verb on every `planspec.io` resource (bound by a RoleBinding: within its namespace, including its Roles, RoleBindings, Policies and Providers) |
//! | `edit` | reading, and writing the plan model (Goals, Plans, Capabilities, Bindings, Executions, Gates); `execute`, `cancel`, `retry`, completing and failing nodes, `bind` on Providers — not RBAC, Policies, Providers, and not approving |
//! | `view` | `get`, `list`, `watch` on everything but RBAC objects |
//! | `approver` | what `view` reads of Gates, Executions and Plans, plus `approve` and `reject` on Gates |
//! | `executor` | `execute` on Plans; `create`, `get`, `list`, `watch`, `cancel`, `retry` on Executions (and reading their nodes, journal and logs); reading Plans, Goals and Gates |
//!
//! The ClusterRoleBinding `bootstrap-admin` grants `cluster-admin` to the user `admin`.

use crate::api::params::WriteOptions;
use crate::api::Api;
use crate::resource::ResourceType;
use crate::status::Status;
use planspec_model::Kind;
use serde_json::{json, Value};

/// The name of the bootstrap admin's ClusterRoleBinding.
pub const BOOTSTRAP_BINDING: &str = "bootstrap-admin";

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// What `view` may read: every PlanSpec resource but RBAC, with their read subresources.
const VIEWABLE: [&str; 17] = [
    "goals",
    "goals/status",
    "plans",
    "plans/status",
    "plans/graph",
    "capabilities",
    "bindings",
    "bindings/status",
    "executions",
    "executions/status",
    "executions/nodes",
    "executions/journal",
    "executions/log",
    "gates",
    "gates/status",
    "policies",
    "leases",
];

fn rule(verbs: &[&str], group: &str, resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": [group], "resources": resources})
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": planspec_model::API_VERSION,
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"planspec.io/bootstrapping": "default"}},
        "rules": rules,
    })
}

/// The default ClusterRoles; see the module documentation.
pub fn cluster_roles() -> Vec<Value> {
    let p = crate::resource::GROUP;
    let mut viewable: Vec<&str> = VIEWABLE.to_vec();
    viewable.push("providers");
    viewable.push("providers/status");
    vec![
        cluster_role("cluster-admin", vec![rule(&["*"], "*", &["*"])]),
        cluster_role(
            "admin",
            vec![rule(&["*"], p, &["*"]), rule(&READ, "", &["namespaces"])],
        ),
        cluster_role(
            "edit",
            vec![
                rule(
                    &WRITE,
                    p,
                    &[
                        "goals",
                        "plans",
                        "capabilities",
                        "bindings",
                        "executions",
                        "gates",
                    ],
                ),
                rule(&READ, p, &viewable),
                rule(&["execute"], p, &["plans"]),
                rule(&["cancel", "retry"], p, &["executions"]),
                rule(&["update"], p, &["executions/nodes"]),
                rule(&["bind"], p, &["providers"]),
                rule(&READ, "", &["namespaces"]),
            ],
        ),
        cluster_role(
            "view",
            vec![rule(&READ, p, &viewable), rule(&READ, "", &["namespaces"])],
        ),
        cluster_role(
            "approver",
            vec![
                rule(
                    &READ,
                    p,
                    &[
                        "gates",
                        "gates/status",
                        "executions",
                        "executions/status",
                        "executions/nodes",
                        "executions/journal",
                        "executions/log",
                        "plans",
                        "plans/graph",
                    ],
                ),
                rule(&["approve", "reject"], p, &["gates"]),
            ],
        ),
        cluster_role(
            "executor",
            vec![
                rule(&["execute"], p, &["plans"]),
                rule(
                    &["create", "get", "list", "watch", "cancel", "retry"],
                    p,
                    &["executions"],
                ),
                rule(
                    &READ,
                    p,
                    &[
                        "executions/status",
                        "executions/nodes",
                        "executions/journal",
                        "executions/log",
                        "plans",
                        "plans/graph",
                        "goals",
                        "gates",
                    ],
                ),
            ],
        ),
    ]
}

/// The bootstrap admin's ClusterRoleBinding.
pub fn bootstrap_binding(admin: &str) -> Value {
    json!({
        "apiVersion": planspec_model::API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": BOOTSTRAP_BINDING, "labels": {"planspec.io/bootstrapping": "default"}},
        "subjects": [{"kind": "User", "name": admin}],
        "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
    })
}

/// Creates each default ClusterRole and the bootstrap admin's ClusterRoleBinding (for user
/// `admin`) that does not exist.
pub async fn ensure(api: &Api, admin: &str) -> Result<(), Status> {
    let roles = ResourceType::Kind(Kind::ClusterRole);
    for role in cluster_roles() {
        create_missing(api, roles, role).await?;
    }
    create_missing(
        api,
        ResourceType::Kind(Kind::ClusterRoleBinding),
        bootstrap_binding(admin),
    )
    .await
}

async fn create_missing(api: &Api, resource: ResourceType, object: Value) -> Result<(), Status> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match api.get(resource, "", name).await {
        Ok(_) => return Ok(()),
        Err(s) if s.code == 404 => {}
        Err(s) => return Err(s),
    }
    match api
        .create(resource, "", object, WriteOptions::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code == 409 => Ok(()),
        Err(s) => Err(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_model::rbac::authorize::{Attributes, RbacIndex};
    use planspec_model::rbac::{ClusterRole, ClusterRoleBinding};

    fn index() -> RbacIndex {
        let roles: Vec<ClusterRole> = cluster_roles()
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "apiVersion": planspec_model::API_VERSION, "kind": "ClusterRoleBinding",
            "metadata": {"name": "all"},
            "subjects": [
                {"kind": "User", "name": "viewer"}, {"kind": "User", "name": "approver"},
                {"kind": "User", "name": "executor"}, {"kind": "User", "name": "editor"}
            ],
            "roleRef": {"kind": "ClusterRole", "name": "view"}
        }))
        .unwrap();
        let mut bindings = vec![binding];
        for (user, role) in [
            ("approver", "approver"),
            ("executor", "executor"),
            ("editor", "edit"),
            ("root", "cluster-admin"),
        ] {
            bindings.push(
                serde_json::from_value(json!({
                    "apiVersion": planspec_model::API_VERSION, "kind": "ClusterRoleBinding",
                    "metadata": {"name": format!("{user}-x")},
                    "subjects": [{"kind": "User", "name": user}],
                    "roleRef": {"kind": "ClusterRole", "name": role}
                }))
                .unwrap(),
            );
        }
        RbacIndex::build(&[], &roles, &[], &bindings)
    }

    fn can(index: &RbacIndex, user: &str, verb: &str, resource: &str) -> bool {
        let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
        index
            .authorize(
                &planspec_model::actor::UserInfo::new(user, ["system:authenticated"]),
                &Attributes {
                    verb: verb.into(),
                    api_group: crate::resource::GROUP.into(),
                    resource: resource.into(),
                    subresource: sub.into(),
                    namespace: Some("default".into()),
                    name: Some("x".into()),
                },
            )
            .allowed()
    }

    #[test]
    fn the_default_roles_grant_what_they_say() {
        let index = index();
        assert!(can(&index, "viewer", "get", "executions/log"));
        assert!(!can(&index, "viewer", "get", "roles"));
        assert!(!can(&index, "viewer", "approve", "gates"));
        assert!(can(&index, "approver", "approve", "gates"));
        assert!(can(&index, "approver", "reject", "gates"));
        assert!(!can(&index, "approver", "cancel", "executions"));
        assert!(can(&index, "executor", "execute", "plans"));
        assert!(can(&index, "executor", "create", "executions"));
        assert!(can(&index, "executor", "cancel", "executions"));
        assert!(!can(&index, "executor", "create", "plans"));
        assert!(!can(&index, "executor", "approve", "gates"));
        assert!(can(&index, "editor", "create", "plans"));
        assert!(can(&index, "editor", "bind", "providers"));
        assert!(!can(&index, "editor", "create", "rolebindings"));
        assert!(!can(&index, "editor", "update", "policies"));
        assert!(!can(&index, "editor", "approve", "gates"));
        assert!(can(&index, "root", "delete", "clusterroles"));
    }
}
