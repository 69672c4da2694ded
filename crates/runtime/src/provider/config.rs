//! Strict reading of a Binding target's free-form `config`.
//!
//! Configuration may carry secrets (headers, tokens, command lines), so errors name the field
//! and the expected type but never echo a value. Unknown fields are rejected so a typo does not
//! silently change what runs.

use std::collections::BTreeMap;
use std::time::Duration;

use planspec_model::common::parse_go_duration;
use planspec_model::provider::SecretRef;
use serde_json::{Map, Value};

use crate::outputs::json_type;

/// A problem with a provider's configuration or URI. Never contains configuration values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", field.as_ref().map(|f| format!("`{f}`: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The offending field (`config.<name>`), if the problem is with one field.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// A problem with one field.
    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        ConfigError {
            field: Some(format!("config.{field}")),
            problem: problem.into(),
        }
    }

    /// A problem with the target as a whole (for example its URI).
    pub fn target(problem: impl Into<String>) -> Self {
        ConfigError {
            field: None,
            problem: problem.into(),
        }
    }
}

/// Reads typed fields out of a config map and rejects the fields nobody asked for.
pub(crate) struct ConfigReader<'a> {
    map: &'a Map<String, Value>,
    allowed: &'static [&'static str],
}

impl<'a> ConfigReader<'a> {
    /// A reader of `map` that accepts exactly the fields in `allowed`.
    pub fn new(
        map: &'a Map<String, Value>,
        allowed: &'static [&'static str],
    ) -> Result<Self, ConfigError> {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let expected = if allowed.is_empty() {
                    "this provider takes no configuration".to_string()
                } else {
                    format!(
                        "allowed: {}",
                        allowed
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(ConfigError::field(
                    key,
                    format!("unknown field ({expected})"),
                ));
            }
        }
        Ok(ConfigReader { map, allowed })
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        debug_assert!(self.allowed.contains(&key), "undeclared config field {key}");
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn wrong_type(key: &str, expected: &str, found: &Value) -> ConfigError {
        ConfigError::field(key, format!("must be {expected}, got {}", json_type(found)))
    }

    /// The raw value.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    /// A string.
    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(Self::wrong_type(key, "a string", v)),
        }
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Self::wrong_type(key, "a boolean", v)),
        }
    }

    /// A non-negative integer in `min..=max`.
    pub fn u64_in(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(ConfigError::field(
                    key,
                    format!("must be an integer from {min} to {max}"),
                )),
            },
            Some(v) => Err(Self::wrong_type(key, "an integer", v)),
        }
    }

    /// A Go duration (`30s`, `1m30s`, `250ms`) of at most `max`.
    pub fn duration(&self, key: &str, max: Duration) -> Result<Option<Duration>, ConfigError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        match parse_go_duration(&text) {
            Some(d) if d <= max => Ok(Some(d)),
            Some(_) => Err(ConfigError::field(
                key,
                format!("must be at most {}", format_duration(max)),
            )),
            None => Err(ConfigError::field(
                key,
                "must be a duration such as `30s`, `5m` or `250ms`",
            )),
        }
    }

    /// A list of strings.
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ConfigError::field(
                        &format!("{key}[{i}]"),
                        format!("must be a string, got {}", json_type(other)),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(Self::wrong_type(key, "a list of strings", v)),
        }
    }

    /// An object whose values are strings or secret references (`{secretFile: NAME}`,
    /// `{secretEnv: VAR}`): the literals, and the references by entry name.
    #[allow(clippy::type_complexity)]
    pub fn secret_string_map(
        &self,
        key: &str,
    ) -> Result<Option<(BTreeMap<String, String>, BTreeMap<String, SecretRef>)>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(entries)) => {
                let mut literals = BTreeMap::new();
                let mut secrets = BTreeMap::new();
                for (k, v) in entries {
                    let field = format!("{key}.{k}");
                    match v {
                        Value::String(s) => {
                            literals.insert(k.clone(), s.clone());
                        }
                        Value::Object(_) => match crate::secret::as_reference(v) {
                            Some(reference) => {
                                reference
                                    .check()
                                    .map_err(|problem| ConfigError::field(&field, problem))?;
                                secrets.insert(k.clone(), reference);
                            }
                            None => {
                                return Err(ConfigError::field(
                                    &field,
                                    "must be a string or a secret reference \
                                     ({secretFile: NAME} or {secretEnv: VAR})",
                                ))
                            }
                        },
                        other => {
                            return Err(ConfigError::field(
                                &field,
                                format!(
                                    "must be a string or a secret reference, got {}",
                                    json_type(other)
                                ),
                            ))
                        }
                    }
                }
                Ok(Some((literals, secrets)))
            }
            Some(v) => Err(Self::wrong_type(key, "an object", v)),
        }
    }

    /// An object.
    pub fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(v) => Err(Self::wrong_type(key, "an object", v)),
        }
    }
}

/// Formats a duration the way config accepts it back (`1h2m3s`, `250ms`).
pub(crate) fn format_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    if millis % 1000 != 0 {
        return format!("{millis}ms");
    }
    let secs = millis / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn unknown_fields_are_named_without_values() {
        let m = map(json!({"comand": ["secret-token"]}));
        let err = ConfigReader::new(&m, &["command", "env"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "`config.comand`: unknown field (allowed: `command`, `env`)"
        );
    }

    #[test]
    fn type_errors_never_echo_values() {
        let m = map(json!({"env": {"TOKEN": 12345}, "command": "hunter2"}));
        let r = ConfigReader::new(&m, &["command", "env"]).ok();
        let r = r.as_ref();
        let env = r.map(|r| r.secret_string_map("env"));
        assert_eq!(
            env.and_then(|e| e.err()).map(|e| e.to_string()),
            Some(
                "`config.env.TOKEN`: must be a string or a secret reference, got a number"
                    .to_string()
            )
        );
        let cmd = r.map(|r| r.string_list("command"));
        let msg = cmd
            .and_then(|e| e.err())
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn durations_round_trip() {
        for (d, s) in [
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(3723), "1h2m3s"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_go_duration(s), Some(d));
        }
    }
}
