//! The Gate controller, and reviews: approvals counted up to `requiredApprovers`, restricted
//! to `reviewers`, bound to the spec generation they were made on (`decidedGeneration`), kept in
//! `reviewHistory`, decided into `resolution`.
//!
//! A review arrives through [`review`] (the API's `POST …/gates/NAME/review`, behind
//! `planspec approve` / `planspec reject`), which records it and decides in the same write, so
//! the reviewer learns the outcome at once. The controller decides again whenever a Gate
//! changes: a client that edits `status.reviewHistory` directly (as upstream tools do) gets the
//! same decision, and a spec change makes an earlier decision stale (it is withdrawn: the Gate
//! waits for reviews of the new generation).

use super::conditions::set_condition;
use super::{write_status, Reconciler, Requeue};
use crate::api::{clock::timestamp, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use async_trait::async_trait;
use planspec_model::approval::{self, Decision};
use planspec_model::common::Timestamp;
use planspec_model::gate::{
    Gate, GatePhase, GateResolution, GateReview, GateStatus, ResolutionOutcome, ReviewAction,
};
use planspec_model::meta::ConditionStatus;
use planspec_model::Kind;
use planspec_store::ObjectKey;
use serde_json::Value;

const GATE: ResourceType = ResourceType::Kind(Kind::Gate);

/// Keeps Gate decisions true to their reviews; see the module documentation.
#[derive(Debug, Default)]
pub struct GateController;

#[async_trait]
impl Reconciler for GateController {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn resource(&self) -> ResourceType {
        GATE
    }

    async fn reconcile(&self, api: &Api, key: &ObjectKey) -> Result<Requeue, Status> {
        let Some(current) = super::get_opt(api, GATE, key).await? else {
            return Ok(Requeue::Never);
        };
        let Some(gate) = super::typed::<Gate>(&current, key) else {
            return Ok(Requeue::Never);
        };
        let now = timestamp(api.now());
        let status = decide(&gate, &now);
        write_status(api, GATE, &current, &status).await?;
        Ok(Requeue::Never)
    }
}

/// The status `gate` should have: its reviews counted, its decision made or withdrawn.
pub fn decide(gate: &Gate, now: &str) -> GateStatus {
    let generation = gate.metadata.generation.unwrap_or(1);
    let mut status = gate.status.clone().unwrap_or_default();
    status.observed_generation = Some(generation);
    let decided_now = status.decided_generation == Some(generation) && status.resolution.is_some();
    if decided_now {
        return status; // a decision on this generation is final
    }
    if status.resolution.is_some() || status.decided_generation.is_some() {
        // Decided on an older spec: the decision no longer applies.
        status.resolution = None;
        status.decided_generation = None;
        status.phase = Some(activated_phase(&status));
        set_condition(
            &mut status.conditions,
            "Decided",
            ConditionStatus::False,
            "StaleDecision",
            Some(format!(
                "the spec changed (generation {generation}); earlier reviews no longer count"
            )),
            Some(generation),
            now,
        );
    }
    let tally = approval::tally(&gate.spec, generation, &status.review_history);
    match tally.decision {
        Decision::Approved { actors } => {
            status.phase = Some(GatePhase::Approved);
            let comment = last_comment(&status.review_history, &actors, ReviewAction::Approve);
            status.resolution = Some(GateResolution {
                outcome: ResolutionOutcome::Approved,
                timestamp: Timestamp::from(now),
                actors,
                comment,
            });
            status.decided_generation = Some(generation);
            set_condition(
                &mut status.conditions,
                "Ready",
                ConditionStatus::True,
                "Approved",
                None,
                Some(generation),
                now,
            );
            set_condition(
                &mut status.conditions,
                "Decided",
                ConditionStatus::True,
                "Approved",
                None,
                Some(generation),
                now,
            );
        }
        Decision::Rejected { actor, comment } => {
            status.phase = Some(GatePhase::Rejected);
            status.resolution = Some(GateResolution {
                outcome: ResolutionOutcome::Rejected,
                timestamp: Timestamp::from(now),
                actors: vec![actor.clone()],
                comment: comment.clone(),
            });
            status.decided_generation = Some(generation);
            let message = match &comment {
                Some(c) => format!("rejected by {actor}: {c}"),
                None => format!("rejected by {actor}"),
            };
            set_condition(
                &mut status.conditions,
                "Ready",
                ConditionStatus::False,
                "Rejected",
                Some(message.clone()),
                Some(generation),
                now,
            );
            set_condition(
                &mut status.conditions,
                "Decided",
                ConditionStatus::True,
                "Rejected",
                Some(message),
                Some(generation),
                now,
            );
        }
        Decision::Open {
            approvals,
            required,
        } => {
            status.phase = Some(activated_phase(&status));
            let mut message = format!("{} of {required} approvals", approvals.len());
            if tally.stale > 0 {
                message.push_str(&format!(
                    "; {} review(s) of an older generation ignored",
                    tally.stale
                ));
            }
            if !tally.not_reviewers.is_empty() {
                message.push_str(&format!(
                    "; not reviewers: {}",
                    tally.not_reviewers.join(", ")
                ));
            }
            let reason = if status.phase == Some(GatePhase::Waiting) {
                "AwaitingApproval"
            } else {
                "GateCreated"
            };
            set_condition(
                &mut status.conditions,
                "Ready",
                ConditionStatus::False,
                reason,
                Some(message),
                Some(generation),
                now,
            );
        }
    }
    status
}

/// `Waiting` once an Execution reached the Gate (it stays so until decided), else `Pending`.
fn activated_phase(status: &GateStatus) -> GatePhase {
    match status.phase {
        Some(GatePhase::Waiting) => GatePhase::Waiting,
        _ if status
            .conditions
            .iter()
            .any(|c| c.condition_type == "Activated" && c.status == ConditionStatus::True) =>
        {
            GatePhase::Waiting
        }
        _ => GatePhase::Pending,
    }
}

fn last_comment(history: &[GateReview], actors: &[String], action: ReviewAction) -> Option<String> {
    history
        .iter()
        .rev()
        .find(|r| r.action == action && actors.contains(&r.reviewer) && r.comment.is_some())
        .and_then(|r| r.comment.clone())
}

/// A review submitted through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Who reviews (`user:alice`).
    pub reviewer: String,
    /// What they decide.
    pub action: ReviewAction,
    /// What they say; required to reject.
    pub comment: Option<String>,
}

/// Records `review` on the Gate `namespace/name` and decides in the same write; returns the
/// Gate as stored. Refused: a reject without a comment (400), a reviewer not among
/// `reviewers` (403), a Gate already decided on its current generation (409).
pub async fn review(
    api: &Api,
    namespace: &str,
    name: &str,
    review: Review,
) -> Result<Value, Status> {
    if review.reviewer.trim().is_empty() {
        return Err(Status::bad_request("a review needs a reviewer"));
    }
    if review.action == ReviewAction::Reject
        && review
            .comment
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
    {
        return Err(Status::bad_request(
            "a rejection needs a comment saying why",
        ));
    }
    let key = crate::api::key(GATE, namespace, name);
    loop {
        let current = super::get_opt(api, GATE, &key)
            .await?
            .ok_or_else(|| Status::not_found(GATE, name))?;
        let gate: Gate = serde_json::from_value(current.clone())
            .map_err(|e| Status::internal_error(format!("stored Gate {name}: {e}")))?;
        if !approval::may_review(&gate.spec, &review.reviewer) {
            return Err(Status::forbidden(
                GATE,
                name,
                &format!(
                    "{} is not among the reviewers of this gate ({})",
                    review.reviewer,
                    gate.spec.reviewers.join(", ")
                ),
            ));
        }
        let generation = gate.metadata.generation.unwrap_or(1);
        let now = timestamp(api.now());
        let mut updated = gate.clone();
        let status = updated.status.get_or_insert_with(GateStatus::default);
        if status.resolution.is_some() && status.decided_generation == Some(generation) {
            let phase = status.phase.map(|p| format!("{p:?}")).unwrap_or_default();
            return Err(Status::conflict(
                GATE,
                name,
                &format!("the gate is already decided ({phase}) for generation {generation}"),
            ));
        }
        status.review_history.push(GateReview {
            reviewer: review.reviewer.clone(),
            action: review.action,
            timestamp: Timestamp::from(now.as_str()),
            comment: review.comment.clone(),
            target_generation: Some(generation),
        });
        let decided = decide(&updated, &now);
        match write_status(api, GATE, &current, &decided).await {
            Ok(Some(stored)) => return Ok(stored),
            Ok(None) => return Ok(current),
            Err(s) if s.code == 409 => continue,
            Err(s) => return Err(s),
        }
    }
}
