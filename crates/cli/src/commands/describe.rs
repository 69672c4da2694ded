//! `planspec describe KIND NAME`: one object for people — metadata, spec, status, conditions,
//! and its recent changes ("Events"), read from the server's change log with a watch
//! ([`crate::client::Client::history`]).

use serde_json::Value;

use crate::cli::DescribeArgs;
use crate::client::{History, Target};
use crate::error::{emit, Exit, Outcome};
use crate::term::escape_line;

use super::resources::{align, connect, server_error, target, to_yaml};

/// Fetches the object and prints it.
pub fn run(args: &DescribeArgs) -> Outcome {
    let Some((kind, name)) = args.kind_and_name() else {
        return Err(crate::error::usage(
            "describe",
            "give KIND NAME or KIND/NAME (e.g. `planspec describe execution/nightly`)",
        ));
    };
    let target = target(kind, "describe")?;
    let client = connect(&args.client);
    let path = target.item(args.client.ns(), name);
    let object = client.get(&path).map_err(server_error)?;
    let mut text = describe(&object)?;
    // A large Execution changes at nearly every revision while it runs: its recent changes
    // are in the last few revisions (reading a thousand copies of it would not be cheap).
    let mut window = crate::client::HISTORY_WINDOW;
    if target == Target::Kind(planspec_model::Kind::Execution) {
        let total = object["status"]["extensions"]["progress"]["total"].as_u64();
        if total.is_some_and(|t| t > MAX_NODES as u64) {
            window = LARGE_EXECUTION_HISTORY_WINDOW;
            text.push_str(&large_execution_nodes(
                &client,
                args.client.ns(),
                name,
                &object,
            ));
        } else {
            text.push_str(&execution_nodes(&client, args.client.ns(), name));
        }
    }
    if let Target::Kind(_) = target {
        let owned = owned_by(&client, args.client.ns(), &object);
        if !owned.is_empty() {
            text.push_str("Owns:\n");
            for name in owned {
                text.push_str(&format!("  {}\n", escape_line(&name)));
            }
        }
    }
    let revision = object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse::<i64>().ok());
    let collection = target.collection(Some(args.client.ns()));
    let history = match revision {
        Some(revision) => client
            .history_within(&collection, name, revision, window)
            .map_err(|e| e.render()),
        None => Err("the object has no resourceVersion".to_owned()),
    };
    text.push_str(&events(history));
    emit(&text)?;
    Ok(Exit::Success)
}

/// Most nodes listed by `describe execution` (the rest are counted).
pub const MAX_NODES: usize = 200;

/// The `Nodes:` table of an Execution, from its node records (paged on the server, so a
/// 100,000-node run costs one small page): node, phase, attempt, duration, provider, message.
fn execution_nodes(client: &crate::client::Client, namespace: &str, name: &str) -> String {
    let path = super::ops::execution_path(namespace, name, &format!("/nodes?limit={MAX_NODES}"));
    let Ok(page) = client.get(&path) else {
        return String::new();
    };
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let mut out = String::from("Nodes:\n");
    if items.is_empty() {
        out.push_str("  <none>\n");
        return out;
    }
    let mut table = vec![vec![
        "Node".to_owned(),
        "Phase".to_owned(),
        "Attempt".to_owned(),
        "Duration".to_owned(),
        "Provider".to_owned(),
        "Message".to_owned(),
    ]];
    for n in &items {
        let message = n["message"]
            .as_str()
            .or_else(|| n["awaitingHuman"].as_str())
            .or_else(|| n["awaitingInput"].as_str())
            .or_else(|| n["waitingOn"].as_str())
            .or_else(|| n["reason"].as_str())
            .unwrap_or("");
        table.push(vec![
            text(&n["node"]),
            text(&n["phase"]),
            n["attempt"]
                .as_u64()
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            duration(&n["startTime"], &n["completionTime"]),
            // A sub-plan's node names its child Execution where a Task names its provider.
            n["provider"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    n["childExecution"]
                        .as_str()
                        .map(|c| format!("execution/{c}"))
                })
                .unwrap_or_default(),
            escape_line(message).into_owned(),
        ]);
    }
    out.push_str(&indent(&align(&table)));
    if page["metadata"]["continue"].is_string() {
        out.push_str(&format!(
            "  (the first {MAX_NODES} nodes; the rest: GET {path}&continue=…, or `planspec logs`/`trace`)\n"
        ));
    }
    out
}

/// Revisions `describe` looks back through for the changes of an Execution of more than
/// [`MAX_NODES`] nodes.
pub const LARGE_EXECUTION_HISTORY_WINDOW: i64 = 5 * MAX_EVENTS as i64;

/// Failed nodes listed by `describe execution` for a run of more than [`MAX_NODES`] nodes.
pub const MAX_FAILED_NODES: usize = 20;

/// The nodes of a large Execution: the counters from its status, then the first failed
/// nodes (one filtered page) — never the whole node list.
fn large_execution_nodes(
    client: &crate::client::Client,
    namespace: &str,
    name: &str,
    object: &Value,
) -> String {
    let progress = &object["status"]["extensions"]["progress"];
    let count = |k: &str| progress[k].as_u64().unwrap_or(0);
    let mut out = format!(
        "Nodes:\n  {} in all: {} succeeded, {} failed, {} skipped, {} cancelled, {} running, {} pending\n",
        count("total"),
        count("succeeded"),
        count("failed"),
        count("skipped"),
        count("cancelled"),
        count("running"),
        count("pending"),
    );
    if count("failed") > 0 {
        let failed = super::nodes::Filter {
            phase: Some("Failed"),
            matrix: None,
        };
        if let Ok((items, more)) =
            super::nodes::fetch(client, namespace, name, failed, MAX_FAILED_NODES, None)
        {
            out.push_str(&format!(
                "Failed nodes{}:\n",
                if more.is_some() {
                    format!(" (the first {MAX_FAILED_NODES})")
                } else {
                    String::new()
                }
            ));
            out.push_str(&indent(&super::nodes::table(&items)));
        }
    }
    out.push_str(&format!(
        "  (every node: `planspec get nodes execution/{name} [--phase PHASE]`)\n"
    ));
    out
}

/// How long a node ran (`1.234s`), `running` while it runs, empty before it starts.
pub(crate) fn duration(start: &Value, end: &Value) -> String {
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(v.as_str()?, &time::format_description::well_known::Rfc3339)
            .ok()
    };
    match (parse(start), parse(end)) {
        (Some(a), Some(b)) => {
            let ms = (b - a).whole_milliseconds().max(0);
            format!("{}.{:03}s", ms / 1000, ms % 1000)
        }
        (Some(_), None) => "running".into(),
        _ => String::new(),
    }
}

/// `Kind/name` of the objects in `namespace` whose `ownerReferences` name `object`
/// (the Executions of a Goal …). Lists that fail are skipped: this is a courtesy. Each list
/// is read as a Table, whose rows carry only the objects' metadata — not a 10,000-node Plan.
fn owned_by(client: &crate::client::Client, namespace: &str, object: &Value) -> Vec<String> {
    let Some(uid) = object["metadata"]["uid"].as_str() else {
        return Vec::new();
    };
    let mut owned = Vec::new();
    // What an Execution owns carries its name in a label (its per-run Gates, its sub-plans'
    // child Executions): two selected lists, not every object of the namespace.
    let execution = object["kind"] == "Execution";
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    for kind in planspec_model::Kind::PLAN_MODEL {
        let mut path = Target::Kind(kind).collection(Some(namespace));
        if execution {
            let label = match kind {
                planspec_model::Kind::Gate => "planspec.io/execution",
                planspec_model::Kind::Execution => "planspec.io/parent-execution",
                _ => continue,
            };
            path.push_str(&format!(
                "?labelSelector={}",
                crate::client::encode(&format!("{label}={name}"))
            ));
        }
        let Ok(table) = client.request("GET", &path, crate::client::TABLE, None) else {
            continue;
        };
        for row in table["rows"].as_array().into_iter().flatten() {
            let metadata = &row["object"]["metadata"];
            let owners = metadata["ownerReferences"].as_array();
            if owners.into_iter().flatten().any(|o| o["uid"] == uid) {
                owned.push(format!("{}/{}", kind.as_str(), text(&metadata["name"])));
            }
        }
    }
    owned
}

/// The description of one object.
pub fn describe(object: &Value) -> Result<String, crate::error::Failure> {
    let meta = &object["metadata"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut field = |label: &str, value: String| rows.push(vec![format!("{label}:"), value]);
    field("Name", text(&meta["name"]));
    if meta["namespace"].is_string() {
        field("Namespace", text(&meta["namespace"]));
    }
    field("Kind", text(&object["kind"]));
    field("API Version", text(&object["apiVersion"]));
    field("Labels", pairs(&meta["labels"]));
    field("Annotations", pairs(&meta["annotations"]));
    field("Created", text(&meta["creationTimestamp"]));
    field("Resource Version", text(&meta["resourceVersion"]));
    if !meta["generation"].is_null() {
        field("Generation", text(&meta["generation"]));
    }
    field("UID", text(&meta["uid"]));
    if let Some(owners) = meta["ownerReferences"].as_array() {
        let list: Vec<String> = owners
            .iter()
            .map(|o| format!("{}/{}", text(&o["kind"]), text(&o["name"])))
            .collect();
        field("Owned By", list.join(", "));
    }
    if let Some(finalizers) = meta["finalizers"].as_array() {
        let list: Vec<String> = finalizers.iter().map(text).collect();
        field("Finalizers", list.join(", "));
    }
    if !meta["deletionTimestamp"].is_null() {
        field("Deleting Since", text(&meta["deletionTimestamp"]));
    }
    let mut out = super::resources::align(&rows);
    if let Some(spec) = object.get("spec").filter(|s| !s.is_null()) {
        out.push_str("Spec:\n");
        out.push_str(&indent(&to_yaml(spec)?));
    }
    let status = &object["status"];
    if let Some(map) = status.as_object().filter(|m| !m.is_empty()) {
        let mut rest = map.clone();
        let conditions = rest.remove("conditions");
        if object["kind"] == "Execution" {
            // Shown as the `Nodes:` table instead.
            rest.remove("nodeStatuses");
        }
        if !rest.is_empty() {
            out.push_str("Status:\n");
            out.push_str(&indent(&to_yaml(&Value::Object(rest))?));
        }
        out.push_str("Conditions:\n");
        match conditions.as_ref().and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                let mut table = vec![vec![
                    "Type".to_owned(),
                    "Status".to_owned(),
                    "Reason".to_owned(),
                    "Last Transition".to_owned(),
                    "Message".to_owned(),
                ]];
                for c in list {
                    table.push(vec![
                        text(&c["type"]),
                        text(&c["status"]),
                        text(&c["reason"]),
                        text(&c["lastTransitionTime"]),
                        text(&c["message"]),
                    ]);
                }
                out.push_str(&indent(&align(&table)));
            }
            _ => out.push_str("  <none>\n"),
        }
    } else {
        out.push_str("Status:             <none>\n");
    }
    Ok(out)
}

/// Most changes listed under `Events:` (the most recent ones).
pub const MAX_EVENTS: usize = 10;

/// The `Events:` section: the object's recent changes, oldest first — revision, type
/// (`ADDED`, `MODIFIED`, `DELETED`), when (the newest `managedFields` time of the change,
/// else `creationTimestamp`), and what changed (generation, phase, labels …).
pub fn events(history: Result<History, String>) -> String {
    let history = match history {
        Ok(h) => h,
        Err(e) => {
            return format!(
                "Events:             <cannot read the change log: {}>\n",
                escape_line(&e)
            )
        }
    };
    if history.events.is_empty() {
        return "Events:             <none>\n".to_owned();
    }
    let mut rows = vec![vec![
        "Revision".to_owned(),
        "Type".to_owned(),
        "Time".to_owned(),
        "Change".to_owned(),
    ]];
    let mut previous: Option<&Value> = None;
    let mut all = Vec::new();
    for event in &history.events {
        let object = &event["object"];
        let kind = event["type"].as_str().unwrap_or("");
        all.push(vec![
            text(&object["metadata"]["resourceVersion"]),
            escape_line(kind).into_owned(),
            change_time(object),
            escape_line(&describe_change(kind, previous, object)).into_owned(),
        ]);
        previous = Some(object);
    }
    let skipped = all.len().saturating_sub(MAX_EVENTS);
    rows.extend(all.into_iter().skip(skipped));
    let mut out = String::from("Events:\n");
    if skipped > 0 || !history.complete {
        out.push_str("  (earlier changes not shown)\n");
    }
    out.push_str(&indent(&align(&rows)));
    out
}

/// When a change was made: the newest `time` of the object's `managedFields` (the entry of
/// whoever made the change is stamped with it), else its `deletionTimestamp` or
/// `creationTimestamp`.
fn change_time(object: &Value) -> String {
    let meta = &object["metadata"];
    let newest = meta["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["time"].as_str())
        .max();
    match newest {
        Some(t) => escape_line(t).into_owned(),
        None if meta["deletionTimestamp"].is_string() => text(&meta["deletionTimestamp"]),
        None => text(&meta["creationTimestamp"]),
    }
}

/// What a change did, from the object before (`None`: unknown) and after it.
pub fn describe_change(kind: &str, before: Option<&Value>, after: &Value) -> String {
    let generation = |o: &Value| o["metadata"]["generation"].as_i64();
    let phase = |o: &Value| o["status"]["phase"].as_str().map(str::to_owned);
    match kind {
        "ADDED" => {
            let mut parts = Vec::new();
            if let Some(g) = generation(after) {
                parts.push(format!("generation {g}"));
            }
            if let Some(p) = phase(after) {
                parts.push(format!("phase {p}"));
            }
            if parts.is_empty() {
                "created".to_owned()
            } else {
                format!("created ({})", parts.join(", "))
            }
        }
        "DELETED" => "deleted".to_owned(),
        _ => {
            let Some(before) = before else {
                let mut parts = Vec::new();
                if let Some(g) = generation(after) {
                    parts.push(format!("generation {g}"));
                }
                if let Some(p) = phase(after) {
                    parts.push(format!("phase {p}"));
                }
                return format!("changed ({})", parts.join(", "));
            };
            let mut parts = Vec::new();
            if generation(before) != generation(after) {
                parts.push(format!(
                    "spec changed (generation {} → {})",
                    generation(before).map_or("?".into(), |g| g.to_string()),
                    generation(after).map_or("?".into(), |g| g.to_string())
                ));
            }
            if phase(before) != phase(after) {
                parts.push(format!(
                    "phase {} → {}",
                    phase(before).unwrap_or_else(|| "<none>".into()),
                    phase(after).unwrap_or_else(|| "<none>".into())
                ));
            } else if before["status"] != after["status"] && generation(before) == generation(after)
            {
                // (A spec change brings its own status update: observedGeneration.)
                parts.push("status changed".to_owned());
            }
            for (field, what) in [
                ("labels", "labels"),
                ("annotations", "annotations"),
                ("finalizers", "finalizers"),
                ("ownerReferences", "owners"),
            ] {
                if before["metadata"][field] != after["metadata"][field] {
                    parts.push(format!("{what} changed"));
                }
            }
            if before["metadata"]["deletionTimestamp"].is_null()
                && !after["metadata"]["deletionTimestamp"].is_null()
            {
                parts.push("deletion requested".to_owned());
            }
            if parts.is_empty() {
                "metadata changed".to_owned()
            } else {
                parts.join(", ")
            }
        }
    }
}

fn text(value: &Value) -> String {
    let s = match value {
        Value::Null => "<none>".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    escape_line(&s).into_owned()
}

fn pairs(value: &Value) -> String {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            let list: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            list.join("\n                    ")
        }
        _ => "<none>".to_owned(),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {}\n", escape_line(l)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_metadata_spec_and_conditions() {
        let object = json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "a", "namespace": "default", "labels": {"app": "web"},
                         "resourceVersion": "3", "generation": 1, "uid": "u"},
            "spec": {"description": "x"},
            "status": {"phase": "Ready", "conditions": [
                {"type": "Valid", "status": "True", "reason": "Checked", "message": "ok"}
            ]}
        });
        let text = describe(&object).unwrap();
        assert!(text.starts_with("Name:   "), "{text}");
        assert!(text.contains("Labels:             app=web\n"), "{text}");
        assert!(text.contains("Spec:\n  description: x\n"), "{text}");
        assert!(text.contains("Status:\n  phase: Ready\n"), "{text}");
        assert!(text.contains("  Valid   True     Checked"), "{text}");
    }

    #[test]
    fn events_list_what_changed() {
        let plan = |rv: &str, generation: i64, phase: &str, time: &str| {
            json!({"metadata": {"resourceVersion": rv, "generation": generation,
                                "managedFields": [{"time": "2025-01-01T00:00:00Z"}, {"time": time}]},
                   "status": {"phase": phase}})
        };
        let history = History {
            events: vec![
                json!({"type": "ADDED", "object": plan("3", 1, "Ready", "2025-01-01T00:00:00Z")}),
                json!({"type": "MODIFIED", "object": plan("5", 2, "Ready", "2025-01-01T00:02:00Z")}),
                json!({"type": "MODIFIED", "object": plan("9", 2, "Invalid", "2025-01-01T00:03:00Z")}),
            ],
            complete: true,
        };
        let text = events(Ok(history));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Events:");
        assert!(
            lines[1].starts_with("  Revision   Type       Time"),
            "{text}"
        );
        assert!(
            lines[2].contains("ADDED") && lines[2].ends_with("created (generation 1, phase Ready)"),
            "{text}"
        );
        assert!(
            lines[3].contains("2025-01-01T00:02:00Z")
                && lines[3].ends_with("spec changed (generation 1 → 2)"),
            "{text}"
        );
        assert!(lines[4].ends_with("phase Ready → Invalid"), "{text}");
        assert_eq!(
            events(Ok(History::default())),
            "Events:             <none>\n"
        );
        assert!(events(Err("boom".into())).contains("boom"));
    }
}
