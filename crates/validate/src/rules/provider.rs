//! Provider rules a schema cannot express: the implementation section must match `type`, an
//! `exec` shell command is one script, `http` only POSTs, and secret references
//! (`{secretFile}`, `{secretEnv}`) have a safe shape. The runtime checks the same again when it
//! pins the Provider; reporting it here puts the finding at its line.

use crate::diagnostic::{Code, Diagnostic};
use crate::tree::Node;
use planspec_model::provider::SecretRef;

/// Checks one Provider document.
pub fn check(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get("spec") else {
        return;
    };
    let provider_type = spec.get("type").and_then(Node::as_str);
    let anchor = spec.entry("type").map(|e| e.key_span).unwrap_or(spec.span);
    let mut push = |node_span, path: &str, message: String, hint: &str| {
        diags.push(
            Diagnostic::new(Code::ProviderImplementation, message)
                .at(node_span)
                .with_path(path)
                .with_hint(hint),
        );
    };
    for (section, wanted) in [("exec", "exec"), ("http", "http")] {
        let present = spec.entry(section);
        match (provider_type, present) {
            (Some(t), None) if t == wanted => push(
                anchor,
                "spec.type",
                format!("`type: {t}` needs `spec.{section}`"),
                "describe the implementation in the section named after the type",
            ),
            (Some(t), Some(entry)) if t != wanted => push(
                entry.key_span,
                &format!("spec.{section}"),
                format!("`spec.{section}` does not fit `type: {t}`"),
                "a Provider has exactly the implementation section of its type",
            ),
            _ => {}
        }
    }
    if let Some(exec) = spec.get("exec") {
        let shell = exec.get("shell").and_then(Node::as_bool).unwrap_or(false);
        let commands = exec
            .get("command")
            .and_then(Node::as_seq)
            .map_or(0, <[Node]>::len);
        let args = exec
            .get("args")
            .and_then(Node::as_seq)
            .map_or(0, <[Node]>::len);
        if shell && (commands != 1 || args != 0) {
            let span = exec.entry("command").map_or(exec.span, |e| e.key_span);
            push(
                span,
                "spec.exec.command",
                "with `shell: true`, `command` is one script and `args` is empty".into(),
                "write the script as the single element of `command`",
            );
        }
        secret_refs(exec, "env", "spec.exec.env", &mut push);
    }
    if let Some(http) = spec.get("http") {
        if let Some(entry) = http.entry("method") {
            let method = entry.value.as_str().unwrap_or_default();
            if !method.eq_ignore_ascii_case("POST") {
                push(
                    entry.value.span,
                    "spec.http.method",
                    format!("method `{method}` is not supported: the http provider POSTs"),
                    "leave `method` out, or write `POST`",
                );
            }
        }
        secret_refs(http, "headers", "spec.http.headers", &mut push);
    }
}

fn secret_refs(
    section: &Node,
    field: &str,
    path: &str,
    push: &mut impl FnMut(crate::source::Span, &str, String, &str),
) {
    let Some(entries) = section.get(field).and_then(Node::as_map) else {
        return;
    };
    for entry in entries {
        let Some(map) = entry.value.as_map() else {
            continue;
        };
        let [only] = map else {
            continue; // the schema reports objects that are not one reference
        };
        let Some(text) = only.value.as_str() else {
            continue;
        };
        let reference = match only.key.as_str() {
            "secretFile" => SecretRef::SecretFile(text.to_string()),
            "secretEnv" => SecretRef::SecretEnv(text.to_string()),
            _ => continue,
        };
        if let Err(problem) = reference.check() {
            push(
                only.value.span,
                &format!("{path}.{}", entry.key),
                problem,
                "secrets are read at dispatch from the server's secrets directory or its \
                 PLANSPEC_SECRET_* variables",
            );
        }
    }
}
