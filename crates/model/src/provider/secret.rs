//! Secret references in provider configuration.
//!
//! A value that may be secret (an `exec` environment variable, an `http` header) is written
//! either as a literal string or as a reference the runtime reads when it dispatches:
//! `{secretFile: NAME}` (a file under the server's secrets directory) or `{secretEnv: VAR}`
//! (a variable of the server's environment whose name starts with `PLANSPEC_SECRET_`). The
//! value itself is never stored in a resource, a journal or a log.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A string that is either written literally or read from a secret at dispatch time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(transform = crate::common::any_of_to_one_of)]
pub enum SecretString {
    /// The value as written (not a secret).
    Literal(String),
    /// A reference to a secret.
    Secret(SecretRef),
}

/// Where a secret is read from: exactly one of `secretFile` or `secretEnv`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SecretRef {
    /// A file under the server's secrets directory (a relative path without `..`); one
    /// trailing newline is dropped.
    SecretFile(String),
    /// A variable of the server's environment; its name must start with `PLANSPEC_SECRET_`.
    SecretEnv(String),
}

/// The prefix every `secretEnv` variable name must have, so a Provider cannot read the
/// server's other environment variables.
pub const SECRET_ENV_PREFIX: &str = "PLANSPEC_SECRET_";

impl SecretRef {
    /// A description naming the source but never the value: `secretFile deploy-token`.
    pub fn describe(&self) -> String {
        match self {
            SecretRef::SecretFile(name) => format!("secretFile {name}"),
            SecretRef::SecretEnv(name) => format!("secretEnv {name}"),
        }
    }

    /// Checks the reference's shape (not whether the secret exists): a file name must be a
    /// relative path without `..`, `.` or empty segments; an environment variable name must
    /// start with [`SECRET_ENV_PREFIX`] and consist of `A-Z`, `0-9` and `_`.
    pub fn check(&self) -> Result<(), String> {
        match self {
            SecretRef::SecretFile(name) => {
                let bad = name.is_empty()
                    || name.starts_with('/')
                    || name.contains('\0')
                    || name.contains('\\')
                    || name
                        .split('/')
                        .any(|seg| seg.is_empty() || seg == "." || seg == "..");
                if bad {
                    Err(format!(
                        "secretFile `{name}` must be a relative path inside the secrets \
                         directory (no leading `/`, no `..`, `.` or empty segments)"
                    ))
                } else {
                    Ok(())
                }
            }
            SecretRef::SecretEnv(name) => {
                let ok = name.starts_with(SECRET_ENV_PREFIX)
                    && name.len() > SECRET_ENV_PREFIX.len()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "secretEnv `{name}` must be a variable name of A-Z, 0-9 and `_` \
                         starting with `{SECRET_ENV_PREFIX}`"
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_references_parse() {
        let v: SecretString =
            serde_json::from_str(r#""plain""#).unwrap_or(SecretString::Literal(String::new()));
        assert_eq!(v, SecretString::Literal("plain".into()));
        let v: Result<SecretString, _> = serde_json::from_str(r#"{"secretFile":"tok"}"#);
        assert_eq!(
            v.ok(),
            Some(SecretString::Secret(SecretRef::SecretFile("tok".into())))
        );
        let v: Result<SecretString, _> =
            serde_json::from_str(r#"{"secretEnv":"PLANSPEC_SECRET_X"}"#);
        assert_eq!(
            v.ok(),
            Some(SecretString::Secret(SecretRef::SecretEnv(
                "PLANSPEC_SECRET_X".into()
            )))
        );
        let v: Result<SecretString, _> =
            serde_json::from_str(r#"{"secretFile":"a","secretEnv":"B"}"#);
        assert!(v.is_err());
    }

    #[test]
    fn shapes_are_checked() {
        assert!(SecretRef::SecretFile("team/token".into()).check().is_ok());
        for bad in ["/etc/shadow", "../x", "a/../b", "", "a//b", "./a"] {
            assert!(SecretRef::SecretFile(bad.into()).check().is_err(), "{bad}");
        }
        assert!(SecretRef::SecretEnv("PLANSPEC_SECRET_TOKEN".into())
            .check()
            .is_ok());
        for bad in ["HOME", "PLANSPEC_SECRET_", "PLANSPEC_SECRET_a"] {
            assert!(SecretRef::SecretEnv(bad.into()).check().is_err(), "{bad}");
        }
    }
}
