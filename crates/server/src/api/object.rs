//! What the server does to an object before it is stored: the identity checks (kind,
//! `apiVersion`, namespace and name against the request path), the server-owned metadata
//! (`uid`, `creationTimestamp`, `generation`, `resourceVersion`, deletion fields), the rules of
//! updates (status only through `/status`, `generation` bumped only by spec changes,
//! `Execution.spec` immutable, no new finalizers on an object being deleted).
//!
//! Everything here is pure: the time and the uid are arguments.

use crate::resource::ResourceType;
use crate::status::{cause, Status, StatusCause};
use planspec_model::common::is_dns_label;
use planspec_model::Kind;
use serde_json::{json, Map, Value};

/// Metadata fields the server owns: whatever a client sends for them is replaced.
pub const SERVER_OWNED_METADATA: [&str; 8] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Characters of the random suffix of a `generateName` (as Kubernetes: no vowels, no
/// look-alike digits).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of the random suffix of a `generateName`.
pub const SUFFIX_LENGTH: usize = 5;

/// A random name suffix from random bytes (`SUFFIX_LENGTH` characters).
pub fn name_suffix(random: &[u8]) -> String {
    random
        .iter()
        .take(SUFFIX_LENGTH)
        .map(|b| SUFFIX_ALPHABET[usize::from(*b) % SUFFIX_ALPHABET.len()] as char)
        .collect()
}

/// `metadata` of an object (an empty map if it has none or it is not an object).
pub fn metadata(object: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    object
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn metadata_mut(object: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let meta = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// `metadata.finalizers`, the strings among them.
pub fn finalizers(object: &Value) -> Vec<&str> {
    metadata(object)
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `true` if `metadata.deletionTimestamp` is set.
pub fn deletion_requested(object: &Value) -> bool {
    metadata(object)
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// `metadata.uid`.
pub fn uid(object: &Value) -> &str {
    metadata(object)
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.name`.
pub fn name(object: &Value) -> &str {
    metadata(object)
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The object as a JSON object, or 400.
fn as_object(body: Value) -> Result<Map<String, Value>, Status> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(Status::bad_request(
            "the request body must be a JSON object (a resource with apiVersion, kind and metadata)",
        )),
    }
}

/// Checks `apiVersion` and `kind` against the type of the path (filling them in when absent)
/// and `metadata.namespace` against the path's namespace (filling it in; removing it for
/// cluster-scoped types). 400 on a mismatch.
fn check_type_and_namespace(
    resource: ResourceType,
    namespace: &str,
    object: &mut Map<String, Value>,
) -> Result<(), Status> {
    for (field, expected) in [
        ("apiVersion", resource.api_version()),
        ("kind", resource.kind()),
    ] {
        match object.get(field) {
            None | Some(Value::Null) => {
                object.insert(field.to_owned(), Value::String(expected.to_owned()));
            }
            Some(Value::String(s)) if s == expected => {}
            Some(other) => {
                let got = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned);
                let what = if field == "kind" {
                    "kind"
                } else {
                    "API version"
                };
                return Err(Status::bad_request(format!(
                    "the {what} in the data ({got}) does not match the expected {what} ({expected}) of {}",
                    resource.qualified_plural()
                )));
            }
        }
    }
    let meta = metadata_mut(object);
    if resource.namespaced() {
        match meta.get("namespace") {
            None | Some(Value::Null) => {
                meta.insert("namespace".into(), Value::String(namespace.to_owned()));
            }
            Some(Value::String(s)) if s == namespace => {}
            Some(Value::String(s)) if s.is_empty() => {
                meta.insert("namespace".into(), Value::String(namespace.to_owned()));
            }
            Some(other) => {
                return Err(Status::bad_request(format!(
                    "the namespace of the provided object ({}) does not match the namespace sent on the request ({namespace})",
                    other.as_str().map_or_else(|| other.to_string(), str::to_owned)
                )))
            }
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// 422 unless `name` is a valid name for `resource` (a DNS label).
pub fn validate_name(resource: ResourceType, name: &str) -> Result<(), Status> {
    if name.is_empty() {
        return Err(Status::invalid_causes(
            resource,
            name,
            vec![StatusCause::new(
                cause::FIELD_VALUE_REQUIRED,
                "metadata.name",
                "Required value: name or generateName is required",
            )],
        ));
    }
    if !is_dns_label(name) {
        return Err(Status::invalid_causes(
            resource,
            name,
            vec![StatusCause::new(
                cause::FIELD_VALUE_INVALID,
                "metadata.name",
                format!(
                    "Invalid value: {}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', start and end with an alphanumeric character, and be at most 63 characters (e.g. 'my-name', or '123-abc')",
                    Value::String(name.to_owned())
                ),
            )],
        ));
    }
    Ok(())
}

/// Server-owned values of a new object.
#[derive(Debug, Clone)]
pub struct NewObject<'a> {
    /// The uid to give it.
    pub uid: &'a str,
    /// `creationTimestamp`.
    pub timestamp: &'a str,
    /// The random suffix for a `generateName`.
    pub name_suffix: &'a str,
}

/// The object to store for a create of `body` at `namespace` (empty for cluster-scoped
/// types): identity checked, name from `name` or `generateName` + suffix and validated,
/// server-owned metadata set (`generation: 1` for the PlanSpec kinds), the client's `status`
/// dropped (status is server-owned: a namespace starts `Active`, the PlanSpec kinds get
/// [`initial_status`] once admitted; later changes go through `/status`).
pub fn prepare_create(
    resource: ResourceType,
    namespace: &str,
    body: Value,
    new: &NewObject<'_>,
) -> Result<Value, Status> {
    let mut object = as_object(body)?;
    check_type_and_namespace(resource, namespace, &mut object)?;
    let meta = metadata_mut(&mut object);
    let name = match meta.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let mut base: String = prefix.to_owned();
                base.truncate(63 - SUFFIX_LENGTH);
                let name = format!("{base}{}", new.name_suffix);
                meta.insert("name".into(), Value::String(name.clone()));
                name
            }
            _ => String::new(),
        },
    };
    validate_name(resource, &name)?;
    for field in SERVER_OWNED_METADATA {
        meta.remove(field);
    }
    meta.insert("uid".into(), Value::String(new.uid.to_owned()));
    meta.insert(
        "creationTimestamp".into(),
        Value::String(new.timestamp.to_owned()),
    );
    if matches!(resource, ResourceType::Kind(_)) {
        meta.insert("generation".into(), json!(1));
    }
    match resource {
        ResourceType::Namespace => {
            object.insert("status".into(), json!({"phase": "Active"}));
        }
        ResourceType::Kind(_) => {
            object.remove("status");
        }
    }
    Ok(Value::Object(object))
}

/// The status the server gives a new object of `kind` (upstream reference §4), with
/// `observedGeneration: 1` and conditions stamped `timestamp`. Status is server-owned on
/// create: whatever `status` the client sent was dropped by [`prepare_create`] and this
/// replaces it (upstream keeps a client's `phase`/`conditions` except on Plans; we never
/// do). Later changes go through `/status`. Applied to the *admitted* object, so a Plan's
/// `nodeCount` counts the nodes of its normalised (modern) form.
pub fn initial_status(kind: Kind, object: &Value, timestamp: &str) -> Value {
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastTransitionTime": timestamp, "observedGeneration": 1})
    };
    let (phase, condition) = match kind {
        Kind::Goal => (
            "Pending",
            condition("Accepted", "True", "GoalCreated", "Goal accepted"),
        ),
        Kind::Plan => (
            "Ready",
            condition(
                "Valid",
                "True",
                "SchemaValid",
                "Plan passed schema validation",
            ),
        ),
        Kind::Capability => (
            "Available",
            condition(
                "Available",
                "True",
                "CapabilityRegistered",
                "Capability registered",
            ),
        ),
        Kind::Binding => (
            "Unresolved",
            condition(
                "Resolved",
                "False",
                "BindingCreated",
                "Binding created; not resolved yet",
            ),
        ),
        Kind::Execution => (
            "Pending",
            condition("Accepted", "True", "ExecutionCreated", "Execution accepted"),
        ),
        Kind::Gate => (
            "Pending",
            condition(
                "Ready",
                "False",
                "GateCreated",
                "Gate created; waiting for an Execution to reach it",
            ),
        ),
        Kind::Policy => (
            "Active",
            condition("Ready", "True", "PolicyCreated", "Policy accepted"),
        ),
        Kind::Provider => (
            "Pending",
            condition(
                "Verified",
                "Unknown",
                "ProviderCreated",
                "Provider created; not verified yet",
            ),
        ),
        Kind::Role | Kind::RoleBinding | Kind::ClusterRole | Kind::ClusterRoleBinding => {
            return Value::Null
        }
    };
    let mut status = json!({"phase": phase, "conditions": [condition], "observedGeneration": 1});
    if kind == Kind::Plan {
        let nodes = plan_node_count(object);
        status["nodeCount"] = json!(nodes);
        match compile_plan(object) {
            Ok(digest) => status["graphDigest"] = json!(digest),
            Err(why) => {
                status["phase"] = json!("Invalid");
                status["conditions"] = json!([{"type": PLAN_VALID, "status": "False",
                    "reason": "CompileFailed", "message": why,
                    "lastTransitionTime": timestamp, "observedGeneration": 1}]);
            }
        }
    }
    status
}

/// The number of nodes a Plan declares: in `spec.graph.nodes`, or else in `spec.steps`.
fn plan_node_count(object: &Value) -> usize {
    object
        .pointer("/spec/graph/nodes")
        .or_else(|| object.pointer("/spec/steps"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// Compiles a Plan object into its execution graph: the graph's digest, or why it cannot run
/// (what the validator cannot see alone, such as a `${{ }}` that reads a node that is not
/// upstream). Such a Plan is stored `Invalid`: kept, shown, never run.
pub fn compile_plan(object: &Value) -> Result<String, String> {
    use serde::Deserialize;
    let does_not_parse = |e: serde_json::Error| format!("the plan does not parse: {e}");
    let field = |name: &str| object.get(name).unwrap_or(&Value::Null);
    // What runs is the spec: the status (whatever a client wrote there) does not count. The
    // parts are read in place (`&Value` is a deserializer), without a copy of the object.
    let plan = planspec_model::plan::Plan {
        api_version: String::deserialize(field("apiVersion")).map_err(does_not_parse)?,
        kind: String::deserialize(field("kind")).map_err(does_not_parse)?,
        metadata: Deserialize::deserialize(field("metadata")).map_err(does_not_parse)?,
        spec: Deserialize::deserialize(field("spec")).map_err(does_not_parse)?,
        status: None,
    };
    planspec_engine::compile(&plan, None)
        .map(|graph| graph.digest().to_owned())
        .map_err(|e| e.to_string())
}

/// Whether an update changes the desired state (what bumps `metadata.generation`): `spec`,
/// or for the kinds without one (RBAC) every top-level field but the envelope and status.
fn desired_state_changed(
    resource: ResourceType,
    new: &Map<String, Value>,
    current: &Value,
) -> bool {
    match resource {
        ResourceType::Kind(kind) if !kind.has_spec() => {
            let envelope = ["apiVersion", "kind", "metadata", "status"];
            let desired = |o: &Map<String, Value>| -> Vec<(String, Value)> {
                o.iter()
                    .filter(|(k, _)| !envelope.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            let empty = Map::new();
            let before = current.as_object().unwrap_or(&empty);
            let mut a = desired(new);
            let mut b = desired(before);
            a.sort_by(|x, y| x.0.cmp(&y.0));
            b.sort_by(|x, y| x.0.cmp(&y.0));
            a != b
        }
        _ => new.get("spec") != current.get("spec"),
    }
}

/// `object` (an admitted new object of `resource`) with its initial status; namespaces
/// already have theirs, and the RBAC kinds have none.
pub fn with_initial_status(resource: ResourceType, mut object: Value, timestamp: &str) -> Value {
    if let ResourceType::Kind(kind) = resource {
        if !kind.has_spec() {
            return object;
        }
        let status = initial_status(kind, &object, timestamp);
        if let Value::Object(o) = &mut object {
            o.insert("status".into(), status);
        }
    }
    object
}

/// The condition of a Plan that says it passed validation.
pub const PLAN_VALID: &str = "Valid";

/// `object` (an admitted, updated object of `resource`) with its status brought up to date
/// with a spec change: when `generation` moved past `current`'s, a Plan's status is
/// recomputed as on create — `phase: Ready`, `nodeCount` of the new graph, the `Valid`
/// condition (`SchemaValid`, stamped `timestamp` only if it was not already `True`, as
/// Kubernetes conditions keep `lastTransitionTime` while their status holds) and
/// `observedGeneration` (status and condition) set to the new generation. Other conditions
/// and status fields stay. An admitted object passed validation, so a stored Plan is always
/// `Valid`; `Invalid` is left to controllers that re-validate against other resources.
/// Other kinds, and updates that did not change the spec, are returned as they are.
pub fn with_recomputed_status(
    resource: ResourceType,
    current: &Value,
    mut object: Value,
    timestamp: &str,
) -> Value {
    if resource != ResourceType::Kind(Kind::Plan) {
        return object;
    }
    let generation = |o: &Value| metadata(o).get("generation").and_then(Value::as_i64);
    let Some(new_generation) = generation(&object) else {
        return object;
    };
    if generation(current) == Some(new_generation) {
        return object;
    }
    let nodes = plan_node_count(&object);
    let compiled = compile_plan(&object);
    let Value::Object(map) = &mut object else {
        return object;
    };
    let status = map
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    let Value::Object(status) = status else {
        return object;
    };
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let previous = conditions
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some(PLAN_VALID));
    let since = previous
        .map(|i| &conditions[i])
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("True"))
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .unwrap_or(timestamp)
        .to_owned();
    let valid = match &compiled {
        Ok(_) => json!({
            "type": PLAN_VALID, "status": "True", "reason": "SchemaValid",
            "message": "Plan passed schema validation",
            "lastTransitionTime": since, "observedGeneration": new_generation,
        }),
        Err(why) => json!({
            "type": PLAN_VALID, "status": "False", "reason": "CompileFailed",
            "message": why, "lastTransitionTime": timestamp, "observedGeneration": new_generation,
        }),
    };
    match previous {
        Some(i) => conditions[i] = valid,
        None => conditions.insert(0, valid),
    }
    status.insert(
        "phase".into(),
        json!(if compiled.is_ok() { "Ready" } else { "Invalid" }),
    );
    match compiled {
        Ok(digest) => status.insert("graphDigest".into(), json!(digest)),
        Err(_) => status.remove("graphDigest"),
    };
    status.insert("nodeCount".into(), json!(nodes));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("observedGeneration".into(), json!(new_generation));
    object
}

/// Which part of an object a write changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object itself: everything but `status`.
    Main,
    /// The `/status` subresource: only `status`.
    Status,
}

/// The object to store when `proposed` replaces `current` (both whole objects) through
/// `part`.
///
/// * Identity (`apiVersion`, `kind`, namespace, name) must match the path (400); missing
///   values are taken from it.
/// * [`Part::Main`]: server-owned metadata and `status` come from `current`; `generation` is
///   bumped when `spec` changed; `Execution.spec` may not change (422); finalizers may not be
///   added while a deletion is pending (422).
/// * [`Part::Status`]: only `status` is taken from `proposed`.
///
/// `metadata.resourceVersion` is the current one, so an unchanged object compares equal to
/// `current`.
pub fn prepare_update(
    resource: ResourceType,
    namespace: &str,
    name: &str,
    current: &Value,
    proposed: Value,
    part: Part,
) -> Result<Value, Status> {
    let mut proposed = as_object(proposed)?;
    check_type_and_namespace(resource, namespace, &mut proposed)?;
    {
        let meta = metadata_mut(&mut proposed);
        match meta.get("name") {
            None | Some(Value::Null) => {
                meta.insert("name".into(), Value::String(name.to_owned()));
            }
            Some(Value::String(n)) if n == name => {}
            Some(other) => {
                return Err(Status::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    other
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_owned)
                )))
            }
        }
    }
    let current_map = current.as_object().cloned().unwrap_or_default();
    let managed_fields = carried_managed_fields(&mut proposed);
    match part {
        Part::Status => {
            let mut object = current_map;
            match proposed.remove("status") {
                Some(status) if !status.is_null() => {
                    object.insert("status".into(), status);
                }
                _ => {
                    object.remove("status");
                }
            }
            if let Some(m) = managed_fields {
                metadata_mut(&mut object).insert("managedFields".into(), m);
            }
            Ok(Value::Object(object))
        }
        Part::Main => {
            let mut object = proposed;
            let current_meta = metadata(current);
            {
                let meta = metadata_mut(&mut object);
                for field in SERVER_OWNED_METADATA {
                    match current_meta.get(field) {
                        Some(v) => {
                            meta.insert(field.to_owned(), v.clone());
                        }
                        None => {
                            meta.remove(field);
                        }
                    }
                }
                if let Some(m) = managed_fields {
                    meta.insert("managedFields".into(), m);
                }
                meta.remove("generateName");
                if let Some(g) = current_meta.get("generateName") {
                    meta.insert("generateName".into(), g.clone());
                }
            }
            match current.get("status") {
                Some(status) => {
                    object.insert("status".into(), status.clone());
                }
                None => {
                    object.remove("status");
                }
            }
            let spec_changed = desired_state_changed(resource, &object, current);
            if spec_changed && resource == ResourceType::Kind(Kind::Execution) {
                return Err(Status::invalid_causes(
                    resource,
                    name,
                    vec![StatusCause::new(
                        cause::FIELD_VALUE_INVALID,
                        "spec",
                        "field is immutable: an Execution's spec cannot change once it is created (create a new Execution instead)",
                    )],
                ));
            }
            if deletion_requested(current) {
                let before = finalizers(current);
                let object = Value::Object(object);
                let added: Vec<&str> = finalizers(&object)
                    .into_iter()
                    .filter(|f| !before.contains(f))
                    .collect();
                if !added.is_empty() {
                    return Err(Status::invalid_causes(
                        resource,
                        name,
                        vec![StatusCause::new(
                            cause::FIELD_VALUE_FORBIDDEN,
                            "metadata.finalizers",
                            format!(
                                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                            ),
                        )],
                    ));
                }
                let Value::Object(o) = object else {
                    unreachable!()
                };
                return finish_main(resource, o, spec_changed, current_meta);
            }
            finish_main(resource, object, spec_changed, current_meta)
        }
    }
}

/// The `metadata.managedFields` a written object carries, taken out of it, when they are a
/// non-empty list: they replace the stored ones (as in Kubernetes, where a client may rewrite
/// managed fields, e.g. kubectl moving client-side-apply ownership to server-side apply).
/// Otherwise the stored ones stay.
fn carried_managed_fields(proposed: &mut Map<String, Value>) -> Option<Value> {
    let meta = proposed.get_mut("metadata")?.as_object_mut()?;
    match meta.get("managedFields") {
        Some(Value::Array(items)) if !items.is_empty() => meta.remove("managedFields"),
        _ => None,
    }
}

fn finish_main(
    resource: ResourceType,
    mut object: Map<String, Value>,
    spec_changed: bool,
    current_meta: &Map<String, Value>,
) -> Result<Value, Status> {
    if matches!(resource, ResourceType::Kind(_)) {
        let generation = current_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let generation = if spec_changed {
            generation + 1
        } else {
            generation
        };
        metadata_mut(&mut object).insert("generation".into(), json!(generation));
    }
    Ok(Value::Object(object))
}

/// `current` with `deletionTimestamp` set to `timestamp` (and a grace period of 0), unless
/// one is set already.
pub fn mark_for_deletion(current: &Value, timestamp: &str) -> Value {
    let mut object = current.as_object().cloned().unwrap_or_default();
    let meta = metadata_mut(&mut object);
    if meta.get("deletionTimestamp").is_none_or(Value::is_null) {
        meta.insert(
            "deletionTimestamp".into(),
            Value::String(timestamp.to_owned()),
        );
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    }
    Value::Object(object)
}

/// `object` with `metadata.resourceVersion` set to `revision`.
pub fn with_resource_version(mut object: Value, revision: i64) -> Value {
    if let Value::Object(o) = &mut object {
        metadata_mut(o).insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
    object
}

/// `metadata.resourceVersion` as a revision: `None` if absent or empty; 400 if not a
/// revision.
pub fn resource_version(object: &Value) -> Result<Option<i64>, Status> {
    match metadata(object).get("resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => crate::api::params::parse_resource_version(s).map(Some),
        Some(other) => Err(Status::bad_request(format!(
            "metadata.resourceVersion must be a string, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Reason;

    const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);
    const EXEC: ResourceType = ResourceType::Kind(Kind::Execution);
    const NEW: NewObject<'static> = NewObject {
        uid: "uid-1",
        timestamp: "2025-01-01T00:00:00Z",
        name_suffix: "bcd42",
    };

    fn plan(name: &str) -> Value {
        json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": name},
            "spec": {"description": "d", "graph": {"nodes": [{"id": "a", "kind": "Task"}]}}
        })
    }

    #[test]
    fn create_sets_server_fields_and_drops_client_ones() {
        let mut body = plan("p");
        body["metadata"]["uid"] = json!("mine");
        body["metadata"]["resourceVersion"] = json!("99");
        body["metadata"]["generation"] = json!(7);
        body["metadata"]["deletionTimestamp"] = json!("2020-01-01T00:00:00Z");
        body["status"] = json!({"phase": "Ready"});
        let o = prepare_create(PLAN, "default", body, &NEW).unwrap();
        assert_eq!(
            o["metadata"],
            json!({"name": "p", "namespace": "default", "uid": "uid-1",
                   "creationTimestamp": "2025-01-01T00:00:00Z", "generation": 1})
        );
        assert!(o.get("status").is_none());
    }

    #[test]
    fn initial_statuses() {
        let o = prepare_create(PLAN, "default", plan("p"), &NEW).unwrap();
        let o = with_initial_status(PLAN, o, "2025-01-01T00:00:00Z");
        assert_eq!(o["status"]["phase"], "Ready");
        assert_eq!(o["status"]["nodeCount"], 1);
        assert_eq!(o["status"]["conditions"][0]["reason"], "SchemaValid");
        let g = initial_status(Kind::Gate, &json!({}), "t");
        assert_eq!(
            (g["phase"].as_str(), g["conditions"][0]["status"].as_str()),
            (Some("Pending"), Some("False"))
        );
        assert!(g.get("nodeCount").is_none());
        let ns = with_initial_status(
            ResourceType::Namespace,
            json!({"status": {"phase": "Active"}}),
            "t",
        );
        assert_eq!(ns["status"], json!({"phase": "Active"}));
    }

    #[test]
    fn create_checks_identity() {
        let err = |body: Value| prepare_create(PLAN, "default", body, &NEW).unwrap_err();
        let mut b = plan("p");
        b["kind"] = json!("Goal");
        assert_eq!(err(b).code, 400);
        let mut b = plan("p");
        b["apiVersion"] = json!("planspec.io/v2");
        assert!(err(b).message.contains("planspec.io/v2"));
        let mut b = plan("p");
        b["metadata"]["namespace"] = json!("other");
        assert_eq!(err(b).code, 400);
        assert_eq!(err(json!([])).code, 400);
        let s = err(plan("Bad_Name"));
        assert_eq!((s.code, s.reason), (422, Some(Reason::Invalid)));
        assert_eq!(s.details.unwrap().causes[0].field, "metadata.name");
        assert_eq!(err(json!({"kind": "Plan"})).code, 422);
        // Missing apiVersion/kind/namespace are filled in.
        let o = prepare_create(PLAN, "team", json!({"metadata": {"name": "p"}}), &NEW).unwrap();
        assert_eq!(o["kind"], "Plan");
        assert_eq!(o["apiVersion"], "planspec.io/v1alpha1");
        assert_eq!(o["metadata"]["namespace"], "team");
    }

    #[test]
    fn generate_name_and_namespaces() {
        let o = prepare_create(
            PLAN,
            "default",
            json!({"metadata": {"generateName": "run-"}}),
            &NEW,
        )
        .unwrap();
        assert_eq!(o["metadata"]["name"], "run-bcd42");
        let ns = prepare_create(
            ResourceType::Namespace,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev", "namespace": "x"}}),
            &NEW,
        )
        .unwrap();
        assert_eq!(ns["status"], json!({"phase": "Active"}));
        assert!(ns["metadata"].get("namespace").is_none());
        assert!(ns["metadata"].get("generation").is_none());
        assert_eq!(name_suffix(&[0, 1, 2, 3, 255, 9]), "bcdfq");
    }

    fn stored() -> Value {
        let mut o = prepare_create(PLAN, "default", plan("p"), &NEW).unwrap();
        o["metadata"]["resourceVersion"] = json!("5");
        o["status"] = json!({"phase": "Ready"});
        o
    }

    #[test]
    fn update_keeps_server_fields_and_bumps_generation_on_spec_change() {
        let current = stored();
        let mut proposed = plan("p");
        proposed["metadata"]["labels"] = json!({"a": "b"});
        proposed["metadata"]["uid"] = json!("other");
        proposed["status"] = json!({"phase": "Failed"});
        let o = prepare_update(PLAN, "default", "p", &current, proposed, Part::Main).unwrap();
        assert_eq!(o["metadata"]["uid"], "uid-1");
        assert_eq!(o["metadata"]["resourceVersion"], "5");
        assert_eq!(o["metadata"]["generation"], 1);
        assert_eq!(o["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(o["status"], json!({"phase": "Ready"}));

        let mut proposed = plan("p");
        proposed["spec"]["description"] = json!("changed");
        let o = prepare_update(PLAN, "default", "p", &current, proposed, Part::Main).unwrap();
        assert_eq!(o["metadata"]["generation"], 2);

        // An unchanged object is equal to the current one.
        let o =
            prepare_update(PLAN, "default", "p", &current, current.clone(), Part::Main).unwrap();
        assert_eq!(o, current);
    }

    #[test]
    fn status_updates_change_only_status() {
        let current = stored();
        let mut proposed = current.clone();
        proposed["spec"]["description"] = json!("ignored");
        proposed["metadata"]["labels"] = json!({"ignored": "yes"});
        proposed["status"] = json!({"phase": "Failed"});
        let o = prepare_update(PLAN, "default", "p", &current, proposed, Part::Status).unwrap();
        let mut expected = current.clone();
        expected["status"] = json!({"phase": "Failed"});
        assert_eq!(o, expected);
    }

    #[test]
    fn update_rules() {
        let current = stored();
        let s = prepare_update(PLAN, "default", "q", &current, plan("p"), Part::Main).unwrap_err();
        assert_eq!(s.code, 400);

        let mut exec = current.clone();
        exec["kind"] = json!("Execution");
        exec["spec"] = json!({"planRef": {"name": "a"}});
        let mut proposed = exec.clone();
        proposed["spec"]["planRef"]["name"] = json!("b");
        let s = prepare_update(EXEC, "default", "p", &exec, proposed, Part::Main).unwrap_err();
        assert_eq!(s.code, 422);
        assert_eq!(s.details.unwrap().causes[0].field, "spec");
        let mut proposed = exec.clone();
        proposed["metadata"]["labels"] = json!({"x": "y"});
        assert!(prepare_update(EXEC, "default", "p", &exec, proposed, Part::Main).is_ok());

        let mut deleting = current.clone();
        deleting["metadata"]["finalizers"] = json!(["a.io/x"]);
        let deleting = mark_for_deletion(&deleting, "2025-01-02T00:00:00Z");
        assert!(deletion_requested(&deleting));
        assert_eq!(
            mark_for_deletion(&deleting, "2030-01-01T00:00:00Z")["metadata"]["deletionTimestamp"],
            "2025-01-02T00:00:00Z"
        );
        let mut proposed = deleting.clone();
        proposed["metadata"]["finalizers"] = json!(["a.io/x", "b.io/y"]);
        let s = prepare_update(PLAN, "default", "p", &deleting, proposed, Part::Main).unwrap_err();
        assert_eq!(s.details.unwrap().causes[0].field, "metadata.finalizers");
        let mut proposed = deleting.clone();
        proposed["metadata"]["finalizers"] = json!([]);
        proposed["metadata"]["deletionTimestamp"] = Value::Null;
        let o = prepare_update(PLAN, "default", "p", &deleting, proposed, Part::Main).unwrap();
        assert!(finalizers(&o).is_empty());
        assert!(deletion_requested(&o));
    }

    #[test]
    fn written_managed_fields_replace_the_stored_ones_only_when_given() {
        let mut current = stored();
        current["metadata"]["managedFields"] = json!([{"manager": "a"}]);
        let keep = prepare_update(PLAN, "default", "p", &current, plan("p"), Part::Main).unwrap();
        assert_eq!(keep["metadata"]["managedFields"], json!([{"manager": "a"}]));
        for empty in [json!([]), Value::Null] {
            let mut proposed = plan("p");
            proposed["metadata"]["managedFields"] = empty;
            let o = prepare_update(PLAN, "default", "p", &current, proposed, Part::Main).unwrap();
            assert_eq!(o["metadata"]["managedFields"], json!([{"manager": "a"}]));
        }
        let mut proposed = plan("p");
        proposed["metadata"]["managedFields"] = json!([{"manager": "b"}]);
        let o =
            prepare_update(PLAN, "default", "p", &current, proposed.clone(), Part::Main).unwrap();
        assert_eq!(o["metadata"]["managedFields"], json!([{"manager": "b"}]));
        let o = prepare_update(PLAN, "default", "p", &current, proposed, Part::Status).unwrap();
        assert_eq!(o["metadata"]["managedFields"], json!([{"manager": "b"}]));
    }

    #[test]
    fn a_plan_that_cannot_compile_is_stored_invalid_and_gets_a_digest_otherwise() {
        let ok = with_initial_status(
            PLAN,
            prepare_create(PLAN, "default", plan("p"), &NEW).unwrap(),
            "t",
        );
        assert_eq!(ok["status"]["phase"], "Ready");
        assert!(ok["status"]["graphDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
        let mut bad = plan("q");
        // `a` reads `b`, which is not upstream of it: valid alone, but it cannot run.
        bad["spec"]["graph"]["nodes"] = json!([
            {"id": "a", "kind": "Task", "inputs": {"x": "${{ nodes.b.outputs.y }}"}},
            {"id": "b", "kind": "Task", "outputs": ["y"]}
        ]);
        let o = with_initial_status(
            PLAN,
            prepare_create(PLAN, "default", bad, &NEW).unwrap(),
            "t",
        );
        assert_eq!(o["status"]["phase"], "Invalid", "{o:#}");
        assert_eq!(o["status"]["conditions"][0]["reason"], "CompileFailed");
        assert!(o["status"]["graphDigest"].is_null());
    }

    #[test]
    fn a_plans_status_is_recomputed_when_its_generation_moves() {
        let current = with_initial_status(
            PLAN,
            prepare_create(PLAN, "default", plan("p"), &NEW).unwrap(),
            "2025-01-01T00:00:00Z",
        );
        let mut updated = current.clone();
        updated["metadata"]["generation"] = json!(2);
        updated["spec"]["graph"]["nodes"] =
            json!([{"id": "a", "kind": "Task"}, {"id": "b", "kind": "Task"}]);
        updated["status"]["phase"] = json!("Invalid");
        updated["status"]["conditions"] = json!([
            {"type": "Other", "status": "True"},
            {"type": "Valid", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}
        ]);
        let o = with_recomputed_status(PLAN, &current, updated.clone(), "2025-06-01T00:00:00Z");
        assert_eq!(o["status"]["phase"], "Ready");
        assert_eq!(o["status"]["nodeCount"], 2);
        assert_eq!(o["status"]["observedGeneration"], 2);
        assert_eq!(o["status"]["conditions"][0]["type"], "Other");
        let valid = &o["status"]["conditions"][1];
        assert_eq!(valid["lastTransitionTime"], "2025-01-01T00:00:00Z");
        assert_eq!(valid["observedGeneration"], 2);
        assert_eq!(valid["reason"], "SchemaValid");
        // A condition that was not True transitions now.
        updated["status"]["conditions"][1]["status"] = json!("False");
        let o = with_recomputed_status(PLAN, &current, updated.clone(), "2025-06-01T00:00:00Z");
        assert_eq!(
            o["status"]["conditions"][1]["lastTransitionTime"],
            "2025-06-01T00:00:00Z"
        );
        // The same generation, or another kind: nothing to do.
        assert_eq!(
            with_recomputed_status(PLAN, &current, current.clone(), "t"),
            current
        );
        assert_eq!(
            with_recomputed_status(EXEC, &current, updated.clone(), "t"),
            updated
        );
    }

    #[test]
    fn resource_versions() {
        assert_eq!(resource_version(&stored()).unwrap(), Some(5));
        assert_eq!(resource_version(&plan("p")).unwrap(), None);
        let mut o = plan("p");
        o["metadata"]["resourceVersion"] = json!("x");
        assert_eq!(resource_version(&o).unwrap_err().code, 400);
        assert_eq!(
            with_resource_version(plan("p"), 9)["metadata"]["resourceVersion"],
            "9"
        );
    }
}
