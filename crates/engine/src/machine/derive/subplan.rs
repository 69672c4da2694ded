//! `Plan` nodes: a sub-plan runs as a child Execution.
//!
//! When a `Plan` node starts, its `inputs` are interpolated once (like a Task's) and the
//! runtime is asked to start the child ([`Command::StartChild`]) with them as its parameters;
//! the node is `Running` (activity `Child`) until `ChildFinished` arrives:
//!
//! * the child `Succeeded`: the node succeeds with the child's outputs (one entry per child
//!   node that produced outputs, by node id);
//! * the child `Failed`: the node fails with `subplan_failed`, the child's reason and message
//!   in the message;
//! * the child was `Cancelled`: while this run is being cancelled the node is cancelled;
//!   otherwise (someone cancelled the child alone) it fails with `subplan_failed`.
//!
//! A graceful cancel of this run asks the runtime to cancel the child gracefully
//! ([`Command::CancelChild`]) and waits for it to end; a forced cancel, the node's `timeout`
//! and the deadline `Kill` the node, which the runtime carries out as a forced cancel of the
//! child. A `Plan` node is never retried within a round.

use super::Deriver;
use crate::command::Command;
use crate::event::Decision;
use crate::graph::PlanConfig;
use crate::machine::state::{Activity, CancelMode};
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::execution::ExecutionPhase;
use planspec_model::NodeId;
use serde_json::{Map, Value};

/// How a child Execution ended, as `ChildFinished` reports it.
pub(super) struct ChildEnd<'i> {
    pub(super) child: &'i str,
    pub(super) phase: ExecutionPhase,
    pub(super) outputs: &'i Map<String, Value>,
    pub(super) reason: Option<&'i str>,
    pub(super) message: &'i str,
}

impl Deriver<'_> {
    /// Starts attempt `attempt` of `Plan` node `i`: `NodeStarted` with the interpolated
    /// inputs, then `StartChild`. `Ok(false)` if the inputs could not be resolved (the node
    /// failed instead).
    pub(super) fn start_child(
        &mut self,
        i: usize,
        attempt: u32,
        plan: &PlanConfig,
        key: String,
        timeout_at: Option<u64>,
    ) -> Result<bool, EngineError> {
        let node = self.id(i);
        let inputs = match self.exec.state.nodes[i].inputs.clone() {
            Some(inputs) => inputs,
            None => match self.resolve_inputs(i, &plan.inputs) {
                Ok(inputs) => inputs,
                Err((reason, message)) => {
                    let last = self.exec.state.nodes[i].attempt;
                    self.emit(Decision::NodeFailed {
                        at: self.at,
                        node,
                        attempt: last,
                        reason,
                        message,
                        killed: false,
                    })?;
                    return Ok(false);
                }
            },
        };
        self.emit(Decision::NodeStarted {
            at: self.at,
            node: node.clone(),
            attempt,
            idempotency_key: key.clone(),
            inputs: inputs.clone(),
            timeout_at,
        })?;
        self.command(Command::StartChild {
            node,
            attempt,
            idempotency_key: key,
            inputs,
            timeout_ms: self.graph.nodes[self.owner(i)].timeout_ms,
        });
        Ok(true)
    }

    /// The child Execution of a `Plan` node ended.
    pub(super) fn child_finished(
        &mut self,
        node: &NodeId,
        attempt: u32,
        end: ChildEnd<'_>,
    ) -> Result<(), EngineError> {
        let Some(i) = self.waiting_node(node, Some(attempt), Activity::Child)? else {
            return Ok(());
        };
        self.cancel_node_timer(i);
        let why = || {
            let reason = end.reason.unwrap_or("unknown");
            if end.message.is_empty() {
                format!(
                    "child execution {} ended {:?} ({reason})",
                    end.child, end.phase
                )
            } else {
                format!(
                    "child execution {} ended {:?} ({reason}): {}",
                    end.child, end.phase, end.message
                )
            }
        };
        match end.phase {
            ExecutionPhase::Succeeded => {
                // The runtime stops reading a child's outputs past the limit and says so
                // (`outputs_too_large`, no outputs), so megabytes are never journaled.
                let over = (end.reason == Some(ReasonCode::OutputsTooLarge.as_str()))
                    .then(|| self.clip(end.message));
                if let Some(message) = over.or_else(|| self.outputs_too_large(end.outputs)) {
                    return self.emit(Decision::NodeFailed {
                        at: self.at,
                        node: node.clone(),
                        attempt,
                        reason: ReasonCode::OutputsTooLarge,
                        message,
                        killed: false,
                    });
                }
                self.emit(Decision::NodeSucceeded {
                    at: self.at,
                    node: node.clone(),
                    attempt,
                    outputs: end.outputs.clone(),
                    advisories: Vec::new(),
                })
            }
            ExecutionPhase::Cancelled if self.exec.state.cancel.is_some() => {
                let reason = match self.exec.state.cancel {
                    Some(CancelMode::Force) => ReasonCode::ForceCancelled,
                    _ => ReasonCode::Cancelled,
                };
                self.emit(Decision::NodeCancelled {
                    at: self.at,
                    node: node.clone(),
                    attempt,
                    reason,
                    killed: false,
                })
            }
            _ => {
                let message = self.clip(&why());
                self.emit(Decision::NodeFailed {
                    at: self.at,
                    node: node.clone(),
                    attempt,
                    reason: ReasonCode::SubplanFailed,
                    message,
                    killed: false,
                })
            }
        }
    }

    /// A graceful cancel reached a `Plan` node whose child runs: cancel the child, and wait
    /// for its end (`ChildFinished`).
    pub(super) fn cancel_child(&mut self, i: usize) {
        let attempt = self.exec.state.nodes[i].attempt;
        self.command(Command::CancelChild {
            node: self.id(i),
            attempt,
            force: false,
        });
    }
}
