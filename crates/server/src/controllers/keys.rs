//! The informer's cache of object keys: for each kind a controller owns, the names in each
//! namespace, kept from the initial list and every change after it.
//!
//! A change that concerns every object of a controller's kind in a namespace
//! ([`super::Trigger::Namespace`], e.g. a Plan written, for the Goal and Binding controllers)
//! is answered from here instead of a list of the store on every change: on a busy server
//! that list was one read of the store per write per controller, competing with the writes.
//!
//! The cache follows the change log in order, so at any change it knows the objects that
//! existed at that revision. An object created later is queued by its own change; one deleted
//! later is queued once more and its reconcile finds it gone — the controllers are
//! level-triggered, so neither costs more than that.

use planspec_store::{Change, ChangeType, ObjectKey};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Names by kind and namespace, for the kinds it was made for.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    kinds: HashSet<String>,
    /// `(kind, namespace)` → names.
    names: HashMap<(String, String), BTreeSet<String>>,
}

impl KeyCache {
    /// An empty cache of the objects of `kinds`.
    pub(super) fn new<'a>(kinds: impl IntoIterator<Item = &'a str>) -> KeyCache {
        KeyCache {
            kinds: kinds.into_iter().map(str::to_owned).collect(),
            names: HashMap::new(),
        }
    }

    /// Forgets everything (before a full list).
    pub(super) fn clear(&mut self) {
        self.names.clear();
    }

    /// Records that `key` exists (a listed object, or one created or updated).
    pub(super) fn insert(&mut self, key: &ObjectKey) {
        if !self.kinds.contains(&key.kind) {
            return;
        }
        let names = self
            .names
            .entry((key.kind.clone(), key.namespace.clone()))
            .or_default();
        if !names.contains(&key.name) {
            names.insert(key.name.clone());
        }
    }

    /// Records that `key` is gone.
    pub(super) fn remove(&mut self, key: &ObjectKey) {
        let slot = (key.kind.clone(), key.namespace.clone());
        if let Some(names) = self.names.get_mut(&slot) {
            names.remove(&key.name);
            if names.is_empty() {
                self.names.remove(&slot);
            }
        }
    }

    /// Follows one change of the log.
    pub(super) fn observe(&mut self, change: &Change) {
        let key = &change.object.key;
        if !self.kinds.contains(&key.kind) {
            return;
        }
        match change.change_type {
            ChangeType::Added | ChangeType::Modified => self.insert(key),
            ChangeType::Deleted => self.remove(key),
        }
    }

    /// The keys of the objects of `kind` in `namespace`, in name order.
    pub(super) fn in_namespace(&self, kind: &str, namespace: &str) -> Vec<ObjectKey> {
        self.names
            .get(&(kind.to_owned(), namespace.to_owned()))
            .map(|names| {
                names
                    .iter()
                    .map(|name| ObjectKey::new(kind, namespace, name.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_store::StoredObject;
    use serde_json::json;

    fn change(change_type: ChangeType, kind: &str, ns: &str, name: &str) -> Change {
        Change {
            revision: 1,
            change_type,
            object: StoredObject {
                key: ObjectKey::new(kind, ns, name),
                uid: "u".into(),
                revision: 1,
                created_revision: 1,
                object: json!({}),
            },
        }
    }

    #[test]
    fn follows_creates_updates_and_deletes_of_its_kinds_only() {
        let mut cache = KeyCache::new(["Goal", "Binding"]);
        cache.observe(&change(ChangeType::Added, "Goal", "a", "g2"));
        cache.observe(&change(ChangeType::Added, "Goal", "a", "g1"));
        cache.observe(&change(ChangeType::Modified, "Goal", "a", "g1"));
        cache.observe(&change(ChangeType::Added, "Goal", "b", "g3"));
        cache.observe(&change(ChangeType::Added, "Plan", "a", "p"));
        assert_eq!(
            cache.in_namespace("Goal", "a"),
            vec![
                ObjectKey::new("Goal", "a", "g1"),
                ObjectKey::new("Goal", "a", "g2")
            ]
        );
        assert!(cache.in_namespace("Plan", "a").is_empty());
        assert!(cache.in_namespace("Binding", "a").is_empty());
        cache.observe(&change(ChangeType::Deleted, "Goal", "a", "g1"));
        cache.observe(&change(ChangeType::Deleted, "Goal", "b", "g3"));
        assert_eq!(
            cache.in_namespace("Goal", "a"),
            vec![ObjectKey::new("Goal", "a", "g2")]
        );
        assert!(cache.in_namespace("Goal", "b").is_empty());
        cache.clear();
        assert!(cache.in_namespace("Goal", "a").is_empty());
    }
}
