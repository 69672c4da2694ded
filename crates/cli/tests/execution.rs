//! Executions end to end through the real `planspec` binary (issue 4, "Must show"): each test
//! starts `planspec server` on a temporary SQLite file (loopback, port 0) and drives it with
//! the CLI as a user would — `planspec run --server URL`, `apply`, `get`, `describe`,
//! `approve`/`reject`, `cancel`, `retry`, `complete`/`fail`, `logs`, `trace` — with real
//! `exec` processes writing what they saw (timestamps, inputs, pids, run counters) to files
//! the test reads back. HTTP acceptance criteria talk to a loopback HTTP server the test runs.
//! The last test runs the `ship-release` example on the embedded control plane (`--store`).
//!
//! The semantics checked here are also covered in-process by `crates/runtime/tests/driver.rs`
//! and `crates/server/tests/operations.rs`; these tests prove the binary wires them up.

#![cfg(unix)]

mod common;

use common::{doc, show, text};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_planspec");
/// How long any one wait in these tests may take before it fails the test.
const WAIT: Duration = Duration::from_secs(30);
/// How often the tests look again.
const POLL: Duration = Duration::from_millis(100);
/// Who starts the runs.
const RUNNER: &str = "user:dev";

// ------------------------------------------------------------------------------------------
// A `planspec server` on a temporary SQLite file, and the CLI pointed at it.
// ------------------------------------------------------------------------------------------

struct Server {
    child: Child,
    url: String,
    dir: PathBuf,
    /// Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Issue 5: every Execution a test produced replays identically (`planspec replay`).
        if !std::thread::panicking() {
            self.replay_all();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A server on a fresh store in a new temporary directory.
    fn start() -> Server {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().to_path_buf();
        let mut server = Server::start_on(&dir, &dir.join("planspec.db"));
        server._tmp = Some(tmp);
        server
    }

    /// A server on the SQLite file `store`; `dir` holds its log and the test's files.
    fn start_on(dir: &Path, store: &Path) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("the server log");
        let mut child = Command::new(BIN)
            .args(["server", "--dev", "--listen", "127.0.0.1:0", "--store"])
            .arg(format!("sqlite:{}", store.display()))
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("planspec server starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Server {
            child,
            url: format!("http://{addr}"),
            dir: dir.to_path_buf(),
            _stdout: stdout,
            _tmp: None,
        }
    }

    /// Runs `planspec replay` on every Execution of the server: each must agree (one that
    /// never started has no journal and is left out).
    fn replay_all(&self) {
        let out = self.cli(&["get", "executions", "-A", "-o", "json"]);
        assert!(out.status.success(), "listing executions: {}", show(&out));
        let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let items = list["items"].as_array().cloned().unwrap_or_default();
        eprintln!("replaying {} execution(s)", items.len());
        for item in &items {
            let ns = item["metadata"]["namespace"].as_str().unwrap_or("default");
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            let out = self.cli(&["replay", "-n", ns, &format!("execution/{name}")]);
            if out.status.success() || text(&out.stdout).contains("the journal is empty") {
                continue;
            }
            panic!(
                "planspec replay execution/{name} does not agree:\n{}",
                show(&out)
            );
        }
    }

    /// A path in the test's directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The test's directory as text, for shell scripts.
    fn dir_text(&self) -> String {
        self.dir.display().to_string()
    }

    /// `planspec` with the environment pointed at this server.
    fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .current_dir(&self.dir)
            .env("PLANSPEC_SERVER", &self.url)
            .env("NO_COLOR", "1")
            .env_remove("PLANSPEC_NAMESPACE")
            .env_remove("PLANSPEC_USER")
            .stdin(Stdio::null());
        command
    }

    /// Runs `planspec ARGS`. An `--as USER` acts as that user with every permission
    /// (`--as-group system:masters`): these tests are about execution, not authorization.
    fn cli(&self, args: &[&str]) -> Output {
        let mut command = self.command();
        command.args(args);
        if args.contains(&"--as") {
            command.args(["--as-group", "system:masters"]);
        }
        command.output().expect("planspec runs")
    }

    /// Runs `planspec ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "planspec {args:?} failed: {}\n--- server log ---\n{}",
            show(&output),
            self.log()
        );
        text(&output.stdout)
    }

    /// The end of the server's log, for failure messages.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.path("server.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    /// Writes `docs` as JSON files into the folder `folder` of the test directory; its path.
    fn docs(&self, folder: &str, docs: &[Value]) -> String {
        let dir = self.path(folder);
        std::fs::create_dir_all(&dir).expect("the documents folder");
        for (i, doc) in docs.iter().enumerate() {
            let name = format!(
                "{:02}-{}-{}.json",
                i,
                doc["kind"].as_str().unwrap_or("doc").to_lowercase(),
                doc["metadata"]["name"].as_str().unwrap_or("x")
            );
            let body = serde_json::to_string_pretty(doc).expect("a document serialises");
            std::fs::write(dir.join(name), body).expect("a document is written");
        }
        dir.display().to_string()
    }

    /// The arguments of `planspec run --server URL -f FILES --no-input --as user:dev …`.
    fn run_args(&self, files: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["run", "--server", &self.url, "-f", files, "--no-input"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "--as".to_owned(),
            RUNNER.to_owned(),
            "--as-group".to_owned(),
            "system:masters".to_owned(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// `planspec run` to the end.
    fn run(&self, files: &str, extra: &[&str]) -> Output {
        self.command()
            .args(self.run_args(files, extra))
            .output()
            .expect("planspec run runs")
    }

    /// `planspec run` in the background; its output goes to files.
    fn spawn_run(&self, files: &str, extra: &[&str]) -> Running {
        let mut command = self.command();
        command.args(self.run_args(files, extra));
        Running::spawn(command, &self.dir)
    }

    /// The Execution `name`, as `planspec get execution NAME -o json` prints it.
    fn execution(&self, name: &str) -> Value {
        let out = self.ok(&["get", "execution", name, "-o", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("get -o json: {e}: {out}"))
    }

    /// Waits until the Execution `name` satisfies `check`.
    fn wait(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let output = self.cli(&["get", "execution", name, "-o", "json"]);
            let last = if output.status.success() {
                serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            if check(&last) {
                return last;
            }
            if Instant::now() > deadline {
                panic!(
                    "execution {name}: {what}: not reached in {WAIT:?}: {last:#}\n{}\n--- server log ---\n{}",
                    show(&output),
                    self.log()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the Execution `name` has finished.
    fn finished(&self, name: &str) -> Value {
        self.wait(name, "finished", |e| {
            matches!(phase(e), "Succeeded" | "Failed" | "Cancelled")
        })
    }

    /// Waits until `planspec get gates` lists `gate` as `Waiting`; the table.
    fn wait_gate_waiting(&self, gate: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let table = self.ok(&["get", "gates"]);
            if gate_phase(&table, gate) == Some("Waiting") {
                return table;
            }
            assert!(
                Instant::now() < deadline,
                "gate {gate} never showed Waiting:\n{table}\n--- server log ---\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }
}

/// A `planspec run` running in the background.
struct Running {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

/// How a background `planspec run` ended.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Running {
    /// Starts `command` with its stdout and stderr going to new files in `dir`.
    fn spawn(mut command: Command, dir: &Path) -> Running {
        static SPAWNED: AtomicU64 = AtomicU64::new(0);
        let label = format!("cli-{}", SPAWNED.fetch_add(1, Ordering::SeqCst));
        let out = dir.join(format!("{label}.stdout"));
        let err = dir.join(format!("{label}.stderr"));
        let child = command
            .stdout(Stdio::from(
                std::fs::File::create(&out).expect("stdout file"),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(&err).expect("stderr file"),
            ))
            .spawn()
            .expect("planspec starts");
        Running {
            child: Some(child),
            out,
            err,
        }
    }

    /// What it has written to stderr so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits (at most [`WAIT`]) for it to exit.
    fn wait(mut self) -> Finished {
        let mut child = self.child.take().expect("a child");
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "planspec did not exit in {WAIT:?}\nstdout:\n{}\nstderr:\n{}",
                    std::fs::read_to_string(&self.out).unwrap_or_default(),
                    self.stderr()
                );
            }
            std::thread::sleep(POLL);
        };
        Finished {
            status,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

// ------------------------------------------------------------------------------------------
// Documents.
// ------------------------------------------------------------------------------------------

fn plan(name: &str, nodes: Value) -> Value {
    doc(
        "Plan",
        name,
        json!({"description": format!("end-to-end test plan {name}"), "graph": {"nodes": nodes}}),
    )
}

fn binding(name: &str, rules: Vec<Value>) -> Value {
    doc("Binding", name, json!({ "rules": rules }))
}

fn rule(plan: &str, node: &str, provider: &str, config: Value) -> Value {
    json!({"selector": {"planRef": {"name": plan}, "nodeId": node},
           "target": {"provider": provider, "config": config}})
}

/// A rule running `script` with `sh -c` for `node` of `plan`.
fn sh(plan: &str, node: &str, script: &str) -> Value {
    rule(
        plan,
        node,
        "exec://sh",
        json!({"command": ["sh", "-c", script]}),
    )
}

// ------------------------------------------------------------------------------------------
// Reading results.
// ------------------------------------------------------------------------------------------

fn phase(e: &Value) -> &str {
    e["status"]["phase"].as_str().unwrap_or("")
}

fn node<'a>(e: &'a Value, id: &str) -> &'a Value {
    &e["status"]["nodeStatuses"][id]
}

fn node_phase<'a>(e: &'a Value, id: &str) -> &'a str {
    node(e, id)["phase"].as_str().unwrap_or("")
}

fn node_reason<'a>(e: &'a Value, id: &str) -> &'a str {
    node(e, id)["extensions"]["reason"].as_str().unwrap_or("")
}

fn node_message<'a>(e: &'a Value, id: &str) -> &'a str {
    node(e, id)["message"].as_str().unwrap_or("")
}

/// Asserts node `id` ended in `phase` (and with `reason`, if given).
fn assert_node(e: &Value, id: &str, phase: &str, reason: Option<&str>) {
    assert_eq!(node_phase(e, id), phase, "node {id}: {:#}", node(e, id));
    if let Some(reason) = reason {
        assert_eq!(node_reason(e, id), reason, "node {id}: {:#}", node(e, id));
    }
}

/// A nanosecond timestamp written by `date +%s%N`.
fn stamp(path: &Path) -> u128 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}: {text:?}", path.display()))
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(POLL);
    }
}

/// `true` while process `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                != Some('Z')
        }
        Err(_) => true,
    }
}

/// Waits until process `pid` is gone.
fn assert_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "{what}: process {pid} is still running"
        );
        std::thread::sleep(POLL);
    }
}

// ------------------------------------------------------------------------------------------
// A loopback HTTP server answering by path.
// ------------------------------------------------------------------------------------------

/// One request the stub received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: String,
}

/// Status, content type and body of an answer.
type Answer = (u16, &'static str, String);

struct Stub {
    url: String,
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    fn start(answer: fn(&str) -> Answer) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let seen = seen.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        if let Some(request) = serve(stream, answer) {
                            seen.lock().unwrap_or_else(|e| e.into_inner()).push(request);
                        }
                    }
                }
            })
        };
        Stub {
            url: format!("http://{addr}"),
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one HTTP/1.1 request from `stream` and answers it; the request.
fn serve(stream: TcpStream, answer: fn(&str) -> Answer) -> Option<Seen> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (code, content_type, reply) = answer(&path);
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.flush();
    Some(Seen {
        method,
        path,
        body: text(&body),
    })
}

// ------------------------------------------------------------------------------------------
// 1. Ordering and parallel branches.
// ------------------------------------------------------------------------------------------

#[test]
fn a_diamond_runs_in_dependency_order_with_parallel_branches() {
    let s = Server::start();
    let dir = s.dir_text();
    // Each node records when it started and ended; b and c take a second each.
    let timed = |node: &str, secs: &str| {
        sh(
            "diamond",
            node,
            &format!(
                "date +%s%N > {dir}/{node}.start; sleep {secs}; date +%s%N > {dir}/{node}.end"
            ),
        )
    };
    let files = s.docs(
        "diamond",
        &[
            plan(
                "diamond",
                json!([
                    {"id": "a", "kind": "Task"},
                    {"id": "b", "kind": "Task", "dependsOn": ["a"]},
                    {"id": "c", "kind": "Task", "dependsOn": ["a"]},
                    {"id": "d", "kind": "Task", "dependsOn": ["b", "c"]}
                ]),
            ),
            binding(
                "diamond-sh",
                vec![
                    timed("a", "0.2"),
                    timed("b", "1"),
                    timed("c", "1"),
                    timed("d", "0"),
                ],
            ),
        ],
    );
    let output = s.run(&files, &["--name", "diamond-1"]);
    assert!(output.status.success(), "{}", show(&output));
    let summary = text(&output.stdout);
    assert!(
        summary.contains("execution/diamond-1 Succeeded"),
        "{summary}"
    );

    let at = |node: &str, edge: &str| stamp(&s.path(&format!("{node}.{edge}")));
    // b and c start only after a ended; d only after both ended.
    assert!(
        at("b", "start") >= at("a", "end"),
        "b started before a ended"
    );
    assert!(
        at("c", "start") >= at("a", "end"),
        "c started before a ended"
    );
    assert!(
        at("d", "start") >= at("b", "end"),
        "d started before b ended"
    );
    assert!(
        at("d", "start") >= at("c", "end"),
        "d started before c ended"
    );
    // b and c overlap in time.
    assert!(
        at("b", "start") < at("c", "end") && at("c", "start") < at("b", "end"),
        "b and c did not run in parallel: b {}..{}, c {}..{}",
        at("b", "start"),
        at("b", "end"),
        at("c", "start"),
        at("c", "end")
    );
    let e = s.execution("diamond-1");
    assert_eq!(phase(&e), "Succeeded");
    for id in ["a", "b", "c", "d"] {
        assert_node(&e, id, "Succeeded", None);
        assert_eq!(node(&e, id)["attempt"], 1);
    }
}

// ------------------------------------------------------------------------------------------
// 2. Retries, then success.
// ------------------------------------------------------------------------------------------

#[test]
fn a_failing_task_is_retried_with_backoff_until_it_succeeds() {
    let s = Server::start();
    let dir = s.dir_text();
    // Fails until its counter reaches 3.
    let flaky = |plan: &str, counter: &str| {
        sh(
            plan,
            "flaky",
            &format!(
                "n=$(cat {dir}/{counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {dir}/{counter}; \
                 echo \"attempt $n\"; if [ $n -lt 3 ]; then echo 'not yet' >&2; exit 1; fi; \
                 echo \"{{\\\"tries\\\": $n}}\""
            ),
        )
    };
    let nodes = |retries: u32| {
        json!([{"id": "flaky", "kind": "Task", "retries": retries, "outputs": ["tries"],
                "retryPolicy": {"backoff": {"initial": "100ms", "max": "200ms", "factor": 2}}}])
    };
    let files = s.docs(
        "retries",
        &[
            plan("enough", nodes(2)),
            plan("too-few", nodes(1)),
            binding(
                "retries-sh",
                vec![
                    flaky("enough", "enough.count"),
                    flaky("too-few", "too-few.count"),
                ],
            ),
        ],
    );
    let started = Instant::now();
    let output = s.run(&files, &["--plan", "enough", "--name", "enough-1"]);
    assert!(output.status.success(), "{}", show(&output));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "short backoffs took {:?}",
        started.elapsed()
    );
    assert_eq!(lines_of(&s.path("enough.count")), ["3"]);
    let e = s.execution("enough-1");
    assert_node(&e, "flaky", "Succeeded", None);
    assert_eq!(node(&e, "flaky")["attempt"], 3);
    assert_eq!(node(&e, "flaky")["outputs"]["tries"], 3);
    // Two retries were scheduled, each after the policy's short wait (jittered: half to all of
    // 100 ms, then of 200 ms).
    let journal: Vec<Value> = s
        .ok(&["trace", "execution/enough-1", "-o", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON journal entry"))
        .collect();
    let waits: Vec<u64> = journal
        .iter()
        .filter(|j| j["type"] == "RetryScheduled")
        .map(|j| j["dueAt"].as_u64().unwrap_or(0) - j["at"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(waits.len(), 2, "{journal:#?}");
    assert!((50..=100).contains(&waits[0]), "first wait {waits:?}");
    assert!((100..=200).contains(&waits[1]), "second wait {waits:?}");

    // With one retry, two attempts fail and so does the run.
    let output = s.run(&files, &["--plan", "too-few", "--name", "too-few-1"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert_eq!(lines_of(&s.path("too-few.count")), ["2"]);
    let e = s.execution("too-few-1");
    assert_eq!(phase(&e), "Failed");
    assert_node(&e, "flaky", "Failed", Some("provider_failed"));
    assert_eq!(node(&e, "flaky")["attempt"], 2);
}

// ------------------------------------------------------------------------------------------
// 3. Node timeout.
// ------------------------------------------------------------------------------------------

#[test]
fn a_task_over_its_timeout_is_killed_and_fails_with_node_timeout() {
    let s = Server::start();
    let dir = s.dir_text();
    let files = s.docs(
        "timeout",
        &[
            plan(
                "hang",
                json!([{"id": "hang", "kind": "Task", "timeout": "1s"},
                       {"id": "after", "kind": "Task", "dependsOn": ["hang"]}]),
            ),
            binding(
                "hang-sh",
                vec![
                    sh(
                        "hang",
                        "hang",
                        &format!("echo $$ > {dir}/hang.pid; exec sleep 30"),
                    ),
                    sh("hang", "after", &format!("touch {dir}/after.ran")),
                ],
            ),
        ],
    );
    let started = Instant::now();
    let output = s.run(&files, &["--name", "hang-1"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 1s timeout took {:?}",
        started.elapsed()
    );
    let e = s.execution("hang-1");
    assert_eq!(phase(&e), "Failed");
    assert_node(&e, "hang", "Failed", Some("node_timeout"));
    assert_node(&e, "after", "Skipped", Some("upstream_failed"));
    assert!(!s.path("after.ran").exists());
    assert_gone(read_pid(&s.path("hang.pid")), "the timed-out task");
}

// ------------------------------------------------------------------------------------------
// 4. `when` skips, driven by --param.
// ------------------------------------------------------------------------------------------

#[test]
fn a_false_when_skips_the_node_and_its_hard_dependents() {
    let s = Server::start();
    let dir = s.dir_text();
    let record = |node: &str| {
        sh(
            "release",
            node,
            &format!("echo \"${{PLANSPEC_EXECUTION#*/}} $PLANSPEC_NODE\" >> {dir}/ran.log"),
        )
    };
    let files = s.docs(
        "when",
        &[
            plan(
                "release",
                json!([
                    {"id": "prepare", "kind": "Task"},
                    {"id": "deploy", "kind": "Task", "dependsOn": ["prepare"],
                     "when": "parameters.deploy == true"},
                    {"id": "verify", "kind": "Task", "dependsOn": ["deploy"]},
                    {"id": "report", "kind": "Task", "dependsOn": ["prepare"]}
                ]),
            ),
            binding(
                "release-sh",
                ["prepare", "deploy", "verify", "report"]
                    .iter()
                    .map(|n| record(n))
                    .collect(),
            ),
        ],
    );
    let output = s.run(&files, &["--name", "dry", "--param", "deploy=false"]);
    assert!(output.status.success(), "{}", show(&output));
    let e = s.execution("dry");
    assert_eq!(phase(&e), "Succeeded");
    assert_eq!(e["spec"]["parameters"]["deploy"], false);
    assert_node(&e, "prepare", "Succeeded", None);
    assert_node(&e, "deploy", "Skipped", Some("when_false"));
    assert_node(&e, "verify", "Skipped", Some("upstream_skipped"));
    assert_node(&e, "report", "Succeeded", None);

    let output = s.run(&files, &["--name", "wet", "--param", "deploy=true"]);
    assert!(output.status.success(), "{}", show(&output));
    let e = s.execution("wet");
    for id in ["prepare", "deploy", "verify", "report"] {
        assert_node(&e, id, "Succeeded", None);
    }

    let mut ran = lines_of(&s.path("ran.log"));
    ran.sort();
    assert_eq!(
        ran,
        [
            "dry prepare",
            "dry report",
            "wet deploy",
            "wet prepare",
            "wet report",
            "wet verify"
        ]
    );
}

// ------------------------------------------------------------------------------------------
// 5. Output passing.
// ------------------------------------------------------------------------------------------

#[test]
fn outputs_pass_between_nodes_keeping_their_json_type() {
    let s = Server::start();
    let dir = s.dir_text();
    let files = s.docs(
        "outputs",
        &[
            plan(
                "pass",
                json!([
                    {"id": "a", "kind": "Task", "outputs": ["count", "meta", "label"]},
                    {"id": "b", "kind": "Task", "dependsOn": ["a"], "outputs": ["echo"],
                     "inputs": {
                        "count": "${{ nodes.a.outputs.count }}",
                        "meta": "${{ nodes.a.outputs.meta }}",
                        "big": "${{ nodes.a.outputs.count > 2 }}",
                        "sentence": "count=${{ nodes.a.outputs.count }} label=${{ nodes.a.outputs.label }} meta=${{ nodes.a.outputs.meta }}",
                        "nested": {"list": ["${{ nodes.a.outputs.label }}", "$${{ literal }}"]}
                     }},
                    {"id": "c", "kind": "Task", "dependsOn": ["b"],
                     "inputs": {"env": "${{ nodes.b.outputs.echo.meta.env }}"}}
                ]),
            ),
            binding(
                "pass-sh",
                vec![
                    sh(
                        "pass",
                        "a",
                        r#"echo working; echo '{"count": 3, "meta": {"env": "prod", "zones": [1, 2]}, "label": "v1"}'"#,
                    ),
                    sh(
                        "pass",
                        "b",
                        &format!(
                            "printf '%s' \"$PLANSPEC_INPUTS\" > {dir}/b.inputs; \
                             printf '%s\\n%s\\n' \"$PLANSPEC_INPUT_COUNT\" \"$PLANSPEC_INPUT_META\" > {dir}/b.env; \
                             printf '{{\"echo\": %s}}' \"$PLANSPEC_INPUTS\" > \"$PLANSPEC_OUTPUTS\""
                        ),
                    ),
                    sh("pass", "c", &format!("printf '%s' \"$PLANSPEC_INPUT_ENV\" > {dir}/c.env")),
                ],
            ),
        ],
    );
    let output = s.run(&files, &["--name", "pass-1"]);
    assert!(output.status.success(), "{}", show(&output));

    let inputs: Value = serde_json::from_str(
        &std::fs::read_to_string(s.path("b.inputs")).expect("b recorded its inputs"),
    )
    .expect("PLANSPEC_INPUTS is JSON");
    assert_eq!(
        inputs,
        json!({
            "count": 3,
            "meta": {"env": "prod", "zones": [1, 2]},
            "big": true,
            "sentence": "count=3 label=v1 meta={\"env\":\"prod\",\"zones\":[1,2]}",
            "nested": {"list": ["v1", "${{ literal }}"]}
        })
    );
    // One variable per input: a number as JSON, an object as compact JSON.
    assert_eq!(
        lines_of(&s.path("b.env")),
        ["3", r#"{"env":"prod","zones":[1,2]}"#]
    );
    assert_eq!(
        std::fs::read_to_string(s.path("c.env")).unwrap_or_default(),
        "prod"
    );
    let e = s.execution("pass-1");
    assert_eq!(node(&e, "a")["outputs"]["count"], 3);
    assert_eq!(
        node(&e, "b")["outputs"]["echo"]["meta"]["zones"],
        json!([1, 2])
    );
}

// ------------------------------------------------------------------------------------------
// 6. Acceptance criteria of every type.
// ------------------------------------------------------------------------------------------

fn criteria_answers(path: &str) -> Answer {
    match path {
        "/healthz" => (200, "text/plain", "ready".into()),
        "/down" => (503, "text/plain", "maintenance".into()),
        "/verdict/pass" => (
            200,
            "application/json",
            r#"{"passed": true, "message": "coverage 91%"}"#.into(),
        ),
        "/verdict/fail" => (
            200,
            "application/json",
            r#"{"passed": false, "message": "coverage 41% is under 80%"}"#.into(),
        ),
        _ => (404, "text/plain", "no such path".into()),
    }
}

#[test]
fn acceptance_criteria_of_every_type_pass_or_fail_the_node() {
    let s = Server::start();
    let stub = Stub::start(criteria_answers);
    let url = &stub.url;
    // (node, what the task does, its criterion, whether it passes)
    let cases: Vec<(&str, &str, Value, bool)> = vec![
        (
            "artifact-ok",
            "mkdir -p out && printf 'hello world\\n' > out/ok.txt",
            json!({"type": "artifact_exists", "name": "greeting-written",
                   "path": "out/ok.txt", "contentMatch": "^hello"}),
            true,
        ),
        (
            "artifact-bad",
            "mkdir -p out && printf 'goodbye\\n' > out/bad.txt",
            json!({"type": "artifact_exists", "name": "greeting-says-hello",
                   "path": "out/bad.txt", "contentMatch": "^hello"}),
            false,
        ),
        (
            "command-ok",
            "true",
            json!({"type": "command_succeeds", "name": "version-printed",
                   "command": "sh", "args": ["-c", "echo version 1.2.3"],
                   "outputMatch": "version [0-9]+\\.[0-9]+"}),
            true,
        ),
        (
            "command-bad",
            "true",
            json!({"type": "command_succeeds", "name": "release-version-printed",
                   "command": "sh", "args": ["-c", "echo version 0.9-beta"],
                   "outputMatch": "version 1\\."}),
            false,
        ),
        (
            "test-ok",
            "touch tested.flag",
            json!({"type": "test_passes", "name": "unit-suite",
                   "command": "test", "args": ["-f", "tested.flag"]}),
            true,
        ),
        (
            "test-bad",
            "true",
            json!({"type": "test_passes", "name": "integration-suite",
                   "command": "sh", "args": ["-c", "echo '2 failed' >&2; exit 3"]}),
            false,
        ),
        (
            "endpoint-ok",
            "true",
            json!({"type": "endpoint_responds", "name": "service-healthy",
                   "url": format!("{url}/healthz"), "expectedStatus": 200,
                   "bodyMatch": "ready", "timeout": "5s"}),
            true,
        ),
        (
            "endpoint-bad",
            "true",
            json!({"type": "endpoint_responds", "name": "service-up",
                   "url": format!("{url}/down"), "expectedStatus": 200, "timeout": "5s"}),
            false,
        ),
        (
            "custom-ok",
            "echo '{\"coverage\": 91}'",
            json!({"type": "custom", "name": "coverage-policy",
                   "webhookUrl": format!("{url}/verdict/pass"),
                   "payload": {"minimum": 80}, "timeout": "5s"}),
            true,
        ),
        (
            "custom-bad",
            "echo '{\"coverage\": 41}'",
            json!({"type": "custom", "name": "coverage-gate",
                   "webhookUrl": format!("{url}/verdict/fail"),
                   "payload": {"minimum": 80}, "timeout": "5s"}),
            false,
        ),
    ];
    let nodes: Vec<Value> = cases
        .iter()
        .map(|(id, _, criterion, _)| {
            let mut n = json!({"id": id, "kind": "Task", "acceptanceCriteria": [criterion]});
            if id.starts_with("custom") {
                n["outputs"] = json!(["coverage"]);
            }
            n
        })
        .collect();
    let rules: Vec<Value> = cases
        .iter()
        .map(|(id, script, _, _)| sh("checks", id, script))
        .collect();
    let files = s.docs(
        "criteria",
        &[
            plan("checks", Value::Array(nodes)),
            binding("checks-sh", rules),
        ],
    );
    let output = s.run(&files, &["--name", "checks-1"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let e = s.execution("checks-1");
    assert_eq!(phase(&e), "Failed");
    for (id, _, criterion, passes) in &cases {
        if *passes {
            assert_node(&e, id, "Succeeded", None);
        } else {
            assert_node(&e, id, "Failed", Some("criterion_failed"));
            let name = criterion["name"].as_str().unwrap_or_default();
            assert!(
                node_message(&e, id).contains(name),
                "node {id}'s message names criterion {name}: {:#}",
                node(&e, id)
            );
        }
    }
    // The webhook was asked with the criterion, the node, the payload and the outputs.
    let seen = stub.seen();
    let verdict = seen
        .iter()
        .find(|r| r.path == "/verdict/fail")
        .unwrap_or_else(|| panic!("the failing webhook was not called: {seen:?}"));
    assert_eq!(verdict.method, "POST");
    let body: Value = serde_json::from_str(&verdict.body).expect("the webhook body is JSON");
    assert_eq!(body["criterion"], "coverage-gate", "{body:#}");
    assert_eq!(body["node"], "custom-bad", "{body:#}");
    assert_eq!(body["payload"]["minimum"], 80, "{body:#}");
    assert_eq!(body["outputs"]["coverage"], 41, "{body:#}");
    assert!(seen
        .iter()
        .any(|r| r.path == "/healthz" && r.method == "GET"));
    assert!(seen.iter().any(|r| r.path == "/down"));
    assert!(seen.iter().any(|r| r.path == "/verdict/pass"));
}

// ------------------------------------------------------------------------------------------
// 7, 8. Gates reviewed from the CLI while `planspec run --no-input` waits.
// ------------------------------------------------------------------------------------------

/// A Plan `gated` (build → approve (Gate) → ship) whose Gate `release-ok` only `user:ann` may
/// decide; its folder.
fn gated(s: &Server) -> String {
    let dir = s.dir_text();
    s.docs(
        "gated",
        &[
            doc(
                "Gate",
                "release-ok",
                json!({"gateType": "approval",
                       "targetRef": {"kind": "Plan", "name": "gated", "nodeId": "approve"},
                       "description": "Ship this build?",
                       "reviewers": ["user:ann"], "requiredApprovers": 1}),
            ),
            plan(
                "gated",
                json!([
                    {"id": "build", "kind": "Task"},
                    {"id": "approve", "kind": "Gate", "gateRef": {"name": "release-ok"},
                     "dependsOn": ["build"]},
                    {"id": "ship", "kind": "Task", "dependsOn": ["approve"]}
                ]),
            ),
            binding(
                "gated-sh",
                vec![
                    sh("gated", "build", "echo built"),
                    sh(
                        "gated",
                        "ship",
                        &format!("echo \"${{PLANSPEC_EXECUTION#*/}}\" >> {dir}/shipped.log"),
                    ),
                ],
            ),
        ],
    )
}

#[test]
fn a_gate_approved_from_the_cli_lets_a_waiting_run_finish() {
    let s = Server::start();
    let files = gated(&s);
    let run = s.spawn_run(&files, &["--name", "gated-1"]);
    let gate = "gated-1-approve";
    let table = s.wait_gate_waiting(gate);
    // The Plan's Gate is a template; the run got its own.
    assert!(
        table.lines().any(|l| l.starts_with("release-ok ")),
        "{table}"
    );
    assert!(
        !s.path("shipped.log").exists(),
        "ship ran before the approval"
    );
    let e = s.execution("gated-1");
    assert_node(&e, "approve", "Running", None);
    // The run says how to decide.
    let deadline = Instant::now() + WAIT;
    while !run
        .stderr()
        .contains(&format!("planspec approve gate/{gate}"))
    {
        assert!(Instant::now() < deadline, "no hint: {}", run.stderr());
        std::thread::sleep(POLL);
    }

    // Someone who is not a reviewer is refused.
    let refused = s.cli(&["approve", &format!("gate/{gate}"), "--as", "user:bob"]);
    assert!(!refused.status.success(), "{}", show(&refused));
    assert!(
        text(&refused.stderr).contains("not among the reviewers"),
        "{}",
        show(&refused)
    );

    let approved = s.ok(&[
        "approve",
        &format!("gate/{gate}"),
        "--as",
        "user:ann",
        "--comment",
        "ship it",
    ]);
    assert!(
        approved.contains(&format!("gate/{gate} approved by user:ann")),
        "{approved}"
    );
    let done = run.wait();
    assert_eq!(done.status.code(), Some(0), "{done}");
    assert!(
        done.stdout.contains("execution/gated-1 Succeeded"),
        "{done}"
    );
    assert_eq!(lines_of(&s.path("shipped.log")), ["gated-1"]);
    let e = s.execution("gated-1");
    assert_node(&e, "approve", "Succeeded", None);
    let outputs = &node(&e, "approve")["outputs"];
    assert_eq!(outputs["approved"], true, "{outputs:#}");
    assert_eq!(outputs["by"], "user:ann", "{outputs:#}");
    assert_eq!(outputs["comment"], "ship it", "{outputs:#}");
    let gates = s.ok(&["get", "gates"]);
    assert_eq!(gate_phase(&gates, gate), Some("Approved"), "{gates}");
    assert_eq!(gate_phase(&gates, "release-ok"), Some("Pending"), "{gates}");
}

#[test]
fn a_gate_rejected_from_the_cli_fails_the_run() {
    let s = Server::start();
    let files = gated(&s);
    let run = s.spawn_run(&files, &["--name", "gated-2"]);
    let gate = "gated-2-approve";
    s.wait_gate_waiting(gate);
    // A rejection needs a reason.
    let bare = s.cli(&["reject", &format!("gate/{gate}"), "--as", "user:ann"]);
    assert_eq!(bare.status.code(), Some(2), "{}", show(&bare));
    s.ok(&[
        "reject",
        &format!("gate/{gate}"),
        "--as",
        "user:ann",
        "--comment",
        "not this week",
    ]);
    let done = run.wait();
    assert_eq!(done.status.code(), Some(1), "{done}");
    assert!(done.stdout.contains("execution/gated-2 Failed"), "{done}");
    let e = s.execution("gated-2");
    assert_eq!(phase(&e), "Failed");
    assert_node(&e, "approve", "Failed", Some("gate_rejected"));
    assert_node(&e, "ship", "Skipped", Some("upstream_failed"));
    assert!(
        !s.path("shipped.log").exists(),
        "ship ran after a rejection"
    );
    let trace = s.ok(&["trace", "execution/gated-2", "--node", "approve"]);
    assert!(trace.contains("GateResolved"), "{trace}");
    assert!(trace.contains("rejected"), "{trace}");
    assert!(trace.contains("by user:ann"), "{trace}");
    assert!(trace.contains("not this week"), "{trace}");
}

// ------------------------------------------------------------------------------------------
// 9. Cancel: graceful and forced.
// ------------------------------------------------------------------------------------------

#[test]
fn cancel_lets_running_work_finish_and_force_kills_it() {
    let s = Server::start();
    let dir = s.dir_text();
    let files = s.docs(
        "cancel",
        &[
            plan(
                "slow",
                json!([
                    {"id": "slow", "kind": "Task", "inputs": {"secs": "${{ parameters.secs }}"}},
                    {"id": "after", "kind": "Task", "dependsOn": ["slow"]}
                ]),
            ),
            binding(
                "slow-sh",
                vec![
                    sh(
                        "slow",
                        "slow",
                        &format!(
                            "r=${{PLANSPEC_EXECUTION#*/}}; echo $$ > {dir}/$r.pid; \
                             sleep $PLANSPEC_INPUT_SECS; touch {dir}/$r.slow-done"
                        ),
                    ),
                    sh(
                        "slow",
                        "after",
                        &format!("touch {dir}/${{PLANSPEC_EXECUTION#*/}}.after"),
                    ),
                ],
            ),
        ],
    );
    let gentle = s.spawn_run(&files, &["--name", "gentle", "--param", "secs=3"]);
    let hard = s.spawn_run(&files, &["--name", "hard", "--param", "secs=30"]);

    // Graceful: the running node finishes, nothing new starts.
    let gentle_pid = read_pid(&s.path("gentle.pid"));
    s.wait("gentle", "slow running", |e| {
        node_phase(e, "slow") == "Running"
    });
    let said = s.ok(&["cancel", "execution/gentle"]);
    assert!(said.contains("execution/gentle cancelling"), "{said}");

    let hard_pid = read_pid(&s.path("hard.pid"));
    s.wait("hard", "slow running", |e| {
        node_phase(e, "slow") == "Running"
    });
    // The hard one is first cancelled gracefully: its task keeps running …
    s.ok(&["cancel", "execution/hard", "--as", "user:ann"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(hard_pid), "a graceful cancel killed the task");
    assert_node(&s.execution("hard"), "slow", "Running", None);
    // … until the cancel is forced.
    s.ok(&["cancel", "execution/hard", "--force"]);
    let e = s.wait("hard", "cancelled", |e| phase(e) == "Cancelled");
    assert_ne!(node_phase(&e, "slow"), "Succeeded", "{e:#}");
    assert_node(&e, "after", "Cancelled", None);
    assert_gone(hard_pid, "the force-cancelled task");
    let done = hard.wait();
    assert_eq!(done.status.code(), Some(1), "{done}");
    assert!(done.stdout.contains("execution/hard Cancelled"), "{done}");

    let e = s.wait("gentle", "cancelled", |e| phase(e) == "Cancelled");
    assert_node(&e, "slow", "Succeeded", None);
    assert_node(&e, "after", "Cancelled", None);
    assert!(
        s.path("gentle.slow-done").exists(),
        "the running task was not let finish"
    );
    assert!(!alive(gentle_pid));
    let done = gentle.wait();
    assert_eq!(done.status.code(), Some(1), "{done}");

    assert!(
        !s.path("hard.slow-done").exists(),
        "the forced task finished"
    );
    assert!(!s.path("gentle.after").exists() && !s.path("hard.after").exists());
    let trace = s.ok(&["trace", "execution/hard"]);
    assert!(
        trace.contains("CancelRequested") && trace.contains("forced"),
        "{trace}"
    );
    assert!(trace.contains("by user:ann"), "{trace}");
    // A finished run cannot be cancelled.
    let again = s.cli(&["cancel", "execution/gentle"]);
    assert!(!again.status.success(), "{}", show(&again));
}

// ------------------------------------------------------------------------------------------
// 10. Retry from a node.
// ------------------------------------------------------------------------------------------

#[test]
fn retry_from_a_node_reruns_it_and_downstream_keeping_upstream_outputs() {
    let s = Server::start();
    let dir = s.dir_text();
    // Started with `planspec apply` of an Execution document, not `planspec run`.
    let files = s.docs(
        "retry",
        &[
            plan(
                "chain",
                json!([
                    {"id": "first", "kind": "Task", "outputs": ["token"]},
                    {"id": "mid", "kind": "Task", "dependsOn": ["first"], "outputs": ["token"],
                     "inputs": {"token": "${{ nodes.first.outputs.token }}"}},
                    {"id": "last", "kind": "Task", "dependsOn": ["mid"],
                     "inputs": {"token": "${{ nodes.mid.outputs.token }}"}}
                ]),
            ),
            binding(
                "chain-sh",
                vec![
                    sh(
                        "chain",
                        "first",
                        &format!(
                            "echo x >> {dir}/first.runs; echo \"{{\\\"token\\\": \\\"t-$(date +%s%N)\\\"}}\""
                        ),
                    ),
                    sh(
                        "chain",
                        "mid",
                        &format!(
                            "echo \"$PLANSPEC_INPUT_TOKEN\" >> {dir}/mid.runs; \
                             echo \"{{\\\"token\\\": \\\"$PLANSPEC_INPUT_TOKEN\\\"}}\""
                        ),
                    ),
                    sh(
                        "chain",
                        "last",
                        &format!(
                            "echo \"$PLANSPEC_INPUT_TOKEN\" >> {dir}/last.runs; test -f {dir}/ok"
                        ),
                    ),
                ],
            ),
            doc("Execution", "chain-1", json!({"planRef": {"name": "chain"}})),
        ],
    );
    let applied = s.ok(&["apply", "-f", &files]);
    assert!(
        applied.contains("execution.planspec.io/chain-1 created"),
        "{applied}"
    );
    let e = s.finished("chain-1");
    assert_eq!(phase(&e), "Failed", "{e:#}");
    assert_node(&e, "last", "Failed", Some("provider_failed"));
    let token = node(&e, "first")["outputs"]["token"]
        .as_str()
        .expect("first's token")
        .to_owned();

    std::fs::write(s.path("ok"), "").expect("the marker");
    let said = s.ok(&[
        "retry",
        "execution/chain-1",
        "--from",
        "mid",
        "--as",
        "user:ann",
    ]);
    assert!(said.contains("retrying from mid"), "{said}");
    let e = s.wait("chain-1", "succeeded", |e| phase(e) == "Succeeded");
    assert_eq!(lines_of(&s.path("first.runs")).len(), 1, "first was re-run");
    // mid and last ran again, with first's kept output.
    assert_eq!(
        lines_of(&s.path("mid.runs")),
        [token.clone(), token.clone()]
    );
    assert_eq!(
        lines_of(&s.path("last.runs")),
        [token.clone(), token.clone()]
    );
    assert_eq!(node(&e, "first")["outputs"]["token"], token.as_str());
    assert_eq!(node(&e, "first")["attempt"], 1);
    assert_eq!(node(&e, "mid")["attempt"], 2);
    assert_eq!(node(&e, "last")["attempt"], 2);
    assert_node(&e, "last", "Succeeded", None);
    let trace = s.ok(&["trace", "execution/chain-1"]);
    assert!(trace.contains("RetryRequested"), "{trace}");
    assert!(trace.contains("from mid"), "{trace}");
    assert!(trace.contains("by user:ann"), "{trace}");
}

// ------------------------------------------------------------------------------------------
// 11. People's nodes: complete and fail.
// ------------------------------------------------------------------------------------------

#[test]
fn human_nodes_are_completed_with_outputs_or_failed_from_the_cli() {
    let s = Server::start();
    let dir = s.dir_text();
    let files = s.docs(
        "human",
        &[
            plan(
                "people",
                json!([
                    {"id": "pick", "kind": "Task", "outputs": ["version", "replicas"]},
                    {"id": "use", "kind": "Task", "dependsOn": ["pick"],
                     "inputs": {"version": "${{ nodes.pick.outputs.version }}",
                                "replicas": "${{ nodes.pick.outputs.replicas }}"}},
                    {"id": "qa", "kind": "Task"},
                    {"id": "after-qa", "kind": "Task", "dependsOn": ["qa"]}
                ]),
            ),
            binding(
                "people-rules",
                vec![
                    rule(
                        "people",
                        "pick",
                        "human://release-manager",
                        json!({"prompt": "pick the version to ship"}),
                    ),
                    rule(
                        "people",
                        "qa",
                        "human://qa",
                        json!({"prompt": "try it by hand"}),
                    ),
                    sh(
                        "people",
                        "use",
                        &format!("printf '%s' \"$PLANSPEC_INPUTS\" > {dir}/use.inputs"),
                    ),
                    sh("people", "after-qa", &format!("touch {dir}/after-qa.ran")),
                ],
            ),
        ],
    );
    let run = s.spawn_run(&files, &["--name", "people-1"]);
    let e = s.wait("people-1", "waiting for people", |e| {
        let waiting = e["status"]["extensions"]["awaitingHuman"].as_array();
        waiting.is_some_and(|w| w.contains(&json!("pick")) && w.contains(&json!("qa")))
    });
    assert!(
        node_message(&e, "pick").contains("pick the version to ship"),
        "{:#}",
        node(&e, "pick")
    );
    // A node that waits for nobody cannot be completed.
    let wrong = s.cli(&["complete", "execution/people-1", "--node", "use"]);
    assert!(!wrong.status.success(), "{}", show(&wrong));

    let said = s.ok(&[
        "complete",
        "execution/people-1",
        "--node",
        "pick",
        "--output",
        "version=1.4.2",
        "--output",
        "replicas=3",
        "--as",
        "user:ann",
    ]);
    assert!(said.contains("node pick completed"), "{said}");
    s.ok(&[
        "fail",
        "execution/people-1",
        "--node",
        "qa",
        "--message",
        "the login page is blank",
        "--as",
        "user:qa",
    ]);
    let done = run.wait();
    assert_eq!(done.status.code(), Some(1), "{done}");
    let e = s.execution("people-1");
    assert_eq!(phase(&e), "Failed");
    assert_node(&e, "pick", "Succeeded", None);
    assert_eq!(
        node(&e, "pick")["outputs"],
        json!({"version": "1.4.2", "replicas": 3})
    );
    assert_node(&e, "use", "Succeeded", None);
    let inputs: Value = serde_json::from_str(
        &std::fs::read_to_string(s.path("use.inputs")).expect("use recorded its inputs"),
    )
    .expect("inputs JSON");
    assert_eq!(inputs, json!({"version": "1.4.2", "replicas": 3}));
    assert_node(&e, "qa", "Failed", None);
    assert!(
        node_message(&e, "qa").contains("failed by user:qa: the login page is blank"),
        "{:#}",
        node(&e, "qa")
    );
    assert_node(&e, "after-qa", "Skipped", Some("upstream_failed"));
    assert!(!s.path("after-qa.ran").exists());
}

// ------------------------------------------------------------------------------------------
// 12. Logs, trace, describe.
// ------------------------------------------------------------------------------------------

#[test]
fn logs_trace_and_describe_show_what_happened() {
    let s = Server::start();
    let files = s.docs(
        "talk",
        &[
            plan(
                "talk",
                json!([
                    {"id": "hello", "kind": "Task", "retries": 1,
                     "retryPolicy": {"backoff": {"initial": "50ms", "max": "100ms"}}},
                    {"id": "bye", "kind": "Task", "dependsOn": ["hello"]}
                ]),
            ),
            binding(
                "talk-sh",
                vec![
                    sh(
                        "talk",
                        "hello",
                        "echo \"hello from $PLANSPEC_NODE attempt $PLANSPEC_ATTEMPT key $PLANSPEC_IDEMPOTENCY_KEY\"; \
                         [ \"$PLANSPEC_ATTEMPT\" -ge 2 ] || { echo 'first try fails' >&2; exit 1; }",
                    ),
                    sh("talk", "bye", "echo 'bye for now'"),
                ],
            ),
        ],
    );
    let output = s.run(&files, &["--name", "talk-1"]);
    assert!(output.status.success(), "{}", show(&output));

    // logs --node: the latest attempt's stdout; --attempt picks another.
    let latest = s.ok(&["logs", "execution/talk-1", "--node", "hello"]);
    let line = latest
        .lines()
        .find(|l| l.starts_with("hello from hello attempt 2 key psk_"))
        .unwrap_or_else(|| panic!("no stdout line in the log:\n{latest}"));
    let key = line.rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(!latest.contains("attempt 1"), "{latest}");
    let first = s.ok(&[
        "logs",
        "execution/talk-1",
        "--node",
        "hello",
        "--attempt",
        "1",
    ]);
    assert!(
        first.contains("hello from hello attempt 1 key psk_"),
        "{first}"
    );
    assert!(first.contains("first try fails"), "{first}");
    // Without --node: every node, prefixed.
    let all = s.ok(&["logs", "execution/talk-1"]);
    assert!(all.contains("[bye] bye for now"), "{all}");
    assert!(all.contains(&format!("[hello] {line}")), "{all}");
    let missing = s.cli(&[
        "logs",
        "execution/talk-1",
        "--node",
        "hello",
        "--attempt",
        "9",
    ]);
    assert!(!missing.status.success(), "{}", show(&missing));

    // trace: the timeline, inputs marked `>`, with the idempotency key the process saw.
    let trace = s.ok(&["trace", "execution/talk-1"]);
    let lines: Vec<&str> = trace.lines().collect();
    assert!(
        lines[0].starts_with("execution/talk-1  started "),
        "{trace}"
    );
    let position = |needle: &dyn Fn(&str) -> bool, what: &str| {
        lines
            .iter()
            .position(|l| needle(l))
            .unwrap_or_else(|| panic!("no {what} in the trace:\n{trace}"))
    };
    let started = position(&|l| l.contains("> ExecutionStarted"), "ExecutionStarted");
    let second = position(
        &|l| l.contains("NodeStarted") && l.contains("hello") && l.contains(&format!("key {key}")),
        "NodeStarted of hello with the process's key",
    );
    let failed = position(
        &|l| {
            l.contains("> NodeResult")
                && l.contains("hello")
                && l.contains("failed: provider_failed")
        },
        "the failed NodeResult",
    );
    let retry = position(
        &|l| l.contains("RetryScheduled") && l.contains("hello"),
        "RetryScheduled",
    );
    let result = position(
        &|l| {
            l.contains("> NodeResult")
                && l.contains("hello")
                && l.contains("attempt 2")
                && l.contains("succeeded")
        },
        "the successful NodeResult",
    );
    let bye = position(
        &|l| l.contains("NodeStarted") && l.contains("bye"),
        "NodeStarted of bye",
    );
    let end = position(
        &|l| l.contains("ExecutionCompleted") && l.contains("Succeeded"),
        "ExecutionCompleted",
    );
    assert!(
        started < failed
            && failed < retry
            && retry < second
            && second < result
            && result < bye
            && bye < end,
        "out of order:\n{trace}"
    );
    // Two attempts, two different keys.
    let keys: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("NodeStarted") && l.contains("hello"))
        .filter_map(|l| l.split("key ").nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(keys.len(), 2, "{trace}");
    assert_ne!(keys[0], keys[1]);

    // describe: the Execution in detail.
    let described = s.ok(&["describe", "execution/talk-1"]);
    let field = |name: &str| {
        described
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} line in:\n{described}"))
    };
    assert_eq!(field("Name:"), "talk-1");
    assert_eq!(field("Kind:"), "Execution");
    assert!(described.contains("phase: Succeeded"), "{described}");
    assert!(described.contains("Conditions:"), "{described}");
    // A row per node: node, phase, attempt, duration, provider.
    let row = |id: &str| -> Vec<String> {
        described
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .find(|cells| cells.first().map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no row for node {id} in:\n{described}"))
    };
    assert_eq!(row("hello")[1..3], ["Succeeded", "2"], "{described}");
    assert_eq!(row("bye")[1..3], ["Succeeded", "1"], "{described}");
    assert!(
        row("hello").contains(&"exec://sh".to_owned()),
        "{described}"
    );
}

// ------------------------------------------------------------------------------------------
// 13. The embedded control plane.
// ------------------------------------------------------------------------------------------

/// `planspec ARGS` in `dir` with no server configured, to the end (at most [`WAIT`]).
fn embedded_run(dir: &Path, args: &[&str]) -> Finished {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PLANSPEC_SERVER")
        .env_remove("PLANSPEC_NAMESPACE")
        .stdin(Stdio::null());
    Running::spawn(command, dir).wait()
}

/// The PHASE column of Gate `name` in a `planspec get gates` table.
fn gate_phase<'a>(table: &'a str, name: &str) -> Option<&'a str> {
    table.lines().find_map(|line| {
        let cells: Vec<&str> = line.split_whitespace().collect();
        (cells.first() == Some(&name))
            .then(|| cells.get(2).copied())
            .flatten()
    })
}

#[test]
fn run_without_a_server_uses_an_embedded_control_plane() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    let store = dir.join("x.db");
    let store_url = format!("sqlite:{}", store.display());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ship-release");
    let example = example.to_str().expect("a UTF-8 path");

    let output = embedded_run(dir, &["run", "-f", example, "--yes", "--store", &store_url]);
    assert_eq!(output.status.code(), Some(0), "{output}");
    let summary = output.stdout.clone();
    assert!(summary.contains(" Succeeded in "), "{summary}");
    for id in [
        "build",
        "unit-tests",
        "lint",
        "package",
        "release-approval",
        "deploy",
        "smoke-test",
        "announce",
    ] {
        assert!(
            summary
                .lines()
                .any(|l| l.starts_with(id) && l.contains("Succeeded")),
            "no {id} line in:\n{summary}"
        );
    }
    let name = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("execution/"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no execution name in:\n{summary}"))
        .to_owned();
    assert!(
        output
            .stderr
            .contains("embedded control plane at http://127.0.0.1:"),
        "{output}"
    );
    assert!(store.exists());

    // A failing plan: exit 1 and a summary saying so.
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).expect("a folder");
    for d in [
        plan(
            "broken",
            json!([{"id": "compile", "kind": "Task"},
                   {"id": "ship", "kind": "Task", "dependsOn": ["compile"]}]),
        ),
        binding(
            "broken-sh",
            vec![
                sh(
                    "broken",
                    "compile",
                    "echo 'error: missing semicolon' >&2; exit 3",
                ),
                sh("broken", "ship", "true"),
            ],
        ),
        // The namespace now has two Bindings: the run's template names its own.
        doc(
            "Execution",
            "broken-template",
            json!({"planRef": {"name": "broken"}, "bindingRef": {"name": "broken-sh"}}),
        ),
    ] {
        let file = broken.join(format!(
            "{}.json",
            d["metadata"]["name"].as_str().unwrap_or("doc")
        ));
        std::fs::write(file, d.to_string()).expect("a document");
    }
    let broken = broken.to_str().expect("a UTF-8 path");
    let output = embedded_run(dir, &["run", "-f", broken, "--store", &store_url]);
    assert_eq!(output.status.code(), Some(1), "{output}");
    let summary = output.stdout.clone();
    assert!(summary.contains(" Failed in "), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("compile") && l.contains("Failed")),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("ship") && l.contains("Skipped")),
        "{summary}"
    );

    // The state stays in the store: a server on it shows the run, its trace and its logs.
    let s = Server::start_on(dir, &store);
    let e = s.execution(&name);
    assert_eq!(phase(&e), "Succeeded");
    let trace = s.ok(&["trace", &format!("execution/{name}")]);
    assert!(
        trace.contains("ExecutionCompleted") && trace.contains("Succeeded"),
        "{trace}"
    );
    let log = s.ok(&["logs", &format!("execution/{name}"), "--node", "build"]);
    assert!(log.contains("built demo-app"), "{log}");
    // --yes approved the run's own Gate; the Plan's Gate is a template and stays undecided.
    let gates = s.ok(&["get", "gates"]);
    let own = format!("{name}-release-approval");
    assert_eq!(gate_phase(&gates, &own), Some("Approved"), "{gates}");
    assert_eq!(
        gate_phase(&gates, "ship-release-approval"),
        Some("Pending"),
        "{gates}"
    );
}
