//! A review submitted through the API (`POST …/gates/NAME/review`): checked, recorded in
//! `status.reviewHistory` and decided in the same write.
//!
//! Refused, each with a message saying why:
//! * a reject without a reason — `422`;
//! * a reviewer not eligible (not named in `reviewers`, in none of its groups) — `403`;
//! * an approval by the creator of the Execution the Gate belongs to (no self-approval) — `403`;
//! * an approval whose `values` do not satisfy `spec.inputSchema` — `422`, one cause per JSON
//!   Schema error; values for a Gate without an `inputSchema` — `422`;
//! * a Gate already decided on its current generation, or past its deadline — `409` (a Gate
//!   found expired is decided by its timeout in the same write).

use super::gate::{creator, decide};
use super::{gate_audit, gate_input};
use crate::api::{clock::timestamp, Api};
use crate::resource::ResourceType;
use crate::status::{cause, Status, StatusCause};
use planspec_model::actor::UserInfo;
use planspec_model::approval::{self, same_user};
use planspec_model::common::Timestamp;
use planspec_model::gate::{Gate, GateReview, GateStatus, ResolutionReason, ReviewAction};
use planspec_model::Kind;
use serde_json::{Map, Value};

const GATE: ResourceType = ResourceType::Kind(Kind::Gate);

/// A review submitted through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Who reviews: the authenticated user, with their groups.
    pub reviewer: UserInfo,
    /// What they decide.
    pub action: ReviewAction,
    /// What they say; required to reject.
    pub comment: Option<String>,
    /// The typed input of an approval (`spec.inputSchema`).
    pub values: Option<Map<String, Value>>,
}

/// Records `review` on the Gate `namespace/name` and decides in the same write; returns the
/// Gate as stored. See the module documentation for what is refused.
pub async fn review(
    api: &Api,
    namespace: &str,
    name: &str,
    review: Review,
) -> Result<Value, Status> {
    let who = review.reviewer.username.trim().to_owned();
    if who.is_empty() {
        return Err(Status::bad_request("a review needs a reviewer"));
    }
    if review.action == ReviewAction::Reject
        && review
            .comment
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
    {
        return Err(Status::invalid_causes(
            GATE,
            name,
            vec![StatusCause::new(
                cause::FIELD_VALUE_REQUIRED,
                "comment",
                "a rejection needs a reason (a comment saying why)",
            )],
        ));
    }
    if review.action != ReviewAction::Approve
        && review.values.as_ref().is_some_and(|v| !v.is_empty())
    {
        return Err(Status::invalid_causes(
            GATE,
            name,
            vec![StatusCause::new(
                cause::FIELD_VALUE_FORBIDDEN,
                "values",
                "only an approval carries values",
            )],
        ));
    }
    let key = crate::api::key(GATE, namespace, name);
    loop {
        let current = super::get_opt(api, GATE, &key)
            .await?
            .ok_or_else(|| Status::not_found(GATE, name))?;
        let gate: Gate = serde_json::from_value(current.clone())
            .map_err(|e| Status::internal_error(format!("stored Gate {name}: {e}")))?;
        let Some(eligibility) = approval::eligibility(&gate.spec, &review.reviewer) else {
            return Err(Status::forbidden(
                GATE,
                name,
                &format!(
                    "{who} is not among the reviewers of this gate ({}), nor in a group among them",
                    gate.spec.reviewers.join(", ")
                ),
            ));
        };
        let creator = creator(api, &gate).await?;
        if review.action == ReviewAction::Approve
            && creator.as_deref().is_some_and(|c| same_user(c, &who))
        {
            return Err(Status::forbidden(
                GATE,
                name,
                &format!(
                    "{who} created execution {} and may not approve its gates (no self-approval); another reviewer must",
                    gate.spec.target_ref.name
                ),
            ));
        }
        if review.action == ReviewAction::Approve {
            gate_input::check(
                name,
                gate.spec.input_schema.as_ref(),
                review.values.as_ref(),
            )?;
        }
        let generation = gate.metadata.generation.unwrap_or(1);
        let now = api.now();
        let now_text = timestamp(now);
        let status = gate.status.clone().unwrap_or_default();
        if status.resolution.is_some() && status.decided_generation == Some(generation) {
            return Err(already_decided(name, &status, generation));
        }
        // Past its deadline: the timeout decides, not this review.
        let before = decide(&gate, now, creator.as_deref());
        if before
            .resolution
            .as_ref()
            .is_some_and(|r| r.reason == Some(ResolutionReason::Timeout))
        {
            let audit = gate_audit::decision_entry(&gate, gate.status.as_ref(), &before, None, now);
            match gate_audit::write(api, &current, &before, audit.into_iter().collect()).await {
                Ok(_) => return Err(already_decided(name, &before, generation)),
                Err(s) if s.code == 409 => continue,
                Err(s) => return Err(s),
            }
        }
        let mut updated = gate.clone();
        let status = updated.status.get_or_insert_with(GateStatus::default);
        let recorded = GateReview {
            reviewer: who.clone(),
            via: eligibility.via(),
            action: review.action,
            timestamp: Timestamp::from(now_text.as_str()),
            comment: review.comment.clone(),
            target_generation: Some(generation),
            values: match review.action {
                ReviewAction::Approve => review.values.clone().filter(|v| !v.is_empty()),
                _ => None,
            },
        };
        status.review_history.push(recorded.clone());
        let decided = decide(&updated, now, creator.as_deref());
        let mut audit = vec![gate_audit::review_entry(
            &gate,
            &review.reviewer,
            &recorded,
            now,
        )];
        audit.extend(gate_audit::decision_entry(
            &gate,
            gate.status.as_ref(),
            &decided,
            Some(&review.reviewer),
            now,
        ));
        match gate_audit::write(api, &current, &decided, audit).await {
            Ok(Some(stored)) => return Ok(stored),
            Ok(None) => return Ok(current),
            Err(s) if s.code == 409 => continue,
            Err(s) => return Err(s),
        }
    }
}

fn already_decided(name: &str, status: &GateStatus, generation: u64) -> Status {
    let phase = status.phase.map(|p| format!("{p:?}")).unwrap_or_default();
    let how = match status.resolution.as_ref().and_then(|r| r.reason) {
        Some(ResolutionReason::Timeout) => " by its timeout",
        _ => "",
    };
    Status::conflict(
        GATE,
        name,
        &format!("the gate is already decided ({phase}){how} for generation {generation}"),
    )
}
