//! The upstream compatibility operations (upstream reference §6): `validate` (a batch of
//! resources checked, nothing written), bulk `apply` (here all-or-nothing: every resource is
//! checked first, then one store transaction writes them all), and a Plan's normalised
//! `graph`.

use super::admission::Admitted;
use super::clock::timestamp;
use super::gc::resource_of;
use super::managed::WriteKind;
use super::object::{self, NewObject, Part};
use super::params::{FieldValidation, WriteOptions};
use super::{key, store_error, Api};
use crate::resource::ResourceType;
use crate::ssa::Operation;
use crate::status::{cause, Reason, Status, StatusCause, StatusDetails};
use planspec_model::{Edge, EdgeOrigin, Node, PlanGraph};
use planspec_store::{StoreError, WriteOp};
use serde_json::{json, Value};

/// What `apply` did to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyAction {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Updated,
    /// It existed and the apply changed nothing.
    Unchanged,
}

impl ApplyAction {
    /// `created`, `updated` or `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyAction::Created => "created",
            ApplyAction::Updated => "updated",
            ApplyAction::Unchanged => "unchanged",
        }
    }
}

/// The PlanSpec kind of a submitted item, or why it has none.
fn item_resource(item: &Value) -> Result<ResourceType, String> {
    match item.get("kind").and_then(Value::as_str) {
        None => Err("kind is required".to_owned()),
        Some(k) => resource_of(k).ok_or_else(|| format!("unknown kind `{k}`")),
    }
}

fn item_name(item: &Value) -> &str {
    object::metadata(item)
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The messages of a rejection: one per cause (`field: message`), or the message.
fn messages(status: &Status) -> Vec<String> {
    match &status.details {
        Some(d) if !d.causes.is_empty() => d
            .causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect(),
        _ => vec![status.message.clone()],
    }
}

const PLACEHOLDER: NewObject<'static> = NewObject {
    uid: "00000000-0000-0000-0000-000000000000",
    timestamp: "1970-01-01T00:00:00Z",
    name_suffix: "xxxxx",
};

impl Api {
    /// `POST /validate`: checks each item as a create would (identity, name, admission),
    /// writes nothing. Always a result: `{valid, results: [{index, kind, name, valid,
    /// errors}]}`.
    pub async fn validate_batch(&self, items: Vec<Value>) -> Value {
        let mut results = Vec::with_capacity(items.len());
        let mut all_valid = true;
        for (index, item) in items.into_iter().enumerate() {
            let kind = item.get("kind").cloned().unwrap_or(Value::Null);
            let name = item_name(&item).to_owned();
            let errors = match item_resource(&item) {
                Err(e) => vec![e],
                Ok(resource) => {
                    let namespace = object::metadata(&item)
                        .get("namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(super::DEFAULT_NAMESPACE)
                        .to_owned();
                    match object::prepare_create(resource, &namespace, item, &PLACEHOLDER) {
                        Err(s) => messages(&s),
                        Ok(prepared) => {
                            match Api::admit(resource, &name, prepared, FieldValidation::Warn).await
                            {
                                Ok(_) => Vec::new(),
                                Err(s) => messages(&s),
                            }
                        }
                    }
                }
            };
            all_valid &= errors.is_empty();
            results.push(json!({
                "index": index,
                "kind": kind,
                "name": name,
                "valid": errors.is_empty(),
                "errors": errors,
            }));
        }
        json!({"valid": all_valid, "results": results})
    }

    /// `POST /namespaces/{ns}/apply`: creates or replaces every item in `namespace`. All are
    /// checked first; if any is invalid nothing is written and the answer is `422` with a
    /// cause per problem (field paths prefixed with the item's position, `[2].spec.graph`).
    /// Then one transaction writes them all (retried as a whole if another write raced it).
    /// Replacing keeps `status` and server-owned metadata, as a PUT without
    /// `resourceVersion` does. Each write is recorded in `managedFields` for `field_manager`.
    /// With a `user`, each item needs `create` (new) or `update` (existing) on its kind, as
    /// the single-object routes do (`403` for the first that is not allowed).
    pub async fn apply_batch(
        &self,
        namespace: &str,
        items: Vec<Value>,
        dry_run: bool,
        field_manager: &str,
        user: Option<planspec_model::actor::UserInfo>,
    ) -> Result<Value, Status> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .apply_once(namespace, &items, dry_run, field_manager, user.as_ref())
                .await
            {
                Err(ApplyError::Race) if attempt <= self.options().max_retries => {}
                Err(ApplyError::Race) => {
                    return Err(Status::conflict(
                        ResourceType::Kind(planspec_model::Kind::Plan),
                        "",
                        "the apply kept racing other writes; try again",
                    ))
                }
                Err(ApplyError::Status(s)) => return Err(s),
                Ok(v) => return Ok(v),
            }
        }
    }

    async fn apply_once(
        &self,
        namespace: &str,
        items: &[Value],
        dry_run: bool,
        field_manager: &str,
        user: Option<&planspec_model::actor::UserInfo>,
    ) -> Result<Value, ApplyError> {
        let options = WriteOptions {
            field_manager: Some(field_manager.to_owned()),
            user: user.cloned(),
            ..WriteOptions::default()
        };
        let mut causes = Vec::new();
        let mut warnings = Vec::new();
        let mut ops = Vec::new();
        let mut applied = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let now = timestamp(self.now());
        let mut namespace_checked = false;
        for (index, item) in items.iter().enumerate() {
            let at = |field: &str| {
                if field.is_empty() {
                    format!("[{index}]")
                } else {
                    format!("[{index}].{field}")
                }
            };
            let resource = match item_resource(item) {
                Ok(r) => r,
                Err(e) => {
                    causes.push(StatusCause::new(cause::FIELD_VALUE_INVALID, at("kind"), e));
                    continue;
                }
            };
            let name = item_name(item).to_owned();
            if name.is_empty() {
                causes.push(StatusCause::new(
                    cause::FIELD_VALUE_REQUIRED,
                    at("metadata.name"),
                    "name is required for apply",
                ));
                continue;
            }
            if !seen.insert((resource.kind(), name.clone())) {
                causes.push(StatusCause::new(
                    cause::FIELD_VALUE_DUPLICATE,
                    at("metadata.name"),
                    format!("{} {name} appears more than once", resource.kind()),
                ));
                continue;
            }
            if !namespace_checked {
                self.check_namespace(resource, namespace, &name)
                    .await
                    .map_err(ApplyError::Status)?;
                namespace_checked = true;
            }
            let k = key(resource, namespace, &name);
            let current = self
                .store()
                .get(&k)
                .await
                .map_err(|e| ApplyError::Status(store_error(resource, &name, e)))?;
            let verb = if current.is_some() {
                "update"
            } else {
                "create"
            };
            let named = current.is_some().then_some(name.as_str());
            self.require_verb(user, verb, resource, namespace, named)
                .await
                .map_err(ApplyError::Status)?;
            let uid = uuid::Uuid::new_v4().to_string();
            let prepared = match &current {
                Some(c) => object::prepare_update(
                    resource,
                    namespace,
                    &name,
                    &c.object,
                    item.clone(),
                    Part::Main,
                ),
                None => object::prepare_create(
                    resource,
                    namespace,
                    item.clone(),
                    &NewObject {
                        uid: &uid,
                        timestamp: &now,
                        name_suffix: "",
                    },
                ),
            };
            let write = WriteKind {
                part: Part::Main,
                operation: Operation::Update,
                current: current.as_ref().map(|c| &c.object),
                now: &now,
            };
            let admitted = match prepared {
                Ok(p) => self.admit_write(resource, &name, p, &options, write).await,
                Err(s) => Err(s),
            };
            let Admitted {
                object,
                warnings: w,
            } = match admitted {
                Ok(a) => a,
                Err(s) => {
                    for m in messages(&s) {
                        let (field, message) = match &s.details {
                            Some(_) => m
                                .split_once(": ")
                                .map(|(f, m)| (at(f), m.to_owned()))
                                .unwrap_or((at(""), m.clone())),
                            None => (at(""), m),
                        };
                        causes.push(StatusCause::new(cause::FIELD_VALUE_INVALID, field, message));
                    }
                    continue;
                }
            };
            warnings.extend(w.into_iter().map(|w| format!("[{index}] {w}")));
            let action = match current {
                None => {
                    ops.push(WriteOp::Create {
                        key: k,
                        uid,
                        object: object::with_initial_status(resource, object, &now),
                    });
                    ApplyAction::Created
                }
                Some(c) => {
                    let object = object::with_resource_version(object, c.revision);
                    if object == c.object {
                        ApplyAction::Unchanged
                    } else {
                        ops.push(WriteOp::Update {
                            key: k,
                            expected_revision: Some(c.revision),
                            object,
                        });
                        ApplyAction::Updated
                    }
                }
            };
            applied.push(json!({
                "kind": resource.kind(),
                "name": name,
                "namespace": namespace,
                "action": action.as_str(),
            }));
        }
        if !causes.is_empty() {
            let mut status = Status::failure(
                422,
                Reason::Invalid,
                format!(
                    "apply rejected, nothing was written: {} problem(s) in {} resource(s)",
                    causes.len(),
                    items.len()
                ),
            );
            status.details = Some(Box::new(StatusDetails {
                causes,
                ..StatusDetails::default()
            }));
            return Err(ApplyError::Status(status));
        }
        if !dry_run && !ops.is_empty() {
            match self.store().transact(ops).await {
                Ok(_) => {}
                Err(StoreError::Conflict { .. } | StoreError::AlreadyExists(_)) => {
                    return Err(ApplyError::Race)
                }
                Err(e) => return Err(ApplyError::Status(Status::internal_error(e))),
            }
        }
        Ok(json!({"applied": applied, "errors": [], "warnings": warnings}))
    }

    /// `GET .../plans/{name}/graph`: the plan's graph normalised by [`PlanGraph`]: nodes in
    /// declaration order, edges explicit first then those `dependsOn` implies, by node id.
    pub async fn plan_graph(&self, namespace: &str, name: &str) -> Result<Value, Status> {
        let plan = ResourceType::Kind(planspec_model::Kind::Plan);
        let object = self.get(plan, namespace, name).await?;
        let graph = object.pointer("/spec/graph");
        let nodes: Vec<Node> = match graph.and_then(|g| g.get("nodes")) {
            Some(n) => serde_json::from_value(n.clone()).map_err(Status::internal_error)?,
            None => Vec::new(),
        };
        let edges: Vec<Edge> = match graph.and_then(|g| g.get("edges")) {
            Some(e) => serde_json::from_value(e.clone()).map_err(Status::internal_error)?,
            None => Vec::new(),
        };
        Ok(graph_json(&PlanGraph::from_nodes(&nodes, &edges)))
    }
}

/// `{nodes: [{id, kind, name?, children?, group?}], edges: [{from, to, type, origin}]}`, by
/// node id.
pub fn graph_json(graph: &PlanGraph) -> Value {
    let id = |i: usize| graph.nodes[i].id.clone();
    let nodes: Vec<Value> = graph
        .nodes
        .iter()
        .map(|n| {
            let mut v = json!({"id": n.id, "kind": n.kind});
            if let Some(name) = &n.name {
                v["name"] = json!(name);
            }
            if !n.children.is_empty() {
                v["children"] = json!(n.children.iter().map(|&c| id(c)).collect::<Vec<_>>());
            }
            if let Some(g) = n.group {
                v["group"] = json!(id(g));
            }
            v
        })
        .collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .map(|e| {
            json!({
                "from": id(e.from),
                "to": id(e.to),
                "type": e.edge_type,
                "origin": match e.origin {
                    EdgeOrigin::Explicit => "edges",
                    EdgeOrigin::DependsOn => "dependsOn",
                },
            })
        })
        .collect();
    json!({"nodes": nodes, "edges": edges})
}

enum ApplyError {
    Race,
    Status(Status),
}
