//! The envelope of each document: `apiVersion`, `kind`, and `kind: List` flattening.

use crate::diagnostic::{Code, Diagnostic};
use crate::suggest;
use crate::tree::{Node, Value};
use planspec_model::{Kind, API_VERSION};

/// A document that names a PlanSpec kind, ready for the per-kind stages.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub kind: Kind,
    pub node: Node,
}

/// Most `List`s nested inside each other that are flattened.
const MAX_LIST_NESTING: usize = 8;

/// Sorts documents into resources, flattening `kind: List`. Documents whose envelope
/// is broken are reported and dropped.
pub fn resources(documents: Vec<Node>, diags: &mut Vec<Diagnostic>) -> Vec<Candidate> {
    let mut out = Vec::new();
    for doc in documents {
        classify(doc, 0, &mut out, diags);
    }
    out
}

fn classify(doc: Node, depth: usize, out: &mut Vec<Candidate>, diags: &mut Vec<Diagnostic>) {
    if !matches!(doc.value, Value::Map(_)) {
        diags.push(
            Diagnostic::new(
                Code::NotAnObject,
                format!("a PlanSpec document must be a mapping with `apiVersion`, `kind` and `metadata`; found {}", describe(&doc)),
            )
            .at(doc.span),
        );
        return;
    }
    let first_key = doc
        .as_map()
        .and_then(|e| e.first())
        .map(|e| e.key_span)
        .unwrap_or(doc.span);
    let kind_node = doc.get("kind");
    let kind_name = kind_node.and_then(Node::as_str);
    if kind_name == Some("List") {
        if list_api_version_ok(&doc, diags) {
            flatten_list(doc, depth, out, diags);
        }
        return;
    }
    let api_ok = check_api_version(&doc, first_key, diags);
    let Some(kind_node) = kind_node else {
        diags.push(
            Diagnostic::new(Code::MissingKind, "missing `kind`")
                .at(first_key)
                .with_hint(format!("add `kind:` with one of {}", kind_list())),
        );
        return;
    };
    let Some(name) = kind_name else {
        diags.push(
            Diagnostic::new(
                Code::WrongType,
                format!("`kind` must be a string, found {}", describe(kind_node)),
            )
            .at(kind_node.span)
            .with_path("kind"),
        );
        return;
    };
    let Some(kind) = Kind::ALL.iter().copied().find(|k| k.as_str() == name) else {
        let hint = suggest::did_you_mean(name, Kind::ALL.iter().map(|k| k.as_str()))
            .unwrap_or_else(|| format!("PlanSpec kinds are {}", kind_list()));
        diags.push(
            Diagnostic::new(
                Code::UnknownKind,
                format!("`{name}` is not a PlanSpec kind"),
            )
            .at(kind_node.span)
            .with_path("kind")
            .with_hint(hint),
        );
        return;
    };
    if api_ok {
        out.push(Candidate { kind, node: doc });
    }
}

/// Reports a missing or foreign `apiVersion`; returns whether the document may go on.
fn check_api_version(doc: &Node, anchor: crate::source::Span, diags: &mut Vec<Diagnostic>) -> bool {
    match doc.get("apiVersion") {
        None => {
            diags.push(
                Diagnostic::new(Code::MissingApiVersion, "missing `apiVersion`")
                    .at(anchor)
                    .with_hint(format!("add `apiVersion: {API_VERSION}`")),
            );
            false
        }
        Some(node) if node.as_str() == Some(API_VERSION) => true,
        Some(node) => {
            let found = node
                .as_str()
                .map(|s| format!("`{s}`"))
                .unwrap_or_else(|| describe(node));
            let hint = match node.as_str() {
                Some(s) if s.starts_with("planspec.io/") => {
                    format!("this version of PlanSpec reads `{API_VERSION}`")
                }
                Some(s) if strsim::levenshtein(s, API_VERSION) <= 4 => {
                    format!("did you mean `{API_VERSION}`?")
                }
                _ => format!("PlanSpec resources use `apiVersion: {API_VERSION}`"),
            };
            diags.push(
                Diagnostic::new(
                    Code::UnknownApiVersion,
                    format!("unsupported apiVersion {found}"),
                )
                .at(node.span)
                .with_path("apiVersion")
                .with_hint(hint),
            );
            false
        }
    }
}

/// A `List` may name our API version, Kubernetes' `v1` (what `kubectl get -o yaml`
/// writes), or none; anything else is reported and the list skipped.
fn list_api_version_ok(doc: &Node, diags: &mut Vec<Diagnostic>) -> bool {
    let Some(node) = doc.get("apiVersion") else {
        return true;
    };
    if matches!(node.as_str(), Some(API_VERSION | "v1")) {
        return true;
    }
    let found = node
        .as_str()
        .map(|s| format!("`{s}`"))
        .unwrap_or_else(|| describe(node));
    diags.push(
        Diagnostic::new(
            Code::UnknownApiVersion,
            format!("unsupported apiVersion {found} on a `List`"),
        )
        .at(node.span)
        .with_path("apiVersion")
        .with_hint(format!("a `List` uses `apiVersion: {API_VERSION}` or `v1`")),
    );
    false
}

fn flatten_list(doc: Node, depth: usize, out: &mut Vec<Candidate>, diags: &mut Vec<Diagnostic>) {
    let span = doc.span;
    let Value::Map(entries) = doc.value else {
        return;
    };
    let items = entries
        .into_iter()
        .find(|e| e.key == "items")
        .map(|e| e.value);
    match items {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) if depth < MAX_LIST_NESTING => {
            for item in items {
                classify(item, depth + 1, out, diags);
            }
        }
        Some(Node {
            value: Value::Seq(_),
            span,
        }) => diags.push(
            Diagnostic::new(
                Code::InvalidList,
                format!("`List`s are nested more than {MAX_LIST_NESTING} deep"),
            )
            .at(span),
        ),
        Some(other) => diags.push(
            Diagnostic::new(
                Code::InvalidList,
                format!(
                    "`items` of a `List` must be an array, found {}",
                    describe(&other)
                ),
            )
            .at(other.span)
            .with_path("items"),
        ),
        None => diags.push(
            Diagnostic::new(Code::InvalidList, "a `kind: List` needs an `items` array")
                .at(span)
                .with_hint("put the resources under `items:`, one `- apiVersion: …` entry each"),
        ),
    }
}

fn kind_list() -> String {
    Kind::ALL
        .iter()
        .map(|k| format!("`{}`", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Null => "an empty document".to_string(),
        Value::Seq(_) => "an array".to_string(),
        Value::Map(_) => "a mapping".to_string(),
        Value::String(s) => format!("the string `{}`", s.chars().take(40).collect::<String>()),
        _ => format!("the {} `{}`", node.type_name(), node.to_json()),
    }
}
