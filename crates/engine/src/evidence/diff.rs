//! Field-level differences between two JSON values.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One place where two values differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// A JSON pointer (`/outputs/url`); empty for the whole value.
    pub path: String,
    /// The first value there (`None`: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Value>,
    /// The second value there (`None`: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<Value>,
}

/// Where `left` and `right` differ, leaf by leaf (objects by key, arrays by index), at most
/// `limit` places, in document order. Iterative, so no nesting overflows the stack.
pub fn differences(left: &Value, right: &Value, limit: usize) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut todo: Vec<(String, Option<&Value>, Option<&Value>)> =
        vec![(String::new(), Some(left), Some(right))];
    while let Some((path, l, r)) = todo.pop() {
        if out.len() >= limit {
            break;
        }
        match (l, r) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys.into_iter().rev() {
                    let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                    todo.push((p, a.get(k), b.get(k)));
                }
            }
            (Some(Value::Array(a)), Some(Value::Array(b))) => {
                for i in (0..a.len().max(b.len())).rev() {
                    todo.push((format!("{path}/{i}"), a.get(i), b.get(i)));
                }
            }
            (l, r) if l != r => out.push(Difference {
                path,
                left: l.cloned(),
                right: r.cloned(),
            }),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_leaves_that_differ() {
        let d = differences(
            &json!({"a": 1, "b": {"c": [1, 2]}, "x/y": 0}),
            &json!({"a": 1, "b": {"c": [1, 3, 4]}, "d": true}),
            10,
        );
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/b/c/1", "/b/c/2", "/d", "/x~1y"]);
        assert_eq!(d[2].left, None);
        assert!(differences(&json!([1]), &json!([1]), 10).is_empty());
        assert_eq!(differences(&json!(1), &json!("1"), 10)[0].path, "");
    }
}
