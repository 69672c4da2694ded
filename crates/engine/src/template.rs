//! `${{ expr }}` interpolation in Task inputs.
//!
//! * A string that is exactly one `${{ expr }}` becomes the expression's value with its JSON
//!   type (`"${{ parameters.replicas }}"` → `3`).
//! * Expressions embedded in a longer string are written into it: strings as they are,
//!   numbers and booleans as JSON, `null` as nothing, lists and maps as compact JSON with
//!   sorted keys.
//! * `$${{` writes a literal `${{`.
//! * Only string values are interpolated, at any depth; object keys never are.
//!
//! The expression ends at the first `}}` outside a string literal and outside braces the
//! expression opened, so `${{ {'a': {'b': 1}} }}` is one expression.

use crate::ids::canonical_json;
use serde_json::Value;
use std::borrow::Cow;

/// A piece of a string that may hold expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Literal text.
    Text(Cow<'a, str>),
    /// The text of an expression, trimmed.
    Expr(&'a str),
}

/// Why a string is not a valid template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${{` without a closing `}}`.
    #[error("`${{{{` at byte {0} has no closing `}}}}`")]
    Unterminated(usize),
    /// `${{ }}` with nothing inside.
    #[error("`${{{{ }}}}` at byte {0} is empty")]
    Empty(usize),
}

/// `true` if `s` may hold an expression (a cheap test before [`split`]).
pub(crate) fn has_expression(s: &str) -> bool {
    s.contains("${{")
}

/// Splits `s` into literal text and expressions.
pub(crate) fn split(s: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest_start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if s[i..].starts_with("$${{") {
            text.push_str(&s[rest_start..i]);
            text.push_str("${{");
            i += 4;
            rest_start = i;
        } else if s[i..].starts_with("${{") {
            text.push_str(&s[rest_start..i]);
            if !text.is_empty() {
                pieces.push(Piece::Text(Cow::Owned(std::mem::take(&mut text))));
            }
            let body_start = i + 3;
            let end = closing(s, body_start).ok_or(TemplateError::Unterminated(i))?;
            let body = s[body_start..end].trim();
            if body.is_empty() {
                return Err(TemplateError::Empty(i));
            }
            pieces.push(Piece::Expr(body));
            i = end + 2;
            rest_start = i;
        } else {
            i += 1;
        }
    }
    text.push_str(&s[rest_start..]);
    if !text.is_empty() {
        pieces.push(Piece::Text(Cow::Owned(text)));
    }
    Ok(pieces)
}

/// The byte offset of the `}}` that closes an expression starting at `start`.
fn closing(s: &str, start: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let (mut depth, mut quote, mut escaped) = (0usize, None::<u8>, false);
    let mut i = start;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// How a value embedded in a longer string is written.
pub(crate) fn stringify(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(_) | Value::Object(_) => canonical_json(value),
    }
}

/// A string holding expressions: its path, and its expressions or why it is not a template.
pub(crate) type Found = (String, Result<Vec<String>, TemplateError>);

/// Every expression in the strings of `value`, with a JSON-pointer-like path (`/a/0/b`), up
/// to `max_depth` levels deep; `Err(path)` names a value nested deeper.
pub(crate) fn expressions(value: &Value, max_depth: usize) -> Result<Vec<Found>, String> {
    let mut found = Vec::new();
    let mut todo: Vec<(String, &Value, usize)> = vec![(String::new(), value, 0)];
    while let Some((path, value, depth)) = todo.pop() {
        if depth > max_depth {
            return Err(path);
        }
        match value {
            Value::String(s) if has_expression(s) => {
                let exprs = split(s).map(|pieces| {
                    pieces
                        .into_iter()
                        .filter_map(|p| match p {
                            Piece::Expr(e) => Some(e.to_string()),
                            Piece::Text(_) => None,
                        })
                        .collect()
                });
                found.push((path, exprs));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    todo.push((format!("{path}/{i}"), item, depth + 1));
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter().rev() {
                    todo.push((format!("{path}/{}", pointer_escape(k)), v, depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Replaces every string of `value` holding expressions, evaluating each with `eval`. The
/// first error stops the walk and is returned with the path of its string.
pub(crate) fn render<E>(
    value: &Value,
    eval: &mut dyn FnMut(&str) -> Result<Value, E>,
) -> Result<Value, (String, E)>
where
    E: From<TemplateError>,
{
    render_at(value, String::new(), eval)
}

fn render_at<E>(
    value: &Value,
    path: String,
    eval: &mut dyn FnMut(&str) -> Result<Value, E>,
) -> Result<Value, (String, E)>
where
    E: From<TemplateError>,
{
    Ok(match value {
        Value::String(s) if has_expression(s) => {
            let pieces = split(s).map_err(|e| (path.clone(), E::from(e)))?;
            match pieces.as_slice() {
                [Piece::Expr(e)] => eval(e).map_err(|err| (path.clone(), err))?,
                _ => {
                    let mut out = String::new();
                    for piece in &pieces {
                        match piece {
                            Piece::Text(t) => out.push_str(t),
                            Piece::Expr(e) => out
                                .push_str(&stringify(&eval(e).map_err(|err| (path.clone(), err))?)),
                        }
                    }
                    Value::String(out)
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| render_at(item, format!("{path}/{i}"), eval))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(
                    k.clone(),
                    render_at(v, format!("{path}/{}", pointer_escape(k)), eval)?,
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exprs(s: &str) -> Vec<String> {
        split(s)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Piece::Expr(e) => format!("<{e}>"),
                Piece::Text(t) => t.into_owned(),
            })
            .collect()
    }

    #[test]
    fn splits_text_and_expressions() {
        assert_eq!(exprs("${{ a.b }}"), ["<a.b>"]);
        assert_eq!(exprs("x-${{a}}-${{ b }}y"), ["x-", "<a>", "-", "<b>", "y"]);
        assert_eq!(exprs("${{ {'a': {'b': 1}} }}"), ["<{'a': {'b': 1}}>"]);
        assert_eq!(exprs("${{ {'a':1}}}"), ["<{'a':1}>"]);
        assert_eq!(exprs("${{ 'x}}' + \"}}\" }}"), ["<'x}}' + \"}}\">"]);
        assert_eq!(exprs("cost $${{ not }} here"), ["cost ${{ not }} here"]);
        assert_eq!(exprs("plain"), ["plain"]);
        assert_eq!(split("a ${{ b"), Err(TemplateError::Unterminated(2)));
        assert_eq!(split("${{ }}"), Err(TemplateError::Empty(0)));
    }

    #[test]
    fn renders_with_types_and_stringification() {
        let template = json!({
            "whole": "${{ n }}",
            "embedded": "n=${{ n }} s=${{ s }} z=${{ z }} l=${{ l }}",
            "list": ["${{ s }}", 1],
            "${{ key }}": "kept"
        });
        let mut eval = |e: &str| -> Result<Value, TemplateError> {
            Ok(match e {
                "n" => json!(3),
                "s" => json!("x"),
                "z" => Value::Null,
                "l" => json!({"b": [1], "a": true}),
                _ => json!("?"),
            })
        };
        let out = render(&template, &mut eval).unwrap();
        assert_eq!(
            out,
            json!({
                "whole": 3,
                "embedded": "n=3 s=x z= l={\"a\":true,\"b\":[1]}",
                "list": ["x", 1],
                "${{ key }}": "kept"
            })
        );
    }

    #[test]
    fn lists_expressions_with_paths() {
        let v = json!({"a": {"b/c": ["${{ x }}", "${{ y }} ${{ z }}"]}, "d": "${{"});
        let found = expressions(&v, 8).unwrap();
        assert_eq!(found[0].0, "/a/b~1c/0");
        assert_eq!(found[0].1, Ok(vec!["x".to_string()]));
        assert_eq!(found[1].1, Ok(vec!["y".to_string(), "z".to_string()]));
        assert_eq!(found[2].0, "/d");
        assert!(found[2].1.is_err());
        assert_eq!(
            expressions(&json!([[["${{x}}"]]]), 2),
            Err("/0/0/0".to_string())
        );
    }
}
