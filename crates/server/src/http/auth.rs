//! The authentication and authorization layers of the HTTP server.
//!
//! Order, outermost first: access log → [`authenticate`] → audit → [`authorize`] → handlers.
//!
//! * [`authenticate`] puts the request's [`UserInfo`] and [`RequestInfo`] into its extensions
//!   (for every later layer and handler) or answers `401 Unauthorized`. `/healthz`, `/livez`,
//!   `/readyz` and `/version` need no credentials (their identity is [`PUBLIC_ANONYMOUS`]).
//!   `Impersonate-User` (kubectl's `--as`) and `Impersonate-Group` make the request act as
//!   another identity when the sender may `impersonate` that user (and those groups):
//!   `users`/`groups` in the core API group, as in Kubernetes; the sender is kept as
//!   [`Impersonator`].
//!   A Gate review's verb depends on its body (`approve` or `reject`): the body is read here,
//!   within the request size limit, and handed on unchanged.
//! * [`authorize`] asks RBAC about resource requests and answers `403 Forbidden`; requests
//!   every authenticated identity may make pass ([`RequestInfo::open_to_authenticated`]), and
//!   the bulk `apply` route is checked item by item by its handler.

use super::request_info::{is_public, RequestInfo};
use super::routes::status_response;
use crate::auth::{Authenticator, Outcome};
use crate::authz::{forbidden_request, Rbac};
use crate::status::{Reason, Status};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use planspec_model::actor::UserInfo;
use std::sync::Arc;

/// The identity of a request to a public path (health, version) that sent no credentials.
pub const PUBLIC_ANONYMOUS: &str = "system:anonymous";
/// The group of [`PUBLIC_ANONYMOUS`].
pub const GROUP_UNAUTHENTICATED: &str = "system:unauthenticated";

/// What the two layers share.
#[derive(Debug)]
pub struct Guard {
    /// Credentials → identities.
    pub authenticator: Arc<Authenticator>,
    /// RBAC.
    pub rbac: Arc<Rbac>,
    /// The request size limit (a Gate review's body is read to find its verb).
    pub body_limit: usize,
}

/// The `401` Status.
pub fn unauthorized(why: &str) -> Response {
    let mut response = status_response(&Status::failure(401, Reason::Unauthorized, why));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"planspec\""),
    );
    response
}

/// The authentication layer; see the module documentation.
pub async fn authenticate(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let mut info = RequestInfo::parse(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
    );
    let public = is_public(request.uri().path());
    let outcome = guard.authenticator.authenticate(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    );
    let mut user = match outcome {
        Outcome::User(user) => user,
        _ if public => UserInfo::new(PUBLIC_ANONYMOUS, [GROUP_UNAUTHENTICATED]),
        Outcome::Missing | Outcome::Invalid(_) => return unauthorized("Unauthorized"),
    };
    let mut request = request;
    match impersonation(request.headers()) {
        Ok(None) => {}
        Ok(Some(target)) => {
            for attributes in target.checks() {
                if !guard.rbac.authorize(&user, &attributes).await.allowed() {
                    return status_response(&crate::authz::forbidden(&user, &attributes));
                }
            }
            request.extensions_mut().insert(Impersonator(user));
            user = target.user;
        }
        Err(status) => return status_response(&status),
    }
    if info.is_review() {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, guard.body_limit).await {
            Ok(b) => b,
            Err(e) => return status_response(&Status::request_entity_too_large(e)),
        };
        let action = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_owned));
        info.refine_review(action.as_deref());
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(user);
    request.extensions_mut().insert(info);
    next.run(request).await
}

/// The authorization layer; see the module documentation.
pub async fn authorize(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let (Some(user), Some(info)) = (
        request.extensions().get::<UserInfo>(),
        request.extensions().get::<RequestInfo>(),
    ) else {
        // Only reachable if the authentication layer is missing: refuse rather than guess.
        return unauthorized("Unauthorized");
    };
    if info.open_to_authenticated() || info.per_item {
        return next.run(request).await;
    }
    if guard
        .rbac
        .authorize(user, &info.attributes())
        .await
        .allowed()
    {
        return next.run(request).await;
    }
    status_response(&forbidden_request(user, info))
}

/// The identity that sent a request acting as someone else (`Impersonate-User`), kept in the
/// request's extensions beside the impersonated [`UserInfo`] for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impersonator(pub UserInfo);

/// The `Impersonate-User` header (kubectl `--as`).
pub const IMPERSONATE_USER: &str = "impersonate-user";
/// The `Impersonate-Group` header (kubectl `--as-group`), repeatable.
pub const IMPERSONATE_GROUP: &str = "impersonate-group";

/// Whom a request asks to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    user: UserInfo,
    groups_asked: Vec<String>,
}

impl Target {
    /// What the sender must be allowed: `impersonate` on `users/<name>` and on
    /// `groups/<group>` for each group asked (core API group, as in Kubernetes).
    fn checks(&self) -> Vec<planspec_model::rbac::authorize::Attributes> {
        let attributes = |resource: &str, name: &str| planspec_model::rbac::authorize::Attributes {
            verb: "impersonate".into(),
            api_group: String::new(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: None,
            name: Some(name.into()),
        };
        let mut out = vec![attributes("users", &self.user.username)];
        out.extend(self.groups_asked.iter().map(|g| attributes("groups", g)));
        out
    }
}

/// The impersonation a request asks for, if any: `Impersonate-User` with optional
/// `Impersonate-Group`s (the identity gets those groups and `system:authenticated`).
fn impersonation(headers: &axum::http::HeaderMap) -> Result<Option<Target>, Status> {
    let text = |v: &HeaderValue| {
        v.to_str()
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 253)
            .map(str::to_owned)
            .ok_or_else(|| Status::bad_request("an Impersonate- header holds no usable name"))
    };
    // Repeated headers and comma-separated lists are the same (RFC 9110 §5.3): a group
    // whose name holds a comma cannot be impersonated.
    let mut groups = Vec::new();
    for value in headers.get_all(IMPERSONATE_GROUP) {
        let value = value
            .to_str()
            .map_err(|_| Status::bad_request("Impersonate-Group is not text"))?;
        for group in value.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if group.len() > 253 {
                return Err(Status::bad_request(
                    "an impersonated group name is too long",
                ));
            }
            groups.push(group.to_owned());
        }
    }
    let Some(user) = headers.get(IMPERSONATE_USER) else {
        if groups.is_empty() {
            return Ok(None);
        }
        return Err(Status::bad_request(
            "Impersonate-Group needs Impersonate-User",
        ));
    };
    let username = text(user)?;
    let mut all = groups.clone();
    all.push(planspec_model::actor::GROUP_AUTHENTICATED.to_owned());
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|g| seen.insert(g.clone()));
    Ok(Some(Target {
        user: UserInfo::new(username, all),
        groups_asked: groups,
    }))
}

/// The authenticated identity of a request (the authentication layer put it there); for a
/// handler that runs without that layer, `None`.
pub fn user_of(extensions: &axum::http::Extensions) -> Option<UserInfo> {
    extensions.get::<UserInfo>().cloned()
}
