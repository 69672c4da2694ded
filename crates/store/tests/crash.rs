//! Crash safety: a process writing through `SqliteStore` is killed with SIGKILL mid-load;
//! every write it acknowledged must be in the reopened store, and the file must be sound.
//!
//! The test re-executes its own binary as the writer (`writer_child`, switched on by an
//! environment variable), reads the acknowledgements it prints, kills it, and checks.
#![cfg(unix)]

use planspec_store::{ObjectKey, SqliteOptions, SqliteStore, Store, WriteOp};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_DB: &str = "PLANSPEC_STORE_CRASH_DB";
const CHILD_ROUND: &str = "PLANSPEC_STORE_CRASH_ROUND";
const ROUNDS: usize = 3;
const WRITERS: usize = 6;

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("Plan", "crash", name)
}

fn ack(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    // A closed pipe means the parent is gone: stop writing.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// The writer. Does nothing unless started by `acknowledged_writes_survive_sigkill`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_child() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let round: usize = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let store = Arc::new(
        SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let counter = format!("counter-{round}-{t}");
                let o = store
                    .create(key(&counter), "u".into(), json!({ "spec": { "value": 0 } }))
                    .await
                    .unwrap();
                ack(format_args!("ACK set {counter} {} 0", o.revision));
                let mut i: u64 = 0;
                while Instant::now() < deadline {
                    i += 1;
                    let name = format!("r{round}-t{t}-{i}");
                    match i % 4 {
                        0 => {
                            // A read-modify-write of this task's counter.
                            let current = store.get(&key(&counter)).await.unwrap().unwrap();
                            let mut next = current.object.clone();
                            next["spec"]["value"] = json!(i);
                            let o = store
                                .update(key(&counter), Some(current.revision), next)
                                .await
                                .unwrap();
                            ack(format_args!("ACK set {counter} {} {i}", o.revision));
                        }
                        1 => {
                            // Two objects in one transaction.
                            let pair = format!("{name}-pair");
                            let changes = store
                                .transact(vec![
                                    WriteOp::Create {
                                        key: key(&name),
                                        uid: "u".into(),
                                        object: json!({ "spec": { "i": i } }),
                                    },
                                    WriteOp::Create {
                                        key: key(&pair),
                                        uid: "u".into(),
                                        object: json!({ "spec": { "i": i } }),
                                    },
                                ])
                                .await
                                .unwrap();
                            ack(format_args!(
                                "ACK create {name} {} {i}",
                                changes[0].revision
                            ));
                            ack(format_args!(
                                "ACK create {pair} {} {i}",
                                changes[1].revision
                            ));
                        }
                        _ => {
                            let o = store
                                .create(
                                    key(&name),
                                    "u".into(),
                                    json!({ "spec": { "i": i, "pad": "x".repeat(512) } }),
                                )
                                .await
                                .unwrap();
                            ack(format_args!("ACK create {name} {} {i}", o.revision));
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

struct Acked {
    /// Created objects: name → (revision, spec.i). Never written again.
    created: HashMap<String, (i64, u64)>,
    /// Counters: name → the newest acknowledged (revision, value).
    counters: HashMap<String, (i64, u64)>,
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_DB).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().unwrap();
    let mut acked = Acked {
        created: HashMap::new(),
        counters: HashMap::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    for round in 0..ROUNDS {
        let kill_after = 300 + 100 * round;
        let mut child = Command::new(&exe)
            .args(["writer_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DB, &path)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut count = 0;
        let mut killed = false;
        // Lines already in the pipe after the kill were acknowledged too: read to the end.
        for line in out.lines() {
            let line = line.unwrap();
            let Some(rest) = line.strip_prefix("ACK ") else {
                continue;
            };
            let parts: Vec<&str> = rest.split(' ').collect();
            let (revision, value): (i64, u64) =
                (parts[2].parse().unwrap(), parts[3].parse().unwrap());
            match parts[0] {
                "create" => {
                    assert!(acked
                        .created
                        .insert(parts[1].to_owned(), (revision, value))
                        .is_none());
                }
                "set" => {
                    let entry = acked
                        .counters
                        .entry(parts[1].to_owned())
                        .or_insert((revision, value));
                    if revision > entry.0 {
                        *entry = (revision, value);
                    }
                }
                other => panic!("unexpected acknowledgement {other}"),
            }
            count += 1;
            if count == kill_after && !killed {
                child.kill().unwrap(); // SIGKILL
                killed = true;
            }
        }
        let status = child.wait().unwrap();
        assert!(
            killed,
            "round {round}: the writer stopped after {count} acknowledgements ({status})"
        );
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "round {round}: the writer was killed, not finished"
        );

        runtime.block_on(verify(&path, &acked, round));
    }
}

async fn verify(path: &std::path::Path, acked: &Acked, round: usize) {
    let store = SqliteStore::open(path, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(
        store.integrity_check().await.unwrap(),
        ["ok"],
        "round {round}: PRAGMA integrity_check"
    );
    for (name, (revision, i)) in &acked.created {
        let o = store
            .get(&key(name))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("round {round}: acknowledged {name} is lost"));
        assert_eq!(o.revision, *revision, "round {round}: {name}");
        assert_eq!(o.object["spec"]["i"], *i, "round {round}: {name}");
    }
    for (name, (revision, value)) in &acked.counters {
        let o = store
            .get(&key(name))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("round {round}: acknowledged {name} is lost"));
        // A write may be durable without its acknowledgement having been printed.
        assert!(
            o.revision >= *revision,
            "round {round}: {name} at {} < acknowledged {revision}",
            o.revision
        );
        assert!(
            o.object["spec"]["value"].as_u64().unwrap() >= *value,
            "round {round}: {name}"
        );
    }
    // The change log is whole: one change per revision up to the current one.
    let current = store.current_revision().await.unwrap();
    let from = store.compacted_revision().await.unwrap();
    let log = store.changes_since(from, 0).await.unwrap().changes;
    assert_eq!(
        log.len() as i64,
        current - from,
        "round {round}: the change log has gaps"
    );
    assert!(log.iter().zip(from + 1..).all(|(c, r)| c.revision == r));
    let max_acked = acked
        .created
        .values()
        .chain(acked.counters.values())
        .map(|(r, _)| *r)
        .max()
        .unwrap();
    assert!(current >= max_acked);
    store.close().await;
}
