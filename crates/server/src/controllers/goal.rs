//! The Goal controller: selects the Goal's active Plan and follows its Executions.
//!
//! **Selecting the Plan.** Candidates are the Plans in the Goal's namespace that its
//! `planSelector` matches (`matchLabels` and `matchExpressions`), or, without a selector, the
//! Plans whose `spec.goalRef` names the Goal. Only `Ready` Plans count. A candidate that
//! another candidate `supersedes` drops out; within a `series` the highest `version` wins
//! (dotted parts compared numerically where both are numbers); between what remains, the
//! newest Plan wins (creation time, then name, so the choice is deterministic) and the
//! condition says how many were considered.
//!
//! **Phase.** The newest Execution whose `goalRef` names the Goal decides: `Pending`/`Running`/
//! `Blocked` → `Executing`; `Succeeded` → `Succeeded`; `Failed` → `Failed`. Without an
//! Execution (or after a `Cancelled` one) the Goal is `Ready` when a Plan is selected, else
//! `Pending`; a Goal with a `timeout` that is still without a Plan when it runs out is `Failed`
//! (`NoPlanBeforeTimeout`). A new Execution after a terminal phase makes it `Executing` again.

use super::conditions::set_condition;
use super::{write_status, Reconciler, Requeue, Trigger};
use crate::api::params::ListOptions;
use crate::api::{clock::timestamp, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use async_trait::async_trait;
use planspec_model::execution::{Execution, ExecutionPhase};
use planspec_model::goal::{Goal, GoalPhase, GoalStatus};
use planspec_model::meta::{ConditionStatus, ObjectReference};
use planspec_model::plan::Plan;
use planspec_model::Kind;
use planspec_store::ObjectKey;
use serde_json::Value;
use std::cmp::Ordering;
use std::time::Duration;
use time::OffsetDateTime;

const GOAL: ResourceType = ResourceType::Kind(Kind::Goal);
const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);
const EXECUTION: ResourceType = ResourceType::Kind(Kind::Execution);

/// Keeps each Goal's `activePlanRef` and phase; see the module documentation.
#[derive(Debug, Default)]
pub struct GoalController;

#[async_trait]
impl Reconciler for GoalController {
    fn name(&self) -> &'static str {
        "goal"
    }

    fn resource(&self) -> ResourceType {
        GOAL
    }

    fn triggers(&self, key: &ObjectKey, object: &Value, out: &mut Vec<Trigger>) {
        match key.kind.as_str() {
            "Goal" => out.push(Trigger::Object(key.clone())),
            "Plan" => out.push(Trigger::Namespace(key.namespace.clone())),
            "Execution" => {
                if let Some(goal) = object.pointer("/spec/goalRef/name").and_then(Value::as_str) {
                    let ns = object
                        .pointer("/spec/goalRef/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(&key.namespace);
                    out.push(Trigger::Object(crate::api::key(GOAL, ns, goal)));
                }
            }
            _ => {}
        }
    }

    async fn reconcile(&self, api: &Api, key: &ObjectKey) -> Result<Requeue, Status> {
        let Some(current) = super::get_opt(api, GOAL, key).await? else {
            return Ok(Requeue::Never);
        };
        let Some(goal) = super::typed::<Goal>(&current, key) else {
            return Ok(Requeue::Never);
        };
        let plans = list_typed::<Plan>(api, PLAN, &key.namespace).await?;
        let executions = list_typed::<Execution>(api, EXECUTION, &key.namespace).await?;
        let now = api.now();
        let (status, requeue) = observe(&goal, &plans, &executions, now);
        write_status(api, GOAL, &current, &status).await?;
        Ok(requeue)
    }
}

async fn list_typed<T: serde::de::DeserializeOwned>(
    api: &Api,
    resource: ResourceType,
    namespace: &str,
) -> Result<Vec<T>, Status> {
    let page = api
        .list(resource, Some(namespace), &ListOptions::default())
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

/// The status `goal` should have given the Plans and Executions of its namespace, and when to
/// look again (a timeout still running).
pub fn observe(
    goal: &Goal,
    plans: &[Plan],
    executions: &[Execution],
    now: OffsetDateTime,
) -> (GoalStatus, Requeue) {
    let generation = goal.metadata.generation.unwrap_or(1);
    let stamp = timestamp(now);
    let mut status = goal.status.clone().unwrap_or_default();
    status.observed_generation = Some(generation);
    let namespace = goal.metadata.namespace.as_deref().unwrap_or("default");

    let candidates: Vec<&Plan> = plans
        .iter()
        .filter(|p| plan_is_ready(p) && selects(goal, p, namespace))
        .collect();
    let chosen = choose(&candidates);
    match chosen {
        Some(plan) => {
            status.active_plan_ref = Some(ObjectReference {
                name: plan.metadata.name.clone(),
                namespace: None,
                uid: plan.metadata.uid.clone(),
                api_version: None,
                kind: Some("Plan".into()),
            });
            let message = if candidates.len() > 1 {
                format!(
                    "selected {} of {} candidate plans",
                    &*plan.metadata.name,
                    candidates.len()
                )
            } else {
                format!("selected {}", &*plan.metadata.name)
            };
            set_condition(
                &mut status.conditions,
                "PlanResolved",
                ConditionStatus::True,
                "PlanFound",
                Some(message),
                Some(generation),
                &stamp,
            );
        }
        None => {
            let terminal = matches!(
                status.phase,
                Some(GoalPhase::Succeeded | GoalPhase::Failed | GoalPhase::Cancelled)
            );
            if !terminal {
                status.active_plan_ref = None;
            }
            set_condition(
                &mut status.conditions,
                "PlanResolved",
                ConditionStatus::False,
                "NoPlanFound",
                Some(if goal.spec.plan_selector.is_some() {
                    "no Ready plan matches planSelector".to_owned()
                } else {
                    "no Ready plan has a goalRef to this goal (and there is no planSelector)"
                        .to_owned()
                }),
                Some(generation),
                &stamp,
            );
        }
    }

    let mut requeue = Requeue::Never;
    let latest = executions
        .iter()
        .filter(|e| targets(e, goal, namespace))
        .max_by(|a, b| created(a).cmp(&created(b)));
    let latest_phase = latest.map(|e| {
        e.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(ExecutionPhase::Pending)
    });
    let phase = match latest_phase {
        Some(ExecutionPhase::Succeeded) => GoalPhase::Succeeded,
        Some(ExecutionPhase::Failed) => GoalPhase::Failed,
        Some(ExecutionPhase::Pending | ExecutionPhase::Running | ExecutionPhase::Blocked) => {
            GoalPhase::Executing
        }
        Some(ExecutionPhase::Cancelled) | None if chosen.is_some() => GoalPhase::Ready,
        Some(ExecutionPhase::Cancelled) => GoalPhase::Pending,
        None => match deadline(goal) {
            Some(deadline) if now >= deadline => GoalPhase::Failed,
            Some(deadline) => {
                let left = (deadline - now).unsigned_abs();
                requeue = Requeue::After(left + Duration::from_millis(10));
                GoalPhase::Pending
            }
            None => GoalPhase::Pending,
        },
    };
    if let Some(e) = latest {
        let exec_phase = e
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "Pending".into());
        set_condition(
            &mut status.conditions,
            "Executing",
            if phase == GoalPhase::Executing {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            &format!("Execution{exec_phase}"),
            Some(format!("execution {} is {exec_phase}", &*e.metadata.name)),
            Some(generation),
            &stamp,
        );
    }
    if phase == GoalPhase::Failed && latest.is_none() {
        set_condition(
            &mut status.conditions,
            "Failed",
            ConditionStatus::True,
            "NoPlanBeforeTimeout",
            Some(format!(
                "no plan was found within the goal's timeout ({})",
                goal.spec.timeout.as_deref().unwrap_or("")
            )),
            Some(generation),
            &stamp,
        );
    }
    status.phase = Some(phase);
    (status, requeue)
}

fn plan_is_ready(plan: &Plan) -> bool {
    use planspec_model::plan::PlanPhase;
    plan.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_none_or(|p| p == PlanPhase::Ready)
}

fn selects(goal: &Goal, plan: &Plan, namespace: &str) -> bool {
    match &goal.spec.plan_selector {
        Some(selector) => selector.matches(&plan.metadata.labels),
        None => plan.spec.goal_ref.as_ref().is_some_and(|r| {
            *r.name == *goal.metadata.name
                && r.namespace.as_deref().unwrap_or(namespace) == namespace
        }),
    }
}

fn targets(execution: &Execution, goal: &Goal, namespace: &str) -> bool {
    execution.spec.goal_ref.as_ref().is_some_and(|r| {
        *r.name == *goal.metadata.name && r.namespace.as_deref().unwrap_or(namespace) == namespace
    })
}

fn created(execution: &Execution) -> (String, String) {
    (
        execution
            .metadata
            .creation_timestamp
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        execution.metadata.name.to_string(),
    )
}

fn deadline(goal: &Goal) -> Option<OffsetDateTime> {
    let timeout = goal.spec.timeout.as_deref()?;
    let created = goal.metadata.creation_timestamp.as_deref()?;
    let created =
        OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).ok()?;
    let duration = planspec_model::common::parse_go_duration(timeout)?;
    Some(created + duration)
}

/// The Plan the Goal should use among `candidates` (see the module documentation).
fn choose<'p>(candidates: &[&'p Plan]) -> Option<&'p Plan> {
    let superseded = |p: &Plan| {
        candidates.iter().any(|other| {
            other
                .spec
                .supersedes
                .iter()
                .any(|r| *r.name == *p.metadata.name)
        })
    };
    let live: Vec<&Plan> = candidates
        .iter()
        .copied()
        .filter(|p| !superseded(p))
        .collect();
    // Best of each series; plans without a series stand alone.
    let mut best: Vec<&Plan> = Vec::new();
    for plan in live {
        match plan.spec.series.as_deref() {
            Some(series) => {
                match best
                    .iter_mut()
                    .find(|b| b.spec.series.as_deref() == Some(series))
                {
                    Some(slot) => {
                        if compare_versions(
                            plan.spec.version.as_deref().unwrap_or(""),
                            slot.spec.version.as_deref().unwrap_or(""),
                        ) == Ordering::Greater
                        {
                            *slot = plan;
                        }
                    }
                    None => best.push(plan),
                }
            }
            None => best.push(plan),
        }
    }
    best.into_iter().max_by(|a, b| {
        let key = |p: &Plan| {
            (
                p.metadata
                    .creation_timestamp
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
                p.metadata.name.to_string(),
            )
        };
        key(a).cmp(&key(b))
    })
}

/// Compares versions part by part (`.`, `-`, `+` separate parts; a leading `v` is ignored):
/// numbers numerically, anything else as text; a longer version with equal prefix is greater.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parts(v: &str) -> Vec<&str> {
        v.strip_prefix('v')
            .unwrap_or(v)
            .split(['.', '-', '+'])
            .collect()
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_part_wise() {
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("v2", "1.99"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("1.0", "1.0"), Ordering::Equal);
    }
}
