//! A real server for tests: an SQLite file in a temporary directory, the whole HTTP stack on
//! a free loopback port, and a small HTTP/1.1 client (hyper) to drive it. No mocks.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use planspec_server::api::clock::{Clock, SystemClock};
use planspec_server::api::{Api, ApiOptions};
use planspec_server::http::{Server, ServerConfig};
use planspec_store::{SqliteOptions, SqliteStore, Store};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Path of a namespaced collection.
pub fn plans(ns: &str) -> String {
    format!("/apis/planspec.io/v1alpha1/namespaces/{ns}/plans")
}

/// Path of a plan.
pub fn plan_path(ns: &str, name: &str) -> String {
    format!("{}/{name}", plans(ns))
}

/// A small valid Plan.
pub fn plan(name: &str) -> Value {
    json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": name},
        "spec": {
            "description": "Build and test",
            "graph": {"nodes": [{"id": "build", "kind": "Task"}, {"id": "test", "kind": "Task", "dependsOn": ["build"]}]}
        }
    })
}

/// A running server over an SQLite file.
pub struct TestServer {
    pub dir: Arc<tempfile::TempDir>,
    pub addr: SocketAddr,
    pub store: Arc<SqliteStore>,
    pub api: Api,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// A server on a fresh store.
    pub async fn start() -> TestServer {
        TestServer::start_with(ApiOptions::default(), ServerConfig::default()).await
    }

    /// A server on a fresh store with these options.
    pub async fn start_with(options: ApiOptions, config: ServerConfig) -> TestServer {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        TestServer::start_in(dir, options, config).await
    }

    /// A server on the store file in `dir` (kept, for restarts).
    pub async fn start_in(
        dir: Arc<tempfile::TempDir>,
        options: ApiOptions,
        config: ServerConfig,
    ) -> TestServer {
        TestServer::start_full(dir, Arc::new(SystemClock), options, config).await
    }

    /// A server on a fresh store that reads the time from `clock`.
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> TestServer {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        TestServer::start_full(dir, clock, ApiOptions::default(), ServerConfig::default()).await
    }

    async fn start_full(
        dir: Arc<tempfile::TempDir>,
        clock: Arc<dyn Clock>,
        options: ApiOptions,
        config: ServerConfig,
    ) -> TestServer {
        let path = TestServer::db_path(dir.path());
        let store = Arc::new(
            SqliteStore::open(&path, SqliteOptions::default())
                .await
                .unwrap(),
        );
        let api = Api::new(store.clone() as Arc<dyn Store>, clock, options);
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        };
        let server = Server::bind(&config, api.clone()).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            dir,
            addr,
            store,
            api,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn db_path(dir: &Path) -> PathBuf {
        dir.join("planspec.db")
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts the server down gracefully, waits for it, and closes the store.
    pub async fn stop(mut self) -> Arc<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("the server did not stop within 20 s")
                .unwrap()
                .unwrap();
        }
        self.store.close().await;
        self.dir.clone()
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Values of the `Warning` headers.
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all("warning")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// Asserts the status code, showing the body otherwise.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// An HTTP/1.1 client with keep-alive.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    /// Sent as `Authorization: Bearer …` with every request (none: the dev-mode identity).
    token: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
            token: None,
        }
    }

    /// This client, authenticating with the bearer token `token`.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> hyper::Response<Incoming> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .expect("request timed out")
            .expect("request failed")
    }

    /// A request that may fail at the connection level (the server is going away).
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Any request, read whole.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let response = self.send(method, path, headers, body).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], Vec::new()).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers, Vec::new()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "PUT",
            path,
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> Reply {
        self.request(
            "PATCH",
            path,
            &[("content-type", content_type)],
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, &[], Vec::new()).await
    }

    /// Opens a watch (or any streamed response).
    pub async fn watch(&self, path: &str) -> Watch {
        self.watch_with(path, &[]).await
    }

    pub async fn watch_with(&self, path: &str, headers: &[(&str, &str)]) -> Watch {
        let response = self.send("GET", path, headers, Vec::new()).await;
        assert_eq!(response.status().as_u16(), 200, "watch {path}");
        Watch {
            body: response.into_body(),
            buffer: Vec::new(),
            ended: false,
        }
    }
}

/// A watch response, read event by event.
pub struct Watch {
    body: Incoming,
    buffer: Vec<u8>,
    ended: bool,
}

impl Watch {
    /// The next event, or `None` if the stream ended or nothing came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(i) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).expect("a watch event is JSON"));
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return None,
                Ok(None) => self.ended = true,
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.expect("watch body").into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next event; panics if none comes within 10 s.
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("no watch event within 10 s")
    }

    /// `true` once the server has ended the stream (waits up to `wait`).
    pub async fn ended_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            if self.next_within(Duration::from_millis(50)).await.is_none() && self.ended {
                return true;
            }
        }
        false
    }
}

/// `(type, metadata.name)` of an event.
pub fn summary(event: &Value) -> (String, String) {
    (
        event["type"].as_str().unwrap_or("").to_owned(),
        event["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}
