//! `when` conditions: CEL expressions over the execution's context.

use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;

/// The variables a `when` expression may read.
pub const WHEN_VARIABLES: &[&str] = &["parameters", "nodes", "goal", "plan", "execution"];

/// Checks one `when` value: it must parse as CEL and read only known variables.
/// Anything else is kept as an opaque label (upstream defined no grammar) with a warning.
pub fn check_expression(node: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
    let Some(text) = node.as_str() else { return };
    let problem = match parse(text) {
        Err(message) => Some(format!("`when` is not a valid CEL expression: {message}")),
        Ok(variables) => {
            let unknown: Vec<String> = variables
                .into_iter()
                .filter(|v| !WHEN_VARIABLES.contains(&v.as_str()))
                .collect();
            (!unknown.is_empty()).then(|| {
                let names = unknown
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("`when` reads {names}, which is not a variable PlanSpec provides")
            })
        }
    };
    if let Some(message) = problem {
        let known = WHEN_VARIABLES
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
        diags.push(
            Diagnostic::new(
                Code::OpaqueWhen,
                format!("{message}; it is kept as an opaque label and never evaluated"),
            )
            .at(node.span)
            .with_path(path.to_string())
            .with_hint(format!(
                "write a CEL expression over {known}, e.g. `parameters.environment == \"prod\"`"
            )),
        );
    }
}

/// Parses CEL, returning the top-level variables it reads.
fn parse(text: &str) -> Result<Vec<String>, String> {
    if text.trim().is_empty() {
        return Err("it is empty".to_string());
    }
    // The CEL parser is third-party code; a panic in it must not take the validator down.
    let outcome = std::panic::catch_unwind(|| {
        cel::Program::compile(text).map(|program| {
            program
                .references()
                .variables()
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    });
    match outcome {
        Ok(Ok(variables)) => Ok(variables),
        Ok(Err(errors)) => Err(errors
            .to_string()
            .lines()
            .next()
            .unwrap_or("syntax error")
            .trim()
            .to_string()),
        Err(_) => Err("the expression could not be parsed".to_string()),
    }
}
