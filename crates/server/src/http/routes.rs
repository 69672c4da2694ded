//! The router and its handlers: thin glue that parses a request into an [`Api`] call and
//! encodes the result (JSON, a `Table`, a watch stream, or a `Status`).

use crate::api::managed::UNKNOWN_MANAGER;
use crate::api::object::Part;
use crate::api::params::{DeleteOptions, ListOptions, Params, WriteOptions};
use crate::api::watch::{EventType, WatchEvent};
use crate::api::{Api, ListResult};
use crate::discovery;
use crate::http::body::{self, warning_header, ChannelBody};
use crate::http::negotiate::{representation, Representation};
use crate::http::protobuf;
use crate::http::yaml::{self, YamlBody};
use crate::openapi;
use crate::patch::{strategic_as_merge_patch, PatchType, APPLY_PATCH, STRATEGIC_MERGE_PATCH};
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

/// The paths the router serves (axum syntax; `{plural}` is any PlanSpec plural).
pub mod paths {
    /// `/api`.
    pub const API: &str = "/api";
    /// `/api/v1`.
    pub const CORE_V1: &str = "/api/v1";
    /// `/apis`.
    pub const APIS: &str = "/apis";
    /// `/apis/planspec.io`.
    pub const GROUP: &str = "/apis/planspec.io";
    /// `/apis/planspec.io/v1alpha1`.
    pub const GROUP_VERSION: &str = "/apis/planspec.io/v1alpha1";
    /// Namespaces.
    pub const NAMESPACES: &str = "/api/v1/namespaces";
    /// One namespace.
    pub const NAMESPACE: &str = "/api/v1/namespaces/{name}";
    /// A namespace's status.
    pub const NAMESPACE_STATUS: &str = "/api/v1/namespaces/{name}/status";
    /// The upstream `validate` operation.
    pub const VALIDATE: &str = "/apis/planspec.io/v1alpha1/validate";
    /// A kind across all namespaces, or a cluster-scoped kind's collection.
    pub const ALL_NAMESPACES: &str = "/apis/planspec.io/v1alpha1/{plural}";
    /// One object of a cluster-scoped kind.
    pub const CLUSTER_OBJECT: &str = "/apis/planspec.io/v1alpha1/{plural}/{name}";
    /// The upstream bulk `apply` operation.
    pub const APPLY: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/apply";
    /// A Plan's normalised graph.
    pub const GRAPH: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/plans/{name}/graph";
    /// A kind in a namespace.
    pub const COLLECTION: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/{plural}";
    /// One object.
    pub const OBJECT: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/{plural}/{name}";
    /// One object's status.
    pub const OBJECT_STATUS: &str =
        "/apis/planspec.io/v1alpha1/namespaces/{ns}/{plural}/{name}/status";
    /// Health.
    pub const HEALTHZ: &str = "/healthz";
    /// Liveness.
    pub const LIVEZ: &str = "/livez";
    /// Readiness (the store answers).
    pub const READYZ: &str = "/readyz";
    /// The server's version.
    pub const VERSION: &str = "/version";
    /// The OpenAPI v3 index.
    pub const OPENAPI: &str = "/openapi/v3";
    /// One OpenAPI v3 document.
    pub const OPENAPI_DOCUMENT: &str = "/openapi/v3/{*path}";
}

/// Every route and the methods it answers (lowercase, as OpenAPI names operations); the
/// OpenAPI documents list each (a test checks it).
pub const ROUTES: [(&str, &[&str]); 22] = [
    (paths::API, &["get"]),
    (paths::CORE_V1, &["get"]),
    (paths::APIS, &["get"]),
    (paths::GROUP, &["get"]),
    (paths::GROUP_VERSION, &["get"]),
    (paths::NAMESPACES, &["get", "post"]),
    (paths::NAMESPACE, &["get", "put", "patch", "delete"]),
    (paths::NAMESPACE_STATUS, &["get", "put", "patch"]),
    (paths::VALIDATE, &["post"]),
    (paths::ALL_NAMESPACES, &["get", "post"]),
    (paths::CLUSTER_OBJECT, &["get", "put", "patch", "delete"]),
    (paths::APPLY, &["post"]),
    (paths::GRAPH, &["get"]),
    (paths::COLLECTION, &["get", "post", "delete"]),
    (paths::OBJECT, &["get", "put", "patch", "delete"]),
    (paths::OBJECT_STATUS, &["get", "put", "patch"]),
    (paths::HEALTHZ, &["get"]),
    (paths::LIVEZ, &["get"]),
    (paths::READYZ, &["get"]),
    (paths::VERSION, &["get"]),
    (paths::OPENAPI, &["get"]),
    (paths::OPENAPI_DOCUMENT, &["get"]),
];

/// The router of the whole API.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(paths::API, get(api_versions))
        .route(paths::CORE_V1, get(core_resources))
        .route(paths::APIS, get(api_groups))
        .route(paths::GROUP, get(api_group))
        .route(paths::GROUP_VERSION, get(api_resources))
        .route(paths::NAMESPACES, any(namespaces))
        .route(paths::NAMESPACE, any(namespace))
        .route(paths::NAMESPACE_STATUS, any(namespace_status))
        .route(paths::VALIDATE, post(validate))
        .route(paths::ALL_NAMESPACES, any(all_namespaces))
        .route(paths::CLUSTER_OBJECT, any(cluster_object))
        .route(paths::APPLY, post(apply))
        .route(paths::GRAPH, get(graph))
        .route(paths::COLLECTION, any(collection))
        .route(paths::OBJECT, any(object))
        .route(paths::OBJECT_STATUS, any(object_status))
        .route(paths::HEALTHZ, get(ok))
        .route(paths::LIVEZ, get(ok))
        .route(paths::READYZ, get(readyz))
        .route(paths::VERSION, get(version))
        .route(paths::OPENAPI, get(openapi_index))
        .route(paths::OPENAPI_DOCUMENT, get(openapi_document))
        .merge(super::operations::router())
        .merge(super::audit::router())
        .merge(super::leases::router())
        .merge(super::reviews::router())
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
    /// The authenticated identity (from the authentication layer).
    user: Option<planspec_model::actor::UserInfo>,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Request {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        Ok(Request {
            method: parts.method,
            query: parts.uri.query().map(str::to_string),
            user: super::auth::user_of(&parts.extensions),
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

/// The [`Call`] for a path inside a namespace: only namespaced kinds live there.
fn namespaced_call(
    plural: &str,
    namespace: String,
    name: Option<String>,
    part: Part,
) -> Result<Call, Status> {
    let call = call(Some(plural), Some(namespace), name, part)?;
    if !call.resource.namespaced() || !has_part(call.resource, part) {
        return Err(unknown_resource());
    }
    Ok(call)
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

async fn cluster_object(
    State(app): State<Arc<App>>,
    Path((plural, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    dispatch(&app, cluster_call(&plural, name, Part::Main), request).await
}

/// The [`Call`] for one object of a cluster-scoped kind; a namespaced kind's objects are not
/// served outside a namespace.
fn cluster_call(plural: &str, name: String, part: Part) -> Result<Call, Status> {
    let call = call(Some(plural), None, Some(name), part)?;
    if call.resource.namespaced() || !has_part(call.resource, part) {
        return Err(unknown_resource());
    }
    Ok(call)
}

/// Whether `resource` has `part`: the RBAC kinds have no status.
fn has_part(resource: ResourceType, part: Part) -> bool {
    part != Part::Status || !matches!(resource, ResourceType::Kind(k) if !k.has_spec())
}

async fn collection(
    State(app): State<Arc<App>>,
    Path((ns, plural)): Path<(String, String)>,
    request: Request,
) -> Response {
    dispatch(
        &app,
        namespaced_call(&plural, ns, None, Part::Main),
        request,
    )
    .await
}

// ------------------------------------------------------------------------------------------
// Upstream compatibility routes
// ------------------------------------------------------------------------------------------

/// A JSON (or YAML, `application/yaml`) array body (the upstream batch routes).
async fn array_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Vec<Value>, Status> {
    let bytes = body::read(headers, body, app.body_limit).await?;
    match object_body(
        ResourceType::Kind(planspec_model::Kind::Plan),
        headers,
        &bytes,
    )?
    .0
    {
        Value::Array(items) => Ok(items),
        _ => Err(Status::bad_request(
            "the request body must be an array of resources",
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
    user: Option<axum::Extension<planspec_model::actor::UserInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let params = Params::parse(query.as_deref());
        let dry_run = crate::api::params::dry_run(&params)?;
        let manager = match params.get("fieldManager") {
            Some(m) if !m.is_empty() => crate::api::params::field_manager(m)?,
            _ => manager_from_user_agent(header_str(&headers, header::USER_AGENT)),
        };
        let items = array_body(&app, &headers, body).await?;
        app.api
            .apply_batch(&ns, items, dry_run, &manager, user.map(|u| u.0))
            .await
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
        namespaced_call(&plural, ns, Some(name), Part::Main),
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
        namespaced_call(&plural, ns, Some(name), Part::Status),
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

/// `Content-Type` of YAML request bodies.
pub const YAML: &str = "application/yaml";

/// The media types accepted for the body of a create or replace.
const OBJECT_MEDIA_TYPES: [&str; 2] = ["application/json", YAML];

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
            &OBJECT_MEDIA_TYPES,
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// The body of a create or replace: JSON (or a protobuf `Namespace`) as [`json_body`], or one
/// YAML document (`application/yaml`), kept with its text to locate errors.
fn object_body(
    resource: ResourceType,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<(Value, Option<YamlBody>), Status> {
    if media_type(headers) == YAML {
        let mut body = yaml::parse(bytes)?;
        let value = std::mem::take(&mut body.value);
        return Ok((value, Some(body)));
    }
    Ok((json_body(resource, headers, bytes)?, None))
}

/// The body of a server-side apply: YAML or JSON (JSON is read fast, and by the YAML loader
/// only when it does not parse, for an error with a line and column).
fn apply_body(bytes: &[u8]) -> Result<(Value, Option<YamlBody>), Status> {
    let json_like = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if json_like {
        if let Ok(value) = serde_json::from_slice(bytes) {
            return Ok((value, None));
        }
    }
    let mut body = yaml::parse(bytes)?;
    let value = std::mem::take(&mut body.value);
    Ok((value, Some(body)))
}

/// `status` with the positions of its fields in the YAML text, if the body was YAML.
fn located(yaml: Option<&YamlBody>, resource: ResourceType, status: Status) -> Status {
    match yaml {
        Some(body) => body.locate(resource, status),
        None => status,
    }
}

/// The loader's warnings of a YAML body, then the write's.
fn all_warnings(yaml: Option<&YamlBody>, mut warnings: Vec<String>) -> Vec<String> {
    if let Some(body) = yaml {
        let mut all = body.warnings.clone();
        all.append(&mut warnings);
        return all;
    }
    warnings
}

/// The write options of a request; without `fieldManager`, the manager is the `User-Agent`
/// up to its first `/` (`kubectl/v1.32 …` → `kubectl`), as Kubernetes does.
fn write_options(params: &Params, headers: &HeaderMap) -> Result<WriteOptions, Status> {
    let mut options = WriteOptions::from_params(params)?;
    if options.field_manager.is_none() {
        options.field_manager = Some(manager_from_user_agent(header_str(
            headers,
            header::USER_AGENT,
        )));
    }
    Ok(options)
}

/// The field manager a `User-Agent` names: the text before its first `/`.
pub fn manager_from_user_agent(agent: Option<&str>) -> String {
    agent
        .and_then(|a| a.split('/').next())
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.chars()
                .filter(|c| !c.is_control())
                .take(crate::ssa::MAX_MANAGER_LENGTH)
                .collect()
        })
        .unwrap_or_else(|| UNKNOWN_MANAGER.to_owned())
}

async fn handle(app: &App, call: Call, request: Request) -> Result<Response, Status> {
    let Request {
        method,
        query,
        headers,
        body,
        user,
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
            let options = WriteOptions {
                user: user.clone(),
                ..write_options(&params, &headers)?
            };
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let (value, yaml) = object_body(resource, &headers, &bytes)?;
            let written = api
                .create(resource, ns, value, options)
                .await
                .map_err(|s| located(yaml.as_ref(), resource, s))?;
            let warnings = all_warnings(yaml.as_ref(), written.warnings);
            Ok(json_response(201, &written.object, &warnings))
        }
        (Method::PUT, Some(name)) => {
            let options = WriteOptions {
                user: user.clone(),
                ..write_options(&params, &headers)?
            };
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let (value, yaml) = object_body(resource, &headers, &bytes)?;
            let written = api
                .update(resource, ns, name, call.part, value, options)
                .await
                .map_err(|s| located(yaml.as_ref(), resource, s))?;
            let warnings = all_warnings(yaml.as_ref(), written.warnings);
            Ok(json_response(200, &written.object, &warnings))
        }
        (Method::PATCH, Some(name)) if media_type(&headers) == APPLY_PATCH => {
            let options = WriteOptions {
                user: user.clone(),
                ..WriteOptions::from_params(&params)?
            };
            let bytes = body::read(&headers, body, app.body_limit).await?;
            let (value, yaml) = apply_body(&bytes)?;
            let written = api
                .apply(resource, ns, name, call.part, value, options)
                .await
                .map_err(|s| located(yaml.as_ref(), resource, s))?;
            let warnings = all_warnings(yaml.as_ref(), written.warnings);
            let code = if written.created { 201 } else { 200 };
            Ok(json_response(code, &written.object, &warnings))
        }
        (Method::PATCH, Some(name)) => {
            let options = WriteOptions {
                user: user.clone(),
                ..write_options(&params, &headers)?
            };
            if options.force {
                return Err(Status::failure(
                    422,
                    Reason::Invalid,
                    "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
                ));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi;
    use std::collections::HashMap;

    /// Every path of every OpenAPI document, with its operations.
    fn documented() -> HashMap<String, Vec<String>> {
        let mut out = HashMap::new();
        for document in openapi::documents() {
            let doc: Value = serde_json::from_str(&document.text).unwrap();
            for (path, item) in doc["paths"].as_object().unwrap() {
                let methods = item.as_object().unwrap().keys().cloned().collect();
                out.insert(path.clone(), methods);
            }
        }
        out
    }

    #[test]
    fn every_route_is_in_the_openapi_documents() {
        let documented = documented();
        for (route, methods) in ROUTES
            .iter()
            .chain(super::super::operations::ROUTES.iter())
            .chain(super::super::audit::ROUTES.iter())
            .chain(super::super::leases::ROUTES.iter())
        {
            let template = route
                .replace("{ns}", "{namespace}")
                .replace("{*path}", "{path}");
            // Inside a namespace only namespaced kinds are served; outside, a namespaced
            // kind is only listed (across namespaces) while a cluster-scoped one is served
            // fully.
            let expanded: Vec<(String, bool)> = if template.contains("{plural}") {
                planspec_model::Kind::ALL
                    .iter()
                    .filter(|k| {
                        k.namespaced() == template.contains("{namespace}")
                            || (*route == paths::ALL_NAMESPACES)
                    })
                    .filter(|k| k.has_spec() || !template.ends_with("/status"))
                    .map(|k| (template.replace("{plural}", k.plural()), k.namespaced()))
                    .collect()
            } else {
                vec![(template, true)]
            };
            for (path, namespaced) in expanded {
                let Some(operations) = documented.get(&path) else {
                    panic!("{route} ({path}) is in no OpenAPI document");
                };
                let across_namespaces = *route == paths::ALL_NAMESPACES && namespaced;
                for method in methods
                    .iter()
                    .filter(|m| !across_namespaces || **m == "get")
                {
                    assert!(
                        operations.iter().any(|o| o == method),
                        "{method} {path} is not documented (only {operations:?})"
                    );
                }
            }
        }
    }

    #[test]
    fn managers_come_from_the_user_agent() {
        assert_eq!(
            manager_from_user_agent(Some("kubectl/v1.32.4 (linux/amd64) kubernetes/abc")),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent(Some("planspec/0.1.0")), "planspec");
        assert_eq!(manager_from_user_agent(Some("curl")), "curl");
        assert_eq!(manager_from_user_agent(Some("/x")), UNKNOWN_MANAGER);
        assert_eq!(manager_from_user_agent(None), UNKNOWN_MANAGER);
        assert_eq!(
            manager_from_user_agent(Some(&"a".repeat(300))).len(),
            crate::ssa::MAX_MANAGER_LENGTH
        );
    }
}
