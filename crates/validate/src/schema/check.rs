//! Checking a spanned document against a [`CompiledSchema`].

use super::compile::{Additional, CompiledSchema, NodeIx, SchemaNode, Types};
use super::formats;
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::source::Span;
use crate::suggest;
use crate::tree::{Node, Value};
use serde_json::Value as Json;

/// Checks `doc` against `schema`, appending findings to `out`.
pub fn check(schema: &CompiledSchema, doc: &Node, out: &mut Vec<Diagnostic>) {
    let mut checker = Checker {
        schema,
        path: Vec::new(),
        out,
    };
    checker.node(schema.root, doc, &Ctx::default());
}

#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// What the parent knows about the value being checked.
#[derive(Default, Clone, Copy)]
struct Ctx<'c> {
    /// Span of the key this value belongs to, a better anchor than a multi-line value.
    key_span: Option<Span>,
    /// Set when checking a branch of a tagged union: the other branches' fields.
    variant: Option<&'c Variant<'c>>,
}

/// The branch of a tagged union being checked, and its siblings.
struct Variant<'c> {
    tag_property: &'c str,
    tag: &'c str,
    /// (field, tags whose branch declares it) for fields this branch lacks.
    foreign: Vec<(&'c str, Vec<&'c str>)>,
}

struct Checker<'s, 'o> {
    schema: &'s CompiledSchema,
    path: Vec<Seg<'s>>,
    out: &'o mut Vec<Diagnostic>,
}

impl<'s> Checker<'s, '_> {
    fn path_string(&self) -> String {
        render_path(&self.path)
    }

    /// The field path for messages: `spec.timeout`, or `document` at the top.
    fn here(&self) -> String {
        if self.path.is_empty() {
            "the document".to_string()
        } else {
            format!("`{}`", self.path_string())
        }
    }

    fn emit(&mut self, diag: Diagnostic) {
        let path = self.path_string();
        self.out.push(diag.with_path(path));
    }

    /// A finding with `code` at `span` for the current path whose message names
    /// `about`, if one was reported already.
    fn reported(&mut self, code: Code, span: Span, about: &str) -> Option<&mut Diagnostic> {
        let path = self.path_string();
        self.out.iter_mut().rev().find(|d| {
            d.code == code
                && d.span == Some(span)
                && d.path.as_deref() == Some(path.as_str())
                && d.message.contains(about)
        })
    }

    fn node<'n>(&mut self, ix: NodeIx, node: &'n Node, ctx: &Ctx<'_>)
    where
        'n: 's,
    {
        let schema = self.schema;
        let s = schema.node(ix);
        if s.never {
            let anchor = ctx.key_span.unwrap_or(node.span);
            self.emit(
                Diagnostic::new(
                    Code::FieldNotAllowed,
                    format!("{} is not allowed here", self.here()),
                )
                .at(anchor),
            );
            return;
        }
        if let Some(target) = s.reference {
            self.node(target, node, ctx);
        }
        if let Some(types) = s.types {
            if !type_matches(types, node) {
                self.wrong_type(types, s, node, ctx.key_span);
                return;
            }
        }
        if let Some(expected) = &s.const_value {
            if !equals(node, expected) {
                self.emit(
                    Diagnostic::new(
                        Code::InvalidConstValue,
                        format!(
                            "{} must be {}, found {}",
                            self.here(),
                            show_json(expected),
                            preview(node)
                        ),
                    )
                    .at(node.span),
                );
                return;
            }
        }
        if let Some(values) = &s.enum_values {
            if !values.iter().any(|v| equals(node, v)) {
                self.invalid_enum(values, node);
                return;
            }
        }
        match &node.value {
            Value::String(text) => self.string(s, node, text),
            Value::Int(_) | Value::Float(_) => self.number(s, node),
            Value::Seq(items) => self.array(s, node, items, ctx),
            Value::Map(_) => self.object(s, node, ctx),
            _ => {}
        }
        for &sub in &s.all_of {
            self.node(sub, node, ctx);
        }
        if let Some(disc) = &s.discriminator {
            self.tagged(disc, node, ctx);
        } else if !s.one_of.is_empty() {
            self.alternatives(&s.one_of, true, node, ctx);
        } else if !s.any_of.is_empty() {
            self.alternatives(&s.any_of, false, node, ctx);
        }
        if let Some((cond, then, otherwise)) = s.if_then_else {
            let branch = if self.trial(cond, node).is_empty() {
                then
            } else {
                otherwise
            };
            if let Some(branch) = branch {
                self.node(branch, node, ctx);
            }
        }
    }

    /// A value of the wrong type. A mapping or sequence is reported at its key, not across
    /// its (possibly many) lines.
    fn wrong_type(&mut self, types: Types, s: &SchemaNode, node: &Node, key_span: Option<Span>) {
        let expected = types.describe();
        let hint = type_hint(types, s.def_name.as_deref(), node);
        let found = match &node.value {
            Value::Null => "null (an empty value)".to_string(),
            Value::Seq(_) => "an array".to_string(),
            Value::Map(_) => "an object".to_string(),
            _ => format!("{} {}", node.type_name(), preview(node)),
        };
        self.emit(
            Diagnostic::new(
                Code::WrongType,
                format!(
                    "{} must be {} {}, found {}",
                    self.here(),
                    article(&expected),
                    expected,
                    found
                ),
            )
            .at(if matches!(node.value, Value::Map(_) | Value::Seq(_)) {
                key_span.unwrap_or(node.span)
            } else {
                node.span
            })
            .with_hint_opt(hint),
        );
    }

    fn invalid_enum(&mut self, values: &[Json], node: &Node) {
        let allowed: Vec<&str> = values.iter().filter_map(Json::as_str).collect();
        let list = values.iter().map(show_json).collect::<Vec<_>>().join(", ");
        let hint = node
            .as_str()
            .and_then(|found| suggest::did_you_mean(found, allowed.iter().copied()));
        let hint = match node.as_str() {
            Some(text) if text.contains("${") => Some(TEMPLATE_HINT.to_string()),
            _ => hint,
        };
        self.emit(
            Diagnostic::new(
                Code::InvalidEnum,
                format!(
                    "{} must be one of {list}; found {}",
                    self.here(),
                    preview(node)
                ),
            )
            .at(node.span)
            .with_hint_opt(hint),
        );
    }

    fn string(&mut self, s: &SchemaNode, node: &Node, text: &str) {
        let def = s.def_name.as_deref();
        let len = text.chars().count() as u64;
        let too_short = s.min_length.is_some_and(|min| len < min);
        let too_long = s.max_length.is_some_and(|max| len > max);
        let pattern_fails = s.pattern.as_ref().is_some_and(|p| !p.is_match(text));
        if (too_short || too_long || pattern_fails) && self.named_format(def, node, text) {
            return;
        }
        if too_short || too_long {
            let bound = if too_short {
                format!("at least {}", s.min_length.unwrap_or(0))
            } else {
                format!("at most {}", s.max_length.unwrap_or(0))
            };
            let message = if len == 0 {
                format!("{} must not be empty", self.here())
            } else {
                format!(
                    "{} is {len} characters long; it must be {bound}",
                    self.here()
                )
            };
            self.emit(Diagnostic::new(Code::InvalidLength, message).at(node.span));
            return;
        }
        if pattern_fails {
            let pattern = s.pattern.as_ref().map(|p| p.as_str()).unwrap_or_default();
            self.emit(
                Diagnostic::new(
                    Code::PatternMismatch,
                    format!(
                        "{} {} does not match the pattern `{pattern}`",
                        self.here(),
                        preview(node)
                    ),
                )
                .at(node.span)
                .with_hint_opt(text.contains("${").then(|| TEMPLATE_HINT.to_string())),
            );
            return;
        }
        if let Some(format) = &s.format {
            if !formats::is_valid(format, text) {
                let (code, what) = match format.as_str() {
                    "date-time" => (
                        Code::InvalidTimestamp,
                        "an RFC 3339 timestamp such as `2026-02-04T10:00:00Z`",
                    ),
                    "uri" => (
                        Code::InvalidFormat,
                        "an absolute URI such as `https://example.com/hook`",
                    ),
                    "uri-reference" => (Code::InvalidFormat, "a URI reference without spaces"),
                    "email" => (Code::InvalidFormat, "an e-mail address"),
                    "regex" => (Code::InvalidRegex, "a valid regular expression"),
                    _ => (Code::InvalidFormat, "valid"),
                };
                self.emit(
                    Diagnostic::new(
                        code,
                        format!("{} {} is not {what}", self.here(), preview(node)),
                    )
                    .at(node.span),
                );
                return;
            }
        }
        if def == Some("RegexPattern") {
            if let Err(error) = regex::Regex::new(text) {
                let reason = error
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("it does not compile")
                    .trim()
                    .to_string();
                self.emit(
                    Diagnostic::new(Code::InvalidRegex, format!("{} {} is not a valid regular expression: {reason}", self.here(), preview(node)))
                        .at(node.span)
                        .with_hint("PlanSpec uses Rust `regex` syntax (RE2-like): no look-around or backreferences"),
                );
                return;
            }
        }
        if matches!(def, Some("DnsLabel" | "NodeId"))
            && text.starts_with(|c: char| c.is_ascii_digit())
        {
            self.emit(
                Diagnostic::new(
                    Code::LeadingDigitName,
                    format!("{} {} starts with a digit", self.here(), preview(node)),
                )
                .at(node.span)
                .with_hint("some tools reject such names; start names with a letter"),
            );
        }
    }

    /// Reports a pattern or length failure of a named string type with its own code and
    /// advice. Returns false when `def` is not one of them.
    fn named_format(&mut self, def: Option<&str>, node: &Node, text: &str) -> bool {
        let here = self.here();
        let shown = preview(node);
        let diag = match def {
            Some("DnsLabel" | "NodeId") => {
                let what = if def == Some("NodeId") { "node id" } else { "name" };
                let fixed = suggest::dns_label(text);
                let mut hint = "use lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters".to_string();
                if !fixed.is_empty() && fixed != text {
                    hint = format!("{hint}; for example `{fixed}`");
                }
                Diagnostic::new(Code::InvalidDnsLabel, format!("{here} {shown} is not a valid {what} (DNS label)")).with_hint(hint)
            }
            Some("LabelKey") => Diagnostic::new(Code::InvalidLabelKey, format!("{here}: key {shown} is not a valid label key"))
                .with_hint("a label key is an optional DNS-subdomain prefix and `/`, then a name of at most 63 letters, digits, `-`, `_`, `.` starting and ending alphanumeric"),
            Some("LabelValue") => Diagnostic::new(Code::InvalidLabelValue, format!("{here} {shown} is not a valid label value"))
                .with_hint("at most 63 letters, digits, `-`, `_`, `.`, starting and ending alphanumeric (or empty)"),
            Some("Duration") => {
                Diagnostic::new(Code::InvalidDuration, format!("{here} {shown} is not a duration")).with_hint(
                    "write a Go-style duration such as `90s`, `45m` or `2h30m` (units ns, us, ms, s, m, h)",
                )
            }
            Some("OutputName") => Diagnostic::new(
                Code::LegacyOutputName,
                format!("{here} {shown} is not an output name of the form `^[a-z][a-z0-9_]*$`; kept as an opaque label"),
            )
            .with_hint(format!("write `{}`", output_name_fix(text))),
            Some("Digest") => Diagnostic::new(Code::InvalidFormat, format!("{here} {shown} is not a digest"))
                .with_hint("write `sha256:` followed by 64 lowercase hex digits"),
            Some("HashDigest") => Diagnostic::new(Code::InvalidFormat, format!("{here} {shown} is not a digest"))
                .with_hint("write `algorithm:hexdigest`, e.g. `sha256:…`"),
            _ => return false,
        };
        let diag = if text.contains("${") {
            diag.with_hint(TEMPLATE_HINT)
        } else {
            diag
        };
        self.emit(diag.at(node.span));
        true
    }

    fn number(&mut self, s: &SchemaNode, node: &Node) {
        let value = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => return,
        };
        let low = s
            .minimum
            .filter(|&m| value < m)
            .map(|m| format!("at least {}", fmt_num(m)));
        let low = low.or_else(|| {
            s.exclusive_minimum
                .filter(|&m| value <= m)
                .map(|m| format!("greater than {}", fmt_num(m)))
        });
        let high = s
            .maximum
            .filter(|&m| value > m)
            .map(|m| format!("at most {}", fmt_num(m)));
        let high = high.or_else(|| {
            s.exclusive_maximum
                .filter(|&m| value >= m)
                .map(|m| format!("less than {}", fmt_num(m)))
        });
        if let Some(bound) = low.or(high) {
            self.emit(
                Diagnostic::new(
                    Code::OutOfRange,
                    format!("{} is {}; it must be {bound}", self.here(), preview(node)),
                )
                .at(node.span),
            );
        }
    }

    fn array<'n>(&mut self, s: &SchemaNode, node: &'n Node, items: &'n [Node], ctx: &Ctx<'_>)
    where
        'n: 's,
    {
        let count = items.len() as u64;
        if let Some(min) = s.min_items.filter(|&m| count < m) {
            let anchor = ctx.key_span.unwrap_or(node.span);
            let message = if count == 0 {
                format!("{} must not be empty", self.here())
            } else {
                format!("{} has {count} items; it needs at least {min}", self.here())
            };
            self.emit(Diagnostic::new(Code::InvalidItemCount, message).at(anchor));
        }
        if let Some(max) = s.max_items.filter(|&m| count > m) {
            let anchor = ctx.key_span.unwrap_or(node.span);
            self.emit(
                Diagnostic::new(
                    Code::InvalidItemCount,
                    format!(
                        "{} has {count} items; at most {max} are allowed",
                        self.here()
                    ),
                )
                .at(anchor),
            );
        }
        if s.unique_items {
            let outputs = s.items.is_some_and(|i| {
                self.schema
                    .node(i)
                    .reference
                    .is_some_and(|r| self.schema.node(r).def_name.as_deref() == Some("OutputName"))
            });
            self.unique(
                items,
                if outputs {
                    Code::DuplicateOutput
                } else {
                    Code::DuplicateItem
                },
            );
        }
        if let Some(item_schema) = s.items {
            for (i, item) in items.iter().enumerate() {
                self.path.push(Seg::Index(i));
                self.node(item_schema, item, &Ctx::default());
                self.path.pop();
            }
        }
    }

    /// Reports repeated items, compared as JSON Schema does (object key order does not
    /// matter) by their canonical JSON text, so this stays linear in the number of items.
    fn unique(&mut self, items: &[Node], code: Code) {
        let mut seen: std::collections::HashMap<String, Span> =
            std::collections::HashMap::with_capacity(items.len());
        for item in items {
            let mut json = item.to_json();
            canonicalize(&mut json);
            let key = json.to_string();
            match seen.get(&key) {
                Some(&first) => self.emit(
                    Diagnostic::new(
                        code,
                        format!("{} lists {} twice", self.here(), preview(item)),
                    )
                    .at(item.span)
                    .with_related(first, "first listed here"),
                ),
                None => {
                    seen.insert(key, item.span);
                }
            }
        }
    }

    fn object<'n>(&mut self, s: &'s SchemaNode, node: &'n Node, ctx: &Ctx<'_>)
    where
        'n: 's,
    {
        let Some(entries) = node.as_map() else { return };
        let anchor = ctx
            .key_span
            .or_else(|| entries.first().map(|e| e.key_span))
            .unwrap_or(node.span);
        for required in &s.required {
            if node.entry(required).is_none() {
                let within = if self.path.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", self.here())
                };
                self.emit(
                    Diagnostic::new(
                        Code::MissingField,
                        format!("missing required field `{required}`{within}"),
                    )
                    .at(anchor),
                );
            }
        }
        for (name, deps) in &s.dependent_required {
            if node.entry(name).is_some() {
                for dep in deps.iter().filter(|d| node.entry(d).is_none()) {
                    let span = node.entry(name).map(|e| e.key_span).unwrap_or(anchor);
                    self.emit(
                        Diagnostic::new(
                            Code::DependentField,
                            format!("`{name}` requires `{dep}` to be set as well"),
                        )
                        .at(span),
                    );
                }
            }
        }
        let count = entries.len() as u64;
        if let Some(min) = s.min_properties.filter(|&m| count < m) {
            self.emit(
                Diagnostic::new(
                    Code::InvalidItemCount,
                    format!("{} needs at least {min} entries", self.here()),
                )
                .at(anchor),
            );
        }
        if let Some(max) = s.max_properties.filter(|&m| count > m) {
            self.emit(
                Diagnostic::new(
                    Code::InvalidItemCount,
                    format!(
                        "{} has {count} entries; at most {max} are allowed",
                        self.here()
                    ),
                )
                .at(anchor),
            );
        }
        for entry in entries {
            if let Some(names) = s.property_names {
                let key_node = Node::new(entry.key_span, Value::String(entry.key.clone()));
                let mut found = Vec::new();
                Checker {
                    schema: self.schema,
                    path: self.path.clone(),
                    out: &mut found,
                }
                .node(names, &key_node, &Ctx::default());
                self.out.extend(found);
            }
            self.path.push(Seg::Key(&entry.key));
            let child_ctx = Ctx {
                key_span: Some(entry.key_span),
                variant: None,
            };
            if let Some(prop) = s.property(&entry.key) {
                self.node(prop, &entry.value, &child_ctx);
            } else {
                match s.additional {
                    Additional::Allowed => {}
                    Additional::Schema(sub) => self.node(sub, &entry.value, &child_ctx),
                    Additional::Denied => {
                        self.unknown_field(s, entry.key.as_str(), entry.key_span, ctx)
                    }
                }
            }
            self.path.pop();
        }
    }

    /// Reports a key the schema does not declare. The key is already on `self.path`.
    fn unknown_field(&mut self, s: &SchemaNode, key: &str, span: Span, ctx: &Ctx<'_>) {
        let parent = &self.path[..self.path.len().saturating_sub(1)];
        let owner = if parent.is_empty() {
            "the document".to_string()
        } else {
            format!("`{}`", render_path(parent))
        };
        if let Some(variant) = ctx.variant {
            if let Some((_, tags)) = variant.foreign.iter().find(|(field, _)| *field == key) {
                let owners = tags
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.emit(
                    Diagnostic::new(
                        Code::FieldNotAllowed,
                        format!(
                            "field `{key}` is not allowed in {owner} when `{}` is `{}`",
                            variant.tag_property, variant.tag
                        ),
                    )
                    .at(span)
                    .with_hint(format!(
                        "`{key}` belongs to {owners}; remove it or change `{}`",
                        variant.tag_property
                    )),
                );
                return;
            }
        }
        let hint = suggest::did_you_mean(key, s.properties.iter().map(|(k, _)| k.as_str()));
        self.emit(
            Diagnostic::new(
                Code::UnknownField,
                format!("unknown field `{key}` in {owner}"),
            )
            .at(span)
            .with_hint_opt(hint),
        );
    }

    fn tagged<'n>(&mut self, disc: &'s super::compile::Discriminator, node: &'n Node, ctx: &Ctx<'_>)
    where
        'n: 's,
    {
        if node.as_map().is_none() {
            return;
        }
        let tags: Vec<&str> = disc.branches.iter().map(|(t, _)| t.as_str()).collect();
        let Some(tag_node) = node.get(&disc.property) else {
            let anchor = ctx
                .key_span
                .or_else(|| node.as_map().and_then(|e| e.first()).map(|e| e.key_span))
                .unwrap_or(node.span);
            let hint = format!("set `{}` to one of {}", disc.property, quote_list(&tags));
            // A union that also requires the tag itself has reported it already.
            let about = format!("`{}`", disc.property);
            if let Some(earlier) = self.reported(Code::MissingField, anchor, &about) {
                earlier.hint.get_or_insert(hint);
                return;
            }
            self.emit(
                Diagnostic::new(
                    Code::MissingField,
                    format!("missing required field `{}`", disc.property),
                )
                .at(anchor)
                .with_hint(hint),
            );
            return;
        };
        let Some(tag) = tag_node.as_str() else {
            return; // the property's own schema reports the type
        };
        let Some(&(_, branch)) = disc.branches.iter().find(|(t, _)| t == tag) else {
            self.path.push(Seg::Key(&disc.property));
            // A union that also declares the tag's values has reported it already.
            if self
                .reported(Code::InvalidEnum, tag_node.span, &format!("`{tag}`"))
                .is_some()
            {
                self.path.pop();
                return;
            }
            self.emit(
                Diagnostic::new(
                    Code::InvalidEnum,
                    format!(
                        "{} must be one of {}; found `{tag}`",
                        self.here(),
                        quote_list(&tags)
                    ),
                )
                .at(tag_node.span)
                .with_hint_opt(suggest::did_you_mean(tag, tags.iter().copied())),
            );
            self.path.pop();
            return;
        };
        let own = self.schema.declared_properties(branch);
        let mut foreign: Vec<(&str, Vec<&str>)> = Vec::new();
        for (other_tag, other) in &disc.branches {
            if *other == branch {
                continue;
            }
            for field in self.schema.declared_properties(*other) {
                if own.contains(&field) {
                    continue;
                }
                match foreign.iter_mut().find(|(f, _)| *f == field) {
                    Some((_, owners)) => owners.push(other_tag),
                    None => foreign.push((field, vec![other_tag.as_str()])),
                }
            }
        }
        let variant = Variant {
            tag_property: &disc.property,
            tag,
            foreign,
        };
        let branch_ctx = Ctx {
            key_span: ctx.key_span,
            variant: Some(&variant),
        };
        self.node(branch, node, &branch_ctx);
    }

    /// `oneOf` (exactly one) or `anyOf` (at least one) without a tag to pick by.
    fn alternatives<'n>(
        &mut self,
        branches: &[NodeIx],
        exactly_one: bool,
        node: &'n Node,
        ctx: &Ctx<'_>,
    ) where
        'n: 's,
    {
        let trials: Vec<Vec<Diagnostic>> = branches.iter().map(|&b| self.trial(b, node)).collect();
        let matching: Vec<usize> = (0..trials.len())
            .filter(|&i| !is_mismatch(&trials[i]))
            .collect();
        if matching.len() == 1 || (!exactly_one && !matching.is_empty()) {
            let mut kept = trials.into_iter().nth(matching[0]).unwrap_or_default();
            kept.retain(|d| d.severity == Severity::Warning);
            self.out.extend(kept);
            return;
        }
        let anchor = ctx.key_span.unwrap_or(node.span);
        let shapes: Vec<String> = branches.iter().map(|&b| self.describe_shape(b)).collect();
        if matching.len() > 1 {
            let which = matching
                .iter()
                .map(|&i| shapes[i].clone())
                .collect::<Vec<_>>()
                .join(" and ");
            self.emit(
                Diagnostic::new(
                    Code::AmbiguousShape,
                    format!(
                        "{} matches more than one allowed shape: {which}",
                        self.here()
                    ),
                )
                .at(anchor)
                .with_hint("remove the fields that make it ambiguous"),
            );
            return;
        }
        // Nothing matched. If one branch is clearly closest (it only has errors below the
        // top level, e.g. a bad value inside a well-formed reference), report its errors.
        let best = (0..trials.len())
            .min_by_key(|&i| trials[i].iter().filter(|d| counts_as_mismatch(d)).count());
        if let Some(best) = best {
            let here = self.path_string();
            // An unknown or foreign field of this object is reported at `here.key`: it is
            // a top-level mismatch (the value has a field no shape allows), not a nested one.
            let own_field = |path: &str| {
                let key = if here.is_empty() {
                    Some(path)
                } else {
                    path.strip_prefix(here.as_str())
                        .and_then(|rest| rest.strip_prefix('.'))
                };
                key.is_some_and(|key| node.entry(key).is_some())
            };
            let top_level_ok = trials[best].iter().all(|d| {
                let nested = d.path.as_deref().is_some_and(|p| p.len() > here.len() + 1);
                match d.code {
                    Code::MissingField | Code::WrongType => nested,
                    Code::UnknownField | Code::FieldNotAllowed => {
                        nested && !d.path.as_deref().is_some_and(own_field)
                    }
                    _ => true,
                }
            });
            if top_level_ok {
                let found = trials.into_iter().nth(best).unwrap_or_default();
                self.out.extend(found);
                return;
            }
        }
        let list = shapes.join(", ");
        self.emit(
            Diagnostic::new(
                Code::AmbiguousShape,
                format!("{} matches none of the allowed shapes", self.here()),
            )
            .at(anchor)
            .with_hint(format!("use exactly one of: {list}")),
        );
    }

    /// Checks `node` against `branch` without reporting; returns what it would have reported.
    fn trial<'n>(&mut self, branch: NodeIx, node: &'n Node) -> Vec<Diagnostic>
    where
        'n: 's,
    {
        let mut found = Vec::new();
        let mut sub = Checker {
            schema: self.schema,
            path: self.path.clone(),
            out: &mut found,
        };
        sub.node(branch, node, &Ctx::default());
        found
    }

    /// `{planRef, nodeId}` — the required fields of a branch, for messages.
    fn describe_shape(&self, branch: NodeIx) -> String {
        let s = self.schema.node(self.schema.resolve(branch));
        if !s.required.is_empty() {
            format!("{{{}}}", s.required.join(", "))
        } else if let Some(types) = s.types {
            types.describe()
        } else {
            "…".to_string()
        }
    }
}

/// Advice for a value of the wrong type, when there is something specific to say.
fn type_hint(types: Types, def: Option<&str>, node: &Node) -> Option<String> {
    let expected = types.describe();
    match (&node.value, expected.as_str()) {
        (Value::String(text), _) if text.contains("${") => Some(TEMPLATE_HINT.to_string()),
        (Value::String(text), "boolean")
            if YAML11_BOOLEANS.contains(&text.to_ascii_lowercase().as_str()) =>
        {
            Some(
                "YAML 1.2 reads `yes`/`no`/`on`/`off` as strings; write `true` or `false`"
                    .to_string(),
            )
        }
        (Value::String(text), _)
            if types.contains(Types::INTEGER) && text.trim().parse::<f64>().is_ok() =>
        {
            Some(format!("remove the quotes: {}", text.trim()))
        }
        (Value::Int(_) | Value::Float(_), "string") if def == Some("Duration") => Some(format!(
            "a duration needs a unit, e.g. `{}s` or `{}m`",
            scalar_text(node),
            scalar_text(node)
        )),
        (Value::Float(f), "string") => Some(format!(
            "quote it to make it a string; unquoted, YAML reads it as the number {f}"
        )),
        (Value::Int(_) | Value::Bool(_), "string") => Some(format!(
            "quote it to make it a string: \"{}\"",
            scalar_text(node)
        )),
        (Value::String(name), "object")
            if def.is_some_and(|d| d.ends_with("Ref") || d.ends_with("Reference")) =>
        {
            Some(format!(
                "write a reference as a mapping: `{{name: {name}}}`"
            ))
        }
        (_, "array") => Some("write a list, e.g. `[a, b]` or one `- item` per line".to_string()),
        _ => None,
    }
}

/// The hint for values that still hold `${VAR}` template placeholders.
const TEMPLATE_HINT: &str =
    "this looks like a template placeholder: render the template before validating";

/// Words YAML 1.1 read as booleans and YAML 1.2 reads as strings.
const YAML11_BOOLEANS: &[&str] = &["yes", "no", "on", "off", "y", "n"];

/// Sorts object keys recursively so equal values print equally.
fn canonicalize(value: &mut Json) {
    match value {
        Json::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(canonicalize);
        }
        Json::Array(items) => items.iter_mut().for_each(canonicalize),
        _ => {}
    }
}

/// `spec.graph.nodes[3].id`.
fn render_path(path: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

fn is_mismatch(found: &[Diagnostic]) -> bool {
    found.iter().any(counts_as_mismatch)
}

/// In a trial, an unknown field means "this is not that shape", not just a warning.
fn counts_as_mismatch(d: &Diagnostic) -> bool {
    d.severity == Severity::Error || d.code == Code::UnknownField
}

fn type_matches(types: Types, node: &Node) -> bool {
    match &node.value {
        Value::Null => types.contains(Types::NULL),
        Value::Bool(_) => types.contains(Types::BOOLEAN),
        Value::Int(_) => types.contains(Types::INTEGER) || types.contains(Types::NUMBER),
        Value::Float(f) => {
            types.contains(Types::NUMBER) || (types.contains(Types::INTEGER) && f.fract() == 0.0)
        }
        Value::String(_) => types.contains(Types::STRING),
        Value::Seq(_) => types.contains(Types::ARRAY),
        Value::Map(_) => types.contains(Types::OBJECT),
    }
}

fn equals(node: &Node, expected: &Json) -> bool {
    match (&node.value, expected) {
        (Value::String(a), Json::String(b)) => a == b,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Null, Json::Null) => true,
        (Value::Int(a), Json::Number(b)) => b.as_f64() == Some(*a as f64),
        (Value::Float(a), Json::Number(b)) => b.as_f64() == Some(*a),
        _ => node.to_json() == *expected,
    }
}

/// A short rendering of a value for messages.
pub(crate) fn preview(node: &Node) -> String {
    match &node.value {
        Value::String(s) => {
            let short: String = s.chars().take(60).collect();
            if short.len() < s.len() {
                format!("`{short}…`")
            } else {
                format!("`{short}`")
            }
        }
        Value::Seq(_) => "an array".to_string(),
        Value::Map(_) => "an object".to_string(),
        _ => format!("`{}`", scalar_text(node)),
    }
}

fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn show_json(value: &Json) -> String {
    match value {
        Json::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn output_name_fix(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        format!("out_{out}")
    } else {
        out
    }
}
