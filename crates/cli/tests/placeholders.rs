//! Placeholder nodes end to end through the real `planspec` binary (issue 6, point 4): a
//! `planspec server` on a temporary SQLite file (loopback, port 0), driven with the CLI as a
//! user would. A Placeholder is filled from an Execution parameter, from the first resource
//! matching its selector, from the `exec` provider bound to its `resolverRef`, and from a
//! person with `planspec resolve` — whose value breaking the constraints is refused (`422`,
//! the node still `AwaitingInput`) before a good one lets the run finish — also after the
//! server is SIGKILLed and restarted mid-wait. Downstream Tasks read
//! `nodes.<id>.outputs.value`; every Execution replays (`planspec replay`).

#![cfg(unix)]

mod common;

use common::{doc, show, text};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_planspec");
/// How long any one wait may take before it fails the test.
const WAIT: Duration = Duration::from_secs(30);
/// How often the tests look again.
const POLL: Duration = Duration::from_millis(100);

/// A `planspec server --dev` on a fresh SQLite file in a temporary directory.
struct Server {
    child: Child,
    url: String,
    addr: String,
    dir: PathBuf,
    _stdout: BufReader<ChildStdout>,
    _tmp: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.replay_all();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().to_path_buf();
        let (child, addr, stdout) = Server::spawn(&dir);
        Server {
            child,
            url: format!("http://{addr}"),
            addr,
            dir,
            _stdout: stdout,
            _tmp: tmp,
        }
    }

    /// SIGKILLs the server and starts a new one on the same store (on a new port).
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr, stdout) = Server::spawn(&self.dir);
        self.child = child;
        self.url = format!("http://{addr}");
        self.addr = addr;
        self._stdout = stdout;
    }

    /// `planspec server --dev` on `<dir>/planspec.db`, logging to `<dir>/server.log`.
    fn spawn(dir: &Path) -> (Child, String, BufReader<ChildStdout>) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("the server log");
        let mut child = Command::new(BIN)
            .args(["server", "--dev", "--listen", "127.0.0.1:0", "--store"])
            .arg(format!("sqlite:{}", dir.join("planspec.db").display()))
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
        (child, addr, stdout)
    }

    /// Every Execution of the server replays identically.
    fn replay_all(&self) {
        let out = self.cli(&["get", "executions", "-o", "json"]);
        let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            let out = self.cli(&["replay", &format!("execution/{name}")]);
            assert!(
                out.status.success(),
                "planspec replay execution/{name} does not agree:\n{}",
                show(&out)
            );
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

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

    fn cli(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("planspec runs")
    }

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

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.path("server.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    /// Writes `docs` as JSON files into `folder`; its path.
    fn docs(&self, folder: &str, docs: &[Value]) -> String {
        let dir = self.path(folder);
        std::fs::create_dir_all(&dir).expect("the documents folder");
        for (i, doc) in docs.iter().enumerate() {
            let name = format!(
                "{i:02}-{}-{}.json",
                doc["kind"].as_str().unwrap_or("doc").to_lowercase(),
                doc["metadata"]["name"].as_str().unwrap_or("x")
            );
            std::fs::write(dir.join(name), serde_json::to_string_pretty(doc).unwrap())
                .expect("a document is written");
        }
        dir.display().to_string()
    }

    fn run_command(&self, files: &str, extra: &[&str]) -> Command {
        let mut command = self.command();
        command
            .args(["run", "--server", &self.url, "-f", files, "--no-input"])
            .args(extra);
        command
    }

    fn execution(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["get", "execution", name, "-o", "json"]))
            .expect("get -o json")
    }

    fn wait(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let output = self.cli(&["get", "execution", name, "-o", "json"]);
            let last = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
            if check(&last) {
                return last;
            }
            assert!(
                Instant::now() < deadline,
                "execution {name}: {what}: not reached in {WAIT:?}: {last:#}\n--- server log ---\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// A raw `POST` on the loopback connection: (status code, body).
    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let mut stream = TcpStream::connect(&self.addr).expect("the server accepts");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("the request is sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        // The body may be chunked: take the JSON object inside.
        let json = match (body.find('{'), body.rfind('}')) {
            (Some(a), Some(b)) if a < b => {
                serde_json::from_str(&body[a..=b]).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        (code, json)
    }
}

fn plan(name: &str, nodes: Value) -> Value {
    doc(
        "Plan",
        name,
        json!({"description": format!("placeholder test plan {name}"), "graph": {"nodes": nodes}}),
    )
}

/// A Capability labelled `labels`.
fn capability(name: &str, labels: Value) -> Value {
    let mut c = doc(
        "Capability",
        name,
        json!({"description": format!("the {name} tool")}),
    );
    c["metadata"]["labels"] = labels;
    c
}

/// A rule running `script` with `sh -c` for `node` of `plan`.
fn sh(plan: &str, node: &str, script: &str) -> Value {
    json!({"selector": {"planRef": {"name": plan}, "nodeId": node},
           "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}}})
}

/// The `region` Placeholder: an EU region name.
fn region() -> Value {
    json!({"id": "region", "kind": "Placeholder", "description": "The EU region to deploy to",
           "schema": {"type": "string", "pattern": "^[a-z]+-[a-z]+-[0-9]$"},
           "rules": [{"expression": "value.startsWith('eu-')", "message": "EU regions only"}]})
}

/// A Task of `plan` writing its inputs (JSON) to `<dir>/<file>`.
fn recorder(plan: &str, deps: &[&str], inputs: Value, dir: &Path, file: &str) -> (Value, Value) {
    (
        json!({"id": "use", "kind": "Task", "dependsOn": deps, "inputs": inputs}),
        sh(
            plan,
            "use",
            &format!(
                "printf '%s' \"$PLANSPEC_INPUTS\" > {}/{file}",
                dir.display()
            ),
        ),
    )
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn node<'a>(e: &'a Value, id: &str) -> &'a Value {
    &e["status"]["nodeStatuses"][id]
}

#[test]
fn placeholders_are_filled_from_a_parameter_a_selector_and_a_resolver() {
    let s = Server::start();
    let (use_node, use_rule) = recorder(
        "fill",
        &["region", "scanner", "port"],
        json!({"region": "${{ nodes.region.outputs.value }}",
               "scanner": "${{ nodes.scanner.outputs.value }}",
               "port": "${{ nodes.port.outputs.value }}"}),
        &s.dir,
        "use.inputs",
    );
    let files = s.docs(
        "fill",
        &[
            capability("zeta-scan", json!({"role": "scanner"})),
            capability("alpha-scan", json!({"role": "scanner"})),
            capability("other-tool", json!({"role": "builder"})),
            capability("port-picker", json!({})),
            plan(
                "fill",
                json!([
                    region(),
                    {"id": "scanner", "kind": "Placeholder", "type": "capability",
                     "description": "The scanner to use",
                     "selector": {"matchLabels": {"role": "scanner"}}},
                    {"id": "port", "kind": "Placeholder", "description": "A privileged port",
                     "resolverRef": {"name": "port-picker"},
                     "schema": {"type": "integer"},
                     "rules": [{"expression": "value < 1024", "message": "privileged ports only"}]},
                    use_node
                ]),
            ),
            doc(
                "Binding",
                "fill-rules",
                json!({"rules": [
                    use_rule,
                    // The resolver is bound through its Capability, like a Task's.
                    {"selector": {"capabilityRef": {"name": "port-picker"}},
                     "target": {"provider": "exec://sh",
                                "config": {"command": ["sh", "-c", "echo '{\"value\": 22}'"]}}}
                ]}),
            ),
        ],
    );
    let out = s
        .run_command(&files, &["--name", "fill-1", "-p", "region=eu-west-1"])
        .output()
        .expect("planspec run");
    assert!(out.status.success(), "{}\n{}", show(&out), s.log());
    assert_eq!(
        read_json(&s.path("use.inputs")),
        json!({"region": "eu-west-1", "scanner": "alpha-scan", "port": 22})
    );
    let e = s.execution("fill-1");
    assert_eq!(node(&e, "region")["outputs"]["source"], "parameter");
    assert_eq!(node(&e, "scanner")["outputs"]["source"], "selector");
    assert_eq!(
        node(&e, "scanner")["outputs"]["by"],
        "Capability/alpha-scan"
    );
    assert_eq!(node(&e, "port")["outputs"]["source"], "resolver");

    // A parameter that breaks the rules fails the node (and the run), naming the source.
    let out = s
        .run_command(&files, &["--name", "fill-2", "-p", "region=us-east-1"])
        .output()
        .expect("planspec run");
    assert!(!out.status.success(), "{}", show(&out));
    let e = s.execution("fill-2");
    assert_eq!(
        node(&e, "region")["extensions"]["reason"],
        "placeholder_rejected"
    );
    let message = node(&e, "region")["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("parameter") && message.contains("EU regions only"),
        "{message}"
    );
    assert_eq!(node(&e, "use")["phase"], "Skipped");
}

#[test]
fn a_person_resolves_a_placeholder_and_a_bad_value_is_refused() {
    let s = Server::start();
    let (use_node, use_rule) = recorder(
        "ask",
        &["region"],
        json!({"region": "${{ nodes.region.outputs.value }}"}),
        &s.dir,
        "use.inputs",
    );
    let files = s.docs(
        "ask",
        &[
            plan("ask", json!([region(), use_node])),
            doc("Binding", "ask-rules", json!({"rules": [use_rule]})),
        ],
    );
    let mut run = s
        .run_command(&files, &["--name", "ask-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("planspec run starts");
    let e = s.wait("ask-1", "the region awaits input", |e| {
        node(e, "region")["phase"] == "AwaitingInput"
    });
    assert_eq!(
        e["status"]["extensions"]["awaitingInput"],
        json!(["region"])
    );
    assert_eq!(e["status"]["phase"], "Blocked", "{:#}", e["status"]);
    assert!(node(&e, "region")["message"]
        .as_str()
        .is_some_and(|m| m.contains("The EU region to deploy to")));
    let described = s.ok(&["describe", "execution/ask-1"]);
    assert!(
        described.contains("AwaitingInput") && described.contains("The EU region to deploy to"),
        "{described}"
    );
    let listed = s.ok(&[
        "get",
        "nodes",
        "execution/ask-1",
        "--phase",
        "AwaitingInput",
    ]);
    assert!(listed.contains("region"), "{listed}");

    // A value breaking the rule: refused by the CLI's request…
    let bad = s.cli(&[
        "resolve",
        "execution/ask-1",
        "--node",
        "region",
        "--string",
        "us-east-1",
    ]);
    assert!(!bad.status.success(), "{}", show(&bad));
    assert!(
        text(&bad.stderr).contains("EU regions only"),
        "{}",
        show(&bad)
    );
    // …as a 422 naming the constraint (schema path or rule), and nothing changes.
    let path =
        "/apis/planspec.io/v1alpha1/namespaces/default/executions/ask-1/nodes/region/resolve";
    let (code, status) = s.post(path, &json!({"value": "EU WEST"}));
    assert_eq!(code, 422, "{status:#}");
    assert_eq!(status["reason"], "Invalid", "{status:#}");
    let causes = status["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(causes.iter().any(|c| c["field"] == "value"), "{status:#}");
    let (code, status) = s.post(path, &json!({"value": "us-west-2"}));
    assert_eq!(code, 422, "{status:#}");
    assert!(status["message"]
        .as_str()
        .unwrap_or_default()
        .contains("EU regions only"));
    assert_eq!(
        node(&s.execution("ask-1"), "region")["phase"],
        "AwaitingInput"
    );
    assert!(!s.path("use.inputs").exists());

    // A good value lets the run finish; downstream reads it.
    s.ok(&[
        "resolve",
        "execution/ask-1",
        "--node",
        "region",
        "--value",
        "\"eu-north-1\"",
        "--as",
        "alice",
        "--as-group",
        "system:masters",
    ]);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = run.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "planspec run did not finish\n{}",
            s.log()
        );
        std::thread::sleep(POLL);
    };
    assert!(status.success(), "{}", s.log());
    assert_eq!(
        read_json(&s.path("use.inputs")),
        json!({"region": "eu-north-1"})
    );
    let e = s.execution("ask-1");
    assert_eq!(node(&e, "region")["outputs"]["source"], "person");
    // Who gave the value is journaled with it.
    assert_eq!(node(&e, "region")["outputs"]["by"], "alice");
    let trace = s.ok(&["trace", "execution/ask-1"]);
    assert!(
        trace.contains("PlaceholderWaiting") && trace.contains("by alice"),
        "{trace}"
    );
    // Resolving again is a conflict: the node no longer waits.
    let again = s.cli(&[
        "resolve",
        "execution/ask-1",
        "--node",
        "region",
        "--string",
        "eu-west-1",
    ]);
    assert!(!again.status.success(), "{}", show(&again));
}

#[test]
fn a_placeholder_awaiting_input_survives_a_server_crash() {
    let mut s = Server::start();
    let (use_node, use_rule) = recorder(
        "crash",
        &["region"],
        json!({"region": "${{ nodes.region.outputs.value }}"}),
        &s.dir,
        "use.inputs",
    );
    let mut region = region();
    region["timeout"] = json!("1h");
    let files = s.docs(
        "crash",
        &[
            plan("crash", json!([region, use_node])),
            doc("Binding", "crash-rules", json!({"rules": [use_rule]})),
        ],
    );
    let mut run = s
        .run_command(&files, &["--name", "crash-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("planspec run starts");
    let before = s.wait("crash-1", "the region awaits input", |e| {
        node(e, "region")["phase"] == "AwaitingInput"
    });
    let _ = run.kill();
    let _ = run.wait();
    s.restart();
    // The restarted runtime resumes the run: still waiting, the same attempt, and a value
    // from the CLI finishes it.
    let after = s.wait("crash-1", "resumed", |e| {
        node(e, "region")["phase"] == "AwaitingInput" && e["status"]["phase"] == "Blocked"
    });
    assert_eq!(
        node(&after, "region")["attempt"],
        node(&before, "region")["attempt"]
    );
    s.ok(&[
        "resolve",
        "execution/crash-1",
        "--node",
        "region",
        "--string",
        "eu-south-1",
    ]);
    let e = s.wait("crash-1", "finished", |e| {
        e["status"]["phase"] == "Succeeded"
    });
    assert_eq!(node(&e, "region")["outputs"]["value"], "eu-south-1");
    assert_eq!(
        read_json(&s.path("use.inputs")),
        json!({"region": "eu-south-1"})
    );
}
