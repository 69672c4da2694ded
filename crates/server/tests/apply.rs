//! Server-side apply, managed fields, YAML request bodies and a Plan's status after a spec
//! change, over real HTTP against a real server on an SQLite file.

mod common;

use common::{plan_path, plans, Client, Reply, TestServer};
use serde_json::{json, Value};

const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";

/// A server-side apply of `body` (sent as given: YAML or JSON text).
async fn apply(c: &Client, path: &str, query: &str, body: &str) -> Reply {
    c.request(
        "PATCH",
        &format!("{path}?{query}"),
        &[("content-type", APPLY)],
        body.as_bytes().to_vec(),
    )
    .await
}

fn plan_yaml(description: &str, nodes: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: p\nspec:\n  description: {description}\n  graph:\n    nodes:\n"
    );
    for (id, kind) in nodes {
        text.push_str(&format!("      - id: {id}\n        kind: {kind}\n"));
    }
    text
}

/// The managed fields entry of `manager` with `operation`.
fn entry<'a>(object: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_changes_prunes_conflicts_and_forces() {
    let server = TestServer::start().await;
    let c = server.client();
    let path = plan_path("default", "p");

    // Create if absent (201), recorded as an Apply entry in Kubernetes' FieldsV1 form.
    let created = apply(
        &c,
        &path,
        "fieldManager=alice",
        &plan_yaml("first", &[("build", "Task"), ("test", "Task")]),
    )
    .await
    .expect(201)
    .json();
    assert_eq!(created["spec"]["description"], "first");
    assert_eq!(created["status"]["phase"], "Ready");
    let alice = entry(&created, "alice", "Apply").expect("alice's entry");
    assert_eq!(alice["apiVersion"], "planspec.io/v1alpha1");
    assert_eq!(alice["fieldsType"], "FieldsV1");
    assert!(alice["time"].is_string());
    assert_eq!(
        alice["fieldsV1"],
        json!({"f:spec": {"f:description": {}, "f:graph": {"f:nodes": {
            "k:{\"id\":\"build\"}": {".": {}, "f:id": {}, "f:kind": {}},
            "k:{\"id\":\"test\"}": {".": {}, "f:id": {}, "f:kind": {}}
        }}}})
    );
    // The same apply again changes nothing.
    let again = apply(
        &c,
        &path,
        "fieldManager=alice",
        &plan_yaml("first", &[("build", "Task"), ("test", "Task")]),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(
        again["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    // An update by bob (merge patch, manager from the User-Agent) takes the description.
    let patched = c
        .request(
            "PATCH",
            &path,
            &[("content-type", MERGE), ("user-agent", "bob/1.0 (test)")],
            json!({"spec": {"description": "bob's"}, "metadata": {"labels": {"team": "b"}}})
                .to_string()
                .into_bytes(),
        )
        .await
        .expect(200)
        .json();
    let bob = entry(&patched, "bob", "Update").expect("bob's entry");
    assert_eq!(
        bob["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:description": {}}})
    );
    assert!(
        !entry(&patched, "alice", "Apply").unwrap()["fieldsV1"]["f:spec"]
            .as_object()
            .unwrap()
            .contains_key("f:description")
    );

    // alice applies another description: conflict with bob, nothing written.
    let conflict = apply(
        &c,
        &path,
        "fieldManager=alice",
        &plan_yaml("alice's", &[("build", "Task")]),
    )
    .await
    .expect(409)
    .json();
    assert_eq!(conflict["reason"], "Conflict");
    let message = conflict["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Apply failed with 1 conflict: conflict with \"bob\" using planspec.io/v1alpha1"
        ),
        "{message}"
    );
    assert!(message.ends_with(": .spec.description"), "{message}");
    assert_eq!(
        conflict["details"]["causes"][0]["reason"],
        "FieldManagerConflict"
    );
    assert_eq!(
        conflict["details"]["causes"][0]["field"],
        ".spec.description"
    );
    assert!(conflict["details"]["causes"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("conflict with \"bob\""));
    let unchanged = c.get(&path).await.expect(200).json();
    assert_eq!(unchanged["spec"]["description"], "bob's");

    // Applying bob's value is co-ownership, not a conflict; node `test`, no longer applied
    // and owned by no one else, is pruned.
    let shared = apply(
        &c,
        &path,
        "fieldManager=alice",
        &plan_yaml("bob's", &[("build", "Task")]),
    )
    .await
    .expect(200)
    .json();
    let ids: Vec<&str> = shared["spec"]["graph"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["build"]);
    assert_eq!(shared["metadata"]["labels"]["team"], "b");
    assert_eq!(shared["status"]["nodeCount"], 1);

    // force=true takes the field from bob.
    let forced = apply(
        &c,
        &path,
        "fieldManager=alice&force=true",
        &plan_yaml("alice's", &[("build", "Task")]),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(forced["spec"]["description"], "alice's");
    let bob = entry(&forced, "bob", "Update").expect("bob keeps the label");
    assert_eq!(
        bob["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:team": {}}}})
    );
    assert!(
        entry(&forced, "alice", "Apply").unwrap()["fieldsV1"]["f:spec"]
            .as_object()
            .unwrap()
            .contains_key("f:description")
    );
    // Managed fields are sorted as Kubernetes sorts them: Apply first.
    assert_eq!(forced["metadata"]["managedFields"][0]["operation"], "Apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_needs_a_manager_runs_admission_and_honours_dry_run() {
    let server = TestServer::start().await;
    let c = server.client();
    let path = plan_path("default", "p");
    let s = apply(&c, &path, "", &plan_yaml("x", &[("a", "Task")]))
        .await
        .expect(400)
        .json();
    assert!(
        s["message"].as_str().unwrap().contains("fieldManager"),
        "{s}"
    );

    // Dry run: answered as created, nothing stored.
    let dry = apply(
        &c,
        &path,
        "fieldManager=a&dryRun=All",
        &plan_yaml("x", &[("a", "Task")]),
    )
    .await
    .expect(201)
    .json();
    assert_eq!(dry["spec"]["description"], "x");
    c.get(&path).await.expect(404);

    // Admission runs on the merged object; errors in a YAML body say where.
    let s = apply(
        &c,
        &path,
        "fieldManager=a",
        &plan_yaml("x", &[("a", "Tsk")]),
    )
    .await
    .expect(422)
    .json();
    let cause = &s["details"]["causes"][0];
    assert_eq!(cause["field"], "spec.graph.nodes[0].kind");
    assert!(
        cause["message"]
            .as_str()
            .unwrap()
            .ends_with("(line 10, column 9)"),
        "{cause}"
    );

    // JSON bodies work too; a keyed item without its key is refused.
    let json_body = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan",
        "metadata": {"name": "p"}, "spec": {"description": "j", "graph": {"nodes": [{"id": "a", "kind": "Task"}]}}});
    apply(&c, &path, "fieldManager=a", &json_body.to_string())
        .await
        .expect(201);
    let mut keyless = json_body.clone();
    keyless["spec"]["graph"]["nodes"] = json!([{"kind": "Task"}]);
    let s = apply(&c, &path, "fieldManager=a", &keyless.to_string())
        .await
        .expect(422)
        .json();
    assert_eq!(s["details"]["causes"][0]["field"], "spec.graph.nodes");
    // A bad YAML body is a 400 naming the line.
    let s = apply(&c, &path, "fieldManager=a", "kind: Plan\n  bad: [\n")
        .await
        .expect(400)
        .json();
    assert!(s["message"].as_str().unwrap().contains("line "), "{s}");
    // The name must be the URL's; force is only for apply.
    let other =
        json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan", "metadata": {"name": "q"}});
    apply(&c, &path, "fieldManager=a", &other.to_string())
        .await
        .expect(400);
    c.request(
        "PATCH",
        &format!("{path}?force=true"),
        &[("content-type", MERGE)],
        b"{}".to_vec(),
    )
    .await
    .expect(422);
    // A resourceVersion in the configuration is a precondition.
    let mut stale = json_body.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    apply(&c, &path, "fieldManager=a", &stale.to_string())
        .await
        .expect(409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_apply_and_managed_fields_written_by_clients() {
    let server = TestServer::start().await;
    let c = server.client();
    let path = plan_path("default", "p");
    apply(
        &c,
        &path,
        "fieldManager=me",
        &plan_yaml("x", &[("a", "Task")]),
    )
    .await
    .expect(201);
    // Apply to /status owns status fields only, in an entry marked `subresource: status`.
    let status = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan", "metadata": {"name": "p"},
                        "spec": {"description": "ignored"},
                        "status": {"phase": "Invalid", "conditions": [{"type": "Checked", "status": "True", "reason": "Checked", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}});
    let out = apply(
        &c,
        &format!("{path}/status"),
        "fieldManager=checker",
        &status.to_string(),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(out["status"]["phase"], "Invalid");
    assert_eq!(out["spec"]["description"], "x");
    let checker = entry(&out, "checker", "Apply").unwrap();
    assert_eq!(checker["subresource"], "status");
    assert_eq!(
        checker["fieldsV1"]["f:status"]["f:conditions"],
        json!({"k:{\"type\":\"Checked\"}": {".": {}, "f:lastTransitionTime": {}, "f:reason": {}, "f:status": {}, "f:type": {}}})
    );

    // A client may rewrite the managed fields (as kubectl does when it moves client-side
    // ownership to server-side apply) …
    let rewritten = c
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"managedFields": [{"manager": "other", "operation": "Apply",
                "apiVersion": "planspec.io/v1alpha1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:description": {}}}}]}}),
        )
        .await
        .expect(200)
        .json();
    let managers: Vec<&str> = rewritten["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["other"]);
    // … and clear them with `[{}]`; the write itself is then the only owner.
    let cleared = c
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"managedFields": [{}], "labels": {"x": "y"}}}),
        )
        .await
        .expect(200)
        .json();
    let entries = cleared["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["operation"], "Update");
    // PUT with a named fieldManager records it; no manager and no User-Agent is `unknown`.
    let mut object = c.get(&path).await.expect(200).json();
    object["spec"]["description"] = json!("put");
    object["metadata"]["managedFields"] = Value::Null;
    let put = c
        .request(
            "PUT",
            &format!("{path}?fieldManager=replacer"),
            &[("content-type", "application/json")],
            object.to_string().into_bytes(),
        )
        .await
        .expect(200)
        .json();
    assert!(entry(&put, "replacer", "Update").is_some());
    let created = c
        .post(&plans("default"), &common::plan("q"))
        .await
        .expect(201)
        .json();
    assert!(entry(&created, "unknown", "Update").is_some(), "{created}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_bodies_for_create_and_replace() {
    let server = TestServer::start().await;
    let c = server.client();
    let yaml = |body: &str| body.as_bytes().to_vec();
    let post = |body: Vec<u8>| {
        let c = c.clone();
        async move {
            c.request(
                "POST",
                &plans("default"),
                &[("content-type", "application/yaml")],
                body,
            )
            .await
        }
    };
    let created = post(yaml(&plan_yaml("from yaml", &[("a", "Task")])))
        .await
        .expect(201)
        .json();
    assert_eq!(created["spec"]["description"], "from yaml");
    // Invalid objects: 422 whose causes name line and column.
    let bad = plan_yaml("x", &[("a", "Task"), ("b", "Tsk")]).replace("name: p", "name: q");
    let s = post(yaml(&bad)).await.expect(422).json();
    let cause = &s["details"]["causes"][0];
    assert_eq!(cause["field"], "spec.graph.nodes[1].kind");
    assert!(
        cause["message"]
            .as_str()
            .unwrap()
            .ends_with("(line 12, column 9)"),
        "{cause}"
    );
    assert!(s["message"]
        .as_str()
        .unwrap()
        .contains("(line 12, column 9)"));
    // Unreadable YAML: 400 with line and column; one document only.
    let s = post(yaml("apiVersion: v1\nkind: [Plan\n"))
        .await
        .expect(400)
        .json();
    assert!(s["message"].as_str().unwrap().contains("line "), "{s}");
    let two = format!(
        "{}---\n{}",
        plan_yaml("a", &[("a", "Task")]),
        plan_yaml("b", &[("a", "Task")])
    );
    post(yaml(&two)).await.expect(400);
    // Strict field validation names the line of the unknown field.
    let unknown = plan_yaml("x", &[("a", "Task")])
        .replace("name: p", "name: r")
        .replace("spec:\n", "spec:\n  colour: blue\n");
    let s = c
        .request(
            "POST",
            &format!("{}?fieldValidation=Strict", plans("default")),
            &[("content-type", "application/yaml")],
            yaml(&unknown),
        )
        .await
        .expect(400)
        .json();
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.colour\" (line 6, column 3)"),
        "{s}"
    );
    // The upstream batch routes take a YAML list too.
    let batch = "- apiVersion: planspec.io/v1alpha1\n  kind: Plan\n  metadata: {name: v}\n  spec: {description: d, graph: {nodes: [{id: a, kind: Task}]}}\n";
    let verdict = c
        .request(
            "POST",
            "/apis/planspec.io/v1alpha1/validate",
            &[("content-type", "application/yaml")],
            yaml(batch),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(verdict["valid"], true, "{verdict}");
    // PUT with YAML.
    let replaced = c
        .request(
            "PUT",
            &plan_path("default", "p"),
            &[("content-type", "application/yaml")],
            yaml(&plan_yaml("replaced", &[("a", "Task"), ("b", "Task")])),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(replaced["spec"]["description"], "replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plans_status_follows_its_spec() {
    let server = TestServer::start().await;
    let c = server.client();
    let path = plan_path("default", "p");
    let created = c
        .post(&plans("default"), &common::plan("p"))
        .await
        .expect(201)
        .json();
    assert_eq!(created["status"]["nodeCount"], 2);
    assert_eq!(created["status"]["observedGeneration"], 1);
    let since = created["status"]["conditions"][0]["lastTransitionTime"].clone();

    // A controller marks it Invalid and adds a condition of its own.
    let mut status = created.clone();
    status["status"]["phase"] = json!("Invalid");
    status["status"]["conditions"] = json!([
        {"type": "Valid", "status": "False", "reason": "ValidationFailed", "message": "x",
         "lastTransitionTime": "2020-01-01T00:00:00Z", "observedGeneration": 1},
        {"type": "Reviewed", "status": "True", "reason": "Ok", "message": "y",
         "lastTransitionTime": "2020-01-01T00:00:00Z"}
    ]);
    c.put(&format!("{path}/status"), &status).await.expect(200);

    // A spec change recomputes the status: Ready, Valid again (from now), 3 nodes,
    // generation 2 observed; the other condition stays.
    let mut nodes = created["spec"]["graph"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    nodes.push(json!({"id": "ship", "kind": "Task"}));
    let updated = c
        .patch(&path, MERGE, &json!({"spec": {"graph": {"nodes": nodes}}}))
        .await
        .expect(200)
        .json();
    let s = &updated["status"];
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(s["phase"], "Ready");
    assert_eq!(s["nodeCount"], 3);
    assert_eq!(s["observedGeneration"], 2);
    let valid = &s["conditions"][0];
    assert_eq!(
        (valid["type"].as_str(), valid["status"].as_str()),
        (Some("Valid"), Some("True"))
    );
    assert_eq!(valid["observedGeneration"], 2);
    assert_ne!(valid["lastTransitionTime"], "2020-01-01T00:00:00Z");
    assert_eq!(s["conditions"][1]["type"], "Reviewed");

    // Another spec change keeps the Valid condition's transition time; a label change
    // recomputes nothing.
    let before = valid["lastTransitionTime"].clone();
    let again = c
        .patch(&path, MERGE, &json!({"spec": {"description": "v3"}}))
        .await
        .expect(200)
        .json();
    assert_eq!(again["status"]["observedGeneration"], 3);
    assert_eq!(
        again["status"]["conditions"][0]["lastTransitionTime"],
        before
    );
    let labelled = c
        .patch(&path, MERGE, &json!({"metadata": {"labels": {"a": "b"}}}))
        .await
        .expect(200)
        .json();
    assert_eq!(labelled["metadata"]["generation"], 3);
    assert_eq!(labelled["status"], again["status"]);
    let _ = since;
}
