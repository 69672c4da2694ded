//! The Binding controller: how much of the work in reach a Binding can assign, by the
//! upstream precedence rules (`planspec_model::binding::resolve_plan` — the same resolver the
//! validator and the runtime use).
//!
//! **Reach.** A Binding is considered for the `Ready` Plans of its namespace that at least one
//! of its rules matches (some node comes out bound or in conflict), and for the Plans of the
//! Executions that name it (`bindingRef` or `nodeBindings`). Plans it does not reach do not make
//! it look unbound.
//!
//! **Status.** `totalCount`/`boundCount` count capability uses (a Task node times each
//! capability it needs); `unboundCapabilities` lists the uses left unbound or in conflict;
//! `phase` is `Ready` when everything in reach is bound, `Unresolved` when nothing is (and
//! something is needed), `PartiallyBound` otherwise. Conflicts (`ErrorOnConflict`,
//! `MostSpecific` ties) are the condition `Conflict=True` naming the plan, node and rules.

use super::conditions::set_condition;
use super::{write_status, Reconciler, Requeue, Trigger};
use crate::api::params::ListOptions;
use crate::api::{clock::timestamp, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use async_trait::async_trait;
use planspec_model::binding::{resolve_plan, Binding, BindingPhase, BindingStatus, Resolution};
use planspec_model::execution::Execution;
use planspec_model::meta::ConditionStatus;
use planspec_model::plan::Plan;
use planspec_model::Kind;
use planspec_store::ObjectKey;
use serde_json::Value;

const BINDING: ResourceType = ResourceType::Kind(Kind::Binding);
const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);
const EXECUTION: ResourceType = ResourceType::Kind(Kind::Execution);

/// Keeps each Binding's resolution status; see the module documentation.
#[derive(Debug, Default)]
pub struct BindingController;

#[async_trait]
impl Reconciler for BindingController {
    fn name(&self) -> &'static str {
        "binding"
    }

    fn resource(&self) -> ResourceType {
        BINDING
    }

    fn triggers(&self, key: &ObjectKey, _object: &Value, out: &mut Vec<Trigger>) {
        match key.kind.as_str() {
            "Binding" => out.push(Trigger::Object(key.clone())),
            "Plan" | "Capability" | "Execution" => {
                out.push(Trigger::Namespace(key.namespace.clone()))
            }
            _ => {}
        }
    }

    async fn reconcile(&self, api: &Api, key: &ObjectKey) -> Result<Requeue, Status> {
        let Some(current) = super::get_opt(api, BINDING, key).await? else {
            return Ok(Requeue::Never);
        };
        let Some(binding) = super::typed::<Binding>(&current, key) else {
            return Ok(Requeue::Never);
        };
        let options = ListOptions::default();
        let plans: Vec<Plan> =
            typed_items(api.list(PLAN, Some(&key.namespace), &options).await?.items);
        let executions: Vec<Execution> = typed_items(
            api.list(EXECUTION, Some(&key.namespace), &options)
                .await?
                .items,
        );
        let status = observe(&binding, &plans, &executions, &timestamp(api.now()));
        write_status(api, BINDING, &current, &status).await?;
        Ok(Requeue::Never)
    }
}

fn typed_items<T: serde::de::DeserializeOwned>(items: Vec<Value>) -> Vec<T> {
    items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect()
}

/// The status `binding` should have, given the Plans and Executions of its namespace.
pub fn observe(
    binding: &Binding,
    plans: &[Plan],
    executions: &[Execution],
    now: &str,
) -> BindingStatus {
    let generation = binding.metadata.generation.unwrap_or(1);
    let name = &*binding.metadata.name;
    let named_by_execution = |plan: &Plan| {
        executions.iter().any(|e| {
            *e.spec.plan_ref.name == *plan.metadata.name
                && (e
                    .spec
                    .binding_ref
                    .as_ref()
                    .is_some_and(|r| *r.name == *name)
                    || e.spec.node_bindings.values().any(|r| *r.name == *name))
        })
    };
    let mut status = binding.status.clone().unwrap_or_default();
    let (mut total, mut bound) = (0usize, 0usize);
    let mut unbound = Vec::new();
    let mut conflicts = Vec::new();
    let mut plans_in_reach = 0;
    for plan in plans {
        let ready = plan
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_none_or(|p| p == planspec_model::plan::PlanPhase::Ready);
        if !ready {
            continue;
        }
        let resolution = resolve_plan(binding, plan);
        let reached = resolution
            .nodes
            .iter()
            .any(|n| !matches!(n.resolution, Resolution::Unbound { .. }));
        if !reached && !named_by_execution(plan) {
            continue;
        }
        plans_in_reach += 1;
        total += resolution.total_count();
        bound += resolution.bound_count();
        for mut u in resolution.unbound_capabilities() {
            u.message = Some(format!(
                "plan {}: {}",
                &*plan.metadata.name,
                u.message.unwrap_or_default()
            ));
            unbound.push(u);
        }
        for n in &resolution.nodes {
            if let Resolution::Conflict { rules } = &n.resolution {
                conflicts.push(format!(
                    "plan {} node {}: rules {:?} tie",
                    &*plan.metadata.name, &**n.node_id, rules
                ));
            }
        }
    }
    unbound.truncate(100);
    status.total_count = Some(u32::try_from(total).unwrap_or(u32::MAX));
    status.bound_count = Some(u32::try_from(bound).unwrap_or(u32::MAX));
    status.unbound_capabilities = unbound;
    status.observed_generation = Some(generation);
    let phase = if bound == total {
        BindingPhase::Ready
    } else if bound == 0 {
        BindingPhase::Unresolved
    } else {
        BindingPhase::PartiallyBound
    };
    status.phase = Some(phase);
    let message = format!(
        "{bound} of {total} capability uses bound across {plans_in_reach} plan(s) in reach"
    );
    let (cond, reason) = match phase {
        BindingPhase::Ready => (ConditionStatus::True, "AllBound"),
        BindingPhase::PartiallyBound => (ConditionStatus::False, "PartiallyBound"),
        BindingPhase::Unresolved => (ConditionStatus::False, "NothingBound"),
    };
    set_condition(
        &mut status.conditions,
        "Resolved",
        cond,
        reason,
        Some(message),
        Some(generation),
        now,
    );
    if conflicts.is_empty() {
        set_condition(
            &mut status.conditions,
            "Conflict",
            ConditionStatus::False,
            "NoConflict",
            None,
            Some(generation),
            now,
        );
    } else {
        let more = conflicts.len().saturating_sub(10);
        conflicts.truncate(10);
        let mut message = conflicts.join("; ");
        if more > 0 {
            message.push_str(&format!("; and {more} more"));
        }
        set_condition(
            &mut status.conditions,
            "Conflict",
            ConditionStatus::True,
            "ConflictingRules",
            Some(message),
            Some(generation),
            now,
        );
    }
    status
}
