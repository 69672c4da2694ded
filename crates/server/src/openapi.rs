//! OpenAPI v3 documents: `/openapi/v3` (the index) and one document per group version
//! (`/openapi/v3/apis/planspec.io/v1alpha1`, `/openapi/v3/api/v1`).
//!
//! kubectl reads them before `apply`: it looks for the `PATCH` operation of the object's
//! kind (by the `x-kubernetes-group-version-kind` extension) and, finding the
//! `fieldValidation` query parameter there, leaves validation to the server
//! (`?fieldValidation=Strict`). The schemas are the ones `planspec-model` generates (the same
//! the validator and editors use), with their `$defs` lifted into `components.schemas` as
//! `io.planspec.v1alpha1.<Name>`, and the lists that merge item by item in server-side apply
//! marked with `x-kubernetes-list-type` (`map` with `x-kubernetes-list-map-keys`, or `set`).
//!
//! Every route the server has is in a document (a test checks it against
//! [`crate::http::routes::ROUTES`]): the resources, their `/status`, `plans/{name}/graph`, the
//! upstream `validate` and `apply` operations, and — in the documents `api`, `apis`,
//! `version`, `healthz` and `openapi/v3` — discovery, version, health and these documents.

use crate::resource::{ResourceType, GROUP, VERSION};
use crate::ssa::schema::{ListType, LIST_TYPES};
use planspec_model::schema::kind_schema;
use planspec_model::Kind;
use serde_json::{json, Map, Value};
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// The prefix of the component names of the PlanSpec schemas.
const PREFIX: &str = "io.planspec.v1alpha1.";

/// A group version's document and the hash clients cache it by.
#[derive(Debug)]
pub struct Document {
    /// The path after `/openapi/v3/`: `apis/planspec.io/v1alpha1` or `api/v1`.
    pub path: &'static str,
    /// The document, serialised.
    pub text: String,
    /// A hash of `text` (hex), for `?hash=` in the index.
    pub hash: String,
}

/// The documents served, built once.
pub fn documents() -> &'static [Document; 7] {
    static DOCS: OnceLock<[Document; 7]> = OnceLock::new();
    DOCS.get_or_init(|| {
        [
            document("apis/planspec.io/v1alpha1", &planspec_document()),
            document("api/v1", &core_document()),
            document(
                "api",
                &plain_document(
                    "PlanSpec core discovery",
                    &[(
                        "/api",
                        "getCoreAPIVersions",
                        "The versions of the core group.",
                    )],
                ),
            ),
            document(
                "apis",
                &plain_document(
                    "PlanSpec group discovery",
                    &[
                        ("/apis", "getAPIVersions", "The API groups."),
                        (
                            "/apis/planspec.io",
                            "getPlanspecAPIGroup",
                            "The planspec.io group.",
                        ),
                    ],
                ),
            ),
            document(
                "version",
                &plain_document(
                    "PlanSpec version",
                    &[("/version", "getCodeVersion", "The server's version.")],
                ),
            ),
            document(
                "healthz",
                &plain_document(
                    "PlanSpec health",
                    &[
                        ("/healthz", "getHealthz", "`ok` while the server runs."),
                        ("/livez", "getLivez", "`ok` while the server runs."),
                        (
                            "/readyz",
                            "getReadyz",
                            "`ok` when the store answers, else 503.",
                        ),
                    ],
                ),
            ),
            document(
                "openapi/v3",
                &plain_document(
                    "PlanSpec OpenAPI",
                    &[
                        (
                            "/openapi/v3",
                            "getOpenAPIIndex",
                            "The index of the OpenAPI v3 documents.",
                        ),
                        (
                            "/openapi/v3/{path}",
                            "getOpenAPIDocument",
                            "One OpenAPI v3 document.",
                        ),
                    ],
                ),
            ),
        ]
    })
}

/// A document of `GET` paths that answer JSON: `(path, operationId, description)`.
fn plain_document(title: &str, paths: &[(&str, &str, &str)]) -> Value {
    let paths: Map<String, Value> = paths
        .iter()
        .map(|(path, id, description)| {
            let mut get = json!({
                "operationId": id,
                "description": description,
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}},
            });
            if path.contains("{path}") {
                get["parameters"] = json!([path_param("path", "The document's path, as the index lists it.")]);
            }
            ((*path).to_owned(), json!({ "get": get }))
        })
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": title, "version": format!("v{}", env!("CARGO_PKG_VERSION"))},
        "paths": paths,
    })
}

fn document(path: &'static str, value: &Value) -> Document {
    let text = value.to_string();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    Document {
        path,
        hash: format!("{:016X}", hasher.finish()),
        text,
    }
}

/// `/openapi/v3`: `{"paths": {"apis/planspec.io/v1alpha1": {"serverRelativeURL": …}, …}}`.
pub fn index() -> Value {
    let paths: Map<String, Value> = documents()
        .iter()
        .map(|d| {
            (
                d.path.to_owned(),
                json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={}", d.path, d.hash)}),
            )
        })
        .collect();
    json!({ "paths": paths })
}

/// The document at `/openapi/v3/<path>`.
pub fn find(path: &str) -> Option<&'static Document> {
    documents().iter().find(|d| d.path == path)
}

fn gvk(resource: ResourceType) -> Value {
    json!([{"group": resource.group(), "version": resource.version(), "kind": resource.kind()}])
}

fn schema_name(resource: ResourceType) -> String {
    match resource {
        ResourceType::Kind(k) => format!("{PREFIX}{}", k.as_str()),
        ResourceType::Namespace => "io.k8s.api.core.v1.Namespace".to_owned(),
    }
}

fn query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string"}, "uniqueItems": true})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}, "uniqueItems": true})
}

fn write_params() -> Vec<Value> {
    vec![
        query("dryRun", "`All`: run every check, persist nothing."),
        query(
            "fieldManager",
            "Who is writing, recorded in `metadata.managedFields` (at most 128 printable characters). Default: the User-Agent up to its first `/`. Required for server-side apply.",
        ),
        query(
            "fieldValidation",
            "What to do with unknown fields: `Ignore`, `Warn` (default) or `Strict` (reject).",
        ),
    ]
}

fn patch_params() -> Vec<Value> {
    let mut params = write_params();
    params.push(query(
        "force",
        "Server-side apply only: `true` takes the fields other managers own instead of failing with 409.",
    ));
    params
}

fn list_params() -> Vec<Value> {
    [
        ("labelSelector", "Label selector: equality and set-based."),
        (
            "fieldSelector",
            "Field selector on metadata.name, metadata.namespace, status.phase.",
        ),
        ("limit", "Page size."),
        ("continue", "Token of the next page."),
        ("resourceVersion", "For watch: the revision to start after."),
        ("watch", "Stream changes as WatchEvents."),
        ("allowWatchBookmarks", "Send BOOKMARK events."),
        (
            "sendInitialEvents",
            "Start a watch with the current objects.",
        ),
        ("timeoutSeconds", "End a watch after this long."),
    ]
    .into_iter()
    .map(|(n, d)| query(n, d))
    .collect()
}

fn op(
    resource: ResourceType,
    action: &str,
    id: &str,
    params: Vec<Value>,
    body: bool,
    response: &str,
) -> Value {
    let mut o = json!({
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{response}")}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(resource)[0].clone(),
    });
    if body {
        let content = if action == "patch" {
            json!({
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/json-patch+json": {"schema": {"type": "array"}},
                "application/apply-patch+yaml": {"schema": {"type": "object"}}
            })
        } else {
            let schema = json!({"$ref": format!("#/components/schemas/{}", schema_name(resource))});
            json!({"application/json": {"schema": schema}, "application/yaml": {"schema": schema}})
        };
        o["requestBody"] = json!({"required": true, "content": content});
    }
    o
}

fn paths_for(resource: ResourceType, paths: &mut Map<String, Value>) {
    let kind = resource.kind();
    let plural = resource.plural();
    let object = schema_name(resource);
    let list = format!("{object}List");
    let (collection, item, all) = match resource {
        ResourceType::Kind(k) if !k.namespaced() => (
            format!("/apis/{GROUP}/{VERSION}/{plural}"),
            format!("/apis/{GROUP}/{VERSION}/{plural}/{{name}}"),
            None,
        ),
        ResourceType::Kind(_) => (
            format!("/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{plural}"),
            format!("/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{plural}/{{name}}"),
            Some(format!("/apis/{GROUP}/{VERSION}/{plural}")),
        ),
        ResourceType::Namespace => (
            "/api/v1/namespaces".to_owned(),
            "/api/v1/namespaces/{name}".to_owned(),
            None,
        ),
    };
    let ns_param = || {
        if resource.namespaced() {
            vec![path_param("namespace", "The namespace.")]
        } else {
            vec![]
        }
    };
    let with = |mut base: Vec<Value>, more: Vec<Value>| {
        base.extend(more);
        base
    };
    let mut collection_ops = json!({
        "get": op(resource, "list", &format!("list{kind}"), with(ns_param(), list_params()), false, &list),
        "post": op(resource, "post", &format!("create{kind}"), with(ns_param(), write_params()), true, &object),
    });
    if resource.namespaced() {
        collection_ops["delete"] = op(
            resource,
            "deletecollection",
            &format!("deleteCollection{kind}"),
            with(
                ns_param(),
                with(
                    list_params(),
                    vec![
                        query("dryRun", "`All`: check only."),
                        query("propagationPolicy", "Background, Foreground or Orphan."),
                    ],
                ),
            ),
            false,
            &list,
        );
    }
    paths.insert(collection, collection_ops);
    let item_params = || with(ns_param(), vec![path_param("name", "The name.")]);
    paths.insert(
        item.clone(),
        json!({
            "get": op(resource, "get", &format!("read{kind}"), item_params(), false, &object),
            "put": op(resource, "put", &format!("replace{kind}"), with(item_params(), write_params()), true, &object),
            "patch": op(resource, "patch", &format!("patch{kind}"), with(item_params(), patch_params()), true, &object),
            "delete": op(resource, "delete", &format!("delete{kind}"), with(item_params(), vec![query("dryRun", "`All`: check only."), query("propagationPolicy", "Background, Foreground or Orphan.")]), false, &object),
        }),
    );
    let has_status = !matches!(resource, ResourceType::Kind(k) if !k.has_spec());
    if has_status {
        paths.insert(
            format!("{item}/status"),
            json!({
                "get": op(resource, "get", &format!("read{kind}Status"), item_params(), false, &object),
                "put": op(resource, "put", &format!("replace{kind}Status"), with(item_params(), write_params()), true, &object),
                "patch": op(resource, "patch", &format!("patch{kind}Status"), with(item_params(), patch_params()), true, &object),
            }),
        );
    }
    if let Some(all) = all {
        paths.insert(
            all,
            json!({"get": op(resource, "list", &format!("list{kind}ForAllNamespaces"), list_params(), false, &list)}),
        );
    }
}

/// Rewrites `#/$defs/X` references to `#/components/schemas/<PREFIX>X`.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/$defs/") {
                    *r = format!("#/components/schemas/{PREFIX}{name}");
                }
            }
            for v in map.values_mut() {
                rewrite_refs(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn list_schema(item: &str, resource: ResourceType) -> Value {
    json!({
        "type": "object",
        "description": format!("A list of {}.", resource.plural()),
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}
        },
        "x-kubernetes-group-version-kind": [{"group": resource.group(), "version": resource.version(), "kind": format!("{}List", resource.kind())}],
    })
}

/// The upstream compatibility operations and `plans/{name}/graph`.
fn operation_paths(paths: &mut Map<String, Value>) {
    let array = json!({"schema": {"type": "array", "items": {"type": "object"}}});
    let array_body = json!({"required": true, "content": {"application/json": array, "application/yaml": array}});
    let answer = |description: &str| json!({"200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}});
    paths.insert(
        format!("/apis/{GROUP}/{VERSION}/validate"),
        json!({"post": {
            "operationId": "validateResources",
            "description": "Checks a JSON array of resources as a create would; writes nothing. Answers `{valid, results: [{index, kind, name, valid, errors}]}`.",
            "requestBody": array_body,
            "responses": answer("The verdict of each resource."),
        }}),
    );
    paths.insert(
        format!("/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/apply"),
        json!({"post": {
            "operationId": "applyResources",
            "description": "Creates or replaces a JSON array of resources in the namespace, all or nothing. Answers `{applied: [{kind, name, namespace, action}], errors, warnings}`.",
            "parameters": [path_param("namespace", "The namespace."), query("dryRun", "`All`: check only."), query("fieldManager", "Who is writing (default: the User-Agent up to its first `/`).")],
            "requestBody": array_body,
            "responses": answer("What was done to each resource."),
        }}),
    );
    paths.insert(
        format!("/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/plans/{{name}}/graph"),
        json!({"get": {
            "operationId": "readPlanGraph",
            "description": "The Plan's graph normalised: `{nodes: [{id, kind, name?, children?, group?}], edges: [{from, to, type, origin}]}`.",
            "parameters": [path_param("namespace", "The namespace."), path_param("name", "The Plan's name.")],
            "responses": answer("The graph."),
        }}),
    );
    execution_operation_paths(paths);
    audit_paths(paths);
    lease_paths(paths);
    paths.insert(
        format!("/apis/{GROUP}/{VERSION}"),
        json!({"get": {
            "operationId": "getPlanspecV1alpha1APIResources",
            "description": "The resources of planspec.io/v1alpha1 (an APIResourceList).",
            "responses": answer("The resources."),
        }}),
    );
}

/// The execution operations and Gate reviews (`crate::http::operations`).
fn execution_operation_paths(paths: &mut Map<String, Value>) {
    let object = |description: &str| json!({"required": false, "description": description, "content": {"application/json": {"schema": {"type": "object"}}}});
    let execution = json!({"200": {"description": "The Execution once the request is journaled.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/io.planspec.v1alpha1.Execution"}}}}});
    let base = format!("/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}");
    let ns = path_param("namespace", "The namespace.");
    let name = path_param("name", "The Execution's name.");
    let node = path_param("node", "The node's id.");
    let actor = json!({"name": "Impersonate-User", "in": "header", "required": false,
                       "description": "Act as this user (needs `impersonate` on `users`). Without it the actor is the identity the bearer token proves.",
                       "schema": {"type": "string"}});
    let post = |id: &str, description: &str, params: Vec<Value>, body: Value, responses: Value| {
        json!({"post": {"operationId": id, "description": description, "parameters": params,
                        "requestBody": body, "responses": responses}})
    };
    paths.insert(
        format!("{base}/executions/{{name}}/cancel"),
        post("cancelExecution", "Cancels the Execution: `{\"force\": false}` lets running attempts finish and starts nothing new; `force` kills them. 409 if it has finished.",
             vec![ns.clone(), name.clone(), query("force", "`true`: kill running attempts."), actor.clone()],
             object("`{\"force\": bool}`"), execution.clone()),
    );
    paths.insert(
        format!("{base}/executions/{{name}}/retry"),
        post("retryExecution", "Re-runs the failed and cancelled nodes of a finished Execution, or `from` and what depends on it, keeping the outputs of the nodes that succeeded.",
             vec![ns.clone(), name.clone(), query("from", "The node to re-run from."), actor.clone()],
             object("`{\"from\": \"node\"}`"), execution.clone()),
    );
    paths.insert(
        format!("{base}/executions/{{name}}/nodes/{{node}}/complete"),
        post("completeExecutionNode", "Finishes a node that waits for a person (a `human://` Task, a manual or webhook External, manual criteria) as succeeded. 409 if it does not wait.",
             vec![ns.clone(), name.clone(), node.clone(), actor.clone()],
             object("`{\"outputs\": {…}}`"), execution.clone()),
    );
    paths.insert(
        format!("{base}/executions/{{name}}/nodes/{{node}}/fail"),
        post(
            "failExecutionNode",
            "Finishes a node that waits for a person as failed.",
            vec![ns.clone(), name.clone(), node.clone(), actor.clone()],
            object("`{\"message\": \"why\"}`"),
            execution.clone(),
        ),
    );
    paths.insert(
        format!("{base}/executions/{{name}}/nodes/{{node}}/resolve"),
        post(
            "resolveExecutionNode",
            "Fills a Placeholder node that is `AwaitingInput` with `value`, checked against its `schema` and `rules` first: 422 (one cause per broken constraint, the node still waiting) if they refuse it; 409 if the node does not await input. Needs `update` on `executions/nodes`.",
            vec![ns.clone(), name.clone(), node.clone(), actor.clone()],
            object("`{\"value\": …}`"),
            execution.clone(),
        ),
    );
    let list = |description: &str| json!({"200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}});
    paths.insert(
        format!("{base}/executions/{{name}}/journal"),
        json!({"get": {"operationId": "readExecutionJournal",
                       "description": "The journal, paged: `{metadata: {total, continue?}, items: [{seq, entry}]}`.",
                       "parameters": [ns.clone(), name.clone(), query("from", "The first entry (0-based)."),
                                      query("limit", "At most this many entries (≤ 5000)."), query("continue", "The `continue` of the previous page.")],
                       "responses": list("One page of entries.")}}),
    );
    paths.insert(
        format!("{base}/executions/{{name}}/nodes"),
        json!({"get": {"operationId": "listExecutionNodes",
                       "description": "The node records in node-id order: `{metadata: {continue?}, items: [{node, phase, attempt, …}]}`.",
                       "parameters": [ns.clone(), name.clone(), query("phase", "Only nodes in this phase."),
                                      query("limit", "At most this many records (≤ 5000)."), query("continue", "The `continue` of the previous page.")],
                       "responses": list("One page of node records.")}}),
    );
    paths.insert(
        format!("{base}/executions/{{name}}/nodes/{{node}}/log"),
        json!({"get": {"operationId": "readExecutionNodeLog",
                       "description": "A node attempt's log as `text/plain`, from `offset`; headers `X-Log-Attempt`, `X-Log-Offset` (the next read's offset) and `X-Log-Complete`.",
                       "parameters": [ns.clone(), name.clone(), node.clone(), query("attempt", "The attempt (default: the latest)."),
                                      query("offset", "Where to start reading."), query("limitBytes", "At most this many bytes (≤ 1 MiB).")],
                       "responses": {"200": {"description": "Log bytes.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}),
    );
    paths.insert(
        format!("{base}/gates/{{name}}/review"),
        post("reviewGate", "Records a review (`approve`, `reject` with a required `comment`, or `comment`) by the authenticated user and decides the Gate in the same write (with its audit records). 403 for someone not among `reviewers` (users or groups) and for the Execution's creator approving (no self-approval); 422 for a rejection without a `comment` and for `values` that do not satisfy the Gate's `inputSchema`; 409 once decided on the current generation or past its timeout.",
             vec![ns, path_param("name", "The Gate's name."), actor],
             json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["action"],
                 "properties": {"action": {"enum": ["approve", "reject", "comment"]}, "comment": {"type": "string"},
                     "values": {"type": "object", "description": "An approval's typed input, valid against the Gate's `inputSchema`; the Gate node's outputs."},
                     "reviewer": {"type": "string", "description": "Optional; if given, it must name the authenticated user."}}}}}}),
             json!({"200": {"description": "The Gate as stored.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/io.planspec.v1alpha1.Gate"}}}}})),
    );
}

/// The keyed concurrency leases (`crate::http::leases`).
fn lease_paths(paths: &mut Map<String, Value>) {
    let description = "The keyed concurrency leases of Tasks' `concurrency`, one item per key: `{kind: LeaseList, items: [{namespace, key, holders: [{slot, execution, node, instance, since?, expiresAt, expired, token}], waiters: [{execution, node, priority, since}]}]}`. Holders come from the store; waiters, in the order they will be served (Goal priority, then arrival), from this server's runtime. Needs `list` on `leases`.";
    paths.insert(
        format!("/apis/{GROUP}/{VERSION}/leases"),
        json!({"get": {"operationId": "listLeasesForAllNamespaces", "description": description,
                       "responses": {"200": {"description": "The leases.", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    paths.insert(
        format!("/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/leases"),
        json!({"get": {"operationId": "listNamespacedLeases", "description": description,
                       "parameters": [path_param("namespace", "The namespace.")],
                       "responses": {"200": {"description": "The leases.", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
}

/// The audit log (`crate::http::audit`).
fn audit_paths(paths: &mut Map<String, Value>) {
    paths.insert(
        format!("/apis/{GROUP}/{VERSION}/auditrecords"),
        json!({"get": {"operationId": "listAuditRecords",
                       "description": "The audit log in `seq` order: `{kind: AuditRecordList, metadata: {continue?, head: {seq, hash}}, items: [{seq, time, actor, verb, resource, outcome, requestId?, details?, prevHash, hash}]}`. Each record's `hash` is SHA-256 over the previous record's hash and its own canonical JSON; `metadata.head` is the newest record the store recorded (read in the page's snapshot). Needs `list` on `auditrecords`.",
                       "parameters": [query("limit", "At most this many records (default 500, at most 5000)."),
                                      query("continue", "The `continue` of the previous page."),
                                      query("actor", "Only records of this username."),
                                      query("namespace", "Only records about this namespace."),
                                      query("resource", "Only records about this resource (plural).")],
                       "responses": {"200": {"description": "One page of records.", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
}

/// Marks the lists of [`LIST_TYPES`] in `schemas` (reached from each kind's schema through
/// `properties` and `$ref`).
fn annotate_list_types(schemas: &mut Map<String, Value>) {
    for kind in Kind::ALL {
        let start = schema_name(ResourceType::Kind(kind));
        for (path, list_type) in LIST_TYPES {
            let Some((component, pointer)) = locate(schemas, &start, path) else {
                continue;
            };
            let Some(array) = schemas
                .get_mut(&component)
                .and_then(|c| c.pointer_mut(&pointer))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            match list_type {
                ListType::Map(keys) => {
                    array.insert("x-kubernetes-list-type".into(), json!("map"));
                    array.insert("x-kubernetes-list-map-keys".into(), json!(keys));
                }
                ListType::Set => {
                    array.insert("x-kubernetes-list-type".into(), json!("set"));
                }
                ListType::Atomic => {}
            }
        }
    }
}

/// The component and JSON pointer of the schema at the field path `path` below the component
/// `start`, following `$ref`s.
fn locate(schemas: &Map<String, Value>, start: &str, path: &[&str]) -> Option<(String, String)> {
    let mut component = start.to_owned();
    let mut pointer = String::new();
    for (depth, field) in path.iter().enumerate() {
        // Follow references to the schema that has the properties.
        for _ in 0..16 {
            let node = schemas.get(&component)?.pointer(&pointer)?;
            match node.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    component = r.strip_prefix("#/components/schemas/")?.to_owned();
                    pointer.clear();
                }
                None => break,
            }
        }
        let node = schemas.get(&component)?.pointer(&pointer)?;
        node.get("properties")?.get(*field)?;
        pointer.push_str("/properties/");
        pointer.push_str(&field.replace('~', "~0").replace('/', "~1"));
        if depth + 1 == path.len() {
            return Some((component, pointer));
        }
    }
    None
}

fn planspec_document() -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for kind in Kind::ALL {
        let resource = ResourceType::Kind(kind);
        let mut schema = kind_schema(kind);
        rewrite_refs(&mut schema);
        if let Value::Object(map) = &mut schema {
            map.remove("$schema");
            map.remove("$id");
            if let Some(Value::Object(defs)) = map.remove("$defs") {
                for (name, def) in defs {
                    schemas.entry(format!("{PREFIX}{name}")).or_insert(def);
                }
            }
            map.insert("x-kubernetes-group-version-kind".into(), gvk(resource));
        }
        let name = schema_name(resource);
        schemas.insert(format!("{name}List"), list_schema(&name, resource));
        schemas.insert(name, schema);
        paths_for(resource, &mut paths);
    }
    annotate_list_types(&mut schemas);
    operation_paths(&mut paths);
    json!({
        "openapi": "3.0.0",
        "info": {"title": "PlanSpec", "version": format!("v{}", env!("CARGO_PKG_VERSION"))},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn core_document() -> Value {
    let resource = ResourceType::Namespace;
    let name = schema_name(resource);
    let mut paths = Map::new();
    paths_for(resource, &mut paths);
    paths.insert(
        "/api/v1".to_owned(),
        json!({"get": {
            "operationId": "getCoreV1APIResources",
            "description": "The resources of the core group v1 (an APIResourceList).",
            "responses": {"200": {"description": "The resources.", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }}),
    );
    let namespace = json!({
        "type": "object",
        "description": "A namespace: a scope for the names of PlanSpec resources.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {"type": "object"},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
        },
        "x-kubernetes-group-version-kind": gvk(resource),
    });
    json!({
        "openapi": "3.0.0",
        "info": {"title": "PlanSpec core", "version": format!("v{}", env!("CARGO_PKG_VERSION"))},
        "paths": paths,
        "components": {"schemas": {
            format!("{name}List"): list_schema(&name, resource),
            name: namespace,
        }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| all_refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| all_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn keyed_lists_are_marked_for_server_side_apply() {
        let doc: Value =
            serde_json::from_str(&find("apis/planspec.io/v1alpha1").unwrap().text).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let (component, pointer) = locate(
            schemas,
            "io.planspec.v1alpha1.Plan",
            &["spec", "graph", "nodes"],
        )
        .unwrap();
        let nodes = schemas[&component].pointer(&pointer).unwrap();
        assert_eq!(nodes["x-kubernetes-list-type"], "map");
        assert_eq!(nodes["x-kubernetes-list-map-keys"], json!(["id"]));
        for kind in Kind::ALL.into_iter().filter(|k| k.has_spec()) {
            let start = format!("io.planspec.v1alpha1.{}", kind.as_str());
            let (component, pointer) = locate(schemas, &start, &["status", "conditions"]).unwrap();
            let conditions = schemas[&component].pointer(&pointer).unwrap();
            assert_eq!(
                conditions["x-kubernetes-list-map-keys"],
                json!(["type"]),
                "{kind:?}"
            );
            let (component, pointer) =
                locate(schemas, &start, &["metadata", "finalizers"]).unwrap();
            assert_eq!(
                schemas[&component].pointer(&pointer).unwrap()["x-kubernetes-list-type"],
                "set"
            );
        }
        let patch = &doc["paths"]["/apis/planspec.io/v1alpha1/namespaces/{namespace}/plans/{name}"]
            ["patch"];
        assert!(patch["requestBody"]["content"]
            .get("application/apply-patch+yaml")
            .is_some());
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "force"));
    }

    #[test]
    fn index_points_at_every_document() {
        let index = index();
        for d in documents() {
            let url = index["paths"][d.path]["serverRelativeURL"]
                .as_str()
                .unwrap();
            assert_eq!(url, format!("/openapi/v3/{}?hash={}", d.path, d.hash));
            assert!(find(d.path).is_some());
        }
        assert!(find("apis/other/v1").is_none());
    }

    #[test]
    fn every_kind_has_a_patch_operation_with_field_validation() {
        let doc: Value =
            serde_json::from_str(&find("apis/planspec.io/v1alpha1").unwrap().text).unwrap();
        for kind in Kind::ALL {
            let path = if kind.namespaced() {
                format!(
                    "/apis/planspec.io/v1alpha1/namespaces/{{namespace}}/{}/{{name}}",
                    kind.plural()
                )
            } else {
                format!("/apis/planspec.io/v1alpha1/{}/{{name}}", kind.plural())
            };
            let patch = &doc["paths"][&path]["patch"];
            assert_eq!(
                patch["x-kubernetes-group-version-kind"],
                json!({"group": "planspec.io", "version": "v1alpha1", "kind": kind.as_str()})
            );
            assert!(patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        }
        // Every reference resolves to a component.
        let mut refs = Vec::new();
        all_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(doc["components"]["schemas"].get(name).is_some(), "{r}");
        }
        let core: Value = serde_json::from_str(&find("api/v1").unwrap().text).unwrap();
        assert_eq!(
            core["paths"]["/api/v1/namespaces/{name}"]["patch"]["x-kubernetes-group-version-kind"]
                ["kind"],
            "Namespace"
        );
    }
}
