//! Initial status on create (upstream reference §4): server-owned, whatever the client sent.

mod common;

use common::TestServer;
use serde_json::{json, Value};

const V: &str = "/apis/planspec.io/v1alpha1";

/// The example project as JSON documents (validated, normalised).
fn example_project() -> Vec<Value> {
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
    report.resources.iter().map(|r| r.node.to_json()).collect()
}

fn expected(kind: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        "Goal" => ("Pending", "Accepted", "True", "GoalCreated"),
        "Plan" => ("Ready", "Valid", "True", "SchemaValid"),
        "Capability" => ("Available", "Available", "True", "CapabilityRegistered"),
        "Binding" => ("Unresolved", "Resolved", "False", "BindingCreated"),
        "Execution" => ("Pending", "Accepted", "True", "ExecutionCreated"),
        "Gate" => ("Pending", "Ready", "False", "GateCreated"),
        other => panic!("unexpected kind {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_starts_in_its_initial_state() {
    let server = TestServer::start().await;
    let c = server.client();
    c.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "team-web"}}),
    )
    .await
    .expect(201);
    let mut items = example_project();
    // A client's status is ignored on create.
    for item in &mut items {
        item["status"] = json!({"phase": "Failed"});
    }
    // Half through the bulk apply, half through plain creates: both set the initial status.
    let (bulk, single) = items.split_at(items.len() / 2);
    c.post(&format!("{V}/namespaces/team-web/apply"), &json!(bulk))
        .await
        .expect(200);
    for item in single {
        let plural = format!("{}s", item["kind"].as_str().unwrap().to_lowercase())
            .replace("capabilitys", "capabilities");
        c.post(&format!("{V}/namespaces/team-web/{plural}"), item)
            .await
            .expect(201);
    }
    let mut kinds = std::collections::BTreeSet::new();
    for plural in [
        "goals",
        "plans",
        "capabilities",
        "bindings",
        "executions",
        "gates",
    ] {
        let list = c
            .get(&format!("{V}/namespaces/team-web/{plural}"))
            .await
            .expect(200)
            .json();
        for o in list["items"].as_array().unwrap() {
            let kind = o["kind"].as_str().unwrap();
            kinds.insert(kind.to_owned());
            let (phase, ctype, cstatus, reason) = expected(kind);
            let status = &o["status"];
            assert_eq!(status["phase"], phase, "{kind} {}", o["metadata"]["name"]);
            assert_eq!(status["observedGeneration"], 1);
            let conditions = status["conditions"].as_array().unwrap();
            assert_eq!(conditions.len(), 1, "{kind}");
            assert_eq!(conditions[0]["type"], ctype);
            assert_eq!(conditions[0]["status"], cstatus);
            assert_eq!(conditions[0]["reason"], reason);
            assert_eq!(
                conditions[0]["lastTransitionTime"],
                o["metadata"]["creationTimestamp"]
            );
            if kind == "Plan" {
                assert_eq!(
                    status["nodeCount"],
                    o["spec"]["graph"]["nodes"].as_array().unwrap().len()
                );
            }
        }
    }
    assert_eq!(kinds.len(), 6, "{kinds:?}");

    // A dry-run create shows the initial status too; a later status write replaces it.
    let gate = c
        .get(&format!("{V}/namespaces/team-web/gates"))
        .await
        .json()["items"][0]
        .clone();
    let name = gate["metadata"]["name"].as_str().unwrap().to_owned();
    let mut copy = gate.clone();
    copy["metadata"] = json!({"name": "copy"});
    let dry = c
        .post(&format!("{V}/namespaces/team-web/gates?dryRun=All"), &copy)
        .await
        .expect(201)
        .json();
    assert_eq!(dry["status"]["phase"], "Pending");
    let waiting = c
        .patch(
            &format!("{V}/namespaces/team-web/gates/{name}/status"),
            "application/merge-patch+json",
            &json!({"status": {"phase": "Waiting"}}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(waiting["status"]["phase"], "Waiting");
}
