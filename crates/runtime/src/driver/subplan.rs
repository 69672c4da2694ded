//! Sub-plans: `Plan` nodes run another Plan as a child Execution.
//!
//! **Pinning the tree at start.** When a root Execution starts, every `Plan` node of its Plan
//! is resolved, and so on down (at most [`MAX_SUBPLAN_DEPTH`] levels below the root): a
//! `planRef.name` names the Plan; `planRef.series` with a semver `version` range (`^2`,
//! `~1.4`, `>=1.2, <2`; none: any) picks the highest version of the series in the namespace
//! (Plans whose `spec.version` is not semver — a leading `v` is allowed — are skipped; equal
//! versions: the first by name). Each pin records the Plan's name, namespace, uid, version,
//! the digest of its graph (compiled with the root's Goal), the Plan object itself and its
//! Tasks' providers (bound through the root's Binding, as the root's own Tasks are, without
//! `nodeBindings`), and is journaled in the root's `ExecutionStarted.pinned.subplans` (by node
//! id, nested). A Task of the tree left unbound fails the root (`provider_unbound`, naming the
//! sub-plan and its path) before anything runs. The same
//! Plan uid twice on one path is `subplan_cycle`, nesting deeper is
//! `subplan_depth_exceeded`, a reference that resolves to nothing is `subplan_not_found`:
//! the root fails before anything runs, and the message gives the path. A Plan applied later
//! (a newer version of the series) or a Binding edited later changes nothing for the run.
//!
//! **Children.** `StartChild` creates the child Execution idempotently: its name is
//! `<parent>-<node>` (`-<attempt>` after the first attempt, cut to 63 characters with a hash),
//! its uid derived from the parent's uid, node and attempt; it is owned by the parent
//! (`ownerReferences`, `controller: true`, so deleting the parent deletes it), labelled
//! `planspec.io/parent-execution`, `planspec.io/parent-node`, `planspec.io/parent-attempt` and
//! `planspec.io/depth` (a store failure other than "exists" is retried with backoff, then
//! fails the node with `subplan_failed`), and
//! carries the parent's creator, `goalRef` and `bindingRef` (not `nodeBindings`, which name
//! the parent's nodes) and the node's interpolated `inputs` as `spec.parameters`. The child's
//! driver pins the Plan from the parent's journal (never the live Plan), checks its digest,
//! takes the parent's pinned Goal and the providers pinned for it, resolves the Policies of its
//! namespace at its own start, and passes the rest of the tree down. The parent watches the child; once it has finished, `ChildFinished` carries its
//! phase, reason, message and outputs (`{<child node id>: {outputs…}}` for each child node
//! that succeeded with outputs; past the run's `max_output_bytes` reading stops and the end is
//! reported as `outputs_too_large`, without outputs). A restart finds the child by name and
//! picks up its end. An Execution that only poses as a child (see [`pin_child`]) fails with
//! `subplan_forbidden`, as does a tree with a Plan the root's creator may not `execute`
//! (checked with [`PlanAuthorizer`] when the tree is pinned).
//! `CancelChild` and `Kill` (a forced cancel, a `timeout`, the deadline) cancel the child.

use super::execution::{Driver, Msg};
use super::start::{pin_providers, Pinned, StartFailure};
use super::{now_ms, Shared};
use crate::provider::PinnedProvider;
use planspec_engine::{compile, ExecGraph, Input, ReasonCode};
use planspec_model::actor::{UserInfo, SYSTEM_CONTROL_PLANE};
use planspec_model::execution::{Execution as ExecutionResource, ExecutionPhase};
use planspec_model::goal::Goal;
use planspec_model::plan::{Node, Plan, PlanReference, MAX_SUBPLAN_DEPTH};
use planspec_store::{ListQuery, NodeRecordQuery, ObjectKey, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// Label on a child Execution: the parent Execution's name.
pub const PARENT_EXECUTION_LABEL: &str = "planspec.io/parent-execution";
/// Label on a child Execution: the parent's `Plan` node.
pub const PARENT_NODE_LABEL: &str = "planspec.io/parent-node";
/// Label on a child Execution: the attempt of the parent's node it runs (absent: the first).
pub const PARENT_ATTEMPT_LABEL: &str = "planspec.io/parent-attempt";
/// Label on a child Execution: how deep below the root it runs (`1` for a root's child).
pub const DEPTH_LABEL: &str = "planspec.io/depth";

/// How many times creating a child Execution is tried before its node fails.
const CHILD_CREATE_TRIES: u32 = 6;
/// The wait after the first failed try (doubled after each: 0.1 s … 1.6 s, 3.1 s in all).
const CHILD_CREATE_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// A sub-plan pinned when the root Execution started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PinnedSubplan {
    /// The Plan's name.
    pub(crate) name: String,
    /// Its namespace.
    pub(crate) namespace: String,
    /// Its uid.
    pub(crate) uid: String,
    /// Its `spec.version`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    /// The digest of its execution graph (compiled with the root's Goal).
    pub(crate) graph_digest: String,
    /// The Plan object as it was.
    pub(crate) plan: Value,
    /// Its Task nodes' providers, resolved with the root's Binding.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) providers: BTreeMap<String, PinnedProvider>,
    /// Its own `Plan` nodes' sub-plans, by node id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) subplans: BTreeMap<String, PinnedSubplan>,
}

/// Whether a user may `execute` a Plan (the API server's RBAC), asked for every Plan of a
/// sub-plan tree at the root's start.
pub trait PlanAuthorizer: Send + Sync + std::fmt::Debug {
    /// `true` when `user` may `execute` the Plan `namespace/plan`.
    fn may_execute<'a>(
        &'a self,
        user: &'a UserInfo,
        namespace: &'a str,
        plan: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}

/// One step of the path from the root: a Plan (name, uid) reached through a node.
#[derive(Debug, Clone)]
struct Hop {
    node: Option<String>,
    plan: String,
    uid: String,
}

fn path_text(path: &[Hop]) -> String {
    path.iter()
        .map(|h| match &h.node {
            Some(node) => format!("(node {node}) plan {}", h.plan),
            None => format!("plan {}", h.plan),
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

/// What every level of the tree is pinned with: the root's namespace, Goal, and the
/// Execution the sub-plans' Tasks are bound through (the root's, without its
/// `nodeBindings`, which name the root's nodes).
struct TreeContext<'a> {
    shared: &'a Shared,
    execution_ns: &'a str,
    execution: ExecutionResource,
    goal: Option<&'a Goal>,
    /// The root's creator, when `execute` is checked on each Plan of the tree.
    creator: Option<UserInfo>,
}

/// Resolves and pins every sub-plan below `plan` (the root's), recursively, with its Tasks'
/// providers (bound through `execution`'s Binding).
pub(crate) async fn pin_tree(
    shared: &Shared,
    execution_ns: &str,
    execution: &ExecutionResource,
    plan_ns: &str,
    plan: &Plan,
    plan_uid: &str,
    goal: Option<&Goal>,
) -> Result<BTreeMap<String, PinnedSubplan>, StartFailure> {
    let root = Hop {
        node: None,
        plan: plan.metadata.name.to_string(),
        uid: plan_uid.to_owned(),
    };
    let creator = serde_json::to_value(execution)
        .ok()
        .and_then(|e| crate::governance::creator_of(&e))
        .filter(|c| c.username != SYSTEM_CONTROL_PLANE);
    let mut execution = execution.clone();
    execution.spec.node_bindings.clear();
    let context = TreeContext {
        shared,
        execution_ns,
        execution,
        goal,
        creator,
    };
    pin_level(&context, plan_ns, plan, vec![root]).await
}

type Level<'a> = Pin<
    Box<dyn Future<Output = Result<BTreeMap<String, PinnedSubplan>, StartFailure>> + Send + 'a>,
>;

fn pin_level<'a>(
    context: &'a TreeContext<'a>,
    namespace: &'a str,
    plan: &'a Plan,
    path: Vec<Hop>,
) -> Level<'a> {
    let (shared, goal) = (context.shared, context.goal);
    Box::pin(async move {
        let mut pins = BTreeMap::new();
        let graph = plan.spec.effective_graph();
        for node in &graph.nodes {
            let Node::Plan(p) = node else {
                continue;
            };
            let node_id = p.id.to_string();
            let ns = p
                .plan_ref
                .namespace
                .as_deref()
                .unwrap_or(namespace)
                .to_owned();
            let mut here = path.clone();
            let at = |here: &[Hop]| {
                let mut text = path_text(here);
                text.push_str(&format!(" → (node {node_id})"));
                text
            };
            let depth = u32::try_from(path.len()).unwrap_or(u32::MAX);
            if depth > MAX_SUBPLAN_DEPTH {
                return Err(StartFailure {
                    reason: ReasonCode::SubplanDepthExceeded,
                    message: format!(
                        "sub-plans nest deeper than {MAX_SUBPLAN_DEPTH} levels: {}",
                        at(&here)
                    ),
                });
            }
            let object = resolve(&*shared.store, &ns, &p.plan_ref)
                .await?
                .ok_or_else(|| StartFailure {
                    reason: ReasonCode::SubplanNotFound,
                    message: format!(
                        "{} names no plan ({}): {}",
                        node_id,
                        describe_ref(&p.plan_ref, &ns),
                        at(&here)
                    ),
                })?;
            let child: Plan = serde_json::from_value(object.clone()).map_err(|e| StartFailure {
                reason: ReasonCode::PlanInvalid,
                message: format!("sub-plan of node {node_id}: {e}"),
            })?;
            let uid = object
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let name = child.metadata.name.to_string();
            if let (Some(authorizer), Some(creator)) = (
                shared.options.plan_authorizer.as_ref(),
                context.creator.as_ref(),
            ) {
                if !authorizer.may_execute(creator, &ns, &name).await {
                    let mut here = here.clone();
                    here.push(Hop {
                        node: Some(node_id.clone()),
                        plan: name.clone(),
                        uid: uid.clone(),
                    });
                    return Err(StartFailure {
                        reason: ReasonCode::SubplanForbidden,
                        message: format!(
                            "user {:?} may not execute plan {ns}/{name}, which this run would run as a sub-plan: {}",
                            creator.username,
                            path_text(&here)
                        ),
                    });
                }
            }
            let cycle = path.iter().any(|h| h.uid == uid);
            here.push(Hop {
                node: Some(node_id.clone()),
                plan: name.clone(),
                uid: uid.clone(),
            });
            if cycle {
                return Err(StartFailure {
                    reason: ReasonCode::SubplanCycle,
                    message: format!("sub-plans run each other: {}", path_text(&here)),
                });
            }
            if object.pointer("/status/phase").and_then(Value::as_str) == Some("Invalid") {
                return Err(StartFailure {
                    reason: ReasonCode::PlanInvalid,
                    message: format!("sub-plan {name} is Invalid: {}", path_text(&here)),
                });
            }
            let digest = compile(&child, goal)
                .map_err(|e| StartFailure {
                    reason: ReasonCode::PlanInvalid,
                    message: format!("sub-plan {name} cannot run ({}): {e}", path_text(&here)),
                })?
                .digest()
                .to_owned();
            // Bound now, so a Binding edited mid-run changes nothing, and a Task of the
            // tree that no rule binds fails the root before anything runs.
            let providers = pin_providers(shared, context.execution_ns, &context.execution, &child)
                .await
                .map_err(|f| StartFailure {
                    reason: f.reason,
                    message: format!("sub-plan {name} ({}): {}", path_text(&here), f.message),
                })?;
            let subplans = pin_level(context, &ns, &child, here).await?;
            pins.insert(
                node_id,
                PinnedSubplan {
                    name,
                    namespace: ns,
                    uid,
                    version: child.spec.version.clone(),
                    graph_digest: digest,
                    plan: object,
                    providers,
                    subplans,
                },
            );
        }
        Ok(pins)
    })
}

fn describe_ref(r: &PlanReference, ns: &str) -> String {
    match (&r.name, &r.series) {
        (Some(name), _) => format!("{ns}/{name}"),
        (None, Some(series)) => format!(
            "series {series} version {} in {ns}",
            r.version.as_deref().unwrap_or("*")
        ),
        (None, None) => "neither name nor series".to_owned(),
    }
}

fn store_failure(e: StoreError) -> StartFailure {
    StartFailure {
        reason: ReasonCode::StoreUnavailable,
        message: e.to_string(),
    }
}

/// The Plan object a reference resolves to now, if any.
async fn resolve(
    store: &dyn Store,
    ns: &str,
    r: &PlanReference,
) -> Result<Option<Value>, StartFailure> {
    if let Some(name) = &r.name {
        return store
            .get(&ObjectKey::new("Plan", ns, name.to_string()))
            .await
            .map(|o| o.map(|o| o.object))
            .map_err(store_failure);
    }
    let Some(series) = &r.series else {
        return Ok(None);
    };
    let range = match r.version.as_deref() {
        Some(text) => semver::VersionReq::parse(text).map_err(|e| StartFailure {
            reason: ReasonCode::PlanInvalid,
            message: format!("planRef.version `{text}` is not a semver range: {e}"),
        })?,
        None => semver::VersionReq::STAR,
    };
    let page = store
        .list(&ListQuery::in_namespace("Plan", ns))
        .await
        .map_err(store_failure)?;
    Ok(pick_version(
        page.items.into_iter().map(|o| o.object),
        series,
        &range,
    ))
}

/// Every Plan the `Plan` nodes below `plan` (in `namespace`) resolve to now, as
/// `(namespace, name)`, each once, in the order met (depth first): what a root Execution of
/// `plan` would pin at its start, for the API server's `execute` check at admission. A
/// reference that resolves to nothing, a cycle or nesting beyond [`MAX_SUBPLAN_DEPTH`] is
/// not followed (the start fails on it); a store error is returned.
pub async fn tree_plans(
    store: &dyn Store,
    namespace: &str,
    plan: &Value,
) -> Result<Vec<(String, String)>, String> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // (namespace, plan object, depth below the root)
    let mut stack: Vec<(String, Value, u32)> = vec![(namespace.to_owned(), plan.clone(), 0)];
    while let Some((ns, object, depth)) = stack.pop() {
        if depth > MAX_SUBPLAN_DEPTH {
            continue;
        }
        let Ok(parsed) = serde_json::from_value::<Plan>(object) else {
            continue;
        };
        let graph = parsed.spec.effective_graph();
        let mut next = Vec::new();
        for node in &graph.nodes {
            let Node::Plan(p) = node else {
                continue;
            };
            let child_ns = p.plan_ref.namespace.as_deref().unwrap_or(&ns).to_owned();
            let child = match resolve(store, &child_ns, &p.plan_ref).await {
                Ok(Some(child)) => child,
                Ok(None) => continue,
                Err(f) if f.reason == ReasonCode::StoreUnavailable => return Err(f.message),
                Err(_) => continue,
            };
            let name = child
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if seen.insert((child_ns.clone(), name.clone())) {
                found.push((child_ns.clone(), name));
                next.push((child_ns, child, depth + 1));
            }
        }
        stack.extend(next.into_iter().rev());
    }
    Ok(found)
}

/// The Plan of `series` with the highest semver `spec.version` matching `range` (ties: the
/// first by name); Plans whose version is not semver are skipped.
pub(crate) fn pick_version(
    plans: impl Iterator<Item = Value>,
    series: &str,
    range: &semver::VersionReq,
) -> Option<Value> {
    let mut best: Option<(semver::Version, String, Value)> = None;
    for plan in plans {
        if plan.pointer("/spec/series").and_then(Value::as_str) != Some(series) {
            continue;
        }
        let Some(version) = plan
            .pointer("/spec/version")
            .and_then(Value::as_str)
            .and_then(parse_version)
        else {
            continue;
        };
        if !range.matches(&version) {
            continue;
        }
        let name = plan
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let better = match &best {
            None => true,
            Some((v, n, _)) => version > *v || (version == *v && name < *n),
        };
        if better {
            best = Some((version, name, plan));
        }
    }
    best.map(|(_, _, plan)| plan)
}

/// A semver version, with an optional leading `v`.
fn parse_version(text: &str) -> Option<semver::Version> {
    semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).ok()
}

/// Where a child Execution comes from: its parent's name, uid, node and attempt.
struct Parentage {
    name: String,
    uid: String,
    node: String,
    attempt: u32,
}

fn forged(message: String) -> StartFailure {
    StartFailure {
        reason: ReasonCode::SubplanForbidden,
        message,
    }
}

/// Whether `object` claims to be a child Execution (any parent label, or an Execution as its
/// controller owner).
fn claims_parent(object: &Value) -> bool {
    let labels = object.pointer("/metadata/labels");
    let labelled = [
        PARENT_EXECUTION_LABEL,
        PARENT_NODE_LABEL,
        PARENT_ATTEMPT_LABEL,
    ]
    .iter()
    .any(|l| labels.and_then(|m| m.get(*l)).is_some());
    labelled || controller_execution_owner(object).is_some()
}

/// The owner reference naming an Execution as `object`'s controller, if any.
pub fn controller_execution_owner(object: &Value) -> Option<&Value> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o["kind"] == "Execution" && o["controller"] == Value::Bool(true))
}

/// What a child Execution claims as its parent; an error when the claim is incomplete.
fn parentage(object: &Value) -> Result<Parentage, StartFailure> {
    let label = |l: &str| {
        object
            .pointer("/metadata/labels")
            .and_then(|m| m.get(l))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let incomplete = || {
        forged("the execution poses as a sub-plan child but is not one: its parent labels and owner are incomplete".into())
    };
    let name = label(PARENT_EXECUTION_LABEL).ok_or_else(incomplete)?;
    let node = label(PARENT_NODE_LABEL).ok_or_else(incomplete)?;
    let attempt = match label(PARENT_ATTEMPT_LABEL) {
        Some(a) => a.parse::<u32>().map_err(|_| incomplete())?,
        None => 1,
    };
    let owner = controller_execution_owner(object).ok_or_else(incomplete)?;
    if owner["name"] != *name {
        return Err(incomplete());
    }
    Ok(Parentage {
        name,
        uid: owner
            .get("uid")
            .and_then(Value::as_str)
            .ok_or_else(incomplete)?
            .to_owned(),
        node,
        attempt,
    })
}

/// For a child Execution (labelled and owned by its parent): the Plan its parent pinned for
/// it, with the parent's Goal, the providers and the rest of the tree pinned at the root's
/// start. `None` for an Execution that is not a child.
///
/// Only the runtime creates children (the API server refuses client writes of the parent
/// labels or an Execution controller owner), and it gives each the uid derived from its
/// parent's uid, node and attempt, which a client cannot choose (the API server assigns
/// uids). So a child is believed only when its name and uid are the ones
/// [`child_identity`] derives, its parent exists in its namespace with that name and uid,
/// and its `spec.planRef` names the Plan pinned for it; anything else fails with
/// `subplan_forbidden` and runs nothing.
pub(crate) async fn pin_child(
    shared: &Shared,
    key: &ObjectKey,
) -> Option<Result<(Pinned, ExecGraph), StartFailure>> {
    let stored = match shared.store.get(key).await {
        Ok(Some(o)) => o,
        Ok(None) => return None,
        Err(e) => return Some(Err(store_failure(e))),
    };
    if !claims_parent(&stored.object) {
        return None;
    }
    Some(verified_pin(shared, key, &stored.uid, &stored.object).await)
}

async fn verified_pin(
    shared: &Shared,
    key: &ObjectKey,
    uid: &str,
    object: &Value,
) -> Result<(Pinned, ExecGraph), StartFailure> {
    let parent = parentage(object)?;
    let (name, expected_uid) =
        child_identity(&parent.name, &parent.uid, &parent.node, parent.attempt);
    if name != key.name || expected_uid != uid {
        return Err(forged(format!(
            "the execution poses as the child of execution {} (node {}) but is not the one its parent created",
            parent.name, parent.node
        )));
    }
    let parent_key = ObjectKey::new("Execution", key.namespace.clone(), parent.name.clone());
    match shared.store.get(&parent_key).await {
        Ok(Some(p)) if p.uid == parent.uid => {}
        Ok(_) => {
            return Err(forged(format!(
                "the parent execution {} (uid {}) does not exist in namespace {}",
                parent.name, parent.uid, key.namespace
            )))
        }
        Err(e) => return Err(store_failure(e)),
    }
    let (pinned, graph, sub) = pin_from_parent(shared, &parent).await?;
    let plan_ref = object.pointer("/spec/planRef");
    let field = |f: &str| plan_ref.and_then(|r| r.get(f)).and_then(Value::as_str);
    let matches = field("name") == Some(sub.name.as_str())
        && field("namespace").unwrap_or(&key.namespace) == sub.namespace
        && field("uid").is_none_or(|u| u == sub.uid);
    if !matches {
        return Err(forged(format!(
            "the child's planRef does not name the plan {}/{} (uid {}) its parent pinned for node {}",
            sub.namespace, sub.name, sub.uid, parent.node
        )));
    }
    Ok((pinned, graph))
}

async fn pin_from_parent(
    shared: &Shared,
    parent: &Parentage,
) -> Result<(Pinned, ExecGraph, PinnedSubplan), StartFailure> {
    let missing = |what: String| StartFailure {
        reason: ReasonCode::SubplanNotFound,
        message: what,
    };
    let first = shared
        .store
        .read_journal(&parent.uid, 0, 1)
        .await
        .map_err(|e| match e {
            StoreError::ExecutionNotFound(_) | StoreError::NotFound(_) => missing(format!(
                "parent execution {} (uid {}) does not exist",
                parent.name, parent.uid
            )),
            e => store_failure(e),
        })?;
    let entry = first
        .into_iter()
        .next()
        .ok_or_else(|| missing(format!("parent execution {} has not started", parent.name)))?;
    let parent_pinned: Pinned = serde_json::from_value(
        entry.entry.get("pinned").cloned().unwrap_or(Value::Null),
    )
    .map_err(|e| {
        missing(format!(
            "parent execution {}: pinned record: {e}",
            parent.name
        ))
    })?;
    let sub = parent_pinned
        .subplans
        .get(&parent.node)
        .cloned()
        .ok_or_else(|| {
            missing(format!(
                "parent execution {} pinned no sub-plan for node {}",
                parent.name, parent.node
            ))
        })?;
    let pinned = Pinned {
        plan: sub.plan.clone(),
        goal: parent_pinned.goal,
        providers: sub.providers.clone(),
        subplans: sub.subplans.clone(),
    };
    let graph = pinned.compile()?;
    if graph.digest() != sub.graph_digest {
        return Err(StartFailure {
            reason: ReasonCode::PlanInvalid,
            message: format!(
                "the sub-plan {} compiles to {}, not the digest {} pinned by {}",
                sub.name,
                graph.digest(),
                sub.graph_digest,
                parent.name
            ),
        });
    }
    Ok((pinned, graph, sub))
}

/// The child Execution of `node`'s `attempt`: its name and uid.
pub(crate) fn child_identity(
    parent: &str,
    parent_uid: &str,
    node: &str,
    attempt: u32,
) -> (String, String) {
    let base = if attempt > 1 {
        format!("{parent}-{node}-{attempt}")
    } else {
        format!("{parent}-{node}")
    };
    (
        super::effects::dns_name(&base),
        super::effects::derived_uid(&format!("{parent_uid}/child/{node}/{attempt}")),
    )
}

impl Driver {
    /// Creates (if absent) the child Execution of `node`'s `attempt` and watches it.
    pub(super) async fn start_child(&mut self, node: String, attempt: u32, inputs: Value) {
        let (name, uid) = child_identity(&self.key.name, &self.uid, &node, attempt);
        let key = ObjectKey::new("Execution", self.key.namespace.clone(), name.clone());
        let Some(run) = self.run.as_mut() else {
            return;
        };
        run.extras.children.insert(node.clone(), name.clone());
        let sub = run.pinned.subplans.get(&node).cloned();
        let parent = run.object.clone();
        let Some(sub) = sub else {
            self.report_child(
                &node,
                attempt,
                &name,
                ExecutionPhase::Failed,
                Map::new(),
                Some("subplan_not_found".into()),
                format!("no sub-plan was pinned for node {node}"),
            );
            return;
        };
        // Interest first, then the write and the read: an end in between is not missed.
        self.shared.watch_object(key.clone(), &self.uid);
        let depth = parent
            .pointer(&format!(
                "/metadata/labels/{}",
                DEPTH_LABEL.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        let mut annotations = Map::new();
        if let Some(parent_annotations) = parent
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
        {
            for (k, v) in parent_annotations {
                if k.starts_with("planspec.io/created-by") {
                    annotations.insert(k.clone(), v.clone());
                }
            }
        }
        let mut spec = json!({
            "planRef": {"name": sub.name, "namespace": sub.namespace, "uid": sub.uid},
            "parameters": match inputs { Value::Object(m) => Value::Object(m), _ => json!({}) },
        });
        for field in ["goalRef", "bindingRef"] {
            if let Some(v) = parent.pointer(&format!("/spec/{field}")) {
                spec[field] = v.clone();
            }
        }
        let now = planspec_engine::timestamp(now_ms());
        let object = json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Execution",
            "metadata": {
                "name": name, "namespace": self.key.namespace, "uid": uid, "generation": 1,
                "creationTimestamp": &*now,
                "labels": {PARENT_EXECUTION_LABEL: self.key.name, PARENT_NODE_LABEL: node,
                           PARENT_ATTEMPT_LABEL: attempt.to_string(),
                           DEPTH_LABEL: depth.to_string()},
                "annotations": annotations,
                "ownerReferences": [{"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
                                     "name": self.key.name, "uid": self.uid,
                                     "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": spec,
            "status": {"phase": "Pending", "conditions": [{
                "type": "Accepted", "status": "True", "reason": "ExecutionCreated",
                "message": format!("child of execution {} (node {node})", self.key.name),
                "lastTransitionTime": &*now, "observedGeneration": 1}]}
        });
        // A store that fails (other than "already there") is tried again with backoff; if
        // it still fails, the node fails (`subplan_failed`, its retries apply) rather than
        // stay Running with no child to end it.
        let mut delay = CHILD_CREATE_BACKOFF;
        let mut tries = 1;
        loop {
            match self
                .shared
                .store
                .create(key.clone(), uid.clone(), object.clone())
                .await
            {
                Ok(_) | Err(StoreError::AlreadyExists(_)) => break,
                Err(e) if tries < CHILD_CREATE_TRIES && !self.shared.shutting_down() => {
                    eprintln!(
                        "planspec: runtime: creating child execution {key}: {e}; retrying in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    tries += 1;
                }
                Err(e) => {
                    eprintln!("planspec: runtime: creating child execution {key}: {e}");
                    self.report_child(
                        &node,
                        attempt,
                        &name,
                        ExecutionPhase::Failed,
                        Map::new(),
                        Some("subplan_failed".into()),
                        format!(
                            "the child execution {name} could not be created ({tries} tries): {e}"
                        ),
                    );
                    return;
                }
            }
        }
        // This node's record alone names its new child.
        let _ = self.write_status_for(std::slice::from_ref(&node)).await;
        let current = self.shared.store.get(&key).await.ok().flatten();
        match current {
            Some(o) if o.uid != uid => self.report_child(
                &node,
                attempt,
                &name,
                ExecutionPhase::Failed,
                Map::new(),
                Some("subplan_failed".into()),
                format!("the name {name} is taken by another execution"),
            ),
            Some(o) => self.child_changed(&key, Some(&o.object)).await,
            None => {}
        }
    }

    /// Cancels the child of `node`'s `attempt` (`force`: its running attempts are killed).
    pub(super) fn cancel_child(&self, node: &str, attempt: u32, force: bool) {
        let (name, uid) = child_identity(&self.key.name, &self.uid, node, attempt);
        let key = ObjectKey::new("Execution", self.key.namespace.clone(), name);
        let shared = self.shared.clone();
        let by = Some(format!(
            "system:planspec (parent execution {} cancelled)",
            self.key.name
        ));
        tokio::spawn(async move {
            for _ in 0..50 {
                let Some(inbox) = super::spawn_driver(&shared, uid.clone(), key.clone(), false)
                else {
                    return;
                };
                let (reply, answer) = tokio::sync::oneshot::channel();
                let input = Input::CancelRequested {
                    at: now_ms(),
                    force,
                    by: by.clone(),
                };
                if inbox.send(Msg::Request { input, reply }).is_err() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                match answer.await {
                    Ok(Err(super::RuntimeError::Unavailable(_))) | Err(_) => {
                        // The child's driver ended as the request arrived: it finished (or
                        // never started); look again.
                        match shared.store.get(&key).await {
                            Ok(Some(o)) if !super::terminal(&o.object) => {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                            _ => return,
                        }
                    }
                    Ok(_) => return,
                }
            }
        });
    }

    /// A `Kill` for a `Plan` node cancels its child with force; `false` if `node` is not a
    /// `Plan` node.
    pub(super) fn kill_child(&self, node: &str, attempt: u32) -> bool {
        let is_plan = self.run.as_ref().is_some_and(|run| {
            run.exec
                .graph()
                .node(node)
                .is_some_and(|n| matches!(n.kind, planspec_engine::ExecKind::Plan(_)))
        });
        if is_plan {
            self.cancel_child(node, attempt, true);
        }
        is_plan
    }

    /// A watched child Execution changed: report its end to the engine.
    pub(crate) async fn child_changed(&mut self, key: &ObjectKey, object: Option<&Value>) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        if key.kind != "Execution" || key.namespace != self.key.namespace {
            return;
        }
        let nodes: Vec<(String, u32)> = run
            .extras
            .children
            .iter()
            .filter(|(_, child)| **child == key.name)
            .filter_map(|(node, _)| {
                let state = run.exec.node(node)?;
                (state.phase == planspec_engine::NodePhase::Running
                    && state.activity == Some(planspec_engine::Activity::Child))
                .then(|| (node.clone(), state.attempt))
            })
            .collect();
        let max_output_bytes = run.exec.graph().limits().max_output_bytes;
        for (node, attempt) in nodes {
            let Some(object) = object else {
                self.report_child(
                    &node,
                    attempt,
                    &key.name,
                    ExecutionPhase::Failed,
                    Map::new(),
                    Some("subplan_failed".into()),
                    "the child execution was deleted".into(),
                );
                continue;
            };
            let phase = match object.pointer("/status/phase").and_then(Value::as_str) {
                Some("Succeeded") => ExecutionPhase::Succeeded,
                Some("Failed") => ExecutionPhase::Failed,
                Some("Cancelled") => ExecutionPhase::Cancelled,
                _ => continue,
            };
            let reason = object
                .pointer("/status/reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let message = object
                .pointer("/status/message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let child_uid = object
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut reason = reason;
            let mut message = message;
            let outputs = if phase == ExecutionPhase::Succeeded {
                match child_outputs(&self.shared, &child_uid, max_output_bytes).await {
                    Ok(ChildOutputs::Within(o)) => o,
                    Ok(ChildOutputs::TooLarge(at_least)) => {
                        reason = Some(ReasonCode::OutputsTooLarge.as_str().to_owned());
                        message = format!(
                            "the outputs of child execution {} are at least {at_least} bytes as JSON; at most {max_output_bytes} are kept",
                            key.name
                        );
                        Map::new()
                    }
                    Err(e) => {
                        eprintln!(
                            "planspec: runtime: reading the outputs of child execution {}: {e}",
                            key.name
                        );
                        continue;
                    }
                }
            } else {
                Map::new()
            };
            self.report_child(&node, attempt, &key.name, phase, outputs, reason, message);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn report_child(
        &self,
        node: &str,
        attempt: u32,
        child: &str,
        phase: ExecutionPhase,
        outputs: Map<String, Value>,
        reason: Option<String>,
        message: String,
    ) {
        let _ = self.tx.send(Msg::Input(Input::ChildFinished {
            at: now_ms(),
            node: node.into(),
            attempt,
            child: child.to_owned(),
            phase,
            outputs,
            reason,
            message,
        }));
    }
}

/// What a finished child's outputs came to.
#[derive(Debug, PartialEq)]
enum ChildOutputs {
    /// `{<node id>: {outputs…}}` for each node that succeeded with outputs.
    Within(Map<String, Value>),
    /// More than `max` bytes as JSON (this many, at least): reading stopped there.
    TooLarge(usize),
}

/// A finished child's outputs, read from the records of its Succeeded nodes (written with
/// its final status), a page at a time, stopping as soon as they pass `max` bytes as JSON (the
/// engine's `max_output_bytes`): a child with huge outputs is not read, held or journaled
/// whole.
async fn child_outputs(shared: &Shared, uid: &str, max: usize) -> Result<ChildOutputs, StoreError> {
    let mut outputs = Map::new();
    // `{}`, then per entry `"id":{…}` and a comma.
    let mut size = 2usize;
    let mut query = NodeRecordQuery::all(uid);
    query.phase = Some("Succeeded".into());
    query.limit = Some(200);
    loop {
        let page = shared.store.list_node_records(&query).await?;
        for record in page.records {
            if record.phase != "Succeeded" {
                continue;
            }
            if let Some(o) = record.record.get("outputs").and_then(Value::as_object) {
                if !o.is_empty() {
                    let value = Value::Object(o.clone());
                    let key = Value::String(record.node_id.clone()).to_string();
                    size +=
                        key.len() + 1 + value.to_string().len() + usize::from(!outputs.is_empty());
                    if size > max {
                        return Ok(ChildOutputs::TooLarge(size));
                    }
                    outputs.insert(record.node_id.clone(), value);
                }
            }
        }
        match page.continue_after {
            Some(next) => query.continue_after = Some(next),
            None => return Ok(ChildOutputs::Within(outputs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, series: &str, version: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"series": series, "version": version}})
    }

    fn pick(plans: &[Value], series: &str, range: &str) -> Option<String> {
        let range = semver::VersionReq::parse(range).expect("a range");
        pick_version(plans.iter().cloned(), series, &range)
            .and_then(|p| p["metadata"]["name"].as_str().map(str::to_owned))
    }

    #[test]
    fn the_highest_matching_semver_version_of_the_series_wins() {
        let plans = [
            plan("d-1-0", "deploy", "1.0.0"),
            plan("d-1-4", "deploy", "v1.4.2"),
            plan("d-2-0", "deploy", "2.0.0"),
            plan("d-3-rc", "deploy", "3.0.0-rc.1"),
            plan("d-latest", "deploy", "latest"),
            plan("other", "build", "9.0.0"),
        ];
        assert_eq!(pick(&plans, "deploy", "^1").as_deref(), Some("d-1-4"));
        assert_eq!(pick(&plans, "deploy", "~1.0").as_deref(), Some("d-1-0"));
        assert_eq!(
            pick(&plans, "deploy", ">=1.2, <2").as_deref(),
            Some("d-1-4")
        );
        // Pre-releases match only ranges that name them; non-semver versions never match.
        assert_eq!(pick(&plans, "deploy", "*").as_deref(), Some("d-2-0"));
        assert_eq!(
            pick(&plans, "deploy", ">=3.0.0-rc.0").as_deref(),
            Some("d-3-rc")
        );
        assert_eq!(pick(&plans, "deploy", "^4"), None);
        assert_eq!(pick(&plans, "nothing", "*"), None);
    }

    #[test]
    fn equal_versions_go_to_the_first_name() {
        let plans = [plan("b", "s", "1.0.0"), plan("a", "s", "1.0.0")];
        assert_eq!(pick(&plans, "s", "^1").as_deref(), Some("a"));
    }

    #[test]
    fn child_names_are_dns_labels_and_differ_per_attempt() {
        let (one, uid1) = child_identity("rel", "u", "deploy", 1);
        let (two, uid2) = child_identity("rel", "u", "deploy", 2);
        assert_eq!(one, "rel-deploy");
        assert_eq!(two, "rel-deploy-2");
        assert_ne!(uid1, uid2);
        let long = "x".repeat(60);
        let (name, _) = child_identity(&long, "u", &long, 1);
        assert!(name.len() <= 63, "{name}");
        assert_eq!(child_identity(&long, "u", &long, 1).0, name);
    }
}
