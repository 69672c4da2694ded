//! The ops of a transaction, applied by the writer thread inside its open transaction: object
//! writes (create, update, delete), revision checks, and the dispatch to journal and
//! node-record ops ([`super::execution`]). Synchronous: every statement is a call into SQLite
//! on the writer's own thread, through its cache of prepared statements.

use super::{audit, execution, parse, sql_error};
use crate::{ChainHead, Change, ChangeType, ObjectKey, Result, StoreError, StoredObject, WriteOp};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

/// Why an op did not apply.
pub(super) enum OpError {
    /// The op is refused (exists, not found, conflict, not an object) and changed nothing.
    Refused(StoreError),
    /// The database failed (or holds something unreadable): the batch fails.
    Db(StoreError),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::Db(sql_error(e))
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Refused(e)
    }
}

/// Applies one op; an object write takes `revision` and returns its change, the other ops
/// return `None`. Inserts and updates of `resources` log their change by trigger; a delete
/// logs it here (the row is gone, and its change needs the new revision). An audit append
/// seals its record after `audit_head` and moves it on.
pub(super) fn apply_op(
    conn: &Connection,
    op: WriteOp,
    revision: i64,
    audit_head: &mut ChainHead,
) -> Result<Option<Change>, OpError> {
    match op {
        WriteOp::AppendAudit(entry) => {
            audit::append(conn, audit_head, entry)?;
            Ok(None)
        }
        WriteOp::Check { key, revision } => {
            check(conn, key, revision)?;
            Ok(None)
        }
        WriteOp::AppendJournal {
            execution_uid,
            expected_next_seq,
            entries,
        } => {
            execution::append_journal(conn, &execution_uid, expected_next_seq, &entries)?;
            Ok(None)
        }
        WriteOp::PutNodeRecords {
            execution_uid,
            records,
        } => {
            execution::put_node_records(conn, &execution_uid, &records)?;
            Ok(None)
        }
        WriteOp::Create { key, uid, object } => create(conn, key, uid, object, revision).map(Some),
        WriteOp::Update {
            key,
            expected_revision,
            object,
        } => update(conn, key, expected_revision, object, revision).map(Some),
        WriteOp::Delete {
            key,
            expected_revision,
        } => delete(conn, key, expected_revision, revision).map(Some),
    }
}

/// `WriteOp::Check`: the object at `key` must be at `expected` (`None`: absent).
fn check(conn: &Connection, key: ObjectKey, expected: Option<i64>) -> Result<(), OpError> {
    let actual = current_revision(conn, &key)?;
    if actual == expected {
        return Ok(());
    }
    Err(StoreError::Conflict {
        key,
        expected: expected.unwrap_or(0),
        actual: actual.unwrap_or(0),
    }
    .into())
}

fn current_revision(conn: &Connection, key: &ObjectKey) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT revision FROM resources WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
    )?
    .query_row(params![key.kind, key.namespace, key.name], |row| row.get(0))
    .optional()
}

/// `WriteOp::Create` at `revision`.
fn create(
    conn: &Connection,
    key: ObjectKey,
    uid: String,
    mut object: Value,
    revision: i64,
) -> Result<Change, OpError> {
    stamp(&key, &mut object, revision)?;
    let (labels, text) = serialize(&key, &object)?;
    // `execute` steps the statement to its end, where an autocommit statement commits and
    // reports a failed commit.
    let inserted = conn
        .prepare_cached(
            "INSERT INTO resources \
             (kind, namespace, name, uid, revision, created_revision, labels, object) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            key.kind,
            key.namespace,
            key.name,
            uid,
            revision,
            labels,
            text
        ])?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists(key).into());
    }
    Ok(Change {
        revision,
        change_type: ChangeType::Added,
        object: StoredObject {
            key,
            uid,
            revision,
            created_revision: revision,
            object,
        },
    })
}

/// `WriteOp::Update` at `revision`.
fn update(
    conn: &Connection,
    key: ObjectKey,
    expected_revision: Option<i64>,
    mut object: Value,
    revision: i64,
) -> Result<Change, OpError> {
    stamp(&key, &mut object, revision)?;
    let (labels, text) = serialize(&key, &object)?;
    let mut statement = conn.prepare_cached(
        "UPDATE resources SET revision = ?1, labels = ?2, object = ?3 \
         WHERE kind = ?4 AND namespace = ?5 AND name = ?6 \
         AND (?7 IS NULL OR revision = ?7) \
         RETURNING uid, created_revision",
    )?;
    let mut rows = statement.query(params![
        revision,
        labels,
        text,
        key.kind,
        key.namespace,
        key.name,
        expected_revision
    ])?;
    // Read to the end, not just the first row: the statement must run to its end, where an
    // autocommit statement commits and reports a failed commit (a statement that is merely
    // reset after its first row commits there too, but its error is lost).
    let mut row = None;
    while let Some(r) = rows.next()? {
        row = Some((r.get::<_, String>(0)?, r.get::<_, i64>(1)?));
    }
    drop(rows);
    drop(statement);
    let Some((uid, created_revision)) = row else {
        return Err(precondition_failure(conn, key, expected_revision));
    };
    Ok(Change {
        revision,
        change_type: ChangeType::Modified,
        object: StoredObject {
            key,
            uid,
            revision,
            created_revision,
            object,
        },
    })
}

/// `WriteOp::Delete` at `revision`.
fn delete(
    conn: &Connection,
    key: ObjectKey,
    expected_revision: Option<i64>,
    revision: i64,
) -> Result<Change, OpError> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM resources \
         WHERE kind = ?1 AND namespace = ?2 AND name = ?3 \
         AND (?4 IS NULL OR revision = ?4) \
         RETURNING uid, created_revision, object",
    )?;
    let mut rows = statement.query(params![
        key.kind,
        key.namespace,
        key.name,
        expected_revision
    ])?;
    let mut row = None;
    while let Some(r) = rows.next()? {
        row = Some((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ));
    }
    drop(rows);
    drop(statement);
    let Some((uid, created_revision, stored)) = row else {
        return Err(precondition_failure(conn, key, expected_revision));
    };
    // The row is already deleted: from here on, any failure is the database's
    // (the savepoint or the batch undoes the delete).
    let mut object = parse(&key, &stored).map_err(OpError::Db)?;
    stamp(&key, &mut object, revision).map_err(OpError::Db)?;
    let text = object.to_string();
    conn.prepare_cached(
        "INSERT INTO changes \
         (revision, change_type, kind, namespace, name, uid, created_revision, object) \
         VALUES (?1, 'DELETED', ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        revision,
        key.kind,
        key.namespace,
        key.name,
        uid,
        created_revision,
        text
    ])?;
    Ok(Change {
        revision,
        change_type: ChangeType::Deleted,
        object: StoredObject {
            key,
            uid,
            revision,
            created_revision,
            object,
        },
    })
}

/// Why a conditional update or delete matched no row (it changed nothing).
fn precondition_failure(conn: &Connection, key: ObjectKey, expected: Option<i64>) -> OpError {
    match (current_revision(conn, &key), expected) {
        (Err(e), _) => e.into(),
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
