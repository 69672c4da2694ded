//! Measures `SqliteStore` create throughput: N single-object creates from 1 task and from
//! 16 concurrent tasks, and N creates from 1 task the way the API writes them (a transaction
//! of a namespace revision check and the create), beside the raw floor (the same rows
//! inserted by a bare synchronous SQLite loop, one durable transaction per row, same pragmas).
//!
//! `cargo run --release -p planspec-store --example store_throughput [N] [DIR]`

use planspec_store::{ListQuery, ObjectKey, Selector, SqliteOptions, SqliteStore, Store, WriteOp};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

fn object(i: usize) -> Value {
    json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {
            "name": format!("plan-{i}"), "namespace": "bench", "uid": format!("00000000-0000-4000-8000-{i:012}"),
            "labels": { "app": "bench", "shard": (i % 10).to_string() },
        },
        "spec": {
            "goalRef": { "name": "ship-it" },
            "nodes": [
                { "id": "build", "capability": "shell", "inputs": { "command": "cargo build --release" } },
                { "id": "test", "capability": "shell", "dependsOn": ["build"], "inputs": { "command": "cargo test" } },
                { "id": "review", "kind": "Gate", "dependsOn": ["test"] },
            ],
        },
    })
}

async fn store_run(dir: &std::path::Path, n: usize, tasks: usize) -> f64 {
    let path = dir.join(format!("store-{tasks}.db"));
    let store = Arc::new(
        SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap(),
    );
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in (t..n).step_by(tasks) {
                    let key = ObjectKey::new("Plan", "bench", format!("plan-{i}"));
                    store
                        .create(key, format!("uid-{i}"), object(i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(store.current_revision().await.unwrap(), n as i64);
    if tasks > 1 {
        reads(&store, n).await;
    }
    store.close().await;
    n as f64 / secs
}

/// Times a few reads on the store just written.
async fn reads(store: &SqliteStore, n: usize) {
    let time = |start: Instant| start.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    for i in (0..n).step_by(n / 1000) {
        let key = ObjectKey::new("Plan", "bench", format!("plan-{i}"));
        store.get(&key).await.unwrap().unwrap();
    }
    println!(
        "  get (1,000 sequential):               {:>9.1} ms",
        time(start)
    );
    let start = Instant::now();
    let all = store.list(&ListQuery::all("Plan")).await.unwrap();
    println!(
        "  list all {} objects:                {:>9.1} ms",
        all.items.len(),
        time(start)
    );
    let start = Instant::now();
    let q = ListQuery {
        label_selector: Selector::parse("shard=3").unwrap(),
        ..ListQuery::all("Plan")
    };
    let some = store.list(&q).await.unwrap();
    println!(
        "  list shard=3 ({} objects):           {:>9.1} ms",
        some.items.len(),
        time(start)
    );
    let start = Instant::now();
    let q = ListQuery {
        label_selector: Selector::parse("shard=3").unwrap(),
        limit: Some(100),
        ..ListQuery::all("Plan")
    };
    let page = store.list(&q).await.unwrap();
    println!(
        "  list shard=3 limit 100 ({} objects):  {:>9.1} ms",
        page.items.len(),
        time(start)
    );
    let start = Instant::now();
    let page = store.changes_since(n as i64 - 1000, 0).await.unwrap();
    println!(
        "  changes_since, last {} (ring):       {:>9.1} ms",
        page.changes.len(),
        time(start)
    );
}

/// Creates as the API sends them: each a transaction of a check of the namespace's revision
/// and the create, from one task.
async fn api_shaped_run(dir: &std::path::Path, n: usize) -> f64 {
    let store = SqliteStore::open(dir.join("store-api.db"), SqliteOptions::default())
        .await
        .unwrap();
    let ns = ObjectKey::new("Namespace", "", "bench");
    let namespace = store
        .create(
            ns.clone(),
            "ns-uid".into(),
            json!({"metadata": {"name": "bench"}}),
        )
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..n {
        store
            .transact(vec![
                WriteOp::Check {
                    key: ns.clone(),
                    revision: Some(namespace.revision),
                },
                WriteOp::Create {
                    key: ObjectKey::new("Plan", "bench", format!("plan-{i}")),
                    uid: format!("uid-{i}"),
                    object: object(i),
                },
            ])
            .await
            .unwrap();
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    store.close().await;
    rate
}

/// The floor: one connection, one `INSERT` per durable transaction, nothing else.
fn raw_run(dir: &std::path::Path, n: usize, file: &str) -> f64 {
    let conn = rusqlite::Connection::open(dir.join(file)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(
        "PRAGMA synchronous = FULL; \
         CREATE TABLE t (kind TEXT, namespace TEXT, name TEXT, object TEXT, \
         PRIMARY KEY (kind, namespace, name))",
    )
    .unwrap();
    let start = Instant::now();
    for i in 0..n {
        let text = object(i).to_string();
        conn.prepare_cached("INSERT INTO t VALUES ('Plan', 'bench', ?1, ?2)")
            .unwrap()
            .execute((format!("plan-{i}"), text))
            .unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse().expect("N")).unwrap_or(10_000);
    let base = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    // The floor runs before and after, so drifting disk latency shows.
    let raw = raw_run(dir.path(), n, "raw-before.db");
    println!("raw sqlite, 1 insert per durable txn:  {raw:>9.0} rows/s");
    let mut rates = Vec::new();
    for tasks in [1, 16] {
        let rate = store_run(dir.path(), n, tasks).await;
        println!("SqliteStore, {tasks:>2} task(s):              {rate:>9.0} creates/s");
        rates.push((format!("{tasks:>2} task(s)"), rate));
    }
    let rate = api_shaped_run(dir.path(), n).await;
    println!("SqliteStore, check + create, 1 task:   {rate:>9.0} creates/s");
    rates.push(("check + create, 1 task".into(), rate));
    let after = raw_run(dir.path(), n, "raw-after.db");
    println!("raw sqlite, 1 insert per durable txn:  {after:>9.0} rows/s");
    let floor = (raw + after) / 2.0;
    for (what, rate) in rates {
        println!("ratio to the floor, {what}: {:.2}", rate / floor);
    }
}
