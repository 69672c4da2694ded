//! Filling secret references into a pinned provider configuration at dispatch time.

use super::{Redactor, SecretError, SecretSource};
use planspec_model::provider::SecretRef;
use serde_json::{Map, Value};

/// The config fields whose values may be secret references, by provider type.
fn secret_fields(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "exec" => &["env"],
        "http" => &["headers"],
        _ => &[],
    }
}

/// Reads a value as a secret reference: an object with exactly one of `secretFile` or
/// `secretEnv`. `None` for anything else (a literal).
pub fn as_reference(value: &Value) -> Option<SecretRef> {
    match value {
        Value::Object(_) => serde_json::from_value::<SecretRef>(value.clone()).ok(),
        _ => None,
    }
}

/// The secret references in a config: `(field path, reference)`, e.g.
/// `("env.TOKEN", secretFile token)`.
pub fn references(type_name: &str, config: &Map<String, Value>) -> Vec<(String, SecretRef)> {
    let mut out = Vec::new();
    for field in secret_fields(type_name) {
        if let Some(Value::Object(entries)) = config.get(*field) {
            for (name, value) in entries {
                if let Some(reference) = as_reference(value) {
                    out.push((format!("{field}.{name}"), reference));
                }
            }
        }
    }
    out
}

/// The config with every secret reference replaced by its value, and a redactor that knows
/// every value read. Fails on the first secret that cannot be read (naming it, never a value).
pub async fn materialise(
    source: &SecretSource,
    type_name: &str,
    config: &Map<String, Value>,
) -> Result<(Map<String, Value>, Redactor), SecretError> {
    let mut redactor = Redactor::new();
    let mut out = config.clone();
    for field in secret_fields(type_name) {
        let Some(Value::Object(entries)) = out.get_mut(*field) else {
            continue;
        };
        for (_, value) in entries.iter_mut() {
            if let Some(reference) = as_reference(value) {
                let secret = source.read(&reference).await?;
                redactor.add(&secret);
                *value = Value::String(secret);
            }
        }
    }
    Ok((out, redactor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn fills_files_and_environment() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let written = std::fs::write(dir.path().join("tok"), "file-secret-1\n");
        assert!(written.is_ok());
        // SAFETY of the test: a variable name no other test uses.
        std::env::set_var("PLANSPEC_SECRET_MATERIALISE_TEST", "env-secret-2");
        let source = SecretSource::new(Some(dir.path().to_path_buf()));
        let config = json!({"command": ["x"], "env": {
            "A": {"secretFile": "tok"},
            "B": {"secretEnv": "PLANSPEC_SECRET_MATERIALISE_TEST"},
            "C": "literal"
        }});
        let config = config.as_object().cloned().unwrap_or_default();
        assert_eq!(references("exec", &config).len(), 2);
        let (filled, redactor) = match materialise(&source, "exec", &config).await {
            Ok(x) => x,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            filled.get("env"),
            Some(&json!({"A": "file-secret-1", "B": "env-secret-2", "C": "literal"}))
        );
        assert_eq!(
            redactor.redact("file-secret-1 env-secret-2 literal"),
            "[REDACTED] [REDACTED] literal"
        );
        let missing = json!({"env": {"A": {"secretFile": "nope"}}});
        let missing = missing.as_object().cloned().unwrap_or_default();
        let err = materialise(&source, "exec", &missing).await.err();
        assert!(err.is_some_and(|e| e.to_string().contains("secretFile nope")));
        let none = SecretSource::new(None);
        let err = materialise(&none, "exec", &config).await.err();
        assert!(matches!(err, Some(SecretError::NoDirectory(_))));
    }
}
