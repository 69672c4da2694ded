//! [`SqliteStore`]: the embedded store, one SQLite file in WAL mode.
//!
//! **Durability.** The write connection runs with `synchronous=FULL`: a write is acknowledged
//! only after its commit is fsynced to the WAL, so it survives a kill or a power cut. A lock
//! file (`<path>.lock`, `flock`) keeps a second process or store off the same file.
//!
//! **Group commit.** One writer thread owns the only write connection; `transact` queues its
//! ops and waits. The writer takes every request queued at that moment (up to `max_batch`), runs
//! them in one `BEGIN IMMEDIATE` transaction and commits once: one fsync for the batch. A
//! request of several ops runs inside its own `SAVEPOINT`, so a refused one rolls back alone
//! and its batch-mates commit (a refused single op has changed nothing); a database error fails
//! the batch. A lone one-op create or update is a single autocommit statement. Triggers write
//! the change log with the row and refuse any revision but the next, so revisions stay
//! consecutive. The newest revision is the change log's last (or, when compaction emptied it,
//! `compacted_revision`): no counter row is rewritten by every commit, which kept one more page
//! in each commit's WAL frames.
//!
//! **One SQLite binding, synchronous, on the thread that needs it.** The store drives SQLite
//! through `rusqlite` (which links the same `libsqlite3-sys` as sqlx, so the process has one
//! SQLite). The writer is a dedicated OS thread running each batch as plain calls with cached
//! prepared statements; a request costs one wake-up of the writer and one of its caller. An
//! async driver (sqlx) runs every statement on its connection's worker thread, so a create
//! (begin, check, insert, commit) cost four round trips — eight thread switches, which on this
//! kind of machine cost more than the SQL. For the same reason reads use read-only `rusqlite`
//! connections: a point read runs inline, a read of many rows on the blocking pool (`read`).
//!
//! **Reads** are concurrent with the writer thanks to WAL; `list` and `changes_since` each read
//! inside one transaction, i.e. one snapshot.
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
//! **Audit log.** `audit` rows (migration 0003) form a SHA-256 chain: the writer keeps the
//! chain's head in memory (read at open), seals each `AppendAudit` record after it in commit
//! order, and triggers check the link and keep the `audit_head` row (so a truncated tail is
//! detected) in the inserting statement. A request undone by its savepoint, or a failed batch,
//! puts the in-memory head back. [`AuditFile`] reads a store file's log read-only, offline.
//!
//! Modules: `writer` (the writer thread, group commit), `objects` (object ops), `read` (the
//! read connections), `list` (lists and the owner index), `execution` (journals, node records),
//! `leases`, `audit`, `migrate`, `lock`.

mod audit;
mod execution;
mod leases;
mod list;
mod lock;
mod migrate;
mod objects;
mod read;
mod writer;

pub use audit::AuditFile;
pub use migrate::SCHEMA_VERSION;

use crate::{
    AuditPage, AuditQuery, ChainHead, Change, ChangePage, ChangeType, JournalEntry, Lease,
    ListPage, ListQuery, NodeRecordPage, NodeRecordQuery, ObjectKey, Result, Store, StoreError,
    StoredObject, WriteOp,
};
use async_trait::async_trait;
use leases::LeaseOp;
use read::Readers;
use rusqlite::types::Type;
use rusqlite::{Connection, Row};
use serde_json::Value;
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
    /// Reads of many rows (lists, change-log pages, journals …) running at once, each on its
    /// own read-only connection; point reads (`get`) run inline beside them.
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
    readers: Arc<Readers>,
    /// One permit per read of many rows running at once (`read_connections`).
    bulk_reads: tokio::sync::Semaphore,
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
    /// pending schema migrations and starts the writer thread. Must be called inside a tokio
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
        // synchronous), then handed to the writer thread below. Nothing writes before that,
        // so the ring is warmed from the same connection.
        let ring_capacity = options.ring_capacity;
        let (opened, ring) = {
            let (path, options, name) = (path.clone(), options.clone(), shown.clone());
            tokio::task::spawn_blocking(move || {
                let opened = writer::open(&path, &options, &name)?;
                let ring = warm_ring(&opened.conn, &name, &opened, ring_capacity)?;
                Ok::<_, StoreError>((opened, ring))
            })
            .await
            .map_err(|e| StoreError::Backend(format!("opening {shown} failed: {e}")))??
        };
        let (current, compacted) = (opened.current, opened.compacted);
        let ring_base = current - ring.len() as i64;

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
        let bulk = options.read_connections.max(1) as usize;
        // Idle connections kept: one per bulk read, and one per thread that may run a point
        // read at the same time.
        let inline = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(SqliteStore {
            readers: Arc::new(Readers::new(
                path.clone(),
                options.busy_timeout,
                bulk + inline,
            )),
            bulk_reads: tokio::sync::Semaphore::new(bulk),
            path,
            queue,
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
        self.bulk_reads.close();
        self.readers.close().await;
        let mut closed = self.shared.closed.subscribe();
        // A failed send means the writer has stopped already (it failed); it marks itself
        // closed in any case, even when it panics.
        let _ = self.queue.send(Msg::Close).await;
        let _ = closed.wait_for(|&c| c).await;
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound database, otherwise the problems found.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        self.bulk_read(|conn| {
            let mut statement = conn.prepare("PRAGMA integrity_check").map_err(sql_error)?;
            let rows = statement
                .query_map([], |row| row.get(0))
                .map_err(sql_error)?;
            rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
        })
        .await
    }

    /// Runs `read` (a read of many rows) on a reader on the blocking pool, at most
    /// `read_connections` at once.
    async fn bulk_read<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .bulk_reads
            .acquire()
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        self.readers.blocking(read).await
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
        // One row by primary key: inline (see `read`).
        self.readers.inline(|conn| get(conn, key))
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        let query = query.clone();
        self.bulk_read(move |conn| list::list(conn, &query)).await
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
        self.bulk_read(move |conn| changes_from_table(conn, revision, limit))
            .await
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
        let owner_uid = owner_uid.to_owned();
        self.bulk_read(move |conn| list::owned_by(conn, &owner_uid))
            .await
    }

    async fn read_journal(
        &self,
        execution_uid: &str,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        let uid = execution_uid.to_owned();
        self.bulk_read(move |conn| execution::read_journal(conn, &uid, from_seq, limit))
            .await
    }

    async fn read_audit(&self, query: &AuditQuery) -> Result<AuditPage> {
        let query = query.clone();
        self.bulk_read(move |conn| audit::read_page(conn, &query))
            .await
    }

    async fn audit_head(&self) -> Result<ChainHead> {
        self.readers.inline(audit::read_head)
    }

    async fn journal_len(&self, execution_uid: &str) -> Result<u64> {
        // The largest key of one execution's journal: a point read.
        self.readers
            .inline(|conn| execution::journal_len(conn, execution_uid).map_err(sql_error))
    }

    async fn list_node_records(&self, query: &NodeRecordQuery) -> Result<NodeRecordPage> {
        let query = query.clone();
        self.bulk_read(move |conn| execution::list_node_records(conn, &query))
            .await
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
        let prefix = prefix.to_owned();
        self.bulk_read(move |conn| leases::list(conn, &prefix))
            .await
    }
}

/// Settings every connection of the store gets, the writer's and the readers'.
///
/// **QPSG** (the query planner stability guarantee): without it, a statement whose plan could
/// depend on a bound value is re-prepared each time that value changes. The partial index on
/// Executions (`… WHERE kind = 'Execution'`) makes a `kind = ?` on `resources` such a
/// statement (unless the key is given whole), so a cached list statement was parsed and planned
/// again (a list of Goals after one of Bindings, as the controllers do after every write).
/// With QPSG, plans never depend on bound values (the one query that needs the partial index
/// spells `kind = 'Execution'` as a literal).
fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Prepared statements kept per connection: every fixed statement of the store, with room for
/// the variable ones of lists.
const STATEMENT_CACHE: usize = 64;

fn sql_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Column `index` of `row` as text, borrowed from the row (a JSON document is parsed from it
/// without a copy).
fn text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(index)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

fn parse(key: &ObjectKey, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Backend(format!("{key}: the stored object is not valid JSON: {e}"))
    })
}

const GET: &str = "SELECT uid, revision, created_revision, object FROM resources \
                   WHERE kind = ?1 AND namespace = ?2 AND name = ?3";

/// `Store::get` on a reader.
fn get(conn: &Connection, key: &ObjectKey) -> Result<Option<StoredObject>> {
    let mut statement = conn.prepare_cached(GET).map_err(sql_error)?;
    let mut rows = statement
        .query(rusqlite::params![key.kind, key.namespace, key.name])
        .map_err(sql_error)?;
    let Some(row) = rows.next().map_err(sql_error)? else {
        return Ok(None);
    };
    Ok(Some(StoredObject {
        object: parse(key, text(row, 3).map_err(sql_error)?)?,
        key: key.clone(),
        uid: row.get(0).map_err(sql_error)?,
        revision: row.get(1).map_err(sql_error)?,
        created_revision: row.get(2).map_err(sql_error)?,
    }))
}

/// A counter of the `meta` table.
fn read_meta(conn: &Connection, key: &str) -> Result<i64> {
    let value: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut statement| {
            let mut rows = statement.query([key])?;
            rows.next()?.map(|row| row.get(0)).transpose()
        })
        .map_err(sql_error)?;
    value.ok_or_else(|| StoreError::Backend(format!("the meta table has no {key:?} row")))
}

/// The newest committed revision (as of the connection's snapshot): the largest in the change
/// log, which holds exactly the revisions after `compacted_revision`, or that one when
/// compaction left the log empty (migration 0004).
fn read_revision(conn: &Connection) -> Result<i64> {
    conn.prepare_cached(
        "SELECT coalesce((SELECT max(revision) FROM changes), \
         (SELECT value FROM meta WHERE key = 'compacted_revision'))",
    )
    .and_then(|mut statement| statement.query_row([], |row| row.get::<_, Option<i64>>(0)))
    .map_err(sql_error)?
    .ok_or_else(|| StoreError::Backend("the meta table has no \"compacted_revision\" row".into()))
}

/// `changes_since` beyond the ring: one read transaction over the `changes` table.
fn changes_from_table(conn: &Connection, revision: i64, limit: usize) -> Result<ChangePage> {
    let (current, changes) = read::snapshot(conn, || {
        let compacted = read_meta(conn, "compacted_revision")?;
        if revision < compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                oldest: compacted,
            });
        }
        Ok((
            read_revision(conn)?,
            read_changes(conn, revision, Some(limit))?,
        ))
    })?;
    let covered = match changes.last() {
        Some(last) if changes.len() == limit => last.revision,
        _ => current.max(revision),
    };
    Ok(ChangePage {
        changes,
        revision: covered,
    })
}

/// The newest changes for the ring at open: `(compacted, current]`, at most `capacity`.
fn warm_ring(
    conn: &Connection,
    shown: &str,
    opened: &writer::Opened,
    capacity: usize,
) -> Result<VecDeque<Arc<Change>>> {
    let (current, compacted) = (opened.current, opened.compacted);
    let ring_base =
        compacted.max(current.saturating_sub(i64::try_from(capacity).unwrap_or(i64::MAX)));
    let mut ring = VecDeque::with_capacity(capacity.min(1 << 16));
    if capacity > 0 {
        ring.extend(
            read_changes(conn, ring_base, None)?
                .into_iter()
                .map(Arc::new),
        );
    }
    if ring.len() as i64 != current - ring_base {
        return Err(StoreError::Backend(format!(
            "{shown}: the change log is inconsistent: expected changes {}..={current}, found {}",
            ring_base + 1,
            ring.len()
        )));
    }
    Ok(ring)
}

/// The changes after `after`, ascending, at most `limit`.
fn read_changes(conn: &Connection, after: i64, limit: Option<usize>) -> Result<Vec<Change>> {
    let limit = limit.and_then(|l| i64::try_from(l).ok()).unwrap_or(-1);
    let mut statement = conn
        .prepare_cached(
            "SELECT revision, change_type, kind, namespace, name, uid, created_revision, object \
             FROM changes WHERE revision > ?1 ORDER BY revision LIMIT ?2",
        )
        .map_err(sql_error)?;
    let mut rows = statement.query([after, limit]).map_err(sql_error)?;
    let mut changes = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        changes.push(change(row)?);
    }
    Ok(changes)
}

fn change(row: &Row<'_>) -> Result<Change> {
    let revision: i64 = row.get(0).map_err(sql_error)?;
    let change_type = match text(row, 1).map_err(sql_error)? {
        "ADDED" => ChangeType::Added,
        "MODIFIED" => ChangeType::Modified,
        "DELETED" => ChangeType::Deleted,
        other => {
            return Err(StoreError::Backend(format!(
                "change {revision} has unknown type {other:?}"
            )));
        }
    };
    let key = ObjectKey {
        kind: row.get(2).map_err(sql_error)?,
        namespace: row.get(3).map_err(sql_error)?,
        name: row.get(4).map_err(sql_error)?,
    };
    let object = parse(&key, text(row, 7).map_err(sql_error)?)?;
    Ok(Change {
        revision,
        change_type,
        object: StoredObject {
            key,
            uid: row.get(5).map_err(sql_error)?,
            revision,
            created_revision: row.get(6).map_err(sql_error)?,
            object,
        },
    })
}
