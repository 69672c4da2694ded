//! Large executions and run artifacts end to end (issue 6, points 7 and 8): a real
//! `planspec server` on a temporary SQLite file (loopback), driven by the real binary.
//!
//! * `run_artifacts_are_derived_from_the_journal_deterministically`: `export --artifacts`
//!   twice gives identical bytes; `attempts.jsonl` has one record per attempt (a failed and
//!   retried attempt with its exit code, the successful retry, a skipped node) with the SHA-256
//!   of the canonical JSON of the inputs and outputs;
//! * `a_large_execution_stays_small_and_is_served_in_pages`: a 10,000-node run (the most one Plan may declare) keeps its
//!   Execution object under 64 KiB (no `nodeStatuses`, counters only); node pages filter by
//!   phase and resume with `continue`, in a stable order, covering every node once; `get`,
//!   `describe`, `logs` and `trace` read a bounded number of bytes from the server (counted
//!   by a loopback proxy in front of it), far less than the node records or the journal.

#![cfg(unix)]

mod common;

use common::{doc, show, text};

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_planspec");
/// How long a run may take before the test fails (debug build, shared machine).
const WAIT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(250);
/// The Execution object's bound, whatever the run's size.
const MAX_OBJECT_BYTES: usize = 64 * 1024;

struct Server {
    child: Child,
    addr: String,
    dir: PathBuf,
    _stdout: BufReader<ChildStdout>,
    _tmp: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().to_path_buf();
        let log = std::fs::File::create(dir.join("server.log")).expect("the server log");
        let mut child = Command::new(BIN)
            .args(["server", "--dev", "--listen", "127.0.0.1:0", "--store"])
            .arg(format!("sqlite:{}", dir.join("planspec.db").display()))
            .current_dir(&dir)
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
            addr,
            dir,
            _stdout: stdout,
            _tmp: tmp,
        }
    }

    /// `planspec ARGS` against `url`.
    fn cli_at(&self, url: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .current_dir(&self.dir)
            .env("PLANSPEC_SERVER", url)
            .env("NO_COLOR", "1")
            .env_remove("PLANSPEC_NAMESPACE")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("planspec runs")
    }

    /// `planspec ARGS`, which must succeed; its stdout.
    fn ok_at(&self, url: &str, args: &[&str]) -> String {
        let out = self.cli_at(url, args);
        assert!(
            out.status.success(),
            "planspec {args:?}: {}\n--- server log ---\n{}",
            show(&out),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
        text(&out.stdout)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_at(&format!("http://{}", self.addr), args)
    }

    /// Writes `docs` as one JSON List file; its path.
    fn write_docs(&self, name: &str, docs: Vec<Value>) -> String {
        let path = self.dir.join(name);
        let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
        std::fs::write(&path, serde_json::to_vec(&list).expect("serialises")).expect("written");
        path.display().to_string()
    }

    /// Applies `file` and starts the Execution `name` of `plan` without following it.
    fn start_run(&self, file: &str, plan: &str, name: &str) {
        self.ok(&["apply", "-f", file]);
        let execution = doc("Execution", name, json!({"planRef": {"name": plan}}));
        let file = self.write_docs(&format!("{name}.json"), vec![execution]);
        self.ok(&["apply", "-f", &file]);
    }

    /// Waits until Execution `name` finished; the object as JSON text.
    fn finished(&self, name: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = http(&self.addr, &execution_path(name, ""));
            if status == 200 {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if matches!(
                    v["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed" | "Cancelled")
                ) {
                    return body;
                }
            }
            assert!(
                Instant::now() < deadline,
                "execution {name} did not finish: {body}"
            );
            std::thread::sleep(POLL);
        }
    }
}

fn execution_path(name: &str, rest: &str) -> String {
    format!("/apis/planspec.io/v1alpha1/namespaces/default/executions/{name}{rest}")
}

/// One HTTP/1.1 GET on its own connection: status and body.
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

/// A loopback TCP proxy in front of the server that counts the bytes the server sends to
/// clients: what a CLI command read.
struct Proxy {
    url: String,
    received: Arc<AtomicU64>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_owned();
        let count = received.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let count = count.clone();
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64 * 1024];
                    loop {
                        match s_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                count.fetch_add(n as u64, Ordering::SeqCst);
                                if c_write.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy { url, received }
    }

    /// Bytes the server sent through the proxy while `f` ran.
    fn measure(&self, f: impl FnOnce()) -> u64 {
        let before = self.received.load(Ordering::SeqCst);
        f();
        // The copying threads may still be flushing the last chunk.
        std::thread::sleep(Duration::from_millis(200));
        self.received.load(Ordering::SeqCst) - before
    }
}

fn sha256_of_canonical(v: &Value) -> String {
    // Canonical JSON: keys sorted at every level (serde_json's Map keeps insertion order
    // here, so sort explicitly), no whitespace.
    fn canon(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), canon(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(canon).collect()),
            other => other.clone(),
        }
    }
    let text = serde_json::to_string(&canon(v)).expect("serialises");
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("sha256sum runs");
    format!(
        "sha256:{}",
        text_of(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
    )
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("the artifacts directory")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("readable"),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn run_artifacts_are_derived_from_the_journal_deterministically() {
    let s = Server::start();
    let counter = s.dir.join("flaky.count");
    // `flaky` fails its first attempt with exit code 3, then succeeds with an output.
    let flaky = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; \
         if [ $n -lt 2 ]; then exit 3; fi; echo '{{\"built\": \"v'$n'\"}}'",
        c = counter.display()
    );
    let plan = doc(
        "Plan",
        "art",
        json!({"description": "artifacts", "graph": {"nodes": [
            {"id": "flaky", "kind": "Task", "retries": 1,
             "retryPolicy": {"backoff": {"initial": "1ms", "max": "1ms"}},
             "inputs": {"version": "1.2", "list": [1, 2]}},
            {"id": "broken", "kind": "Task"},
            {"id": "after-broken", "kind": "Task", "dependsOn": ["broken"]},
            {"id": "after-flaky", "kind": "Task", "dependsOn": ["flaky"],
             "inputs": {"got": "${{ nodes.flaky.outputs.built }}"}},
            {"id": "fan", "kind": "Task",
             "matrix": {"axes": [{"name": "shard", "values": ["a", "b", "c"]}]},
             "inputs": {"shard": "${{ matrix.shard }}"}}
        ]}}),
    );
    let rule = |node: &str, script: &str| {
        json!({"selector": {"planRef": {"name": "art"}, "nodeId": node},
               "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}}})
    };
    let binding = doc(
        "Binding",
        "art",
        json!({"rules": [
            rule("flaky", &flaky),
            rule("broken", "exit 7"),
            rule("after-broken", "true"),
            rule("after-flaky", "true"),
            rule("fan", "true"),
        ]}),
    );
    let file = s.write_docs("art.json", vec![plan, binding]);
    s.start_run(&file, "art", "art-1");
    let object: Value = serde_json::from_str(&s.finished("art-1")).expect("json");
    assert_eq!(object["status"]["phase"], "Failed", "{object:#}");
    let uid = object["metadata"]["uid"].as_str().expect("uid").to_owned();

    let (a, b) = (s.dir.join("a"), s.dir.join("b"));
    for dir in [&a, &b] {
        let out = s.ok(&[
            "export",
            "execution/art-1",
            "--artifacts",
            &dir.display().to_string(),
        ]);
        assert!(out.contains("9 attempt records"), "{out}");
    }
    let (first, second) = (read_dir_files(&a), read_dir_files(&b));
    assert_eq!(
        first.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "attempts.jsonl",
            "expanded_graph.json",
            "expansion_manifest.json"
        ]
    );
    assert_eq!(first, second, "exporting twice gives the same bytes");

    let graph: Value = serde_json::from_slice(&first[1].1).expect("graph json");
    assert_eq!(graph["format"], "planspec-engine/expanded-graph/v1");
    assert_eq!(
        graph["nodes"].as_array().map(Vec::len),
        Some(8),
        "{graph:#}"
    );
    assert_eq!(graph["nodes"][2]["id"], "after-broken");
    assert_eq!(graph["nodes"][2]["hard"], json!(["broken"]));
    let manifest: Value = serde_json::from_slice(&first[2].1).expect("manifest json");
    assert_eq!(manifest["format"], "planspec-engine/expansion-manifest/v1");
    assert_eq!(manifest["matrices"][0]["node"], "fan", "{manifest:#}");
    assert_eq!(manifest["graphDigest"], graph["graphDigest"]);

    let records: Vec<Value> = text_of(&first[0].1)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let summary: Vec<(String, u64, String)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["executionUid"], uid.as_str(), "{r}");
            (
                r["node"].as_str().unwrap_or_default().to_owned(),
                r["attempt"].as_u64().unwrap_or(99),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("flaky", 1, "Failed"),
        ("flaky", 2, "Succeeded"),
        ("broken", 1, "Failed"),
        ("after-broken", 0, "Skipped"),
        ("after-flaky", 1, "Succeeded"),
        ("fan", 0, "Succeeded"),
    ];
    let mut expected: Vec<(String, u64, String)> = expected
        .iter()
        .map(|(n, a, o)| (n.to_string(), *a, o.to_string()))
        .collect();
    // The matrix's instances follow it, in instance order, with their own ids.
    let instances: Vec<Value> = graph["nodes"].as_array().expect("nodes")[5..].to_vec();
    for (ordinal, instance) in instances.iter().enumerate() {
        assert_eq!(instance["ordinal"], ordinal, "{instance}");
        let iid = instance["id"].as_str().expect("an instance id");
        assert!(iid.starts_with("fan-"), "{iid}");
        expected.push((iid.to_owned(), 1, "Succeeded".to_owned()));
    }
    for (record, shard) in records[6..].iter().zip(["a", "b", "c"]) {
        assert_eq!(record["matrixNode"], "fan", "{record}");
        assert_eq!(record["coordinates"], json!({"shard": shard}), "{record}");
        assert_eq!(record["exitCode"], 0, "{record}");
        assert_eq!(
            record["inputsSha256"],
            sha256_of_canonical(&json!({"shard": shard}))
        );
    }
    assert_eq!(
        summary,
        expected,
        "graph order, then attempt:\n{}",
        text_of(&first[0].1)
    );
    let (flaky1, flaky2, broken, skipped, after) = (
        &records[0],
        &records[1],
        &records[2],
        &records[3],
        &records[4],
    );
    assert_eq!(flaky1["exitCode"], 3, "{flaky1}");
    assert_eq!(flaky1["retried"], true);
    assert_eq!(flaky1["reason"], "provider_failed");
    assert!(flaky1.get("outputsSha256").is_none(), "{flaky1}");
    assert_eq!(flaky2["exitCode"], 0, "{flaky2}");
    assert_eq!(broken["exitCode"], 7, "{broken}");
    assert!(broken.get("retried").is_none());
    assert_eq!(skipped["reason"], "upstream_failed");
    assert!(skipped.get("startedAt").is_none() && skipped["finishedAt"].is_string());
    let inputs = json!({"version": "1.2", "list": [1, 2]});
    assert_eq!(flaky1["inputsSha256"], sha256_of_canonical(&inputs));
    assert_eq!(
        flaky2["inputsSha256"], flaky1["inputsSha256"],
        "same inputs each attempt"
    );
    assert_eq!(
        flaky2["outputsSha256"],
        sha256_of_canonical(&json!({"built": "v2"}))
    );
    assert_eq!(
        after["inputsSha256"],
        sha256_of_canonical(&json!({"got": "v2"}))
    );
    assert_ne!(flaky1["idempotencyKey"], flaky2["idempotencyKey"]);

    // Node pages of one matrix's instances, from the server and through the CLI.
    let (status, body) = http(
        &s.addr,
        &execution_path("art-1", "/nodes?matrix=fan&limit=2"),
    );
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).expect("json");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["node"].as_str())
        .collect();
    let want: Vec<&str> = instances.iter().filter_map(|i| i["id"].as_str()).collect();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(ids, sorted[..2], "{page:#}");
    let listed = s.ok(&[
        "get",
        "nodes",
        "execution/art-1",
        "--matrix",
        "fan",
        "-o",
        "name",
    ]);
    assert_eq!(listed.lines().collect::<Vec<_>>(), sorted, "{listed}");
    for r in &records[..3] {
        assert!(
            r["startedAt"].is_string() && r["finishedAt"].is_string(),
            "{r}"
        );
    }
}

/// Nodes of the large run: `CHAINS` chains of `N / CHAINS` noop Tasks.
const N: usize = 10_000;
const CHAINS: usize = 100;
/// These fail (their dependents are skipped).
const FAILING: [usize; 3] = [N - 2 * CHAINS, N - 2 * CHAINS + 1, N - 2 * CHAINS + 2];

fn id(i: usize) -> String {
    format!("n{i:05}")
}

#[test]
fn a_large_execution_stays_small_and_is_served_in_pages() {
    let s = Server::start();
    let nodes: Vec<Value> = (0..N)
        .map(|i| {
            if i < CHAINS {
                json!({"id": id(i), "kind": "Task"})
            } else {
                json!({"id": id(i), "kind": "Task", "dependsOn": [id(i - CHAINS)]})
            }
        })
        .collect();
    let plan = doc(
        "Plan",
        "big",
        json!({"description": "a large plan", "graph": {"nodes": nodes}}),
    );
    let mut rules = vec![json!({"selector": {"planRef": {"name": "big"}},
                                "target": {"provider": "noop://", "config": {}}})];
    for i in FAILING {
        rules.push(
            json!({"selector": {"planRef": {"name": "big"}, "nodeId": id(i)},
                          "target": {"provider": "noop://", "config": {"fail": true}}}),
        );
    }
    let binding = doc("Binding", "big", json!({ "rules": rules }));
    let file = s.write_docs("big.json", vec![plan, binding]);
    s.start_run(&file, "big", "big-1");
    let body = s.finished("big-1");

    // The object: small, counters instead of per-node state.
    assert!(
        body.len() < MAX_OBJECT_BYTES,
        "the Execution object is {} bytes",
        body.len()
    );
    let object: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(object["status"]["phase"], "Failed");
    assert!(object["status"].get("nodeStatuses").is_none());
    let progress = &object["status"]["extensions"]["progress"];
    assert_eq!(progress["total"], N);
    assert_eq!(progress["failed"], FAILING.len());
    assert_eq!(progress["skipped"], FAILING.len());
    assert_eq!(progress["succeeded"], N - 2 * FAILING.len());

    // Node pages: a phase filter with continue tokens …
    let page = |query: &str| -> Value {
        let (status, body) = http(
            &s.addr,
            &execution_path("big-1", &format!("/nodes?{query}")),
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    };
    let failed = page("phase=Failed&limit=2");
    let ids = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["node"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(ids(&failed), [id(FAILING[0]), id(FAILING[1])]);
    let next = failed["metadata"]["continue"]
        .as_str()
        .expect("a continue token");
    let rest = page(&format!("phase=Failed&limit=2&continue={next}"));
    assert_eq!(ids(&rest), [id(FAILING[2])]);
    assert!(rest["metadata"].get("continue").is_none());
    assert_eq!(rest["items"][0]["reason"], "provider_failed");
    // … and every node exactly once, in node-id order, across pages.
    let mut all = Vec::new();
    let mut query = "limit=3000".to_owned();
    let mut pages = 0;
    loop {
        let p = page(&query);
        pages += 1;
        all.extend(ids(&p));
        match p["metadata"]["continue"].as_str() {
            Some(c) => query = format!("limit=3000&continue={c}"),
            None => break,
        }
    }
    assert_eq!(pages, N.div_ceil(3000));
    assert_eq!(all, (0..N).map(id).collect::<Vec<_>>());
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), N);

    // The CLI reads pages and summaries, not the whole run: bytes the server sent per
    // command, through a counting proxy. The full node list alone is far bigger.
    let proxy = Proxy::start(&s.addr);
    let all_records: usize = {
        let mut bytes = 0;
        let mut query = "limit=5000".to_owned();
        loop {
            let (_, body) = http(
                &s.addr,
                &execution_path("big-1", &format!("/nodes?{query}")),
            );
            bytes += body.len();
            let p: Value = serde_json::from_str(&body).expect("json");
            match p["metadata"]["continue"].as_str() {
                Some(c) => query = format!("limit=5000&continue={c}"),
                None => break bytes,
            }
        }
    };
    let budget = (all_records / 10) as u64;
    let cli = |args: &[&str]| -> (String, u64) {
        let mut out = String::new();
        let bytes = proxy.measure(|| out = s.ok_at(&proxy.url, args));
        (out, bytes)
    };
    let (get, get_bytes) = cli(&["get", "execution", "big-1"]);
    assert!(get.contains("big-1"), "{get}");
    let (describe, describe_bytes) = cli(&["describe", "execution/big-1"]);
    for needle in [
        id(FAILING[0]),
        id(FAILING[2]),
        "provider_failed".to_owned(),
        "succeeded".to_owned(),
    ] {
        assert!(
            describe.contains(&needle),
            "describe lacks {needle}:\n{describe}"
        );
    }
    let (nodes, nodes_bytes) = cli(&["get", "nodes", "execution/big-1", "--phase", "Failed"]);
    for i in FAILING {
        assert!(nodes.contains(&id(i)), "{nodes}");
    }
    assert!(!nodes.contains(&id(0)), "{nodes}");
    let (trace, trace_bytes) = cli(&["trace", "execution/big-1"]);
    assert!(
        trace.contains("more"),
        "the trace summarises a large journal:\n{trace}"
    );
    let (_, logs_bytes) = cli(&["logs", "execution/big-1"]);
    eprintln!(
        "bytes read: all node records {all_records}; get {get_bytes}, describe {describe_bytes}, \
         get nodes {nodes_bytes}, trace {trace_bytes}, logs {logs_bytes}"
    );
    for (what, bytes) in [
        ("get", get_bytes),
        ("describe", describe_bytes),
        ("get nodes --phase Failed", nodes_bytes),
        ("trace", trace_bytes),
        ("logs", logs_bytes),
    ] {
        assert!(
            bytes < budget,
            "{what} read {bytes} bytes; the node records alone are {all_records}"
        );
    }
}
