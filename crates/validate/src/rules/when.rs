//! `when` conditions: CEL expressions over the execution's context.

use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;
use std::sync::{mpsc, Mutex, OnceLock};

/// The variables a `when` expression may read.
pub const WHEN_VARIABLES: &[&str] = &["parameters", "nodes", "goal", "plan", "execution"];

/// Checks one `when` value: it must parse as CEL and read only known variables (and
/// `extra`, what the node provides besides: `matrix` in a Task with a matrix). Anything else
/// is kept as an opaque label (upstream defined no grammar) with a warning.
pub fn check_expression(node: &Node, path: &str, extra: &[&str], diags: &mut Vec<Diagnostic>) {
    let Some(text) = node.as_str() else { return };
    let problem = match parse(text) {
        Err(message) => Some(format!("`when` is not a valid CEL expression: {message}")),
        Ok(variables) => {
            let unknown: Vec<String> = variables
                .into_iter()
                .filter(|v| !WHEN_VARIABLES.contains(&v.as_str()) && !extra.contains(&v.as_str()))
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

/// Longest expression parsed (the schema's limit); longer ones are reported by the schema.
const MAX_LENGTH: usize = 1024;
/// Deepest bracket nesting parsed. Real conditions nest a few levels.
const MAX_NESTING: usize = 32;
/// Stack of the parser thread: the CEL parser recurses per nesting level and needs about
/// 200 KB per level in debug builds, far more than a 2 MB worker thread has.
const PARSER_STACK: usize = 64 << 20;

type Reply = mpsc::Sender<Result<Vec<String>, String>>;

/// Parses CEL, returning the top-level variables it reads.
pub(super) fn parse(text: &str) -> Result<Vec<String>, String> {
    if text.trim().is_empty() {
        return Err("it is empty".to_string());
    }
    if text.len() > MAX_LENGTH {
        return Err(format!("it is longer than {MAX_LENGTH} bytes"));
    }
    if nesting(text) > MAX_NESTING {
        return Err(format!(
            "it nests brackets more than {MAX_NESTING} levels deep"
        ));
    }
    let (reply, answer) = mpsc::channel();
    let sent = parser_thread()
        .lock()
        .map(|tx| tx.send((text.to_string(), reply)).is_ok())
        .unwrap_or(false);
    if !sent {
        return Err("the expression parser is unavailable".to_string());
    }
    answer
        .recv()
        .unwrap_or_else(|_| Err("the expression could not be parsed".to_string()))
}

/// The one thread that runs the CEL parser, started on first use.
fn parser_thread() -> &'static Mutex<mpsc::Sender<(String, Reply)>> {
    static THREAD: OnceLock<Mutex<mpsc::Sender<(String, Reply)>>> = OnceLock::new();
    THREAD.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(String, Reply)>();
        let spawned = std::thread::Builder::new()
            .name("planspec-cel".into())
            .stack_size(PARSER_STACK)
            .spawn(move || {
                for (text, reply) in rx {
                    let _ = reply.send(parse_here(&text));
                }
            });
        if spawned.is_err() {
            // Without the thread every parse reports "unavailable"; nothing else breaks.
        }
        Mutex::new(tx)
    })
}

fn parse_here(text: &str) -> Result<Vec<String>, String> {
    // The parser is third-party code; a panic in it must not take the validator down.
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
        Ok(Err(errors)) => Err(first_line(&errors.to_string())),
        Err(_) => Err("the expression could not be parsed".to_string()),
    }
}

/// The parser's first message line, without Rust debug formatting.
fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("syntax error");
    match line.find("ParseError") {
        Some(_) => "syntax error".to_string(),
        None => line.to_string(),
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

    #[test]
    fn parses_conditions_and_lists_variables() {
        assert_eq!(
            parse("parameters.env == 'prod'").unwrap(),
            vec!["parameters".to_string()]
        );
        assert!(parse("a &&").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("{}x{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("nests"));
        assert_eq!(nesting("f('(((', [1, {2: 3}])"), 3);
    }

    #[test]
    fn allowed_nesting_parses_on_a_small_stack() {
        let text = format!("{}x{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        let worker = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || parse(&text))
            .unwrap();
        assert!(worker.join().unwrap().is_ok());
    }
}
