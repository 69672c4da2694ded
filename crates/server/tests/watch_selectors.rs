//! Watches with label and field selectors follow Kubernetes: an object that starts matching
//! is `ADDED`, one that stops matching is `DELETED` with its last matching state — also when
//! the watch resumes from a `resourceVersion`, where the state before each change comes from
//! the store's change log.

mod common;

use common::{plan, plan_path, plans, summary, Client, TestServer, Watch};
use planspec_store::Store;
use serde_json::{json, Value};
use std::time::Duration;

const MERGE: &str = "application/merge-patch+json";

fn rv(object: &Value) -> i64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn label(c: &Client, name: &str, tier: &str) -> Value {
    c.patch(
        &plan_path("default", name),
        MERGE,
        &json!({"metadata": {"labels": {"tier": tier}}}),
    )
    .await
    .expect(200)
    .json()
}

async fn set_phase(c: &Client, name: &str, phase: &str) -> Value {
    c.patch(
        &format!("{}/status", plan_path("default", name)),
        MERGE,
        &json!({"status": {"phase": phase}}),
    )
    .await
    .expect(200)
    .json()
}

/// The next events, as `(type, name, tier label, resourceVersion)`.
async fn next(watch: &mut Watch, n: usize) -> Vec<(String, String, String, i64)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let e = watch.next().await;
        let (t, name) = summary(&e);
        let tier = e["object"]["metadata"]["labels"]["tier"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        out.push((t, name, tier, rv(&e["object"])));
    }
    out
}

fn e(t: &str, name: &str, tier: &str, rv: i64) -> (String, String, String, i64) {
    (t.to_owned(), name.to_owned(), tier.to_owned(), rv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selector_resumed_from_a_revision() {
    let server = TestServer::start().await;
    let c = server.client();
    for name in ["a", "b", "c"] {
        c.post(&plans("default"), &plan(name)).await.expect(201);
    }
    label(&c, "a", "web").await;
    let b = label(&c, "b", "db").await;
    let start = rv(&b);

    // Resume from `start`, without initial events: the watcher must learn from the change log
    // that a matched and b did not at that revision.
    let mut web = c
        .watch(&format!(
            "{}?watch=true&sendInitialEvents=false&resourceVersion={start}&labelSelector=tier%3Dweb",
            plans("default")
        ))
        .await;
    let b1 = label(&c, "b", "web").await; // b starts matching: ADDED
    let a1 = label(&c, "a", "db").await; // a stops matching: DELETED with its web state
    let c1 = label(&c, "c", "db").await; // c never matched: nothing
    let b2 = c
        .patch(
            &plan_path("default", "b"),
            MERGE,
            &json!({"spec": {"description": "v2"}}),
        )
        .await
        .expect(200)
        .json(); // b still matches: MODIFIED
    c.delete(&plan_path("default", "b")).await.expect(200); // DELETED
    let got = next(&mut web, 4).await;
    assert_eq!(
        got,
        [
            e("ADDED", "b", "web", rv(&b1)),
            e("DELETED", "a", "web", rv(&a1)),
            e("MODIFIED", "b", "web", rv(&b2)),
            e("DELETED", "b", "web", rv(&b2) + 1),
        ]
    );
    let _ = c1;
    assert!(web.next_within(Duration::from_millis(300)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_selector_on_status_phase() {
    let server = TestServer::start().await;
    let c = server.client();
    c.post(&plans("default"), &plan("a")).await.expect(201);
    c.post(&plans("default"), &plan("b")).await.expect(201);
    let path = format!(
        "{}?watch=true&fieldSelector=status.phase%3DInvalid",
        plans("default")
    );
    // With initial events (none match), then from a resourceVersion.
    let mut initial = c.watch(&path).await;
    let a1 = set_phase(&c, "a", "Invalid").await;
    let resume_at = rv(&a1);
    let mut resumed = c
        .watch(&format!("{path}&resourceVersion={resume_at}"))
        .await;
    let a2 = set_phase(&c, "a", "Ready").await;
    let b1 = set_phase(&c, "b", "Invalid").await;
    let got = next(&mut initial, 3).await;
    assert_eq!(
        got,
        [
            e("ADDED", "a", "", rv(&a1)),
            e("DELETED", "a", "", rv(&a2)),
            e("ADDED", "b", "", rv(&b1)),
        ]
    );
    let got = next(&mut resumed, 2).await;
    assert_eq!(
        got,
        [e("DELETED", "a", "", rv(&a2)), e("ADDED", "b", "", rv(&b1))]
    );
    // The DELETED event carries the state that matched.
    let mut again = c
        .watch(&format!("{path}&resourceVersion={resume_at}"))
        .await;
    let deleted = again.next().await;
    assert_eq!(deleted["object"]["status"]["phase"], "Invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_old_state_the_watch_errs_towards_no_stale_objects() {
    let server = TestServer::start().await;
    let c = server.client();
    c.post(&plans("default"), &plan("a")).await.expect(201);
    c.post(&plans("default"), &plan("b")).await.expect(201);
    label(&c, "a", "web").await;
    let b = label(&c, "b", "db").await;
    // Compaction drops every change up to now: the states at `start` are not in the log.
    let start = rv(&b);
    server.store.compact(0).await.unwrap();
    let mut web = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={start}&labelSelector=tier%3Dweb",
            plans("default")
        ))
        .await;
    // a still matches: MODIFIED (it may have matched); b does not: DELETED (it may have).
    let a1 = c
        .patch(
            &plan_path("default", "a"),
            MERGE,
            &json!({"spec": {"description": "x"}}),
        )
        .await
        .expect(200)
        .json();
    let b1 = c
        .patch(
            &plan_path("default", "b"),
            MERGE,
            &json!({"spec": {"description": "x"}}),
        )
        .await
        .expect(200)
        .json();
    // Once seen, an object is known: b's next change is nothing, its match is ADDED.
    c.patch(
        &plan_path("default", "b"),
        MERGE,
        &json!({"spec": {"description": "y"}}),
    )
    .await
    .expect(200);
    let b3 = label(&c, "b", "web").await;
    let got = next(&mut web, 3).await;
    assert_eq!(
        got,
        [
            e("MODIFIED", "a", "web", rv(&a1)),
            e("DELETED", "b", "db", rv(&b1)),
            e("ADDED", "b", "web", rv(&b3)),
        ]
    );
}
