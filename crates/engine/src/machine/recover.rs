//! The commands in-flight state needs after a restart.

use super::state::{Activity, Approval, CancelMode, NodePhase};
use super::Execution;
use crate::command::Command;
use crate::graph::ExecKind;
use crate::ids::{idempotency_key, TimerId};
use planspec_model::execution::ExecutionPhase;

impl Execution {
    /// The commands a runtime must carry out after restoring this execution (from a
    /// snapshot and the journal after it), because the ones issued before the restart may
    /// have been lost:
    ///
    /// * the execution deadline timer, re-armed at its original time;
    /// * every running attempt dispatched again **with the same idempotency key and
    ///   inputs**, and its timeout timer re-armed at its original time;
    /// * criteria checks in flight asked for again; backoff timers re-armed; Gates and
    ///   Externals watched again;
    /// * `Kill` again for the last attempt the engine killed of each node (idempotent for the
    ///   runtime, which may not have received it);
    /// * `Finish` again if the execution has finished.
    ///
    /// A Task that waited for or held the lease of its `concurrency` asks for it again
    /// (`AcquireLease`); a running one gets its other commands (dispatch, timers) only once
    /// the lease is granted anew, so two runtimes never run it at once.
    ///
    /// Nodes are visited in the engine's order, so the list is deterministic.
    pub fn recover(&self) -> Vec<Command> {
        self.recover_with(true)
    }

    /// [`recover`](Self::recover); without `reacquire`, leases held are taken as held.
    pub(crate) fn recover_with(&self, reacquire: bool) -> Vec<Command> {
        let state = &self.state;
        let graph = &self.graph;
        let mut commands = Vec::new();
        let running = matches!(
            state.phase,
            ExecutionPhase::Running | ExecutionPhase::Blocked
        );
        if running {
            if let Some(due_at) = state.deadline {
                commands.push(Command::StartTimer {
                    timer: TimerId::Deadline { round: state.round },
                    due_at,
                });
            }
        }
        // Leases asked for again: those running nodes held first, then those Ready nodes
        // waited for, so a waiter never takes the slot a holder needs to resume.
        let mut waiters = Vec::new();
        // Graph nodes in order, then matrix instances in instance order.
        let slots = graph
            .order()
            .iter()
            .copied()
            .chain(graph.len()..state.nodes.len());
        for i in slots {
            self.recover_node(i, reacquire, &mut commands, &mut waiters);
        }
        commands.append(&mut waiters);
        if matches!(
            state.phase,
            ExecutionPhase::Succeeded | ExecutionPhase::Failed | ExecutionPhase::Cancelled
        ) {
            commands.push(Command::Finish {
                phase: state.phase,
                reason: state.reason,
                message: state.message.clone(),
            });
        }
        commands
    }

    /// What node `i` needs after a restart (see [`recover`](Self::recover)), appended to
    /// `commands`; a Ready node's `AcquireLease` goes to `waiters` instead (asked for after
    /// the running holders'). Costs O(1) in the run's size: a lease granted anew resumes
    /// its node with this.
    pub(crate) fn recover_node(
        &self,
        i: usize,
        reacquire: bool,
        commands: &mut Vec<Command>,
        waiters: &mut Vec<Command>,
    ) {
        let state = &self.state;
        let graph = &self.graph;
        let running = matches!(
            state.phase,
            ExecutionPhase::Running | ExecutionPhase::Blocked
        );
        let uid = state.uid.as_deref().unwrap_or_default();
        let node = &graph.nodes[state.owner(graph, i)];
        let slot_id = planspec_model::NodeId::new(state.slot_id(graph, i));
        let n = &state.nodes[i];
        if let Some(attempt) = n.killed {
            commands.push(Command::Kill {
                node: slot_id.clone(),
                attempt,
                idempotency_key: idempotency_key(uid, &slot_id, attempt),
            });
        }
        if running && n.phase == NodePhase::Ready && n.approval == Some(Approval::Waiting) {
            if let Some(v) = &n.verdict {
                commands.push(Command::RequestApproval {
                    node: slot_id.clone(),
                    approval: n.approvals,
                    risk: v.risk,
                    reason: v.reason.clone(),
                    message: v.message.clone(),
                });
            }
        }
        if running && reacquire {
            if let Some(command) = self.lease_reacquire(i) {
                if n.phase == NodePhase::Ready {
                    waiters.push(command);
                } else {
                    commands.push(command);
                }
                return;
            }
        }
        if running && matches!(node.kind, ExecKind::Placeholder(_)) {
            commands.extend(self.recover_placeholder(i));
            return;
        }
        if !running || n.phase != NodePhase::Running {
            return;
        }
        let key = n
            .key
            .clone()
            .unwrap_or_else(|| idempotency_key(uid, &slot_id, n.attempt));
        match (n.activity, &node.kind) {
            (Some(Activity::Provider), ExecKind::Task(_)) => {
                commands.push(Command::Dispatch {
                    node: slot_id.clone(),
                    attempt: n.attempt,
                    idempotency_key: key,
                    inputs: n.inputs.clone().unwrap_or_default(),
                    timeout_ms: node.timeout_ms,
                });
            }
            (Some(Activity::Criteria), ExecKind::Task(task)) => {
                commands.push(Command::EvaluateCriteria {
                    node: slot_id.clone(),
                    attempt: n.attempt,
                    idempotency_key: key,
                    criteria: task.criteria.clone(),
                    outputs: n.outputs.clone().unwrap_or_default(),
                });
            }
            (Some(Activity::Gate), ExecKind::Gate(gate)) => {
                commands.push(Command::OpenGate {
                    node: slot_id.clone(),
                    attempt: n.attempt,
                    gate_ref: gate.gate_ref.clone(),
                });
            }
            (Some(Activity::Child), ExecKind::Plan(_)) => {
                commands.push(Command::StartChild {
                    node: slot_id.clone(),
                    attempt: n.attempt,
                    idempotency_key: key,
                    inputs: n.inputs.clone().unwrap_or_default(),
                    timeout_ms: node.timeout_ms,
                });
                if state.cancel == Some(CancelMode::Graceful) {
                    commands.push(Command::CancelChild {
                        node: slot_id.clone(),
                        attempt: n.attempt,
                        force: false,
                    });
                }
            }
            (Some(Activity::External), ExecKind::External(external)) => {
                commands.push(Command::WatchExternal {
                    node: slot_id.clone(),
                    attempt: n.attempt,
                    idempotency_key: key,
                    external_ref: external.external_ref.clone(),
                    poll_interval_ms: external.poll_interval_ms,
                });
            }
            _ => {}
        }
        if let Some(timer) = &n.timer {
            commands.push(Command::StartTimer {
                timer: timer.id.clone(),
                due_at: timer.due_at,
            });
        }
    }
}
