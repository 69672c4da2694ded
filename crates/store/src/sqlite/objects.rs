//! The ops of a transaction, applied inside the writer's open transaction: object writes
//! (create, update, delete), revision checks, and the dispatch to journal and node-record
//! ops ([`super::execution`]).

use super::{db, execution, parse};
use crate::{Change, ChangeType, ObjectKey, Result, StoreError, StoredObject, WriteOp};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteConnection;

/// Why an op did not apply.
pub(super) enum OpError {
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

/// Applies one op; an object write takes `revision` and returns its change, the other ops
/// return `None`. Inserts and updates of `resources` log their change by trigger; a delete
/// logs it here (the row is gone, and its change needs the new revision).
pub(super) async fn apply_op(
    conn: &mut SqliteConnection,
    op: WriteOp,
    revision: i64,
) -> Result<Option<Change>, OpError> {
    match op {
        WriteOp::Check { key, revision } => {
            check(conn, key, revision).await?;
            Ok(None)
        }
        WriteOp::AppendJournal {
            execution_uid,
            expected_next_seq,
            entries,
        } => {
            execution::append_journal(conn, &execution_uid, expected_next_seq, &entries).await?;
            Ok(None)
        }
        WriteOp::PutNodeRecords {
            execution_uid,
            records,
        } => {
            execution::put_node_records(conn, &execution_uid, &records).await?;
            Ok(None)
        }
        WriteOp::Create { key, uid, object } => {
            create(conn, key, uid, object, revision).await.map(Some)
        }
        WriteOp::Update {
            key,
            expected_revision,
            object,
        } => update(conn, key, expected_revision, object, revision)
            .await
            .map(Some),
        WriteOp::Delete {
            key,
            expected_revision,
        } => delete(conn, key, expected_revision, revision)
            .await
            .map(Some),
    }
}

/// `WriteOp::Check`: the object at `key` must be at `expected` (`None`: absent).
async fn check(
    conn: &mut SqliteConnection,
    key: ObjectKey,
    expected: Option<i64>,
) -> Result<(), OpError> {
    let actual = current_revision(conn, &key).await?;
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

async fn current_revision(
    conn: &mut SqliteConnection,
    key: &ObjectKey,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT revision FROM resources WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
    )
    .bind(key.kind.as_str())
    .bind(key.namespace.as_str())
    .bind(key.name.as_str())
    .fetch_optional(&mut *conn)
    .await
}

/// `WriteOp::Create` at `revision`.
async fn create(
    conn: &mut SqliteConnection,
    key: ObjectKey,
    uid: String,
    mut object: Value,
    revision: i64,
) -> Result<Change, OpError> {
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

/// `WriteOp::Update` at `revision`.
async fn update(
    conn: &mut SqliteConnection,
    key: ObjectKey,
    expected_revision: Option<i64>,
    mut object: Value,
    revision: i64,
) -> Result<Change, OpError> {
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

/// `WriteOp::Delete` at `revision`.
async fn delete(
    conn: &mut SqliteConnection,
    key: ObjectKey,
    expected_revision: Option<i64>,
    revision: i64,
) -> Result<Change, OpError> {
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

/// Why a conditional update or delete matched no row (it changed nothing).
async fn precondition_failure(
    conn: &mut SqliteConnection,
    key: ObjectKey,
    expected: Option<i64>,
) -> OpError {
    let actual = current_revision(conn, &key).await;
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
