//! `Execution`: one run of a Plan. Creating it starts it; its spec is immutable intent.

use crate::common::{HashDigest, NodeId, Timestamp};
use crate::context::ContextItem;
use crate::meta::{Condition, ObjectReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

crate::resource::resource! {
    /// An Execution: one run of a Plan, with the Binding that assigns providers. Creating an
    /// Execution starts the run; its spec never changes afterwards.
    Execution, "Execution", ExecutionSpec, ExecutionStatus
}

/// Desired state of an Execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ExecutionSpec {
    /// The Plan to run.
    pub plan_ref: ObjectReference,
    /// The Goal the run serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_ref: Option<ObjectReference>,
    /// The Binding that assigns providers to the Plan's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_ref: Option<ObjectReference>,
    /// Reserved: the runtime that performs the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_ref: Option<ObjectReference>,
    /// Per-node Binding overrides: node id → Binding; beats `bindingRef` for that node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::common::map_schema::<NodeId, ObjectReference>")]
    pub node_bindings: BTreeMap<NodeId, ObjectReference>,
    /// Free-form run parameters; custom keys should be reverse-domain or `x-` prefixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// Background material for the run (at most 64 items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub context: Vec<ContextItem>,
    /// Most nodes running at once in this run (PlanSpec extension; default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_parallel: Option<u32>,
    /// `true`: the first failed node stops anything new from starting (the rest are skipped
    /// with `fail_fast`; running nodes finish, `finally` Tasks still run). Default `false`:
    /// every node that can still run does, and the run reports what succeeded (PlanSpec
    /// extension).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_fast: bool,
}

/// Phase of an Execution: `Pending`, `Running`, `Blocked` (waiting on a Gate), `Succeeded`,
/// `Failed` or `Cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ExecutionPhase {
    Pending,
    Running,
    Blocked,
    Succeeded,
    Failed,
    Cancelled,
}

/// Observed state of an Execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ExecutionStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ExecutionPhase>,
    /// Id of the run (at most 128 characters); defaults to `metadata.uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub run_id: Option<String>,
    /// Machine-readable reason for the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail about the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the run was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_time: Option<Timestamp>,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Timestamp>,
    /// When `phase` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_phase_transition_time: Option<Timestamp>,
    /// Hash of the spec the run was started from (`algorithm:digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<HashDigest>,
    /// State of each node, by node id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::common::map_schema::<NodeId, NodeStatus>")]
    pub node_statuses: BTreeMap<NodeId, NodeStatus>,
    /// What the run produced (at most 1000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub artifacts: Vec<Artifact>,
    /// Detailed observations (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    /// Free-form implementation-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// Phase of one node in a run: `Pending`, `Running`, `Blocked`, `AwaitingInput` (a
/// Placeholder waiting for a value), `Succeeded`, `Failed`, `Skipped` or `Cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum NodePhase {
    Pending,
    Running,
    Blocked,
    AwaitingInput,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

/// State of one node in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct NodeStatus {
    /// Current phase of the node.
    pub phase: NodePhase,
    /// When the current attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    /// When the node finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Timestamp>,
    /// Number of the current attempt (0 = not yet attempted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Output values, by output name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Map<String, Value>>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Free-form implementation-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// Something a run produced, discriminated by `type`: `file`, `directory` or `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schemars(transform = crate::common::add_discriminator)]
pub enum Artifact {
    /// A file, at `path`.
    File(PathArtifact),
    /// A directory, at `path`.
    Directory(PathArtifact),
    /// A resource at `url`.
    Url(UrlArtifact),
    /// A value carried inline in `data` (upstream OpenAPI's `data` type; a PlanSpec
    /// extension to the v1alpha1 schema).
    Data(DataArtifact),
}

impl Artifact {
    /// The artifact's name.
    pub fn name(&self) -> &str {
        match self {
            Artifact::File(a) | Artifact::Directory(a) => &a.name,
            Artifact::Url(a) => &a.name,
            Artifact::Data(a) => &a.name,
        }
    }
}

/// A `data` artifact: the value itself, inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DataArtifact {
    /// Name of the artifact (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Content hash (`algorithm:digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<HashDigest>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Media type, e.g. `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A `file` or `directory` artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PathArtifact {
    /// Name of the artifact (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Where the file or directory is.
    #[schemars(length(min = 1))]
    pub path: String,
    /// Content hash (`algorithm:digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<HashDigest>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Media type, e.g. `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A `url` artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct UrlArtifact {
    /// Name of the artifact (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Where the artifact is.
    #[schemars(url)]
    pub url: String,
    /// Content hash (`algorithm:digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<HashDigest>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Media type, e.g. `text/html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}
