//! API conformance: a real server over a real SQLite file, driven over HTTP.

mod common;

use common::{plan, plan_path, plans, summary, Client, TestServer};
use planspec_server::api::ApiOptions;
use planspec_server::http::ServerConfig;
use planspec_store::Store;
use serde_json::{json, Value};
use std::time::Duration;

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn rv(object: &Value) -> i64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .parse()
        .unwrap()
}

fn labelled(name: &str, labels: Value) -> Value {
    let mut p = plan(name);
    p["metadata"]["labels"] = labels;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_get() {
    let server = TestServer::start().await;
    let c = server.client();

    let mut body = plan("build");
    body["metadata"]["uid"] = json!("client-uid");
    body["metadata"]["generation"] = json!(9);
    body["status"] = json!({"phase": "Invalid", "nodeCount": 99});
    let created = c.post(&plans("default"), &body).await.expect(201).json();
    let meta = &created["metadata"];
    assert_eq!(meta["namespace"], "default");
    assert_eq!(meta["generation"], 1);
    assert_ne!(meta["uid"], "client-uid");
    assert_eq!(meta["uid"].as_str().unwrap().len(), 36);
    assert!(meta["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    // Status is server-owned on create: the client's is replaced by the initial one.
    let status = &created["status"];
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["nodeCount"], 2);
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["conditions"][0]["type"], "Valid");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][0]["reason"], "SchemaValid");
    assert_eq!(
        status["conditions"][0]["lastTransitionTime"],
        meta["creationTimestamp"]
    );
    assert!(rv(&created) > 0);

    let got = c
        .get(&plan_path("default", "build"))
        .await
        .expect(200)
        .json();
    assert_eq!(got, created);

    // Again: 409 AlreadyExists.
    let s = c
        .post(&plans("default"), &plan("build"))
        .await
        .expect(409)
        .json();
    assert_eq!(s["reason"], "AlreadyExists");
    assert_eq!(s["message"], "plans.planspec.io \"build\" already exists");

    // Missing: 404 NotFound Status.
    let s = c
        .get(&plan_path("default", "nope"))
        .await
        .expect(404)
        .json();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_checks_identity_names_namespaces_and_admission() {
    let server = TestServer::start().await;
    let c = server.client();

    let mut wrong_kind = plan("a");
    wrong_kind["kind"] = json!("Goal");
    c.post(&plans("default"), &wrong_kind).await.expect(400);
    let mut wrong_version = plan("a");
    wrong_version["apiVersion"] = json!("planspec.io/v9");
    c.post(&plans("default"), &wrong_version).await.expect(400);
    let mut wrong_ns = plan("a");
    wrong_ns["metadata"]["namespace"] = json!("other");
    c.post(&plans("default"), &wrong_ns).await.expect(400);
    c.request(
        "POST",
        &plans("default"),
        &[("content-type", "application/json")],
        b"{".to_vec(),
    )
    .await
    .expect(400);
    c.request(
        "POST",
        &plans("default"),
        &[("content-type", "text/plain")],
        b"a: 1".to_vec(),
    )
    .await
    .expect(415);

    let s = c
        .post(&plans("default"), &plan("Not_A_Name"))
        .await
        .expect(422)
        .json();
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");

    // A namespace that does not exist.
    let s = c
        .post(&plans("nowhere"), &plan("a"))
        .await
        .expect(404)
        .json();
    assert_eq!(s["message"], "namespaces \"nowhere\" not found");

    // Admission: validator errors are 422 Invalid with field causes.
    let mut bad = plan("bad");
    bad["spec"]["graph"]["nodes"][1]["dependsOn"] = json!(["biuld"]);
    bad["spec"]["graph"]["nodes"][0]["kind"] = json!("Tsk");
    let s = c.post(&plans("default"), &bad).await.expect(422).json();
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(s["details"]["kind"], "Plan");
    let fields: Vec<&str> = s["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"spec.graph.nodes[0].kind"), "{fields:?}");
    assert!(
        fields.contains(&"spec.graph.nodes[1].dependsOn[0]"),
        "{fields:?}"
    );
    c.get(&plan_path("default", "bad")).await.expect(404);

    // Warnings travel as Warning headers; the object is stored.
    let mut odd = plan("odd");
    odd["spec"]["colour"] = json!("blue");
    let r = c.post(&plans("default"), &odd).await.expect(201);
    let warnings = r.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("299 - \"spec.colour: PS0303"),
        "{warnings:?}"
    );
    // fieldValidation=Strict (what kubectl sends) rejects unknown fields.
    let mut strict = plan("strict");
    strict["spec"]["colour"] = json!("blue");
    let s = c
        .post(
            &format!("{}?fieldValidation=Strict", plans("default")),
            &strict,
        )
        .await
        .expect(400)
        .json();
    assert!(s["message"]
        .as_str()
        .unwrap()
        .contains("unknown field \"spec.colour\""));

    // dryRun=All checks everything and writes nothing.
    let dry = c
        .post(&format!("{}?dryRun=All", plans("default")), &plan("dry"))
        .await
        .expect(201)
        .json();
    assert_eq!(dry["metadata"]["name"], "dry");
    c.get(&plan_path("default", "dry")).await.expect(404);
    c.post(&format!("{}?dryRun=Some", plans("default")), &plan("dry"))
        .await
        .expect(400);

    // generateName.
    let mut generated = plan("x");
    generated["metadata"] = json!({"generateName": "run-"});
    let g = c
        .post(&plans("default"), &generated)
        .await
        .expect(201)
        .json();
    let name = g["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("run-") && name.len() == 9, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_concurrency_generation_and_status() {
    let server = TestServer::start().await;
    let c = server.client();
    let created = c
        .post(&plans("default"), &plan("p"))
        .await
        .expect(201)
        .json();

    // A label change: new resourceVersion, same generation.
    let mut next = created.clone();
    next["metadata"]["labels"] = json!({"team": "a"});
    let updated = c
        .put(&plan_path("default", "p"), &next)
        .await
        .expect(200)
        .json();
    assert!(rv(&updated) > rv(&created));
    assert_eq!(updated["metadata"]["generation"], 1);

    // The old resourceVersion is stale now: 409 Conflict.
    let s = c
        .put(&plan_path("default", "p"), &next)
        .await
        .expect(409)
        .json();
    assert_eq!(s["reason"], "Conflict");
    assert!(s["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));

    // A spec change bumps generation; server-owned fields and status in the body are ignored.
    let mut spec = updated.clone();
    spec["spec"]["description"] = json!("changed");
    spec["metadata"]["uid"] = json!("forged");
    spec["metadata"]["creationTimestamp"] = json!("2000-01-01T00:00:00Z");
    spec["status"] = json!({"phase": "Invalid"});
    let changed = c
        .put(&plan_path("default", "p"), &spec)
        .await
        .expect(200)
        .json();
    assert_eq!(changed["metadata"]["generation"], 2);
    assert_eq!(changed["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        changed["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
    assert_eq!(
        changed["status"]["phase"], "Ready",
        "status in a PUT is ignored"
    );

    // Without a resourceVersion the update is unconditional.
    let mut blind = changed.clone();
    blind["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    blind["metadata"]["annotations"] = json!({"note": "blind"});
    let blind = c
        .put(&plan_path("default", "p"), &blind)
        .await
        .expect(200)
        .json();
    assert_eq!(blind["metadata"]["annotations"]["note"], "blind");

    // An unchanged object is not written again.
    let same = c
        .put(&plan_path("default", "p"), &blind)
        .await
        .expect(200)
        .json();
    assert_eq!(rv(&same), rv(&blind));

    // Name and kind must match the path.
    let mut renamed = blind.clone();
    renamed["metadata"]["name"] = json!("q");
    c.put(&plan_path("default", "p"), &renamed)
        .await
        .expect(400);
    c.put(&plan_path("default", "absent"), &plan("absent"))
        .await
        .expect(404);

    // The status subresource changes only status.
    let mut st = blind.clone();
    st["status"] = json!({"phase": "Invalid"});
    st["spec"]["description"] = json!("ignored");
    st["metadata"]["labels"] = json!({"ignored": "yes"});
    let with_status = c
        .put(&format!("{}/status", plan_path("default", "p")), &st)
        .await
        .expect(200)
        .json();
    assert_eq!(with_status["status"]["phase"], "Invalid");
    assert_eq!(with_status["spec"], blind["spec"]);
    assert_eq!(
        with_status["metadata"]["labels"],
        blind["metadata"]["labels"]
    );
    assert_eq!(with_status["metadata"]["generation"], 2);
    // The main resource keeps the status.
    let mut again = with_status.clone();
    again["metadata"]["labels"] = json!({"team": "b"});
    again.as_object_mut().unwrap().remove("status");
    let kept = c
        .put(&plan_path("default", "p"), &again)
        .await
        .expect(200)
        .json();
    assert_eq!(kept["status"]["phase"], "Invalid");
    // A status update is admitted too.
    let mut bad_status = kept.clone();
    bad_status["status"] = json!({"phase": "Exploded"});
    c.put(
        &format!("{}/status", plan_path("default", "p")),
        &bad_status,
    )
    .await
    .expect(422);

    // dryRun on update.
    let mut dry = kept.clone();
    dry["spec"]["description"] = json!("dry");
    let d = c
        .put(&format!("{}?dryRun=All", plan_path("default", "p")), &dry)
        .await
        .expect(200)
        .json();
    assert_eq!(d["spec"]["description"], "dry");
    let now = c.get(&plan_path("default", "p")).await.json();
    assert_eq!(now["spec"], kept["spec"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_spec_is_immutable() {
    let server = TestServer::start().await;
    let c = server.client();
    let path = "/apis/planspec.io/v1alpha1/namespaces/default/executions";
    let exec = json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": "run-1"},
        "spec": {"planRef": {"name": "release"}}
    });
    let created = c.post(path, &exec).await.expect(201).json();
    let mut changed = created.clone();
    changed["spec"]["planRef"]["name"] = json!("other");
    let s = c
        .put(&format!("{path}/run-1"), &changed)
        .await
        .expect(422)
        .json();
    assert_eq!(s["details"]["causes"][0]["field"], "spec");
    let s = c
        .patch(
            &format!("{path}/run-1"),
            MERGE,
            &json!({"spec": {"planRef": {"name": "x"}}}),
        )
        .await
        .expect(422)
        .json();
    assert_eq!(s["reason"], "Invalid");
    // Metadata may still change.
    c.patch(
        &format!("{path}/run-1"),
        MERGE,
        &json!({"metadata": {"labels": {"a": "b"}}}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches() {
    let server = TestServer::start().await;
    let c = server.client();
    let created = c
        .post(&plans("default"), &plan("p"))
        .await
        .expect(201)
        .json();
    let path = plan_path("default", "p");

    let p = c
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"labels": {"a": "1"}}, "spec": {"description": "merged"}}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(p["metadata"]["labels"]["a"], "1");
    assert_eq!(p["spec"]["description"], "merged");
    assert_eq!(p["metadata"]["generation"], 2);

    let p = c
        .patch(
            &path,
            JSON_PATCH,
            &json!([
                {"op": "test", "path": "/spec/description", "value": "merged"},
                {"op": "replace", "path": "/spec/description", "value": "json"},
                {"op": "add", "path": "/metadata/labels/b", "value": "2"}
            ]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(p["spec"]["description"], "json");
    assert_eq!(p["metadata"]["labels"], json!({"a": "1", "b": "2"}));

    // A failing test operation: 422, nothing written.
    c.patch(
        &path,
        JSON_PATCH,
        &json!([{"op": "test", "path": "/spec/description", "value": "no"}]),
    )
    .await
    .expect(422);
    // Identity cannot be patched.
    c.patch(&path, MERGE, &json!({"metadata": {"name": "other"}}))
        .await
        .expect(422);
    // A patch that makes the object invalid is rejected by admission.
    c.patch(
        &path,
        MERGE,
        &json!({"spec": {"graph": {"nodes": [{"id": "a", "kind": "Tsk"}]}}}),
    )
    .await
    .expect(422);
    // A stale resourceVersion in the patch is a precondition: 409.
    c.patch(
        &path,
        MERGE,
        &json!({"metadata": {"resourceVersion": rv(&created).to_string()}}),
    )
    .await
    .expect(409);
    // Unsupported patch types: 415.
    let s = c
        .patch(&path, "application/strategic-merge-patch+json", &json!({}))
        .await
        .expect(415)
        .json();
    assert_eq!(s["reason"], "UnsupportedMediaType");
    // Server-side apply needs a field manager.
    c.patch(&path, "application/apply-patch+yaml", &json!({}))
        .await
        .expect(400);
    // Malformed: 400.
    c.request("PATCH", &path, &[("content-type", MERGE)], b"{".to_vec())
        .await
        .expect(400);
    // Missing object: 404.
    c.patch(&plan_path("default", "absent"), MERGE, &json!({}))
        .await
        .expect(404);

    // Status patch touches status only.
    let s = c
        .patch(
            &format!("{path}/status"),
            MERGE,
            &json!({"status": {"phase": "Invalid"}, "spec": {"description": "ignored"}}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(s["status"]["phase"], "Invalid");
    assert_eq!(s["spec"]["description"], "json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_finalizers() {
    let server = TestServer::start().await;
    let c = server.client();
    c.post(&plans("default"), &plan("p")).await.expect(201);
    let path = plan_path("default", "p");

    // dryRun keeps it.
    c.request("DELETE", &format!("{path}?dryRun=All"), &[], Vec::new())
        .await
        .expect(200);
    c.get(&path).await.expect(200);
    // A precondition on another uid: 409.
    c.request(
        "DELETE",
        &path,
        &[("content-type", "application/json")],
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "other"}})
            .to_string()
            .into_bytes(),
    )
    .await
    .expect(409);
    let gone = c.delete(&path).await.expect(200).json();
    assert_eq!(gone["metadata"]["name"], "p");
    c.get(&path).await.expect(404);
    c.delete(&path).await.expect(404);

    // With a finalizer: marked, kept until the finalizer goes.
    let mut f = plan("f");
    f["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    c.post(&plans("default"), &f).await.expect(201);
    let fpath = plan_path("default", "f");
    let marked = c.delete(&fpath).await.expect(200).json();
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    let still = c.get(&fpath).await.expect(200).json();
    assert_eq!(
        still["metadata"]["deletionTimestamp"],
        marked["metadata"]["deletionTimestamp"]
    );
    // Deleting again changes nothing.
    let again = c.delete(&fpath).await.expect(200).json();
    assert_eq!(rv(&again), rv(&still));
    // No new finalizers on an object being deleted.
    c.patch(
        &fpath,
        MERGE,
        &json!({"metadata": {"finalizers": ["example.com/cleanup", "example.com/more"]}}),
    )
    .await
    .expect(422);
    // Removing the last finalizer deletes it.
    c.patch(&fpath, MERGE, &json!({"metadata": {"finalizers": null}}))
        .await
        .expect(200);
    c.get(&fpath).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces() {
    let server = TestServer::start().await;
    let c = server.client();
    let ns =
        |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});

    // `default` exists and cannot be deleted.
    let d = c.get("/api/v1/namespaces/default").await.expect(200).json();
    assert_eq!(d["status"]["phase"], "Active");
    let s = c
        .delete("/api/v1/namespaces/default")
        .await
        .expect(403)
        .json();
    assert_eq!(s["reason"], "Forbidden");

    let created = c
        .post("/api/v1/namespaces", &ns("dev"))
        .await
        .expect(201)
        .json();
    assert_eq!(created["status"]["phase"], "Active");
    assert!(created["metadata"].get("namespace").is_none());
    c.post("/api/v1/namespaces", &ns("dev")).await.expect(409);
    c.post("/api/v1/namespaces", &ns("Dev")).await.expect(422);
    let list = c.get("/api/v1/namespaces").await.expect(200).json();
    assert_eq!(list["kind"], "NamespaceList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "dev"]);
    let by_name = c
        .get("/api/v1/namespaces?fieldSelector=metadata.name%3Ddev")
        .await
        .expect(200)
        .json();
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);

    // Objects in it; deleting the namespace deletes them.
    c.post(&plans("dev"), &plan("a")).await.expect(201);
    let mut held = plan("held");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    c.post(&plans("dev"), &held).await.expect(201);
    let terminating = c.delete("/api/v1/namespaces/dev").await.expect(200).json();
    assert_eq!(terminating["status"]["phase"], "Terminating");
    c.get(&plan_path("dev", "a")).await.expect(404);
    let h = c.get(&plan_path("dev", "held")).await.expect(200).json();
    assert!(h["metadata"]["deletionTimestamp"].is_string());
    // No new content while it terminates.
    let s = c.post(&plans("dev"), &plan("b")).await.expect(403).json();
    assert!(s["message"].as_str().unwrap().contains("being terminated"));
    // The last finalizer going takes the namespace with it.
    c.patch(
        &plan_path("dev", "held"),
        MERGE,
        &json!({"metadata": {"finalizers": []}}),
    )
    .await
    .expect(200);
    c.get(&plan_path("dev", "held")).await.expect(404);
    c.get("/api/v1/namespaces/dev").await.expect(404);

    // An empty namespace goes at once.
    c.post("/api/v1/namespaces", &ns("tmp")).await.expect(201);
    c.delete("/api/v1/namespaces/tmp").await.expect(200);
    c.get("/api/v1/namespaces/tmp").await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_selectors_paging_and_tables() {
    let server = TestServer::start().await;
    let c = server.client();
    c.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await
    .expect(201);
    for i in 0..7 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        c.post(
            &plans("default"),
            &labelled(&format!("p{i}"), json!({"tier": tier, "n": i.to_string()})),
        )
        .await
        .expect(201);
    }
    c.post(&plans("other"), &labelled("x", json!({"tier": "web"})))
        .await
        .expect(201);
    c.patch(
        &format!("{}/status", plan_path("default", "p3")),
        MERGE,
        &json!({"status": {"phase": "Invalid"}}),
    )
    .await
    .expect(200);

    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = c.get(&plans("default")).await.expect(200).json();
    assert_eq!(list["kind"], "PlanList");
    assert_eq!(list["apiVersion"], "planspec.io/v1alpha1");
    assert_eq!(names(&list).len(), 7);
    let list_rv: i64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(list_rv, server.store.current_revision().await.unwrap());

    let q = |query: &str| format!("{}?{query}", plans("default"));
    assert_eq!(
        names(&c.get(&q("labelSelector=tier%3Dweb")).await.json()),
        ["p0", "p2", "p4", "p6"]
    );
    assert_eq!(
        names(&c.get(&q("labelSelector=tier!%3Dweb")).await.json()),
        ["p1", "p3", "p5"]
    );
    assert_eq!(
        names(&c.get(&q("labelSelector=n+in+(1,2),tier")).await.json()),
        ["p1", "p2"]
    );
    assert_eq!(
        names(&c.get(&q("labelSelector=!tier")).await.json()),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&c.get(&q("fieldSelector=metadata.name%3Dp5")).await.json()),
        ["p5"]
    );
    assert_eq!(
        names(
            &c.get(&q("fieldSelector=status.phase%3DInvalid"))
                .await
                .json()
        ),
        ["p3"]
    );
    assert_eq!(
        names(
            &c.get(&q("fieldSelector=metadata.namespace%3Dother"))
                .await
                .json()
        ),
        Vec::<String>::new()
    );
    c.get(&q("labelSelector=a+b")).await.expect(400);
    c.get(&q("fieldSelector=spec.description%3Dx"))
        .await
        .expect(400);

    // All namespaces.
    let all = c
        .get("/apis/planspec.io/v1alpha1/plans?labelSelector=tier%3Dweb")
        .await
        .expect(200)
        .json();
    assert_eq!(names(&all), ["p0", "p2", "p4", "p6", "x"]);
    c.post("/apis/planspec.io/v1alpha1/plans", &plan("z"))
        .await
        .expect(405);

    // Pages of 3: every item exactly once, an opaque token, no token on the last page.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &token {
            Some(t) => q(&format!("limit=3&continue={t}")),
            None => q("limit=3"),
        };
        let page = c.get(&url).await.expect(200).json();
        pages += 1;
        seen.extend(names(&page));
        match page["metadata"]["continue"].as_str() {
            Some(t) => {
                assert!(!t.contains("p"), "the token is opaque: {t}");
                token = Some(t.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    // Paging with a selector.
    let page = c.get(&q("limit=2&labelSelector=tier%3Ddb")).await.json();
    assert_eq!(names(&page), ["p1", "p3"]);
    let t = page["metadata"]["continue"].as_str().unwrap();
    let rest = c
        .get(&q(&format!("limit=2&labelSelector=tier%3Ddb&continue={t}")))
        .await
        .json();
    assert_eq!(names(&rest), ["p5"]);
    c.get(&q("continue=garbage")).await.expect(400);

    // Tables, as kubectl asks for them.
    let table = c
        .get_with(&plans("default"), &[("accept", TABLE)])
        .await
        .expect(200)
        .json();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["columnDefinitions"][0]["name"], "Name");
    assert_eq!(table["rows"].as_array().unwrap().len(), 7);
    assert_eq!(table["rows"][0]["cells"][0], "p0");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(
        table["metadata"]["resourceVersion"],
        list["metadata"]["resourceVersion"]
    );
    let one = c
        .get_with(&plan_path("default", "p3"), &[("accept", TABLE)])
        .await
        .expect(200)
        .json();
    assert_eq!(one["rows"][0]["cells"][1], "Invalid");
    let s = c
        .get_with(&plans("default"), &[("accept", "application/yaml")])
        .await
        .expect(406)
        .json();
    assert_eq!(s["reason"], "NotAcceptable");

    // Delete a collection by selector.
    let deleted = c
        .delete(&q("labelSelector=tier%3Ddb"))
        .await
        .expect(200)
        .json();
    assert_eq!(names(&deleted), ["p1", "p3", "p5"]);
    assert_eq!(
        names(&c.get(&plans("default")).await.json()),
        ["p0", "p2", "p4", "p6"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_health_version_openapi_and_errors() {
    let server = TestServer::start().await;
    let c = server.client();
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/planspec.io",
        "/apis/planspec.io/v1alpha1",
        "/version",
        "/openapi/v3",
    ] {
        let r = c.get(path).await.expect(200);
        assert_eq!(r.headers["content-type"], "application/json", "{path}");
        r.json();
    }
    let resources = c.get("/apis/planspec.io/v1alpha1").await.json();
    // Six plan-model kinds and Policy and Provider with their /status, the four RBAC kinds
    // (no status), plans/graph, and the upstream validate and apply.
    assert_eq!(
        resources["resources"].as_array().unwrap().len(),
        8 * 2 + 4 + 3
    );
    let version = c.get("/version").await.json();
    assert!(version["gitVersion"].as_str().unwrap().starts_with('v'));
    assert_eq!(c.get("/healthz").await.expect(200).body, "ok");
    assert_eq!(c.get("/readyz").await.expect(200).body, "ok");
    let index = c.get("/openapi/v3").await.json();
    let url = index["paths"]["apis/planspec.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let doc = c.get(url).await.expect(200).json();
    assert!(doc["components"]["schemas"]["io.planspec.v1alpha1.Plan"].is_object());
    c.get("/openapi/v3/apis/nope/v1").await.expect(404);

    let s = c
        .get("/apis/planspec.io/v1alpha1/namespaces/default/widgets")
        .await
        .expect(404)
        .json();
    assert_eq!(s["kind"], "Status");
    c.get("/nowhere").await.expect(404);
    let s = c
        .request("POST", &plan_path("default", "x"), &[], b"{}".to_vec())
        .await
        .expect(405)
        .json();
    assert_eq!(s["reason"], "MethodNotAllowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_over_the_limit_are_413() {
    let server = TestServer::start_with(
        ApiOptions::default(),
        ServerConfig {
            body_limit: 4096,
            ..ServerConfig::default()
        },
    )
    .await;
    let c = server.client();
    let mut big = plan("big");
    big["spec"]["description"] = json!("x".repeat(10_000));
    let s = c.post(&plans("default"), &big).await.expect(413).json();
    assert_eq!(s["reason"], "RequestEntityTooLarge");
    c.post(&plans("default"), &plan("small")).await.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_resume_and_selectors() {
    let server = TestServer::start().await;
    let c = server.client();
    let a = c
        .post(&plans("default"), &labelled("a", json!({"tier": "web"})))
        .await
        .expect(201)
        .json();
    let start = rv(&a);

    let mut all = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={start}",
            plans("default")
        ))
        .await;
    let mut web = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={start}&labelSelector=tier%3Dweb",
            plans("default")
        ))
        .await;
    let mut named = c
        .watch(&format!(
            "{}?watch=1&resourceVersion={start}&fieldSelector=metadata.name%3Db",
            plans("default")
        ))
        .await;

    c.post(&plans("default"), &labelled("b", json!({"tier": "web"})))
        .await
        .expect(201);
    c.patch(
        &plan_path("default", "a"),
        MERGE,
        &json!({"spec": {"description": "v2"}}),
    )
    .await
    .expect(200);
    c.patch(
        &plan_path("default", "b"),
        MERGE,
        &json!({"metadata": {"labels": {"tier": "db"}}}),
    )
    .await
    .expect(200);
    c.delete(&plan_path("default", "a")).await.expect(200);
    c.post(&plans("other-ns-is-not-here"), &plan("c"))
        .await
        .expect(404);

    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(all.next().await);
    }
    let kinds: Vec<(String, String)> = got.iter().map(summary).collect();
    let s = |t: &str, n: &str| (t.to_owned(), n.to_owned());
    assert_eq!(
        kinds,
        [
            s("ADDED", "b"),
            s("MODIFIED", "a"),
            s("MODIFIED", "b"),
            s("DELETED", "a")
        ]
    );
    let revs: Vec<i64> = got.iter().map(|e| rv(&e["object"])).collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
    assert_eq!(got[1]["object"]["spec"]["description"], "v2");

    // The label selector: b leaves the selection (DELETED), a is deleted.
    let w: Vec<(String, String)> = [
        web.next().await,
        web.next().await,
        web.next().await,
        web.next().await,
    ]
    .iter()
    .map(summary)
    .collect();
    assert_eq!(
        w,
        [
            s("ADDED", "b"),
            s("MODIFIED", "a"),
            s("DELETED", "b"),
            s("DELETED", "a")
        ]
    );
    let n: Vec<(String, String)> = [named.next().await, named.next().await]
        .iter()
        .map(summary)
        .collect();
    assert_eq!(n, [s("ADDED", "b"), s("MODIFIED", "b")]);
    assert!(named
        .next_within(Duration::from_millis(300))
        .await
        .is_none());

    // Resume from the middle: only what came after.
    let mut resumed = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={}",
            plans("default"),
            revs[1]
        ))
        .await;
    assert_eq!(summary(&resumed.next().await), s("MODIFIED", "b"));
    assert_eq!(summary(&resumed.next().await), s("DELETED", "a"));

    // Watching across namespaces, and watches of namespaces.
    let mut everywhere = c
        .watch(&format!(
            "/apis/planspec.io/v1alpha1/plans?watch=true&resourceVersion={start}"
        ))
        .await;
    assert_eq!(summary(&everywhere.next().await), s("ADDED", "b"));
    let mut nss = c.watch("/api/v1/namespaces?watch=true").await;
    assert_eq!(summary(&nss.next().await), s("ADDED", "default"));
    c.post("/api/v1/namespaces", &json!({"metadata": {"name": "ops"}}))
        .await
        .expect(201);
    assert_eq!(summary(&nss.next().await), s("ADDED", "ops"));

    // Watch parameters are checked.
    c.get(&format!(
        "{}?watch=true&resourceVersion=x",
        plans("default")
    ))
    .await
    .expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_initial_events_bookmarks_and_timeouts() {
    let server = TestServer::start_with(
        ApiOptions {
            bookmark_interval: Duration::from_millis(200),
            ..ApiOptions::default()
        },
        ServerConfig {
            watch_heartbeat: Duration::from_millis(100),
            ..ServerConfig::default()
        },
    )
    .await;
    let c = server.client();
    for name in ["a", "b"] {
        c.post(&plans("default"), &plan(name)).await.expect(201);
    }
    let s = |t: &str, n: &str| (t.to_owned(), n.to_owned());

    // No resourceVersion: the current objects first, as ADDED.
    let mut first = c.watch(&format!("{}?watch=true", plans("default"))).await;
    assert_eq!(summary(&first.next().await), s("ADDED", "a"));
    assert_eq!(summary(&first.next().await), s("ADDED", "b"));
    c.post(&plans("default"), &plan("c")).await.expect(201);
    assert_eq!(summary(&first.next().await), s("ADDED", "c"));

    // sendInitialEvents: then a bookmark that says the initial events are over.
    let mut w = c
        .watch(&format!(
            "{}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
            plans("default")
        ))
        .await;
    for name in ["a", "b", "c"] {
        assert_eq!(summary(&w.next().await), s("ADDED", name));
    }
    let end = w.next().await;
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let at = rv(&end["object"]);
    assert_eq!(at, server.store.current_revision().await.unwrap());
    // With nothing happening, periodic bookmarks.
    let b = w.next().await;
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["kind"], "Plan");
    assert!(rv(&b["object"]) >= at);

    // Tables over watch: the first event carries the columns.
    let mut t = c
        .watch_with(
            &format!("{}?watch=true&resourceVersion={at}", plans("default")),
            &[("accept", TABLE)],
        )
        .await;
    c.patch(
        &plan_path("default", "a"),
        MERGE,
        &json!({"metadata": {"labels": {"x": "1"}}}),
    )
    .await
    .expect(200);
    c.patch(
        &plan_path("default", "b"),
        MERGE,
        &json!({"metadata": {"labels": {"x": "1"}}}),
    )
    .await
    .expect(200);
    let e1 = t.next().await;
    assert_eq!(e1["type"], "MODIFIED");
    assert_eq!(e1["object"]["kind"], "Table");
    assert_eq!(e1["object"]["rows"][0]["cells"][0], "a");
    assert!(!e1["object"]["columnDefinitions"]
        .as_array()
        .unwrap()
        .is_empty());
    let e2 = t.next().await;
    assert_eq!(e2["object"]["rows"][0]["cells"][0], "b");
    assert!(e2["object"]["columnDefinitions"]
        .as_array()
        .unwrap()
        .is_empty());

    // timeoutSeconds ends the stream.
    let mut short = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={at}&timeoutSeconds=1",
            plans("default")
        ))
        .await;
    assert!(short.ended_within(Duration::from_secs(5)).await);

    // Clients that go away take their watches with them, even when nothing happens.
    assert!(server.api.open_watches() >= 2);
    drop((first, w, t, short));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.api.open_watches() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "watches of gone clients stay open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_revision_is_410_gone() {
    let server = TestServer::start().await;
    let c = server.client();
    let first = c
        .post(&plans("default"), &plan("a"))
        .await
        .expect(201)
        .json();
    for i in 0..5 {
        c.patch(
            &plan_path("default", "a"),
            MERGE,
            &json!({"metadata": {"labels": {"i": i.to_string()}}}),
        )
        .await
        .expect(200);
    }
    server.store.compact(1).await.unwrap();
    let mut w = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={}",
            plans("default"),
            rv(&first)
        ))
        .await;
    let e = w.next().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(w.ended_within(Duration::from_secs(5)).await);
    // A list still works, and a watch from its revision too.
    let list = c.get(&plans("default")).await.expect(200).json();
    let mut w = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={}",
            plans("default"),
            list["metadata"]["resourceVersion"].as_str().unwrap()
        ))
        .await;
    c.delete(&plan_path("default", "a")).await.expect(200);
    assert_eq!(w.next().await["type"], "DELETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_across_a_restart() {
    let server = TestServer::start().await;
    let c = server.client();
    let a = c
        .post(&plans("default"), &plan("a"))
        .await
        .expect(201)
        .json();
    c.patch(
        &plan_path("default", "a"),
        MERGE,
        &json!({"spec": {"description": "v2"}}),
    )
    .await
    .expect(200);
    c.post(&plans("default"), &plan("b")).await.expect(201);
    // A watch open during shutdown ends cleanly.
    let mut open = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={}",
            plans("default"),
            rv(&a)
        ))
        .await;
    assert_eq!(open.next().await["type"], "MODIFIED");
    assert_eq!(server.api.open_watches(), 1);
    let dir = server.stop().await;
    assert!(open.ended_within(Duration::from_secs(5)).await);

    let server = TestServer::start_in(dir, ApiOptions::default(), ServerConfig::default()).await;
    let c = server.client();
    let mut w = c
        .watch(&format!(
            "{}?watch=true&resourceVersion={}",
            plans("default"),
            rv(&a)
        ))
        .await;
    let s = |t: &str, n: &str| (t.to_owned(), n.to_owned());
    assert_eq!(summary(&w.next().await), s("MODIFIED", "a"));
    assert_eq!(summary(&w.next().await), s("ADDED", "b"));
    c.delete(&plan_path("default", "b")).await.expect(200);
    assert_eq!(summary(&w.next().await), s("DELETED", "b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_read_modify_write_loses_no_update() {
    let server = TestServer::start().await;
    let c = server.client();
    let mut counter = plan("counter");
    counter["metadata"]["annotations"] = json!({"count": "0"});
    c.post(&plans("default"), &counter).await.expect(201);
    const CLIENTS: usize = 20;
    const EACH: usize = 5;
    let path = plan_path("default", "counter");
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let c = Client::new(server.addr);
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..EACH {
                loop {
                    let mut o = c.get(&path).await.expect(200).json();
                    let n: u64 = o["metadata"]["annotations"]["count"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    o["metadata"]["annotations"]["count"] = json!((n + 1).to_string());
                    let r = c.put(&path, &o).await;
                    match r.status {
                        200 => break,
                        409 => conflicts += 1,
                        other => panic!("unexpected {other}: {:?}", r.body),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let o = c.get(&path).await.json();
    assert_eq!(
        o["metadata"]["annotations"]["count"],
        (CLIENTS * EACH).to_string()
    );
    assert!(
        conflicts > 0,
        "20 concurrent writers should have collided at least once"
    );
}

/// The shipped example project, every kind, read with the validator and posted as JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_project_goes_in_and_legacy_forms_are_stored_modern() {
    let server = TestServer::start().await;
    let c = server.client();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/feature-release");
    let mut sources = planspec_validate::SourceMap::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        sources.add(planspec_validate::SourceFile::new(
            path.display().to_string(),
            text,
        ));
    }
    let report = planspec_validate::validate(sources, &Default::default());
    assert!(!report.has_errors());
    let mut kinds = std::collections::BTreeSet::new();
    for resource in &report.resources {
        let object = resource.node.to_json();
        let ns = resource.namespace.as_deref().unwrap_or("default");
        if ns != "default" && kinds.insert(format!("ns/{ns}")) {
            c.post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
                .await;
        }
        let plural = resource.kind.plural();
        let r = c
            .post(
                &format!("/apis/planspec.io/v1alpha1/namespaces/{ns}/{plural}"),
                &object,
            )
            .await
            .expect(201);
        assert!(
            r.warnings().is_empty(),
            "{}: {:?}",
            resource.display_name(),
            r.warnings()
        );
        let stored = c
            .get(&format!(
                "/apis/planspec.io/v1alpha1/namespaces/{ns}/{plural}/{}",
                resource.name.as_deref().unwrap()
            ))
            .await
            .expect(200)
            .json();
        assert_eq!(
            stored["spec"],
            object["spec"],
            "{}",
            resource.display_name()
        );
        kinds.insert(resource.kind.as_str().to_owned());
    }
    assert!(kinds.len() >= 6, "{kinds:?}");

    // A legacy form is accepted with a warning and stored in the modern form.
    let mut legacy = plan("legacy");
    legacy["spec"]["graph"]["nodes"][0]["capabilityRef"] = json!({"name": "build-tool"});
    let r = c.post(&plans("default"), &legacy).await.expect(201);
    assert!(
        r.warnings().iter().any(|w| w.contains("PS0201")),
        "{:?}",
        r.warnings()
    );
    let stored = r.json();
    let node = &stored["spec"]["graph"]["nodes"][0];
    assert!(node.get("capabilityRef").is_none(), "{node}");
    assert_eq!(node["capabilityRefs"], json!([{"name": "build-tool"}]));

    // A kind posted to another kind's path.
    let goal = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "metadata": {"name": "g"}, "spec": {"description": "d"}});
    c.post(&plans("default"), &goal).await.expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_writes() {
    let mut server = TestServer::start().await;
    let addr = server.addr;
    // 40 clients on their own connections, each creating plans until the server goes away.
    let mut tasks = Vec::new();
    for i in 0..40 {
        tasks.push(tokio::spawn(async move {
            let c = Client::new(addr);
            let mut acknowledged = Vec::new();
            for j in 0.. {
                let name = format!("p-{i}-{j}");
                match c
                    .try_request(
                        "POST",
                        &plans("default"),
                        plan(&name).to_string().into_bytes(),
                    )
                    .await
                {
                    Ok(r) if r.status == 201 => acknowledged.push(name),
                    Ok(r) => panic!("unexpected {}: {:?}", r.status, r.body),
                    Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.begin_stop();
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    let dir = server.stop().await;
    assert!(
        acknowledged.len() > 40,
        "only {} writes",
        acknowledged.len()
    );

    // Every acknowledged write is there after a restart.
    let server = TestServer::start_in(dir, ApiOptions::default(), ServerConfig::default()).await;
    let list = server
        .client()
        .get(&plans("default"))
        .await
        .expect(200)
        .json();
    let stored: std::collections::HashSet<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    for name in &acknowledged {
        assert!(
            stored.contains(name.as_str()),
            "{name} was acknowledged but is missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_and_ages_come_from_the_clock() {
    use planspec_server::api::clock::ManualClock;
    use std::sync::Arc;
    let start = time::macros::datetime!(2030-01-02 03:04:05.678 UTC);
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(clock.clone()).await;
    let c = server.client();
    let mut p = plan("timed");
    p["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let created = c.post(&plans("default"), &p).await.expect(201).json();
    assert_eq!(
        created["metadata"]["creationTimestamp"],
        "2030-01-02T03:04:05Z"
    );

    clock.advance(time::Duration::minutes(90));
    let table = c
        .get_with(&plans("default"), &[("accept", TABLE)])
        .await
        .expect(200)
        .json();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let age = columns.iter().position(|c| *c == "Age").unwrap();
    assert_eq!(table["rows"][0]["cells"][age], "90m");

    let marked = c
        .delete(&plan_path("default", "timed"))
        .await
        .expect(200)
        .json();
    assert_eq!(
        marked["metadata"]["deletionTimestamp"],
        "2030-01-02T04:34:05Z"
    );
}
