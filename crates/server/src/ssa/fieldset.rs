//! Sets of field paths, and their wire form `FieldsV1`.
//!
//! A [`FieldSet`] is a tree: each level holds the path elements that are *members* (the path
//! ending there is in the set) and the elements that have *children* (longer paths go through
//! them). A path can be both: a list item is owned itself (`.`) and through its fields.
//!
//! `FieldsV1` is the Kubernetes encoding of such a set in `metadata.managedFields`:
//!
//! ```json
//! {"f:spec": {"f:description": {}, "f:graph": {"f:nodes": {"k:{\"id\":\"a\"}": {".": {}, "f:id": {}}}}}}
//! ```
//!
//! `f:<name>` is a field, `k:<json>` a list item by its key fields, `v:<json>` an item of a
//! set-like list, `i:<n>` an item by position; `.` marks that the path ending at the enclosing
//! element is itself a member. A member without children is `{}`.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One step of a field path. The order (fields, then keys, values, positions) is the order
/// `FieldsV1` lists them in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object: `f:name`.
    Field(String),
    /// An item of a list keyed by its merge keys: `k:{"id":"a"}` (compact JSON, keys sorted).
    Key(String),
    /// An item of a set-like list of scalars: `v:"x"` (compact JSON).
    Value(String),
    /// An item of a list by position: `i:0` (never produced here; read for compatibility).
    Index(usize),
}

/// A field path: the elements from the object's root.
pub type Path = Vec<PathElement>;

/// Why a `FieldsV1` value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsError {
    /// A level of the set is not a JSON object.
    #[error("fieldsV1 must be an object of objects")]
    NotAnObject,
    /// A key is not `.`, `f:…`, `k:…`, `v:…` or `i:…`.
    #[error("invalid path element `{0}` in fieldsV1")]
    BadElement(String),
    /// A `managedFields` entry is malformed.
    #[error("invalid managedFields entry: {0}")]
    BadEntry(String),
}

impl PathElement {
    /// The item of a keyed list whose key fields have these values (each a JSON scalar).
    pub fn key<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> PathElement {
        let mut sorted: Vec<(&str, &Value)> = fields.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let map: Map<String, Value> = sorted
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();
        PathElement::Key(Value::Object(map).to_string())
    }

    /// The item of a set-like list with this scalar value.
    pub fn value(value: &Value) -> PathElement {
        PathElement::Value(value.to_string())
    }

    /// The `FieldsV1` key: `f:name`, `k:{…}`, `v:…`, `i:n`.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{json}"),
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Reads a `FieldsV1` key (not `.`). Keys and values are brought to their canonical form.
    pub fn decode(text: &str) -> Result<PathElement, FieldsError> {
        let bad = || FieldsError::BadElement(text.to_owned());
        let (tag, rest) = text.split_at_checked(2).ok_or_else(bad)?;
        match tag {
            "f:" => Ok(PathElement::Field(rest.to_owned())),
            "k:" => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(map)) => Ok(PathElement::key(
                    map.iter().map(|(k, v)| (k.as_str(), v)).collect::<Vec<_>>(),
                )),
                _ => Err(bad()),
            },
            "v:" => serde_json::from_str::<Value>(rest)
                .map(|v| PathElement::value(&v))
                .map_err(|_| bad()),
            "i:" => rest.parse().map(PathElement::Index).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    /// The element as Kubernetes prints paths: `.name`, `[id="a"]`, `[="x"]`, `[0]`.
    fn display(&self, out: &mut String) {
        match self {
            PathElement::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            PathElement::Key(json) => {
                out.push('[');
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) {
                    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push_str(&parts.join(","));
                }
                out.push(']');
            }
            PathElement::Value(json) => {
                let _ = write!(out, "[={json}]");
            }
            PathElement::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
}

/// A path as Kubernetes prints it in conflicts: `.spec.graph.nodes[id="a"].kind`.
pub fn display_path(path: &[PathElement]) -> String {
    let mut out = String::new();
    for element in path {
        element.display(&mut out);
    }
    out
}

/// A set of field paths; see the module documentation.
///
/// Invariant: no child set is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// `true` if no path is in the set.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds `path` (the empty path is ignored: the root is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut at = self;
        for element in parents {
            at = at.children.entry(element.clone()).or_default();
        }
        at.members.insert(last.clone());
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut at = self;
        for element in parents {
            match at.children.get(element) {
                Some(child) => at = child,
                None => return false,
            }
        }
        at.members.contains(last)
    }

    /// Whether the path made of this one element is in the set.
    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The paths below `element` (relative to it).
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// The elements that are members here.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The elements with paths below them, and those paths.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// Adds every path of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            self.children
                .entry(element.clone())
                .or_default()
                .union_with(child);
        }
    }

    /// The paths of both.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Removes every path of `other`.
    pub fn subtract(&mut self, other: &FieldSet) {
        for member in &other.members {
            self.members.remove(member);
        }
        for (element, child) in &other.children {
            if let Some(mine) = self.children.get_mut(element) {
                mine.subtract(child);
                if mine.is_empty() {
                    self.children.remove(element);
                }
            }
        }
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.subtract(other);
        out
    }

    /// The paths in both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, mine)| {
                let both = mine.intersection(other.children.get(element)?);
                (!both.is_empty()).then(|| (element.clone(), both))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Every path of the set, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for element in elements {
            prefix.push(element.clone());
            if self.members.contains(element) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(element) {
                child.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The set as `FieldsV1` (a JSON object; `{}` for the empty set).
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.encode())
    }

    fn encode(&self) -> Map<String, Value> {
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        let mut out = Map::new();
        for element in elements {
            let mut inner = Map::new();
            if let Some(child) = self.children.get(element) {
                if self.members.contains(element) {
                    inner.insert(".".to_owned(), Value::Object(Map::new()));
                }
                inner.extend(child.encode());
            }
            out.insert(element.encode(), Value::Object(inner));
        }
        out
    }

    /// Reads `FieldsV1`.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsError> {
        let mut set = FieldSet::new();
        set.decode(value)?;
        Ok(set)
    }

    fn decode(&mut self, value: &Value) -> Result<(), FieldsError> {
        let map = value.as_object().ok_or(FieldsError::NotAnObject)?;
        for (key, inner) in map {
            if key == "." {
                continue;
            }
            let element = PathElement::decode(key)?;
            let inner_map = inner.as_object().ok_or(FieldsError::NotAnObject)?;
            if inner_map.is_empty() || inner_map.contains_key(".") {
                self.members.insert(element.clone());
            }
            if inner_map.keys().any(|k| k != ".") {
                let mut child = FieldSet::new();
                child.decode(inner)?;
                if !child.is_empty() {
                    self.children.insert(element, child);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.to_owned())
    }

    #[test]
    fn fields_v1_round_trips_in_kubernetes_form() {
        let node = PathElement::key([("id", &json!("a"))]);
        let mut set = FieldSet::new();
        set.insert(&[f("spec"), f("description")]);
        set.insert(&[f("spec"), f("graph"), f("nodes"), node.clone()]);
        set.insert(&[f("spec"), f("graph"), f("nodes"), node.clone(), f("id")]);
        set.insert(&[
            f("metadata"),
            f("finalizers"),
            PathElement::value(&json!("x.io/y")),
        ]);
        let v1 = set.to_fields_v1();
        assert_eq!(
            v1,
            json!({
                "f:metadata": {"f:finalizers": {"v:\"x.io/y\"": {}}},
                "f:spec": {"f:description": {}, "f:graph": {"f:nodes": {"k:{\"id\":\"a\"}": {".": {}, "f:id": {}}}}}
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&v1).unwrap(), set);
        assert!(set.contains(&[f("spec"), f("graph"), f("nodes"), node.clone()]));
        assert!(!set.contains(&[f("spec"), f("graph")]));
        assert_eq!(
            display_path(&[f("spec"), f("graph"), f("nodes"), node, f("kind")]),
            ".spec.graph.nodes[id=\"a\"].kind"
        );
        assert_eq!(set.paths().len(), 4);
    }

    #[test]
    fn keys_are_canonical_and_bad_elements_are_refused() {
        assert_eq!(
            PathElement::decode("k:{\"b\":1,\"a\":\"x\"}").unwrap(),
            PathElement::key([("a", &json!("x")), ("b", &json!(1))])
        );
        assert_eq!(PathElement::decode("i:3").unwrap(), PathElement::Index(3));
        for bad in ["x", "q:a", "k:[1]", "v:{", "i:-1", ""] {
            assert!(PathElement::decode(bad).is_err(), "{bad}");
        }
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("a")]);
        a.insert(&[f("spec"), f("b")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("b")]);
        b.insert(&[f("spec"), f("c")]);
        let i = a.intersection(&b);
        assert_eq!(i.paths(), vec![vec![f("spec"), f("b")]]);
        let d = a.difference(&b);
        assert_eq!(d.paths(), vec![vec![f("spec"), f("a")]]);
        assert_eq!(a.union(&b).paths().len(), 3);
        let mut e = a.clone();
        e.subtract(&a);
        assert!(e.is_empty());
        assert_eq!(e.to_fields_v1(), json!({}));
    }
}
