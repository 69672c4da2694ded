//! The Kubernetes `Status` object: the body of every error response (and of a few successes).
//!
//! kubectl reads `reason` to print `Error from server (NotFound): plans.planspec.io "x" not
//! found`; for `Invalid` it prints `The Plan "x" is invalid:` followed by one line per
//! `details.causes` entry (`field: message`). Messages follow the wording of the Kubernetes API
//! server so that clients' and users' expectations carry over.

use crate::resource::{ListMeta, ResourceType};
use planspec_model::selector::SelectorError;
use planspec_validate::{Code, Diagnostic};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The usual detail of a 409 `Conflict` on a stale `resourceVersion`.
pub const CONFLICT_MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// `status` of a [`Status`]: `Success` or `Failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The operation succeeded.
    Success,
    /// The operation failed; `reason` and `code` say how.
    Failure,
}

/// Machine-readable `reason` of a [`Status`] (`metav1.StatusReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    /// 400: the request is malformed.
    BadRequest,
    /// 401: the client is not authenticated.
    Unauthorized,
    /// 403: the client may not do this.
    Forbidden,
    /// 404: the resource does not exist.
    NotFound,
    /// 405: the verb is not supported on this resource.
    MethodNotAllowed,
    /// 406: none of the accepted media types can be produced.
    NotAcceptable,
    /// 409: the resource already exists.
    AlreadyExists,
    /// 409: the write conflicts with the stored state (stale `resourceVersion`).
    Conflict,
    /// 410: the requested `resourceVersion` is no longer in the watch window.
    Expired,
    /// 410: the resource is gone.
    Gone,
    /// 413: the body is too large.
    RequestEntityTooLarge,
    /// 415: the body's media type is not accepted.
    UnsupportedMediaType,
    /// 422: the object is invalid; `details.causes` say where.
    Invalid,
    /// 429: too many requests.
    TooManyRequests,
    /// 500: a server bug or unexpected failure.
    InternalError,
    /// 503: the server cannot serve the request now.
    ServiceUnavailable,
    /// 504: the operation did not finish in time.
    Timeout,
    /// Any reason this server does not produce (when reading a `Status`).
    #[serde(other)]
    Unknown,
}

/// Standard `details.causes[].reason` values (`metav1.CauseType`).
pub mod cause {
    /// A required field is missing.
    pub const FIELD_VALUE_REQUIRED: &str = "FieldValueRequired";
    /// A field has an invalid value.
    pub const FIELD_VALUE_INVALID: &str = "FieldValueInvalid";
    /// A field's value is not one of the supported values.
    pub const FIELD_VALUE_NOT_SUPPORTED: &str = "FieldValueNotSupported";
    /// A value that must be unique is repeated.
    pub const FIELD_VALUE_DUPLICATE: &str = "FieldValueDuplicate";
    /// A field may not be set here.
    pub const FIELD_VALUE_FORBIDDEN: &str = "FieldValueForbidden";
    /// A value refers to something that does not exist.
    pub const FIELD_VALUE_NOT_FOUND: &str = "FieldValueNotFound";
    /// A value has the wrong type.
    pub const FIELD_VALUE_TYPE_INVALID: &str = "FieldValueTypeInvalid";
    /// A list has too many items.
    pub const FIELD_VALUE_TOO_MANY: &str = "FieldValueTooMany";
    /// A value is too long.
    pub const FIELD_VALUE_TOO_LONG: &str = "FieldValueTooLong";
    /// An internal error about the field.
    pub const INTERNAL_ERROR: &str = "InternalError";
}

/// One cause of a failure (`metav1.StatusCause`), usually a field that is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    /// What kind of problem it is (see [`cause`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field path, e.g. `spec.graph.nodes[3].id`; empty for the object as a whole.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl StatusCause {
    /// A cause about `field`.
    pub fn new(reason: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        StatusCause {
            reason: reason.to_owned(),
            message: message.into(),
            field: field.into(),
        }
    }

    /// The cause of a validation diagnostic: `field` is the diagnostic's path, `message` is
    /// `CODE: message (hint: …)`, `reason` is derived from the code.
    pub fn from_diagnostic(d: &Diagnostic) -> Self {
        let mut message = format!("{}: {}", d.code.id(), d.message);
        if let Some(hint) = &d.hint {
            message.push_str(" (hint: ");
            message.push_str(hint);
            message.push(')');
        }
        StatusCause {
            reason: cause_reason(d.code).to_owned(),
            message,
            field: d.path.clone().unwrap_or_default(),
        }
    }
}

/// The `details.causes[].reason` for a diagnostic code.
fn cause_reason(code: Code) -> &'static str {
    match code {
        Code::MissingField | Code::MissingApiVersion | Code::MissingKind => {
            cause::FIELD_VALUE_REQUIRED
        }
        Code::WrongType | Code::NotAnObject => cause::FIELD_VALUE_TYPE_INVALID,
        Code::InvalidEnum
        | Code::InvalidConstValue
        | Code::UnknownApiVersion
        | Code::UnknownKind => cause::FIELD_VALUE_NOT_SUPPORTED,
        Code::DuplicateKey
        | Code::DuplicateItem
        | Code::DuplicateNodeId
        | Code::DuplicateOutput
        | Code::DuplicateCriterion
        | Code::DuplicateParameter
        | Code::DuplicateResource => cause::FIELD_VALUE_DUPLICATE,
        Code::UnknownField | Code::FieldNotAllowed | Code::ServerOwnedField => {
            cause::FIELD_VALUE_FORBIDDEN
        }
        Code::UnknownEdgeNode
        | Code::UnknownDependsOn
        | Code::UnknownGroupChild
        | Code::UnresolvedReference
        | Code::UnknownNodeReference => cause::FIELD_VALUE_NOT_FOUND,
        Code::Internal => cause::INTERNAL_ERROR,
        _ => cause::FIELD_VALUE_INVALID,
    }
}

/// Extra information about a [`Status`] (`metav1.StatusDetails`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// Name of the resource concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its API group (`planspec.io`; empty for the core group).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Its kind (`Plan`) for `Invalid`, or its plural (`plans`) otherwise, as Kubernetes does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Its UID, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The individual causes (fields) of the failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds after which the client may retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

impl StatusDetails {
    fn of(resource: ResourceType, name: &str) -> Self {
        StatusDetails {
            name: name.to_owned(),
            group: resource.group().to_owned(),
            kind: resource.plural().to_owned(),
            ..StatusDetails::default()
        }
    }
}

/// A Kubernetes `Status` object (`kind: Status, apiVersion: v1`).
///
/// Build failures with the constructors ([`Status::not_found`], [`Status::invalid`], …); the
/// HTTP layer sends it as JSON with [`Status::code`] as the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `Status`.
    pub kind: String,
    /// Always `v1`.
    pub api_version: String,
    /// Always empty (`{}`). Boxed, like `details`, to keep `Result<_, Status>` small.
    #[serde(default)]
    pub metadata: Box<ListMeta>,
    /// `Success` or `Failure`.
    pub status: Outcome,
    /// What happened, for a person.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// What happened, for a program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Which resource, and which fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<StatusDetails>>,
    /// The HTTP status code.
    pub code: u16,
}

impl Status {
    /// A failure with this code, reason and message and no details.
    pub fn failure(code: u16, reason: Reason, message: impl Into<String>) -> Self {
        Status {
            kind: "Status".to_owned(),
            api_version: "v1".to_owned(),
            metadata: Box::default(),
            status: Outcome::Failure,
            message: message.into(),
            reason: Some(reason),
            details: None,
            code,
        }
    }

    /// A success (`200`), e.g. the answer to a delete that finished immediately.
    pub fn success(resource: ResourceType, name: &str, uid: &str) -> Self {
        Status {
            status: Outcome::Success,
            reason: None,
            details: Some(Box::new(StatusDetails {
                uid: uid.to_owned(),
                ..StatusDetails::of(resource, name)
            })),
            ..Status::failure(200, Reason::Unknown, "")
        }
    }

    fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// 404 `NotFound`: `plans.planspec.io "x" not found`.
    pub fn not_found(resource: ResourceType, name: &str) -> Self {
        Status::failure(
            404,
            Reason::NotFound,
            format!("{} \"{name}\" not found", resource.qualified_plural()),
        )
        .with_details(StatusDetails::of(resource, name))
    }

    /// 409 `AlreadyExists`: `plans.planspec.io "x" already exists`.
    pub fn already_exists(resource: ResourceType, name: &str) -> Self {
        Status::failure(
            409,
            Reason::AlreadyExists,
            format!("{} \"{name}\" already exists", resource.qualified_plural()),
        )
        .with_details(StatusDetails::of(resource, name))
    }

    /// 409 `Conflict`: `Operation cannot be fulfilled on plans.planspec.io "x": <detail>`.
    /// Use [`CONFLICT_MODIFIED`] (or [`Status::conflict_modified`]) for a stale
    /// `resourceVersion`.
    pub fn conflict(resource: ResourceType, name: &str, detail: &str) -> Self {
        Status::failure(
            409,
            Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {detail}",
                resource.qualified_plural()
            ),
        )
        .with_details(StatusDetails::of(resource, name))
    }

    /// 409 `Conflict` for a stale `resourceVersion` (the message clients know to retry on).
    pub fn conflict_modified(resource: ResourceType, name: &str) -> Self {
        Status::conflict(resource, name, CONFLICT_MODIFIED)
    }

    /// 422 `Invalid` from validation diagnostics: one cause per error diagnostic (all of them
    /// if none is an error: the caller decided they reject the object, e.g. in strict mode).
    /// Warnings are not causes; send them as `Warning` headers.
    pub fn invalid(resource: ResourceType, name: &str, diagnostics: &[Diagnostic]) -> Self {
        let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
        let chosen: Vec<&Diagnostic> = if errors.is_empty() {
            diagnostics.iter().collect()
        } else {
            errors
        };
        let causes = chosen
            .into_iter()
            .map(StatusCause::from_diagnostic)
            .collect();
        Status::invalid_causes(resource, name, causes)
    }

    /// 422 `Invalid` with these causes:
    /// `Plan.planspec.io "x" is invalid: [spec.a: …, spec.b: …]`.
    pub fn invalid_causes(resource: ResourceType, name: &str, causes: Vec<StatusCause>) -> Self {
        let parts: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let summary = match parts.len() {
            0 => String::new(),
            1 => format!(": {}", parts[0]),
            _ => format!(": [{}]", parts.join(", ")),
        };
        Status::failure(
            422,
            Reason::Invalid,
            format!(
                "{} \"{name}\" is invalid{summary}",
                resource.qualified_kind()
            ),
        )
        .with_details(StatusDetails {
            name: name.to_owned(),
            group: resource.group().to_owned(),
            kind: resource.kind().to_owned(),
            causes,
            ..StatusDetails::default()
        })
    }

    /// 400 `BadRequest`: a malformed request (bad query parameter, undecodable body …).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::failure(400, Reason::BadRequest, message)
    }

    /// 403 `Forbidden`: `plans.planspec.io "x" is forbidden: <why>` (without the name part
    /// when `name` is empty).
    pub fn forbidden(resource: ResourceType, name: &str, why: &str) -> Self {
        let what = if name.is_empty() {
            resource.qualified_plural()
        } else {
            format!("{} \"{name}\"", resource.qualified_plural())
        };
        Status::failure(
            403,
            Reason::Forbidden,
            format!("{what} is forbidden: {why}"),
        )
        .with_details(StatusDetails::of(resource, name))
    }

    /// 410 `Expired` with a message (what a watch or list gets for a compacted
    /// `resourceVersion`; client-go then relists).
    pub fn gone(message: impl Into<String>) -> Self {
        Status::failure(410, Reason::Expired, message)
    }

    /// 410 `Expired`: `too old resource version: <requested> (<oldest>)`, the message the
    /// Kubernetes API server uses.
    pub fn resource_version_too_old(requested: i64, oldest: i64) -> Self {
        Status::gone(format!("too old resource version: {requested} ({oldest})"))
    }

    /// 405 `MethodNotAllowed`: `<verb> is not supported on resources of kind "plans.planspec.io"`.
    pub fn method_not_allowed(resource: Option<ResourceType>, verb: &str) -> Self {
        match resource {
            Some(r) => Status::failure(
                405,
                Reason::MethodNotAllowed,
                format!(
                    "{verb} is not supported on resources of kind \"{}\"",
                    r.qualified_plural()
                ),
            )
            .with_details(StatusDetails::of(r, "")),
            None => Status::failure(
                405,
                Reason::MethodNotAllowed,
                format!("{verb} is not supported here"),
            ),
        }
    }

    /// 406 `NotAcceptable`: none of the `Accept`ed media types can be produced.
    pub fn not_acceptable(supported: &[&str]) -> Self {
        Status::failure(
            406,
            Reason::NotAcceptable,
            format!(
                "only the following media types are accepted: {}",
                supported.join(", ")
            ),
        )
    }

    /// 415 `UnsupportedMediaType`: the body's `Content-Type` is not one of `accepted`.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        let got = if content_type.is_empty() {
            String::new()
        } else {
            format!(" ({content_type})")
        };
        Status::failure(
            415,
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format{got} - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 413 `RequestEntityTooLarge`: `Request entity too large: <detail>`.
    pub fn request_entity_too_large(detail: impl fmt::Display) -> Self {
        Status::failure(
            413,
            Reason::RequestEntityTooLarge,
            format!("Request entity too large: {detail}"),
        )
    }

    /// 500 `InternalError`: `Internal error occurred: <error>`, the error also as a cause.
    pub fn internal_error(error: impl fmt::Display) -> Self {
        let error = error.to_string();
        Status::failure(
            500,
            Reason::InternalError,
            format!("Internal error occurred: {error}"),
        )
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                message: error,
                ..StatusCause::default()
            }],
            ..StatusDetails::default()
        })
    }

    /// 400 for a bad `labelSelector` or `fieldSelector` query parameter.
    pub fn invalid_selector(parameter: &str, error: &SelectorError) -> Self {
        Status::bad_request(format!("invalid {parameter}: {error}"))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_model::Kind;
    use serde_json::json;

    const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);

    fn to_json(s: &Status) -> serde_json::Value {
        serde_json::to_value(s).unwrap()
    }

    #[test]
    fn not_found_matches_kubernetes() {
        // What `kubectl get --raw` shows for a missing custom resource.
        assert_eq!(
            to_json(&Status::not_found(PLAN, "x")),
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "plans.planspec.io \"x\" not found",
                "reason": "NotFound",
                "details": {"name": "x", "group": "planspec.io", "kind": "plans"},
                "code": 404
            })
        );
        assert_eq!(
            to_json(&Status::not_found(ResourceType::Namespace, "dev")),
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "namespaces \"dev\" not found", "reason": "NotFound",
                "details": {"name": "dev", "kind": "namespaces"}, "code": 404
            })
        );
    }

    #[test]
    fn conflicts() {
        let s = to_json(&Status::already_exists(PLAN, "x"));
        assert_eq!(s["code"], 409);
        assert_eq!(s["reason"], "AlreadyExists");
        assert_eq!(s["message"], "plans.planspec.io \"x\" already exists");
        let s = to_json(&Status::conflict_modified(PLAN, "x"));
        assert_eq!(s["code"], 409);
        assert_eq!(s["reason"], "Conflict");
        assert_eq!(
            s["message"],
            "Operation cannot be fulfilled on plans.planspec.io \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(
            s["details"],
            json!({"name": "x", "group": "planspec.io", "kind": "plans"})
        );
    }

    #[test]
    fn invalid_carries_causes_with_paths_codes_and_hints() {
        let diags = vec![
            Diagnostic::new(Code::InvalidEnum, "unknown node kind `implment`")
                .with_path("spec.graph.nodes[0].kind")
                .with_hint("did you mean `implement`?"),
            Diagnostic::new(Code::MissingField, "missing required field `description`")
                .with_path("spec"),
            Diagnostic::new(Code::UnknownField, "unknown field `colour`").with_path("spec.colour"),
        ];
        let s = to_json(&Status::invalid(PLAN, "x", &diags));
        assert_eq!(
            s,
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "Plan.planspec.io \"x\" is invalid: [spec.graph.nodes[0].kind: PS0305: unknown node kind `implment` (hint: did you mean `implement`?), spec: PS0302: missing required field `description`]",
                "reason": "Invalid",
                "details": {
                    "name": "x",
                    "group": "planspec.io",
                    "kind": "Plan",
                    "causes": [
                        {
                            "reason": "FieldValueNotSupported",
                            "message": "PS0305: unknown node kind `implment` (hint: did you mean `implement`?)",
                            "field": "spec.graph.nodes[0].kind"
                        },
                        {
                            "reason": "FieldValueRequired",
                            "message": "PS0302: missing required field `description`",
                            "field": "spec"
                        }
                    ]
                },
                "code": 422
            })
        );
        // Only warnings: they are the causes (the caller rejected on them).
        let s = Status::invalid(PLAN, "x", &diags[2..]);
        assert_eq!(
            s.details.unwrap().causes[0].reason,
            cause::FIELD_VALUE_FORBIDDEN
        );
        // One cause: no brackets, and a cause without a field has no `field` key.
        let s = Status::invalid_causes(
            PLAN,
            "x",
            vec![StatusCause::new(cause::FIELD_VALUE_INVALID, "", "bad")],
        );
        assert_eq!(s.message, "Plan.planspec.io \"x\" is invalid: bad");
        assert_eq!(
            to_json(&s)["details"]["causes"],
            json!([{"reason": "FieldValueInvalid", "message": "bad"}])
        );
    }

    #[test]
    fn the_other_failures() {
        let cases = [
            (Status::bad_request("bad"), 400, "BadRequest", "bad"),
            (
                Status::forbidden(PLAN, "x", "no"),
                403,
                "Forbidden",
                "plans.planspec.io \"x\" is forbidden: no",
            ),
            (
                Status::forbidden(PLAN, "", "no"),
                403,
                "Forbidden",
                "plans.planspec.io is forbidden: no",
            ),
            (
                Status::resource_version_too_old(5, 10),
                410,
                "Expired",
                "too old resource version: 5 (10)",
            ),
            (
                Status::method_not_allowed(Some(PLAN), "deletecollection"),
                405,
                "MethodNotAllowed",
                "deletecollection is not supported on resources of kind \"plans.planspec.io\"",
            ),
            (
                Status::method_not_allowed(None, "POST"),
                405,
                "MethodNotAllowed",
                "POST is not supported here",
            ),
            (
                Status::not_acceptable(&["application/json"]),
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json",
            ),
            (
                Status::unsupported_media_type(
                    "application/strategic-merge-patch+json",
                    &["application/json-patch+json", "application/merge-patch+json"],
                ),
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format (application/strategic-merge-patch+json) - accepted media types include: application/json-patch+json, application/merge-patch+json",
            ),
            (
                Status::request_entity_too_large("limit is 3145728"),
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3145728",
            ),
            (
                Status::internal_error("disk full"),
                500,
                "InternalError",
                "Internal error occurred: disk full",
            ),
        ];
        for (status, code, reason, message) in cases {
            let v = to_json(&status);
            assert_eq!(v["code"], code, "{v}");
            assert_eq!(status.code(), code);
            assert_eq!(v["reason"], reason, "{v}");
            assert_eq!(v["message"], message, "{v}");
            assert_eq!(v["status"], "Failure");
            assert_eq!(v["kind"], "Status");
            assert_eq!(v["apiVersion"], "v1");
            assert_eq!(status.to_string(), message);
        }
        assert_eq!(
            to_json(&Status::internal_error("disk full"))["details"],
            json!({"causes": [{"message": "disk full"}]})
        );
    }

    #[test]
    fn success_and_round_trip() {
        let s = Status::success(PLAN, "x", "u-1");
        assert_eq!(
            to_json(&s),
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": "x", "group": "planspec.io", "kind": "plans", "uid": "u-1"},
                "code": 200
            })
        );
        for s in [
            s,
            Status::invalid(PLAN, "x", &[Diagnostic::new(Code::Cycle, "c")]),
        ] {
            let text = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Status>(&text).unwrap(), s);
        }
        // A reason this server does not know still reads.
        let s: Status = serde_json::from_value(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Whatever", "code": 499
        }))
        .unwrap();
        assert_eq!(s.reason, Some(Reason::Unknown));
    }

    #[test]
    fn status_is_small_enough_to_return() {
        // `Result<_, Status>` is the handlers' error type; keep it cheap to move.
        assert!(std::mem::size_of::<Status>() <= 128);
    }

    #[test]
    fn selector_errors_are_bad_requests() {
        let e = planspec_model::selector::Selector::parse("a b").unwrap_err();
        let s = Status::invalid_selector("labelSelector", &e);
        assert_eq!(s.code, 400);
        assert!(s
            .message
            .starts_with("invalid labelSelector: unexpected `b` at position 2"));
    }
}
