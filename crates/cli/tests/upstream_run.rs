//! Upstream example plans run through the real server (issue 4): the upstream documents
//! (read in place from `../shared/conformance/upstream/`) are applied over the HTTP API as
//! they are, a Binding maps every node (`{matchLabels: {}}`) to an exec command that logs the
//! node's start and end, an Execution runs the plan, and it must succeed with every Task run
//! exactly once, in an order that respects the plan's dependencies as the upstream document
//! states them (`dependsOn` and `edges`, followed through Gates).
//!
//! * `cli-batch-edit-features`: 11 Tasks, two parallel tracks joined at the end, dependencies
//!   given partly by `dependsOn` and partly by `edges` only; with its Goal.
//! * `deploy-with-approval` (`plan-with-gates.yaml`) with the Gate of `gate-approval.yaml`: the
//!   Gate opens once its upstream Tasks are done, nothing downstream runs before it is
//!   approved through `POST …/gates/NAME/review`, and then the run completes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

/// How long an Execution may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn upstream(path: &str) -> PathBuf {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/upstream");
    assert!(
        root.is_dir(),
        "the conformance corpus must sit beside the repository at {}",
        root.display()
    );
    root.join(path)
}

/// The documents of a YAML file (read in place), as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn plural(kind: &str) -> &'static str {
    match kind {
        "Goal" => "goals",
        "Plan" => "plans",
        "Capability" => "capabilities",
        "Binding" => "bindings",
        "Execution" => "executions",
        "Gate" => "gates",
        other => panic!("unexpected kind {other}"),
    }
}

// ------------------------------------------------------------------------------------------
// The server and HTTP.
// ------------------------------------------------------------------------------------------

/// A server on a temporary SQLite file; SIGTERMed (and waited for) when dropped.
struct Server {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite:{}", dir.path().join("planspec.db").display());
        let stderr = std::fs::File::create(dir.path().join("server.stderr")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
            .args([
                "server",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--store",
                &store,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        let server = Server {
            child,
            addr: addr.clone().unwrap_or_default(),
            dir,
        };
        assert!(
            addr.is_some(),
            "the server announced no address ({line:?}); its stderr ends with:\n{}",
            server.stderr_tail()
        );
        server
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.request_as(method, path, body, None)
    }

    /// A request of the dev-mode identity, acting as `user` (with every permission: these
    /// tests are about running upstream plans, not authorization) when one is given.
    fn request_as(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        user: Option<&str>,
    ) -> (u16, Value) {
        let mut request = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(20))
            .build()
            .request(method, &format!("http://{}{path}", self.addr));
        if let Some(user) = user {
            request = request
                .set("Impersonate-User", user)
                .set("Impersonate-Group", "system:masters");
        }
        let result = match body {
            Some(b) => request
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates `object` in its namespace (from `metadata.namespace`, else `default`).
    fn create(&self, object: &Value) {
        let kind = object["kind"].as_str().unwrap_or("");
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        let path = format!(
            "/apis/planspec.io/v1alpha1/namespaces/{ns}/{}",
            plural(kind)
        );
        let (status, body) = self.request("POST", &path, Some(object));
        assert_eq!(
            status, 201,
            "creating {kind} {}: {body:#}",
            object["metadata"]["name"]
        );
    }

    fn create_namespace(&self, name: &str) {
        if name == "default" {
            return;
        }
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let (status, answer) = self.request("POST", "/api/v1/namespaces", Some(&body));
        assert_eq!(status, 201, "creating namespace {name}: {answer:#}");
    }

    fn get(&self, ns: &str, plural: &str, name: &str) -> Value {
        let path = format!("/apis/planspec.io/v1alpha1/namespaces/{ns}/{plural}/{name}");
        let (status, body) = self.request("GET", &path, None);
        assert_eq!(status, 200, "GET {path}: {body:#}");
        body
    }

    fn stderr_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("server.stderr")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) {
            if started.elapsed() > Duration::from_secs(15) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ------------------------------------------------------------------------------------------
// The plan's graph, as the upstream document states it.
// ------------------------------------------------------------------------------------------

/// Node id → kind, and node id → the nodes it waits for (directly).
struct Graph {
    kinds: BTreeMap<String, String>,
    deps: BTreeMap<String, BTreeSet<String>>,
}

fn graph(plan: &Value) -> Graph {
    let spec_graph = &plan["spec"]["graph"];
    let mut kinds = BTreeMap::new();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in spec_graph["nodes"].as_array().expect("the plan has nodes") {
        let id = node["id"].as_str().expect("a node id").to_owned();
        let kind = node["kind"].as_str().unwrap_or("Task").to_owned();
        assert!(
            matches!(kind.as_str(), "Task" | "Gate"),
            "node {id} is a {kind}: this test reads plans of Tasks and Gates"
        );
        let list = deps.entry(id.clone()).or_default();
        for d in node["dependsOn"].as_array().into_iter().flatten() {
            list.insert(d.as_str().expect("a dependsOn id").to_owned());
        }
        kinds.insert(id, kind);
    }
    for edge in spec_graph["edges"].as_array().into_iter().flatten() {
        let from = edge["from"].as_str().expect("edge.from").to_owned();
        let to = edge["to"].as_str().expect("edge.to").to_owned();
        deps.entry(to).or_default().insert(from);
    }
    for (id, list) in &deps {
        for d in list {
            assert!(kinds.contains_key(d), "{id} depends on unknown node {d}");
        }
    }
    Graph { kinds, deps }
}

impl Graph {
    /// Every node `id` waits for, directly or through others.
    fn ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = vec![id];
        while let Some(n) = stack.pop() {
            for d in self.deps.get(n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d);
                }
            }
        }
        seen
    }

    fn tasks(&self) -> impl Iterator<Item = &String> {
        self.kinds
            .iter()
            .filter(|(_, k)| k.as_str() == "Task")
            .map(|(id, _)| id)
    }

    fn edge_count(&self) -> usize {
        self.deps.values().map(BTreeSet::len).sum()
    }
}

// ------------------------------------------------------------------------------------------
// The run log written by the exec tasks.
// ------------------------------------------------------------------------------------------

/// Writes `start NODE`, sleeps (so that concurrent nodes overlap), writes `end NODE`.
fn binding(ns: &str, log: &Path) -> Value {
    let script = format!(
        "echo \"start $PLANSPEC_NODE\" >> '{log}'; sleep 0.05; echo \"end $PLANSPEC_NODE\" >> '{log}'",
        log = log.display()
    );
    json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Binding",
        "metadata": {"name": "every-node-runs-sh", "namespace": ns},
        "spec": {"rules": [{
            "selector": {"matchLabels": {}},
            "target": {"provider": "exec://sh", "config": {"command": ["/bin/sh", "-c", script]}}
        }]}
    })
}

/// Position of each `start`/`end` line per node; every node at most once of each.
struct RunLog {
    start: BTreeMap<String, usize>,
    end: BTreeMap<String, usize>,
    text: String,
}

fn run_log(path: &Path) -> RunLog {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being appended (no newline yet) is left for the next read.
    text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    let mut log = RunLog {
        start: BTreeMap::new(),
        end: BTreeMap::new(),
        text: text.clone(),
    };
    for (i, line) in text.lines().enumerate() {
        let (what, node) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("malformed run log line {line:?}"));
        let map = match what {
            "start" => &mut log.start,
            "end" => &mut log.end,
            other => panic!("unknown run log entry {other:?}"),
        };
        assert!(
            map.insert(node.to_owned(), i).is_none(),
            "node {node} logged `{what}` twice:\n{text}"
        );
    }
    log
}

/// Every Task ran once, after every Task it waits for (through Gates too) had ended.
fn assert_order(graph: &Graph, log: &RunLog) {
    let tasks: BTreeSet<&String> = graph.tasks().collect();
    let ran: BTreeSet<&String> = log.start.keys().collect();
    assert_eq!(ran, tasks, "the nodes that ran:\n{}", log.text);
    let mut checked = 0;
    for b in &tasks {
        let started = log.start[*b];
        assert!(log.end.contains_key(*b), "{b} never ended:\n{}", log.text);
        for a in graph.ancestors(b) {
            if graph.kinds[&a] != "Task" {
                continue;
            }
            let ended = log.end[&a];
            assert!(
                ended < started,
                "{b} started (line {}) before {a}, which it waits for, ended (line {}):\n{}",
                started + 1,
                ended + 1,
                log.text
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "the plan has no dependencies between Tasks");
}

/// Polls the Execution until it is finished; `on_poll` sees it at each poll.
fn wait_finished(server: &Server, ns: &str, name: &str, mut on_poll: impl FnMut(&Value)) -> Value {
    let started = Instant::now();
    loop {
        let execution = server.get(ns, "executions", name);
        let phase = execution["status"]["phase"].as_str().unwrap_or("");
        if matches!(phase, "Succeeded" | "Failed" | "Cancelled") {
            return execution;
        }
        on_poll(&execution);
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "execution {name} did not finish within {RUN_TIMEOUT:?}: {:#}\nserver stderr:\n{}",
            execution["status"],
            server.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_succeeded(execution: &Value, graph: &Graph) {
    let status = &execution["status"];
    assert_eq!(status["phase"], "Succeeded", "{status:#}");
    for (id, kind) in &graph.kinds {
        let node = &status["nodeStatuses"][id];
        assert_eq!(node["phase"], "Succeeded", "{kind} {id}: {node:#}");
    }
    assert_eq!(
        status["extensions"]["progress"]["succeeded"],
        json!(graph.kinds.len()),
        "{status:#}"
    );
}

// ------------------------------------------------------------------------------------------
// The tests.
// ------------------------------------------------------------------------------------------

#[test]
fn cli_batch_edit_features_runs_in_dependency_order() {
    let started = Instant::now();
    let server = Server::start();
    let goal = documents(&upstream(
        "docs/planspec/goals/cli-batch-edit-features.yaml",
    ));
    let plan_docs = documents(&upstream(
        "docs/planspec/plans/cli-batch-edit-features.yaml",
    ));
    let plan = plan_docs
        .iter()
        .find(|d| d["kind"] == "Plan")
        .expect("the file holds a Plan")
        .clone();
    let ns = plan["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = plan["metadata"]["name"].as_str().expect("a plan name");
    let graph = graph(&plan);
    assert!(graph.tasks().count() >= 10 && graph.edge_count() >= 10);

    server.create_namespace(ns);
    for doc in goal.iter().chain(&plan_docs) {
        server.create(doc);
    }
    let log = server.dir.path().join("run.log");
    server.create(&binding(ns, &log));
    server.create(&json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": "batch-edit-run", "namespace": ns},
        "spec": {"planRef": {"name": name}}
    }));

    let execution = wait_finished(&server, ns, "batch-edit-run", |_| {});
    assert_succeeded(&execution, &graph);
    assert_order(&graph, &run_log(&log));
    println!(
        "upstream_run: {name} ({} tasks, {} dependencies) succeeded in {:.1?}",
        graph.tasks().count(),
        graph.edge_count(),
        started.elapsed()
    );
}

#[test]
fn a_gated_upstream_plan_runs_once_its_gate_is_approved() {
    let started = Instant::now();
    let server = Server::start();
    let plan_docs = documents(&upstream("docs/examples/plan-with-gates.yaml"));
    let gate_docs = documents(&upstream("docs/examples/gate-approval.yaml"));
    let plan = plan_docs
        .iter()
        .find(|d| d["kind"] == "Plan")
        .expect("the file holds a Plan")
        .clone();
    let gate = gate_docs
        .iter()
        .find(|d| d["kind"] == "Gate")
        .expect("the file holds a Gate")
        .clone();
    let ns = plan["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = plan["metadata"]["name"].as_str().expect("a plan name");
    let graph = graph(&plan);
    let gate_node = graph
        .kinds
        .iter()
        .find(|(_, k)| k.as_str() == "Gate")
        .map(|(id, _)| id.clone())
        .expect("the plan has a Gate node");
    let gate_name = gate["metadata"]["name"].as_str().expect("a gate name");
    let reviewer = gate["spec"]["reviewers"][0]
        .as_str()
        .expect("the gate names a reviewer")
        .to_owned();
    // Tasks that must be done before the Gate opens, and those that must wait for it.
    let before: BTreeSet<String> = graph
        .ancestors(&gate_node)
        .into_iter()
        .filter(|n| graph.kinds[n] == "Task")
        .collect();
    let after: BTreeSet<String> = graph
        .tasks()
        .filter(|t| graph.ancestors(t).contains(&gate_node))
        .cloned()
        .collect();
    assert!(!before.is_empty() && !after.is_empty());

    server.create_namespace(ns);
    for doc in plan_docs.iter().chain(&gate_docs) {
        server.create(doc);
    }
    let log = server.dir.path().join("run.log");
    server.create(&binding(ns, &log));
    // Named as the upstream Gate's `targetRef` names its Execution.
    let run = gate["spec"]["targetRef"]["name"]
        .as_str()
        .unwrap_or("gated-run")
        .to_owned();
    server.create(&json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": run, "namespace": ns},
        "spec": {"planRef": {"name": name}}
    }));

    let mut approved = false;
    let execution = wait_finished(&server, ns, &run, |execution| {
        if approved {
            return;
        }
        let gate_object = server.get(ns, "gates", gate_name);
        if gate_object["status"]["phase"] != "Waiting" {
            return;
        }
        // The Gate is open: what precedes it is done, nothing after it has started.
        let now = run_log(&log);
        for t in &before {
            assert!(
                now.end.contains_key(t),
                "the gate opened before {t} ended:\n{}",
                now.text
            );
        }
        for t in &after {
            assert!(
                !now.start.contains_key(t),
                "{t} started before the gate was approved:\n{}",
                now.text
            );
        }
        let phase = execution["status"]["nodeStatuses"][&gate_node]["phase"].as_str();
        assert!(
            matches!(phase, Some("Running" | "Pending")),
            "gate node {gate_node} is {phase:?} before any review"
        );
        let path = format!("/apis/planspec.io/v1alpha1/namespaces/{ns}/gates/{gate_name}/review");
        let body = json!({"action": "approve", "comment": "ship it"});
        let (status, answer) = server.request_as("POST", &path, Some(&body), Some(&reviewer));
        assert_eq!(status, 200, "approving {gate_name}: {answer:#}");
        approved = true;
    });
    assert!(
        approved,
        "the gate was never opened: {:#}",
        execution["status"]
    );
    assert_succeeded(&execution, &graph);
    let outputs = &execution["status"]["nodeStatuses"][&gate_node]["outputs"];
    assert_eq!(outputs["approved"], json!(true), "{outputs:#}");
    assert!(
        outputs["by"].as_str().unwrap_or("").contains(&reviewer),
        "the gate node names its approver: {outputs:#}"
    );
    assert_order(&graph, &run_log(&log));
    println!(
        "upstream_run: {name} ({} tasks, gate {gate_name}) succeeded in {:.1?}",
        graph.tasks().count(),
        started.elapsed()
    );
}
