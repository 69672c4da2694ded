//! An embedded control plane for `planspec run`: the same store, API, controllers and runtime
//! as `planspec server`, on a loopback port, in a background thread, for as long as the value
//! lives. Dropping it shuts down gracefully (running attempts are left to resume, with their
//! idempotency keys, at the next start on the same store).

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use planspec_server::control_plane::ControlPlane;
use planspec_server::http::ServerConfig;

use crate::error::Failure;

/// A running embedded control plane.
pub struct Embedded {
    url: String,
    store: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Embedded {
    /// Starts a control plane over the SQLite file `store`.
    pub fn start(store: &Path) -> Result<Embedded, Failure> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let path = store.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("planspec-embedded".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
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
