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

#![warn(missing_docs)]

use async_trait::async_trait;
pub use planspec_model::selector::{FieldSelector, Selector};
use serde_json::Value;
use std::fmt;

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod sqlite;

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

/// One write inside a transaction.
///
/// `object` must be a JSON object. The store sets `metadata.resourceVersion` (creating
/// `metadata` if absent) and keeps every other field exactly as given: it does not check that
/// `kind`, `metadata.name` or `metadata.namespace` agree with the key, nor set `metadata.uid`
/// or timestamps. That is the API server's job.
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
    /// Removes the object. Same precondition rule as `Update`.
    Delete {
        /// Which object.
        key: ObjectKey,
        /// `Some(rv)`: only if the object's current revision is `rv`; `None`: unconditionally.
        expected_revision: Option<i64>,
    },
}

impl WriteOp {
    /// The key this operation writes.
    pub fn key(&self) -> &ObjectKey {
        match self {
            WriteOp::Create { key, .. }
            | WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. } => key,
        }
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
    /// An update or delete found another revision than the expected one.
    #[error("{key} was modified: expected revision {expected}, found {actual}")]
    Conflict {
        /// The object.
        key: ObjectKey,
        /// The revision the write expected.
        expected: i64,
        /// The object's current revision.
        actual: i64,
    },
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

    /// Applies `ops` atomically, in order, and returns one [`Change`] per op.
    ///
    /// All or nothing: if any op fails ([`StoreError::AlreadyExists`],
    /// [`StoreError::NotFound`], [`StoreError::Conflict`]) the whole transaction is undone
    /// and that op's error returned; nothing of it becomes visible and no revision is used.
    /// On success op *i* gets revision `r + i + 1` where `r` is the revision before the
    /// transaction; each op sees the effects of the ops before it (a create then an update
    /// of the same key in one transaction works). The store writes
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
