//! `validate -o json`: one JSON object with a stable, documented shape (`docs/cli.md`).
//!
//! Every key is always present; a value that does not apply is `null`. Lines and
//! columns are 1-based, columns count characters, and the end position is exclusive.

use planspec_validate::{Diagnostic, Report};
use serde_json::{json, Value};

use super::{Facts, Locator};

/// The report as a JSON value.
pub fn render(report: &Report, facts: &Facts) -> Value {
    let locator = Locator::new(&report.sources);
    let s = facts.summary;
    let resources: Vec<Value> = report
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = locator.locate(r.span);
            json!({
                "file": at.as_ref().map(|l| l.file.clone()),
                "line": at.as_ref().map(|l| l.line),
                "kind": r.kind.as_str(),
                "name": r.name,
                "namespace": r.namespace,
                "valid": facts.errors_of[i] == 0,
                "errors": facts.errors_of[i],
                "warnings": facts.warnings_of[i],
            })
        })
        .collect();
    let diagnostics: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| diagnostic(d, &locator))
        .collect();
    json!({
        "valid": s.is_valid(),
        "summary": {
            "files": s.files,
            "resources": s.resources,
            "valid": s.valid,
            "invalid": s.invalid,
            "errors": s.errors,
            "warnings": s.warnings,
        },
        "resources": resources,
        "diagnostics": diagnostics,
    })
}

fn diagnostic(d: &Diagnostic, locator: &Locator<'_>) -> Value {
    let at = d.span.and_then(|s| locator.locate(s));
    let related: Vec<Value> = d
        .related
        .iter()
        .map(|r| {
            let at = locator.locate(r.span);
            json!({
                "file": at.as_ref().map(|l| l.file.clone()),
                "line": at.as_ref().map(|l| l.line),
                "column": at.as_ref().map(|l| l.column),
                "message": r.message,
            })
        })
        .collect();
    json!({
        "code": d.code.id(),
        "slug": d.code.slug(),
        "severity": d.severity,
        "message": d.message,
        "file": at.as_ref().map(|l| l.file.clone()),
        "line": at.as_ref().map(|l| l.line),
        "column": at.as_ref().map(|l| l.column),
        "endLine": at.as_ref().map(|l| l.end_line),
        "endColumn": at.as_ref().map(|l| l.end_column),
        "path": d.path,
        "hint": d.hint,
        "resource": d.resource,
        "related": related,
    })
}
