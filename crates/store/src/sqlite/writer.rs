//! The writer thread: the only write connection, group commit, publication of changes to
//! readers and watchers, and compaction. See the module documentation of [`super`].
//!
//! The writer is a dedicated OS thread that owns a synchronous `rusqlite` connection: a batch
//! runs as plain function calls into SQLite on this one thread, through the connection's cache
//! of prepared statements. A request costs one wake-up of the writer (the queue) and one of its
//! caller (the reply's oneshot), however many statements it runs.

use super::leases::{self, LeaseOp};
use super::lock::LockFile;
use super::objects::{self, OpError};
use super::{
    audit, configure, migrate, read_meta, read_revision, sql_error, Shared, SqliteOptions,
};
use crate::{ChainHead, Change, Lease, Result, StoreError, WriteOp};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Reply<T> = oneshot::Sender<Result<T>>;

/// What the store asks of its writer.
pub(super) enum Msg {
    /// A transaction.
    Write {
        ops: Vec<WriteOp>,
        reply: Reply<Vec<Change>>,
    },
    /// A lease operation; `None` when it was refused.
    Lease {
        op: LeaseOp,
        reply: Reply<Option<Lease>>,
    },
    Compact {
        retain: usize,
        reply: Reply<i64>,
    },
    Close,
}

/// The writer's connection, open and migrated, with the revisions it found.
pub(super) struct Opened {
    pub(super) conn: Connection,
    /// Newest committed revision.
    pub(super) current: i64,
    pub(super) compacted: i64,
    /// The audit chain's head.
    pub(super) audit_head: ChainHead,
}

/// Opens (creating it if needed) the database at `path` for writing: WAL with
/// `synchronous=FULL` (checked, since SQLite silently keeps another journal mode where WAL is
/// unsupported), foreign keys on, schema migrated. Blocking: run it off the async runtime.
pub(super) fn open(path: &Path, options: &SqliteOptions, shown: &str) -> Result<Opened> {
    let cannot_open = |e: rusqlite::Error| StoreError::Backend(format!("cannot open {shown}: {e}"));
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(cannot_open)?;
    configure(&conn, options.busy_timeout).map_err(cannot_open)?;
    // `journal_mode` answers with the mode in force; `synchronous` is read back below.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(cannot_open)?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")
        .map_err(cannot_open)?;
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |row| row.get(0))
        .map_err(cannot_open)?;
    if !mode.eq_ignore_ascii_case("wal") || sync != 2 {
        return Err(StoreError::Backend(format!(
            "{shown}: cannot use WAL mode with synchronous=FULL here (journal_mode={mode}, synchronous={sync}); \
             put the store on a local file system"
        )));
    }
    migrate::migrate(&mut conn, shown)?;
    let current = read_revision(&conn)?;
    let compacted = read_meta(&conn, "compacted_revision")?;
    let audit_head = audit::read_head(&conn)?;
    Ok(Opened {
        conn,
        current,
        compacted,
        audit_head,
    })
}

/// Starts the writer thread on `opened` and returns its queue.
pub(super) fn spawn(
    opened: Opened,
    shared: Arc<Shared>,
    options: &SqliteOptions,
    lock: LockFile,
) -> Result<mpsc::Sender<Msg>> {
    let (queue, rx) = mpsc::channel(options.queue_capacity.max(1));
    let writer = Writer {
        conn: opened.conn,
        current: opened.current,
        compacted: opened.compacted,
        audit_head: opened.audit_head,
        since_compaction: 0,
        max_batch: options.max_batch.max(1),
        ring_capacity: options.ring_capacity,
        auto_compact: options
            .auto_compact_retain
            .map(|r| (r, options.auto_compact_every.max(1))),
        release: Release {
            shared,
            lock: Some(lock),
        },
    };
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| StoreError::Backend(format!("cannot start the store's writer: {e}")))?;
    Ok(queue)
}

struct Writer {
    /// Declared first: dropped (closed) before `release` lets the file go.
    conn: Connection,
    /// Newest committed revision.
    current: i64,
    compacted: i64,
    /// The audit chain's head as of the open transaction (committed head outside a batch).
    audit_head: ChainHead,
    since_compaction: u64,
    max_batch: usize,
    ring_capacity: usize,
    auto_compact: Option<(usize, u64)>,
    release: Release,
}

/// The shared state and the file lock. Dropped last, also when the thread panics, so that
/// `close` callers always hear back and the file is always released.
struct Release {
    shared: Arc<Shared>,
    lock: Option<LockFile>,
}

impl Drop for Release {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared
                .set_failure("the writer thread panicked".to_owned());
        }
        drop(self.lock.take());
        self.shared.closed.send_replace(true);
    }
}

/// One request of a group commit.
enum Job {
    Write {
        ops: Vec<WriteOp>,
        reply: Reply<Vec<Change>>,
    },
    Lease {
        op: LeaseOp,
        reply: Reply<Option<Lease>>,
    },
}

impl Job {
    fn of(msg: Msg) -> Result<Job, Msg> {
        match msg {
            Msg::Write { ops, reply } => Ok(Job::Write { ops, reply }),
            Msg::Lease { op, reply } => Ok(Job::Lease { op, reply }),
            other => Err(other),
        }
    }

    /// A lone one-op create or update: one statement, SQLite's autocommit makes it its own
    /// durable transaction (its index triggers run inside that statement).
    fn is_single_statement(&self) -> bool {
        matches!(self, Job::Write { ops, .. }
            if ops.len() == 1 && matches!(ops[0], WriteOp::Create { .. } | WriteOp::Update { .. }))
    }
}

/// A job applied inside the open transaction, with its answer (sent after the commit).
enum Done {
    Write(Reply<Vec<Change>>, Result<Vec<Change>>),
    Lease(Reply<Option<Lease>>, Result<Option<Lease>>),
}

impl Done {
    /// A job the batch did not get to, or whose batch failed: it fails with `error`.
    fn failed(job: Job, error: &StoreError) -> Done {
        match job {
            Job::Write { reply, .. } => Done::Write(reply, Err(error.clone_backend())),
            Job::Lease { reply, .. } => Done::Lease(reply, Err(error.clone_backend())),
        }
    }

    fn fail(self, error: &StoreError) {
        match self {
            Done::Write(reply, _) => {
                let _ = reply.send(Err(error.clone_backend()));
            }
            Done::Lease(reply, _) => {
                let _ = reply.send(Err(error.clone_backend()));
            }
        }
    }

    fn send(self) {
        match self {
            Done::Write(reply, result) => {
                let _ = reply.send(result);
            }
            Done::Lease(reply, result) => {
                let _ = reply.send(result);
            }
        }
    }
}

/// The writer cannot go on: the connection's state is unknown.
struct Fatal(String);

/// Runs one statement that returns no rows, prepared once per connection.
fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(|_| ())
        .map_err(sql_error)
}

impl Writer {
    fn shared(&self) -> &Shared {
        &self.release.shared
    }

    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut pending = None;
        loop {
            let msg = match pending.take() {
                Some(msg) => msg,
                // A dedicated thread, outside any runtime: blocking here is its job.
                None => match rx.blocking_recv() {
                    Some(msg) => msg,
                    None => break,
                },
            };
            let step = match Job::of(msg) {
                Ok(job) => {
                    let mut batch = vec![job];
                    while batch.len() < self.max_batch {
                        match rx.try_recv().map(Job::of) {
                            Ok(Ok(job)) => batch.push(job),
                            Ok(Err(other)) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch).and_then(|()| self.auto_compact())
                }
                Err(Msg::Close) => {
                    // Refuse new messages; those already queued are still received.
                    rx.close();
                    Ok(())
                }
                Err(Msg::Compact { retain, reply }) => self.compact(retain).map(|result| {
                    let _ = reply.send(result);
                }),
                // `Job::of` took every other message.
                Err(Msg::Write { .. } | Msg::Lease { .. }) => Ok(()),
            };
            if let Err(Fatal(why)) = step {
                self.shared().set_failure(why);
                break;
            }
        }
        // Requests still queued after a failure are dropped here; their callers see the failure.
        drop(rx);
        drop(pending);
        let Writer { conn, release, .. } = self;
        if release.shared.failure().is_none() {
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        // Closed before the lock is released and `close` callers hear back (`release`).
        let _ = conn.close();
        drop(release);
    }

    /// Commits one group of requests; see the module documentation.
    fn commit_batch(&mut self, batch: Vec<Job>) -> Result<(), Fatal> {
        let autocommit = batch.len() == 1 && batch[0].is_single_statement();
        let shared_batch = batch.len() > 1;

        if !autocommit {
            if let Err(err) = exec(&self.conn, "BEGIN IMMEDIATE") {
                for job in batch {
                    Done::failed(job, &err).send();
                }
                return Ok(());
            }
        }

        let mut done = Vec::with_capacity(batch.len());
        let mut next = self.current;
        // Put back if the batch does not commit.
        let audit_before = self.audit_head.clone();
        // Whether anything succeeded that wrote: only then is there something to commit.
        let mut dirty = false;
        let mut broken = None;
        for job in batch {
            if let Some(e) = &broken {
                done.push(Done::failed(job, e));
                continue;
            }
            match job {
                Job::Write { ops, reply } => {
                    let writes = ops.iter().any(|op| !matches!(op, WriteOp::Check { .. }));
                    // A request sharing the transaction runs in its own savepoint, so that its
                    // refusal — or a statement error caused by its own data (malformed JSON
                    // for an index trigger, a value too big) — undoes it alone and the other
                    // requests of the group still commit.
                    let savepoint = shared_batch;
                    match self.apply_request(ops, next, savepoint) {
                        Ok(Ok(changes)) => {
                            next += changes.len() as i64;
                            dirty |= writes;
                            done.push(Done::Write(reply, Ok(changes)));
                        }
                        Ok(Err(e)) => done.push(Done::Write(reply, Err(e))),
                        Err(e) => {
                            done.push(Done::Write(reply, Err(e.clone_backend())));
                            broken = Some(e);
                        }
                    }
                }
                Job::Lease { op, reply } => {
                    let savepoint = shared_batch && exec(&self.conn, "SAVEPOINT request").is_ok();
                    match leases::apply(&self.conn, op) {
                        Ok(lease) => {
                            if savepoint && exec(&self.conn, "RELEASE request").is_err() {
                                let e = StoreError::Backend("cannot release a savepoint".into());
                                done.push(Done::Lease(reply, Err(e.clone_backend())));
                                broken = Some(e);
                                continue;
                            }
                            // A refused lease operation wrote nothing.
                            dirty |= lease.is_some();
                            done.push(Done::Lease(reply, Ok(lease)));
                        }
                        Err(e) => {
                            let e = StoreError::Backend(e.to_string());
                            let undone = savepoint
                                && !self.conn.is_autocommit()
                                && exec(&self.conn, "ROLLBACK TO request").is_ok()
                                && exec(&self.conn, "RELEASE request").is_ok();
                            done.push(Done::Lease(reply, Err(e.clone_backend())));
                            if !undone {
                                broken = Some(e);
                            }
                        }
                    }
                }
            }
        }

        let outcome = match broken {
            Some(e) => Err(e),
            None if !dirty => Ok(false),
            None if autocommit => Ok(true),
            None => exec(&self.conn, "COMMIT").map(|()| true),
        };

        match outcome {
            Ok(true) => {
                let published = next > self.current;
                if published {
                    self.since_compaction += u64::try_from(next - self.current).unwrap_or(0);
                    self.current = next;
                    self.publish(&done, next);
                }
                // The callers first, the watchers (controllers, watch streams) after: they
                // read the ring, already up to date, and are not waited for by a client.
                done.into_iter().for_each(Done::send);
                if published {
                    self.shared().notify.send_replace(next);
                }
                Ok(())
            }
            Ok(false) => {
                // Nothing succeeded: no commit, no fsync (and in autocommit, nothing to undo).
                self.audit_head = audit_before;
                if !autocommit {
                    self.rollback()?;
                }
                done.into_iter().for_each(Done::send);
                Ok(())
            }
            Err(e) => {
                // A database error fails the whole batch: SQLite may have rolled back the
                // transaction already, so nothing after the error is trusted.
                self.audit_head = audit_before;
                self.rollback()?;
                for d in done {
                    d.fail(&e);
                }
                Ok(())
            }
        }
    }

    /// Applies one request inside the open transaction. The outer error is a database error
    /// (the batch fails); the inner one is this request's refusal, already undone when it
    /// had a savepoint.
    fn apply_request(
        &mut self,
        ops: Vec<WriteOp>,
        base: i64,
        savepoint: bool,
    ) -> Result<Result<Vec<Change>>, StoreError> {
        if savepoint {
            exec(&self.conn, "SAVEPOINT request")?;
        }
        // A refused request leaves no audit record: the head goes back with it.
        let audit_before = self.audit_head.clone();
        let mut changes = Vec::with_capacity(ops.len());
        let mut refused = None;
        for op in ops {
            let revision = base + changes.len() as i64 + 1;
            match objects::apply_op(&self.conn, op, revision, &mut self.audit_head) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(OpError::Refused(e)) => {
                    refused = Some(e);
                    break;
                }
                Err(OpError::Db(e)) => {
                    self.audit_head = audit_before;
                    // Still inside the transaction (SQLite did not abandon it): undo this
                    // request alone and fail only it. Otherwise the batch is lost.
                    if savepoint
                        && !self.conn.is_autocommit()
                        && exec(&self.conn, "ROLLBACK TO request").is_ok()
                        && exec(&self.conn, "RELEASE request").is_ok()
                    {
                        return Ok(Err(e));
                    }
                    return Err(e);
                }
            }
        }
        if refused.is_some() {
            self.audit_head = audit_before;
        }
        if savepoint {
            if refused.is_some() {
                exec(&self.conn, "ROLLBACK TO request")?;
            }
            exec(&self.conn, "RELEASE request")?;
        }
        Ok(match refused {
            Some(e) => Err(e),
            None => Ok(changes),
        })
    }

    /// Makes the committed state visible to readers: ring, then current revision. The watch
    /// signal follows once the callers have their answers.
    fn publish(&self, done: &[Done], current: i64) {
        // Copied before the lock is taken, so readers of the ring wait for no copying.
        let fresh: Vec<Arc<Change>> = if self.ring_capacity > 0 {
            done.iter()
                .filter_map(|d| match d {
                    Done::Write(_, Ok(changes)) => Some(changes),
                    _ => None,
                })
                .flatten()
                .map(|change| Arc::new(change.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let mut state = self.shared().state();
        if self.ring_capacity > 0 {
            state.ring.extend(fresh);
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

    /// Undoes the open transaction and checks that the database is where we think it is.
    fn rollback(&mut self) -> Result<(), Fatal> {
        // SQLite rolls back by itself after some errors (a full disk, an I/O error): then
        // there is no transaction left to roll back.
        let rolled_back = if self.conn.is_autocommit() {
            Ok(())
        } else {
            exec(&self.conn, "ROLLBACK")
        };
        let why = match rolled_back {
            Err(e) => format!("rolling back failed: {e}"),
            Ok(()) => match read_revision(&self.conn) {
                Ok(rev) if rev == self.current => return Ok(()),
                Ok(rev) => format!(
                    "the database is at revision {rev} after a failed commit, expected {}",
                    self.current
                ),
                Err(e) => format!("reading the revision after a rollback failed: {e}"),
            },
        };
        // Recorded now, before the waiting callers are dropped and ask why.
        self.shared().set_failure(why.clone());
        Err(Fatal(why))
    }

    fn auto_compact(&mut self) -> Result<(), Fatal> {
        if let Some((retain, every)) = self.auto_compact {
            if self.since_compaction >= every {
                // A failed compaction is retried after another `every` writes.
                let _ = self.compact(retain)?;
                self.since_compaction = 0;
            }
        }
        Ok(())
    }

    /// Deletes all but the newest `retain` changes. The outer error is fatal.
    fn compact(&mut self, retain: usize) -> Result<Result<i64>, Fatal> {
        let target = self.compacted.max(
            self.current
                .saturating_sub(i64::try_from(retain).unwrap_or(i64::MAX)),
        );
        if target <= self.compacted {
            return Ok(Ok(self.compacted));
        }
        let attempt = (|| -> rusqlite::Result<()> {
            self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            self.conn
                .prepare_cached("DELETE FROM changes WHERE revision <= ?1")?
                .execute([target])?;
            self.conn
                .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'compacted_revision'")?
                .execute([target])?;
            self.conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(())
        })();
        if let Err(e) = attempt {
            self.rollback()?;
            return Ok(Err(sql_error(e)));
        }
        self.compacted = target;
        let mut state = self.shared().state();
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
