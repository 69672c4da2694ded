//! CEL: `when` conditions and `${{ … }}` input interpolation.
//!
//! Expressions read these variables: `parameters` (the execution's parameters), `nodes`
//! (`nodes.<id>.outputs` and `nodes.<id>.phase` of the node's upstream nodes; for a matrix
//! node the outputs are lists, and `nodes.<id>.instances`), `goal`, `plan`, `execution` and,
//! in a matrix Task's instances, `matrix` (the instance's coordinates). An expression is at most [`MAX_LENGTH`] bytes and nests brackets at most
//! [`MAX_NESTING`] levels (the limits `planspec validate` applies to `when`); it is parsed
//! and evaluated on one dedicated thread with a large stack (see `worker.rs`), so no
//! expression can overflow the caller's stack, and a failure is an error value, never a panic.
//!
//! Evaluation is deterministic except for one thing the `cel` crate does not order:
//! iterating a *map* with a macro (`m.map(k, …)`, `m.filter(…)`) visits keys in hash order.
//! Results the engine journals are checked by replay, which would report such a difference.
//! Evaluation has no cost budget yet: a comprehension over a large list takes as long as it
//! takes, on the shared evaluator thread.

mod convert;
mod refs;
mod worker;

pub use refs::NodeReads;
pub(crate) use worker::Analysis;

use serde_json::Value;
use std::sync::Arc;

/// A variable's value as the engine hands it to the evaluator: plain JSON, a map assembled
/// from parts, or a shared value (a finished matrix's fan-in) that the evaluator thread
/// converts once and reuses while it stays alive, so reading a large fan-in does not copy
/// or convert it again for every expression. The result never depends on that reuse.
#[derive(Debug, Clone)]
pub(crate) enum Var {
    /// A JSON value.
    Json(Value),
    /// A map whose entries are variables of their own.
    Map(Vec<(String, Var)>),
    /// A shared, immutable JSON value.
    Shared(Arc<Value>),
}

impl From<Value> for Var {
    fn from(value: Value) -> Var {
        Var::Json(value)
    }
}

impl Var {
    /// The value as plain JSON (copies shared parts).
    pub(crate) fn into_json(self) -> Value {
        match self {
            Var::Json(v) => v,
            Var::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_json()))
                    .collect(),
            ),
            Var::Shared(v) => Value::clone(&v),
        }
    }
}

/// The variables an expression may read.
pub const VARIABLES: &[&str] = &["parameters", "nodes", "goal", "plan", "execution", "matrix"];
/// Longest expression, in bytes.
pub const MAX_LENGTH: usize = 1024;
/// Deepest nesting of `(`, `[` and `{` outside string literals.
pub const MAX_NESTING: usize = 32;

/// Why an expression could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The expression is empty.
    #[error("the expression is empty")]
    Empty,
    /// The expression is longer than [`MAX_LENGTH`].
    #[error("the expression is longer than {MAX_LENGTH} bytes")]
    TooLong,
    /// The expression nests deeper than [`MAX_NESTING`].
    #[error("the expression nests brackets more than {MAX_NESTING} levels deep")]
    TooDeep,
    /// The expression does not parse.
    #[error("the expression does not parse: {0}")]
    Syntax(String),
    /// The expression reads variables PlanSpec does not provide.
    #[error("the expression reads {}, which PlanSpec does not provide (it provides parameters, nodes, goal, plan, execution and, in a matrix Task, matrix)", .0.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "))]
    UnknownVariables(Vec<String>),
    /// Evaluation failed.
    #[error("{0}")]
    Evaluation(String),
    /// The evaluator thread could not be started.
    #[error("the expression evaluator is unavailable")]
    Unavailable,
}

impl ExprError {
    fn from_fault(fault: worker::Fault, failed: fn(String) -> ExprError) -> ExprError {
        match fault {
            worker::Fault::Unavailable => ExprError::Unavailable,
            worker::Fault::Failed(message) => failed(message),
        }
    }
}

/// Checks the limits, then parses `text` and reports what it reads.
pub(crate) fn analyze(text: &str) -> Result<Analysis, ExprError> {
    check_limits(text)?;
    worker::analyze(text).map_err(|f| ExprError::from_fault(f, ExprError::Syntax))
}

/// Analyses `text` and requires it to read only [`VARIABLES`].
pub(crate) fn analyze_known(text: &str) -> Result<Analysis, ExprError> {
    let analysis = analyze(text)?;
    let unknown: Vec<String> = analysis
        .variables
        .iter()
        .filter(|v| !VARIABLES.contains(&v.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(analysis)
    } else {
        Err(ExprError::UnknownVariables(unknown))
    }
}

/// Evaluates `text` with the given variables (each a JSON value) and returns the result as
/// JSON. Map keys in the result are sorted.
pub fn evaluate(
    text: &str,
    variables: &serde_json::Map<String, Value>,
) -> Result<Value, ExprError> {
    check_limits(text)?;
    let vars = VARIABLES
        .iter()
        .filter_map(|&name| variables.get(name).map(|v| (name, Var::Json(v.clone()))))
        .collect();
    worker::evaluate(text, vars).map_err(|f| ExprError::from_fault(f, ExprError::Evaluation))
}

/// Evaluates with variables already in the worker's form.
pub(crate) fn evaluate_with<V: Into<Var>>(
    text: &str,
    variables: Vec<(&'static str, V)>,
) -> Result<Value, ExprError> {
    check_limits(text)?;
    let variables = variables.into_iter().map(|(k, v)| (k, v.into())).collect();
    worker::evaluate(text, variables).map_err(|f| ExprError::from_fault(f, ExprError::Evaluation))
}

fn check_limits(text: &str) -> Result<(), ExprError> {
    if text.trim().is_empty() {
        Err(ExprError::Empty)
    } else if text.len() > MAX_LENGTH {
        Err(ExprError::TooLong)
    } else if nesting(text) > MAX_NESTING {
        Err(ExprError::TooDeep)
    } else {
        Ok(())
    }
}

/// Deepest nesting of `(`, `[` and `{` outside string literals.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut quote, mut escaped) = (0usize, 0usize, None, false);
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' | '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn evaluates_over_json_variables() {
        let v = vars(json!({
            "parameters": {"env": "prod", "n": 3},
            "nodes": {"build": {"outputs": {"image": "app:1"}, "phase": "Succeeded"}}
        }));
        assert_eq!(evaluate("parameters.env == 'prod'", &v), Ok(json!(true)));
        assert_eq!(evaluate("parameters.n + 1", &v), Ok(json!(4)));
        assert_eq!(
            evaluate("nodes.build.outputs.image + '-x'", &v),
            Ok(json!("app:1-x"))
        );
        assert_eq!(
            evaluate("{'b': 1, 'a': [1, 2.5]}", &v),
            Ok(json!({"a": [1, 2.5], "b": 1}))
        );
        assert!(matches!(
            evaluate("parameters.missing", &v),
            Err(ExprError::Evaluation(_))
        ));
        assert!(matches!(evaluate("1 +", &v), Err(ExprError::Evaluation(_))));
        assert!(matches!(
            evaluate("b'x'", &v),
            Err(ExprError::Evaluation(_))
        ));
    }

    #[test]
    fn analysis_lists_variables_and_node_reads() {
        let a = analyze("nodes.a.outputs.x == nodes['b'].phase && parameters.p").unwrap();
        assert_eq!(a.variables, ["nodes", "parameters"]);
        assert_eq!(a.nodes.ids.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert!(!a.nodes.dynamic);
        let a = analyze("has(nodes.c.outputs.y)").unwrap();
        assert_eq!(a.nodes.ids.iter().collect::<Vec<_>>(), ["c"]);
        let a = analyze("nodes[parameters.which].outputs.x").unwrap();
        assert!(a.nodes.dynamic);
        let a = analyze("size(nodes) > 0").unwrap();
        assert!(a.nodes.dynamic);
        assert!(matches!(
            analyze_known("manualApproval"),
            Err(ExprError::UnknownVariables(v)) if v == ["manualApproval"]
        ));
        assert!(matches!(analyze("a &&"), Err(ExprError::Syntax(_))));
    }

    #[test]
    fn limits_are_checked_before_parsing() {
        assert_eq!(analyze("  "), Err(ExprError::Empty));
        assert_eq!(
            analyze(&"a".repeat(MAX_LENGTH + 1)),
            Err(ExprError::TooLong)
        );
        let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(analyze(&deep), Err(ExprError::TooDeep));
        assert_eq!(nesting("f('(((', [1, {2: 3}])"), 3);
    }

    /// The worst expressions the limits allow run on a caller with a small stack: the work
    /// happens on the evaluator thread.
    #[test]
    fn worst_case_expressions_do_not_overflow_a_small_stack() {
        let nested = format!("{}1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        let chain = format!("1{}", " + 1".repeat((MAX_LENGTH - 1) / 4));
        let members = format!("parameters{}", ".a".repeat((MAX_LENGTH - 10) / 2));
        let unary = format!("{}true", "!".repeat(MAX_LENGTH - 4));
        let ternary = format!("{}1", "true ? 1 : ".repeat((MAX_LENGTH - 1) / 11));
        let negation = format!("{}1", "-".repeat(MAX_LENGTH - 1));
        let index = format!("parameters{}", "[0]".repeat((MAX_LENGTH - 10) / 3));
        let logic = format!("true{}", " || true".repeat((MAX_LENGTH - 4) / 8));
        let lists = format!("{}1{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        let worker = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let v = serde_json::Map::new();
                [
                    analyze(&nested).is_ok(),
                    evaluate(&nested, &v).is_ok(),
                    analyze(&chain).is_ok(),
                    evaluate(&chain, &v).is_ok(),
                    analyze(&members).is_ok(),
                    evaluate(&members, &v).is_err(),
                    analyze(&unary).is_ok(),
                    evaluate(&unary, &v).is_ok(),
                    evaluate(&lists, &v).is_ok(),
                    evaluate(&ternary, &v).is_ok() || analyze(&ternary).is_err(),
                    evaluate(&negation, &v).is_ok() || analyze(&negation).is_err(),
                    evaluate(&index, &v).is_err(),
                    evaluate(&logic, &v).is_ok(),
                ]
            })
            .unwrap();
        assert_eq!(worker.join().unwrap(), [true; 13]);
    }
}
