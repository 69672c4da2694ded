//! `matrix` on a Task: fan one node out into instances, one per combination of axis values.

use crate::common::OutputName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most instances one matrix may expand into unless the server sets another limit
/// (`plan_expansion_limit` beyond it).
pub const DEFAULT_MAX_INSTANCES: usize = 10_000;
/// Most axes a matrix may have.
pub const MAX_AXES: usize = 16;

/// Fans a Task out into one instance per combination of its axes' values (PlanSpec
/// extension). Instances are expanded in canonical order (axes in the order written, each
/// axis's values in their order), then `exclude` removes combinations and `include` adds
/// some; every instance gets an id derived from its coordinates (RFC 8785 canonical JSON,
/// SHA-256), so the same inputs always give the same instances. Expressions in the Task read
/// the instance's coordinates as `matrix.<axis>`; downstream nodes read the instances'
/// outputs as arrays (fan-in), in instance order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Matrix {
    /// The axes, 1–16, in the order they are combined (the first varies slowest).
    #[schemars(length(min = 1, max = 16))]
    pub axes: Vec<MatrixAxis>,
    /// Extra combinations, each a map of axis name → value, added after the product (at
    /// most 256). A combination already in the product is not added twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub include: Vec<Map<String, Value>>,
    /// Partial combinations to remove from the product: an instance is removed when it
    /// matches every key of one entry (at most 256).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub exclude: Vec<Map<String, Value>>,
    /// Most instances running at once (default: no limit beyond the Execution's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_parallel: Option<u32>,
    /// `true`: the first failed instance stops the others from starting (they are
    /// skipped with `fail_fast`). Default `false`: every instance runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_fast: bool,
}

/// One axis of a matrix: a name and where its values come from (exactly one of `values`,
/// `parameter`, `fromOutput`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MatrixAxis {
    /// The axis name, read by expressions as `matrix.<name>` (a lowercase identifier).
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z][a-zA-Z0-9_]*$"))]
    pub name: String,
    /// Literal values (at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10000))]
    pub values: Option<Vec<Value>>,
    /// The name of an Execution parameter holding an array of values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub parameter: Option<String>,
    /// An upstream node's output holding an array of values, as `<node>.<output>`; the node
    /// must be a dependency of the Task. Expanded when the Task becomes ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_output: Option<OutputRef>,
}

/// A reference to one output of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OutputRef {
    /// The node.
    pub node: crate::common::NodeId,
    /// The output name.
    pub output: OutputName,
}

/// Where an axis's values come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AxisSource<'a> {
    /// Literal values.
    Values(&'a [Value]),
    /// An Execution parameter.
    Parameter(&'a str),
    /// An upstream node's output.
    FromOutput(&'a OutputRef),
}

impl MatrixAxis {
    /// Where the values come from, or `None` unless exactly one source is given.
    pub fn source(&self) -> Option<AxisSource<'_>> {
        match (&self.values, &self.parameter, &self.from_output) {
            (Some(v), None, None) => Some(AxisSource::Values(v)),
            (None, Some(p), None) => Some(AxisSource::Parameter(p)),
            (None, None, Some(o)) => Some(AxisSource::FromOutput(o)),
            _ => None,
        }
    }
}

/// A keyed concurrency limit on a Task (PlanSpec extension): at most `limit` Tasks holding
/// the same key run at once, across every Execution of the namespace (`limit: 1` is a
/// mutex, e.g. one deploy per environment). Held as a lease with a TTL, taken before the
/// Task's first attempt dispatches (waiters are served by their Goal's `priority`, then in
/// arrival order), kept across its retries, renewed while held and released when the Task
/// ends or is cancelled — or, if its runtime dies, once the TTL has passed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Concurrency {
    /// The key (1–253 characters); may hold `${{ }}` expressions, e.g.
    /// `deploy-${{ parameters.env }}` or `region-${{ matrix.region }}`.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
    /// How many holders the key allows at once (1–1000, default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: u32,
}

fn one() -> u32 {
    1
}
