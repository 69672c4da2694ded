//! Controllers: loops that watch the store and keep each object's `status` true to the world.
//!
//! The shape follows kube-runtime: one *informer* follows the store's change log (list at
//! start, then `changes_since` woken by `subscribe`) and hands every change to each
//! [`Reconciler`], which names the objects of its kind to look at again ([`Trigger`]). The
//! informer keeps the keys of the controllers' kinds from that list and the changes after it
//! (`keys`), so a change that concerns a whole namespace is answered without reading the
//! store. Every controller has its own de-duplicating queue and one worker, so one object is never
//! reconciled twice at once, and a burst of changes to it is one reconcile. A reconcile reads
//! the current state, computes the status, and writes it only if it differs — through the
//! [`Api`], with optimistic concurrency: a conflict simply reconciles again.
//!
//! Level-triggered: a reconcile never relies on the change that caused it, so a missed or
//! compacted change costs at most a re-list, never a wrong status.

mod binding;
mod conditions;
mod gate;
mod gate_audit;
mod gate_input;
mod gate_review;
mod gate_timeout;
mod goal;
mod keys;
mod provider;
mod queue;

pub use binding::BindingController;
pub use conditions::set_condition;
pub use gate::GateController;
pub use gate_input::admit as admit_gate_input;
pub use gate_review::{review, Review};
pub use goal::GoalController;
pub use provider::ProviderController;

use crate::api::Api;
use crate::resource::ResourceType;
use crate::status::Status;
use async_trait::async_trait;
use keys::KeyCache;
use planspec_store::{ObjectKey, StoreError};
use queue::Queue;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What a change asks a controller to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// One object of the controller's kind.
    Object(ObjectKey),
    /// Every object of the controller's kind in this namespace.
    Namespace(String),
}

/// What to do after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Nothing: wait for the next change.
    Never,
    /// Look again after this long (a deadline the status depends on).
    After(Duration),
}

/// One controller: which changes concern it and how it brings one object's status up to date.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// A short name for logs (`goal`, `gate` …).
    fn name(&self) -> &'static str;

    /// The kind whose status this controller owns.
    fn resource(&self) -> ResourceType;

    /// The objects to reconcile after `key` changed to `object` (its new state, or its last
    /// state if it was deleted). The default: the object itself, if it is of this kind.
    fn triggers(&self, key: &ObjectKey, object: &Value, out: &mut Vec<Trigger>) {
        let _ = object;
        if key.kind == self.resource().kind() {
            out.push(Trigger::Object(key.clone()));
        }
    }

    /// Brings the status of `key` up to date. A missing object is not an error.
    async fn reconcile(&self, api: &Api, key: &ObjectKey) -> Result<Requeue, Status>;
}

/// The controllers that make a plain `planspec server` a control plane.
pub fn standard() -> Vec<Arc<dyn Reconciler>> {
    vec![
        Arc::new(GoalController),
        Arc::new(BindingController),
        Arc::new(GateController),
    ]
}

/// Running controllers; they stop when the API shuts down (or when this is dropped).
#[derive(Debug)]
pub struct Controllers {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Controllers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Controllers {
    /// Starts `reconcilers` over `api`'s store: every existing object of their kinds is
    /// reconciled once, then every change is followed.
    pub fn start(api: Api, reconcilers: Vec<Arc<dyn Reconciler>>) -> Controllers {
        let mut tasks = Vec::new();
        let mut queues = Vec::new();
        for reconciler in reconcilers {
            let queue = Arc::new(Queue::default());
            tasks.push(tokio::spawn(work(
                api.clone(),
                reconciler.clone(),
                queue.clone(),
            )));
            queues.push((reconciler, queue));
        }
        tasks.push(tokio::spawn(inform(api, queues)));
        Controllers { tasks }
    }
}

/// Follows the store and fills the queues.
async fn inform(api: Api, queues: Vec<(Arc<dyn Reconciler>, Arc<Queue>)>) {
    let store = api.store().clone();
    let mut changed = store.subscribe();
    let mut shutdown = api.shutdown_signal();
    let mut cache = KeyCache::new(queues.iter().map(|(r, _)| r.resource().kind()));
    let mut revision = match relist(&api, &queues, &mut cache).await {
        Some(revision) => revision,
        None => return,
    };
    let mut triggers = Vec::new();
    loop {
        match store.changes_since(revision, 1000).await {
            Ok(page) => {
                for change in &page.changes {
                    cache.observe(change);
                    for (reconciler, queue) in &queues {
                        triggers.clear();
                        reconciler.triggers(
                            &change.object.key,
                            &change.object.object,
                            &mut triggers,
                        );
                        for trigger in triggers.drain(..) {
                            enqueue(&cache, reconciler.as_ref(), queue, trigger);
                        }
                    }
                }
                let caught_up = page.changes.is_empty();
                revision = page.revision.max(revision);
                if !caught_up {
                    continue;
                }
            }
            Err(StoreError::Compacted { .. }) => {
                // Changes were lost to compaction: look at everything again.
                match relist(&api, &queues, &mut cache).await {
                    Some(r) => revision = r,
                    None => return,
                }
                continue;
            }
            Err(e) => {
                eprintln!("planspec: controllers: reading changes failed: {e}; retrying");
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

/// Queues every object of every controller's kind and fills `cache` with their keys; returns
/// the revision the lists were read at.
async fn relist(
    api: &Api,
    queues: &[(Arc<dyn Reconciler>, Arc<Queue>)],
    cache: &mut KeyCache,
) -> Option<i64> {
    loop {
        let revision = match api.store().current_revision().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("planspec: controllers: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut ok = true;
        cache.clear();
        for (reconciler, queue) in queues {
            match list_keys(api, reconciler.resource(), None).await {
                Ok(keys) => keys.into_iter().for_each(|k| {
                    cache.insert(&k);
                    queue.push(k)
                }),
                Err(e) => {
                    eprintln!(
                        "planspec: controllers: listing {}: {}; retrying",
                        reconciler.resource().plural(),
                        e.message
                    );
                    ok = false;
                }
            }
        }
        if ok {
            return Some(revision);
        }
        if *api.shutdown_signal().borrow() {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Queues what `trigger` names; the objects of a namespace come from the informer's `cache`.
fn enqueue(cache: &KeyCache, reconciler: &dyn Reconciler, queue: &Queue, trigger: Trigger) {
    match trigger {
        Trigger::Object(key) => queue.push(key),
        Trigger::Namespace(ns) => cache
            .in_namespace(reconciler.resource().kind(), &ns)
            .into_iter()
            .for_each(|k| queue.push(k)),
    }
}

async fn list_keys(
    api: &Api,
    resource: ResourceType,
    namespace: Option<&str>,
) -> Result<Vec<ObjectKey>, Status> {
    let page = api
        .list(
            resource,
            namespace,
            &crate::api::params::ListOptions::default(),
        )
        .await?;
    Ok(page
        .items
        .iter()
        .filter_map(|item| {
            let meta = item.get("metadata")?;
            let name = meta.get("name")?.as_str()?;
            let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
            Some(crate::api::key(resource, ns, name))
        })
        .collect())
}

/// The field manager the controllers write status as.
pub const FIELD_MANAGER: &str = "planspec-controllers";

/// Conflicts in a row before a reconcile is retried after a pause instead of at once.
const IMMEDIATE_RETRIES: u32 = 5;

/// One controller's worker: reconciles queued keys one at a time.
async fn work(api: Api, reconciler: Arc<dyn Reconciler>, queue: Arc<Queue>) {
    let mut shutdown = api.shutdown_signal();
    loop {
        let key = tokio::select! {
            key = queue.pop() => key,
            _ = shutdown.changed() => return,
        };
        let mut conflicts = 0;
        loop {
            match reconciler.reconcile(&api, &key).await {
                Ok(Requeue::Never) => {
                    queue.forget_failures(&key);
                    break;
                }
                Ok(Requeue::After(delay)) => {
                    queue.forget_failures(&key);
                    queue.push_after(key.clone(), delay);
                    break;
                }
                Err(status) if status.code == 409 && conflicts < IMMEDIATE_RETRIES => {
                    conflicts += 1;
                }
                Err(status) => {
                    let delay = queue.failed(&key);
                    if status.code != 409 {
                        eprintln!(
                            "planspec: {} controller: {key}: {} (retrying in {delay:?})",
                            reconciler.name(),
                            status.message
                        );
                    }
                    queue.push_after(key.clone(), delay);
                    break;
                }
            }
        }
    }
}

/// The object at `key`, or `None` if there is none.
async fn get_opt(
    api: &Api,
    resource: ResourceType,
    key: &ObjectKey,
) -> Result<Option<Value>, Status> {
    match api.get(resource, &key.namespace, &key.name).await {
        Ok(object) => Ok(Some(object)),
        Err(status) if status.code == 404 => Ok(None),
        Err(status) => Err(status),
    }
}

/// `object` as the typed resource `T`; `None` (logged) if a stored object does not fit the
/// model, which admission should have made impossible.
fn typed<T: serde::de::DeserializeOwned>(object: &Value, key: &ObjectKey) -> Option<T> {
    match serde_json::from_value(object.clone()) {
        Ok(typed) => Some(typed),
        Err(e) => {
            eprintln!("planspec: controllers: {key} does not fit the model: {e}");
            None
        }
    }
}

/// Writes `status` into `current` (optimistically: a concurrent write is a 409) unless it is
/// already there; returns the stored object if something was written.
async fn write_status<S: serde::Serialize>(
    api: &Api,
    resource: ResourceType,
    current: &Value,
    status: &S,
) -> Result<Option<Value>, Status> {
    write_status_audited(api, resource, current, status, Vec::new()).await
}

/// [`write_status`] with `audit` records appended in the same transaction as the status.
pub(crate) async fn write_status_audited<S: serde::Serialize>(
    api: &Api,
    resource: ResourceType,
    current: &Value,
    status: &S,
    audit: Vec<planspec_model::audit::AuditEntry>,
) -> Result<Option<Value>, Status> {
    let status = serde_json::to_value(status).map_err(Status::internal_error)?;
    if current.get("status") == Some(&status) {
        return Ok(None);
    }
    let meta = &current["metadata"];
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut body = current.clone();
    body["status"] = status;
    let written = api
        .update_audited(
            resource,
            namespace,
            name,
            crate::api::object::Part::Status,
            body,
            crate::api::params::WriteOptions {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..Default::default()
            },
            audit,
        )
        .await?;
    Ok(Some(written.object))
}
