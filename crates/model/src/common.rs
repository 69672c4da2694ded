//! Named string types shared by every kind.
//!
//! Each newtype serialises as a plain string (`#[serde(transparent)]`) and has its own JSON
//! Schema, so it lands in `$defs` under exactly its Rust name (`DnsLabel`, `NodeId`, …). The
//! validator maps those `$defs` names to diagnostic codes, so **do not rename them**.
//!
//! Deserialisation is lenient: any string is accepted. The patterns are enforced by the schema
//! (and, where cheap, by the `is_valid` helpers here).

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Pattern of a DNS label (RFC 1123): lowercase alphanumerics and `-`, alphanumeric at both ends.
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// Pattern of a label or annotation key: a Kubernetes qualified name with an optional
/// DNS-subdomain prefix followed by `/`; the name part is at most 63 characters.
pub const LABEL_KEY_PATTERN: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// Pattern of a label value (may be empty).
pub const LABEL_VALUE_PATTERN: &str = "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$";
/// Pattern of a Go-style duration. There is no day unit: write `168h`, not `7d`.
pub const DURATION_PATTERN: &str = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
/// Pattern of a plan graph digest.
pub const DIGEST_PATTERN: &str = "^sha256:[a-f0-9]{64}$";
/// Pattern of a generic `algorithm:digest` string.
pub const HASH_DIGEST_PATTERN: &str = "^[a-z0-9]+([+._-][a-z0-9]+)*:[A-Za-z0-9+/=_-]+$";
/// Pattern of a Task output name.
pub const OUTPUT_NAME_PATTERN: &str = "^[a-z][a-z0-9_]*$";
/// Pattern of a Capability parameter name.
pub const PARAMETER_NAME_PATTERN: &str = "^[a-zA-Z][a-zA-Z0-9_]*$";
/// Pattern of a Capability category (kebab-case).
pub const CATEGORY_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";
/// Pattern of an API version in a reference (`planspec.io/v1alpha1`).
pub const API_VERSION_PATTERN: &str = "^[a-z0-9]([-a-z0-9./]*[a-z0-9])?$";
/// Pattern of a kind name in a reference (`Plan`).
pub const KIND_PATTERN: &str = "^[A-Z][a-zA-Z0-9]*$";

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident => $schema:tt) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string without checking it (the schema checks it).
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The string value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn schema_id() -> Cow<'static, str> {
                Cow::Borrowed(concat!(module_path!(), "::", stringify!($name)))
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

string_newtype! {
    /// A DNS label (RFC 1123): 1–63 lowercase letters, digits and `-`, starting and ending with a
    /// letter or digit. Used for resource names and namespaces.
    DnsLabel => {
        "description": "A DNS label (RFC 1123): 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit.",
        "type": "string",
        "minLength": 1,
        "maxLength": 63,
        "pattern": DNS_LABEL_PATTERN,
    }
}

string_newtype! {
    /// The id of a node in a Plan graph: a DNS label (no `_`, no uppercase), 1–63 characters.
    NodeId => {
        "description": "The id of a node in a Plan graph: a DNS label (lowercase letters, digits and '-'), 1-63 characters.",
        "type": "string",
        "minLength": 1,
        "maxLength": 63,
        "pattern": DNS_LABEL_PATTERN,
    }
}

string_newtype! {
    /// A label or annotation key: a qualified name with an optional DNS-subdomain prefix and
    /// `/` (`planspec.io/goal`), at most 253 characters; the name part is at most 63.
    LabelKey => {
        "description": "A label or annotation key: an optional DNS-subdomain prefix and '/', then a name of 1-63 letters, digits, '-', '_' or '.' (e.g. 'planspec.io/goal').",
        "type": "string",
        "minLength": 1,
        "maxLength": 253,
        "pattern": LABEL_KEY_PATTERN,
    }
}

string_newtype! {
    /// A label value: empty, or up to 63 letters, digits, `-`, `_` and `.`, alphanumeric at both ends.
    LabelValue => {
        "description": "A label value: empty, or up to 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit.",
        "type": "string",
        "maxLength": 63,
        "pattern": LABEL_VALUE_PATTERN,
    }
}

string_newtype! {
    /// A Go-style duration such as `90s`, `1h30m` or `168h`. Units: `ns`, `us`, `µs`, `ms`, `s`,
    /// `m`, `h`. There is no day unit.
    Duration => {
        "description": "A Go-style duration such as '90s', '1h30m' or '168h'. Units: ns, us, µs, ms, s, m, h. There is no day unit (write '168h', not '7d').",
        "type": "string",
        "minLength": 2,
        "pattern": DURATION_PATTERN,
    }
}

string_newtype! {
    /// An RFC 3339 timestamp such as `2026-02-04T12:00:00Z`.
    Timestamp => {
        "description": "An RFC 3339 timestamp such as '2026-02-04T12:00:00Z'.",
        "type": "string",
        "format": "date-time",
    }
}

string_newtype! {
    /// A SHA-256 digest of a plan graph: `sha256:` followed by 64 lowercase hex digits.
    Digest => {
        "description": "A SHA-256 digest: 'sha256:' followed by 64 lowercase hexadecimal digits.",
        "type": "string",
        "pattern": DIGEST_PATTERN,
    }
}

string_newtype! {
    /// A content hash written `algorithm:digest` (e.g. `sha256:9f86…`), used for checksums and
    /// spec hashes.
    HashDigest => {
        "description": "A content hash written 'algorithm:digest', e.g. 'sha256:9f86d0...'.",
        "type": "string",
        "maxLength": 1024,
        "pattern": HASH_DIGEST_PATTERN,
    }
}

string_newtype! {
    /// A regular expression in Rust `regex` syntax (RE2-like: no look-around or
    /// backreferences; inline flags such as `(?i)` allowed). `planspec validate` checks that it
    /// compiles; the schema cannot, since JSON Schema's `regex` format means ECMA-262.
    RegexPattern => {
        "description": "A regular expression in Rust regex syntax (RE2-like; inline flags such as (?i) allowed).",
        "type": "string",
        "minLength": 1,
    }
}

string_newtype! {
    /// The name of a Task output: starts with a lowercase letter, then lowercase letters, digits
    /// and `_`; at most 63 characters.
    OutputName => {
        "description": "The name of a Task output: a lowercase letter, then lowercase letters, digits and '_'; at most 63 characters.",
        "type": "string",
        "minLength": 1,
        "maxLength": 63,
        "pattern": OUTPUT_NAME_PATTERN,
    }
}

string_newtype! {
    /// The name of a Capability parameter: a letter, then letters, digits and `_`; at most 64
    /// characters.
    ParameterName => {
        "description": "The name of a Capability parameter: a letter, then letters, digits and '_'; at most 64 characters.",
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": PARAMETER_NAME_PATTERN,
    }
}

string_newtype! {
    /// A Capability category in kebab-case (`code-generation`), at most 64 characters.
    Category => {
        "description": "A Capability category in kebab-case (e.g. 'code-generation'), at most 64 characters.",
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": CATEGORY_PATTERN,
    }
}

/// `true` if `s` is a DNS label: 1–63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && ok(&b[0])
        && ok(&b[b.len() - 1])
        && b.iter().all(|c| ok(c) || *c == b'-')
}

impl DnsLabel {
    /// `true` if the value is a DNS label.
    pub fn is_valid(&self) -> bool {
        is_dns_label(&self.0)
    }
}

impl NodeId {
    /// `true` if the value is a valid node id (a DNS label).
    pub fn is_valid(&self) -> bool {
        is_dns_label(&self.0)
    }
}

impl Duration {
    /// Parses the Go-style duration into a [`std::time::Duration`]; `None` if it is not valid
    /// (including day units, which the normaliser rewrites before this type sees them).
    pub fn to_std(&self) -> Option<std::time::Duration> {
        parse_go_duration(&self.0)
    }
}

/// Parses a Go-style duration (`1h30m`, `1.5s`, `250ms`); `None` if invalid.
pub fn parse_go_duration(s: &str) -> Option<std::time::Duration> {
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty()
            || num.starts_with('.')
            || num.ends_with('.')
            || num.matches('.').count() > 1
        {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let (unit_secs, unit_len) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("ms", 1e-3),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
        ]
        .iter()
        // `m` must not swallow the `m` of `ms`: try two-character units first.
        .filter(|(u, _)| rest.starts_with(u))
        .map(|(u, secs)| (*secs, u.len()))
        .max_by_key(|(_, len)| *len)?;
        total += value * unit_secs;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return None;
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Schema of a map whose keys are `K` (as `propertyNames`) and values are `V`.
pub(crate) fn map_schema<K: JsonSchema, V: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let keys = generator.subschema_for::<K>();
    let values = generator.subschema_for::<V>();
    json_schema!({
        "type": "object",
        "propertyNames": keys,
        "additionalProperties": values,
    })
}

/// Schema of a label map: [`LabelKey`] → [`LabelValue`].
pub(crate) fn labels_schema(generator: &mut SchemaGenerator) -> Schema {
    map_schema::<LabelKey, LabelValue>(generator)
}

/// Schema of an annotation map: [`LabelKey`] → string of at most 65,536 characters.
pub(crate) fn annotations_schema(generator: &mut SchemaGenerator) -> Schema {
    let keys = generator.subschema_for::<LabelKey>();
    json_schema!({
        "type": "object",
        "propertyNames": keys,
        "additionalProperties": {"type": "string", "maxLength": 65536},
    })
}

/// Schema transform for internally tagged enums: next to the `oneOf`, states the tag itself
/// (`required` and an `enum` of every tag value) so that a missing or misspelt tag gets a
/// direct error instead of "matches none of the shapes".
pub(crate) fn add_discriminator(schema: &mut Schema) {
    let Some(serde_json::Value::Array(branches)) = schema.get("oneOf") else {
        return;
    };
    let tag_of = |b: &serde_json::Value| -> Option<(String, serde_json::Value)> {
        let tag = b.get("required")?.get(0)?.as_str()?;
        let value = b.get("properties")?.get(tag)?.get("const")?;
        Some((tag.to_owned(), value.clone()))
    };
    let Some(tags) = branches.iter().map(tag_of).collect::<Option<Vec<_>>>() else {
        return;
    };
    let Some((tag, _)) = tags.first().cloned() else {
        return;
    };
    if tags.iter().any(|(t, _)| *t != tag) {
        return;
    }
    let values: Vec<serde_json::Value> = tags.into_iter().map(|(_, v)| v).collect();
    schema.insert("type".to_owned(), "object".into());
    schema.insert("required".to_owned(), serde_json::json!([tag]));
    schema.insert(
        "properties".to_owned(),
        serde_json::json!({ tag: {"type": "string", "enum": values} }),
    );
}

/// Schema transform for untagged enums whose branches are mutually exclusive: `anyOf` → `oneOf`.
pub(crate) fn any_of_to_one_of(schema: &mut Schema) {
    if let Some(any_of) = schema.remove("anyOf") {
        schema.insert("oneOf".to_owned(), any_of);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("a"));
        assert!(is_dns_label("ship-login-v1"));
        assert!(is_dns_label("123-test"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label("a_b"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn go_durations() {
        let d = |s: &str| parse_go_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("90s"), Some(90.0));
        assert_eq!(d("1h30m"), Some(5400.0));
        assert_eq!(d("168h"), Some(604800.0));
        assert_eq!(d("250ms"), Some(0.25));
        assert_eq!(d("1.5s"), Some(1.5));
        assert_eq!(d("2µs"), Some(2e-6));
        assert_eq!(d("7d"), None);
        assert_eq!(d("h"), None);
        assert_eq!(d(""), None);
        assert_eq!(d("1"), None);
        assert_eq!(d(".5s"), None);
    }

    #[test]
    fn newtypes_are_transparent() {
        let id: NodeId = serde_json::from_str("\"build\"").unwrap();
        assert_eq!(id, "build");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"build\"");
    }
}
