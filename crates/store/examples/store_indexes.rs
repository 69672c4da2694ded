//! Measures the store's indexes on N objects (default 100,000), each beside the way the same
//! answer is found without the index, in the same run and on the same file:
//!
//! * lists with a label selector that matches 1% (and 0.1%) of the objects, through the label
//!   index, against the same selection written so that it cannot use the index (a scan);
//! * `list_owned_by` for an owner of 10 objects, against listing the namespace and filtering;
//! * node records: 100,000 records in one transaction, a page of one phase;
//! * a journal: 10,000 entries appended 100 at a time, then read back.
//!
//! `cargo run --release -p planspec-store --example store_indexes [N] [DIR]`

use planspec_store::{
    ListQuery, NodeRecord, NodeRecordQuery, ObjectKey, Selector, SqliteOptions, SqliteStore, Store,
    WriteOp,
};
use serde_json::{json, Value};
use std::time::Instant;

const NAMESPACE: &str = "bench";

fn object(i: usize) -> Value {
    let mut metadata = json!({
        "name": format!("plan-{i}"), "namespace": NAMESPACE,
        "labels": {
            "app": "bench",
            "pct": (i % 100).to_string(),
            "permille": (i % 1000).to_string(),
        },
    });
    // Every 10,000th object has 10 dependents: the objects after it.
    if i % 10_000 > 0 && i % 10_000 <= 10 {
        let owner = i - i % 10_000;
        metadata["ownerReferences"] = json!([{
            "apiVersion": "planspec.io/v1alpha1", "kind": "Plan",
            "name": format!("plan-{owner}"), "uid": format!("uid-{owner}"),
        }]);
    }
    json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": metadata,
        "spec": {
            "goalRef": { "name": "ship-it" },
            "nodes": [
                { "id": "build", "capability": "shell", "inputs": { "command": "cargo build --release" } },
                { "id": "test", "capability": "shell", "dependsOn": ["build"], "inputs": { "command": "cargo test" } },
            ],
        },
    })
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// The best of `runs` timings of `f` (after one warm-up), in milliseconds, and its result.
async fn best<T, F, Fut>(runs: usize, mut f: F) -> (f64, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut result = f().await;
    let mut fastest = f64::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        result = f().await;
        fastest = fastest.min(ms(start));
    }
    (fastest, result)
}

fn selector(s: &str) -> ListQuery {
    ListQuery {
        label_selector: Selector::parse(s).expect("selector"),
        ..ListQuery::in_namespace("Plan", NAMESPACE)
    }
}

/// `key notin (every value but those of keep)`: selects what `key in (keep)` selects (every
/// object has the label), but as a negative term it cannot use the index.
fn scan_equivalent(key: &str, keep: &[usize], values: usize) -> String {
    let others: Vec<String> = (0..values)
        .filter(|x| !keep.contains(x))
        .map(|x| x.to_string())
        .collect();
    format!("{key} notin ({})", others.join(","))
}

async fn compare_lists(store: &SqliteStore, label: &str, indexed: ListQuery, scan: ListQuery) {
    let (fast, page) = best(5, || store.list(&indexed)).await;
    let (slow, reference) = best(2, || store.list(&scan)).await;
    let page = page.expect("list");
    let reference = reference.expect("list");
    assert_eq!(page.items, reference.items, "both ways select the same");
    println!(
        "  {label:<38} {:>6} items  index {fast:>8.2} ms   scan {slow:>8.1} ms   {:>6.0}x",
        page.items.len(),
        slow / fast
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("N"))
        .unwrap_or(100_000);
    let base = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())
        .await
        .expect("open");

    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let ops = chunk
            .iter()
            .map(|&i| WriteOp::Create {
                key: ObjectKey::new("Plan", NAMESPACE, format!("plan-{i}")),
                uid: format!("uid-{i}"),
                object: object(i),
            })
            .collect();
        store.transact(ops).await.expect("load");
    }
    println!(
        "loaded {n} objects in transactions of 1,000: {:.1} s",
        start.elapsed().as_secs_f64()
    );

    println!("lists with a label selector (best of 5 / 2 runs):");
    compare_lists(
        &store,
        "pct=7 (1%)",
        selector("pct=7"),
        selector(&scan_equivalent("pct", &[7], 100)),
    )
    .await;
    compare_lists(
        &store,
        "pct=7, limit 100",
        ListQuery {
            limit: Some(100),
            ..selector("pct=7")
        },
        ListQuery {
            limit: Some(100),
            ..selector(&scan_equivalent("pct", &[7], 100))
        },
    )
    .await;
    compare_lists(
        &store,
        "permille=7 (0.1%)",
        selector("permille=7"),
        selector(&scan_equivalent("permille", &[7], 1000)),
    )
    .await;
    compare_lists(
        &store,
        "app=bench,pct in (7,8) (2%)",
        selector("app=bench,pct in (7,8)"),
        selector(&format!("app,{}", scan_equivalent("pct", &[7, 8], 100))),
    )
    .await;
    compare_lists(
        &store,
        "app=bench,permille=7 (intersection)",
        selector("app=bench,permille=7"),
        selector(&format!("app,{}", scan_equivalent("permille", &[7], 1000))),
    )
    .await;

    let (fast, owned) = best(5, || store.list_owned_by("uid-10000")).await;
    let owned = owned.expect("owned");
    let (slow, scanned) = best(2, || async {
        let all = store
            .list(&ListQuery::in_namespace("Plan", NAMESPACE))
            .await
            .expect("list");
        // What the API's garbage collector did before the index: list, check the references.
        all.items
            .iter()
            .filter(|o| {
                o.object["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == "uid-10000"))
            })
            .count()
    })
    .await;
    assert_eq!(owned.len(), scanned);
    println!(
        "owner index: {} dependents  index {fast:>8.2} ms   namespace scan {slow:>8.1} ms   {:>6.0}x",
        owned.len(),
        slow / fast
    );

    let execution = ObjectKey::new("Execution", NAMESPACE, "big");
    store
        .create(
            execution.clone(),
            "exec-big".into(),
            json!({ "metadata": { "name": "big" } }),
        )
        .await
        .expect("execution");
    let records: Vec<NodeRecord> = (0..100_000)
        .map(|i| NodeRecord {
            node_id: format!("node-{i:06}"),
            phase: if i % 100 == 0 { "Running" } else { "Pending" }.to_owned(),
            record: json!({ "attempt": 1, "startedAt": "2025-01-01T00:00:00Z" }),
        })
        .collect();
    let start = Instant::now();
    store
        .transact(vec![WriteOp::PutNodeRecords {
            execution_uid: "exec-big".into(),
            records,
        }])
        .await
        .expect("node records");
    println!(
        "node records: 100,000 in one transaction {:>8.1} ms",
        ms(start)
    );
    let running = NodeRecordQuery {
        phase: Some("Running".into()),
        limit: Some(500),
        ..NodeRecordQuery::all("exec-big")
    };
    let (t, page) = best(5, || store.list_node_records(&running)).await;
    println!(
        "node records: page of {} Running                {t:>8.2} ms",
        page.expect("page").records.len()
    );
    let middle = NodeRecordQuery {
        limit: Some(500),
        continue_after: Some("node-050000".into()),
        ..NodeRecordQuery::all("exec-big")
    };
    let (t, page) = best(5, || store.list_node_records(&middle)).await;
    println!(
        "node records: page of {} from the middle          {t:>8.2} ms",
        page.expect("page").records.len()
    );

    let start = Instant::now();
    for batch in 0..100u64 {
        let entries = (0..100)
            .map(
                |i| json!({ "type": "NodeSucceeded", "node": format!("node-{i}"), "batch": batch }),
            )
            .collect();
        store
            .transact(vec![WriteOp::AppendJournal {
                execution_uid: "exec-big".into(),
                expected_next_seq: batch * 100,
                entries,
            }])
            .await
            .expect("append");
    }
    println!(
        "journal: 10,000 entries in 100 durable appends   {:>8.1} ms",
        ms(start)
    );
    let (t, entries) = best(5, || store.read_journal("exec-big", 0, 0)).await;
    println!(
        "journal: read {} entries                       {t:>8.2} ms",
        entries.expect("read").len()
    );
    let start = Instant::now();
    store.delete(execution, None).await.expect("delete");
    println!(
        "delete the Execution with its records and journal {:>8.1} ms",
        ms(start)
    );
    store.close().await;
}
