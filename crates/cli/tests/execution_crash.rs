//! Crash safety of running Executions (issue 4): `planspec server` runs three Executions of a
//! 200-node plan whose exec tasks record their idempotency key and perform a keyed side
//! effect; the server is SIGKILLed at random moments (seeded; the seed is printed and can be
//! replayed with `PLANSPEC_CRASH_SEED=…`) and restarted on the same SQLite file each time,
//! until every Execution has finished. Then:
//!
//! * every Execution `Succeeded`, every node `Succeeded` on attempt 1;
//! * every node ran with exactly **one** idempotency key, the one journaled in its
//!   `NodeStarted` and echoed in its outputs (status and node record) — an attempt that was running
//!   at a kill is dispatched again with the same key — and no two nodes share a key;
//! * every node's side effect happened exactly once (no key has two completed side effects);
//! * `PRAGMA integrity_check` is `ok` on the file as each crash left it and at the end.
//!
//! The task is a shell script that does what a well-behaved provider does: it logs
//! `start KEY …`, sleeps a little, commits its side effect by creating a per-key marker
//! directory (`mkdir` is an atomic create-if-absent; if the marker exists the effect is a
//! repeat and is not done again), logs `effect KEY …` only when it created the marker, logs
//! `done KEY …` and writes its outputs.
//!
//! A SIGKILL leaves the tasks that were running alive (each runs in its own process group):
//! they finish on their own while the restarted server dispatches the same attempts again,
//! which is exactly the race the per-key marker settles.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Nodes in the plan (the most `status.nodeStatuses` lists).
const NODES: usize = 200;
/// Executions run at once.
const EXECUTIONS: usize = 3;
/// SIGKILLs at most (fewer if the Executions finish first).
const KILLS: usize = 5;
const NS: &str = "default";
const PLAN: &str = "crash-plan";
const API: &str = "/apis/planspec.io/v1alpha1/namespaces/default";
/// How long the last server may take to finish the Executions.
const FINISH_TIMEOUT: Duration = Duration::from_secs(90);

// ------------------------------------------------------------------------------------------
// A seeded random number generator (SplitMix64): deterministic from the printed seed.
// ------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seed() -> u64 {
    match std::env::var("PLANSPEC_CRASH_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("PLANSPEC_CRASH_SEED={text:?} is not a u64")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED),
    }
}

// ------------------------------------------------------------------------------------------
// The plan: layers with fan-out and fan-in, deterministic from the seed.
// ------------------------------------------------------------------------------------------

/// Node ids and, per node, the indexes of the nodes it depends on.
struct Dag {
    ids: Vec<String>,
    deps: Vec<Vec<usize>>,
}

fn dag(rng: &mut Rng) -> Dag {
    let ids: Vec<String> = (0..NODES).map(|i| format!("n{i:03}")).collect();
    let mut deps = vec![Vec::new(); NODES];
    let mut layers: Vec<std::ops::Range<usize>> = Vec::new();
    let mut next = 0;
    while next < NODES {
        let width = (4 + rng.below(27)).min(NODES - next);
        layers.push(next..next + width);
        next += width;
    }
    for l in 1..layers.len() {
        let previous = layers[l - 1].clone();
        for node in layers[l].clone() {
            let mut chosen = BTreeSet::new();
            // Fan-in of one to three from the layer before …
            for _ in 0..1 + rng.below(3) {
                chosen.insert(previous.start + rng.below(previous.len()));
            }
            // … and now and then an edge skipping layers.
            if l >= 2 && rng.below(4) == 0 {
                chosen.insert(rng.below(previous.start));
            }
            deps[node] = chosen.into_iter().collect();
        }
    }
    Dag { ids, deps }
}

fn plan_document(dag: &Dag) -> Value {
    let nodes: Vec<Value> = dag
        .ids
        .iter()
        .zip(&dag.deps)
        .map(|(id, deps)| {
            let mut node = json!({"id": id, "kind": "Task"});
            if !deps.is_empty() {
                node["dependsOn"] = deps.iter().map(|&d| json!(dag.ids[d])).collect();
            }
            node
        })
        .collect();
    json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": PLAN, "namespace": NS},
        "spec": {"description": "crash-safety plan", "graph": {"nodes": nodes}}
    })
}

/// The exec task: log the start, sleep, commit the side effect once per key, log, output.
const TASK: &str = r#"set -eu
log="$CRASH_DIR/events.log"
who="$PLANSPEC_EXECUTION $PLANSPEC_NODE $PLANSPEC_ATTEMPT"
key="$PLANSPEC_IDEMPOTENCY_KEY"
echo "start $key $who" >> "$log"
sleep 0.01
if mkdir "$CRASH_DIR/effects/$key" 2>/dev/null; then
  echo "effect $key $who" >> "$log"
elif [ ! -d "$CRASH_DIR/effects/$key" ]; then
  echo "cannot create the marker of $key" >&2
  exit 1
fi
echo "done $key $who" >> "$log"
printf '{"key": "%s", "node": "%s"}\n' "$key" "$PLANSPEC_NODE" > "$PLANSPEC_OUTPUTS"
"#;

fn binding_document(script: &Path, crash_dir: &Path) -> Value {
    json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Binding",
        "metadata": {"name": "crash-binding", "namespace": NS},
        "spec": {"rules": [{
            "selector": {"matchLabels": {}},
            "target": {
                "provider": "exec://task",
                "config": {
                    "command": ["/bin/sh", script.display().to_string()],
                    "env": {"CRASH_DIR": crash_dir.display().to_string()}
                }
            }
        }]}
    })
}

fn execution_name(i: usize) -> String {
    format!("run-{i}")
}

// ------------------------------------------------------------------------------------------
// The server process and HTTP.
// ------------------------------------------------------------------------------------------

type Running = common::ServerProcess;

fn start(store: &str, stderr_path: &Path) -> Running {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path)
        .unwrap();
    common::ServerProcess::start(store, Stdio::from(stderr)).unwrap_or_else(|line| {
        panic!(
            "the server announced no address ({line:?}); its stderr ends with:\n{}",
            tail(stderr_path, 30)
        )
    })
}

impl Running {
    fn sigterm(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("the server did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

/// One request; `(status, body)`. Panics on a transport failure (the server is up).
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let request = agent().request(method, &format!("http://{addr}{path}"));
    let result = match body {
        Some(b) => request
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => request.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn create(addr: &str, plural: &str, object: &Value) {
    let (status, body) = http(addr, "POST", &format!("{API}/{plural}"), Some(object));
    assert_eq!(
        status, 201,
        "creating {plural} {}: {body:#}",
        object["metadata"]["name"]
    );
}

/// The Executions by name (as the API lists them).
fn executions(addr: &str) -> BTreeMap<String, Value> {
    let (status, body) = http(addr, "GET", &format!("{API}/executions"), None);
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(|e| {
            (
                e["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                e.clone(),
            )
        })
        .collect()
}

fn phase(execution: &Value) -> &str {
    execution["status"]["phase"].as_str().unwrap_or("")
}

fn finished(execution: &Value) -> bool {
    matches!(phase(execution), "Succeeded" | "Failed" | "Cancelled")
}

fn all_finished(addr: &str) -> bool {
    let all = executions(addr);
    all.len() == EXECUTIONS && all.values().all(finished)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ------------------------------------------------------------------------------------------
// The task log.
// ------------------------------------------------------------------------------------------

/// One line of `events.log`: `start|effect|done KEY NS/EXECUTION NODE ATTEMPT`.
#[derive(Debug, Clone)]
struct Event {
    what: String,
    key: String,
    execution: String,
    node: String,
    attempt: String,
}

fn events(log: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // A line still being appended (no newline yet) is left for the next read.
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    text[..complete]
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 5, "malformed task log line {line:?}");
            Event {
                what: f[0].to_owned(),
                key: f[1].to_owned(),
                execution: f[2].trim_start_matches("default/").to_owned(),
                node: f[3].to_owned(),
                attempt: f[4].to_owned(),
            }
        })
        .collect()
}

/// Keys of attempts that logged `start` but not yet `done`.
fn in_flight(events: &[Event]) -> usize {
    let mut open: BTreeMap<&str, i64> = BTreeMap::new();
    for e in events {
        match e.what.as_str() {
            "start" => *open.entry(&e.key).or_default() += 1,
            "done" => *open.entry(&e.key).or_default() -= 1,
            _ => {}
        }
    }
    open.values().filter(|&&n| n > 0).count()
}

// ------------------------------------------------------------------------------------------
// Integrity and the store's view.
// ------------------------------------------------------------------------------------------

/// `PRAGMA integrity_check` on a scratch copy of `db` and its WAL (recovered exactly as a
/// restart would, without touching the original): by the `sqlite3` CLI, independent of our
/// store, when it is installed; else through the store.
fn integrity_check(db: &Path, scratch: &Path) -> String {
    std::fs::create_dir_all(scratch).unwrap();
    let copy = scratch.join("copy.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::copy(&from, format!("{}{suffix}", copy.display())).unwrap();
        }
    }
    let cli = Command::new("sqlite3").arg("-version").output();
    if cli.map(|o| o.status.success()).unwrap_or(false) {
        let out = Command::new("sqlite3")
            .arg(&copy)
            .arg("PRAGMA integrity_check;")
            .output()
            .unwrap();
        assert!(out.status.success(), "sqlite3: {out:?}");
        return String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store =
            planspec_store::SqliteStore::open(&copy, planspec_store::SqliteOptions::default())
                .await
                .unwrap();
        let result = store.integrity_check().await.unwrap().join("\n");
        store.close().await;
        result
    })
}

/// The journal entries and node records of each Execution uid, read through the store.
fn store_view(
    db: &Path,
    uids: &[String],
) -> BTreeMap<String, (Vec<Value>, Vec<planspec_store::NodeRecord>)> {
    use planspec_store::Store;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = planspec_store::SqliteStore::open(db, planspec_store::SqliteOptions::default())
            .await
            .unwrap();
        let mut view = BTreeMap::new();
        for uid in uids {
            let journal = store
                .read_journal(uid, 0, 1_000_000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.entry)
                .collect();
            let records = store
                .list_node_records(&planspec_store::NodeRecordQuery {
                    execution_uid: uid.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .records;
            view.insert(uid.clone(), (journal, records));
        }
        store.close().await;
        view
    })
}

// ------------------------------------------------------------------------------------------
// The test.
// ------------------------------------------------------------------------------------------

#[test]
fn executions_survive_sigkill_with_one_side_effect_per_node() {
    let started = Instant::now();
    let seed = seed();
    println!("execution_crash: seed {seed} (rerun with PLANSPEC_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let dag = dag(&mut rng);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let store = format!("sqlite:{}", db.display());
    let scratch = dir.path().join("scratch");
    let stderr = dir.path().join("server.stderr");
    let crash_dir = dir.path().join("tasks");
    std::fs::create_dir_all(crash_dir.join("effects")).unwrap();
    let script = dir.path().join("task.sh");
    std::fs::write(&script, TASK).unwrap();
    let log = crash_dir.join("events.log");
    let context = |what: &str| {
        format!(
            "{what} (seed {seed}); server stderr ends with:\n{}",
            tail(&stderr, 30)
        )
    };

    let mut server = start(&store, &stderr);
    create(&server.addr, "plans", &plan_document(&dag));
    create(
        &server.addr,
        "bindings",
        &binding_document(&script, &crash_dir),
    );
    for i in 0..EXECUTIONS {
        let execution = json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Execution",
            "metadata": {"name": execution_name(i), "namespace": NS},
            "spec": {"planRef": {"name": PLAN}}
        });
        create(&server.addr, "executions", &execution);
    }

    // Kill at random moments: after a random amount of task progress (sometimes none, so
    // that some kills land in the start-up and recovery of the restarted server), and for
    // every other kill only while a task is mid-flight.
    let mut kills = 0;
    for k in 0..KILLS {
        let progress = if rng.below(4) == 0 {
            rng.below(6)
        } else {
            10 + rng.below(240)
        };
        let need_in_flight = k % 2 == 0;
        let jitter = Duration::from_millis(rng.below(25) as u64);
        let target = events(&log).len() + progress;
        let waiting = Instant::now();
        let mut asked = Instant::now();
        let mut done = false;
        loop {
            let now = events(&log);
            if now.len() >= target && (!need_in_flight || in_flight(&now) > 0) {
                break;
            }
            // Now and then: maybe everything has finished already.
            if asked.elapsed() > Duration::from_millis(300) {
                asked = Instant::now();
                if all_finished(&server.addr) {
                    done = true;
                    break;
                }
            }
            assert!(
                waiting.elapsed() < Duration::from_secs(30),
                "{}",
                context(&format!("no task progress for 30 s before kill {k}"))
            );
            std::thread::sleep(Duration::from_millis(3));
        }
        if done {
            break;
        }
        std::thread::sleep(jitter);
        let at = events(&log).len();
        server.sigkill();
        kills += 1;
        println!(
            "execution_crash: kill {} after {at} task log lines ({} in flight), {:.1?} in",
            kills,
            in_flight(&events(&log)),
            started.elapsed()
        );
        // The file exactly as the crash left it.
        assert_eq!(
            integrity_check(&db, &scratch),
            "ok",
            "{}",
            context(&format!("integrity after kill {kills}"))
        );
        server = start(&store, &stderr);
    }

    // The last server finishes the runs.
    let waiting = Instant::now();
    let final_state = loop {
        let all = executions(&server.addr);
        if all.len() == EXECUTIONS && all.values().all(finished) {
            break all;
        }
        if waiting.elapsed() > FINISH_TIMEOUT {
            let phases: Vec<String> = all
                .iter()
                .map(|(n, e)| {
                    format!(
                        "{n}: {} {}",
                        phase(e),
                        e["status"]["extensions"]["progress"]
                    )
                })
                .collect();
            panic!(
                "{}",
                context(&format!(
                    "the executions did not finish within {FINISH_TIMEOUT:?} after {kills} kills: {phases:?}"
                ))
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    server.sigterm();
    // Tasks orphaned by the last kill finish within their 10 ms sleep; let them.
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "execution_crash: {kills} kills; all finished {:.1?} in",
        started.elapsed()
    );

    check_executions(&final_state, &dag, seed);
    let keys = check_task_log(&events(&log), &dag, &crash_dir, seed);
    let uids: Vec<String> = final_state
        .values()
        .map(|e| e["metadata"]["uid"].as_str().unwrap_or("").to_owned())
        .collect();
    let view = store_view(&db, &uids);
    for (name, execution) in &final_state {
        let uid = execution["metadata"]["uid"].as_str().unwrap_or("");
        let (journal, records) = &view[uid];
        check_store(name, journal, records, &keys, &dag, seed);
    }
    for (name, execution) in &final_state {
        for id in &dag.ids {
            let output = &execution["status"]["nodeStatuses"][id]["outputs"]["key"];
            assert_eq!(
                output,
                &json!(keys[&(name.clone(), id.clone())]),
                "seed {seed}: {name}/{id}: the outputs name another key than the one that ran"
            );
        }
    }
    assert_eq!(
        integrity_check(&db, &scratch),
        "ok",
        "at the end (seed {seed})"
    );
    println!(
        "execution_crash: passed in {:.1?} (seed {seed})",
        started.elapsed()
    );
}

/// Every Execution and every node `Succeeded`, each node on attempt 1.
fn check_executions(all: &BTreeMap<String, Value>, dag: &Dag, seed: u64) {
    for (name, e) in all {
        assert_eq!(
            phase(e),
            "Succeeded",
            "seed {seed}: execution {name} ended {}: {} {}",
            phase(e),
            e["status"]["reason"],
            e["status"]["message"]
        );
        assert_eq!(
            e["status"]["extensions"]["progress"]["succeeded"],
            json!(NODES),
            "seed {seed}: execution {name}: {}",
            e["status"]["extensions"]["progress"]
        );
        for id in &dag.ids {
            let node = &e["status"]["nodeStatuses"][id];
            assert_eq!(
                node["phase"], "Succeeded",
                "seed {seed}: {name}/{id}: {node}"
            );
            assert_eq!(
                node["attempt"],
                json!(1),
                "seed {seed}: {name}/{id} needed another attempt (its tasks never fail): {node}"
            );
        }
    }
}

/// The task log: per node one key, one side effect; keys never shared. Returns
/// (execution, node) → key.
fn check_task_log(
    events: &[Event],
    dag: &Dag,
    crash_dir: &Path,
    seed: u64,
) -> BTreeMap<(String, String), String> {
    let mut keys: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut starts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut effects: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    let mut owner: BTreeMap<String, (String, String)> = BTreeMap::new();
    for e in events {
        let node = (e.execution.clone(), e.node.clone());
        assert_eq!(
            e.attempt, "1",
            "seed {seed}: {}/{} ran attempt {} (key {}); its tasks never fail",
            e.execution, e.node, e.attempt, e.key
        );
        if let Some(other) = owner.insert(e.key.clone(), node.clone()) {
            assert_eq!(
                other, node,
                "seed {seed}: key {} used by two nodes: {other:?} and {node:?}",
                e.key
            );
        }
        match e.what.as_str() {
            "start" => {
                keys.entry(node.clone()).or_default().insert(e.key.clone());
                *starts.entry(node).or_default() += 1;
            }
            "effect" => effects.entry(node).or_default().push(e.key.clone()),
            "done" => *done.entry(e.key.clone()).or_default() += 1,
            other => panic!("seed {seed}: unknown task log entry {other}"),
        }
    }
    let mut result = BTreeMap::new();
    let mut redispatched = Vec::new();
    for i in 0..EXECUTIONS {
        let execution = execution_name(i);
        for id in &dag.ids {
            let node = (execution.clone(), id.clone());
            let node_keys = keys.get(&node).cloned().unwrap_or_default();
            assert_eq!(
                node_keys.len(),
                1,
                "seed {seed}: {execution}/{id} ran with {} idempotency keys (one expected): {node_keys:?}",
                node_keys.len()
            );
            let key = node_keys.into_iter().next().unwrap_or_default();
            let node_effects = effects.get(&node).cloned().unwrap_or_default();
            assert_eq!(
                node_effects.len(),
                1,
                "seed {seed}: {execution}/{id} did its side effect {} times (keys {node_effects:?}, \
                 dispatched {} times)",
                node_effects.len(),
                starts.get(&node).copied().unwrap_or(0)
            );
            assert!(
                done.contains_key(&key),
                "seed {seed}: {execution}/{id} (key {key}) never logged done"
            );
            if starts.get(&node).copied().unwrap_or(0) > 1 {
                redispatched.push(format!("{execution}/{id}"));
            }
            result.insert(node, key);
        }
    }
    let markers = std::fs::read_dir(crash_dir.join("effects"))
        .unwrap()
        .count();
    assert_eq!(
        markers,
        NODES * EXECUTIONS,
        "seed {seed}: side-effect markers (one per key that committed)"
    );
    // A kill leaves running tasks alive; those that finished as well as their re-dispatch
    // show as a key done twice (both ran the same attempt, the marker kept one effect).
    let twice = done.values().filter(|&&n| n > 1).count();
    let most = starts.values().max().copied().unwrap_or(0);
    println!(
        "execution_crash: {} attempts were dispatched again after a kill, each with its key \
         ({twice} of them also finished in the process orphaned by the kill; one attempt was \
         dispatched {most} times): {}",
        redispatched.len(),
        redispatched.join(", ")
    );
    assert!(
        !redispatched.is_empty(),
        "seed {seed}: no kill caught a task in flight, so re-dispatch was never exercised"
    );
    result
}

/// The journal and the node records agree with the task log: one `NodeStarted` per node,
/// with the key the task saw; every record `Succeeded` on attempt 1 with outputs written
/// under that key; one completion.
fn check_store(
    name: &str,
    journal: &[Value],
    records: &[planspec_store::NodeRecord],
    keys: &BTreeMap<(String, String), String>,
    dag: &Dag,
    seed: u64,
) {
    let mut started: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for entry in journal {
        let kind = entry["type"].as_str().unwrap_or("");
        assert!(
            !matches!(
                kind,
                "NodeFailed" | "RetryScheduled" | "NodeCancelled" | "NodeSkipped"
            ),
            "seed {seed}: execution {name} journaled {entry}"
        );
        if kind == "NodeStarted" {
            started
                .entry(entry["node"].as_str().unwrap_or("").to_owned())
                .or_default()
                .push((
                    entry["attempt"].as_u64().unwrap_or(0),
                    entry["idempotencyKey"].as_str().unwrap_or("").to_owned(),
                ));
        }
    }
    let completed = journal
        .iter()
        .filter(|e| e["type"] == "ExecutionCompleted")
        .count();
    assert_eq!(
        completed, 1,
        "seed {seed}: execution {name}: ExecutionCompleted entries"
    );
    for id in &dag.ids {
        let key = &keys[&(name.to_owned(), id.clone())];
        assert_eq!(
            started.get(id).cloned().unwrap_or_default(),
            vec![(1, key.clone())],
            "seed {seed}: {name}/{id}: NodeStarted entries (the task ran with {key})"
        );
    }
    assert_eq!(
        records.len(),
        NODES,
        "seed {seed}: execution {name}: node records"
    );
    for record in records {
        let id = &record.node_id;
        let key = &keys[&(name.to_owned(), id.clone())];
        assert_eq!(
            record.phase, "Succeeded",
            "seed {seed}: {name}/{id}: {}",
            record.record
        );
        assert_eq!(
            record.record["attempt"],
            json!(1),
            "seed {seed}: {name}/{id}: {}",
            record.record
        );
        // A finished node's record keeps no key (it is the running attempt's); the outputs
        // it kept were written by the task that ran with the node's one key.
        assert_eq!(
            record.record["outputs"]["key"],
            json!(key),
            "seed {seed}: {name}/{id}: the record's outputs come from another key: {}",
            record.record
        );
    }
}
