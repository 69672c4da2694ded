use super::*;
use crate::graph::{Condition, Reads, Test};
use serde_json::json;

fn plan(nodes: Value, edges: Value) -> Plan {
    serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": "p"},
        "spec": {"description": "d", "graph": {"nodes": nodes, "edges": edges}}
    }))
    .unwrap()
}

fn task(id: &str, deps: &[&str]) -> Value {
    json!({"id": id, "kind": "Task", "dependsOn": deps})
}

fn group(id: &str, children: &[&str]) -> Value {
    json!({"id": id, "kind": "Group", "children": children})
}

fn compiled(nodes: Value, edges: Value) -> ExecGraph {
    compile(&plan(nodes, edges), None).unwrap()
}

fn err(nodes: Value, edges: Value) -> CompileError {
    compile(&plan(nodes, edges), None).unwrap_err()
}

/// (hard, soft) dependency ids of a node.
fn deps(g: &ExecGraph, id: &str) -> (Vec<String>, Vec<String>) {
    let n = g.node(id).unwrap();
    let names = |v: &[usize]| v.iter().map(|&i| g.nodes()[i].id.to_string()).collect();
    (names(&n.hard_deps), names(&n.soft_deps))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn groups_are_folded_into_their_members() {
    let g = compiled(
        json!([
            task("setup", &[]),
            {"id": "build", "kind": "Group", "children": ["compile", "inner"], "dependsOn": ["setup"]},
            task("compile", &[]),
            group("inner", &["lint"]),
            task("lint", &[]),
            task("ship", &["build"]),
            group("empty", &[]),
            task("after-empty", &["empty"])
        ]),
        json!([{"from": "setup", "to": "inner", "type": "soft"}]),
    );
    // Groups are not nodes of the execution graph.
    let ids: Vec<&str> = g.nodes().iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["setup", "compile", "lint", "ship", "after-empty"]);
    // A Group's dependsOn applies to every member, at any depth.
    assert_eq!(deps(&g, "compile").0, strings(&["setup"]));
    assert_eq!(deps(&g, "lint").0, strings(&["setup"]));
    // A dependency on a Group is one on every member.
    assert_eq!(deps(&g, "ship").0, strings(&["compile", "lint"]));
    // An empty Group adds nothing.
    assert_eq!(deps(&g, "after-empty").0, Vec::<String>::new());
    assert_eq!(g.node("lint").unwrap().group.as_deref(), Some("inner"));
    // An edge into a Group reaches its members; hard (from the outer Group) beats soft.
    assert_eq!(deps(&g, "lint"), (strings(&["setup"]), vec![]));
    // c → g (soft) with c depending on g's member b (hard) is a cycle.
    let e = err(
        json!([
            task("a", &[]),
            group("g", &["b"]),
            task("b", &[]),
            task("c", &["g"])
        ]),
        json!([{"from": "c", "to": "g", "type": "soft"}]),
    );
    assert_eq!(
        e,
        CompileError::Cycle {
            path: strings(&["b", "c", "b"])
        }
    );
}

#[test]
fn hard_edges_win_over_soft_ones_and_soft_ones_are_kept() {
    let g = compiled(
        json!([task("a", &[]), task("b", &["a"]), task("c", &[])]),
        json!([
            {"from": "a", "to": "b", "type": "soft"},
            {"from": "c", "to": "b", "type": "soft"}
        ]),
    );
    assert_eq!(deps(&g, "b"), (strings(&["a"]), strings(&["c"])));
    assert_eq!(g.dependents(0), [1]);
}

#[test]
fn order_is_topological_with_declaration_order_breaking_ties() {
    let g = compiled(
        json!([
            task("d", &["b", "c"]),
            task("b", &["a"]),
            task("c", &["a"]),
            task("a", &[]),
            task("e", &[])
        ]),
        json!([]),
    );
    let order: Vec<&str> = g
        .order()
        .iter()
        .map(|&i| g.nodes()[i].id.as_str())
        .collect();
    assert_eq!(order, ["a", "b", "c", "d", "e"]);
    assert_eq!(g.upstream(0).len(), 3);
}

#[test]
fn structural_errors_are_typed() {
    assert_eq!(
        err(json!([task("a", &[]), task("a", &[])]), json!([])),
        CompileError::DuplicateNodeId { id: "a".into() }
    );
    assert_eq!(
        err(json!([task("Bad_Id", &[])]), json!([])),
        CompileError::InvalidNodeId {
            id: "Bad_Id".into()
        }
    );
    assert_eq!(
        err(json!([task("a", &["ghost"])]), json!([])),
        CompileError::UnknownDependency {
            node: "a".into(),
            dependency: "ghost".into()
        }
    );
    assert!(matches!(
        err(json!([task("a", &[])]), json!([{"from": "a", "to": "nope"}])),
        CompileError::UnknownEdgeNode { missing, .. } if missing == "nope"
    ));
    assert!(matches!(
        err(json!([group("g", &["x"])]), json!([])),
        CompileError::UnknownGroupChild { child, .. } if child == "x"
    ));
    assert!(matches!(
        err(json!([group("g1", &["a"]), group("g2", &["a"]), task("a", &[])]), json!([])),
        CompileError::SeveralGroups { node, .. } if node == "a"
    ));
    assert_eq!(
        err(
            json!([group("g1", &["g2"]), group("g2", &["g1"])]),
            json!([])
        ),
        CompileError::GroupCycle {
            path: strings(&["g1", "g2", "g1"])
        }
    );
    assert_eq!(
        err(
            json!([task("a", &["c"]), task("b", &["a"]), task("c", &["b"])]),
            json!([])
        ),
        CompileError::Cycle {
            path: strings(&["a", "b", "c", "a"])
        }
    );
    // A member depending on its own Group depends on itself.
    assert_eq!(
        err(json!([group("g", &["a"]), task("a", &["g"])]), json!([])),
        CompileError::Cycle {
            path: strings(&["a", "a"])
        }
    );
}

#[test]
fn configuration_errors_are_typed() {
    assert!(matches!(
        err(json!([{"id": "a", "kind": "Task", "timeout": "7d"}]), json!([])),
        CompileError::InvalidDuration { field, .. } if field == "timeout"
    ));
    assert!(matches!(
        err(
            json!([{"id": "a", "kind": "Task", "retries": 11}]),
            json!([])
        ),
        CompileError::InvalidRetryPolicy { .. }
    ));
    for (policy, needle) in [
        (json!({"retryOn": ["nope"]}), "not a reason code"),
        (json!({"retryOn": ["when_false"]}), "not a failure reason"),
        (json!({"backoff": {"factor": 0.5}}), "between 1 and 10"),
        (
            json!({"backoff": {"initial": "10m", "max": "1m"}}),
            "longer than `max`",
        ),
    ] {
        match err(
            json!([{"id": "a", "kind": "Task", "retryPolicy": policy}]),
            json!([]),
        ) {
            CompileError::InvalidRetryPolicy { message, .. } => {
                assert!(message.contains(needle), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    let g = compiled(
        json!([{"id": "a", "kind": "Task", "retries": 2, "timeout": "1500us",
                "retryPolicy": {"backoff": {"initial": "2s", "max": "1m", "factor": 1.5},
                                "retryOn": ["node_timeout", "provider_failed"]}}]),
        json!([]),
    );
    let n = g.node("a").unwrap();
    assert_eq!(n.timeout_ms, Some(2), "rounded up");
    let ExecKind::Task(t) = &n.kind else { panic!() };
    assert_eq!(
        (t.retry.initial_ms, t.retry.max_ms, t.retry.factor_permille),
        (2_000, 60_000, 1_500)
    );
    assert!(t.retry.retries_on(ReasonCode::NodeTimeout));
    assert!(!t.retry.retries_on(ReasonCode::AttemptLost));
}

#[test]
fn expressions_are_checked_at_compile_time() {
    let inputs = |v: Value| json!([task("up", &[]), {"id": "a", "kind": "Task", "dependsOn": ["up"], "inputs": v}, task("side", &[])]);
    for (value, needle) in [
        (json!({"x": "${{ parameters.a"}), "no closing"),
        (json!({"x": "${{ }}"}), "is empty"),
        (json!({"x": ["${{ 1 + }}"]}), "does not parse"),
        (json!({"x": "${{ secrets.token }}"}), "`secrets`"),
    ] {
        match err(inputs(value), json!([])) {
            CompileError::InvalidInputs { message, path, .. } => {
                assert!(message.contains(needle), "{message}");
                assert!(path.starts_with("/x"), "{path}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        err(inputs(json!({"x": "${{ nodes.side.outputs.v }}"})), json!([])),
        CompileError::ReadsNonUpstream { read, .. } if read == "side"
    ));
    assert!(matches!(
        err(inputs(json!({"x": "${{ nodes.ghost.outputs.v }}"})), json!([])),
        CompileError::ReadsUnknownNode { read, .. } if read == "ghost"
    ));
    assert!(matches!(
        err(
            json!([{"id": "a", "kind": "Task", "when": "nodes.a.phase == 'x'"}]),
            json!([])
        ),
        CompileError::ReadsNonUpstream { .. }
    ));
    let mut deep = json!("leaf");
    for _ in 0..70 {
        deep = json!([deep]);
    }
    assert!(matches!(
        err(inputs(json!({"x": deep})), json!([])),
        CompileError::InvalidInputs { message, .. } if message.contains("nested")
    ));

    // Reads are resolved to upstream nodes; a dynamic read means every upstream node.
    let g = compiled(
        json!([task("up", &[]),
               {"id": "a", "kind": "Task", "dependsOn": ["up"],
                "when": "nodes.up.phase == 'Succeeded'",
                "inputs": {"x": "${{ nodes['up'].outputs }}", "y": "plain"}},
               {"id": "b", "kind": "Task", "dependsOn": ["up"],
                "inputs": {"x": "${{ nodes[parameters.which] }}"}}]),
        json!([]),
    );
    let a = g.node("a").unwrap();
    match &a.when[..] {
        [Condition {
            test: Test::Cel(e), ..
        }] => assert_eq!(e.reads, Reads::Nodes(vec![0])),
        other => panic!("{other:?}"),
    }
    let ExecKind::Task(t) = &a.kind else { panic!() };
    assert!(t.inputs.has_expressions);
    assert_eq!(t.inputs.reads, Reads::Nodes(vec![0]));
    let ExecKind::Task(t) = &g.node("b").unwrap().kind else {
        panic!()
    };
    assert_eq!(t.inputs.reads, Reads::Upstream);
}

#[test]
fn opaque_when_labels_are_kept_with_a_warning() {
    let g = compiled(json!([group("g", &["a"]), task("a", &[])]), json!([]));
    assert!(g.warnings().is_empty());
    let mut p = plan(
        json!([{"id": "g", "kind": "Group", "children": ["a"], "when": "parameters.x"},
               {"id": "a", "kind": "Gate", "gateRef": {"name": "r"}, "when": "manualApproval"}]),
        json!([]),
    );
    let g = compile(&p, None).unwrap();
    let a = g.node("a").unwrap();
    assert_eq!(a.when.len(), 2);
    assert_eq!(
        a.when[0].from.as_str(),
        "g",
        "the Group's condition comes first"
    );
    assert!(matches!(&a.when[0].test, Test::Cel(_)));
    assert_eq!(a.when[1].test, Test::Opaque("manualApproval".into()));
    assert_eq!(g.warnings().len(), 1);
    assert!(
        g.warnings()[0].contains("manualApproval"),
        "{}",
        g.warnings()[0]
    );
    // The label is part of the digest.
    if let Node::Gate(gate) = &mut p.spec.graph.nodes[1] {
        gate.when = Some("otherLabel".into());
    }
    assert_ne!(compile(&p, None).unwrap().digest(), g.digest());
}

#[test]
fn the_digest_is_stable_and_covers_what_runs() {
    let nodes =
        json!([task("a", &[]), {"id": "b", "kind": "Task", "dependsOn": ["a"], "timeout": "1m"}]);
    let d1 = compiled(nodes.clone(), json!([])).digest().to_string();
    assert_eq!(d1, compiled(nodes.clone(), json!([])).digest());
    assert!(d1.starts_with("sha256:") && d1.len() == 71, "{d1}");
    // Presentational changes do not matter; what runs does.
    let mut named = plan(nodes.clone(), json!([]));
    if let Node::Task(t) = &mut named.spec.graph.nodes[0] {
        t.name = Some("A".into());
        t.description = Some("does a".into());
    }
    assert_eq!(compile(&named, None).unwrap().digest(), d1);
    let other =
        json!([task("a", &[]), {"id": "b", "kind": "Task", "dependsOn": ["a"], "timeout": "2m"}]);
    assert_ne!(compiled(other, json!([])).digest(), d1);
    let limits = Limits {
        max_output_bytes: 1,
        ..Limits::default()
    };
    assert_ne!(
        compile_with(&plan(nodes, json!([])), None, limits)
            .unwrap()
            .digest(),
        d1
    );
}

#[test]
fn size_limits_are_enforced() {
    let many: Vec<Value> = (0..=MAX_NODES)
        .map(|i| task(&format!("n{i}"), &[]))
        .collect();
    assert!(matches!(
        err(Value::Array(many), json!([])),
        CompileError::TooManyNodes { .. }
    ));
    // Two Groups of 1,001 and 1,000 members joined by one edge expand past the limit.
    let mut nodes = vec![
        json!({"id": "left", "kind": "Group", "children": (0..1001).map(|i| format!("l{i}")).collect::<Vec<_>>()}),
        json!({"id": "right", "kind": "Group", "children": (0..1000).map(|i| format!("r{i}")).collect::<Vec<_>>()}),
    ];
    nodes.extend((0..1001).map(|i| task(&format!("l{i}"), &[])));
    nodes.extend((0..1000).map(|i| task(&format!("r{i}"), &[])));
    assert!(matches!(
        err(
            Value::Array(nodes),
            json!([{"from": "left", "to": "right"}])
        ),
        CompileError::TooManyEdges { expanded: true, .. }
    ));
}

/// Each `finally` Task depends on every regular node: those implied edges count against the
/// expanded-edge limit (200 `finally` Tasks × 9,800 regular nodes is 1,960,000), and a plan
/// within it still compiles with the edges.
#[test]
fn finally_edges_count_against_the_expanded_edge_limit() {
    let finally = |i: usize| json!({"id": format!("f{i}"), "kind": "Task", "finally": true});
    let mut nodes: Vec<Value> = (0..9_800).map(|i| task(&format!("t{i}"), &[])).collect();
    nodes.extend((0..200).map(finally));
    assert!(matches!(
        err(Value::Array(nodes), json!([])),
        CompileError::TooManyEdges {
            expanded: true,
            count: 1_960_000,
            ..
        }
    ));
    let mut nodes: Vec<Value> = (0..1_000).map(|i| task(&format!("t{i}"), &[])).collect();
    nodes.extend((0..2).map(finally));
    let g = compile(&plan(Value::Array(nodes), json!([])), None).unwrap();
    assert_eq!(deps(&g, "f1").1.len(), 1_000);
}
