//! What an Execution runs, pinned when it starts: the Plan and Goal as they are now, and the
//! provider of every Task node.
//!
//! **Bindings.** A node's Binding is `spec.nodeBindings[node]` if set, else `spec.bindingRef`;
//! an Execution without either uses the namespace's Binding if there is exactly one (so a
//! namespace with one set of rules needs no reference), and otherwise has no Binding. Each
//! Task is resolved by the upstream precedence rules (`planspec_model::binding`) and its
//! target checked by the [`ProviderRegistry`]. Any Task left unbound, in conflict, or bound to
//! a provider this runtime does not have fails the Execution before anything runs, naming
//! every such node — a run never stops halfway for a binding it could have checked at start.
//!
//! The pinned record (`{plan, goal, providers}`) is the `pinned` field of the journal's first
//! entry: recovery and replay rebuild the graph from it, never from the objects as they are
//! later.

use super::trusted::{self, ProviderProblem, TrustContext};
use super::Shared;
use crate::provider::resource::provider_target;
use crate::provider::PinnedProvider;
use planspec_engine::{compile, ExecGraph, ReasonCode};
use planspec_model::binding::{binding_ref_for, resolve, Binding, Resolution};
use planspec_model::execution::Execution as ExecutionResource;
use planspec_model::goal::Goal;
use planspec_model::plan::{Node, Plan};
use planspec_store::{ListQuery, ObjectKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Why an Execution could not start: a reason code and a message for its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartFailure {
    pub(crate) reason: ReasonCode,
    pub(crate) message: String,
}

impl StartFailure {
    fn new(reason: ReasonCode, message: impl Into<String>) -> StartFailure {
        StartFailure {
            reason,
            message: message.into(),
        }
    }
}

/// The pinned record, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pinned {
    /// The Plan object at start.
    pub(crate) plan: Value,
    /// The Goal object at start, if the Execution names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) goal: Option<Value>,
    /// Each Task node's provider, and each Placeholder's resolver (bound like a Task needing
    /// its `resolverRef` Capability), by node id.
    #[serde(default)]
    pub(crate) providers: BTreeMap<String, PinnedProvider>,
    /// The sub-plans of the `Plan` nodes, by node id, pinned down the whole tree when the
    /// root started (see `subplan.rs`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) subplans: BTreeMap<String, super::subplan::PinnedSubplan>,
}

impl Pinned {
    /// The graph this record compiles to.
    pub(crate) fn compile(&self) -> Result<ExecGraph, StartFailure> {
        let plan: Plan = serde_json::from_value(self.plan.clone()).map_err(|e| {
            StartFailure::new(
                ReasonCode::PlanInvalid,
                format!("the pinned plan does not parse: {e}"),
            )
        })?;
        let goal: Option<Goal> = match &self.goal {
            Some(g) => Some(serde_json::from_value(g.clone()).map_err(|e| {
                StartFailure::new(
                    ReasonCode::GoalInvalid,
                    format!("the pinned goal does not parse: {e}"),
                )
            })?),
            None => None,
        };
        compile(&plan, goal.as_ref()).map_err(|e| {
            StartFailure::new(ReasonCode::PlanInvalid, format!("the plan cannot run: {e}"))
        })
    }
}

/// Reads the Plan, Goal and Bindings of `execution` and pins them.
pub(crate) async fn pin(
    shared: &Shared,
    key: &ObjectKey,
    execution: &ExecutionResource,
) -> Result<(Pinned, ExecGraph), StartFailure> {
    // A child Execution runs what its parent pinned for it.
    if let Some(pinned) = super::subplan::pin_child(shared, key).await {
        return pinned;
    }
    let ns = key.namespace.as_str();
    let plan_ns = execution.spec.plan_ref.namespace.as_deref().unwrap_or(ns);
    let plan_name = &*execution.spec.plan_ref.name;
    let plan_object = get(shared, "Plan", plan_ns, plan_name)
        .await?
        .ok_or_else(|| {
            StartFailure::new(
                ReasonCode::PlanNotFound,
                format!("plan {plan_ns}/{plan_name} does not exist"),
            )
        })?;
    if plan_object.pointer("/status/phase").and_then(Value::as_str) == Some("Invalid") {
        return Err(StartFailure::new(
            ReasonCode::PlanInvalid,
            format!("plan {plan_name} is Invalid (see its conditions)"),
        ));
    }
    if let Some(uid) = &execution.spec.plan_ref.uid {
        let actual = plan_object.pointer("/metadata/uid").and_then(Value::as_str);
        if actual != Some(uid.as_str()) {
            return Err(StartFailure::new(
                ReasonCode::PlanNotFound,
                format!("plan {plan_name} has uid {actual:?}, the execution asks for {uid}"),
            ));
        }
    }
    let plan: Plan = serde_json::from_value(plan_object.clone()).map_err(|e| {
        StartFailure::new(ReasonCode::PlanInvalid, format!("plan {plan_name}: {e}"))
    })?;
    let goal_object = match &execution.spec.goal_ref {
        Some(r) => {
            let goal_ns = r.namespace.as_deref().unwrap_or(ns);
            Some(
                get(shared, "Goal", goal_ns, &r.name)
                    .await?
                    .ok_or_else(|| {
                        StartFailure::new(
                            ReasonCode::GoalNotFound,
                            format!("goal {goal_ns}/{} does not exist", &*r.name),
                        )
                    })?,
            )
        }
        None => None,
    };
    let goal: Option<Goal> = match &goal_object {
        Some(g) => Some(
            serde_json::from_value(g.clone())
                .map_err(|e| StartFailure::new(ReasonCode::GoalInvalid, format!("goal: {e}")))?,
        ),
        None => None,
    };
    let plan_uid = plan_object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let subplans = super::subplan::pin_tree(
        shared,
        ns,
        execution,
        plan_ns,
        &plan,
        &plan_uid,
        goal.as_ref(),
    )
    .await?;
    let providers = pin_providers(shared, ns, execution, &plan).await?;
    let pinned = Pinned {
        plan: plan_object,
        goal: goal_object,
        providers,
        subplans,
    };
    let graph = pinned.compile()?;
    Ok((pinned, graph))
}

pub(super) async fn pin_providers(
    shared: &Shared,
    ns: &str,
    execution: &ExecutionResource,
    plan: &Plan,
) -> Result<BTreeMap<String, PinnedProvider>, StartFailure> {
    // A Placeholder's `resolverRef` is bound like a Task needing that one Capability.
    let resolvers = super::placeholder::resolver_subjects(plan);
    let tasks: Vec<&Node> = plan
        .spec
        .nodes()
        .iter()
        .filter(|n| matches!(n, Node::Task(_)))
        .chain(resolvers.iter())
        .collect();
    let mut providers = BTreeMap::new();
    if tasks.is_empty() {
        return Ok(providers);
    }
    // The namespace's only Binding serves an Execution that names none.
    let implicit = if execution.spec.binding_ref.is_none() {
        let page = shared
            .store
            .list(&ListQuery::in_namespace("Binding", ns))
            .await
            .map_err(|e| StartFailure::new(ReasonCode::StoreUnavailable, e.to_string()))?;
        (page.items.len() == 1).then(|| page.items[0].key.name.clone())
    } else {
        None
    };
    let mut bindings: BTreeMap<String, Option<Binding>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut untrusted = Vec::new();
    let mut trust = TrustContext::new();
    for node in tasks {
        let id = node.id().to_string();
        let binding_name = match binding_ref_for(&execution.spec, &id) {
            Some(r) => Some(r.name.to_string()),
            None => implicit.clone(),
        };
        let Some(binding_name) = binding_name else {
            problems.push(format!("{id}: no Binding (set spec.bindingRef)"));
            continue;
        };
        if !bindings.contains_key(&binding_name) {
            let object = get(shared, "Binding", ns, &binding_name).await?;
            let binding = match object {
                Some(o) => Some(serde_json::from_value::<Binding>(o).map_err(|e| {
                    StartFailure::new(
                        ReasonCode::BindingInvalid,
                        format!("binding {binding_name}: {e}"),
                    )
                })?),
                None => None,
            };
            bindings.insert(binding_name.clone(), binding);
        }
        let Some(Some(binding)) = bindings.get(&binding_name) else {
            problems.push(format!("{id}: binding {binding_name} does not exist"));
            continue;
        };
        match resolve(binding, plan, node) {
            Resolution::Bound { target, .. } => match provider_target(target) {
                Some(Ok(name)) => match trusted::pin_named(shared, ns, &name, &mut trust)
                    .await
                    .map_err(|e| StartFailure::new(ReasonCode::StoreUnavailable, e.to_string()))?
                {
                    Ok(pinned) => {
                        providers.insert(id, pinned);
                    }
                    Err(ProviderProblem::Untrusted(p)) => untrusted.push(format!("{id}: {p}")),
                    Err(ProviderProblem::Unusable(p)) => problems.push(format!("{id}: {p}")),
                },
                Some(Err(p)) => problems.push(format!("{id}: {p}")),
                None => match shared.registry.resolve(target) {
                    Ok(pinned) => {
                        providers.insert(id, pinned);
                    }
                    Err(e) => problems.push(format!("{id}: {e}")),
                },
            },
            Resolution::Unbound { reason } => problems.push(format!(
                "{id}: no rule of binding {binding_name} matches ({})",
                reason.as_str()
            )),
            Resolution::Conflict { rules } => problems.push(format!(
                "{id}: rules {rules:?} of binding {binding_name} tie with different targets"
            )),
        }
    }
    if !untrusted.is_empty() {
        let count = untrusted.len();
        untrusted.extend(problems);
        untrusted.truncate(20);
        return Err(StartFailure::new(
            ReasonCode::ProviderUntrusted,
            format!(
                "{count} task node(s) are bound to an unverified Provider: {}",
                untrusted.join("; ")
            ),
        ));
    }
    if problems.is_empty() {
        Ok(providers)
    } else {
        let count = problems.len();
        problems.truncate(20);
        Err(StartFailure::new(
            ReasonCode::ProviderUnbound,
            format!(
                "{count} task node(s) have no usable provider: {}",
                problems.join("; ")
            ),
        ))
    }
}

async fn get(
    shared: &Shared,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, StartFailure> {
    shared
        .store
        .get(&ObjectKey::new(kind, namespace, name))
        .await
        .map(|o| o.map(|o| o.object))
        .map_err(|e| StartFailure::new(ReasonCode::StoreUnavailable, e.to_string()))
}
