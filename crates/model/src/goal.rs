//! `Goal`: a desired outcome, resolved to a Plan by label selection.

use crate::common::{DnsLabel, Duration};
use crate::context::ContextItem;
use crate::meta::{Condition, LabelSelector, ObjectReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

crate::resource::resource! {
    /// A Goal: what should be achieved, with prose acceptance criteria. The control plane selects
    /// the Plan that achieves it with `planSelector`.
    Goal, "Goal", GoalSpec, GoalStatus
}

/// Desired state of a Goal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GoalSpec {
    /// What should be achieved (1–4096 characters).
    #[schemars(length(min = 1, max = 4096))]
    pub description: String,
    /// Free-form constraints (budget, deadlines, policies…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Map<String, Value>>,
    /// Prose criteria that say when the Goal is met (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub acceptance_criteria: Vec<GoalCriterion>,
    /// Selects the Plans that can achieve this Goal by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_selector: Option<LabelSelector>,
    /// How long the Goal may take, as a Go duration (`168h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Priority from 0 to 1000; higher is more urgent.
    #[serde(default = "crate::defaults::zero_u32")]
    #[schemars(range(min = 0, max = 1000))]
    pub priority: u32,
    /// Background material for whoever plans or executes the Goal (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
}

/// A prose acceptance criterion of a Goal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GoalCriterion {
    /// Optional id, unique within the Goal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<DnsLabel>,
    /// What must be true (1–1024 characters).
    #[schemars(length(min = 1, max = 1024))]
    pub description: String,
}

/// Lifecycle phase of a Goal: `Pending`, `Planning`, `Ready`, `Executing`, `Succeeded`,
/// `Failed` or `Cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum GoalPhase {
    Pending,
    Planning,
    Ready,
    Executing,
    Succeeded,
    Failed,
    Cancelled,
}

/// Observed state of a Goal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GoalStatus {
    /// Current lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<GoalPhase>,
    /// The Plan selected to achieve the Goal; set on entering `Ready`, kept until a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_plan_ref: Option<ObjectReference>,
    /// Detailed observations (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
}
