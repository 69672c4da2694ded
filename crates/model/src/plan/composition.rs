//! Composition nodes: `Plan` (a sub-plan run as a child Execution) and `Placeholder` (a
//! value filled in at run time).

use crate::common::{DnsLabel, NodeId};
use crate::context::ContextItem;
use crate::meta::{LabelSelector, ObjectReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Deepest nesting of sub-plans (an Execution of depth 0 may start children down to depth 8).
pub const MAX_SUBPLAN_DEPTH: u32 = 8;

/// Runs another Plan as one node (PlanSpec extension): a child Execution owned by this one,
/// with the node's `inputs` as its parameters; its outputs come back as this node's outputs
/// (one entry per child node that produced outputs, by node id). The Plan is resolved and
/// pinned (uid and graph digest) when this Execution starts, so a newer version applied
/// mid-run does not change what runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlanNode {
    /// Id of the node, unique within the plan. A DNS label.
    pub id: NodeId,
    /// Display name (1–253 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// What the sub-plan does here (1–1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub description: Option<String>,
    /// Background material (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
    /// Nodes that must finish first; each adds a hard edge `X → this` (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub depends_on: Vec<NodeId>,
    /// Which Plan to run.
    pub plan_ref: PlanReference,
    /// Parameters of the child Execution; strings may hold `${{ }}` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Map<String, Value>>,
    /// Condition under which the node runs (a CEL expression, at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub when: Option<String>,
    /// How long the child Execution may take, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<crate::common::Duration>,
}

/// Which Plan a `Plan` node runs: by `name`, or by `series` and a semver `version` range
/// (`^2`, `~1.4`, `>=1.2, <2`; the highest matching version wins). Exactly one of `name` and
/// `series`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlanReference {
    /// The Plan's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<DnsLabel>,
    /// The series to pick from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<DnsLabel>,
    /// A semver range over the series' `version`s (default: any, the highest wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub version: Option<String>,
    /// Namespace of the Plan; defaults to the Execution's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<DnsLabel>,
}

/// A blank filled in at run time (PlanSpec extension). When the node becomes ready its
/// value is taken, in order, from: an Execution parameter named like the node's id; a
/// resource of the namespace matching `selector`; the provider bound to `resolverRef`; a
/// person (`planspec resolve execution/NAME --node ID --value …`), while the node shows
/// `AwaitingInput`. Every value is checked against `schema` and `rules` first; the value
/// becomes the node's output `value`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlaceholderNode {
    /// Id of the node, unique within the plan. A DNS label.
    pub id: NodeId,
    /// Display name (1–253 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// What is needed, in prose (1–1024 characters).
    #[schemars(length(min = 1, max = 1024))]
    pub description: String,
    /// Background material (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
    /// Nodes that must finish first; each adds a hard edge `X → this` (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub depends_on: Vec<NodeId>,
    /// What kind of value fills it: `data` (default), `capability` (a Capability's name) or
    /// `plan` (a Plan's name).
    #[serde(rename = "type", default)]
    pub placeholder_type: PlaceholderType,
    /// A JSON Schema the value must satisfy (no remote `$ref`s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// CEL rules over `value` that must all be `true` (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub rules: Vec<PlaceholderRule>,
    /// Resources of the namespace whose match fills the value (the first by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<ResourceSelector>,
    /// A Capability whose bound provider resolves the value (its output `value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver_ref: Option<ObjectReference>,
    /// Condition under which the node runs (a CEL expression, at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub when: Option<String>,
    /// How long to wait for a value, as a Go duration (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<crate::common::Duration>,
}

/// What fills a Placeholder: `data`, `capability` or `plan`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum PlaceholderType {
    #[default]
    Data,
    Capability,
    Plan,
}

/// A CEL rule a Placeholder's value must pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlaceholderRule {
    /// A CEL expression over `value` (and `parameters`, `nodes`, `goal`, `plan`) that must be
    /// `true` (at most 1024 characters).
    #[schemars(length(min = 1, max = 1024))]
    pub expression: String,
    /// What a person reads when the rule fails (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}

/// Resources that may fill a Placeholder: of one kind, in the Execution's namespace, matching
/// the label selector. The value is the first match by name (its name for `capability` and
/// `plan` placeholders, its `spec` otherwise).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ResourceSelector {
    /// The kind (`Capability`, `Plan`, …; default from the placeholder's `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::common::KIND_PATTERN))]
    pub kind: Option<String>,
    /// Labels that must all be present with exactly these values.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::common::labels_schema")]
    pub match_labels: crate::meta::Labels,
    /// Set-based requirements that must all hold (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub match_expressions: Vec<crate::meta::LabelSelectorRequirement>,
}

impl ResourceSelector {
    /// The label part, as a [`LabelSelector`].
    pub fn label_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: self.match_labels.clone(),
            match_expressions: self.match_expressions.clone(),
        }
    }
}
