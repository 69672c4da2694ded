//! The Goal, Binding and Gate controllers against a real server and SQLite store: statuses
//! follow the objects they depend on, and Gate reviews are counted by the rules.

mod common;

use common::{Client, TestServer};
use planspec_model::actor::UserInfo;
use planspec_model::gate::ReviewAction;
use planspec_server::controllers::{self, review, Controllers, Review};
use serde_json::{json, Value};
use std::time::Duration;

const V: &str = "/apis/planspec.io/v1alpha1/namespaces/default";

async fn start() -> (TestServer, Controllers) {
    let server = TestServer::start().await;
    let controllers = Controllers::start(server.api.clone(), controllers::standard());
    (server, controllers)
}

/// Polls `path` until `check` holds (10 s at most) and returns the object.
async fn eventually(c: &Client, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let reply = c.get(path).await;
        if reply.status == 200 {
            last = reply.json();
            if check(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not reached; last: {last:#}");
}

fn plan(name: &str, labels: Value, series: Option<(&str, &str)>, supersedes: &[&str]) -> Value {
    let mut spec = json!({"description": "d", "graph": {"nodes": [
        {"id": "build", "kind": "Task", "capabilityRefs": [{"name": "compile"}]},
        {"id": "ship", "kind": "Task", "dependsOn": ["build"], "capabilityRefs": [{"name": "deploy"}]}
    ]}});
    if let Some((s, v)) = series {
        spec["series"] = json!(s);
        spec["version"] = json!(v);
    }
    if !supersedes.is_empty() {
        spec["supersedes"] = json!(supersedes
            .iter()
            .map(|n| json!({"name": n}))
            .collect::<Vec<_>>());
    }
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan",
           "metadata": {"name": name, "labels": labels}, "spec": spec})
}

fn phase(o: &Value) -> &str {
    o["status"]["phase"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goal_selects_the_newest_version_and_follows_its_execution() {
    let (server, _controllers) = start().await;
    let c = server.client();
    c.post(
        &format!("{V}/goals"),
        &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "metadata": {"name": "ship"},
                "spec": {"description": "ship it", "planSelector": {
                    "matchLabels": {"team": "a"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["1", "2"]}]}}}),
    )
    .await
    .expect(201);
    let goal = eventually(&c, &format!("{V}/goals/ship"), "goal pending", |g| {
        phase(g) == "Pending"
            && g["status"]["conditions"]
                .to_string()
                .contains("NoPlanFound")
    })
    .await;
    assert!(goal["status"]["activePlanRef"].is_null());

    for (name, version, tier) in [("v1", "1.9", "1"), ("v2", "1.10", "2"), ("other", "9", "3")] {
        c.post(
            &format!("{V}/plans"),
            &plan(
                &format!("ship-{name}"),
                json!({"team": "a", "tier": tier}),
                Some(("ship", version)),
                &[],
            ),
        )
        .await
        .expect(201);
    }
    // 1.10 > 1.9 part-wise; tier 3 does not match the expression.
    eventually(&c, &format!("{V}/goals/ship"), "goal ready with v2", |g| {
        phase(g) == "Ready" && g["status"]["activePlanRef"]["name"] == "ship-v2"
    })
    .await;

    // A plan that supersedes v2 (another series) takes over.
    c.post(
        &format!("{V}/plans"),
        &plan(
            "ship-next",
            json!({"team": "a", "tier": "1"}),
            None,
            &["ship-v2"],
        ),
    )
    .await
    .expect(201);
    eventually(&c, &format!("{V}/goals/ship"), "superseded", |g| {
        g["status"]["activePlanRef"]["name"] != "ship-v2"
    })
    .await;

    // An Execution for the goal: Executing, then its outcome.
    c.post(
        &format!("{V}/executions"),
        &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
                "metadata": {"name": "run-1"},
                "spec": {"planRef": {"name": "ship-v2"}, "goalRef": {"name": "ship"}}}),
    )
    .await
    .expect(201);
    eventually(&c, &format!("{V}/goals/ship"), "executing", |g| {
        phase(g) == "Executing"
    })
    .await;
    let mut run = c
        .get(&format!("{V}/executions/run-1"))
        .await
        .expect(200)
        .json();
    run["status"]["phase"] = json!("Succeeded");
    c.put(&format!("{V}/executions/run-1/status"), &run)
        .await
        .expect(200);
    eventually(&c, &format!("{V}/goals/ship"), "succeeded", |g| {
        phase(g) == "Succeeded"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goal_without_a_plan_fails_when_its_timeout_runs_out() {
    let (server, _controllers) = start().await;
    let c = server.client();
    c.post(
        &format!("{V}/goals"),
        &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "metadata": {"name": "late"},
                "spec": {"description": "d", "timeout": "1s"}}),
    )
    .await
    .expect(201);
    let g = eventually(
        &c,
        &format!("{V}/goals/late"),
        "failed after timeout",
        |g| phase(g) == "Failed",
    )
    .await;
    assert!(g["status"]["conditions"]
        .to_string()
        .contains("NoPlanBeforeTimeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_reports_what_it_binds_and_its_conflicts() {
    let (server, _controllers) = start().await;
    let c = server.client();
    c.post(
        &format!("{V}/plans"),
        &plan("p", json!({"team": "a"}), None, &[]),
    )
    .await
    .expect(201);
    c.post(
        &format!("{V}/bindings"),
        &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Binding", "metadata": {"name": "b"},
                "spec": {"rules": [
                    {"selector": {"capabilityRef": {"name": "compile"}}, "target": {"provider": "exec://make"}}
                ]}}),
    )
    .await
    .expect(201);
    let b = eventually(&c, &format!("{V}/bindings/b"), "partially bound", |b| {
        phase(b) == "PartiallyBound"
    })
    .await;
    assert_eq!(b["status"]["boundCount"], 1);
    assert_eq!(b["status"]["totalCount"], 2);
    assert_eq!(
        b["status"]["unboundCapabilities"][0]["capabilityRef"]["name"],
        "deploy"
    );

    // Two label rules that only tie on a plan carrying both labels (so admission, which sees
    // the Binding alone, cannot know): a conflict under ErrorOnConflict.
    c.post(
        &format!("{V}/plans"),
        &plan("q", json!({"team": "a", "tier": "1"}), None, &[]),
    )
    .await
    .expect(201);
    // The controller writes the Binding's status as the plans come and go: a read-modify-write
    // retries on 409 as any client must.
    loop {
        let mut b = c.get(&format!("{V}/bindings/b")).await.expect(200).json();
        b["spec"] = json!({"strategy": "ErrorOnConflict", "rules": [
            {"selector": {"matchLabels": {"team": "a"}}, "target": {"provider": "exec://make"}},
            {"selector": {"matchLabels": {"tier": "1"}}, "target": {"provider": "exec://other"}}
        ]});
        let reply = c.put(&format!("{V}/bindings/b"), &b).await;
        if reply.status != 409 {
            reply.expect(200);
            break;
        }
    }
    let b = eventually(&c, &format!("{V}/bindings/b"), "conflict", |b| {
        b["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Conflict" && c["status"] == "True")
    })
    .await;
    assert_eq!(b["status"]["observedGeneration"], 2);
}

fn gate(name: &str, reviewers: &[&str], required: u32) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Gate", "metadata": {"name": name},
           "spec": {"gateType": "approval", "targetRef": {"kind": "Plan", "name": "p"},
                    "reviewers": reviewers, "requiredApprovers": required}})
}

fn approve(who: &str) -> Review {
    Review {
        reviewer: UserInfo::new(who, Vec::<String>::new()),
        action: ReviewAction::Approve,
        comment: None,
        values: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_reviews_need_distinct_listed_approvers_on_the_current_generation() {
    let (server, _controllers) = start().await;
    let c = server.client();
    let api = &server.api;
    c.post(
        &format!("{V}/gates"),
        &gate("g", &["user:a", "user:b", "user:c"], 2),
    )
    .await
    .expect(201);

    let outsider = review(api, "default", "g", approve("user:z"))
        .await
        .unwrap_err();
    assert_eq!(outsider.code, 403);
    let no_reason = review(
        api,
        "default",
        "g",
        Review {
            reviewer: UserInfo::new("user:a", Vec::<String>::new()),
            action: ReviewAction::Reject,
            comment: None,
            values: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(no_reason.code, 422);

    let g = review(api, "default", "g", approve("user:a"))
        .await
        .unwrap();
    assert_eq!(phase(&g), "Pending");
    let g = review(api, "default", "g", approve("user:a"))
        .await
        .unwrap();
    assert_eq!(
        phase(&g),
        "Pending",
        "the same approver twice is one approval"
    );

    // The spec changes: the approval of generation 1 no longer counts.
    let mut current = c.get(&format!("{V}/gates/g")).await.expect(200).json();
    current["spec"]["description"] = json!("now with more risk");
    c.put(&format!("{V}/gates/g"), &current).await.expect(200);
    let g = review(api, "default", "g", approve("user:b"))
        .await
        .unwrap();
    assert_eq!(phase(&g), "Pending", "user:a approved generation 1 only");
    let g = review(api, "default", "g", approve("user:a"))
        .await
        .unwrap();
    assert_eq!(phase(&g), "Approved");
    assert_eq!(g["status"]["decidedGeneration"], 2);
    assert_eq!(
        g["status"]["resolution"]["actors"],
        json!(["user:b", "user:a"])
    );
    assert_eq!(g["status"]["reviewHistory"].as_array().unwrap().len(), 4);

    let again = review(api, "default", "g", approve("user:c"))
        .await
        .unwrap_err();
    assert_eq!(again.code, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_decided_by_a_direct_status_edit_is_decided_by_the_controller() {
    let (server, _controllers) = start().await;
    let c = server.client();
    c.post(&format!("{V}/gates"), &gate("h", &[], 1))
        .await
        .expect(201);
    // Once the controller has looked at it (it writes the Ready condition's message).
    let mut g = eventually(&c, &format!("{V}/gates/h"), "observed", |g| {
        g["status"]["conditions"]
            .to_string()
            .contains("0 of 1 approvals")
    })
    .await;
    g["status"]["reviewHistory"] = json!([{"reviewer": "user:x", "action": "reject",
        "timestamp": "2026-01-01T00:00:00Z", "comment": "not yet"}]);
    c.put(&format!("{V}/gates/h/status"), &g).await.expect(200);
    let g = eventually(&c, &format!("{V}/gates/h"), "rejected", |g| {
        phase(g) == "Rejected"
    })
    .await;
    assert_eq!(g["status"]["resolution"]["comment"], "not yet");
    assert_eq!(g["status"]["decidedGeneration"], 1);
}
