//! The execution operations over HTTP, against a real server, store, runtime and processes:
//! cancel, retry, complete/fail of a human node, journal and node pages, logs, Gate reviews
//! deciding a Gate node — and the routes beside them still reaching their objects.

mod common;

use common::{Client, TestServer};
use planspec_runtime::{ProviderRegistry, Runtime, RuntimeOptions};
use planspec_server::controllers::{self, Controllers};
use planspec_store::Store;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const V: &str = "/apis/planspec.io/v1alpha1/namespaces/default";

struct Env {
    server: TestServer,
    c: Client,
    _runtime: Runtime,
    _controllers: Controllers,
}

async fn start() -> Env {
    let server = TestServer::start().await;
    let data = server.dir.path().join("data");
    let runtime = Runtime::start(
        server.store.clone() as Arc<dyn Store>,
        ProviderRegistry::with_builtins().unwrap(),
        RuntimeOptions::new(&data),
    );
    server.api.attach_runtime(runtime.handle(), data);
    let controllers = Controllers::start(server.api.clone(), controllers::standard());
    let c = server.client();
    Env {
        server,
        c,
        _runtime: runtime,
        _controllers: controllers,
    }
}

impl Env {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.c.post(path, &body).await.expect(201).json()
    }

    async fn op(&self, path: &str, body: Value, code: u16) -> Value {
        self.op_as("user:ann", path, body, code).await
    }

    async fn op_as(&self, user: &str, path: &str, body: Value, code: u16) -> Value {
        let reply = self
            .c
            .request(
                "POST",
                path,
                &[
                    ("content-type", "application/json"),
                    // The dev-mode identity acts as `user` (ann by default), with every
                    // permission: these tests are about the operations, not authorization
                    // (tests/rbac.rs).
                    ("impersonate-user", user),
                    ("impersonate-group", "system:masters"),
                ],
                body.to_string().into_bytes(),
            )
            .await;
        reply.expect(code).json()
    }

    async fn until(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..300 {
            last = self
                .c
                .get(&format!("{V}/executions/{name}"))
                .await
                .expect(200)
                .json();
            if check(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        panic!("{what}: not reached: {last:#}");
    }
}

fn phase(e: &Value) -> &str {
    e["status"]["phase"].as_str().unwrap_or("")
}

fn node_phase<'a>(e: &'a Value, node: &str) -> &'a str {
    e["status"]["nodeStatuses"][node]["phase"]
        .as_str()
        .unwrap_or("")
}

fn plan(nodes: Value) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan", "metadata": {"name": "p"},
           "spec": {"description": "d", "graph": {"nodes": nodes}}})
}

fn binding(rules: Value) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Binding", "metadata": {"name": "b"},
           "spec": {"rules": rules}})
}

fn rule(node: &str, provider: &str, config: Value) -> Value {
    json!({"selector": {"planRef": {"name": "p"}, "nodeId": node},
           "target": {"provider": provider, "config": config}})
}

fn execution(name: &str) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution", "metadata": {"name": name},
           "spec": {"planRef": {"name": "p"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_node_is_completed_and_the_journal_and_nodes_are_paged() {
    let env = start().await;
    env.post(
        &format!("{V}/plans"),
        plan(json!([
            {"id": "ask", "kind": "Task"},
            {"id": "use", "kind": "Task", "dependsOn": ["ask"],
             "inputs": {"answer": "${{ nodes.ask.outputs.answer }}"}}
        ])),
    )
    .await;
    env.post(
        &format!("{V}/bindings"),
        binding(json!([
            rule("ask", "human://release-manager", json!({"prompt": "pick a version"})),
            rule("use", "exec://sh", json!({"command": ["sh", "-c", "echo \"got $PLANSPEC_INPUT_ANSWER\"; echo \"{\\\"v\\\": \\\"$PLANSPEC_INPUT_ANSWER\\\"}\""]})),
        ])),
    )
    .await;
    env.post(&format!("{V}/executions"), execution("run")).await;
    let e = env
        .until("run", "awaiting a person", |e| {
            e["status"]["extensions"]["awaitingHuman"] == json!(["ask"])
        })
        .await;
    assert_eq!(phase(&e), "Blocked");
    assert!(e["status"]["nodeStatuses"]["ask"]["message"]
        .as_str()
        .unwrap()
        .contains("pick a version"));
    // The status route of an execution still works beside the operations routes.
    env.c
        .get(&format!("{V}/executions/run/status"))
        .await
        .expect(200);
    // Completing a node that does not wait is refused.
    env.op(
        &format!("{V}/executions/run/nodes/use/complete"),
        json!({}),
        409,
    )
    .await;
    env.op(
        &format!("{V}/executions/run/nodes/ask/complete"),
        json!({"outputs": {"answer": "1.2.3"}}),
        200,
    )
    .await;
    let e = env
        .until("run", "succeeded", |e| phase(e) == "Succeeded")
        .await;
    assert_eq!(e["status"]["nodeStatuses"]["use"]["outputs"]["v"], "1.2.3");

    let journal = env
        .c
        .get(&format!("{V}/executions/run/journal?limit=3"))
        .await
        .expect(200)
        .json();
    assert_eq!(journal["items"].as_array().unwrap().len(), 3);
    assert_eq!(journal["items"][0]["entry"]["type"], "ExecutionStarted");
    let next = journal["metadata"]["continue"].as_str().unwrap().to_owned();
    let rest = env
        .c
        .get(&format!("{V}/executions/run/journal?continue={next}"))
        .await
        .expect(200)
        .json();
    let all = rest["items"].as_array().unwrap();
    assert!(all
        .iter()
        .any(|i| i["entry"]["type"] == "ExecutionCompleted"));
    let completed = all
        .iter()
        .find(|i| i["entry"]["type"] == "NodeResult" && i["entry"]["node"] == "ask")
        .expect("the person's result is journaled");
    assert_eq!(completed["entry"]["outcome"]["outputs"]["answer"], "1.2.3");

    let nodes = env
        .c
        .get(&format!("{V}/executions/run/nodes?limit=1"))
        .await
        .expect(200)
        .json();
    assert_eq!(nodes["items"].as_array().unwrap().len(), 1);
    assert_eq!(nodes["items"][0]["node"], "ask");
    let after = nodes["metadata"]["continue"].as_str().unwrap();
    let page2 = env
        .c
        .get(&format!(
            "{V}/executions/run/nodes?limit=1&continue={after}"
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(page2["items"][0]["node"], "use");
    let succeeded = env
        .c
        .get(&format!("{V}/executions/run/nodes?phase=Succeeded"))
        .await
        .expect(200)
        .json();
    assert_eq!(succeeded["items"].as_array().unwrap().len(), 2);

    let log = env
        .c
        .get(&format!("{V}/executions/run/nodes/use/log"))
        .await
        .expect(200);
    assert_eq!(log.headers["x-log-attempt"], "1");
    assert_eq!(log.headers["x-log-complete"], "true");
    assert!(String::from_utf8_lossy(&log.body).contains("got 1.2.3"));
    env.c
        .get(&format!("{V}/executions/run/nodes/ask/log?attempt=7"))
        .await
        .expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_cancel_lets_running_work_finish_and_force_kills_it() {
    let env = start().await;
    let dir = env.server.dir.path().display().to_string();
    env.post(
        &format!("{V}/plans"),
        plan(json!([
            {"id": "slow", "kind": "Task", "inputs": {"secs": "${{ parameters.secs }}"}},
            {"id": "after", "kind": "Task", "dependsOn": ["slow"]}
        ])),
    )
    .await;
    env.post(
        &format!("{V}/bindings"),
        binding(json!([
            rule("slow", "exec://sh", json!({"command": ["sh", "-c", format!("echo start >> {dir}/slow-$PLANSPEC_INPUT_SECS; sleep $PLANSPEC_INPUT_SECS; echo done >> {dir}/slow-$PLANSPEC_INPUT_SECS")]})),
            rule("after", "exec://sh", json!({"command": ["sh", "-c", format!("echo x >> {dir}/after.runs")]})),
        ])),
    )
    .await;
    for (name, secs) in [("gentle", 1), ("hard", 30)] {
        let mut e = execution(name);
        e["spec"]["parameters"] = json!({"secs": secs.to_string()});
        env.post(&format!("{V}/executions"), e).await;
    }
    env.until("gentle", "slow running", |e| {
        node_phase(e, "slow") == "Running"
    })
    .await;
    env.until("hard", "slow running", |e| {
        node_phase(e, "slow") == "Running"
    })
    .await;
    env.op(&format!("{V}/executions/gentle/cancel"), json!({}), 200)
        .await;
    env.op(
        &format!("{V}/executions/hard/cancel?force=true"),
        json!({}),
        200,
    )
    .await;
    let hard = env
        .until("hard", "force-cancelled", |e| phase(e) == "Cancelled")
        .await;
    assert_ne!(node_phase(&hard, "slow"), "Succeeded");
    let gentle = env
        .until("gentle", "cancelled", |e| phase(e) == "Cancelled")
        .await;
    assert_eq!(node_phase(&gentle, "slow"), "Succeeded", "{gentle:#}");
    assert_eq!(node_phase(&gentle, "after"), "Cancelled");
    assert!(!env.server.dir.path().join("after.runs").exists());
    let hard_log = std::fs::read_to_string(env.server.dir.path().join("slow-30")).unwrap();
    assert_eq!(
        hard_log.trim(),
        "start",
        "the forced cancel killed the process"
    );
    // Cancelling a finished run is refused.
    env.op(&format!("{V}/executions/gentle/cancel"), json!({}), 409)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_from_a_node_keeps_successful_upstream_outputs() {
    let env = start().await;
    let dir = env.server.dir.path().display().to_string();
    env.post(
        &format!("{V}/plans"),
        plan(json!([
            {"id": "first", "kind": "Task"},
            {"id": "check", "kind": "Task", "dependsOn": ["first"],
             "inputs": {"token": "${{ nodes.first.outputs.token }}"}},
            {"id": "last", "kind": "Task", "dependsOn": ["check"]}
        ])),
    )
    .await;
    env.post(
        &format!("{V}/bindings"),
        binding(json!([
            rule("first", "exec://sh", json!({"command": ["sh", "-c", format!("echo x >> {dir}/first.runs; echo '{{\"token\": \"t-1\"}}'")]})),
            rule("check", "exec://sh", json!({"command": ["sh", "-c", format!("test -f {dir}/ok && test \"$PLANSPEC_INPUT_TOKEN\" = t-1")]})),
            rule("last", "noop://", json!({})),
        ])),
    )
    .await;
    env.post(&format!("{V}/executions"), execution("run")).await;
    let e = env.until("run", "failed", |e| phase(e) == "Failed").await;
    assert_eq!(node_phase(&e, "last"), "Skipped");
    // Retrying a running or unknown node is refused with a reason.
    env.op(
        &format!("{V}/executions/run/retry"),
        json!({"from": "nope"}),
        409,
    )
    .await;
    std::fs::write(env.server.dir.path().join("ok"), "").unwrap();
    env.op(
        &format!("{V}/executions/run/retry"),
        json!({"from": "check"}),
        200,
    )
    .await;
    let e = env
        .until("run", "succeeded", |e| phase(e) == "Succeeded")
        .await;
    assert_eq!(node_phase(&e, "last"), "Succeeded");
    let first_runs = std::fs::read_to_string(env.server.dir.path().join("first.runs")).unwrap();
    assert_eq!(first_runs.lines().count(), 1, "first is not re-run");
    assert_eq!(e["status"]["nodeStatuses"]["check"]["attempt"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_node_waits_for_its_review_and_a_rejection_fails_the_run() {
    let env = start().await;
    env.post(
        &format!("{V}/gates"),
        json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Gate", "metadata": {"name": "ship-ok"},
               "spec": {"gateType": "approval", "targetRef": {"kind": "Plan", "name": "p"},
                        "reviewers": ["user:ann"], "requiredApprovers": 1}}),
    )
    .await;
    env.post(
        &format!("{V}/plans"),
        plan(json!([
            {"id": "build", "kind": "Task"},
            {"id": "approve", "kind": "Gate", "gateRef": {"name": "ship-ok"}, "dependsOn": ["build"]},
            {"id": "ship", "kind": "Task", "dependsOn": ["approve"]}
        ])),
    )
    .await;
    env.post(
        &format!("{V}/bindings"),
        binding(json!([{"selector": {"matchLabels": {}}, "target": {"provider": "noop://"}}])),
    )
    .await;
    env.post(&format!("{V}/executions"), execution("run")).await;
    env.until("run", "waiting at the gate", |e| {
        node_phase(e, "approve") == "Running" && phase(e) == "Blocked"
    })
    .await;
    // The plan's Gate is a template: this run waits on its own Gate, owned by the Execution.
    let template = env
        .c
        .get(&format!("{V}/gates/ship-ok"))
        .await
        .expect(200)
        .json();
    assert_eq!(template["status"]["phase"], "Pending");
    let gate = env
        .c
        .get(&format!("{V}/gates/run-approve"))
        .await
        .expect(200)
        .json();
    assert_eq!(gate["status"]["phase"], "Waiting");
    assert_eq!(gate["spec"]["targetRef"]["kind"], "Execution");
    assert_eq!(gate["spec"]["reviewers"], json!(["user:ann"]));
    assert_eq!(gate["metadata"]["ownerReferences"][0]["name"], "run");
    // Not a reviewer: 403. A rejection without a reason: 422.
    env.op_as(
        "user:bob",
        &format!("{V}/gates/run-approve/review"),
        json!({"action": "approve"}),
        403,
    )
    .await;
    env.op(
        &format!("{V}/gates/run-approve/review"),
        json!({"action": "reject"}),
        422,
    )
    .await;
    env.op(
        &format!("{V}/gates/run-approve/review"),
        json!({"action": "reject", "comment": "not this week"}),
        200,
    )
    .await;
    let e = env.until("run", "failed", |e| phase(e) == "Failed").await;
    assert_eq!(node_phase(&e, "approve"), "Failed");
    assert_eq!(node_phase(&e, "ship"), "Skipped");
    assert_eq!(
        e["status"]["nodeStatuses"]["approve"]["extensions"]["reason"],
        "gate_rejected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_that_never_started_cannot_be_retried_and_says_why() {
    let env = start().await;
    env.post(&format!("{V}/executions"), execution("orphan"))
        .await;
    let e = env
        .until("orphan", "failed at start", |e| phase(e) == "Failed")
        .await;
    assert_eq!(e["status"]["reason"], "plan_not_found");
    let refused = env
        .op(&format!("{V}/executions/orphan/retry"), json!({}), 409)
        .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("never started"),
        "{refused:#}"
    );
    env.op(
        &format!("{V}/executions/orphan/retry"),
        json!({"from": "Not A Node/../x"}),
        400,
    )
    .await;
}

/// `a` + node `b-c` and `a-b` + node `c` would both name their Gate `a-b-c`: each run still
/// gets its own, and approving one decides only that run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_names_that_collide_still_give_each_run_its_own_gate() {
    let env = start().await;
    env.post(
        &format!("{V}/gates"),
        json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Gate", "metadata": {"name": "ok"},
               "spec": {"gateType": "approval", "targetRef": {"kind": "Plan", "name": "p"}}}),
    )
    .await;
    for (plan_name, node) in [("p", "b-c"), ("q", "c")] {
        let mut p = plan(json!([{"id": node, "kind": "Gate", "gateRef": {"name": "ok"}}]));
        p["metadata"]["name"] = json!(plan_name);
        env.post(&format!("{V}/plans"), p).await;
    }
    let mut a = execution("a");
    a["spec"]["planRef"]["name"] = json!("p");
    env.post(&format!("{V}/executions"), a).await;
    let mut ab = execution("a-b");
    ab["spec"]["planRef"]["name"] = json!("q");
    env.post(&format!("{V}/executions"), ab).await;
    let first = env
        .until("a", "waiting", |e| {
            e["status"]["nodeStatuses"]["b-c"]["extensions"]["gate"].is_string()
        })
        .await;
    let second = env
        .until("a-b", "waiting", |e| {
            e["status"]["nodeStatuses"]["c"]["extensions"]["gate"].is_string()
        })
        .await;
    let g1 = first["status"]["nodeStatuses"]["b-c"]["extensions"]["gate"]
        .as_str()
        .unwrap()
        .to_owned();
    let g2 = second["status"]["nodeStatuses"]["c"]["extensions"]["gate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(g1, g2, "two runs share one gate");
    env.op(
        &format!("{V}/gates/{g1}/review"),
        json!({"action": "approve"}),
        200,
    )
    .await;
    env.until("a", "approved run succeeds", |e| phase(e) == "Succeeded")
        .await;
    let other = env
        .c
        .get(&format!("{V}/executions/a-b"))
        .await
        .expect(200)
        .json();
    assert_ne!(phase(&other), "Succeeded", "the other run was decided too");
}

/// A person does the work, then a person confirms a manual criterion: two waits, two
/// `complete`s, each answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_task_with_a_manual_criterion_waits_twice() {
    let env = start().await;
    env.post(
        &format!("{V}/plans"),
        plan(json!([{"id": "sign", "kind": "Task",
            "acceptanceCriteria": [{"type": "manual", "name": "looks-right"}]}])),
    )
    .await;
    env.post(
        &format!("{V}/bindings"),
        binding(json!([rule("sign", "human://approver", json!({}))])),
    )
    .await;
    env.post(&format!("{V}/executions"), execution("run")).await;
    env.until("run", "awaiting the work", |e| {
        e["status"]["extensions"]["awaitingHuman"] == json!(["sign"])
    })
    .await;
    env.op(
        &format!("{V}/executions/run/nodes/sign/complete"),
        json!({"outputs": {"done": true}}),
        200,
    )
    .await;
    env.until("run", "awaiting the criterion", |e| {
        e["status"]["nodeStatuses"]["sign"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("looks-right"))
    })
    .await;
    env.op(
        &format!("{V}/executions/run/nodes/sign/complete"),
        json!({}),
        200,
    )
    .await;
    env.until("run", "succeeded", |e| phase(e) == "Succeeded")
        .await;
}
