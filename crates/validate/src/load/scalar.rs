//! Scalars: YAML 1.2 core-schema resolution and the core tags.
//!
//! Plain scalars resolve as in the YAML 1.2 core schema:
//!
//! | value                                              | resolves to            |
//! |----------------------------------------------------|------------------------|
//! | `~`, `null`, `Null`, `NULL`, empty                  | null                   |
//! | `true True TRUE false False FALSE`                 | boolean                |
//! | `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`         | integer (float if it does not fit in `i64`) |
//! | `1.5`, `-2e3`, `.5`, `.inf`, `-.Inf`, `.nan` …     | float                  |
//! | anything else (`yes`, `on`, `1_000`, `0b1` …)      | string                 |
//!
//! Quoted and block scalars are always strings.

use saphyr_parser::Tag;

use crate::tree::Value;

/// The prefix `!!` stands for.
const CORE_PREFIX: &str = "tag:yaml.org,2002:";

/// A tag of the YAML core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CoreTag {
    Str,
    Int,
    Float,
    Bool,
    Null,
    Map,
    Seq,
}

impl CoreTag {
    /// The tag as written in short form: `!!int`.
    pub(super) fn name(self) -> &'static str {
        match self {
            CoreTag::Str => "!!str",
            CoreTag::Int => "!!int",
            CoreTag::Float => "!!float",
            CoreTag::Bool => "!!bool",
            CoreTag::Null => "!!null",
            CoreTag::Map => "!!map",
            CoreTag::Seq => "!!seq",
        }
    }
}

/// What a tag means to the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TagKind {
    /// One of the core schema tags.
    Core(CoreTag),
    /// The non-specific tag `!`: "a string" for scalars, nothing for collections.
    NonSpecific,
    /// Anything else (`!foo`, `!!binary`, `!!timestamp` …): warned about and ignored.
    Other,
}

/// Classifies a resolved tag (`!!int` arrives as handle `tag:yaml.org,2002:`, suffix `int`;
/// the verbatim `!<tag:yaml.org,2002:int>` as an empty handle and the full URI as suffix).
pub(super) fn classify(tag: &Tag) -> TagKind {
    if tag.handle.is_empty() && tag.suffix == "!" {
        return TagKind::NonSpecific;
    }
    let name = if tag.handle == CORE_PREFIX {
        tag.suffix.as_str()
    } else if tag.handle.is_empty() {
        match tag.suffix.strip_prefix(CORE_PREFIX) {
            Some(name) => name,
            None => return TagKind::Other,
        }
    } else {
        return TagKind::Other;
    };
    let core = match name {
        "str" => CoreTag::Str,
        "int" => CoreTag::Int,
        "float" => CoreTag::Float,
        "bool" => CoreTag::Bool,
        "null" => CoreTag::Null,
        "map" => CoreTag::Map,
        "seq" => CoreTag::Seq,
        _ => return TagKind::Other,
    };
    TagKind::Core(core)
}

/// Resolves an untagged plain scalar by the core schema.
pub(super) fn resolve_plain(text: &str) -> Value {
    let Some(&first) = text.as_bytes().first() else {
        return Value::Null;
    };
    let resolved = match first {
        b'~' | b'n' | b'N' => is_null(text).then_some(Value::Null),
        b't' | b'T' | b'f' | b'F' => parse_bool(text).map(Value::Bool),
        b'0'..=b'9' | b'-' | b'+' | b'.' => parse_number(text),
        _ => None,
    };
    resolved.unwrap_or_else(|| Value::String(text.to_owned()))
}

/// Applies a core tag to a scalar's text; `None` when the text does not fit the tag.
pub(super) fn apply_core_tag(tag: CoreTag, text: &str) -> Option<Value> {
    match tag {
        CoreTag::Str => Some(Value::String(text.to_owned())),
        CoreTag::Null => (text.is_empty() || is_null(text)).then_some(Value::Null),
        CoreTag::Bool => parse_bool(text).map(Value::Bool),
        CoreTag::Int => parse_int(text),
        CoreTag::Float => match parse_number(text)? {
            Value::Int(i) => Some(Value::Float(i as f64)),
            other => Some(other),
        },
        CoreTag::Map | CoreTag::Seq => None,
    }
}

/// The mapping key a scalar value stands for (used for keys that are aliases).
pub(super) fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Seq(_) | Value::Map(_) => None,
    }
}

/// `~`, `null`, `Null`, `NULL`.
pub(super) fn is_null(text: &str) -> bool {
    matches!(text, "~" | "null" | "Null" | "NULL")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// An integer or a float, by the core schema; `None` for anything else.
fn parse_number(text: &str) -> Option<Value> {
    parse_int(text).or_else(|| parse_float(text).map(Value::Float))
}

/// `[-+]?[0-9]+`, `0o[0-7]+` or `0x[0-9a-fA-F]+`. Integers beyond `i64` become floats.
fn parse_int(text: &str) -> Option<Value> {
    if let Some(digits) = text.strip_prefix("0o") {
        return parse_radix(digits, 8);
    }
    if let Some(digits) = text.strip_prefix("0x") {
        return parse_radix(digits, 16);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<i64>() {
        Ok(i) => Value::Int(i),
        // Only overflow is left: every character was checked above.
        Err(_) => Value::Float(text.parse::<f64>().ok()?),
    })
}

fn parse_radix(digits: &str, radix: u32) -> Option<Value> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(match i64::from_str_radix(digits, radix) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Float(
            digits
                .chars()
                .filter_map(|c| c.to_digit(radix))
                .fold(0.0, |acc, d| acc * f64::from(radix) + f64::from(d)),
        ),
    })
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?\.(inf|Inf|INF)`,
/// `\.(nan|NaN|NAN)`.
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    match unsigned {
        ".inf" | ".Inf" | ".INF" => {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        ".nan" | ".NaN" | ".NAN" if unsigned.len() == text.len() => return Some(f64::NAN),
        _ => {}
    }
    if !is_decimal_float(unsigned.as_bytes()) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// The unsigned part of the core schema's float syntax.
fn is_decimal_float(bytes: &[u8]) -> bool {
    let digits = |i: usize| bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut i = digits(0);
    let int_digits = i;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        frac_digits = digits(i + 1);
        i += 1 + frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_digits = digits(i);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> Value {
        resolve_plain(s)
    }

    fn string(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    #[test]
    fn nulls() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(s), Value::Null, "{s:?}");
        }
        for s in ["nULL", "nul", "None", "~~"] {
            assert_eq!(plain(s), string(s), "{s:?}");
        }
    }

    #[test]
    fn booleans_are_yaml_1_2_only() {
        for s in ["true", "True", "TRUE"] {
            assert_eq!(plain(s), Value::Bool(true));
        }
        for s in ["false", "False", "FALSE"] {
            assert_eq!(plain(s), Value::Bool(false));
        }
        for s in ["yes", "no", "on", "off", "y", "n", "tRUE", "Yes"] {
            assert_eq!(plain(s), string(s), "{s:?}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(plain("0"), Value::Int(0));
        assert_eq!(plain("-17"), Value::Int(-17));
        assert_eq!(plain("+17"), Value::Int(17));
        assert_eq!(plain("0777"), Value::Int(777));
        assert_eq!(plain("0o17"), Value::Int(15));
        assert_eq!(plain("0x1F"), Value::Int(31));
        assert_eq!(plain("0xff"), Value::Int(255));
        assert_eq!(plain("9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(plain("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(
            plain("9223372036854775808"),
            Value::Float(9_223_372_036_854_775_808.0)
        );
        assert_eq!(
            plain("0xFFFFFFFFFFFFFFFF"),
            Value::Float(18_446_744_073_709_551_615.0)
        );
        for s in [
            "0o", "0x", "0o8", "0xg", "1_000", "0b101", "-0x1", "- 1", "+", "-",
        ] {
            assert_eq!(plain(s), string(s), "{s:?}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(plain("1.5"), Value::Float(1.5));
        assert_eq!(plain("-1.5"), Value::Float(-1.5));
        assert_eq!(plain("1e3"), Value::Float(1000.0));
        assert_eq!(plain("1E-3"), Value::Float(0.001));
        assert_eq!(plain(".5"), Value::Float(0.5));
        assert_eq!(plain("1."), Value::Float(1.0));
        assert_eq!(plain(".inf"), Value::Float(f64::INFINITY));
        assert_eq!(plain("-.Inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(plain("+.INF"), Value::Float(f64::INFINITY));
        assert!(matches!(plain(".nan"), Value::Float(f) if f.is_nan()));
        assert!(matches!(plain(".NaN"), Value::Float(f) if f.is_nan()));
        for s in [
            ".", "e3", "1e", "1e+", "inf", "nan", "-.nan", "1.5.2", "1.5e3.0", "infinity", ".Nan",
            "1,5",
        ] {
            assert_eq!(plain(s), string(s), "{s:?}");
        }
    }

    #[test]
    fn strings() {
        for s in ["hello", "a b", "1.2.3", "v1", "12:30", "2024-01-01", "-x"] {
            assert_eq!(plain(s), string(s), "{s:?}");
        }
    }

    #[test]
    fn core_tags_on_scalars() {
        assert_eq!(apply_core_tag(CoreTag::Str, "1"), Some(string("1")));
        assert_eq!(apply_core_tag(CoreTag::Int, "12"), Some(Value::Int(12)));
        assert_eq!(apply_core_tag(CoreTag::Int, "1.5"), None);
        assert_eq!(apply_core_tag(CoreTag::Float, "2"), Some(Value::Float(2.0)));
        assert_eq!(
            apply_core_tag(CoreTag::Bool, "true"),
            Some(Value::Bool(true))
        );
        assert_eq!(apply_core_tag(CoreTag::Bool, "yes"), None);
        assert_eq!(apply_core_tag(CoreTag::Null, ""), Some(Value::Null));
        assert_eq!(apply_core_tag(CoreTag::Null, "x"), None);
        assert_eq!(apply_core_tag(CoreTag::Map, "x"), None);
    }

    #[test]
    fn tag_classification() {
        let tag = |handle: &str, suffix: &str| Tag {
            handle: handle.into(),
            suffix: suffix.into(),
        };
        assert_eq!(
            classify(&tag(CORE_PREFIX, "int")),
            TagKind::Core(CoreTag::Int)
        );
        assert_eq!(
            classify(&tag("", "tag:yaml.org,2002:str")),
            TagKind::Core(CoreTag::Str)
        );
        assert_eq!(classify(&tag("", "!")), TagKind::NonSpecific);
        assert_eq!(classify(&tag("!", "foo")), TagKind::Other);
        assert_eq!(classify(&tag(CORE_PREFIX, "binary")), TagKind::Other);
    }

    #[test]
    fn keys_from_values() {
        assert_eq!(key_text(&Value::Null).as_deref(), Some(""));
        assert_eq!(key_text(&Value::Int(1)).as_deref(), Some("1"));
        assert_eq!(key_text(&Value::Bool(true)).as_deref(), Some("true"));
        assert_eq!(key_text(&Value::Seq(vec![])), None);
    }
}
