//! The audit chain on a real SQLite file: records survive a reopen and the chain goes on from
//! the recorded head; editing, deleting, swapping rows or cutting the tail off with a second,
//! independent driver (sqlx) — after dropping the append-only triggers, as an attacker with
//! the file would — is caught at the right record by the same verification the CLI runs.

use planspec_model::actor::UserInfo;
use planspec_model::audit::{verify_chain, AuditOutcome, AuditResource, ChainError};
use planspec_store::sqlite::AuditFile;
use planspec_store::{AuditEntry, AuditQuery, SqliteOptions, SqliteStore, Store, WriteOp};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const RECORDS: u64 = 10;

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        time: format!("2026-01-01T00:00:{i:02}.000Z"),
        actor: UserInfo::new(format!("user{}", i % 3), ["system:authenticated"]),
        verb: "create".to_owned(),
        resource: AuditResource {
            group: "planspec.io".to_owned(),
            resource: "plans".to_owned(),
            namespace: "default".to_owned(),
            name: format!("plan-{i}"),
            ..Default::default()
        },
        outcome: AuditOutcome::http(201),
        request_id: format!("req-{i}"),
        details: json!({"i": i}),
    }
}

/// A store file holding a chain of [`RECORDS`] records, closed.
async fn chain_file() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    for i in 1..=RECORDS {
        store
            .transact(vec![WriteOp::AppendAudit(entry(i))])
            .await
            .unwrap();
    }
    store.close().await;
    (dir, path)
}

async fn tamper(path: &Path, statements: &[&str]) {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER IF EXISTS audit_no_update")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER IF EXISTS audit_no_delete")
        .execute(&mut conn)
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

/// Reads the whole chain offline, in pages, and verifies it.
fn verify_file(path: &Path) -> Result<u64, ChainError> {
    let file = AuditFile::open(path).unwrap();
    let mut records = Vec::new();
    let mut after = 0;
    let head = loop {
        let page = file.read(&AuditQuery::after(after, 3)).unwrap();
        if let Some(last) = page.records.last() {
            after = last.seq;
        }
        records.extend(page.records);
        if !page.more {
            break page.head;
        }
    };
    verify_chain(&records, &head).map(|()| head.seq)
}

#[tokio::test]
async fn an_untouched_chain_verifies_and_continues_after_a_reopen() {
    let (_dir, path) = chain_file().await;
    assert_eq!(verify_file(&path), Ok(RECORDS));

    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(store.audit_head().await.unwrap().seq, RECORDS);
    store
        .transact(vec![WriteOp::AppendAudit(entry(RECORDS + 1))])
        .await
        .unwrap();
    store.close().await;
    assert_eq!(verify_file(&path), Ok(RECORDS + 1));
}

#[tokio::test]
async fn the_store_refuses_to_change_records() {
    let (_dir, path) = chain_file().await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for statement in [
        "UPDATE audit SET actor = 'mallory' WHERE seq = 3",
        "DELETE FROM audit WHERE seq = 10",
        "INSERT INTO audit SELECT 12, time, actor, groups, verb, api_group, resource, namespace, \
         name, subresource, path, code, decision, reason, request_id, details, hash, hash \
         FROM audit WHERE seq = 10",
    ] {
        let error = sqlx::query(statement).execute(&mut conn).await.unwrap_err();
        assert!(error.to_string().contains("audit"), "{statement}: {error}");
    }
}

#[tokio::test]
async fn an_edited_field_is_caught_at_its_record() {
    for (column, value) in [
        ("actor", "'mallory'"),
        ("verb", "'delete'"),
        ("code", "403"),
        ("details", "'{\"i\":99}'"),
        ("groups", "'not json'"),
        ("decision", "'denied'"),
        ("time", "'2026-01-01T00:00:00.000Z'"),
    ] {
        let (_dir, path) = chain_file().await;
        tamper(
            &path,
            &[&format!(
                "UPDATE audit SET {column} = {value} WHERE seq = 4"
            )],
        )
        .await;
        match verify_file(&path) {
            Err(ChainError::Altered { seq: 4, .. }) => {}
            other => panic!("editing {column}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_replaced_hash_is_caught() {
    let (_dir, path) = chain_file().await;
    tamper(
        &path,
        &["UPDATE audit SET hash = 'f' || substr(hash, 2) WHERE seq = 6"],
    )
    .await;
    let error = verify_file(&path).unwrap_err();
    assert_eq!(error.seq(), 6, "{error}");
}

#[tokio::test]
async fn a_deleted_record_is_caught() {
    let (_dir, path) = chain_file().await;
    tamper(&path, &["DELETE FROM audit WHERE seq = 5"]).await;
    match verify_file(&path) {
        Err(ChainError::Broken {
            seq: 6,
            expected_seq: 5,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn swapped_records_are_caught() {
    let (_dir, path) = chain_file().await;
    // Swap the content of records 3 and 4, seq numbers kept in place.
    tamper(
        &path,
        &[
            "UPDATE audit SET seq = -3 WHERE seq = 3",
            "UPDATE audit SET seq = 3 WHERE seq = 4",
            "UPDATE audit SET seq = 4 WHERE seq = -3",
        ],
    )
    .await;
    let error = verify_file(&path).unwrap_err();
    assert!(
        matches!(error, ChainError::Broken { seq: 3, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_truncated_tail_is_caught_by_the_head() {
    let (_dir, path) = chain_file().await;
    tamper(&path, &["DELETE FROM audit WHERE seq > 7"]).await;
    assert_eq!(
        verify_file(&path),
        Err(ChainError::Truncated {
            last_seq: 7,
            head_seq: RECORDS
        })
    );
}
