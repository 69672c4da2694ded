//! Matrix fan-out end to end (issue 6, point 1): a real `planspec server` on a temporary
//! SQLite file (loopback), driven by the real binary with `exec` Tasks.
//!
//! * `a_matrix_fans_out_and_fans_in`: a Task with a literal axis and a parameter axis runs
//!   once per instance (each `exec` sees its own `${{ matrix.<axis> }}`), under ids
//!   `<node>-<12 hex>`; a downstream Task reads the instances' outputs as one list in
//!   instance order; `planspec get nodes` lists the instances with their coordinates,
//!   `get execution` counts them, `planspec replay` agrees;
//! * `an_oversized_matrix_fails_before_anything_runs`: a matrix over the instance limit fails
//!   the Execution with `plan_expansion_limit` naming the node and the count, and no Task
//!   ran.

#![cfg(unix)]

mod common;

use common::{doc, show, DevServer as Server};

use serde_json::{json, Value};

/// A Binding with one `sh -c` rule per (node, script).
fn binding(plan: &str, rules: &[(&str, String)]) -> Value {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(node, script)| {
            json!({"selector": {"planRef": {"name": plan}, "nodeId": node},
                   "target": {"provider": "exec://sh",
                              "config": {"command": ["sh", "-c", script]}}})
        })
        .collect();
    doc("Binding", &format!("{plan}-sh"), json!({ "rules": rules }))
}

#[test]
fn a_matrix_fans_out_and_fans_in() {
    let s = Server::start();
    let dir = s.dir.display().to_string();
    let plan = doc(
        "Plan",
        "fan",
        json!({"description": "build on every platform, then collect", "graph": {"nodes": [
            {"id": "build", "kind": "Task", "outputs": ["artifact"],
             "matrix": {"axes": [{"name": "os", "values": ["linux", "mac"]},
                                 {"name": "arch", "parameter": "arches"}],
                        "exclude": [{"os": "mac", "arch": "arm"}],
                        "maxParallel": 2},
             "inputs": {"target": "${{ matrix.os }}-${{ matrix.arch }}"}},
            {"id": "collect", "kind": "Task", "dependsOn": ["build"],
             "inputs": {"all": "${{ nodes.build.outputs.artifact }}",
                        "count": "${{ size(nodes.build.instances) }}"}}
        ]}}),
    );
    let files = s.docs(
        "fan",
        &[
            plan,
            binding(
                "fan",
                &[
                    (
                        "build",
                        format!(
                            "touch {dir}/ran-$PLANSPEC_INPUT_TARGET; echo \"{{\\\"artifact\\\": \\\"bin-$PLANSPEC_INPUT_TARGET\\\"}}\""
                        ),
                    ),
                    (
                        "collect",
                        format!("cat > {dir}/collected"),
                    ),
                ],
            ),
        ],
    );
    let validated = s.cli(&["validate", &files]);
    assert!(validated.status.success(), "{}", show(&validated));

    let out = s.run(&files, "fan-1", &["-p", r#"arches=["x86","arm"]"#]);
    assert!(out.status.success(), "{}", show(&out));
    for target in ["linux-x86", "linux-arm", "mac-x86"] {
        assert!(
            s.dir.join(format!("ran-{target}")).exists(),
            "{target} did not run"
        );
    }
    assert!(
        !s.dir.join("ran-mac-arm").exists(),
        "the excluded instance ran"
    );
    // The fan-in: one list in instance order (canonical order, the exclusion removed).
    let stdin = std::fs::read_to_string(s.dir.join("collected")).expect("collect ran");
    let seen: Value = serde_json::from_str(&stdin).unwrap_or_else(|e| panic!("{e}: {stdin}"));
    let inputs = seen.get("inputs").unwrap_or(&seen);
    assert_eq!(
        inputs["all"],
        json!(["bin-linux-x86", "bin-linux-arm", "bin-mac-x86"]),
        "{seen:#}"
    );
    assert_eq!(inputs["count"], json!(3), "{seen:#}");

    let e = s.json(&["get", "execution", "fan-1", "-o", "json"]);
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    assert_eq!(e["status"]["extensions"]["progress"]["total"], 5, "{e:#}");
    assert_eq!(
        e["status"]["extensions"]["progress"]["succeeded"], 5,
        "{e:#}"
    );

    let nodes = s.json(&["get", "nodes", "execution/fan-1", "-o", "json"]);
    let items = nodes["items"].as_array().expect("items");
    let instances: Vec<&Value> = items.iter().filter(|n| n["matrix"] == "build").collect();
    assert_eq!(instances.len(), 3, "{nodes:#}");
    for i in &instances {
        let id = i["node"].as_str().unwrap();
        let hex = id.strip_prefix("build-").unwrap_or_else(|| panic!("{id}"));
        assert_eq!(hex.len(), 12, "{id}");
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_eq!(i["phase"], "Succeeded", "{i:#}");
        assert_eq!(i["provider"], "exec://sh", "{i:#}");
        assert!(i["coordinates"]["os"].is_string(), "{i:#}");
    }
    let linux_arm = instances
        .iter()
        .find(|i| i["coordinates"] == json!({"os": "linux", "arch": "arm"}))
        .expect("the linux-arm instance");
    assert_eq!(linux_arm["ordinal"], 1);
    assert_eq!(linux_arm["outputs"]["artifact"], "bin-linux-arm");
    assert!(items
        .iter()
        .any(|n| n["node"] == "build" && n["phase"] == "Succeeded"));

    s.ok(&["replay", "execution/fan-1"]);
}

#[test]
fn an_oversized_matrix_fails_before_anything_runs() {
    let s = Server::start();
    let dir = s.dir.display().to_string();
    let values: Vec<Value> = (0..101).map(|i| json!(i)).collect();
    let plan = doc(
        "Plan",
        "wide",
        json!({"description": "too many combinations", "graph": {"nodes": [
            {"id": "first", "kind": "Task"},
            {"id": "wide", "kind": "Task",
             "matrix": {"axes": [{"name": "a", "values": values}, {"name": "b", "values": values}]}}
        ]}}),
    );
    let files = s.docs(
        "wide",
        &[
            plan,
            binding(
                "wide",
                &[
                    ("first", format!("touch {dir}/first-ran")),
                    ("wide", format!("touch {dir}/wide-ran")),
                ],
            ),
        ],
    );
    let out = s.run(&files, "wide-1", &[]);
    assert!(!out.status.success(), "{}", show(&out));
    let e = s.json(&["get", "execution", "wide-1", "-o", "json"]);
    assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
    assert_eq!(e["status"]["reason"], "plan_expansion_limit", "{e:#}");
    let message = e["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`wide`") && message.contains("10201"),
        "{message}"
    );
    assert!(!s.dir.join("first-ran").exists(), "a node ran");
    assert!(!s.dir.join("wide-ran").exists(), "an instance ran");
    s.ok(&["replay", "execution/wide-1"]);
}
