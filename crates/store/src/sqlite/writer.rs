//! The writer task: the only write connection, group commit, publication of changes to
//! readers and watchers, and compaction. See the module documentation of [`super`].

use super::leases::{self, LeaseOp};
use super::lock::LockFile;
use super::objects::{self, OpError};
use super::{db, db_exec as exec, read_meta, Shared, SqliteOptions};
use crate::{Change, Lease, Result, StoreError, WriteOp};
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;
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

/// Starts the writer on `conn` and returns its queue.
pub(super) fn spawn(
    conn: SqliteConnection,
    shared: Arc<Shared>,
    current: i64,
    compacted: i64,
    options: &SqliteOptions,
    lock: LockFile,
) -> mpsc::Sender<Msg> {
    let (queue, rx) = mpsc::channel(options.queue_capacity.max(1));
    let writer = Writer {
        conn,
        shared,
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
    queue
}

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
                    match self.commit_batch(batch).await {
                        Ok(()) => self.auto_compact().await,
                        Err(fatal) => Err(fatal),
                    }
                }
                Err(Msg::Close) => {
                    // Refuse new messages; those already queued are still received.
                    rx.close();
                    Ok(())
                }
                Err(Msg::Compact { retain, reply }) => match self.compact(retain).await {
                    Ok(result) => {
                        let _ = reply.send(result);
                        Ok(())
                    }
                    Err(fatal) => Err(fatal),
                },
                // `Job::of` took every other message.
                Err(Msg::Write { .. } | Msg::Lease { .. }) => Ok(()),
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
    async fn commit_batch(&mut self, batch: Vec<Job>) -> Result<(), Fatal> {
        let autocommit = batch.len() == 1 && batch[0].is_single_statement();
        let shared_batch = batch.len() > 1;

        if !autocommit {
            if let Err(e) = exec(&mut self.conn, "BEGIN IMMEDIATE").await {
                let err = db(e);
                for job in batch {
                    Done::failed(job, &err).send();
                }
                return Ok(());
            }
        }

        let mut done = Vec::with_capacity(batch.len());
        let mut next = self.current;
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
                    // A request of one op that is refused has changed nothing; a longer one
                    // sharing the transaction needs a savepoint to undo its first ops alone.
                    let savepoint = shared_batch && ops.len() > 1;
                    match self.apply_request(ops, next, savepoint).await {
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
                Job::Lease { op, reply } => match leases::apply(&mut self.conn, op).await {
                    Ok(lease) => {
                        // A refused lease operation wrote nothing.
                        dirty |= lease.is_some();
                        done.push(Done::Lease(reply, Ok(lease)));
                    }
                    Err(e) => {
                        let e = db(e);
                        done.push(Done::Lease(reply, Err(e.clone_backend())));
                        broken = Some(e);
                    }
                },
            }
        }

        let outcome = match broken {
            Some(e) => Err(e),
            None if !dirty => Ok(false),
            None if autocommit => Ok(true),
            None => exec(&mut self.conn, "COMMIT")
                .await
                .map(|()| true)
                .map_err(db),
        };

        match outcome {
            Ok(true) => {
                if next > self.current {
                    self.since_compaction += u64::try_from(next - self.current).unwrap_or(0);
                    self.current = next;
                    self.publish(&done, next);
                }
                done.into_iter().for_each(Done::send);
                Ok(())
            }
            Ok(false) => {
                // Nothing succeeded: no commit, no fsync (and in autocommit, nothing to undo).
                if !autocommit {
                    self.rollback().await?;
                }
                done.into_iter().for_each(Done::send);
                Ok(())
            }
            Err(e) => {
                // A database error fails the whole batch: SQLite may have rolled back the
                // transaction already, so nothing after the error is trusted.
                self.rollback().await?;
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
        for op in ops {
            let revision = base + changes.len() as i64 + 1;
            match objects::apply_op(&mut self.conn, op, revision).await {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
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
    fn publish(&self, done: &[Done], current: i64) {
        {
            let mut state = self.shared.state();
            if self.ring_capacity > 0 {
                let changes = done.iter().filter_map(|d| match d {
                    Done::Write(_, Ok(changes)) => Some(changes),
                    _ => None,
                });
                for change in changes.flatten() {
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
