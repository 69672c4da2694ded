//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the object is created
//! from the configuration if it does not exist, otherwise the configuration is merged into
//! it with the ownership rules of [`crate::ssa`]. The result goes through admission like any
//! write; `dryRun` stores nothing.

use super::managed::scope;
use super::object::{self, Part};
use super::params::WriteOptions;
use super::{Api, Written};
use crate::resource::ResourceType;
use crate::ssa::{self, last_applied, ManagedFields, Manager, Operation};
use crate::status::{Reason, Status};
use serde_json::{json, Value};

/// How often an apply that found no object but then lost the race to create it tries again.
const CREATE_RACES: usize = 3;

impl Api {
    /// Applies `config` (a whole or partial object of `resource`) to `name` in `namespace`
    /// for `options.field_manager` (required: 400 without). `options.force` takes fields other
    /// managers own instead of failing with `409` and their names. A `metadata.resourceVersion`
    /// in the configuration is a precondition.
    pub async fn apply(
        &self,
        resource: ResourceType,
        namespace: &str,
        name: &str,
        part: Part,
        config: Value,
        options: WriteOptions,
    ) -> Result<Written, Status> {
        let Some(manager) = options.field_manager.clone() else {
            return Err(Status::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        };
        let scope = scope(part);
        let mut config = ssa::prepare_config(resource, name, scope, config)?;
        if let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut) {
            if meta.get("name").is_none_or(Value::is_null) {
                meta.insert("name".into(), json!(name));
            }
        } else if let Value::Object(map) = &mut config {
            map.insert("metadata".into(), json!({"name": name}));
        }
        if object::name(&config) != name {
            return Err(Status::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                object::name(&config)
            )));
        }
        let precondition = object::resource_version(&config)?;
        for _ in 0..CREATE_RACES {
            match self.get_stored(resource, namespace, name).await {
                Ok(_) => break,
                Err(s) if s.code == 404 && part == Part::Main && precondition.is_none() => {
                    // An apply that creates needs `create`, not only the `patch` it was
                    // authorized for.
                    self.require_verb(options.user.as_ref(), "create", resource, namespace, None)
                        .await?;
                    match self
                        .create_as(
                            resource,
                            namespace,
                            config.clone(),
                            options.clone(),
                            Operation::Apply,
                        )
                        .await
                    {
                        Err(s) if s.reason == Some(Reason::AlreadyExists) => continue,
                        other => return other,
                    }
                }
                Err(s) if s.code == 404 && precondition.is_some() => {
                    return Err(Status::conflict_modified(resource, name))
                }
                Err(s) => return Err(s),
            }
        }
        let force = options.force;
        let who = Manager {
            name: &manager,
            scope,
        };
        self.modify(
            resource,
            namespace,
            name,
            part,
            options,
            Operation::Apply,
            |current| {
                let applied = applied(
                    &current.object,
                    &config,
                    &who,
                    resource.api_version(),
                    force,
                )?;
                Ok((applied, precondition))
            },
        )
        .await
    }
}

/// The object `config` makes of `current` when `who` applies it, with its managed fields.
///
/// `kubectl apply --server-side` after `kubectl apply` (client-side) takes over the fields
/// that still hold what client-side apply set, as Kubernetes allows
/// ([`last_applied`]); other conflicts are `409`.
fn applied(
    current: &Value,
    config: &Value,
    who: &Manager<'_>,
    api_version: &str,
    force: bool,
) -> Result<Value, Status> {
    let mut managed = ManagedFields::of(current);
    // A failed apply leaves `managed` as it was.
    let merged = match ssa::apply(current, config, &mut managed, who, api_version, force) {
        Ok(merged) => merged,
        Err(conflicts) if who.name == last_applied::KUBECTL => {
            let allowed = last_applied::allowed_conflicts(current, who.scope);
            let taken_over =
                allowed.is_some_and(|a| conflicts.0.iter().all(|c| a.contains(&c.path)));
            if !taken_over {
                return Err(conflicts.to_status());
            }
            ssa::apply(current, config, &mut managed, who, api_version, true)
                .map_err(|c| c.to_status())?
        }
        Err(conflicts) => return Err(conflicts.to_status()),
    };
    let merged = if who.name == last_applied::KUBECTL {
        last_applied::with_last_applied(current, merged, config)
    } else {
        merged
    };
    // The applier's entry is kept even when empty, so the list is never empty and replaces
    // the stored one (see `object::prepare_update`).
    Ok(ssa::attach(merged, &managed, true))
}
