//! Starting the run, timers, the deadline, cancellation, retries of a finished run, and
//! completion.

use super::Deriver;
use crate::command::Command;
use crate::event::Decision;
use crate::graph::ExecKind;
use crate::ids::TimerId;
use crate::machine::state::{Activity, CancelMode, NodePhase};
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::execution::ExecutionPhase;
use planspec_model::NodeId;

impl Deriver<'_> {
    pub(super) fn started(&mut self, explicit: Option<u64>) -> Result<(), EngineError> {
        // `apply_input` has recorded the identity if the start was accepted.
        if !self.fresh_start {
            let reason = match self.exec.state.phase {
                ExecutionPhase::Pending | ExecutionPhase::Running | ExecutionPhase::Blocked => {
                    ReasonCode::AlreadyStarted
                }
                _ => ReasonCode::ExecutionFinished,
            };
            return self.ignore(reason, None, None);
        }
        let deadline = self.deadline(explicit);
        self.emit(Decision::ExecutionRunning {
            at: self.at,
            deadline,
        })?;
        if let Some(due_at) = deadline {
            self.command(Command::StartTimer {
                timer: TimerId::Deadline { round: 0 },
                due_at,
            });
        }
        // A matrix that cannot expand fails the run before any node runs.
        self.check_matrices_at_start()
    }

    pub(super) fn timer_fired(&mut self, timer: &TimerId) -> Result<(), EngineError> {
        if let Some(reason) = self.not_running() {
            return self.ignore(reason, None, None);
        }
        self.firing = Some(timer.clone());
        match timer {
            TimerId::Deadline { round } => {
                if *round == self.exec.state.round && self.exec.state.deadline.is_some() {
                    self.deadline_exceeded()
                } else {
                    self.ignore(ReasonCode::StaleTimer, None, None)
                }
            }
            TimerId::Timeout { node, attempt } | TimerId::Backoff { node, attempt } => {
                let node_id = NodeId::new(node.as_str());
                let armed = self.exec.state.slot_of(&self.graph, node).filter(|&i| {
                    self.exec.state.nodes[i]
                        .timer
                        .as_ref()
                        .is_some_and(|t| &t.id == timer)
                });
                let Some(i) = armed else {
                    return self.ignore(ReasonCode::StaleTimer, Some(&node_id), Some(*attempt));
                };
                if matches!(timer, TimerId::Backoff { .. }) {
                    return self.start(i, *attempt);
                }
                let limit = self.graph.nodes[self.owner(i)]
                    .timeout_ms
                    .unwrap_or_default();
                let message = format!(
                    "attempt {attempt} ran longer than its timeout of {}",
                    human_ms(limit)
                );
                if self.is_placeholder(i) {
                    self.placeholder_timed_out(i, human_ms(limit))
                } else if matches!(self.graph.nodes[self.owner(i)].kind, ExecKind::Task(_)) {
                    self.attempt_failed(i, ReasonCode::NodeTimeout, &message, true, true)
                } else {
                    self.kill(i);
                    self.emit(Decision::NodeFailed {
                        at: self.at,
                        node: node_id,
                        attempt: *attempt,
                        reason: ReasonCode::NodeTimeout,
                        message,
                        killed: true,
                    })
                }
            }
        }
    }

    pub(super) fn cancel(&mut self, force: bool) -> Result<(), EngineError> {
        match self.exec.state.phase {
            ExecutionPhase::Pending => {}
            ExecutionPhase::Running | ExecutionPhase::Blocked => {
                let stronger = match self.exec.state.cancel {
                    None => true,
                    Some(CancelMode::Graceful) => force,
                    Some(CancelMode::Force) => false,
                };
                if !stronger {
                    return self.ignore(ReasonCode::AlreadyCancelling, None, None);
                }
            }
            _ => return self.ignore(ReasonCode::ExecutionFinished, None, None),
        }
        let never_started = self.exec.state.phase == ExecutionPhase::Pending;
        self.emit(Decision::CancelAccepted { at: self.at, force })?;
        for position in 0..self.exec.state.nodes.len() {
            let i = self.slot_in_order(position);
            let n = &self.exec.state.nodes[i];
            let attempt = n.attempt;
            match (n.phase, n.activity) {
                // A matrix node ends with its instances, which follow in this loop.
                (NodePhase::Running, Some(Activity::Instances)) => {}
                // After a graceful cancel, `finally` Tasks still run, also those already
                // Ready (waiting for a `maxParallel` slot, an approval or a lease).
                (NodePhase::Pending | NodePhase::Ready, _)
                    if !never_started && self.survives_cancel(i) => {}
                (NodePhase::Pending | NodePhase::Ready, _) => {
                    self.emit(Decision::NodeCancelled {
                        at: self.at,
                        node: self.id(i),
                        attempt,
                        reason: ReasonCode::Cancelled,
                        killed: false,
                    })?;
                }
                (NodePhase::Running, Some(Activity::Backoff)) => {
                    self.cancel_node_timer(i);
                    self.emit(Decision::NodeCancelled {
                        at: self.at,
                        node: self.id(i),
                        attempt,
                        reason: ReasonCode::Cancelled,
                        killed: false,
                    })?;
                }
                (NodePhase::AwaitingInput, _) => {
                    self.cancel_node_timer(i);
                    self.emit(Decision::NodeCancelled {
                        at: self.at,
                        node: self.id(i),
                        attempt,
                        reason: ReasonCode::Cancelled,
                        killed: false,
                    })?;
                }
                (
                    NodePhase::Running,
                    Some(Activity::Gate | Activity::External | Activity::Lookup),
                ) => {
                    self.cancel_node_timer(i);
                    self.kill(i);
                    self.emit(Decision::NodeCancelled {
                        at: self.at,
                        node: self.id(i),
                        attempt,
                        reason: ReasonCode::Cancelled,
                        killed: true,
                    })?;
                }
                // A sub-plan's child is cancelled gracefully too; the node ends with it.
                (NodePhase::Running, Some(Activity::Child)) if !force => self.cancel_child(i),
                (NodePhase::Running, _) if force => {
                    self.cancel_node_timer(i);
                    self.kill(i);
                    self.emit(Decision::NodeCancelled {
                        at: self.at,
                        node: self.id(i),
                        attempt,
                        reason: ReasonCode::ForceCancelled,
                        killed: true,
                    })?;
                }
                _ => {}
            }
        }
        if never_started {
            self.complete()?;
        }
        Ok(())
    }

    pub(super) fn retry(
        &mut self,
        from: Option<&NodeId>,
        explicit: Option<u64>,
    ) -> Result<(), EngineError> {
        match self.exec.state.phase {
            ExecutionPhase::Pending => {
                return self.ignore(ReasonCode::ExecutionNotStarted, from, None)
            }
            ExecutionPhase::Running | ExecutionPhase::Blocked => {
                return self.ignore(ReasonCode::ExecutionNotFinished, from, None)
            }
            _ => {}
        }
        if self.exec.state.started_at.is_none() {
            // Cancelled before it started: there is nothing to re-run.
            return self.ignore(ReasonCode::ExecutionNotStarted, from, None);
        }
        let seeds: Vec<usize> = match from {
            // A matrix instance re-runs its whole matrix.
            Some(id) => match self.exec.state.slot_of(&self.graph, id) {
                Some(i) => vec![self.owner(i)],
                None => return self.ignore(ReasonCode::UnknownNode, Some(id), None),
            },
            None => (0..self.graph.len())
                .filter(|&i| {
                    let n = &self.exec.state.nodes[i];
                    // Skipped because of a failure (its own upstream's, or another
                    // node's under `failFast`): the failure may not happen again.
                    matches!(n.phase, NodePhase::Failed | NodePhase::Cancelled)
                        || (n.phase == NodePhase::Skipped
                            && matches!(
                                n.reason,
                                Some(ReasonCode::UpstreamFailed | ReasonCode::FailFast)
                            ))
                })
                .collect(),
        };
        if seeds.is_empty() {
            return self.ignore(ReasonCode::NothingToRetry, None, None);
        }
        // The seeds and everything downstream of them along hard edges and edges with an
        // `on` condition: a node skipped `upstream_skipped` or `edge_condition_unmet`
        // because of a seed, and an `on: failure` handler that already ran, decide again
        // once the seed has.
        let mut rerun = vec![false; self.graph.len()];
        let mut todo = seeds;
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut rerun[i], true) {
                continue;
            }
            for &d in self.graph.dependents(i) {
                let node = &self.graph.nodes[d];
                if node.hard_deps.binary_search(&i).is_ok()
                    || node.edge_conditions.iter().any(|&(u, _)| u == i)
                {
                    todo.push(d);
                }
            }
        }
        self.rerun_finally(&mut rerun);
        let nodes: Vec<NodeId> = self
            .graph
            .order
            .iter()
            .filter(|&&i| rerun[i])
            .map(|&i| self.id(i))
            .collect();
        let round = self.exec.state.round + 1;
        let deadline = self.deadline(explicit);
        self.emit(Decision::ExecutionRetried {
            at: self.at,
            from: from.cloned(),
            nodes,
            round,
            deadline,
        })?;
        if let Some(due_at) = deadline {
            self.command(Command::StartTimer {
                timer: TimerId::Deadline { round },
                due_at,
            });
        }
        Ok(())
    }

    /// The execution deadline passed: everything still going ends now.
    pub(super) fn deadline_exceeded(&mut self) -> Result<(), EngineError> {
        let reason = ReasonCode::ExecutionDeadlineExceeded;
        for position in 0..self.exec.state.nodes.len() {
            let i = self.slot_in_order(position);
            let n = &self.exec.state.nodes[i];
            let attempt = n.attempt;
            match (n.phase, n.activity) {
                (NodePhase::Pending | NodePhase::Ready, _) => {
                    self.emit(Decision::NodeCancelled {
                        at: self.at,
                        node: self.id(i),
                        attempt,
                        reason,
                        killed: false,
                    })?
                }
                (NodePhase::Running | NodePhase::AwaitingInput, activity) => {
                    let kill = activity
                        .is_some_and(|a| !matches!(a, Activity::Backoff | Activity::Instances));
                    self.cancel_node_timer(i);
                    if kill {
                        self.kill(i);
                    }
                    self.emit(Decision::NodeFailed {
                        at: self.at,
                        node: self.id(i),
                        attempt,
                        reason,
                        message: "the execution deadline passed".to_string(),
                        killed: kill,
                    })?;
                }
                _ => {}
            }
        }
        self.emit(Decision::ExecutionCompleted {
            at: self.at,
            phase: ExecutionPhase::Failed,
            reason: Some(reason),
            message: "the execution deadline passed".to_string(),
        })?;
        self.command(Command::Finish {
            phase: ExecutionPhase::Failed,
            reason: Some(reason),
            message: "the execution deadline passed".to_string(),
        });
        Ok(())
    }

    /// Every node is terminal: the run ends.
    pub(super) fn complete(&mut self) -> Result<(), EngineError> {
        let state = &self.exec.state;
        let (phase, reason, message) = match state.cancel {
            Some(mode) => (
                ExecutionPhase::Cancelled,
                Some(match mode {
                    CancelMode::Graceful => ReasonCode::Cancelled,
                    CancelMode::Force => ReasonCode::ForceCancelled,
                }),
                String::new(),
            ),
            None => {
                let failed: Vec<usize> = self
                    .graph
                    .order
                    .iter()
                    .copied()
                    .filter(|&i| state.nodes[i].phase == NodePhase::Failed)
                    .collect();
                match failed.first() {
                    None => (ExecutionPhase::Succeeded, None, String::new()),
                    Some(&first) => {
                        let n = &state.nodes[first];
                        let mut message = format!(
                            "node `{}` failed ({}): {}",
                            self.graph.nodes[first].id,
                            n.reason.map_or("unknown", |r| r.as_str()),
                            n.message.as_deref().unwrap_or_default()
                        );
                        if failed.len() > 1 {
                            message.push_str(&format!(" (and {} more)", failed.len() - 1));
                        }
                        message = format!("{}; {message}", self.partial_results());
                        (
                            ExecutionPhase::Failed,
                            Some(ReasonCode::NodeFailed),
                            message,
                        )
                    }
                }
            }
        };
        let message = self.clip(&message);
        if state.deadline.is_some() && state.started_at.is_some() {
            let round = state.round;
            self.command(Command::CancelTimer {
                timer: TimerId::Deadline { round },
            });
        }
        self.emit(Decision::ExecutionCompleted {
            at: self.at,
            phase,
            reason,
            message: message.clone(),
        })?;
        self.command(Command::Finish {
            phase,
            reason,
            message,
        });
        Ok(())
    }
}

/// `90s`, `2m30s`, `1h`, `250ms`.
fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || rest > 0 {
        if rest > 0 {
            out.push_str(&format!("{s}.{rest:03}s"));
        } else {
            out.push_str(&format!("{s}s"));
        }
    }
    out
}
