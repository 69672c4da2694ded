//! The access log of a real server: which requests get a line, what the line says, and the
//! `X-Request-Id` of every response.

mod common;

use common::{plan, plan_path, plans, TestServer};
use planspec_server::api::ApiOptions;
use planspec_server::http::access_log::{Config, Level, Target};
use planspec_server::http::ServerConfig;
use std::path::Path;

async fn start(level: Level, path: &Path) -> TestServer {
    TestServer::start_with(
        ApiOptions::default(),
        ServerConfig {
            access_log: Config {
                level,
                target: Target::File(path.to_owned()),
            },
            ..ServerConfig::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_failures_are_logged_with_their_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let server = start(Level::Writes, &log).await;
    let c = server.client();

    let created = c
        .request(
            "POST",
            &plans("default"),
            &[
                ("content-type", "application/json"),
                ("user-agent", "tester/1.0"),
                ("x-request-id", "req-42"),
            ],
            plan("p").to_string().into_bytes(),
        )
        .await
        .expect(201);
    assert_eq!(created.headers["x-request-id"], "req-42");
    let size = created.body.len();
    let read = c.get(&plan_path("default", "p")).await.expect(200);
    let generated = read.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 25, "{generated}");
    // A read that failed is logged, except a 404 (how clients ask whether something exists).
    c.get(&plan_path("default", "missing")).await.expect(404);
    c.get(&format!("{}?labelSelector=a%20b", plans("default")))
        .await
        .expect(400);
    // A request id that is not printable ASCII is replaced.
    let odd = c
        .request("GET", "/healthz", &[("x-request-id", "a b")], Vec::new())
        .await
        .expect(200);
    assert_ne!(odd.headers["x-request-id"], "a b");
    c.delete(&plan_path("default", "p")).await.expect(200);
    server.stop().await;

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let post: Vec<&str> = lines[0].split(' ').collect();
    assert!(post[0].ends_with('Z') && post[0].contains('T'), "{text}");
    assert_eq!(
        post[1..4],
        [
            "POST",
            "/apis/planspec.io/v1alpha1/namespaces/default/plans",
            "201"
        ]
    );
    assert!(post[4].ends_with("ms"), "{text}");
    assert_eq!(post[5], format!("{size}B"));
    assert_eq!(post[6], "ua=\"tester/1.0\"");
    assert_eq!(post[7], "id=req-42");
    assert!(
        lines[1].contains(
            " GET /apis/planspec.io/v1alpha1/namespaces/default/plans?labelSelector=a%20b 400 "
        ),
        "{text}"
    );
    assert!(lines[2].contains(" DELETE "), "{text}");
    assert!(
        !text.contains(&generated),
        "a successful read is not logged: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level_all_logs_reads_and_watches_when_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let server = start(Level::All, &log).await;
    let c = server.client();
    c.get("/version").await.expect(200);
    let mut watch = c
        .watch(&format!("{}?watch=true&timeoutSeconds=1", plans("default")))
        .await;
    assert!(watch.ended_within(std::time::Duration::from_secs(10)).await);
    server.stop().await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" GET /version 200 "), "{text}");
    assert!(
        text.contains("plans?watch=true&timeoutSeconds=1 200 "),
        "{text}"
    );
}
