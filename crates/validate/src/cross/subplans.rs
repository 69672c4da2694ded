//! Sub-plans across the resources validated together: Plans whose `Plan` nodes run each
//! other (A runs B runs A, or A runs itself) are reported as a cycle (`PS0510`), at the
//! `planRef` that closes it, with the path. A `planRef.name` resolves to the Plan of that
//! name; a `series` to the Plan of the series with the highest semver `spec.version` that
//! matches the range — as the runtime picks it. What does not resolve among the validated
//! resources may exist on the server: the runtime checks the whole tree again when a run
//! starts.

use super::{namespace_of, plan_nodes, Index};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::tree::Node;
use planspec_model::Kind;
use std::collections::HashMap;

/// One `Plan` node: the Plan it runs (a position among the validated Plans), where.
struct Runs {
    target: usize,
    span: Span,
    field: String,
    node: String,
}

pub(super) fn check(index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    let plans: Vec<usize> = (0..index.resources.len())
        .filter(|&i| index.resources[i].kind == Kind::Plan && index.resources[i].name.is_some())
        .collect();
    if plans.is_empty() {
        return;
    }
    let position: HashMap<usize, usize> = plans.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let edges: Vec<Vec<Runs>> = plans.iter().map(|&i| runs(index, i, &position)).collect();
    let name = |p: usize| index.resources[plans[p]].name.clone().unwrap_or_default();
    let mut state = vec![0u8; plans.len()]; // 0 new, 1 on the stack, 2 done
    let mut on_stack_at = vec![0usize; plans.len()];
    for start in 0..plans.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        on_stack_at[start] = 0;
        while let Some(&mut (u, ref mut next)) = stack.last_mut() {
            let Some(edge) = edges[u].get(*next) else {
                state[u] = 2;
                stack.pop();
                continue;
            };
            *next += 1;
            let v = edge.target;
            if state[v] == 0 {
                state[v] = 1;
                on_stack_at[v] = stack.len();
                stack.push((v, 0));
            } else if state[v] == 1 {
                let mut path: Vec<String> = stack[on_stack_at[v]..]
                    .iter()
                    .map(|&(n, _)| name(n))
                    .collect();
                path.push(name(v));
                diags.push(
                    Diagnostic::new(
                        Code::SubplanCycle,
                        format!("sub-plans run each other: {}", path.join(" → ")),
                    )
                    .at(edge.span)
                    .with_path(edge.field.clone())
                    .with_hint(format!(
                        "node `{}` of Plan `{}` running Plan `{}` closes the cycle; a run would fail at start with `subplan_cycle`",
                        edge.node,
                        name(u),
                        name(v)
                    ))
                    .for_resource(plans[u], format!("Plan/{}", name(u))),
                );
            }
        }
    }
}

/// The validated Plans that Plan `i`'s `Plan` nodes run.
fn runs(index: &Index<'_>, i: usize, position: &HashMap<usize, usize>) -> Vec<Runs> {
    let plan = &index.resources[i];
    let Some((nodes, nodes_path)) = plan_nodes(&plan.node) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, node) in nodes.iter().enumerate() {
        if node.get("kind").and_then(Node::as_str) != Some("Plan") {
            continue;
        }
        let Some(plan_ref) = node.get("planRef") else {
            continue;
        };
        let ns = plan_ref
            .get("namespace")
            .and_then(Node::as_str)
            .unwrap_or_else(|| namespace_of(plan));
        let target = match (
            plan_ref.get("name").and_then(Node::as_str),
            plan_ref.get("series").and_then(Node::as_str),
        ) {
            (Some(name), None) => index.by_key.get(&(Kind::Plan, ns, name)).copied(),
            (None, Some(series)) => {
                let range = match plan_ref.get("version").and_then(Node::as_str) {
                    Some(text) => match semver::VersionReq::parse(text) {
                        Ok(r) => r,
                        Err(_) => continue, // PS0441
                    },
                    None => semver::VersionReq::STAR,
                };
                highest(index, ns, series, &range)
            }
            _ => None, // PS0440
        };
        let Some(&target) = target.as_ref().and_then(|t| position.get(t)) else {
            continue;
        };
        out.push(Runs {
            target,
            span: plan_ref.span,
            field: format!("{nodes_path}[{k}].planRef"),
            node: node
                .get("id")
                .and_then(Node::as_str)
                .unwrap_or("?")
                .to_string(),
        });
    }
    out
}

/// The validated Plan of `series` in `ns` with the highest semver version in `range` (ties:
/// the first by name).
fn highest(index: &Index<'_>, ns: &str, series: &str, range: &semver::VersionReq) -> Option<usize> {
    let mut best: Option<(semver::Version, &str, usize)> = None;
    for (i, r) in index.resources.iter().enumerate() {
        if r.kind != Kind::Plan || namespace_of(r) != ns {
            continue;
        }
        if r.node.at(&["spec", "series"]).and_then(Node::as_str) != Some(series) {
            continue;
        }
        let Some(version) = r
            .node
            .at(&["spec", "version"])
            .and_then(Node::as_str)
            .and_then(|v| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok())
        else {
            continue;
        };
        if !range.matches(&version) {
            continue;
        }
        let name = r.name.as_deref().unwrap_or_default();
        let better = match &best {
            None => true,
            Some((v, n, _)) => version > *v || (version == *v && name < *n),
        };
        if better {
            best = Some((version, name, i));
        }
    }
    best.map(|(_, _, i)| i)
}
