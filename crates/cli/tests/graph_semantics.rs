//! Graph semantics end to end (issue 6, points 2, 5 and the failure policy of 6): a real
//! `planspec server` on a temporary SQLite file (loopback), driven by the real binary with
//! `exec` Tasks that record what they saw and when.
//!
//! * `steps_run_in_order_and_draw_as_a_chain`: a Plan written as `spec.steps` validates,
//!   `planspec graph` draws it as a chain, and it runs one step after another;
//! * `cleanup_runs_after_a_failure_and_an_on_failure_branch_handles_it`: an `on: failure`
//!   edge runs the rollback, a `finally` Task runs last and reads `execution.outcome` and
//!   `execution.failedNodes`, the run fails with its partial results in the message;
//! * `max_parallel_one_never_overlaps_and_fail_fast_stops_new_work`: with `--max-parallel 1`
//!   no two Tasks overlap (timestamps), a failure leaves the independent branches running
//!   (partial results); with `--fail-fast` too, nothing new starts after it (`fail_fast`) but
//!   the `finally` Task runs.
//!
//! Every run is checked with `planspec replay` at the end.

#![cfg(unix)]

mod common;

use common::{doc, show, DevServer as Server};

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

impl Server {
    fn execution(&self, name: &str) -> Value {
        let out = self.ok(&["get", "execution", name, "-o", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("get -o json: {e}: {out}"))
    }

    /// `planspec replay execution/NAME` agrees with the journal.
    fn replays(&self, name: &str) {
        self.ok(&["replay", &format!("execution/{name}")]);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn binding(name: &str, rules: Vec<Value>) -> Value {
    doc("Binding", name, json!({ "rules": rules }))
}

/// A rule running `script` with `sh -c` for `node` of `plan`.
fn sh(plan: &str, node: &str, script: &str) -> Value {
    json!({"selector": {"planRef": {"name": plan}, "nodeId": node},
           "target": {"provider": "exec://sh", "config": {"command": ["sh", "-c", script]}}})
}

/// A script that records its start and end (nanoseconds) around `body`.
fn timed(dir: &str, node: &str, body: &str) -> String {
    format!("date +%s%N > {dir}/{node}.start; {body}; s=$?; date +%s%N > {dir}/{node}.end; exit $s")
}

fn stamp(path: &Path) -> u128 {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    t.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}: {t:?}", path.display()))
}

fn node<'a>(e: &'a Value, id: &str) -> &'a Value {
    &e["status"]["nodeStatuses"][id]
}

fn assert_node(e: &Value, id: &str, phase: &str, reason: Option<&str>) {
    let n = node(e, id);
    assert_eq!(n["phase"].as_str(), Some(phase), "node {id}: {n:#}");
    if let Some(reason) = reason {
        assert_eq!(
            n["extensions"]["reason"].as_str(),
            Some(reason),
            "node {id}: {n:#}"
        );
    }
}

#[test]
fn steps_run_in_order_and_draw_as_a_chain() {
    let s = Server::start();
    let dir = s.dir.display().to_string();
    let plan = doc(
        "Plan",
        "chain",
        json!({"description": "three steps", "steps": [
            {"id": "fetch", "kind": "Task", "outputs": ["rev"]},
            {"id": "build", "kind": "Task", "inputs": {"rev": "${{ nodes.fetch.outputs.rev }}"}},
            {"id": "ship", "kind": "Task"}
        ]}),
    );
    let files = s.docs(
        "chain",
        &[
            plan,
            binding(
                "chain-sh",
                vec![
                    sh(
                        "chain",
                        "fetch",
                        &timed(&dir, "fetch", "sleep 0.3; echo '{\"rev\": \"abc\"}'"),
                    ),
                    sh(
                        "chain",
                        "build",
                        &timed(
                            &dir,
                            "build",
                            &format!("echo $PLANSPEC_INPUT_REV > {dir}/rev"),
                        ),
                    ),
                    sh("chain", "ship", &timed(&dir, "ship", "true")),
                ],
            ),
        ],
    );
    let validated = s.cli(&["validate", &files]);
    assert!(validated.status.success(), "{}", show(&validated));
    let drawn = s.ok(&["graph", &files, "--plan", "chain"]);
    assert!(drawn.contains("3 nodes · 2 edges"), "{drawn}");
    let line = |id: &str| {
        drawn
            .lines()
            .find(|l| l.contains(&format!(" {id} ")) || l.trim_end().ends_with(id))
            .unwrap_or_else(|| panic!("no line for {id}: {drawn}"))
            .to_owned()
    };
    assert!(line("build").contains("← fetch"), "{drawn}");
    assert!(line("ship").contains("← build"), "{drawn}");
    let mermaid = s.ok(&["graph", &files, "--plan", "chain", "--format", "mermaid"]);
    assert!(
        mermaid.contains("fetch --> build") && mermaid.contains("build --> ship"),
        "{mermaid}"
    );

    let out = s.run(&files, "chain-1", &[]);
    assert!(out.status.success(), "{}", show(&out));
    let at = |n: &str, edge: &str| stamp(&s.path(&format!("{n}.{edge}")));
    assert!(at("build", "start") >= at("fetch", "end"));
    assert!(at("ship", "start") >= at("build", "end"));
    assert_eq!(
        std::fs::read_to_string(s.path("rev")).unwrap().trim(),
        "abc"
    );
    let e = s.execution("chain-1");
    assert_eq!(e["status"]["phase"], "Succeeded");
    let plan = s.ok(&["get", "plan", "chain", "-o", "json"]);
    let plan: Value = serde_json::from_str(&plan).expect("json");
    assert_eq!(plan["status"]["nodeCount"], 3, "{plan:#}");
    assert_eq!(plan["status"]["phase"], "Ready", "{plan:#}");
    s.replays("chain-1");
}

#[test]
fn cleanup_runs_after_a_failure_and_an_on_failure_branch_handles_it() {
    let s = Server::start();
    let dir = s.dir.display().to_string();
    let plan = doc(
        "Plan",
        "deploy",
        json!({"description": "deploy, roll back on failure, always clean up", "graph": {
            "nodes": [
                {"id": "deploy", "kind": "Task"},
                {"id": "rollback", "kind": "Task"},
                {"id": "announce", "kind": "Task", "dependsOn": ["deploy"]},
                {"id": "cleanup", "kind": "Task", "finally": true,
                 "inputs": {"outcome": "${{ execution.outcome }}",
                            "failed": "${{ execution.failedNodes[0] }}",
                            "rollback": "${{ nodes.rollback.phase }}"}}
            ],
            "edges": [{"from": "deploy", "to": "rollback", "on": "failure"}]
        }}),
    );
    let files = s.docs(
        "deploy",
        &[
            plan,
            binding(
                "deploy-sh",
                vec![
                    sh("deploy", "deploy", "echo broken >&2; exit 3"),
                    sh("deploy", "rollback", &timed(&dir, "rollback", "true")),
                    sh("deploy", "announce", &format!("touch {dir}/announced")),
                    sh(
                        "deploy",
                        "cleanup",
                        &timed(
                            &dir,
                            "cleanup",
                            &format!("echo \"$PLANSPEC_INPUT_OUTCOME $PLANSPEC_INPUT_FAILED $PLANSPEC_INPUT_ROLLBACK\" > {dir}/cleanup"),
                        ),
                    ),
                ],
            ),
        ],
    );
    let out = s.run(&files, "deploy-1", &[]);
    assert!(!out.status.success(), "the run fails: {}", show(&out));
    let e = s.execution("deploy-1");
    assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
    assert_node(&e, "deploy", "Failed", None);
    assert_node(&e, "rollback", "Succeeded", None);
    assert_node(&e, "announce", "Skipped", Some("upstream_failed"));
    assert_node(&e, "cleanup", "Succeeded", None);
    assert!(!s.path("announced").exists());
    assert_eq!(
        std::fs::read_to_string(s.path("cleanup")).unwrap().trim(),
        "Failed deploy Succeeded"
    );
    assert!(stamp(&s.path("cleanup.start")) >= stamp(&s.path("rollback.end")));
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("1 of 4 nodes failed; 2 succeeded, 1 skipped"),
        "{message}"
    );
    s.replays("deploy-1");
}

#[test]
fn max_parallel_one_never_overlaps_and_fail_fast_stops_new_work() {
    let s = Server::start();
    let dir = s.dir.display().to_string();
    let plan = doc(
        "Plan",
        "wide",
        json!({"description": "independent branches", "graph": {"nodes": [
            {"id": "a", "kind": "Task"},
            {"id": "b", "kind": "Task"},
            {"id": "c", "kind": "Task"},
            {"id": "d", "kind": "Task"},
            {"id": "report", "kind": "Task", "finally": true}
        ]}}),
    );
    let script = |n: &str, body: &str| sh("wide", n, &timed(&dir, n, body));
    let files = s.docs(
        "wide",
        &[
            plan,
            binding(
                "wide-sh",
                vec![
                    script("a", "sleep 0.2; false"),
                    script("b", "sleep 0.3"),
                    script("c", "sleep 0.3"),
                    script("d", "sleep 0.3"),
                    script("report", "true"),
                ],
            ),
        ],
    );

    // Run what can run, one node at a time.
    let out = s.run(&files, "wide-1", &["--max-parallel", "1"]);
    assert!(!out.status.success(), "{}", show(&out));
    let e = s.execution("wide-1");
    assert_eq!(e["spec"]["maxParallel"], 1);
    assert_eq!(e["status"]["phase"], "Failed");
    for id in ["b", "c", "d", "report"] {
        assert_node(&e, id, "Succeeded", None);
    }
    let mut spans: Vec<(u128, u128)> = ["a", "b", "c", "d", "report"]
        .iter()
        .map(|n| {
            (
                stamp(&s.path(&format!("{n}.start"))),
                stamp(&s.path(&format!("{n}.end"))),
            )
        })
        .collect();
    // The canonical order: a, b, c, d, then the finally Task.
    assert!(spans.windows(2).all(|w| w[0].0 < w[1].0), "{spans:?}");
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "two nodes overlapped: {spans:?}");
    }
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("1 of 5 nodes failed; 4 succeeded"),
        "{message}"
    );
    s.replays("wide-1");

    // Fail fast: nothing starts after `a` failed, but the finally Task runs.
    for n in ["a", "b", "c", "d", "report"] {
        let _ = std::fs::remove_file(s.path(&format!("{n}.start")));
    }
    let out = s.run(&files, "wide-2", &["--max-parallel", "1", "--fail-fast"]);
    assert!(!out.status.success(), "{}", show(&out));
    let e = s.execution("wide-2");
    assert_eq!(e["spec"]["failFast"], true);
    assert_node(&e, "a", "Failed", None);
    for id in ["b", "c", "d"] {
        assert_node(&e, id, "Skipped", Some("fail_fast"));
        assert!(!s.path(&format!("{id}.start")).exists(), "{id} started");
    }
    assert_node(&e, "report", "Succeeded", None);
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("1 of 5 nodes failed; 1 succeeded, 3 skipped"),
        "{message}"
    );
    s.replays("wide-2");
}
