//! Property tests: patches and tables never panic on any input, patched objects keep their
//! identity, and merge patches agree with a plain RFC 7386 implementation.

use planspec_server::patch::{apply_patch, PatchError, PatchType, IMMUTABLE_FIELDS};
use planspec_server::table::{self, IncludeObject, TableOptions};
use planspec_server::{ListMeta, ResourceType};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const KEYS: [&str; 12] = [
    "metadata",
    "spec",
    "status",
    "name",
    "namespace",
    "uid",
    "phase",
    "a",
    "0",
    "-",
    "",
    "~1",
];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS.to_vec()).prop_map(String::from)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec!["", "x", "Running", "2026-02-04T11:00:00Z", "p"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn target() -> impl Strategy<Value = Value> {
    json_value().prop_map(|extra| {
        let mut base = json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"a": [1, 2, {"b": null}]}
        });
        if let Value::Object(m) = extra {
            for (k, v) in m {
                base["spec"][k] = v;
            }
        }
        base
    })
}

fn pointer() -> impl Strategy<Value = String> {
    prop::collection::vec(key(), 0..4)
        .prop_map(|segments| segments.iter().map(|s| format!("/{s}")).collect::<String>())
}

fn operation() -> impl Strategy<Value = Value> {
    let op = prop::sample::select(vec![
        "add", "remove", "replace", "move", "copy", "test", "bogus",
    ]);
    (op, pointer(), pointer(), json_value(), any::<bool>()).prop_map(
        |(op, path, from, value, with_value)| {
            let mut o = json!({"op": op, "path": path});
            if matches!(op, "move" | "copy") {
                o["from"] = json!(from);
            }
            if with_value || matches!(op, "add" | "replace" | "test") {
                o["value"] = value;
            }
            o
        },
    )
}

/// RFC 7386, section 2, written out.
fn naive_merge(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut t = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            let merged = naive_merge(t.get(k).unwrap_or(&Value::Null), v);
            t.insert(k.clone(), merged);
        }
    }
    Value::Object(t)
}

fn identity_kept(before: &Value, after: &Value) -> bool {
    IMMUTABLE_FIELDS
        .iter()
        .all(|(p, _)| before.pointer(p) == after.pointer(p))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_patches_never_panic(target in target(), ops in prop::collection::vec(operation(), 0..6)) {
        let body = serde_json::to_vec(&ops).unwrap();
        match apply_patch(PatchType::Json, &target, &body) {
            Ok(out) => {
                prop_assert!(out.is_object());
                prop_assert!(identity_kept(&target, &out));
            }
            Err(e) => {
                let status = e.to_status(ResourceType::Namespace, "p");
                prop_assert!(matches!(status.code, 400 | 413 | 422), "{:?}", e);
            }
        }
    }

    #[test]
    fn merge_patches_follow_rfc7386(target in target(), patch in json_value()) {
        let body = serde_json::to_vec(&patch).unwrap();
        match apply_patch(PatchType::Merge, &target, &body) {
            Ok(out) => {
                prop_assert_eq!(&out, &naive_merge(&target, &patch));
                prop_assert!(identity_kept(&target, &out));
            }
            Err(PatchError::MergePatchNotObject(_)) => prop_assert!(!patch.is_object()),
            Err(PatchError::Immutable(_)) => {
                prop_assert!(!identity_kept(&target, &naive_merge(&target, &patch)));
            }
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
    }

    #[test]
    fn any_body_is_handled(target in target(), body in prop::collection::vec(any::<u8>(), 0..64)) {
        for t in [PatchType::Json, PatchType::Merge] {
            if let Err(e) = apply_patch(t, &target, &body) {
                let _ = e.to_status(ResourceType::Namespace, "p");
            }
        }
    }

    #[test]
    fn tables_never_panic(object in json_value(), other in target(), secs in any::<i64>()) {
        let now = OffsetDateTime::parse("2026-02-04T12:00:00Z", &Rfc3339).unwrap()
            + time::Duration::seconds(secs % 10_000_000_000);
        for resource in ResourceType::ALL {
            let t = table::table(
                resource,
                [&object, &other],
                now,
                TableOptions { include_object: IncludeObject::Object, no_headers: false },
                ListMeta::default(),
            );
            for row in &t.rows {
                prop_assert_eq!(row.cells.len(), t.column_definitions.len());
            }
            let _ = serde_json::to_string(&t).unwrap();
        }
    }
}
