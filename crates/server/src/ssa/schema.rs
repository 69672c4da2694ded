//! What server-side apply needs to know about the shape of objects: how each list merges and
//! is owned, and which fields are tracked at all.
//!
//! Objects are merged field by field. Lists are **atomic** (replaced whole, owned whole)
//! unless listed here:
//!
//! | List | Type |
//! |---|---|
//! | `spec.graph.nodes` | map keyed by `id` |
//! | `status.conditions` | map keyed by `type` |
//! | `metadata.ownerReferences` | map keyed by `uid` (as Kubernetes) |
//! | `metadata.finalizers` | set (as Kubernetes) |
//!
//! The OpenAPI document says the same with `x-kubernetes-list-type` and
//! `x-kubernetes-list-map-keys` ([`LIST_TYPES`] is the one table both read).

/// How a list merges and is owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced and owned as a whole.
    Atomic,
    /// A set of scalars: items are merged and owned one by one (`v:` elements).
    Set,
    /// A list of objects identified by these fields: items are merged and owned one by one
    /// (`k:` elements).
    Map(&'static [&'static str]),
}

/// The lists that are not atomic, by their field path.
pub const LIST_TYPES: [(&[&str], ListType); 5] = [
    (&["spec", "graph", "nodes"], ListType::Map(&["id"])),
    (&["spec", "steps"], ListType::Map(&["id"])),
    (&["status", "conditions"], ListType::Map(&["type"])),
    (&["metadata", "ownerReferences"], ListType::Map(&["uid"])),
    (&["metadata", "finalizers"], ListType::Set),
];

/// The type of the list at the field path `names` (list items do not count as steps:
/// `spec.graph.nodes` is `["spec", "graph", "nodes"]`).
pub fn list_type(names: &[&str]) -> ListType {
    LIST_TYPES
        .iter()
        .find(|(path, _)| *path == names)
        .map_or(ListType::Atomic, |(_, t)| *t)
}

/// Metadata the server owns: never tracked, never applied.
pub const UNTRACKED_METADATA: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Which part of an object a write owns fields in: the object without `status`, or only
/// `status` (the `/status` subresource). `apiVersion`, `kind` and the server-owned metadata
/// ([`UNTRACKED_METADATA`]) are never tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything but `status`.
    Main,
    /// Only `status`.
    Status,
}

impl Scope {
    /// Whether the field `key` of the object at the field path `names` is tracked.
    pub fn tracks(self, names: &[&str], key: &str) -> bool {
        match names {
            [] => match self {
                Scope::Main => !matches!(key, "apiVersion" | "kind" | "status"),
                Scope::Status => key == "status",
            },
            ["metadata"] => !UNTRACKED_METADATA.contains(&key),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_types_and_scopes() {
        assert_eq!(
            list_type(&["spec", "graph", "nodes"]),
            ListType::Map(&["id"])
        );
        assert_eq!(list_type(&["spec", "graph", "edges"]), ListType::Atomic);
        assert_eq!(list_type(&["metadata", "finalizers"]), ListType::Set);
        assert!(Scope::Main.tracks(&[], "spec"));
        assert!(!Scope::Main.tracks(&[], "status"));
        assert!(Scope::Status.tracks(&[], "status"));
        assert!(!Scope::Status.tracks(&[], "metadata"));
        assert!(!Scope::Main.tracks(&["metadata"], "uid"));
        assert!(Scope::Main.tracks(&["metadata"], "labels"));
        assert!(Scope::Main.tracks(&["spec", "metadata"], "uid"));
    }
}
