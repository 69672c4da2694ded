//! Hardened approvals end to end (issue 5, point 5): a real `planspec server` on a temporary
//! SQLite file (loopback, port 0), driven by the real `planspec` binary — `apply`, `approve`,
//! `reject`, `approvals`, `get` — and, where the CLI refuses before the server could, by plain
//! HTTP on loopback. Each run's Gate is the per-run Gate `<execution>-<node>` made from the
//! plan's Gate template; downstream `exec` tasks write what they saw to files the test reads.
//!
//! Who acts is the user a bearer token proves (a token file the test writes: `carol` creates
//! the runs and is in `system:masters`; `ann`, `bob`, `frank` are plain users; `eve` is in
//! `release-managers`; every authenticated user may read and review Gates through a
//! ClusterRole). The Execution's creator is the `planspec.io/created-by` annotation the server
//! stamps from the authenticated user.

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
/// Who creates the runs.
const CREATOR: &str = "carol";

// ------------------------------------------------------------------------------------------
// A `planspec server` on a temporary SQLite file, and the CLI pointed at it.
// ------------------------------------------------------------------------------------------

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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The users of the token file: name, groups.
const USERS: &[(&str, &[&str])] = &[
    ("carol", &["system:masters"]),
    ("ann", &[]),
    ("bob", &[]),
    ("eve", &["release-managers"]),
    ("frank", &["developers"]),
];

/// The bearer token of `user`.
fn token(user: &str) -> String {
    format!("pst_approvals_test_{user}")
}

impl Server {
    fn start() -> Server {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().to_path_buf();
        let users: Vec<Value> = USERS
            .iter()
            .map(|(name, groups)| {
                json!({"name": name, "groups": groups,
                       "tokenHashes": [planspec_server::auth::token_file::hash_token(&token(name))]})
            })
            .collect();
        std::fs::write(
            dir.join("tokens.yaml"),
            serde_json::to_string(&json!({"users": users})).unwrap(),
        )
        .expect("the token file");
        let log = std::fs::File::create(dir.join("server.log")).expect("the server log");
        let mut child = Command::new(BIN)
            .args(["server", "--dev", "--listen", "127.0.0.1:0", "--store"])
            .arg(format!("sqlite:{}", dir.join("planspec.db").display()))
            .arg("--token-file")
            .arg(dir.join("tokens.yaml"))
            .current_dir(&dir)
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
        let server = Server {
            child,
            url: format!("http://{addr}"),
            addr,
            dir,
            _stdout: stdout,
            _tmp: tmp,
        };
        // Everyone may read and review Gates and read Executions; who may decide which Gate
        // is the Gates' own business (`reviewers`, no self-approval).
        for (plural, object) in [
            (
                "clusterroles",
                json!({"apiVersion": "planspec.io/v1alpha1", "kind": "ClusterRole",
                "metadata": {"name": "gate-reviewer"},
                "rules": [{"apiGroups": ["planspec.io"], "resources": ["gates", "executions"],
                           "verbs": ["get", "list", "watch", "approve", "reject"]}]}),
            ),
            (
                "clusterrolebindings",
                json!({"apiVersion": "planspec.io/v1alpha1",
                "kind": "ClusterRoleBinding", "metadata": {"name": "everyone-reviews"},
                "subjects": [{"kind": "Group", "name": "system:authenticated"}],
                "roleRef": {"apiGroup": "planspec.io", "kind": "ClusterRole", "name": "gate-reviewer"}}),
            ),
        ] {
            let (code, answer) = server.http(
                CREATOR,
                "POST",
                &format!("/apis/planspec.io/v1alpha1/{plural}"),
                "application/json",
                &object,
            );
            assert_eq!(code, 201, "{plural}: {answer:#}\n{}", server.log());
        }
        server
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `planspec ARGS` as `user`.
    fn cli_as(&self, user: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .current_dir(&self.dir)
            .env("PLANSPEC_SERVER", &self.url)
            .env("NO_COLOR", "1")
            .env_remove("PLANSPEC_NAMESPACE")
            .env_remove("PLANSPEC_CONTEXT")
            .env("PLANSPEC_CONFIG", self.dir.join("no-config.yaml"))
            .env("PLANSPEC_TOKEN", token(user))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("planspec runs")
    }

    /// `planspec ARGS` as `user`, which must succeed; its stdout.
    fn ok_as(&self, user: &str, args: &[&str]) -> String {
        let output = self.cli_as(user, args);
        assert!(
            output.status.success(),
            "planspec {args:?} as {user} failed: {}\n--- server log ---\n{}",
            show(&output),
            self.log()
        );
        text(&output.stdout)
    }

    /// `planspec ARGS` as `user`, which must fail; its stderr.
    fn refused_as(&self, user: &str, args: &[&str]) -> (Option<i32>, String) {
        let output = self.cli_as(user, args);
        assert!(
            !output.status.success(),
            "planspec {args:?} as {user} should have failed: {}",
            show(&output)
        );
        (output.status.code(), text(&output.stderr))
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.path("server.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    /// Writes `docs` as JSON files into `folder`; applies them as `user`.
    fn apply_as(&self, user: &str, folder: &str, docs: &[Value]) {
        let dir = self.path(folder);
        std::fs::create_dir_all(&dir).expect("the documents folder");
        for (i, doc) in docs.iter().enumerate() {
            let body = serde_json::to_string_pretty(doc).expect("a document serialises");
            std::fs::write(dir.join(format!("{i:02}.json")), body).expect("a document");
        }
        self.ok_as(user, &["apply", "-f", &dir.display().to_string()]);
    }

    fn get(&self, kind: &str, name: &str) -> Value {
        let out = self.ok_as(CREATOR, &["get", kind, name, "-o", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("get -o json: {e}: {out}"))
    }

    /// Waits until `kind/name` satisfies `check`; the object.
    fn wait(&self, kind: &str, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let output = self.cli_as(CREATOR, &["get", kind, name, "-o", "json"]);
            let last = if output.status.success() {
                serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            if check(&last) {
                return last;
            }
            assert!(
                Instant::now() < deadline,
                "{kind}/{name}: {what}: not reached in {WAIT:?}: {last:#}\n--- server log ---\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    fn gate_waiting(&self, gate: &str) -> Value {
        self.wait("gate", gate, "Waiting", |g| {
            g["status"]["phase"] == "Waiting"
        })
    }

    fn finished(&self, execution: &str) -> Value {
        self.wait("execution", execution, "finished", |e| {
            matches!(
                e["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed" | "Cancelled")
            )
        })
    }

    /// One HTTP request on loopback as `user`; the status code and the JSON answer.
    fn http(
        &self,
        user: &str,
        method: &str,
        path: &str,
        ctype: &str,
        body: &Value,
    ) -> (u16, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("a read timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n\
             Authorization: Bearer {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            token(user),
            body.len()
        )
        .expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
        let code: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status code");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        (code, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn review(&self, user: &str, gate: &str, body: Value) -> (u16, Value) {
        self.http(
            user,
            "POST",
            &format!("/apis/planspec.io/v1alpha1/namespaces/default/gates/{gate}/review"),
            "application/json",
            &body,
        )
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

// ------------------------------------------------------------------------------------------
// Documents: a Plan `NAME` (approve (Gate) → ship), its Gate template, a Binding, a run.
// ------------------------------------------------------------------------------------------

/// The Plan `name` with a Gate node `approve` whose template has `gate` merged into its
/// spec, then `ship`, which records its inputs (the approved values) in `<name>.shipped`.
fn gated(dir: &Path, name: &str, gate: Value) -> Vec<Value> {
    let mut spec = json!({"gateType": "approval",
                          "targetRef": {"kind": "Plan", "name": name, "nodeId": "approve"},
                          "description": "Ship this build?"});
    for (k, v) in gate.as_object().expect("an object") {
        spec[k] = v.clone();
    }
    let shipped = dir.join(format!("{name}.shipped"));
    vec![
        doc("Gate", &format!("{name}-gate"), spec),
        doc(
            "Plan",
            name,
            json!({"description": "a gated release", "graph": {"nodes": [
                {"id": "approve", "kind": "Gate", "gateRef": {"name": format!("{name}-gate")}},
                {"id": "ship", "kind": "Task", "dependsOn": ["approve"],
                 "inputs": {"version": "${{ nodes.approve.outputs.approved }}"}}
            ]}}),
        ),
        doc(
            "Binding",
            &format!("{name}-sh"),
            json!({"rules": [{"selector": {"planRef": {"name": name}, "nodeId": "ship"},
                              "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c",
                                  format!("printf '%s' \"$PLANSPEC_INPUTS\" > {}", shipped.display())]}}}]}),
        ),
    ]
}

/// An Execution `name` of plan `plan` (whoever applies it is its creator).
fn execution(name: &str, plan: &str) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
           "metadata": {"name": name},
           "spec": {"planRef": {"name": plan}, "bindingRef": {"name": format!("{plan}-sh")}}})
}

/// Applies `docs` and starts the run `run` of `plan` as [`CREATOR`]; the per-run Gate, once
/// it waits.
fn start(s: &Server, plan: &str, run: &str, docs: Vec<Value>) -> String {
    s.apply_as(CREATOR, plan, &docs);
    s.apply_as(CREATOR, &format!("{run}-run"), &[execution(run, plan)]);
    let gate = format!("{run}-approve");
    s.gate_waiting(&gate);
    gate
}

/// The audit records about Gates whose verb is `verb` (in log order).
fn gate_audit(s: &Server, verb: &str) -> Vec<Value> {
    let (code, list) = s.http(
        CREATOR,
        "GET",
        "/apis/planspec.io/v1alpha1/auditrecords?resource=gates&limit=5000",
        "application/json",
        &Value::Null,
    );
    assert_eq!(code, 200, "{list:#}");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["verb"] == verb && r["outcome"]["code"].is_null())
        .cloned()
        .collect()
}

/// User names in a list, without the `user:` prefix a declared actor carries.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.strip_prefix("user:").unwrap_or(n).to_owned())
        .collect()
}

fn node<'a>(e: &'a Value, id: &str) -> &'a Value {
    &e["status"]["nodeStatuses"][id]
}

// ------------------------------------------------------------------------------------------
// The tests.
// ------------------------------------------------------------------------------------------

#[test]
fn self_approval_is_refused_and_two_of_three_distinct_approvers_decide() {
    let s = Server::start();
    let docs = gated(
        &s.dir,
        "two",
        json!({"reviewers": ["ann", "user:bob", CREATOR], "requiredApprovers": 2}),
    );
    let gate = start(&s, "two", "two-1", docs);
    let gate_ref = format!("gate/{gate}");
    // The server stamped who created the run.
    let run = s.get("execution", "two-1");
    assert_eq!(
        run["metadata"]["annotations"]["planspec.io/created-by"], CREATOR,
        "{run:#}"
    );

    // The creator is a reviewer, but may not approve their own run.
    let (_, err) = s.refused_as(CREATOR, &["approve", &gate_ref]);
    assert!(err.contains("Forbidden"), "{err}");
    assert!(
        err.contains("may not approve its gates (no self-approval)"),
        "{err}"
    );
    // … and the gate does not wait for them.
    let theirs = s.ok_as(CREATOR, &["approvals", "-o", "json"]);
    let theirs: Value = serde_json::from_str(&theirs).unwrap();
    assert_eq!(theirs["items"], json!([]), "{theirs:#}");

    // It waits for bob, with no approval yet.
    let bobs: Value = serde_json::from_str(&s.ok_as("bob", &["approvals", "-o", "json"])).unwrap();
    let items = bobs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{bobs:#}");
    assert_eq!(items[0]["gate"], gate.as_str());
    assert_eq!(items[0]["execution"], "two-1");
    assert_eq!(items[0]["node"], "approve");
    assert_eq!(items[0]["approvals"], json!([]));
    assert_eq!(items[0]["requiredApprovals"], 2);

    // One approval leaves it pending; the same person twice counts once.
    let first = s.ok_as("ann", &["approve", &gate_ref, "--comment", "tests pass"]);
    assert!(first.contains("now Waiting (1 of 2 approvals"), "{first}");
    let again = s.ok_as("ann", &["approve", &gate_ref]);
    assert!(again.contains("now Waiting (1 of 2 approvals"), "{again}");
    assert_eq!(s.get("gate", &gate)["status"]["phase"], "Waiting");
    assert!(
        !s.path("two.shipped").exists(),
        "shipped before the second approval"
    );
    // The table shows what bob is asked; ann's own approval no longer waits for her.
    let table = s.ok_as("bob", &["approvals"]);
    assert!(table.starts_with("GATE"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with(&gate))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("two-1") && row.contains("1/2") && row.contains("none"),
        "{row}"
    );
    let anns: Value = serde_json::from_str(&s.ok_as("ann", &["approvals", "-o", "json"])).unwrap();
    assert_eq!(anns["items"], json!([]), "{anns:#}");

    // A second, distinct approver approves it; the run goes on.
    let second = s.ok_as("bob", &["approve", &gate_ref]);
    assert!(second.contains("now Approved"), "{second}");
    let g = s.get("gate", &gate);
    assert_eq!(names(&g["status"]["resolution"]["actors"]), ["ann", "bob"]);
    let e = s.finished("two-1");
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    assert!(s.path("two.shipped").exists());
    // Each review and the decision are in the audit log, written with the Gate's status.
    let reviews = gate_audit(&s, "approve");
    let who: Vec<&str> = reviews
        .iter()
        .filter_map(|r| r["actor"]["username"].as_str())
        .collect();
    assert_eq!(who, ["ann", "ann", "bob"], "{reviews:#?}");
    assert_eq!(reviews[0]["resource"]["subresource"], "review");
    assert_eq!(reviews[0]["details"]["comment"], "tests pass");
    let decisions = gate_audit(&s, "decide");
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    assert_eq!(decisions[0]["actor"]["username"], "bob");
    assert_eq!(decisions[0]["outcome"]["reason"], "approved");
    assert_eq!(decisions[0]["details"]["actors"], json!(["ann", "bob"]));
    // A decided Gate takes no more reviews.
    let (_, late) = s.refused_as("ann", &["approve", &gate_ref]);
    assert!(late.contains("already decided"), "{late}");
}

#[test]
fn an_approval_made_on_a_stale_generation_is_ignored() {
    let s = Server::start();
    let docs = gated(
        &s.dir,
        "stale",
        json!({"reviewers": ["ann", "bob"], "requiredApprovers": 2}),
    );
    let gate = start(&s, "stale", "stale-1", docs);
    let gate_ref = format!("gate/{gate}");
    s.ok_as("ann", &["approve", &gate_ref]);
    assert_eq!(s.get("gate", &gate)["metadata"]["generation"], 1);

    // The question changes: a new spec generation.
    let (code, patched) = s.http(
        CREATOR,
        "PATCH",
        &format!("/apis/planspec.io/v1alpha1/namespaces/default/gates/{gate}"),
        "application/merge-patch+json",
        &json!({"spec": {"description": "Ship this build, with the hotfix?"}}),
    );
    assert_eq!(code, 200, "{patched:#}");
    assert_eq!(patched["metadata"]["generation"], 2, "{patched:#}");

    // ann's approval was of generation 1: bob's alone is 1 of 2.
    let out = s.ok_as("bob", &["approve", &gate_ref]);
    assert!(out.contains("now Waiting (1 of 2 approvals"), "{out}");
    assert!(
        out.contains("1 review(s) of an older generation ignored"),
        "{out}"
    );
    let g = s.get("gate", &gate);
    assert_eq!(g["status"]["phase"], "Waiting", "{g:#}");
    let history = g["status"]["reviewHistory"].as_array().unwrap();
    assert_eq!(history[0]["targetGeneration"], 1);
    assert_eq!(history[1]["targetGeneration"], 2);

    // ann approves what is asked now: decided on generation 2.
    let out = s.ok_as("ann", &["approve", &gate_ref]);
    assert!(out.contains("now Approved"), "{out}");
    let g = s.get("gate", &gate);
    assert_eq!(g["status"]["decidedGeneration"], 2, "{g:#}");
    assert_eq!(s.finished("stale-1")["status"]["phase"], "Succeeded");
}

#[test]
fn a_gate_timeout_rejects_by_default_and_can_be_declared_to_approve() {
    let s = Server::start();
    let mut docs = gated(
        &s.dir,
        "late",
        json!({"reviewers": ["ann"], "timeout": "2s"}),
    );
    docs.extend(gated(
        &s.dir,
        "lenient",
        json!({"reviewers": ["ann"], "timeout": "2s", "onTimeout": "approve"}),
    ));
    s.apply_as(CREATOR, "docs", &docs);
    s.apply_as(
        CREATOR,
        "runs",
        &[
            execution("late-1", "late"),
            execution("lenient-1", "lenient"),
        ],
    );

    // Block on timeout: nobody decided, so the gate is rejected and the run fails.
    let e = s.finished("late-1");
    assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
    let approve = node(&e, "approve");
    assert_eq!(
        approve["extensions"]["reason"], "gate_timeout",
        "{approve:#}"
    );
    assert_eq!(node(&e, "ship")["extensions"]["reason"], "upstream_failed");
    assert!(!s.path("late.shipped").exists(), "shipped after a timeout");
    let g = s.get("gate", "late-1-approve");
    assert_eq!(g["status"]["phase"], "Rejected", "{g:#}");
    let resolution = &g["status"]["resolution"];
    assert_eq!(resolution["reason"], "timeout", "{g:#}");
    assert_eq!(resolution["actors"], json!(["system:planspec"]));
    assert!(g["status"]["expiresAt"].is_string(), "{g:#}");
    let decisions = gate_audit(&s, "decide");
    let late_decision = decisions
        .iter()
        .find(|r| r["resource"]["name"] == "late-1-approve")
        .unwrap_or_else(|| panic!("{decisions:#?}"));
    assert_eq!(late_decision["actor"]["username"], "system:planspec");
    assert_eq!(late_decision["outcome"]["decision"], "denied");
    assert_eq!(late_decision["outcome"]["reason"], "gate_timeout");
    // A review after the deadline is too late.
    let (_, late) = s.refused_as("ann", &["approve", "gate/late-1-approve"]);
    assert!(
        late.contains("already decided (Rejected) by its timeout"),
        "{late}"
    );

    // `onTimeout: approve`: the run goes on, approved by the control plane.
    let e = s.finished("lenient-1");
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    let outputs = &node(&e, "approve")["outputs"];
    assert_eq!(outputs["approved"], true, "{outputs:#}");
    assert_eq!(outputs["by"], "system:planspec", "{outputs:#}");
    let g = s.get("gate", "lenient-1-approve");
    assert_eq!(g["status"]["resolution"]["reason"], "timeout", "{g:#}");
    assert!(s.path("lenient.shipped").exists());
}

#[test]
fn a_rejection_needs_a_reason() {
    let s = Server::start();
    let docs = gated(&s.dir, "why", json!({"reviewers": ["ann"]}));
    let gate = start(&s, "why", "why-1", docs);
    // The CLI refuses before asking (a usage error).
    let (code, err) = s.refused_as("ann", &["reject", &format!("gate/{gate}")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a rejection needs a reason"), "{err}");
    // So does the server, for any client.
    for body in [
        json!({"action": "reject"}),
        json!({"action": "reject", "comment": "  "}),
    ] {
        let (code, status) = s.review("ann", &gate, body);
        assert_eq!(code, 422, "{status:#}");
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(
            status["details"]["causes"][0]["field"], "comment",
            "{status:#}"
        );
    }
    assert_eq!(s.get("gate", &gate)["status"]["phase"], "Waiting");
    // With a reason, the run fails as rejected.
    s.ok_as(
        "ann",
        &[
            "reject",
            &format!("gate/{gate}"),
            "--reason",
            "not this week",
        ],
    );
    let e = s.finished("why-1");
    assert_eq!(node(&e, "approve")["extensions"]["reason"], "gate_rejected");
    assert!(
        node(&e, "approve")["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not this week"),
        "{e:#}"
    );
}

#[test]
fn typed_input_is_checked_and_the_values_reach_the_downstream_node() {
    let s = Server::start();
    let shipped = s.path("typed.shipped");
    let schema = json!({
        "type": "object",
        "required": ["version"],
        "properties": {
            "version": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$"},
            "canary": {"type": "integer", "minimum": 0, "maximum": 100}
        },
        "additionalProperties": false
    });
    let docs = vec![
        doc(
            "Gate",
            "typed-gate",
            json!({"gateType": "approval", "reviewers": ["ann"], "inputSchema": schema,
                   "targetRef": {"kind": "Plan", "name": "typed", "nodeId": "approve"}}),
        ),
        doc(
            "Plan",
            "typed",
            json!({"description": "a release whose version the approver picks", "graph": {"nodes": [
                {"id": "approve", "kind": "Gate", "gateRef": {"name": "typed-gate"}},
                {"id": "ship", "kind": "Task", "dependsOn": ["approve"],
                 "inputs": {"version": "${{ nodes.approve.outputs.version }}",
                            "canary": "${{ nodes.approve.outputs.canary }}",
                            "by": "${{ nodes.approve.outputs.by }}"}}
            ]}}),
        ),
        doc(
            "Binding",
            "typed-sh",
            json!({"rules": [{"selector": {"planRef": {"name": "typed"}, "nodeId": "ship"},
                              "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c",
                                  format!("printf '%s' \"$PLANSPEC_INPUTS\" > {}", shipped.display())]}}}]}),
        ),
    ];
    let gate = start(&s, "typed", "typed-1", docs);
    let gate_ref = format!("gate/{gate}");

    // Invalid values: 422 with the JSON Schema's errors, each at its field.
    let (_, err) = s.refused_as(
        "ann",
        &[
            "approve",
            &gate_ref,
            "--set",
            "version=banana",
            "--set",
            "canary=500",
        ],
    );
    assert!(err.contains("Invalid"), "{err}");
    assert!(err.contains("values.version"), "{err}");
    assert!(err.contains("values.canary"), "{err}");
    let (code, status) = s.review("ann", &gate, json!({"action": "approve"}));
    assert_eq!(code, 422, "{status:#}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("version"),
        "{status:#}"
    );
    let (code, status) = s.review(
        "ann",
        &gate,
        json!({"action": "approve", "values": {"version": "1.0.0", "extra": true}}),
    );
    assert_eq!(code, 422, "{status:#}");
    assert_eq!(s.get("gate", &gate)["status"]["phase"], "Waiting");
    assert!(!shipped.exists());

    // Valid values (from a file, one overridden by --set) become the gate node's outputs.
    let values = s.path("values.yaml");
    std::fs::write(&values, "version: 0.0.1\ncanary: 10\n").unwrap();
    s.ok_as(
        "ann",
        &[
            "approve",
            &gate_ref,
            "--values-file",
            &values.display().to_string(),
            "--set",
            "version=1.4.2",
        ],
    );
    let e = s.finished("typed-1");
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    let outputs = &node(&e, "approve")["outputs"];
    assert_eq!(outputs["version"], "1.4.2", "{outputs:#}");
    assert_eq!(outputs["canary"], 10, "{outputs:#}");
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(&shipped).expect("ship ran")).unwrap();
    assert_eq!(seen["version"], "1.4.2");
    assert_eq!(seen["canary"], 10);
    assert_eq!(names(&json!([seen["by"]])), ["ann"]);
    let g = s.get("gate", &gate);
    assert_eq!(
        g["status"]["resolution"]["values"],
        json!({"version": "1.4.2", "canary": 10})
    );
}

#[test]
fn a_group_reviewer_decides_through_their_group() {
    let s = Server::start();
    let docs = gated(
        &s.dir,
        "grp",
        json!({"reviewers": ["ann", "group:release-managers"], "requiredApprovers": 1}),
    );
    let gate = start(&s, "grp", "grp-1", docs);
    let gate_ref = format!("gate/{gate}");

    // frank is neither named nor in the group.
    let (_, err) = s.refused_as("frank", &["approve", &gate_ref]);
    assert!(err.contains("Forbidden"), "{err}");
    assert!(err.contains("not among the reviewers"), "{err}");
    let franks: Value =
        serde_json::from_str(&s.ok_as("frank", &["approvals", "-o", "json"])).unwrap();
    assert_eq!(franks["items"], json!([]), "{franks:#}");

    // eve is in release-managers: the gate waits for her, through the group.
    let yaml = s.ok_as("eve", &["approvals", "-o", "yaml"]);
    assert!(
        yaml.contains("eligibleVia: group:release-managers"),
        "{yaml}"
    );
    let eves: Value = serde_json::from_str(&s.ok_as("eve", &["approvals", "-o", "json"])).unwrap();
    assert_eq!(eves["user"]["username"], "eve", "{eves:#}");
    assert_eq!(eves["items"][0]["gate"], gate.as_str(), "{eves:#}");
    assert_eq!(
        eves["items"][0]["eligibleVia"], "group:release-managers",
        "{eves:#}"
    );
    let everywhere = s.ok_as("eve", &["approvals", "-A"]);
    assert!(everywhere.starts_with("NAMESPACE"), "{everywhere}");
    assert!(
        everywhere.lines().any(|l| l.starts_with("default")
            && l.contains(&gate)
            && l.contains("group:release-managers")),
        "{everywhere}"
    );
    let out = s.ok_as(
        "eve",
        &["approve", &gate_ref, "--comment", "release managers agree"],
    );
    assert!(out.contains("approved by eve: now Approved"), "{out}");
    let g = s.get("gate", &gate);
    let review = &g["status"]["reviewHistory"][0];
    assert_eq!(review["reviewer"], "eve", "{g:#}");
    assert_eq!(review["via"], "group:release-managers", "{g:#}");
    let e = s.finished("grp-1");
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    assert_eq!(node(&e, "approve")["outputs"]["by"], "eve");
}

#[test]
fn run_yes_on_a_shared_server_cannot_approve_its_own_gate_and_waits() {
    let s = Server::start();
    let docs = gated(&s.dir, "own", json!({"reviewers": ["ann", CREATOR]}));
    let folder = s.path("own");
    std::fs::create_dir_all(&folder).unwrap();
    for (i, doc) in docs.iter().enumerate() {
        std::fs::write(folder.join(format!("{i:02}.json")), doc.to_string()).unwrap();
    }
    let err_path = s.path("run.stderr");
    let run = Command::new(BIN)
        .current_dir(&s.dir)
        .env("NO_COLOR", "1")
        .env("PLANSPEC_CONFIG", s.dir.join("no-config.yaml"))
        .env("PLANSPEC_TOKEN", token(CREATOR))
        .args([
            "run",
            "--server",
            &s.url,
            "-f",
            &folder.display().to_string(),
        ])
        .args(["--name", "own-1", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("planspec run starts");
    let mut run = Reaped(run);
    // `--yes` is refused for the run's own gate: the run says so and keeps waiting.
    let deadline = Instant::now() + WAIT;
    let said = loop {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        if err.contains("waits for another reviewer") {
            break err;
        }
        assert!(Instant::now() < deadline, "{err}\n{}", s.log());
        std::thread::sleep(POLL);
    };
    assert!(said.contains("no self-approval"), "{said}");
    assert_eq!(s.get("gate", "own-1-approve")["status"]["phase"], "Waiting");
    // Another reviewer approves; the run finishes.
    s.ok_as("ann", &["approve", "gate/own-1-approve"]);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = run.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "planspec run did not finish");
        std::thread::sleep(POLL);
    };
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
}

/// A child process killed and reaped when dropped (a failing test leaves nothing behind).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
