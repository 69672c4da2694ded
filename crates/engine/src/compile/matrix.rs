//! `matrix` on a Task, checked against the graph: each axis has exactly one source, axis
//! names are unique, `include`/`exclude` keys are axis names, a `fromOutput` node is
//! upstream of the Task and declares the output, literal axes are not empty, and a matrix
//! Task is not `finally`.

use super::CompileError;
use crate::graph::{ExecGraph, ExecKind};
use planspec_model::plan::{AxisSource, MAX_AXES};
use std::collections::HashSet;

/// Checks every matrix of the graph.
pub(super) fn check(graph: &ExecGraph) -> Result<(), CompileError> {
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(matrix) = node.matrix() else {
            continue;
        };
        let bad = |message: String| CompileError::InvalidMatrix {
            node: node.id.to_string(),
            message,
        };
        if node.finally {
            return Err(bad(
                "a `finally` Task cannot have a matrix (an exit handler runs once)".into(),
            ));
        }
        if matrix.max_parallel == Some(0) {
            // No instance could ever start: the run would wait forever.
            return Err(bad(
                "`maxParallel` is 0; at least 1 instance must be allowed to run".into(),
            ));
        }
        if matrix.axes.is_empty() || matrix.axes.len() > MAX_AXES {
            return Err(bad(format!(
                "it has {} axes; 1 to {MAX_AXES} are allowed",
                matrix.axes.len()
            )));
        }
        let mut names = HashSet::new();
        let mut upstream: Option<Vec<usize>> = None;
        for axis in &matrix.axes {
            if !names.insert(axis.name.as_str()) {
                return Err(bad(format!("axis `{}` is declared twice", axis.name)));
            }
            match axis.source() {
                None => {
                    return Err(bad(format!(
                        "axis `{}` needs exactly one of `values`, `parameter` and `fromOutput`",
                        axis.name
                    )))
                }
                Some(AxisSource::Values([])) => {
                    return Err(bad(format!("axis `{}` has no values", axis.name)))
                }
                Some(AxisSource::FromOutput(r)) => {
                    let Some(j) = graph.index_of(r.node.as_str()) else {
                        return Err(bad(format!(
                            "axis `{}` reads `{}`, which is not a node of the plan",
                            axis.name, r.node
                        )));
                    };
                    let up = upstream.get_or_insert_with(|| graph.upstream(i));
                    if up.binary_search(&j).is_err() {
                        return Err(bad(format!(
                            "axis `{}` reads the outputs of `{}`, which is not upstream of `{}` (add a dependency)",
                            axis.name, r.node, node.id
                        )));
                    }
                    if let ExecKind::Task(task) = &graph.nodes[j].kind {
                        let declared = task.outputs.is_empty()
                            || task.outputs.iter().any(|o| o.as_str() == r.output.as_str());
                        if !declared && !graph.nodes[j].is_matrix() {
                            return Err(bad(format!(
                                "axis `{}` reads output `{}` of `{}`, which does not declare it",
                                axis.name, r.output, r.node
                            )));
                        }
                    }
                }
                Some(_) => {}
            }
        }
        for (field, entries) in [("include", &matrix.include), ("exclude", &matrix.exclude)] {
            for (k, entry) in entries.iter().enumerate() {
                if entry.is_empty() {
                    return Err(bad(format!("`{field}[{k}]` is empty")));
                }
                if let Some(key) = entry.keys().find(|key| !names.contains(key.as_str())) {
                    return Err(bad(format!(
                        "`{field}[{k}]` names `{key}`, which is not an axis"
                    )));
                }
            }
        }
    }
    Ok(())
}
