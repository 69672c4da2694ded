//! HTTP routes of the execution operations ([`crate::api::operations`]) and Gate reviews.
//!
//! | Route | Does |
//! |---|---|
//! | `POST …/executions/{name}/cancel` `{"force": false}` | graceful (or forced) cancel |
//! | `POST …/executions/{name}/retry` `{"from": "node"}` | retry failed nodes (or from a node) |
//! | `POST …/executions/{name}/nodes/{node}/complete` `{"outputs": {…}}` | a person finishes a node |
//! | `POST …/executions/{name}/nodes/{node}/fail` `{"message": "…"}` | a person fails a node |
//! | `POST …/executions/{name}/nodes/{node}/resolve` `{"value": …}` | a person fills a Placeholder (`422` with the broken constraints if its schema or rules refuse the value) |
//! | `GET …/executions/{name}/journal?from=&limit=&brief=` | the journal, paged (`brief=true`: what `ExecutionStarted` pinned is summarised, [`crate::api::brief`]) |
//! | `GET …/executions/{name}/nodes?phase=&matrix=&limit=&continue=` | node records, paged (`matrix=NODE`: that matrix's instances) |
//! | `GET …/executions/{name}/nodes/{node}/log?attempt=&offset=&limitBytes=` | a node attempt's log |
//! | `POST …/gates/{name}/review` `{"action": "approve", "comment": "…", "values": {…}}` | review a Gate |
//!
//! `…` is `/apis/planspec.io/v1alpha1/namespaces/{ns}`. The actor of each operation is the
//! request's authenticated identity (see [`crate::http::auth`]), never a name the client
//! declares: the `X-PlanSpec-User` header is not read for them.
//!
//! A log answers `text/plain` with the headers `X-Log-Attempt`, `X-Log-Offset` (where the next
//! read starts) and `X-Log-Complete` (`true` once the attempt's log is closed and read whole),
//! so a client follows a log by polling from the offset.

use super::routes::{json_response, status_response, App};
use crate::api::operations::Operation;
use crate::api::params::Params;
use crate::status::Status;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use planspec_model::actor::UserInfo;
use planspec_model::gate::ReviewAction;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Route paths.
pub mod paths {
    /// Cancel an Execution.
    pub const CANCEL: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/cancel";
    /// Retry an Execution.
    pub const RETRY: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/retry";
    /// Complete a node waiting for a person.
    pub const COMPLETE: &str =
        "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/nodes/{node}/complete";
    /// Fail a node waiting for a person.
    pub const FAIL: &str =
        "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/nodes/{node}/fail";
    /// Fill a Placeholder waiting for a person.
    pub const RESOLVE: &str =
        "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/nodes/{node}/resolve";
    /// An Execution's journal.
    pub const JOURNAL: &str =
        "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/journal";
    /// An Execution's node records.
    pub const NODES: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/nodes";
    /// A node attempt's log.
    pub const LOG: &str =
        "/apis/planspec.io/v1alpha1/namespaces/{ns}/executions/{name}/nodes/{node}/log";
    /// Review a Gate.
    pub const REVIEW: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/gates/{name}/review";
}

/// The routes of this module with their methods (for OpenAPI and discovery checks).
pub const ROUTES: [(&str, &[&str]); 9] = [
    (paths::CANCEL, &["post"]),
    (paths::RETRY, &["post"]),
    (paths::COMPLETE, &["post"]),
    (paths::FAIL, &["post"]),
    (paths::RESOLVE, &["post"]),
    (paths::JOURNAL, &["get"]),
    (paths::NODES, &["get"]),
    (paths::LOG, &["get"]),
    (paths::REVIEW, &["post"]),
];

/// The routes, to merge into the server's router.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route(paths::CANCEL, post(cancel))
        .route(paths::RETRY, post(retry))
        .route(paths::COMPLETE, post(complete))
        .route(paths::FAIL, post(fail))
        .route(paths::RESOLVE, post(resolve))
        .route(paths::JOURNAL, get(journal))
        .route(paths::NODES, get(nodes))
        .route(paths::LOG, get(log))
        .route(paths::REVIEW, post(review))
}

/// The JSON object body (empty body: `{}`).
async fn object_body(app: &App, body: Body) -> Result<Map<String, Value>, Status> {
    let bytes = axum::body::to_bytes(body, app.body_limit)
        .await
        .map_err(Status::request_entity_too_large)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Status::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(Status::bad_request(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

fn answer(result: Result<Value, Status>) -> Response {
    match result {
        Ok(v) => json_response(200, &v, &[]),
        Err(s) => status_response(&s),
    }
}

fn flag(body: &Map<String, Value>, params: &Params, name: &str) -> Result<bool, Status> {
    match body.get(name) {
        Some(Value::Bool(b)) => return Ok(*b),
        Some(_) => {
            return Err(Status::bad_request(format!(
                "`{name}` must be true or false"
            )))
        }
        None => {}
    }
    match params.get(name) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Status::bad_request(format!(
            "`{name}` must be true or false, not `{other}`"
        ))),
    }
}

fn text(body: &Map<String, Value>, name: &str) -> Result<Option<String>, Status> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Status::bad_request(format!("`{name}` must be a string"))),
    }
}

async fn cancel(
    State(app): State<Arc<App>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    Extension(user): Extension<UserInfo>,
    body: Body,
) -> Response {
    answer(
        async {
            let body = object_body(&app, body).await?;
            let force = flag(&body, &Params::parse(query.as_deref()), "force")?;
            app.api
                .operate(
                    &ns,
                    &name,
                    Operation::Cancel { force },
                    Some(user.username.clone()),
                )
                .await
        }
        .await,
    )
}

async fn retry(
    State(app): State<Arc<App>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    Extension(user): Extension<UserInfo>,
    body: Body,
) -> Response {
    answer(
        async {
            let body = object_body(&app, body).await?;
            let from = match text(&body, "from")? {
                Some(f) => Some(f),
                None => Params::parse(query.as_deref())
                    .get("from")
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
            };
            if let Some(f) = &from {
                let valid = !f.is_empty()
                    && f.len() <= 63
                    && f.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !valid {
                    return Err(Status::bad_request(format!(
                        "`from` must be a node id (a DNS label), not {:?}",
                        f.chars().take(80).collect::<String>()
                    )));
                }
            }
            app.api
                .operate(
                    &ns,
                    &name,
                    Operation::Retry { from },
                    Some(user.username.clone()),
                )
                .await
        }
        .await,
    )
}

async fn complete(
    State(app): State<Arc<App>>,
    Path((ns, name, node)): Path<(String, String, String)>,
    Extension(user): Extension<UserInfo>,
    body: Body,
) -> Response {
    answer(
        async {
            let body = object_body(&app, body).await?;
            let outputs = match body.get("outputs") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(Status::bad_request("`outputs` must be a JSON object")),
            };
            app.api
                .operate(
                    &ns,
                    &name,
                    Operation::Complete { node, outputs },
                    Some(user.username.clone()),
                )
                .await
        }
        .await,
    )
}

async fn resolve(
    State(app): State<Arc<App>>,
    Path((ns, name, node)): Path<(String, String, String)>,
    Extension(user): Extension<UserInfo>,
    body: Body,
) -> Response {
    answer(
        async {
            let body = object_body(&app, body).await?;
            let Some(value) = body.get("value") else {
                return Err(Status::bad_request(
                    "resolving a placeholder needs a `value`",
                ));
            };
            app.api
                .operate(
                    &ns,
                    &name,
                    Operation::Resolve {
                        node,
                        value: value.clone(),
                    },
                    Some(user.username.clone()),
                )
                .await
        }
        .await,
    )
}

async fn fail(
    State(app): State<Arc<App>>,
    Path((ns, name, node)): Path<(String, String, String)>,
    Extension(user): Extension<UserInfo>,
    body: Body,
) -> Response {
    answer(
        async {
            let body = object_body(&app, body).await?;
            let message = text(&body, "message")?.unwrap_or_default();
            app.api
                .operate(
                    &ns,
                    &name,
                    Operation::Fail { node, message },
                    Some(user.username.clone()),
                )
                .await
        }
        .await,
    )
}

fn number<T: std::str::FromStr>(params: &Params, name: &str) -> Result<Option<T>, Status> {
    match params.get(name) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Status::bad_request(format!(
                "`{name}` must be a non-negative integer, not `{v}`"
            ))
        }),
    }
}

async fn journal(
    State(app): State<Arc<App>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    answer(
        async {
            let params = Params::parse(query.as_deref());
            let from = match number::<u64>(&params, "continue")? {
                Some(c) => c,
                None => number::<u64>(&params, "from")?.unwrap_or(0),
            };
            let limit = number::<usize>(&params, "limit")?.unwrap_or(1000);
            let mut page = app.api.journal(&ns, &name, from, limit).await?;
            if params.get("brief") == Some("true") {
                for item in page["items"].as_array_mut().into_iter().flatten() {
                    crate::api::brief::summarise(&mut item["entry"]);
                }
            }
            Ok(page)
        }
        .await,
    )
}

async fn nodes(
    State(app): State<Arc<App>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    answer(
        async {
            let params = Params::parse(query.as_deref());
            let phase = params
                .get("phase")
                .filter(|p| !p.is_empty())
                .map(str::to_owned);
            let matrix = params
                .get("matrix")
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
            let limit = number::<usize>(&params, "limit")?;
            let after = params
                .get("continue")
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            app.api
                .node_records(&ns, &name, phase, matrix, limit, after)
                .await
        }
        .await,
    )
}

async fn log(
    State(app): State<Arc<App>>,
    Path((ns, name, node)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref());
    let result = async {
        let attempt = number::<u32>(&params, "attempt")?;
        let offset = number::<u64>(&params, "offset")?.unwrap_or(0);
        let max = number::<usize>(&params, "limitBytes")?
            .unwrap_or(crate::api::operations::MAX_LOG_CHUNK);
        app.api.logs(&ns, &name, &node, attempt, offset, max).await
    }
    .await;
    match result {
        Ok(chunk) => {
            let mut response = (StatusCode::OK, chunk.data).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            for (k, v) in [
                ("x-log-attempt", chunk.attempt.to_string()),
                ("x-log-offset", chunk.offset.to_string()),
                ("x-log-complete", chunk.complete.to_string()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            }
            response
        }
        Err(s) => status_response(&s),
    }
}

async fn review(
    State(app): State<Arc<App>>,
    Path((ns, name)): Path<(String, String)>,
    user: Option<Extension<UserInfo>>,
    body: Body,
) -> Response {
    answer(
        async {
            let body = object_body(&app, body).await?;
            let action = match text(&body, "action")?.as_deref() {
                Some("approve") => ReviewAction::Approve,
                Some("reject") => ReviewAction::Reject,
                Some("comment") => ReviewAction::Comment,
                other => {
                    return Err(Status::bad_request(format!(
                        "`action` must be approve, reject or comment, not {other:?}"
                    )))
                }
            };
            let comment = text(&body, "comment")?;
            let values = match body.get("values") {
                None | Some(Value::Null) => None,
                Some(Value::Object(m)) => Some(m.clone()),
                Some(_) => return Err(Status::bad_request("`values` must be a JSON object")),
            };
            let declared = text(&body, "reviewer")?;
            let reviewer = match user {
                // Authenticated: the reviewer is who the request proves to be.
                Some(Extension(user)) => {
                    if declared
                        .as_deref()
                        .is_some_and(|d| !planspec_model::approval::same_user(d, &user.username))
                    {
                        return Err(Status::bad_request(format!(
                            "`reviewer` may not name someone else: you review as {}",
                            user.username
                        )));
                    }
                    user
                }
                // The authentication layer gives every request an identity; without one
                // nobody may review (a declared name proves nothing).
                None => {
                    return Err(Status::failure(
                        401,
                        crate::status::Reason::Unauthorized,
                        "Unauthorized",
                    ))
                }
            };
            app.api
                .review_gate(&ns, &name, action, comment, values, reviewer)
                .await
        }
        .await,
    )
}
