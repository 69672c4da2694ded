//! `concurrency` on a Task (a PlanSpec extension: a keyed semaphore, a mutex at `limit: 1`),
//! checked inside one Plan:
//!
//! * the key is not empty once trimmed (`PS0450`);
//! * every `${{ }}` in the key is closed, parses as CEL and reads only `parameters`, `nodes`,
//!   `goal`, `plan`, `execution` — and `matrix` in a Task with a matrix (`PS0451`);
//! * the nodes it reads (`nodes.ID` or `nodes["ID"]`) exist and are upstream of the Task
//!   (`PS0452`): the key is evaluated when the Task is about to dispatch, when only upstream
//!   nodes have finished.
//!
//! The limit's range (1–1000) is the schema's.

use super::matrix::Upstream;
use super::when;
use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;

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
    if !nodes.iter().any(|n| n.get("concurrency").is_some()) {
        return;
    }
    let edges = spec
        .at(&["graph", "edges"])
        .and_then(Node::as_seq)
        .unwrap_or_default();
    let graph = Upstream::build(nodes, edges, steps);
    for (i, node) in nodes.iter().enumerate() {
        if node.get("kind").and_then(Node::as_str) != Some("Task") {
            continue;
        }
        let Some(key) = node.at(&["concurrency", "key"]) else {
            continue;
        };
        let Some(text) = key.as_str() else { continue };
        let id = node.get("id").and_then(Node::as_str).unwrap_or("?");
        let path = format!("{base}[{i}].concurrency.key");
        if text.trim().is_empty() {
            diags.push(
                Diagnostic::new(
                    Code::ConcurrencyKeyEmpty,
                    format!("the `concurrency` key of `{id}` is empty"),
                )
                .at(key.span)
                .with_path(path)
                .with_hint(
                    "name what the Tasks must not do at once, e.g. `deploy-${{ parameters.env }}`",
                ),
            );
            continue;
        }
        let with_matrix = node.get("matrix").is_some();
        let expressions = match expressions(text) {
            Ok(e) => e,
            Err(why) => {
                diags.push(expression_problem(id, &why, key, &path));
                continue;
            }
        };
        for expr in expressions {
            let problem = match when::parse(&expr) {
                Err(why) => Some(format!("`${{{{ {expr} }}}}` does not parse as CEL: {why}")),
                Ok(variables) => {
                    let unknown: Vec<String> = variables
                        .into_iter()
                        .filter(|v| {
                            let readable = when::WHEN_VARIABLES.contains(&v.as_str())
                                || (with_matrix && v == "matrix");
                            !readable
                        })
                        .map(|v| format!("`{v}`"))
                        .collect();
                    (!unknown.is_empty()).then(|| {
                        format!(
                            "`${{{{ {expr} }}}}` reads {}, which the key cannot read",
                            unknown.join(", ")
                        )
                    })
                }
            };
            if let Some(problem) = problem {
                diags.push(expression_problem(id, &problem, key, &path));
                continue;
            }
            for read in node_reads(&expr) {
                let upstream = graph
                    .index
                    .get(read.as_str())
                    .is_some_and(|&j| graph.is_upstream(j, i));
                if upstream {
                    continue;
                }
                let known = graph.index.contains_key(read.as_str());
                diags.push(
                    Diagnostic::new(
                        Code::ConcurrencyKeyReads,
                        if known {
                            format!("the `concurrency` key of `{id}` reads `nodes.{read}`, which is not upstream of `{id}`")
                        } else {
                            format!("the `concurrency` key of `{id}` reads `nodes.{read}`, which is not a node of the plan")
                        },
                    )
                    .at(key.span)
                    .with_path(path.clone())
                    .with_hint(format!(
                        "the key is evaluated just before `{id}` dispatches: read only nodes it depends on (add `dependsOn: [{read}]`), parameters or `matrix`"
                    )),
                );
            }
        }
    }
}

fn expression_problem(id: &str, problem: &str, key: &Node, path: &str) -> Diagnostic {
    Diagnostic::new(
        Code::ConcurrencyKeyExpression,
        format!("the `concurrency` key of `{id}`: {problem}"),
    )
    .at(key.span)
    .with_path(path.to_string())
    .with_hint("write `${{ expr }}` with a CEL expression over `parameters`, upstream `nodes`, `goal`, `plan`, `execution` (and `matrix` in a Task with a matrix)")
}

/// The expressions of a template string (`$${{` is a literal), or why it is not one.
fn expressions(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if text[i..].starts_with("$${{") {
            i += 4;
        } else if text[i..].starts_with("${{") {
            let start = i + 3;
            let end = closing(text, start)
                .ok_or_else(|| format!("`${{{{` at byte {i} has no closing `}}}}`"))?;
            let body = text[start..end].trim();
            if body.is_empty() {
                return Err(format!("`${{{{ }}}}` at byte {i} is empty"));
            }
            out.push(body.to_owned());
            i = end + 2;
        } else {
            i += 1;
        }
    }
    Ok(out)
}

/// The byte offset of the `}}` closing an expression that starts at `start` (outside
/// strings and nested braces), as the engine finds it.
fn closing(s: &str, start: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let (mut depth, mut quote, mut escaped) = (0usize, None::<u8>, false);
    let mut i = start;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// The node ids an expression names statically: `nodes.ID` and `nodes["ID"]` / `nodes['ID']`.
fn node_reads(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut from = 0;
    while let Some(at) = expr[from..].find("nodes") {
        let start = from + at;
        from = start + 5;
        let boundary = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        };
        if !boundary {
            continue;
        }
        let rest = &expr[start + 5..];
        let id = if let Some(rest) = rest.strip_prefix('.') {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()
        } else if let Some(rest) = rest.strip_prefix('[') {
            let rest = rest.trim_start();
            match rest.chars().next() {
                Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
                _ => "",
            }
        } else {
            ""
        };
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_expressions() {
        assert_eq!(
            expressions("deploy-${{ parameters.env }}-${{matrix.region}}").unwrap(),
            ["parameters.env", "matrix.region"]
        );
        assert_eq!(expressions("lit $${{ x }}").unwrap(), Vec::<String>::new());
        assert!(expressions("a-${{ x").is_err());
        assert!(expressions("a-${{ }}").is_err());
        assert_eq!(expressions("${{ {'a': 1}.a }}").unwrap(), ["{'a': 1}.a"]);
    }

    #[test]
    fn node_reads_are_found_in_both_forms() {
        assert_eq!(
            node_reads(r#"nodes.build.outputs.env + nodes["pre-check"].outputs.x + mynodes.y"#),
            ["build", "pre-check"]
        );
        assert!(node_reads("parameters.nodes").is_empty());
    }
}
