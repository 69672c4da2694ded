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

use crate::{
    Change, ChangePage, ChangeType, ListPage, ListQuery, ObjectKey, Result, Store, StoreError,
    StoredObject, WriteOp,
};
use async_trait::async_trait;
use planspec_model::selector::{FieldOperator, FieldRequirement, Operator, Requirement};
use serde_json::{Map, Value};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

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
    queue: mpsc::Sender<Msg>,
    read: SqlitePool,
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
struct Shared {
    state: Mutex<State>,
    notify: watch::Sender<i64>,
    /// Why the writer stopped, if it failed.
    failure: Mutex<Option<String>>,
    /// Set once the writer has stopped and released the file.
    closed: watch::Sender<bool>,
}

struct State {
    /// Newest published revision.
    current: i64,
    compacted: i64,
    /// The changes with revisions `ring_base + 1 ..= current`, consecutive.
    ring: VecDeque<Arc<Change>>,
    ring_base: i64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated in a way that
        // matters more than losing the store, so recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_failure(&self, why: String) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }
}

type Reply<T> = oneshot::Sender<Result<T>>;

enum Msg {
    Write {
        ops: Vec<WriteOp>,
        reply: Reply<Vec<Change>>,
    },
    Compact {
        retain: usize,
        reply: Reply<i64>,
    },
    Close,
}

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
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
        let lock = LockFile::acquire(&path)?;

        let base = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .disable_statement_logging();
        let mut conn = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .connect()
            .await
            .map_err(|e| StoreError::Backend(format!("cannot open {shown}: {e}")))?;
        // SQLite silently keeps another journal mode where WAL is unsupported (network file
        // systems); the durability argument above needs both settings, so check them.
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") || sync != 2 {
            return Err(StoreError::Backend(format!(
                "{shown}: cannot use WAL mode with synchronous=FULL here (journal_mode={mode}, synchronous={sync}); \
                 put the store on a local file system"
            )));
        }
        migrate(&mut conn, &shown).await?;
        let current = read_meta(&mut conn, "revision").await?;
        let compacted = read_meta(&mut conn, "compacted_revision").await?;

        // Warm the ring with the newest changes, so watches resuming after a restart are
        // served from memory.
        let ring_capacity = i64::try_from(options.ring_capacity).unwrap_or(i64::MAX);
        let ring_base = compacted.max(current.saturating_sub(ring_capacity));
        let mut ring = VecDeque::with_capacity(options.ring_capacity.min(1 << 16));
        if options.ring_capacity > 0 {
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

        let read = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .test_before_acquire(false)
            .connect_with(
                // A list walks many pages: give each reader a 16 MiB page cache.
                base.read_only(true).pragma("cache_size", "-16384"),
            )
            .await
            .map_err(|e| StoreError::Backend(format!("cannot open {shown} for reading: {e}")))?;

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
        let (queue, rx) = mpsc::channel(options.queue_capacity.max(1));
        let writer = Writer {
            conn,
            shared: shared.clone(),
            current,
            compacted,
            since_compaction: 0,
            max_batch: options.max_batch.max(1),
            ring_capacity: options.ring_capacity,
            auto_compact: options
                .auto_compact_retain
                .map(|r| (r, options.auto_compact_every.max(1))),
            _lock: lock,
        };
        tokio::spawn(writer.run(rx));
        Ok(SqliteStore {
            path,
            queue,
            read,
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
        let row: Option<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT uid, revision, created_revision, object FROM resources \
             WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
        )
        .bind(key.kind.as_str())
        .bind(key.namespace.as_str())
        .bind(key.name.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        row.map(|(uid, revision, created_revision, object)| {
            Ok(StoredObject {
                object: parse(key, &object)?,
                key: key.clone(),
                uid,
                revision,
                created_revision,
            })
        })
        .transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        // One more than the page, to know whether more follow.
        let wanted = query.limit.filter(|&l| l > 0).map(|l| l.saturating_add(1));
        let mut items: Vec<StoredObject> = Vec::new();
        let mut after = query.continue_after.clone();
        let mut tx = self.read.begin().await.map_err(db)?;
        let revision = read_meta(&mut tx, "revision").await?;
        // SQL narrows (exactly, except `>`/`<` label requirements and odd field paths, which
        // it only approximates from above); `matches_selectors` decides. Rows it turns down
        // may leave a page short, so read on until the page is full or the rows run out.
        loop {
            let chunk = wanted.map(|w| w - items.len());
            let (sql, params) = list_sql(query, after.as_ref(), chunk);
            let mut q = sqlx::query_as::<_, (String, String, String, i64, i64, String)>(&sql);
            for p in &params {
                q = match p {
                    Param::Text(s) => q.bind(s.as_str()),
                    Param::Int(i) => q.bind(*i),
                };
            }
            let rows = q.fetch_all(&mut *tx).await.map_err(db)?;
            let exhausted = chunk.is_none_or(|c| rows.len() < c);
            for (namespace, name, uid, rev, created_revision, object) in rows {
                let key = ObjectKey {
                    kind: query.kind.clone(),
                    namespace,
                    name,
                };
                after = Some((key.namespace.clone(), key.name.clone()));
                let object = parse(&key, &object)?;
                if query.matches_selectors(&key, &object) {
                    items.push(StoredObject {
                        key,
                        uid,
                        revision: rev,
                        created_revision,
                        object,
                    });
                }
            }
            if exhausted || wanted.is_some_and(|w| items.len() >= w) {
                break;
            }
        }
        tx.commit().await.map_err(db)?;

        let mut continue_after = None;
        if let Some(limit) = query.limit.filter(|&l| l > 0) {
            if items.len() > limit {
                items.truncate(limit);
                continue_after = items
                    .last()
                    .map(|o| (o.key.namespace.clone(), o.key.name.clone()));
            }
        }
        Ok(ListPage {
            items,
            revision,
            continue_after,
        })
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
}

// ---------------------------------------------------------------------------------------
// The writer.

struct Writer {
    conn: SqliteConnection,
    shared: Arc<Shared>,
    /// Newest committed revision.
    current: i64,
    compacted: i64,
    since_compaction: u64,
    max_batch: usize,
    ring_capacity: usize,
    auto_compact: Option<(usize, u64)>,
    /// Held until the writer's connection is closed.
    _lock: LockFile,
}

struct Request {
    ops: Vec<WriteOp>,
    reply: Reply<Vec<Change>>,
}

/// The writer cannot go on: the connection's state is unknown.
struct Fatal(String);

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut pending = None;
        loop {
            let msg = match pending.take() {
                Some(msg) => msg,
                None => match rx.recv().await {
                    Some(msg) => msg,
                    None => break,
                },
            };
            let step = match msg {
                Msg::Close => {
                    // Refuse new messages; those already queued are still received.
                    rx.close();
                    Ok(())
                }
                Msg::Compact { retain, reply } => match self.compact(retain).await {
                    Ok(result) => {
                        let _ = reply.send(result);
                        Ok(())
                    }
                    Err(fatal) => Err(fatal),
                },
                Msg::Write { ops, reply } => {
                    let mut batch = vec![Request { ops, reply }];
                    while batch.len() < self.max_batch {
                        match rx.try_recv() {
                            Ok(Msg::Write { ops, reply }) => batch.push(Request { ops, reply }),
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    match self.commit_batch(batch).await {
                        Ok(()) => self.auto_compact().await,
                        Err(fatal) => Err(fatal),
                    }
                }
            };
            if let Err(Fatal(why)) = step {
                self.shared.set_failure(why);
                break;
            }
        }
        // Requests still queued after a failure are dropped here; their callers see the failure.
        drop(rx);
        drop(pending);
        if self.shared.failure().is_none() {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut self.conn)
                .await;
        }
        let _ = self.conn.close().await;
        // The lock is released before `close` callers hear back.
        drop(self._lock);
        self.shared.closed.send_replace(true);
    }

    /// Commits one group of requests; see the module documentation.
    async fn commit_batch(&mut self, batch: Vec<Request>) -> Result<(), Fatal> {
        // One request of one create or update is one statement: SQLite's autocommit makes it
        // its own durable transaction, as cheap as a bare insert.
        let autocommit = batch.len() == 1
            && batch[0].ops.len() == 1
            && !matches!(batch[0].ops[0], WriteOp::Delete { .. });
        let shared_batch = batch.len() > 1;
        let mut replies = Vec::with_capacity(batch.len());
        let mut results: Vec<Result<Vec<Change>>> = Vec::with_capacity(batch.len());

        if !autocommit {
            if let Err(e) = exec(&mut self.conn, "BEGIN IMMEDIATE").await {
                let err = db(e);
                for req in batch {
                    let _ = req.reply.send(Err(err.clone_backend()));
                }
                return Ok(());
            }
        }

        let mut next = self.current;
        let mut broken = None;
        for req in batch {
            replies.push(req.reply);
            if broken.is_some() {
                continue;
            }
            // A request of one op that is refused has changed nothing; a longer one sharing
            // the transaction needs a savepoint to undo its first ops alone.
            let savepoint = shared_batch && req.ops.len() > 1;
            match self.apply_request(req.ops, next, savepoint).await {
                Ok(Ok(changes)) => {
                    next += changes.len() as i64;
                    results.push(Ok(changes));
                }
                Ok(Err(e)) => results.push(Err(e)),
                Err(e) => broken = Some(e),
            }
        }

        let outcome = match broken {
            Some(e) => Err(e),
            None if next == self.current => Ok(false),
            None if autocommit => Ok(true),
            None => exec(&mut self.conn, "COMMIT")
                .await
                .map(|()| true)
                .map_err(db),
        };

        match outcome {
            Ok(true) => {
                self.since_compaction += u64::try_from(next - self.current).unwrap_or(0);
                self.current = next;
                self.publish(&results, next);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
                Ok(())
            }
            Ok(false) => {
                // Nothing succeeded: no commit, no fsync (and in autocommit, nothing to undo).
                if !autocommit {
                    self.rollback().await?;
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
                Ok(())
            }
            Err(e) => {
                // A database error fails the whole batch: SQLite may have rolled back the
                // transaction already, so nothing after the error is trusted.
                self.rollback().await?;
                for reply in replies {
                    let _ = reply.send(Err(e.clone_backend()));
                }
                Ok(())
            }
        }
    }

    /// Applies one request inside the open transaction. The outer error is a database error
    /// (the batch fails); the inner one is this request's refusal, already undone when it
    /// had a savepoint.
    async fn apply_request(
        &mut self,
        ops: Vec<WriteOp>,
        base: i64,
        savepoint: bool,
    ) -> Result<Result<Vec<Change>>, StoreError> {
        if savepoint {
            exec(&mut self.conn, "SAVEPOINT request")
                .await
                .map_err(db)?;
        }
        let mut changes = Vec::with_capacity(ops.len());
        let mut refused = None;
        for (i, op) in ops.into_iter().enumerate() {
            match apply_op(&mut self.conn, op, base + i as i64 + 1).await {
                Ok(change) => changes.push(change),
                Err(OpError::Refused(e)) => {
                    refused = Some(e);
                    break;
                }
                Err(OpError::Db(e)) => return Err(e),
            }
        }
        if savepoint {
            if refused.is_some() {
                exec(&mut self.conn, "ROLLBACK TO request")
                    .await
                    .map_err(db)?;
            }
            exec(&mut self.conn, "RELEASE request").await.map_err(db)?;
        }
        Ok(match refused {
            Some(e) => Err(e),
            None => Ok(changes),
        })
    }

    /// Makes the committed state visible: ring, current revision, then the watch signal.
    fn publish(&self, results: &[Result<Vec<Change>>], current: i64) {
        {
            let mut state = self.shared.state();
            if self.ring_capacity > 0 {
                for change in results.iter().flatten().flatten() {
                    state.ring.push_back(Arc::new(change.clone()));
                }
                while state.ring.len() > self.ring_capacity {
                    if let Some(old) = state.ring.pop_front() {
                        state.ring_base = old.revision;
                    }
                }
            } else {
                state.ring_base = current;
            }
            state.current = current;
        }
        self.shared.notify.send_replace(current);
    }

    /// Undoes the open transaction and checks that the database is where we think it is.
    async fn rollback(&mut self) -> Result<(), Fatal> {
        let why = match exec(&mut self.conn, "ROLLBACK").await {
            // SQLite rolls back by itself after some errors (a full disk, an I/O error).
            Err(e) if !e.to_string().contains("no transaction is active") => {
                format!("rolling back failed: {e}")
            }
            _ => match read_meta(&mut self.conn, "revision").await {
                Ok(rev) if rev == self.current => return Ok(()),
                Ok(rev) => format!(
                    "the database is at revision {rev} after a failed commit, expected {}",
                    self.current
                ),
                Err(e) => format!("reading the revision after a rollback failed: {e}"),
            },
        };
        // Recorded now, before the waiting callers are dropped and ask why.
        self.shared.set_failure(why.clone());
        Err(Fatal(why))
    }

    async fn auto_compact(&mut self) -> Result<(), Fatal> {
        if let Some((retain, every)) = self.auto_compact {
            if self.since_compaction >= every {
                // A failed compaction is retried after another `every` writes.
                let _ = self.compact(retain).await?;
                self.since_compaction = 0;
            }
        }
        Ok(())
    }

    /// Deletes all but the newest `retain` changes. The outer error is fatal.
    async fn compact(&mut self, retain: usize) -> Result<Result<i64>, Fatal> {
        let target = self.compacted.max(
            self.current
                .saturating_sub(i64::try_from(retain).unwrap_or(i64::MAX)),
        );
        if target <= self.compacted {
            return Ok(Ok(self.compacted));
        }
        let attempt: Result<(), sqlx::Error> = async {
            exec(&mut self.conn, "BEGIN IMMEDIATE").await?;
            sqlx::query("DELETE FROM changes WHERE revision <= ?1")
                .bind(target)
                .execute(&mut self.conn)
                .await?;
            sqlx::query("UPDATE meta SET value = ?1 WHERE key = 'compacted_revision'")
                .bind(target)
                .execute(&mut self.conn)
                .await?;
            exec(&mut self.conn, "COMMIT").await
        }
        .await;
        if let Err(e) = attempt {
            self.rollback().await?;
            return Ok(Err(db(e)));
        }
        self.compacted = target;
        let mut state = self.shared.state();
        state.compacted = target;
        while state.ring.front().is_some_and(|c| c.revision <= target) {
            state.ring.pop_front();
        }
        state.ring_base = state.ring_base.max(target);
        Ok(Ok(target))
    }
}

impl StoreError {
    /// A copy of a backend error (store errors are not `Clone` because of their contract).
    fn clone_backend(&self) -> StoreError {
        StoreError::Backend(match self {
            StoreError::Backend(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(conn).await.map(|_| ())
}

/// Why an op did not apply.
enum OpError {
    /// The op is refused (exists, not found, conflict, not an object) and changed nothing.
    Refused(StoreError),
    /// The database failed (or holds something unreadable): the batch fails.
    Db(StoreError),
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        OpError::Db(db(e))
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Refused(e)
    }
}

/// Applies one op at `revision`. Inserts and updates of `resources` log their change by
/// trigger; a delete logs it here (the row is gone, and its change needs the new revision).
async fn apply_op(
    conn: &mut SqliteConnection,
    op: WriteOp,
    revision: i64,
) -> Result<Change, OpError> {
    match op {
        WriteOp::Create {
            key,
            uid,
            mut object,
        } => {
            stamp(&key, &mut object, revision)?;
            let (labels, text) = serialize(&key, &object)?;
            let inserted = sqlx::query(
                "INSERT INTO resources \
                 (kind, namespace, name, uid, revision, created_revision, labels, object) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            )
            .bind(key.kind.as_str())
            .bind(key.namespace.as_str())
            .bind(key.name.as_str())
            .bind(uid.as_str())
            .bind(revision)
            .bind(labels.as_str())
            .bind(text.as_str())
            .execute(&mut *conn)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::AlreadyExists(key).into());
            }
            let object = StoredObject {
                key,
                uid,
                revision,
                created_revision: revision,
                object,
            };
            Ok(Change {
                revision,
                change_type: ChangeType::Added,
                object,
            })
        }
        WriteOp::Update {
            key,
            expected_revision,
            mut object,
        } => {
            stamp(&key, &mut object, revision)?;
            let (labels, text) = serialize(&key, &object)?;
            // `fetch_all`, not `fetch_optional`: the statement must run to its end, where an
            // autocommit statement commits and reports a failed commit (a statement that is
            // merely reset after its first row commits there too, but its error is lost).
            let row: Option<(String, i64)> = sqlx::query_as(
                "UPDATE resources SET revision = ?1, labels = ?2, object = ?3 \
                 WHERE kind = ?4 AND namespace = ?5 AND name = ?6 \
                 AND (?7 IS NULL OR revision = ?7) \
                 RETURNING uid, created_revision",
            )
            .bind(revision)
            .bind(labels.as_str())
            .bind(text.as_str())
            .bind(key.kind.as_str())
            .bind(key.namespace.as_str())
            .bind(key.name.as_str())
            .bind(expected_revision)
            .fetch_all(&mut *conn)
            .await?
            .pop();
            let Some((uid, created_revision)) = row else {
                return Err(precondition_failure(conn, key, expected_revision).await);
            };
            let object = StoredObject {
                key,
                uid,
                revision,
                created_revision,
                object,
            };
            Ok(Change {
                revision,
                change_type: ChangeType::Modified,
                object,
            })
        }
        WriteOp::Delete {
            key,
            expected_revision,
        } => {
            let row: Option<(String, i64, String)> = sqlx::query_as(
                "DELETE FROM resources \
                 WHERE kind = ?1 AND namespace = ?2 AND name = ?3 \
                 AND (?4 IS NULL OR revision = ?4) \
                 RETURNING uid, created_revision, object",
            )
            .bind(key.kind.as_str())
            .bind(key.namespace.as_str())
            .bind(key.name.as_str())
            .bind(expected_revision)
            .fetch_all(&mut *conn)
            .await?
            .pop();
            let Some((uid, created_revision, stored)) = row else {
                return Err(precondition_failure(conn, key, expected_revision).await);
            };
            // The row is already deleted: from here on, any failure is the database's
            // (the savepoint or the batch undoes the delete).
            let mut object = parse(&key, &stored).map_err(OpError::Db)?;
            stamp(&key, &mut object, revision).map_err(OpError::Db)?;
            let text = object.to_string();
            sqlx::query(
                "INSERT INTO changes \
                 (revision, change_type, kind, namespace, name, uid, created_revision, object) \
                 VALUES (?1, 'DELETED', ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(revision)
            .bind(key.kind.as_str())
            .bind(key.namespace.as_str())
            .bind(key.name.as_str())
            .bind(uid.as_str())
            .bind(created_revision)
            .bind(text.as_str())
            .execute(&mut *conn)
            .await?;
            let object = StoredObject {
                key,
                uid,
                revision,
                created_revision,
                object,
            };
            Ok(Change {
                revision,
                change_type: ChangeType::Deleted,
                object,
            })
        }
    }
}

/// Why a conditional update or delete matched no row (it changed nothing).
async fn precondition_failure(
    conn: &mut SqliteConnection,
    key: ObjectKey,
    expected: Option<i64>,
) -> OpError {
    let actual: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
        "SELECT revision FROM resources WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
    )
    .bind(key.kind.as_str())
    .bind(key.namespace.as_str())
    .bind(key.name.as_str())
    .fetch_optional(&mut *conn)
    .await;
    match (actual, expected) {
        (Err(e), _) => OpError::Db(db(e)),
        (Ok(None), _) | (Ok(Some(_)), None) => StoreError::NotFound(key).into(),
        (Ok(Some(actual)), Some(expected)) => StoreError::Conflict {
            key,
            expected,
            actual,
        }
        .into(),
    }
}

/// Writes `metadata.resourceVersion`.
fn stamp(key: &ObjectKey, object: &mut Value, revision: i64) -> Result<()> {
    let Some(map) = object.as_object_mut() else {
        return Err(StoreError::Backend(format!(
            "{key}: the object to write is not a JSON object"
        )));
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if metadata.is_null() {
        *metadata = Value::Object(Map::new());
    }
    match metadata {
        Value::Object(m) => {
            m.insert(
                "resourceVersion".into(),
                Value::String(revision.to_string()),
            );
            Ok(())
        }
        _ => Err(StoreError::Backend(format!(
            "{key}: metadata of the object to write is not a JSON object"
        ))),
    }
}

/// The `labels` column and the `object` column.
fn serialize(key: &ObjectKey, object: &Value) -> Result<(String, String)> {
    let failed =
        |e: serde_json::Error| StoreError::Backend(format!("{key}: cannot serialise: {e}"));
    let labels = match object.get("metadata").and_then(|m| m.get("labels")) {
        Some(labels @ Value::Object(_)) => serde_json::to_string(labels).map_err(failed)?,
        _ => "{}".to_owned(),
    };
    Ok((labels, serde_json::to_string(object).map_err(failed)?))
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

// ---------------------------------------------------------------------------------------
// List queries.

enum Param {
    Text(String),
    Int(i64),
}

/// The SQL of one read of a list: the rows of `query` after `after`, at most `limit`.
fn list_sql(
    query: &ListQuery,
    after: Option<&(String, String)>,
    limit: Option<usize>,
) -> (String, Vec<Param>) {
    let mut sql = String::from(
        "SELECT namespace, name, uid, revision, created_revision, object FROM resources \
         WHERE kind = ?",
    );
    let mut params = vec![Param::Text(query.kind.clone())];
    if let Some(ns) = &query.namespace {
        sql.push_str(" AND namespace = ?");
        params.push(Param::Text(ns.clone()));
    }
    if let Some((ns, name)) = after {
        sql.push_str(" AND (namespace, name) > (?, ?)");
        params.push(Param::Text(ns.clone()));
        params.push(Param::Text(name.clone()));
    }
    for req in query.label_selector.requirements() {
        label_sql(req, &mut sql, &mut params);
    }
    for req in query.field_selector.requirements() {
        field_sql(req, &mut sql, &mut params);
    }
    sql.push_str(" ORDER BY namespace, name");
    if let Some(limit) = limit {
        sql.push_str(" LIMIT ?");
        params.push(Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    }
    (sql, params)
}

/// One label requirement as SQL over the `labels` column (a label that is not a string is
/// absent). Exact, except `>`/`<`, where SQLite's `CAST` accepts more than an `i64` parse.
fn label_sql(req: &Requirement, sql: &mut String, params: &mut Vec<Param>) {
    let (negate, values, compare) = match req.operator() {
        Operator::Equals | Operator::In => (false, req.values(), None),
        Operator::NotEquals | Operator::NotIn => (true, req.values(), None),
        Operator::Exists => (false, &[][..], None),
        Operator::DoesNotExist => (true, &[][..], None),
        Operator::GreaterThan => (false, &[][..], Some(">")),
        Operator::LessThan => (false, &[][..], Some("<")),
    };
    sql.push_str(if negate {
        " AND NOT EXISTS"
    } else {
        " AND EXISTS"
    });
    sql.push_str(" (SELECT 1 FROM json_each(resources.labels) WHERE key = ? AND type = 'text'");
    params.push(Param::Text(req.key().as_str().to_owned()));
    if !values.is_empty() {
        sql.push_str(" AND value IN (");
        for (i, v) in values.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            params.push(Param::Text(v.as_str().to_owned()));
        }
        sql.push(')');
    }
    if let (Some(op), Some(Ok(bound))) = (compare, req.values().first().map(|v| v.parse::<i64>())) {
        sql.push_str(" AND CAST(value AS INTEGER) ");
        sql.push_str(op);
        sql.push_str(" ?");
        params.push(Param::Int(bound));
    }
    sql.push(')');
}

/// One field requirement as SQL; see `ListQuery::field_selector`. A path SQLite's JSON path
/// syntax cannot spell is left to the exact check.
fn field_sql(req: &FieldRequirement, sql: &mut String, params: &mut Vec<Param>) {
    let column = match req.field.as_str() {
        "metadata.name" => "name".to_owned(),
        "metadata.namespace" => "namespace".to_owned(),
        path => {
            if path
                .split('.')
                .any(|p| p.is_empty() || p.contains(['"', '\\']))
            {
                return;
            }
            let json_path = format!("$.\"{}\"", path.replace('.', "\".\""));
            params.push(Param::Text(json_path.clone()));
            params.push(Param::Text(json_path));
            "iif(json_type(object, ?) = 'text', json_extract(object, ?), '')".to_owned()
        }
    };
    sql.push_str(" AND ");
    sql.push_str(&column);
    sql.push_str(match req.operator {
        FieldOperator::Equals => " = ?",
        FieldOperator::NotEquals => " <> ?",
    });
    params.push(Param::Text(req.value.clone()));
}

// ---------------------------------------------------------------------------------------
// Migrations.

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every schema version, in order. Append only; never edit a released migration.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../migrations/0001_init.sql"),
}];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 1;
const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_VERSION);

/// FNV-1a of the migration text (line endings normalised), recorded to detect edits.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes().filter(|&b| b != b'\r') {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

async fn migrate(conn: &mut SqliteConnection, shown: &str) -> Result<()> {
    let fail =
        |e: sqlx::Error| StoreError::Backend(format!("{shown}: migrating the schema failed: {e}"));
    exec(
        conn,
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
             version INTEGER PRIMARY KEY, \
             name TEXT NOT NULL, \
             checksum TEXT NOT NULL, \
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\
         ) STRICT",
    )
    .await
    .map_err(fail)?;
    let applied: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(fail)?;
    if let Some((newest, name, _)) = applied.last().filter(|(v, _, _)| *v > SCHEMA_VERSION) {
        return Err(StoreError::Backend(format!(
            "{shown} has schema version {newest} ({name}), newer than this build of planspec supports \
             (up to {SCHEMA_VERSION}): it was written by a newer planspec. Run that version, or restore a \
             backup taken before the upgrade"
        )));
    }
    for (version, name, sum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if checksum(m.sql) == *sum => {}
            _ => {
                return Err(StoreError::Backend(format!(
                    "{shown}: migration {version} ({name}) applied to this database differs from the one in \
                     this build of planspec; refusing to guess"
                )))
            }
        }
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
    {
        exec(conn, "BEGIN IMMEDIATE").await.map_err(fail)?;
        let run: Result<(), sqlx::Error> = async {
            sqlx::raw_sql(m.sql).execute(&mut *conn).await?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(checksum(m.sql))
            .execute(&mut *conn)
            .await?;
            exec(conn, "COMMIT").await
        }
        .await;
        if let Err(e) = run {
            let _ = exec(conn, "ROLLBACK").await;
            return Err(StoreError::Backend(format!(
                "{shown}: applying migration {} ({}) failed: {e}",
                m.version, m.name
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The lock file.

/// An exclusive `flock` on `<db>.lock`, held for the life of the writer.
struct LockFile {
    _file: File,
}

impl LockFile {
    fn acquire(db: &Path) -> Result<LockFile> {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| {
                StoreError::Backend(format!("cannot open lock file {}: {e}", path.display()))
            })?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a file descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                return Err(StoreError::Backend(
                    if err.kind() == std::io::ErrorKind::WouldBlock {
                        format!(
                        "{} is in use by another planspec process (or another store in this one): {} is locked",
                        db.display(),
                        path.display()
                    )
                    } else {
                        format!("cannot lock {}: {err}", path.display())
                    },
                ));
            }
        }
        Ok(LockFile { _file: file })
    }
}
