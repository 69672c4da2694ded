//! `planspec-store` — where resources live.
//!
//! One global, monotonically increasing **revision** orders every write; an object's
//! `resourceVersion` is the revision of its last write. Every write appends to a
//! **change log** that watches replay from any revision still in the window; older
//! revisions are compacted away and a watch from before the window fails with
//! [`StoreError::Compacted`] (the API answers `410 Gone`). A write returns only once it
//! is durable.
//!
//! The [`Store`] trait is what the API server uses; [`sqlite::SqliteStore`] is the
//! embedded default, and a PostgreSQL implementation will satisfy the same trait and
//! the same conformance suite (module `conformance`, feature `conformance`).
//!
//! # Revisions, in short
//!
//! * Revision `0` is the empty store. Every operation of every committed transaction gets its
//!   own revision, consecutive and without gaps: a transaction of three operations committed at
//!   store revision 41 writes revisions 42, 43 and 44, in the order of its operations.
//! * The change log holds exactly one [`Change`] per revision, from the **compacted revision**
//!   (exclusive) to the current revision (inclusive).
//! * Readers never see part of a transaction, and a failed transaction leaves no trace: no
//!   object, no change, no revision.
//! * Only object writes (create, update, delete) take revisions. The other ops of a
//!   transaction — a revision check ([`WriteOp::Check`]), journal appends and node records of
//!   an Execution — commit atomically with them but take no revision and log no change.
//!
//! # Beyond objects
//!
//! * **Indexes.** Lists with a label selector find their candidates through a label index;
//!   [`Store::list_owned_by`] finds an owner's dependents through an owner index. Both are
//!   kept with the objects in the same transaction.
//! * **Execution journals** ([`WriteOp::AppendJournal`], [`Store::read_journal`]): an
//!   append-only log per Execution uid, written atomically with the Execution's status.
//! * **Node records** ([`WriteOp::PutNodeRecords`], [`Store::list_node_records`]): the current
//!   record of each node of a big Execution, paged by node id.
//! * **Leases** ([`Store::acquire_lease`]): named, expiring, with increasing fencing tokens;
//!   the caller passes the time.
//! * **The audit log** ([`WriteOp::AppendAudit`], [`Store::read_audit`]): an append-only hash
//!   chain of [`AuditRecord`]s; the store assigns each record's `seq` and hashes in commit
//!   order and records the chain's head apart from the records.

#![warn(missing_docs)]

use async_trait::async_trait;
pub use planspec_model::selector::{FieldSelector, Selector};
use serde_json::Value;
use std::fmt;

mod audit;
#[cfg(feature = "conformance")]
pub mod conformance;
mod execution;
mod lease;
pub mod sqlite;

pub use audit::{AuditEntry, AuditPage, AuditQuery, AuditRecord, ChainHead};
pub use execution::{JournalEntry, NodeRecord, NodeRecordPage, NodeRecordQuery, EXECUTION_KIND};
pub use lease::Lease;
pub use sqlite::{SqliteOptions, SqliteStore};

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Identity of a stored object. Cluster-scoped kinds (`Namespace`) use an empty namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The kind (`Plan`, `Namespace`, …), as in the object's `kind` field.
    pub kind: String,
    /// The namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// A key from its three parts.
    pub fn new(
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ObjectKey {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    /// `Plan default/build`, or `Namespace team-a` for a cluster-scoped object.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// A stored object: the full document (`apiVersion`, `kind`, `metadata`, `spec`, `status`)
/// with `metadata.resourceVersion` equal to [`StoredObject::revision`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// Where the object lives.
    pub key: ObjectKey,
    /// The uid given when the object was created (`WriteOp::Create::uid`); updates keep it.
    pub uid: String,
    /// Revision of the last write (the object's `resourceVersion`).
    pub revision: i64,
    /// Revision that created the object.
    pub created_revision: i64,
    /// The document as last written, with `metadata.resourceVersion` set by the store.
    pub object: Value,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created by [`WriteOp::Create`].
    Added,
    /// Replaced by [`WriteOp::Update`].
    Modified,
    /// Removed by [`WriteOp::Delete`].
    Deleted,
}

impl ChangeType {
    /// `ADDED`, `MODIFIED` or `DELETED`: the Kubernetes watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The revision of this change (equal to `object.revision`).
    pub revision: i64,
    /// What happened.
    pub change_type: ChangeType,
    /// The object after the change; for `Deleted`, its last state (with the deletion's revision).
    pub object: StoredObject,
}

/// One operation inside a transaction.
///
/// `object` must be a JSON object. The store sets `metadata.resourceVersion` (creating
/// `metadata` if absent) and keeps every other field exactly as given: it does not check that
/// `kind`, `metadata.name` or `metadata.namespace` agree with the key, nor set `metadata.uid`
/// or timestamps. That is the API server's job.
///
/// `Create`, `Update` and `Delete` write objects: each takes a revision and yields a
/// [`Change`]. `Check`, `AppendJournal`, `PutNodeRecords` and `AppendAudit` take no revision
/// and yield no change; they commit or fail with the rest of the transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Fails with [`StoreError::AlreadyExists`] if the key exists.
    Create {
        /// Where to create it.
        key: ObjectKey,
        /// The object's uid, returned as [`StoredObject::uid`] for its whole life.
        uid: String,
        /// The document.
        object: Value,
    },
    /// Replaces the whole object. `expected_revision`: fail with [`StoreError::Conflict`]
    /// unless the stored revision equals it. Fails with [`StoreError::NotFound`] if absent.
    Update {
        /// Which object.
        key: ObjectKey,
        /// `Some(rv)`: only if the object's current revision is `rv`; `None`: unconditionally.
        expected_revision: Option<i64>,
        /// The new document.
        object: Value,
    },
    /// Removes the object. Same precondition rule as `Update`. Deleting an Execution
    /// ([`EXECUTION_KIND`]) also deletes its journal and node records.
    Delete {
        /// Which object.
        key: ObjectKey,
        /// `Some(rv)`: only if the object's current revision is `rv`; `None`: unconditionally.
        expected_revision: Option<i64>,
    },
    /// Writes nothing; fails the transaction with [`StoreError::Conflict`] unless the object
    /// at `key` is at `revision` (`None`: unless it does not exist). In the error, a revision
    /// of `0` stands for "absent". It sees the ops before it in the same transaction.
    ///
    /// With it a transaction depends on an object it does not write: "create this Plan only
    /// if its namespace is still at the revision I checked".
    Check {
        /// Which object.
        key: ObjectKey,
        /// `Some(rv)`: the object must exist at revision `rv`; `None`: it must not exist.
        revision: Option<i64>,
    },
    /// Appends `entries` to the journal of the Execution with uid `execution_uid`, at
    /// sequence numbers `expected_next_seq`, `expected_next_seq + 1`, …
    ///
    /// Fails with [`StoreError::JournalConflict`] unless the journal holds exactly
    /// `expected_next_seq` entries (so two writers never interleave), and with
    /// [`StoreError::ExecutionNotFound`] unless an object of kind [`EXECUTION_KIND`] with that
    /// uid exists (a create earlier in the same transaction counts). Entries are opaque JSON.
    AppendJournal {
        /// The Execution's uid ([`StoredObject::uid`]).
        execution_uid: String,
        /// The journal's length this append expects (its first entry's sequence number).
        expected_next_seq: u64,
        /// The entries, in order. Empty: only the checks.
        entries: Vec<Value>,
    },
    /// Inserts or replaces the records of the given nodes of an Execution (by node id; a node
    /// given twice keeps the last). Fails with [`StoreError::ExecutionNotFound`] like
    /// `AppendJournal`.
    PutNodeRecords {
        /// The Execution's uid ([`StoredObject::uid`]).
        execution_uid: String,
        /// The records to write.
        records: Vec<NodeRecord>,
    },
    /// Appends a record to the audit log. The store gives it the next `seq` and its
    /// `prev_hash` and `hash` ([`AuditRecord::seal`]) in commit order, so a record written in
    /// the same transaction as, say, a journal entry commits (or is undone) with it. Never
    /// refused, except when the transaction's other ops are.
    AppendAudit(AuditEntry),
}

impl WriteOp {
    /// The object this operation writes or checks; `None` for journal, node-record and audit
    /// ops.
    pub fn key(&self) -> Option<&ObjectKey> {
        match self {
            WriteOp::Create { key, .. }
            | WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. }
            | WriteOp::Check { key, .. } => Some(key),
            WriteOp::AppendJournal { .. }
            | WriteOp::PutNodeRecords { .. }
            | WriteOp::AppendAudit(_) => None,
        }
    }

    /// Whether this operation writes an object, taking a revision and yielding a [`Change`].
    pub fn writes_object(&self) -> bool {
        matches!(
            self,
            WriteOp::Create { .. } | WriteOp::Update { .. } | WriteOp::Delete { .. }
        )
    }
}

/// Which objects a list returns, in key order (namespace, name).
///
/// Every condition must hold (AND). [`ListQuery::matches`] evaluates the same filter on one
/// object in memory, so a watch filters changes exactly as a list filters objects.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The kind to list.
    pub kind: String,
    /// `None` lists every namespace.
    pub namespace: Option<String>,
    /// Resume after this key (from a previous page's `continue_after`).
    pub continue_after: Option<(String, String)>,
    /// Page size: at most this many items, counted after filtering; `None` (or `Some(0)`,
    /// as in Kubernetes) returns everything.
    pub limit: Option<usize>,
    /// Label selector (`labelSelector`) on `metadata.labels`. A label whose value is not a
    /// string counts as absent.
    pub label_selector: Selector,
    /// Field selector (`fieldSelector`). `metadata.name` and `metadata.namespace` compare the
    /// key; any other dotted path (`status.phase`) is looked up in the document, where a
    /// missing field, `null` or a value that is not a string reads as the empty string. Which
    /// fields a client may select on is the API server's business.
    pub field_selector: FieldSelector,
}

impl ListQuery {
    /// Every object of `kind`, in every namespace.
    pub fn all(kind: impl Into<String>) -> Self {
        ListQuery {
            kind: kind.into(),
            ..Default::default()
        }
    }

    /// Every object of `kind` in `namespace`.
    pub fn in_namespace(kind: impl Into<String>, namespace: impl Into<String>) -> Self {
        ListQuery {
            kind: kind.into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }
    }

    /// Whether `object` is one this query selects: kind, namespace, labels and fields
    /// (paging is ignored). The store filters with exactly this.
    pub fn matches(&self, object: &StoredObject) -> bool {
        object.key.kind == self.kind
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == object.key.namespace)
            && self.matches_selectors(&object.key, &object.object)
    }

    /// The label and field selectors alone.
    pub(crate) fn matches_selectors(&self, key: &ObjectKey, object: &Value) -> bool {
        let labels = object
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        self.label_selector
            .matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
            && self
                .field_selector
                .matches_with(|path| field_value(key, object, path))
    }
}

/// The value a field selector compares: see [`ListQuery::field_selector`].
fn field_value<'a>(key: &'a ObjectKey, object: &'a Value, path: &str) -> Option<&'a str> {
    match path {
        "metadata.name" => Some(&key.name),
        "metadata.namespace" => Some(&key.namespace),
        path => path
            .split('.')
            .try_fold(object, |at, part| at.as_object()?.get(part))
            .and_then(Value::as_str),
    }
}

/// One page of a list.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// The objects, in key order.
    pub items: Vec<StoredObject>,
    /// The store's revision when the page was read (the list's `resourceVersion`).
    pub revision: i64,
    /// Set when more items follow: the key to resume after.
    pub continue_after: Option<(String, String)>,
}

/// Changes after a revision, for watch.
#[derive(Debug, Clone, Default)]
pub struct ChangePage {
    /// The changes, in ascending revision order, without gaps.
    pub changes: Vec<Change>,
    /// The newest revision covered by this read; ask again from here.
    pub revision: i64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create found the key taken.
    #[error("{0} already exists")]
    AlreadyExists(ObjectKey),
    /// An update or delete found no object.
    #[error("{0} not found")]
    NotFound(ObjectKey),
    /// An update, delete or [`WriteOp::Check`] found another revision than the expected one.
    /// `0` stands for "absent" (a check that the object does not exist, or of one that does
    /// not).
    #[error("{key} was modified: expected revision {expected}, found {actual}")]
    Conflict {
        /// The object.
        key: ObjectKey,
        /// The revision the op expected (`0`: absent).
        expected: i64,
        /// The object's current revision (`0`: absent).
        actual: i64,
    },
    /// A [`WriteOp::AppendJournal`] found the journal at another length than expected:
    /// someone else appended first.
    #[error(
        "the journal of execution {execution_uid} has {actual} entries, the append expected {expected}"
    )]
    JournalConflict {
        /// The Execution's uid.
        execution_uid: String,
        /// The `expected_next_seq` of the append.
        expected: u64,
        /// The journal's length.
        actual: u64,
    },
    /// A journal or node-record op named a uid that no Execution has.
    #[error("no Execution has uid {0}")]
    ExecutionNotFound(String),
    /// The change log no longer reaches back to `requested`: changes up to and including
    /// `oldest` were compacted, and `oldest` is the oldest revision to read changes after.
    #[error("revision {requested} has been compacted; the oldest available is {oldest}")]
    Compacted {
        /// The revision asked for.
        requested: i64,
        /// The compacted revision: the oldest revision `changes_since` accepts.
        oldest: i64,
    },
    /// The storage itself failed (I/O, corruption, a closed store, a newer schema …), or the
    /// caller broke a documented precondition (an object that is not a JSON object).
    #[error("storage error: {0}")]
    Backend(String),
}

/// The storage of resources: objects with revisions, atomic multi-object writes, and a
/// change log for watch. Implementations: [`sqlite::SqliteStore`] (and PostgreSQL later);
/// the module `conformance` (feature `conformance`) is the suite every implementation passes.
///
/// All methods may be called concurrently from any number of tasks.
#[async_trait]
pub trait Store: Send + Sync {
    /// The object at `key`, or `None`. Reads committed data only.
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>>;

    /// One page of the objects `query` selects, in key order (namespace, then name).
    ///
    /// The items and [`ListPage::revision`] come from one consistent snapshot: the page shows
    /// exactly the state at `revision`, so a watch from `revision` misses nothing and repeats
    /// nothing. Each page is its own snapshot; a later page (after `continue_after`) reflects
    /// the state at its own, possibly newer, revision. `continue_after` is set only when more
    /// selected items follow.
    async fn list(&self, query: &ListQuery) -> Result<ListPage>;

    /// Applies `ops` atomically, in order, and returns one [`Change`] per object write
    /// ([`WriteOp::writes_object`]), in the order of the ops.
    ///
    /// All or nothing: if any op fails ([`StoreError::AlreadyExists`],
    /// [`StoreError::NotFound`], [`StoreError::Conflict`], [`StoreError::JournalConflict`],
    /// [`StoreError::ExecutionNotFound`]) the whole transaction is undone and that op's error
    /// returned; nothing of it becomes visible and no revision is used. On success the
    /// *i*-th object write gets revision `r + i + 1` where `r` is the revision before the
    /// transaction (checks, journal appends and node records take none); each op sees the
    /// effects of the ops before it (a create then an update of the same key in one
    /// transaction works). The store writes
    /// `metadata.resourceVersion` = the op's revision (as a decimal string) into each written
    /// object and keeps every other field as given; a delete's change carries the object's
    /// last state with the deletion's revision. An update keeps the object's `uid` and
    /// `created_revision`.
    ///
    /// Returns only once the transaction is durable. An empty `ops` returns `Ok(vec![])`.
    /// A [`StoreError::Backend`] error means the transaction was not applied, except when
    /// the store reports that its writer failed, where the outcome is unknown (as with any
    /// database whose commit fails). A caller that stops waiting once the request is queued
    /// does not cancel it: it may still commit.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<Vec<Change>>;

    /// The changes with revision greater than `revision`, in ascending order, at most
    /// `limit` of them (`0`: no limit).
    ///
    /// [`ChangePage::revision`] is the newest revision this read covers: the last change's
    /// revision when the page is full, otherwise the store's current revision (or `revision`
    /// itself if that is newer). Asking again from it continues without gap or repeat.
    /// Fails with [`StoreError::Compacted`] when `revision` is older than the compacted
    /// revision (changes after it are gone). This log is the one source of truth for watch:
    /// a watcher that falls behind reads on from its last revision and loses nothing while
    /// the window still reaches back to it.
    async fn changes_since(&self, revision: i64, limit: usize) -> Result<ChangePage>;

    /// The revision of the newest committed transaction (`0` for an empty store).
    async fn current_revision(&self) -> Result<i64>;

    /// A receiver whose value is the newest committed revision, updated after every commit.
    ///
    /// It signals, it does not carry events: on a change, read [`Store::changes_since`]
    /// from the last revision you processed. Intermediate values may be skipped (a watch
    /// channel keeps only the latest), never changes.
    fn subscribe(&self) -> tokio::sync::watch::Receiver<i64>;

    /// Drops all but the newest `retain` changes from the log and records the compacted
    /// revision, `max(previous compacted revision, current revision - retain)`, which it
    /// returns. Afterwards `changes_since(r)` fails with [`StoreError::Compacted`] for any `r`
    /// below it. Objects are not affected.
    async fn compact(&self, retain: usize) -> Result<i64>;

    /// The compacted revision: `changes_since` accepts this revision and newer ones.
    async fn compacted_revision(&self) -> Result<i64>;

    /// Every object whose `metadata.ownerReferences` names `owner_uid` (an entry of that
    /// array with that string `uid`), in every namespace and kind, in key order (kind,
    /// namespace, name), from one snapshot. Served by an index: the cost follows the number
    /// of dependents, not of objects.
    async fn list_owned_by(&self, owner_uid: &str) -> Result<Vec<StoredObject>>;

    /// Entries of the journal of the Execution with uid `execution_uid`, from sequence
    /// number `from_seq` on, ascending, at most `limit` (`0`: no limit). A journal that
    /// does not exist (or an Execution that is gone) reads as empty.
    async fn read_journal(
        &self,
        execution_uid: &str,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>>;

    /// The number of entries in the journal of `execution_uid`: the `expected_next_seq` of
    /// the next append. `0` for an absent journal.
    async fn journal_len(&self, execution_uid: &str) -> Result<u64>;

    /// One page of an Execution's node records, in node-id order (byte order of the UTF-8
    /// ids), optionally only those in one phase; one snapshot per page.
    async fn list_node_records(&self, query: &NodeRecordQuery) -> Result<NodeRecordPage>;

    /// Takes the lease `name` for `holder` until `now_ms + ttl_ms`, durably.
    ///
    /// Succeeds when the lease is free, expired (`expires_at_ms <= now_ms`), or held by
    /// `holder` (then it is renewed and keeps its token). A new tenure gets a new fencing
    /// token, greater than every token handed out before by this store (for any lease).
    /// `Ok(None)`: another holder has it. Time is the caller's (milliseconds of its clock).
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: u64,
        now_ms: i64,
    ) -> Result<Option<Lease>>;

    /// Extends the lease to `now_ms + ttl_ms` if `holder` still holds it with `token` and it
    /// has not expired; `Ok(None)` otherwise (the tenure is over: acquire again).
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        token: u64,
        ttl_ms: u64,
        now_ms: i64,
    ) -> Result<Option<Lease>>;

    /// Frees the lease if `holder` holds it with `token` (expired or not); returns whether
    /// it did.
    async fn release_lease(&self, name: &str, holder: &str, token: u64) -> Result<bool>;

    /// The leases whose name starts with `prefix` (`""`: all), by name, expired ones
    /// included (compare `expires_at_ms` with your clock).
    async fn list_leases(&self, prefix: &str) -> Result<Vec<Lease>>;

    /// One page of the audit log, in `seq` order, with the chain's recorded head from the same
    /// snapshot. Filters (actor, namespace, resource) use indexes; `limit` counts selected
    /// records.
    async fn read_audit(&self, query: &AuditQuery) -> Result<AuditPage>;

    /// The head of the audit log: its newest record's `seq` and hash ([`ChainHead::genesis`]
    /// for an empty log).
    async fn audit_head(&self) -> Result<ChainHead>;

    /// Creates one object; see [`Store::transact`].
    async fn create(&self, key: ObjectKey, uid: String, object: Value) -> Result<StoredObject> {
        single(
            self.transact(vec![WriteOp::Create { key, uid, object }])
                .await?,
        )
    }

    /// Replaces one object; see [`Store::transact`].
    async fn update(
        &self,
        key: ObjectKey,
        expected_revision: Option<i64>,
        object: Value,
    ) -> Result<StoredObject> {
        single(
            self.transact(vec![WriteOp::Update {
                key,
                expected_revision,
                object,
            }])
            .await?,
        )
    }

    /// Deletes one object and returns its last state (with the deletion's revision).
    async fn delete(&self, key: ObjectKey, expected_revision: Option<i64>) -> Result<StoredObject> {
        single(
            self.transact(vec![WriteOp::Delete {
                key,
                expected_revision,
            }])
            .await?,
        )
    }
}

fn single(changes: Vec<Change>) -> Result<StoredObject> {
    changes
        .into_iter()
        .next()
        .map(|c| c.object)
        .ok_or_else(|| StoreError::Backend("a one-operation transaction returned no change".into()))
}
