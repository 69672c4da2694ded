//! The router and its handlers: thin glue that parses a request into an [`Api`] call and
//! encodes the result (JSON, a `Table`, a watch stream, or a `Status`).

use crate::api::object::Part;
use crate::api::params::{DeleteOptions, ListOptions, Params, WriteOptions};
use crate::api::watch::{EventType, WatchEvent};
use crate::api::{Api, ListResult};
use crate::discovery;
use crate::http::body::{self, warning_header, ChannelBody};
use crate::http::negotiate::{representation, Representation};
use crate::http::protobuf;
use crate::openapi;
use crate::patch::{strategic_as_merge_patch, PatchType, STRATEGIC_MERGE_PATCH};
use crate::resource::{ListMeta, ResourceType, GROUP};
use crate::status::{Reason, Status};
use crate::table::{self, IncludeObject, TableOptions};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// What the handlers share.
pub struct App {
    /// The request semantics.
    pub api: Api,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Silence after which a watch stream gets a heartbeat (a space).
    pub watch_heartbeat: std::time::Duration,
}

/// The router of the whole API.
pub fn router(app: Arc<App>) -> Router {
    const V: &str = "/apis/planspec.io/v1alpha1";
    Router::new()
        .route("/api", get(api_versions))
        .route("/api/v1", get(core_resources))
        .route("/apis", get(api_groups))
        .route("/apis/planspec.io", get(api_group))
        .route(V, get(api_resources))
        .route("/api/v1/namespaces", any(namespaces))
        .route("/api/v1/namespaces/{name}", any(namespace))
        .route("/api/v1/namespaces/{name}/status", any(namespace_status))
        .route(&format!("{V}/validate"), post(validate))
        .route(&format!("{V}/{{plural}}"), any(all_namespaces))
        .route(&format!("{V}/namespaces/{{ns}}/apply"), post(apply))
        .route(
            &format!("{V}/namespaces/{{ns}}/plans/{{name}}/graph"),
            get(graph),
        )
        .route(
            &format!("{V}/namespaces/{{ns}}/{{plural}}"),
            any(collection),
        )
        .route(
            &format!("{V}/namespaces/{{ns}}/{{plural}}/{{name}}"),
            any(object),
        )
        .route(
            &format!("{V}/namespaces/{{ns}}/{{plural}}/{{name}}/status"),
            any(object_status),
        )
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/openapi/v3", get(openapi_index))
        .route("/openapi/v3/{*path}", get(openapi_document))
        .fallback(not_found)
        .with_state(app)
}

// ------------------------------------------------------------------------------------------
// Responses
// ------------------------------------------------------------------------------------------

/// A JSON response with `Warning` headers.
pub fn json_response(code: u16, value: &impl Serialize, warnings: &[String]) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(b) => b,
        Err(e) => return status_response(&Status::internal_error(e)),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        headers.append(header::WARNING, warning_header(w));
    }
    response
}

/// A `Status` as the response, with its code.
pub fn status_response(status: &Status) -> Response {
    json_response(status.code, status, &[])
}

fn text_response(code: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn unknown_resource() -> Status {
    Status::failure(
        404,
        Reason::NotFound,
        "the server could not find the requested resource",
    )
}

// ------------------------------------------------------------------------------------------
// Discovery, health, version
// ------------------------------------------------------------------------------------------

async fn api_versions(headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    json_response(200, &discovery::api_versions(host), &[])
}

async fn core_resources() -> Response {
    json_response(200, &discovery::core_v1_resource_list(), &[])
}

async fn api_groups() -> Response {
    json_response(200, &discovery::api_group_list(), &[])
}

async fn api_group() -> Response {
    json_response(200, &discovery::api_group(), &[])
}

async fn api_resources() -> Response {
    json_response(200, &discovery::api_resource_list(), &[])
}

async fn ok() -> Response {
    text_response(StatusCode::OK, "ok")
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.api.ready().await {
        Ok(_) => text_response(StatusCode::OK, "ok"),
        Err(s) => status_response(&Status::failure(
            503,
            Reason::ServiceUnavailable,
            format!("the store is not ready: {}", s.message),
        )),
    }
}

async fn version() -> Response {
    json_response(200, &discovery::version_info(), &[])
}

async fn openapi_index() -> Response {
    json_response(200, &openapi::index(), &[])
}

async fn openapi_document(Path(path): Path<String>) -> Response {
    match openapi::find(path.trim_start_matches('/')) {
        Some(doc) => {
            let mut response = Response::new(Body::from(doc.text.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        None => status_response(&unknown_resource()),
    }
}

async fn not_found() -> Response {
    status_response(&unknown_resource())
}

// ------------------------------------------------------------------------------------------
// Resources
// ------------------------------------------------------------------------------------------

/// The resource a request is about, from its path.
struct Call {
    resource: ResourceType,
    /// The namespace of the path (`None` for cluster-scoped types and cross-namespace lists).
    namespace: Option<String>,
    name: Option<String>,
    part: Part,
}

/// Everything but the path.
struct Request {
    method: Method,
    query: Option<String>,
    headers: HeaderMap,
    body: Body,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Request {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        Ok(Request {
            method: parts.method,
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
        })
    }
}

/// The [`Call`] for a resource path; `plural` is resolved against the planspec.io group.
fn call(
    plural: Option<&str>,
    namespace: Option<String>,
    name: Option<String>,
    part: Part,
) -> Result<Call, Status> {
    let resource = match plural {
        Some(plural) => kind_of(plural)?,
        None => ResourceType::Namespace,
    };
    Ok(Call {
        resource,
        namespace,
        name,
        part,
    })
}

fn kind_of(plural: &str) -> Result<ResourceType, Status> {
    ResourceType::from_plural(GROUP, plural).ok_or_else(unknown_resource)
}

async fn namespaces(State(app): State<Arc<App>>, request: Request) -> Response {
    dispatch(&app, call(None, None, None, Part::Main), request).await
}

async fn namespace(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    dispatch(&app, call(None, None, Some(name), Part::Main), request).await
}

async fn namespace_status(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    dispatch(&app, call(None, None, Some(name), Part::Status), request).await
}

async fn all_namespaces(
    State(app): State<Arc<App>>,
    Path(plural): Path<String>,
    request: Request,
) -> Response {
    dispatch(&app, call(Some(&plural), None, None, Part::Main), request).await
}

async fn collection(
    State(app): State<Arc<App>>,
    Path((ns, plural)): Path<(String, String)>,
    request: Request,
) -> Response {
    dispatch(
        &app,
        call(Some(&plural), Some(ns), None, Part::Main),
        request,
    )
    .await
}

// ------------------------------------------------------------------------------------------
// Upstream compatibility routes
// ------------------------------------------------------------------------------------------

/// A JSON array body (the upstream batch routes).
async fn array_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Vec<Value>, Status> {
    let bytes = body::read(headers, body, app.body_limit).await?;
    match json_body(
        ResourceType::Kind(planspec_model::Kind::Plan),
        headers,
        &bytes,
    )? {
        Value::Array(items) => Ok(items),
        _ => Err(Status::bad_request(
            "the request body must be a JSON array of resources",
        )),
    }
}

async fn validate(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    match array_body(&app, &headers, body).await {
        Ok(items) => json_response(200, &app.api.validate_batch(items).await, &[]),
        Err(s) => status_response(&s),
    }
}

async fn apply(
    State(app): State<Arc<App>>,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let params = Params::parse(query.as_deref());
        let dry_run = crate::api::params::dry_run(&params)?;
        let items = array_body(&app, &headers, body).await?;
        app.api.apply_batch(&ns, items, dry_run).await
    }
    .await;
    match result {
        Ok(v) => json_response(200, &v, &[]),
        Err(s) => status_response(&s),
    }
}

async fn graph(State(app): State<Arc<App>>, Path((ns, name)): Path<(String, String)>) -> Response {
    match app.api.plan_graph(&ns, &name).await {
        Ok(v) => json_response(200, &v, &[]),
        Err(s) => status_response(&s),
    }
}

async fn object(
    State(app): State<Arc<App>>,
    Path((ns, plural, name)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    dispatch(
        &app,
        call(Some(&plural), Some(ns), Some(name), Part::Main),
        request,
    )
    .await
}

async fn object_status(
    State(app): State<Arc<App>>,
    Path((ns, plural, name)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    dispatch(
        &app,
        call(Some(&plural), Some(ns), Some(name), Part::Status),
        request,
    )
    .await
}

async fn dispatch(app: &App, call: Result<Call, Status>, request: Request) -> Response {
    let result = match call {
        Ok(call) => handle(app, call, request).await,
        Err(s) => Err(s),
    };
    result.unwrap_or_else(|s| status_response(&s))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The media type of a `Content-Type` header, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    header_str(headers, header::CONTENT_TYPE)
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parses a request body: JSON (`Content-Type` JSON or absent), or a protobuf `Namespace`.
fn json_body(resource: ResourceType, headers: &HeaderMap, bytes: &[u8]) -> Result<Value, Status> {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("");
    let media = media_type(headers);
    if media == protobuf::PROTOBUF && resource == ResourceType::Namespace {
        return protobuf::decode_namespace(bytes).map_err(|e| {
            Status::bad_request(format!("the protobuf body could not be decoded: {e}"))
        });
    }
    if !(media.is_empty() || media == "application/json" || media == "*/*") {
        return Err(Status::unsupported_media_type(
            content_type,
            &["application/json"],
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}")))
}

async fn handle(app: &App, call: Call, request: Request) -> Result<Response, Status> {
    let Request {
        method,
        query,
        headers,
        body,
    } = request;
    let params = Params::parse(query.as_deref());
    let resource = call.resource;
    let ns = call.namespace.as_deref().unwrap_or("");
    let api = &app.api;
    let verb = method.as_str().to_owned();
    match (method, call.name.as_deref()) {
        (Method::GET, None) => {
            let options = ListOptions::from_params(resource, &params)?;
            let repr = representation(header_str(&headers, header::ACCEPT))?;
            let include = IncludeObject::from_query(params.get("includeObject"))?;
            if options.watch {
                return watch(app, &call, &options, repr, include).await;
            }
            let list = api
                .list(resource, call.namespace.as_deref(), &options)
                .await?;
            Ok(match repr {
                Representation::Json => json_response(200, &list.to_json(resource), &[]),
                Representation::Table => table_response(app, resource, &list, include),
            })
        }
        (Method::GET, Some(name)) => {
            let repr = representation(header_str(&headers, header::ACCEPT))?;
            let object = api.get(resource, ns, name).await?;
            Ok(match repr {
                Representation::Json => json_response(200, &object, &[]),
                Representation::Table => {
                    let include = IncludeObject::from_query(params.get("includeObject"))?;
                    let revision = object
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let list = ListResult {
                        items: vec![object],
                        revision,
                        continue_token: None,
                    };
                    table_response(app, resource, &list, include)
                }
            })
        }
        (Method::POST, None) if call.namespace.is_some() || !resource.namespaced() => {
            let options = WriteOptions::from_params(&params)?;
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let value = json_body(resource, &headers, &bytes)?;
            let written = api.create(resource, ns, value, options).await?;
            Ok(json_response(201, &written.object, &written.warnings))
        }
        (Method::PUT, Some(name)) => {
            let options = WriteOptions::from_params(&params)?;
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let value = json_body(resource, &headers, &bytes)?;
            let written = api
                .update(resource, ns, name, call.part, value, options)
                .await?;
            Ok(json_response(200, &written.object, &written.warnings))
        }
        (Method::PATCH, Some(name)) => {
            let options = WriteOptions::from_params(&params)?;
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let (patch_type, bytes) = if resource == ResourceType::Namespace
                && media_type(&headers) == STRATEGIC_MERGE_PATCH
            {
                (PatchType::Merge, strategic_as_merge_patch(&bytes).into())
            } else {
                let content_type = header_str(&headers, header::CONTENT_TYPE).unwrap_or("");
                (PatchType::from_content_type(content_type)?, bytes)
            };
            let written = api
                .patch(resource, ns, name, call.part, patch_type, &bytes, options)
                .await?;
            Ok(json_response(200, &written.object, &written.warnings))
        }
        (Method::DELETE, Some(name)) if call.part == Part::Main => {
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let options = DeleteOptions::from_request(&params, &bytes)?;
            let written = api.delete(resource, ns, name, &options).await?;
            Ok(json_response(200, &written.object, &[]))
        }
        (Method::DELETE, None) if call.namespace.is_some() && resource.namespaced() => {
            let list_options = ListOptions::from_params(resource, &params)?;
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let options = DeleteOptions::from_request(&params, &bytes)?;
            let selected = api
                .list(
                    resource,
                    call.namespace.as_deref(),
                    &ListOptions {
                        limit: None,
                        continue_after: None,
                        ..list_options
                    },
                )
                .await?;
            let mut deleted = Vec::new();
            for item in &selected.items {
                let name = crate::api::object::name(item);
                match api.delete(resource, ns, name, &options).await {
                    Ok(w) => deleted.push(w.object),
                    Err(s) if s.code == 404 => {}
                    Err(s) => return Err(s),
                }
            }
            let revision = api.ready().await.unwrap_or(selected.revision);
            let list = ListResult {
                items: deleted,
                revision,
                continue_token: None,
            };
            Ok(json_response(200, &list.to_json(resource), &[]))
        }
        _ => Err(Status::method_not_allowed(Some(resource), &verb)),
    }
}

fn table_response(
    app: &App,
    resource: ResourceType,
    list: &ListResult,
    include: IncludeObject,
) -> Response {
    let table = table::table(
        resource,
        list.items.iter(),
        app.api.now(),
        TableOptions {
            include_object: include,
            no_headers: false,
        },
        ListMeta {
            resource_version: Some(list.revision.to_string()),
            continue_token: list.continue_token.clone(),
            remaining_item_count: None,
        },
    );
    json_response(200, &table, &[])
}

/// Events waiting to be written to a watch response.
const WATCH_BUFFER: usize = 64;

async fn watch(
    app: &App,
    call: &Call,
    options: &ListOptions,
    repr: Representation,
    include: IncludeObject,
) -> Result<Response, Status> {
    let resource = call.resource;
    let mut watcher = app
        .api
        .watch(resource, call.namespace.as_deref(), options)
        .await?;
    let (tx, body) = ChannelBody::channel(WATCH_BUFFER);
    let api = app.api.clone();
    let heartbeat_every = app.watch_heartbeat;
    tokio::spawn(async move {
        let mut headers_sent = false;
        let heartbeat = tokio::time::sleep(heartbeat_every);
        tokio::pin!(heartbeat);
        loop {
            // `Watcher::next` is cancel-safe: a heartbeat in between loses no event.
            let event = tokio::select! {
                event = watcher.next() => event,
                () = tx.closed() => None,
                () = &mut heartbeat => {
                    if tx.send(Bytes::from_static(b" ")).await.is_err() {
                        break;
                    }
                    heartbeat.as_mut().reset(tokio::time::Instant::now() + heartbeat_every);
                    continue;
                }
            };
            let Some(event) = event else { break };
            heartbeat
                .as_mut()
                .reset(tokio::time::Instant::now() + heartbeat_every);
            let event = match repr {
                Representation::Table => {
                    table_event(&api, resource, event, include, &mut headers_sent)
                }
                Representation::Json => event,
            };
            let mut line = serde_json::to_vec(&event.to_json()).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                break;
            }
        }
    });
    let mut response = Response::new(Body::new(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The event with its object as a one-row `Table` (the first one with the columns).
fn table_event(
    api: &Api,
    resource: ResourceType,
    event: WatchEvent,
    include: IncludeObject,
    headers_sent: &mut bool,
) -> WatchEvent {
    if !matches!(
        event.event_type,
        EventType::Added | EventType::Modified | EventType::Deleted
    ) {
        return event;
    }
    let table = table::table(
        resource,
        [&event.object],
        api.now(),
        TableOptions {
            include_object: include,
            no_headers: *headers_sent,
        },
        ListMeta {
            resource_version: event
                .object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..ListMeta::default()
        },
    );
    *headers_sent = true;
    WatchEvent {
        event_type: event.event_type,
        object: serde_json::to_value(table).unwrap_or(Value::Null),
    }
}
