//! `Plan` nodes (sub-plans, a PlanSpec extension), checked inside one Plan:
//!
//! * `planRef` names exactly one of `name` and `series`; `version` goes with `series` only
//!   (`PS0440`);
//! * `version` is a semver range such as `^2`, `~1.4` or `>=1.2, <2` (`PS0441`).
//!
//! That the named Plan exists, and that Plans validated together do not run each other, are
//! cross-resource checks (`PS0501`, `PS0510`).

use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;

pub fn check(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get("spec") else { return };
    if let Some(nodes) = spec.at(&["graph", "nodes"]).and_then(Node::as_seq) {
        for (i, node) in nodes.iter().enumerate() {
            check_node(node, &format!("spec.graph.nodes[{i}]"), diags);
        }
    }
    if let Some(steps) = spec.get("steps").and_then(Node::as_seq) {
        for (i, node) in steps.iter().enumerate() {
            check_node(node, &format!("spec.steps[{i}]"), diags);
        }
    }
}

fn check_node(node: &Node, base: &str, diags: &mut Vec<Diagnostic>) {
    if node.get("kind").and_then(Node::as_str) != Some("Plan") {
        return;
    }
    let Some(plan_ref) = node.get("planRef") else {
        return; // a missing required field: the schema reports it
    };
    let id = node.get("id").and_then(Node::as_str).unwrap_or("?");
    let field = format!("{base}.planRef");
    let name = plan_ref.get("name");
    let series = plan_ref.get("series");
    let version = plan_ref.get("version");
    let problem = match (name, series) {
        (Some(_), Some(_)) => Some("names both `name` and `series`"),
        (None, None) => Some("names neither `name` nor `series`"),
        (Some(_), None) if version.is_some() => Some("gives a `version` range with `name`"),
        _ => None,
    };
    if let Some(problem) = problem {
        diags.push(
            Diagnostic::new(
                Code::PlanRefTarget,
                format!("the `planRef` of Plan node `{id}` {problem}"),
            )
            .at(plan_ref.span)
            .with_path(field.clone())
            .with_hint("write `planRef: {name: PLAN}` for one Plan, or `planRef: {series: SERIES, version: \"^1\"}` for the highest matching version of a series"),
        );
    }
    if let Some(version) = version {
        if let Some(text) = version.as_str() {
            if let Err(e) = semver::VersionReq::parse(text) {
                diags.push(
                    Diagnostic::new(
                        Code::PlanRefVersion,
                        format!(
                            "the `planRef.version` of Plan node `{id}` is `{text}`, which is not a semver range: {e}"
                        ),
                    )
                    .at(version.span)
                    .with_path(format!("{field}.version"))
                    .with_hint("write a range such as `^2`, `~1.4`, `>=1.2, <2` or `1.2.3` (exactly that version)"),
                );
            }
        }
    }
}
