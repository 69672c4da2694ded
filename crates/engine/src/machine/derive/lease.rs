//! Keyed concurrency: the lease a Task's `concurrency` names.
//!
//! * When the Task is admitted to dispatch (after its policy verdict and any approval), its
//!   key is evaluated and `LeaseRequested` journaled; the runtime is asked for a slot
//!   (`AcquireLease`, with the Goal's `priority`). The Task stays `Ready` meanwhile.
//! * `LeaseAcquired` from the runtime becomes `LeaseGranted`; the attempt then dispatches.
//! * The lease is held across the Task's retries (its backoff included) and given up
//!   (`ReleaseLease`) by the decision that ends the node: success, failure, cancel, skip —
//!   whichever path decides it.
//! * After a restart, a Task waiting for or holding a lease asks for it again; a running one
//!   resumes (dispatch again with the same key, timers) only once it is granted anew.
//! * A grant nobody waits for (the node ended meanwhile) is ignored and handed back.

use super::Deriver;
use crate::cel;
use crate::command::Command;
use crate::event::Decision;
use crate::graph::{ExecKind, LeaseConfig};
use crate::ids::TimerId;
use crate::machine::state::NodePhase;
use crate::machine::Execution;
use crate::reason::ReasonCode;
use crate::template::{self, TemplateError};
use crate::EngineError;
use planspec_model::NodeId;
use serde_json::Value;

/// Most bytes of an evaluated key.
pub(crate) const MAX_EVALUATED_KEY_BYTES: usize = 253;

/// An expression failure while evaluating a key.
struct KeyError(String);

impl From<TemplateError> for KeyError {
    fn from(e: TemplateError) -> Self {
        KeyError(e.to_string())
    }
}

/// The `concurrency` of node `i`, if it is a Task that has one.
fn config(exec: &Execution, i: usize) -> Option<&LeaseConfig> {
    match &exec.graph.nodes[exec.state.owner(&exec.graph, i)].kind {
        ExecKind::Task(task) => task.concurrency.as_ref(),
        _ => None,
    }
}

/// The Goal's `priority` (0 without a Goal).
fn priority(exec: &Execution) -> u32 {
    exec.graph
        .goal
        .get("priority")
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0)
}

impl Execution {
    /// After a restart: the `AcquireLease` a node waiting for or holding a lease needs.
    pub(in crate::machine) fn lease_reacquire(&self, i: usize) -> Option<Command> {
        let n = &self.state.nodes[i];
        if !matches!(n.phase, NodePhase::Ready | NodePhase::Running) {
            return None;
        }
        let lease = n.lease.as_ref()?;
        Some(Command::AcquireLease {
            node: NodeId::new(self.state.slot_id(&self.graph, i)),
            key: lease.key.clone(),
            limit: lease.limit,
            priority: priority(self),
        })
    }
}

impl Deriver<'_> {
    /// `true` if Task `i`, admitted to dispatch, must first ask for its lease.
    pub(super) fn needs_lease(&self, i: usize) -> bool {
        config(self.exec, i).is_some() && self.exec.state.nodes[i].lease.is_none()
    }

    /// `false` while Task `i` waits for its lease.
    pub(super) fn lease_admits(&self, i: usize) -> bool {
        self.exec.state.nodes[i]
            .lease
            .as_ref()
            .is_none_or(|lease| lease.is_held())
    }

    /// Evaluates the key of Task `i` and asks for its lease; a key that cannot be evaluated
    /// fails the node with `interpolation_failed`.
    pub(super) fn request_lease(&mut self, i: usize) -> Result<(), EngineError> {
        let Some(lease) = config(self.exec, i).cloned() else {
            return Ok(());
        };
        let id = self.id(i);
        let key = match self.evaluate_key(i, &lease) {
            Ok(key) => key,
            Err(message) => {
                let attempt = self.exec.state.nodes[i].attempt;
                let message = self.clip(&format!("`concurrency.key`: {message}"));
                return self.emit(Decision::NodeFailed {
                    at: self.at,
                    node: id,
                    attempt,
                    reason: ReasonCode::InterpolationFailed,
                    message,
                    killed: false,
                });
            }
        };
        self.emit(Decision::LeaseRequested {
            at: self.at,
            node: id.clone(),
            key: key.clone(),
            limit: lease.limit,
        })?;
        self.command(Command::AcquireLease {
            node: id,
            key,
            limit: lease.limit,
            priority: priority(self.exec),
        });
        Ok(())
    }

    /// The key with its expressions evaluated: a non-empty string of at most 253 bytes.
    fn evaluate_key(&self, i: usize, lease: &LeaseConfig) -> Result<String, String> {
        let value = Value::String(lease.key.clone());
        let value = if lease.has_expressions {
            let variables = self.variables(i, &lease.reads);
            let mut eval = |expr: &str| -> Result<Value, KeyError> {
                cel::evaluate_with(expr, variables.clone())
                    .map_err(|e| KeyError(format!("`${{{{ {expr} }}}}`: {e}")))
            };
            template::render(&value, &mut eval).map_err(|(_, KeyError(message))| message)?
        } else {
            value
        };
        let key = match value {
            Value::String(s) => s,
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            other => {
                return Err(format!(
                    "the key evaluates to {}, not a string",
                    template::stringify(&other)
                ))
            }
        };
        if key.trim().is_empty() {
            return Err("the key is empty once evaluated".into());
        }
        if key.len() > MAX_EVALUATED_KEY_BYTES {
            return Err(format!(
                "the key is {} bytes once evaluated; at most {MAX_EVALUATED_KEY_BYTES} are allowed",
                key.len()
            ));
        }
        Ok(key)
    }

    /// The runtime granted a lease: the Task waiting for it may dispatch; a running Task
    /// resumed after a restart continues. A grant nobody waits for is handed back.
    pub(super) fn lease_acquired(
        &mut self,
        node: &NodeId,
        key: &str,
        slot: u32,
        token: u64,
    ) -> Result<(), EngineError> {
        let give_back = Command::ReleaseLease {
            node: node.clone(),
            key: key.to_string(),
            slot: Some(slot),
            token: Some(token),
        };
        if let Some(reason) = self.not_running() {
            self.command(give_back);
            return self.ignore(reason, Some(node), None);
        }
        let Some(i) = self.exec.state.slot_of(&self.graph, node) else {
            self.command(give_back);
            return self.ignore(ReasonCode::UnknownNode, Some(node), None);
        };
        let n = &self.exec.state.nodes[i];
        let wanted = matches!(n.phase, NodePhase::Ready | NodePhase::Running)
            && n.lease.as_ref().is_some_and(|l| l.key == key);
        if !wanted {
            self.command(give_back);
            return self.ignore(ReasonCode::NotWaiting, Some(node), None);
        }
        if n.lease.as_ref().and_then(|l| l.token) == Some(token) {
            // The same tenure again: nothing changes (and nothing is handed back).
            return self.ignore(ReasonCode::NotWaiting, Some(node), None);
        }
        let resumed = n.phase == NodePhase::Running;
        self.emit(Decision::LeaseGranted {
            at: self.at,
            node: node.clone(),
            key: key.to_string(),
            slot,
            token,
        })?;
        if resumed {
            // Held before a restart and taken anew: what `recover` held back for it (this
            // node's share only, so K re-grants cost O(K), not O(K·n)).
            let (mut commands, mut waiters) = (Vec::new(), Vec::new());
            self.exec
                .recover_node(i, false, &mut commands, &mut waiters);
            commands.retain(|c| resumes(c, node));
            for command in commands {
                self.command(command);
            }
        }
        Ok(())
    }

    /// The `ReleaseLease` owed when `decision` ends a node that holds or waits for a lease.
    pub(super) fn lease_release(&self, decision: &Decision) -> Option<Command> {
        let node = match decision {
            Decision::NodeSucceeded { node, .. }
            | Decision::NodeFailed { node, .. }
            | Decision::NodeCancelled { node, .. }
            | Decision::NodeSkipped { node, .. } => node,
            _ => return None,
        };
        let i = self.exec.state.slot_of(&self.graph, node)?;
        let lease = self.exec.state.nodes[i].lease.as_ref()?;
        Some(Command::ReleaseLease {
            node: node.clone(),
            key: lease.key.clone(),
            slot: lease.slot,
            token: lease.token,
        })
    }
}

/// `true` for a command `recover` gives node `node` that resumes its work (not a kill, not
/// the run's own commands).
fn resumes(command: &Command, node: &NodeId) -> bool {
    let target = match command {
        Command::Dispatch { node, .. }
        | Command::EvaluateCriteria { node, .. }
        | Command::OpenGate { node, .. }
        | Command::WatchExternal { node, .. } => node,
        Command::StartTimer {
            timer: TimerId::Timeout { node: timer, .. } | TimerId::Backoff { node: timer, .. },
            ..
        } => return timer == node.as_str(),
        _ => return false,
    };
    target == node
}
