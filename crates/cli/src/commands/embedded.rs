//! An embedded control plane for `planspec run`: the same store, API, controllers and runtime
//! as `planspec server`, on a loopback port, in a background thread, for as long as the value
//! lives. Dropping it shuts down gracefully (running attempts are left to resume, with their
//! idempotency keys, at the next start on the same store).
//!
//! It accepts one credential: a token generated for this run (256 random bits, held in memory
//! only and handed to the run's own client), whose identity is `local:<OS user>` in
//! `system:masters`. Nothing else on the machine can use the loopback port: no anonymous
//! access, as there would be in dev mode, and nothing to set up.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use planspec_model::actor::{UserInfo, GROUP_MASTERS};
use planspec_server::auth::token_file::generate_token;
use planspec_server::auth::AuthConfig;
use planspec_server::control_plane::ControlPlane;
use planspec_server::http::ServerConfig;

use crate::error::Failure;

/// A running embedded control plane.
pub struct Embedded {
    url: String,
    token: String,
    store: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Embedded {
    /// Starts a control plane over the SQLite file `store`.
    pub fn start(store: &Path) -> Result<Embedded, Failure> {
        let token = generate_token()
            .map_err(|e| Failure::Message(format!("error: cannot generate a token: {e}")))?;
        let auth = AuthConfig::single_token(token.clone(), local_user());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let path = store.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("planspec-embedded".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .max_blocking_threads(super::server::MAX_BLOCKING_THREADS)
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start the runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let config = ServerConfig {
                        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                        auth,
                        // One person, one private plane: `run --yes` approves its own Gates.
                        allow_self_approval: true,
                        ..ServerConfig::default()
                    };
                    let plane = match ControlPlane::start(&path, &config).await {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(format!("http://{}", plane.local_addr())));
                    let _ = plane
                        .serve(async move {
                            let _ = stop_rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| Failure::Message(format!("error: cannot start a thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(url)) => Ok(Embedded {
                url,
                token,
                store: store.to_path_buf(),
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(why)) => {
                let _ = thread.join();
                let hint = if why.contains("lock") || why.contains("in use") {
                    " (another planspec process uses it: pass --store sqlite:OTHER, or run against that process with --server URL)"
                } else {
                    ""
                };
                Err(Failure::Message(format!("error: {why}{hint}")))
            }
            Err(_) => {
                let _ = thread.join();
                Err(Failure::Message(
                    "error: the embedded control plane stopped while starting".into(),
                ))
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The bearer token of this control plane.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The store file.
    pub fn store(&self) -> &Path {
        &self.store
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The identity of the person running `planspec run`: `local:<OS user>`, in
/// `system:masters` (it is their own control plane).
pub fn local_user() -> UserInfo {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty() && n.len() <= 200 && !n.chars().any(char::is_control))
        .unwrap_or_else(|| "unknown".into());
    UserInfo::new(format!("local:{name}"), [GROUP_MASTERS])
}
