//! The read side's connections: read-only `rusqlite` connections, opened on demand and kept
//! up to `keep` idle, concurrent with the writer thanks to WAL.
//!
//! **Where a read runs.** A point read (one row by key: `get`, a journal's length) runs
//! inline, on the caller's thread ([`Readers::inline`]): it is a few microseconds of SQLite
//! work, less than the two thread wake-ups of sending it elsewhere and back. It cannot wait on
//! the writer: in WAL mode a reader reads its snapshot while the writer appends, and the
//! writer's automatic checkpoints are passive (only the last one, at close, waits for readers,
//! and `close` lets the readers finish first). Every other read (lists, change-log pages,
//! journals, node records, leases), whose size the caller decides, runs on the runtime's
//! blocking pool ([`Readers::blocking`]): one hop there and one back, however many statements
//! it runs.
//!
//! A read that needs one snapshot runs inside one read transaction; a point read is one
//! autocommit statement, reset when done, so no idle connection keeps a snapshot open.

use super::{configure, sql_error};
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Read-only connections; see the module documentation.
pub(super) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    keep: usize,
    idle: Mutex<Idle>,
    /// Connections lent out right now; `close` waits for it to reach zero.
    lent: watch::Sender<usize>,
}

struct Idle {
    connections: Vec<Connection>,
    closed: bool,
}

/// One read in flight, counted until dropped (also when the read panics).
struct InFlight<'a>(&'a Readers);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.lent.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Readers {
    /// Readers of the database at `path`, keeping up to `keep` idle connections.
    pub(super) fn new(path: PathBuf, busy_timeout: Duration, keep: usize) -> Readers {
        Readers {
            path,
            busy_timeout,
            keep: keep.max(1),
            idle: Mutex::new(Idle {
                connections: Vec::new(),
                closed: false,
            }),
            lent: watch::channel(0).0,
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // The list of idle connections stays consistent whatever panicked while holding it.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `read` on the caller's thread, for reads of one row (see the module documentation).
    pub(super) fn inline<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let (_in_flight, idle) = self.start()?;
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&conn);
        self.put_back(conn);
        result
    }

    /// Runs `read` on the runtime's blocking pool, for reads of many rows.
    pub(super) async fn blocking<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || readers.inline(read))
            .await
            .map_err(|e| StoreError::Backend(format!("a read failed: {e}")))?
    }

    /// Counts a read in (refused once closed) and takes an idle connection, if any.
    fn start(&self) -> Result<(InFlight<'_>, Option<Connection>)> {
        let mut idle = self.idle();
        if idle.closed {
            return Err(StoreError::Backend("the store is closed".into()));
        }
        self.lent.send_modify(|n| *n += 1);
        Ok((InFlight(self), idle.connections.pop()))
    }

    /// Keeps `conn` for the next read, or closes it if the store closed meanwhile, enough are
    /// idle, or a failed read left a transaction open (an idle snapshot would keep the WAL from
    /// being checkpointed).
    fn put_back(&self, conn: Connection) {
        let spare = {
            let mut idle = self.idle();
            if !idle.closed && idle.connections.len() < self.keep && conn.is_autocommit() {
                idle.connections.push(conn);
                None
            } else {
                Some(conn)
            }
        };
        // Closed outside the lock.
        drop(spare);
    }

    fn connect(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot open {} for reading: {e}",
                self.path.display()
            ))
        })?;
        configure(&conn, self.busy_timeout).map_err(sql_error)?;
        // A list walks many pages: give each reader a 16 MiB page cache.
        conn.execute_batch("PRAGMA cache_size = -16384")
            .map_err(sql_error)?;
        Ok(conn)
    }

    /// Refuses new reads, closes the idle connections and waits for the reads in flight
    /// (whose connections are closed as they finish).
    pub(super) async fn close(&self) {
        let connections = {
            let mut idle = self.idle();
            idle.closed = true;
            std::mem::take(&mut idle.connections)
        };
        drop(connections);
        let mut lent = self.lent.subscribe();
        // The sender lives in `self`: this cannot fail.
        let _ = lent.wait_for(|&n| n == 0).await;
    }
}

/// Runs `read` inside one read transaction: every statement it runs sees one snapshot.
pub(super) fn snapshot<T>(conn: &Connection, read: impl FnOnce() -> Result<T>) -> Result<T> {
    let exec = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map_err(sql_error)
    };
    exec("BEGIN")?;
    let result = read();
    // A read transaction has nothing to keep: ending it either way only drops the snapshot.
    let end = exec(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let value = result?;
    end?;
    Ok(value)
}
