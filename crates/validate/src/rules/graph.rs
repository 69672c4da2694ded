//! Plan graph rules: node ids, edges, `dependsOn`, groups, cycles (upstream G1–G7),
//! and the per-node checks that need the whole node list.

use super::when;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::suggest;
use crate::tree::Node;
use std::collections::HashMap;

/// Most cycles reported for one plan; past that the first ones say enough.
const MAX_CYCLES: usize = 20;

/// One dependency `from → to`, with where it was declared.
struct Dep {
    to: usize,
    span: Span,
    origin: Origin,
}

/// Where a dependency was declared, for the field path of a finding.
#[derive(Clone, Copy)]
enum Origin {
    /// `spec.graph.edges[j]`
    Edge(usize),
    /// `spec.graph.nodes[i].dependsOn[k]`
    DependsOn(usize, usize),
}

impl Origin {
    fn path(self, nodes_path: &str) -> String {
        match self {
            Origin::Edge(j) => format!("spec.graph.edges[{j}].to"),
            Origin::DependsOn(i, k) => format!("{nodes_path}[{i}].dependsOn[{k}]"),
        }
    }
}

/// Longest cycle spelled out in full; longer ones show both ends.
const MAX_CYCLE_SHOWN: usize = 12;

/// `a → b → c → a`, eliding the middle of long cycles.
fn cycle_text(path: &[String]) -> String {
    if path.len() <= MAX_CYCLE_SHOWN {
        return path.join(" → ");
    }
    let half = MAX_CYCLE_SHOWN / 2;
    format!(
        "{} → … ({} more nodes) … → {}",
        path[..half].join(" → "),
        path.len() - 2 * half,
        path[path.len() - half..].join(" → ")
    )
}

pub fn check(doc: &Node, diags: &mut Vec<Diagnostic>) {
    if let Some(graph) = doc.at(&["spec", "graph"]) {
        let nodes = graph.get("nodes").and_then(Node::as_seq).unwrap_or(&[]);
        check_nodes(nodes, Some(graph), "spec.graph.nodes", diags);
    }
    // `spec.steps` (a PlanSpec extension) holds nodes too; their order is their
    // dependency, checked with the other step rules in `flow.rs`.
    if let Some(steps) = doc.at(&["spec", "steps"]).and_then(Node::as_seq) {
        check_nodes(steps, None, "spec.steps", diags);
    }
}

/// The rules over one list of nodes (`nodes_path` names it in findings) and, for
/// `spec.graph`, its explicit edges.
fn check_nodes(
    nodes: &[Node],
    graph: Option<&Node>,
    nodes_path: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(nodes.len());
    let mut id_spans: Vec<Option<Span>> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let id = node.get("id");
        id_spans.push(id.map(|n| n.span));
        let Some(text) = id.and_then(Node::as_str) else {
            continue;
        };
        if let Some(&first) = index.get(text) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateNodeId,
                    format!("node id `{text}` is used twice"),
                )
                .at(id.map(|n| n.span).unwrap_or(node.span))
                .with_path(format!("{nodes_path}[{i}].id"))
                .with_related(
                    id_spans[first].unwrap_or(nodes[first].span),
                    "first used here",
                )
                .with_hint("node ids must be unique within a plan"),
            );
        } else {
            index.insert(text, i);
        }
    }
    let ids = nodes
        .iter()
        .filter_map(|n| n.get("id").and_then(Node::as_str))
        .collect();
    let resolver = Resolver {
        index: &index,
        ids,
        suggestions: std::cell::Cell::new(MAX_SUGGESTIONS),
    };
    let mut adjacency: Vec<Vec<Dep>> = (0..nodes.len()).map(|_| Vec::new()).collect();
    let explicit = match graph {
        Some(graph) => edges(graph, &resolver, &mut adjacency, diags),
        None => HashMap::new(),
    };
    for (i, node) in nodes.iter().enumerate() {
        depends_on(
            node,
            i,
            nodes_path,
            &resolver,
            &explicit,
            &mut adjacency,
            diags,
        );
        node_fields(node, &format!("{nodes_path}[{i}]"), diags);
    }
    groups(nodes, nodes_path, &resolver, diags);
    cycles(nodes, nodes_path, &adjacency, diags);
}

struct Resolver<'a> {
    index: &'a HashMap<&'a str, usize>,
    /// Node ids in declaration order, so suggestions are deterministic.
    ids: Vec<&'a str>,
    /// Suggestions left: each compares against every node id, so a plan full of typos
    /// must not turn validation quadratic.
    suggestions: std::cell::Cell<usize>,
}

/// Most "did you mean" suggestions computed for one plan.
const MAX_SUGGESTIONS: usize = 50;

impl Resolver<'_> {
    fn get(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    fn hint(&self, id: &str) -> String {
        let left = self.suggestions.get();
        let suggestion = if left > 0 {
            self.suggestions.set(left - 1);
            suggest::did_you_mean(id, self.ids.iter().copied())
        } else {
            None
        };
        suggestion.unwrap_or_else(|| "it must name the `id` of a node in this plan".to_string())
    }
}

/// Explicit edges; returns the declared `(from, to)` pairs, each with whether all its edges
/// are soft.
fn edges(
    graph: &Node,
    resolver: &Resolver<'_>,
    adjacency: &mut [Vec<Dep>],
    diags: &mut Vec<Diagnostic>,
) -> HashMap<(usize, usize), bool> {
    let mut declared: HashMap<(usize, usize, &str), Span> = HashMap::new();
    let mut pairs = HashMap::new();
    let Some(list) = graph.get("edges").and_then(Node::as_seq) else {
        return pairs;
    };
    for (j, edge) in list.iter().enumerate() {
        let path = format!("spec.graph.edges[{j}]");
        let mut ends = [None, None];
        for (slot, key) in ["from", "to"].into_iter().enumerate() {
            let Some(end) = edge.get(key) else { continue };
            let Some(id) = end.as_str() else { continue };
            match resolver.get(id) {
                Some(ix) => ends[slot] = Some(ix),
                None => diags.push(
                    Diagnostic::new(
                        Code::UnknownEdgeNode,
                        format!("edge `{key}` names node `{id}`, which does not exist"),
                    )
                    .at(end.span)
                    .with_path(format!("{path}.{key}"))
                    .with_hint(resolver.hint(id)),
                ),
            }
        }
        let [Some(from), Some(to)] = ends else {
            continue;
        };
        let to_span = edge.get("to").map(|n| n.span).unwrap_or(edge.span);
        if from == to {
            let id = edge.get("from").and_then(Node::as_str).unwrap_or_default();
            diags.push(
                Diagnostic::new(
                    Code::SelfLoop,
                    format!("edge `{id} → {id}` makes node `{id}` depend on itself"),
                )
                .at(edge.span)
                .with_path(path),
            );
            continue;
        }
        let edge_type = edge.get("type").and_then(Node::as_str).unwrap_or("hard");
        if let Some(&first) = declared.get(&(from, to, edge_type)) {
            let (a, b) = (
                edge.get("from").and_then(Node::as_str).unwrap_or_default(),
                edge.get("to").and_then(Node::as_str).unwrap_or_default(),
            );
            diags.push(
                Diagnostic::new(
                    Code::DuplicateEdge,
                    format!("edge `{a} → {b}` is declared twice"),
                )
                .at(edge.span)
                .with_path(path)
                .with_related(first, "first declared here")
                .with_hint("remove the duplicate"),
            );
            continue;
        }
        declared.insert((from, to, edge_type), edge.span);
        let soft = edge_type == "soft";
        pairs
            .entry((from, to))
            .and_modify(|all_soft| *all_soft &= soft)
            .or_insert(soft);
        adjacency[from].push(Dep {
            to,
            span: to_span,
            origin: Origin::Edge(j),
        });
    }
    pairs
}

fn depends_on(
    node: &Node,
    i: usize,
    nodes_path: &str,
    resolver: &Resolver<'_>,
    explicit: &HashMap<(usize, usize), bool>,
    adjacency: &mut [Vec<Dep>],
    diags: &mut Vec<Diagnostic>,
) {
    let Some(deps) = node.get("dependsOn").and_then(Node::as_seq) else {
        return;
    };
    let own = node.get("id").and_then(Node::as_str).unwrap_or_default();
    let mut seen: HashMap<usize, Span> = HashMap::new();
    for (k, dep) in deps.iter().enumerate() {
        let Some(id) = dep.as_str() else { continue };
        let path = format!("{nodes_path}[{i}].dependsOn[{k}]");
        if id == own {
            diags.push(
                Diagnostic::new(
                    Code::SelfLoop,
                    format!("node `{own}` lists itself in `dependsOn`"),
                )
                .at(dep.span)
                .with_path(path),
            );
            continue;
        }
        let Some(from) = resolver.get(id) else {
            diags.push(
                Diagnostic::new(
                    Code::UnknownDependsOn,
                    format!("`dependsOn` names node `{id}`, which does not exist"),
                )
                .at(dep.span)
                .with_path(path)
                .with_hint(resolver.hint(id)),
            );
            continue;
        };
        if let Some(&first) = seen.get(&from) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateEdge,
                    format!("`dependsOn` lists `{id}` twice"),
                )
                .at(dep.span)
                .with_path(path)
                .with_related(first, "first listed here")
                .with_hint("remove the duplicate"),
            );
            continue;
        }
        seen.insert(from, dep.span);
        if let Some(&soft) = explicit.get(&(from, i)) {
            let diag = if soft {
                Diagnostic::new(
                    Code::RedundantDependsOn,
                    format!(
                        "`dependsOn: {id}` repeats the soft edge `{id} → {own}`; the explicit edge wins, so `{own}` runs after `{id}` but does not wait for it to succeed"
                    ),
                )
                .with_hint(format!("if `{own}` needs `{id}` to succeed, make the edge hard; otherwise remove the `dependsOn` entry"))
            } else {
                Diagnostic::new(
                    Code::RedundantDependsOn,
                    format!("`dependsOn: {id}` repeats the explicit edge `{id} → {own}`"),
                )
                .with_hint("keep one of the two")
            };
            diags.push(diag.at(dep.span).with_path(path));
            continue;
        }
        adjacency[from].push(Dep {
            to: i,
            span: dep.span,
            origin: Origin::DependsOn(i, k),
        });
    }
}

/// Criteria names, reserved input keys and `when`, per node. (Unique outputs are a schema rule.)
fn node_fields(node: &Node, base: &str, diags: &mut Vec<Diagnostic>) {
    if let Some(criteria) = node.get("acceptanceCriteria").and_then(Node::as_seq) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (k, c) in criteria.iter().enumerate() {
            let Some(name_node) = c.get("name") else {
                continue;
            };
            let Some(name) = name_node.as_str() else {
                continue;
            };
            if let Some(&first) = seen.get(name) {
                diags.push(
                    Diagnostic::new(
                        Code::DuplicateCriterion,
                        format!("acceptance criterion `{name}` is declared twice on this node"),
                    )
                    .at(name_node.span)
                    .with_path(format!("{base}.acceptanceCriteria[{k}].name"))
                    .with_related(first, "first declared here")
                    .with_hint("criterion names identify results in the trace; make them unique"),
                );
            } else {
                seen.insert(name, name_node.span);
            }
        }
    }
    if let Some(inputs) = node.get("inputs").and_then(Node::as_map) {
        for entry in inputs.iter().filter(|e| e.key.starts_with('_')) {
            diags.push(
                Diagnostic::new(
                    Code::ReservedInputKey,
                    format!(
                        "input `{}` starts with `_`, which is reserved for PlanSpec",
                        entry.key
                    ),
                )
                .at(entry.key_span)
                .with_path(format!("{base}.inputs.{}", entry.key))
                .with_hint(format!(
                    "rename it, e.g. `{}`",
                    entry.key.trim_start_matches('_')
                )),
            );
        }
    }
    if let Some(when) = node.get("when") {
        // A Task with a matrix reads its instance's coordinates as `matrix`.
        let extra: &[&str] = if node.get("matrix").is_some() {
            &["matrix"]
        } else {
            &[]
        };
        when::check_expression(when, &format!("{base}.when"), extra, diags);
    }
}

/// Group `children` must name nodes; a node belongs to at most one Group.
fn groups(nodes: &[Node], nodes_path: &str, resolver: &Resolver<'_>, diags: &mut Vec<Diagnostic>) {
    let mut owner: HashMap<usize, (usize, Span)> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if node.get("kind").and_then(Node::as_str) != Some("Group") {
            continue;
        }
        let own = node.get("id").and_then(Node::as_str).unwrap_or_default();
        let Some(children) = node.get("children").and_then(Node::as_seq) else {
            continue;
        };
        for (k, child) in children.iter().enumerate() {
            let Some(id) = child.as_str() else { continue };
            let path = format!("{nodes_path}[{i}].children[{k}]");
            let Some(ix) = resolver.get(id) else {
                diags.push(
                    Diagnostic::new(
                        Code::UnknownGroupChild,
                        format!("Group `{own}` lists child `{id}`, which does not exist"),
                    )
                    .at(child.span)
                    .with_path(path)
                    .with_hint(resolver.hint(id)),
                );
                continue;
            };
            if ix == i {
                diags.push(
                    Diagnostic::new(
                        Code::GroupNested,
                        format!("Group `{own}` lists itself as a child"),
                    )
                    .at(child.span)
                    .with_path(path),
                );
                continue;
            }
            match owner.get(&ix) {
                Some(&(other, first)) if other != i => {
                    let other_id = nodes[other]
                        .get("id")
                        .and_then(Node::as_str)
                        .unwrap_or_default();
                    diags.push(
                        Diagnostic::new(
                            Code::GroupNested,
                            format!("node `{id}` is a child of both `{other_id}` and `{own}`"),
                        )
                        .at(child.span)
                        .with_path(path)
                        .with_related(first, "first listed here")
                        .with_hint("a node belongs to at most one Group; nest Groups instead"),
                    );
                }
                _ => {
                    owner.insert(ix, (i, child.span));
                }
            }
        }
    }
    group_cycles(nodes, nodes_path, &owner, diags);
}

/// Groups that contain each other (`a` holds `b`, `b` holds `a`). Every node has at most
/// one owning Group, so following owners from each Group finds every cycle in linear time.
fn group_cycles(
    nodes: &[Node],
    nodes_path: &str,
    owner: &HashMap<usize, (usize, Span)>,
    diags: &mut Vec<Diagnostic>,
) {
    let name = |i: usize| {
        nodes[i]
            .get("id")
            .and_then(Node::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let mut done = vec![false; nodes.len()];
    for start in 0..nodes.len() {
        let mut chain = Vec::new();
        let mut at = start;
        while !done[at] {
            done[at] = true;
            chain.push(at);
            match owner.get(&at) {
                Some(&(parent, _)) => at = parent,
                None => break,
            }
        }
        // `at` closes a cycle if it was reached again within this chain.
        let Some(first) = chain
            .iter()
            .position(|&n| n == at)
            .filter(|_| owner.contains_key(&at))
        else {
            continue;
        };
        if chain
            .last()
            .and_then(|&last| owner.get(&last))
            .map(|&(p, _)| p)
            != Some(at)
        {
            continue;
        }
        let cycle = &chain[first..];
        let mut names: Vec<String> = cycle.iter().rev().map(|&n| name(n)).collect();
        names.push(name(*cycle.last().unwrap_or(&at)));
        let &(_, span) = owner
            .get(cycle.last().unwrap_or(&at))
            .unwrap_or(&(at, nodes[at].span));
        diags.push(
            Diagnostic::new(
                Code::GroupNested,
                format!("Groups contain each other: {}", cycle_text(&names)),
            )
            .at(span)
            .with_path(nodes_path)
            .with_hint("a Group cannot contain itself, directly or through other Groups"),
        );
    }
}

/// Reports every cycle found by a depth-first search, at the edge that closes it.
/// Iterative, so a 10,000-node chain cannot overflow the stack.
fn cycles(nodes: &[Node], nodes_path: &str, adjacency: &[Vec<Dep>], diags: &mut Vec<Diagnostic>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Color {
        White,
        Grey,
        Black,
    }
    let name = |i: usize| {
        nodes[i]
            .get("id")
            .and_then(Node::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let mut color = vec![Color::White; nodes.len()];
    let mut position = vec![usize::MAX; nodes.len()];
    let mut found = 0;
    for start in 0..nodes.len() {
        if color[start] != Color::White {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        color[start] = Color::Grey;
        position[start] = 0;
        while let Some(&mut (u, ref mut next)) = stack.last_mut() {
            if let Some(dep) = adjacency[u].get(*next) {
                *next += 1;
                let v = dep.to;
                match color[v] {
                    Color::White => {
                        color[v] = Color::Grey;
                        position[v] = stack.len();
                        stack.push((v, 0));
                    }
                    Color::Grey if found < MAX_CYCLES => {
                        found += 1;
                        let mut path: Vec<String> =
                            stack[position[v]..].iter().map(|&(n, _)| name(n)).collect();
                        path.push(name(v));
                        diags.push(
                            Diagnostic::new(Code::Cycle, format!("dependency cycle: {}", cycle_text(&path)))
                                .at(dep.span)
                                .with_path(dep.origin.path(nodes_path))
                                .with_hint(format!(
                                    "this dependency of `{}` on `{}` closes the cycle; plans must be acyclic (soft edges included)",
                                    name(v),
                                    name(u)
                                )),
                        );
                    }
                    _ => {}
                }
            } else {
                color[u] = Color::Black;
                stack.pop();
            }
        }
    }
}
