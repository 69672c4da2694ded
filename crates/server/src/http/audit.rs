//! The audit layer and the audit log's route.
//!
//! **The layer** ([`middleware`]) sits after authentication and before authorization (see
//! [`super::auth`]), so it sees every request that carries an identity, including those
//! authorization refuses. It records every mutating request (`POST`, `PUT`, `PATCH`,
//! `DELETE`: object writes, operations such as cancel or a Gate review, bulk routes) with the
//! actor (the request's [`UserInfo`]; without one, [`UNAUTHENTICATED`]), the verb and resource
//! ([`RequestInfo`]), the outcome (status code; allowed, denied or error; the `Status` reason
//! and message of a failure), the request id and the time the request arrived. The record is
//! durable before the response leaves: if it cannot be written, the client gets `500` instead
//! of the handler's answer (the write itself may have happened; the error says so).
//!
//! Reads (`GET`, `HEAD`, `OPTIONS`) are not recorded unless [`Auditor::reads`] is on
//! (`planspec server --audit-reads`): a watch or a list is not an action, and recording them
//! would make the log mostly noise. Neither are requests that change nothing whatever their
//! method: non-resource requests (discovery, `validate`) and questions about oneself
//! (`selfsubjectreviews`, `selfsubjectaccessreviews`).
//!
//! **The route**: `GET /apis/planspec.io/v1alpha1/auditrecords?limit=&continue=&actor=&namespace=&resource=`
//! answers an `AuditRecordList` ([`crate::api::audit`]).

use super::access_log::REQUEST_ID;
use super::request_info::RequestInfo;
use super::routes::{json_response, status_response, App};
use crate::api::audit::{audit_time, parse_continue, AuditListOptions, RequestAudit};
use crate::api::params::Params;
use crate::api::Api;
use crate::status::Status;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use planspec_model::actor::UserInfo;
use planspec_model::audit::{AuditEntry, AuditOutcome, AuditResource, UNAUTHENTICATED};
use serde_json::{json, Value};
use std::sync::Arc;

/// Route paths.
pub mod paths {
    /// The audit log.
    pub const AUDIT_RECORDS: &str = "/apis/planspec.io/v1alpha1/auditrecords";
}

/// The routes of this module with their methods (for the OpenAPI check).
pub const ROUTES: [(&str, &[&str]); 1] = [(paths::AUDIT_RECORDS, &["get"])];

/// The routes, to merge into the server's router.
pub fn router() -> Router<Arc<App>> {
    Router::new().route(paths::AUDIT_RECORDS, get(list))
}

/// The longest failure message kept in a record.
const MAX_MESSAGE: usize = 1024;

/// What the audit layer needs.
#[derive(Clone)]
pub struct Auditor {
    /// Where records go (its store) and the clock.
    pub api: Api,
    /// Record reads too.
    pub reads: bool,
    /// The request size limit (a create's body is read for the name it asks for).
    pub body_limit: usize,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("reads", &self.reads)
            .finish()
    }
}

/// The audit layer; see the module documentation.
pub async fn middleware(
    State(auditor): State<Arc<Auditor>>,
    request: Request,
    next: Next,
) -> Response {
    let read = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if read && !auditor.reads {
        return next.run(request).await;
    }
    let time = audit_time(auditor.api.now());
    let actor = request
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(|| UserInfo::new(UNAUTHENTICATED, Vec::<String>::new()));
    let info = request
        .extensions()
        .get::<RequestInfo>()
        .cloned()
        .unwrap_or_else(|| {
            RequestInfo::parse(
                request.method().as_str(),
                request.uri().path(),
                request.uri().query(),
            )
        });
    // Asking about oneself (whoami, can-i) and non-resource requests (discovery, validation)
    // change nothing.
    if !info.is_resource_request || info.open_to_authenticated() {
        return next.run(request).await;
    }
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();

    // The record as far as the request tells; the write that carries the request out commits
    // it in its own transaction (`crate::api::audit::RequestAudit`), else it is appended below.
    let pending = RequestAudit::new(AuditEntry {
        time: time.clone(),
        actor: actor.clone(),
        verb: info.verb.clone(),
        resource: resource_of(&info, Found::default()),
        outcome: AuditOutcome::http(0),
        request_id: request_id.clone(),
        details: Value::Null,
    });
    // A create names its object in the body: read it (within the request size limit, as
    // the handler would) so that a refused create is recorded with the name it asked for.
    let creates_unnamed = info.verb == "create" && info.name.is_empty() && !info.per_item;
    let mut requested = Found::default();
    let response = if creates_unnamed {
        let (parts, body) = request.into_parts();
        match super::body::read(&parts.headers, body, auditor.body_limit).await {
            Ok(bytes) => {
                requested = object_name(&bytes);
                pending
                    .scope(next.run(Request::from_parts(parts, Body::from(bytes))))
                    .await
            }
            Err(status) => status_response(&status),
        }
    } else {
        pending.scope(next.run(request)).await
    };
    if pending.written() {
        return response;
    }
    let code = response.status().as_u16();
    // `generateName`: the name is the server's, in the answer.
    let named_by_server = creates_unnamed && requested.name.is_none() && (200..300).contains(&code);
    let (response, mut found) = if code >= 400 || named_by_server {
        inspect(response).await
    } else {
        (response, Found::default())
    };
    found.name = requested.name.or(found.name);
    found.namespace = requested.namespace.or(found.namespace);

    let mut outcome = AuditOutcome::http(code);
    let mut details = Value::Null;
    if code >= 400 {
        outcome.reason = found.reason.take().unwrap_or_default();
        if let Some(message) = found.message.take() {
            details = json!({ "message": truncate(&message, MAX_MESSAGE) });
        }
    }
    let resource = resource_of(&info, found);
    let entry = AuditEntry {
        time,
        actor,
        verb: info.verb,
        resource,
        outcome,
        request_id,
        details,
    };
    match auditor.api.append_audit(entry).await {
        Ok(()) => response,
        Err(status) => status_response(&Status::internal_error(format!(
            "the request was handled (HTTP {code}) but its audit record could not be written, so its answer is withheld: {}",
            status.message
        ))),
    }
}

/// The resource a request is about: what its path names, completed by what its body or
/// answer named (a create's name, a namespace).
fn resource_of(info: &RequestInfo, found: Found) -> AuditResource {
    AuditResource {
        group: info.api_group.clone(),
        resource: info.resource.clone(),
        namespace: if info.namespace.is_empty() {
            found.namespace.unwrap_or_default()
        } else {
            info.namespace.clone()
        },
        name: if info.name.is_empty() {
            found.name.unwrap_or_default()
        } else {
            info.name.clone()
        },
        subresource: info.subresource.clone(),
        // Requests that name no resource keep their path (bulk routes, validate).
        path: if info.is_resource_request && !info.per_item {
            String::new()
        } else {
            info.path.clone()
        },
    }
}

/// What the layer read from a response body.
#[derive(Debug, Default)]
struct Found {
    reason: Option<String>,
    message: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
}

/// Reads a response body (server-made and already whole in memory: a `Status` or the created
/// object) for a failure's `reason` and `message` or a created object's name, and hands the
/// same bytes on.
async fn inspect(response: Response) -> (Response, Found) {
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let status = Status::internal_error(format!("reading the answer failed: {e}"));
            return (status_response(&status), Found::default());
        }
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let found = Found {
        reason: text(&value["reason"]),
        message: text(&value["message"]),
        name: text(&value["metadata"]["name"]),
        namespace: text(&value["metadata"]["namespace"]),
    };
    (Response::from_parts(parts, Body::from(bytes)), found)
}

/// The `metadata.name` and `metadata.namespace` a JSON request body asks for (other bodies,
/// YAML or protobuf, name nothing here; the answer may).
fn object_name(body: &[u8]) -> Found {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        metadata: Meta,
    }
    #[derive(serde::Deserialize, Default)]
    struct Meta {
        name: Option<String>,
        namespace: Option<String>,
    }
    let meta = serde_json::from_slice::<Doc>(body)
        .map(|d| d.metadata)
        .unwrap_or_default();
    Found {
        name: meta.name.filter(|n| !n.is_empty()),
        namespace: meta.namespace.filter(|n| !n.is_empty()),
        ..Found::default()
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

async fn list(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let options = match options(&params) {
        Ok(o) => o,
        Err(status) => return status_response(&status),
    };
    match app.api.audit_records(options).await {
        Ok(list) => json_response(200, &list, &[]),
        Err(status) => status_response(&status),
    }
}

fn options(params: &Params) -> Result<AuditListOptions, Status> {
    let text = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let limit = match params.get("limit").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            Status::bad_request(format!("`limit` must be a non-negative integer, not `{v}`"))
        })?),
    };
    Ok(AuditListOptions {
        limit,
        continue_after: text("continue").map(|c| parse_continue(&c)).transpose()?,
        actor: text("actor"),
        namespace: text("namespace"),
        resource: text("resource"),
    })
}
