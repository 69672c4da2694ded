//! JSON ↔ CEL values. Runs on the evaluator thread (both directions recurse per nesting level).

use cel::objects::{Key, Map};
use cel::Value as CelValue;
use serde_json::{Number, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A JSON value as a CEL value: integers that fit `i64` are `int`, larger ones `uint`, others
/// `double`; objects are maps with string keys.
pub(super) fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                CelValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                CelValue::UInt(u)
            } else {
                CelValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let entries: HashMap<Key, CelValue> = map
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            CelValue::Map(Map {
                map: Arc::new(entries),
            })
        }
    }
}

/// A CEL value as JSON. Map keys are written as strings and sorted, so the result does not
/// depend on hash order. Bytes, types, functions and non-finite numbers have no JSON form.
pub(super) fn to_json(value: &CelValue) -> Result<Value, String> {
    Ok(match value {
        CelValue::Null => Value::Null,
        CelValue::Bool(b) => Value::Bool(*b),
        CelValue::Int(i) => Value::from(*i),
        CelValue::UInt(u) => Value::from(*u),
        CelValue::Float(f) => Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("the number {f} has no JSON form"))?,
        CelValue::String(s) => Value::String(s.as_ref().clone()),
        CelValue::List(items) => Value::Array(
            items
                .iter()
                .map(to_json)
                .collect::<Result<Vec<_>, String>>()?,
        ),
        CelValue::Map(map) => {
            let mut entries: Vec<(String, Value)> = map
                .map
                .iter()
                .map(|(k, v)| Ok((key_text(k), to_json(v)?)))
                .collect::<Result<_, String>>()?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = serde_json::Map::with_capacity(entries.len());
            for (k, v) in entries {
                out.insert(k, v);
            }
            Value::Object(out)
        }
        other => {
            return Err(format!(
                "a value of type {} has no JSON form",
                other.type_of()
            ))
        }
    })
}

fn key_text(key: &Key) -> String {
    match key {
        Key::String(s) => s.as_ref().clone(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json() {
        let v = json!({"a": [1, -2, 1.5, "x", true, null, {"b": 18446744073709551615u64}]});
        assert_eq!(to_json(&to_cel(&v)).unwrap(), v);
    }

    #[test]
    fn map_keys_come_out_sorted() {
        let v = json!({"z": 1, "a": 2, "m": 3});
        let out = to_json(&to_cel(&v)).unwrap();
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "m", "z"]);
    }

    #[test]
    fn bytes_have_no_json_form() {
        assert!(to_json(&CelValue::Bytes(Arc::new(vec![1]))).is_err());
        assert!(to_json(&CelValue::Float(f64::NAN)).is_err());
    }
}
