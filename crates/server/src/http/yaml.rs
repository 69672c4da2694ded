//! Request bodies in YAML (`application/yaml` for create and replace, and the
//! `application/apply-patch+yaml` of server-side apply), read by the validator's loader: the
//! same YAML 1.2 rules, limits (depth, aliases, size) and spans as `planspec validate`.
//!
//! A body that cannot be read is a `400` naming line and column; once the object is read,
//! [`YamlBody::locate`] adds the line and column of each field a `422` (or a strict-decoding
//! `400`) names, so the client sees where in its text the problem is.

use crate::resource::ResourceType;
use crate::status::Status;
use planspec_validate::load::{self, Limits};
use planspec_validate::tree::{Node, Value as NodeValue};
use planspec_validate::{SourceFile, SourceId, Span};
use serde_json::Value;

/// Most loader findings quoted in one `400` message.
const MAX_QUOTED: usize = 5;

/// A YAML body, read: the value and where each part of it came from.
#[derive(Debug)]
pub struct YamlBody {
    file: SourceFile,
    root: Node,
    /// The document as JSON.
    pub value: Value,
    /// The loader's warnings (`line 3, column 1: …`), for `Warning` headers.
    pub warnings: Vec<String>,
}

/// Reads one YAML (or JSON) document from `bytes`. `400` if it is not UTF-8, does not parse,
/// breaks a limit, or holds no document or several.
pub fn parse(bytes: &[u8]) -> Result<YamlBody, Status> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Status::bad_request(format!(
            "the request body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file = SourceFile::new("request body", text);
    let mut diagnostics = Vec::new();
    let mut documents = load::parse(SourceId(0), &file, &Limits::default(), &mut diagnostics);
    let position = |span: Option<Span>| {
        span.map(|s| {
            let at = file.line_col(s.start);
            format!("line {}, column {}: ", at.line, at.column)
        })
        .unwrap_or_default()
    };
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}{}", position(d.span), d.message))
        .collect();
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(MAX_QUOTED);
        let mut message = format!(
            "the request body is not valid YAML: {}",
            errors[..errors.len().min(MAX_QUOTED)].join("; ")
        );
        if more > 0 {
            message.push_str(&format!(" (and {more} more)"));
        }
        return Err(Status::bad_request(message));
    }
    if documents.len() != 1 {
        return Err(Status::bad_request(format!(
            "the request body must hold exactly one YAML document, not {}",
            documents.len()
        )));
    }
    let warnings = diagnostics
        .iter()
        .map(|d| format!("{}{}", position(d.span), d.message))
        .collect();
    let root = documents.remove(0);
    let value = root.to_json();
    Ok(YamlBody {
        file,
        root,
        value,
        warnings,
    })
}

impl YamlBody {
    /// `status` with the line and column of the fields it names: each cause of a `422
    /// Invalid` (`… (line 9, column 11)`, the message rebuilt from them), and each `unknown
    /// field "…"` of a strict-decoding `400`. Fields the text does not have (added by the
    /// server, or renamed from a legacy form) are left as they are.
    pub fn locate(&self, resource: ResourceType, status: Status) -> Status {
        match status.code {
            422 => {
                let Some(details) = status.details.as_deref() else {
                    return status;
                };
                let mut causes = details.causes.clone();
                let mut found = false;
                for cause in &mut causes {
                    if let Some(at) = self.position(&cause.field) {
                        cause.message.push_str(&format!(" ({at})"));
                        found = true;
                    }
                }
                if !found {
                    return status;
                }
                let name = details.name.clone();
                Status::invalid_causes(resource, &name, causes)
            }
            400 => {
                let mut status = status;
                status.message = self.locate_unknown_fields(&status.message);
                status
            }
            _ => status,
        }
    }

    /// `unknown field "spec.x"` → `unknown field "spec.x" (line 4, column 3)`.
    fn locate_unknown_fields(&self, message: &str) -> String {
        const MARK: &str = "unknown field \"";
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        while let Some(at) = rest.find(MARK) {
            let start = at + MARK.len();
            let Some(len) = rest[start..].find('"') else {
                break;
            };
            let field = &rest[start..start + len];
            out.push_str(&rest[..start + len + 1]);
            if let Some(position) = self.position(field) {
                out.push_str(&format!(" ({position})"));
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `line L, column C` of the field at `path` (`spec.graph.nodes[0].kind`): the key of a
    /// mapping entry, or the item of a sequence.
    fn position(&self, path: &str) -> Option<String> {
        let span = find(&self.root, &segments(path)?)?;
        let at = self.file.line_col(span.start);
        Some(format!("line {}, column {}", at.line, at.column))
    }
}

/// One step of a cause's field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// `spec.graph.nodes[0].kind` → `spec`, `graph`, `nodes`, `0`, `kind`.
fn segments(path: &str) -> Option<Vec<Segment>> {
    if path.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !key.is_empty() {
                    out.push(Segment::Key(std::mem::take(&mut key)));
                }
            }
            '[' => {
                if !key.is_empty() {
                    out.push(Segment::Key(std::mem::take(&mut key)));
                }
                let mut digits = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    digits.push(d);
                }
                out.push(Segment::Index(digits.parse().ok()?));
            }
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        out.push(Segment::Key(key));
    }
    Some(out)
}

/// The span a path points at. A mapping key may itself contain dots (`app.kubernetes.io/x`):
/// when a key is not found, it is tried joined with the following keys.
fn find(root: &Node, path: &[Segment]) -> Option<Span> {
    let mut node = root;
    let mut span = root.span;
    let mut i = 0;
    while i < path.len() {
        match (&path[i], &node.value) {
            (Segment::Index(n), NodeValue::Seq(items)) => {
                node = items.get(*n)?;
                span = node.span;
                i += 1;
            }
            (Segment::Key(_), NodeValue::Map(entries)) => {
                let mut key = String::new();
                let mut matched = None;
                for (j, segment) in path.iter().enumerate().skip(i) {
                    let Segment::Key(part) = segment else { break };
                    if j > i {
                        key.push('.');
                    }
                    key.push_str(part);
                    if let Some(entry) = entries.iter().find(|e| e.key == key) {
                        matched = Some((j, entry));
                        break;
                    }
                }
                let (j, entry) = matched?;
                node = &entry.value;
                span = entry.key_span;
                i = j + 1;
            }
            _ => return None,
        }
    }
    Some(span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{cause, StatusCause};
    use planspec_model::Kind;

    const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);
    const TEXT: &str = "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: p\n  labels:\n    app.kubernetes.io/name: x\nspec:\n  description: d\n  graph:\n    nodes:\n      - id: a\n        kind: Tsk\n";

    #[test]
    fn one_document_is_read_with_positions() {
        let body = parse(TEXT.as_bytes()).unwrap();
        assert_eq!(body.value["spec"]["graph"]["nodes"][0]["kind"], "Tsk");
        assert_eq!(
            body.position("spec.graph.nodes[0].kind").as_deref(),
            Some("line 12, column 9")
        );
        assert_eq!(
            body.position("metadata.labels.app.kubernetes.io/name")
                .as_deref(),
            Some("line 6, column 5")
        );
        assert_eq!(body.position("spec.nope"), None);
        assert_eq!(body.position("spec.graph.nodes[7]"), None);
        let status = Status::invalid_causes(
            PLAN,
            "p",
            vec![
                StatusCause::new(
                    cause::FIELD_VALUE_NOT_SUPPORTED,
                    "spec.graph.nodes[0].kind",
                    "bad kind",
                ),
                StatusCause::new(cause::FIELD_VALUE_INVALID, "status.x", "server field"),
            ],
        );
        let located = body.locate(PLAN, status);
        let causes = &located.details.as_ref().unwrap().causes;
        assert_eq!(causes[0].message, "bad kind (line 12, column 9)");
        assert_eq!(causes[1].message, "server field");
        assert!(
            located.message.contains("(line 12, column 9)"),
            "{}",
            located.message
        );
        let strict = Status::bad_request(
            "strict decoding error: unknown field \"spec.description\", unknown field \"x\"",
        );
        assert_eq!(
            body.locate(PLAN, strict).message,
            "strict decoding error: unknown field \"spec.description\" (line 8, column 3), unknown field \"x\""
        );
    }

    #[test]
    fn unreadable_bodies_are_400_with_positions() {
        let s = parse(b"a: [1, 2\nb: c\n").unwrap_err();
        assert_eq!(s.code, 400);
        assert!(s.message.contains("line "), "{}", s.message);
        let s = parse(b"a: 1\n---\nb: 2\n").unwrap_err();
        assert!(s.message.contains("not 2"), "{}", s.message);
        assert!(parse(b"").is_err());
        assert!(parse(b"\xff").unwrap_err().message.contains("UTF-8"));
        let s = parse(b"a: 1\na: 2\n").unwrap_err();
        assert!(s.message.contains("line 2"), "{}", s.message);
        // JSON is YAML.
        assert_eq!(
            parse(br#"{"a": [1]}"#).unwrap().value,
            serde_json::json!({"a": [1]})
        );
    }
}
