//! Ordered steps, edge conditions and `finally` Tasks (PlanSpec extensions):
//!
//! * exactly one of `spec.graph` and `spec.steps` (`PS0430`; neither is a missing field);
//! * a step may not declare `dependsOn` (`PS0431`): the order of the steps is the dependency;
//! * a Group may not be a step (`PS0432`): steps run one after another, so there is nothing
//!   to group;
//! * a `soft` edge may only say `on: always` (`PS0433`): a soft edge only orders;
//! * a `finally` Task depends only on `finally` Tasks, and only they depend on it
//!   (`PS0434`); in `spec.steps` the `finally` Tasks come last.

use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;
use std::collections::HashMap;

pub fn check(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get("spec") else { return };
    if spec.as_map().is_none() {
        return;
    }
    match (spec.entry("graph"), spec.entry("steps")) {
        (Some(_), Some(steps)) => diags.push(
            Diagnostic::new(
                Code::GraphAndSteps,
                "the plan has both `spec.graph` and `spec.steps`; give exactly one",
            )
            .at(steps.key_span)
            .with_path("spec.steps")
            .with_hint("write the nodes as `spec.steps` (run one after another) or as `spec.graph` (nodes and edges), not both"),
        ),
        (None, None) => diags.push(
            Diagnostic::new(
                Code::MissingField,
                "the plan has neither `spec.graph` nor `spec.steps`",
            )
            .at(spec.span)
            .with_path("spec.graph")
            .with_hint("add `graph: {nodes: [...]}`, or `steps: [...]` for nodes that run one after another"),
        ),
        _ => {}
    }
    if let Some(steps) = spec.get("steps").and_then(Node::as_seq) {
        check_steps(steps, diags);
    }
    if let Some(graph) = spec.get("graph") {
        check_graph(graph, diags);
    }
}

fn is_finally(node: &Node) -> bool {
    node.get("kind").and_then(Node::as_str) == Some("Task")
        && node.get("finally").and_then(Node::as_bool) == Some(true)
}

fn id_of(node: &Node) -> &str {
    node.get("id").and_then(Node::as_str).unwrap_or("?")
}

fn check_steps(steps: &[Node], diags: &mut Vec<Diagnostic>) {
    let mut first_finally: Option<&Node> = None;
    for (i, step) in steps.iter().enumerate() {
        let base = format!("spec.steps[{i}]");
        if let Some(kind) = step.get("kind").filter(|k| k.as_str() == Some("Group")) {
            diags.push(
                Diagnostic::new(
                    Code::GroupStep,
                    format!("step `{}` is a Group; steps run one after another, so there is nothing to group", id_of(step)),
                )
                .at(kind.span)
                .with_path(format!("{base}.kind"))
                .with_hint("list the Group's nodes as steps, or write the plan as `spec.graph`"),
            );
        }
        if let Some(entry) = step.entry("dependsOn") {
            diags.push(
                Diagnostic::new(
                    Code::StepDependsOn,
                    format!("step `{}` declares `dependsOn`; in `spec.steps` each step depends on the one before it", id_of(step)),
                )
                .at(entry.key_span)
                .with_path(format!("{base}.dependsOn"))
                .with_hint("remove `dependsOn` and order the steps, or write the plan as `spec.graph`"),
            );
        }
        match first_finally {
            Some(f) if !is_finally(step) => diags.push(
                Diagnostic::new(
                    Code::FinallyDependency,
                    format!(
                        "step `{}` comes after the `finally` Task `{}`; `finally` Tasks run after every other node, so they come last",
                        id_of(step),
                        id_of(f)
                    ),
                )
                .at(step.get("id").map_or(step.span, |n| n.span))
                .with_path(format!("{base}.id"))
                .with_related(f.span, "the `finally` Task")
                .with_hint("move the `finally` Tasks to the end of `spec.steps`"),
            ),
            None if is_finally(step) => first_finally = Some(step),
            _ => {}
        }
    }
}

fn check_graph(graph: &Node, diags: &mut Vec<Diagnostic>) {
    let nodes = graph.get("nodes").and_then(Node::as_seq).unwrap_or(&[]);
    let mut finally: HashMap<&str, bool> = HashMap::with_capacity(nodes.len());
    for node in nodes {
        if let Some(id) = node.get("id").and_then(Node::as_str) {
            finally.entry(id).or_insert_with(|| is_finally(node));
        }
    }
    let any_finally = finally.values().any(|&f| f);
    let mismatch = |from: &str, to: &str| -> Option<String> {
        let (Some(&a), Some(&b)) = (finally.get(from), finally.get(to)) else {
            return None;
        };
        match (a, b) {
            (false, true) => Some(format!("`finally` Task `{to}` depends on `{from}`, which is not a `finally` Task; a `finally` Task runs after every other node anyway")),
            (true, false) => Some(format!("node `{to}` depends on the `finally` Task `{from}`; only other `finally` Tasks may")),
            _ => None,
        }
    };
    let hint = "a `finally` Task runs once every other node is terminal and may depend only on other `finally` Tasks";
    if any_finally {
        for (i, node) in nodes.iter().enumerate() {
            let Some(deps) = node.get("dependsOn").and_then(Node::as_seq) else {
                continue;
            };
            for (k, dep) in deps.iter().enumerate() {
                let Some(from) = dep.as_str() else { continue };
                if let Some(message) = mismatch(from, id_of(node)) {
                    diags.push(
                        Diagnostic::new(Code::FinallyDependency, message)
                            .at(dep.span)
                            .with_path(format!("spec.graph.nodes[{i}].dependsOn[{k}]"))
                            .with_hint(hint),
                    );
                }
            }
        }
    }
    let edges = graph.get("edges").and_then(Node::as_seq).unwrap_or(&[]);
    for (j, edge) in edges.iter().enumerate() {
        let soft = edge.get("type").and_then(Node::as_str) == Some("soft");
        if let Some(on) = edge.get("on").filter(|_| soft) {
            if let Some(condition) = on.as_str().filter(|c| *c != "always") {
                diags.push(
                    Diagnostic::new(
                        Code::SoftEdgeCondition,
                        format!("a `soft` edge only orders, but this one runs its node on `{condition}`"),
                    )
                    .at(on.span)
                    .with_path(format!("spec.graph.edges[{j}].on"))
                    .with_hint(format!("remove `type: soft` to run `to` only on `{condition}`, or remove `on`")),
                );
            }
        }
        if !any_finally {
            continue;
        }
        let (Some(from), Some(to)) = (
            edge.get("from").and_then(Node::as_str),
            edge.get("to").and_then(Node::as_str),
        ) else {
            continue;
        };
        if let Some(message) = mismatch(from, to) {
            diags.push(
                Diagnostic::new(Code::FinallyDependency, message)
                    .at(edge.get("to").map_or(edge.span, |n| n.span))
                    .with_path(format!("spec.graph.edges[{j}].to"))
                    .with_hint(hint),
            );
        }
    }
}
