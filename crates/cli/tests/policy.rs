//! Policy and risk routing, replay, explain and evidence bundles end to end (issue 5, points 3,
//! 4 and 7): a real `planspec server` (loopback, a temporary SQLite file, a token file with two
//! users) driven by the real `planspec` binary, with `exec` tasks that leave marker files.
//!
//! * a `high`-risk Task waits for an approval Gate although a rule allows it; the creator's
//!   own approval does not count; another user's approval lets it run;
//! * a Task a rule denies fails with `policy_denied`, its dependent is skipped
//!   (`upstream_failed`), and it never ran;
//! * `trace`, `policy explain`, `replay` (agrees), `export` + `replay --bundle` offline (the
//!   server stopped), then an edited journal row makes `replay` fail with a precise report;
//! * a spent `budgetUsd` stops dispatch (`budget_exceeded`), `maxRuntimeSeconds` ends a run
//!   (`execution_deadline_exceeded`), and admission refuses a Plan whose must-run Task is
//!   `blocked` (403).

#![cfg(unix)]

mod common;

use common::{doc, show, text};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_planspec");
const WAIT: Duration = Duration::from_secs(40);
const POLL: Duration = Duration::from_millis(100);
const ALICE: &str = "pst_alice_policy_test_token_0001";
const BOB: &str = "pst_bob_policy_test_token_00002";

struct Server {
    child: Child,
    url: String,
    dir: PathBuf,
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_hex(text: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", "printf %s \"$1\" | sha256sum", "sh", text])
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Server {
    /// A server on `dir/planspec.db` with alice and bob (both administrators).
    fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    /// [`Server::start`] with more `planspec server` flags.
    fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let tokens = dir.join("tokens.yaml");
        if !tokens.exists() {
            let yaml = format!(
                "users:\n  - name: alice\n    groups: [\"system:masters\"]\n    tokenHashes: [\"sha256:{}\"]\n  - name: bob\n    groups: [\"system:masters\"]\n    tokenHashes: [\"sha256:{}\"]\n",
                sha256_hex(ALICE),
                sha256_hex(BOB)
            );
            std::fs::write(&tokens, yaml).expect("token file");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("server log");
        let mut child = Command::new(BIN)
            .args(["server", "--listen", "127.0.0.1:0", "--token-file"])
            .arg(&tokens)
            .arg("--store")
            .arg(format!("sqlite:{}", dir.join("planspec.db").display()))
            .args(extra)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("planspec server starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Server {
            child,
            url: format!("http://{addr}"),
            dir: dir.to_path_buf(),
            _stdout: stdout,
        }
    }

    fn cli_as(&self, token: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env("PLANSPEC_SERVER", &self.url)
            .env("PLANSPEC_TOKEN", token)
            .env("NO_COLOR", "1")
            .env_remove("PLANSPEC_NAMESPACE")
            .env_remove("PLANSPEC_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("planspec runs")
    }

    fn ok_as(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli_as(token, args);
        assert!(
            out.status.success(),
            "planspec {args:?}: {}\n--- server log ---\n{}",
            show(&out),
            self.log()
        );
        text(&out.stdout)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_as(ALICE, args)
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        log.chars()
            .rev()
            .take(3000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    }

    fn apply(&self, folder: &str, docs: &[Value]) {
        let dir = self.dir.join(folder);
        std::fs::create_dir_all(&dir).expect("folder");
        for (i, d) in docs.iter().enumerate() {
            std::fs::write(
                dir.join(format!("{i:02}.json")),
                serde_json::to_string_pretty(d).expect("json"),
            )
            .expect("write");
        }
        self.ok(&["apply", "-f", &dir.display().to_string()]);
    }

    fn execution(&self, name: &str) -> Value {
        let out = self.cli_as(ALICE, &["get", "execution", name, "-o", "json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn wait(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let e = self.execution(name);
            if check(&e) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {what} not reached: {e:#}\n--- server log ---\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    fn finished(&self, name: &str) -> Value {
        self.wait(name, "finished", |e| {
            matches!(
                e["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed" | "Cancelled")
            )
        })
    }
}

fn sh_rule(plan: &str, node: &str, script: &str) -> Value {
    json!({"selector": {"planRef": {"name": plan}, "nodeId": node},
           "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}}})
}

fn node<'a>(e: &'a Value, id: &str) -> &'a Value {
    &e["status"]["nodeStatuses"][id]
}

fn reason<'a>(e: &'a Value, id: &str) -> &'a str {
    node(e, id)["extensions"]["reason"].as_str().unwrap_or("")
}

#[test]
fn risk_routing_denial_approval_replay_and_evidence() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let d = dir.display().to_string();
    let mut s = Server::start(&dir);
    s.apply(
        "docs",
        &[
            doc(
                "Policy",
                "routing",
                json!({"rules": [
                    {"name": "allow-all", "when": "true", "verdict": "allow"},
                    {"name": "no-wipe", "when": "node.id == 'wipe'", "verdict": "deny",
                     "reason": "wipe_forbidden", "message": "wiping is not allowed here"}
                ]}),
            ),
            doc(
                "Plan",
                "release",
                json!({"description": "a release with a risky step", "graph": {"nodes": [
                    {"id": "build", "kind": "Task"},
                    {"id": "deploy", "kind": "Task", "dependsOn": ["build"], "risk": "high"},
                    {"id": "wipe", "kind": "Task", "when": "parameters.wipe == 'yes'"},
                    {"id": "after-wipe", "kind": "Task", "dependsOn": ["wipe"]}
                ]}}),
            ),
            doc(
                "Binding",
                "release",
                json!({"rules": [
                    sh_rule("release", "build", &format!("touch {d}/built")),
                    sh_rule("release", "deploy", &format!("touch {d}/deployed")),
                    sh_rule("release", "wipe", &format!("touch {d}/wiped")),
                    sh_rule("release", "after-wipe", &format!("touch {d}/after-wipe")),
                ]}),
            ),
            doc(
                "Execution",
                "rel-1",
                json!({"planRef": {"name": "release"}, "bindingRef": {"name": "release"},
                       "parameters": {"wipe": "yes"}}),
            ),
        ],
    );

    // The denied node fails without running, its dependent is skipped; deploy waits.
    let e = s.wait("rel-1", "deploy waiting for approval", |e| {
        node(e, "deploy")["extensions"]["approval"] == "Waiting"
            && reason(e, "after-wipe") == "upstream_failed"
    });
    assert_eq!(reason(&e, "wipe"), "policy_denied", "{e:#}");
    let message = node(&e, "wipe")["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("routing/no-wipe") && message.contains("wiping is not allowed here"),
        "{message}"
    );
    assert!(dir.join("built").exists());
    assert!(!dir.join("wiped").exists() && !dir.join("after-wipe").exists());
    assert!(!dir.join("deployed").exists(), "deploy ran before approval");
    assert_eq!(
        node(&e, "deploy")["extensions"]["verdict"]["reason"],
        "high_risk_requires_approval",
        "{e:#}"
    );
    assert_eq!(e["status"]["phase"], "Blocked", "{e:#}");
    assert_eq!(
        e["status"]["extensions"]["admission"]["verdict"], "deny",
        "{e:#}"
    );

    // The approval is a per-run Gate owned by the Execution.
    let gate: Value = serde_json::from_str(&s.ok(&["get", "gate", "rel-1-deploy", "-o", "json"]))
        .expect("gate json");
    assert_eq!(gate["metadata"]["ownerReferences"][0]["name"], "rel-1");
    assert_eq!(
        gate["metadata"]["labels"]["planspec.io/gate"],
        "policy-approval"
    );

    // The creator cannot approve her own run's step; bob can.
    let own = s.cli_as(
        ALICE,
        &["approve", "gate/rel-1-deploy", "--comment", "mine"],
    );
    let e = s.execution("rel-1");
    assert!(
        !own.status.success() || node(&e, "deploy")["extensions"]["approval"] == "Waiting",
        "{}",
        show(&own)
    );
    s.ok_as(BOB, &["approve", "gate/rel-1-deploy", "--comment", "go"]);
    let e = s.finished("rel-1");
    assert_eq!(node(&e, "deploy")["phase"], "Succeeded", "{e:#}");
    assert!(dir.join("deployed").exists());
    assert_eq!(
        e["status"]["phase"], "Failed",
        "the denied node fails the run"
    );

    // Trace shows the stages with actors.
    let trace = s.ok(&["trace", "execution/rel-1"]);
    for needle in [
        "received",
        "by alice",
        "compiled",
        "policies routing@",
        "blocked",
        "approved",
        "by bob",
        "denied",
        "policy_denied",
        "finished",
    ] {
        assert!(trace.contains(needle), "trace lacks {needle:?}:\n{trace}");
    }

    // Explain: each rule, the combination, the built-in rule.
    let explain = s.ok(&["policy", "explain", "execution/rel-1", "--node", "deploy"]);
    for needle in [
        "node deploy: assist (risk high)",
        "matched",
        "routing/allow-all",
        "not matched",
        "routing/no-wipe",
        "high_risk_requires_approval",
        "journaled: assist",
    ] {
        assert!(
            explain.contains(needle),
            "explain lacks {needle:?}:\n{explain}"
        );
    }

    eprintln!("{trace}\n{explain}");

    // Replay agrees; the bundle verifies; then offline, with the server stopped.
    let replay = s.ok(&["replay", "execution/rel-1"]);
    assert!(replay.contains("agrees"), "{replay}");
    let bundle = dir.join("rel-1.bundle.json");
    s.ok(&[
        "export",
        "execution/rel-1",
        "-o",
        &bundle.display().to_string(),
    ]);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("json");
    assert_eq!(written["kind"], "EvidenceBundle");
    for part in [
        "plan",
        "graph",
        "providers",
        "governance",
        "journal",
        "audit",
    ] {
        assert!(
            written["manifest"]["parts"][part]
                .as_str()
                .is_some_and(|h| h.starts_with("sha256:")),
            "{part}"
        );
    }
    // The verdicts are in the audit log, and the bundle carries them.
    let audit = written["parts"]["audit"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let verdict = audit
        .iter()
        .find(|r| r["verb"] == "verdict" && r["resource"]["subresource"] == "nodes/wipe")
        .unwrap_or_else(|| panic!("no verdict record for wipe in {audit:#?}"));
    assert_eq!(verdict["outcome"]["decision"], "denied", "{verdict:#}");
    assert_eq!(
        verdict["actor"]["username"], "system:planspec",
        "{verdict:#}"
    );
    assert!(
        audit
            .iter()
            .any(|r| r["verb"] == "approve" && r["actor"]["username"] == "bob"),
        "{audit:#?}"
    );
    drop(s);
    let offline = Command::new(BIN)
        .args(["replay", "--bundle", &bundle.display().to_string()])
        .env("PLANSPEC_SERVER", "http://127.0.0.1:1")
        .output()
        .expect("replay --bundle");
    assert!(offline.status.success(), "{}", show(&offline));
    assert!(
        text(&offline.stdout).contains("agrees"),
        "{}",
        show(&offline)
    );

    // A tampered bundle fails.
    let mut tampered = written.clone();
    tampered["parts"]["plan"]["spec"]["description"] = json!("not what ran");
    let bad = dir.join("tampered.json");
    std::fs::write(&bad, tampered.to_string()).expect("write");
    let out = Command::new(BIN)
        .args(["replay", "--bundle", &bad.display().to_string()])
        .output()
        .expect("replay");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("part `plan` does not match its manifest hash"),
        "{}",
        show(&out)
    );

    // Someone edits the journal row of the recorded verdict: replay names the entry and field.
    let db = dir.join("planspec.db");
    let edit = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "UPDATE journal SET entry = json_set(entry, '$.verdict', 'allow') \
             WHERE json_extract(entry, '$.type') = 'NodeVerdict' \
             AND json_extract(entry, '$.node') = 'wipe'; SELECT changes();",
        )
        .output()
        .expect("sqlite3");
    assert!(edit.status.success(), "{edit:?}");
    assert_eq!(text(&edit.stdout).trim(), "1", "{edit:?}");
    s = Server::start(&dir);
    let out = s.cli_as(ALICE, &["replay", "execution/rel-1"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = text(&out.stdout);
    assert!(report.contains("DIVERGES"), "{report}");
    assert!(report.contains("the decisions differ"), "{report}");
    assert!(
        report.contains("/verdict: journaled \"allow\", derived \"deny\""),
        "{report}"
    );
    eprintln!("{report}");
    let json_out = s.cli_as(ALICE, &["replay", "execution/rel-1", "-o", "json"]);
    let v: Value = serde_json::from_slice(&json_out.stdout).expect("json report");
    assert_eq!(v["agrees"], false);
    assert!(
        v["report"]["problems"][0]["index"].as_u64().is_some(),
        "{v:#}"
    );
}

#[test]
fn budget_runtime_cap_and_admission() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let d = dir.display().to_string();
    let s = Server::start(&dir);
    s.apply(
        "docs",
        &[
            doc(
                "Goal",
                "cheap",
                json!({"description": "spend at most a dollar", "constraints": {"budgetUsd": 1}}),
            ),
            doc(
                "Goal",
                "quick",
                json!({"description": "done in two seconds", "constraints": {"maxRuntimeSeconds": 2}}),
            ),
            doc(
                "Plan",
                "spend",
                json!({"description": "three paid steps", "graph": {"nodes": [
                    {"id": "a", "kind": "Task"},
                    {"id": "b", "kind": "Task", "dependsOn": ["a"]},
                    {"id": "c", "kind": "Task", "dependsOn": ["b"]}
                ]}}),
            ),
            doc(
                "Plan",
                "slow",
                json!({"description": "a long step", "graph": {"nodes": [
                    {"id": "sleep", "kind": "Task"}
                ]}}),
            ),
            doc(
                "Plan",
                "forbidden",
                json!({"description": "a blocked step", "graph": {"nodes": [
                    {"id": "nuke", "kind": "Task", "risk": "blocked"}
                ]}}),
            ),
            doc(
                "Binding",
                "all",
                json!({"rules": [
                    sh_rule("spend", "a", "echo 0.6 > \"$PLANSPEC_COST\""),
                    sh_rule("spend", "b", "echo 0.5 > \"$PLANSPEC_COST\""),
                    sh_rule("spend", "c", &format!("touch {d}/c-ran")),
                    sh_rule("slow", "sleep", "sleep 30"),
                    sh_rule("forbidden", "nuke", &format!("touch {d}/nuked")),
                ]}),
            ),
            doc(
                "Execution",
                "spend-1",
                json!({"planRef": {"name": "spend"}, "goalRef": {"name": "cheap"},
                       "bindingRef": {"name": "all"}}),
            ),
            doc(
                "Execution",
                "slow-1",
                json!({"planRef": {"name": "slow"}, "goalRef": {"name": "quick"},
                       "bindingRef": {"name": "all"}}),
            ),
        ],
    );
    let e = s.finished("spend-1");
    assert_eq!(node(&e, "b")["phase"], "Succeeded", "{e:#}");
    assert_eq!(reason(&e, "c"), "budget_exceeded", "{e:#}");
    assert!(!dir.join("c-ran").exists());
    let trace = s.ok(&["trace", "execution/spend-1"]);
    assert!(trace.contains("CostRecorded"), "{trace}");

    let started = Instant::now();
    let e = s.finished("slow-1");
    assert!(started.elapsed() < Duration::from_secs(25));
    assert_eq!(
        e["status"]["extensions"]["reason"]
            .as_str()
            .or(e["status"]["reason"].as_str()),
        Some("execution_deadline_exceeded"),
        "{e:#}"
    );

    // Admission: a must-run Task whose risk is blocked is refused before it starts.
    let file = dir.join("nuke.json");
    std::fs::write(
        &file,
        doc(
            "Execution",
            "nuke-1",
            json!({"planRef": {"name": "forbidden"}, "bindingRef": {"name": "all"}}),
        )
        .to_string(),
    )
    .expect("write");
    let out = s.cli_as(ALICE, &["apply", "-f", &file.display().to_string()]);
    assert!(!out.status.success(), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("Forbidden") && err.contains("risk_blocked"),
        "{err}"
    );
    assert!(s.execution("nuke-1").is_null());
    assert!(!dir.join("nuked").exists());

    // A Policy whose rule does not compile is refused when written.
    let file = dir.join("bad-policy.json");
    std::fs::write(
        &file,
        doc(
            "Policy",
            "broken",
            json!({"rules": [{"name": "r", "when": "nodes.build.phase == 'x'", "verdict": "deny"}]}),
        )
        .to_string(),
    )
    .expect("write");
    let out = s.cli_as(ALICE, &["apply", "-f", &file.display().to_string()]);
    assert!(!out.status.success(), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("spec.rules[0].when") && err.contains("`nodes`"),
        "{err}"
    );

    for name in ["spend-1", "slow-1"] {
        let replay = s.ok(&["replay", &format!("execution/{name}")]);
        assert!(replay.contains("agrees"), "{replay}");
    }
}

#[test]
fn a_deny_by_default_server_runs_only_what_a_policy_allows() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let d = dir.display().to_string();
    let s = Server::start_with(&dir, &["--policy-default", "deny"]);
    s.apply(
        "docs",
        &[
            doc(
                "Plan",
                "p",
                json!({"description": "one step", "graph": {"nodes": [{"id": "a", "kind": "Task"}]}}),
            ),
            doc(
                "Binding",
                "all",
                json!({"rules": [sh_rule("p", "a", &format!("touch {d}/a-ran"))]}),
            ),
        ],
    );
    let run = |name: &str| {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(
            &file,
            doc(
                "Execution",
                name,
                json!({"planRef": {"name": "p"}, "bindingRef": {"name": "all"}}),
            )
            .to_string(),
        )
        .expect("write");
        s.cli_as(ALICE, &["apply", "-f", &file.display().to_string()])
    };
    // No Policy matches: the server's default denies, so the run is refused at admission.
    let refused = run("first");
    assert!(!refused.status.success(), "{}", show(&refused));
    assert!(
        text(&refused.stderr).contains("Forbidden"),
        "{}",
        show(&refused)
    );
    assert!(!dir.join("a-ran").exists());
    // A Policy that allows the node lets the next run through.
    s.apply(
        "policy",
        &[doc(
            "Policy",
            "allow-a",
            json!({"rules": [{"name": "a-is-fine", "when": "node.id == 'a'", "verdict": "allow"}]}),
        )],
    );
    let accepted = run("second");
    assert!(accepted.status.success(), "{}", show(&accepted));
    let e = s.finished("second");
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    assert!(dir.join("a-ran").exists());
}
