//! `Gate`: a standalone approval checkpoint, referenced by Gate nodes.

use crate::common::{DnsLabel, Duration, Timestamp};
use crate::meta::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

crate::resource::resource! {
    /// A Gate: an approval, review or sign-off that a Gate node waits for. A decision is valid
    /// only for the spec generation recorded in `status.decidedGeneration`.
    Gate, "Gate", GateSpec, GateStatus
}

/// Desired state of a Gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GateSpec {
    /// Kind of checkpoint: `approval`, `review` or `sign-off`.
    pub gate_type: GateType,
    /// What the Gate guards: a Plan or Execution, optionally one node of it.
    pub target_ref: GateTargetRef,
    /// What the reviewers are asked to decide (1–4096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub description: Option<String>,
    /// Who may decide. Each entry is a user (`alice`, `user:alice`), a group
    /// (`group:release-managers`, or `team:…`, the same) or an e-mail address (`email:a@b.c` or
    /// a bare `a@b.c`, matched without regard to case). Empty: anyone allowed to review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 253)))]
    pub reviewers: Vec<String>,
    /// How many approvals by distinct reviewers are needed, 1–100 (default 1).
    #[serde(default = "crate::defaults::one_u32")]
    #[schemars(range(min = 1, max = 100))]
    pub required_approvers: u32,
    /// How long the Gate waits once an Execution reached it; then `onTimeout` decides it.
    /// Without it the Gate waits for as long as it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// The decision when `timeout` passes undecided: `reject` (the default: block on
    /// timeout) or `approve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<TimeoutOutcome>,
    /// A JSON Schema (draft 2020-12) the values of an approval must satisfy; the approved values
    /// become the Gate node's outputs. Without it an approval carries no values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Map<String, Value>>,
    /// Free-form material for the reviewers (an object, not a list of context items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
}

/// What a Gate's timeout decides: `reject` or `approve`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum TimeoutOutcome {
    #[default]
    Reject,
    Approve,
}

/// Kind of checkpoint: `approval`, `review` or `sign-off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum GateType {
    Approval,
    Review,
    SignOff,
}

/// What a Gate guards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GateTargetRef {
    /// Kind of the target: `Plan` or `Execution`.
    #[schemars(regex(pattern = crate::common::KIND_PATTERN))]
    pub kind: String,
    /// Name of the target.
    pub name: DnsLabel,
    /// API version of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::common::API_VERSION_PATTERN))]
    pub api_version: Option<String>,
    /// Namespace of the target; defaults to the Gate's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<DnsLabel>,
    /// UID of the target, for a strong reference (at most 128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub uid: Option<String>,
    /// The Gate node in the target plan (matched exactly against node ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[A-Za-z0-9._:-]{1,128}$"))]
    pub node_id: Option<String>,
}

/// Phase of a Gate: `Pending`, `Waiting` (an Execution reached it), `Approved` or `Rejected`
/// (both terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum GatePhase {
    Pending,
    Waiting,
    Approved,
    Rejected,
}

/// Observed state of a Gate.
///
/// Invariants: `resolution` ⇔ `decidedGeneration`; `Approved`/`Rejected` need both;
/// `outcome: approved` ⇔ `Approved`, `outcome: rejected` ⇔ `Rejected`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    deny_unknown_fields,
    extend(
        "allOf" = [
            {
                "dependentRequired": {"resolution": ["decidedGeneration"], "decidedGeneration": ["resolution"]},
                "$comment": "planspec-rule PS0410: checked in code"
            },
            {
                "if": {"properties": {"phase": {"enum": ["Approved", "Rejected"]}}, "required": ["phase"]},
                "then": {"required": ["resolution", "decidedGeneration"]},
                "$comment": "planspec-rule PS0410: checked in code"
            },
            {
                "if": {"properties": {"phase": {"const": "Approved"}}, "required": ["phase"]},
                "then": {"properties": {"resolution": {"type": "object", "properties": {"outcome": {"const": "approved"}}}}},
                "$comment": "planspec-rule PS0410: checked in code"
            },
            {
                "if": {"properties": {"phase": {"const": "Rejected"}}, "required": ["phase"]},
                "then": {"properties": {"resolution": {"type": "object", "properties": {"outcome": {"const": "rejected"}}}}},
                "$comment": "planspec-rule PS0410: checked in code"
            },
            {
                "if": {"properties": {"resolution": {"type": "object", "properties": {"outcome": {"const": "approved"}}, "required": ["outcome"]}}, "required": ["resolution"]},
                "then": {"properties": {"phase": {"const": "Approved"}}, "required": ["phase"]},
                "$comment": "planspec-rule PS0410: checked in code"
            },
            {
                "if": {"properties": {"resolution": {"type": "object", "properties": {"outcome": {"const": "rejected"}}, "required": ["outcome"]}}, "required": ["resolution"]},
                "then": {"properties": {"phase": {"const": "Rejected"}}, "required": ["phase"]},
                "$comment": "planspec-rule PS0410: checked in code"
            }
        ]
    )
)]
pub struct GateStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<GatePhase>,
    /// Every review action, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review_history: Vec<GateReview>,
    /// The final decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<GateResolution>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    /// The spec generation the decision applies to; a newer generation makes it stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_generation: Option<u64>,
    /// When an undecided Gate times out: the moment an Execution reached it plus
    /// `spec.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Detailed observations (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub conditions: Vec<Condition>,
}

/// One review action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GateReview {
    /// Who acted: the authenticated user name (`alice`).
    #[schemars(length(min = 1, max = 253))]
    pub reviewer: String,
    /// The `reviewers` entry that made the reviewer eligible when it is a group
    /// (`group:release-managers`); recorded by the server from the reviewer's groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub via: Option<String>,
    /// `approve`, `reject` or `comment`.
    pub action: ReviewAction,
    /// When the reviewer acted.
    pub timestamp: Timestamp,
    /// What the reviewer said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The spec generation the action applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_generation: Option<u64>,
    /// The values an approval submits, valid against `spec.inputSchema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Map<String, Value>>,
}

/// A review action: `approve`, `reject` or `comment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ReviewAction {
    Approve,
    Reject,
    Comment,
}

/// The final decision of a Gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GateResolution {
    /// `approved` or `rejected`.
    pub outcome: ResolutionOutcome,
    /// When the decision was made.
    pub timestamp: Timestamp,
    /// Who decided (at least one).
    #[schemars(length(min = 1), inner(length(min = 1, max = 253)))]
    pub actors: Vec<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// What decided: `reviews` (the default) or `timeout` (`spec.onTimeout`, by
    /// `system:planspec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ResolutionReason>,
    /// The approved values (`spec.inputSchema`); the Gate node's outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Map<String, Value>>,
}

/// What decided a Gate: `reviews` or `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ResolutionReason {
    Reviews,
    Timeout,
}

/// Outcome of a Gate decision: `approved` or `rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ResolutionOutcome {
    Approved,
    Rejected,
}
