//! Resolving nodes whose dependencies are done, and starting attempts.

use super::Deriver;
use crate::cel::{self, Var};
use crate::command::Command;
use crate::event::Decision;
use crate::graph::{ExecKind, Reads, Template, Test};
use crate::ids::{idempotency_key, TimerId};
use crate::machine::state::{Approval, NodePhase};
use crate::machine::Execution;
use crate::reason::ReasonCode;
use crate::template::{self, TemplateError};
use crate::EngineError;
use planspec_model::execution::ExecutionPhase;
use serde_json::{json, Value};

/// An expression failure while resolving inputs.
struct InputError(String);

impl From<TemplateError> for InputError {
    fn from(e: TemplateError) -> Self {
        InputError(e.to_string())
    }
}

impl Deriver<'_> {
    /// Resolves every node whose dependencies are done, starts what is ready, and finishes
    /// the run when every node is terminal.
    pub(super) fn settle(&mut self) -> Result<(), EngineError> {
        if !matches!(
            self.exec.state.phase,
            ExecutionPhase::Running | ExecutionPhase::Blocked
        ) {
            return Ok(());
        }
        loop {
            if let Some((_, i)) = self.exec.state.frontier.pop_first() {
                self.resolve(i)?;
                continue;
            }
            if let Some(m) = self.exec.state.matrix.dirty.pop_first() {
                self.matrix_progress(m)?;
                continue;
            }
            if self.skip_ready_on_fail_fast()? {
                // Skips free their dependents (`finally` Tasks): resolve them first.
                continue;
            }
            // Only startable nodes are looked at (those waiting for an approval or a lease
            // are parked elsewhere), so a pass costs O(log n), not O(Ready). A node that
            // holds its lease counted against `maxParallel` when it asked: it goes first,
            // whatever the count.
            let state = &self.exec.state;
            let admitted = match state.granted.first() {
                Some(&(_, i)) => Some(i),
                None if self.below_max_parallel() => state.startable.first().map(|&(_, i)| i),
                None => None,
            };
            debug_assert!(admitted.is_none_or(|i| self.admit(i)));
            match admitted {
                Some(i) if self.needs_lease(i) => self.request_lease(i)?,
                Some(i) => {
                    let attempt = self.exec.state.nodes[i].attempt + 1;
                    self.start(i, attempt)?;
                }
                None => break,
            }
        }
        // Matrix instances count: the run ends when every node and instance is terminal.
        if self.exec.state.counters.terminal() as usize == self.exec.state.nodes.len() {
            self.complete()?;
        }
        Ok(())
    }

    /// The dispatch gate between Ready and Running: a Task whose policy verdict is `assist`
    /// waits here until it is approved, and a Task with `concurrency` until it holds its
    /// lease.
    pub(super) fn admit(&self, i: usize) -> bool {
        self.exec.state.nodes[i].approval != Some(Approval::Waiting) && self.lease_admits(i)
    }

    /// Decides what becomes of a Pending node whose dependencies are all done.
    pub(super) fn resolve(&mut self, i: usize) -> Result<(), EngineError> {
        let node = &self.graph.nodes[i];
        let id = node.id.clone();
        let attempt = self.exec.state.nodes[i].attempt;
        if self.exec.state.cancel.is_some() && !self.survives_cancel(i) {
            return self.emit(Decision::NodeCancelled {
                at: self.at,
                node: id,
                attempt,
                reason: ReasonCode::Cancelled,
                killed: false,
            });
        }
        // Hard dependencies that did not succeed: failed beats cancelled beats skipped. A
        // dependency skipped because of a failure counts as failed, so the failure carries.
        let mut blocker: Option<(u8, usize)> = None;
        for &d in &node.hard_deps {
            let dep = &self.exec.state.nodes[d];
            let severity = match (dep.phase, dep.reason) {
                (NodePhase::Failed, _) => 3,
                (NodePhase::Skipped, Some(ReasonCode::UpstreamFailed)) => 3,
                (NodePhase::Cancelled, _) => 2,
                (NodePhase::Skipped, _) => 1,
                _ => continue,
            };
            if blocker.is_none_or(|(s, _)| severity > s) {
                blocker = Some((severity, d));
            }
        }
        if let Some((severity, d)) = blocker {
            let upstream = self.id(d);
            return match severity {
                3 => {
                    let dep = &self.exec.state.nodes[d];
                    let message = if dep.phase == NodePhase::Failed {
                        format!("`{upstream}` failed")
                    } else {
                        dep.message.clone().unwrap_or_default()
                    };
                    self.emit(Decision::NodeSkipped {
                        at: self.at,
                        node: id,
                        reason: ReasonCode::UpstreamFailed,
                        message,
                    })
                }
                2 => self.emit(Decision::NodeCancelled {
                    at: self.at,
                    node: id,
                    attempt,
                    reason: ReasonCode::UpstreamCancelled,
                    killed: false,
                }),
                _ => self.emit(Decision::NodeSkipped {
                    at: self.at,
                    node: id,
                    reason: ReasonCode::UpstreamSkipped,
                    message: format!("`{upstream}` was skipped"),
                }),
            };
        }
        if self.failing_fast() && !node.finally {
            return self.skip_fail_fast(i);
        }
        if let Some(message) = self.unmet_edge(i) {
            let message = self.clip(&message);
            return self.emit(Decision::NodeSkipped {
                at: self.at,
                node: id,
                reason: ReasonCode::EdgeConditionUnmet,
                message,
            });
        }
        if node.is_matrix() {
            // Its `when` is evaluated per instance (it may read `matrix`).
            return self.expand_matrix(i);
        }
        for condition in &node.when {
            let Test::Cel(expr) = &condition.test else {
                continue;
            };
            let whose = if condition.from == id {
                "`when`".to_string()
            } else {
                format!("the `when` of group `{}`", condition.from)
            };
            let failure = match cel::evaluate_with(&expr.source, self.variables(i, &expr.reads)) {
                Ok(Value::Bool(true)) => continue,
                Ok(Value::Bool(false)) => {
                    return self.emit(Decision::NodeSkipped {
                        at: self.at,
                        node: id,
                        reason: ReasonCode::WhenFalse,
                        message: self.clip(&format!("{whose} is false: {}", expr.source)),
                    })
                }
                Ok(other) => format!("{whose} yields {}, not a boolean", json_type(&other)),
                Err(e) => format!("{whose} failed: {e}"),
            };
            let message = self.clip(&failure);
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
        self.route(i)
    }

    /// Starts attempt `attempt` of node `i` (Ready, or waiting for its backoff).
    pub(super) fn start(&mut self, i: usize, attempt: u32) -> Result<(), EngineError> {
        let graph = self.graph.clone();
        // A matrix instance runs with its matrix node's configuration, under its own id.
        let node = &graph.nodes[self.exec.state.owner(&graph, i)];
        let slot_id = self.id(i);
        let uid = self.exec.state.uid.clone().unwrap_or_default();
        let key = idempotency_key(&uid, &slot_id, attempt);
        let timeout_at = node.timeout_ms.map(|t| self.at.saturating_add(t));
        match &node.kind {
            ExecKind::Task(task) => {
                if let Some(message) = self.budget_spent() {
                    let last = self.exec.state.nodes[i].attempt;
                    return self.emit(Decision::NodeFailed {
                        at: self.at,
                        node: slot_id.clone(),
                        attempt: last,
                        reason: ReasonCode::BudgetExceeded,
                        message,
                        killed: false,
                    });
                }
                let inputs = match self.exec.state.nodes[i].inputs.clone() {
                    Some(inputs) => inputs,
                    None => match self.resolve_inputs(i, &task.inputs) {
                        Ok(inputs) => inputs,
                        Err((reason, message)) => {
                            let last = self.exec.state.nodes[i].attempt;
                            return self.emit(Decision::NodeFailed {
                                at: self.at,
                                node: slot_id.clone(),
                                attempt: last,
                                reason,
                                message,
                                killed: false,
                            });
                        }
                    },
                };
                self.emit(Decision::NodeStarted {
                    at: self.at,
                    node: slot_id.clone(),
                    attempt,
                    idempotency_key: key.clone(),
                    inputs: inputs.clone(),
                    timeout_at,
                })?;
                self.command(Command::Dispatch {
                    node: slot_id.clone(),
                    attempt,
                    idempotency_key: key,
                    inputs,
                    timeout_ms: node.timeout_ms,
                });
            }
            ExecKind::External(external) => {
                self.emit(Decision::NodeStarted {
                    at: self.at,
                    node: slot_id.clone(),
                    attempt,
                    idempotency_key: key.clone(),
                    inputs: Value::Null,
                    timeout_at,
                })?;
                self.command(Command::WatchExternal {
                    node: slot_id.clone(),
                    attempt,
                    idempotency_key: key,
                    external_ref: external.external_ref.clone(),
                    poll_interval_ms: external.poll_interval_ms,
                });
            }
            ExecKind::Plan(plan) => {
                if !self.start_child(i, attempt, plan, key, timeout_at)? {
                    return Ok(());
                }
            }
            // Arms its own timer: its `timeout` counts the whole wait.
            ExecKind::Placeholder(_) => return self.start_placeholder(i, attempt),
            ExecKind::Gate(gate) => {
                self.emit(Decision::GateOpened {
                    at: self.at,
                    node: slot_id.clone(),
                    attempt,
                    gate_ref: gate.gate_ref.clone(),
                })?;
                self.command(Command::OpenGate {
                    node: slot_id.clone(),
                    attempt,
                    gate_ref: gate.gate_ref.clone(),
                });
            }
        }
        if let Some(due_at) = timeout_at {
            if !matches!(node.kind, ExecKind::Gate(_)) {
                self.command(Command::StartTimer {
                    timer: TimerId::Timeout {
                        node: slot_id.to_string(),
                        attempt,
                    },
                    due_at,
                });
            }
        }
        Ok(())
    }

    /// A node's inputs (a Task's, or a `Plan` node's child parameters) with every `${{ }}`
    /// evaluated, or why they cannot be.
    pub(super) fn resolve_inputs(
        &self,
        i: usize,
        inputs: &Template,
    ) -> Result<Value, (ReasonCode, String)> {
        let value = Value::Object(inputs.value.clone());
        let value = if inputs.has_expressions {
            let variables = self.variables(i, &inputs.reads);
            let mut eval = |expr: &str| -> Result<Value, InputError> {
                cel::evaluate_with(expr, variables.clone())
                    .map_err(|e| InputError(format!("`${{{{ {expr} }}}}`: {e}")))
            };
            template::render(&value, &mut eval).map_err(|(path, InputError(message))| {
                (
                    ReasonCode::InterpolationFailed,
                    self.clip(&format!("inputs at `{path}`: {message}")),
                )
            })?
        } else {
            value
        };
        let size = serde_json::to_vec(&value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        let max = self.graph.limits.max_input_bytes;
        if size > max {
            return Err((
                ReasonCode::InputsTooLarge,
                format!("the inputs are {size} bytes as JSON; at most {max} are allowed"),
            ));
        }
        Ok(value)
    }

    /// The variables an expression of node `i` reads.
    pub(super) fn variables(&self, i: usize, reads: &Reads) -> Vec<(&'static str, Var)> {
        self.exec.variables(i, reads)
    }
}

impl Execution {
    /// The variables an expression of node `i` reads. A finished matrix's fan-in is shared
    /// ([`Var::Shared`]), not copied per expression.
    pub(super) fn variables(&self, i: usize, reads: &Reads) -> Vec<(&'static str, Var)> {
        let state = &self.state;
        // A matrix instance reads what its matrix node reads, and `matrix`.
        let owner = state.owner(&self.graph, i);
        let ids = match reads {
            Reads::Nodes(ids) => ids.clone(),
            Reads::Upstream => self.graph.upstream(owner),
        };
        let mut nodes = Vec::with_capacity(ids.len());
        for j in ids {
            let n = &state.nodes[j];
            let phase = json!(n.phase.as_str());
            let reason = json!(n.reason.map_or("", |r| r.as_str()));
            let entry = match state.fan_in(&self.graph, j) {
                // A matrix node's outputs are its instances' outputs as lists (fan-in).
                Some(fan_in) => Var::Map(vec![
                    ("phase".to_string(), Var::Json(phase)),
                    ("reason".to_string(), Var::Json(reason)),
                    ("outputs".to_string(), Var::Shared(fan_in.outputs.clone())),
                    (
                        "instances".to_string(),
                        Var::Shared(fan_in.instances.clone()),
                    ),
                ]),
                None => Var::Json(json!({
                    "phase": phase,
                    "reason": reason,
                    "outputs": n.outputs.clone().unwrap_or_default(),
                })),
            };
            nodes.push((self.graph.nodes[j].id.to_string(), entry));
        }
        let mut execution = json!({
            "uid": state.uid,
            "name": state.name,
            "namespace": state.namespace,
            "round": state.round,
        });
        if self.graph.nodes[owner].finally {
            let (outcome, failed) = self.outcome();
            execution["outcome"] = json!(outcome);
            execution["failedNodes"] = failed;
        }
        let mut variables = vec![
            (
                "parameters",
                Var::Json(Value::Object(state.parameters.clone())),
            ),
            ("nodes", Var::Map(nodes)),
            ("goal", Var::Json(self.graph.goal.clone())),
            ("plan", Var::Json(self.graph.plan.clone())),
            ("execution", Var::Json(execution)),
        ];
        if i >= self.graph.len() {
            let coordinates = state.instances[i - self.graph.len()].coordinates.clone();
            variables.push(("matrix", Var::Json(Value::Object(coordinates))));
        }
        variables
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
