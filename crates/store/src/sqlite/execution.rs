//! Execution journals and node records: the write side (ops applied by the writer thread
//! inside its transaction, synchronously) and the read side (on the read pool).
//!
//! Both tables are keyed by the Execution's uid; a trigger deletes an Execution's rows in the
//! statement that deletes the Execution (migration 0002). Writes first check that an Execution
//! with that uid exists, so no journal outlives its Execution.

use super::objects::OpError;
use super::{sql_error, text};
use crate::{JournalEntry, NodeRecord, NodeRecordPage, NodeRecordQuery, Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use serde_json::Value;

/// Rows per multi-row `INSERT` (3 or 4 parameters each, far below SQLite's limit).
const ROWS_PER_INSERT: usize = 200;

/// Whether an Execution has uid `?1`. The kind is a literal, so the partial index on
/// Executions' uids applies (bound values never choose a plan: see `configure`).
const REQUIRE_EXECUTION: &str =
    "SELECT 1 FROM resources WHERE kind = 'Execution' AND uid = ?1 LIMIT 1";

/// Refuses an op on `uid` unless an Execution with that uid exists.
fn require_execution(conn: &Connection, uid: &str) -> Result<(), OpError> {
    let found: Option<i64> = conn
        .prepare_cached(REQUIRE_EXECUTION)?
        .query_row([uid], |row| row.get(0))
        .optional()?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::ExecutionNotFound(uid.to_owned()).into()),
    }
}

/// The number of entries in the journal of `uid` (its next sequence number): on the writer's
/// connection inside its transaction, or on a reader.
pub(super) fn journal_len(conn: &Connection, uid: &str) -> rusqlite::Result<u64> {
    let next: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq) + 1, 0) FROM journal WHERE execution_uid = ?1")?
        .query_row([uid], |row| row.get(0))?;
    // `seq >= 0` is a CHECK of the table.
    Ok(u64::try_from(next).unwrap_or(0))
}

/// `WriteOp::AppendJournal`.
pub(super) fn append_journal(
    conn: &Connection,
    uid: &str,
    expected_next_seq: u64,
    entries: &[Value],
) -> Result<(), OpError> {
    require_execution(conn, uid)?;
    let actual = journal_len(conn, uid)?;
    if actual != expected_next_seq {
        return Err(StoreError::JournalConflict {
            execution_uid: uid.to_owned(),
            expected: expected_next_seq,
            actual,
        }
        .into());
    }
    let first = i64::try_from(actual)
        .ok()
        .filter(|first| first.checked_add(entries.len() as i64).is_some())
        .ok_or_else(|| StoreError::Backend(format!("the journal of execution {uid} is full")))?;
    for (chunk_index, chunk) in entries.chunks(ROWS_PER_INSERT).enumerate() {
        let mut sql = String::from("INSERT INTO journal (execution_uid, seq, entry) VALUES ");
        push_rows(&mut sql, chunk.len(), 3);
        let base = first + (chunk_index * ROWS_PER_INSERT) as i64;
        let rows: Vec<(i64, String)> = chunk
            .iter()
            .enumerate()
            .map(|(i, entry)| (base + i as i64, entry.to_string()))
            .collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(rows.len() * 3);
        for (seq, entry) in &rows {
            values.extend([&uid as &dyn ToSql, seq, entry]);
        }
        execute_rows(conn, &sql, chunk.len() == ROWS_PER_INSERT, &values)?;
    }
    Ok(())
}

/// `WriteOp::PutNodeRecords`: upserts by node id.
pub(super) fn put_node_records(
    conn: &Connection,
    uid: &str,
    records: &[NodeRecord],
) -> Result<(), OpError> {
    require_execution(conn, uid)?;
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO node_records (execution_uid, node_id, phase, record) VALUES ",
        );
        push_rows(&mut sql, chunk.len(), 4);
        sql.push_str(
            " ON CONFLICT (execution_uid, node_id) DO UPDATE \
             SET phase = excluded.phase, record = excluded.record",
        );
        let texts: Vec<String> = chunk.iter().map(|r| r.record.to_string()).collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 4);
        for (r, text) in chunk.iter().zip(&texts) {
            values.extend([&uid as &dyn ToSql, &r.node_id, &r.phase, text]);
        }
        execute_rows(conn, &sql, chunk.len() == ROWS_PER_INSERT, &values)?;
    }
    Ok(())
}

/// Runs a multi-row statement; a full chunk's statement (always the same text) is cached,
/// a shorter last chunk's is prepared once and dropped.
fn execute_rows(
    conn: &Connection,
    sql: &str,
    cache: bool,
    values: &[&dyn ToSql],
) -> Result<(), OpError> {
    if cache {
        conn.prepare_cached(sql)?.execute(values)?;
    } else {
        conn.prepare(sql)?.execute(values)?;
    }
    Ok(())
}

/// Appends `rows` groups of `columns` placeholders: `(?, ?, ?), (?, ?, ?)`.
fn push_rows(sql: &mut String, rows: usize, columns: usize) {
    let row = format!("({})", vec!["?"; columns].join(", "));
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
}

/// `Store::read_journal`, on a reader.
pub(super) fn read_journal(
    conn: &Connection,
    uid: &str,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<JournalEntry>> {
    let Ok(from) = i64::try_from(from_seq) else {
        return Ok(Vec::new());
    };
    let limit = if limit == 0 {
        -1
    } else {
        i64::try_from(limit).unwrap_or(-1)
    };
    let mut statement = conn
        .prepare_cached(
            "SELECT seq, entry FROM journal WHERE execution_uid = ?1 AND seq >= ?2 \
             ORDER BY seq LIMIT ?3",
        )
        .map_err(sql_error)?;
    let mut rows = statement
        .query(params![uid, from, limit])
        .map_err(sql_error)?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        let seq: i64 = row.get(0).map_err(sql_error)?;
        entries.push(JournalEntry {
            seq: u64::try_from(seq).map_err(|_| {
                StoreError::Backend(format!("journal of {uid}: negative seq {seq}"))
            })?,
            entry: parse_json(text(row, 1).map_err(sql_error)?, || {
                format!("journal entry {seq} of {uid}")
            })?,
        });
    }
    Ok(entries)
}

/// `Store::list_node_records`, on a reader.
pub(super) fn list_node_records(
    conn: &Connection,
    query: &NodeRecordQuery,
) -> Result<NodeRecordPage> {
    // One more than the page, to know whether more follow.
    let limit = query.limit.filter(|&l| l > 0);
    let fetch = limit
        .and_then(|l| i64::try_from(l.saturating_add(1)).ok())
        .unwrap_or(-1);
    // Plain conditions (no `? IS NULL OR …`), so the index range applies: by
    // (uid, node_id) or by (uid, phase, node_id).
    let mut sql =
        String::from("SELECT node_id, phase, record FROM node_records WHERE execution_uid = ?");
    let mut values: Vec<&dyn ToSql> = vec![&query.execution_uid];
    if let Some(phase) = &query.phase {
        sql.push_str(" AND phase = ?");
        values.push(phase);
    }
    if let Some(after) = &query.continue_after {
        sql.push_str(" AND node_id > ?");
        values.push(after);
    }
    // A matrix's instances are `<node>-<hex>`: the id range `[<node>-, <node>.)` (`.` follows
    // `-`) keeps the index range; the `matrix` field makes it exact.
    let range = query
        .matrix
        .as_ref()
        .map(|m| (format!("{m}-"), format!("{m}."), m.clone()));
    if let Some((from, to, matrix)) = &range {
        sql.push_str(" AND node_id >= ? AND node_id < ? AND json_extract(record, '$.matrix') = ?");
        values.extend([from as &dyn ToSql, to, matrix]);
    }
    sql.push_str(" ORDER BY node_id LIMIT ?");
    values.push(&fetch);
    let mut statement = conn.prepare_cached(&sql).map_err(sql_error)?;
    let mut rows = statement.query(values.as_slice()).map_err(sql_error)?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        let node_id: String = row.get(0).map_err(sql_error)?;
        let record = parse_json(text(row, 2).map_err(sql_error)?, || {
            format!("node record {node_id} of execution {}", query.execution_uid)
        })?;
        records.push(NodeRecord {
            phase: row.get(1).map_err(sql_error)?,
            node_id,
            record,
        });
    }
    let mut continue_after = None;
    if let Some(limit) = limit {
        if records.len() > limit {
            records.truncate(limit);
            continue_after = records.last().map(|r| r.node_id.clone());
        }
    }
    Ok(NodeRecordPage {
        records,
        continue_after,
    })
}

fn parse_json(text: &str, what: impl FnOnce() -> String) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("{} is not valid JSON: {e}", what())))
}

#[cfg(test)]
mod tests {
    use super::REQUIRE_EXECUTION;
    use crate::{SqliteOptions, SqliteStore, EXECUTION_KIND};

    /// The uid check of journal and node-record writes finds Executions through their
    /// partial index, not by scanning every object.
    #[tokio::test]
    async fn the_execution_check_uses_the_partial_index() {
        assert!(REQUIRE_EXECUTION.contains(&format!("kind = '{EXECUTION_KIND}'")));
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())
            .await
            .unwrap();
        let plan: Vec<String> = store
            .readers
            .inline(|conn| {
                let mut statement = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {REQUIRE_EXECUTION}"))
                    .map_err(super::sql_error)?;
                let rows = statement
                    .query_map(["u"], |row| row.get(3))
                    .map_err(super::sql_error)?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(super::sql_error)
            })
            .unwrap();
        assert!(
            plan.iter().any(|p| p.contains("resources_execution_uid")),
            "{plan:?}"
        );
        store.close().await;
    }
}
