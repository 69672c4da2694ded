//! The request semantics of the API, free of HTTP: what a get, list, create, update, patch,
//! delete or watch of a resource does, given the store and a clock. The HTTP layer
//! (`crate::http`) parses requests into these calls and encodes their results; everything a
//! client can observe besides the wire format is decided here.
//!
//! * [`params`] — query parameters and the options they carry;
//! * [`object`] — identity checks and server-owned metadata (pure);
//! * [`admission`] — the validator as admission;
//! * [`gc`] — ownerReference garbage collection on delete (`propagationPolicy`);
//! * [`bulk`] — the upstream compatibility operations: `validate`, bulk `apply`, Plan `graph`;
//! * [`watch`] — watch streams over the store's change log;
//! * [`clock`] — the injected clock.

pub mod admission;
pub mod bulk;
pub mod clock;
pub mod gc;
pub mod object;
pub mod params;
pub mod watch;

use crate::patch::{apply_patch, PatchType};
use crate::resource::ResourceType;
use crate::status::Status;
use admission::{admit, Admitted};
use clock::{timestamp, Clock};
use object::{NewObject, Part};
use params::{DeleteOptions, FieldValidation, ListOptions, PropagationPolicy, WriteOptions};
use planspec_model::Kind;
use planspec_store::{ListQuery, ObjectKey, Store, StoreError, StoredObject, WriteOp};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The namespace that always exists.
pub const DEFAULT_NAMESPACE: &str = "default";

/// How the API behaves; `ApiOptions::default()` is what the server uses.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// How often a watch that asked for bookmarks gets one when nothing else happens.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` lasts.
    pub default_watch_timeout: Duration,
    /// Most changes a watch reads from the store at once.
    pub watch_batch: usize,
    /// How often a write that did not name a `resourceVersion` is retried when the object
    /// changed between its read and its write.
    pub max_retries: usize,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(30 * 60),
            watch_batch: 1000,
            max_retries: 8,
        }
    }
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The object as stored (or as it would be, for a dry run).
    pub object: Value,
    /// Admission warnings, one line each.
    pub warnings: Vec<String>,
    /// `true` when the write created the object (HTTP 201).
    pub created: bool,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResult {
    /// The objects, in key order.
    pub items: Vec<Value>,
    /// The revision the page was read at.
    pub revision: i64,
    /// The `continue` token of the next page.
    pub continue_token: Option<String>,
}

impl ListResult {
    /// The `<Kind>List` document.
    pub fn to_json(&self, resource: ResourceType) -> Value {
        let mut metadata = json!({"resourceVersion": self.revision.to_string()});
        if let Some(token) = &self.continue_token {
            metadata["continue"] = json!(token);
        }
        json!({
            "apiVersion": resource.api_version(),
            "kind": format!("{}List", resource.kind()),
            "metadata": metadata,
            "items": self.items,
        })
    }
}

/// The API: request semantics over a [`Store`]. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    options: ApiOptions,
    shutdown: tokio::sync::watch::Sender<bool>,
    watches: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// Keeps a watch counted in [`Api::open_watches`] while it lives.
#[derive(Debug)]
pub(crate) struct WatchGuard(Arc<AtomicUsize>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The key of an object of `resource` (cluster-scoped types have no namespace).
pub fn key(resource: ResourceType, namespace: &str, name: &str) -> ObjectKey {
    let namespace = if resource.namespaced() { namespace } else { "" };
    ObjectKey::new(resource.kind(), namespace, name)
}

/// The `Status` of a store error about `name` of `resource`.
pub fn store_error(resource: ResourceType, name: &str, error: StoreError) -> Status {
    match error {
        StoreError::NotFound(_) => Status::not_found(resource, name),
        StoreError::AlreadyExists(_) => Status::already_exists(resource, name),
        StoreError::Conflict { .. } => Status::conflict_modified(resource, name),
        StoreError::Compacted { requested, oldest } => {
            Status::resource_version_too_old(requested, oldest)
        }
        StoreError::Backend(e) => Status::internal_error(e),
    }
}

impl Api {
    /// An API over `store`, reading the time from `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, options: ApiOptions) -> Api {
        Api {
            inner: Arc::new(Inner {
                store,
                clock,
                options,
                shutdown: tokio::sync::watch::Sender::new(false),
                watches: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// The options.
    pub fn options(&self) -> &ApiOptions {
        &self.inner.options
    }

    /// Ends every watch (their streams close) and makes new ones end at once: the server is
    /// shutting down.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// How many watches are open now.
    pub fn open_watches(&self) -> usize {
        self.inner.watches.load(Ordering::Relaxed)
    }

    /// Counts a watch as open until the returned guard is dropped.
    pub(crate) fn count_watch(&self) -> WatchGuard {
        self.inner.watches.fetch_add(1, Ordering::Relaxed);
        WatchGuard(self.inner.watches.clone())
    }

    /// A receiver that turns `true` when [`Api::shutdown`] is called.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Creates the `default` namespace if it does not exist yet.
    pub async fn ensure_default_namespace(&self) -> Result<(), Status> {
        let ns = ResourceType::Namespace;
        if self
            .inner
            .store
            .get(&key(ns, "", DEFAULT_NAMESPACE))
            .await
            .map_err(|e| store_error(ns, DEFAULT_NAMESPACE, e))?
            .is_some()
        {
            return Ok(());
        }
        match self
            .create(
                ns,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEFAULT_NAMESPACE}}),
                WriteOptions::default(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code == 409 => Ok(()),
            Err(s) => Err(s),
        }
    }

    /// The store's current revision; fails when the store cannot be read (for `/readyz`).
    pub async fn ready(&self) -> Result<i64, Status> {
        self.inner
            .store
            .current_revision()
            .await
            .map_err(Status::internal_error)
    }

    /// GET of one object.
    pub async fn get(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, Status> {
        Ok(self.get_stored(resource, namespace, name).await?.object)
    }

    async fn get_stored(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<StoredObject, Status> {
        self.inner
            .store
            .get(&key(resource, namespace, name))
            .await
            .map_err(|e| store_error(resource, name, e))?
            .ok_or_else(|| Status::not_found(resource, name))
    }

    /// The store query of a list of `resource` in `namespace` (`None`: all namespaces).
    pub fn list_query(
        resource: ResourceType,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> ListQuery {
        ListQuery {
            kind: resource.kind().to_owned(),
            namespace: if resource.namespaced() {
                namespace.map(str::to_owned)
            } else {
                None
            },
            continue_after: options.continue_after.clone(),
            limit: options.limit,
            label_selector: options.label_selector.clone(),
            field_selector: options.field_selector.clone(),
        }
    }

    /// LIST: one page of the objects `options` select.
    pub async fn list(
        &self,
        resource: ResourceType,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ListResult, Status> {
        let query = Api::list_query(resource, namespace, options);
        let page = self
            .inner
            .store
            .list(&query)
            .await
            .map_err(|e| store_error(resource, "", e))?;
        Ok(ListResult {
            items: page.items.into_iter().map(|o| o.object).collect(),
            revision: page.revision,
            continue_token: page.continue_after.as_ref().map(params::encode_continue),
        })
    }

    /// WATCH: a stream of events; see [`watch::Watcher`].
    pub async fn watch(
        &self,
        resource: ResourceType,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<watch::Watcher, Status> {
        watch::Watcher::start(self, resource, namespace, options).await
    }

    async fn admit(
        resource: ResourceType,
        name: &str,
        object: Value,
        field_validation: FieldValidation,
    ) -> Result<Admitted, Status> {
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || admit(resource, &name, object, field_validation))
            .await
            .map_err(|e| Status::internal_error(format!("admission failed: {e}")))?
    }

    /// 404 unless `namespace` exists (`default` always does); 403 while it is being deleted.
    async fn check_namespace(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<(), Status> {
        let ns = ResourceType::Namespace;
        let found = self
            .inner
            .store
            .get(&key(ns, "", namespace))
            .await
            .map_err(|e| store_error(ns, namespace, e))?;
        match found {
            None if namespace == DEFAULT_NAMESPACE => Ok(()),
            None => Err(Status::not_found(ns, namespace)),
            Some(o) if object::deletion_requested(&o.object) => Err(Status::forbidden(
                resource,
                name,
                &format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// POST: creates an object from `body` in `namespace` (empty for namespaces).
    pub async fn create(
        &self,
        resource: ResourceType,
        namespace: &str,
        body: Value,
        options: WriteOptions,
    ) -> Result<Written, Status> {
        let mut attempts = 0;
        loop {
            let uuid = uuid::Uuid::new_v4();
            let uid = uuid.to_string();
            let suffix = object::name_suffix(uuid.as_bytes());
            let created_at = timestamp(self.now());
            let prepared = object::prepare_create(
                resource,
                namespace,
                body.clone(),
                &NewObject {
                    uid: &uid,
                    timestamp: &created_at,
                    name_suffix: &suffix,
                },
            )?;
            let name = object::name(&prepared).to_owned();
            let generated = object::metadata(&body)
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if resource.namespaced() {
                self.check_namespace(resource, namespace, &name).await?;
            }
            let Admitted { object, warnings } =
                Api::admit(resource, &name, prepared, options.field_validation).await?;
            let object = object::with_initial_status(resource, object, &created_at);
            if options.dry_run {
                return Ok(Written {
                    object,
                    warnings,
                    created: true,
                });
            }
            match self
                .inner
                .store
                .create(key(resource, namespace, &name), uid, object)
                .await
            {
                Ok(stored) => {
                    return Ok(Written {
                        object: stored.object,
                        warnings,
                        created: true,
                    })
                }
                Err(StoreError::AlreadyExists(_)) if generated && attempts < 3 => attempts += 1,
                Err(e) => return Err(store_error(resource, &name, e)),
            }
        }
    }

    /// PUT of the object or its status: replaces it with `body`. A `metadata.resourceVersion`
    /// in the body must be the current one (409 otherwise); without it the update is
    /// unconditional.
    pub async fn update(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        part: Part,
        body: Value,
        options: WriteOptions,
    ) -> Result<Written, Status> {
        let precondition = object::resource_version(&body)?;
        self.modify(resource, namespace, name, part, options, |_| {
            Ok((body.clone(), precondition))
        })
        .await
    }

    /// PATCH of the object or its status with a merge or JSON patch. A patch that sets
    /// `metadata.resourceVersion` makes it a precondition.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        part: Part,
        patch_type: PatchType,
        body: &[u8],
        options: WriteOptions,
    ) -> Result<Written, Status> {
        self.modify(resource, namespace, name, part, options, |current| {
            let patched = apply_patch(patch_type, &current.object, body)
                .map_err(|e| e.to_status(resource, name))?;
            let before = object::resource_version(&current.object).ok().flatten();
            let after = object::resource_version(&patched)?;
            let precondition = if after == before { None } else { after };
            Ok((patched, precondition))
        })
        .await
    }

    /// Read, compute the new object, admit, write with the read revision as precondition;
    /// retried when another write came in between (unless the client named a revision).
    async fn modify<F>(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        part: Part,
        options: WriteOptions,
        mut proposal: F,
    ) -> Result<Written, Status>
    where
        F: FnMut(&StoredObject) -> Result<(Value, Option<i64>), Status>,
    {
        let key = key(resource, namespace, name);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.get_stored(resource, namespace, name).await?;
            let (proposed, precondition) = proposal(&current)?;
            if precondition.is_some_and(|rv| rv != current.revision) {
                return Err(Status::conflict_modified(resource, name));
            }
            let prepared =
                object::prepare_update(resource, namespace, name, &current.object, proposed, part)?;
            let Admitted { object, warnings } =
                Api::admit(resource, name, prepared, options.field_validation).await?;
            let object = object::with_resource_version(object, current.revision);
            if object == current.object {
                return Ok(Written {
                    object: current.object,
                    warnings,
                    created: false,
                });
            }
            let remove =
                object::deletion_requested(&object) && object::finalizers(&object).is_empty();
            if options.dry_run {
                return Ok(Written {
                    object,
                    warnings,
                    created: false,
                });
            }
            let mut ops = vec![WriteOp::Update {
                key: key.clone(),
                expected_revision: Some(current.revision),
                object,
            }];
            if remove {
                ops.push(WriteOp::Delete {
                    key: key.clone(),
                    expected_revision: None,
                });
            }
            match self.inner.store.transact(ops).await {
                Ok(changes) => {
                    let stored = changes
                        .first()
                        .map(|c| c.object.object.clone())
                        .unwrap_or(Value::Null);
                    if remove {
                        if let Some(last) = changes.last() {
                            self.after_removal(&last.object).await;
                        }
                    }
                    if remove && resource.namespaced() {
                        self.finish_namespace(namespace).await;
                    }
                    return Ok(Written {
                        object: stored,
                        warnings,
                        created: false,
                    });
                }
                Err(StoreError::Conflict { .. })
                    if precondition.is_none() && attempt <= self.inner.options.max_retries => {}
                Err(e) => return Err(store_error(resource, name, e)),
            }
        }
    }

    /// DELETE: removes the object now, or, if it has finalizers, marks it for deletion
    /// (`deletionTimestamp`); it goes when the last finalizer does. Returns the object's
    /// last state (or the marked object).
    pub async fn delete(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Written, Status> {
        if resource == ResourceType::Namespace && name == DEFAULT_NAMESPACE {
            return Err(Status::forbidden(
                resource,
                name,
                "this namespace may not be deleted",
            ));
        }
        let key = key(resource, namespace, name);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.get_stored(resource, namespace, name).await?;
            if let Some(uid) = &options.precondition_uid {
                if uid != &current.uid {
                    return Err(Status::conflict(
                        resource,
                        name,
                        &format!(
                            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                            current.uid
                        ),
                    ));
                }
            }
            if let Some(rv) = options.precondition_resource_version {
                if rv != current.revision {
                    return Err(Status::conflict(
                        resource,
                        name,
                        &format!(
                            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                            current.revision
                        ),
                    ));
                }
            }
            if resource != ResourceType::Namespace && !options.dry_run {
                match options.propagation_policy {
                    PropagationPolicy::Orphan => {
                        self.orphan_dependents(namespace, &current.uid).await?;
                    }
                    PropagationPolicy::Foreground
                        if !object::deletion_requested(&current.object) =>
                    {
                        let dependents = self
                            .dependents(namespace, &current.uid)
                            .await
                            .map_err(|e| store_error(resource, name, e))?;
                        if !dependents.is_empty() {
                            let marked = gc::with_finalizer(
                                &object::mark_for_deletion(&current.object, &timestamp(self.now())),
                                gc::FOREGROUND_DELETION,
                            );
                            let marked = match self
                                .inner
                                .store
                                .update(key.clone(), Some(current.revision), marked)
                                .await
                            {
                                Ok(o) => o.object,
                                Err(StoreError::Conflict { .. })
                                    if attempt <= self.inner.options.max_retries =>
                                {
                                    continue
                                }
                                Err(e) => return Err(store_error(resource, name, e)),
                            };
                            for d in &dependents {
                                if let Some(r) = gc::resource_of(&d.key.kind) {
                                    self.delete_dependent(r, namespace, &d.key.name, &d.uid, true)
                                        .await?;
                                }
                            }
                            self.release_foreground(namespace, &current.uid, resource.kind(), name)
                                .await;
                            return Ok(Written {
                                object: marked,
                                warnings: Vec::new(),
                                created: false,
                            });
                        }
                    }
                    _ => {}
                }
            }
            let result = if resource == ResourceType::Namespace {
                self.delete_namespace(&current, options.dry_run).await
            } else if !object::finalizers(&current.object).is_empty() {
                if object::deletion_requested(&current.object) {
                    return Ok(Written {
                        object: current.object,
                        warnings: Vec::new(),
                        created: false,
                    });
                }
                let marked = object::mark_for_deletion(&current.object, &timestamp(self.now()));
                if options.dry_run {
                    return Ok(Written {
                        object: marked,
                        warnings: Vec::new(),
                        created: false,
                    });
                }
                self.inner
                    .store
                    .update(key.clone(), Some(current.revision), marked)
                    .await
                    .map(|o| o.object)
            } else if options.dry_run {
                Ok(current.object)
            } else {
                match self
                    .inner
                    .store
                    .delete(key.clone(), Some(current.revision))
                    .await
                {
                    Ok(o) => {
                        self.after_removal(&o).await;
                        Ok(object::with_resource_version(o.object, o.revision))
                    }
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(object) => {
                    return Ok(Written {
                        object,
                        warnings: Vec::new(),
                        created: false,
                    })
                }
                Err(StoreError::Conflict { .. }) if attempt <= self.inner.options.max_retries => {}
                Err(e) => return Err(store_error(resource, name, e)),
            }
        }
    }

    /// Deletes a namespace and everything in it, in one transaction: objects without
    /// finalizers go, objects with finalizers are marked, and the namespace itself goes
    /// unless some of them remain (it stays `Terminating` until the last one is gone).
    async fn delete_namespace(
        &self,
        current: &StoredObject,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        let ns = current.key.name.clone();
        let now = timestamp(self.now());
        let mut ops = Vec::new();
        let mut remaining = false;
        for kind in Kind::ALL {
            let page = self
                .inner
                .store
                .list(&ListQuery::in_namespace(kind.as_str(), ns.clone()))
                .await?;
            for item in page.items {
                if object::finalizers(&item.object).is_empty() {
                    ops.push(WriteOp::Delete {
                        key: item.key,
                        expected_revision: Some(item.revision),
                    });
                } else {
                    remaining = true;
                    if !object::deletion_requested(&item.object) {
                        ops.push(WriteOp::Update {
                            object: object::mark_for_deletion(&item.object, &now),
                            key: item.key,
                            expected_revision: Some(item.revision),
                        });
                    }
                }
            }
        }
        let mut marked = object::mark_for_deletion(&current.object, &now);
        marked["status"] = json!({"phase": "Terminating"});
        if dry_run {
            return Ok(marked);
        }
        if !(remaining && marked == current.object) {
            ops.push(WriteOp::Update {
                key: current.key.clone(),
                expected_revision: Some(current.revision),
                object: marked,
            });
        }
        if !remaining {
            ops.push(WriteOp::Delete {
                key: current.key.clone(),
                expected_revision: None,
            });
        }
        let changes = self.inner.store.transact(ops).await?;
        let last = changes
            .into_iter()
            .rfind(|c| c.object.key == current.key)
            .map(|c| object::with_resource_version(c.object.object, c.revision));
        Ok(last.unwrap_or_else(|| current.object.clone()))
    }

    /// Removes a terminating namespace once nothing is left in it (best effort: a failure
    /// leaves it `Terminating` until the next removal in it).
    async fn finish_namespace(&self, namespace: &str) {
        let ns_key = key(ResourceType::Namespace, "", namespace);
        let Ok(Some(ns)) = self.inner.store.get(&ns_key).await else {
            return;
        };
        if !object::deletion_requested(&ns.object) {
            return;
        }
        for kind in Kind::ALL {
            let query = ListQuery {
                limit: Some(1),
                ..ListQuery::in_namespace(kind.as_str(), namespace)
            };
            match self.inner.store.list(&query).await {
                Ok(page) if page.items.is_empty() => {}
                _ => return,
            }
        }
        let _ = self.inner.store.delete(ns_key, Some(ns.revision)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_documents() {
        let r = ListResult {
            items: vec![json!({"a": 1})],
            revision: 7,
            continue_token: Some("t".into()),
        };
        assert_eq!(
            r.to_json(ResourceType::Kind(Kind::Plan)),
            json!({"apiVersion": "planspec.io/v1alpha1", "kind": "PlanList",
                   "metadata": {"resourceVersion": "7", "continue": "t"}, "items": [{"a": 1}]})
        );
        let r = ListResult {
            items: vec![],
            revision: 1,
            continue_token: None,
        };
        assert_eq!(
            r.to_json(ResourceType::Namespace)["metadata"],
            json!({"resourceVersion": "1"})
        );
        assert_eq!(r.to_json(ResourceType::Namespace)["kind"], "NamespaceList");
    }

    #[test]
    fn keys_of_cluster_scoped_types_have_no_namespace() {
        assert_eq!(
            key(ResourceType::Namespace, "x", "dev"),
            ObjectKey::new("Namespace", "", "dev")
        );
        assert_eq!(
            key(ResourceType::Kind(Kind::Plan), "x", "p"),
            ObjectKey::new("Plan", "x", "p")
        );
    }
}
