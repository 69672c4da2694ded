//! Gate reviews and decisions in the audit log, written in the same transaction as the Gate's
//! status ([`write`]), so a review or decision is never on record without having happened, nor
//! the other way round.
//!
//! Records (resource `gates`, the Gate's namespace and name):
//! * each review — verb `approve`, `reject` or `comment`, subresource `review`, by the
//!   reviewer, decision `allowed` (`denied` for a rejection), reason `review`, details: the
//!   generation, the group it was made through (`via`), the comment and the values;
//! * each decision — verb `decide`, by the reviewer whose review decided it or
//!   `system:planspec` (a timeout, or a recount by the controller), decision `allowed` for
//!   approved and `denied` for rejected, reason `approved`, `rejected` or `gate_timeout`, details:
//!   the outcome, the actors, the comment, the values, the generation, the Execution and node.

use crate::api::audit::audit_time;
use crate::api::Api;
use crate::resource::ResourceType;
use crate::status::Status;
use planspec_model::actor::UserInfo;
use planspec_model::audit::{AuditEntry, AuditOutcome, AuditResource, Decision};
use planspec_model::gate::{
    Gate, GateReview, GateStatus, ResolutionOutcome, ResolutionReason, ReviewAction,
};
use planspec_model::Kind;
use serde_json::{json, Value};
use time::OffsetDateTime;

const GATE: ResourceType = ResourceType::Kind(Kind::Gate);

/// The record of `review` of `gate`, made by `reviewer`.
pub fn review_entry(
    gate: &Gate,
    reviewer: &UserInfo,
    review: &GateReview,
    now: OffsetDateTime,
) -> AuditEntry {
    let verb = match review.action {
        ReviewAction::Approve => "approve",
        ReviewAction::Reject => "reject",
        ReviewAction::Comment => "comment",
    };
    AuditEntry {
        time: audit_time(now),
        actor: reviewer.clone(),
        verb: verb.to_owned(),
        resource: resource(gate, "review"),
        outcome: AuditOutcome {
            code: None,
            decision: if review.action == ReviewAction::Reject {
                Decision::Denied
            } else {
                Decision::Allowed
            },
            reason: "review".to_owned(),
        },
        request_id: String::new(),
        details: json!({
            "generation": review.target_generation,
            "via": review.via,
            "comment": review.comment,
            "values": review.values,
            "execution": gate.spec.target_ref.name.as_str(),
            "node": gate.spec.target_ref.node_id,
        }),
    }
}

/// The record of the decision `after` holds, if `before` did not hold it yet; `decider` is who
/// made it (the reviewer whose review decided; `None`: the control plane).
pub fn decision_entry(
    gate: &Gate,
    before: Option<&GateStatus>,
    after: &GateStatus,
    decider: Option<&UserInfo>,
    now: OffsetDateTime,
) -> Option<AuditEntry> {
    let resolution = after.resolution.as_ref()?;
    let known = before.is_some_and(|b| {
        b.resolution.is_some() && b.decided_generation == after.decided_generation
    });
    if known {
        return None;
    }
    let timed_out = resolution.reason == Some(ResolutionReason::Timeout);
    let (decision, reason) = match (resolution.outcome, timed_out) {
        (ResolutionOutcome::Approved, _) => (Decision::Allowed, "approved"),
        (ResolutionOutcome::Rejected, true) => (Decision::Denied, "gate_timeout"),
        (ResolutionOutcome::Rejected, false) => (Decision::Denied, "rejected"),
    };
    let actor = match decider {
        Some(user) if !timed_out => user.clone(),
        _ => UserInfo::control_plane(),
    };
    Some(AuditEntry {
        time: audit_time(now),
        actor,
        verb: "decide".to_owned(),
        resource: resource(gate, ""),
        outcome: AuditOutcome {
            code: None,
            decision,
            reason: reason.to_owned(),
        },
        request_id: String::new(),
        details: json!({
            "outcome": resolution.outcome,
            "reason": resolution.reason,
            "actors": resolution.actors,
            "comment": resolution.comment,
            "values": resolution.values,
            "generation": after.decided_generation,
            "execution": gate.spec.target_ref.name.as_str(),
            "node": gate.spec.target_ref.node_id,
        }),
    })
}

fn resource(gate: &Gate, subresource: &str) -> AuditResource {
    AuditResource {
        group: GATE.group().to_owned(),
        resource: GATE.plural().to_owned(),
        namespace: gate
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        name: gate.metadata.name.to_string(),
        subresource: subresource.to_owned(),
        path: String::new(),
    }
}

/// Writes `status` to the Gate `current` (unless it is already so) with `audit` in the same
/// transaction; the Gate as stored, `None` if nothing changed.
pub async fn write(
    api: &Api,
    current: &Value,
    status: &GateStatus,
    audit: Vec<AuditEntry>,
) -> Result<Option<Value>, Status> {
    super::write_status_audited(api, GATE, current, status, audit).await
}
