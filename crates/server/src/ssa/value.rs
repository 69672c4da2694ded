//! The four operations server-side apply does on objects, each a walk over JSON guided by
//! [`list_type`] and a [`Scope`]:
//!
//! * [`field_set`] — the fields an object sets (what a manager owns when it applies it);
//! * [`compare`] — what changed between two versions (added, modified, removed fields);
//! * [`merge`] — an applied configuration merged into the live object;
//! * [`remove`] — fields taken out of an object (what prune does).
//!
//! Rules (those of Kubernetes' structured-merge-diff, on untyped JSON): a scalar, `null`, an
//! empty object, an empty list and an atomic list are leaves; a non-empty object is not a
//! member itself, its fields are; an item of a keyed list or a set is a member and (keyed
//! lists) so are its fields. A list whose items cannot be keyed (an item without the key, a
//! repeated key, a set with a non-scalar or a repeated item) is handled as atomic.

use super::fieldset::{FieldSet, Path, PathElement};
use super::schema::{list_type, ListType, Scope};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// The path elements of the items of a keyed list, or `None` if they cannot be keyed.
pub(crate) fn item_keys(items: &[Value], keys: &[&str]) -> Option<Vec<PathElement>> {
    let mut seen = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let map = item.as_object()?;
        let mut fields = Vec::with_capacity(keys.len());
        for key in keys {
            let value = map.get(*key)?;
            if !(value.is_string() || value.is_number() || value.is_boolean()) {
                return None;
            }
            fields.push((*key, value));
        }
        let element = PathElement::key(fields);
        if !seen.insert(element.clone()) {
            return None;
        }
        out.push(element);
    }
    Some(out)
}

/// The path elements of the items of a set, or `None` if it is not a set of scalars.
fn set_values(items: &[Value]) -> Option<Vec<PathElement>> {
    let mut seen = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.is_object() || item.is_array() {
            return None;
        }
        let element = PathElement::value(item);
        if !seen.insert(element.clone()) {
            return None;
        }
        out.push(element);
    }
    Some(out)
}

/// How a list at a field path is to be handled, with its item elements.
enum Items {
    Atomic,
    Keyed(Vec<PathElement>),
    Set(Vec<PathElement>),
}

fn items_of(items: &[Value], names: &[&str]) -> Items {
    match list_type(names) {
        ListType::Map(keys) => item_keys(items, keys).map_or(Items::Atomic, Items::Keyed),
        ListType::Set => set_values(items).map_or(Items::Atomic, Items::Set),
        ListType::Atomic => Items::Atomic,
    }
}

/// The fields `object` sets, within `scope`: what a manager owns after applying it.
pub fn field_set(object: &Value, scope: Scope) -> FieldSet {
    let mut set = FieldSet::new();
    collect(
        object,
        scope,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut set,
        false,
    );
    set
}

/// Every path in `value` at `path` (objects included): what goes when it is removed.
fn collect_every<'a>(
    value: &'a Value,
    scope: Scope,
    names: &mut Vec<&'a str>,
    path: &mut Path,
    set: &mut FieldSet,
) {
    collect(value, scope, names, path, set, true);
}

fn collect<'a>(
    value: &'a Value,
    scope: Scope,
    names: &mut Vec<&'a str>,
    path: &mut Path,
    set: &mut FieldSet,
    every: bool,
) {
    match value {
        Value::Object(map) => {
            if every || map.is_empty() {
                set.insert(path);
            }
            for (key, child) in map {
                if !scope.tracks(names, key) {
                    continue;
                }
                names.push(key);
                path.push(PathElement::Field(key.clone()));
                collect(child, scope, names, path, set, every);
                path.pop();
                names.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match items_of(items, names) {
            Items::Atomic => set.insert(path),
            Items::Set(elements) => {
                if every {
                    set.insert(path);
                }
                for element in elements {
                    path.push(element);
                    set.insert(path);
                    path.pop();
                }
            }
            Items::Keyed(elements) => {
                if every {
                    set.insert(path);
                }
                for (item, element) in items.iter().zip(elements) {
                    path.push(element);
                    set.insert(path);
                    collect(item, scope, names, path, set, every);
                    path.pop();
                }
            }
        },
        _ => set.insert(path),
    }
}

/// What changed from one version of an object to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Fields that are new (as [`field_set`] counts them).
    pub added: FieldSet,
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Fields that are gone (every path below them too).
    pub removed: FieldSet,
}

impl Comparison {
    /// Added and modified fields: what the writer now set.
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }
}

/// What changed from `old` to `new` within `scope`.
pub fn compare(old: &Value, new: &Value, scope: Scope) -> Comparison {
    let mut out = Comparison::default();
    compare_at(
        Some(old),
        Some(new),
        scope,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn compare_at<'a>(
    old: Option<&'a Value>,
    new: Option<&'a Value>,
    scope: Scope,
    names: &mut Vec<&'a str>,
    path: &mut Path,
    out: &mut Comparison,
) {
    match (old, new) {
        (None, None) => {}
        (None, Some(new)) => collect(new, scope, names, path, &mut out.added, false),
        (Some(old), None) => collect_every(old, scope, names, path, &mut out.removed),
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (key, av) in a {
                if scope.tracks(names, key) {
                    names.push(key);
                    path.push(PathElement::Field(key.clone()));
                    compare_at(Some(av), b.get(key), scope, names, path, out);
                    path.pop();
                    names.pop();
                }
            }
            for (key, bv) in b {
                if !a.contains_key(key) && scope.tracks(names, key) {
                    names.push(key);
                    path.push(PathElement::Field(key.clone()));
                    compare_at(None, Some(bv), scope, names, path, out);
                    path.pop();
                    names.pop();
                }
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if !a.is_empty() && !b.is_empty() => {
            match (items_of(a, names), items_of(b, names)) {
                (Items::Keyed(ka), Items::Keyed(kb)) => {
                    let index: HashMap<&PathElement, &Value> = ka.iter().zip(a).collect();
                    for (item, element) in b.iter().zip(&kb) {
                        let before = index.get(element).copied();
                        path.push(element.clone());
                        if before.is_none() {
                            out.added.insert(path);
                        }
                        compare_at(before, Some(item), scope, names, path, out);
                        path.pop();
                    }
                    let now: HashSet<&PathElement> = kb.iter().collect();
                    for (item, element) in a.iter().zip(&ka) {
                        if !now.contains(element) {
                            path.push(element.clone());
                            out.removed.insert(path);
                            collect_every(item, scope, names, path, &mut out.removed);
                            path.pop();
                        }
                    }
                }
                (Items::Set(sa), Items::Set(sb)) => {
                    let before: HashSet<&PathElement> = sa.iter().collect();
                    let after: HashSet<&PathElement> = sb.iter().collect();
                    for element in &sb {
                        if !before.contains(element) {
                            path.push(element.clone());
                            out.added.insert(path);
                            path.pop();
                        }
                    }
                    for element in &sa {
                        if !after.contains(element) {
                            path.push(element.clone());
                            out.removed.insert(path);
                            path.pop();
                        }
                    }
                }
                _ => {
                    if a != b {
                        out.modified.insert(path);
                    }
                }
            }
        }
        (Some(old), Some(new)) => {
            if old != new {
                // A leaf changed, or the value changed shape (object ↔ scalar, list ↔ …).
                out.modified.insert(path);
                if is_container(old) {
                    let mut below = FieldSet::new();
                    collect_every(old, scope, names, path, &mut below);
                    below.subtract(&single(path));
                    out.removed.union_with(&below);
                }
                if is_container(new) {
                    let mut below = FieldSet::new();
                    collect(new, scope, names, path, &mut below, false);
                    below.subtract(&single(path));
                    out.added.union_with(&below);
                }
            }
        }
    }
}

fn single(path: &[PathElement]) -> FieldSet {
    let mut set = FieldSet::new();
    set.insert(path);
    set
}

fn is_container(value: &Value) -> bool {
    match value {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// `config` merged into `live` (both whole objects): objects field by field, keyed lists and
/// sets item by item (the order of the applied items is kept, items only `live` has keep
/// their place among them), everything else replaced. A `null` in `config` removes the field.
pub fn merge(live: &Value, config: &Value) -> Value {
    let mut out = live.clone();
    merge_into(&mut out, config, &mut Vec::new());
    out
}

fn merge_into<'a>(target: &mut Value, config: &'a Value, names: &mut Vec<&'a str>) {
    match config {
        Value::Object(c) if target.is_object() => {
            let Value::Object(t) = target else { return };
            for (key, value) in c {
                if value.is_null() {
                    t.remove(key);
                    continue;
                }
                names.push(key);
                match t.get_mut(key) {
                    Some(existing) => merge_into(existing, value, names),
                    None => {
                        t.insert(key.clone(), without_nulls(value));
                    }
                }
                names.pop();
            }
        }
        Value::Array(c) if target.is_array() => {
            let Value::Array(t) = target else { return };
            match (items_of(t, names), items_of(c, names)) {
                (Items::Keyed(kt), Items::Keyed(kc)) if !t.is_empty() => {
                    let live = std::mem::take(t);
                    *t = merge_keyed(live, kt, c, &kc, names);
                }
                (Items::Set(st), Items::Set(sc)) if !t.is_empty() => {
                    let have: HashSet<PathElement> = st.into_iter().collect();
                    for (item, element) in c.iter().zip(sc) {
                        if !have.contains(&element) {
                            t.push(item.clone());
                        }
                    }
                }
                _ => *target = without_nulls(config),
            }
        }
        _ => *target = without_nulls(config),
    }
}

/// The keyed lists' merge, in Kubernetes' order: applied items keep their order; an item only
/// the live list has stays after the live item it followed.
fn merge_keyed<'a>(
    live: Vec<Value>,
    live_keys: Vec<PathElement>,
    config: &'a [Value],
    config_keys: &[PathElement],
    names: &mut Vec<&'a str>,
) -> Vec<Value> {
    let in_config: HashMap<&PathElement, usize> = config_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k, i))
        .collect();
    let in_live: HashMap<&PathElement, usize> =
        live_keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut shared: std::collections::VecDeque<&PathElement> = config_keys
        .iter()
        .filter(|k| in_live.contains_key(k))
        .collect();
    let mut live: Vec<Option<Value>> = live.into_iter().map(Some).collect();
    let mut merged: HashSet<&PathElement> = HashSet::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut li, mut ri) = (0, 0);
    let take =
        |live: &mut Vec<Option<Value>>, key: &PathElement, ri: usize, names: &mut Vec<&'a str>| {
            let item = in_live
                .get(key)
                .and_then(|i| live.get_mut(*i))
                .and_then(Option::take);
            match item {
                Some(mut item) => {
                    merge_into(&mut item, &config[ri], names);
                    item
                }
                None => without_nulls(&config[ri]),
            }
        };
    while li < live_keys.len() || ri < config_keys.len() {
        if li < live_keys.len() && ri < config_keys.len() {
            let key = &live_keys[li];
            if *key == config_keys[ri] {
                merged.insert(key);
                out.push(take(&mut live, key, ri, names));
                li += 1;
                ri += 1;
                if shared.front() == Some(&key) {
                    shared.pop_front();
                }
                continue;
            }
            if in_config.contains_key(key) && shared.front().is_some_and(|next| *next != key) {
                li += 1;
                continue;
            }
        }
        if li < live_keys.len() {
            let key = &live_keys[li];
            if !in_config.contains_key(key) {
                if let Some(item) = live[li].take() {
                    out.push(item);
                }
                li += 1;
                continue;
            }
            if merged.contains(key) || ri >= config_keys.len() {
                li += 1;
                continue;
            }
        }
        if ri < config_keys.len() {
            let key = &config_keys[ri];
            merged.insert(key);
            out.push(take(&mut live, key, ri, names));
            ri += 1;
            if shared.front() == Some(&key) {
                shared.pop_front();
            }
        }
    }
    out
}

/// `value` without the fields whose value is `null` (at any depth).
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Removes every path of `set` from `object` (a member path takes everything below it), and
/// then the objects that were emptied by it unless `keep` holds them. The key fields of a
/// keyed list item that stays are never removed.
pub fn remove(object: &mut Value, set: &FieldSet, keep: &FieldSet) {
    remove_at(object, set, Some(keep), &mut Vec::new());
}

fn remove_at(value: &mut Value, set: &FieldSet, keep: Option<&FieldSet>, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for element in set.members() {
                if let PathElement::Field(key) = element {
                    map.remove(key);
                }
            }
            for (element, below) in set.children() {
                let PathElement::Field(key) = element else {
                    continue;
                };
                let Some(child) = map.get_mut(key) else {
                    continue;
                };
                let was_full = is_container(child);
                names.push(key.clone());
                remove_at(child, below, keep.and_then(|k| k.child(element)), names);
                names.pop();
                let kept = keep.is_some_and(|k| k.has_member(element));
                if was_full && !is_container(child) && !kept {
                    map.remove(key);
                }
            }
        }
        Value::Array(items) => {
            let borrowed: Vec<&str> = names.iter().map(String::as_str).collect();
            match items_of(items, &borrowed) {
                Items::Keyed(elements) => {
                    let key_fields: &[&str] = match list_type(&borrowed) {
                        ListType::Map(keys) => keys,
                        _ => &[],
                    };
                    let mut kept = Vec::with_capacity(items.len());
                    for (mut item, element) in std::mem::take(items).into_iter().zip(elements) {
                        if set.has_member(&element) {
                            continue;
                        }
                        if let Some(below) = set.child(&element) {
                            let mut below = below.clone();
                            for key in key_fields {
                                let mut protect = FieldSet::new();
                                protect.insert(&[PathElement::Field((*key).to_owned())]);
                                below.subtract(&protect);
                            }
                            remove_at(
                                &mut item,
                                &below,
                                keep.and_then(|k| k.child(&element)),
                                names,
                            );
                        }
                        kept.push(item);
                    }
                    *items = kept;
                }
                Items::Set(elements) => {
                    let mut kept = Vec::with_capacity(items.len());
                    for (item, element) in std::mem::take(items).into_iter().zip(elements) {
                        if !set.has_member(&element) {
                            kept.push(item);
                        }
                    }
                    *items = kept;
                }
                Items::Atomic => {}
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssa::fieldset::display_path;
    use serde_json::json;

    fn paths(set: &FieldSet) -> Vec<String> {
        set.paths().iter().map(|p| display_path(p)).collect()
    }

    fn plan() -> Value {
        json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Plan",
            "metadata": {"name": "p", "uid": "u", "labels": {"a": "1"}, "finalizers": ["x.io/f"]},
            "spec": {"description": "d", "graph": {"nodes": [{"id": "a", "kind": "Task"}], "edges": [{"from": "a", "to": "b"}]}},
            "status": {"phase": "Ready"}
        })
    }

    #[test]
    fn field_sets_follow_kubernetes() {
        assert_eq!(
            paths(&field_set(&plan(), Scope::Main)),
            [
                ".metadata.finalizers[=\"x.io/f\"]",
                ".metadata.labels.a",
                ".spec.description",
                ".spec.graph.edges",
                ".spec.graph.nodes[id=\"a\"]",
                ".spec.graph.nodes[id=\"a\"].id",
                ".spec.graph.nodes[id=\"a\"].kind",
            ]
        );
        assert_eq!(paths(&field_set(&plan(), Scope::Status)), [".status.phase"]);
        // An item without its key makes the list atomic.
        let odd = json!({"spec": {"graph": {"nodes": [{"kind": "Task"}], "x": {}}}});
        assert_eq!(
            paths(&field_set(&odd, Scope::Main)),
            [".spec.graph.nodes", ".spec.graph.x"]
        );
    }

    #[test]
    fn comparisons() {
        let old = plan();
        let mut new = plan();
        new["spec"]["description"] = json!("e");
        new["spec"]["graph"]["nodes"] =
            json!([{"id": "b", "kind": "Task"}, {"id": "a", "kind": "Gate"}]);
        new["metadata"]["labels"] = json!({"b": "2"});
        new["status"]["phase"] = json!("Invalid");
        let c = compare(&old, &new, Scope::Main);
        assert_eq!(
            paths(&c.added),
            [
                ".metadata.labels.b",
                ".spec.graph.nodes[id=\"b\"]",
                ".spec.graph.nodes[id=\"b\"].id",
                ".spec.graph.nodes[id=\"b\"].kind"
            ]
        );
        assert_eq!(
            paths(&c.modified),
            [".spec.description", ".spec.graph.nodes[id=\"a\"].kind"]
        );
        assert_eq!(paths(&c.removed), [".metadata.labels.a"]);
        assert!(compare(&old, &old, Scope::Main).changed().is_empty());
        let c = compare(&old, &new, Scope::Status);
        assert_eq!(paths(&c.modified), [".status.phase"]);
    }

    #[test]
    fn merges_keep_live_fields_and_order() {
        let live = json!({"spec": {"a": 1, "graph": {"nodes": [
            {"id": "x", "kind": "Task", "note": "live"}, {"id": "only-live"}, {"id": "y"}
        ]}}, "metadata": {"finalizers": ["f1"]}});
        let config = json!({"spec": {"b": 2, "a": null, "graph": {"nodes": [
            {"id": "y", "kind": "Gate"}, {"id": "x", "kind": "Group"}, {"id": "new"}
        ]}}, "metadata": {"finalizers": ["f2", "f1"]}});
        let out = merge(&live, &config);
        assert_eq!(out["spec"]["b"], 2);
        assert!(out["spec"].get("a").is_none());
        let ids: Vec<&str> = out["spec"]["graph"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["only-live", "y", "x", "new"]);
        assert_eq!(out["spec"]["graph"]["nodes"][2]["note"], "live");
        assert_eq!(out["spec"]["graph"]["nodes"][2]["kind"], "Group");
        assert_eq!(out["metadata"]["finalizers"], json!(["f1", "f2"]));
        // Atomic lists and scalars are replaced.
        let out = merge(&json!({"l": [1, 2]}), &json!({"l": [3]}));
        assert_eq!(out, json!({"l": [3]}));
    }

    #[test]
    fn removal_prunes_emptied_objects_but_keeps_owned_ones() {
        let mut object = json!({"spec": {"a": {"b": 1}, "c": {"d": 1}, "graph": {"nodes": [{"id": "x", "kind": "Task"}, {"id": "y"}]}}});
        let mut set = FieldSet::new();
        let f = |s: &str| PathElement::Field(s.to_owned());
        set.insert(&[f("spec"), f("a"), f("b")]);
        set.insert(&[f("spec"), f("c"), f("d")]);
        let y = PathElement::key([("id", &json!("y"))]);
        let x = PathElement::key([("id", &json!("x"))]);
        set.insert(&[f("spec"), f("graph"), f("nodes"), y]);
        set.insert(&[f("spec"), f("graph"), f("nodes"), x.clone(), f("kind")]);
        set.insert(&[f("spec"), f("graph"), f("nodes"), x, f("id")]);
        let mut keep = FieldSet::new();
        keep.insert(&[f("spec"), f("c")]);
        remove(&mut object, &set, &keep);
        assert_eq!(
            object,
            json!({"spec": {"c": {}, "graph": {"nodes": [{"id": "x"}]}}})
        );
    }
}
