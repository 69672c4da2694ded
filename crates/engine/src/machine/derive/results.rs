//! Results from providers, acceptance checks, Gates and Externals, and failed attempts.

use super::{Deriver, GateDecision};
use crate::backoff::backoff_delay_ms;
use crate::command::Command;
use crate::event::{Decision, Outcome, Verdict};
use crate::graph::ExecKind;
use crate::ids::{idempotency_key, TimerId};
use crate::machine::state::Activity;
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::NodeId;
use serde_json::Value;

impl Deriver<'_> {
    pub(super) fn node_result(
        &mut self,
        node: &NodeId,
        attempt: u32,
        outcome: &Outcome,
    ) -> Result<(), EngineError> {
        let Some(i) = self.waiting_node(node, Some(attempt), Activity::Provider)? else {
            return Ok(());
        };
        if self.is_placeholder(i) {
            return self.resolver_result(i, outcome);
        }
        if let Outcome::Succeeded {
            cost_usd: Some(usd),
            ..
        } = outcome
        {
            self.record_cost(node, attempt, *usd)?;
        }
        match outcome {
            Outcome::Succeeded { outputs, .. } => {
                if let Some(message) = self.outputs_too_large(outputs) {
                    return self.attempt_failed(
                        i,
                        ReasonCode::OutputsTooLarge,
                        &message,
                        false,
                        false,
                    );
                }
                self.cancel_node_timer(i);
                let criteria = match &self.graph.nodes[self.owner(i)].kind {
                    ExecKind::Task(task) => task.criteria.clone(),
                    _ => Vec::new(),
                };
                if criteria.is_empty() {
                    self.emit(Decision::NodeSucceeded {
                        at: self.at,
                        node: node.clone(),
                        attempt,
                        outputs: outputs.clone(),
                        advisories: Vec::new(),
                    })
                } else {
                    self.emit(Decision::CriteriaRequested {
                        at: self.at,
                        node: node.clone(),
                        attempt,
                        outputs: outputs.clone(),
                    })?;
                    let key = self.exec.state.nodes[i].key.clone().unwrap_or_default();
                    self.command(Command::EvaluateCriteria {
                        node: node.clone(),
                        attempt,
                        idempotency_key: key,
                        criteria,
                        outputs: outputs.clone(),
                    });
                    Ok(())
                }
            }
            Outcome::Failed {
                reason,
                message,
                retryable,
            } => self.attempt_failed(i, *reason, message, *retryable, false),
        }
    }

    pub(super) fn criteria_result(
        &mut self,
        node: &NodeId,
        attempt: u32,
        verdicts: &[Verdict],
    ) -> Result<(), EngineError> {
        let Some(i) = self.waiting_node(node, Some(attempt), Activity::Criteria)? else {
            return Ok(());
        };
        let ExecKind::Task(task) = &self.graph.nodes[self.owner(i)].kind else {
            return self.ignore(ReasonCode::NotWaiting, Some(node), Some(attempt));
        };
        let mut failed = Vec::new();
        let mut advisories = Vec::new();
        for criterion in &task.criteria {
            let name = criterion.name();
            let verdict = verdicts.iter().find(|v| v.name == name);
            let passed = verdict.is_some_and(|v| v.passed);
            if passed {
                continue;
            }
            if criterion.is_required() {
                let detail = match verdict {
                    None => "no verdict".to_string(),
                    Some(v) => v.message.clone().unwrap_or_else(|| "failed".to_string()),
                };
                failed.push(format!("required criterion `{name}` failed: {detail}"));
            } else {
                advisories.push(name.to_string());
            }
        }
        if failed.is_empty() {
            let outputs = self.exec.state.nodes[i].outputs.clone().unwrap_or_default();
            self.emit(Decision::NodeSucceeded {
                at: self.at,
                node: node.clone(),
                attempt,
                outputs,
                advisories,
            })
        } else {
            let message = failed.join("; ");
            self.attempt_failed(i, ReasonCode::CriterionFailed, &message, true, false)
        }
    }

    pub(super) fn gate_resolved(
        &mut self,
        node: &NodeId,
        decision: GateDecision<'_>,
    ) -> Result<(), EngineError> {
        if self.approval_resolved(node, &decision)? {
            return Ok(());
        }
        let Some(i) = self.waiting_node(node, None, Activity::Gate)? else {
            return Ok(());
        };
        let attempt = self.exec.state.nodes[i].attempt;
        let GateDecision {
            approved,
            by,
            comment,
            outputs: values,
            timed_out,
        } = decision;
        if approved {
            // The approved values first; the decision's own outputs win a clash.
            let mut outputs = values.cloned().unwrap_or_default();
            if let Some(message) = self.outputs_too_large(&outputs) {
                return self.emit(Decision::NodeFailed {
                    at: self.at,
                    node: node.clone(),
                    attempt,
                    reason: ReasonCode::OutputsTooLarge,
                    message,
                    killed: false,
                });
            }
            outputs.insert("approved".into(), Value::Bool(true));
            if let Some(by) = by {
                outputs.insert("by".into(), Value::String(self.clip(by)));
            }
            if let Some(comment) = comment {
                outputs.insert("comment".into(), Value::String(self.clip(comment)));
            }
            self.emit(Decision::NodeSucceeded {
                at: self.at,
                node: node.clone(),
                attempt,
                outputs,
                advisories: Vec::new(),
            })
        } else {
            let (reason, mut message) = if timed_out {
                (ReasonCode::GateTimeout, "timed out".to_owned())
            } else {
                (
                    ReasonCode::GateRejected,
                    format!("rejected by {}", by.unwrap_or("a reviewer")),
                )
            };
            if let Some(comment) = comment {
                message.push_str(": ");
                message.push_str(comment);
            }
            let message = self.clip(&message);
            self.emit(Decision::NodeFailed {
                at: self.at,
                node: node.clone(),
                attempt,
                reason,
                message,
                killed: false,
            })
        }
    }

    pub(super) fn external_completed(
        &mut self,
        node: &NodeId,
        outcome: &Outcome,
    ) -> Result<(), EngineError> {
        let Some(i) = self.waiting_node(node, None, Activity::External)? else {
            return Ok(());
        };
        self.cancel_node_timer(i);
        let attempt = self.exec.state.nodes[i].attempt;
        match outcome {
            Outcome::Succeeded { outputs, .. } => {
                if let Some(message) = self.outputs_too_large(outputs) {
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
                    outputs: outputs.clone(),
                    advisories: Vec::new(),
                })
            }
            Outcome::Failed {
                reason, message, ..
            } => {
                let message = self.clip(message);
                self.emit(Decision::NodeFailed {
                    at: self.at,
                    node: node.clone(),
                    attempt,
                    reason: *reason,
                    message,
                    killed: false,
                })
            }
        }
    }

    /// An attempt of Task `i` failed: retry it if the policy allows, else fail the node.
    pub(super) fn attempt_failed(
        &mut self,
        i: usize,
        reason: ReasonCode,
        message: &str,
        retryable: bool,
        kill: bool,
    ) -> Result<(), EngineError> {
        let message = self.clip(message);
        self.cancel_node_timer(i);
        if kill {
            self.kill(i);
        }
        let n = &self.exec.state.nodes[i];
        let attempt = n.attempt;
        let used = attempt.saturating_sub(n.first_attempt);
        let retry = match &self.graph.nodes[self.owner(i)].kind {
            ExecKind::Task(task) => Some(&task.retry),
            _ => None,
        };
        let again = retry.filter(|r| {
            self.exec.state.cancel.is_none()
                && retryable
                && r.retries_on(reason)
                && used < r.retries
        });
        if let Some(config) = again {
            let next = attempt + 1;
            let uid = self.exec.state.uid.clone().unwrap_or_default();
            let key = idempotency_key(&uid, &self.id(i), next);
            let delay = backoff_delay_ms(config, next - n.first_attempt, &key);
            let due_at = self.at.saturating_add(delay);
            self.emit(Decision::RetryScheduled {
                at: self.at,
                node: self.id(i),
                attempt: next,
                due_at,
                reason,
                message,
                killed: kill,
            })?;
            self.command(Command::StartTimer {
                timer: TimerId::Backoff {
                    node: self.id(i).to_string(),
                    attempt: next,
                },
                due_at,
            });
            Ok(())
        } else {
            self.emit(Decision::NodeFailed {
                at: self.at,
                node: self.id(i),
                attempt,
                reason,
                message,
                killed: kill,
            })
        }
    }
}
