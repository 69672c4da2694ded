//! Garbage collection by `metadata.ownerReferences`: what happens to an object's dependents
//! when it is deleted, by `propagationPolicy`.
//!
//! * `Background` (the default): the owner goes now; once it is gone its dependents are
//!   deleted (in the same request, recursively, each with `Background`). A dependent that
//!   still has another live owner is not deleted; only its reference to the gone owner is
//!   removed. An owner held by finalizers cascades when its last finalizer goes.
//! * `Foreground`: the owner gets `deletionTimestamp` and the `foregroundDeletion`
//!   finalizer; its dependents are deleted (each with `Foreground`); when the last one is
//!   gone the finalizer is removed and the owner goes. A dependent held by its own finalizers
//!   keeps the owner until it is gone.
//! * `Orphan`: the owner's reference is removed from every dependent, then the owner is
//!   deleted as usual (the dependents stay). This is done at once, also for an owner held
//!   by finalizers (Kubernetes defers it with an `orphan` finalizer).
//!
//! Dependents are found through the store's owner index
//! ([`Store::list_owned_by`](planspec_store::Store::list_owned_by)): the cost follows the
//! number of dependents, not the size of the namespace.

use super::object;
use super::{key, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use planspec_model::Kind;
use planspec_store::{StoreError, StoredObject, WriteOp};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// The finalizer that holds an owner deleted with `propagationPolicy: Foreground`.
pub const FOREGROUND_DELETION: &str = "foregroundDeletion";

/// The `uid`s of `object`'s owners, with their kind and name.
pub fn owner_references(object: &Value) -> Vec<(String, String, String)> {
    object::metadata(object)
        .get("ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| {
                    Some((
                        r.get("uid")?.as_str()?.to_owned(),
                        r.get("kind")?.as_str()?.to_owned(),
                        r.get("name")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `object` names `uid` among its owners.
pub fn is_owned_by(object: &Value, uid: &str) -> bool {
    owner_references(object).iter().any(|(u, _, _)| u == uid)
}

/// `object` without its owner references to `uid` (`ownerReferences` removed when empty).
pub fn without_owner(object: &Value, uid: &str) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
            if refs.is_empty() {
                meta.remove("ownerReferences");
            }
        }
    }
    object
}

/// `object` with `finalizer` removed from `metadata.finalizers` (removed when empty).
pub fn without_finalizer(object: &Value, finalizer: &str) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(Value::Array(fs)) = meta.get_mut("finalizers") {
            fs.retain(|f| f.as_str() != Some(finalizer));
            if fs.is_empty() {
                meta.remove("finalizers");
            }
        }
    }
    object
}

/// `object` with `finalizer` added to `metadata.finalizers` (if absent).
pub fn with_finalizer(object: &Value, finalizer: &str) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let fs = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(fs) = fs {
            if !fs.iter().any(|f| f.as_str() == Some(finalizer)) {
                fs.push(Value::String(finalizer.to_owned()));
            }
        }
    }
    object
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The PlanSpec kind named `kind`, as a resource type.
pub(crate) fn resource_of(kind: &str) -> Option<ResourceType> {
    Kind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .map(ResourceType::Kind)
}

impl Api {
    /// The objects of PlanSpec kinds in `namespace` that name `uid` among their owners
    /// (owner references are namespace-local, as in Kubernetes), in key order.
    pub async fn dependents(
        &self,
        namespace: &str,
        uid: &str,
    ) -> Result<Vec<StoredObject>, StoreError> {
        let owned = self.store().list_owned_by(uid).await?;
        Ok(owned
            .into_iter()
            .filter(|o| {
                o.key.namespace == namespace
                    && resource_of(&o.key.kind).is_some()
                    && is_owned_by(&o.object, uid)
            })
            .collect())
    }

    /// Removes the reference to `owner_uid` from each dependent of it (`Orphan`).
    pub(crate) async fn orphan_dependents(
        &self,
        namespace: &str,
        owner_uid: &str,
    ) -> Result<(), Status> {
        let dependents = self
            .dependents(namespace, owner_uid)
            .await
            .map_err(Status::internal_error)?;
        if dependents.is_empty() {
            return Ok(());
        }
        let ops = dependents
            .into_iter()
            .map(|d| WriteOp::Update {
                object: without_owner(&d.object, owner_uid),
                key: d.key,
                expected_revision: Some(d.revision),
            })
            .collect();
        self.store()
            .transact(ops)
            .await
            .map(|_| ())
            .map_err(Status::internal_error)
    }

    /// Whether an owner reference `(uid, kind, name)` in `namespace` names a live object.
    async fn owner_alive(&self, namespace: &str, owner: &(String, String, String)) -> bool {
        let (uid, kind, name) = owner;
        let Some(resource) = resource_of(kind) else {
            return false;
        };
        matches!(
            self.store().get(&key(resource, namespace, name)).await,
            Ok(Some(o)) if &o.uid == uid && !object::deletion_requested(&o.object)
        )
    }

    /// What follows the removal of `removed` from the store (best effort, errors are
    /// dropped: the next removal in the namespace finds the rest):
    ///
    /// * its dependents are deleted (`Background`), or lose their reference to it when they
    ///   have another live owner;
    /// * an owner of it held by `foregroundDeletion` is released once it has no dependents.
    pub(crate) fn after_removal<'a>(&'a self, removed: &'a StoredObject) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let namespace = removed.key.namespace.as_str();
            if namespace.is_empty() || resource_of(&removed.key.kind).is_none() {
                return;
            }
            if let Ok(dependents) = self.dependents(namespace, &removed.uid).await {
                for d in dependents {
                    let mut other_owner = false;
                    for owner in owner_references(&d.object) {
                        if owner.0 != removed.uid && self.owner_alive(namespace, &owner).await {
                            other_owner = true;
                            break;
                        }
                    }
                    if other_owner {
                        let _ = self
                            .store()
                            .update(
                                d.key.clone(),
                                Some(d.revision),
                                without_owner(&d.object, &removed.uid),
                            )
                            .await;
                    } else if let Some(resource) = resource_of(&d.key.kind) {
                        let _ = self
                            .delete_dependent(resource, namespace, &d.key.name, &d.uid, false)
                            .await;
                    }
                }
            }
            for (uid, kind, name) in owner_references(&removed.object) {
                self.release_foreground(namespace, &uid, &kind, &name).await;
            }
        })
    }

    /// Deletes one dependent (with `Foreground` or `Background`), if it is still the object
    /// with `uid`.
    pub(crate) fn delete_dependent<'a>(
        &'a self,
        resource: ResourceType,
        namespace: &'a str,
        name: &'a str,
        uid: &'a str,
        foreground: bool,
    ) -> BoxFuture<'a, Result<(), Status>> {
        Box::pin(async move {
            let options = super::params::DeleteOptions {
                precondition_uid: Some(uid.to_owned()),
                propagation_policy: if foreground {
                    super::params::PropagationPolicy::Foreground
                } else {
                    super::params::PropagationPolicy::Background
                },
                ..Default::default()
            };
            match self.delete(resource, namespace, name, &options).await {
                Ok(_) => Ok(()),
                Err(s) if s.code == 404 || s.code == 409 => Ok(()),
                Err(s) => Err(s),
            }
        })
    }

    /// Removes `foregroundDeletion` from the owner `(uid, kind, name)` once it has no
    /// dependents left; the owner goes when that was its last finalizer.
    pub(crate) fn release_foreground<'a>(
        &'a self,
        namespace: &'a str,
        uid: &'a str,
        kind: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(resource) = resource_of(kind) else {
                return;
            };
            let owner_key = key(resource, namespace, name);
            for _ in 0..=self.options().max_retries {
                let Ok(Some(owner)) = self.store().get(&owner_key).await else {
                    return;
                };
                if owner.uid != uid
                    || !object::deletion_requested(&owner.object)
                    || !object::finalizers(&owner.object).contains(&FOREGROUND_DELETION)
                {
                    return;
                }
                match self.dependents(namespace, uid).await {
                    Ok(d) if d.is_empty() => {}
                    _ => return,
                }
                let released = without_finalizer(&owner.object, FOREGROUND_DELETION);
                let op = if object::finalizers(&released).is_empty() {
                    WriteOp::Delete {
                        key: owner_key.clone(),
                        expected_revision: Some(owner.revision),
                    }
                } else {
                    WriteOp::Update {
                        key: owner_key.clone(),
                        expected_revision: Some(owner.revision),
                        object: released,
                    }
                };
                let removes = matches!(op, WriteOp::Delete { .. });
                match self.store().transact(vec![op]).await {
                    Ok(_) => {
                        if removes {
                            self.after_removal(&owner).await;
                        }
                        return;
                    }
                    Err(StoreError::Conflict { .. }) => {}
                    Err(_) => return,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owner_references_and_finalizers() {
        let o = json!({"metadata": {
            "ownerReferences": [
                {"apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "name": "g", "uid": "u1"},
                {"apiVersion": "planspec.io/v1alpha1", "kind": "Plan", "name": "p", "uid": "u2"}
            ],
            "finalizers": ["a.io/x"]
        }});
        assert!(is_owned_by(&o, "u1"));
        assert!(!is_owned_by(&o, "u3"));
        let o1 = without_owner(&o, "u1");
        assert_eq!(
            owner_references(&o1),
            vec![("u2".into(), "Plan".into(), "p".into())]
        );
        assert!(without_owner(&o1, "u2")["metadata"]
            .get("ownerReferences")
            .is_none());
        let f = with_finalizer(&o, FOREGROUND_DELETION);
        assert_eq!(
            f["metadata"]["finalizers"],
            json!(["a.io/x", FOREGROUND_DELETION])
        );
        assert_eq!(with_finalizer(&f, FOREGROUND_DELETION), f);
        assert_eq!(without_finalizer(&f, FOREGROUND_DELETION), o);
        assert!(without_finalizer(&o, "a.io/x")["metadata"]
            .get("finalizers")
            .is_none());
    }
}
