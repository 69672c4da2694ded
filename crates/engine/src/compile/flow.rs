//! Ordered steps and `finally` Tasks.
//!
//! * `spec.steps` compile through [`PlanSpec::effective_graph`] (a chain); here only what a
//!   chain cannot say is checked: exactly one of `graph` and `steps`, no `dependsOn` on a
//!   step, no Group as a step.
//! * A `finally` Task may depend only on other `finally` Tasks, and only they may depend on
//!   it. It then gets a soft dependency on every non-`finally` node, so it runs once every
//!   other node is terminal whatever the outcome (a cancel ends nodes in any order, so the
//!   last nodes of the graph are not enough), and can read any of them.

use super::{CompileError, MAX_EXPANDED_EDGES};
use crate::graph::ExecNode;
use planspec_model::plan::{Node, PlanSpec};

/// Refuses what `spec.steps` may not hold.
pub(super) fn check_steps(spec: &PlanSpec) -> Result<(), CompileError> {
    if spec.steps.is_empty() {
        return Ok(());
    }
    if !spec.graph.is_empty() {
        return Err(CompileError::GraphAndSteps);
    }
    for step in &spec.steps {
        if matches!(step, Node::Group(_)) {
            return Err(CompileError::GroupStep {
                node: step.id().to_string(),
            });
        }
        if !step.depends_on().is_empty() {
            return Err(CompileError::StepDependsOn {
                node: step.id().to_string(),
            });
        }
    }
    Ok(())
}

/// Checks the dependencies of `finally` Tasks and gives each a soft dependency on every
/// non-`finally` node. Those implied edges (finally Tasks × regular nodes) count against
/// [`MAX_EXPANDED_EDGES`] with the plan's own; a plan without `finally` is unchanged.
pub(super) fn wire_finally(nodes: &mut [ExecNode]) -> Result<(), CompileError> {
    if !nodes.iter().any(|n| n.finally) {
        return Ok(());
    }
    for node in nodes.iter() {
        for d in node.hard_deps.iter().chain(&node.soft_deps).copied() {
            if nodes[d].finally != node.finally {
                return Err(CompileError::FinallyDependency {
                    node: node.id.to_string(),
                    dependency: nodes[d].id.to_string(),
                    finally_node: node.finally,
                });
            }
        }
    }
    let regular: Vec<usize> = (0..nodes.len()).filter(|&i| !nodes[i].finally).collect();
    // Each `finally` Task gets an edge from every regular node: those edges count against
    // the expanded-edge limit with the ones the plan already has, before any is added.
    let finally = nodes.len() - regular.len();
    let count = nodes
        .iter()
        .map(|n| n.hard_deps.len() + n.soft_deps.len())
        .sum::<usize>()
        .saturating_add(finally.saturating_mul(regular.len()));
    if count > MAX_EXPANDED_EDGES {
        return Err(CompileError::TooManyEdges {
            count,
            max: MAX_EXPANDED_EDGES,
            expanded: true,
        });
    }
    for node in nodes.iter_mut().filter(|n| n.finally) {
        node.soft_deps.extend(&regular);
        node.soft_deps.sort_unstable();
        node.soft_deps.dedup();
    }
    Ok(())
}
