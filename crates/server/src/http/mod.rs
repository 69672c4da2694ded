//! The HTTP server: axum routes over [`crate::api::Api`], request size limits, streamed
//! watches, and a graceful shutdown that lets in-flight requests finish.
//!
//! * [`routes`] — the router and the handlers (parse, call the API, encode);
//! * [`access_log`] — one line per request (by default: writes and failures) and the
//!   `X-Request-Id` of every response;
//! * [`audit`] — the audit layer (every mutating request, durably, in the hash-chained audit
//!   log) and the log's route;
//! * [`negotiate`] — `Accept` → JSON or `Table`;
//! * [`body`] — request bodies within a limit, streamed response bodies, `Warning` headers;
//! * [`protobuf`] — the one protobuf object kubectl sends this server (a `Namespace`);
//! * [`yaml`] — YAML request bodies, read by the validator's loader (errors with line and column).

pub mod access_log;
pub mod audit;
pub mod auth;
pub mod body;
pub mod leases;
pub mod negotiate;
pub mod operations;
pub mod protobuf;
pub mod request_info;
pub mod reviews;
pub mod routes;
pub mod tls;
pub mod yaml;

use crate::api::Api;
use crate::status::Status;
use axum::serve::ListenerExt;
use routes::App;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body by default: 8 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// How the HTTP server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (port 0: any free port; see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Largest request body, in bytes (larger ones get `413`).
    pub body_limit: usize,
    /// How long a shutdown waits for in-flight requests before it stops anyway.
    pub shutdown_grace: Duration,
    /// How long a watch stream stays silent before the server writes a space to it: the
    /// only way to notice a client that went away (JSON stream readers skip whitespace, and a
    /// line reader sees it as leading whitespace of the next event).
    pub watch_heartbeat: Duration,
    /// The access log. Off by default for a server embedded in another program (and in
    /// tests); `planspec server` turns it on (`access_log::Config::default()`).
    pub access_log: access_log::Config,
    /// How requests are authenticated. The default is dev mode (anonymous requests act as
    /// `system:anonymous-dev`), which [`Server::bind`] allows on a loopback address only;
    /// `planspec server` uses a token file unless given `--dev`.
    pub auth: crate::auth::AuthConfig,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP).
    pub tls: Option<tls::TlsConfig>,
    /// Record reads (`GET`, `HEAD`, `OPTIONS`) in the audit log too; off by default (every
    /// mutating request is always recorded).
    pub audit_reads: bool,
    /// Trusted providers and secrets: the trust policy Provider manifests are verified
    /// against and the directory `secretFile` references are read from.
    pub providers: crate::providers::ProviderSettings,
    /// Let an Execution's creator approve its Gates ([`crate::api::ApiOptions::allow_self_approval`]):
    /// set only by the private, single-user control plane of `planspec run`.
    pub allow_self_approval: bool,
    /// The verdict for a node no Policy rule matches in a namespace whose Policies set no
    /// `defaultVerdict` (`planspec server --policy-default`; `allow` by default).
    pub policy_default: planspec_model::policy::PolicyVerdict,
    /// How long a keyed concurrency lease outlives its holder's last renewal
    /// (`planspec server --lease-ttl`; 30 s by default).
    pub lease_ttl: Duration,
    /// Most Task attempts running at once (`planspec server --max-running-tasks`; `None`:
    /// no limit).
    pub max_running_tasks: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: DEFAULT_BODY_LIMIT,
            shutdown_grace: Duration::from_secs(30),
            watch_heartbeat: Duration::from_secs(10),
            access_log: access_log::Config {
                level: access_log::Level::Off,
                target: access_log::Target::Stderr,
            },
            auth: crate::auth::AuthConfig::default(),
            tls: None,
            audit_reads: false,
            providers: crate::providers::ProviderSettings::default(),
            allow_self_approval: false,
            policy_default: planspec_model::policy::PolicyVerdict::Allow,
            lease_ttl: planspec_runtime::driver::leases::DEFAULT_LEASE_TTL,
            max_running_tasks: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {error}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The store could not be prepared (the `default` namespace).
    #[error("cannot prepare the store: {0}")]
    Store(Status),
    /// The access log could not be opened.
    #[error("cannot open the access log: {0}")]
    AccessLog(std::io::Error),
    /// Authentication could not be set up (an invalid token file, dev mode on an address
    /// that is not loopback).
    #[error("{0}")]
    Auth(String),
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    grace: Duration,
    access_log: Arc<access_log::AccessLog>,
    guard: Arc<auth::Guard>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    auditor: Arc<audit::Auditor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Prepares the store (creates the `default` namespace, the default ClusterRoles and the
    /// bootstrap admin's binding), sets up authentication and RBAC, and binds the address.
    /// Dev mode (anonymous requests allowed) is refused on an address that is not loopback.
    pub async fn bind(config: &ServerConfig, api: Api) -> Result<Server, StartError> {
        if config.auth.anonymous.is_some() && !config.listen.ip().is_loopback() {
            return Err(StartError::Auth(format!(
                "refusing to listen on {} in dev mode: anonymous access is only allowed on a loopback address (use a token file instead of --dev)",
                config.listen
            )));
        }
        let authenticator = crate::auth::Authenticator::start(&config.auth)
            .map_err(|e| StartError::Auth(e.to_string()))?;
        let tls = match &config.tls {
            Some(t) => Some(t.acceptor().map_err(|e| StartError::Auth(e.to_string()))?),
            None => None,
        };
        api.ensure_default_namespace()
            .await
            .map_err(StartError::Store)?;
        crate::authz::defaults::ensure(&api, crate::auth::bootstrap::BOOTSTRAP_ADMIN)
            .await
            .map_err(StartError::Store)?;
        let rbac = crate::authz::Rbac::start(api.store().clone(), api.shutdown_signal())
            .await
            .map_err(|e| StartError::Store(Status::internal_error(e)))?;
        api.attach_authorizer(rbac.clone());
        let guard = Arc::new(auth::Guard {
            authenticator,
            rbac,
            body_limit: config.body_limit,
        });
        let access_log =
            access_log::AccessLog::start(&config.access_log).map_err(StartError::AccessLog)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|error| StartError::Bind {
                address: config.listen,
                error,
            })?;
        let auditor = Arc::new(audit::Auditor {
            api: api.clone(),
            reads: config.audit_reads,
            body_limit: config.body_limit,
        });
        Ok(Server {
            auditor,
            listener,
            app: Arc::new(App {
                api,
                body_limit: config.body_limit,
                watch_heartbeat: config.watch_heartbeat,
            }),
            grace: config.shutdown_grace,
            access_log,
            guard,
            tls,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` completes, then stops accepting connections, ends the
    /// watches, and waits for in-flight requests to finish (at most the shutdown grace).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let api = self.app.api.clone();
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            api.shutdown();
            let _ = stopping_tx.send(());
        };
        let access_log = self.access_log.clone();
        // Outermost last: access log → authentication → audit → authorization → handlers.
        let router = routes::router(self.app)
            .layer(axum::middleware::from_fn_with_state(
                self.guard.clone(),
                auth::authorize,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.auditor,
                audit::middleware,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.guard,
                auth::authenticate,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.access_log,
                access_log::middleware,
            ));
        let serve: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> =
            match self.tls {
                Some(acceptor) => Box::pin(
                    axum::serve(tls::TlsListener::new(self.listener, acceptor)?, router)
                        .with_graceful_shutdown(signal)
                        .into_future(),
                ),
                None => {
                    let listener = self.listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    Box::pin(
                        axum::serve(listener, router)
                            .with_graceful_shutdown(signal)
                            .into_future(),
                    )
                }
            };
        let grace = self.grace;
        let deadline = async move {
            match stopping_rx.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            result = serve => result,
            () = deadline => Ok(()),
        };
        // Every line of a finished request is written before the server reports it stopped.
        access_log.close();
        result
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
