//! Provider URIs and the pinned record of a resolved provider.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A Binding target's `provider`, split at `://`.
///
/// `exec://build` has scheme `exec` and rest `build`; a bare `exec` (no `://`) has scheme
/// `exec` and an empty rest. Schemes are compared in lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUri {
    raw: String,
    scheme: String,
    rest: String,
}

impl ProviderUri {
    /// Splits `provider`. `None` when there is no scheme: empty, or starting with `://`, or a
    /// scheme that is not `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986).
    pub fn parse(provider: &str) -> Option<ProviderUri> {
        let provider = provider.trim();
        let (scheme, rest) = match provider.split_once("://") {
            Some((scheme, rest)) => (scheme, rest),
            None => (provider, ""),
        };
        let mut chars = scheme.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        valid.then(|| ProviderUri {
            raw: provider.to_string(),
            scheme: scheme.to_ascii_lowercase(),
            rest: rest.to_string(),
        })
    }

    /// The provider string as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The scheme, lowercase.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// What follows `://` (empty for a bare name).
    pub fn rest(&self) -> &str {
        &self.rest
    }

    /// The URI without user information, query or fragment: safe to show in messages and logs.
    pub fn redacted(&self) -> String {
        redact_uri(&self.raw)
    }
}

/// `uri` without user information, query and fragment.
pub(crate) fn redact_uri(uri: &str) -> String {
    let (scheme, rest) = match uri.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, uri),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

/// A provider as resolved when an Execution starts, recorded in its status. Dispatches use this
/// record, so a Binding edited later does not change a running Execution.
///
/// `Debug` prints the config's field names only: configuration may hold secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedProvider {
    /// The provider type (`exec`, `http`, `human`, `noop`, …).
    #[serde(rename = "type")]
    pub type_name: String,
    /// The provider URI as written in the Binding.
    pub uri: String,
    /// The validated configuration with defaults filled in.
    pub config: Map<String, Value>,
    /// `sha256:` of the canonical JSON of `{type, uri, config}` (and `resource`, when a
    /// Provider resource was pinned; object keys sorted, no whitespace): equal digests mean
    /// the same provider, however the Binding was written.
    pub digest: String,
    /// The Provider resource a `provider://NAME` target named; absent for targets that
    /// give a provider URI directly. Its fields sit beside `type` and `uri` in the record.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ProviderResourcePin>,
}

/// What was pinned of a Provider resource: which object, at which version, what it declares
/// and whether its manifest verified. Policy rules read `name`, `risk`, `destructive` and
/// `verified` from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderResourcePin {
    /// The Provider's name (in the Execution's namespace).
    pub name: String,
    /// Its `metadata.uid`.
    pub uid: String,
    /// Its `metadata.resourceVersion` at start.
    pub resource_version: String,
    /// Its declared risk: `low`, `medium`, `high` or `blocked`.
    pub risk: String,
    /// Whether it declares itself destructive.
    pub destructive: bool,
    /// Whether its signed manifest verified at start.
    pub verified: bool,
    /// `sha256:` of its manifest's canonical form, if it has a manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// The verification issue codes, when it did not verify (and a Policy allowed it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<String>,
}

impl PinnedProvider {
    /// Builds the record and computes its digest.
    pub fn new(type_name: &str, uri: &str, config: Map<String, Value>) -> PinnedProvider {
        let digest = digest(type_name, uri, &config, None);
        PinnedProvider {
            type_name: type_name.to_string(),
            uri: uri.to_string(),
            config,
            digest,
            resource: None,
        }
    }

    /// The record with the Provider resource it came from (the digest covers it).
    pub fn with_resource(mut self, resource: ProviderResourcePin) -> PinnedProvider {
        self.digest = digest(&self.type_name, &self.uri, &self.config, Some(&resource));
        self.resource = Some(resource);
        self
    }

    /// `true` if the digest matches the contents (the record was not altered).
    pub fn verify(&self) -> bool {
        digest(
            &self.type_name,
            &self.uri,
            &self.config,
            self.resource.as_ref(),
        ) == self.digest
    }
}

impl std::fmt::Debug for PinnedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedProvider")
            .field("type_name", &self.type_name)
            .field("uri", &redact_uri(&self.uri))
            .field("config_fields", &self.config.keys().collect::<Vec<_>>())
            .field("digest", &self.digest)
            .field("resource", &self.resource)
            .finish()
    }
}

fn digest(
    type_name: &str,
    uri: &str,
    config: &Map<String, Value>,
    resource: Option<&ProviderResourcePin>,
) -> String {
    let mut doc = Map::new();
    doc.insert("type".into(), Value::String(type_name.into()));
    doc.insert("uri".into(), Value::String(uri.into()));
    doc.insert("config".into(), Value::Object(config.clone()));
    if let Some(resource) = resource {
        doc.insert(
            "resource".into(),
            serde_json::to_value(resource).unwrap_or(Value::Null),
        );
    }
    let mut canonical = String::new();
    write_canonical(&Value::Object(doc), &mut canonical);
    let hash = Sha256::digest(canonical.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Compact JSON with object keys sorted by their UTF-8 bytes.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_schemes() {
        let u = ProviderUri::parse("Exec://build").expect("uri");
        assert_eq!((u.scheme(), u.rest()), ("exec", "build"));
        let u = ProviderUri::parse("noop").expect("bare");
        assert_eq!((u.scheme(), u.rest()), ("noop", ""));
        assert!(ProviderUri::parse("").is_none());
        assert!(ProviderUri::parse("://x").is_none());
        assert!(ProviderUri::parse("claude code").is_none());
        assert!(ProviderUri::parse("1abc://x").is_none());
    }

    #[test]
    fn redaction_drops_credentials_and_query() {
        assert_eq!(
            redact_uri("https://user:pw@example.test:8443/hook?token=s#f"),
            "https://example.test:8443/hook"
        );
        assert_eq!(redact_uri("human://reviewer"), "human://reviewer");
    }

    #[test]
    fn digest_ignores_key_order_and_debug_hides_values() {
        let a = PinnedProvider::new(
            "exec",
            "exec://x",
            json!({"a": 1, "b": {"y": 2, "x": "secret"}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let b = PinnedProvider::new(
            "exec",
            "exec://x",
            json!({"b": {"x": "secret", "y": 2}, "a": 1})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert_eq!(a.digest, b.digest);
        assert!(a.digest.starts_with("sha256:") && a.digest.len() == 71);
        assert!(a.verify());
        let c = PinnedProvider::new("exec", "exec://y", a.config.clone());
        assert_ne!(a.digest, c.digest);
        assert!(!format!("{a:?}").contains("secret"));
    }
}
