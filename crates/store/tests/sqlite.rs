//! The conformance suite and the SQLite-specific behaviour of `SqliteStore`, on real files.

use planspec_store::{
    ListQuery, NodeRecord, NodeRecordQuery, ObjectKey, Selector, SqliteOptions, SqliteStore, Store,
    StoreError, WriteOp,
};
use serde_json::{json, Value};
use sqlx::{Connection, SqliteConnection};
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;

async fn fresh() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())
        .await
        .unwrap();
    (Arc::new(store), dir)
}

planspec_store::conformance_tests!(fresh);

/// The suite again with the ring off, so every `changes_since` reads the `changes` table.
mod without_ring {
    use super::*;

    async fn fresh() -> (Arc<dyn Store>, TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            ring_capacity: 0,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(dir.path().join("store.db"), options)
            .await
            .unwrap();
        (Arc::new(store), dir)
    }

    planspec_store::conformance_tests!(fresh);
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("Plan", "default", name)
}

fn doc(name: &str, v: i64) -> Value {
    json!({ "kind": "Plan", "metadata": { "name": name, "namespace": "default" }, "spec": { "v": v } })
}

async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    for i in 0..20 {
        store
            .create(
                key(&format!("o{i}")),
                format!("u{i}"),
                doc(&format!("o{i}"), i),
            )
            .await
            .unwrap();
    }
    store.update(key("o3"), None, doc("o3", 33)).await.unwrap();
    store.delete(key("o4"), None).await.unwrap();
    store.compact(15).await.unwrap();
    let list = store.list(&ListQuery::all("Plan")).await.unwrap();
    let log = store.changes_since(7, 0).await.unwrap();
    let revision = store.current_revision().await.unwrap();
    store.close().await;

    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(store.current_revision().await.unwrap(), revision);
    assert_eq!(store.compacted_revision().await.unwrap(), revision - 15);
    assert_eq!(
        store.list(&ListQuery::all("Plan")).await.unwrap().items,
        list.items
    );
    assert_eq!(
        store.changes_since(7, 0).await.unwrap().changes,
        log.changes
    );
    assert!(matches!(
        store.changes_since(6, 0).await,
        Err(StoreError::Compacted { .. })
    ));
    let next = store
        .create(key("after"), "u".into(), doc("after", 0))
        .await
        .unwrap();
    assert_eq!(next.revision, revision + 1);
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    store.close().await;
}

/// The newest revision is not a counter of its own (migration 0004): it comes from the change
/// log, or from `compacted_revision` when compaction emptied the log — and survives a reopen
/// either way. Without ring, so lists and change pages read it from SQLite.
#[tokio::test]
async fn revision_survives_a_compaction_that_empties_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let options = SqliteOptions {
        ring_capacity: 0,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&path, options.clone()).await.unwrap();
    for i in 0..5 {
        let name = format!("o{i}");
        store
            .create(key(&name), format!("u{i}"), doc(&name, i))
            .await
            .unwrap();
    }
    store.delete(key("o0"), None).await.unwrap();
    assert_eq!(store.compact(0).await.unwrap(), 6);
    assert_eq!(store.current_revision().await.unwrap(), 6);
    assert_eq!(
        store.list(&ListQuery::all("Plan")).await.unwrap().revision,
        6
    );
    let page = store.changes_since(6, 0).await.unwrap();
    assert!(page.changes.is_empty());
    assert_eq!(page.revision, 6);
    store.close().await;

    let store = SqliteStore::open(&path, options).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 6);
    assert_eq!(store.compacted_revision().await.unwrap(), 6);
    assert_eq!(
        store.list(&ListQuery::all("Plan")).await.unwrap().revision,
        6
    );
    let next = store
        .create(key("after"), "u".into(), doc("after", 0))
        .await
        .unwrap();
    assert_eq!(next.revision, 7);
    assert_eq!(
        store.list(&ListQuery::all("Plan")).await.unwrap().revision,
        7
    );
    // Revisions stay consecutive whoever writes: a row that skips one is refused.
    let mut conn = raw(&path).await;
    let skipped = sqlx::query(
        "INSERT INTO changes (revision, change_type, kind, namespace, name, uid, created_revision, object) \
         VALUES (9, 'ADDED', 'Plan', 'default', 'x', 'u', 9, '{}')",
    )
    .execute(&mut conn)
    .await;
    assert!(skipped.is_err(), "a gap in the revisions was accepted");
    conn.close().await.unwrap();
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    store.close().await;
}

/// `changes_since` gives the same answers whether it reads the ring or the table.
#[tokio::test]
async fn ring_and_table_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(
        &path,
        SqliteOptions {
            ring_capacity: 5,
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    for i in 0..30 {
        let name = format!("o{}", i % 7);
        let op = match store.get(&key(&name)).await.unwrap() {
            None => WriteOp::Create {
                key: key(&name),
                uid: "u".into(),
                object: doc(&name, i),
            },
            Some(_) if i % 3 == 0 => WriteOp::Delete {
                key: key(&name),
                expected_revision: None,
            },
            Some(o) => WriteOp::Update {
                key: key(&name),
                expected_revision: Some(o.revision),
                object: doc(&name, i),
            },
        };
        store.transact(vec![op]).await.unwrap();
    }
    let all = store.changes_since(0, 0).await.unwrap().changes;
    assert_eq!(all.len(), 30);
    for from in 0..=30usize {
        for limit in [0, 1, 3, 40] {
            let page = store.changes_since(from as i64, limit).await.unwrap();
            let end = if limit == 0 {
                30
            } else {
                (from + limit).min(30)
            };
            assert_eq!(page.changes, all[from..end], "from {from} limit {limit}");
        }
    }
    store.close().await;
    // After a restart the ring is warmed from the table.
    let store = SqliteStore::open(
        &path,
        SqliteOptions {
            ring_capacity: 5,
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(store.changes_since(0, 0).await.unwrap().changes, all);
    assert_eq!(store.changes_since(27, 0).await.unwrap().changes, all[27..]);
    store.close().await;
}

#[tokio::test]
async fn automatic_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        auto_compact_retain: Some(10),
        auto_compact_every: 5,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(dir.path().join("store.db"), options)
        .await
        .unwrap();
    for i in 0..40 {
        store
            .create(key(&format!("o{i}")), "u".into(), doc("x", i))
            .await
            .unwrap();
    }
    // The writer compacts after acknowledging a batch; a no-op compaction queues behind it.
    assert_eq!(store.compact(usize::MAX).await.unwrap(), 30);
    assert_eq!(store.compacted_revision().await.unwrap(), 30);
    assert!(matches!(
        store.changes_since(29, 0).await,
        Err(StoreError::Compacted {
            requested: 29,
            oldest: 30
        })
    ));
    assert_eq!(store.changes_since(30, 0).await.unwrap().changes.len(), 10);
    assert_eq!(
        store
            .list(&ListQuery::all("Plan"))
            .await
            .unwrap()
            .items
            .len(),
        40
    );
    store.close().await;
}

#[tokio::test]
async fn creates_directories_wal_and_sound_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/store.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    store
        .create(key("x"), "u".into(), doc("x", 1))
        .await
        .unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), path);
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    let mut conn = raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let versions: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM schema_migrations")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        versions,
        [
            (1, "init".to_owned()),
            (2, "indexes_journals_leases".to_owned()),
            (3, "audit".to_owned()),
            (4, "derived_revision".to_owned())
        ]
    );
    conn.close().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = raw(&path).await;
    sqlx::query("INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'from-the-future', 'x')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("schema version 99") && err.contains("newer"),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_an_edited_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = raw(&path).await;
    sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("migration 1 (init)") && err.contains("differs"),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    std::fs::write(
        &path,
        "this is not a database, just some text that is long enough to look like a header"
            .repeat(20),
    )
    .unwrap();
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("store.db"), "{err}");
}

#[tokio::test]
async fn one_store_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("in use"), "{err}");
    store.close().await;
    let again = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    again.close().await;
}

/// `close` finishes the writes already queued; later writes fail clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_finishes_queued_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Arc::new(
        SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap(),
    );
    let writers: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("o{i}");
                store
                    .create(key(&name), "u".into(), doc(&name, i))
                    .await
                    .map(|o| (name, o.revision))
            })
        })
        .collect();
    tokio::task::yield_now().await;
    store.close().await;
    let mut acknowledged = Vec::new();
    for w in writers {
        match w.await.unwrap() {
            Ok(ack) => acknowledged.push(ack),
            Err(e) => assert_eq!(e.to_string(), "storage error: the store is closed"),
        }
    }
    let err = store
        .create(key("late"), "u".into(), doc("late", 0))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "storage error: the store is closed");
    store.close().await; // idempotent

    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    for (name, revision) in &acknowledged {
        assert_eq!(
            store.get(&key(name)).await.unwrap().map(|o| o.revision),
            Some(*revision)
        );
    }
    assert_eq!(
        store.current_revision().await.unwrap(),
        acknowledged.len() as i64
    );
    store.close().await;
}

/// A database error fails its batch and undoes it, and the store goes on.
#[tokio::test]
async fn database_error_fails_the_batch_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    store
        .create(key("x"), "u".into(), doc("x", 1))
        .await
        .unwrap();
    store.close().await;
    let mut conn = raw(&path).await;
    sqlx::query("UPDATE resources SET object = 'not json' WHERE name = 'x'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let err = store
        .transact(vec![
            WriteOp::Create {
                key: key("y"),
                uid: "u".into(),
                object: doc("y", 1),
            },
            WriteOp::Delete {
                key: key("x"),
                expected_revision: None,
            },
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert_eq!(store.current_revision().await.unwrap(), 1);
    assert!(
        store.get(&key("y")).await.unwrap().is_none(),
        "the failed batch is undone"
    );
    let y = store
        .create(key("y"), "u".into(), doc("y", 2))
        .await
        .unwrap();
    assert_eq!(y.revision, 2, "the store goes on");
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    store.close().await;
}

/// The migration text's checksum, as the store records it (FNV-1a, `\r` dropped). Kept here
/// on purpose: if the store's function changed, every existing database would be refused,
/// and `upgrades_a_0001_database` would say so.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes().filter(|&b| b != b'\r') {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A database written by a build that knew only migration 0001 (made here by hand from the
/// 0001 SQL, with objects written as that build wrote them) opens, is upgraded in place, and
/// its existing objects are in the new indexes; journals work for its existing Executions.
#[tokio::test]
async fn upgrades_a_0001_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let init = include_str!("../migrations/0001_init.sql");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(init).execute(&mut conn).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, name, checksum) VALUES (1, 'init', ?1)")
        .bind(checksum(init))
        .execute(&mut conn)
        .await
        .unwrap();
    // (name, kind, labels, owner uids) — rows as the 0001 writer stored them.
    let rows: &[(&str, &str, Value, &[&str])] = &[
        ("web", "Plan", json!({ "app": "web", "tier": "front" }), &[]),
        (
            "api",
            "Plan",
            json!({ "app": "api", "tier": "back" }),
            &["goal-uid"],
        ),
        (
            "db",
            "Plan",
            json!({ "app": "db", "n": 5 }),
            &["goal-uid", "other-uid"],
        ),
        ("run", "Execution", json!({ "app": "web" }), &["goal-uid"]),
    ];
    for (i, (name, kind, labels, owners)) in rows.iter().enumerate() {
        let revision = i as i64 + 1;
        let refs: Vec<Value> = owners
            .iter()
            .map(|uid| json!({ "apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "name": "g", "uid": uid }))
            .collect();
        let mut object = json!({
            "kind": kind,
            "metadata": { "name": name, "namespace": "default", "labels": labels,
                          "resourceVersion": revision.to_string() },
        });
        if !refs.is_empty() {
            object["metadata"]["ownerReferences"] = Value::Array(refs);
        }
        sqlx::query(
            "INSERT INTO resources (kind, namespace, name, uid, revision, created_revision, labels, object) \
             VALUES (?1, 'default', ?2, ?3, ?4, ?4, ?5, ?6)",
        )
        .bind(*kind)
        .bind(*name)
        .bind(format!("uid-{name}"))
        .bind(revision)
        .bind(labels.to_string())
        .bind(object.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();

    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let mut conn = raw(&path).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, [1, 2, 3, 4], "upgraded in place");
    let labels: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, key, value FROM label_index ORDER BY name, key")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let labels: Vec<(&str, &str, &str)> = labels
        .iter()
        .map(|(n, k, v)| (n.as_str(), k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("api", "app", "api"),
            ("api", "tier", "back"),
            ("db", "app", "db"),
            ("run", "app", "web"),
            ("web", "app", "web"),
            ("web", "tier", "front"),
        ],
        "string labels of existing rows are indexed"
    );
    let owners: Vec<(String, String)> =
        sqlx::query_as("SELECT owner_uid, name FROM owner_index ORDER BY owner_uid, name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        owners,
        [
            ("goal-uid".to_owned(), "api".to_owned()),
            ("goal-uid".to_owned(), "db".to_owned()),
            ("goal-uid".to_owned(), "run".to_owned()),
            ("other-uid".to_owned(), "db".to_owned()),
        ]
    );
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM changes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(changes, 4, "the backfill logged no change");
    conn.close().await.unwrap();

    // Through the store: the indexes serve lists, owners, and writes keep them.
    let q = ListQuery {
        label_selector: Selector::parse("app=web").unwrap(),
        ..ListQuery::all("Plan")
    };
    let names = |page: Vec<planspec_store::StoredObject>| -> Vec<String> {
        page.into_iter().map(|o| o.key.name).collect()
    };
    assert_eq!(names(store.list(&q).await.unwrap().items), ["web"]);
    assert_eq!(
        names(store.list_owned_by("goal-uid").await.unwrap()),
        ["run", "api", "db"]
    );
    store
        .update(
            key("api"),
            None,
            json!({ "kind": "Plan", "metadata": { "name": "api", "labels": { "app": "web" } } }),
        )
        .await
        .unwrap();
    assert_eq!(names(store.list(&q).await.unwrap().items), ["api", "web"]);
    assert_eq!(
        names(store.list_owned_by("goal-uid").await.unwrap()),
        ["run", "db"]
    );
    store
        .transact(vec![
            WriteOp::AppendJournal {
                execution_uid: "uid-run".into(),
                expected_next_seq: 0,
                entries: vec![json!({ "type": "Started" })],
            },
            WriteOp::PutNodeRecords {
                execution_uid: "uid-run".into(),
                records: vec![NodeRecord {
                    node_id: "build".into(),
                    phase: "Running".into(),
                    record: json!({}),
                }],
            },
        ])
        .await
        .unwrap();
    assert_eq!(store.journal_len("uid-run").await.unwrap(), 1);
    assert_eq!(
        store
            .list_node_records(&NodeRecordQuery::all("uid-run"))
            .await
            .unwrap()
            .records
            .len(),
        1
    );
    let lease = store
        .acquire_lease("l", "me", 10, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.token, 1, "the token counter starts at the upgrade");
    assert_eq!(store.current_revision().await.unwrap(), 5);
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    store.close().await;
}

/// Journals, node records and leases survive a restart, and tokens go on increasing.
#[tokio::test]
async fn execution_data_and_leases_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let k = ObjectKey::new("Execution", "default", "run");
    store
        .create(
            k.clone(),
            "exec-1".into(),
            json!({ "metadata": { "name": "run" } }),
        )
        .await
        .unwrap();
    store
        .transact(vec![
            WriteOp::AppendJournal {
                execution_uid: "exec-1".into(),
                expected_next_seq: 0,
                entries: vec![json!(1), json!(2)],
            },
            WriteOp::PutNodeRecords {
                execution_uid: "exec-1".into(),
                records: vec![NodeRecord {
                    node_id: "a".into(),
                    phase: "Succeeded".into(),
                    record: json!({ "exit": 0 }),
                }],
            },
        ])
        .await
        .unwrap();
    let lease = store
        .acquire_lease("exec/run", "s1", 5_000, 0)
        .await
        .unwrap()
        .unwrap();
    store.close().await;

    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let journal = store.read_journal("exec-1", 0, 0).await.unwrap();
    assert_eq!(
        journal.iter().map(|e| e.entry.clone()).collect::<Vec<_>>(),
        [json!(1), json!(2)]
    );
    let records = store
        .list_node_records(&NodeRecordQuery::all("exec-1"))
        .await
        .unwrap()
        .records;
    assert_eq!(records[0].record, json!({ "exit": 0 }));
    assert_eq!(
        store.list_leases("exec/").await.unwrap(),
        std::slice::from_ref(&lease)
    );
    assert_eq!(
        store
            .acquire_lease("exec/run", "s2", 5_000, 100)
            .await
            .unwrap(),
        None
    );
    let next = store
        .acquire_lease("exec/run", "s2", 5_000, 5_000)
        .await
        .unwrap()
        .unwrap();
    assert!(next.token > lease.token);
    store.close().await;
}

/// A request whose own data makes a statement fail (labels nested deeper than SQLite's JSON
/// parser allows, so the label-index trigger fails) fails alone: the other requests of the
/// same group commit still succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_fails_in_sql_fails_alone_in_its_group() {
    let (store, _dir) = fresh().await;
    let mut deep = json!("x");
    for _ in 0..1100 {
        deep = json!({ "a": deep });
    }
    for round in 0..10 {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("ok-{round}-{i}");
                store.create(key(&name), name.clone(), doc(&name, 1)).await
            }));
        }
        let poisoned = {
            let store = store.clone();
            let name = format!("deep-{round}");
            let mut object = doc(&name, 1);
            object["metadata"]["labels"] = json!({ "nested": deep.clone() });
            tokio::spawn(async move { store.create(key(&name), name.clone(), object).await })
        };
        for task in tasks {
            task.await
                .unwrap()
                .expect("a harmless create in the same group succeeds");
        }
        // The poisoned create itself may fail (its labels are unreadable to SQLite); it must
        // not have taken the others with it.
        let _ = poisoned.await.unwrap();
    }
}

/// The lock follows the file, not the spelling of its path: a symlink to an open store's
/// database is refused like the path itself.
#[tokio::test]
async fn a_symlink_to_an_open_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let _store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let Err(err) = SqliteStore::open(&link, SqliteOptions::default()).await else {
        panic!("a second store on the same file is refused");
    };
    assert!(err.to_string().contains("in use"), "{err}");
    let dotted = dir.path().join(".").join("s.db");
    assert!(SqliteStore::open(&dotted, SqliteOptions::default())
        .await
        .is_err());
}
