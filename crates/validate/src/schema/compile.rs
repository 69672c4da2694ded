//! Compiling a JSON Schema (draft 2020-12 subset used by schemars) into an arena.

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Index of a [`SchemaNode`] in [`CompiledSchema::nodes`].
pub(crate) type NodeIx = usize;

/// A schema ready to check documents against.
#[derive(Debug)]
pub struct CompiledSchema {
    pub(crate) nodes: Vec<SchemaNode>,
    pub(crate) root: NodeIx,
}

/// Why a schema could not be compiled (a bug in the generated schema, never user input).
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("unresolvable $ref `{0}`")]
    BadRef(String),
    #[error("invalid pattern `{pattern}`: {source}")]
    BadPattern {
        pattern: String,
        source: regex::Error,
    },
}

/// JSON types as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Types(u8);

impl Types {
    pub const NULL: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const INTEGER: u8 = 4;
    pub const NUMBER: u8 = 8;
    pub const STRING: u8 = 16;
    pub const ARRAY: u8 = 32;
    pub const OBJECT: u8 = 64;

    fn from_name(name: &str) -> u8 {
        match name {
            "null" => Self::NULL,
            "boolean" => Self::BOOLEAN,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER | Self::INTEGER,
            "string" => Self::STRING,
            "array" => Self::ARRAY,
            "object" => Self::OBJECT,
            _ => 0,
        }
    }

    pub fn contains(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// "string or array" — for messages.
    pub fn describe(self) -> String {
        let names = [
            (Self::NULL, "null"),
            (Self::BOOLEAN, "boolean"),
            (Self::INTEGER | Self::NUMBER, "number"),
            (Self::INTEGER, "integer"),
            (Self::STRING, "string"),
            (Self::ARRAY, "array"),
            (Self::OBJECT, "object"),
        ];
        let mut out = Vec::new();
        for (bits, name) in names {
            if bits == Self::INTEGER && self.contains(Self::NUMBER) {
                continue;
            }
            if self.0 & bits == bits {
                out.push(name);
            }
        }
        out.join(" or ")
    }
}

/// What `additionalProperties` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Additional {
    Allowed,
    Denied,
    Schema(NodeIx),
}

/// A `oneOf` whose branches are told apart by a constant property, such as `kind` or `type`.
#[derive(Debug, Clone)]
pub(crate) struct Discriminator {
    pub property: String,
    pub branches: Vec<(String, NodeIx)>,
}

/// One compiled schema object.
#[derive(Debug, Clone)]
pub(crate) struct SchemaNode {
    /// Set on the root of a `$defs` entry: `DnsLabel`, `Duration` …
    pub def_name: Option<String>,
    pub reference: Option<NodeIx>,
    pub types: Option<Types>,
    pub properties: Vec<(String, NodeIx)>,
    pub property_index: Option<HashMap<String, NodeIx>>,
    pub required: Vec<String>,
    pub additional: Additional,
    pub property_names: Option<NodeIx>,
    pub items: Option<NodeIx>,
    pub enum_values: Option<Vec<Value>>,
    pub const_value: Option<Value>,
    pub pattern: Option<Regex>,
    pub format: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub one_of: Vec<NodeIx>,
    pub any_of: Vec<NodeIx>,
    pub all_of: Vec<NodeIx>,
    pub discriminator: Option<Discriminator>,
    pub if_then_else: Option<(NodeIx, Option<NodeIx>, Option<NodeIx>)>,
    pub dependent_required: Vec<(String, Vec<String>)>,
    /// `false` schema: nothing is valid.
    pub never: bool,
}

impl SchemaNode {
    fn empty() -> Self {
        SchemaNode {
            def_name: None,
            reference: None,
            types: None,
            properties: Vec::new(),
            property_index: None,
            required: Vec::new(),
            additional: Additional::Allowed,
            property_names: None,
            items: None,
            enum_values: None,
            const_value: None,
            pattern: None,
            format: None,
            min_length: None,
            max_length: None,
            minimum: None,
            maximum: None,
            exclusive_minimum: None,
            exclusive_maximum: None,
            min_items: None,
            max_items: None,
            unique_items: false,
            min_properties: None,
            max_properties: None,
            one_of: Vec::new(),
            any_of: Vec::new(),
            all_of: Vec::new(),
            discriminator: None,
            if_then_else: None,
            dependent_required: Vec::new(),
            never: false,
        }
    }

    /// The schema of a property, if this node declares it.
    pub fn property(&self, name: &str) -> Option<NodeIx> {
        match &self.property_index {
            Some(index) => index.get(name).copied(),
            None => self
                .properties
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, ix)| *ix),
        }
    }
}

impl CompiledSchema {
    pub(crate) fn node(&self, ix: NodeIx) -> &SchemaNode {
        &self.nodes[ix]
    }

    /// Follows `$ref` chains to the node that holds the keywords.
    pub(crate) fn resolve(&self, mut ix: NodeIx) -> NodeIx {
        for _ in 0..64 {
            let node = &self.nodes[ix];
            match node.reference {
                Some(target) if is_pure_ref(node) => ix = target,
                _ => break,
            }
        }
        ix
    }

    /// Every property name any branch of `ix` declares (used for "belongs to another kind" hints).
    pub(crate) fn declared_properties(&self, ix: NodeIx) -> Vec<&str> {
        let node = self.node(self.resolve(ix));
        node.properties.iter().map(|(k, _)| k.as_str()).collect()
    }
}

fn is_pure_ref(node: &SchemaNode) -> bool {
    node.types.is_none()
        && node.properties.is_empty()
        && node.one_of.is_empty()
        && node.any_of.is_empty()
        && node.all_of.is_empty()
        && node.enum_values.is_none()
        && node.const_value.is_none()
        && node.pattern.is_none()
        && node.format.is_none()
        && node.items.is_none()
}

/// Compiles a schema document. `$ref`s must point into its own `$defs` (`#/$defs/Name`).
pub fn compile(schema: &Value) -> Result<CompiledSchema, CompileError> {
    let mut compiler = Compiler {
        nodes: Vec::new(),
        defs: HashMap::new(),
        pending_refs: Vec::new(),
    };
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        // Reserve a slot per definition first so references can point at them.
        for name in defs.keys() {
            let ix = compiler.alloc();
            compiler.defs.insert(name.clone(), ix);
        }
        for (name, def) in defs {
            let ix = compiler.defs[name];
            compiler.fill(ix, def)?;
            compiler.nodes[ix].def_name = Some(name.clone());
        }
    }
    let root = compiler.alloc();
    compiler.fill(root, schema)?;
    for (ix, target) in std::mem::take(&mut compiler.pending_refs) {
        let name = target
            .strip_prefix("#/$defs/")
            .or_else(|| target.strip_prefix("#/definitions/"))
            .ok_or_else(|| CompileError::BadRef(target.clone()))?;
        let def = *compiler
            .defs
            .get(name)
            .ok_or_else(|| CompileError::BadRef(target.clone()))?;
        compiler.nodes[ix].reference = Some(def);
    }
    if schema.get("$ref").and_then(Value::as_str) == Some("#") {
        compiler.nodes[root].reference = None;
    }
    let mut compiled = CompiledSchema {
        nodes: compiler.nodes,
        root,
    };
    find_discriminators(&mut compiled);
    Ok(compiled)
}

struct Compiler {
    nodes: Vec<SchemaNode>,
    defs: HashMap<String, NodeIx>,
    pending_refs: Vec<(NodeIx, String)>,
}

impl Compiler {
    fn alloc(&mut self) -> NodeIx {
        self.nodes.push(SchemaNode::empty());
        self.nodes.len() - 1
    }

    fn sub(&mut self, value: &Value) -> Result<NodeIx, CompileError> {
        let ix = self.alloc();
        self.fill(ix, value)?;
        Ok(ix)
    }

    fn subs(&mut self, value: Option<&Value>) -> Result<Vec<NodeIx>, CompileError> {
        value
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|v| self.sub(v)).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    fn fill(&mut self, ix: NodeIx, value: &Value) -> Result<(), CompileError> {
        let obj: &Map<String, Value> = match value {
            Value::Bool(false) => {
                self.nodes[ix].never = true;
                return Ok(());
            }
            Value::Object(obj) if is_rule_annotation(obj) => return Ok(()),
            Value::Object(obj) => obj,
            _ => return Ok(()),
        };
        let mut node = SchemaNode::empty();
        if let Some(target) = obj.get("$ref").and_then(Value::as_str) {
            if target != "#" {
                self.pending_refs.push((ix, target.to_string()));
            }
        }
        node.types = match obj.get("type") {
            Some(Value::String(t)) => Some(Types(Types::from_name(t))),
            Some(Value::Array(ts)) => Some(Types(
                ts.iter()
                    .filter_map(Value::as_str)
                    .fold(0, |acc, t| acc | Types::from_name(t)),
            )),
            _ => None,
        };
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (name, schema) in props {
                let sub = self.sub(schema)?;
                node.properties.push((name.clone(), sub));
            }
            if node.properties.len() > 16 {
                node.property_index = Some(node.properties.iter().cloned().collect());
            }
        }
        node.required = strings(obj.get("required"));
        node.additional = match obj.get("additionalProperties") {
            Some(Value::Bool(false)) => Additional::Denied,
            Some(schema @ Value::Object(_)) => Additional::Schema(self.sub(schema)?),
            _ => Additional::Allowed,
        };
        if let Some(schema) = obj.get("propertyNames") {
            node.property_names = Some(self.sub(schema)?);
        }
        if let Some(schema) = obj.get("items") {
            node.items = Some(self.sub(schema)?);
        }
        node.enum_values = obj.get("enum").and_then(Value::as_array).cloned();
        node.const_value = obj.get("const").cloned();
        if let Some(pattern) = obj.get("pattern").and_then(Value::as_str) {
            node.pattern =
                Some(
                    Regex::new(pattern).map_err(|source| CompileError::BadPattern {
                        pattern: pattern.to_string(),
                        source,
                    })?,
                );
        }
        node.format = obj
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_string);
        node.min_length = obj.get("minLength").and_then(Value::as_u64);
        node.max_length = obj.get("maxLength").and_then(Value::as_u64);
        node.minimum = obj.get("minimum").and_then(Value::as_f64);
        node.maximum = obj.get("maximum").and_then(Value::as_f64);
        node.exclusive_minimum = obj.get("exclusiveMinimum").and_then(Value::as_f64);
        node.exclusive_maximum = obj.get("exclusiveMaximum").and_then(Value::as_f64);
        node.min_items = obj.get("minItems").and_then(Value::as_u64);
        node.max_items = obj.get("maxItems").and_then(Value::as_u64);
        node.unique_items = obj
            .get("uniqueItems")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        node.min_properties = obj.get("minProperties").and_then(Value::as_u64);
        node.max_properties = obj.get("maxProperties").and_then(Value::as_u64);
        node.one_of = self.subs(obj.get("oneOf"))?;
        node.any_of = self.subs(obj.get("anyOf"))?;
        node.all_of = self.subs(obj.get("allOf"))?;
        if let Some(cond) = obj.get("if") {
            let cond = self.sub(cond)?;
            let then = obj.get("then").map(|v| self.sub(v)).transpose()?;
            let otherwise = obj.get("else").map(|v| self.sub(v)).transpose()?;
            node.if_then_else = Some((cond, then, otherwise));
        }
        if let Some(deps) = obj.get("dependentRequired").and_then(Value::as_object) {
            node.dependent_required = deps
                .iter()
                .map(|(k, v)| (k.clone(), strings(Some(v))))
                .collect();
        }
        let def_name = self.nodes[ix].def_name.take();
        node.def_name = def_name;
        self.nodes[ix] = node;
        Ok(())
    }
}

/// A subschema marked `"$comment": "planspec-rule PSxxxx: …"` states a constraint that the
/// code rule PSxxxx checks with a better diagnostic; validators that read the published
/// schema still apply it.
fn is_rule_annotation(obj: &Map<String, Value>) -> bool {
    obj.get("$comment")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with("planspec-rule "))
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Marks every `oneOf`/`anyOf` whose branches each pin the same property to a distinct
/// constant, so checking can pick the branch by that property.
fn find_discriminators(schema: &mut CompiledSchema) {
    for ix in 0..schema.nodes.len() {
        let branches = if !schema.nodes[ix].one_of.is_empty() {
            schema.nodes[ix].one_of.clone()
        } else {
            schema.nodes[ix].any_of.clone()
        };
        if branches.len() < 2 {
            continue;
        }
        let first = schema.resolve(branches[0]);
        let candidates: Vec<String> = schema.nodes[first]
            .properties
            .iter()
            .filter(|(_, p)| tag_value(schema, *p).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        'property: for property in candidates {
            let mut found = Vec::new();
            for &branch in &branches {
                let resolved = schema.resolve(branch);
                let Some(value) = schema.nodes[resolved]
                    .property(&property)
                    .and_then(|p| tag_value(schema, p))
                else {
                    continue 'property;
                };
                if found.iter().any(|(v, _)| *v == value) {
                    continue 'property;
                }
                found.push((value, branch));
            }
            schema.nodes[ix].discriminator = Some(Discriminator {
                property,
                branches: found,
            });
            break;
        }
    }
}

/// The constant string a property schema pins, via `const` or a one-value `enum`.
fn tag_value(schema: &CompiledSchema, ix: NodeIx) -> Option<String> {
    let node = schema.node(schema.resolve(ix));
    match (&node.const_value, &node.enum_values) {
        (Some(Value::String(s)), _) => Some(s.clone()),
        (None, Some(values)) if values.len() == 1 => values[0].as_str().map(str::to_string),
        _ => None,
    }
}
