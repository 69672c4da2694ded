//! Deriving decisions from an input. Each decision is applied the moment it is made, so the
//! next one sees its effect; the result is the same as folding them afterwards.
//!
//! * `mod.rs`: the deriver and what every step needs (emit, ignore, clip, kill…);
//! * `results.rs`: results from providers, criteria checks, Gates and Externals;
//! * `control.rs`: start, timers, deadline, cancel, retry and completion;
//! * `schedule.rs`: resolving nodes whose dependencies are done, and starting attempts.

mod control;
mod flow;
pub(super) mod lease;
mod matrix;
mod placeholder;
mod results;
mod route;
mod schedule;
mod subplan;

use super::state::{Activity, NodePhase};
use super::Execution;
use crate::command::{Command, Step};
use crate::event::{Decision, Input};
use crate::graph::ExecGraph;
use crate::ids::{idempotency_key, TimerId};
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::execution::ExecutionPhase;
use planspec_model::NodeId;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A Gate's decision as `GateResolved` carries it.
pub(super) struct GateDecision<'i> {
    pub(super) approved: bool,
    pub(super) by: Option<&'i str>,
    pub(super) comment: Option<&'i str>,
    pub(super) outputs: Option<&'i Map<String, Value>>,
    pub(super) timed_out: bool,
}

pub(super) struct Deriver<'a> {
    exec: &'a mut Execution,
    graph: Arc<ExecGraph>,
    step: &'a mut Step,
    at: u64,
    /// `true` if the input is an `ExecutionStarted` that `apply_input` accepted.
    fresh_start: bool,
    /// The timer being handled: it needs no `CancelTimer`.
    firing: Option<TimerId>,
}

impl<'a> Deriver<'a> {
    pub(super) fn new(
        exec: &'a mut Execution,
        step: &'a mut Step,
        at: u64,
        fresh_start: bool,
    ) -> Self {
        let graph = exec.graph.clone();
        Deriver {
            exec,
            graph,
            step,
            at,
            fresh_start,
            firing: None,
        }
    }

    pub(super) fn emit(&mut self, decision: Decision) -> Result<(), EngineError> {
        // A node that ends gives up the lease it holds or waits for.
        let release = self.lease_release(&decision);
        self.exec.state.apply_decision(&self.graph, &decision)?;
        self.step.decisions.push(decision);
        if let Some(command) = release {
            self.command(command);
        }
        Ok(())
    }

    pub(super) fn command(&mut self, command: Command) {
        self.step.commands.push(command);
    }

    pub(super) fn ignore(
        &mut self,
        reason: ReasonCode,
        node: Option<&NodeId>,
        attempt: Option<u32>,
    ) -> Result<(), EngineError> {
        self.emit(Decision::InputIgnored {
            at: self.at,
            reason,
            node: node.cloned(),
            attempt,
        })
    }

    /// The graph node slot `i` runs as: itself, or a matrix instance's matrix node.
    pub(super) fn owner(&self, i: usize) -> usize {
        self.exec.state.owner(&self.graph, i)
    }

    pub(super) fn id(&self, i: usize) -> NodeId {
        // Slots past the graph's nodes are matrix instances.
        NodeId::new(self.exec.state.slot_id(&self.graph, i))
    }

    /// A message cut to the graph's limit at a character boundary.
    pub(super) fn clip(&self, message: &str) -> String {
        let max = self.graph.limits.max_message_bytes;
        if message.len() <= max {
            return message.to_string();
        }
        let mut end = max;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &message[..end])
    }

    /// Why an input about the run cannot be taken while it is not running, if so.
    pub(super) fn not_running(&self) -> Option<ReasonCode> {
        match self.exec.state.phase {
            ExecutionPhase::Running | ExecutionPhase::Blocked => None,
            ExecutionPhase::Pending => Some(ReasonCode::ExecutionNotStarted),
            _ => Some(ReasonCode::ExecutionFinished),
        }
    }

    pub(super) fn input(mut self, input: &Input) -> Result<(), EngineError> {
        match input {
            Input::ExecutionStarted { deadline, .. } => self.started(*deadline)?,
            Input::NodeResult {
                node,
                attempt,
                outcome,
                ..
            } => self.node_result(node, *attempt, outcome)?,
            Input::CriteriaResult {
                node,
                attempt,
                verdicts,
                ..
            } => self.criteria_result(node, *attempt, verdicts)?,
            Input::GateResolved {
                node,
                approved,
                by,
                comment,
                outputs,
                timed_out,
                ..
            } => self.gate_resolved(
                node,
                GateDecision {
                    approved: *approved,
                    by: by.as_deref(),
                    comment: comment.as_deref(),
                    outputs: outputs.as_ref(),
                    timed_out: *timed_out,
                },
            )?,
            Input::ExternalCompleted { node, outcome, .. } => {
                self.external_completed(node, outcome)?
            }
            Input::TimerFired { timer, .. } => self.timer_fired(timer)?,
            Input::CancelRequested { force, .. } => self.cancel(*force)?,
            Input::RetryRequested { from, deadline, .. } => self.retry(from.as_ref(), *deadline)?,
            Input::LeaseAcquired {
                node,
                key,
                slot,
                token,
                ..
            } => self.lease_acquired(node, key, *slot, *token)?,
            Input::PlaceholderValue {
                node,
                attempt,
                source,
                value,
                by,
                ..
            } => self.placeholder_value(node, *attempt, *source, value.as_ref(), by.as_deref())?,
            Input::ChildFinished {
                node,
                attempt,
                child,
                phase,
                outputs,
                reason,
                message,
                ..
            } => self.child_finished(
                node,
                *attempt,
                subplan::ChildEnd {
                    child,
                    phase: *phase,
                    outputs,
                    reason: reason.as_deref(),
                    message,
                },
            )?,
        }
        self.settle()
    }

    /// The earlier of an explicit deadline and the Goal's timeout counted from now.
    pub(super) fn deadline(&self, explicit: Option<u64>) -> Option<u64> {
        let from_goal = self
            .graph
            .goal_timeout_ms
            .map(|t| self.at.saturating_add(t));
        match (explicit, from_goal) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The node an input names, if the input can apply to it: the run is running, the node
    /// exists, is of the expected kind, runs `attempt` (if given) and waits for `activity`.
    pub(super) fn waiting_node(
        &mut self,
        node: &NodeId,
        attempt: Option<u32>,
        activity: Activity,
    ) -> Result<Option<usize>, EngineError> {
        if let Some(reason) = self.not_running() {
            self.ignore(reason, Some(node), attempt)?;
            return Ok(None);
        }
        let Some(i) = self.exec.state.slot_of(&self.graph, node) else {
            self.ignore(ReasonCode::UnknownNode, Some(node), attempt)?;
            return Ok(None);
        };
        let n = &self.exec.state.nodes[i];
        if attempt.is_some_and(|a| a != n.attempt) {
            self.ignore(ReasonCode::StaleAttempt, Some(node), attempt)?;
            return Ok(None);
        }
        if n.phase != NodePhase::Running || n.activity != Some(activity) {
            self.ignore(ReasonCode::NotWaiting, Some(node), attempt)?;
            return Ok(None);
        }
        Ok(Some(i))
    }

    pub(super) fn outputs_too_large(&self, outputs: &Map<String, Value>) -> Option<String> {
        let size = serde_json::to_vec(outputs)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        let max = self.graph.limits.max_output_bytes;
        (size > max)
            .then(|| format!("the outputs are {size} bytes as JSON; at most {max} are kept"))
    }

    pub(super) fn cancel_node_timer(&mut self, i: usize) {
        if let Some(timer) = &self.exec.state.nodes[i].timer {
            if self.firing.as_ref() != Some(&timer.id) {
                let timer = timer.id.clone();
                self.command(Command::CancelTimer { timer });
            }
        }
    }

    pub(super) fn kill(&mut self, i: usize) {
        let n = &self.exec.state.nodes[i];
        let uid = self.exec.state.uid.clone().unwrap_or_default();
        let key = n
            .key
            .clone()
            .unwrap_or_else(|| idempotency_key(&uid, &self.id(i), n.attempt));
        self.command(Command::Kill {
            node: self.id(i),
            attempt: n.attempt,
            idempotency_key: key,
        });
    }
}
