//! The resource types the server serves — the PlanSpec kinds under `planspec.io/v1alpha1`
//! (namespaced, except `ClusterRole` and `ClusterRoleBinding`) and the core `v1` `Namespace` —
//! with the names each is known by on the wire.

use planspec_model::{Kind, API_VERSION};
use serde::{Deserialize, Serialize};

/// The API group of the PlanSpec kinds.
pub const GROUP: &str = "planspec.io";
/// The only version of [`GROUP`].
pub const VERSION: &str = "v1alpha1";

/// Field selector fields every namespaced kind supports.
const NAMESPACED_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.phase"];
/// Field selector fields of the namespaced RBAC kinds (they have no status).
const RBAC_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
/// Field selector fields of the cluster-scoped RBAC kinds.
const CLUSTER_RBAC_FIELDS: &[&str] = &["metadata.name"];
/// Field selector fields of namespaces (as in Kubernetes).
const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "status.phase"];

/// A resource type served by the API: a PlanSpec [`Kind`] or the core `Namespace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    /// One of the PlanSpec kinds (`planspec.io/v1alpha1`, namespaced).
    Kind(Kind),
    /// `Namespace` (core group, `v1`, cluster-scoped), served at `/api/v1/namespaces`.
    Namespace,
}

impl ResourceType {
    /// Every served type: the PlanSpec kinds in [`Kind::ALL`] order, then `Namespace`.
    pub const ALL: [ResourceType; 13] = [
        ResourceType::Kind(Kind::Goal),
        ResourceType::Kind(Kind::Plan),
        ResourceType::Kind(Kind::Capability),
        ResourceType::Kind(Kind::Binding),
        ResourceType::Kind(Kind::Execution),
        ResourceType::Kind(Kind::Gate),
        ResourceType::Kind(Kind::Policy),
        ResourceType::Kind(Kind::Provider),
        ResourceType::Kind(Kind::Role),
        ResourceType::Kind(Kind::RoleBinding),
        ResourceType::Kind(Kind::ClusterRole),
        ResourceType::Kind(Kind::ClusterRoleBinding),
        ResourceType::Namespace,
    ];

    /// The API group: `planspec.io`, or `""` (the core group) for namespaces.
    pub fn group(self) -> &'static str {
        match self {
            ResourceType::Kind(_) => GROUP,
            ResourceType::Namespace => "",
        }
    }

    /// The version within the group: `v1alpha1`, or `v1` for namespaces.
    pub fn version(self) -> &'static str {
        match self {
            ResourceType::Kind(_) => VERSION,
            ResourceType::Namespace => "v1",
        }
    }

    /// The `apiVersion` of objects of this type: `planspec.io/v1alpha1` or `v1`.
    pub fn api_version(self) -> &'static str {
        match self {
            ResourceType::Kind(_) => API_VERSION,
            ResourceType::Namespace => "v1",
        }
    }

    /// The `kind`: `Plan`, `Namespace`, …
    pub fn kind(self) -> &'static str {
        match self {
            ResourceType::Kind(k) => k.as_str(),
            ResourceType::Namespace => "Namespace",
        }
    }

    /// The lowercase plural used in URLs: `plans`, `namespaces`, …
    pub fn plural(self) -> &'static str {
        match self {
            ResourceType::Kind(k) => k.plural(),
            ResourceType::Namespace => "namespaces",
        }
    }

    /// The lowercase singular name: `plan`, `namespace`, …
    pub fn singular(self) -> &'static str {
        match self {
            ResourceType::Kind(Kind::Goal) => "goal",
            ResourceType::Kind(Kind::Plan) => "plan",
            ResourceType::Kind(Kind::Capability) => "capability",
            ResourceType::Kind(Kind::Binding) => "binding",
            ResourceType::Kind(Kind::Execution) => "execution",
            ResourceType::Kind(Kind::Gate) => "gate",
            ResourceType::Kind(Kind::Policy) => "policy",
            ResourceType::Kind(Kind::Provider) => "provider",
            ResourceType::Kind(Kind::Role) => "role",
            ResourceType::Kind(Kind::RoleBinding) => "rolebinding",
            ResourceType::Kind(Kind::ClusterRole) => "clusterrole",
            ResourceType::Kind(Kind::ClusterRoleBinding) => "clusterrolebinding",
            ResourceType::Namespace => "namespace",
        }
    }

    /// Short names for the command line: `pl`, `ns`, …
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            ResourceType::Kind(k) => k.short_names(),
            ResourceType::Namespace => &["ns"],
        }
    }

    /// `true` for the namespaced PlanSpec kinds, `false` for namespaces and the cluster-scoped
    /// kinds (`ClusterRole`, `ClusterRoleBinding`).
    pub fn namespaced(self) -> bool {
        match self {
            ResourceType::Kind(k) => k.namespaced(),
            ResourceType::Namespace => false,
        }
    }

    /// The plural qualified by the group, as Kubernetes writes it in error messages:
    /// `plans.planspec.io`, `namespaces`.
    pub fn qualified_plural(self) -> String {
        qualify(self.plural(), self.group())
    }

    /// The kind qualified by the group: `Plan.planspec.io`, `Namespace`.
    pub fn qualified_kind(self) -> String {
        qualify(self.kind(), self.group())
    }

    /// The fields a field selector may name for this type.
    pub fn field_selector_fields(self) -> &'static [&'static str] {
        match self {
            ResourceType::Kind(k) if !k.has_spec() && !k.namespaced() => CLUSTER_RBAC_FIELDS,
            ResourceType::Kind(k) if !k.has_spec() => RBAC_FIELDS,
            ResourceType::Kind(_) => NAMESPACED_FIELDS,
            ResourceType::Namespace => NAMESPACE_FIELDS,
        }
    }

    /// The type served at `plural` in `group` (`""` for the core group).
    pub fn from_plural(group: &str, plural: &str) -> Option<ResourceType> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.group() == group && t.plural() == plural)
    }
}

impl From<Kind> for ResourceType {
    fn from(kind: Kind) -> Self {
        ResourceType::Kind(kind)
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{group}")
    }
}

/// List metadata (`metav1.ListMeta`): on lists, tables and `Status`. Empty fields are omitted,
/// so the default serialises as `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The revision the list was read at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// The token to pass as `continue` for the next page.
    #[serde(default, rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// How many more items there are after this page, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(format!("{GROUP}/{VERSION}"), API_VERSION);
        let plan = ResourceType::Kind(Kind::Plan);
        assert_eq!(plan.qualified_plural(), "plans.planspec.io");
        assert_eq!(plan.qualified_kind(), "Plan.planspec.io");
        assert_eq!(plan.api_version(), "planspec.io/v1alpha1");
        assert_eq!(ResourceType::Namespace.qualified_plural(), "namespaces");
        assert_eq!(ResourceType::Namespace.api_version(), "v1");
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::from_plural(t.group(), t.plural()), Some(t));
            assert_eq!(t.singular(), t.kind().to_lowercase());
        }
        assert_eq!(ResourceType::from_plural("", "plans"), None);
        assert_eq!(ResourceType::from_plural(GROUP, "namespaces"), None);
        assert_eq!(serde_json::to_string(&ListMeta::default()).unwrap(), "{}");
        let meta = ListMeta {
            resource_version: Some("7".into()),
            continue_token: Some("abc".into()),
            remaining_item_count: None,
        };
        assert_eq!(
            serde_json::to_value(&meta).unwrap(),
            serde_json::json!({"resourceVersion": "7", "continue": "abc"})
        );
    }
}
