//! Replacing secret values with `[REDACTED]`.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// What a secret value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The secret values of one attempt, and the replacement of each occurrence of them.
///
/// Every value is registered as is; a value spanning several lines also registers each of its
/// lines of 8 or more characters, because logs are written line by line and a multi-line
/// secret (a PEM key) printed by a process reaches the log as separate lines.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor with no secrets (changes nothing).
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Registers a secret value. Empty values are ignored.
    pub fn add(&mut self, value: &str) {
        let mut add = |v: &str| {
            if !v.is_empty() && !self.secrets.iter().any(|s| s == v) {
                self.secrets.push(v.to_string());
            }
        };
        add(value);
        if value.contains('\n') {
            for line in value.lines() {
                let line = line.trim_end_matches('\r');
                if line.chars().count() >= 8 {
                    add(line);
                }
            }
        }
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    /// `true` if no secret is registered.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The text with every secret replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }

    /// The bytes with every secret replaced (bytes need not be UTF-8).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut current: Cow<'a, [u8]> = Cow::Borrowed(bytes);
        for secret in &self.secrets {
            let needle = secret.as_bytes();
            if find(&current, needle).is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(current.len());
            let mut rest: &[u8] = &current;
            while let Some(i) = find(rest, needle) {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[i + needle.len()..];
            }
            out.extend_from_slice(rest);
            current = Cow::Owned(out);
        }
        current
    }

    /// Replaces secrets in every string of a JSON value, object keys included.
    pub fn redact_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => self.redact_map(map),
            _ => {}
        }
    }

    /// Replaces secrets in an object's keys and values.
    pub fn redact_map(&self, map: &mut Map<String, Value>) {
        if self.is_empty() {
            return;
        }
        let entries = std::mem::take(map);
        for (key, mut value) in entries {
            self.redact_value(&mut value);
            map.insert(self.redact(&key).into_owned(), value);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_every_occurrence_longest_first() {
        let mut r = Redactor::new();
        r.add("abc");
        r.add("abcdef");
        assert_eq!(r.redact("x abcdef abc y"), "x [REDACTED] [REDACTED] y");
        assert_eq!(
            r.redact_bytes(b"\xffabcdef\xfe").as_ref(),
            b"\xff[REDACTED]\xfe".as_slice()
        );
        assert!(matches!(r.redact("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn multi_line_secrets_are_redacted_line_by_line_too() {
        let mut r = Redactor::new();
        r.add("-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nshort\n");
        assert_eq!(r.redact("line: MIIEvQIBADANBgkq"), "line: [REDACTED]");
        assert_eq!(r.redact("short"), "short");
    }

    #[test]
    fn json_values_and_keys() {
        let mut r = Redactor::new();
        r.add("s3cr3t");
        let mut v = json!({"token": "s3cr3t", "s3cr3t": [1, "a s3cr3t b"]});
        r.redact_value(&mut v);
        assert_eq!(
            v,
            json!({"token": "[REDACTED]", "[REDACTED]": [1, "a [REDACTED] b"]})
        );
    }
}
