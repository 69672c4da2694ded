//! Garbage collection by ownerReferences on DELETE: `Background`, `Foreground`, `Orphan`.

mod common;

use common::{plan, plan_path, plans, Client, TestServer};
use serde_json::{json, Value};

const MERGE: &str = "application/merge-patch+json";
const V: &str = "/apis/planspec.io/v1alpha1/namespaces/default";

fn goal(name: &str) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "metadata": {"name": name},
           "spec": {"description": "d"}})
}

fn owned_by(mut object: Value, owner: &Value) -> Value {
    let refs = object["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut refs = refs;
    refs.push(json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }));
    object["metadata"]["ownerReferences"] = Value::Array(refs);
    object
}

fn execution(name: &str, owner: &Value) -> Value {
    owned_by(
        json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
               "metadata": {"name": name}, "spec": {"planRef": {"name": "p"}}}),
        owner,
    )
}

async fn delete_with(c: &Client, path: &str, policy: &str) -> Value {
    c.request(
        "DELETE",
        &format!("{path}?propagationPolicy={policy}"),
        &[],
        Vec::new(),
    )
    .await
    .expect(200)
    .json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_deletes_a_goals_executions_and_their_dependents() {
    let server = TestServer::start().await;
    let c = server.client();
    let g = c
        .post(&format!("{V}/goals"), &goal("g"))
        .await
        .expect(201)
        .json();
    let other = c
        .post(&format!("{V}/goals"), &goal("other"))
        .await
        .expect(201)
        .json();
    let e1 = c
        .post(&format!("{V}/executions"), &execution("e1", &g))
        .await
        .expect(201)
        .json();
    c.post(&format!("{V}/executions"), &execution("e2", &g))
        .await
        .expect(201);
    // A grandchild (owned by e1) goes too; an object with another live owner stays and
    // loses the reference to the gone one.
    c.post(&plans("default"), &owned_by(plan("child-of-e1"), &e1))
        .await
        .expect(201);
    c.post(
        &plans("default"),
        &owned_by(owned_by(plan("shared"), &g), &other),
    )
    .await
    .expect(201);
    c.post(&format!("{V}/executions"), &execution("unrelated", &other))
        .await
        .expect(201);

    // Background is the default.
    c.delete(&format!("{V}/goals/g")).await.expect(200);
    c.get(&format!("{V}/goals/g")).await.expect(404);
    c.get(&format!("{V}/executions/e1")).await.expect(404);
    c.get(&format!("{V}/executions/e2")).await.expect(404);
    c.get(&plan_path("default", "child-of-e1"))
        .await
        .expect(404);
    let shared = c
        .get(&plan_path("default", "shared"))
        .await
        .expect(200)
        .json();
    assert_eq!(
        shared["metadata"]["ownerReferences"],
        json!([{"apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "name": "other",
                "uid": other["metadata"]["uid"]}])
    );
    c.get(&format!("{V}/executions/unrelated"))
        .await
        .expect(200);

    // Explicit Background; an owner held by a finalizer cascades once it goes.
    let mut held = goal("held");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let held = c
        .post(&format!("{V}/goals"), &held)
        .await
        .expect(201)
        .json();
    c.post(&format!("{V}/executions"), &execution("e3", &held))
        .await
        .expect(201);
    delete_with(&c, &format!("{V}/goals/held"), "Background").await;
    c.get(&format!("{V}/executions/e3")).await.expect(200);
    c.patch(
        &format!("{V}/goals/held"),
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await
    .expect(200);
    c.get(&format!("{V}/goals/held")).await.expect(404);
    c.get(&format!("{V}/executions/e3")).await.expect(404);

    // dryRun deletes nothing.
    c.post(&format!("{V}/executions"), &execution("e4", &other))
        .await
        .expect(201);
    c.request(
        "DELETE",
        &format!("{V}/goals/other?dryRun=All"),
        &[],
        Vec::new(),
    )
    .await
    .expect(200);
    c.get(&format!("{V}/executions/e4")).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletes_dependents_first_then_the_owner() {
    let server = TestServer::start().await;
    let c = server.client();
    let g = c
        .post(&format!("{V}/goals"), &goal("g"))
        .await
        .expect(201)
        .json();
    c.post(&format!("{V}/executions"), &execution("e1", &g))
        .await
        .expect(201);
    // e2 is held by its own finalizer, so it keeps the owner.
    let mut e2 = execution("e2", &g);
    e2["metadata"]["finalizers"] = json!(["example.com/hold"]);
    c.post(&format!("{V}/executions"), &e2).await.expect(201);

    let marked = delete_with(&c, &format!("{V}/goals/g"), "Foreground").await;
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        marked["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    c.get(&format!("{V}/executions/e1")).await.expect(404);
    let e2 = c
        .get(&format!("{V}/executions/e2"))
        .await
        .expect(200)
        .json();
    assert!(e2["metadata"]["deletionTimestamp"].is_string());
    let owner = c.get(&format!("{V}/goals/g")).await.expect(200).json();
    assert_eq!(
        owner["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );

    // The last dependent goes: the owner is released and goes too.
    c.patch(
        &format!("{V}/executions/e2"),
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await
    .expect(200);
    c.get(&format!("{V}/executions/e2")).await.expect(404);
    c.get(&format!("{V}/goals/g")).await.expect(404);

    // Without dependents, Foreground deletes at once.
    c.post(&format!("{V}/goals"), &goal("lonely"))
        .await
        .expect(201);
    delete_with(&c, &format!("{V}/goals/lonely"), "Foreground").await;
    c.get(&format!("{V}/goals/lonely")).await.expect(404);

    // Foreground through the body (DeleteOptions), with a chain of owners.
    let a = c
        .post(&format!("{V}/goals"), &goal("a"))
        .await
        .expect(201)
        .json();
    let b = c
        .post(&format!("{V}/executions"), &execution("b", &a))
        .await
        .expect(201)
        .json();
    c.post(&plans("default"), &owned_by(plan("c"), &b))
        .await
        .expect(201);
    c.request(
        "DELETE",
        &format!("{V}/goals/a"),
        &[("content-type", "application/json")],
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
            .to_string()
            .into_bytes(),
    )
    .await
    .expect(200);
    c.get(&plan_path("default", "c")).await.expect(404);
    c.get(&format!("{V}/executions/b")).await.expect(404);
    c.get(&format!("{V}/goals/a")).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_keeps_dependents_without_the_reference() {
    let server = TestServer::start().await;
    let c = server.client();
    let g = c
        .post(&format!("{V}/goals"), &goal("g"))
        .await
        .expect(201)
        .json();
    let other = c
        .post(&format!("{V}/goals"), &goal("other"))
        .await
        .expect(201)
        .json();
    c.post(&format!("{V}/executions"), &execution("e1", &g))
        .await
        .expect(201);
    c.post(
        &format!("{V}/executions"),
        &owned_by(execution("e2", &g), &other),
    )
    .await
    .expect(201);

    delete_with(&c, &format!("{V}/goals/g"), "Orphan").await;
    c.get(&format!("{V}/goals/g")).await.expect(404);
    let e1 = c
        .get(&format!("{V}/executions/e1"))
        .await
        .expect(200)
        .json();
    assert!(e1["metadata"].get("ownerReferences").is_none());
    let e2 = c
        .get(&format!("{V}/executions/e2"))
        .await
        .expect(200)
        .json();
    assert_eq!(
        e2["metadata"]["ownerReferences"][0]["uid"],
        other["metadata"]["uid"]
    );
    assert_eq!(
        e2["metadata"]["ownerReferences"].as_array().unwrap().len(),
        1
    );

    // orphanDependents=true is the legacy spelling of Orphan.
    c.post(&format!("{V}/executions"), &execution("e3", &other))
        .await
        .expect(201);
    c.request(
        "DELETE",
        &format!("{V}/goals/other?orphanDependents=true"),
        &[],
        Vec::new(),
    )
    .await
    .expect(200);
    c.get(&format!("{V}/executions/e2")).await.expect(200);
    c.get(&format!("{V}/executions/e3")).await.expect(200);
}
