//! Role-based access control in the Kubernetes shape: `Role` and `RoleBinding` (namespaced),
//! `ClusterRole` and `ClusterRoleBinding` (cluster-scoped), with top-level `rules`, `subjects`
//! and `roleRef` as in `rbac.authorization.k8s.io/v1`, served in `planspec.io/v1alpha1`.

use crate::meta::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! rbac_kind {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        #[schemars(deny_unknown_fields)]
        pub struct $name {
            /// API version; always `planspec.io/v1alpha1`.
            #[schemars(extend("const" = "planspec.io/v1alpha1"))]
            pub api_version: String,
            #[doc = concat!("Kind of the resource; always `", $kind, "`.")]
            #[schemars(extend("const" = $kind))]
            pub kind: String,
            /// Standard object metadata.
            pub metadata: ObjectMeta,
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $name {
            /// The kind.
            pub const KIND: $crate::kind::Kind = $crate::kind::Kind::$name;
        }
    };
}

rbac_kind! {
    /// A Role: rules granting verbs on resources within its namespace.
    Role, "Role" {
        /// What the Role grants.
        #[serde(default)]
        rules: Vec<PolicyRule>,
    }
}

rbac_kind! {
    /// A ClusterRole: rules granting verbs on resources in every namespace (when bound by a
    /// ClusterRoleBinding) or in one (when bound by a RoleBinding), and on cluster-scoped
    /// resources.
    ClusterRole, "ClusterRole" {
        /// What the ClusterRole grants.
        #[serde(default)]
        rules: Vec<PolicyRule>,
    }
}

rbac_kind! {
    /// A RoleBinding: grants a Role or ClusterRole to subjects within its namespace.
    RoleBinding, "RoleBinding" {
        /// Who is granted the role.
        #[serde(default)]
        subjects: Vec<Subject>,
        /// The role granted.
        role_ref: RoleRef,
    }
}

rbac_kind! {
    /// A ClusterRoleBinding: grants a ClusterRole to subjects in every namespace.
    ClusterRoleBinding, "ClusterRoleBinding" {
        /// Who is granted the role.
        #[serde(default)]
        subjects: Vec<Subject>,
        /// The role granted (a ClusterRole).
        role_ref: RoleRef,
    }
}

/// One grant: these verbs on these resources (optionally only these names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PolicyRule {
    /// Verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `approve`, `reject`, `cancel`, `retry`, `execute`, `bind`, `escalate`, `impersonate`, or `*`).
    pub verbs: Vec<String>,
    /// API groups (`planspec.io`, `""` for the core group, `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources by plural, with subresources as `executions/nodes` (`*` for all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// When set, only these object names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

/// Who a binding grants a role to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: SubjectKind,
    /// The user, group or service account name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The service account's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The subject's API group (accepted for compatibility; not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
}

/// The kind of a [`Subject`]: `User`, `Group` or `ServiceAccount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum SubjectKind {
    User,
    Group,
    ServiceAccount,
}

/// The role a binding grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RoleRef {
    /// The role's API group (`planspec.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// `Role` or `ClusterRole`.
    pub kind: RoleRefKind,
    /// The role's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The kind of role a [`RoleRef`] names: `Role` or `ClusterRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum RoleRefKind {
    Role,
    ClusterRole,
}

pub mod authorize;
pub mod escalation;
