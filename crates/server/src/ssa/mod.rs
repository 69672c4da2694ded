//! Server-side apply and managed fields: who owns which field of an object.
//!
//! Every write records its *manager* in `metadata.managedFields`, as Kubernetes does: one
//! entry per manager and operation (`Apply` or `Update`) and subresource, with the fields it
//! owns in `FieldsV1` form ([`FieldSet`]).
//!
//! * **Update** (create, PUT, merge/JSON patch, `/status` writes): the manager takes the fields
//!   it added or changed from whoever owned them; fields it removed are owned by no one
//!   ([`record_update`]).
//! * **Apply** (`PATCH` with `application/apply-patch+yaml`): the manager declares the fields
//!   it wants ([`field_set`] of its configuration), which is merged into the live object
//!   ([`merge`]); the fields it applied last time and no longer applies are removed unless
//!   another manager owns them (prune); changing a field another manager owns is a
//!   [`Conflicts`] (`409`, `reason: FieldManagerConflict` per field) unless forced, which
//!   moves the ownership ([`apply`]).
//!
//! Everything here is pure: the time is an argument. Lists merge by the rules in [`schema`].

pub mod fieldset;
pub mod last_applied;
pub mod schema;
pub mod value;

pub use fieldset::{display_path, FieldSet, FieldsError, Path, PathElement};
pub use schema::{list_type, ListType, Scope};
pub use value::{compare, field_set, merge, remove, Comparison};

use crate::resource::ResourceType;
use crate::status::{Reason, Status, StatusCause, StatusDetails};
use serde_json::{json, Map, Value};

/// `details.causes[].reason` of an apply conflict.
pub const FIELD_MANAGER_CONFLICT: &str = "FieldManagerConflict";
/// Most `Update` entries kept; older ones are merged into [`ANCIENT_CHANGES`] (as Kubernetes).
pub const MAX_UPDATE_ENTRIES: usize = 10;
/// The manager the oldest `Update` entries are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";
/// Longest field manager name (as Kubernetes).
pub const MAX_MANAGER_LENGTH: usize = 128;

/// The operation a managed fields entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write.
    Update,
}

impl Operation {
    /// `Apply` or `Update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who writes: a manager name, through the object or its `/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manager<'a> {
    /// The `fieldManager`.
    pub name: &'a str,
    /// Which part of the object the write is to.
    pub scope: Scope,
}

impl Manager<'_> {
    fn subresource(&self) -> Option<&'static str> {
        match self.scope {
            Scope::Main => None,
            Scope::Status => Some("status"),
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedEntry {
    /// The manager's name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: Operation,
    /// The `apiVersion` the fields are named in.
    pub api_version: String,
    /// When the manager last changed something (RFC 3339).
    pub time: Option<String>,
    /// `status` for writes to the subresource.
    pub subresource: Option<String>,
    /// The fields it owns.
    pub fields: FieldSet,
}

impl ManagedEntry {
    fn is(&self, who: &Manager<'_>, operation: Operation) -> bool {
        self.manager == who.name
            && self.operation == operation
            && self.subresource.as_deref() == who.subresource()
    }
}

/// The managed fields of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedFields {
    /// The entries, in no particular order ([`ManagedFields::to_json`] sorts them).
    pub entries: Vec<ManagedEntry>,
}

impl ManagedFields {
    /// Reads `metadata.managedFields` (absent or `null`: none). `[{}]` — entries that are all
    /// empty objects — is the Kubernetes way to clear them, and reads as none.
    pub fn from_json(value: Option<&Value>) -> Result<ManagedFields, FieldsError> {
        let items = match value {
            None | Some(Value::Null) => return Ok(ManagedFields::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(FieldsError::BadEntry("managedFields must be a list".into())),
        };
        if !items.is_empty()
            && items
                .iter()
                .all(|i| i.as_object().is_some_and(Map::is_empty))
        {
            return Ok(ManagedFields::default());
        }
        let mut entries = Vec::with_capacity(items.len());
        for item in items {
            let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
            let operation = match item.get("operation").and_then(Value::as_str) {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                other => {
                    return Err(FieldsError::BadEntry(format!(
                        "operation must be Apply or Update, not {other:?}"
                    )))
                }
            };
            match item.get("fieldsType").and_then(Value::as_str) {
                Some("FieldsV1") | None => {}
                Some(other) => {
                    return Err(FieldsError::BadEntry(format!(
                        "fieldsType must be FieldsV1, not {other}"
                    )))
                }
            }
            let fields = match item.get("fieldsV1") {
                None | Some(Value::Null) => FieldSet::new(),
                Some(v) => FieldSet::from_fields_v1(v)?,
            };
            entries.push(ManagedEntry {
                manager: text("manager").unwrap_or_default(),
                operation,
                api_version: text("apiVersion").unwrap_or_default(),
                time: text("time"),
                subresource: text("subresource").filter(|s| !s.is_empty()),
                fields,
            });
        }
        Ok(ManagedFields { entries })
    }

    /// The managed fields of `object`, or none if they cannot be read (they are then rebuilt
    /// from the next writes on, as Kubernetes resets undecodable managed fields).
    pub fn of(object: &Value) -> ManagedFields {
        ManagedFields::from_json(object.pointer("/metadata/managedFields")).unwrap_or_default()
    }

    /// `metadata.managedFields`: entries sorted as Kubernetes sorts them (`Apply` first, then
    /// by time, manager and subresource); entries that own nothing are left out unless
    /// `keep_empty`.
    pub fn to_json(&self, keep_empty: bool) -> Value {
        let mut entries: Vec<&ManagedEntry> = self
            .entries
            .iter()
            .filter(|e| keep_empty || !e.fields.is_empty())
            .collect();
        entries.sort_by(|a, b| {
            (a.operation, &a.time, &a.manager, &a.subresource).cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.subresource,
            ))
        });
        Value::Array(
            entries
                .into_iter()
                .map(|e| {
                    let mut o = Map::new();
                    o.insert("manager".into(), json!(e.manager));
                    o.insert("operation".into(), json!(e.operation.as_str()));
                    o.insert("apiVersion".into(), json!(e.api_version));
                    if let Some(t) = &e.time {
                        o.insert("time".into(), json!(t));
                    }
                    o.insert("fieldsType".into(), json!("FieldsV1"));
                    o.insert("fieldsV1".into(), e.fields.to_fields_v1());
                    if let Some(s) = &e.subresource {
                        o.insert("subresource".into(), json!(s));
                    }
                    Value::Object(o)
                })
                .collect(),
        )
    }

    fn entry_mut(
        &mut self,
        who: &Manager<'_>,
        operation: Operation,
        api_version: &str,
    ) -> &mut ManagedEntry {
        let at = match self.entries.iter().position(|e| e.is(who, operation)) {
            Some(at) => at,
            None => {
                self.entries.push(ManagedEntry {
                    manager: who.name.to_owned(),
                    operation,
                    api_version: api_version.to_owned(),
                    time: None,
                    subresource: who.subresource().map(str::to_owned),
                    fields: FieldSet::new(),
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[at]
    }

    /// The entry of `who` for `operation`, if any.
    pub fn entry(&self, who: &Manager<'_>, operation: Operation) -> Option<&ManagedEntry> {
        self.entries.iter().find(|e| e.is(who, operation))
    }

    fn drop_empty(&mut self) {
        self.entries.retain(|e| !e.fields.is_empty());
    }

    /// Keeps at most [`MAX_UPDATE_ENTRIES`] `Update` entries: the oldest are merged into one
    /// [`ANCIENT_CHANGES`] entry.
    fn cap(&mut self) {
        let mut updates: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                self.entries[i].operation == Operation::Update
                    && self.entries[i].manager != ANCIENT_CHANGES
            })
            .collect();
        if updates.len() <= MAX_UPDATE_ENTRIES {
            return;
        }
        updates.sort_by(|&a, &b| self.entries[a].time.cmp(&self.entries[b].time));
        let excess: Vec<usize> = updates[..updates.len() - MAX_UPDATE_ENTRIES + 1].to_vec();
        let mut ancient = FieldSet::new();
        let mut api_version = String::new();
        for &i in &excess {
            ancient.union_with(&self.entries[i].fields);
            api_version.clone_from(&self.entries[i].api_version);
        }
        let mut index = 0;
        self.entries.retain(|_| {
            let keep = !excess.contains(&index);
            index += 1;
            keep
        });
        let who = Manager {
            name: ANCIENT_CHANGES,
            scope: Scope::Main,
        };
        self.entry_mut(&who, Operation::Update, &api_version)
            .fields
            .union_with(&ancient);
    }
}

/// One field another manager owns, changed by an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager (as Kubernetes prints it: `"kubectl-edit" using planspec.io/v1alpha1`).
    pub manager: String,
    /// The field (`.spec.description`).
    pub field: String,
    /// The field as a path.
    pub path: Path,
}

/// The conflicts that stop an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl Conflicts {
    /// `409 Conflict` as Kubernetes sends it: `Apply failed with 1 conflict: conflict with
    /// "x" using planspec.io/v1alpha1: .spec.description`, one cause per field
    /// (`reason: FieldManagerConflict`).
    pub fn to_status(&self) -> Status {
        let message = match self.0.as_slice() {
            [one] => format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                one.manager, one.field
            ),
            many => {
                let mut managers: Vec<&str> = many.iter().map(|c| c.manager.as_str()).collect();
                managers.sort_unstable();
                managers.dedup();
                let mut lines = Vec::new();
                for manager in managers {
                    lines.push(format!("conflicts with {manager}:"));
                    for c in many.iter().filter(|c| c.manager == manager) {
                        lines.push(format!("- {}", c.field));
                    }
                }
                format!(
                    "Apply failed with {} conflicts: {}",
                    many.len(),
                    lines.join("\n")
                )
            }
        };
        let mut status = Status::failure(409, Reason::Conflict, message);
        status.details = Some(Box::new(StatusDetails {
            causes: self
                .0
                .iter()
                .map(|c| {
                    StatusCause::new(
                        FIELD_MANAGER_CONFLICT,
                        c.field.clone(),
                        format!("conflict with {}", c.manager),
                    )
                })
                .collect(),
            ..StatusDetails::default()
        }));
        status
    }
}

fn print_manager(entry: &ManagedEntry) -> String {
    let mut out = format!("{:?}", entry.manager);
    if let Some(s) = &entry.subresource {
        out.push_str(&format!(" with subresource {s:?}"));
    }
    if entry.operation == Operation::Update {
        out.push_str(&format!(" using {}", entry.api_version));
        if let Some(t) = &entry.time {
            out.push_str(&format!(" at {t}"));
        }
    }
    out
}

/// Records an update by `who`: it now owns what it added or changed between `old` (`None`
/// for a create) and `new`; nobody owns what it removed. `now` stamps its entry when it
/// changed something.
pub fn record_update(
    managed: &mut ManagedFields,
    old: Option<&Value>,
    new: &Value,
    who: &Manager<'_>,
    api_version: &str,
    now: &str,
) {
    let empty = Value::Object(Map::new());
    let comparison = compare(old.unwrap_or(&empty), new, who.scope);
    let changed = comparison.changed();
    for entry in &mut managed.entries {
        if !entry.is(who, Operation::Update) {
            entry.fields.subtract(&changed);
            entry.fields.subtract(&comparison.removed);
        }
    }
    let entry = managed.entry_mut(who, Operation::Update, api_version);
    entry.fields.union_with(&changed);
    entry.fields.subtract(&comparison.removed);
    if !changed.is_empty() || entry.time.is_none() {
        entry.time = Some(now.to_owned());
    }
    managed.drop_empty();
    managed.cap();
}

/// Applies `config` (already restricted to `who.scope`, identity fields included) to `live`
/// for `who`: merges it, removes what `who` applied before and no longer applies unless
/// another manager owns it, checks conflicts (unless `force`, which moves the ownership),
/// and makes `who`'s `Apply` entry own exactly the applied fields. Returns the new object
/// (with `live`'s `managedFields`; the caller attaches `managed`). On conflict `managed` is
/// left as it was.
pub fn apply(
    live: &Value,
    config: &Value,
    managed: &mut ManagedFields,
    who: &Manager<'_>,
    api_version: &str,
    force: bool,
) -> Result<Value, Conflicts> {
    let applied = field_set(config, who.scope);
    let last = managed
        .entry(who, Operation::Apply)
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut merged = merge(live, config);
    if !last.is_empty() {
        let mut owned = applied.clone();
        for entry in &managed.entries {
            if !entry.is(who, Operation::Apply) {
                owned.union_with(&entry.fields);
            }
        }
        let stale = last.difference(&owned);
        remove(&mut merged, &stale, &owned);
    }
    let comparison = compare(live, &merged, who.scope);
    let mut changed = comparison.changed();
    changed.union_with(&comparison.removed.intersection(&applied));
    let mut conflicts = Vec::new();
    for entry in &managed.entries {
        if entry.manager == who.name {
            continue;
        }
        let taken = entry.fields.intersection(&changed);
        for path in taken.paths() {
            conflicts.push(Conflict {
                manager: print_manager(entry),
                field: display_path(&path),
                path,
            });
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(Conflicts(conflicts));
    }
    for entry in &mut managed.entries {
        if !entry.is(who, Operation::Apply) {
            entry.fields.subtract(&changed);
            entry.fields.subtract(&comparison.removed);
        }
    }
    managed.entry_mut(who, Operation::Apply, api_version).fields = applied;
    managed
        .entries
        .retain(|e| !e.fields.is_empty() || e.is(who, Operation::Apply));
    Ok(merged)
}

/// After admission: gives `who` what admission changed in the object it applied (`before`
/// → `after`, e.g. legacy fields rewritten to the modern form), stamps its entry when the
/// object changed (`changed`), and drops entries that own nothing.
pub fn record_admission(
    managed: &mut ManagedFields,
    before: &Value,
    after: &Value,
    who: &Manager<'_>,
    api_version: &str,
    changed: bool,
    now: &str,
) {
    let comparison = compare(before, after, who.scope);
    let taken = comparison.changed();
    for entry in &mut managed.entries {
        entry.fields.subtract(&comparison.removed);
        if !entry.is(who, Operation::Apply) {
            entry.fields.subtract(&taken);
        }
    }
    let entry = managed.entry_mut(who, Operation::Apply, api_version);
    entry.fields.union_with(&taken);
    if changed || entry.time.is_none() {
        entry.time = Some(now.to_owned());
    }
    managed.drop_empty();
    managed.cap();
}

/// Takes `metadata.managedFields` out of `object`.
pub fn detach(mut object: Value) -> (Value, Option<Value>) {
    let taken = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"));
    (object, taken)
}

/// `object` with `metadata.managedFields` set to `managed` (removed when there are none).
pub fn attach(mut object: Value, managed: &ManagedFields, keep_empty: bool) -> Value {
    let encoded = managed.to_json(keep_empty);
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if encoded.as_array().is_some_and(Vec::is_empty) {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), encoded);
        }
    }
    object
}

/// The configuration of an apply to `resource`, checked and restricted to `scope`: a JSON
/// object with `apiVersion` and `kind` (400 otherwise), without `managedFields`, without
/// `status` (for [`Scope::Main`]) or with nothing but `status` and identity (for
/// [`Scope::Status`]). Keyed lists must have their keys (422 otherwise).
pub fn prepare_config(
    resource: ResourceType,
    name: &str,
    scope: Scope,
    config: Value,
) -> Result<Value, Status> {
    let Value::Object(mut map) = config else {
        return Err(Status::bad_request(
            "the apply configuration must be an object (a resource with apiVersion, kind and metadata)",
        ));
    };
    for field in ["apiVersion", "kind"] {
        if !map.get(field).is_some_and(Value::is_string) {
            return Err(Status::bad_request(format!(
                "the apply configuration must set {field} (e.g. {field}: {})",
                if field == "kind" {
                    resource.kind()
                } else {
                    resource.api_version()
                }
            )));
        }
    }
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    match scope {
        Scope::Main => {
            map.remove("status");
        }
        Scope::Status => {
            map.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
            if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "resourceVersion"));
            }
        }
    }
    let config = Value::Object(map);
    if let Some(field) = unkeyed_list(&config) {
        return Err(Status::invalid_causes(
            resource,
            name,
            vec![StatusCause::new(
                crate::status::cause::FIELD_VALUE_REQUIRED,
                field.clone(),
                format!(
                    "every item of {field} must have its key field{}, each a string, number or boolean, and no key may repeat",
                    match schema::LIST_TYPES.iter().find(|(p, _)| p.join(".") == field) {
                        Some((_, ListType::Map(keys))) => format!(" ({})", keys.join(", ")),
                        _ => String::new(),
                    }
                ),
            )],
        ));
    }
    Ok(config)
}

/// The first keyed list of `config` whose items cannot be keyed, as a field path.
fn unkeyed_list(config: &Value) -> Option<String> {
    for (path, list) in schema::LIST_TYPES {
        let ListType::Map(keys) = list else { continue };
        let pointer = format!("/{}", path.join("/"));
        if let Some(Value::Array(items)) = config.pointer(&pointer) {
            if value::item_keys(items, keys).is_none() {
                return Some(path.join("."));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2025-01-01T00:00:00Z";
    const LATER: &str = "2025-01-01T00:01:00Z";
    const V: &str = "planspec.io/v1alpha1";

    fn who(name: &str) -> Manager<'_> {
        Manager {
            name,
            scope: Scope::Main,
        }
    }

    fn owned(managed: &ManagedFields, name: &str, op: Operation) -> Vec<String> {
        managed
            .entry(&who(name), op)
            .map(|e| e.fields.paths().iter().map(|p| display_path(p)).collect())
            .unwrap_or_default()
    }

    fn config(description: &str, nodes: Value) -> Value {
        json!({"apiVersion": V, "kind": "Plan", "metadata": {"name": "p"},
               "spec": {"description": description, "graph": {"nodes": nodes}}})
    }

    #[test]
    fn apply_creates_owns_prunes_and_conflicts() {
        let live = json!({"apiVersion": V, "kind": "Plan", "metadata": {"name": "p", "uid": "u"}});
        let mut managed = ManagedFields::default();
        let one = config(
            "d",
            json!([{"id": "a", "kind": "Task"}, {"id": "b", "kind": "Task"}]),
        );
        let out = apply(&live, &one, &mut managed, &who("alice"), V, false).unwrap();
        assert_eq!(out["spec"], one["spec"]);
        assert_eq!(out["metadata"]["uid"], "u");
        assert!(
            owned(&managed, "alice", Operation::Apply).contains(&".spec.description".to_owned())
        );

        // bob updates the description: he owns it now.
        let mut edited = out.clone();
        edited["spec"]["description"] = json!("bob's");
        record_update(&mut managed, Some(&out), &edited, &who("bob"), V, NOW);
        assert_eq!(
            owned(&managed, "bob", Operation::Update),
            [".spec.description"]
        );
        assert!(
            !owned(&managed, "alice", Operation::Apply).contains(&".spec.description".to_owned())
        );

        // alice applies again without node b and with another description: conflict.
        let two = config("alice's", json!([{"id": "a", "kind": "Task"}]));
        let err = apply(&edited, &two, &mut managed.clone(), &who("alice"), V, false).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].manager, format!("\"bob\" using {V} at {NOW}"));
        assert_eq!(err.0[0].field, ".spec.description");
        let status = err.to_status();
        assert_eq!((status.code, status.reason), (409, Some(Reason::Conflict)));
        assert_eq!(
            status.message,
            format!("Apply failed with 1 conflict: conflict with \"bob\" using {V} at {NOW}: .spec.description")
        );
        let cause = &status.details.as_ref().unwrap().causes[0];
        assert_eq!(cause.reason, FIELD_MANAGER_CONFLICT);
        assert_eq!(cause.field, ".spec.description");

        // With force the ownership moves, and node b (only alice's) is pruned.
        let out = apply(&edited, &two, &mut managed, &who("alice"), V, true).unwrap();
        assert_eq!(out["spec"]["description"], "alice's");
        assert_eq!(
            out["spec"]["graph"]["nodes"],
            json!([{"id": "a", "kind": "Task"}])
        );
        assert!(managed.entry(&who("bob"), Operation::Update).is_none());

        // Applying the value another manager set is co-ownership, not a conflict.
        let mut carol = ManagedFields::default();
        let base = apply(&live, &one, &mut carol, &who("alice"), V, false).unwrap();
        apply(&base, &one, &mut carol, &who("carol"), V, false).unwrap();
        assert!(owned(&carol, "carol", Operation::Apply).contains(&".spec.description".to_owned()));
        assert!(owned(&carol, "alice", Operation::Apply).contains(&".spec.description".to_owned()));
        // And a field both own stays when one of them stops applying it.
        let without = json!({"apiVersion": V, "kind": "Plan", "metadata": {"name": "p"}});
        let out = apply(&base, &without, &mut carol, &who("alice"), V, false).unwrap();
        assert_eq!(out["spec"], one["spec"]);
    }

    #[test]
    fn managed_fields_round_trip_sorted() {
        let mut managed = ManagedFields::default();
        let live = json!({"metadata": {"name": "p"}});
        let new = json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"x": 1}});
        record_update(&mut managed, Some(&live), &new, &who("zed"), V, LATER);
        apply(
            &new,
            &json!({"spec": {"x": 1}}),
            &mut managed,
            &who("amy"),
            V,
            false,
        )
        .unwrap();
        record_admission(&mut managed, &new, &new, &who("amy"), V, false, NOW);
        let encoded = managed.to_json(false);
        assert_eq!(encoded[0]["operation"], "Apply");
        assert_eq!(encoded[0]["manager"], "amy");
        assert_eq!(
            encoded[1]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:x": {}}})
        );
        assert_eq!(encoded[1]["time"], LATER);
        assert_eq!(
            ManagedFields::from_json(Some(&encoded))
                .unwrap()
                .to_json(false),
            encoded
        );
        // `[{}]` clears; nonsense is refused.
        assert!(ManagedFields::from_json(Some(&json!([{}])))
            .unwrap()
            .entries
            .is_empty());
        assert!(ManagedFields::from_json(Some(&json!([{"operation": "Nope"}]))).is_err());
        assert!(ManagedFields::from_json(Some(&json!("x"))).is_err());
    }

    #[test]
    fn update_entries_are_capped() {
        let mut managed = ManagedFields::default();
        let mut old = json!({"spec": {}});
        for i in 0..(MAX_UPDATE_ENTRIES + 3) {
            let mut new = old.clone();
            new["spec"][format!("f{i}")] = json!(i);
            let name = format!("m{i:02}");
            record_update(
                &mut managed,
                Some(&old),
                &new,
                &who(&name),
                V,
                &format!("2025-01-01T00:00:{i:02}Z"),
            );
            old = new;
        }
        assert_eq!(managed.entries.len(), MAX_UPDATE_ENTRIES);
        assert!(managed.entries.iter().any(|e| e.manager == ANCIENT_CHANGES));
    }

    #[test]
    fn configs_are_checked() {
        let plan = ResourceType::Kind(planspec_model::Kind::Plan);
        assert_eq!(
            prepare_config(plan, "p", Scope::Main, json!([]))
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            prepare_config(plan, "p", Scope::Main, json!({"kind": "Plan"}))
                .unwrap_err()
                .code,
            400
        );
        let c = prepare_config(
            plan,
            "p",
            Scope::Main,
            json!({"apiVersion": V, "kind": "Plan", "status": {}, "metadata": {"managedFields": []}}),
        )
        .unwrap();
        assert!(c.get("status").is_none());
        assert!(c["metadata"].get("managedFields").is_none());
        let c = prepare_config(
            plan,
            "p",
            Scope::Status,
            json!({"apiVersion": V, "kind": "Plan", "spec": {}, "status": {"phase": "Ready"}, "metadata": {"labels": {}}}),
        )
        .unwrap();
        assert_eq!(
            c,
            json!({"apiVersion": V, "kind": "Plan", "status": {"phase": "Ready"}, "metadata": {}})
        );
        let s = prepare_config(
            plan,
            "p",
            Scope::Main,
            config("d", json!([{"kind": "Task"}])),
        )
        .unwrap_err();
        assert_eq!(s.code, 422);
        assert_eq!(s.details.unwrap().causes[0].field, "spec.graph.nodes");
    }
}
