//! Crash safety of `planspec server` as a process: several client threads create Plans over
//! HTTP, the server is killed with SIGKILL in the middle of that load, restarted on the same
//! SQLite file, and every create it acknowledged (201) must be there with the acknowledged
//! `resourceVersion`; `PRAGMA integrity_check` must say `ok`, both on the file exactly as
//! the crash left it and after the restarts. Two crash/restart cycles on one file.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 6;
const NS: &str = "default";

type Running = common::ServerProcess;

fn start(store: &str) -> Running {
    common::ServerProcess::start(store, Stdio::null())
        .unwrap_or_else(|line| panic!("no address in {line:?}"))
}

/// One HTTP/1.1 request on its own connection. `Err` when the connection fails at any point
/// (the server was killed): such a request was never acknowledged.
fn http(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("truncated response {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn plan(name: &str) -> String {
    serde_json::json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": name, "labels": {"load": "crash"}},
        "spec": {
            "description": "crash-safety load",
            "graph": {"nodes": [{"id": "a", "kind": "Task"}, {"id": "b", "kind": "Task", "dependsOn": ["a"]}]}
        }
    })
    .to_string()
}

fn resource_version(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no resourceVersion in {body}"))
        .to_owned()
}

/// `PRAGMA integrity_check` on `db`. With the sqlite3 CLI, on a scratch copy of the database
/// and its WAL (so the check recovers the WAL exactly as a restart would, without touching
/// the original); without it, through the store.
fn integrity_check(db: &Path, scratch: &Path) -> String {
    let sqlite3 = Command::new("sqlite3").arg("-version").output();
    if sqlite3.map(|o| o.status.success()).unwrap_or(false) {
        std::fs::create_dir_all(scratch).unwrap();
        let copy = scratch.join("copy.db");
        for suffix in ["", "-wal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
            let from = PathBuf::from(format!("{}{suffix}", db.display()));
            if from.exists() {
                std::fs::copy(&from, format!("{}{suffix}", copy.display())).unwrap();
            }
        }
        let out = Command::new("sqlite3")
            .arg(&copy)
            .arg("PRAGMA integrity_check;")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store =
                planspec_store::SqliteStore::open(db, planspec_store::SqliteOptions::default())
                    .await
                    .unwrap();
            let result = store.integrity_check().await.unwrap().join("\n");
            store.close().await;
            result
        })
    }
}

/// Drives creates from `CLIENTS` threads until the server dies; SIGKILLs it once `kill_after`
/// creates are acknowledged. Returns the acknowledged name → resourceVersion.
fn load_and_kill(mut server: Running, cycle: usize, kill_after: usize) -> BTreeMap<String, String> {
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (acked, count, stop) = (acked.clone(), count.clone(), stop.clone());
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let path = format!("/apis/planspec.io/v1alpha1/namespaces/{NS}/plans");
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let name = format!("c{cycle}-t{t}-{i}");
                    match http(&addr, "POST", &path, &plan(&name)) {
                        Ok((201, body)) => {
                            acked.lock().unwrap().insert(name, resource_version(&body));
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok((status, body)) => panic!("create {name}: {status} {body}"),
                        Err(_) => break, // the server is gone: not acknowledged
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while count.load(Ordering::SeqCst) < kill_after {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "only {} creates acknowledged in 20 s",
            count.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // SIGKILL (Child::kill on Unix) while the clients are still writing.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

fn assert_present(addr: &str, acked: &BTreeMap<String, String>) {
    for (name, rv) in acked {
        let path = format!("/apis/planspec.io/v1alpha1/namespaces/{NS}/plans/{name}");
        let (status, body) = http(addr, "GET", &path, "").unwrap();
        assert_eq!(
            status, 200,
            "acknowledged {name} lost after SIGKILL: {body}"
        );
        assert_eq!(&resource_version(&body), rv, "{name}: {body}");
    }
}

#[test]
fn acknowledged_creates_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let store = format!("sqlite:{}", db.display());
    let scratch = dir.path().join("scratch");
    let mut all = BTreeMap::new();
    let mut server = start(&store);
    for cycle in 0..2 {
        let kill_after = 150 * (cycle + 1);
        let acked = load_and_kill(server, cycle, kill_after);
        assert!(acked.len() >= kill_after);
        // The file exactly as the crash left it.
        assert_eq!(
            integrity_check(&db, &scratch),
            "ok",
            "cycle {cycle}, after SIGKILL"
        );
        all.extend(acked);
        server = start(&store);
        // Everything acknowledged in this and earlier cycles, with its resourceVersion.
        assert_present(&server.addr, &all);
    }
    // A graceful stop, then the file itself.
    let ok = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let started = Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(15) {
            let _ = server.child.kill();
            panic!("the server did not stop within 15 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(integrity_check(&db, &scratch), "ok", "after the restarts");
}
