//! A Gate's typed input: `spec.inputSchema` (a JSON Schema, draft 2020-12 unless its
//! `$schema` says otherwise) and the values an approval submits against it.
//!
//! The schema is compiled by the `jsonschema` crate built without remote or file `$ref`
//! resolution (a Gate's author cannot make the server fetch a URL or read a file), with the
//! linear-time `regex` engine for `pattern` (no catastrophic backtracking on a reviewer's
//! input), and with `format` asserted.

use crate::resource::ResourceType;
use crate::status::{cause, Status, StatusCause};
use jsonschema::{PatternOptions, Validator};
use planspec_model::Kind;
use serde_json::{Map, Value};

const GATE: ResourceType = ResourceType::Kind(Kind::Gate);

/// Most validation errors reported for one submission.
const MAX_ERRORS: usize = 20;

/// Compiles `schema`; the error says why it is not a usable JSON Schema.
pub fn compile(schema: &Map<String, Value>) -> Result<Validator, String> {
    jsonschema::options()
        .with_pattern_options(PatternOptions::regex())
        .should_validate_formats(true)
        .build(&Value::Object(schema.clone()))
        .map_err(|e| e.to_string())
}

/// Checks the `values` an approval of the Gate `name` submits: required to satisfy
/// `schema` when there is one, refused when there is none. Refusals are `422 Invalid` whose
/// causes are the JSON Schema errors, each at its field (`values.version`).
pub fn check(
    name: &str,
    schema: Option<&Map<String, Value>>,
    values: Option<&Map<String, Value>>,
) -> Result<(), Status> {
    let Some(schema) = schema else {
        return match values {
            Some(v) if !v.is_empty() => Err(Status::invalid_causes(
                GATE,
                name,
                vec![StatusCause::new(
                    cause::FIELD_VALUE_FORBIDDEN,
                    "values",
                    "this gate takes no values (it has no spec.inputSchema)",
                )],
            )),
            _ => Ok(()),
        };
    };
    let validator = compile(schema).map_err(|why| {
        Status::invalid_causes(
            GATE,
            name,
            vec![StatusCause::new(
                cause::FIELD_VALUE_INVALID,
                "spec.inputSchema",
                format!("the gate's inputSchema is not a usable JSON Schema: {why}"),
            )],
        )
    })?;
    let instance = Value::Object(values.cloned().unwrap_or_default());
    let causes: Vec<StatusCause> = validator
        .iter_errors(&instance)
        .take(MAX_ERRORS)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            StatusCause::new(cause::FIELD_VALUE_INVALID, field(&pointer), e.to_string())
        })
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Status::invalid_causes(GATE, name, causes))
    }
}

/// Admission of a Gate (`object`, about to be stored as `name`): its `spec.inputSchema`, if
/// any, must compile, so an unusable schema is refused when it is written (`422`), not when
/// someone tries to approve. Other kinds pass.
pub fn admit(resource: ResourceType, name: &str, object: &Value) -> Result<(), Status> {
    if resource != GATE {
        return Ok(());
    }
    match object.pointer("/spec/inputSchema") {
        Some(Value::Object(schema)) => compile(schema).map(|_| ()).map_err(|why| {
            Status::invalid_causes(
                GATE,
                name,
                vec![StatusCause::new(
                    cause::FIELD_VALUE_INVALID,
                    "spec.inputSchema",
                    format!("not a usable JSON Schema: {why}"),
                )],
            )
        }),
        _ => Ok(()),
    }
}

/// The values a Gate approved by its timeout gets: each top-level property's `default`.
pub fn defaults(schema: &Map<String, Value>) -> Map<String, Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter_map(|(k, p)| p.get("default").map(|d| (k.clone(), d.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `values` satisfy `schema` (a schema that does not compile satisfies nothing).
pub fn satisfies(schema: &Map<String, Value>, values: &Map<String, Value>) -> bool {
    compile(schema).is_ok_and(|v| v.is_valid(&Value::Object(values.clone())))
}

/// A JSON pointer into the values as a field path: `/a/0/b` → `values.a[0].b`.
fn field(pointer: &str) -> String {
    let mut out = String::from("values");
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
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn values_are_checked_against_the_schema() {
        let schema = obj(json!({"type": "object", "required": ["version"],
            "properties": {"version": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$"},
                           "canary": {"type": "integer", "minimum": 0, "maximum": 100, "default": 5}},
            "additionalProperties": false}));
        assert!(check("g", Some(&schema), Some(&obj(json!({"version": "1.2.3"})))).is_ok());
        let err = check(
            "g",
            Some(&schema),
            Some(&obj(json!({"version": "one", "canary": 500}))),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        let fields: Vec<&str> = err
            .details
            .as_ref()
            .unwrap()
            .causes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert!(fields.contains(&"values.version"), "{fields:?}");
        assert!(fields.contains(&"values.canary"), "{fields:?}");
        let missing = check("g", Some(&schema), None).unwrap_err();
        assert!(missing.message.contains("version"), "{}", missing.message);
        assert_eq!(defaults(&schema), obj(json!({"canary": 5})));
        assert!(!satisfies(&schema, &defaults(&schema)));
    }

    #[test]
    fn values_without_a_schema_and_unusable_schemas_are_refused() {
        assert!(check("g", None, None).is_ok());
        assert_eq!(
            check("g", None, Some(&obj(json!({"x": 1}))))
                .unwrap_err()
                .code,
            422
        );
        let remote = obj(json!({"$ref": "https://example.com/schema.json"}));
        let err = check("g", Some(&remote), Some(&Map::new())).unwrap_err();
        assert!(err.message.contains("inputSchema"), "{}", err.message);
    }

    #[test]
    fn unusable_schemas_are_refused_at_admission() {
        let gate = |schema: Value| json!({"spec": {"inputSchema": schema}});
        assert!(admit(GATE, "g", &gate(json!({"type": "object"}))).is_ok());
        let bad = admit(GATE, "g", &gate(json!({"type": "no-such-type"}))).unwrap_err();
        assert_eq!(bad.code, 422);
        let remote = admit(GATE, "g", &gate(json!({"$ref": "file:///etc/passwd"}))).unwrap_err();
        assert_eq!(remote.code, 422);
        let plan = ResourceType::Kind(Kind::Plan);
        assert!(admit(plan, "p", &gate(json!({"type": "no-such-type"}))).is_ok());
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(field(""), "values");
        assert_eq!(field("/a/0/b~1c"), "values.a[0].b/c");
    }
}
