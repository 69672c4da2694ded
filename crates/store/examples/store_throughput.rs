//! Measures `SqliteStore` create throughput: N single-object creates from 1 task and from
//! 16 concurrent tasks, beside the raw floor (the same rows inserted by a bare SQLite loop,
//! one durable transaction per row, same pragmas).
//!
//! `cargo run --release -p planspec-store --example store_throughput [N] [DIR]`

use planspec_store::{ListQuery, ObjectKey, Selector, SqliteOptions, SqliteStore, Store};
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::ConnectOptions;
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

/// The floor: one connection, one `INSERT` per durable transaction, nothing else.
async fn raw_run(dir: &std::path::Path, n: usize, file: &str) -> f64 {
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join(file))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .disable_statement_logging()
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (kind TEXT, namespace TEXT, name TEXT, object TEXT, PRIMARY KEY (kind, namespace, name))")
        .execute(&mut conn)
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..n {
        let text = object(i).to_string();
        sqlx::query("INSERT INTO t VALUES ('Plan', 'bench', ?1, ?2)")
            .bind(format!("plan-{i}"))
            .bind(text)
            .execute(&mut conn)
            .await
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
    let raw = raw_run(dir.path(), n, "raw-before.db").await;
    println!("raw sqlite, 1 insert per durable txn:  {raw:>9.0} rows/s");
    let mut rates = Vec::new();
    for tasks in [1, 16] {
        let rate = store_run(dir.path(), n, tasks).await;
        println!("SqliteStore, {tasks:>2} task(s):              {rate:>9.0} creates/s");
        rates.push((tasks, rate));
    }
    let after = raw_run(dir.path(), n, "raw-after.db").await;
    println!("raw sqlite, 1 insert per durable txn:  {after:>9.0} rows/s");
    let floor = (raw + after) / 2.0;
    for (tasks, rate) in rates {
        println!(
            "ratio to the floor, {tasks:>2} task(s): {:.2}",
            rate / floor
        );
    }
}
