//! `validate -o sarif`: SARIF 2.1.0, shaped for GitHub code scanning.
//!
//! One run; one rule per diagnostic code (`Code::ALL`, so `ruleIndex` is stable);
//! artifact URIs relative to `%SRCROOT%` with forward slashes (standard input is the
//! URI `stdin` with no base: it is no file of the repository); columns count Unicode
//! code points (`columnKind`), end columns are exclusive as SARIF requires.

use std::path::{Component, Path};

use planspec_validate::{Code, Diagnostic, Report, Severity};
use serde_json::{json, Map, Value};

use super::{Location, Locator};
use crate::input::STDIN_NAME;

/// Where the rules are documented; `#ps0302` is appended per rule.
pub const HELP_BASE: &str = "https://github.com/planspec/planspec/blob/main/docs/diagnostics.md";
/// The project's home page.
pub const INFORMATION_URI: &str = "https://github.com/planspec/planspec";
const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The report as a SARIF log.
pub fn render(report: &Report) -> Value {
    let locator = Locator::new(&report.sources);
    let cwd = std::env::current_dir().ok();
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| result(d, &locator, cwd.as_deref()))
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "planspec",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules(),
                }
            },
            "invocations": [{ "executionSuccessful": true }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// One `reportingDescriptor` per code, in catalogue order.
fn rules() -> Vec<Value> {
    Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.id(),
                "name": code.slug(),
                "shortDescription": { "text": code.summary() },
                "helpUri": format!("{HELP_BASE}#{}", code.id().to_ascii_lowercase()),
                "defaultConfiguration": { "level": level(code.default_severity()) },
            })
        })
        .collect()
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn result(d: &Diagnostic, locator: &Locator<'_>, cwd: Option<&Path>) -> Value {
    let mut text = d.message.clone();
    if let Some(hint) = &d.hint {
        text.push_str("\nhelp: ");
        text.push_str(hint);
    }
    let mut result = Map::new();
    result.insert("ruleId".into(), json!(d.code.id()));
    result.insert("ruleIndex".into(), json!(rule_index(d.code)));
    result.insert("level".into(), json!(level(d.severity)));
    result.insert("message".into(), json!({ "text": text }));
    if let Some(at) = d.span.and_then(|s| locator.locate(s)) {
        result.insert(
            "locations".into(),
            json!([{ "physicalLocation": physical(&at, cwd) }]),
        );
    }
    let related: Vec<Value> = d
        .related
        .iter()
        .filter_map(|r| Some((r, locator.locate(r.span)?)))
        .enumerate()
        .map(|(i, (r, at))| {
            json!({
                "id": i + 1,
                "physicalLocation": physical(&at, cwd),
                "message": { "text": r.message },
            })
        })
        .collect();
    if !related.is_empty() {
        result.insert("relatedLocations".into(), Value::Array(related));
    }
    let mut properties = Map::new();
    if let Some(path) = &d.path {
        properties.insert("path".into(), json!(path));
    }
    if let Some(resource) = &d.resource {
        properties.insert("resource".into(), json!(resource));
    }
    if !properties.is_empty() {
        result.insert("properties".into(), Value::Object(properties));
    }
    Value::Object(result)
}

fn rule_index(code: Code) -> usize {
    Code::ALL.iter().position(|&c| c == code).unwrap_or(0)
}

fn physical(at: &Location, cwd: Option<&Path>) -> Value {
    let mut artifact = Map::new();
    match artifact_uri(&at.file, cwd) {
        ArtifactUri::Relative(uri) => {
            artifact.insert("uri".into(), json!(uri));
            artifact.insert("uriBaseId".into(), json!("%SRCROOT%"));
        }
        ArtifactUri::Absolute(uri) => {
            artifact.insert("uri".into(), json!(uri));
        }
        ArtifactUri::Stdin => {
            artifact.insert("uri".into(), json!("stdin"));
            artifact.insert("description".into(), json!({ "text": "standard input" }));
        }
    }
    json!({
        "artifactLocation": artifact,
        "region": {
            "startLine": at.line,
            "startColumn": at.column,
            "endLine": at.end_line,
            "endColumn": at.end_column,
        }
    })
}

/// A SARIF artifact URI.
#[derive(Debug, PartialEq, Eq)]
enum ArtifactUri {
    /// Relative to `%SRCROOT%` (the working directory).
    Relative(String),
    /// A `file:` URI, for paths outside the working directory.
    Absolute(String),
    /// Standard input: the URI `stdin`, with no `uriBaseId` (it is no file under
    /// `%SRCROOT%`).
    Stdin,
}

/// `./examples\x y.yaml` → `examples/x%20y.yaml`; absolute paths inside `cwd` become relative.
fn artifact_uri(name: &str, cwd: Option<&Path>) -> ArtifactUri {
    // A file called `<stdin>` is named `./<stdin>` by the reader, so this is standard input.
    if name == STDIN_NAME {
        return ArtifactUri::Stdin;
    }
    let path = Path::new(name);
    if path.is_absolute() {
        if let Some(rest) = cwd.and_then(|c| path.strip_prefix(c).ok()) {
            return ArtifactUri::Relative(encode_path(rest));
        }
        let mut uri = String::from("file://");
        let encoded = encode_path(path);
        if !encoded.starts_with('/') {
            uri.push('/');
        }
        uri.push_str(&encoded);
        return ArtifactUri::Absolute(uri);
    }
    ArtifactUri::Relative(encode_path(path))
}

/// The path's components joined by `/`, each percent-encoded; `.` components dropped.
fn encode_path(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut rooted = false;
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::RootDir => rooted = true,
            Component::Prefix(prefix) => {
                parts.push(prefix.as_os_str().to_string_lossy().replace('\\', "/"))
            }
            Component::ParentDir => parts.push("..".into()),
            Component::Normal(part) => parts.push(encode_segment(&part.to_string_lossy())),
        }
    }
    let joined = parts.join("/");
    if rooted && !joined.contains(':') {
        format!("/{joined}")
    } else {
        joined
    }
}

fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_with_forward_slashes() {
        let rel = |s: &str| ArtifactUri::Relative(s.to_string());
        assert_eq!(
            artifact_uri("examples/x.yaml", None),
            rel("examples/x.yaml")
        );
        assert_eq!(
            artifact_uri("./examples/x.yaml", None),
            rel("examples/x.yaml")
        );
        assert_eq!(artifact_uri("a b/c:d.yaml", None), rel("a%20b/c%3Ad.yaml"));
        assert_eq!(artifact_uri("<stdin>", None), ArtifactUri::Stdin);
        assert_eq!(artifact_uri("./<stdin>", None), rel("%3Cstdin%3E"));
        assert_eq!(artifact_uri("../up/x.yaml", None), rel("../up/x.yaml"));
    }

    #[cfg(unix)]
    #[test]
    fn absolute_paths_inside_the_root_become_relative() {
        let cwd = Path::new("/repo");
        assert_eq!(
            artifact_uri("/repo/plans/x.yaml", Some(cwd)),
            ArtifactUri::Relative("plans/x.yaml".into())
        );
        assert_eq!(
            artifact_uri("/elsewhere/x.yaml", Some(cwd)),
            ArtifactUri::Absolute("file:///elsewhere/x.yaml".into())
        );
    }

    #[test]
    fn stdin_is_not_a_file_under_the_source_root() {
        let at = Location {
            file: STDIN_NAME.into(),
            line: 6,
            column: 1,
            end_line: 6,
            end_column: 5,
        };
        let physical = physical(&at, Some(Path::new("/repo")));
        let artifact = &physical["artifactLocation"];
        assert_eq!(artifact["uri"], "stdin");
        assert!(artifact.get("uriBaseId").is_none(), "{artifact}");
        assert_eq!(artifact["description"]["text"], "standard input");
        assert_eq!(physical["region"]["startLine"], 6);
    }

    #[test]
    fn one_rule_per_code_in_order() {
        let rules = rules();
        assert_eq!(rules.len(), Code::ALL.len());
        assert_eq!(rules[rule_index(Code::MissingField)]["id"], "PS0302");
        assert!(rules[rule_index(Code::MissingField)]["helpUri"]
            .as_str()
            .unwrap()
            .ends_with("diagnostics.md#ps0302"));
    }
}
