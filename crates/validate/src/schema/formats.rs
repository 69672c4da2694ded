//! The JSON Schema `format`s PlanSpec uses, checked strictly.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether `value` satisfies `format`. Unknown formats always pass, as JSON Schema requires.
pub(crate) fn is_valid(format: &str, value: &str) -> bool {
    match format {
        "date-time" => is_rfc3339(value),
        "date" => {
            time::Date::parse(value, &time::format_description::well_known::Iso8601::DATE).is_ok()
                && value.len() == 10
        }
        "uri" => is_uri(value),
        "uri-reference" => is_uri_reference(value),
        "email" => is_email(value),
        "hostname" => is_hostname(value),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        "uuid" => is_uuid(value),
        "regex" => regex::Regex::new(value).is_ok(),
        _ => true,
    }
}

/// RFC 3339 date-time, e.g. `2026-02-04T10:00:00Z`.
pub(crate) fn is_rfc3339(value: &str) -> bool {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).is_ok()
}

/// An absolute URI: a scheme, `:`, and no whitespace or control characters.
fn is_uri(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && is_uri_reference(value)
}

fn is_uri_reference(value: &str) -> bool {
    !value.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '<' | '>' | '"' | '\\' | '^' | '`' | '{' | '|' | '}')
    })
}

fn is_email(value: &str) -> bool {
    match value.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.chars().any(char::is_whitespace)
                && is_hostname(domain)
                && domain.contains('.')
        }
        None => false,
    }
}

fn is_hostname(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_valid("date-time", "2026-02-04T10:00:00Z"));
        assert!(is_valid("date-time", "2026-02-04T10:00:00.5+02:00"));
        assert!(!is_valid("date-time", "2026-02-04 10:00"));
        assert!(!is_valid("date-time", "yesterday"));
        assert!(is_valid("uri", "https://example.com/x?y=1"));
        assert!(is_valid("uri", "doc://design/sso"));
        assert!(!is_valid("uri", "not a uri"));
        assert!(!is_valid("uri", "relative/path"));
        assert!(is_valid("uri-reference", "relative/path.md"));
        assert!(is_valid("email", "alice@example.com"));
        assert!(!is_valid("email", "alice"));
        assert!(is_valid("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_valid("whatever", "x"));
    }
}
