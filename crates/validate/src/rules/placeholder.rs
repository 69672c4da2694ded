//! Placeholder nodes (PlanSpec extension), checked before anything runs:
//!
//! * `schema` must compile as a JSON Schema, as the engine compiles it: no remote or file
//!   `$ref`s (`PS0445`);
//! * every rule must parse as CEL and read only `value` and the variables expressions read
//!   (`PS0446`);
//! * a `selector` must name a kind a Placeholder may read — Goal, Plan, Capability or
//!   Binding, never an Execution, a Gate or a governance kind (`PS0447`); a `data` placeholder's selector
//!   must name one at all (only `capability` and `plan` placeholders imply it), and a
//!   `capability`/`plan` placeholder's selector must list Capabilities/Plans (`PS0448`).
//!
//! That `resolverRef` names a Capability is a cross-resource check (`PS0501`/`PS0502`).

use super::when;
use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;
use planspec_model::Kind;

/// The variables a rule may read besides `value`.
const RULE_VARIABLES: &[&str] = when::WHEN_VARIABLES;

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
    if node.get("kind").and_then(Node::as_str) != Some("Placeholder") {
        return;
    }
    let id = node.get("id").and_then(Node::as_str).unwrap_or("?");
    if let Some(schema) = node.get("schema") {
        if let Err(why) = compile_schema(&schema.to_json()) {
            diags.push(
                Diagnostic::new(
                    Code::PlaceholderSchemaInvalid,
                    format!("the `schema` of placeholder `{id}` is not a usable JSON Schema: {why}"),
                )
                .at(schema.span)
                .with_path(format!("{base}.schema"))
                .with_hint("write a JSON Schema (draft 2020-12 unless `$schema` says otherwise) whose `$ref`s point inside it"),
            );
        }
    }
    if let Some(rules) = node.get("rules").and_then(Node::as_seq) {
        for (k, rule) in rules.iter().enumerate() {
            let Some(expression) = rule.get("expression") else {
                continue;
            };
            let Some(text) = expression.as_str() else {
                continue;
            };
            let problem = match when::parse(text) {
                Err(why) => Some(format!("does not parse as CEL: {why}")),
                Ok(variables) => {
                    let unknown: Vec<String> = variables
                        .into_iter()
                        .filter(|v| v != "value" && !RULE_VARIABLES.contains(&v.as_str()))
                        .map(|v| format!("`{v}`"))
                        .collect();
                    (!unknown.is_empty())
                        .then(|| format!("reads {}, which a rule cannot read", unknown.join(", ")))
                }
            };
            if let Some(problem) = problem {
                diags.push(
                    Diagnostic::new(
                        Code::PlaceholderRuleInvalid,
                        format!("rule {k} of placeholder `{id}` {problem}"),
                    )
                    .at(expression.span)
                    .with_path(format!("{base}.rules[{k}].expression"))
                    .with_hint("write a CEL expression over `value` (and `parameters`, `nodes`, `goal`, `plan`, `execution`) that yields a boolean, e.g. `value.size() <= 63`"),
                );
            }
        }
    }
    if let Some(selector) = node.get("selector") {
        let value_type = node.get("type").and_then(Node::as_str).unwrap_or("data");
        let implied = match value_type {
            "capability" => Some(Kind::Capability),
            "plan" => Some(Kind::Plan),
            _ => None,
        };
        match selector.get("kind") {
            Some(kind_node) => {
                let Some(name) = kind_node.as_str() else {
                    return;
                };
                match Kind::from_name(name).filter(|k| k.placeholder_selectable()) {
                    None => diags.push(
                        Diagnostic::new(
                            Code::PlaceholderSelectorKind,
                            format!("the selector of placeholder `{id}` lists `{name}`, which is not a kind a Placeholder may read"),
                        )
                        .at(kind_node.span)
                        .with_path(format!("{base}.selector.kind"))
                        .with_hint("name Goal, Plan, Capability or Binding (Executions, Gates and the governance kinds cannot be read)"),
                    ),
                    Some(kind) if implied.is_some_and(|k| k != kind) => diags.push(
                        Diagnostic::new(
                            Code::PlaceholderSelectorType,
                            format!(
                                "placeholder `{id}` is of type `{value_type}`, but its selector lists {}s",
                                kind.as_str()
                            ),
                        )
                        .at(kind_node.span)
                        .with_path(format!("{base}.selector.kind"))
                        .with_hint(format!(
                            "leave `kind` out (a `{value_type}` placeholder lists {}s) or change `type`",
                            implied.map(Kind::as_str).unwrap_or_default()
                        )),
                    ),
                    Some(_) => {}
                }
            }
            None if implied.is_none() => diags.push(
                Diagnostic::new(
                    Code::PlaceholderSelectorType,
                    format!("the selector of `data` placeholder `{id}` names no `kind`, so it cannot list anything"),
                )
                .at(selector.span)
                .with_path(format!("{base}.selector"))
                .with_hint("add `kind:` (the value is the first match's `spec`), or set `type: capability` or `type: plan`"),
            ),
            None => {}
        }
    }
}

/// Compiles a schema as the engine does (no remote or file `$ref`s; `format` asserted).
fn compile_schema(schema: &serde_json::Value) -> Result<(), String> {
    jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .should_validate_formats(true)
        .build(schema)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
