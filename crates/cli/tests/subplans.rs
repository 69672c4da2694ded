//! Sub-plans end to end through the real `planspec` binary (issue 6, point 3): a `planspec
//! server` on a temporary SQLite file (loopback, port 0), driven with the CLI. `Plan` nodes
//! start child Executions; real `exec` processes write what they ran to files the tests read.
//!
//! * a parent runs a sub-plan picked by series `^1`; its outputs flow up into a downstream
//!   Task, and the child is owned by and labelled with its parent;
//! * the sub-plan is pinned when the parent starts: v1.1 applied while the parent waits at a
//!   manual External changes nothing (the child runs v1.0's command);
//! * Plans that run each other are refused by `planspec validate` (PS0510) and, applied
//!   separately, fail at start (`subplan_cycle`, with the path); nesting deeper than 8 fails
//!   with `subplan_depth_exceeded`;
//! * cancelling the parent cancels the child.

#![cfg(unix)]

mod common;

use common::{doc, show, text, ServerProcess};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_planspec");
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

struct Server {
    process: ServerProcess,
    dir: tempfile::TempDir,
    /// The token the CLI sends (a server with a token file; `None`: dev mode).
    token: Option<String>,
}

const ROOT: &str = "root-subplans-test-token";
const BOB: &str = "bob-subplans-test-token";

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let process = Server::process(dir.path());
        Server {
            process,
            dir,
            token: None,
        }
    }

    /// A server with a token file: `root` (in `system:masters`, the CLI's default token) and
    /// `bob` (no permissions until a RoleBinding grants some).
    fn start_with_tokens() -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let hash = |t: &str| planspec_server::auth::token_file::hash_token(t);
        let tokens = dir.path().join("tokens.yaml");
        std::fs::write(
            &tokens,
            format!(
                "users:\n  - name: root\n    groups: [\"system:masters\"]\n    tokenHashes: [\"{}\"]\n  - name: bob\n    tokenHashes: [\"{}\"]\n",
                hash(ROOT),
                hash(BOB)
            ),
        )
        .expect("the token file");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("server.log"))
            .expect("the server log");
        let mut child = Command::new(BIN)
            .args(["server", "--listen", "127.0.0.1:0", "--token-file"])
            .arg(&tokens)
            .arg("--store")
            .arg(format!(
                "sqlite:{}",
                dir.path().join("planspec.db").display()
            ))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        );
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Server {
            process: ServerProcess { child, addr },
            dir,
            token: Some(ROOT.to_owned()),
        }
    }

    fn process(dir: &Path) -> ServerProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("the server log");
        let store = format!("sqlite:{}", dir.join("planspec.db").display());
        ServerProcess::start(&store, Stdio::from(log)).expect("the server starts")
    }

    /// SIGKILL the server, then start a new one on the same store.
    fn crash_and_restart(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        self.process = Server::process(self.dir.path());
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.cli_as(self.token.as_deref(), args)
    }

    fn cli_as(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        if let Some(token) = token {
            command.env("PLANSPEC_TOKEN", token);
        }
        command
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

    /// Writes `docs` into a new folder; its path.
    fn docs(&self, folder: &str, docs: &[Value]) -> String {
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
        dir.display().to_string()
    }

    fn apply(&self, folder: &str, docs: &[Value]) {
        let files = self.docs(folder, docs);
        self.ok(&["apply", "-f", &files]);
    }

    fn execution(&self, name: &str) -> Value {
        let out = self.cli(&["get", "execution", name, "-o", "json"]);
        if !out.status.success() {
            return Value::Null;
        }
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
                "execution {name}: {what}: not reached: {e:#}\n--- server log ---\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    fn finished(&self, name: &str) -> Value {
        self.wait(name, "finished", |e| {
            matches!(phase(e), "Succeeded" | "Failed" | "Cancelled")
        })
    }
}

fn phase(e: &Value) -> &str {
    e["status"]["phase"].as_str().unwrap_or("")
}

fn reason(e: &Value) -> &str {
    e["status"]["reason"].as_str().unwrap_or("")
}

fn plan(name: &str, extra: Value, nodes: Value) -> Value {
    let mut spec = json!({"description": format!("sub-plan test plan {name}"),
                          "graph": {"nodes": nodes}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    doc("Plan", name, spec)
}

/// A Binding rule running `script` with `sh -c` for `node` of `plan`.
fn sh(plan: &str, node: &str, script: &str) -> Value {
    json!({"selector": {"planRef": {"name": plan}, "nodeId": node},
           "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}}})
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A deploy Plan of series `deploy`: its `roll` Task writes `tag` to `ran.txt` and outputs
/// it with the parameter `image` it was given.
fn deploy(name: &str, version: &str) -> Value {
    plan(
        name,
        json!({"series": "deploy", "version": version}),
        json!([{"id": "roll", "kind": "Task", "inputs": {"image": "${{ parameters.image }}"}}]),
    )
}

fn deploy_rule(s: &Server, name: &str, tag: &str) -> Value {
    let dir = s.dir.path().display();
    sh(
        name,
        "roll",
        &format!(
            "echo {tag} >> {dir}/ran.txt; echo \"{{\\\"tag\\\": \\\"{tag}\\\", \\\"image\\\": \\\"$PLANSPEC_INPUT_IMAGE\\\"}}\""
        ),
    )
}

#[test]
fn a_sub_plan_by_series_runs_pinned_at_start_and_its_outputs_flow_up() {
    let s = Server::start();
    let dir = s.dir.path().display().to_string();
    let parent = plan(
        "release",
        json!({}),
        json!([
            {"id": "wait", "kind": "External", "externalRef": {"type": "manual"}},
            {"id": "deploy", "kind": "Plan", "dependsOn": ["wait"],
             "planRef": {"series": "deploy", "version": "^1"},
             "inputs": {"image": "app:${{ parameters.build }}"}},
            {"id": "report", "kind": "Task", "dependsOn": ["deploy"],
             "inputs": {"tag": "${{ nodes.deploy.outputs.roll.tag }}",
                        "image": "${{ nodes.deploy.outputs.roll.image }}"}},
        ]),
    );
    let rules = vec![
        deploy_rule(&s, "deploy-1-0", "v1.0"),
        deploy_rule(&s, "deploy-1-1", "v1.1"),
        deploy_rule(&s, "deploy-2-0", "v2.0"),
        sh(
            "release",
            "report",
            &format!("echo \"$PLANSPEC_INPUT_TAG $PLANSPEC_INPUT_IMAGE\" > {dir}/report.txt"),
        ),
    ];
    s.apply(
        "v1",
        &[
            parent,
            deploy("deploy-1-0", "1.0.0"),
            // Outside the range, and not semver: never picked.
            deploy("deploy-2-0", "2.0.0"),
            plan(
                "deploy-odd",
                json!({"series": "deploy", "version": "latest"}),
                json!([{"id": "roll", "kind": "Task"}]),
            ),
            doc("Binding", "all", json!({"rules": rules})),
            doc(
                "Execution",
                "rel-1",
                json!({"planRef": {"name": "release"}, "bindingRef": {"name": "all"},
                       "parameters": {"build": 7}}),
            ),
        ],
    );
    s.wait("rel-1", "running", |e| {
        phase(e) == "Running" || phase(e) == "Blocked"
    });
    // A newer version of the series arrives while the parent waits before its Plan node.
    s.apply("v1-1", &[deploy("deploy-1-1", "1.1.0")]);
    s.ok(&["complete", "execution/rel-1", "--node", "wait"]);
    let e = s.finished("rel-1");
    assert_eq!(phase(&e), "Succeeded", "{e:#}\n{}", s.log());
    assert_eq!(
        read(&s.path("ran.txt")).trim(),
        "v1.0",
        "the pinned v1.0 ran, once"
    );
    assert_eq!(read(&s.path("report.txt")).trim(), "v1.0 app:7");

    // The child: owned by the parent, labelled, with the node's inputs as parameters.
    let child = s.execution("rel-1-deploy");
    assert_eq!(phase(&child), "Succeeded", "{child:#}");
    let labels = &child["metadata"]["labels"];
    assert_eq!(labels["planspec.io/parent-execution"], "rel-1");
    assert_eq!(labels["planspec.io/parent-node"], "deploy");
    assert_eq!(labels["planspec.io/depth"], "1");
    let owner = &child["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Execution");
    assert_eq!(owner["name"], "rel-1");
    assert_eq!(owner["uid"], e["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    assert_eq!(child["spec"]["parameters"], json!({"image": "app:7"}));
    assert_eq!(child["spec"]["planRef"]["name"], "deploy-1-0");
    // The parent's node shows its child and the child's outputs.
    let node = &e["status"]["nodeStatuses"]["deploy"];
    assert_eq!(node["outputs"]["roll"]["tag"], "v1.0", "{node:#}");

    // `get executions` shows the parent of each; `describe` names the child.
    let table = s.ok(&["get", "executions", "-o", "wide"]);
    assert!(
        table.lines().next().unwrap_or_default().contains("PARENT"),
        "{table}"
    );
    let child_row = table
        .lines()
        .find(|l| l.starts_with("rel-1-deploy "))
        .unwrap_or_else(|| panic!("no child row:\n{table}"));
    assert!(child_row.contains("rel-1/deploy"), "{table}");
    let described = s.ok(&["describe", "execution/rel-1"]);
    assert!(described.contains("rel-1-deploy"), "{described}");

    // `logs` and `trace` of the parent point to the child.
    let out = s.cli(&["logs", "execution/rel-1", "--node", "deploy"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("planspec logs execution/rel-1-deploy"),
        "{}",
        show(&out)
    );
    let logs = s.ok(&["logs", "execution/rel-1-deploy"]);
    assert!(logs.contains("[roll]") && logs.contains("v1.0"), "{logs}");
    let trace = s.ok(&["trace", "execution/rel-1"]);
    assert!(
        trace.contains("ChildFinished") && trace.contains("execution/rel-1-deploy Succeeded"),
        "{trace}"
    );

    // Replay agrees for both.
    for name in ["rel-1", "rel-1-deploy"] {
        let out = s.cli(&["replay", &format!("execution/{name}")]);
        assert!(out.status.success(), "replay {name}: {}", show(&out));
    }
}

#[test]
fn plans_that_run_each_other_are_refused_at_validation_and_at_start() {
    let s = Server::start();
    let a = plan(
        "ping",
        json!({}),
        json!([{"id": "to-pong", "kind": "Plan", "planRef": {"name": "pong"}}]),
    );
    let b = plan(
        "pong",
        json!({}),
        json!([{"id": "to-ping", "kind": "Plan", "planRef": {"name": "ping"}}]),
    );
    // Validated together, the cycle is visible.
    let files = s.docs("both", &[a.clone(), b.clone()]);
    let out = s.cli(&["validate", &files]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).contains("PS0510"), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("ping → pong → ping"),
        "{}",
        show(&out)
    );
    // Applied one by one, it is not: the run refuses it at start, naming the path.
    s.apply("a", &[a]);
    s.apply("b", &[b]);
    s.apply(
        "run",
        &[doc(
            "Execution",
            "ping-1",
            json!({"planRef": {"name": "ping"}}),
        )],
    );
    let e = s.finished("ping-1");
    assert_eq!(phase(&e), "Failed", "{e:#}");
    assert_eq!(reason(&e), "subplan_cycle", "{e:#}");
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("plan ping → (node to-pong) plan pong → (node to-ping) plan ping"),
        "{message}"
    );
    // Nothing ran: no child was created.
    assert_eq!(s.execution("ping-1-to-pong"), Value::Null);
}

#[test]
fn nesting_deeper_than_eight_levels_fails_at_start() {
    let s = Server::start();
    // level-0 runs level-1 … runs level-9: nine levels below the root.
    let mut docs: Vec<Value> = (0..9)
        .map(|i| {
            plan(
                &format!("level-{i}"),
                json!({}),
                json!([{"id": "down", "kind": "Plan",
                        "planRef": {"name": format!("level-{}", i + 1)}}]),
            )
        })
        .collect();
    docs.push(plan(
        "level-9",
        json!({}),
        json!([{"id": "leaf", "kind": "Task"}]),
    ));
    docs.push(doc(
        "Binding",
        "all",
        json!({"rules": [sh("level-9", "leaf", "echo '{\"depth\": 8}'")]}),
    ));
    docs.push(doc(
        "Execution",
        "deep-1",
        json!({"planRef": {"name": "level-0"}}),
    ));
    s.apply("deep", &docs);
    let e = s.finished("deep-1");
    assert_eq!(reason(&e), "subplan_depth_exceeded", "{e:#}");
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("plan level-8 → (node down)"), "{message}");
    // From level-1, the tree nests eight levels: allowed, and it runs to the leaf.
    s.apply(
        "shallow",
        &[doc(
            "Execution",
            "deep-2",
            json!({"planRef": {"name": "level-1"}}),
        )],
    );
    let e = s.finished("deep-2");
    assert_eq!(phase(&e), "Succeeded", "{e:#}");
    let deepest = s.execution(&format!("deep-2{}", "-down".repeat(8)));
    assert_eq!(phase(&deepest), "Succeeded", "{deepest:#}");
    assert_eq!(deepest["metadata"]["labels"]["planspec.io/depth"], "8");
    // The leaf's outputs come up through every level.
    let mut outputs = &e["status"]["nodeStatuses"]["down"]["outputs"];
    for _ in 0..7 {
        outputs = &outputs["down"];
    }
    assert_eq!(outputs["leaf"]["depth"], 8, "{e:#}");
}

#[test]
fn cancelling_the_parent_cancels_the_child() {
    let s = Server::start();
    s.apply(
        "docs",
        &[
            plan(
                "outer",
                json!({}),
                json!([{"id": "inner", "kind": "Plan", "planRef": {"name": "inner"}},
                       {"id": "after", "kind": "Task", "dependsOn": ["inner"]}]),
            ),
            plan(
                "inner",
                json!({}),
                json!([{"id": "hold", "kind": "External", "externalRef": {"type": "manual"}}]),
            ),
            doc(
                "Binding",
                "all",
                json!({"rules": [sh("outer", "after", "true")]}),
            ),
            doc(
                "Execution",
                "outer-1",
                json!({"planRef": {"name": "outer"}}),
            ),
        ],
    );
    s.wait("outer-1-inner", "child running", |e| {
        matches!(phase(e), "Running" | "Blocked")
    });
    // While it runs, `describe` names the child of the `Plan` node.
    let described = s.ok(&["describe", "execution/outer-1"]);
    assert!(described.contains("execution/outer-1-inner"), "{described}");
    s.ok(&["cancel", "execution/outer-1"]);
    let e = s.finished("outer-1");
    assert_eq!(phase(&e), "Cancelled", "{e:#}");
    let child = s.finished("outer-1-inner");
    assert_eq!(phase(&child), "Cancelled", "{child:#}");
    let node = &e["status"]["nodeStatuses"]["inner"];
    assert_eq!(node["phase"], "Cancelled", "{node:#}");
}

#[test]
fn a_restarted_server_keeps_one_child_and_picks_up_its_end() {
    let mut s = Server::start();
    let dir = s.dir.path().display().to_string();
    s.apply(
        "docs",
        &[
            plan(
                "outer",
                json!({}),
                json!([{"id": "inner", "kind": "Plan", "planRef": {"name": "inner"}}]),
            ),
            plan("inner", json!({}), json!([{"id": "work", "kind": "Task"}])),
            doc(
                "Binding",
                "all",
                json!({"rules": [sh("inner", "work", &format!(
                    "touch {dir}/started; while [ ! -f {dir}/go ]; do sleep 0.1; done; echo '{{\"ok\": \"yes\"}}'"
                ))]}),
            ),
            doc("Execution", "outer-1", json!({"planRef": {"name": "outer"}})),
        ],
    );
    let deadline = Instant::now() + WAIT;
    while !s.path("started").exists() {
        assert!(
            Instant::now() < deadline,
            "the child's task never started\n{}",
            s.log()
        );
        std::thread::sleep(POLL);
    }
    s.crash_and_restart();
    std::fs::write(s.path("go"), "").expect("the marker");
    let e = s.finished("outer-1");
    assert_eq!(phase(&e), "Succeeded", "{e:#}\n{}", s.log());
    assert_eq!(
        e["status"]["nodeStatuses"]["inner"]["outputs"]["work"]["ok"],
        "yes"
    );
    let out = s.ok(&["get", "executions", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names.len(), 2, "one parent, one child: {names:?}");
}

#[test]
fn a_plan_node_timeout_cancels_the_child_and_fails_the_node() {
    let s = Server::start();
    s.apply(
        "docs",
        &[
            plan(
                "outer",
                json!({}),
                json!([{"id": "inner", "kind": "Plan", "planRef": {"name": "inner"},
                        "timeout": "1s"}]),
            ),
            plan(
                "inner",
                json!({}),
                json!([{"id": "hold", "kind": "External", "externalRef": {"type": "manual"}}]),
            ),
            doc(
                "Execution",
                "outer-1",
                json!({"planRef": {"name": "outer"}}),
            ),
        ],
    );
    let e = s.finished("outer-1");
    assert_eq!(phase(&e), "Failed", "{e:#}");
    let node = &e["status"]["nodeStatuses"]["inner"];
    assert_eq!(node["extensions"]["reason"], "node_timeout", "{node:#}");
    let child = s.finished("outer-1-inner");
    assert_eq!(phase(&child), "Cancelled", "{child:#}");
    assert_eq!(reason(&child), "force_cancelled", "{child:#}");
}

#[test]
fn a_sub_plan_task_without_a_provider_fails_the_root_before_anything_runs() {
    let s = Server::start();
    let dir = s.dir.path().display().to_string();
    s.apply(
        "docs",
        &[
            plan(
                "outer",
                json!({}),
                json!([{"id": "first", "kind": "Task"},
                       {"id": "inner", "kind": "Plan", "dependsOn": ["first"],
                        "planRef": {"name": "inner"}}]),
            ),
            plan(
                "inner",
                json!({}),
                json!([{"id": "orphan", "kind": "Task"}]),
            ),
            doc(
                "Binding",
                "all",
                json!({"rules": [sh("outer", "first", &format!("touch {dir}/first-ran"))]}),
            ),
            doc(
                "Execution",
                "outer-1",
                json!({"planRef": {"name": "outer"}}),
            ),
        ],
    );
    let e = s.finished("outer-1");
    assert_eq!(reason(&e), "provider_unbound", "{e:#}");
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("sub-plan inner") && message.contains("orphan"),
        "{message}"
    );
    assert!(!s.path("first-ran").exists(), "nothing runs halfway");
}

/// A hand-made Execution may not pose as a sub-plan child: the API server refuses a client
/// write that sets the parent labels or an Execution controller owner (on create, and added
/// on update), so nothing runs the parent's pinned sub-plan with the client's parameters.
/// (The runtime's own check, for an object written past the API, is
/// `crates/runtime/tests/driver.rs`.)
#[test]
fn a_forged_child_execution_is_refused_and_runs_nothing() {
    let s = Server::start();
    let dir = s.dir.path().display().to_string();
    let wrapper = plan(
        "wrapper",
        json!({}),
        json!([
            {"id": "hold", "kind": "External", "externalRef": {"type": "manual"}},
            {"id": "inner", "kind": "Plan", "dependsOn": ["hold"], "planRef": {"name": "inner"}},
        ]),
    );
    let inner = plan("inner", json!({}), json!([{"id": "work", "kind": "Task"}]));
    let rules = vec![sh("inner", "work", &format!("echo ran >> {dir}/ran.txt"))];
    s.apply(
        "setup",
        &[
            wrapper,
            inner,
            doc("Binding", "all", json!({"rules": rules})),
            doc(
                "Execution",
                "rel",
                json!({"planRef": {"name": "wrapper"}, "bindingRef": {"name": "all"}}),
            ),
        ],
    );
    let parent = s.wait("rel", "running", |e| {
        phase(e) == "Running" || phase(e) == "Blocked"
    });
    let parent_uid = parent["metadata"]["uid"].as_str().unwrap_or_default();
    let mut forged = doc(
        "Execution",
        "rel-inner",
        json!({"planRef": {"name": "inner"}, "bindingRef": {"name": "all"},
               "parameters": {"chosen": "by the client"}}),
    );
    forged["metadata"]["labels"] =
        json!({"planspec.io/parent-execution": "rel", "planspec.io/parent-node": "inner"});
    forged["metadata"]["ownerReferences"] = json!([{"apiVersion": "planspec.io/v1alpha1",
        "kind": "Execution", "name": "rel", "uid": parent_uid, "controller": true}]);
    let files = s.docs("forged", &[forged]);
    let out = s.cli(&["apply", "-f", &files]);
    assert!(
        !out.status.success(),
        "the forged child was accepted: {}",
        show(&out)
    );
    assert!(
        text(&out.stderr).contains("only the runtime may make an execution a sub-plan child"),
        "{}",
        show(&out)
    );
    // Labels alone, and labels added to an Execution the client made, are refused too.
    let mut plain = doc(
        "Execution",
        "plain",
        json!({"planRef": {"name": "wrapper"}, "bindingRef": {"name": "all"}}),
    );
    let plain_files = s.docs("plain", &[plain.clone()]);
    let out = s.cli(&["apply", "-f", &plain_files]);
    let created = out.status.success();
    plain["metadata"]["labels"] = json!({"planspec.io/parent-node": "inner"});
    let labelled = s.docs("labelled", &[plain]);
    let out = s.cli(&["apply", "-f", &labelled]);
    assert!(
        !out.status.success(),
        "labels were accepted: {}",
        show(&out)
    );
    assert!(
        text(&out.stderr).contains("only the runtime"),
        "{}",
        show(&out)
    );
    assert!(
        s.execution("rel-inner").is_null(),
        "the forged child exists"
    );
    if created {
        let _ = s.cli(&["delete", "execution", "plain"]);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read(&s.path("ran.txt")), "", "something ran");
}

/// Sub-plans run with the root's creator, so creating an Execution needs `execute` on every
/// Plan of the tree, not only the root's: bob, allowed to run `wrapper` only, cannot run the
/// `inner` Plan it wraps; given `execute` on `inner` as well, he can.
#[test]
fn running_a_wrapper_needs_execute_on_every_plan_it_runs() {
    let s = Server::start_with_tokens();
    let dir = s.dir.path().display().to_string();
    let role = |name: &str, plans: &[&str]| {
        let mut role = doc("Role", name, json!(null));
        role.as_object_mut().map(|o| o.remove("spec"));
        role["rules"] = json!([
            {"apiGroups": ["planspec.io"], "resources": ["plans"], "verbs": ["execute"],
             "resourceNames": plans},
            {"apiGroups": ["planspec.io"], "resources": ["executions"],
             "verbs": ["create", "get", "list", "patch", "update"]},
        ]);
        role
    };
    let binding = |role: &str| {
        let mut binding = doc("RoleBinding", &format!("bob-{role}"), json!(null));
        binding.as_object_mut().map(|o| o.remove("spec"));
        binding["subjects"] = json!([{"kind": "User", "name": "bob"}]);
        binding["roleRef"] = json!({"kind": "Role", "name": role});
        binding
    };
    s.apply(
        "setup",
        &[
            plan(
                "wrapper",
                json!({}),
                json!([{"id": "inner", "kind": "Plan", "planRef": {"name": "inner"}}]),
            ),
            plan("inner", json!({}), json!([{"id": "work", "kind": "Task"}])),
            doc(
                "Binding",
                "all",
                json!({"rules": [sh("inner", "work", &format!("echo ran >> {dir}/ran.txt"))]}),
            ),
            role("runner", &["wrapper"]),
            binding("runner"),
        ],
    );
    let run = |name: &str| {
        let files = s.docs(
            name,
            &[doc(
                "Execution",
                name,
                json!({"planRef": {"name": "wrapper"}, "bindingRef": {"name": "all"}}),
            )],
        );
        s.cli_as(Some(BOB), &["apply", "-f", &files])
    };
    // The RBAC cache follows the change feed: wait until bob may run the wrapper's root.
    let deadline = Instant::now() + WAIT;
    let refused = loop {
        let out = run("first");
        let err = text(&out.stderr);
        if err.contains("inner") || out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(POLL);
    };
    assert!(
        !refused.status.success(),
        "bob ran a plan he may not execute: {}",
        show(&refused)
    );
    let err = text(&refused.stderr);
    assert!(
        err.contains("forbidden") && err.contains("\"inner\"") && err.contains("sub-plan"),
        "{}",
        show(&refused)
    );
    assert!(s.execution("first").is_null());

    s.apply(
        "grant",
        &[role("inner-runner", &["inner"]), binding("inner-runner")],
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let out = run("second");
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob still cannot run the wrapper: {}\n{}",
            show(&out),
            s.log()
        );
        std::thread::sleep(POLL);
    }
    let e = s.finished("second");
    assert_eq!(phase(&e), "Succeeded", "{e:#}\n{}", s.log());
    assert_eq!(read(&s.path("ran.txt")).trim(), "ran");
}
