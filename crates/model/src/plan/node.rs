//! Plan graph nodes, discriminated by `kind`: Task, Gate, Group, External, and the
//! composition kinds Plan (a sub-plan) and Placeholder (a value filled in at run time).
//!
//! Every variant repeats the common fields (`id`, `name`, `description`, `context`,
//! `dependsOn`) so that each variant's schema lists exactly the fields it allows.

use super::composition::{PlaceholderNode, PlanNode};
use super::criteria::AcceptanceCriterion;
use super::matrix::{Concurrency, Matrix};
use crate::common::{Duration, NodeId, OutputName};
use crate::context::ContextItem;
use crate::meta::ObjectReference;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Kind of a plan node: `Task`, `Gate`, `Group`, `External`, `Plan` or `Placeholder`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum NodeKind {
    Task,
    Gate,
    Group,
    External,
    Plan,
    Placeholder,
}

impl NodeKind {
    /// The `kind` value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Task => "Task",
            NodeKind::Gate => "Gate",
            NodeKind::Group => "Group",
            NodeKind::External => "External",
            NodeKind::Plan => "Plan",
            NodeKind::Placeholder => "Placeholder",
        }
    }
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node of a plan graph, discriminated by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind")]
#[schemars(transform = crate::common::add_discriminator)]
pub enum Node {
    /// A unit of work performed by whoever the Binding assigns to its capabilities.
    Task(TaskNode),
    /// A checkpoint that waits for a Gate resource to be approved.
    Gate(GateNode),
    /// A presentational group of nodes; creates no edges.
    Group(GroupNode),
    /// A wait for something outside the plan (a URI, another resource, a webhook).
    External(ExternalNode),
    /// Another Plan, run as a child Execution (PlanSpec extension).
    Plan(PlanNode),
    /// A value filled in at run time (PlanSpec extension).
    Placeholder(PlaceholderNode),
}

macro_rules! common_accessor {
    ($self:ident, $field:ident) => {
        match $self {
            Node::Task(n) => &n.$field,
            Node::Gate(n) => &n.$field,
            Node::Group(n) => &n.$field,
            Node::External(n) => &n.$field,
            Node::Plan(n) => &n.$field,
            Node::Placeholder(n) => &n.$field,
        }
    };
}

impl Node {
    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        match self {
            Node::Task(_) => NodeKind::Task,
            Node::Gate(_) => NodeKind::Gate,
            Node::Group(_) => NodeKind::Group,
            Node::External(_) => NodeKind::External,
            Node::Plan(_) => NodeKind::Plan,
            Node::Placeholder(_) => NodeKind::Placeholder,
        }
    }

    /// The node's id.
    pub fn id(&self) -> &NodeId {
        common_accessor!(self, id)
    }

    /// The node's display name, if any.
    pub fn name(&self) -> Option<&str> {
        common_accessor!(self, name).as_deref()
    }

    /// The node's description, if any.
    pub fn description(&self) -> Option<&str> {
        match self {
            Node::Placeholder(n) => Some(&n.description),
            Node::Task(n) => n.description.as_deref(),
            Node::Gate(n) => n.description.as_deref(),
            Node::Group(n) => n.description.as_deref(),
            Node::External(n) => n.description.as_deref(),
            Node::Plan(n) => n.description.as_deref(),
        }
    }

    /// The ids this node depends on, for editing (e.g. when `spec.steps` become a chain).
    pub fn depends_on_mut(&mut self) -> &mut Vec<NodeId> {
        match self {
            Node::Task(n) => &mut n.depends_on,
            Node::Gate(n) => &mut n.depends_on,
            Node::Group(n) => &mut n.depends_on,
            Node::External(n) => &mut n.depends_on,
            Node::Plan(n) => &mut n.depends_on,
            Node::Placeholder(n) => &mut n.depends_on,
        }
    }

    /// `true` for a Task marked `finally` (an exit handler).
    pub fn is_finally(&self) -> bool {
        matches!(self, Node::Task(t) if t.finally)
    }

    /// The node's context items.
    pub fn context(&self) -> &[ContextItem] {
        common_accessor!(self, context)
    }

    /// The ids this node depends on (`dependsOn`).
    pub fn depends_on(&self) -> &[NodeId] {
        common_accessor!(self, depends_on)
    }

    /// The node's `when` condition, if any.
    pub fn when(&self) -> Option<&str> {
        common_accessor!(self, when).as_deref()
    }
}

/// A unit of work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TaskNode {
    /// Id of the node, unique within the plan. A DNS label.
    pub id: NodeId,
    /// Display name (1–253 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// What the node does (1–1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub description: Option<String>,
    /// Background material for this node (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
    /// Nodes that must finish first; each adds a hard edge `X → this` (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub depends_on: Vec<NodeId>,
    /// Capabilities the Task needs; a Binding maps them to a provider (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub capability_refs: Vec<ObjectReference>,
    /// Free-form inputs for the provider. Keys starting with `_` are reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Map<String, Value>>,
    /// Names of the outputs the Task produces (unique, at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("uniqueItems" = true))]
    pub outputs: Vec<OutputName>,
    /// How long one attempt may take, as a Go duration (`2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How many times a failed attempt is retried (0–10).
    #[serde(default = "crate::defaults::zero_u32")]
    #[schemars(range(min = 0, max = 10))]
    pub retries: u32,
    /// How failed attempts are retried: the wait between attempts and which failures are
    /// retried (PlanSpec extension). Without it: 1s doubling up to 5m, and the failures the
    /// engine's reason-code catalogue marks retryable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Condition under which the Task runs (a CEL-like expression, at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub when: Option<String>,
    /// Typed checks that decide whether the Task succeeded (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub acceptance_criteria: Vec<AcceptanceCriterion>,
    /// Rough size of the work: `small`, `medium`, `large` or `xlarge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_effort: Option<Effort>,
    /// The declared risk of the Task (PlanSpec extension): `low`, `medium`, `high` (never runs
    /// without a person's approval) or `blocked` (never runs). The node's risk is the highest
    /// of this, its Capabilities' and its provider's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<crate::policy::RiskLevel>,
    /// Fan the Task out into instances, one per combination of axis values (PlanSpec
    /// extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Matrix>,
    /// A keyed limit on how many Tasks holding the same key run at once, across Executions
    /// (PlanSpec extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// An exit handler (PlanSpec extension): runs once every other node is finished, whatever
    /// their outcome, and reads the run's outcome as `execution.outcome` (`Succeeded` or
    /// `Failed`). It may depend only on other `finally` Tasks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finally: bool,
}

/// How a Task's failed attempts are retried (PlanSpec extension). `retries` still says how
/// many times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RetryPolicy {
    /// The wait before each retry: `initial`, multiplied by `factor` per retry, capped at
    /// `max`, with jitter (between half and all of that wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Reason codes of the failures that are retried, e.g. `provider_failed`, `node_timeout`
    /// (unique, at most 32; see the reason-code catalogue). Empty or absent: the codes the
    /// catalogue marks retryable. A failure the provider reports as not retryable is never
    /// retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        extend("uniqueItems" = true),
        inner(length(min = 1, max = 64), regex(pattern = "^[a-z][a-z0-9_]*$"))
    )]
    pub retry_on: Vec<String>,
}

/// Exponential backoff between retries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Backoff {
    /// Wait before the first retry, as a Go duration (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<Duration>,
    /// Longest wait, as a Go duration (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
    /// Multiplier per retry, 1–10 (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 10.0))]
    pub factor: Option<f64>,
}

/// Rough size of a Task: `small`, `medium`, `large` or `xlarge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum Effort {
    Small,
    Medium,
    Large,
    Xlarge,
}

/// A checkpoint that waits for a Gate resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GateNode {
    /// Id of the node, unique within the plan. A DNS label.
    pub id: NodeId,
    /// Display name (1–253 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// What the checkpoint is for (1–1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub description: Option<String>,
    /// Background material for the reviewers (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
    /// Nodes that must finish first; each adds a hard edge `X → this` (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub depends_on: Vec<NodeId>,
    /// The Gate resource that decides this checkpoint.
    pub gate_ref: ObjectReference,
    /// Condition under which the node runs: a CEL expression over `parameters`, `nodes`,
    /// `goal`, `plan` and `execution` (at most 1024 characters). PlanSpec extension on
    /// non-Task nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub when: Option<String>,
}

/// A presentational group of nodes. It creates no edges; `mode` is a display hint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GroupNode {
    /// Id of the node, unique within the plan. A DNS label.
    pub id: NodeId,
    /// Display name (1–253 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// What the group contains (1–1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub description: Option<String>,
    /// Background material shared by the group (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
    /// Nodes that must finish first; each adds a hard edge `X → this` (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub depends_on: Vec<NodeId>,
    /// Ids of the member nodes (unique, 1–10,000).
    #[schemars(length(min = 1, max = 10000), extend("uniqueItems" = true))]
    pub children: Vec<NodeId>,
    /// Display hint: `parallel` (default) or `sequence`. Creates no edges.
    #[serde(default)]
    pub mode: GroupMode,
    /// Condition under which the node runs: a CEL expression over `parameters`, `nodes`,
    /// `goal`, `plan` and `execution` (at most 1024 characters). PlanSpec extension on
    /// non-Task nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub when: Option<String>,
}

/// Display hint of a Group: `parallel` (default) or `sequence`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum GroupMode {
    #[default]
    Parallel,
    Sequence,
}

/// A wait for something outside the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ExternalNode {
    /// Id of the node, unique within the plan. A DNS label.
    pub id: NodeId,
    /// Display name (1–253 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// What is awaited (1–1024 characters).
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
    /// What is awaited: a URI, another resource or a webhook.
    pub external_ref: ExternalRef,
    /// How often to check the external dependency, as a Go duration (`30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<Duration>,
    /// How long to wait before failing, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Condition under which the node runs: a CEL expression over `parameters`, `nodes`,
    /// `goal`, `plan` and `execution` (at most 1024 characters). PlanSpec extension on
    /// non-Task nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub when: Option<String>,
}

/// What an External node waits for, discriminated by `type`: `uri`, `resource`, `webhook`
/// or `manual` (PlanSpec extension: completes only when signalled, e.g. `planspec complete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schemars(transform = crate::common::add_discriminator)]
pub enum ExternalRef {
    /// Poll a URI until it reports completion.
    Uri(UriExternalRef),
    /// Wait for another PlanSpec resource.
    Resource(ResourceExternalRef),
    /// Wait for a call to a webhook.
    Webhook(WebhookExternalRef),
    /// Wait until a person or system signals completion through the API.
    Manual(ManualExternalRef),
}

/// An external `manual` reference: nothing to poll; completion is signalled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ManualExternalRef {}

/// An external `uri` reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct UriExternalRef {
    /// The URI to poll.
    #[schemars(url)]
    pub uri: String,
}

/// An external `resource` reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ResourceExternalRef {
    /// The resource to wait for.
    pub resource_ref: ObjectReference,
}

/// An external `webhook` reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct WebhookExternalRef {
    /// The webhook URL that signals completion.
    #[schemars(url)]
    pub webhook_url: String,
}
