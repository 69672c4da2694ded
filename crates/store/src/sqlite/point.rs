//! Point reads (`Store::get`): one row by primary key, read on the caller's own thread from a
//! small set of read-only `rusqlite` connections.
//!
//! A get is a few microseconds of SQLite work; sending it to a pool connection's worker thread
//! and back (as the read pool does for lists) costs more than the read itself: two thread
//! wake-ups and a task spawn to return the connection. So a get runs inline. It cannot wait on
//! the writer: in WAL mode a reader reads its snapshot while the writer appends, and the
//! writer's automatic checkpoints are passive (only the last one, at close, waits for readers).
//! Each read is its own autocommit statement, reset when done, so no connection keeps a
//! snapshot open between gets.

use super::{parse, sql_error};
use crate::{ObjectKey, Result, StoreError, StoredObject};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const GET: &str = "SELECT uid, revision, created_revision, object FROM resources \
                   WHERE kind = ?1 AND namespace = ?2 AND name = ?3";

/// Read-only connections for point reads, opened on demand and kept up to `keep` idle.
pub(super) struct PointReader {
    path: PathBuf,
    busy_timeout: Duration,
    keep: usize,
    idle: Mutex<Idle>,
}

struct Idle {
    connections: Vec<Connection>,
    closed: bool,
}

impl PointReader {
    pub(super) fn new(path: PathBuf, busy_timeout: Duration, keep: usize) -> PointReader {
        PointReader {
            path,
            busy_timeout,
            keep: keep.max(1),
            idle: Mutex::new(Idle {
                connections: Vec::new(),
                closed: false,
            }),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // The list of idle connections stays consistent whatever panicked while holding it.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The object at `key`, if any.
    pub(super) fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>> {
        let conn = {
            let mut idle = self.idle();
            if idle.closed {
                return Err(StoreError::Backend("the store is closed".into()));
            }
            idle.connections.pop()
        };
        let conn = match conn {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let row = conn
            .prepare_cached(GET)
            .and_then(|mut statement| {
                statement
                    .query_row(params![key.kind, key.namespace, key.name], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, String>(3)?,
                        ))
                    })
                    .optional()
            })
            .map_err(sql_error);
        self.put_back(conn);
        row?.map(|(uid, revision, created_revision, object)| {
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
        conn.busy_timeout(self.busy_timeout).map_err(sql_error)?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle();
        if !idle.closed && idle.connections.len() < self.keep {
            idle.connections.push(conn);
        }
    }

    /// Closes the idle connections; later gets fail. Gets in flight finish, and close their
    /// connection when done.
    pub(super) fn close(&self) {
        let connections = {
            let mut idle = self.idle();
            idle.closed = true;
            std::mem::take(&mut idle.connections)
        };
        drop(connections);
    }
}
