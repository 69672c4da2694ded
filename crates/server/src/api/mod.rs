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
//! * [`apply`] — server-side apply;
//! * [`managed`] — what every write does after admission (managed fields, Plan status);
//! * [`clock`] — the injected clock.

pub mod admission;
pub mod apply;
pub mod audit;
pub mod brief;
pub mod bulk;
pub mod clock;
pub mod gc;
pub mod governance;
pub mod leases;
pub mod managed;
pub mod object;
pub mod operations;
pub mod params;
pub mod resolve;
mod verdict;
pub mod watch;

use crate::patch::{apply_patch, PatchType};
use crate::resource::ResourceType;
use crate::ssa::Operation;
use crate::status::Status;
use admission::{admit_text, Admitted};
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

/// Objects up to this size (as JSON) are admitted on the request's own task.
const INLINE_ADMISSION_BYTES: usize = 64 * 1024;

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
    /// Whether the creator of an Execution may approve its Gates. Only the private,
    /// single-user control plane of `planspec run` allows it (nobody else could ever approve
    /// there); every shared server refuses it (no self-approval, `docs/security.md`).
    pub allow_self_approval: bool,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(30 * 60),
            watch_batch: 1000,
            max_retries: 8,
            allow_self_approval: false,
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
    /// The runtime that drives Executions, and its data directory (logs), once attached.
    runtime: std::sync::OnceLock<(planspec_runtime::RuntimeHandle, std::path::PathBuf)>,
    /// The RBAC authorizer of the checks inside writes ([`governance`]), once attached.
    authorizer: std::sync::OnceLock<Arc<crate::authz::Rbac>>,
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
        StoreError::Conflict { .. } | StoreError::JournalConflict { .. } => {
            Status::conflict_modified(resource, name)
        }
        StoreError::ExecutionNotFound(_) => Status::not_found(resource, name),
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
                runtime: std::sync::OnceLock::new(),
                authorizer: std::sync::OnceLock::new(),
                store,
                clock,
                options,
                shutdown: tokio::sync::watch::Sender::new(false),
                watches: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// Attaches the runtime that drives Executions (whose logs live under `data_dir`); the
    /// execution operations answer 503 without one. Only the first call counts.
    pub fn attach_runtime(
        &self,
        runtime: planspec_runtime::RuntimeHandle,
        data_dir: std::path::PathBuf,
    ) {
        let _ = self.inner.runtime.set((runtime, data_dir));
    }

    fn authorizer_cell(&self) -> &std::sync::OnceLock<Arc<crate::authz::Rbac>> {
        &self.inner.authorizer
    }

    /// The attached runtime.
    pub fn runtime_handle(&self) -> Option<&planspec_runtime::RuntimeHandle> {
        self.inner.runtime.get().map(|(r, _)| r)
    }

    /// Where the attached runtime keeps execution logs.
    pub fn log_root(&self) -> Option<&std::path::Path> {
        self.inner.runtime.get().map(|(_, d)| d.as_path())
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
        let text = serde_json::to_string(&object).map_err(Status::internal_error)?;
        // A small object validates in tens of microseconds: cheaper inline than a hop to the
        // blocking pool and back. A big one (a 10,000-node plan takes ~0.4 s) must not stall
        // a runtime worker.
        if text.len() <= INLINE_ADMISSION_BYTES {
            return admit_text(resource, name, object, text, field_validation);
        }
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            admit_text(resource, &name, object, text, field_validation)
        })
        .await
        .map_err(|e| Status::internal_error(format!("admission failed: {e}")))?
    }

    /// 404 unless `namespace` exists (`default` always does); 403 while it is being deleted.
    /// Returns the namespace's revision (`None`: `default`, not stored yet), for the create to
    /// check in its transaction.
    async fn check_namespace(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Option<i64>, Status> {
        let ns = ResourceType::Namespace;
        let found = self
            .inner
            .store
            .get(&key(ns, "", namespace))
            .await
            .map_err(|e| store_error(ns, namespace, e))?;
        match found {
            None if namespace == DEFAULT_NAMESPACE => Ok(None),
            None => Err(Status::not_found(ns, namespace)),
            Some(o) if object::deletion_requested(&o.object) => Err(Status::forbidden(
                resource,
                name,
                &format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            )),
            Some(o) => Ok(Some(o.revision)),
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
        self.create_as(resource, namespace, body, options, Operation::Update)
            .await
    }

    /// [`Api::create`], recorded in `managedFields` as `operation`.
    pub(crate) async fn create_as(
        &self,
        resource: ResourceType,
        namespace: &str,
        body: Value,
        options: WriteOptions,
        operation: Operation,
    ) -> Result<Written, Status> {
        let mut name_attempts = 0;
        let mut namespace_attempts = 0;
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
            // `default` always exists and is never deleted (nor marked for deletion): a create
            // there needs neither the read nor the check, and stays one statement in the store.
            let namespace_revision = if resource.namespaced() && namespace != DEFAULT_NAMESPACE {
                Some(self.check_namespace(resource, namespace, &name).await?)
            } else {
                None
            };
            let write = managed::WriteKind {
                part: Part::Main,
                operation,
                current: None,
                now: &created_at,
            };
            let Admitted { object, warnings } = self
                .admit_write(resource, &name, prepared, &options, write)
                .await?;
            let object = object::with_initial_status(resource, object, &created_at);
            let object = self.execution_verdict(resource, namespace, object).await?;
            if options.dry_run {
                return Ok(Written {
                    object,
                    warnings,
                    created: true,
                });
            }
            // The namespace must still be as checked when the object lands: one whose
            // deletion began (or ended) in between fails the check, and the retry sees why.
            let mut ops = Vec::with_capacity(2);
            if let Some(revision) = namespace_revision {
                ops.push(WriteOp::Check {
                    key: key(ResourceType::Namespace, "", namespace),
                    revision,
                });
            }
            ops.push(WriteOp::Create {
                key: key(resource, namespace, &name),
                uid,
                object,
            });
            let record = audit::request_record(201, namespace, &name).map(|(op, pending)| {
                ops.push(op);
                pending
            });
            match self.inner.store.transact(ops).await {
                Ok(changes) => {
                    audit::committed(record);
                    let created = changes.into_iter().next().ok_or_else(|| {
                        Status::internal_error("the store answered a create without its change")
                    })?;
                    return Ok(Written {
                        object: created.object.object,
                        warnings,
                        created: true,
                    });
                }
                Err(StoreError::AlreadyExists(_)) if generated && name_attempts < 3 => {
                    name_attempts += 1
                }
                Err(StoreError::Conflict { .. })
                    if namespace_attempts < self.inner.options.max_retries =>
                {
                    namespace_attempts += 1
                }
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
        self.modify(
            resource,
            namespace,
            name,
            part,
            options,
            Operation::Update,
            |_| Ok((body.clone(), precondition)),
        )
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
        self.modify(
            resource,
            namespace,
            name,
            part,
            options,
            Operation::Update,
            |current| {
                let patched = apply_patch(patch_type, &current.object, body)
                    .map_err(|e| e.to_status(resource, name))?;
                let before = object::resource_version(&current.object).ok().flatten();
                let after = object::resource_version(&patched)?;
                let precondition = if after == before { None } else { after };
                Ok((patched, precondition))
            },
        )
        .await
    }

    /// [`Api::update`], with `audit` records appended to the audit log in the same
    /// transaction as the write (nothing is appended when the write changes nothing). Used for
    /// decisions whose record must not be lost or outlive them (Gate reviews and decisions).
    #[allow(clippy::too_many_arguments)]
    pub async fn update_audited(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        part: Part,
        body: Value,
        options: WriteOptions,
        audit: Vec<planspec_model::audit::AuditEntry>,
    ) -> Result<Written, Status> {
        let precondition = object::resource_version(&body)?;
        let extra: Vec<WriteOp> = audit.into_iter().map(WriteOp::AppendAudit).collect();
        self.modify_with(
            resource,
            namespace,
            name,
            part,
            options,
            Operation::Update,
            &extra,
            |_| Ok((body.clone(), precondition)),
        )
        .await
    }

    /// Read, compute the new object, admit, write with the read revision as precondition;
    /// retried when another write came in between (unless the client named a revision).
    #[allow(clippy::too_many_arguments)]
    async fn modify<F>(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        part: Part,
        options: WriteOptions,
        operation: Operation,
        proposal: F,
    ) -> Result<Written, Status>
    where
        F: FnMut(&StoredObject) -> Result<(Value, Option<i64>), Status>,
    {
        self.modify_with(
            resource,
            namespace,
            name,
            part,
            options,
            operation,
            &[],
            proposal,
        )
        .await
    }

    /// [`Api::modify`], with `extra` ops (audit records) in the write's transaction.
    #[allow(clippy::too_many_arguments)]
    async fn modify_with<F>(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        part: Part,
        options: WriteOptions,
        operation: Operation,
        extra: &[WriteOp],
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
            let now = timestamp(self.now());
            let write = managed::WriteKind {
                part,
                operation,
                current: Some(&current.object),
                now: &now,
            };
            let Admitted { object, warnings } = self
                .admit_write(resource, name, prepared, &options, write)
                .await?;
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
            ops.extend(extra.iter().cloned());
            let record = audit::request_record(200, namespace, name).map(|(op, pending)| {
                ops.push(op);
                pending
            });
            match self.inner.store.transact(ops).await {
                Ok(changes) => {
                    audit::committed(record);
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

    /// Deletes a namespace and everything in it. First the namespace is marked
    /// (`deletionTimestamp`, `Terminating`) in a transaction of its own: from then on no object
    /// can be created in it (a create checks the namespace's revision in its transaction), so
    /// the sweep that follows sees everything. The sweep, one transaction, deletes objects
    /// without finalizers, marks those with finalizers, and deletes the namespace unless some
    /// of them remain (it stays `Terminating` until the last one is gone).
    async fn delete_namespace(
        &self,
        current: &StoredObject,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        let now = timestamp(self.now());
        let mut marked = object::mark_for_deletion(&current.object, &now);
        marked["status"] = json!({"phase": "Terminating"});
        if dry_run {
            return Ok(marked);
        }
        let ns = if marked == current.object {
            current.clone()
        } else {
            self.inner
                .store
                .update(current.key.clone(), Some(current.revision), marked)
                .await?
        };
        let mut ops = Vec::new();
        let mut remaining = false;
        for kind in Kind::ALL {
            let page = self
                .inner
                .store
                .list(&ListQuery::in_namespace(kind.as_str(), ns.key.name.clone()))
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
        if !remaining {
            ops.push(WriteOp::Delete {
                key: ns.key.clone(),
                expected_revision: Some(ns.revision),
            });
        }
        let changes = self.inner.store.transact(ops).await?;
        let last = changes
            .into_iter()
            .rfind(|c| c.object.key == ns.key)
            .map(|c| object::with_resource_version(c.object.object, c.revision));
        Ok(last.unwrap_or(ns.object))
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

    /// Creates racing a namespace's deletion leave nothing behind: each lands before the
    /// namespace is marked (and is swept with it) or fails with 403/404, because it checks
    /// the namespace's revision in its own transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn creates_racing_a_namespace_deletion_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = planspec_store::SqliteStore::open(
            dir.path().join("store.db"),
            planspec_store::SqliteOptions::default(),
        )
        .await
        .unwrap();
        let api = Api::new(
            Arc::new(store),
            Arc::new(clock::SystemClock),
            ApiOptions::default(),
        );
        let goals = ResourceType::Kind(Kind::Goal);
        for round in 0..8 {
            let ns = format!("ns-{round}");
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            api.create(
                ResourceType::Namespace,
                "",
                namespace,
                WriteOptions::default(),
            )
            .await
            .unwrap();
            let creators: Vec<_> = (0..4)
                .map(|t| {
                    let (api, ns) = (api.clone(), ns.clone());
                    tokio::spawn(async move {
                        for i in 0..100_000 {
                            let goal = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Goal",
                                "metadata": {"name": format!("g-{t}-{i}")}, "spec": {"description": "d"}});
                            match api.create(goals, &ns, goal, WriteOptions::default()).await {
                                Ok(_) => {}
                                Err(s) if s.code == 403 || s.code == 404 => return i,
                                Err(s) => panic!("create failed: {}", s.message),
                            }
                        }
                        panic!("creates in {ns} never stopped");
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(5 + round)).await;
            api.delete(ResourceType::Namespace, "", &ns, &DeleteOptions::default())
                .await
                .unwrap();
            let mut created = 0;
            for c in creators {
                created += c.await.unwrap();
            }
            assert!(
                created > 0,
                "round {round}: the creators raced the deletion"
            );
            let ns_key = key(ResourceType::Namespace, "", &ns);
            assert_eq!(api.store().get(&ns_key).await.unwrap(), None);
            let left = api
                .store()
                .list(&ListQuery::in_namespace("Goal", ns.as_str()))
                .await
                .unwrap()
                .items;
            assert!(
                left.is_empty(),
                "round {round}: {} goals outlived namespace {ns}",
                left.len()
            );
        }
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
