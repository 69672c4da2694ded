//! Admission: the object about to be stored goes through the one validator
//! (`planspec_validate::validate`), as JSON text in a `SourceMap`. Errors reject the write
//! with `422 Invalid` whose causes carry the field paths; warnings travel back as `Warning`
//! response headers. The validator's normalised form (legacy forms rewritten to the modern
//! one) is what gets stored: only the modern form is ever written.

use crate::api::params::FieldValidation;
use crate::resource::ResourceType;
use crate::status::Status;
use planspec_validate::{validate, Code, Diagnostic, Options, SourceFile, SourceMap};
use serde_json::Value;

/// Most warnings returned for one write (the rest are counted in a last one).
pub const MAX_WARNINGS: usize = 20;

/// An admitted object.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// The object to store (normalised).
    pub object: Value,
    /// Warnings for the client, one line each (`path: CODE: message`).
    pub warnings: Vec<String>,
}

/// Validates `object` (a whole object of type `resource`, named `name`) and returns the form
/// to store with the warnings, or the `Status` that rejects it.
///
/// Namespaces are not PlanSpec documents: they pass unchanged. Two findings are not reported:
/// references to resources that are not part of the request (`PS0501`: the other resources
/// live in the store, not in the request), and server-owned metadata (`PS0319`: the object
/// validated is the one to store, whose server-owned fields the server has just set).
pub fn admit(
    resource: ResourceType,
    name: &str,
    object: Value,
    field_validation: FieldValidation,
) -> Result<Admitted, Status> {
    let text = serde_json::to_string(&object).map_err(Status::internal_error)?;
    admit_text(resource, name, object, text, field_validation)
}

/// [`admit`] for an object already serialised as `text` (the JSON of `object`).
pub fn admit_text(
    resource: ResourceType,
    name: &str,
    object: Value,
    text: String,
    field_validation: FieldValidation,
) -> Result<Admitted, Status> {
    let ResourceType::Kind(kind) = resource else {
        return Ok(Admitted {
            object,
            warnings: Vec::new(),
        });
    };
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new(format!("{}/{name}", kind.as_str()), text));
    let report = validate(sources, &Options::default());
    let diagnostics: Vec<Diagnostic> = report
        .diagnostics
        .into_iter()
        .filter(|d| !matches!(d.code, Code::UnresolvedReference | Code::ServerOwnedField))
        .filter(|d| {
            field_validation != FieldValidation::Ignore || !is_field_finding(d) || d.is_error()
        })
        .collect();
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Status::invalid(resource, name, &diagnostics));
    }
    if field_validation == FieldValidation::Strict {
        let unknown: Vec<String> = diagnostics
            .iter()
            .filter(|d| is_field_finding(d))
            .map(|d| match &d.path {
                Some(p) => format!("unknown field \"{p}\""),
                None => d.message.clone(),
            })
            .collect();
        if !unknown.is_empty() {
            return Err(Status::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                kind.as_str(),
                resource.version(),
                kind.as_str(),
                unknown.join(", ")
            )));
        }
    }
    let mut warnings: Vec<String> = diagnostics.iter().map(warning_text).collect();
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - MAX_WARNINGS + 1;
        warnings.truncate(MAX_WARNINGS - 1);
        warnings.push(format!("… and {more} more warnings"));
    }
    let object = match report.resources.first() {
        Some(r) if report.resources.len() == 1 => r.node.to_json(),
        _ => object,
    };
    Ok(Admitted { object, warnings })
}

/// Findings about the fields themselves, which `fieldValidation` governs.
fn is_field_finding(d: &Diagnostic) -> bool {
    d.code == Code::UnknownField
}

/// `spec.x: PS0303: unknown field `x` (hint: …)`.
fn warning_text(d: &Diagnostic) -> String {
    let mut text = String::new();
    if let Some(path) = &d.path {
        text.push_str(path);
        text.push_str(": ");
    }
    text.push_str(d.code.id());
    text.push_str(": ");
    text.push_str(&d.message);
    if let Some(hint) = &d.hint {
        text.push_str(" (hint: ");
        text.push_str(hint);
        text.push(')');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_model::Kind;
    use serde_json::json;

    const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);

    fn plan() -> Value {
        json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "p", "namespace": "default", "uid": "u",
                         "creationTimestamp": "2025-01-01T00:00:00Z", "generation": 1},
            "spec": {"description": "d", "goalRef": {"name": "elsewhere"},
                     "graph": {"nodes": [{"id": "a", "kind": "Task"}]}}
        })
    }

    #[test]
    fn a_valid_object_passes_without_reference_warnings() {
        let a = admit(PLAN, "p", plan(), FieldValidation::Warn).unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        assert_eq!(a.object, plan());
    }

    #[test]
    fn errors_are_422_with_paths() {
        let mut p = plan();
        p["spec"]["graph"]["nodes"][0]["kind"] = json!("Tsk");
        let s = admit(PLAN, "p", p, FieldValidation::Warn).unwrap_err();
        assert_eq!(s.code, 422);
        let causes = s.details.unwrap().causes;
        assert_eq!(causes[0].field, "spec.graph.nodes[0].kind");
    }

    #[test]
    fn unknown_fields_follow_field_validation() {
        let mut p = plan();
        p["spec"]["colour"] = json!("blue");
        let a = admit(PLAN, "p", p.clone(), FieldValidation::Warn).unwrap();
        assert_eq!(a.warnings.len(), 1);
        assert!(
            a.warnings[0].starts_with("spec.colour: PS0303: "),
            "{:?}",
            a.warnings
        );
        assert!(admit(PLAN, "p", p.clone(), FieldValidation::Ignore)
            .unwrap()
            .warnings
            .is_empty());
        let s = admit(PLAN, "p", p, FieldValidation::Strict).unwrap_err();
        assert_eq!(s.code, 400);
        assert!(
            s.message.contains("unknown field \"spec.colour\""),
            "{}",
            s.message
        );
    }

    #[test]
    fn namespaces_pass() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
        let a = admit(
            ResourceType::Namespace,
            "x",
            ns.clone(),
            FieldValidation::Strict,
        )
        .unwrap();
        assert_eq!(a.object, ns);
    }
}
