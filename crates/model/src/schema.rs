//! JSON Schemas (draft 2020-12) generated from the model types.
//!
//! The schemas are strict (`additionalProperties: false` everywhere) while the serde types stay
//! lenient. `Option` fields are simply not `required`; they never accept `null`.

use crate::kind::{Kind, API_VERSION};
use crate::resource::List;
use crate::{
    Binding, Capability, ClusterRole, ClusterRoleBinding, Execution, Gate, Goal, Plan, Policy,
    Provider, Role, RoleBinding,
};
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// Base URL of the published schemas; a file's `$id` is this plus its file name.
pub const SCHEMA_BASE_URL: &str = "https://planspec.io/schemas/v1alpha1/";

/// The schema file name of a kind (`plan.json`).
pub fn schema_file_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Goal => "goal.json",
        Kind::Plan => "plan.json",
        Kind::Capability => "capability.json",
        Kind::Binding => "binding.json",
        Kind::Execution => "execution.json",
        Kind::Gate => "gate.json",
        Kind::Policy => "policy.json",
        Kind::Provider => "provider.json",
        Kind::Role => "role.json",
        Kind::RoleBinding => "rolebinding.json",
        Kind::ClusterRole => "clusterrole.json",
        Kind::ClusterRoleBinding => "clusterrolebinding.json",
    }
}

/// The schema of one kind, with its sub-types in `$defs`.
pub fn kind_schema(kind: Kind) -> Value {
    let schema = match kind {
        Kind::Goal => root_schema::<Goal>(),
        Kind::Plan => root_schema::<Plan>(),
        Kind::Capability => root_schema::<Capability>(),
        Kind::Binding => root_schema::<Binding>(),
        Kind::Execution => root_schema::<Execution>(),
        Kind::Gate => root_schema::<Gate>(),
        Kind::Policy => root_schema::<Policy>(),
        Kind::Provider => root_schema::<Provider>(),
        Kind::Role => root_schema::<Role>(),
        Kind::RoleBinding => root_schema::<RoleBinding>(),
        Kind::ClusterRole => root_schema::<ClusterRole>(),
        Kind::ClusterRoleBinding => root_schema::<ClusterRoleBinding>(),
    };
    finish_root(schema, schema_file_name(kind), None)
}

/// The schema of a `kind: List` wrapper whose items are not checked.
pub fn list_schema() -> Value {
    finish_root(root_schema::<List>(), "list.json", None)
}

/// One self-contained schema for any document: a single resource of any kind or a `List` of
/// them. It dispatches on `kind` with `if`/`then`, so errors point at the right kind's schema.
pub fn document_schema() -> Value {
    let mut generator = generator();
    let mut refs = Vec::new();
    for kind in Kind::ALL {
        let reference = match kind {
            Kind::Goal => generator.subschema_for::<Goal>(),
            Kind::Plan => generator.subschema_for::<Plan>(),
            Kind::Capability => generator.subschema_for::<Capability>(),
            Kind::Binding => generator.subschema_for::<Binding>(),
            Kind::Execution => generator.subschema_for::<Execution>(),
            Kind::Gate => generator.subschema_for::<Gate>(),
            Kind::Policy => generator.subschema_for::<Policy>(),
            Kind::Provider => generator.subschema_for::<Provider>(),
            Kind::Role => generator.subschema_for::<Role>(),
            Kind::RoleBinding => generator.subschema_for::<RoleBinding>(),
            Kind::ClusterRole => generator.subschema_for::<ClusterRole>(),
            Kind::ClusterRoleBinding => generator.subschema_for::<ClusterRoleBinding>(),
        };
        refs.push((kind, reference.to_value()));
    }
    let mut defs = generator.take_definitions(true);

    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let dispatch: Vec<Value> = refs
        .into_iter()
        .map(|(kind, reference)| {
            json!({
                "if": {"properties": {"kind": {"const": kind.as_str()}}, "required": ["kind"]},
                "then": reference,
            })
        })
        .collect();
    defs.insert(
        "Resource".to_owned(),
        json!({
            "description": "Any single PlanSpec resource, checked against the schema of its `kind`.",
            "type": "object",
            "required": ["apiVersion", "kind"],
            "properties": {
                "apiVersion": {"const": API_VERSION},
                "kind": {"enum": kinds},
            },
            "allOf": dispatch,
        }),
    );
    defs.insert(
        "ResourceList".to_owned(),
        json!({
            "description": "A list of resources (`kind: List`); every item is checked against the schema of its own `kind`.",
            "type": "object",
            "required": ["kind", "items"],
            "properties": {
                "apiVersion": {"const": API_VERSION},
                "kind": {"const": "List"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Resource"}},
            },
            "additionalProperties": false,
        }),
    );

    let mut all_kinds = kinds.clone();
    all_kinds.push("List");
    let root = json!({
        "title": "PlanSpec document",
        "description": "A planspec.io/v1alpha1 document: one Goal, Plan, Capability, Binding, Execution or Gate, or a List of them.",
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": all_kinds}},
        "if": {"properties": {"kind": {"const": "List"}}, "required": ["kind"]},
        "then": {"$ref": "#/$defs/ResourceList"},
        "else": {"$ref": "#/$defs/Resource"},
    });
    finish_root(
        Schema::try_from(root).expect("object schema"),
        "document.json",
        Some(defs),
    )
}

/// Every published schema file: `(file name, schema)`, kinds first, then `list.json` and
/// `document.json`.
pub fn all_schema_files() -> Vec<(&'static str, Value)> {
    let mut files: Vec<(&'static str, Value)> = Kind::ALL
        .iter()
        .map(|&k| (schema_file_name(k), kind_schema(k)))
        .collect();
    files.push(("list.json", list_schema()));
    files.push(("document.json", document_schema()));
    files
}

/// The text of a schema file: pretty-printed JSON with a trailing newline.
pub fn schema_file_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a JSON value always serialises");
    text.push('\n');
    text
}

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with_transform(RecursiveTransform(tidy))
}

fn generator() -> SchemaGenerator {
    settings().into_generator()
}

fn root_schema<T: JsonSchema>() -> Schema {
    generator().into_root_schema_for::<T>()
}

/// Puts `$schema`, `$id`, `title` and `description` first and `$defs` last.
fn finish_root(schema: Schema, file: &str, extra_defs: Option<Map<String, Value>>) -> Value {
    let mut body = match schema.to_value() {
        Value::Object(map) => map,
        other => return other,
    };
    let mut out = Map::new();
    out.insert(
        "$schema".to_owned(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert("$id".to_owned(), json!(format!("{SCHEMA_BASE_URL}{file}")));
    body.remove("$schema");
    body.remove("$id");
    for key in ["title", "description"] {
        if let Some(v) = body.remove(key) {
            out.insert(key.to_owned(), v);
        }
    }
    let defs = body.remove("$defs");
    out.extend(body);
    let mut defs = match defs {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(extra) = extra_defs {
        defs.extend(extra);
    }
    if !defs.is_empty() {
        out.insert("$defs".to_owned(), Value::Object(defs));
    }
    Value::Object(out)
}

/// Integer formats schemars adds (`uint32`…) that are not JSON Schema formats.
const NUMERIC_FORMATS: &[&str] = &[
    "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
    "float", "double",
];

/// Post-processes one (sub)schema:
/// * optional properties (not in `required`) lose the `null` that schemars adds for `Option`;
/// * non-standard numeric `format`s are dropped, as are the implied type bounds of Rust integers
///   (`maximum: 4294967295`) when no explicit range was given.
fn tidy(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| NUMERIC_FORMATS.contains(&f))
    {
        obj.remove("format");
        let implied_max = [
            u8::MAX as u64,
            u16::MAX as u64,
            u32::MAX as u64,
            u64::MAX,
            i8::MAX as u64,
            i16::MAX as u64,
            i32::MAX as u64,
            i64::MAX as u64,
        ];
        if obj
            .get("maximum")
            .and_then(Value::as_u64)
            .is_some_and(|m| implied_max.contains(&m))
        {
            obj.remove("maximum");
        }
        if obj.get("minimum").and_then(Value::as_i64).is_some_and(|m| {
            [i8::MIN as i64, i16::MIN as i64, i32::MIN as i64, i64::MIN].contains(&m)
        }) {
            obj.remove("minimum");
        }
    }
    if let Some(Value::String(description)) = obj.get_mut("description") {
        *description = unwrap_lines(description);
    }
    let required: Vec<String> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            if !required.contains(name) {
                strip_null(prop);
            }
        }
    }
}

/// Joins the hard-wrapped lines of a doc comment; paragraphs and list items stay on their own
/// lines.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            let mut out = String::new();
            for line in paragraph.lines() {
                let line = line.trim();
                if !out.is_empty() {
                    let list_item = line.starts_with("* ") || line.starts_with("- ");
                    out.push(if list_item { '\n' } else { ' ' });
                }
                out.push_str(line);
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Removes the `null` alternative schemars adds to an `Option` field's schema.
fn strip_null(prop: &mut Value) {
    let Value::Object(obj) = prop else {
        return;
    };
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let single = types.remove(0);
            obj.insert("type".to_owned(), single);
        }
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    let is_null_schema = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    if let Some(Value::Array(branches)) = obj.get_mut("anyOf") {
        if branches.iter().any(is_null_schema) {
            branches.retain(|b| !is_null_schema(b));
            if branches.len() == 1 {
                if let Some(Value::Object(inner)) = branches.pop() {
                    obj.remove("anyOf");
                    for (k, v) in inner {
                        obj.entry(k).or_insert(v);
                    }
                }
            }
        }
    }
}
