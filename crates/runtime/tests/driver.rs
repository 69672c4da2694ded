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

    /// Plan `inner` (one Task `work`), Plan `wrap` running it as its one `Plan` node, and
    /// Binding `b` giving `work` the provider `target`.
    async fn put_wrapped_plan(&self, target: Value) {
        self.put(
            "Plan",
            "inner",
            json!({"description": "d", "graph": {"nodes": [{"id": "work", "kind": "Task"}]}}),
        )
        .await;
        self.put(
            "Plan",
            "wrap",
            json!({"description": "d", "graph": {"nodes": [
                {"id": "inner", "kind": "Plan", "planRef": {"name": "inner"}}
            ]}}),
        )
        .await;
        self.put(
            "Binding",
            "b",
            json!({"rules": [{"selector": {"planRef": {"name": "inner"}, "nodeId": "work"},
                              "target": target}]}),
        )
        .await;
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

/// A hand-made Execution that poses as a sub-plan child (the parent labels and an Execution
/// controller owner, written straight to the store, past the API server's refusal) is not
/// believed: its uid is not the one the runtime derives for the parent's node, so it fails
/// with `subplan_forbidden` and runs nothing (neither the parent's pinned sub-plan with its
/// parameters, nor the plan its own `planRef` names).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_sub_plan_child_fails_and_runs_nothing() {
    let env = Env::new().await;
    let ran = env.dir.path().join("ran.txt");
    let ran_text = ran.display();
    for name in ["inner", "other"] {
        env.put(
            "Plan",
            name,
            json!({"description": "d", "graph": {"nodes": [{"id": "work", "kind": "Task"}]}}),
        )
        .await;
    }
    env.put(
        "Plan",
        "wrap",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "hold", "kind": "External", "externalRef": {"type": "manual"}},
            {"id": "inner", "kind": "Plan", "dependsOn": ["hold"], "planRef": {"name": "inner"}}
        ]}}),
    )
    .await;
    let rule = |plan: &str| {
        json!({"selector": {"planRef": {"name": plan}, "nodeId": "work"},
               "target": sh(&format!("echo {plan} >> {ran_text}"))})
    };
    env.put(
        "Binding",
        "b",
        json!({"rules": [rule("inner"), rule("other")]}),
    )
    .await;
    env.put(
        "Execution",
        "rel",
        json!({"planRef": {"name": "wrap"}, "bindingRef": {"name": "b"}}),
    )
    .await;
    let _runtime = env.runtime();
    // The parent has pinned its tree (and waits at `hold`).
    for _ in 0..400 {
        if !env.journal("uid-execution-rel").await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!env.journal("uid-execution-rel").await.is_empty());
    for (name, plan) in [("rel-inner", "inner"), ("sneaky", "other")] {
        let object = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
            "metadata": {"name": name, "namespace": "default", "uid": format!("forged-{name}"),
                "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"planspec.io/parent-execution": "rel",
                           "planspec.io/parent-node": "inner"},
                "ownerReferences": [{"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
                    "name": "rel", "uid": "uid-execution-rel", "controller": true}]},
            "spec": {"planRef": {"name": plan}, "bindingRef": {"name": "b"},
                     "parameters": {"chosen": "by the attacker"}}});
        env.store
            .create(
                ObjectKey::new("Execution", "default", name),
                format!("forged-{name}"),
                object,
            )
            .await
            .unwrap();
        let e = env.finished(name).await;
        assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
        assert_eq!(e["status"]["reason"], "subplan_forbidden", "{e:#}");
        assert!(
            e["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("poses as the child of execution rel"),
            "{e:#}"
        );
    }
    assert!(!ran.exists(), "a forged child ran something");
}

/// A store that refuses to create child Executions (with a backend error, not
/// `AlreadyExists`) the first `fail` times; everything else goes to the real store.
struct FlakyChildren {
    inner: Arc<SqliteStore>,
    fail: std::sync::atomic::AtomicU32,
    /// Node records written for the Execution with uid `uid-execution-rel`.
    rel_records: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Store for FlakyChildren {
    async fn get(
        &self,
        key: &ObjectKey,
    ) -> planspec_store::Result<Option<planspec_store::StoredObject>> {
        self.inner.get(key).await
    }
    async fn list(
        &self,
        query: &planspec_store::ListQuery,
    ) -> planspec_store::Result<planspec_store::ListPage> {
        self.inner.list(query).await
    }
    async fn transact(
        &self,
        ops: Vec<planspec_store::WriteOp>,
    ) -> planspec_store::Result<Vec<planspec_store::Change>> {
        let child = ops.iter().any(|op| {
            matches!(op, planspec_store::WriteOp::Create { key, object, .. }
                if key.kind == "Execution"
                    && object.pointer("/metadata/labels/planspec.io~1parent-execution").is_some())
        });
        for op in &ops {
            if let planspec_store::WriteOp::PutNodeRecords {
                execution_uid,
                records,
            } = op
            {
                if execution_uid == "uid-execution-rel" {
                    self.rel_records
                        .fetch_add(records.len(), std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
        if child {
            let left = self.fail.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.fail
                    .store(left - 1, std::sync::atomic::Ordering::SeqCst);
                return Err(planspec_store::StoreError::Backend("disk on fire".into()));
            }
        }
        self.inner.transact(ops).await
    }
    async fn changes_since(
        &self,
        revision: i64,
        limit: usize,
    ) -> planspec_store::Result<planspec_store::ChangePage> {
        self.inner.changes_since(revision, limit).await
    }
    async fn current_revision(&self) -> planspec_store::Result<i64> {
        self.inner.current_revision().await
    }
    fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.inner.subscribe()
    }
    async fn compact(&self, retain: usize) -> planspec_store::Result<i64> {
        self.inner.compact(retain).await
    }
    async fn compacted_revision(&self) -> planspec_store::Result<i64> {
        self.inner.compacted_revision().await
    }
    async fn list_owned_by(
        &self,
        owner_uid: &str,
    ) -> planspec_store::Result<Vec<planspec_store::StoredObject>> {
        self.inner.list_owned_by(owner_uid).await
    }
    async fn read_journal(
        &self,
        uid: &str,
        from: u64,
        limit: usize,
    ) -> planspec_store::Result<Vec<planspec_store::JournalEntry>> {
        self.inner.read_journal(uid, from, limit).await
    }
    async fn journal_len(&self, uid: &str) -> planspec_store::Result<u64> {
        self.inner.journal_len(uid).await
    }
    async fn list_node_records(
        &self,
        query: &planspec_store::NodeRecordQuery,
    ) -> planspec_store::Result<planspec_store::NodeRecordPage> {
        self.inner.list_node_records(query).await
    }
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: u64,
        now_ms: i64,
    ) -> planspec_store::Result<Option<planspec_store::Lease>> {
        self.inner.acquire_lease(name, holder, ttl_ms, now_ms).await
    }
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        token: u64,
        ttl_ms: u64,
        now_ms: i64,
    ) -> planspec_store::Result<Option<planspec_store::Lease>> {
        self.inner
            .renew_lease(name, holder, token, ttl_ms, now_ms)
            .await
    }
    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        token: u64,
    ) -> planspec_store::Result<bool> {
        self.inner.release_lease(name, holder, token).await
    }
    async fn list_leases(
        &self,
        prefix: &str,
    ) -> planspec_store::Result<Vec<planspec_store::Lease>> {
        self.inner.list_leases(prefix).await
    }
    async fn read_audit(
        &self,
        query: &planspec_store::AuditQuery,
    ) -> planspec_store::Result<planspec_store::AuditPage> {
        self.inner.read_audit(query).await
    }
    async fn audit_head(&self) -> planspec_store::Result<planspec_store::ChainHead> {
        self.inner.audit_head().await
    }
}

/// Creating a child Execution that fails in the store is tried again with backoff (a
/// passing failure: the child runs); a store that keeps failing fails the `Plan` node with
/// `subplan_failed` instead of leaving it Running forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_the_store_cannot_create_is_retried_then_fails_its_node() {
    for (fail, expect) in [(2, "Succeeded"), (1000, "Failed")] {
        let env = Env::new().await;
        env.put_wrapped_plan(sh("true")).await;
        env.put(
            "Execution",
            "rel",
            json!({"planRef": {"name": "wrap"}, "bindingRef": {"name": "b"}}),
        )
        .await;
        let store = Arc::new(FlakyChildren {
            inner: env.store.clone(),
            fail: std::sync::atomic::AtomicU32::new(fail),
            rel_records: Default::default(),
        });
        let _runtime = Runtime::start(
            store as Arc<dyn Store>,
            ProviderRegistry::with_builtins().unwrap(),
            RuntimeOptions::new(env.dir.path().join("data")),
        );
        let e = env.finished("rel").await;
        assert_eq!(e["status"]["phase"], expect, "{e:#}");
        if expect == "Failed" {
            let node = &e["status"]["nodeStatuses"]["inner"];
            assert_eq!(node["phase"], "Failed", "{e:#}");
            let text = e.to_string();
            assert!(
                text.contains("could not be created") && text.contains("disk on fire"),
                "{e:#}"
            );
        }
    }
}

/// A driver that stops while the runtime lives on (another writer appended to its journal:
/// `JournalConflict`) gives up the leases its Execution held; they used to stay held, renewed
/// forever by the live runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_stopped_by_a_journal_conflict_releases_its_leases() {
    let env = Env::new().await;
    let marks = env.dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let marks = marks.display();
    env.put(
        "Plan",
        "p",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "hold", "kind": "Task", "concurrency": {"key": "k"}}
        ]}}),
    )
    .await;
    env.put(
        "Binding",
        "b",
        json!({"rules": [node_rule("hold", sh(&format!(
            "touch {marks}/started; while [ ! -f {marks}/release ]; do sleep 0.05; done")))]}),
    )
    .await;
    env.put("Execution", "run", json!({"planRef": {"name": "p"}}))
        .await;
    let _runtime = env.runtime();
    let started = env.dir.path().join("marks/started");
    for _ in 0..400 {
        if started.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started.exists(), "hold never started");
    let held = env.store.list_leases("concurrency/").await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    // Another writer appends to the journal; the driver's next write conflicts and it stops.
    let len = env.journal("uid-execution-run").await.len() as u64;
    env.store
        .transact(vec![planspec_store::WriteOp::AppendJournal {
            execution_uid: "uid-execution-run".into(),
            expected_next_seq: len,
            entries: vec![json!({"type": "SomethingNew", "at": 1})],
        }])
        .await
        .unwrap();
    std::fs::write(env.dir.path().join("marks/release"), "").unwrap();
    for _ in 0..200 {
        if env
            .store
            .list_leases("concurrency/")
            .await
            .unwrap()
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the lease is still held: {:?}",
        env.store.list_leases("concurrency/").await.unwrap()
    );
}

/// A child whose outputs together pass the engine's `max_output_bytes` (each node's within
/// it) fails its `Plan` node with `outputs_too_large`, and the parent's journal never holds
/// them: the runtime stops reading at the limit and reports the end without outputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_with_outputs_over_the_limit_fails_its_node_without_journaling_them() {
    let env = Env::new().await;
    env.put(
        "Plan",
        "inner",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "a", "kind": "Task"}, {"id": "b", "kind": "Task"}
        ]}}),
    )
    .await;
    env.put(
        "Plan",
        "wrap",
        json!({"description": "d", "graph": {"nodes": [
            {"id": "inner", "kind": "Plan", "planRef": {"name": "inner"}}
        ]}}),
    )
    .await;
    // 150,000 bytes each: within the limit (256 KiB) alone, over it together.
    let big = sh(
        "printf '{\"blob\": \"%s\"}' \"$(head -c 150000 /dev/zero | tr '\\0' a)\" > \"$PLANSPEC_OUTPUTS\"",
    );
    let rule = |node: &str| json!({"selector": {"planRef": {"name": "inner"}, "nodeId": node}, "target": big.clone()});
    env.put("Binding", "b", json!({"rules": [rule("a"), rule("b")]}))
        .await;
    env.put(
        "Execution",
        "rel",
        json!({"planRef": {"name": "wrap"}, "bindingRef": {"name": "b"}}),
    )
    .await;
    let _runtime = env.runtime();
    let e = env.finished("rel").await;
    assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
    let child = env.get("Execution", "rel-inner").await;
    assert_eq!(child["status"]["phase"], "Succeeded", "{child:#}");
    let node = &e["status"]["nodeStatuses"]["inner"];
    assert_eq!(
        node["extensions"]["reason"], "outputs_too_large",
        "{node:#}"
    );
    let journal = env.journal("uid-execution-rel").await;
    let finished = journal
        .iter()
        .find(|j| j["type"] == "ChildFinished")
        .expect("a ChildFinished entry");
    let size = finished.to_string().len();
    assert!(size < 4096, "ChildFinished is {size} bytes: {finished}");
    assert!(finished.get("outputs").is_none(), "{finished}");
}

/// Allows `execute` on the Plans listed, for anyone.
#[derive(Debug)]
struct OnlyPlans(Vec<&'static str>);

impl planspec_runtime::driver::subplan::PlanAuthorizer for OnlyPlans {
    fn may_execute<'a>(
        &'a self,
        _user: &'a planspec_model::actor::UserInfo,
        _namespace: &'a str,
        plan: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        let allowed = self.0.contains(&plan);
        Box::pin(async move { allowed })
    }
}

/// At start, the runtime checks `execute` on every Plan of the sub-plan tree it pins for the
/// root's creator (the API server checked the tree it saw at admission; the Plans may have
/// changed since): a Plan the creator may not run fails the root with `subplan_forbidden`
/// before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_plan_the_creator_may_not_execute_fails_the_root_at_start() {
    let env = Env::new().await;
    let ran = env.dir.path().join("ran.txt");
    env.put_wrapped_plan(sh(&format!("echo ran >> {}", ran.display())))
        .await;
    let object = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
        "metadata": {"name": "rel", "namespace": "default", "uid": "uid-execution-rel",
            "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {"planspec.io/created-by": "bob"}},
        "spec": {"planRef": {"name": "wrap"}, "bindingRef": {"name": "b"}}});
    env.store
        .create(
            ObjectKey::new("Execution", "default", "rel"),
            "uid-execution-rel".into(),
            object,
        )
        .await
        .unwrap();
    let _runtime = Runtime::start(
        env.store.clone() as Arc<dyn Store>,
        ProviderRegistry::with_builtins().unwrap(),
        RuntimeOptions {
            plan_authorizer: Some(Arc::new(OnlyPlans(vec!["wrap"]))),
            ..RuntimeOptions::new(env.dir.path().join("data"))
        },
    );
    let e = env.finished("rel").await;
    assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
    assert_eq!(e["status"]["reason"], "subplan_forbidden", "{e:#}");
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"bob\" may not execute plan default/inner"),
        "{message}"
    );
    assert!(!ran.exists(), "the sub-plan ran");
}

/// Starting a child writes the record of its `Plan` node alone: a run of many sub-plans does
/// not rewrite the record of every child started before on each start (40 children: about
/// 40 × 40 / 2 record writes before; a few per node now).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_children_does_not_rewrite_every_childs_record() {
    let env = Env::new().await;
    env.put(
        "Plan",
        "inner",
        json!({"description": "d", "graph": {"nodes": [{"id": "work", "kind": "Task"}]}}),
    )
    .await;
    let nodes: Vec<Value> = (0..40)
        .map(|i| json!({"id": format!("p{i}"), "kind": "Plan", "planRef": {"name": "inner"}}))
        .collect();
    env.put(
        "Plan",
        "wrap",
        json!({"description": "d", "graph": {"nodes": nodes}}),
    )
    .await;
    env.put(
        "Binding",
        "b",
        json!({"rules": [{"selector": {"planRef": {"name": "inner"}, "nodeId": "work"},
                          "target": sh("true")}]}),
    )
    .await;
    env.put(
        "Execution",
        "rel",
        json!({"planRef": {"name": "wrap"}, "bindingRef": {"name": "b"}}),
    )
    .await;
    let store = Arc::new(FlakyChildren {
        inner: env.store.clone(),
        fail: std::sync::atomic::AtomicU32::new(0),
        rel_records: Default::default(),
    });
    let _runtime = Runtime::start(
        store.clone() as Arc<dyn Store>,
        ProviderRegistry::with_builtins().unwrap(),
        RuntimeOptions::new(env.dir.path().join("data")),
    );
    let e = env.finished("rel").await;
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    let written = store.rel_records.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        written <= 40 * 6,
        "{written} node records written for 40 Plan nodes"
    );
}
