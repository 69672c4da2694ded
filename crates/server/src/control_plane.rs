//! The whole control plane in one value: the SQLite store, the API, the controllers, the
//! execution runtime and the HTTP server. `planspec server` runs one until a signal;
//! `planspec run` runs one embedded on a loopback port for the duration of a run.

use crate::api::clock::SystemClock;
use crate::api::{Api, ApiOptions};
use crate::controllers::{self, Controllers};
use crate::http::{Server, ServerConfig};
use planspec_model::actor::UserInfo;
use planspec_model::rbac::authorize::Attributes;
use planspec_runtime::driver::subplan::PlanAuthorizer;
use planspec_runtime::secret::SecretSource;
use planspec_runtime::{ProviderRegistry, Runtime, RuntimeOptions};
use planspec_store::{SqliteOptions, SqliteStore, Store};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

/// A control plane that could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// The store could not be opened (in use by another process, newer schema, I/O …).
    #[error("cannot open the store {path}: {error}")]
    Store {
        /// The store file.
        path: PathBuf,
        /// Why.
        error: planspec_store::StoreError,
    },
    /// The providers could not be set up.
    #[error("cannot start the providers: {0}")]
    Providers(String),
    /// The HTTP server could not start.
    #[error("{0}")]
    Server(String),
}

/// Where an Execution's work directories and logs go for a store file: beside it, in
/// `<stem>.data/` (`planspec.db` → `planspec.data/`).
pub fn runtime_data_dir(store: &Path) -> PathBuf {
    let stem = store
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "planspec".into());
    store
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(format!("{stem}.data"))
}

/// The runtime's `execute` check on each Plan of a sub-plan tree, by the server's RBAC.
struct RbacPlans(Arc<crate::authz::Rbac>);

impl std::fmt::Debug for RbacPlans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RbacPlans")
    }
}

impl PlanAuthorizer for RbacPlans {
    fn may_execute<'a>(
        &'a self,
        user: &'a UserInfo,
        namespace: &'a str,
        plan: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let attributes = Attributes {
                verb: "execute".into(),
                api_group: crate::resource::GROUP.into(),
                resource: "plans".into(),
                subresource: String::new(),
                namespace: Some(namespace.to_owned()),
                name: Some(plan.to_owned()),
            };
            self.0.authorize(user, &attributes).await.allowed()
        })
    }
}

/// A running control plane.
pub struct ControlPlane {
    store: Arc<SqliteStore>,
    api: Api,
    server: Server,
    runtime: Runtime,
    controllers: Controllers,
    data_dir: PathBuf,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("addr", &self.server.local_addr())
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Opens the store at `store_path` and starts everything but serving HTTP (see
    /// [`ControlPlane::serve`]). Executions that were running resume now.
    pub async fn start(
        store_path: &Path,
        config: &ServerConfig,
    ) -> Result<ControlPlane, ControlPlaneError> {
        let store = Arc::new(
            SqliteStore::open(store_path, SqliteOptions::default())
                .await
                .map_err(|error| ControlPlaneError::Store {
                    path: store_path.to_path_buf(),
                    error,
                })?,
        );
        let api = Api::new(
            store.clone() as Arc<dyn Store>,
            Arc::new(SystemClock),
            ApiOptions {
                allow_self_approval: config.allow_self_approval,
                ..ApiOptions::default()
            },
        );
        let server = Server::bind(config, api.clone())
            .await
            .map_err(|e| ControlPlaneError::Server(e.to_string()))?;
        let mut registry = ProviderRegistry::with_builtins()
            .map_err(|e| ControlPlaneError::Providers(e.to_string()))?;
        registry.set_trust_policy(config.providers.trust_policy.clone());
        registry.set_secrets(SecretSource::new(config.providers.secrets_dir.clone()));
        let data_dir = runtime_data_dir(store_path);
        let runtime = Runtime::start(
            store.clone() as Arc<dyn Store>,
            registry,
            RuntimeOptions {
                default_verdict: config.policy_default,
                lease_ttl: config.lease_ttl,
                max_running_tasks: config.max_running_tasks,
                plan_authorizer: api
                    .authorizer()
                    .map(|rbac| Arc::new(RbacPlans(rbac.clone())) as Arc<dyn PlanAuthorizer>),
                ..RuntimeOptions::new(data_dir.clone())
            },
        );
        api.attach_runtime(runtime.handle(), data_dir.clone());
        let mut reconcilers = controllers::standard();
        reconcilers.push(Arc::new(controllers::ProviderController::new(
            config.providers.trust_policy.clone(),
        )));
        let controllers = Controllers::start(api.clone(), reconcilers);
        Ok(ControlPlane {
            store,
            api,
            server,
            runtime,
            controllers,
            data_dir,
        })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The API.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Where execution logs and work directories go.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Serves until `shutdown` completes; then stops the controllers and the runtime (running
    /// attempts are left to resume, with the same idempotency keys, at the next start) and
    /// closes the store.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let ControlPlane {
            store,
            server,
            runtime,
            controllers,
            ..
        } = self;
        let result = server.run(shutdown).await;
        drop(controllers);
        runtime.shutdown().await;
        store.close().await;
        result
    }
}
