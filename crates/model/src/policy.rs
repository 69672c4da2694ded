//! `Policy`: ordered CEL rules that decide, before each node dispatches, whether it runs on its
//! own (`allow`), waits for a person's approval (`assist`) or never runs (`deny`).

use crate::meta::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

crate::resource::resource! {
    /// A Policy: rules every Execution in its namespace is routed by. Any `deny` wins, then
    /// `assist`, then `allow`; risk `high` is never autonomous and `blocked` never approvable.
    Policy, "Policy", PolicySpec, PolicyStatus
}

/// Desired state of a Policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PolicySpec {
    /// What the Policy is for (at most 4096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// The rules, evaluated in order (at most 256).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), extend("default" = []))]
    pub rules: Vec<PolicyRule>,
    /// The verdict when no rule of any Policy in the namespace matches; the strictest
    /// `defaultVerdict` among the namespace's Policies applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verdict: Option<PolicyVerdict>,
    /// Whether Bindings in this namespace may use a Provider whose signed manifest does not
    /// verify against the trust policy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unverified_providers: bool,
}

/// One rule: when `when` holds, the rule yields `verdict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PolicyRule {
    /// The rule's name, unique within the Policy (1–63 characters).
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// A CEL expression evaluating to a boolean.
    #[schemars(length(min = 1, max = 4096))]
    pub when: String,
    /// What the rule yields when it matches.
    pub verdict: PolicyVerdict,
    /// A short machine-readable reason (`destructive_in_production`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub reason: Option<String>,
    /// A message for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub message: Option<String>,
}

/// A verdict: `allow` (runs on its own), `assist` (needs a person's approval) or `deny`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum PolicyVerdict {
    Allow,
    Assist,
    Deny,
}

/// A risk tier: `low`, `medium`, `high` (never autonomous) or `blocked` (never runs).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum RiskLevel {
    #[default]
    Low,
    Medium,
    High,
    Blocked,
}

/// Observed state of a Policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PolicyStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions (`Ready`: every rule compiles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
