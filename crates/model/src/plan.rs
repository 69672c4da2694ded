//! `Plan`: the durable artifact — a graph of nodes that achieves a Goal.

mod composition;
mod criteria;
mod matrix;
mod node;

pub use composition::{
    PlaceholderNode, PlaceholderRule, PlaceholderType, PlanNode, PlanReference, ResourceSelector,
    MAX_SUBPLAN_DEPTH,
};
pub use matrix::{
    AxisSource, Concurrency, Matrix, MatrixAxis, OutputRef, DEFAULT_MAX_INSTANCES, MAX_AXES,
};

pub use criteria::{
    AcceptanceCriterion, ArtifactExistsCriterion, CommandSucceedsCriterion, CustomCriterion,
    EndpointRespondsCriterion, ExpectedResponse, HttpMethod, TestPassesCriterion,
};
pub use node::{
    Backoff, Effort, ExternalNode, ExternalRef, GateNode, GroupMode, GroupNode, ManualExternalRef,
    Node, NodeKind, ResourceExternalRef, RetryPolicy, TaskNode, UriExternalRef, WebhookExternalRef,
};

use crate::common::{Digest, DnsLabel, NodeId};
use crate::context::ContextItem;
use crate::meta::{Condition, ObjectReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most nodes a plan graph may have (upstream: 1,000).
pub const MAX_NODES: usize = 10_000;
/// Most edges a plan graph may have (upstream: 10,000).
pub const MAX_EDGES: usize = 100_000;

crate::resource::resource! {
    /// A Plan: a graph of Tasks, Gates, Groups and External waits that achieves a Goal. Nodes
    /// are embedded in the Plan, not separate resources.
    Plan, "Plan", PlanSpec, PlanStatus
}

/// Desired state of a Plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    deny_unknown_fields,
    extend("allOf" = [{
        "dependentRequired": {"series": ["version"], "version": ["series"]},
        "$comment": "planspec-rule PS0318: checked in code"
    }])
)]
pub struct PlanSpec {
    /// What the Plan does (1–4096 characters).
    #[schemars(length(min = 1, max = 4096))]
    pub description: String,
    /// The nodes and edges of the Plan. Exactly one of `graph` and `steps`.
    #[serde(default, skip_serializing_if = "Graph::is_empty")]
    pub graph: Graph,
    /// An ordered list of nodes run one after another (PlanSpec extension, as in the bullets
    /// model): compiles to a chain, each step depending on the one before. Steps may not
    /// declare `dependsOn`. Exactly one of `graph` and `steps` (at most 10,000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10000))]
    pub steps: Vec<Node>,
    /// The Goal this Plan achieves; optional (plans may be reused or goal-less).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_ref: Option<ObjectReference>,
    /// Series this Plan belongs to; the highest `version` of a series wins. Requires `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<DnsLabel>,
    /// Version within the series (numeric or dotted, compared part-wise). Requires `series`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub version: Option<String>,
    /// The Plan this one directly replaces (at most one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1))]
    pub supersedes: Vec<ObjectReference>,
    /// SHA-256 digest of the graph, for change detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_digest: Option<Digest>,
    /// Background material for every node (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
    /// Constraints on every run of this Plan, with the same keys as a Goal's
    /// (`budgetUsd`, `maxRuntimeSeconds`, `safety`…); where both set one, the stricter wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The plan graph: nodes plus explicit edges. `dependsOn` on a node is sugar for hard edges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Graph {
    /// The nodes, 1–10,000, each discriminated by `kind`.
    #[schemars(length(min = 1, max = 10000))]
    pub nodes: Vec<Node>,
    /// Explicit dependencies `from` → `to` (at most 100,000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100000), extend("default" = []))]
    pub edges: Vec<Edge>,
}

/// A dependency: `to` starts only after `from` finished.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Edge {
    /// The node that must finish first.
    pub from: NodeId,
    /// The node that waits.
    pub to: NodeId,
    /// `hard` (default) blocks `to`; `soft` is advisory and reserved.
    #[serde(rename = "type", default)]
    pub edge_type: EdgeType,
    /// On which outcome of `from` the node `to` runs (PlanSpec extension, Argo's `depends` in
    /// PlanSpec form): `success` (the default for a hard edge), `failure`, `skipped`, or
    /// `always` (any outcome; the default for a soft edge). When the outcome does not match,
    /// `to` is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<EdgeCondition>,
}

/// On which outcome of its upstream node an edge lets the downstream node run: `success`,
/// `failure`, `skipped` or `always`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum EdgeCondition {
    Success,
    Failure,
    Skipped,
    Always,
}

/// Type of an edge: `hard` (default) or `soft` (advisory, reserved).
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
pub enum EdgeType {
    #[default]
    Hard,
    Soft,
}

/// Phase of a Plan: `Ready` or `Invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum PlanPhase {
    Ready,
    Invalid,
}

/// Observed state of a Plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PlanStatus {
    /// `Ready` once validated, `Invalid` if re-validation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PlanPhase>,
    /// Number of nodes in the graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<u32>,
    /// The digest of the execution graph the Plan compiles to (PlanSpec extension): equal
    /// digests run the same way. An Execution pins the digest it started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_digest: Option<Digest>,
    /// Detailed observations (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
}

impl PlanSpec {
    /// The Plan's nodes as declared: `spec.graph.nodes`, or `spec.steps` when the Plan is
    /// written as ordered steps.
    pub fn nodes(&self) -> &[Node] {
        if self.steps.is_empty() {
            &self.graph.nodes
        } else {
            &self.steps
        }
    }

    /// The graph the Plan runs: `graph` as written, or `steps` made into a chain (each step
    /// depends on the one before it, except that the first `finally` Task does not depend on
    /// the step before it: `finally` Tasks run after every other node anyway).
    pub fn effective_graph(&self) -> std::borrow::Cow<'_, Graph> {
        if self.steps.is_empty() {
            return std::borrow::Cow::Borrowed(&self.graph);
        }
        let mut nodes = self.steps.clone();
        for i in 1..nodes.len() {
            // The first `finally` Task after the other steps does not depend on the last of
            // them: it runs once every other node is terminal, whatever their outcome.
            if nodes[i].is_finally() && !nodes[i - 1].is_finally() {
                continue;
            }
            let previous = nodes[i - 1].id().clone();
            let depends_on = nodes[i].depends_on_mut();
            if !depends_on.contains(&previous) {
                depends_on.push(previous);
            }
        }
        std::borrow::Cow::Owned(Graph {
            nodes,
            edges: Vec::new(),
        })
    }
}

impl Graph {
    /// `true` if the graph has no nodes and no edges (absent).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.edges.is_empty()
    }

    /// The node with this id (the first one, if ids repeat).
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id() == id)
    }
}
