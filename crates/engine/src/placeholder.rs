//! Placeholder nodes: where their value comes from, and the one check every value passes.
//!
//! A Placeholder's value is taken, in order, from an Execution parameter named like the node,
//! the first resource matching its `selector`, the provider bound to its `resolverRef`, and
//! finally a person (`planspec resolve`). Whatever the source, [`check`] decides whether the
//! value may fill the node: it must satisfy the node's JSON Schema (compiled without remote or
//! file `$ref`s, `pattern` on the linear-time `regex` engine, `format` asserted) and every CEL
//! rule over `value` must be `true`. The engine calls it before a value fills the node; the
//! runtime calls it (through [`Execution::check_placeholder`](crate::Execution::check_placeholder))
//! before it journals a person's value, so a bad one is refused with the constraint it broke
//! and the node keeps waiting.

use crate::cel;
use planspec_model::plan::{PlaceholderRule, PlaceholderType, ResourceSelector};
use planspec_model::ObjectReference;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most schema errors reported for one value.
const MAX_SCHEMA_ERRORS: usize = 20;

/// A Placeholder node's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceholderConfig {
    /// What is needed, in prose.
    pub description: String,
    /// What fills it: data, a Capability's name or a Plan's name.
    pub value_type: PlaceholderType,
    /// The JSON Schema the value must satisfy.
    pub schema: Option<Value>,
    /// CEL rules over `value` that must all be `true`.
    pub rules: Vec<PlaceholderRule>,
    /// Resources whose first match (by name) fills the value.
    pub selector: Option<ResourceSelector>,
    /// The Capability whose bound provider resolves the value.
    pub resolver_ref: Option<ObjectReference>,
}

impl PlaceholderConfig {
    /// The kind of resource the selector lists: its own `kind`, else `Capability` for a
    /// `capability` placeholder and `Plan` for a `plan` one; `None` for a data placeholder
    /// whose selector names no kind.
    pub fn selector_kind(&self) -> Option<String> {
        let selector = self.selector.as_ref()?;
        selector.kind.clone().or(match self.value_type {
            PlaceholderType::Capability => Some("Capability".to_string()),
            PlaceholderType::Plan => Some("Plan".to_string()),
            PlaceholderType::Data => None,
        })
    }
}

/// Where a Placeholder's value came from (or is awaited from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An Execution parameter named like the node.
    Parameter,
    /// The first resource matching the node's `selector`.
    Selector,
    /// The provider bound to the node's `resolverRef`.
    Resolver,
    /// A person, through `planspec resolve`.
    Person,
}

impl Source {
    /// The source's name as written in journals and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Parameter => "parameter",
            Source::Selector => "selector",
            Source::Resolver => "resolver",
            Source::Person => "person",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One constraint a value broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "constraint",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Violation {
    /// The JSON Schema refused the value at `path` (a JSON pointer into the value; empty for
    /// the value itself).
    Schema {
        /// Where in the value.
        path: String,
        /// What the schema says.
        message: String,
    },
    /// The node's schema does not compile (the validator reports this before a run).
    InvalidSchema {
        /// Why.
        message: String,
    },
    /// A rule was `false`, was not a boolean, or failed to evaluate.
    Rule {
        /// The rule's expression.
        expression: String,
        /// The rule's message, or what went wrong.
        message: String,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Schema { path, message } if path.is_empty() => {
                write!(f, "schema: {message}")
            }
            Violation::Schema { path, message } => write!(f, "schema at `{path}`: {message}"),
            Violation::InvalidSchema { message } => {
                write!(
                    f,
                    "the node's schema is not a usable JSON Schema: {message}"
                )
            }
            Violation::Rule {
                expression,
                message,
            } => write!(f, "rule `{expression}`: {message}"),
        }
    }
}

/// Why a value cannot fill a Placeholder: every constraint it broke (schema errors first,
/// then rules in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{}", .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Rejection {
    /// The constraints broken.
    pub violations: Vec<Violation>,
}

/// Why [`Execution::check_placeholder`](crate::Execution::check_placeholder) refuses a person's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderRefusal {
    /// The graph has no such node.
    #[error("node {0} is not in the plan")]
    UnknownNode(String),
    /// The node is not a Placeholder.
    #[error("node {0} is not a Placeholder")]
    NotPlaceholder(String),
    /// The Placeholder is not waiting for a person.
    #[error("node {node} is not awaiting input (it is {phase})")]
    NotAwaiting {
        /// The node.
        node: String,
        /// Its phase.
        phase: &'static str,
    },
    /// The value breaks the node's constraints.
    #[error("the value is rejected: {0}")]
    Rejected(Rejection),
}

/// Compiles a Placeholder's (or any) JSON Schema as [`check`] does: no remote or file `$ref`s,
/// `pattern` on the linear-time `regex` engine, `format` asserted. The error says why it is
/// not usable.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// Checks `value` against `schema` and `rules`. Rules are CEL over `value` and `variables`
/// (the engine passes `parameters`, `nodes` (upstream), `goal`, `plan` and `execution`); the
/// schema is checked first and rules are evaluated only for a value the schema accepts, so a
/// rule can rely on the value's shape.
pub fn check(
    schema: Option<&Value>,
    rules: &[PlaceholderRule],
    value: &Value,
    variables: Vec<(&'static str, Value)>,
) -> Result<(), Rejection> {
    let mut violations = Vec::new();
    if let Some(schema) = schema {
        match compile_schema(schema) {
            Ok(validator) => violations.extend(
                validator
                    .iter_errors(value)
                    .take(MAX_SCHEMA_ERRORS)
                    .map(|e| Violation::Schema {
                        path: e.instance_path().to_string(),
                        message: e.to_string(),
                    }),
            ),
            Err(message) => violations.push(Violation::InvalidSchema { message }),
        }
    }
    if violations.is_empty() {
        for rule in rules {
            let mut vars = variables.clone();
            vars.push(("value", value.clone()));
            let failure = match cel::evaluate_with(&rule.expression, vars) {
                Ok(Value::Bool(true)) => continue,
                Ok(Value::Bool(false)) => rule
                    .message
                    .clone()
                    .unwrap_or_else(|| "the rule is false".to_string()),
                Ok(_) => "the rule does not yield a boolean".to_string(),
                Err(e) => format!("the rule failed: {e}"),
            };
            violations.push(Violation::Rule {
                expression: rule.expression.clone(),
                message: failure,
            });
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Rejection { violations })
    }
}

/// Checks that a rule parses and reads only `value` and the variables expressions may read;
/// the error says why not. For the compiler and the validator.
pub fn check_rule(expression: &str) -> Result<(), String> {
    let analysis = cel::analyze(expression).map_err(|e| e.to_string())?;
    let unknown: Vec<String> = analysis
        .variables
        .iter()
        .filter(|v| v.as_str() != "value" && !cel::VARIABLES.contains(&v.as_str()))
        .map(|v| format!("`{v}`"))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the rule reads {}, which is not provided (rules read value, parameters, nodes, goal, plan and execution)",
            unknown.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(expression: &str, message: Option<&str>) -> PlaceholderRule {
        PlaceholderRule {
            expression: expression.to_string(),
            message: message.map(str::to_string),
        }
    }

    #[test]
    fn schema_then_rules() {
        let schema = json!({"type": "object", "required": ["port"],
            "properties": {"port": {"type": "integer", "minimum": 1}}});
        let rules = [rule(
            "value.port < 1024",
            Some("a privileged port is needed"),
        )];
        assert_eq!(
            check(Some(&schema), &rules, &json!({"port": 80}), vec![]),
            Ok(())
        );
        let err = check(Some(&schema), &rules, &json!({"port": 0}), vec![]).unwrap_err();
        assert!(matches!(&err.violations[..], [Violation::Schema { path, .. }] if path == "/port"));
        let err = check(Some(&schema), &rules, &json!({"port": 8080}), vec![]).unwrap_err();
        assert_eq!(
            err.violations,
            [Violation::Rule {
                expression: "value.port < 1024".into(),
                message: "a privileged port is needed".into()
            }]
        );
        assert!(err.to_string().contains("a privileged port is needed"));
    }

    #[test]
    fn rules_read_parameters_and_report_failures() {
        let rules = [
            rule("value == parameters.expected", None),
            rule("value + 1", None),
        ];
        let vars = vec![("parameters", json!({"expected": 3}))];
        let err = check(None, &rules, &json!(3), vars.clone()).unwrap_err();
        assert_eq!(err.violations.len(), 1);
        assert!(err.to_string().contains("does not yield a boolean"));
        let err = check(None, &rules[..1], &json!(4), vars).unwrap_err();
        assert!(err.to_string().contains("the rule is false"));
    }

    #[test]
    fn unusable_schema_and_rules() {
        let err = check(Some(&json!({"type": 12})), &[], &json!(1), vec![]).unwrap_err();
        assert!(matches!(err.violations[0], Violation::InvalidSchema { .. }));
        assert!(check_rule("value > 1 && parameters.x").is_ok());
        assert!(check_rule("value >").is_err());
        assert!(check_rule("secret == 1").unwrap_err().contains("`secret`"));
    }
}
