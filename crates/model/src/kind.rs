//! The API version and the resource kinds, with their plural and short names and scope.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only API version of this model.
pub const API_VERSION: &str = "planspec.io/v1alpha1";

/// A resource kind: `Goal`, `Plan`, `Capability`, `Binding`, `Execution`, `Gate` (the plan
/// model), `Policy`, `Provider`, `Role`, `RoleBinding`, `ClusterRole` or `ClusterRoleBinding`
/// (governance; the last two are cluster-scoped).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum Kind {
    Goal,
    Plan,
    Capability,
    Binding,
    Execution,
    Gate,
    Policy,
    Provider,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
}

impl Kind {
    /// Every kind, in the order resources are usually applied.
    pub const ALL: [Kind; 12] = [
        Kind::Goal,
        Kind::Plan,
        Kind::Capability,
        Kind::Binding,
        Kind::Execution,
        Kind::Gate,
        Kind::Policy,
        Kind::Provider,
        Kind::Role,
        Kind::RoleBinding,
        Kind::ClusterRole,
        Kind::ClusterRoleBinding,
    ];

    /// The kinds of the plan model (what upstream `planspec.io/v1alpha1` defines).
    pub const PLAN_MODEL: [Kind; 6] = [
        Kind::Goal,
        Kind::Plan,
        Kind::Capability,
        Kind::Binding,
        Kind::Execution,
        Kind::Gate,
    ];

    /// The kinds a Placeholder's `selector` may list: the plan-model kinds that describe
    /// work, not Executions (their parameters and status are a run's own data) nor Gates
    /// (reviews), and none of the governance kinds (Policies, Providers, RBAC), whose
    /// contents must not flow into node outputs that anyone who can `view` a run reads.
    pub const PLACEHOLDER_SELECTABLE: [Kind; 4] =
        [Kind::Goal, Kind::Plan, Kind::Capability, Kind::Binding];

    /// Whether a Placeholder's `selector` may list this kind
    /// ([`PLACEHOLDER_SELECTABLE`](Self::PLACEHOLDER_SELECTABLE)).
    pub fn placeholder_selectable(self) -> bool {
        Self::PLACEHOLDER_SELECTABLE.contains(&self)
    }

    /// Whether objects of this kind live in a namespace (`false`: cluster-scoped).
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::ClusterRole | Kind::ClusterRoleBinding)
    }

    /// Whether the kind has a `spec` (the RBAC kinds have top-level `rules`, `subjects` and
    /// `roleRef` instead, as in Kubernetes).
    pub fn has_spec(self) -> bool {
        !matches!(
            self,
            Kind::Role | Kind::RoleBinding | Kind::ClusterRole | Kind::ClusterRoleBinding
        )
    }

    /// The `kind` value as written (`Plan`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Goal => "Goal",
            Kind::Plan => "Plan",
            Kind::Capability => "Capability",
            Kind::Binding => "Binding",
            Kind::Execution => "Execution",
            Kind::Gate => "Gate",
            Kind::Policy => "Policy",
            Kind::Provider => "Provider",
            Kind::Role => "Role",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRole => "ClusterRole",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }

    /// The lowercase plural used in URLs and on the command line (`plans`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Goal => "goals",
            Kind::Plan => "plans",
            Kind::Capability => "capabilities",
            Kind::Binding => "bindings",
            Kind::Execution => "executions",
            Kind::Gate => "gates",
            Kind::Policy => "policies",
            Kind::Provider => "providers",
            Kind::Role => "roles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRole => "clusterroles",
            Kind::ClusterRoleBinding => "clusterrolebindings",
        }
    }

    /// Short names accepted on the command line (`pl`).
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Goal => &["gl"],
            Kind::Plan => &["pl"],
            Kind::Capability => &["cap", "caps"],
            Kind::Binding => &["bd"],
            Kind::Execution => &["ex", "exec"],
            Kind::Gate => &["gt"],
            Kind::Policy => &["pol"],
            Kind::Provider => &["prov"],
            Kind::Role => &[],
            Kind::RoleBinding => &[],
            Kind::ClusterRole => &[],
            Kind::ClusterRoleBinding => &[],
        }
    }

    /// Parses a kind (`Plan`, `plan`), plural (`plans`) or short name (`pl`), ignoring case.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| {
            name.eq_ignore_ascii_case(k.as_str())
                || name.eq_ignore_ascii_case(k.plural())
                || k.short_names().iter().any(|s| name.eq_ignore_ascii_case(s))
        })
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        Kind::from_name(s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Error of [`Kind::from_str`](std::str::FromStr): the name is not a kind, plural or short name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl std::fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown resource kind `{}`", self.0)
    }
}

impl std::error::Error for UnknownKind {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.as_str()), Some(k));
            assert_eq!(Kind::from_name(&k.as_str().to_uppercase()), Some(k));
            assert_eq!(Kind::from_name(k.plural()), Some(k));
            for s in k.short_names() {
                assert_eq!(Kind::from_name(s), Some(k));
            }
        }
        assert_eq!(Kind::from_name("Capabilities"), Some(Kind::Capability));
        assert_eq!(Kind::from_name("PL"), Some(Kind::Plan));
        assert_eq!(Kind::from_name("List"), None);
        assert_eq!(Kind::from_name(""), None);
        assert!("nope".parse::<Kind>().is_err());
    }

    #[test]
    fn short_names_are_unique() {
        let mut all: Vec<&str> = Kind::ALL
            .iter()
            .flat_map(|k| {
                let mut v = vec![k.plural()];
                v.extend(k.short_names());
                v
            })
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
