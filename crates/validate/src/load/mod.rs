//! YAML/JSON → spanned [`Node`] trees.
//!
//! JSON is read by the same YAML 1.2 parser (`saphyr-parser`); JSON is a subset of
//! YAML 1.2. What the loader produces:
//!
//! * one [`Node`] per document (`---` separated); empty documents are skipped;
//! * spans are **byte** offsets into [`SourceFile::text`]. A scalar's span is its token
//!   (quotes included; for a block scalar from the `|`/`>` header to the last content
//!   character); a collection's span runs from its first character (`[`, `{`, the first
//!   `-` or key) to its last. Anchors and tags are not part of a node's span;
//! * plain scalars resolve by the YAML 1.2 core schema: `~`/`null`/empty are null,
//!   only `true`/`false` (three spellings each) are booleans (`yes`/`on` stay strings),
//!   decimal, `0o` and `0x` integers are integers (floats beyond `i64`), `1.5`, `1e3`,
//!   `.inf`, `.nan` are floats; quoted and block scalars are strings; the core tags `!!str !!int
//!   !!float !!bool !!null !!map !!seq` are honoured, any other tag is warned about
//!   ([`Code::UnknownTag`]) and ignored;
//! * mapping keys are strings: the scalar as written (`1:` → `"1"`, `true:` →
//!   `"true"`), `""` for a null key. A sequence or mapping as key is
//!   [`Code::UnsupportedKey`]. A repeated key is [`Code::DuplicateKey`] at the second
//!   occurrence, the first value is kept;
//! * aliases are expanded by copying the anchored node. The copy's root gets the span of
//!   the alias (`*name`), the nodes inside keep the spans of the anchored text. Copies are
//!   counted against [`Limits::max_alias_nodes`] *before* they are made;
//! * merge keys (`<<: *base`, `<<: [*a, *b]`) merge mappings as YAML 1.1 and kubectl do:
//!   explicit keys win, earlier sources win over later ones; merged entries keep the
//!   spans of the text they were copied from.
//!
//! When a document breaks (a syntax error, a limit), its partial tree is dropped with a
//! diagnostic, the documents before it are kept, and reading resumes at the next `---`
//! or `...` line, so every document of a multi-document file gets checked.
//!
//! Nesting is handled with an explicit stack (and the parser itself never recurses), so
//! no input can overflow the call stack.

mod builder;
mod offsets;
mod scalar;
mod surrogates;
mod text;

use std::panic::{catch_unwind, AssertUnwindSafe};

use saphyr_parser::{Event, Parser, ScanError};

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{SourceFile, SourceId, Span};
use crate::tree::Node;

use builder::{Ctx, DocBuilder, Step};
use offsets::CharOffsets;

/// Limits that keep hostile input from exhausting memory, time or stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes (default 16 MiB). Checked before reading.
    pub max_file_bytes: usize,
    /// Deepest accepted nesting of sequences and mappings (default 64); the top-level
    /// collection of a document is level 1.
    pub max_depth: usize,
    /// Most documents accepted in one input (default 10,000).
    pub max_documents: usize,
    /// Most nodes that alias expansion may copy into one input, all documents together
    /// (default 100,000).
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_documents: 10_000,
            max_alias_nodes: 100_000,
        }
    }
}

/// Parses every document of `file`. Empty documents are skipped. Findings go to `diags`;
/// a document with a fatal error is dropped, the ones before and after it are kept.
pub fn parse(
    id: SourceId,
    file: &SourceFile,
    limits: &Limits,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Node> {
    let rewritten = surrogates::rewrite(&file.text);
    let text = rewritten.as_deref().unwrap_or(&file.text);
    let start = Span::new(id, 0, 0);
    if text.len() > limits.max_file_bytes {
        diags.push(file_too_large(None, Some(text.len() as u64), limits.max_file_bytes).at(start));
        return Vec::new();
    }
    let errors_before = diags.iter().filter(|d| d.is_error()).count();
    let offsets = CharOffsets::new(text);
    let mut run = FileRun::default();
    let mut base = 0;
    let mut char_base = 0;
    loop {
        let ctx = Ctx {
            id,
            text,
            offsets: &offsets,
            char_base,
            limits,
        };
        let Stop::Resume { at, doc_start } = run.guarded(&ctx, base, diags) else {
            break;
        };
        let Some(next) = resume_point(text, base, at, doc_start) else {
            break;
        };
        char_base += offsets.chars_between(base, next);
        base = next;
    }
    let errors = diags.iter().filter(|d| d.is_error()).count() - errors_before;
    if run.docs.is_empty() && errors == 0 && !run.saw_content {
        diags.push(
            Diagnostic::new(Code::NoDocuments, "this input holds no documents")
                .at(start)
                .with_hint("the input is empty or holds only comments"),
        );
    }
    run.docs
}

/// The state of parsing one file, across resumptions.
#[derive(Default)]
struct FileRun {
    docs: Vec<Node>,
    /// Documents started so far (empty ones included).
    documents: usize,
    /// Whether some document had content (even if it was dropped).
    saw_content: bool,
    /// The diagnostic that made the previous parser stop, to report it only once when
    /// the next parser stops at the same place.
    last_stop: Option<(Code, Option<Span>)>,
    builder: DocBuilder,
}

/// Why a parser stopped.
enum Stop {
    /// The input is exhausted, or reading it must not go on.
    End,
    /// The document that started at `doc_start` broke at `at`; resume after it.
    Resume { at: usize, doc_start: usize },
}

impl FileRun {
    /// Runs one parser from `base`; a panic inside the parser becomes a diagnostic.
    fn guarded(&mut self, ctx: &Ctx<'_>, base: usize, diags: &mut Vec<Diagnostic>) -> Stop {
        match catch_unwind(AssertUnwindSafe(|| self.run(ctx, base, diags))) {
            Ok(stop) => stop,
            Err(_) => {
                diags.push(
                    Diagnostic::new(
                        Code::Internal,
                        "the YAML parser failed unexpectedly on this input; \
                         the rest of it was not read (please report this)",
                    )
                    .at(ctx.char_span(base)),
                );
                Stop::End
            }
        }
    }

    /// Pulls events from a parser over `text[base..]` until the input ends or a
    /// document breaks.
    fn run(&mut self, ctx: &Ctx<'_>, base: usize, diags: &mut Vec<Diagnostic>) -> Stop {
        let mut parser = Parser::new_from_str(&ctx.text[base..]);
        let mut doc_start = base;
        while let Some(item) = parser.next_event() {
            let (event, span) = match item {
                Ok(pair) => pair,
                Err(error) => {
                    let at = ctx.byte(*error.marker());
                    self.stop(diags, scan_error(ctx, &error, at));
                    return Stop::Resume { at, doc_start };
                }
            };
            match event {
                Event::StreamEnd => return Stop::End,
                Event::DocumentStart(_) => {
                    doc_start = ctx.byte(span.start);
                    self.documents += 1;
                    if self.documents > ctx.limits.max_documents {
                        diags.push(too_many_documents(ctx, doc_start, ctx.byte(span.end)));
                        return Stop::End;
                    }
                    self.builder.reset(ctx.byte(span.end));
                }
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                event => match self.builder.event(ctx, event, span, diags) {
                    Ok(Step::Continue | Step::Empty) => {}
                    Ok(Step::Root(node)) => {
                        self.saw_content = true;
                        self.docs.push(node);
                    }
                    Err(diagnostic) => {
                        self.saw_content = true;
                        let at = diagnostic.span.map_or(doc_start, |s| s.start as usize);
                        self.stop(diags, *diagnostic);
                        return Stop::Resume { at, doc_start };
                    }
                },
            }
        }
        Stop::End
    }

    /// Reports the diagnostic that stops a document, unless it repeats the previous one.
    fn stop(&mut self, diags: &mut Vec<Diagnostic>, diagnostic: Diagnostic) {
        let key = (diagnostic.code, diagnostic.span);
        if self.last_stop != Some(key) {
            diags.push(diagnostic);
        }
        self.last_stop = Some(key);
    }
}

/// Where to resume after the document starting at `doc_start` broke at `at`: the first
/// `---`/`...` line that starts after the current document's start and not before the
/// line of the error. (A document marker always ends the document before it, even
/// inside a block scalar or a quoted string.)
fn resume_point(text: &str, base: usize, at: usize, doc_start: usize) -> Option<usize> {
    let error_line = text::line_start(text, at);
    let floor = doc_start.max(base) + 1;
    let from = if error_line >= floor {
        error_line
    } else {
        next_line_start(text, floor)?
    };
    text::next_marker_line(text, from)
}

/// The first line start at or after `pos`.
fn next_line_start(text: &str, pos: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if pos == 0 || bytes.get(pos - 1) == Some(&b'\n') {
        return Some(pos);
    }
    bytes
        .get(pos..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| pos + i + 1)
}

/// `12.3 MiB`, `512 bytes`.
pub(crate) fn human_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / MIB)
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// The [`Code::FileTooLarge`] diagnostic (without span).
/// `PS0003` for an input over `limit` bytes: `name` when the reader knows it, `size` when
/// it knows that (a stream may only be known to be larger). Used by the loader and by the
/// programs that read inputs before handing them over.
pub fn file_too_large(name: Option<&str>, size: Option<u64>, limit: usize) -> Diagnostic {
    let what = name.map_or_else(|| "this input".to_string(), |n| format!("`{n}`"));
    let size = match size {
        Some(size) => format!("is {}, more than", human_bytes(size)),
        None => "is larger than".to_string(),
    };
    Diagnostic::new(
        Code::FileTooLarge,
        format!(
            "{what} {size} the limit of {}; it was not read",
            human_bytes(limit as u64)
        ),
    )
    .with_hint("split it into several files")
}

fn too_many_documents(ctx: &Ctx<'_>, start: usize, end: usize) -> Diagnostic {
    Diagnostic::new(
        Code::TooManyDocuments,
        format!(
            "this input holds more than {} documents; the rest was not read",
            ctx.limits.max_documents
        ),
    )
    .at(ctx.span(start, end))
    .with_hint("split it into several files")
}

/// A parser error as a diagnostic with a readable message.
fn scan_error(ctx: &Ctx<'_>, error: &ScanError, at: usize) -> Diagnostic {
    let info = error.info();
    let code = if info == "recursion limit exceeded" {
        Code::NestingTooDeep
    } else {
        Code::Syntax
    };
    let (message, hint) = readable(info, ctx.text, at);
    // An unknown alias is reported on the whole `*name`.
    let span = match text::alias_name_at(ctx.text, at) {
        Some(name) => ctx.span(at, at + 1 + name.len()),
        None => ctx.char_span(at),
    };
    Diagnostic::new(code, message)
        .at(span)
        .with_hint_opt(hint.map(str::to_owned))
}

/// Rewrites the parser's messages for people who write YAML rather than parse it.
fn readable(info: &str, text: &str, at: usize) -> (String, Option<&'static str>) {
    const INDENT: &str =
        "check the indentation: entries of one collection start in the same column";
    let (message, hint): (&str, Option<&'static str>) = match info {
        "mapping values are not allowed in this context" => (
            "unexpected `:`: a `key: value` pair is not allowed here",
            Some("check the indentation of this line, or quote a value that contains `: `"),
        ),
        "while parsing a block mapping, did not find expected key" => {
            ("expected a `key: value` entry here", Some(INDENT))
        }
        "while parsing a block collection, did not find expected '-' indicator" => {
            ("expected a `- ` list item here", Some(INDENT))
        }
        "block sequence entries are not allowed in this context" => (
            "a `- ` list item is not allowed here",
            Some("start the list on its own line, below its key"),
        ),
        "while parsing a flow sequence, expected ',' or ']'" => {
            ("expected `,` or `]` in this `[…]` list", None)
        }
        "while parsing a flow mapping, did not find expected ',' or '}'" => {
            ("expected `,` or `}` in this `{…}` mapping", None)
        }
        "while parsing node, found unknown anchor" => {
            let name = text::alias_name_at(text, at).unwrap_or("?");
            return (
                format!(
                    "unknown alias `*{name}`: no anchor `&{name}` is defined before it \
                     in this document"
                ),
                Some("define the anchor (`key: &name value`) before using `*name`"),
            );
        }
        "while scanning a quoted scalar, found unexpected end of stream" => (
            "unterminated quoted string: the closing quote is missing",
            None,
        ),
        "while scanning a quoted scalar, found unexpected document indicator" => (
            "unterminated quoted string: a `---` or `...` line comes before the closing quote",
            None,
        ),
        "tabs disallowed within this context (block indentation)"
        | "tab cannot be used as indentation"
        | "tabs disallowed in this context" => (
            "a tab character is used for indentation",
            Some("YAML indents with spaces only"),
        ),
        "invalid indentation" => (
            "this line's indentation does not fit the lines above",
            Some(INDENT),
        ),
        "while parsing a node, did not find expected node content" => {
            ("expected a value here", None)
        }
        "simple key expected" | "simple key expect ':'" => (
            "a mapping key could not be read here",
            Some("a plain key must fit on one line and be followed by `:`"),
        ),
        "did not find expected <document start>" => {
            ("expected `---` before this document's content", None)
        }
        "found unprintable character" => (
            "the input holds a control character that YAML does not allow",
            None,
        ),
        "comment intercepting the multiline text" => (
            "a comment interrupts this multi-line value",
            Some("quote the value, or move the comment"),
        ),
        "recursion limit exceeded" => (
            "`[…]`/`{…}` values are nested too deep; the rest of this document was not read",
            Some("flatten the structure; the limit protects against hostile input"),
        ),
        other => return (format!("invalid YAML: {other}"), None),
    };
    (message.to_owned(), hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_points() {
        let text = "a: 1\n---\nb: \"x\n---\nc: 1\n";
        let marker = text.rfind("---").unwrap();
        let quote = text.find('"').unwrap();
        // An error inside the document that starts at line 2 → resume at the next marker.
        assert_eq!(resume_point(text, 0, quote, 5), Some(marker));
        // An error on a marker line → resume there.
        assert_eq!(resume_point(text, 0, marker, 5), Some(marker));
        // The same error again in the parser that starts there → nothing left.
        assert_eq!(resume_point(text, marker, marker, marker), None);
        assert_eq!(next_line_start(text, 6), Some(9));
        assert_eq!(next_line_start(text, 5), Some(5));
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024), "16.0 MiB");
    }
}
