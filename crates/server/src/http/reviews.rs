//! Who am I, and may I? The Kubernetes self-review APIs, so `kubectl auth whoami` and
//! `kubectl auth can-i` work against PlanSpec, and `planspec auth whoami|can-i` use them too.
//!
//! | Route | Answers |
//! |---|---|
//! | `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` | `status.userInfo`: the request's identity |
//! | `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` | `status.allowed` (and `reason`) for `spec.resourceAttributes` or `spec.nonResourceAttributes` |
//!
//! Every authenticated identity may ask both, about itself only. The answer is `201 Created`
//! with the review object, as Kubernetes answers; nothing is stored.

use super::routes::{json_response, status_response, App};
use crate::http::protobuf::{decode_access_review, PROTOBUF};
use crate::http::request_info::{is_self_review, AUTHENTICATION_GROUP, AUTHORIZATION_GROUP};
use crate::status::Status;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use planspec_model::actor::UserInfo;
use planspec_model::rbac::authorize::{Attributes, Decision};
use serde_json::{json, Value};
use std::sync::Arc;

/// Route paths.
pub mod paths {
    /// whoami.
    pub const SELF_SUBJECT_REVIEWS: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    /// can-i.
    pub const SELF_SUBJECT_ACCESS_REVIEWS: &str =
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
}

/// The routes, to merge into the server's router.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route(paths::SELF_SUBJECT_REVIEWS, post(whoami))
        .route(paths::SELF_SUBJECT_ACCESS_REVIEWS, post(can_i))
}

fn user(extensions: &Extensions) -> Result<UserInfo, Status> {
    extensions.get::<UserInfo>().cloned().ok_or_else(|| {
        Status::failure(
            401,
            crate::status::Reason::Unauthorized,
            "this server authenticates no one",
        )
    })
}

async fn json_body(app: &App, body: Body) -> Result<Value, Status> {
    let bytes = axum::body::to_bytes(body, app.body_limit)
        .await
        .map_err(Status::request_entity_too_large)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Status::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(Status::bad_request(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

async fn whoami(State(app): State<Arc<App>>, extensions: Extensions, body: Body) -> Response {
    let result = async {
        let user = user(&extensions)?;
        // The review carries nothing to read (kubectl sends it as protobuf): only its size
        // is checked.
        axum::body::to_bytes(body, app.body_limit)
            .await
            .map_err(Status::request_entity_too_large)?;
        Ok::<_, Status>(json!({
            "kind": "SelfSubjectReview",
            "apiVersion": format!("{AUTHENTICATION_GROUP}/v1"),
            "metadata": {"creationTimestamp": null},
            "status": {"userInfo": {"username": user.username, "groups": user.groups}},
        }))
    }
    .await;
    match result {
        Ok(v) => json_response(201, &v, &[]),
        Err(s) => status_response(&s),
    }
}

fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn can_i(
    State(app): State<Arc<App>>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let user = user(&extensions)?;
        let protobuf = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(PROTOBUF));
        let review = if protobuf {
            let bytes = axum::body::to_bytes(body, app.body_limit)
                .await
                .map_err(Status::request_entity_too_large)?;
            decode_access_review(&bytes).map_err(Status::bad_request)?
        } else {
            json_body(&app, body).await?
        };
        let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
        let decision = if let Some(attrs) = spec.get("resourceAttributes") {
            let verb = text(attrs, "verb");
            let resource = text(attrs, "resource");
            if verb.is_empty() || resource.is_empty() {
                return Err(Status::bad_request(
                    "spec.resourceAttributes needs a verb and a resource",
                ));
            }
            let namespace = text(attrs, "namespace");
            let name = text(attrs, "name");
            let attributes = Attributes {
                verb,
                api_group: text(attrs, "group"),
                resource,
                subresource: text(attrs, "subresource"),
                namespace: (!namespace.is_empty()).then_some(namespace),
                name: (!name.is_empty()).then_some(name),
            };
            // Asking about oneself is open to everyone, as the request itself was.
            let open = attributes.verb == "create"
                && attributes.name.is_none()
                && is_self_review(&attributes.api_group, &attributes.resource);
            if open {
                Decision::Allow("every authenticated identity may".into())
            } else {
                match app.api.authorizer() {
                    Some(rbac) => rbac.authorize(&user, &attributes).await,
                    None => Decision::Allow("this server runs without authorization".into()),
                }
            }
        } else if spec.get("nonResourceAttributes").is_some() {
            Decision::Allow("non-resource paths are open to every authenticated identity".into())
        } else {
            return Err(Status::bad_request(
                "spec.resourceAttributes or spec.nonResourceAttributes is required",
            ));
        };
        let status = match &decision {
            Decision::Allow(by) => json!({"allowed": true, "reason": format!("allowed by {by}")}),
            Decision::Deny => json!({"allowed": false}),
        };
        Ok::<_, Status>(json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": format!("{AUTHORIZATION_GROUP}/v1"),
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": status,
        }))
    }
    .await;
    match result {
        Ok(v) => json_response(201, &v, &[]),
        Err(s) => status_response(&s),
    }
}
