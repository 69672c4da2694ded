//! Matrix Tasks: the check at the start, expansion when the Task is ready, releasing
//! instances under `maxParallel`, `failFast`, and ending the matrix node with its instances.
//!
//! Every instance is a node slot of its own (see the state's `instances`): it is dispatched,
//! retried, timed out, routed and cancelled like a Task, under its own id. The matrix node
//! itself is Running (activity `Instances`) from its expansion until its last instance ends.

use super::Deriver;
use crate::cel;
use crate::command::Command;
use crate::event::Decision;
use crate::graph::Test;
use crate::ids::TimerId;
use crate::machine::state::{Activity, NodePhase};
use crate::matrix::{self, ExpandError};
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::execution::ExecutionPhase;
use serde_json::Value;

impl Deriver<'_> {
    /// The slot at `position` of the engine's order: the graph's nodes in topological order,
    /// then every matrix instance in instance order.
    pub(super) fn slot_in_order(&self, position: usize) -> usize {
        let order = &self.graph.order;
        if position < order.len() {
            order[position]
        } else {
            self.graph.len() + (position - order.len())
        }
    }

    /// At the start: every matrix whose axes are literal or parameters is counted, and the
    /// run as a whole; a matrix that cannot expand (too many instances, an empty axis, a
    /// parameter that is not a list) fails the run before any node runs. Matrices reading an
    /// upstream output are checked when they become ready.
    pub(super) fn check_matrices_at_start(&mut self) -> Result<(), EngineError> {
        let graph = self.graph.clone();
        let limits = graph.limits;
        let mut total = graph.len();
        let mut failure: Option<(usize, ExpandError)> = None;
        for (i, node) in graph.nodes.iter().enumerate() {
            let Some(m) = node.matrix() else {
                continue;
            };
            if m.axes.iter().any(|a| a.from_output.is_some()) {
                continue;
            }
            let counted = matrix::resolve_axes(m, &self.exec.state.parameters, |_, _| None)
                .and_then(|axes| matrix::count(m, &axes, limits.max_matrix_instances));
            match counted {
                Ok(n) => {
                    total = total.saturating_add(n);
                    if total > limits.max_run_nodes {
                        failure = Some((
                            i,
                            ExpandError::TooMany {
                                count: u64::try_from(total).unwrap_or(u64::MAX),
                                max: u64::try_from(limits.max_run_nodes).unwrap_or(u64::MAX),
                            },
                        ));
                        break;
                    }
                }
                Err(e) => {
                    failure = Some((i, e));
                    break;
                }
            }
        }
        let Some((i, error)) = failure else {
            return Ok(());
        };
        let reason = error.reason();
        let message = self.clip(&expansion_message(&self.id(i), &error, total, &limits));
        self.emit(Decision::NodeFailed {
            at: self.at,
            node: self.id(i),
            attempt: 0,
            reason,
            message: message.clone(),
            killed: false,
        })?;
        let skipped = format!("not run: {message}");
        for position in 0..graph.order.len() {
            let j = graph.order[position];
            if self.exec.state.nodes[j].phase.is_terminal() {
                continue;
            }
            self.emit(Decision::NodeSkipped {
                at: self.at,
                node: self.id(j),
                reason,
                message: skipped.clone(),
            })?;
        }
        if self.exec.state.deadline.is_some() {
            self.command(Command::CancelTimer {
                timer: TimerId::Deadline {
                    round: self.exec.state.round,
                },
            });
        }
        self.emit(Decision::ExecutionCompleted {
            at: self.at,
            phase: ExecutionPhase::Failed,
            reason: Some(reason),
            message: message.clone(),
        })?;
        self.command(Command::Finish {
            phase: ExecutionPhase::Failed,
            reason: Some(reason),
            message,
        });
        Ok(())
    }

    /// Matrix node `i`'s dependencies are done: expand it (`MatrixExpanded`), or fail it with
    /// the expansion's reason.
    pub(super) fn expand_matrix(&mut self, i: usize) -> Result<(), EngineError> {
        let id = self.id(i);
        match matrix::expand_node(&self.graph, &self.exec.state, i) {
            Ok(expansion) => {
                let decision = Decision::MatrixExpanded {
                    at: self.at,
                    node: id,
                    instances: u32::try_from(expansion.instances.len()).unwrap_or(u32::MAX),
                    digest: expansion.digest(),
                };
                // Applying the decision uses this expansion rather than making it again.
                self.exec.state.matrix.expanded = Some((i, expansion));
                let emitted = self.emit(decision);
                self.exec.state.matrix.expanded = None;
                emitted
            }
            Err(error) => {
                let total = self.exec.state.nodes.len();
                let limits = self.graph.limits;
                let message = self.clip(&expansion_message(&id, &error, total, &limits));
                let attempt = self.exec.state.nodes[i].attempt;
                self.emit(Decision::NodeFailed {
                    at: self.at,
                    node: id,
                    attempt,
                    reason: error.reason(),
                    message,
                    killed: false,
                })
            }
        }
    }

    /// Something changed among matrix node `m`'s instances: skip the rest under `failFast`,
    /// release more under `maxParallel`, or end the matrix node once every instance has.
    pub(super) fn matrix_progress(&mut self, m: usize) -> Result<(), EngineError> {
        let graph = self.graph.clone();
        let Some(config) = graph.nodes[m].matrix() else {
            return Ok(());
        };
        let n = &self.exec.state.nodes[m];
        if n.phase != NodePhase::Running || n.activity != Some(Activity::Instances) {
            return Ok(());
        }
        let Some(run) = self.exec.state.matrix.runs.get(&m).cloned() else {
            return Ok(());
        };
        if self.exec.state.cancel.is_none() {
            // The matrix's own `failFast`, or the Execution's.
            if (config.fail_fast && run.failed > 0) || self.failing_fast() {
                // Only when some instance has not started: one sweep, not one per result.
                let rank = graph.rank[m];
                let waiting = run.next < run.slots.end
                    || self
                        .exec
                        .state
                        .ready
                        .range((rank, run.slots.start)..(rank, run.slots.end))
                        .next()
                        .is_some();
                if !waiting {
                    return self.finish_if_done(m);
                }
                let failed = run
                    .slots
                    .clone()
                    .find(|&s| self.exec.state.nodes[s].phase == NodePhase::Failed)
                    .map(|s| self.id(s));
                let message = match failed {
                    Some(f) => format!("instance `{f}` failed and the matrix fails fast"),
                    None => "a node failed and the Execution fails fast".to_string(),
                };
                for s in run.slots.clone() {
                    if matches!(
                        self.exec.state.nodes[s].phase,
                        NodePhase::Pending | NodePhase::Ready
                    ) {
                        self.emit(Decision::NodeSkipped {
                            at: self.at,
                            node: self.id(s),
                            reason: ReasonCode::FailFast,
                            message: message.clone(),
                        })?;
                    }
                }
            } else {
                let cap = config.max_parallel.unwrap_or(u32::MAX);
                // Releasing moves the instance out of Pending, which advances `next`.
                while let Some(s) = self
                    .exec
                    .state
                    .matrix
                    .runs
                    .get(&m)
                    .filter(|run| run.active < cap && run.next < run.slots.end)
                    .map(|run| run.next)
                {
                    self.release(s)?;
                }
            }
        }
        self.finish_if_done(m)
    }

    /// Ends matrix node `m` if every instance has ended.
    fn finish_if_done(&mut self, m: usize) -> Result<(), EngineError> {
        match self.exec.state.matrix.runs.get(&m) {
            Some(run) if run.terminal as usize == run.slots.len() => self.finish_matrix(m),
            _ => Ok(()),
        }
    }

    /// Instance `s` is released: its `when` (the matrix node's, reading `matrix`) decides
    /// whether it is Ready (and routed), skipped or failed.
    fn release(&mut self, s: usize) -> Result<(), EngineError> {
        let graph = self.graph.clone();
        let owner = &graph.nodes[self.owner(s)];
        let id = self.id(s);
        for condition in &owner.when {
            let Test::Cel(expr) = &condition.test else {
                continue;
            };
            let whose = if condition.from == owner.id {
                "`when`".to_string()
            } else {
                format!("the `when` of group `{}`", condition.from)
            };
            let failure = match cel::evaluate_with(&expr.source, self.variables(s, &expr.reads)) {
                Ok(Value::Bool(true)) => continue,
                Ok(Value::Bool(false)) => {
                    let message = self.clip(&format!("{whose} is false: {}", expr.source));
                    return self.emit(Decision::NodeSkipped {
                        at: self.at,
                        node: id,
                        reason: ReasonCode::WhenFalse,
                        message,
                    });
                }
                Ok(_) => format!("{whose} does not yield a boolean"),
                Err(e) => format!("{whose} failed: {e}"),
            };
            let message = self.clip(&failure);
            let attempt = self.exec.state.nodes[s].attempt;
            return self.emit(Decision::NodeFailed {
                at: self.at,
                node: id,
                attempt,
                reason: ReasonCode::WhenFailed,
                message,
                killed: false,
            });
        }
        self.emit(Decision::NodeReady {
            at: self.at,
            node: id,
        })?;
        self.route(s)
    }

    /// Every instance of matrix node `m` is terminal: it fails if one failed (naming the
    /// first), else is cancelled if one was, else is skipped if none succeeded, else
    /// succeeds (its outputs are the fan-in lists, derived from the instances).
    fn finish_matrix(&mut self, m: usize) -> Result<(), EngineError> {
        let Some(slots) = self.exec.state.matrix.slots_of(m) else {
            return Ok(());
        };
        let id = self.id(m);
        let attempt = self.exec.state.nodes[m].attempt;
        let (mut failed, mut cancelled, mut succeeded) = (Vec::new(), None, 0usize);
        let mut first_skip = None;
        for s in slots.clone() {
            let n = &self.exec.state.nodes[s];
            match n.phase {
                NodePhase::Failed => failed.push(s),
                NodePhase::Cancelled => {
                    cancelled.get_or_insert(s);
                }
                NodePhase::Succeeded => succeeded += 1,
                _ => {
                    first_skip.get_or_insert(s);
                }
            }
        }
        if let Some(&f) = failed.first() {
            let n = &self.exec.state.nodes[f];
            let reason = n.reason.unwrap_or(ReasonCode::ProviderFailed);
            let mut message = format!(
                "instance `{}` failed ({}): {}",
                self.id(f),
                reason.as_str(),
                n.message.as_deref().unwrap_or_default()
            );
            if failed.len() > 1 {
                message.push_str(&format!(
                    " ({} of {} instances failed)",
                    failed.len(),
                    slots.len()
                ));
            }
            let message = self.clip(&message);
            return self.emit(Decision::NodeFailed {
                at: self.at,
                node: id,
                attempt,
                reason,
                message,
                killed: false,
            });
        }
        if let Some(c) = cancelled {
            let reason = self.exec.state.nodes[c]
                .reason
                .unwrap_or(ReasonCode::Cancelled);
            return self.emit(Decision::NodeCancelled {
                at: self.at,
                node: id,
                attempt,
                reason,
                killed: false,
            });
        }
        if succeeded == 0 {
            let reason = first_skip
                .and_then(|s| self.exec.state.nodes[s].reason)
                .unwrap_or(ReasonCode::WhenFalse);
            return self.emit(Decision::NodeSkipped {
                at: self.at,
                node: id,
                reason,
                message: "every instance was skipped".to_string(),
            });
        }
        self.emit(Decision::NodeSucceeded {
            at: self.at,
            node: id,
            attempt,
            outputs: serde_json::Map::new(),
            advisories: Vec::new(),
        })
    }
}

/// The message of a matrix that cannot expand: it names the node and the count.
fn expansion_message(
    node: &str,
    error: &ExpandError,
    run_total: usize,
    limits: &crate::graph::Limits,
) -> String {
    match error {
        ExpandError::TooMany { count, max }
            if u64::try_from(limits.max_run_nodes).ok() == Some(*max)
                && *max != u64::try_from(limits.max_matrix_instances).unwrap_or(0) =>
        {
            format!(
                "matrix `{node}`: the run would hold {count} nodes and instances (it holds {run_total} now); at most {max} are allowed"
            )
        }
        other => format!("matrix `{node}`: {other}"),
    }
}
