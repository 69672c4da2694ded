//! The audit layer through the real HTTP stack (authentication → audit → authorization →
//! handlers) on a real SQLite store: every mutating request is recorded with the
//! authenticated actor, verb, resource, outcome and request id — allowed, refused by RBAC
//! (403) and invalid (422) alike — reads are not (unless asked), and the chain served by
//! `GET …/auditrecords` verifies page by page against the head it reports.

mod common;

/// Actor, verb, resource, name, code, decision, reason of one record.
type Summary = (
    String,
    String,
    String,
    String,
    Option<u16>,
    Decision,
    String,
);

use common::{plan, plan_path, plans, TestServer};
use planspec_model::actor::{UserInfo, GROUP_AUTHENTICATED, GROUP_MASTERS};
use planspec_model::audit::{verify_chain, AuditRecord, ChainHead, Decision};
use planspec_server::api::ApiOptions;
use planspec_server::auth::AuthConfig;
use planspec_server::http::ServerConfig;
use serde_json::{json, Value};

const ROOT: &str = "root-token-0123456789";
const ALICE: &str = "alice-token-0123456789";
const AUDIT: &str = "/apis/planspec.io/v1alpha1/auditrecords";

async fn server(audit_reads: bool) -> TestServer {
    let auth = AuthConfig {
        tokens: vec![
            (
                ROOT.to_owned(),
                UserInfo::new("root", [GROUP_MASTERS, GROUP_AUTHENTICATED]),
            ),
            (
                ALICE.to_owned(),
                UserInfo::new("alice", [GROUP_AUTHENTICATED]),
            ),
        ],
        ..AuthConfig::single_token(String::new(), UserInfo::default())
    };
    TestServer::start_with(
        ApiOptions::default(),
        ServerConfig {
            auth,
            audit_reads,
            ..ServerConfig::default()
        },
    )
    .await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The whole log, read in pages of `page` through the API, with the head of the last page.
async fn read_log(server: &TestServer, page: usize) -> (Vec<AuditRecord>, ChainHead) {
    let c = server.client();
    let auth = bearer(ROOT);
    let mut records = Vec::new();
    let mut path = format!("{AUDIT}?limit={page}");
    loop {
        let reply = c
            .get_with(&path, &[("authorization", &auth)])
            .await
            .expect(200)
            .json();
        assert_eq!(reply["kind"], "AuditRecordList");
        let items: Vec<AuditRecord> = serde_json::from_value(reply["items"].clone()).unwrap();
        assert!(items.len() <= page);
        records.extend(items);
        match reply["metadata"]["continue"].as_str() {
            Some(token) => path = format!("{AUDIT}?limit={page}&continue={token}"),
            None => {
                let head = serde_json::from_value(reply["metadata"]["head"].clone()).unwrap();
                return (records, head);
            }
        }
    }
}

async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, String) {
    let auth = token.map(bearer);
    let mut headers = vec![("content-type", "application/json"), ("x-request-id", "")];
    let id = format!("test-{method}-{}", path.len());
    headers[1].1 = &id;
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let reply = server.client().request(method, path, &headers, body).await;
    let request_id = reply
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (reply.status, request_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_are_recorded_with_actor_and_outcome() {
    let server = server(false).await;
    let (created, created_id) =
        send(&server, "POST", &plans("default"), Some(ROOT), &plan("a")).await;
    assert_eq!(created, 201);
    let (forbidden, _) = send(&server, "POST", &plans("default"), Some(ALICE), &plan("b")).await;
    assert_eq!(forbidden, 403);
    let mut invalid = plan("c");
    invalid["spec"]["graph"] =
        json!({"nodes": [{"id": "x", "kind": "Task", "dependsOn": ["nope"]}]});
    let (unprocessable, _) = send(&server, "POST", &plans("default"), Some(ROOT), &invalid).await;
    assert_eq!(unprocessable, 422);
    let (patched, _) = send(
        &server,
        "PUT",
        &plan_path("default", "a"),
        Some(ROOT),
        &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan", "metadata": {"name": "a"},
                "spec": plan("a")["spec"].clone()}),
    )
    .await;
    assert_eq!(patched, 200);
    // Reads are not recorded; neither is a request without credentials (refused before the
    // audit layer, with its line in the access log).
    assert_eq!(
        send(
            &server,
            "GET",
            &plan_path("default", "a"),
            Some(ROOT),
            &Value::Null
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(&server, "GET", &plans("default"), Some(ALICE), &Value::Null)
            .await
            .0,
        403
    );
    assert_eq!(
        send(
            &server,
            "DELETE",
            &plan_path("default", "a"),
            None,
            &Value::Null
        )
        .await
        .0,
        401
    );
    let (deleted, _) = send(
        &server,
        "DELETE",
        &plan_path("default", "a"),
        Some(ROOT),
        &Value::Null,
    )
    .await;
    assert_eq!(deleted, 200);

    let (records, head) = read_log(&server, 2).await;
    verify_chain(&records, &head).expect("the served chain verifies");
    // Bootstrap objects are written to the store directly, not by requests: the log holds
    // exactly this test's mutating requests, in order.
    let summary: Vec<Summary> = records
        .iter()
        .map(|r| {
            let e = &r.entry;
            (
                e.actor.username.clone(),
                e.verb.clone(),
                e.resource.resource.clone(),
                e.resource.name.clone(),
                e.outcome.code,
                e.outcome.decision,
                e.outcome.reason.clone(),
            )
        })
        .collect();
    let s = |v: &str| v.to_owned();
    assert_eq!(
        summary,
        vec![
            (
                s("root"),
                s("create"),
                s("plans"),
                s("a"),
                Some(201),
                Decision::Allowed,
                s("")
            ),
            (
                s("alice"),
                s("create"),
                s("plans"),
                s("b"),
                Some(403),
                Decision::Denied,
                s("Forbidden")
            ),
            (
                s("root"),
                s("create"),
                s("plans"),
                s("c"),
                Some(422),
                Decision::Error,
                s("Invalid")
            ),
            (
                s("root"),
                s("update"),
                s("plans"),
                s("a"),
                Some(200),
                Decision::Allowed,
                s("")
            ),
            (
                s("root"),
                s("delete"),
                s("plans"),
                s("a"),
                Some(200),
                Decision::Allowed,
                s("")
            ),
        ]
    );
    let first = &records[0].entry;
    assert_eq!(first.resource.group, "planspec.io");
    assert_eq!(first.resource.namespace, "default");
    assert_eq!(first.request_id, created_id);
    assert!(first.actor.groups.iter().any(|g| g == GROUP_MASTERS));
    assert!(first.time.ends_with('Z') && first.time.len() == "2026-01-01T00:00:00.000Z".len());
    let refused = &records[1].entry;
    assert!(
        refused.details["message"]
            .as_str()
            .unwrap_or("")
            .contains("alice"),
        "{:?}",
        refused.details
    );

    // Filters.
    let alice = server
        .client()
        .get_with(
            &format!("{AUDIT}?actor=alice"),
            &[("authorization", &bearer(ROOT))],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(alice["items"].as_array().unwrap().len(), 1);
    assert_eq!(alice["items"][0]["seq"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_recorded_when_asked() {
    let server = server(true).await;
    assert_eq!(
        send(&server, "GET", &plans("default"), Some(ALICE), &Value::Null)
            .await
            .0,
        403
    );
    assert_eq!(
        send(&server, "GET", &plans("default"), Some(ROOT), &Value::Null)
            .await
            .0,
        200
    );
    let (records, head) = read_log(&server, 100).await;
    verify_chain(&records, &head).unwrap();
    let verbs: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.entry.actor.username.as_str(), r.entry.verb.as_str()))
        .collect();
    assert_eq!(&verbs[..2], [("alice", "list"), ("root", "list")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paging_parameters_are_400() {
    let server = server(false).await;
    let c = server.client();
    let auth = bearer(ROOT);
    c.get_with(&format!("{AUDIT}?continue=x"), &[("authorization", &auth)])
        .await
        .expect(400);
    c.get_with(&format!("{AUDIT}?limit=-1"), &[("authorization", &auth)])
        .await
        .expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_leaves_without_its_record() {
    let server = server(false).await;
    assert_eq!(
        send(&server, "POST", &plans("default"), Some(ROOT), &plan("a"))
            .await
            .0,
        201
    );
    // The store goes away under the server: the write fails, and so does its record, so the
    // client hears that the record is missing rather than the handler's answer.
    server.store.close().await;
    let auth = bearer(ROOT);
    let reply = server
        .client()
        .request(
            "DELETE",
            &plan_path("default", "a"),
            &[("authorization", &auth)],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 500);
    let status = reply.json();
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("audit record could not be written"),
        "{status}"
    );
}
