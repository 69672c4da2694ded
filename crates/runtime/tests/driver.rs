//! The runtime driving Executions end to end over a real SQLite store and real processes:
//! ordering and output passing, failures and retries, resume after a restart.

use planspec_runtime::{ProviderRegistry, Runtime, RuntimeOptions};
use planspec_store::{ObjectKey, SqliteOptions, SqliteStore, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

struct Env {
    dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(dir.path().join("planspec.db"), SqliteOptions::default())
                .await
                .unwrap(),
        );
        Env { dir, store }
    }

    fn runtime(&self) -> Runtime {
        Runtime::start(
            self.store.clone() as Arc<dyn Store>,
            ProviderRegistry::with_builtins().unwrap(),
            RuntimeOptions::new(self.dir.path().join("data")),
        )
    }

    async fn put(&self, kind: &str, name: &str, spec: Value) {
        let uid = format!("uid-{kind}-{name}").to_lowercase();
        let object = json!({"apiVersion": "planspec.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": "default", "uid": uid, "generation": 1,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": spec});
        self.store
            .create(ObjectKey::new(kind, "default", name), uid, object)
            .await
            .unwrap();
    }

    async fn get(&self, kind: &str, name: &str) -> Value {
        self.store
            .get(&ObjectKey::new(kind, "default", name))
            .await
            .unwrap()
            .unwrap()
            .object
    }

    /// Waits until the Execution `name` is finished; returns it.
    async fn finished(&self, name: &str) -> Value {
        for _ in 0..400 {
            let e = self.get("Execution", name).await;
            if matches!(
                e.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed" | "Cancelled")
            ) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "execution {name} did not finish: {:#}",
            self.get("Execution", name).await
        );
    }

    async fn journal(&self, uid: &str) -> Vec<Value> {
        self.store
            .read_journal(uid, 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.entry)
            .collect()
    }
}

fn sh(script: &str) -> Value {
    json!({"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}})
}

fn node_rule(node: &str, target: Value) -> Value {
    json!({"selector": {"planRef": {"name": "p"}, "nodeId": node}, "target": target})
}

fn phase_of(e: &Value, node: &str) -> String {
    e.pointer(&format!("/status/nodeStatuses/{node}/phase"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_runs_in_order_and_passes_outputs() {
    let env = Env::new().await;
    let log = env.dir.path().join("order.log");
    let log = log.display();
    env.put(
        "Plan",
        "p",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "a", "kind": "Task"},
            {"id": "b", "kind": "Task", "dependsOn": ["a"],
             "inputs": {"text": "${{ nodes.a.outputs.msg }}"}},
            {"id": "c", "kind": "Task", "dependsOn": ["a"]},
            {"id": "d", "kind": "Task", "dependsOn": ["b", "c"]}
        ]}}),
    )
    .await;
    env.put(
        "Binding",
        "b",
        json!({"rules": [
            node_rule("a", sh(&format!("echo a >> {log}; echo '{{\"msg\": \"hello\"}}'"))),
            node_rule("b", sh(&format!("echo b >> {log}; printf '{{\"got\": \"%s\"}}' \"$PLANSPEC_INPUT_TEXT\" > \"$PLANSPEC_OUTPUTS\""))),
            node_rule("c", sh(&format!("echo c >> {log}"))),
            node_rule("d", sh(&format!("echo d >> {log}"))),
        ]}),
    )
    .await;
    env.put(
        "Execution",
        "run",
        json!({"planRef": {"name": "p"}, "bindingRef": {"name": "b"}}),
    )
    .await;
    let _runtime = env.runtime();
    let e = env.finished("run").await;
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    assert_eq!(
        e.pointer("/status/nodeStatuses/b/outputs/got"),
        Some(&json!("hello"))
    );
    let order = std::fs::read_to_string(env.dir.path().join("order.log")).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 4, "{order}");
    assert_eq!(lines[0], "a");
    assert_eq!(lines[3], "d");
    let progress = &e["status"]["extensions"]["progress"];
    assert_eq!(progress["succeeded"], 4);
    // The journal starts with the pinned plan and providers.
    let journal = env.journal("uid-execution-run").await;
    assert_eq!(journal[0]["type"], "ExecutionStarted");
    assert_eq!(
        journal[0]["pinned"]["providers"]["a"]["uri"],
        json!("exec://sh")
    );
    assert!(journal.iter().any(|j| j["type"] == "ExecutionCompleted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_skips_its_dependents_and_retries_come_first() {
    let env = Env::new().await;
    let counter = env.dir.path().join("attempts");
    let counter = counter.display();
    env.put(
        "Plan",
        "p",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "flaky", "kind": "Task", "retries": 2,
             "retryPolicy": {"backoff": {"initial": "10ms", "max": "20ms"}}},
            {"id": "broken", "kind": "Task"},
            {"id": "after", "kind": "Task", "dependsOn": ["broken"]}
        ]}}),
    )
    .await;
    env.put(
        "Binding",
        "b",
        json!({"rules": [
            // Fails twice, then succeeds.
            node_rule("flaky", sh(&format!("echo x >> {counter}; [ $(wc -l < {counter}) -ge 3 ]"))),
            node_rule("broken", sh("echo nope >&2; exit 3")),
            node_rule("after", sh("true")),
        ]}),
    )
    .await;
    env.put("Execution", "run", json!({"planRef": {"name": "p"}}))
        .await;
    let _runtime = env.runtime();
    let e = env.finished("run").await;
    assert_eq!(e["status"]["phase"], "Failed");
    assert_eq!(phase_of(&e, "flaky"), "Succeeded");
    assert_eq!(e["status"]["nodeStatuses"]["flaky"]["attempt"], 3);
    assert_eq!(phase_of(&e, "broken"), "Failed");
    assert_eq!(phase_of(&e, "after"), "Skipped");
    assert_eq!(
        e["status"]["nodeStatuses"]["after"]["extensions"]["reason"],
        "upstream_failed"
    );
    let message = e["status"]["nodeStatuses"]["broken"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("ExitNonZero"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbound_task_fails_the_execution_before_anything_runs() {
    let env = Env::new().await;
    env.put(
        "Plan",
        "p",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "a", "kind": "Task"}, {"id": "b", "kind": "Task"}]}}),
    )
    .await;
    env.put(
        "Binding",
        "b",
        json!({"rules": [node_rule("a", json!({"provider": "agent://claude"}))]}),
    )
    .await;
    env.put(
        "Execution",
        "run",
        json!({"planRef": {"name": "p"}, "bindingRef": {"name": "b"}}),
    )
    .await;
    let _runtime = env.runtime();
    let e = env.finished("run").await;
    assert_eq!(e["status"]["phase"], "Failed");
    assert_eq!(e["status"]["reason"], "provider_unbound");
    let message = e["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("a: ") && message.contains("agent"),
        "{message}"
    );
    assert!(message.contains("b: no rule"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_runtime_resumes_with_the_same_idempotency_keys() {
    let env = Env::new().await;
    let marks = env.dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let marks = marks.display();
    env.put(
        "Plan",
        "p",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "slow", "kind": "Task"},
            {"id": "next", "kind": "Task", "dependsOn": ["slow"]}
        ]}}),
    )
    .await;
    // `slow` records its key and waits for a release file the test creates later.
    env.put(
        "Binding",
        "b",
        json!({"rules": [
            node_rule("slow", sh(&format!(
                "echo \"$PLANSPEC_IDEMPOTENCY_KEY\" >> {marks}/slow.keys; \
                 while [ ! -f {marks}/release ]; do sleep 0.05; done"))),
            node_rule("next", sh(&format!("echo \"$PLANSPEC_IDEMPOTENCY_KEY\" >> {marks}/next.keys"))),
        ]}),
    )
    .await;
    env.put("Execution", "run", json!({"planRef": {"name": "p"}}))
        .await;
    let runtime = env.runtime();
    let keys = env.dir.path().join("marks/slow.keys");
    for _ in 0..200 {
        if keys.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(keys.exists(), "slow never started");
    // A shutdown leaves the attempt to be resumed.
    runtime.shutdown().await;
    std::fs::write(env.dir.path().join("marks/release"), "").unwrap();
    let _runtime = env.runtime();
    let e = env.finished("run").await;
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    let slow_keys = std::fs::read_to_string(&keys).unwrap();
    let lines: Vec<&str> = slow_keys.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "dispatched before the shutdown and again after it: {lines:?}"
    );
    assert_eq!(lines[0], lines[1], "a resumed attempt keeps its key");
    let next_keys = std::fs::read_to_string(env.dir.path().join("marks/next.keys")).unwrap();
    assert_eq!(next_keys.lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_whose_journal_cannot_be_resumed_is_marked_failed() {
    let env = Env::new().await;
    env.put(
        "Plan",
        "p",
        json!({"description": "d", "graph": {"nodes": [{"id": "a", "kind": "Task"}]}}),
    )
    .await;
    env.put("Execution", "run", json!({"planRef": {"name": "p"}}))
        .await;
    // A journal whose first entry is not an engine event (as a future or damaged store
    // might hold): the runtime must not leave the run looking alive.
    env.store
        .transact(vec![planspec_store::WriteOp::AppendJournal {
            execution_uid: "uid-execution-run".into(),
            expected_next_seq: 0,
            entries: vec![json!({"type": "SomethingNew", "at": 1})],
        }])
        .await
        .unwrap();
    let _runtime = env.runtime();
    let e = env.finished("run").await;
    assert_eq!(e["status"]["phase"], "Failed");
    assert_eq!(e["status"]["reason"], "journal_unreadable");
    assert_eq!(
        env.journal("uid-execution-run").await.len(),
        1,
        "the journal is kept"
    );
}
