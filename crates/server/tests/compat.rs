//! The upstream compatibility routes: `validate`, bulk (transactional) `apply`, Plan `graph`.

mod common;

use common::{plan, plan_path, TestServer};
use serde_json::{json, Value};

const V: &str = "/apis/planspec.io/v1alpha1";

fn goal(name: &str) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "metadata": {"name": name},
           "spec": {"description": "d"}})
}

fn bad_plan(name: &str) -> Value {
    let mut p = plan(name);
    p["spec"]["graph"]["nodes"] = json!([]);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_each_item_and_writes_nothing() {
    let server = TestServer::start().await;
    let c = server.client();
    let r = c
        .post(
            &format!("{V}/validate"),
            &json!([plan("ok"), bad_plan("bad"), {"kind": "Nope", "metadata": {"name": "x"}}]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(r["valid"], false);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0],
        json!({"index": 0, "kind": "Plan", "name": "ok", "valid": true, "errors": []})
    );
    assert_eq!(results[1]["index"], 1);
    assert_eq!(results[1]["valid"], false);
    assert!(!results[1]["errors"].as_array().unwrap().is_empty());
    assert_eq!(results[2]["valid"], false);
    assert!(results[2]["errors"][0].as_str().unwrap().contains("Nope"));
    c.get(&plan_path("default", "ok")).await.expect(404);

    let r = c
        .post(&format!("{V}/validate"), &json!([plan("a"), goal("g")]))
        .await
        .expect(200)
        .json();
    assert_eq!(r["valid"], true);
    // Not an array: 400.
    c.post(&format!("{V}/validate"), &json!({"kind": "Plan"}))
        .await
        .expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_all_or_nothing_and_reports_actions() {
    let server = TestServer::start().await;
    let c = server.client();
    let apply = format!("{V}/namespaces/default/apply");
    let r = c
        .post(&apply, &json!([plan("p1"), goal("g1")]))
        .await
        .expect(200)
        .json();
    assert_eq!(
        r["applied"],
        json!([
            {"kind": "Plan", "name": "p1", "namespace": "default", "action": "created"},
            {"kind": "Goal", "name": "g1", "namespace": "default", "action": "created"}
        ])
    );
    assert_eq!(r["errors"], json!([]));
    let p1 = c.get(&plan_path("default", "p1")).await.expect(200).json();
    let rev_before: i64 = p1["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Re-apply: one change, one unchanged, one new.
    let mut changed = plan("p1");
    changed["spec"]["description"] = json!("changed");
    let r = c
        .post(&apply, &json!([changed, goal("g1"), plan("p2")]))
        .await
        .expect(200)
        .json();
    let actions: Vec<&str> = r["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["updated", "unchanged", "created"]);
    let p1 = c.get(&plan_path("default", "p1")).await.expect(200).json();
    assert_eq!(p1["spec"]["description"], "changed");
    assert_eq!(p1["metadata"]["generation"], 2);
    // The two writes share one revision step each, in one transaction.
    let p2 = c.get(&plan_path("default", "p2")).await.expect(200).json();
    let rev = |o: &Value| -> i64 {
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(rev(&p1) > rev_before);
    assert_eq!((rev(&p2) - rev(&p1)).abs(), 1);

    // One invalid item: 422, causes name the item, nothing written.
    let s = c
        .post(
            &apply,
            &json!([plan("p3"), bad_plan("p4"), {"kind": "Nope", "metadata": {"name": "n"}}]),
        )
        .await
        .expect(422)
        .json();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "Invalid");
    let fields: Vec<&str> = s["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.iter().any(|f| f.starts_with("[1]")), "{fields:?}");
    assert!(fields.contains(&"[2].kind"), "{fields:?}");
    c.get(&plan_path("default", "p3")).await.expect(404);

    // Duplicates in one batch are invalid; a missing namespace is 404; dryRun writes nothing.
    c.post(&apply, &json!([plan("d"), plan("d")]))
        .await
        .expect(422);
    c.post(
        &format!("{V}/namespaces/nowhere/apply"),
        &json!([plan("x")]),
    )
    .await
    .expect(404);
    let r = c
        .post(&format!("{apply}?dryRun=All"), &json!([plan("dry")]))
        .await
        .expect(200)
        .json();
    assert_eq!(r["applied"][0]["action"], "created");
    c.get(&plan_path("default", "dry")).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_graph_is_normalised() {
    let server = TestServer::start().await;
    let c = server.client();
    let mut p = plan("g");
    p["spec"]["graph"] = json!({
        "nodes": [
            {"id": "build", "kind": "Task"},
            {"id": "test", "kind": "Task", "dependsOn": ["build"]},
            {"id": "ship", "kind": "Task"}
        ],
        "edges": [{"from": "test", "to": "ship", "type": "soft"}]
    });
    c.post(&format!("{V}/namespaces/default/plans"), &p)
        .await
        .expect(201);
    let g = c
        .get(&format!("{V}/namespaces/default/plans/g/graph"))
        .await
        .expect(200)
        .json();
    let ids: Vec<&str> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["build", "test", "ship"]);
    assert_eq!(g["nodes"][0]["kind"], "Task");
    assert_eq!(
        g["edges"],
        json!([
            {"from": "test", "to": "ship", "type": "soft", "origin": "edges"},
            {"from": "build", "to": "test", "type": "hard", "origin": "dependsOn"}
        ])
    );
    c.get(&format!("{V}/namespaces/default/plans/missing/graph"))
        .await
        .expect(404);
    // The ordinary object routes still work next to it.
    c.get(&plan_path("default", "g")).await.expect(200);
}
