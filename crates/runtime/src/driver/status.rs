//! The Execution's `status` and per-node records, derived from the engine's state.
//!
//! The object stays small whatever the graph's size: phase, reason, times, conditions, and
//! in `extensions`: `progress` (node counts per phase), `graphDigest`, `round`, `providers`
//! (node → pinned provider URI, for runs within the limit) and `awaitingHuman` (nodes a person
//! must finish). `nodeStatuses` is filled only for runs of at most [`NODE_STATUS_LIMIT`]
//! nodes (matrix instances included), and the whole status is kept within [`STATUS_BUDGET`]
//! ([`fit`]); every node always has a record in the store's node table, served paginated by
//! the API.

use super::start::Pinned;
use planspec_engine::{timestamp, Approval, Execution, NodePhase, NodeState};
use planspec_store::NodeRecord;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Runs of up to this many nodes (matrix instances included) list the graph's nodes in
/// `status.nodeStatuses`.
pub const NODE_STATUS_LIMIT: usize = 200;

/// Outputs up to this size (JSON bytes) are copied into `nodeStatuses`; bigger ones are
/// only in the node records.
const STATUS_OUTPUTS_LIMIT: usize = 4 * 1024;

/// What the driver knows beyond the engine state.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// Nodes waiting for a person, with what they are asked.
    pub(crate) awaiting: BTreeMap<String, String>,
    /// Nodes waiting for something else, with what (a missing Gate …).
    pub(crate) waiting_on: BTreeMap<String, String>,
    /// Gate nodes → the Gate this run waits on.
    pub(crate) gates: BTreeMap<String, String>,
    /// `Plan` nodes → the child Execution of their current attempt.
    pub(crate) children: BTreeMap<String, String>,
    /// The graph's Gate nodes, by index (found once).
    pub(crate) gate_nodes: std::sync::OnceLock<Vec<usize>>,
}

fn model_phase(phase: NodePhase) -> &'static str {
    match phase {
        NodePhase::Pending | NodePhase::Ready => "Pending",
        NodePhase::Running => "Running",
        NodePhase::Succeeded => "Succeeded",
        NodePhase::Failed => "Failed",
        NodePhase::Skipped => "Skipped",
        NodePhase::Cancelled => "Cancelled",
        NodePhase::AwaitingInput => "AwaitingInput",
    }
}

/// What a Placeholder `AwaitingInput` asks for (its description), if node `id` is one.
fn awaiting_input<'e>(execution: &'e Execution, id: &str, node: &NodeState) -> Option<&'e str> {
    if node.phase != NodePhase::AwaitingInput {
        return None;
    }
    match execution.graph().node(id).map(|n| &n.kind) {
        Some(planspec_engine::ExecKind::Placeholder(p)) => Some(&p.description),
        _ => None,
    }
}

/// The record of one node, as stored in the node table and listed by the API.
pub(crate) fn node_record(
    id: &str,
    node: &NodeState,
    extras: &Extras,
    pinned: &Pinned,
    execution: &Execution,
) -> NodeRecord {
    let mut record = Map::new();
    record.insert("node".into(), json!(id));
    record.insert("phase".into(), json!(node.phase.as_str()));
    if let Some(activity) = node.activity {
        record.insert("activity".into(), json!(activity));
    }
    if node.attempt > 0 {
        record.insert("attempt".into(), json!(node.attempt));
    }
    if let Some(key) = &node.key {
        record.insert("idempotencyKey".into(), json!(key));
    }
    if let Some(at) = node.started_at {
        record.insert("startTime".into(), json!(&*timestamp(at)));
    }
    if let Some(at) = node.finished_at {
        record.insert("completionTime".into(), json!(&*timestamp(at)));
    }
    if let Some(reason) = node.reason {
        record.insert("reason".into(), json!(reason.as_str()));
    }
    if let Some(message) = approval_message(node).or_else(|| node.message.clone()) {
        record.insert("message".into(), json!(message));
    }
    if let Some(v) = &node.verdict {
        record.insert("verdict".into(), json!(v));
    }
    if let Some(approval) = node.approval {
        record.insert("approval".into(), json!(approval));
    }
    if let Some(lease) = &node.lease {
        record.insert("lease".into(), json!(lease));
    }
    if let Some(outputs) = &node.outputs {
        record.insert("outputs".into(), Value::Object(outputs.clone()));
    }
    // A matrix instance names its matrix node and coordinates, and shows its provider.
    let owner = execution.owner_of(id).map_or(id, |o| o.as_str());
    if let Some(info) = execution.instance(id) {
        record.insert("matrix".into(), json!(owner));
        record.insert("ordinal".into(), json!(info.ordinal));
        record.insert(
            "coordinates".into(),
            Value::Object(info.coordinates.clone()),
        );
    }
    if let Some(p) = pinned.providers.get(owner) {
        record.insert("provider".into(), json!(p.uri));
    }
    if let Some(description) = awaiting_input(execution, id, node) {
        record.insert("awaitingInput".into(), json!(description));
    }
    if let Some(prompt) = extras.awaiting.get(id) {
        record.insert("awaitingHuman".into(), json!(prompt));
    }
    if let Some(what) = extras.waiting_on.get(id) {
        record.insert("waitingOn".into(), json!(what));
    }
    if let Some(gate) = extras.gates.get(id) {
        record.insert("gate".into(), json!(gate));
    }
    if let Some(child) = extras.children.get(id) {
        record.insert("childExecution".into(), json!(child));
    }
    NodeRecord {
        node_id: id.to_owned(),
        phase: node.phase.as_str().to_owned(),
        record: Value::Object(record),
    }
}

/// The `status` for `execution`, keeping what the engine does not own (conditions other than
/// ours, `observedGeneration`) from `previous`.
pub(crate) fn execution_status(
    previous: &Value,
    execution: &Execution,
    extras: &Extras,
    pinned: &Pinned,
    limit: usize,
    now_ms: u64,
) -> Value {
    let state = execution.state();
    let mut status = previous.as_object().cloned().unwrap_or_default();
    let phase = if !execution.is_finished() && blocked(execution, extras) {
        "Blocked"
    } else {
        phase_name(execution)
    };
    let old_phase = status
        .get("phase")
        .and_then(Value::as_str)
        .map(str::to_owned);
    status.insert("phase".into(), json!(phase));
    if old_phase.as_deref() != Some(phase) {
        status.insert("lastPhaseTransitionTime".into(), json!(&*timestamp(now_ms)));
    }
    match state.reason {
        Some(reason) => status.insert("reason".into(), json!(reason.as_str())),
        None => status.remove("reason"),
    };
    if state.message.is_empty() {
        status.remove("message");
    } else {
        status.insert("message".into(), json!(bounded(&state.message)));
    }
    if let Some(uid) = &state.uid {
        status.insert("runId".into(), json!(uid));
    }
    if let Some(at) = state.started_at {
        status.insert("startTime".into(), json!(&*timestamp(at)));
    }
    match state.finished_at {
        Some(at) if execution.is_finished() => {
            status.insert("completionTime".into(), json!(&*timestamp(at)))
        }
        _ => status.remove("completionTime"),
    };

    let graph = execution.graph();
    // The run's size counts matrix instances: a 20-node graph that fans out into 20,000
    // instances is a large run and lists none of them.
    let small = state.nodes.len() <= limit;
    if small {
        let mut nodes = Map::new();
        // The graph's nodes only: matrix instances (after them) have their node records.
        for (i, node) in state.nodes.iter().enumerate().take(graph.len()) {
            let id = graph.nodes()[i].id.to_string();
            let mut s = Map::new();
            s.insert("phase".into(), json!(model_phase(node.phase)));
            if let Some(at) = node.started_at {
                s.insert("startTime".into(), json!(&*timestamp(at)));
            }
            if let Some(at) = node.finished_at {
                s.insert("completionTime".into(), json!(&*timestamp(at)));
            }
            if node.attempt > 0 {
                s.insert("attempt".into(), json!(node.attempt));
            }
            if let Some(outputs) = &node.outputs {
                let small = serde_json::to_string(outputs)
                    .map(|t| t.len() <= STATUS_OUTPUTS_LIMIT)
                    .unwrap_or(false);
                if small {
                    s.insert("outputs".into(), Value::Object(outputs.clone()));
                }
            }
            let mut message = node.message.clone();
            if let Some(text) = approval_message(node) {
                message = Some(text);
            }
            if let Some(description) = awaiting_input(execution, &id, node) {
                message = Some(format!("awaiting input: {description}"));
            }
            if let Some(prompt) = extras.awaiting.get(&id) {
                message = Some(format!("awaiting a person: {prompt}"));
            } else if let Some(what) = extras.waiting_on.get(&id) {
                message = Some(what.clone());
            }
            if message.is_none() {
                message = state
                    .matrix_progress(i)
                    .map(|(instances, terminal, failed)| {
                        matrix_message(instances, terminal, failed)
                    });
            }
            if let Some(m) = message {
                s.insert("message".into(), json!(m));
            }
            let mut ext = Map::new();
            if let Some(reason) = node.reason {
                ext.insert("reason".into(), json!(reason.as_str()));
            }
            if node.phase == NodePhase::Ready {
                ext.insert("ready".into(), json!(true));
            }
            if let Some(gate) = extras.gates.get(&id) {
                ext.insert("gate".into(), json!(gate));
            }
            if let Some(activity) = node.activity {
                ext.insert("activity".into(), json!(activity));
            }
            if let Some(v) = &node.verdict {
                ext.insert("verdict".into(), json!(v));
            }
            if let Some(approval) = node.approval {
                ext.insert("approval".into(), json!(approval));
            }
            if !ext.is_empty() {
                s.insert("extensions".into(), Value::Object(ext));
            }
            nodes.insert(id, Value::Object(s));
        }
        status.insert("nodeStatuses".into(), Value::Object(nodes));
    } else {
        status.remove("nodeStatuses");
    }

    let mut ext = status
        .get("extensions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let c = state.counters;
    ext.insert(
        "progress".into(),
        json!({"total": c.total(), "pending": c.pending + c.ready, "running": c.running,
               "succeeded": c.succeeded, "failed": c.failed, "skipped": c.skipped,
               "cancelled": c.cancelled, "awaitingInput": c.awaiting_input}),
    );
    ext.insert("graphDigest".into(), json!(graph.digest()));
    ext.insert("round".into(), json!(state.round));
    if small && !pinned.providers.is_empty() {
        let providers: Map<String, Value> = pinned
            .providers
            .iter()
            .map(|(node, p)| (node.clone(), json!(p.uri)))
            .collect();
        ext.insert("providers".into(), Value::Object(providers));
    }
    if c.awaiting_input == 0 {
        ext.remove("awaitingInput");
    } else {
        let awaiting: Vec<&str> = execution
            .awaiting_input()
            .into_iter()
            .take(100)
            .map(|(id, _)| id.as_str())
            .collect();
        ext.insert("awaitingInput".into(), json!(awaiting));
    }
    if extras.awaiting.is_empty() {
        ext.remove("awaitingHuman");
    } else {
        let mut awaiting: Vec<&String> = extras.awaiting.keys().collect();
        awaiting.truncate(100);
        ext.insert("awaitingHuman".into(), json!(awaiting));
    }
    status.insert("extensions".into(), Value::Object(ext));

    set_condition(&mut status, now_ms, condition_for(execution, extras));
    fit(&mut status);
    Value::Object(status)
}

/// Most bytes (as JSON) the status may take: with metadata and spec, the Execution object
/// stays under 64 KiB whatever the run.
pub const STATUS_BUDGET: usize = 48 * 1024;

/// What a matrix node's status says of its instances: `3 instances: 2 done, 1 failed`.
fn matrix_message(instances: usize, terminal: u32, failed: u32) -> String {
    let noun = if instances == 1 {
        "instance"
    } else {
        "instances"
    };
    let mut text = format!("{instances} {noun}: {terminal} done");
    if failed > 0 {
        text.push_str(&format!(", {failed} failed"));
    }
    text
}

/// Longest node message kept in `nodeStatuses` once the status is over its budget.
const NODE_MESSAGE_LIMIT: usize = 200;

/// Keeps the status within [`STATUS_BUDGET`]: drops, in this order and only as far as needed,
/// the verdicts and long messages (cut to 200 bytes) in `nodeStatuses`, the outputs copied
/// into it, `nodeStatuses` itself (the node records have everything), the providers map, and
/// all but the first 10 `awaitingHuman` nodes. What is left is counters and messages already
/// cut to 4 KiB. 200 nodes of phase, times and attempt take about 25 KiB.
fn fit(status: &mut Map<String, Value>) {
    let size = |s: &Map<String, Value>| serde_json::to_vec(s).map_or(usize::MAX, |v| v.len());
    if size(status) <= STATUS_BUDGET {
        if let Some(Value::Object(e)) = status.get_mut("extensions") {
            e.remove("omitted");
        }
        return;
    }
    // First the per-node extras the node records keep anyway: verdicts, long messages.
    if let Some(Value::Object(nodes)) = status.get_mut("nodeStatuses") {
        for node in nodes.values_mut() {
            if let Value::Object(n) = node {
                if let Some(Value::Object(ext)) = n.get_mut("extensions") {
                    ext.remove("verdict");
                }
                if let Some(Value::String(m)) = n.get_mut("message") {
                    if m.len() > NODE_MESSAGE_LIMIT {
                        let mut end = NODE_MESSAGE_LIMIT;
                        while !m.is_char_boundary(end) {
                            end -= 1;
                        }
                        m.truncate(end);
                        m.push('…');
                    }
                }
            }
        }
    }
    // Then the outputs copied into `nodeStatuses`.
    if size(status) > STATUS_BUDGET {
        if let Some(Value::Object(nodes)) = status.get_mut("nodeStatuses") {
            for node in nodes.values_mut() {
                if let Value::Object(n) = node {
                    n.remove("outputs");
                }
            }
        }
    }
    let mut omitted = Vec::new();
    if size(status) > STATUS_BUDGET && status.remove("nodeStatuses").is_some() {
        omitted.push("nodeStatuses");
    }
    let ext = |status: &mut Map<String, Value>| match status.get_mut("extensions") {
        Some(Value::Object(ext)) => Some(std::mem::take(ext)),
        _ => None,
    };
    if let Some(mut e) = ext(status) {
        if size(status) + serde_json::to_vec(&e).map_or(0, |v| v.len()) > STATUS_BUDGET
            && e.remove("providers").is_some()
        {
            omitted.push("providers");
        }
        if size(status) + serde_json::to_vec(&e).map_or(0, |v| v.len()) > STATUS_BUDGET {
            if let Some(Value::Array(awaiting)) = e.get_mut("awaitingHuman") {
                awaiting.truncate(10);
            }
        }
        if omitted.is_empty() {
            e.remove("omitted");
        } else {
            e.insert("omitted".into(), json!(omitted));
        }
        status.insert("extensions".into(), Value::Object(e));
    }
}

/// The status of an Execution that could not start.
pub(crate) fn start_failed_status(
    previous: &Value,
    reason: &str,
    message: &str,
    now_ms: u64,
) -> Value {
    let mut status = previous.as_object().cloned().unwrap_or_default();
    status.insert("phase".into(), json!("Failed"));
    status.insert("reason".into(), json!(reason));
    status.insert("message".into(), json!(message));
    status.insert("completionTime".into(), json!(&*timestamp(now_ms)));
    status.insert("lastPhaseTransitionTime".into(), json!(&*timestamp(now_ms)));
    set_condition(
        &mut status,
        now_ms,
        ("Succeeded", "False", reason.to_owned(), message.to_owned()),
    );
    Value::Object(status)
}

/// `true` when everything that runs waits for a person (a `human://` attempt, a Gate, an
/// approval) and something does. Per write this costs O(1) unless few enough nodes run that
/// all of them could be waiting; then the Gate nodes (found once) are looked at, and the
/// Ready nodes only when nothing runs and no Placeholder waits — never every node per write
/// while something runs.
fn blocked(execution: &Execution, extras: &Extras) -> bool {
    let state = execution.state();
    // An expanded matrix node is Running while its instances run; only they can wait.
    let running = state
        .counters
        .running
        .saturating_sub(state.matrix_nodes_running()) as usize;
    let gate_nodes = extras.gate_nodes.get_or_init(|| {
        execution
            .graph()
            .nodes()
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.kind, planspec_engine::ExecKind::Gate(_)))
            .map(|(i, _)| i)
            .collect()
    });
    if running > extras.awaiting.len() + gate_nodes.len() {
        return false;
    }
    if running != extras.awaiting.len() + blocked_on_gates(execution, gate_nodes) {
        return false;
    }
    // Placeholders awaiting input wait for a person too.
    if running > 0 || state.counters.awaiting_input > 0 {
        return true;
    }
    // Nothing runs: blocked if a Task is held by an `assist` verdict (it waits for a person
    // like a Gate node does).
    state.counters.ready > 0
        && state
            .nodes
            .iter()
            .any(|n| n.phase == NodePhase::Ready && n.approval == Some(Approval::Waiting))
}

/// Gate nodes Running with their Gate open.
fn blocked_on_gates(execution: &Execution, gate_nodes: &[usize]) -> usize {
    let nodes = &execution.state().nodes;
    gate_nodes
        .iter()
        .filter(|&&i| {
            nodes[i].phase == NodePhase::Running
                && matches!(nodes[i].activity, Some(planspec_engine::Activity::Gate))
        })
        .count()
}

fn phase_name(execution: &Execution) -> &'static str {
    use planspec_model::execution::ExecutionPhase as P;
    match execution.phase() {
        P::Pending => "Pending",
        P::Running => "Running",
        P::Blocked => "Blocked",
        P::Succeeded => "Succeeded",
        P::Failed => "Failed",
        P::Cancelled => "Cancelled",
    }
}

/// (type, status, reason, message) of the one condition the runtime owns: `Succeeded`,
/// `Unknown` while running.
fn condition_for(
    execution: &Execution,
    extras: &Extras,
) -> (&'static str, &'static str, String, String) {
    let state = execution.state();
    let c = state.counters;
    let progress = format!("{} of {} nodes done", c.terminal(), c.total());
    match phase_name(execution) {
        "Succeeded" => ("Succeeded", "True", "Succeeded".into(), progress),
        "Failed" | "Cancelled" => (
            "Succeeded",
            "False",
            state
                .reason
                .map(|r| r.as_str().to_owned())
                .unwrap_or_else(|| phase_name(execution).to_owned()),
            if state.message.is_empty() {
                progress
            } else {
                bounded(&state.message).into_owned()
            },
        ),
        _ if !extras.awaiting.is_empty() => (
            "Succeeded",
            "Unknown",
            "AwaitingHuman".into(),
            format!(
                "{progress}; waiting for a person on {}",
                extras
                    .awaiting
                    .keys()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        _ if c.awaiting_input > 0 => (
            "Succeeded",
            "Unknown",
            "AwaitingInput".into(),
            format!(
                "{progress}; waiting for input on {}",
                execution
                    .awaiting_input()
                    .into_iter()
                    .take(5)
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        _ => ("Succeeded", "Unknown", "Running".into(), progress),
    }
}

fn set_condition(
    status: &mut Map<String, Value>,
    now_ms: u64,
    (kind, value, reason, message): (&str, &str, String, String),
) {
    let mut conditions = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let now = timestamp(now_ms);
    match conditions.iter_mut().find(|c| c["type"] == kind) {
        Some(c) => {
            if c["status"] != value {
                c["lastTransitionTime"] = json!(&*now);
            }
            c["status"] = json!(value);
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        None => conditions.push(json!({"type": kind, "status": value, "reason": reason,
                                       "message": message, "lastTransitionTime": &*now})),
    }
    status.insert("conditions".into(), Value::Array(conditions));
}

/// Longest message the Execution object carries (the engine's own are cut to its limit
/// already; this keeps the object small whatever a message says).
const STATUS_MESSAGE_LIMIT: usize = 4 * 1024;

/// `message` cut to [`STATUS_MESSAGE_LIMIT`] bytes at a character boundary, with `…`.
fn bounded(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= STATUS_MESSAGE_LIMIT {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut end = STATUS_MESSAGE_LIMIT;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &message[..end]))
}

/// What a Task held by an `assist` verdict waits for.
fn approval_message(node: &NodeState) -> Option<String> {
    if node.phase != NodePhase::Ready || node.approval != Some(Approval::Waiting) {
        return None;
    }
    let v = node.verdict.as_ref()?;
    Some(format!(
        "waiting for approval ({}): {}",
        v.reason, v.message
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large run held to one running node with a Gate in the graph: every status write
    /// asks whether it is blocked, and the answer no longer scans every node (it looks at the
    /// Gate nodes, found once), so 60,000 writes stay cheap.
    #[test]
    fn blocked_does_not_scan_every_node_per_write() {
        let mut nodes =
            vec![json!({"id": "approve", "kind": "Gate", "gateRef": {"name": "release"}})];
        nodes.extend((0..9_999).map(|i| json!({"id": format!("t{i}"), "kind": "Task"})));
        let plan: planspec_model::Plan = serde_json::from_value(json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Plan",
            "metadata": {"name": "p"},
            "spec": {"description": "d", "graph": {"nodes": nodes, "edges": []}}
        }))
        .unwrap();
        let graph = std::sync::Arc::new(planspec_engine::compile(&plan, None).unwrap());
        let mut execution = Execution::new(graph.clone());
        execution
            .handle(planspec_engine::Input::ExecutionStarted {
                at: 1,
                uid: "u".into(),
                name: None,
                namespace: None,
                graph_digest: graph.digest().to_string(),
                parameters: Default::default(),
                pinned: Value::Null,
                deadline: None,
                creator: None,
                governance: None,
                max_parallel: Some(1),
                fail_fast: false,
            })
            .unwrap();
        assert_eq!(execution.counters().running, 1);
        let extras = Extras::default();
        let started = std::time::Instant::now();
        for _ in 0..60_000 {
            assert!(blocked(&execution, &extras));
        }
        let elapsed = started.elapsed();
        assert!(elapsed.as_secs() < 3, "took {elapsed:?}");
    }

    #[test]
    fn the_status_fits_its_budget_whatever_the_nodes_carry() {
        let big = "x".repeat(4000);
        let nodes: Map<String, Value> = (0..NODE_STATUS_LIMIT)
            .map(|i| {
                (
                    format!("node-{i:03}"),
                    json!({"phase": "Failed", "message": big, "outputs": {"blob": big}}),
                )
            })
            .collect();
        let providers: Map<String, Value> = (0..NODE_STATUS_LIMIT)
            .map(|i| (format!("node-{i:03}"), json!(format!("exec://{big}"))))
            .collect();
        let awaiting: Vec<String> = (0..100)
            .map(|i| format!("{i}-{}", "a".repeat(240)))
            .collect();
        let mut status = json!({"phase": "Running", "message": big,
            "nodeStatuses": nodes,
            "extensions": {"progress": {"total": 200}, "providers": providers,
                           "awaitingHuman": awaiting}})
        .as_object()
        .cloned()
        .unwrap();
        fit(&mut status);
        let size = serde_json::to_vec(&status).unwrap().len();
        assert!(size <= STATUS_BUDGET, "{size}");
        assert!(status.get("nodeStatuses").is_none());
        assert_eq!(
            status["extensions"]["omitted"],
            json!(["nodeStatuses", "providers"])
        );
        assert_eq!(status["extensions"]["progress"]["total"], 200);

        // 200 finished nodes with verdicts keep their phases, times and attempts.
        let nodes: Map<String, Value> = (0..NODE_STATUS_LIMIT)
            .map(|i| {
                (
                    format!("n{i:03}"),
                    json!({"phase": "Succeeded", "startTime": "2026-12-07T05:09:12.123Z",
                           "completionTime": "2026-12-07T05:09:12.456Z", "attempt": 1,
                           "outputs": {"value": big},
                           "extensions": {"verdict": {"verdict": "allow", "risk": "low",
                               "reason": "default_allow", "message": big}}}),
                )
            })
            .collect();
        let mut status = json!({"phase": "Succeeded", "nodeStatuses": nodes})
            .as_object()
            .cloned()
            .unwrap();
        fit(&mut status);
        assert!(serde_json::to_vec(&status).unwrap().len() <= STATUS_BUDGET);
        assert_eq!(status["nodeStatuses"]["n199"]["attempt"], 1);
        assert!(status["nodeStatuses"]["n199"].get("outputs").is_none());

        // A small status is left as it is (and loses a stale `omitted`).
        let mut small = json!({"phase": "Running", "nodeStatuses": {"a": {"phase": "Running"}},
                               "extensions": {"omitted": ["nodeStatuses"]}})
        .as_object()
        .cloned()
        .unwrap();
        fit(&mut small);
        assert_eq!(small["nodeStatuses"]["a"]["phase"], "Running");
        assert!(small["extensions"].get("omitted").is_none());
    }
}
