//! Helpers shared by the runtime's integration tests: dispatch requests, a scriptable loopback
//! HTTP server, process checks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use planspec_model::binding::BindingTarget;
use planspec_runtime::{DispatchRequest, LogSink, PinnedProvider, ProviderRegistry};
use serde_json::{Map, Value};

pub fn registry() -> ProviderRegistry {
    ProviderRegistry::with_builtins().expect("built-in providers")
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

pub fn target(provider: &str, config: Value) -> BindingTarget {
    BindingTarget {
        provider: provider.to_string(),
        config: match config {
            Value::Null => None,
            other => Some(object(other)),
        },
    }
}

/// Resolves a target with the built-in registry.
pub fn pin(provider: &str, config: Value) -> PinnedProvider {
    registry()
        .resolve(&target(provider, config))
        .unwrap_or_else(|e| panic!("resolve {provider}: {e}"))
}

/// A request for node `build`, attempt 1, in `work_dir`.
pub fn request(provider: PinnedProvider, work_dir: &Path, inputs: Value) -> DispatchRequest {
    DispatchRequest {
        execution: "default/run-1".into(),
        execution_uid: "uid-1".into(),
        node_id: "build".into(),
        attempt: 1,
        idempotency_key: "uid-1/build/1".into(),
        inputs: object(inputs),
        provider,
        timeout: None,
        work_dir: work_dir.to_path_buf(),
        log: LogSink::disabled(),
    }
}

/// `true` once `pid` no longer exists (or is a zombie nobody reaped yet), waiting up to 5 s.
pub async fn process_gone(pid: u32) -> bool {
    for _ in 0..250 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                // The state is the field after the parenthesised command name.
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next());
                if matches!(state, Some("Z") | Some("X")) {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Reads a pid a test script wrote, waiting for it to appear.
pub async fn read_pid(path: &Path) -> u32 {
    for _ in 0..250 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no pid in {}", path.display());
}

/// One request a [`TestServer`] received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
    /// A `PlanSpec-Cost-Usd` header to answer with.
    pub cost: Option<&'static str>,
}

pub fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.to_string(),
        delay: Duration::ZERO,
        cost: None,
    }
}

#[derive(Default)]
struct Script {
    replies: Vec<Reply>,
    seen: Vec<Seen>,
}

/// A loopback HTTP server answering with a script of replies, in order (the last one repeats),
/// and recording every request.
pub struct TestServer {
    pub url: String,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(replies: Vec<Reply>) -> TestServer {
        let script = Arc::new(Mutex::new(Script {
            replies,
            seen: Vec::new(),
        }));
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { url, script, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().expect("lock").seen.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let reply = {
        let mut script = script.lock().expect("lock");
        script.seen.push(Seen {
            method,
            path: uri.path().to_string(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        if script.replies.len() > 1 {
            script.replies.remove(0)
        } else {
            script
                .replies
                .first()
                .cloned()
                .unwrap_or_else(|| reply(200, "{}"))
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (
        StatusCode::from_u16(reply.status).expect("status"),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response();
    if let Some(cost) = reply.cost {
        response.headers_mut().insert(
            "planspec-cost-usd",
            axum::http::HeaderValue::from_static(cost),
        );
    }
    response
}

/// A loopback URL nothing listens on.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}/hook")
}

/// A fresh scratch directory.
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    (dir, path)
}
