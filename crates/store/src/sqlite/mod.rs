//! [`SqliteStore`]: the embedded store, one SQLite file in WAL mode.
//!
//! **Durability.** The write connection runs with `synchronous=FULL`: a write is acknowledged
//! only after its commit is fsynced to the WAL, so it survives a kill or a power cut. A lock
//! file (`<path>.lock`, `flock`) keeps a second process or store off the same file.
//!
//! **Group commit.** One writer task owns the only write connection; `transact` queues its ops
//! and waits. The writer takes every request queued at that moment (up to `max_batch`), runs
//! them in one `BEGIN IMMEDIATE` transaction and commits once: one fsync for the batch. A
//! request of several ops runs inside its own `SAVEPOINT`, so a refused one rolls back alone
//! and its batch-mates commit (a refused single op has changed nothing); a database error fails
//! the batch. A lone one-op create or update is a single autocommit statement. Triggers write
//! the change log with the row, advance the revision counter, and refuse any revision but the
//! next, so revisions stay consecutive.
//!
//! **Reads** use a separate pool of read-only connections, concurrent with the writer thanks
//! to WAL; `list` and `changes_since` each read inside one transaction, i.e. one snapshot.
//!
//! **Watch.** After a commit the writer appends the changes to an in-memory ring (the newest
//! `ring_capacity`), then bumps the `watch` channel; `changes_since` within the ring never
//! touches SQLite. **Compaction** (on request, or every `auto_compact_every` revisions) deletes
//! old `changes` rows and records `compacted_revision`. Schema: numbered `migrations/`.
//!
//! **Indexes.** Triggers on `resources` (migration 0002) keep a label index and an owner index
//! in the statement that writes the row; `list` drives a selector's most selective equality or
//! `in` term through the label index (`list`). Journals and node records of an Execution are
//! their own tables, written by ops of the same transaction and deleted with the Execution by
//! trigger (`execution`). Leases go through the writer like every write (`leases`).
//!
//! Modules: `writer` (group commit), `objects` (object ops), `list` (lists and the owner
//! index), `execution` (journals, node records), `leases`, `migrate`, `lock`.

mod execution;
mod leases;
mod list;
mod lock;
mod migrate;
mod objects;
mod point;
mod writer;

pub use migrate::SCHEMA_VERSION;

use crate::{
    Change, ChangePage, ChangeType, JournalEntry, Lease, ListPage, ListQuery, NodeRecordPage,
    NodeRecordQuery, ObjectKey, Result, Store, StoreError, StoredObject, WriteOp,
};
use async_trait::async_trait;
use leases::LeaseOp;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions};
use sqlx::ConnectOptions;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use writer::Msg;

/// How a [`SqliteStore`] runs. Start from `SqliteOptions::default()` and change fields.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a connection waits for a lock held by another connection (`busy_timeout`).
    pub busy_timeout: Duration,
    /// Read-only connections in the read pool.
    pub read_connections: u32,
    /// Most requests committed together in one group commit.
    pub max_batch: usize,
    /// Requests that may wait for the writer before `transact` callers wait to enqueue.
    pub queue_capacity: usize,
    /// Newest changes kept in memory for `changes_since` (`0` disables the ring).
    pub ring_capacity: usize,
    /// Automatic compaction: keep this many newest changes (`None`: never compact by itself).
    pub auto_compact_retain: Option<usize>,
    /// Automatic compaction runs after this many revisions have been written since the last.
    pub auto_compact_every: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
            max_batch: 512,
            queue_capacity: 4096,
            ring_capacity: 10_000,
            auto_compact_retain: Some(100_000),
            auto_compact_every: 10_000,
        }
    }
}

/// The embedded store: one SQLite file. See the module documentation for the design.
///
/// Dropping the store stops the writer once it has finished the requests already queued;
/// [`SqliteStore::close`] does the same and waits for it (the file's lock is released then).
pub struct SqliteStore {
    path: PathBuf,
    queue: tokio::sync::mpsc::Sender<Msg>,
    read: SqlitePool,
    point: point::PointReader,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// State shared by the writer (which changes it) and the readers.
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) notify: watch::Sender<i64>,
    /// Why the writer stopped, if it failed.
    pub(super) failure: Mutex<Option<String>>,
    /// Set once the writer has stopped and released the file.
    pub(super) closed: watch::Sender<bool>,
}

pub(super) struct State {
    /// Newest published revision.
    pub(super) current: i64,
    pub(super) compacted: i64,
    /// The changes with revisions `ring_base + 1 ..= current`, consecutive.
    pub(super) ring: VecDeque<Arc<Change>>,
    pub(super) ring_base: i64,
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated in a way that
        // matters more than losing the store, so recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_failure(&self, why: String) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the store at `path`, applies
    /// pending schema migrations and starts the writer task. Must be called inside a tokio
    /// runtime.
    ///
    /// Fails with [`StoreError::Backend`] when the file is in use by another store, is not a
    /// SQLite database, or was written by a newer version (its schema is newer than this
    /// build knows).
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Backend(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let lock = lock::LockFile::acquire(&path)?;

        // The writer's connection is opened, checked and migrated on a blocking thread (it is
        // synchronous), then handed to the writer thread below.
        let opened = {
            let (path, options, name) = (path.clone(), options.clone(), shown.clone());
            tokio::task::spawn_blocking(move || writer::open(&path, &options, &name))
                .await
                .map_err(|e| StoreError::Backend(format!("opening {shown} failed: {e}")))??
        };
        let (current, compacted) = (opened.current, opened.compacted);

        let read = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .test_before_acquire(false)
            .connect_with(
                // A list walks many pages: give each reader a 16 MiB page cache.
                SqliteConnectOptions::new()
                    .filename(&path)
                    .busy_timeout(options.busy_timeout)
                    .foreign_keys(true)
                    .disable_statement_logging()
                    .read_only(true)
                    .pragma("cache_size", "-16384"),
            )
            .await
            .map_err(|e| StoreError::Backend(format!("cannot open {shown} for reading: {e}")))?;

        // Warm the ring with the newest changes, so watches resuming after a restart are
        // served from memory. Nothing writes until the writer starts, below.
        let ring_capacity = i64::try_from(options.ring_capacity).unwrap_or(i64::MAX);
        let ring_base = compacted.max(current.saturating_sub(ring_capacity));
        let mut ring = VecDeque::with_capacity(options.ring_capacity.min(1 << 16));
        if options.ring_capacity > 0 {
            let mut conn = read.acquire().await.map_err(db)?;
            for change in read_changes(&mut conn, ring_base, None).await? {
                ring.push_back(Arc::new(change));
            }
        }
        if ring.len() as i64 != current - ring_base {
            return Err(StoreError::Backend(format!(
                "{shown}: the change log is inconsistent: expected changes {}..={current}, found {}",
                ring_base + 1,
                ring.len()
            )));
        }

        let (notify, _) = watch::channel(current);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                current,
                compacted,
                ring,
                ring_base,
            }),
            notify,
            failure: Mutex::new(None),
            closed: watch::channel(false).0,
        });
        let queue = writer::spawn(opened, shared.clone(), &options, lock)?;
        let point = point::PointReader::new(
            path.clone(),
            options.busy_timeout,
            options.read_connections.max(1) as usize,
        );
        Ok(SqliteStore {
            path,
            queue,
            read,
            point,
            shared,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting writes, finishes the ones already queued, checkpoints the WAL, closes
    /// every connection and releases the file. Writes sent afterwards fail. Idempotent.
    pub async fn close(&self) {
        // Readers first (waiting for reads in flight), so the final checkpoint is not kept
        // waiting by them.
        self.read.close().await;
        self.point.close();
        let mut closed = self.shared.closed.subscribe();
        let _ = self.queue.send(Msg::Close).await;
        // An error means the writer task is gone without saying so (its runtime stopped).
        let _ = closed.wait_for(|&c| c).await;
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound database, otherwise the problems found.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.read)
            .await
            .map_err(db)
    }

    /// Runs one lease operation through the writer.
    async fn lease(&self, op: LeaseOp) -> Result<Option<Lease>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Msg::Lease { op, reply })
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> StoreError {
        match self.shared.failure() {
            Some(why) => StoreError::Backend(format!("the store's writer failed: {why}")),
            None => StoreError::Backend("the store is closed".into()),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>> {
        // Inline on the caller's thread: see `point`.
        self.point.get(key)
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        list::list(&self.read, query).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<Vec<Change>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Msg::Write { ops, reply })
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    async fn changes_since(&self, revision: i64, limit: usize) -> Result<ChangePage> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let from_ring = {
            let state = self.shared.state();
            if revision < state.compacted {
                return Err(StoreError::Compacted {
                    requested: revision,
                    oldest: state.compacted,
                });
            }
            if revision >= state.ring_base {
                let skip = usize::try_from(revision - state.ring_base)
                    .unwrap_or(usize::MAX)
                    .min(state.ring.len());
                let hits: Vec<Arc<Change>> =
                    state.ring.range(skip..).take(limit).cloned().collect();
                Some((hits, state.current))
            } else {
                None
            }
        };
        if let Some((hits, current)) = from_ring {
            let full = hits.len() == limit;
            let changes: Vec<Change> = hits.iter().map(|c| Change::clone(c)).collect();
            let covered = match changes.last() {
                Some(last) if full => last.revision,
                _ => current.max(revision),
            };
            return Ok(ChangePage {
                changes,
                revision: covered,
            });
        }

        let mut tx = self.read.begin().await.map_err(db)?;
        let compacted = read_meta(&mut tx, "compacted_revision").await?;
        if revision < compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                oldest: compacted,
            });
        }
        let current = read_meta(&mut tx, "revision").await?;
        let changes = read_changes(&mut tx, revision, Some(limit)).await?;
        tx.commit().await.map_err(db)?;
        let covered = match changes.last() {
            Some(last) if changes.len() == limit => last.revision,
            _ => current.max(revision),
        };
        Ok(ChangePage {
            changes,
            revision: covered,
        })
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.shared.state().current)
    }

    fn subscribe(&self) -> watch::Receiver<i64> {
        self.shared.notify.subscribe()
    }

    async fn compact(&self, retain: usize) -> Result<i64> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Msg::Compact { retain, reply })
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    async fn compacted_revision(&self) -> Result<i64> {
        Ok(self.shared.state().compacted)
    }

    async fn list_owned_by(&self, owner_uid: &str) -> Result<Vec<StoredObject>> {
        list::owned_by(&self.read, owner_uid).await
    }

    async fn read_journal(
        &self,
        execution_uid: &str,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        execution::read_journal(&self.read, execution_uid, from_seq, limit).await
    }

    async fn journal_len(&self, execution_uid: &str) -> Result<u64> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        execution::journal_len(&mut conn, execution_uid)
            .await
            .map_err(db)
    }

    async fn list_node_records(&self, query: &NodeRecordQuery) -> Result<NodeRecordPage> {
        execution::list_node_records(&self.read, query).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: u64,
        now_ms: i64,
    ) -> Result<Option<Lease>> {
        self.lease(LeaseOp::Acquire {
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl_ms,
            now_ms,
        })
        .await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        token: u64,
        ttl_ms: u64,
        now_ms: i64,
    ) -> Result<Option<Lease>> {
        self.lease(LeaseOp::Renew {
            name: name.to_owned(),
            holder: holder.to_owned(),
            token,
            ttl_ms,
            now_ms,
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str, token: u64) -> Result<bool> {
        self.lease(LeaseOp::Release {
            name: name.to_owned(),
            holder: holder.to_owned(),
            token,
        })
        .await
        .map(|released| released.is_some())
    }

    async fn list_leases(&self, prefix: &str) -> Result<Vec<Lease>> {
        leases::list(&self.read, prefix).await
    }
}

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn parse(key: &ObjectKey, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Backend(format!("{key}: the stored object is not valid JSON: {e}"))
    })
}

async fn read_meta(conn: &mut SqliteConnection, key: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::Backend(format!("the meta table has no {key:?} row")))
}

/// The changes after `after`, ascending, at most `limit`.
async fn read_changes(
    conn: &mut SqliteConnection,
    after: i64,
    limit: Option<usize>,
) -> Result<Vec<Change>> {
    let limit = limit.and_then(|l| i64::try_from(l).ok()).unwrap_or(-1);
    type ChangeRow = (i64, String, String, String, String, String, i64, String);
    let rows: Vec<ChangeRow> = sqlx::query_as(
        "SELECT revision, change_type, kind, namespace, name, uid, created_revision, object \
         FROM changes WHERE revision > ?1 ORDER BY revision LIMIT ?2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(db)?;
    rows.into_iter()
        .map(
            |(revision, change_type, kind, namespace, name, uid, created_revision, object)| {
                let key = ObjectKey {
                    kind,
                    namespace,
                    name,
                };
                let change_type = match change_type.as_str() {
                    "ADDED" => ChangeType::Added,
                    "MODIFIED" => ChangeType::Modified,
                    "DELETED" => ChangeType::Deleted,
                    other => {
                        return Err(StoreError::Backend(format!(
                            "change {revision} has unknown type {other:?}"
                        )));
                    }
                };
                let object = parse(&key, &object)?;
                Ok(Change {
                    revision,
                    change_type,
                    object: StoredObject {
                        key,
                        uid,
                        revision,
                        created_revision,
                        object,
                    },
                })
            },
        )
        .collect()
}
