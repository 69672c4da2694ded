//! PATCH bodies: JSON merge patch (RFC 7386, `application/merge-patch+json`) and JSON patch
//! (RFC 6902, `application/json-patch+json`), applied to a stored object.
//!
//! [`apply_patch`] parses the body, applies it to a copy of the object and checks that the
//! identity of the object (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`,
//! `metadata.uid`) did not change. Errors ([`PatchError`]) map to the `Status` Kubernetes
//! sends ([`PatchError::to_status`]): 400 for a malformed patch, 413 for one that is too big,
//! 422 for one that does not apply or changes the identity.
//!
//! Limits guard the server: at most [`PatchLimits::max_operations`] JSON patch operations (as
//! Kubernetes), and at most [`PatchLimits::max_copied_bytes`] copied by `copy` operations, so a
//! short patch cannot blow up an object by copying it into itself again and again.

use crate::resource::ResourceType;
use crate::status::{cause, Status, StatusCause};
use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::Value;
use std::io;

/// `Content-Type` of a JSON merge patch.
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// `Content-Type` of a JSON patch.
pub const JSON_PATCH: &str = "application/json-patch+json";
/// `Content-Type` of a strategic merge patch (built-in Kubernetes types only; not supported,
/// as for Kubernetes custom resources).
pub const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";
/// `Content-Type` of a server-side apply (the HTTP layer sends it to `Api::apply`, not to
/// [`apply_patch`]: it is not a patch of the stored object but a configuration to merge).
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";
/// The patch media types supported, for error messages.
pub const SUPPORTED_PATCH_TYPES: [&str; 3] = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH];

/// The fields a patch may not change, as JSON pointers and as field paths.
pub const IMMUTABLE_FIELDS: [(&str, &str); 5] = [
    ("/apiVersion", "apiVersion"),
    ("/kind", "kind"),
    ("/metadata/name", "metadata.name"),
    ("/metadata/namespace", "metadata.namespace"),
    ("/metadata/uid", "metadata.uid"),
];

/// The kind of a PATCH body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch.
    Merge,
    /// RFC 6902 JSON patch.
    Json,
}

impl PatchType {
    /// The patch type of a `Content-Type` header (parameters such as `charset` are ignored);
    /// anything else is a 415 `Status` listing the supported types.
    pub fn from_content_type(content_type: &str) -> Result<PatchType, Status> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            MERGE_PATCH => Ok(PatchType::Merge),
            JSON_PATCH => Ok(PatchType::Json),
            _ => Err(Status::unsupported_media_type(
                content_type,
                &SUPPORTED_PATCH_TYPES,
            )),
        }
    }

    /// The media type (`application/merge-patch+json` …).
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Merge => MERGE_PATCH,
            PatchType::Json => JSON_PATCH,
        }
    }
}

/// Limits on what a patch may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchLimits {
    /// Most operations in a JSON patch (Kubernetes: 10,000).
    pub max_operations: usize,
    /// Most bytes (as compact JSON) all `copy` operations of one patch may copy together.
    pub max_copied_bytes: usize,
}

impl Default for PatchLimits {
    fn default() -> Self {
        PatchLimits {
            max_operations: 10_000,
            max_copied_bytes: 3 * 1024 * 1024,
        }
    }
}

/// A field whose value a patch tried to change.
#[derive(Debug, Clone, PartialEq)]
pub struct ImmutableChange {
    /// The field path, e.g. `metadata.name`.
    pub field: &'static str,
    /// The value before the patch (`None`: absent).
    pub before: Option<Value>,
    /// The value the patch would give it (`None`: removed).
    pub after: Option<Value>,
}

/// Why a patch cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The body is not JSON.
    #[error("the patch is not valid JSON: {0}")]
    Malformed(String),
    /// A merge patch that is not a JSON object (it would replace the whole object).
    #[error("a merge patch must be a JSON object, not {0}")]
    MergePatchNotObject(&'static str),
    /// A JSON patch that is not an array of operations.
    #[error("a JSON patch must be an array of operations such as {{\"op\": \"replace\", \"path\": \"/spec/priority\", \"value\": 5}}: {0}")]
    InvalidJsonPatch(String),
    /// More operations than [`PatchLimits::max_operations`].
    #[error("the JSON patch has {count} operations; at most {limit} are allowed")]
    TooManyOperations {
        /// Operations in the patch.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `copy` operations together copy more than [`PatchLimits::max_copied_bytes`].
    #[error("the JSON patch copies more than {limit} bytes (at operation {index})")]
    CopyLimit {
        /// Index of the operation that went over.
        index: usize,
        /// The limit.
        limit: usize,
    },
    /// A JSON patch operation failed (a `test` did not match, a path does not exist …).
    #[error("JSON patch operation {index} (`{op}` at `{path}`) failed: {reason}")]
    OperationFailed {
        /// Index of the operation, from 0.
        index: usize,
        /// `add`, `remove`, `replace`, `move`, `copy` or `test`.
        op: &'static str,
        /// The operation's `path` (a JSON pointer).
        path: String,
        /// What went wrong.
        reason: &'static str,
    },
    /// The patched document is not a JSON object.
    #[error("the patched document is not a JSON object")]
    ResultNotObject,
    /// The patch changes fields that identify the object.
    #[error("the patch changes immutable fields: {}", .0.iter().map(|c| c.field).collect::<Vec<_>>().join(", "))]
    Immutable(Vec<ImmutableChange>),
}

impl PatchError {
    /// The `Status` to answer with, for the object `name` of type `resource`.
    pub fn to_status(&self, resource: ResourceType, name: &str) -> Status {
        match self {
            PatchError::Malformed(_)
            | PatchError::MergePatchNotObject(_)
            | PatchError::InvalidJsonPatch(_) => Status::bad_request(self.to_string()),
            PatchError::TooManyOperations { .. } | PatchError::CopyLimit { .. } => {
                Status::request_entity_too_large(self.to_string())
            }
            PatchError::OperationFailed {
                index,
                op,
                path,
                reason,
            } => Status::invalid_causes(
                resource,
                name,
                vec![StatusCause::new(
                    cause::FIELD_VALUE_INVALID,
                    pointer_to_field(path),
                    format!("JSON patch operation {index} (`{op}` at `{path}`) failed: {reason}"),
                )],
            ),
            PatchError::ResultNotObject => Status::invalid_causes(
                resource,
                name,
                vec![StatusCause::new(
                    cause::FIELD_VALUE_TYPE_INVALID,
                    "",
                    "the patched document is not a JSON object",
                )],
            ),
            PatchError::Immutable(changes) => Status::invalid_causes(
                resource,
                name,
                changes
                    .iter()
                    .map(|c| {
                        let after = c
                            .after
                            .as_ref()
                            .map_or_else(|| "<removed>".to_owned(), Value::to_string);
                        StatusCause::new(
                            cause::FIELD_VALUE_INVALID,
                            c.field,
                            format!("Invalid value: {after}: field is immutable"),
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// Applies a PATCH body of `patch_type` to `target` with the default [`PatchLimits`] and
/// returns the patched object. `target` is not modified.
pub fn apply_patch(
    patch_type: PatchType,
    target: &Value,
    body: &[u8],
) -> Result<Value, PatchError> {
    apply_patch_with(PatchLimits::default(), patch_type, target, body)
}

/// [`apply_patch`] with explicit limits.
pub fn apply_patch_with(
    limits: PatchLimits,
    patch_type: PatchType,
    target: &Value,
    body: &[u8],
) -> Result<Value, PatchError> {
    let patched = match patch_type {
        PatchType::Merge => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| PatchError::Malformed(e.to_string()))?;
            apply_merge_patch(target, &patch)?
        }
        PatchType::Json => {
            let raw: Value =
                serde_json::from_slice(body).map_err(|e| PatchError::Malformed(e.to_string()))?;
            let count = raw.as_array().map_or(0, Vec::len);
            if count > limits.max_operations {
                return Err(PatchError::TooManyOperations {
                    count,
                    limit: limits.max_operations,
                });
            }
            let ops: Vec<PatchOperation> = serde_json::from_value(raw)
                .map_err(|e| PatchError::InvalidJsonPatch(e.to_string()))?;
            apply_json_patch_with(limits, target, &ops)?
        }
    };
    check_immutable(target, &patched)?;
    Ok(patched)
}

/// Applies an RFC 7386 merge patch, which must be a JSON object, to a copy of `target`.
pub fn apply_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::MergePatchNotObject(type_name(patch)));
    }
    let mut doc = target.clone();
    json_patch::merge(&mut doc, patch);
    Ok(doc)
}

/// Applies RFC 6902 operations to a copy of `target` with the default [`PatchLimits`].
pub fn apply_json_patch(target: &Value, ops: &[PatchOperation]) -> Result<Value, PatchError> {
    apply_json_patch_with(PatchLimits::default(), target, ops)
}

/// [`apply_json_patch`] with explicit limits. The result must be a JSON object.
pub fn apply_json_patch_with(
    limits: PatchLimits,
    target: &Value,
    ops: &[PatchOperation],
) -> Result<Value, PatchError> {
    if ops.len() > limits.max_operations {
        return Err(PatchError::TooManyOperations {
            count: ops.len(),
            limit: limits.max_operations,
        });
    }
    let mut doc = target.clone();
    let mut copied = 0usize;
    for (index, op) in ops.iter().enumerate() {
        if let PatchOperation::Copy(copy) = op {
            if let Some(source) = doc.pointer(copy.from.as_str()) {
                let budget = limits.max_copied_bytes - copied;
                match json_size_within(source, budget) {
                    Some(n) => copied += n,
                    None => {
                        return Err(PatchError::CopyLimit {
                            index,
                            limit: limits.max_copied_bytes,
                        })
                    }
                }
            }
        }
        // One operation at a time on our own copy: nothing to roll back on failure (the
        // crate's rollback of a multi-operation patch can itself fail and panic).
        json_patch::patch_unsafe(&mut doc, std::slice::from_ref(op)).map_err(|e| {
            PatchError::OperationFailed {
                index,
                op: op_name(op),
                path: op.path().to_string(),
                reason: match e.kind {
                    PatchErrorKind::TestFailed => "the value is not the one the test expects",
                    PatchErrorKind::InvalidFromPointer => "the `from` path does not exist",
                    PatchErrorKind::InvalidPointer => "the path does not exist",
                    PatchErrorKind::CannotMoveInsideItself => "a value cannot be moved into itself",
                    _ => "the operation does not apply",
                },
            }
        })?;
    }
    if !doc.is_object() {
        return Err(PatchError::ResultNotObject);
    }
    Ok(doc)
}

/// Fails with [`PatchError::Immutable`] if `after` differs from `before` in any of
/// [`IMMUTABLE_FIELDS`].
pub fn check_immutable(before: &Value, after: &Value) -> Result<(), PatchError> {
    let changes: Vec<ImmutableChange> = IMMUTABLE_FIELDS
        .iter()
        .filter_map(|(pointer, field)| {
            let (b, a) = (before.pointer(pointer), after.pointer(pointer));
            (b != a).then(|| ImmutableChange {
                field,
                before: b.cloned(),
                after: a.cloned(),
            })
        })
        .collect();
    if changes.is_empty() {
        Ok(())
    } else {
        Err(PatchError::Immutable(changes))
    }
}

/// A strategic merge patch read as a JSON merge patch: its directives (keys starting with
/// `$`: `$patch`, `$retainKeys`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…`) removed.
///
/// Only for namespaces, whose writable fields (labels, annotations) are maps, where the two
/// kinds of patch agree; kubectl sends strategic merge patches for core types. The PlanSpec
/// kinds answer `415` to them, as Kubernetes custom resources do, and kubectl falls back to a
/// merge patch.
pub fn strategic_as_merge_patch(body: &[u8]) -> Vec<u8> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| !k.starts_with('$'));
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            strip(&mut v);
            serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
        }
        Err(_) => body.to_vec(),
    }
}

/// `/spec/graph/nodes/0/id` → `spec.graph.nodes[0].id` (the field path style of causes).
pub fn pointer_to_field(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The size of `v` as compact JSON if it is at most `budget` bytes; stops counting (without
/// serialising the rest) as soon as it is over.
fn json_size_within(v: &Value, budget: usize) -> Option<usize> {
    struct Counter {
        n: usize,
        budget: usize,
    }
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.n += buf.len();
            if self.n > self.budget {
                Err(io::Error::other("over budget"))
            } else {
                Ok(buf.len())
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { n: 0, budget };
    serde_json::to_writer(&mut counter, v).ok()?;
    Some(counter.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_directives_are_dropped() {
        let patch = br#"{"metadata":{"labels":{"a":"1","$patch":"merge"},"$setElementOrder/finalizers":["x"]}}"#;
        let out: Value = serde_json::from_slice(&strategic_as_merge_patch(patch)).unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {"a": "1"}}}));
        assert_eq!(strategic_as_merge_patch(b"{"), b"{");
    }
    use crate::status::Reason;
    use planspec_model::Kind;
    use serde_json::json;

    const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);

    fn plan() -> Value {
        json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "p", "namespace": "default", "uid": "u1",
                         "resourceVersion": "3", "labels": {"a": "1", "b": "2"}},
            "spec": {"description": "d", "graph": {"nodes": [{"id": "x"}, {"id": "y"}]}}
        })
    }

    fn merge(body: Value) -> Result<Value, PatchError> {
        apply_patch(PatchType::Merge, &plan(), body.to_string().as_bytes())
    }

    fn json_patch(body: Value) -> Result<Value, PatchError> {
        apply_patch(PatchType::Json, &plan(), body.to_string().as_bytes())
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json").unwrap(),
            PatchType::Merge
        );
        assert_eq!(
            PatchType::from_content_type("Application/JSON-Patch+JSON; charset=utf-8").unwrap(),
            PatchType::Json
        );
        for unsupported in [STRATEGIC_MERGE_PATCH, APPLY_PATCH, "application/json", ""] {
            let s = PatchType::from_content_type(unsupported).unwrap_err();
            assert_eq!(s.code, 415);
            assert!(s.message.contains(MERGE_PATCH), "{}", s.message);
        }
        assert_eq!(PatchType::Merge.media_type(), MERGE_PATCH);
    }

    #[test]
    fn merge_patch_rfc7386() {
        let out = merge(json!({
            "metadata": {"labels": {"a": null, "c": "3"}},
            "spec": {"description": "new", "graph": {"nodes": [{"id": "z"}]}, "series": "s"}
        }))
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(out["spec"]["description"], "new");
        assert_eq!(out["spec"]["graph"]["nodes"], json!([{"id": "z"}]));
        assert_eq!(out["spec"]["series"], "s");
        assert_eq!(out["metadata"]["uid"], "u1");
        // Setting an immutable field to its current value is fine.
        assert!(merge(json!({"metadata": {"name": "p", "resourceVersion": "3"}})).is_ok());
        assert_eq!(merge(json!({})).unwrap(), plan());
    }

    #[test]
    fn json_patch_rfc6902() {
        let out = json_patch(json!([
            {"op": "test", "path": "/spec/description", "value": "d"},
            {"op": "replace", "path": "/spec/description", "value": "e"},
            {"op": "add", "path": "/spec/graph/nodes/-", "value": {"id": "z"}},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"},
            {"op": "move", "from": "/spec/graph/nodes/0", "path": "/spec/first"}
        ]))
        .unwrap();
        assert_eq!(out["spec"]["description"], "e");
        assert_eq!(
            out["spec"]["graph"]["nodes"],
            json!([{"id": "y"}, {"id": "z"}])
        );
        assert_eq!(out["spec"]["first"], json!({"id": "x"}));
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(out["metadata"]["annotations"], json!({"b": "2"}));
        assert_eq!(json_patch(json!([])).unwrap(), plan());
    }

    #[test]
    fn malformed_patches_are_bad_requests() {
        let cases: [(PatchType, &[u8]); 6] = [
            (PatchType::Merge, b"{"),
            (PatchType::Merge, b"[1]"),
            (PatchType::Merge, b"null"),
            (PatchType::Json, b"{\"op\": \"add\"}"),
            (
                PatchType::Json,
                b"[{\"op\": \"frobnicate\", \"path\": \"/a\"}]",
            ),
            (
                PatchType::Json,
                b"[{\"op\": \"add\", \"path\": \"no-slash\", \"value\": 1}]",
            ),
        ];
        for (t, body) in cases {
            let e = apply_patch(t, &plan(), body).unwrap_err();
            let s = e.to_status(PLAN, "p");
            assert_eq!(s.code, 400, "{e}");
            assert_eq!(s.reason, Some(Reason::BadRequest));
        }
        let e = apply_patch(PatchType::Merge, &plan(), b"[1]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a merge patch must be a JSON object, not an array"
        );
        // Nesting beyond serde_json's limit is refused, not a stack overflow.
        let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(
            apply_patch(PatchType::Merge, &plan(), deep.as_bytes()),
            Err(PatchError::Malformed(_))
        ));
    }

    #[test]
    fn failing_operations_are_invalid() {
        let e = json_patch(json!([
            {"op": "replace", "path": "/spec/description", "value": "e"},
            {"op": "test", "path": "/spec/graph/nodes/1/id", "value": "nope"}
        ]))
        .unwrap_err();
        assert_eq!(
            e,
            PatchError::OperationFailed {
                index: 1,
                op: "test",
                path: "/spec/graph/nodes/1/id".into(),
                reason: "the value is not the one the test expects"
            }
        );
        let s = serde_json::to_value(e.to_status(PLAN, "p")).unwrap();
        assert_eq!(s["code"], 422);
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.graph.nodes[1].id");
        let e = json_patch(json!([{"op": "remove", "path": "/spec/missing"}])).unwrap_err();
        assert!(matches!(
            e,
            PatchError::OperationFailed {
                reason: "the path does not exist",
                ..
            }
        ));
        let e = json_patch(json!([{"op": "move", "from": "/spec", "path": "/spec/inner"}]))
            .unwrap_err();
        assert!(matches!(e, PatchError::OperationFailed { op: "move", .. }));
        let e = json_patch(json!([{"op": "replace", "path": "", "value": [1]}])).unwrap_err();
        assert_eq!(e, PatchError::ResultNotObject);
        assert_eq!(e.to_status(PLAN, "p").code, 422);
    }

    #[test]
    fn a_failed_rollback_does_not_panic() {
        // json-patch's own rollback of this patch would panic (undoing a move to the root).
        let e = json_patch(json!([
            {"op": "move", "from": "/spec", "path": ""},
            {"op": "test", "path": "/nope", "value": 1}
        ]))
        .unwrap_err();
        assert!(matches!(e, PatchError::OperationFailed { index: 1, .. }));
    }

    #[test]
    fn identity_is_immutable() {
        let cases = [
            (json!({"metadata": {"name": "q"}}), "metadata.name"),
            (
                json!({"metadata": {"namespace": null}}),
                "metadata.namespace",
            ),
            (json!({"metadata": {"uid": "u2"}}), "metadata.uid"),
            (json!({"kind": "Goal"}), "kind"),
            (json!({"apiVersion": "v1"}), "apiVersion"),
        ];
        for (patch, field) in cases {
            let e = merge(patch).unwrap_err();
            let PatchError::Immutable(changes) = &e else {
                panic!("{e:?}")
            };
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].field, field);
            let s = e.to_status(PLAN, "p");
            assert_eq!(s.code, 422);
            assert_eq!(s.details.as_ref().unwrap().causes[0].field, field);
        }
        let e = json_patch(json!([
            {"op": "replace", "path": "/metadata/name", "value": "q"},
            {"op": "remove", "path": "/metadata/uid"}
        ]))
        .unwrap_err();
        let s = serde_json::to_value(e.to_status(PLAN, "p")).unwrap();
        assert_eq!(
            s["message"],
            "Plan.planspec.io \"p\" is invalid: [metadata.name: Invalid value: \"q\": field is immutable, metadata.uid: Invalid value: <removed>: field is immutable]"
        );
    }

    #[test]
    fn limits() {
        let ops: Vec<Value> = (0..10_001)
            .map(|_| json!({"op": "test", "path": "/kind", "value": "Plan"}))
            .collect();
        let e = json_patch(Value::Array(ops)).unwrap_err();
        assert!(matches!(
            e,
            PatchError::TooManyOperations {
                count: 10_001,
                limit: 10_000
            }
        ));
        assert_eq!(e.to_status(PLAN, "p").code, 413);

        // Doubling the object with every copy is stopped early.
        let doubling: Vec<Value> = (0..64)
            .map(|i| json!({"op": "copy", "from": "/spec", "path": format!("/spec/c{i}")}))
            .collect();
        let e = json_patch(Value::Array(doubling)).unwrap_err();
        assert!(matches!(e, PatchError::CopyLimit { .. }), "{e:?}");
        assert_eq!(e.to_status(PLAN, "p").code, 413);
        let small = PatchLimits {
            max_operations: 2,
            max_copied_bytes: 10,
        };
        let ops: Vec<PatchOperation> = serde_json::from_value(json!([
            {"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"}
        ]))
        .unwrap();
        assert!(apply_json_patch_with(small, &plan(), &ops).is_err());
        let big = PatchLimits {
            max_copied_bytes: 17,
            ..small
        };
        assert!(apply_json_patch_with(big, &plan(), &ops).is_ok());
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(
            pointer_to_field("/spec/graph/nodes/0/id"),
            "spec.graph.nodes[0].id"
        );
        assert_eq!(pointer_to_field(""), "");
        assert_eq!(
            pointer_to_field("/metadata/labels/a~1b"),
            "metadata.labels.a/b"
        );
        assert_eq!(pointer_to_field("/0"), "[0]");
    }
}
