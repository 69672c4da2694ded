//! The spanned document tree: what the loader produces and every rule reads.
//!
//! A [`Node`] is a JSON-like value that remembers where it came from. Mapping
//! keys keep their own spans, so a diagnostic can point at a key or at its value.

use crate::source::Span;

/// A value with the span of the source text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

/// The value of a [`Node`]. Mappings keep insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn new(span: Span, value: Value) -> Self {
        Node { span, value }
    }

    /// The value of `key` if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry of `key` if this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Mutable access to the value of `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|e| e.key == key)
                .map(|e| &mut e.value),
            _ => None,
        }
    }

    /// Mutable access to the entries if this is a mapping.
    pub fn as_map_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Mutable access to the items if this is a sequence.
    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Removes `key` from a mapping, returning its entry.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let entries = self.as_map_mut()?;
        let index = entries.iter().position(|e| e.key == key)?;
        Some(entries.remove(index))
    }

    /// Sets `key` in a mapping (replacing an existing value); no-op on other values.
    pub fn insert(&mut self, key: &str, key_span: Span, value: Node) {
        if let Some(entries) = self.as_map_mut() {
            match entries.iter_mut().find(|e| e.key == key) {
                Some(entry) => entry.value = value,
                None => entries.push(Entry {
                    key: key.to_string(),
                    key_span,
                    value,
                }),
            }
        }
    }

    /// Renames `from` to `to` in a mapping, keeping the entry's position and spans.
    pub fn rename_key(&mut self, from: &str, to: &str) {
        if let Some(entry) = self
            .as_map_mut()
            .and_then(|e| e.iter_mut().find(|e| e.key == from))
        {
            entry.key = to.to_string();
        }
    }

    /// A string node.
    pub fn string(span: Span, text: impl Into<String>) -> Self {
        Node::new(span, Value::String(text.into()))
    }

    /// A mapping node from pairs; every key gets `span`.
    pub fn map(span: Span, pairs: Vec<(&str, Node)>) -> Self {
        Node::new(
            span,
            Value::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| Entry {
                        key: k.to_string(),
                        key_span: span,
                        value: v,
                    })
                    .collect(),
            ),
        )
    }

    /// Follows a path of mapping keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The JSON type name of this value, as used in messages ("string", "object" …).
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "object",
        }
    }

    /// Converts to a plain JSON value, dropping spans.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            // `2.0` is the number 2 (as JSON Schema says); write it as an integer so integer
            // fields of the typed model accept what the schema accepted.
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => J::from(*f as i64),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}
