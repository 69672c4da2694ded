//! Reading a Task's outputs: a JSON object of bounded size.

use serde_json::{Map, Value};

/// The largest outputs document a provider accepts (1 MiB), whether written to
/// `$PLANSPEC_OUTPUTS`, printed as the last stdout line or returned by an HTTP endpoint.
pub const MAX_OUTPUTS_BYTES: usize = 1024 * 1024;

/// Why bytes are not a usable outputs document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OutputsError {
    /// Larger than [`MAX_OUTPUTS_BYTES`].
    #[error("outputs are {size} bytes, more than the limit of {MAX_OUTPUTS_BYTES}")]
    TooLarge { size: u64 },
    /// Not JSON.
    #[error("outputs are not valid JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    /// JSON, but not an object.
    #[error("outputs must be a JSON object, got {found}")]
    NotAnObject { found: &'static str },
}

/// Parses `bytes` as a JSON object of at most [`MAX_OUTPUTS_BYTES`].
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, OutputsError> {
    if bytes.len() > MAX_OUTPUTS_BYTES {
        return Err(OutputsError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(OutputsError::NotAnObject {
            found: json_type(&other),
        }),
        Err(e) => Err(OutputsError::NotJson {
            line: e.line(),
            column: e.column(),
        }),
    }
}

/// The JSON type of a value, for messages that must not echo the value.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_only() {
        assert_eq!(parse_object(br#"{"a":1}"#).map(|m| m.len()), Ok(1));
        assert_eq!(
            parse_object(b"[1]"),
            Err(OutputsError::NotAnObject { found: "an array" })
        );
        assert!(matches!(
            parse_object(b"{nope"),
            Err(OutputsError::NotJson { .. })
        ));
        let big = vec![b' '; MAX_OUTPUTS_BYTES + 1];
        assert!(matches!(
            parse_object(&big),
            Err(OutputsError::TooLarge { .. })
        ));
    }
}
