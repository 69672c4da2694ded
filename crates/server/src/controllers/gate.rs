//! The Gate controller: approvals counted up to `requiredApprovers`, restricted to
//! `reviewers` (users or groups), never by the Execution's creator, bound to the spec
//! generation they were made on (`decidedGeneration`), kept in `reviewHistory`, decided into
//! `resolution` — or by the Gate's `timeout`, whose `onTimeout` decides for `system:planspec`.
//!
//! A review arrives through [`review`](super::review) (the API's `POST …/gates/NAME/review`,
//! behind `planspec approve` / `planspec reject`), which records it and decides in the same
//! write, so the reviewer learns the outcome at once. The controller decides again whenever a
//! Gate changes: a client that edits `status.reviewHistory` directly (as upstream tools do) gets
//! the same decision, and a spec change makes an earlier decision stale (it is withdrawn: the
//! Gate waits for reviews of the new generation). An open Gate with a `timeout` is looked at
//! again when it expires; the deadline is `status.expiresAt` (the moment an Execution reached
//! the Gate plus `timeout`), kept in the Gate, so a restart changes nothing.

use super::conditions::set_condition;
use super::{gate_audit, gate_input, gate_timeout, Reconciler, Requeue};
use crate::api::{clock::timestamp, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use async_trait::async_trait;
use planspec_model::actor::{CREATED_BY_ANNOTATION, SYSTEM_CONTROL_PLANE};
use planspec_model::approval::{self, Decision};
use planspec_model::common::Timestamp;
use planspec_model::gate::{
    Gate, GatePhase, GateResolution, GateReview, GateStatus, ResolutionOutcome, ResolutionReason,
    ReviewAction, TimeoutOutcome,
};
use planspec_model::meta::ConditionStatus;
use planspec_model::Kind;
use planspec_store::ObjectKey;
use serde_json::Value;
use time::OffsetDateTime;

const GATE: ResourceType = ResourceType::Kind(Kind::Gate);
const EXECUTION: ResourceType = ResourceType::Kind(Kind::Execution);

/// Keeps Gate decisions true to their reviews and timeouts; see the module documentation.
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
        let creator = creator(api, &gate).await?;
        let now = api.now();
        let status = decide(&gate, now, creator.as_deref());
        let requeue = match (&status.resolution, &status.expires_at) {
            (None, Some(at)) => gate_timeout::parse(at)
                .map(|at| Requeue::After(gate_timeout::until(now, at)))
                .unwrap_or(Requeue::Never),
            _ => Requeue::Never,
        };
        let audit = gate_audit::decision_entry(&gate, gate.status.as_ref(), &status, None, now);
        gate_audit::write(api, &current, &status, audit.into_iter().collect()).await?;
        Ok(requeue)
    }
}

/// The user who created the Execution `gate` belongs to (its `targetRef`, checked by uid when
/// the reference has one): the `planspec.io/created-by` annotation, if any. `None` as well
/// where self-approval is allowed (the private control plane of `planspec run`).
pub async fn creator(api: &Api, gate: &Gate) -> Result<Option<String>, Status> {
    let target = &gate.spec.target_ref;
    if target.kind != "Execution" || api.options().allow_self_approval {
        return Ok(None);
    }
    let namespace = target
        .namespace
        .as_deref()
        .or(gate.metadata.namespace.as_deref())
        .unwrap_or("default");
    let key = crate::api::key(EXECUTION, namespace, &target.name);
    let Some(execution) = super::get_opt(api, EXECUTION, &key).await? else {
        return Ok(None);
    };
    if target
        .uid
        .as_deref()
        .is_some_and(|uid| execution.pointer("/metadata/uid") != Some(&Value::from(uid)))
    {
        return Ok(None);
    }
    Ok(execution
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(CREATED_BY_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .map(str::to_owned))
}

/// The status `gate` should have at `now`: its reviews counted (never an approval by
/// `creator`), its decision made, withdrawn, or made by its timeout.
pub fn decide(gate: &Gate, now: OffsetDateTime, creator: Option<&str>) -> GateStatus {
    let generation = gate.metadata.generation.unwrap_or(1);
    let now_text = timestamp(now);
    let now_str = now_text.as_str();
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
            now_str,
        );
    }
    let tally = approval::tally(&gate.spec, generation, &status.review_history, creator);
    match tally.decision {
        Decision::Approved { actors, values } => {
            let comment = last_comment(&status.review_history, &actors, ReviewAction::Approve);
            resolve(
                &mut status,
                generation,
                now_str,
                GateResolution {
                    outcome: ResolutionOutcome::Approved,
                    timestamp: Timestamp::from(now_str),
                    actors,
                    comment,
                    reason: Some(ResolutionReason::Reviews),
                    values,
                },
                "Approved",
            );
        }
        Decision::Rejected { actor, comment } => {
            resolve(
                &mut status,
                generation,
                now_str,
                GateResolution {
                    outcome: ResolutionOutcome::Rejected,
                    timestamp: Timestamp::from(now_str),
                    actors: vec![actor],
                    comment,
                    reason: Some(ResolutionReason::Reviews),
                    values: None,
                },
                "Rejected",
            );
        }
        Decision::Open {
            approvals,
            required,
        } => {
            status.phase = Some(activated_phase(&status));
            status.expires_at = match status.phase {
                Some(GatePhase::Waiting) => {
                    gate_timeout::expiry(gate, &status).map(|at| Timestamp::from(timestamp(at)))
                }
                _ => None,
            };
            let expired = status
                .expires_at
                .as_ref()
                .and_then(|at| gate_timeout::parse(at))
                .is_some_and(|at| at <= now);
            if expired {
                let resolution = timed_out(gate, now_str);
                resolve(&mut status, generation, now_str, resolution, "TimedOut");
                return status;
            }
            let mut message = format!("{} of {required} approvals", approvals.len());
            if tally.value_sets > 1 {
                message.push_str(&format!(
                    "; the approvals disagree on the values ({} different sets)",
                    tally.value_sets
                ));
            }
            if tally.self_approvals > 0 {
                message.push_str("; the execution's creator may not approve");
            }
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
            if let Some(at) = &status.expires_at {
                message.push_str(&format!("; times out at {}", &**at));
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
                now_str,
            );
        }
    }
    status
}

/// The decision `spec.onTimeout` makes, by `system:planspec`. An approval's values are the
/// `inputSchema`'s top-level defaults; if those are not valid values, the Gate is rejected.
fn timed_out(gate: &Gate, now: &str) -> GateResolution {
    let after = gate
        .spec
        .timeout
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut resolution = GateResolution {
        outcome: ResolutionOutcome::Rejected,
        timestamp: Timestamp::from(now),
        actors: vec![SYSTEM_CONTROL_PLANE.to_owned()],
        comment: Some(format!("not decided within {after}; onTimeout: reject")),
        reason: Some(ResolutionReason::Timeout),
        values: None,
    };
    if gate.spec.on_timeout.unwrap_or_default() == TimeoutOutcome::Approve {
        match &gate.spec.input_schema {
            None => {
                resolution.outcome = ResolutionOutcome::Approved;
                resolution.comment =
                    Some(format!("not decided within {after}; onTimeout: approve"));
            }
            Some(schema) => {
                let values = gate_input::defaults(schema);
                if gate_input::satisfies(schema, &values) {
                    resolution.outcome = ResolutionOutcome::Approved;
                    resolution.comment = Some(format!(
                        "not decided within {after}; onTimeout: approve (with the inputSchema's defaults)"
                    ));
                    resolution.values = Some(values);
                } else {
                    resolution.comment = Some(format!(
                        "not decided within {after}; onTimeout: approve, but the inputSchema's defaults are not valid values, so rejected"
                    ));
                }
            }
        }
    }
    resolution
}

/// Records `resolution` as the decision on `generation`, with its phase and conditions.
fn resolve(
    status: &mut GateStatus,
    generation: u64,
    now: &str,
    resolution: GateResolution,
    reason: &str,
) {
    let approved = resolution.outcome == ResolutionOutcome::Approved;
    let by = resolution.actors.join(", ");
    let message = match (&resolution.comment, approved) {
        (_, true) if reason == "Approved" => None,
        (Some(c), true) => Some(format!("approved by {by}: {c}")),
        (None, true) => Some(format!("approved by {by}")),
        (Some(c), false) => Some(format!("rejected by {by}: {c}")),
        (None, false) => Some(format!("rejected by {by}")),
    };
    status.phase = Some(if approved {
        GatePhase::Approved
    } else {
        GatePhase::Rejected
    });
    status.resolution = Some(resolution);
    status.decided_generation = Some(generation);
    let ready = if approved {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    set_condition(
        &mut status.conditions,
        "Ready",
        ready,
        reason,
        message.clone(),
        Some(generation),
        now,
    );
    set_condition(
        &mut status.conditions,
        "Decided",
        ConditionStatus::True,
        reason,
        message,
        Some(generation),
        now,
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn gate(spec: Value, status: Value) -> Gate {
        let mut full = json!({"gateType": "approval",
                              "targetRef": {"kind": "Execution", "name": "run", "nodeId": "n"}});
        for (k, v) in spec.as_object().unwrap() {
            full[k] = v.clone();
        }
        serde_json::from_value(json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Gate",
            "metadata": {"name": "run-n", "namespace": "default", "generation": 1,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": full, "status": status
        }))
        .unwrap()
    }

    #[test]
    fn an_open_waiting_gate_times_out_by_its_declared_default() {
        let g = gate(json!({"timeout": "30m"}), json!({"phase": "Waiting"}));
        let before = decide(&g, datetime!(2026-01-01 00:29:59 UTC), None);
        assert_eq!(before.phase, Some(GatePhase::Waiting));
        assert_eq!(before.expires_at.as_deref(), Some("2026-01-01T00:30:00Z"));
        let after = decide(&g, datetime!(2026-01-01 00:30:00 UTC), None);
        assert_eq!(after.phase, Some(GatePhase::Rejected));
        let r = after.resolution.unwrap();
        assert_eq!(r.reason, Some(ResolutionReason::Timeout));
        assert_eq!(r.actors, vec![SYSTEM_CONTROL_PLANE.to_owned()]);

        let lenient = gate(
            json!({"timeout": "30m", "onTimeout": "approve",
                   "inputSchema": {"type": "object", "properties": {"canary": {"type": "integer", "default": 5}}}}),
            json!({"phase": "Waiting"}),
        );
        let s = decide(&lenient, datetime!(2026-01-01 01:00:00 UTC), None);
        assert_eq!(s.phase, Some(GatePhase::Approved));
        assert_eq!(
            s.resolution.unwrap().values,
            json!({"canary": 5}).as_object().cloned()
        );
        // Defaults that are not valid values: the timeout rejects.
        let strict = gate(
            json!({"timeout": "30m", "onTimeout": "approve",
                   "inputSchema": {"type": "object", "required": ["version"]}}),
            json!({"phase": "Waiting"}),
        );
        let s = decide(&strict, datetime!(2026-01-01 01:00:00 UTC), None);
        assert_eq!(s.phase, Some(GatePhase::Rejected));
    }

    #[test]
    fn the_timeout_counts_from_activation_and_only_while_a_run_waits() {
        let pending = gate(json!({"timeout": "1s"}), json!({}));
        let s = decide(&pending, datetime!(2027-01-01 00:00:00 UTC), None);
        assert_eq!(s.phase, Some(GatePhase::Pending));
        assert_eq!(s.expires_at, None);
        let activated = gate(
            json!({"timeout": "1h"}),
            json!({"conditions": [{"type": "Activated", "status": "True", "reason": "ExecutionReachedGate",
                                   "lastTransitionTime": "2026-01-02T00:00:00Z"}]}),
        );
        let s = decide(&activated, datetime!(2026-01-02 00:30:00 UTC), None);
        assert_eq!(s.expires_at.as_deref(), Some("2026-01-02T01:00:00Z"));
    }

    #[test]
    fn the_creators_approval_does_not_count() {
        let g = gate(
            json!({}),
            json!({"phase": "Waiting", "reviewHistory": [
                {"reviewer": "carol", "action": "approve", "timestamp": "2026-01-01T00:00:01Z", "targetGeneration": 1}
            ]}),
        );
        let s = decide(&g, datetime!(2026-01-01 00:00:02 UTC), Some("carol"));
        assert_eq!(s.phase, Some(GatePhase::Waiting));
        let ready = s
            .conditions
            .iter()
            .find(|c| c.condition_type == "Ready")
            .unwrap();
        assert!(
            ready
                .message
                .as_deref()
                .unwrap()
                .contains("creator may not approve"),
            "{ready:?}"
        );
        let s = decide(&g, datetime!(2026-01-01 00:00:02 UTC), Some("dave"));
        assert_eq!(s.phase, Some(GatePhase::Approved));
    }
}
