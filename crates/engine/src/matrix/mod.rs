//! Matrix fan-out: a Task with a `matrix` runs once per combination of its axes' values.
//!
//! * **Expansion** ([`expand`]): axes from literal `values`, an Execution `parameter` (a
//!   list) or `fromOutput` (a list output of an upstream node). The product in canonical
//!   order — axes in the order written, the first varying slowest, each axis's values in
//!   order — then `exclude` (an instance matching every key of an entry is removed), then
//!   `include` (entries not already present are added, in order).
//! * **Instance ids** ([`instance_id`]): `<node>-<12 hex>`, the hex from the SHA-256 of the
//!   RFC 8785 canonical JSON of `{"coordinates": …, "node": …}`: the same node and
//!   coordinates give the same id in every run, and the id is usable in URLs and CLI
//!   arguments. Ids are checked unique within the run.
//! * **When**: a matrix whose axes are literal or parameters is checked at the start (limits,
//!   empty axes) so the run fails before any node runs; every matrix expands when its Task
//!   becomes ready, journaled as `MatrixExpanded` (count and digest only: the fold derives
//!   the instances again from the graph, the parameters and the upstream outputs).
//! * **Fan-in**: downstream expressions read `nodes.<matrix>.outputs.<name>` as the list of
//!   the instances' `<name>` outputs in instance order (`null` for an instance without it),
//!   and `nodes.<matrix>.instances` as `[{id, ordinal, coordinates, phase, outputs}]`.
//!
//! [`expanded_graph`] and [`expansion_manifest`] render a run's expansion as JSON for
//! artifacts, deterministically.

mod expand;

pub use expand::{
    count, expand, instance_id, product_size, resolve_axes, ExpandError, Expansion, Instance,
    ResolvedAxis, INSTANCE_ID_HEX, MAX_PRODUCT,
};

use crate::graph::ExecGraph;
use crate::machine::{Execution, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// One matrix instance of a run, as the state keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    /// The instance id (`<node>-<12 hex>`).
    pub id: String,
    /// The matrix node's index in the graph.
    pub node: usize,
    /// Its position among the matrix's instances.
    pub ordinal: u32,
    /// Axis name → value.
    pub coordinates: Map<String, Value>,
}

/// Expands matrix node `i` against what the run knows now: its parameters and the outputs of
/// upstream nodes (a matrix node's outputs are its fan-in lists). Checks the per-matrix limit
/// and that the run stays within [`Limits::max_run_nodes`](crate::Limits).
pub(crate) fn expand_node(
    graph: &ExecGraph,
    state: &State,
    i: usize,
) -> Result<Expansion, ExpandError> {
    let node = &graph.nodes[i];
    let Some(matrix) = node.matrix() else {
        return Err(ExpandError::Invalid(format!("`{}` has no matrix", node.id)));
    };
    let expansion = expand_for_manifest(graph, state, i, matrix, false)?;
    let total = state.nodes.len() + expansion.instances.len();
    if total > graph.limits.max_run_nodes {
        return Err(ExpandError::TooMany {
            count: u64::try_from(total).unwrap_or(u64::MAX),
            max: u64::try_from(graph.limits.max_run_nodes).unwrap_or(u64::MAX),
        });
    }
    for instance in &expansion.instances {
        if graph.index_of(&instance.id).is_some() || state.matrix.slot(&instance.id).is_some() {
            return Err(ExpandError::Invalid(format!(
                "instance id `{}` is already a node of the run",
                instance.id
            )));
        }
    }
    Ok(expansion)
}

/// The outputs node `j` shows downstream: its own, or for a matrix node that expanded, the
/// fan-in lists (one per output name any instance has, in instance order, `null` where an
/// instance has none — so a failed matrix still shows what its instances produced). `None`
/// if it has none.
pub(crate) fn node_outputs<'s>(
    graph: &ExecGraph,
    state: &'s State,
    j: usize,
) -> Option<Cow<'s, Map<String, Value>>> {
    let Some(slots) = state.matrix.slots_of(j) else {
        return state.nodes.get(j)?.outputs.as_ref().map(Cow::Borrowed);
    };
    let mut names: Vec<String> = match &graph.nodes[j].kind {
        crate::graph::ExecKind::Task(t) => t.outputs.iter().map(|o| o.to_string()).collect(),
        _ => Vec::new(),
    };
    let mut extra = std::collections::BTreeSet::new();
    for s in slots.clone() {
        if let Some(o) = &state.nodes[s].outputs {
            for k in o.keys() {
                if !names.contains(k) {
                    extra.insert(k.clone());
                }
            }
        }
    }
    names.extend(extra);
    let mut fan_in = Map::with_capacity(names.len());
    for name in names {
        let list: Vec<Value> = slots
            .clone()
            .map(|s| {
                state.nodes[s]
                    .outputs
                    .as_ref()
                    .and_then(|o| o.get(&name))
                    .cloned()
                    .unwrap_or(Value::Null)
            })
            .collect();
        fan_in.insert(name, Value::Array(list));
    }
    Some(Cow::Owned(fan_in))
}

/// `nodes.<matrix>.instances`: `[{id, ordinal, coordinates, phase, outputs}]` in instance
/// order; `None` for a node that is not an expanded matrix.
pub(crate) fn instances_value(graph: &ExecGraph, state: &State, j: usize) -> Option<Value> {
    let slots = state.matrix.slots_of(j)?;
    let base = graph.len();
    Some(Value::Array(
        slots
            .map(|s| {
                let info = &state.instances[s - base];
                let n = &state.nodes[s];
                json!({
                    "id": info.id,
                    "ordinal": info.ordinal,
                    "coordinates": info.coordinates,
                    "phase": n.phase.as_str(),
                    "outputs": n.outputs.clone().unwrap_or_default(),
                })
            })
            .collect(),
    ))
}

/// The expanded graph of a run, for artifacts: every graph node (in declaration order, with
/// its kind and dependencies by id) and, after each matrix node, its instances (id, ordinal,
/// coordinates, phase; each depends on nothing but its matrix node's dependencies). A matrix
/// not expanded yet lists no instances. Deterministic: the same journal gives the same bytes.
pub fn expanded_graph(execution: &Execution) -> Value {
    let graph = execution.graph();
    let state = execution.state();
    let ids =
        |v: &[usize]| -> Vec<&str> { v.iter().map(|&i| graph.nodes[i].id.as_str()).collect() };
    let mut nodes = Vec::with_capacity(state.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        let mut entry = json!({
            "id": node.id,
            "kind": node.kind.name(),
            "hard": ids(&node.hard_deps),
            "soft": ids(&node.soft_deps),
            "phase": state.nodes[i].phase.as_str(),
        });
        if let (Some(slots), Value::Object(map)) = (state.matrix.slots_of(i), &mut entry) {
            map.insert("matrix".into(), json!(true));
            map.insert(
                "instances".into(),
                Value::Array(
                    slots
                        .map(|s| json!(state.instances[s - graph.len()].id))
                        .collect(),
                ),
            );
        }
        nodes.push(entry);
        if let Some(slots) = state.matrix.slots_of(i) {
            for s in slots {
                let info = &state.instances[s - graph.len()];
                nodes.push(json!({
                    "id": info.id,
                    "kind": "Instance",
                    "matrix": node.id,
                    "ordinal": info.ordinal,
                    "coordinates": info.coordinates,
                    "hard": ids(&node.hard_deps),
                    "soft": ids(&node.soft_deps),
                    "phase": state.nodes[s].phase.as_str(),
                }));
            }
        }
    }
    json!({
        "format": "planspec-engine/expanded-graph/v1",
        "graphDigest": graph.digest(),
        "nodes": nodes,
    })
}

/// The expansion manifest of a run, for artifacts: per matrix node that expanded (in
/// declaration order), the axes with their sources and resolved values, the excluded and
/// included combinations and the instances (ordinal, id, coordinates). Deterministic.
pub fn expansion_manifest(execution: &Execution) -> Value {
    let graph = execution.graph();
    let state = execution.state();
    let mut matrices = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(matrix) = node.matrix() else {
            continue;
        };
        if state.matrix.slots_of(i).is_none() {
            matrices.push(json!({"node": node.id, "expanded": false}));
            continue;
        }
        // The fold checked that these inputs give the journaled instances.
        let entry = match expand_for_manifest(graph, state, i, matrix, true) {
            Ok(e) => {
                let mut m = e.manifest();
                if let Value::Object(map) = &mut m {
                    map.insert("expanded".into(), json!(true));
                    map.insert("failFast".into(), json!(matrix.fail_fast));
                    map.insert("maxParallel".into(), json!(matrix.max_parallel));
                }
                m
            }
            Err(e) => json!({"node": node.id, "expanded": true, "error": e.to_string()}),
        };
        matrices.push(entry);
    }
    json!({
        "format": "planspec-engine/expansion-manifest/v1",
        "graphDigest": graph.digest(),
        "matrices": matrices,
    })
}

/// The expansion of matrix `i` as it was made (the instances the state holds came from it).
fn expand_for_manifest(
    graph: &ExecGraph,
    state: &State,
    i: usize,
    matrix: &planspec_model::plan::Matrix,
    record_excluded: bool,
) -> Result<Expansion, ExpandError> {
    let outputs: Vec<(usize, Cow<'_, Map<String, Value>>)> = matrix
        .axes
        .iter()
        .filter_map(|a| a.from_output.as_ref())
        .filter_map(|r| graph.index_of(r.node.as_str()))
        .filter_map(|j| node_outputs(graph, state, j).map(|o| (j, o)))
        .collect();
    let axes = resolve_axes(matrix, &state.parameters, |n, o| {
        let j = graph.index_of(n)?;
        outputs
            .iter()
            .find(|(k, _)| *k == j)
            .and_then(|(_, map)| map.get(o))
    })?;
    expand::expand_with(
        graph.nodes[i].id.as_str(),
        matrix,
        axes,
        graph.limits.max_matrix_instances,
        record_excluded,
    )
}

#[cfg(test)]
mod tests;
