//! What every write does with its prepared object: admission, then the bookkeeping that
//! depends on the admitted form — a Plan's status after a spec change
//! ([`object::with_recomputed_status`]) and `metadata.managedFields` ([`crate::ssa`]).
//!
//! Managed fields travel with the prepared object: the stored ones, the ones a client wrote
//! (kept by [`object::prepare_update`]), or, for server-side apply, the ones [`crate::ssa::apply`]
//! computed. They are taken out before admission (the validator does not know them) and put
//! back, brought up to date, after it.

use super::admission::Admitted;
use super::object::{self, Part};
use super::params::WriteOptions;
use super::Api;
use crate::resource::ResourceType;
use crate::ssa::{self, ManagedFields, Manager, Operation, Scope};
use crate::status::Status;
use serde_json::Value;

/// The manager of a write whose request named none (and sent no `User-Agent`).
pub const UNKNOWN_MANAGER: &str = "unknown";

/// What a write is, for its bookkeeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteKind<'a> {
    /// The object or its status.
    pub part: Part,
    /// `Apply` for server-side apply, `Update` otherwise.
    pub operation: Operation,
    /// The stored object (`None` on create).
    pub current: Option<&'a Value>,
    /// The time of the write (RFC 3339).
    pub now: &'a str,
}

/// The scope of managed fields a write to `part` owns.
pub fn scope(part: Part) -> Scope {
    match part {
        Part::Main => Scope::Main,
        Part::Status => Scope::Status,
    }
}

impl Api {
    /// Admits `prepared` (an object of `resource` named `name`, about to be stored) and
    /// returns it with its status and managed fields up to date.
    pub(crate) async fn admit_write(
        &self,
        resource: ResourceType,
        name: &str,
        prepared: Value,
        options: &WriteOptions,
        write: WriteKind<'_>,
    ) -> Result<Admitted, Status> {
        let (prepared, carried) = ssa::detach(prepared);
        let before = (write.operation == Operation::Apply).then(|| prepared.clone());
        let Admitted {
            object: admitted,
            warnings,
        } = Api::admit(resource, name, prepared, options.field_validation).await?;
        // Identity's rules see the admitted (normalized) object.
        let admitted = self
            .govern_write(resource, admitted, options.user.as_ref(), write.current)
            .await?;
        crate::controllers::admit_gate_input(resource, name, &admitted)?;
        super::verdict::check_policy_rules(resource, name, &admitted)?;
        let admitted = match write.current {
            Some(current) if write.part == Part::Main => {
                object::with_recomputed_status(resource, current, admitted, write.now)
            }
            _ => admitted,
        };
        let who = Manager {
            name: options.field_manager.as_deref().unwrap_or(UNKNOWN_MANAGER),
            scope: scope(write.part),
        };
        let api_version = resource.api_version();
        let mut managed = match carried.as_ref() {
            Some(v) => ManagedFields::from_json(Some(v))
                .unwrap_or_else(|_| write.current.map(ManagedFields::of).unwrap_or_default()),
            None => ManagedFields::default(),
        };
        match (write.operation, before) {
            (Operation::Apply, Some(before)) => {
                if write.current.is_none() {
                    managed = ManagedFields::default();
                    ssa::apply(&before, &before, &mut managed, &who, api_version, false)
                        .map_err(|c| c.to_status())?;
                }
                let changed = write
                    .current
                    .is_none_or(|current| !same_content(current, &admitted));
                ssa::record_admission(
                    &mut managed,
                    &before,
                    &admitted,
                    &who,
                    api_version,
                    changed,
                    write.now,
                );
            }
            _ => ssa::record_update(
                &mut managed,
                write.current,
                &admitted,
                &who,
                api_version,
                write.now,
            ),
        }
        Ok(Admitted {
            object: ssa::attach(admitted, &managed, false),
            warnings,
        })
    }
}

/// Whether two versions of an object are the same but for `resourceVersion` and
/// `managedFields`.
fn same_content(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter().all(|(key, left)| match b.get(key) {
            None => false,
            Some(right) if key == "metadata" => same_metadata(left, right),
            Some(right) => left == right,
        })
}

fn same_metadata(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let ignored = |k: &str| k == "managedFields" || k == "resourceVersion";
    let count = |m: &serde_json::Map<String, Value>| m.keys().filter(|k| !ignored(k)).count();
    count(a) == count(b)
        && a.iter()
            .filter(|(k, _)| !ignored(k))
            .all(|(k, v)| b.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_ignores_revision_and_managed_fields() {
        let a = json!({"metadata": {"name": "p", "resourceVersion": "1", "managedFields": [1]}, "spec": {}});
        let b = json!({"metadata": {"name": "p", "resourceVersion": "2"}, "spec": {}});
        assert!(same_content(&a, &b));
        let c = json!({"metadata": {"name": "p", "labels": {}}, "spec": {}});
        assert!(!same_content(&a, &c));
        assert!(!same_content(&a, &json!({"metadata": {"name": "p"}})));
    }
}
