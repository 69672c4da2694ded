//! `Binding`: maps capabilities (or specific nodes) to the providers that perform them.
//!
//! The types of the resource are here; [`resolve`](resolve()) and [`explain`] (module
//! `resolve`, re-exported) decide which rule binds a node. See that module for the precedence
//! rules and their reading of upstream's prose.

mod resolve;

pub use resolve::{
    binding_ref_for, explain, explain_subject, resolve, resolve_plan, BindingIndex, Explanation,
    Mismatch, NodeResolution, NodeSubject, PlanResolution, PlanScope, PlanSubject, QualifiedName,
    Resolution, RuleVerdict, SelectorKey, UnboundReason, Verdict,
};

use crate::common::{LabelKey, LabelValue, NodeId};
use crate::meta::{Condition, Labels, ObjectReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

crate::resource::resource! {
    /// A Binding: rules that assign a provider (agent, tool, human, service) to each Task node,
    /// by capability, by plan, by node or by plan labels.
    Binding, "Binding", BindingSpec, BindingStatus
}

/// Desired state of a Binding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BindingSpec {
    /// The rules, 1–256. Precedence: higher `priority`, then the narrower selector, then
    /// `strategy`.
    #[schemars(length(min = 1, max = 256))]
    pub rules: Vec<BindingRule>,
    /// How remaining ties are resolved (default `FirstMatch`).
    #[serde(default)]
    pub strategy: BindingStrategy,
}

/// How ties between matching rules are resolved: `FirstMatch` (default, earliest rule wins),
/// `MostSpecific` (the narrower selector wins) or `ErrorOnConflict` (a tie is an error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum BindingStrategy {
    #[default]
    FirstMatch,
    MostSpecific,
    ErrorOnConflict,
}

/// One rule: what it selects and which provider it assigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BindingRule {
    /// Priority 0–1000 (default 0); a higher priority wins over any selector specificity.
    #[serde(default = "crate::defaults::zero_u32")]
    #[schemars(range(min = 0, max = 1000))]
    pub priority: u32,
    /// What the rule matches: exactly one of five shapes.
    pub selector: BindingSelector,
    /// The provider assigned to what the rule matches.
    pub target: BindingTarget,
}

/// What a rule matches; exactly one of five shapes, from the most to the least specific:
/// `{planRef, nodeId}`, `{planRef, capabilityRef}`, `{capabilityRef}`, `{planRef}`,
/// `{matchLabels}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(transform = crate::common::any_of_to_one_of)]
pub enum BindingSelector {
    /// One node of one plan (specificity 1, highest).
    PlanNode(PlanNodeSelector),
    /// A capability inside one plan (specificity 2).
    PlanCapability(PlanCapabilitySelector),
    /// Every use of a capability (specificity 3).
    Capability(CapabilitySelector),
    /// Every node of one plan (specificity 4).
    Plan(PlanRefSelector),
    /// Every node of the plans whose labels match (specificity 5, lowest).
    Labels(MatchLabelsSelector),
}

impl BindingSelector {
    /// Specificity rank: 1 (one node of one plan, the narrowest) to 5 (plans by labels).
    pub fn specificity(&self) -> u8 {
        match self {
            BindingSelector::PlanNode(_) => 1,
            BindingSelector::PlanCapability(_) => 2,
            BindingSelector::Capability(_) => 3,
            BindingSelector::Plan(_) => 4,
            BindingSelector::Labels(_) => 5,
        }
    }

    /// The plan the selector names, if any.
    pub fn plan_ref(&self) -> Option<&ObjectReference> {
        match self {
            BindingSelector::PlanNode(s) => Some(&s.plan_ref),
            BindingSelector::PlanCapability(s) => Some(&s.plan_ref),
            BindingSelector::Plan(s) => Some(&s.plan_ref),
            BindingSelector::Capability(_) | BindingSelector::Labels(_) => None,
        }
    }

    /// The capability the selector names, if any.
    pub fn capability_ref(&self) -> Option<&ObjectReference> {
        match self {
            BindingSelector::PlanCapability(s) => Some(&s.capability_ref),
            BindingSelector::Capability(s) => Some(&s.capability_ref),
            _ => None,
        }
    }
}

/// Selects one node of one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlanNodeSelector {
    /// The plan.
    pub plan_ref: ObjectReference,
    /// The node's id in that plan.
    pub node_id: NodeId,
}

/// Selects the nodes of one plan that require a capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlanCapabilitySelector {
    /// The plan.
    pub plan_ref: ObjectReference,
    /// The capability.
    pub capability_ref: ObjectReference,
}

/// Selects every node, in any plan, that requires a capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CapabilitySelector {
    /// The capability.
    pub capability_ref: ObjectReference,
}

/// Selects every node of one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlanRefSelector {
    /// The plan.
    pub plan_ref: ObjectReference,
}

/// Selects every node of the plans whose `metadata.labels` contain all these labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MatchLabelsSelector {
    /// Labels the plan must carry, ANDed (at most 64).
    #[schemars(
        schema_with = "crate::common::map_schema::<LabelKey, LabelValue>",
        extend("maxProperties" = 64)
    )]
    pub match_labels: Labels,
}

/// The provider a rule assigns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BindingTarget {
    /// Who performs the work, preferably a URI: `agent://claude-code`, `tool://semgrep`,
    /// `human://release-manager`, `service://…`, `mcp://…`, `http://…` (1–512 characters).
    #[schemars(length(min = 1, max = 512))]
    pub provider: String,
    /// Free-form provider configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
}

/// Phase of a Binding: `Ready` (everything bound), `PartiallyBound` or `Unresolved`
/// (critical capabilities missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum BindingPhase {
    Ready,
    PartiallyBound,
    Unresolved,
}

/// Observed state of a Binding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BindingStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BindingPhase>,
    /// Number of capability uses considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u32>,
    /// Number of capability uses bound to a provider (at most `totalCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_count: Option<u32>,
    /// Capability uses no rule matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unbound_capabilities: Vec<UnboundCapability>,
    /// Detailed observations (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
}

/// A capability use that no rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct UnboundCapability {
    /// The capability.
    pub capability_ref: ObjectReference,
    /// The node that requires it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<NodeId>,
    /// Machine-readable reason, e.g. `NoMatchingRule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
