//! `matrix` on a Task (a PlanSpec extension), checked inside one Plan:
//!
//! * each axis gives exactly one of `values`, `parameter` and `fromOutput` (`PS0420`);
//! * axis names are unique (`PS0421`);
//! * the keys of `include` and `exclude` entries are axis names (`PS0422`);
//! * a `fromOutput` axis names a node of the plan that is upstream of the Task (through
//!   `dependsOn`, edges or Groups; in `spec.steps` an earlier step) (`PS0423`) and, if that
//!   node declares its outputs, one of them (`PS0424`);
//! * a literal axis is not empty (`PS0425`);
//! * a `finally` Task has no matrix (`PS0426`): an exit handler runs once;
//! * `matrix.<axis>` is read only in a Task with a matrix (`PS0427`, a warning: the
//!   expression fails when it runs);
//! * literal axes whose product exceeds the default instance limit (10,000) are reported
//!   (`PS0428`, a warning: the server's limit may be higher, but the run fails with
//!   `plan_expansion_limit` under the default).

use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;
use planspec_model::plan::DEFAULT_MAX_INSTANCES;
use std::collections::{HashMap, HashSet};

pub fn check(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get("spec") else { return };
    let (nodes, base, steps) = match (
        spec.at(&["graph", "nodes"]).and_then(Node::as_seq),
        spec.get("steps").and_then(Node::as_seq),
    ) {
        (Some(nodes), _) => (nodes, "spec.graph.nodes", false),
        (None, Some(steps)) => (steps, "spec.steps", true),
        (None, None) => return,
    };
    let edges = spec
        .at(&["graph", "edges"])
        .and_then(Node::as_seq)
        .unwrap_or_default();
    let graph = Upstream::build(nodes, edges, steps);
    for (i, node) in nodes.iter().enumerate() {
        let path = format!("{base}[{i}]");
        match node.entry("matrix") {
            Some(entry) if node.get("kind").and_then(Node::as_str) == Some("Task") => {
                check_matrix(node, entry, &path, &graph, nodes, diags);
            }
            _ => matrix_reads_outside(node, &path, diags),
        }
    }
}

fn id_of(node: &Node) -> &str {
    node.get("id").and_then(Node::as_str).unwrap_or("?")
}

fn check_matrix(
    node: &Node,
    entry: &crate::tree::Entry,
    path: &str,
    graph: &Upstream<'_>,
    nodes: &[Node],
    diags: &mut Vec<Diagnostic>,
) {
    let id = id_of(node);
    let matrix = &entry.value;
    let field = format!("{path}.matrix");
    if node.get("finally").and_then(Node::as_bool) == Some(true) {
        diags.push(
            Diagnostic::new(
                Code::MatrixOnFinally,
                format!("`finally` Task `{id}` has a matrix; an exit handler runs once"),
            )
            .at(entry.key_span)
            .with_path(field.clone())
            .with_hint("remove `matrix`, or make a matrix Task that the `finally` Task follows"),
        );
    }
    let Some(axes) = matrix.get("axes").and_then(Node::as_seq) else {
        return; // the schema reports a missing or mistyped `axes`
    };
    let mut names: HashSet<&str> = HashSet::new();
    let mut product: u64 = 1;
    let mut all_literal = true;
    for (k, axis) in axes.iter().enumerate() {
        let axis_path = format!("{field}.axes[{k}]");
        let name = axis.get("name").and_then(Node::as_str).unwrap_or("?");
        if let Some(n) = axis.get("name").and_then(Node::as_str) {
            if !names.insert(n) {
                diags.push(
                    Diagnostic::new(
                        Code::MatrixAxisDuplicate,
                        format!("matrix of `{id}`: axis `{n}` is declared twice"),
                    )
                    .at(axis.get("name").map_or(axis.span, |n| n.span))
                    .with_path(format!("{axis_path}.name"))
                    .with_hint("give every axis its own name; `matrix.<name>` reads it"),
                );
            }
        }
        let sources: Vec<&crate::tree::Entry> = ["values", "parameter", "fromOutput"]
            .iter()
            .filter_map(|s| axis.entry(s))
            .collect();
        if sources.len() != 1 {
            let span = sources.get(1).map_or(axis.span, |e| e.key_span);
            diags.push(
                Diagnostic::new(
                    Code::MatrixAxisSource,
                    format!(
                        "matrix of `{id}`: axis `{name}` gives {} of `values`, `parameter` and `fromOutput`; give exactly one",
                        if sources.is_empty() { "none" } else { "more than one" }
                    ),
                )
                .at(span)
                .with_path(axis_path.clone())
                .with_hint("`values: [a, b]` lists them, `parameter: NAME` reads an Execution parameter (a list), `fromOutput: {node: N, output: O}` reads an upstream node's list output"),
            );
            all_literal = false;
            continue;
        }
        let source = sources[0];
        match source.key.as_str() {
            "values" => {
                let count = source.value.as_seq().map_or(0, <[Node]>::len);
                if source.value.as_seq().is_some() && count == 0 {
                    diags.push(
                        Diagnostic::new(
                            Code::MatrixAxisEmpty,
                            format!("matrix of `{id}`: axis `{name}` has no values, so the Task would never run"),
                        )
                        .at(source.value.span)
                        .with_path(format!("{axis_path}.values"))
                        .with_hint("list at least one value, or remove the axis"),
                    );
                }
                product = product.saturating_mul(count as u64);
            }
            "fromOutput" => {
                all_literal = false;
                check_from_output(id, node, &source.value, &axis_path, graph, nodes, diags);
            }
            _ => all_literal = false,
        }
    }
    for key in ["include", "exclude"] {
        let Some(entries) = matrix.get(key).and_then(Node::as_seq) else {
            continue;
        };
        for (k, entry) in entries.iter().enumerate() {
            for e in entry.as_map().unwrap_or_default() {
                if !names.contains(e.key.as_str()) {
                    diags.push(
                        Diagnostic::new(
                            Code::MatrixUnknownKey,
                            format!(
                                "matrix of `{id}`: `{key}[{k}]` names `{}`, which is not an axis",
                                e.key
                            ),
                        )
                        .at(e.key_span)
                        .with_path(format!("{field}.{key}[{k}].{}", e.key))
                        .with_hint_opt(suggest(&e.key, &names)),
                    );
                }
            }
        }
    }
    let included = matrix
        .get("include")
        .and_then(Node::as_seq)
        .map_or(0, <[Node]>::len) as u64;
    if all_literal
        && !axes.is_empty()
        && product.saturating_add(included) > DEFAULT_MAX_INSTANCES as u64
    {
        diags.push(
            Diagnostic::new(
                Code::MatrixTooLarge,
                format!(
                    "matrix of `{id}` has {product} combinations; a run fails with `plan_expansion_limit` above {DEFAULT_MAX_INSTANCES} instances unless the server allows more"
                ),
            )
            .at(entry.key_span)
            .with_path(field)
            .with_hint("split the work, use `exclude`, or raise the server's matrix instance limit"),
        );
    }
}

fn check_from_output(
    id: &str,
    node: &Node,
    from: &Node,
    axis_path: &str,
    graph: &Upstream<'_>,
    nodes: &[Node],
    diags: &mut Vec<Diagnostic>,
) {
    let Some(source) = from.get("node").and_then(Node::as_str) else {
        return; // the schema reports it
    };
    let span = from.get("node").map_or(from.span, |n| n.span);
    let Some(&j) = graph.index.get(source) else {
        diags.push(
            Diagnostic::new(
                Code::MatrixFromOutputNode,
                format!("matrix of `{id}`: `fromOutput` names `{source}`, which is not a node of the plan"),
            )
            .at(span)
            .with_path(format!("{axis_path}.fromOutput.node")),
        );
        return;
    };
    let me = graph.index.get(id_of(node)).copied();
    if me.is_none_or(|me| !graph.is_upstream(j, me)) {
        diags.push(
            Diagnostic::new(
                Code::MatrixFromOutputNode,
                format!("matrix of `{id}`: `fromOutput` reads `{source}`, which is not upstream of `{id}`"),
            )
            .at(span)
            .with_path(format!("{axis_path}.fromOutput.node"))
            .with_hint(format!("add `{source}` to the `dependsOn` of `{id}`: its outputs exist only once it has run")),
        );
        return;
    }
    let Some(output) = from.get("output").and_then(Node::as_str) else {
        return;
    };
    let declared: Vec<&str> = nodes[j]
        .get("outputs")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o.as_str().or_else(|| o.get("name").and_then(Node::as_str)))
        .collect();
    let is_matrix = nodes[j].get("matrix").is_some();
    if !declared.is_empty() && !is_matrix && !declared.contains(&output) {
        diags.push(
            Diagnostic::new(
                Code::MatrixFromOutputUndeclared,
                format!("matrix of `{id}`: `fromOutput` reads output `{output}` of `{source}`, which declares only {}",
                    declared.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")),
            )
            .at(from.get("output").map_or(from.span, |n| n.span))
            .with_path(format!("{axis_path}.fromOutput.output")),
        );
    }
}

/// `matrix.<axis>` read by a node without a matrix (in `when` or `${{ }}` inputs).
fn matrix_reads_outside(node: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
    let mut found: Option<(&Node, String)> = None;
    if let Some(when) = node.get("when") {
        if when.as_str().is_some_and(reads_matrix) {
            found = Some((when, format!("{path}.when")));
        }
    }
    if found.is_none() {
        if let Some(inputs) = node.get("inputs") {
            let mut todo = vec![(inputs, format!("{path}.inputs"))];
            while let Some((n, p)) = todo.pop() {
                if let Some(s) = n.as_str() {
                    if s.contains("${{") && reads_matrix(s) {
                        found = Some((n, p));
                        break;
                    }
                } else if let Some(seq) = n.as_seq() {
                    todo.extend(
                        seq.iter()
                            .enumerate()
                            .map(|(k, c)| (c, format!("{p}[{k}]"))),
                    );
                } else if let Some(map) = n.as_map() {
                    todo.extend(map.iter().map(|e| (&e.value, format!("{p}.{}", e.key))));
                }
            }
        }
    }
    if let Some((at, p)) = found {
        diags.push(
            Diagnostic::new(
                Code::MatrixReadOutside,
                format!(
                    "`{}` reads `matrix`, but it has no matrix; the expression fails when it runs",
                    id_of(node)
                ),
            )
            .at(at.span)
            .with_path(p)
            .with_hint("`matrix.<axis>` exists only in a Task with a `matrix`; downstream nodes read the instances as `nodes.<task>.outputs.<name>` (a list) or `nodes.<task>.instances`"),
        );
    }
}

/// `true` if `text` names the variable `matrix` (not a field such as `outputs.matrix`).
fn reads_matrix(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(k) = text[from..].find("matrix") {
        let at = from + k;
        let before = at.checked_sub(1).map(|b| bytes[b]);
        let after = bytes.get(at + "matrix".len()).copied();
        let starts = before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.'));
        if starts && matches!(after, Some(b'.') | Some(b'[')) {
            return true;
        }
        from = at + "matrix".len();
    }
    false
}

fn suggest(key: &str, names: &HashSet<&str>) -> Option<String> {
    let mut sorted: Vec<&&str> = names.iter().collect();
    sorted.sort();
    (!sorted.is_empty())
        .then(|| {
            format!(
                "the axes are {}",
                sorted
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .filter(|_| !key.is_empty())
}

/// Which nodes are upstream of which: `dependsOn`, edges (either type), Groups (a dependency
/// on a Group is on its children; a Group's dependencies are its children's) and, for
/// `spec.steps`, every earlier step.
pub(super) struct Upstream<'a> {
    pub(super) index: HashMap<&'a str, usize>,
    preds: Vec<Vec<usize>>,
    steps: bool,
    /// Graph walks left: each costs up to the plan's size, so they are budgeted to keep
    /// validation linear; past it, the engine's compile still checks.
    walks: std::cell::Cell<usize>,
}

/// Upstream walks one Plan may take for `fromOutput` checks.
const MAX_WALKS: usize = 64;

impl<'a> Upstream<'a> {
    pub(super) fn build(nodes: &'a [Node], edges: &'a [Node], steps: bool) -> Self {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if let Some(id) = n.get("id").and_then(Node::as_str) {
                index.entry(id).or_insert(i);
            }
        }
        let mut preds = vec![Vec::new(); nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for d in n
                .get("dependsOn")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(Node::as_str)
            {
                if let Some(&j) = index.get(d) {
                    preds[i].push(j);
                }
            }
        }
        for e in edges {
            let from = e
                .get("from")
                .and_then(Node::as_str)
                .and_then(|f| index.get(f));
            let to = e
                .get("to")
                .and_then(Node::as_str)
                .and_then(|t| index.get(t));
            if let (Some(&f), Some(&t)) = (from, to) {
                preds[t].push(f);
            }
        }
        // Groups: members inherit the Group's dependencies; a dependency on a Group reaches
        // its children.
        let original = preds.clone();
        for (g, n) in nodes.iter().enumerate() {
            if n.get("kind").and_then(Node::as_str) != Some("Group") {
                continue;
            }
            let children: Vec<usize> = n
                .get("children")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(Node::as_str)
                .filter_map(|c| index.get(c).copied())
                .collect();
            for &c in &children {
                preds[c].extend(original[g].iter().copied());
            }
            preds[g].extend(children);
        }
        Upstream {
            index,
            preds,
            steps,
            walks: std::cell::Cell::new(MAX_WALKS),
        }
    }

    /// `true` if `j` is upstream of `i`.
    pub(super) fn is_upstream(&self, j: usize, i: usize) -> bool {
        if self.steps {
            return j < i;
        }
        let left = self.walks.get();
        if left == 0 {
            return true;
        }
        self.walks.set(left - 1);
        let mut seen = vec![false; self.preds.len()];
        let mut todo = self.preds[i].clone();
        while let Some(k) = todo.pop() {
            if k == j {
                return true;
            }
            if std::mem::replace(&mut seen[k], true) {
                continue;
            }
            todo.extend(self.preds[k].iter().copied());
        }
        false
    }
}
