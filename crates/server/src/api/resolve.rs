//! `planspec resolve`: a person's value for a Placeholder node that is `AwaitingInput`.
//!
//! The value goes to the runtime, which checks it with the engine's own check (the node's JSON
//! Schema and CEL rules, [`planspec_engine::placeholder::check`]) before journaling it. A value
//! that breaks a constraint is `422 Invalid`, with one cause per broken constraint (the schema's
//! path into the value, or the rule's expression and message); nothing is journaled and the node
//! keeps waiting. Authorization is the one `complete` and `fail` use: `update` on
//! `executions/nodes` (a person finishing a node).

use crate::resource::ResourceType;
use crate::status::{cause, Status, StatusCause};
use planspec_engine::placeholder::{Rejection, Violation};
use planspec_model::Kind;

const EXECUTION: ResourceType = ResourceType::Kind(Kind::Execution);

/// The `422` for a rejected value: each violation a cause, at `value` (plus the schema's path
/// into it, `value.port`) or at `rules[expression]`.
pub fn rejected(name: &str, rejection: &Rejection) -> Status {
    let causes = rejection
        .violations
        .iter()
        .map(|v| match v {
            Violation::Schema { path, message } => {
                StatusCause::new(cause::FIELD_VALUE_INVALID, field(path), message.clone())
            }
            Violation::InvalidSchema { message } => StatusCause::new(
                cause::FIELD_VALUE_INVALID,
                "schema",
                format!("the node's schema is not a usable JSON Schema: {message}"),
            ),
            Violation::Rule {
                expression,
                message,
            } => StatusCause::new(
                cause::FIELD_VALUE_INVALID,
                format!("rules[{expression}]"),
                message.clone(),
            ),
        })
        .collect();
    Status::invalid_causes(EXECUTION, name, causes)
}

/// A JSON pointer into the value as a field path: `/a/0/b` → `value.a[0].b`.
fn field(pointer: &str) -> String {
    let mut out = String::from("value");
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            out.push('.');
            out.push_str(&part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(field(""), "value");
        assert_eq!(field("/port"), "value.port");
        assert_eq!(field("/a/0/b~1c"), "value.a[0].b/c");
    }
}
