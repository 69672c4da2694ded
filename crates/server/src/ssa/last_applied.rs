//! Moving from kubectl's client-side apply to server-side apply, as the Kubernetes API
//! server allows it.
//!
//! `kubectl apply` (client-side) records what it applied in the annotation
//! [`LAST_APPLIED`] and writes as the manager `kubectl-client-side-apply` (`Update`). When
//! `kubectl apply --server-side` (manager [`KUBECTL`]) then applies to the same object, its
//! conflicts with fields that still hold the value the annotation says client-side apply set
//! are not conflicts ([`allowed_conflicts`]): the user is applying the same configuration the
//! other way. And while the object keeps that annotation, server-side apply by `kubectl`
//! keeps it up to date ([`with_last_applied`]), so a later client-side apply still works.

use super::fieldset::{FieldSet, PathElement};
use super::schema::Scope;
use super::value::field_set;
use serde_json::Value;

/// The annotation of kubectl's client-side apply.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The field manager of `kubectl apply --server-side`.
pub const KUBECTL: &str = "kubectl";

/// The last configuration client-side apply applied to `live`, if it has one.
fn last_applied(live: &Value) -> Option<Value> {
    let text = live
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    serde_json::from_str(text).ok()
}

/// The fields of the last client-side apply that still hold the value it set, within `scope`
/// (`None` without the annotation).
pub fn allowed_conflicts(live: &Value, scope: Scope) -> Option<FieldSet> {
    let last = last_applied(live)?;
    let mut allowed = FieldSet::new();
    for path in field_set(&last, scope).paths() {
        if let (Some(a), Some(b)) = (value_at(live, &path), value_at(&last, &path)) {
            if a == b {
                allowed.insert(&path);
            }
        }
    }
    Some(allowed)
}

/// `merged` with the annotation set to `config` when `live` has it (the Kubernetes
/// `lastAppliedUpdater`), otherwise unchanged.
pub fn with_last_applied(live: &Value, mut merged: Value, config: &Value) -> Value {
    if last_applied(live).is_none() {
        return merged;
    }
    let mut applied = config.clone();
    if let Some(annotations) = applied
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    if let Some(annotations) = merged
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.insert(LAST_APPLIED.to_owned(), Value::String(applied.to_string()));
    }
    merged
}

/// The value at `path` in `value`.
pub fn value_at<'a>(value: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut at = value;
    for element in path {
        at = match element {
            PathElement::Field(name) => at.as_object()?.get(name)?,
            PathElement::Index(i) => at.as_array()?.get(*i)?,
            PathElement::Value(json) => {
                let wanted: Value = serde_json::from_str(json).ok()?;
                at.as_array()?.iter().find(|item| **item == wanted)?
            }
            PathElement::Key(json) => {
                let Value::Object(keys) = serde_json::from_str::<Value>(json).ok()? else {
                    return None;
                };
                at.as_array()?.iter().find(|item| {
                    keys.iter()
                        .all(|(k, v)| item.get(k).is_some_and(|actual| actual == v))
                })?
            }
        };
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssa::display_path;
    use serde_json::json;

    #[test]
    fn unchanged_client_side_fields_may_be_taken() {
        let last = json!({"spec": {"description": "one", "graph": {"nodes": [{"id": "a", "kind": "Task"}]}}});
        let live = json!({
            "metadata": {"annotations": {LAST_APPLIED: last.to_string()}},
            "spec": {"description": "edited", "graph": {"nodes": [{"id": "a", "kind": "Task"}]}}
        });
        let allowed = allowed_conflicts(&live, Scope::Main).unwrap();
        let paths: Vec<String> = allowed.paths().iter().map(|p| display_path(p)).collect();
        assert_eq!(
            paths,
            [
                ".spec.graph.nodes[id=\"a\"]",
                ".spec.graph.nodes[id=\"a\"].id",
                ".spec.graph.nodes[id=\"a\"].kind"
            ]
        );
        assert!(allowed_conflicts(&json!({"spec": {}}), Scope::Main).is_none());
        let config = json!({"spec": {"description": "two"}});
        let merged = with_last_applied(&live, live.clone(), &config);
        assert_eq!(
            merged["metadata"]["annotations"][LAST_APPLIED],
            config.to_string()
        );
        assert_eq!(with_last_applied(&config, config.clone(), &live), config);
    }
}
