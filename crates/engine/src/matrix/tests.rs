use super::*;
use planspec_model::plan::{Matrix, MatrixAxis};
use proptest::prelude::*;
use serde_json::json;

fn axis(name: &str, values: Value) -> MatrixAxis {
    MatrixAxis {
        name: name.into(),
        values: Some(values.as_array().cloned().unwrap_or_default()),
        ..MatrixAxis::default()
    }
}

fn literal(matrix: &Matrix) -> Vec<ResolvedAxis> {
    resolve_axes(matrix, &Map::new(), |_, _| None).expect("literal axes resolve")
}

fn coordinates(e: &Expansion) -> Vec<Value> {
    e.instances
        .iter()
        .map(|i| Value::Object(i.coordinates.clone()))
        .collect()
}

#[test]
fn the_product_is_in_canonical_order_first_axis_slowest() {
    let m = Matrix {
        axes: vec![
            axis("os", json!(["linux", "mac"])),
            axis("v", json!([1, 2, 3])),
        ],
        ..Matrix::default()
    };
    let e = expand("build", &m, literal(&m), 100).unwrap();
    assert_eq!(
        coordinates(&e),
        [
            json!({"os": "linux", "v": 1}),
            json!({"os": "linux", "v": 2}),
            json!({"os": "linux", "v": 3}),
            json!({"os": "mac", "v": 1}),
            json!({"os": "mac", "v": 2}),
            json!({"os": "mac", "v": 3}),
        ]
    );
    assert_eq!(
        e.instances.iter().map(|i| i.ordinal).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn exclude_removes_matching_instances_then_include_adds_new_ones_in_order() {
    let m = Matrix {
        axes: vec![
            axis("os", json!(["linux", "mac"])),
            axis("v", json!([1, 2])),
        ],
        exclude: vec![json!({"os": "mac", "v": 1}).as_object().cloned().unwrap()],
        include: vec![
            json!({"os": "linux", "v": 1}).as_object().cloned().unwrap(),
            json!({"os": "win", "v": 2}).as_object().cloned().unwrap(),
            json!({"os": "win", "v": 2}).as_object().cloned().unwrap(),
        ],
        ..Matrix::default()
    };
    let e = expand("build", &m, literal(&m), 100).unwrap();
    assert_eq!(
        coordinates(&e),
        [
            json!({"os": "linux", "v": 1}),
            json!({"os": "linux", "v": 2}),
            json!({"os": "mac", "v": 2}),
            json!({"os": "win", "v": 2}),
        ]
    );
    assert_eq!(
        e.excluded,
        [json!({"os": "mac", "v": 1}).as_object().cloned().unwrap()]
    );
    assert_eq!(
        e.included,
        [json!({"os": "win", "v": 2}).as_object().cloned().unwrap()]
    );
    // A partial exclude removes every instance it matches.
    let m = Matrix {
        exclude: vec![json!({"os": "mac"}).as_object().cloned().unwrap()],
        include: Vec::new(),
        ..m
    };
    assert_eq!(
        expand("build", &m, literal(&m), 100)
            .unwrap()
            .instances
            .len(),
        2
    );
}

#[test]
fn instance_ids_are_node_dash_12_hex_from_rfc8785_json() {
    let c = json!({"v": 1, "os": "linux"}).as_object().cloned().unwrap();
    let id = instance_id("build", &c);
    assert_eq!(id.len(), "build-".len() + INSTANCE_ID_HEX);
    assert!(id.starts_with("build-"));
    assert!(id["build-".len()..]
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    // Key order does not matter (RFC 8785 sorts keys); the expected digest is fixed.
    let d = json!({"os": "linux", "v": 1}).as_object().cloned().unwrap();
    assert_eq!(instance_id("build", &d), id);
    let jcs = r#"{"coordinates":{"os":"linux","v":1},"node":"build"}"#;
    let expected: String = Sha256::digest(jcs.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(id, format!("build-{expected}"));
    // Numbers are written the RFC 8785 way: 1.0 is 1.
    let f = json!({"os": "linux", "v": 1.0})
        .as_object()
        .cloned()
        .unwrap();
    assert_eq!(instance_id("build", &f), id);
}

use sha2::{Digest, Sha256};

#[test]
fn the_same_inputs_give_byte_identical_expansions() {
    let m = Matrix {
        axes: vec![
            axis("a", json!(["x", "y", {"k": [1, 2]}])),
            axis("b", json!([true, null, 2.5])),
        ],
        exclude: vec![json!({"b": null}).as_object().cloned().unwrap()],
        ..Matrix::default()
    };
    let one = expand("n", &m, literal(&m), 100).unwrap().manifest();
    let two = expand("n", &m, literal(&m), 100).unwrap().manifest();
    assert_eq!(
        serde_json::to_vec(&one).unwrap(),
        serde_json::to_vec(&two).unwrap()
    );
}

#[test]
fn limits_and_empty_axes_are_refused() {
    let m = Matrix {
        axes: vec![axis("a", json!([1, 2, 3])), axis("b", json!([1, 2, 3]))],
        ..Matrix::default()
    };
    let e = expand("n", &m, literal(&m), 8).unwrap_err();
    assert_eq!(e, ExpandError::TooMany { count: 9, max: 8 });
    assert_eq!(e.reason(), crate::ReasonCode::PlanExpansionLimit);
    assert_eq!(count(&m, &literal(&m), 9), Ok(9));

    // A product too large to enumerate is refused by its size.
    let big: Vec<Value> = (0..1001).map(|i| json!(i)).collect();
    let m = Matrix {
        axes: vec![axis("a", json!(big)), axis("b", json!(big))],
        ..Matrix::default()
    };
    assert_eq!(
        count(&m, &literal(&m), 10_000),
        Err(ExpandError::TooMany {
            count: 1001 * 1001,
            max: 10_000
        })
    );

    let m = Matrix {
        axes: vec![axis("a", json!([]))],
        ..Matrix::default()
    };
    let e = resolve_axes(&m, &Map::new(), |_, _| None).unwrap_err();
    assert!(matches!(e, ExpandError::EmptyAxis { .. }));
    assert_eq!(e.reason(), crate::ReasonCode::MatrixEmpty);

    let m = Matrix {
        axes: vec![axis("a", json!([1]))],
        exclude: vec![json!({"a": 1}).as_object().cloned().unwrap()],
        ..Matrix::default()
    };
    assert_eq!(
        expand("n", &m, literal(&m), 10).unwrap_err(),
        ExpandError::NoInstances
    );

    let m = Matrix {
        axes: vec![axis("a", json!([1, 1]))],
        ..Matrix::default()
    };
    assert_eq!(
        expand("n", &m, literal(&m), 10).unwrap_err().reason(),
        crate::ReasonCode::MatrixInvalid
    );
}

#[test]
fn parameter_and_output_axes_must_be_lists() {
    let m = Matrix {
        axes: vec![
            MatrixAxis {
                name: "env".into(),
                parameter: Some("envs".into()),
                ..MatrixAxis::default()
            },
            MatrixAxis {
                name: "shard".into(),
                from_output: Some(
                    serde_json::from_value(json!({"node": "plan", "output": "shards"})).unwrap(),
                ),
                ..MatrixAxis::default()
            },
        ],
        ..Matrix::default()
    };
    let params = json!({"envs": ["dev", "prod"]})
        .as_object()
        .cloned()
        .unwrap();
    let shards = json!([0, 1, 2]);
    let axes = resolve_axes(&m, &params, |n, o| {
        (n == "plan" && o == "shards").then_some(&shards)
    })
    .unwrap();
    assert_eq!(axes[0].values, [json!("dev"), json!("prod")]);
    assert_eq!(
        axes[1].source,
        json!({"fromOutput": {"node": "plan", "output": "shards"}})
    );
    assert_eq!(expand("n", &m, axes, 100).unwrap().instances.len(), 6);

    let bad = json!({"envs": "dev"}).as_object().cloned().unwrap();
    let e = resolve_axes(&m, &bad, |_, _| Some(&shards)).unwrap_err();
    assert_eq!(e.reason(), crate::ReasonCode::MatrixInvalid);
    assert!(e.to_string().contains("not a list"), "{e}");
    let e = resolve_axes(&m, &params, |_, _| None).unwrap_err();
    assert!(e.to_string().contains("has no output `shards`"), "{e}");
    let empty = json!({"envs": []}).as_object().cloned().unwrap();
    assert_eq!(
        resolve_axes(&m, &empty, |_, _| Some(&shards))
            .unwrap_err()
            .reason(),
        crate::ReasonCode::MatrixEmpty
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random axes: the expansion is deterministic, in canonical order, its ids are unique
    /// and well-formed, and its size is the product minus the excluded.
    #[test]
    fn expansion_is_deterministic_ordered_and_unique(
        sizes in prop::collection::vec(1usize..5, 1..4),
        exclude_first in any::<bool>(),
    ) {
        let axes: Vec<MatrixAxis> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| axis(&format!("a{k}"), json!((0..n).map(|v| json!(format!("v{v}"))).collect::<Vec<_>>())))
            .collect();
        let exclude = if exclude_first {
            vec![json!({"a0": "v0"}).as_object().cloned().unwrap()]
        } else {
            Vec::new()
        };
        let m = Matrix { axes, exclude, ..Matrix::default() };
        let product: usize = sizes.iter().product();
        match expand("node", &m, literal(&m), 1000) {
            Ok(one) => {
                let two = expand("node", &m, literal(&m), 1000).unwrap();
                prop_assert_eq!(
                    serde_json::to_vec(&one.manifest()).unwrap(),
                    serde_json::to_vec(&two.manifest()).unwrap()
                );
                let removed = if exclude_first { product / sizes[0] } else { 0 };
                prop_assert_eq!(one.instances.len(), product - removed);
                let ids: std::collections::HashSet<_> = one.instances.iter().map(|i| i.id.clone()).collect();
                prop_assert_eq!(ids.len(), one.instances.len());
                // Canonical order: the coordinates' value indices increase lexicographically.
                let keys: Vec<Vec<String>> = one.instances.iter().map(|i| {
                    i.coordinates.values().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
                }).collect();
                let mut sorted = keys.clone();
                sorted.sort();
                prop_assert_eq!(keys, sorted);
            }
            Err(e) => {
                prop_assert!(exclude_first && sizes[0] == 1);
                prop_assert_eq!(e, ExpandError::NoInstances);
            }
        }
    }
}

/// A product with `exclude` entries is not enumerated to the end once it passes the limit:
/// enumeration stops at the first combination over it (no million maps built and matched),
/// and running (unlike the manifest) collects no excluded combinations.
#[test]
fn a_large_product_stops_at_the_limit_and_running_skips_excluded() {
    let big: Vec<Value> = (0..1000).map(|i| json!(i)).collect();
    let m = Matrix {
        axes: vec![axis("a", json!(big)), axis("b", json!(big))],
        exclude: vec![json!({"a": 0}).as_object().cloned().unwrap()],
        ..Matrix::default()
    };
    assert_eq!(
        count(&m, &literal(&m), 10_000),
        Err(ExpandError::TooMany {
            count: 10_001,
            max: 10_000
        })
    );
    let m = Matrix {
        axes: vec![axis("a", json!([1, 2, 3])), axis("b", json!([1, 2]))],
        exclude: vec![json!({"a": 2}).as_object().cloned().unwrap()],
        ..Matrix::default()
    };
    let running = expand::expand_with("n", &m, literal(&m), 100, false).unwrap();
    assert!(running.excluded.is_empty());
    let manifest = expand("n", &m, literal(&m), 100).unwrap();
    assert_eq!(manifest.excluded.len(), 2);
    assert_eq!(running.instances, manifest.instances);
    assert_eq!(running.digest(), manifest.digest());
}
