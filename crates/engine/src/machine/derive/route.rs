//! Risk routing: the policy verdict on a Task when it becomes Ready, the approval an `assist`
//! verdict waits for, and the budget.

use super::{Deriver, GateDecision};
use crate::command::Command;
use crate::event::Decision;
use crate::graph::ExecKind;
use crate::machine::state::{Approval, NodePhase};
use crate::policy::{self, Evaluation, Subject};
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::policy::PolicyVerdict;
use planspec_model::NodeId;
use serde_json::{json, Value};

impl Deriver<'_> {
    /// Evaluates the pinned Policies for Task `i`, which just became Ready, and journals the
    /// verdict: `allow` leaves it to dispatch, `assist` holds it and asks for an approval,
    /// `deny` fails it with `policy_denied`. Runs without pinned governance (journals from
    /// before it) route nothing.
    pub(super) fn route(&mut self, i: usize) -> Result<(), EngineError> {
        let Some(evaluation) = self.evaluation(i) else {
            return Ok(());
        };
        let id = self.id(i);
        let message = self.clip(&evaluation.message);
        self.emit(Decision::NodeVerdict {
            at: self.at,
            node: id.clone(),
            verdict: evaluation.verdict,
            risk: evaluation.risk,
            reason: evaluation.reason.clone(),
            message: message.clone(),
            matched: evaluation.matched,
            policies: evaluation.policies,
        })?;
        let attempt = self.exec.state.nodes[i].attempt;
        let approval = self.exec.state.nodes[i].approvals;
        match evaluation.verdict {
            PolicyVerdict::Allow => Ok(()),
            PolicyVerdict::Deny => self.emit(Decision::NodeFailed {
                at: self.at,
                node: id,
                attempt,
                reason: ReasonCode::PolicyDenied,
                message,
                killed: false,
            }),
            PolicyVerdict::Assist => {
                self.command(Command::RequestApproval {
                    node: id,
                    approval,
                    risk: evaluation.risk,
                    reason: evaluation.reason,
                    message,
                });
                Ok(())
            }
        }
    }

    /// The pinned Policies' verdict on Task `i` as things stand; `None` for other nodes and
    /// for runs without pinned governance.
    pub(in crate::machine) fn evaluation(&self, i: usize) -> Option<Evaluation> {
        let graph = &self.graph;
        // A matrix instance is judged as its matrix node, with its own inputs.
        let owner = self.owner(i);
        let ExecKind::Task(task) = &graph.nodes[owner].kind else {
            return None;
        };
        let state = &self.exec.state;
        let governance = state.governance.as_ref()?;
        // Policies see the inputs as they will be sent; if they cannot be resolved (the
        // dispatch will fail with the reason), as written.
        let inputs = self
            .resolve_inputs(i, &task.inputs)
            .unwrap_or_else(|_| Value::Object(task.inputs.value.clone()));
        Some(policy::evaluate(&Subject {
            graph,
            node: owner,
            inputs,
            parameters: &state.parameters,
            execution: json!({
                "name": state.name,
                "namespace": state.namespace,
                "uid": state.uid,
                "round": state.round,
                "parameters": state.parameters,
                "creator": state.creator,
            }),
            actor: state.creator.as_ref(),
            governance,
        }))
    }

    /// Takes a `GateResolved` meant for the approval of an `assist` verdict; `false` if the
    /// node is not waiting for one (the input is then a Gate node's).
    pub(super) fn approval_resolved(
        &mut self,
        node: &NodeId,
        decision: &GateDecision<'_>,
    ) -> Result<bool, EngineError> {
        if self.not_running().is_some() {
            return Ok(false);
        }
        let Some(i) = self.exec.state.slot_of(&self.graph, node) else {
            return Ok(false);
        };
        let n = &self.exec.state.nodes[i];
        if n.phase != NodePhase::Ready || n.approval != Some(Approval::Waiting) {
            return Ok(false);
        }
        if decision.approved {
            self.emit(Decision::NodeApproved {
                at: self.at,
                node: node.clone(),
                by: decision.by.map(|b| self.clip(b)),
                comment: decision.comment.map(|c| self.clip(c)),
            })?;
        } else {
            let mut message = if decision.timed_out {
                "the approval timed out".to_string()
            } else {
                format!(
                    "the approval was rejected by {}",
                    decision.by.unwrap_or("a reviewer")
                )
            };
            if let Some(comment) = decision.comment {
                message.push_str(": ");
                message.push_str(comment);
            }
            let message = self.clip(&message);
            let attempt = self.exec.state.nodes[i].attempt;
            self.emit(Decision::NodeFailed {
                at: self.at,
                node: node.clone(),
                attempt,
                reason: ReasonCode::ApprovalRejected,
                message,
                killed: false,
            })?;
        }
        Ok(true)
    }

    /// Journals what an attempt cost.
    pub(super) fn record_cost(
        &mut self,
        node: &NodeId,
        attempt: u32,
        usd: f64,
    ) -> Result<(), EngineError> {
        if !usd.is_finite() || usd < 0.0 {
            return Ok(());
        }
        let total_usd = self.exec.state.spent_usd + usd;
        self.emit(Decision::CostRecorded {
            at: self.at,
            node: node.clone(),
            attempt,
            usd,
            total_usd,
        })
    }

    /// Why no further attempt may be dispatched because the Goal's `budgetUsd` is spent, if
    /// it is.
    pub(super) fn budget_spent(&self) -> Option<String> {
        let budget = self.graph.constraints.budget_usd?;
        let spent = self.exec.state.spent_usd;
        (spent >= budget).then(|| {
            format!("the run has spent ${spent:.2} of its ${budget:.2} budget (the Goal's budgetUsd); no further attempt is dispatched")
        })
    }
}
