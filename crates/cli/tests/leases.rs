//! Keyed concurrency leases and Goal priority end to end through the real `planspec` binary
//! (issue 6, point 6): `planspec server` processes on a temporary SQLite file (loopback,
//! port 0), driven with the CLI; real `exec` processes log when they start and end (in
//! milliseconds) to files the tests read, beside the node records' own times.
//!
//! * Tasks of different Executions sharing a mutex key never overlap, another key runs
//!   beside them, and a semaphore of 2 lets exactly two run at once; the waiting node says
//!   whom it waits for and `planspec leases` lists holder and waiters;
//! * cancelling the holder releases the lease at once (long before its TTL);
//! * a lease held by a SIGKILLed server is taken over only after its TTL, by a new holder;
//! * waiters for a key are served by their Goal's priority, then in arrival order;
//! * with `--max-running-tasks 1`, the Execution of the higher-priority Goal dispatches
//!   before an earlier one of a lower priority.

#![cfg(unix)]

mod common;

use common::{doc, show, text, ServerProcess};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const BIN: &str = env!("CARGO_BIN_EXE_planspec");
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);
const API: &str = "/apis/planspec.io/v1alpha1/namespaces/default";

struct Server {
    process: ServerProcess,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(flags: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let process = Server::process(dir.path(), flags);
        Server { process, dir }
    }

    fn process(dir: &Path, flags: &[&str]) -> ServerProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("the server log");
        let store = format!("sqlite:{}", dir.join("planspec.db").display());
        ServerProcess::start_with(&store, Stdio::from(log), flags).expect("the server starts")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .current_dir(self.dir.path())
            .env("PLANSPEC_SERVER", format!("http://{}", self.process.addr))
            .env("NO_COLOR", "1")
            .env_remove("PLANSPEC_NAMESPACE")
            .env_remove("PLANSPEC_USER")
            .stdin(Stdio::null())
            .args(args)
            .output()
            .expect("planspec runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "planspec {args:?}: {}\n--- server log ---\n{}",
            show(&out),
            self.log()
        );
        text(&out.stdout)
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.path("server.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    fn apply(&self, folder: &str, docs: &[Value]) {
        let dir = self.path(folder);
        std::fs::create_dir_all(&dir).expect("a folder");
        for (i, d) in docs.iter().enumerate() {
            let name = format!(
                "{i:02}-{}.json",
                d["metadata"]["name"].as_str().unwrap_or("x")
            );
            std::fs::write(dir.join(name), serde_json::to_vec_pretty(d).expect("json"))
                .expect("written");
        }
        self.ok(&["apply", "-f", &dir.display().to_string()]);
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http(&self.process.addr, path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    fn execution(&self, name: &str) -> Value {
        let out = self.cli(&["get", "execution", name, "-o", "json"]);
        if !out.status.success() {
            return Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// The record of `node` of Execution `name`.
    fn node(&self, name: &str, node: &str) -> Value {
        let page = self.get(&format!("{API}/executions/{name}/nodes"));
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["node"] == node)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn until<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached\n--- server log ---\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// `planspec replay` re-derives every decision of the Execution's journal.
    fn replays(&self, name: &str) {
        let out = self.ok(&["replay", &format!("execution/{name}")]);
        assert!(!out.contains("differ"), "replay of {name}: {out}");
    }

    fn finished(&self, name: &str) -> Value {
        self.until(&format!("execution {name} finished"), || {
            let e = self.execution(name);
            matches!(phase(&e), "Succeeded" | "Failed" | "Cancelled").then_some(e)
        })
    }
}

fn http(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn phase(e: &Value) -> &str {
    e["status"]["phase"].as_str().unwrap_or("")
}

fn time_of(v: &Value) -> i128 {
    let t = v.as_str().expect("a timestamp");
    OffsetDateTime::parse(t, &Rfc3339)
        .expect("RFC 3339")
        .unix_timestamp_nanos()
        / 1_000_000
}

/// A Plan with one Task `node` holding `concurrency` that logs start and end to `log` and
/// sleeps `seconds`; and the Binding rule that runs it.
fn leased_plan(
    dir: &Path,
    plan: &str,
    node: &str,
    concurrency: Value,
    seconds: &str,
    log: &str,
) -> (Value, Value) {
    let mut task = json!({"id": node, "kind": "Task", "inputs": {"run": "${{ execution.name }}"}});
    if !concurrency.is_null() {
        task["concurrency"] = concurrency;
    }
    let plan_doc = doc(
        "Plan",
        plan,
        json!({"description": format!("lease test plan {plan}"), "graph": {"nodes": [task]}}),
    );
    let log = dir.join(log).display().to_string();
    let script = format!(
        "echo \"$PLANSPEC_INPUT_RUN start $(date +%s%3N)\" >> {log}; sleep {seconds}; \
         echo \"$PLANSPEC_INPUT_RUN end $(date +%s%3N)\" >> {log}"
    );
    let rule = json!({"selector": {"planRef": {"name": plan}, "nodeId": node},
                      "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}}});
    (plan_doc, rule)
}

fn execution(name: &str, plan: &str, parameters: Value, goal: Option<&str>) -> Value {
    let mut spec = json!({"planRef": {"name": plan}, "bindingRef": {"name": "all"},
                          "parameters": parameters});
    if let Some(goal) = goal {
        spec["goalRef"] = json!({"name": goal});
    }
    doc("Execution", name, spec)
}

/// `run → (start, end)` in ms, from a log the tasks wrote.
fn intervals(path: &Path) -> std::collections::BTreeMap<String, (i64, i64)> {
    let mut out = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [run, what, at] = parts[..] else { continue };
        let at: i64 = at.parse().expect("ms");
        let entry = out.entry(run.to_owned()).or_insert((0, 0));
        match what {
            "start" => entry.0 = at,
            _ => entry.1 = at,
        }
    }
    out
}

/// The most intervals open at once.
fn most_at_once(intervals: &[(i64, i64)]) -> usize {
    let mut events: Vec<(i64, i32)> = intervals
        .iter()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    // An end at the same millisecond as a start comes first.
    events.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, d) in events {
        open += d;
        most = most.max(open);
    }
    most as usize
}

#[test]
fn a_mutex_key_never_overlaps_across_executions_and_a_semaphore_of_two_runs_two() {
    let s = Server::start(&[]);
    let dir = s.dir.path().to_owned();
    let (deploy, deploy_rule) = leased_plan(
        &dir,
        "deploy",
        "deploy",
        json!({"key": "deploy-${{ parameters.env }}"}),
        "1",
        "deploy.log",
    );
    let (pool, pool_rule) = leased_plan(
        &dir,
        "pool",
        "work",
        json!({"key": "pool", "limit": 2}),
        "1.5",
        "pool.log",
    );
    let mut docs = vec![
        deploy,
        pool,
        doc("Binding", "all", json!({"rules": [deploy_rule, pool_rule]})),
    ];
    for name in ["m1", "m2", "m3"] {
        docs.push(execution(name, "deploy", json!({"env": "prod"}), None));
    }
    docs.push(execution("m4", "deploy", json!({"env": "staging"}), None));
    for name in ["p1", "p2", "p3", "p4"] {
        docs.push(execution(name, "pool", json!({}), None));
    }
    s.apply("docs", &docs);

    // A prod deploy waits, and says for whom; `planspec leases` shows holder and waiters.
    let waiting = s.until("a prod deploy waiting for the lease", || {
        ["m1", "m2", "m3"].iter().find_map(|m| {
            let r = s.node(m, "deploy");
            let w = r["waitingOn"].as_str()?.to_owned();
            w.starts_with("waiting for lease deploy-prod (held by default/m")
                .then(|| (m.to_string(), w, r))
        })
    });
    assert_eq!(waiting.2["phase"], "Ready", "{:#}", waiting.2);
    assert_eq!(waiting.2["lease"]["key"], "deploy-prod", "{:#}", waiting.2);
    let table = s.ok(&["leases"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("deploy-prod"))
        .unwrap_or_else(|| panic!("no deploy-prod row:\n{table}"));
    assert!(
        row.contains("default/m") && row.contains("/deploy"),
        "{table}"
    );
    let list = s.get("/apis/planspec.io/v1alpha1/leases");
    let prod = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["key"] == "deploy-prod")
        .cloned()
        .expect("deploy-prod listed");
    assert_eq!(
        prod["holders"].as_array().map(Vec::len),
        Some(1),
        "{prod:#}"
    );

    for name in ["m1", "m2", "m3", "m4", "p1", "p2", "p3", "p4"] {
        let e = s.finished(name);
        assert_eq!(phase(&e), "Succeeded", "{name}: {e:#}\n{}", s.log());
    }

    // The mutex: the prod deploys never overlap — by the processes' own clocks and by the
    // node records; the staging deploy ran beside them.
    let runs = intervals(&s.path("deploy.log"));
    let prod: Vec<(i64, i64)> = ["m1", "m2", "m3"].iter().map(|m| runs[*m]).collect();
    assert_eq!(most_at_once(&prod), 1, "prod deploys overlapped: {runs:?}");
    let mut all: Vec<(i64, i64)> = prod.clone();
    all.push(runs["m4"]);
    assert_eq!(
        most_at_once(&all),
        2,
        "staging ran beside a prod deploy: {runs:?}"
    );
    let mut records: Vec<(i128, i128)> = ["m1", "m2", "m3"]
        .iter()
        .map(|m| {
            let r = s.node(m, "deploy");
            (time_of(&r["startTime"]), time_of(&r["completionTime"]))
        })
        .collect();
    records.sort();
    for pair in records.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "node records overlap: {records:?}");
    }

    // The semaphore of 2: two at once, never three.
    let runs = intervals(&s.path("pool.log"));
    let pool: Vec<(i64, i64)> = runs.values().copied().collect();
    assert_eq!(pool.len(), 4, "{runs:?}");
    assert_eq!(most_at_once(&pool), 2, "{runs:?}");

    // Every lease was released: nothing is held or waited for.
    let list = s.get("/apis/planspec.io/v1alpha1/namespaces/default/leases");
    assert_eq!(list["items"], json!([]), "{list:#}");
    for name in ["m1", "m2", "m3", "p3", "p4"] {
        s.replays(name);
    }
}

#[test]
fn cancelling_the_holder_releases_the_lease_at_once() {
    // The TTL is long: only an explicit release lets the next run in quickly.
    let s = Server::start(&["--lease-ttl", "60s"]);
    let dir = s.dir.path().to_owned();
    let (plan, rule) = leased_plan(&dir, "db", "migrate", json!({"key": "db"}), "300", "db.log");
    s.apply(
        "docs",
        &[
            plan,
            doc("Binding", "all", json!({"rules": [rule]})),
            execution("c1", "db", json!({}), None),
        ],
    );
    s.until("c1 holds the lease", || {
        (s.node("c1", "migrate")["phase"] == "Running").then_some(())
    });
    s.apply(
        "more",
        &[
            execution("c2", "db", json!({}), None),
            execution("c3", "db", json!({}), None),
        ],
    );
    s.until("c2 waits", || {
        s.node("c2", "migrate")["waitingOn"]
            .as_str()
            .is_some_and(|w| w.contains("held by default/c1/migrate"))
            .then_some(())
    });
    // A waiting run cancelled leaves the queue.
    s.ok(&["cancel", "execution/c3"]);
    assert_eq!(phase(&s.finished("c3")), "Cancelled");

    let cancelled = Instant::now();
    s.ok(&["cancel", "execution/c1", "--force"]);
    s.until("c2 runs", || {
        (s.node("c2", "migrate")["phase"] == "Running").then_some(())
    });
    assert!(
        cancelled.elapsed() < Duration::from_secs(15),
        "c2 started {:?} after the cancel: the lease was not released at once",
        cancelled.elapsed()
    );
    assert_eq!(phase(&s.finished("c1")), "Cancelled");
    let list = s.get("/apis/planspec.io/v1alpha1/leases");
    let db = &list["items"][0];
    assert_eq!(db["holders"][0]["execution"], "default/c2", "{list:#}");
    assert_eq!(db["waiters"], json!([]), "{list:#}");
    s.ok(&["cancel", "execution/c2", "--force"]);
    s.finished("c2");
    for name in ["c1", "c2", "c3"] {
        s.replays(name);
    }
}

#[test]
fn a_force_cancelled_holder_keeps_the_lease_until_its_process_is_gone() {
    // The holder's process ignores SIGTERM for 2 s (its grace period is 10 s): the forced
    // cancel kills it and releases the lease in one step, but the next holder may start
    // only once the first process has exited.
    let s = Server::start(&["--lease-ttl", "60s"]);
    let dir = s.dir.path().to_owned();
    let log = dir.join("stubborn.log").display().to_string();
    let script = format!(
        "trap 'sleep 2; echo \"$PLANSPEC_INPUT_RUN end $(date +%s%3N)\" >> {log}; exit 0' TERM; \
         echo \"$PLANSPEC_INPUT_RUN start $(date +%s%3N)\" >> {log}; \
         if [ \"$PLANSPEC_INPUT_RUN\" = s1 ]; then sleep 300 & wait; fi; \
         echo \"$PLANSPEC_INPUT_RUN end $(date +%s%3N)\" >> {log}"
    );
    let (plan, _) = leased_plan(
        &dir,
        "stubborn",
        "work",
        json!({"key": "stubborn"}),
        "0",
        "unused.log",
    );
    let rule = json!({"selector": {"planRef": {"name": "stubborn"}, "nodeId": "work"},
                      "target": {"provider": "exec://sh",
                                 "config": {"command": ["sh", "-c", script], "gracePeriod": "10s"}}});
    s.apply(
        "docs",
        &[
            plan,
            doc("Binding", "all", json!({"rules": [rule]})),
            execution("s1", "stubborn", json!({}), None),
        ],
    );
    s.until("s1 runs its process", || {
        intervals(&s.path("stubborn.log"))
            .contains_key("s1")
            .then_some(())
    });
    s.apply("more", &[execution("s2", "stubborn", json!({}), None)]);
    s.until("s2 waits", || {
        s.node("s2", "work")["waitingOn"]
            .as_str()
            .is_some_and(|w| w.contains("held by default/s1/work"))
            .then_some(())
    });
    s.ok(&["cancel", "execution/s1", "--force"]);
    assert_eq!(phase(&s.finished("s1")), "Cancelled");
    assert_eq!(phase(&s.finished("s2")), "Succeeded");
    // s1's process logs its end when it finally exits (2 s after SIGTERM).
    let runs = s.until("s1's process ended", || {
        let runs = intervals(&s.path("stubborn.log"));
        runs.get("s1").is_some_and(|r| r.1 > 0).then_some(runs)
    });
    let (first, second) = (runs["s1"], runs["s2"]);
    assert!(
        second.0 >= first.1,
        "s2 started while s1's killed process still ran (two holders): {runs:?}"
    );
    for name in ["s1", "s2"] {
        s.replays(name);
    }
}

/// Every `LeaseAcquired` input of an Execution's journal: (at, holder).
fn grants(s: &Server, name: &str) -> Vec<(u64, Value)> {
    let journal = s.get(&format!("{API}/executions/{name}/journal"));
    let mut out = Vec::new();
    let mut todo = vec![&journal];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(m) => {
                if m.get("type") == Some(&json!("LeaseAcquired")) {
                    let holder = m["holder"]
                        .as_str()
                        .and_then(|h| serde_json::from_str(h).ok())
                        .unwrap_or(Value::Null);
                    out.push((m["at"].as_u64().unwrap_or(0), holder));
                } else {
                    todo.extend(m.values());
                }
            }
            Value::Array(a) => todo.extend(a),
            _ => {}
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out
}

#[test]
fn a_lease_held_by_a_sigkilled_server_is_released_after_its_ttl() {
    let mut s = Server::start(&["--lease-ttl", "8s"]);
    let dir = s.dir.path().to_owned();
    let log = dir.join("lock.log").display().to_string();
    let marker = dir.join("first-run-done").display().to_string();
    // The first run holds the lease "forever"; run again (after the crash) it ends at once.
    let script = format!(
        "echo \"$PLANSPEC_INPUT_RUN start $(date +%s%3N)\" >> {log}; \
         if [ -e {marker} ] || [ \"$PLANSPEC_INPUT_RUN\" != k1 ]; then sleep 0.2; \
         else touch {marker}; sleep 300; fi; \
         echo \"$PLANSPEC_INPUT_RUN end $(date +%s%3N)\" >> {log}"
    );
    let plan = doc(
        "Plan",
        "lock",
        json!({"description": "holds a mutex", "graph": {"nodes": [
            {"id": "hold", "kind": "Task", "concurrency": {"key": "the-lock"},
             "inputs": {"run": "${{ execution.name }}"}}]}}),
    );
    let rule = json!({"selector": {"planRef": {"name": "lock"}, "nodeId": "hold"},
                      "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}}});
    s.apply(
        "docs",
        &[
            plan,
            doc("Binding", "all", json!({"rules": [rule]})),
            execution("k1", "lock", json!({}), None),
        ],
    );
    s.until("k1 holds the lease", || {
        (s.node("k1", "hold")["phase"] == "Running").then_some(())
    });
    let before = s.get("/apis/planspec.io/v1alpha1/leases");
    let held = before["items"][0]["holders"][0].clone();
    assert_eq!(held["execution"], "default/k1", "{before:#}");
    let instance_a = held["instance"].as_str().expect("an instance").to_owned();

    // SIGKILL: the lease stays in the store until it expires.
    let _ = s.process.child.kill();
    let _ = s.process.child.wait();
    let killed_at = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;

    s.process = Server::process(s.dir.path(), &["--lease-ttl", "2s"]);
    // Right after the restart the dead server's lease is still held (it renewed every
    // third of its 8 s TTL): nobody holds it anew, and its expiry is final.
    let now = s.get("/apis/planspec.io/v1alpha1/leases");
    let dead = &now["items"][0]["holders"][0];
    assert_eq!(dead["instance"], json!(instance_a), "{now:#}");
    assert_eq!(dead["expired"], false, "{now:#}");
    let expired_by = time_of(&dead["expiresAt"]);
    assert!(
        expired_by > killed_at && expired_by <= killed_at + 8_000,
        "the lease expires {}ms after the kill",
        expired_by - killed_at
    );
    s.apply("more", &[execution("k2", "lock", json!({}), None)]);

    for name in ["k1", "k2"] {
        let e = s.finished(name);
        assert_eq!(phase(&e), "Succeeded", "{name}: {e:#}\n{}", s.log());
    }
    // Both runs got the lease only after the dead server's tenure expired, from the new
    // server (another instance) — and one after the other.
    let k1 = grants(&s, "k1");
    assert_eq!(
        k1.len(),
        2,
        "k1 acquired before and after the crash: {k1:?}"
    );
    assert_eq!(k1[0].1["instance"], json!(instance_a));
    assert_ne!(
        k1[1].1["instance"],
        json!(instance_a),
        "the holder changed: {k1:?}"
    );
    let k2 = grants(&s, "k2");
    assert_eq!(k2.len(), 1, "{k2:?}");
    for (at, holder) in [&k1[1], &k2[0]] {
        assert!(
            i128::from(*at) >= expired_by,
            "granted at {at}, before the dead server's lease expired ({expired_by}): {holder}"
        );
    }
    let runs = intervals(&s.path("lock.log"));
    let k2_start = runs["k2"].0;
    assert!(
        i128::from(k2_start) >= expired_by,
        "k2 ran {}ms before the TTL passed",
        expired_by - i128::from(k2_start)
    );
    let list = s.get("/apis/planspec.io/v1alpha1/leases");
    assert_eq!(list["items"], json!([]), "{list:#}");
    // The journal re-derives, resumption included; the trace shows both tenures.
    s.replays("k1");
    s.replays("k2");
    let trace = s.ok(&["trace", "execution/k1"]);
    assert_eq!(trace.matches("LeaseGranted").count(), 2, "{trace}");
}

#[test]
fn the_higher_priority_goal_dispatches_first_when_one_task_may_run() {
    let s = Server::start(&["--max-running-tasks", "1"]);
    let dir = s.dir.path().to_owned();
    // The first job holds the only slot long enough for the others to queue.
    let (plan, rule) = leased_plan(
        &dir,
        "job",
        "step",
        Value::Null,
        "$([ \"$PLANSPEC_INPUT_RUN\" = first ] && echo 5 || echo 1)",
        "jobs.log",
    );
    let goal = |name: &str, priority: u32| {
        doc(
            "Goal",
            name,
            json!({"description": format!("a goal of priority {priority}"), "priority": priority}),
        )
    };
    s.apply(
        "docs",
        &[
            plan,
            goal("routine", 10),
            goal("urgent", 900),
            doc("Binding", "all", json!({"rules": [rule]})),
            execution("first", "job", json!({}), Some("routine")),
        ],
    );
    s.until("first runs", || {
        std::fs::read_to_string(s.path("jobs.log"))
            .unwrap_or_default()
            .contains("first start")
            .then_some(())
    });
    // Two more arrive while the only slot is taken: the routine one first.
    s.apply(
        "low",
        &[execution("later-low", "job", json!({}), Some("routine"))],
    );
    s.until("later-low waits for a run slot", || {
        s.node("later-low", "step")["waitingOn"]
            .as_str()
            .is_some_and(|w| w.starts_with("waiting for a run slot"))
            .then_some(())
    });
    s.apply(
        "high",
        &[execution("later-high", "job", json!({}), Some("urgent"))],
    );
    s.until("later-high waits for a run slot", || {
        s.node("later-high", "step")["waitingOn"]
            .as_str()
            .is_some_and(|w| w.contains("priority 900"))
            .then_some(())
    });
    for name in ["first", "later-low", "later-high"] {
        let e = s.finished(name);
        assert_eq!(phase(&e), "Succeeded", "{name}: {e:#}\n{}", s.log());
    }
    let runs = intervals(&s.path("jobs.log"));
    let order: Vec<&str> = {
        let mut v: Vec<(&String, &(i64, i64))> = runs.iter().collect();
        v.sort_by_key(|(_, (start, _))| *start);
        v.into_iter().map(|(n, _)| n.as_str()).collect()
    };
    assert_eq!(order, ["first", "later-high", "later-low"], "{runs:?}");
    let all: Vec<(i64, i64)> = runs.values().copied().collect();
    assert_eq!(most_at_once(&all), 1, "one task at a time: {runs:?}");
}

#[test]
fn lease_waiters_are_served_by_goal_priority_then_arrival() {
    let s = Server::start(&[]);
    let dir = s.dir.path().to_owned();
    let (plan, rule) = leased_plan(
        &dir,
        "deploy",
        "deploy",
        json!({"key": "prod"}),
        "$([ \"$PLANSPEC_INPUT_RUN\" = holder ] && echo 4 || echo 0.3)",
        "order.log",
    );
    let goal = |name: &str, priority: u32| {
        doc(
            "Goal",
            name,
            json!({"description": format!("a goal of priority {priority}"), "priority": priority}),
        )
    };
    s.apply(
        "docs",
        &[
            plan,
            goal("routine", 1),
            goal("hotfix", 1000),
            doc("Binding", "all", json!({"rules": [rule]})),
            execution("holder", "deploy", json!({}), Some("routine")),
        ],
    );
    s.until("holder holds the lease", || {
        (s.node("holder", "deploy")["phase"] == "Running").then_some(())
    });
    // Queued in this order while the holder runs: two routine runs, then a hotfix.
    for (i, (name, goal)) in [
        ("routine-1", "routine"),
        ("routine-2", "routine"),
        ("hotfix", "hotfix"),
    ]
    .into_iter()
    .enumerate()
    {
        s.apply(
            &format!("q{i}"),
            &[execution(name, "deploy", json!({}), Some(goal))],
        );
        s.until(&format!("{name} waits"), || {
            s.node(name, "deploy")["waitingOn"].as_str().map(|_| ())
        });
    }
    let list = s.get(&format!("{API}/leases"));
    let waiters: Vec<&str> = list["items"][0]["waiters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["execution"].as_str())
        .collect();
    assert_eq!(
        waiters,
        ["default/hotfix", "default/routine-1", "default/routine-2"],
        "{list:#}"
    );
    for name in ["holder", "routine-1", "routine-2", "hotfix"] {
        assert_eq!(phase(&s.finished(name)), "Succeeded", "{name}\n{}", s.log());
    }
    let runs = intervals(&s.path("order.log"));
    let mut order: Vec<(&i64, &str)> = runs
        .iter()
        .map(|(n, (start, _))| (start, n.as_str()))
        .collect();
    order.sort();
    let order: Vec<&str> = order.into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        order,
        ["holder", "hotfix", "routine-1", "routine-2"],
        "{runs:?}"
    );
}
