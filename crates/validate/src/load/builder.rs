//! Turns the parser's event stream for one document into a [`Node`] tree.
//!
//! The tree is built with an explicit stack of open collections ([`Frame`]s), so the
//! nesting depth of the input never touches the call stack.
//!
//! Anchors are *not* copied when they are defined: the builder remembers where the
//! anchored node went ([`Place`]) and copies it only when an alias needs it. Each copy is
//! counted against [`Limits::max_alias_nodes`] before it is made, so a "billion laughs"
//! document fails after at most that many nodes were copied.
//!
//! [`Limits::max_alias_nodes`]: super::Limits::max_alias_nodes

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, ScalarStyle, Span as EventSpan, Tag};

use super::offsets::CharOffsets;
use super::scalar::{self, CoreTag, TagKind};
use super::text;
use super::Limits;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::{SourceId, Span};
use crate::tree::{Entry, Node, Value};

/// Mappings with more entries than this look keys up in a hash index.
const INDEX_THRESHOLD: usize = 16;

/// What the builder needs to know about the text being parsed.
pub(super) struct Ctx<'t> {
    pub id: SourceId,
    pub text: &'t str,
    pub offsets: &'t CharOffsets<'t>,
    /// Characters before the text the current parser reads (after a resync).
    pub char_base: usize,
    pub limits: &'t Limits,
}

impl Ctx<'_> {
    /// Byte offset of a parser position.
    pub fn byte(&self, mark: Marker) -> usize {
        self.offsets.byte(self.char_base + mark.index())
    }

    /// A span of this source.
    pub fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.id, start, end)
    }

    /// A span covering the character at `pos` (empty at the end of the text).
    pub fn char_span(&self, pos: usize) -> Span {
        self.span(pos, pos + text::char_len_at(self.text, pos))
    }
}

/// The result of feeding one event to the builder.
#[derive(Debug)]
pub(super) enum Step {
    /// The document is not complete yet.
    Continue,
    /// The document's root node is complete.
    Root(Node),
    /// The document is empty (no content at all).
    Empty,
}

/// Where an anchored node (or a collection holding anchors) ended up.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// Child `index` of the collection built by the frame with this serial number.
    Child { frame: u64, index: usize },
    /// `detached[k]`: a node that is not part of the tree (a key, a dropped duplicate,
    /// a merge source).
    Detached(usize),
}

/// A collection being built.
struct Frame {
    /// Identifies the frame in [`Place::Child`]; increases with every frame opened, so
    /// the stack is sorted by it.
    serial: u64,
    /// Byte offset where the collection's content starts.
    start: usize,
    /// Largest end offset seen so far.
    end: usize,
    /// Anchor id (0: none).
    anchor: usize,
    /// Whether some node inside has an anchor.
    has_anchors: bool,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map(MapFrame),
}

struct MapFrame {
    entries: Vec<Entry>,
    /// Key → entry index, once the mapping is large.
    index: Option<HashMap<String, usize>>,
    pending: Pending,
    /// Values of `<<` merge keys, applied when the mapping ends.
    merges: Vec<MergeSource>,
}

/// What the next complete node of a mapping is.
enum Pending {
    Key,
    Value {
        key: String,
        key_span: Span,
    },
    /// The value of a duplicate or unsupported key: parsed, then dropped.
    Skip,
    /// The value of a `<<` merge key.
    Merge,
}

enum MergeSource {
    Owned(Node),
    /// A merge value holding anchors, kept in `detached` so aliases can find them.
    Detached(usize),
}

/// How a complete node reads as a mapping key.
enum KeySource {
    /// A scalar: the key text.
    Text(String),
    /// The plain, untagged scalar `<<`.
    Merge,
    /// An alias: the key comes from the (scalar) value.
    FromValue,
    /// A sequence or mapping.
    Collection,
}

/// A node just completed, before it is attached to its parent.
struct Done {
    node: Node,
    anchor: usize,
    /// The frame serial of a collection that holds anchors.
    anchors_inside: Option<u64>,
    key: KeySource,
    /// An empty, untagged, unanchored plain scalar (an empty document).
    empty: bool,
}

impl Done {
    fn needs_place(&self) -> bool {
        self.anchor != 0 || self.anchors_inside.is_some()
    }
}

/// The parts of a scalar event.
struct ScalarEvent<'e> {
    value: Cow<'e, str>,
    style: ScalarStyle,
    anchor: usize,
    tag: Option<&'e Tag>,
}

/// Builds the tree of one document at a time.
#[derive(Default)]
pub(super) struct DocBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Place>,
    closed: HashMap<u64, Place>,
    detached: Vec<Node>,
    next_serial: u64,
    /// Nodes copied by alias expansion in this document.
    alias_nodes: usize,
    /// End of the previous event, to find block scalar headers.
    prev_end: usize,
}

type Fatal = Box<Diagnostic>;

impl DocBuilder {
    /// Forgets the previous document.
    pub fn reset(&mut self, doc_start: usize) {
        self.stack.clear();
        self.anchors.clear();
        self.closed.clear();
        self.detached.clear();
        // `alias_nodes` is not reset: the budget covers the whole input, so splitting a
        // bomb across many documents gains nothing.
        self.prev_end = doc_start;
    }

    /// Feeds one event. An `Err` is a finding that stops the document.
    pub fn event(
        &mut self,
        ctx: &Ctx<'_>,
        event: Event<'_>,
        span: EventSpan,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<Step, Fatal> {
        let done = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let event = ScalarEvent {
                    value,
                    style,
                    anchor,
                    tag: tag.as_deref(),
                };
                self.scalar(ctx, event, span, diags)
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(ctx, false, anchor, tag.as_deref(), span, diags)?;
                return Ok(Step::Continue);
            }
            Event::MappingStart(anchor, tag) => {
                self.open(ctx, true, anchor, tag.as_deref(), span, diags)?;
                return Ok(Step::Continue);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(ctx, span, diags)?,
            Event::Alias(id) => self.alias(ctx, id, span)?,
            _ => return Ok(Step::Continue),
        };
        self.prev_end = ctx.byte(span.end);
        Ok(self.attach(done, diags))
    }

    // ----- scalars -------------------------------------------------------------------

    fn scalar(
        &mut self,
        ctx: &Ctx<'_>,
        event: ScalarEvent<'_>,
        span: EventSpan,
        diags: &mut Vec<Diagnostic>,
    ) -> Done {
        let ScalarEvent {
            value,
            style,
            anchor,
            tag,
        } = event;
        let (start, tag_span) = self.scalar_start(ctx, style, anchor, tag.is_some(), span);
        let mut end = ctx.byte(span.end).max(start);
        if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
            end = text::trim_end(ctx.text, start, end);
        }
        let node_span = ctx.span(start, end);
        let tag_span = tag_span.map_or(node_span, |(s, e)| ctx.span(s, e));
        let plain = style == ScalarStyle::Plain;
        let kind = tag.map(scalar::classify);
        // A key without anchor or tag needs no value: skip resolving it.
        let resolved = if anchor == 0 && kind.is_none() && self.expects_key() {
            Value::Null
        } else {
            resolve_scalar(ctx, &value, plain, kind, tag_span, diags)
        };
        let untagged_plain = plain && kind.is_none();
        Done {
            node: Node::new(node_span, resolved),
            anchor,
            anchors_inside: None,
            empty: untagged_plain && anchor == 0 && value.is_empty(),
            key: scalar_key(value, untagged_plain),
        }
    }

    /// Start of a scalar's token (after its properties; at the `|`/`>` of a block
    /// scalar) and the span of its tag.
    fn scalar_start(
        &self,
        ctx: &Ctx<'_>,
        style: ScalarStyle,
        anchor: usize,
        tagged: bool,
        span: EventSpan,
    ) -> (usize, Option<(usize, usize)>) {
        let start = ctx.byte(span.start);
        let end = ctx.byte(span.end);
        let mut tag_span = None;
        let mut content = start;
        if anchor != 0 || tagged {
            let props = text::props(ctx.text, start, end);
            tag_span = props.tag;
            if props.content < end {
                content = props.content;
            }
        }
        // Without properties a block scalar's event starts at its content: find the
        // `|`/`>` header between the previous token and the content.
        let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
        if block && content == start {
            let from = self.prev_end.min(content);
            if let Some(header) = text::block_scalar_header(ctx.text, from, content) {
                content = header;
            }
        }
        (content, tag_span)
    }

    fn expects_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                kind: FrameKind::Map(MapFrame {
                    pending: Pending::Key,
                    ..
                }),
                ..
            })
        )
    }

    // ----- collections ---------------------------------------------------------------

    fn open(
        &mut self,
        ctx: &Ctx<'_>,
        is_map: bool,
        anchor: usize,
        tag: Option<&Tag>,
        span: EventSpan,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<(), Fatal> {
        let raw_start = ctx.byte(span.start);
        let raw_end = ctx.byte(span.end).max(raw_start);
        let props = if anchor != 0 || tag.is_some() {
            text::props(ctx.text, raw_start, raw_end)
        } else {
            text::Props {
                content: raw_start,
                tag: None,
            }
        };
        let start = props.content;
        if self.stack.len() >= ctx.limits.max_depth {
            return Err(Box::new(too_deep(ctx, ctx.char_span(start))));
        }
        if let Some(tag) = tag {
            let tag_span = props
                .tag
                .map_or_else(|| ctx.char_span(start), |(s, e)| ctx.span(s, e));
            check_collection_tag(ctx, tag, is_map, tag_span, diags);
        }
        let kind = if is_map {
            FrameKind::Map(MapFrame {
                entries: Vec::new(),
                index: None,
                pending: Pending::Key,
                merges: Vec::new(),
            })
        } else {
            FrameKind::Seq(Vec::new())
        };
        self.stack.push(Frame {
            serial: self.next_serial,
            start,
            end: raw_end.max(start),
            anchor,
            has_anchors: false,
            kind,
        });
        self.next_serial += 1;
        self.prev_end = raw_end;
        Ok(())
    }

    fn close(
        &mut self,
        ctx: &Ctx<'_>,
        span: EventSpan,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<Done, Fatal> {
        let Some(frame) = self.stack.pop() else {
            return Err(Box::new(internal(
                ctx,
                "a collection ended that never started",
            )));
        };
        let token_start = ctx.byte(span.start);
        let token_end = ctx.byte(span.end);
        // Flow collections end with a `]`/`}` token; block collections end with their
        // last child (their end event sits wherever the next token is).
        let end = if token_end > token_start {
            token_end.max(frame.end)
        } else {
            frame.end
        };
        let value = match frame.kind {
            FrameKind::Seq(items) => Value::Seq(items),
            FrameKind::Map(map) => Value::Map(self.finish_map(ctx, map, diags)?),
        };
        Ok(Done {
            node: Node::new(ctx.span(frame.start, end), value),
            anchor: frame.anchor,
            anchors_inside: frame.has_anchors.then_some(frame.serial),
            key: KeySource::Collection,
            empty: false,
        })
    }

    /// Applies the `<<` merges of a mapping: merged keys never override explicit ones,
    /// and earlier merge sources win over later ones.
    fn finish_map(
        &mut self,
        ctx: &Ctx<'_>,
        mut map: MapFrame,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<Vec<Entry>, Fatal> {
        for source in std::mem::take(&mut map.merges) {
            let node = match source {
                MergeSource::Owned(node) => node,
                MergeSource::Detached(k) => {
                    let Some(node) = self.detached.get(k) else {
                        return Err(Box::new(internal(ctx, "a merge source went missing")));
                    };
                    let count = self.check_copy(ctx, node, node.span)?;
                    let node = node.clone();
                    self.alias_nodes += count;
                    node
                }
            };
            match node.value {
                Value::Map(entries) => merge_entries(&mut map, entries),
                Value::Seq(items) => {
                    for item in items {
                        match item.value {
                            Value::Map(entries) => merge_entries(&mut map, entries),
                            _ => diags.push(bad_merge(item.span)),
                        }
                    }
                }
                _ => diags.push(bad_merge(node.span)),
            }
        }
        Ok(map.entries)
    }

    // ----- aliases -------------------------------------------------------------------

    fn alias(&mut self, ctx: &Ctx<'_>, id: usize, span: EventSpan) -> Result<Done, Fatal> {
        let start = ctx.byte(span.start);
        let alias_span = ctx.span(start, ctx.byte(span.end));
        let name = text::alias_name_at(ctx.text, start).unwrap_or("?");
        let Some(&place) = self.anchors.get(&id) else {
            let message = if self.stack.iter().any(|f| f.anchor == id) {
                format!("alias `*{name}` refers to a node that contains it (a recursive alias)")
            } else {
                format!(
                    "alias `*{name}` refers to an anchor of another document; \
                     anchors apply only within their own document"
                )
            };
            return Err(Box::new(
                Diagnostic::new(Code::Syntax, message).at(alias_span),
            ));
        };
        let Some(target) = self.resolve(place) else {
            return Err(Box::new(internal(ctx, "an anchored node went missing")));
        };
        let count = self.check_copy(ctx, target, alias_span)?;
        let mut node = target.clone();
        self.alias_nodes += count;
        node.span = alias_span;
        Ok(Done {
            node,
            anchor: 0,
            anchors_inside: None,
            key: KeySource::FromValue,
            empty: false,
        })
    }

    /// Checks, before it is made, that a copy of `original` fits the alias budget and the
    /// depth limit; returns the number of nodes the copy adds.
    fn check_copy(&self, ctx: &Ctx<'_>, original: &Node, at: Span) -> Result<usize, Fatal> {
        let limit = ctx.limits.max_alias_nodes;
        let left = limit.saturating_sub(self.alias_nodes);
        let (count, height) = measure(original, left);
        if count > left {
            return Err(Box::new(
                Diagnostic::new(
                    Code::AliasLimit,
                    format!(
                        "expanding this alias would copy more than {limit} nodes into this \
                         input; the rest of this document was not read"
                    ),
                )
                .at(at)
                .with_hint(
                    "aliases that refer to aliases multiply in size (\"billion laughs\"); \
                     write the values out, or reference them fewer times",
                ),
            ));
        }
        if self.stack.len() + height > ctx.limits.max_depth {
            return Err(Box::new(too_deep(ctx, at)));
        }
        Ok(count)
    }

    /// The node at `place`, following closed frames up to an open one.
    fn resolve(&self, mut place: Place) -> Option<&Node> {
        let mut path = Vec::new();
        let base = loop {
            match place {
                Place::Detached(k) => break self.detached.get(k)?,
                Place::Child { frame, index } => {
                    if let Ok(pos) = self.stack.binary_search_by_key(&frame, |f| f.serial) {
                        break frame_child(&self.stack[pos], index)?;
                    }
                    path.push(index);
                    place = *self.closed.get(&frame)?;
                }
            }
        };
        path.iter()
            .rev()
            .try_fold(base, |node, &i| node_child(node, i))
    }

    // ----- attaching complete nodes --------------------------------------------------

    fn attach(&mut self, done: Done, diags: &mut Vec<Diagnostic>) -> Step {
        let Some(frame) = self.stack.last_mut() else {
            return if done.empty {
                Step::Empty
            } else {
                Step::Root(done.node)
            };
        };
        frame.has_anchors |= done.needs_place();
        let serial = frame.serial;
        let (anchor, inside) = (done.anchor, done.anchors_inside);
        let index = match &mut frame.kind {
            FrameKind::Seq(items) => {
                items.push(done.node);
                items.len() - 1
            }
            FrameKind::Map(map) => match std::mem::replace(&mut map.pending, Pending::Key) {
                Pending::Key => return self.attach_key(done, diags),
                Pending::Merge => return self.attach_merge(done, diags),
                Pending::Skip => {
                    self.extend_top(done.node.span.end as usize);
                    self.keep_if_needed(done);
                    return Step::Continue;
                }
                Pending::Value { key, key_span } => {
                    let value = done.node;
                    push_entry(
                        map,
                        Entry {
                            key,
                            key_span,
                            value,
                        },
                    );
                    map.entries.len() - 1
                }
            },
        };
        if let Some(node) = frame_child(frame, index) {
            frame.end = frame.end.max(node.span.end as usize);
        }
        self.record(
            Place::Child {
                frame: serial,
                index,
            },
            anchor,
            inside,
        );
        Step::Continue
    }

    /// A complete node in key position: becomes the pending key of the mapping.
    fn attach_key(&mut self, done: Done, diags: &mut Vec<Diagnostic>) -> Step {
        let key_span = done.node.span;
        self.extend_top(key_span.end as usize);
        let key = match &done.key {
            KeySource::Merge => {
                self.set_pending(Pending::Merge);
                self.keep_if_needed(done);
                return Step::Continue;
            }
            KeySource::Text(text) => Some(text.clone()),
            KeySource::FromValue => scalar::key_text(&done.node.value),
            KeySource::Collection => None,
        };
        let pending = match key {
            None => {
                diags.push(unsupported_key(&done.node));
                Pending::Skip
            }
            Some(key) => match self.find_key(&key) {
                Some(first) => {
                    diags.push(duplicate_key(&key, key_span, first, self.path_to_top()));
                    Pending::Skip
                }
                None => Pending::Value { key, key_span },
            },
        };
        self.set_pending(pending);
        self.keep_if_needed(done);
        Step::Continue
    }

    /// The span of `key` if the innermost mapping already has it.
    fn find_key(&self, key: &str) -> Option<Span> {
        match self.stack.last() {
            Some(Frame {
                kind: FrameKind::Map(map),
                ..
            }) => find_entry(map, key).map(|i| map.entries[i].key_span),
            _ => None,
        }
    }

    fn set_pending(&mut self, pending: Pending) {
        if let Some(Frame {
            kind: FrameKind::Map(map),
            ..
        }) = self.stack.last_mut()
        {
            map.pending = pending;
        }
    }

    /// The value of a `<<` key.
    fn attach_merge(&mut self, done: Done, diags: &mut Vec<Diagnostic>) -> Step {
        self.extend_top(done.node.span.end as usize);
        if !matches!(done.node.value, Value::Map(_) | Value::Seq(_)) {
            diags.push(bad_merge(done.node.span));
            self.keep_if_needed(done);
            return Step::Continue;
        }
        let source = if done.needs_place() {
            MergeSource::Detached(self.detach(done))
        } else {
            MergeSource::Owned(done.node)
        };
        if let Some(Frame {
            kind: FrameKind::Map(map),
            ..
        }) = self.stack.last_mut()
        {
            map.merges.push(source);
        }
        Step::Continue
    }

    /// Widens the innermost open collection's span to `end`.
    fn extend_top(&mut self, end: usize) {
        if let Some(frame) = self.stack.last_mut() {
            frame.end = frame.end.max(end);
        }
    }

    /// Keeps a node that is not part of the tree if an alias might refer into it.
    fn keep_if_needed(&mut self, done: Done) {
        if done.needs_place() {
            self.detach(done);
        }
    }

    /// Stores a node outside the tree and records where its anchors are.
    fn detach(&mut self, done: Done) -> usize {
        let k = self.detached.len();
        self.detached.push(done.node);
        self.record(Place::Detached(k), done.anchor, done.anchors_inside);
        k
    }

    fn record(&mut self, place: Place, anchor: usize, inside: Option<u64>) {
        if anchor != 0 {
            self.anchors.insert(anchor, place);
        }
        if let Some(serial) = inside {
            self.closed.insert(serial, place);
        }
    }

    /// The field path of the innermost open collection: `spec.graph.nodes[3]`.
    fn path_to_top(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack[..self.stack.len().saturating_sub(1)] {
            match &frame.kind {
                FrameKind::Seq(items) => path.push_str(&format!("[{}]", items.len())),
                FrameKind::Map(MapFrame {
                    pending: Pending::Value { key, .. },
                    ..
                }) => push_key(&mut path, key),
                FrameKind::Map(_) => {}
            }
        }
        path
    }
}

/// The value of a scalar: resolved by the core schema or its tag.
fn resolve_scalar(
    ctx: &Ctx<'_>,
    text: &str,
    plain: bool,
    tag: Option<TagKind>,
    tag_span: Span,
    diags: &mut Vec<Diagnostic>,
) -> Value {
    let untagged = || {
        if plain {
            scalar::resolve_plain(text)
        } else {
            Value::String(text.to_owned())
        }
    };
    match tag {
        None => untagged(),
        Some(TagKind::NonSpecific) => Value::String(text.to_owned()),
        Some(TagKind::Core(core)) => scalar::apply_core_tag(core, text).unwrap_or_else(|| {
            diags.push(tag_mismatch(core, tag_span, text));
            untagged()
        }),
        Some(TagKind::Other) => {
            diags.push(unknown_tag(ctx, tag_span));
            untagged()
        }
    }
}

/// How a scalar reads as a mapping key: as written, except that a plain null is `""`
/// and a plain `<<` is a merge key.
fn scalar_key(text: Cow<'_, str>, untagged_plain: bool) -> KeySource {
    if untagged_plain && text == "<<" {
        KeySource::Merge
    } else if untagged_plain && (text.is_empty() || scalar::is_null(&text)) {
        KeySource::Text(String::new())
    } else {
        KeySource::Text(text.into_owned())
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn frame_child(frame: &Frame, index: usize) -> Option<&Node> {
    match &frame.kind {
        FrameKind::Seq(items) => items.get(index),
        FrameKind::Map(map) => map.entries.get(index).map(|e| &e.value),
    }
}

fn node_child(node: &Node, index: usize) -> Option<&Node> {
    match &node.value {
        Value::Seq(items) => items.get(index),
        Value::Map(entries) => entries.get(index).map(|e| &e.value),
        _ => None,
    }
}

/// Number of nodes in `node` (counting stops once it exceeds `limit`) and its height
/// (0 for a scalar, 1 for a collection of scalars …).
fn measure(node: &Node, limit: usize) -> (usize, usize) {
    let mut count = 0;
    let mut height = 0;
    let mut todo = vec![(node, 0usize)];
    while let Some((node, depth)) = todo.pop() {
        count += 1;
        if count > limit {
            break;
        }
        match &node.value {
            Value::Seq(items) => {
                height = height.max(depth + 1);
                todo.extend(items.iter().map(|n| (n, depth + 1)));
            }
            Value::Map(entries) => {
                height = height.max(depth + 1);
                todo.extend(entries.iter().map(|e| (&e.value, depth + 1)));
            }
            _ => {}
        }
    }
    (count, height)
}

fn find_entry(map: &MapFrame, key: &str) -> Option<usize> {
    match &map.index {
        Some(index) => index.get(key).copied(),
        None => map.entries.iter().position(|e| e.key == key),
    }
}

fn push_entry(map: &mut MapFrame, entry: Entry) {
    let i = map.entries.len();
    if let Some(index) = &mut map.index {
        index.insert(entry.key.clone(), i);
    } else if i >= INDEX_THRESHOLD {
        let mut index: HashMap<String, usize> = map
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        index.insert(entry.key.clone(), i);
        map.index = Some(index);
    }
    map.entries.push(entry);
}

fn merge_entries(map: &mut MapFrame, entries: Vec<Entry>) {
    for entry in entries {
        if find_entry(map, &entry.key).is_none() {
            push_entry(map, entry);
        }
    }
}

// ----- diagnostics -----------------------------------------------------------------------

fn too_deep(ctx: &Ctx<'_>, at: Span) -> Diagnostic {
    Diagnostic::new(
        Code::NestingTooDeep,
        format!(
            "values are nested more than {} levels deep; the rest of this document was not read",
            ctx.limits.max_depth
        ),
    )
    .at(at)
    .with_hint("flatten the structure; the limit protects against hostile input")
}

fn internal(ctx: &Ctx<'_>, what: &str) -> Diagnostic {
    Diagnostic::new(
        Code::Internal,
        format!("internal error while loading this document: {what}"),
    )
    .at(ctx.span(0, 0))
}

fn duplicate_key(key: &str, at: Span, first: Span, parent: String) -> Diagnostic {
    let mut path = parent;
    push_key(&mut path, key);
    let shown = if key.is_empty() { "\"\"" } else { key };
    Diagnostic::new(
        Code::DuplicateKey,
        format!("duplicate key `{shown}`: it is already defined in this mapping; the first value is kept"),
    )
    .at(at)
    .with_path(path)
    .with_related(first, "first defined here")
    .with_hint(
        "a key may appear only once in a mapping; if two documents were concatenated, \
         separate them with `---`",
    )
}

fn unsupported_key(key: &Node) -> Diagnostic {
    Diagnostic::new(
        Code::UnsupportedKey,
        format!(
            "a mapping key must be a string, not {}; this entry is ignored",
            match key.value {
                Value::Seq(_) => "a sequence",
                _ => "a mapping",
            }
        ),
    )
    .at(key.span)
    .with_hint("quote the key if it is meant to be text")
}

fn bad_merge(at: Span) -> Diagnostic {
    Diagnostic::new(
        Code::Syntax,
        "the merge key `<<` needs a mapping, an alias of one, or a list of them; this value is ignored",
    )
    .at(at)
    .with_hint("write `<<: *anchor` or `<<: [*a, *b]`, or quote `\"<<\"` to use it as a plain key")
}

fn unknown_tag(ctx: &Ctx<'_>, at: Span) -> Diagnostic {
    let tag = ctx
        .text
        .get(at.start as usize..at.end as usize)
        .unwrap_or("?");
    Diagnostic::new(
        Code::UnknownTag,
        format!("unknown tag `{tag}` ignored; the value is read as if it had no tag"),
    )
    .at(at)
    .with_hint("PlanSpec reads plain YAML values; remove the tag")
}

fn tag_mismatch(core: CoreTag, at: Span, value: &str) -> Diagnostic {
    let shown: String = value.chars().take(40).collect();
    Diagnostic::new(
        Code::UnknownTag,
        format!(
            "tag `{}` does not fit the value `{shown}`; the tag is ignored",
            core.name()
        ),
    )
    .at(at)
}

fn check_collection_tag(
    ctx: &Ctx<'_>,
    tag: &Tag,
    is_map: bool,
    at: Span,
    diags: &mut Vec<Diagnostic>,
) {
    match scalar::classify(tag) {
        TagKind::NonSpecific => {}
        TagKind::Core(CoreTag::Map) if is_map => {}
        TagKind::Core(CoreTag::Seq) if !is_map => {}
        TagKind::Core(core) => {
            let what = if is_map { "a mapping" } else { "a sequence" };
            diags.push(
                Diagnostic::new(
                    Code::UnknownTag,
                    format!(
                        "tag `{}` does not fit {what}; the tag is ignored",
                        core.name()
                    ),
                )
                .at(at),
            );
        }
        TagKind::Other => diags.push(unknown_tag(ctx, at)),
    }
}
