//! The execution runtime: runs every Execution in the store with the pure engine
//! (`planspec-engine`), durably.
//!
//! * A **supervisor** ([`Runtime::start`]) follows the store's change log. Every Execution that
//!   is not finished gets a **driver** task — at start-up too, which is how a restarted server
//!   resumes its runs. Gate changes are routed to the drivers waiting for them.
//! * A **driver** (`execution.rs`) owns one Execution: the engine state folded from its
//!   journal, the attempts in flight, the armed timers. It takes one input at a time (a
//!   provider's result, a timer, a Gate decision, a request from the API), asks the engine for
//!   the step, writes the input, the decisions, the Execution's status and the changed node
//!   records in **one store transaction** — the journal append is checked against the
//!   expected sequence number, so a second writer can never interleave — and only then carries
//!   out the step's commands (`effects.rs`). A crash between the write and the effects is
//!   repaired at restart by [`planspec_engine::Execution::recover`], which re-dispatches
//!   in-flight attempts with the **same idempotency key**.
//! * What an Execution runs is pinned when it starts (`start.rs`): the Plan and Goal as they
//!   were, and each Task's provider (resolved through the Binding, validated by the
//!   [`ProviderRegistry`], digested). They live in the journal's first entry, so recovery,
//!   replay and export never depend on what was applied later.
//! * Requests from the API ([`RuntimeHandle`]: cancel, retry, complete, fail) are inputs like
//!   any other: the call returns once the input is journaled.
//!
//! One process drives an Execution: the SQLite store's lock file makes the server the only
//! writer. The PostgreSQL scale-out will take a store lease per Execution before driving it.

mod admission;
mod approval;
mod audit;
mod effects;
mod execution;
pub mod leases;
mod placeholder;
mod reasons;
mod run_slots;
mod start;
mod status;
pub mod subplan;
mod trusted;

pub use admission::AdmissionUnavailable;
pub use status::NODE_STATUS_LIMIT;

use crate::provider::ProviderRegistry;
use execution::{Driver, Msg};
use planspec_engine::Input;
use planspec_store::{ObjectKey, Store, StoreError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How the runtime behaves.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where per-execution work directories and logs go
    /// (`<data_dir>/executions/<uid>/{work,logs}`).
    pub data_dir: PathBuf,
    /// Largest number of nodes whose status is kept in `Execution.status.nodeStatuses`;
    /// bigger executions keep counters there and per-node records in the node table.
    pub node_status_limit: usize,
    /// The verdict for a Task no Policy rule matches when no Policy of the namespace sets a
    /// `defaultVerdict` (default `allow`).
    pub default_verdict: planspec_model::policy::PolicyVerdict,
    /// How long a keyed concurrency lease outlives its holder's last renewal (default 30 s);
    /// a dead runtime's leases are free after it. Renewed every third of it.
    pub lease_ttl: Duration,
    /// Most Task attempts running at once across every Execution (`None`: no limit); the
    /// others wait, by Goal `priority`, then first come first served.
    pub max_running_tasks: Option<usize>,
    /// Who may `execute` which Plan: every Plan of a sub-plan tree is checked for the root
    /// Execution's creator when the tree is pinned at start (`subplan_forbidden`). `None`
    /// (an unauthenticated control plane): no check.
    pub plan_authorizer: Option<std::sync::Arc<dyn subplan::PlanAuthorizer>>,
}

impl RuntimeOptions {
    /// Defaults with `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> RuntimeOptions {
        RuntimeOptions {
            data_dir: data_dir.into(),
            node_status_limit: NODE_STATUS_LIMIT,
            default_verdict: planspec_model::policy::PolicyVerdict::Allow,
            lease_ttl: leases::DEFAULT_LEASE_TTL,
            max_running_tasks: None,
            plan_authorizer: None,
        }
    }
}

/// Why a request to the runtime was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// No such Execution.
    #[error("execution {0} not found")]
    NotFound(String),
    /// The request does not fit the Execution's state (finished, not waiting …).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The runtime could not do it (store failure, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// A person's value for a Placeholder breaks its constraints; nothing was journaled and
    /// the node keeps waiting.
    #[error("the value is rejected: {0}")]
    Rejected(planspec_engine::placeholder::Rejection),
}

/// Milliseconds since the Unix epoch, from the system clock. The runtime's only clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// State shared by the supervisor, the drivers and the handles.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: ProviderRegistry,
    pub(crate) options: RuntimeOptions,
    drivers: Mutex<HashMap<String, DriverEntry>>,
    /// Objects (Gates, resources of External nodes) → the drivers waiting on them.
    interest: Mutex<HashMap<ObjectKey, Vec<String>>>,
    shutdown: watch::Sender<bool>,
    /// Keyed concurrency leases (`concurrency` on Tasks).
    pub(crate) leases: Arc<leases::LeaseManager>,
    /// The runtime-wide limit on running Task attempts.
    pub(crate) run_slots: Arc<run_slots::RunSlots>,
}

struct DriverEntry {
    inbox: mpsc::UnboundedSender<Msg>,
}

impl Shared {
    fn drivers(&self) -> MutexGuard<'_, HashMap<String, DriverEntry>> {
        self.drivers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn interest_map(&self) -> MutexGuard<'_, HashMap<ObjectKey, Vec<String>>> {
        self.interest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers that driver `uid` wants to hear about changes to `key`.
    pub(crate) fn watch_object(&self, key: ObjectKey, uid: &str) {
        let mut map = self.interest_map();
        let list = map.entry(key).or_default();
        if !list.iter().any(|u| u == uid) {
            list.push(uid.to_owned());
        }
    }

    /// Forgets every interest of driver `uid`.
    pub(crate) fn forget(&self, uid: &str) {
        self.interest_map().retain(|_, list| {
            list.retain(|u| u != uid);
            !list.is_empty()
        });
    }

    /// Called by a driver as it ends.
    pub(crate) fn driver_ended(&self, uid: &str) {
        self.drivers().remove(uid);
        self.forget(uid);
    }

    pub(crate) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// The running runtime. Dropping it stops the supervisor; drivers stop after their current step.
pub struct Runtime {
    shared: Arc<Shared>,
    supervisor: JoinHandle<()>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("data_dir", &self.shared.options.data_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        self.supervisor.abort();
    }
}

impl Runtime {
    /// Starts driving every unfinished Execution in `store`, and every new one.
    pub fn start(
        store: Arc<dyn Store>,
        registry: ProviderRegistry,
        options: RuntimeOptions,
    ) -> Runtime {
        let (shutdown, _) = watch::channel(false);
        let leases = Arc::new(leases::LeaseManager::new(store.clone(), options.lease_ttl));
        let run_slots = Arc::new(run_slots::RunSlots::new(options.max_running_tasks));
        tokio::spawn(leases.clone().tick(shutdown.subscribe()));
        let shared = Arc::new(Shared {
            store,
            registry,
            options,
            drivers: Mutex::new(HashMap::new()),
            interest: Mutex::new(HashMap::new()),
            shutdown,
            leases,
            run_slots,
        });
        let supervisor = tokio::spawn(supervise(shared.clone()));
        Runtime { shared, supervisor }
    }

    /// A handle for the API: cancel, retry, complete, fail.
    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle {
            shared: self.shared.clone(),
        }
    }

    /// Stops starting work: drivers finish their current step and stop; attempts in flight
    /// are left to be resumed (with the same idempotency keys) by the next start.
    pub async fn shutdown(self) {
        self.shared.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.shared.drivers().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What the API server holds to act on Executions.
#[derive(Clone)]
pub struct RuntimeHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeHandle").finish_non_exhaustive()
    }
}

/// Who asked, recorded in the journal (`by`).
pub type Actor = Option<String>;

impl RuntimeHandle {
    /// The nodes waiting for a keyed concurrency lease in this runtime, each key's in the
    /// order they will be served.
    pub fn lease_waiters(&self) -> Vec<leases::WaiterView> {
        self.shared.leases.waiters()
    }

    /// Cancels the Execution `uid`: graceful (running attempts finish, nothing new starts) or
    /// `force` (running attempts are killed).
    pub async fn cancel(&self, uid: &str, force: bool, by: Actor) -> Result<(), RuntimeError> {
        self.send(
            uid,
            Input::CancelRequested {
                at: now_ms(),
                force,
                by,
            },
            false,
        )
        .await
    }

    /// Re-runs the failed and cancelled nodes of a finished Execution (or `from` and what
    /// depends on it), keeping the outputs of the nodes that succeeded.
    pub async fn retry(
        &self,
        uid: &str,
        from: Option<String>,
        by: Actor,
    ) -> Result<(), RuntimeError> {
        let from = from.map(|node| planspec_model::NodeId::from(node.as_str()));
        self.send(
            uid,
            Input::RetryRequested {
                at: now_ms(),
                from,
                deadline: None,
                by,
            },
            true,
        )
        .await
    }

    /// Finishes a node that waits for a person (a `human://` Task, a manual External, a
    /// manual acceptance criterion) as succeeded with `outputs`.
    pub async fn complete(
        &self,
        uid: &str,
        node: &str,
        outputs: Map<String, Value>,
        by: Actor,
    ) -> Result<(), RuntimeError> {
        self.manual(uid, node, Ok(outputs), by).await
    }

    /// Finishes a node that waits for a person as failed, with `message`.
    pub async fn fail(
        &self,
        uid: &str,
        node: &str,
        message: String,
        by: Actor,
    ) -> Result<(), RuntimeError> {
        self.manual(uid, node, Err(message), by).await
    }

    /// Fills Placeholder `node`, which waits for a person, with `value`. A value its schema
    /// or rules refuse is [`RuntimeError::Rejected`] and is not journaled.
    pub async fn resolve(
        &self,
        uid: &str,
        node: &str,
        value: Value,
        by: Actor,
    ) -> Result<(), RuntimeError> {
        let inbox = self.inbox(uid, false).await?;
        let (reply, answer) = oneshot::channel();
        inbox
            .send(Msg::Resolve {
                node: node.to_owned(),
                value,
                by,
                reply,
            })
            .map_err(|_| gone())?;
        match answer.await.map_err(|_| gone())? {
            Err(RuntimeError::Unavailable(why)) if why == DRIVER_ENDED => Err(
                RuntimeError::Conflict("the execution is not running".into()),
            ),
            other => other,
        }
    }

    async fn manual(
        &self,
        uid: &str,
        node: &str,
        result: Result<Map<String, Value>, String>,
        by: Actor,
    ) -> Result<(), RuntimeError> {
        let inbox = self.inbox(uid, false).await?;
        let (reply, answer) = oneshot::channel();
        inbox
            .send(Msg::Manual {
                node: node.to_owned(),
                result,
                by,
                reply,
            })
            .map_err(|_| gone())?;
        match answer.await.map_err(|_| gone())? {
            Err(RuntimeError::Unavailable(why)) if why == DRIVER_ENDED => Err(
                RuntimeError::Conflict(format!("node {node} is not waiting for a person")),
            ),
            other => other,
        }
    }

    /// Sends `input` to the driver of `uid` and waits until it is journaled. A driver that
    /// was ending as the request arrived is replaced (for `restart` requests) or reported.
    async fn send(&self, uid: &str, input: Input, restart: bool) -> Result<(), RuntimeError> {
        for _ in 0..3 {
            let inbox = self.inbox(uid, restart).await?;
            let (reply, answer) = oneshot::channel();
            inbox
                .send(Msg::Request {
                    input: input.clone(),
                    reply,
                })
                .map_err(|_| gone())?;
            match answer.await {
                Ok(Err(RuntimeError::Unavailable(why))) if why == DRIVER_ENDED => {
                    if !restart {
                        return Err(RuntimeError::Conflict(
                            "the execution is not running".into(),
                        ));
                    }
                    // Wait for the ended driver to unregister, then start a new one.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(result) => return result,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Err(gone())
    }

    /// The inbox of the driver of `uid`; with `restart`, a finished Execution gets a new driver.
    async fn inbox(
        &self,
        uid: &str,
        restart: bool,
    ) -> Result<mpsc::UnboundedSender<Msg>, RuntimeError> {
        if let Some(entry) = self.shared.drivers().get(uid) {
            return Ok(entry.inbox.clone());
        }
        let key = find_execution(&self.shared, uid).await?;
        if !restart {
            return Err(RuntimeError::Conflict(format!(
                "execution {} is not running",
                key.name
            )));
        }
        spawn_driver(&self.shared, uid.to_owned(), key, true)
            .ok_or_else(|| RuntimeError::Unavailable("the runtime is shutting down".into()))
    }
}

/// What a driver answers requests that arrive while it ends.
pub(crate) const DRIVER_ENDED: &str = "the execution's driver ended";

fn gone() -> RuntimeError {
    RuntimeError::Unavailable("the execution's driver stopped before answering".into())
}

async fn find_execution(shared: &Shared, uid: &str) -> Result<ObjectKey, RuntimeError> {
    let page = shared
        .store
        .list(&planspec_store::ListQuery::all("Execution"))
        .await
        .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
    page.items
        .into_iter()
        .find(|o| o.uid == uid)
        .map(|o| o.key)
        .ok_or_else(|| RuntimeError::NotFound(uid.to_owned()))
}

/// Starts a driver for `uid` unless one runs; returns its inbox.
fn spawn_driver(
    shared: &Arc<Shared>,
    uid: String,
    key: ObjectKey,
    even_if_finished: bool,
) -> Option<mpsc::UnboundedSender<Msg>> {
    if shared.shutting_down() {
        return None;
    }
    let mut drivers = shared.drivers();
    if let Some(entry) = drivers.get(&uid) {
        return Some(entry.inbox.clone());
    }
    let (tx, rx) = mpsc::unbounded_channel();
    drivers.insert(uid.clone(), DriverEntry { inbox: tx.clone() });
    drop(drivers);
    let driver = Driver::new(shared.clone(), uid, key, tx.clone(), even_if_finished);
    tokio::spawn(driver.run(rx));
    Some(tx)
}

fn terminal(object: &Value) -> bool {
    matches!(
        object.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed" | "Cancelled")
    )
}

/// Follows the store: starts drivers, routes changes of watched objects, stops the drivers of
/// deleted Executions.
async fn supervise(shared: Arc<Shared>) {
    let store = shared.store.clone();
    let mut changed = store.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    let mut revision = loop {
        match start_unfinished(&shared).await {
            Ok(revision) => break revision,
            Err(e) => {
                eprintln!("planspec: runtime: listing executions failed: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        match store.changes_since(revision, 1000).await {
            Ok(page) => {
                let empty = page.changes.is_empty();
                for change in page.changes {
                    route(&shared, &change);
                }
                revision = page.revision.max(revision);
                if !empty {
                    continue;
                }
            }
            Err(StoreError::Compacted { .. }) => {
                match start_unfinished(&shared).await {
                    Ok(r) => revision = r,
                    Err(e) => eprintln!("planspec: runtime: {e}"),
                }
                // Drivers re-check what they wait for.
                for entry in shared.drivers().values() {
                    let _ = entry.inbox.send(Msg::Poke);
                }
                continue;
            }
            Err(e) => {
                eprintln!("planspec: runtime: reading changes failed: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// Starts a driver for every unfinished Execution; returns the revision read at.
async fn start_unfinished(shared: &Arc<Shared>) -> Result<i64, StoreError> {
    let revision = shared.store.current_revision().await?;
    let page = shared
        .store
        .list(&planspec_store::ListQuery::all("Execution"))
        .await?;
    for object in page.items {
        if !terminal(&object.object) {
            spawn_driver(shared, object.uid.clone(), object.key.clone(), false);
        }
    }
    Ok(revision)
}

fn route(shared: &Arc<Shared>, change: &planspec_store::Change) {
    let object = &change.object;
    if object.key.kind == "Execution" {
        match change.change_type {
            planspec_store::ChangeType::Deleted => {
                if let Some(entry) = shared.drivers().get(&object.uid) {
                    let _ = entry.inbox.send(Msg::Deleted);
                }
            }
            _ => {
                if !terminal(&object.object) && !shared.drivers().contains_key(&object.uid) {
                    spawn_driver(shared, object.uid.clone(), object.key.clone(), false);
                }
            }
        }
        // A parent waits on its children (sub-plans): it hears of them below.
    }
    let waiting: Vec<String> = shared
        .interest_map()
        .get(&object.key)
        .cloned()
        .unwrap_or_default();
    if waiting.is_empty() {
        return;
    }
    let drivers = shared.drivers();
    for uid in waiting {
        if let Some(entry) = drivers.get(&uid) {
            let _ = entry.inbox.send(Msg::Watched {
                key: object.key.clone(),
                object: (change.change_type != planspec_store::ChangeType::Deleted)
                    .then(|| object.object.clone()),
            });
        }
    }
}
