//! The audit log: appending (on the writer thread, inside its transaction, with the chain's
//! head kept in memory by the writer) and reading (on the read pool, or from a file opened
//! read-only by [`AuditFile`] for offline verification).
//!
//! Every field of a record is a column (migration 0003), and a read rebuilds the record from
//! the columns alone, so an edit of any column shows as a hash mismatch at that row. A column
//! that no longer parses (groups or details that are not JSON) is read as its raw text, which
//! never hashes like the original: the chain check reports that row instead of the read failing.

use super::objects::OpError;
use super::{configure, read, sql_error};
use crate::{AuditEntry, AuditPage, AuditQuery, AuditRecord, ChainHead, Result, StoreError};
use planspec_model::actor::UserInfo;
use planspec_model::audit::{AuditOutcome, AuditResource, Decision};
use rusqlite::{params, Connection, OpenFlags, Row, ToSql};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The head of the chain as the `audit_head` row records it.
pub(super) fn read_head(conn: &Connection) -> Result<ChainHead> {
    conn.prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")
        .and_then(|mut statement| {
            statement.query_row([], |row| {
                Ok(ChainHead {
                    seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                    hash: row.get(1)?,
                })
            })
        })
        .map_err(sql_error)
}

/// `WriteOp::AppendAudit`: seals `entry` after `head`, inserts it, and moves `head` on. The
/// table's triggers check the link and advance the recorded head in the same statement.
pub(super) fn append(
    conn: &Connection,
    head: &mut ChainHead,
    entry: AuditEntry,
) -> Result<(), OpError> {
    let record = AuditRecord::seal(entry, head);
    let e = &record.entry;
    let groups = serde_json::to_string(&e.actor.groups)
        .map_err(|err| OpError::Refused(StoreError::Backend(err.to_string())))?;
    let details = match &e.details {
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let seq = i64::try_from(record.seq)
        .map_err(|_| OpError::Db(StoreError::Backend("the audit log is full".into())))?;
    conn.prepare_cached(
        "INSERT INTO audit (seq, time, actor, groups, verb, api_group, resource, namespace, name, \
         subresource, path, code, decision, reason, request_id, details, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?
    .execute(params![
        seq,
        e.time,
        e.actor.username,
        groups,
        e.verb,
        e.resource.group,
        e.resource.resource,
        e.resource.namespace,
        e.resource.name,
        e.resource.subresource,
        e.resource.path,
        e.outcome.code,
        e.outcome.decision.as_str(),
        e.outcome.reason,
        e.request_id,
        details,
        record.prev_hash,
        record.hash,
    ])?;
    *head = record.head();
    Ok(())
}

const COLUMNS: &str = "seq, time, actor, groups, verb, api_group, resource, namespace, name, \
                       subresource, path, code, decision, reason, request_id, details, prev_hash, hash";

/// `Store::read_audit` on a reader: the records and the head in one snapshot.
pub(super) fn read_page(conn: &Connection, query: &AuditQuery) -> Result<AuditPage> {
    read::snapshot(conn, || {
        let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE seq > ?1");
        let after = i64::try_from(query.after_seq).unwrap_or(i64::MAX);
        let mut values: Vec<&dyn ToSql> = vec![&after];
        for (column, value) in [
            ("actor", &query.actor),
            ("namespace", &query.namespace),
            ("resource", &query.resource),
        ] {
            if let Some(value) = value {
                values.push(value);
                sql.push_str(&format!(" AND {column} = ?{}", values.len()));
            }
        }
        sql.push_str(" ORDER BY seq");
        // One more than asked tells whether more follow.
        let fetch = (query.limit > 0).then(|| i64::try_from(query.limit + 1).unwrap_or(i64::MAX));
        if let Some(fetch) = &fetch {
            values.push(fetch);
            sql.push_str(&format!(" LIMIT ?{}", values.len()));
        }
        let mut statement = conn.prepare_cached(&sql).map_err(sql_error)?;
        let mut records = statement
            .query_map(values.as_slice(), record_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql_error)?;
        let more = query.limit > 0 && records.len() > query.limit;
        records.truncate(if query.limit > 0 {
            query.limit
        } else {
            records.len()
        });
        Ok(AuditPage {
            records,
            head: read_head(conn)?,
            more,
        })
    })
}

/// A record rebuilt from its row; see the module documentation for unreadable columns.
fn record_of(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let groups_text: String = row.get(3)?;
    let groups =
        serde_json::from_str::<Vec<String>>(&groups_text).unwrap_or_else(|_| vec![groups_text]);
    let details = match row.get::<_, Option<String>>(15)? {
        None => Value::Null,
        Some(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
    };
    let decision_text: String = row.get(12)?;
    let reason: String = row.get(13)?;
    // A decision the store never writes reads as `error`, with its text kept in the reason
    // so that the record cannot hash as the one written.
    let (decision, reason) = match decision_text.as_str() {
        "allowed" => (Decision::Allowed, reason),
        "denied" => (Decision::Denied, reason),
        "error" => (Decision::Error, reason),
        other => (Decision::Error, format!("{reason}\u{0}{other}")),
    };
    Ok(AuditRecord {
        seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
        entry: AuditEntry {
            time: row.get(1)?,
            actor: UserInfo {
                username: row.get(2)?,
                groups,
            },
            verb: row.get(4)?,
            resource: AuditResource {
                group: row.get(5)?,
                resource: row.get(6)?,
                namespace: row.get(7)?,
                name: row.get(8)?,
                subresource: row.get(9)?,
                path: row.get(10)?,
            },
            outcome: AuditOutcome {
                code: row
                    .get::<_, Option<i64>>(11)?
                    .map(|c| u16::try_from(c).unwrap_or(u16::MAX)),
                decision,
                reason,
            },
            request_id: row.get(14)?,
            details,
        },
        prev_hash: row.get(16)?,
        hash: row.get(17)?,
    })
}

/// A store file opened read-only for reading its audit log, without the store's writer or its
/// lock: `planspec audit verify --store sqlite:PATH` reads a file that a server may be using.
pub struct AuditFile {
    conn: Connection,
}

impl AuditFile {
    /// Opens the store file at `path` read-only. Fails if it is not a store with an audit log.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditFile> {
        let path = path.as_ref();
        let shown = path.display();
        if !path.is_file() {
            return Err(StoreError::Backend(format!("{shown}: no such store file")));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|conn| configure(&conn, Duration::from_secs(5)).map(|()| conn))
        .map_err(|e| StoreError::Backend(format!("cannot open {shown}: {e}")))?;
        let has_audit: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('audit', 'audit_head')",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n == 2)
            .map_err(|e| StoreError::Backend(format!("cannot read {shown}: {e}")))?;
        if !has_audit {
            return Err(StoreError::Backend(format!(
                "{shown} has no audit log (not a PlanSpec store, or one written before the audit log existed)"
            )));
        }
        Ok(AuditFile { conn })
    }

    /// One page of records with the recorded head, as [`crate::Store::read_audit`].
    pub fn read(&self, query: &AuditQuery) -> Result<AuditPage> {
        read_page(&self.conn, query)
    }
}
