//! `validate` for people: a code frame per diagnostic, a line per resource, a summary.
//!
//! ```text
//! error[PS0403]: `dependsOn` names node `biuld`, which does not exist
//!     ╭─[plans/release.yaml:13:21]
//!  12 │         kind: Task
//!  13 │         dependsOn: [biuld]
//!     ·                     ──┬──
//!     ·                       ╰── spec.graph.nodes[1].dependsOn[0]
//!  14 │         retries: 3
//!     ╰────
//!   help: did you mean `build`?
//!
//! ✓ Plan/release-v2        plans/release-v2.yaml:1
//! ✗ Plan/release-v1        plans/release.yaml:1      1 error
//!
//! 2 resources in 2 files: 1 valid, 1 invalid · 1 error, 0 warnings
//! ```
//!
//! The code frame is drawn by miette's graphical handler; the header, help and
//! the rest are ours so they read like a compiler's.

use std::cell::OnceCell;
use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents, ThemeCharacters, ThemeStyles,
};
use planspec_validate::{Diagnostic, Report, Severity, SourceFile, SourceMap, Span};

use super::{Facts, Locator, Summary};
use crate::term::{escape, escape_char, escape_line, is_unsafe, pad, plural, styles, width, Term};

/// Lines longer than this (minified JSON …) get a location line instead of a code frame.
const MAX_FRAME_LINE: usize = 400;
/// Resource names wider than this are not used to align the location column.
const MAX_NAME_COLUMN: usize = 48;
/// A related place at most this many lines away from the primary span shares its code
/// frame (miette then draws both in one snippet); further away it gets a `note:` frame
/// of its own, after the primary one.
const NEAR_LINES: u32 = 2;

/// What to print.
#[derive(Debug, Clone, Copy)]
pub struct HumanOptions {
    pub term: Term,
    /// Only errors and the summary.
    pub quiet: bool,
}

/// The whole human report.
pub fn render(report: &Report, facts: &Facts, options: HumanOptions) -> String {
    let term = options.term;
    let locator = Locator::new(&report.sources);
    let printer = Printer::new(&report.sources, term);
    let mut out = String::new();
    for d in &report.diagnostics {
        if options.quiet && d.severity != Severity::Error {
            continue;
        }
        out.push_str(&printer.diagnostic(d));
        out.push('\n');
    }
    if !options.quiet {
        let lines = resource_lines(report, facts, &locator, term);
        if !lines.is_empty() {
            out.push_str(&lines);
            out.push('\n');
        }
    }
    out.push_str(&summary_line(&facts.summary, term));
    out.push('\n');
    out
}

/// Draws diagnostics over one [`SourceMap`]. Everything taken from the inputs
/// (messages, paths, names, the source lines of code frames) is printed through
/// [`escape`], and every location names a 1-based *character* column, as JSON and
/// SARIF do.
pub struct Printer<'a> {
    locator: Locator<'a>,
    handler: GraphicalReportHandler,
    term: Term,
    /// Per source file, computed on first use: its text with unsafe characters
    /// escaped, or `None` when it has none (the common case).
    printable: Vec<OnceCell<Option<Printable>>>,
}

impl<'a> Printer<'a> {
    pub fn new(sources: &'a SourceMap, term: Term) -> Self {
        Printer {
            locator: Locator::new(sources),
            handler: frame_handler(term),
            term,
            printable: (0..sources.files().count())
                .map(|_| OnceCell::new())
                .collect(),
        }
    }

    /// One diagnostic: header, code frame (or location line), related places, help.
    ///
    /// The frame is about the primary span, and its header names the primary span's
    /// position, so that is the first place a reader sees. Related places near it are
    /// extra labels in the same frame; those further away or in another file follow as
    /// `note:` frames.
    pub fn diagnostic(&self, d: &Diagnostic) -> String {
        let term = self.term;
        let (word, style) = match d.severity {
            Severity::Error => ("error", styles::error()),
            Severity::Warning => ("warning", styles::warning()),
        };
        let mut out = format!(
            "{}{}\n",
            term.paint(format!("{word}[{}]", d.code.id()), style),
            term.paint(format!(": {}", escape(&d.message)), styles::strong()),
        );
        let file = d.span.and_then(|s| Some((s, self.locator.file(s.source)?)));
        if let Some((span, file)) = file {
            // The field path labels the span, unless the message already names it.
            let label = d.path.clone().filter(|p| !d.message.contains(p.as_str()));
            let mut labels = vec![FrameLabel {
                span,
                text: label,
                primary: true,
            }];
            let mut elsewhere = Vec::new();
            for r in &d.related {
                if r.span.source == span.source && near(file, span, r.span) {
                    labels.push(FrameLabel {
                        span: r.span,
                        text: Some(r.message.clone()),
                        primary: false,
                    });
                } else {
                    elsewhere.push(r);
                }
            }
            out.push_str(&self.frame(file, span, labels, severity(d.severity)));
            for r in elsewhere {
                out.push_str(&format!(
                    "  {} {}\n",
                    term.paint("note:", styles::accent()),
                    escape(&r.message)
                ));
                if let Some(other) = self.locator.file(r.span.source) {
                    let label = FrameLabel {
                        span: r.span,
                        text: None,
                        primary: true,
                    };
                    out.push_str(&self.frame(other, r.span, vec![label], miette::Severity::Advice));
                }
            }
        } else {
            for r in &d.related {
                out.push_str(&format!(
                    "  {} {}\n",
                    term.paint("note:", styles::accent()),
                    escape(&r.message)
                ));
            }
        }
        if let Some(hint) = &d.hint {
            out.push_str(&format!(
                "  {} {}\n",
                term.paint("help:", styles::accent()),
                indent_continuation(&escape(hint), 8)
            ));
        }
        out
    }

    /// The code frame around `span` of `file`, headed by `file:line:column` of `span`
    /// (a character column), or just a `--> file:line:column` line when the lines are
    /// too long to show.
    fn frame(
        &self,
        file: &SourceFile,
        span: Span,
        labels: Vec<FrameLabel>,
        severity: miette::Severity,
    ) -> String {
        let term = self.term;
        let at = file.line_col(span.start);
        let location = format!("{}:{}:{}", escape_line(&file.name), at.line, at.column);
        let fallback = format!("  --> {location}\n");
        // An empty input has no line to show; very long lines would flood the terminal.
        if file.text.trim().is_empty() || lines_too_long(file, span) {
            return term.paint(fallback, styles::dim());
        }
        // Draw from the escaped copy of the text when the file needs one, with every
        // span moved to where its characters are in that copy.
        let printable = self
            .printable
            .get(span.source.0 as usize)
            .and_then(|cell| cell.get_or_init(|| Printable::of(file)).as_ref());
        let shown = printable.map_or(file, |p| &p.file);
        let shift = |offset: usize| printable.map_or(offset, |p| p.shift(offset as u32) as usize);
        let labels: Vec<LabeledSpan> = labels
            .into_iter()
            .map(|l| {
                let text = l.text.map(|t| escape_line(&t).into_owned());
                let (start, end) = clamp(l.span, file);
                let (start, end) = (shift(start), shift(end));
                let at = SourceSpan::new(start.into(), end - start);
                if l.primary {
                    LabeledSpan::new_primary_with_span(text, at)
                } else {
                    LabeledSpan::new_with_span(text, at)
                }
            })
            .collect();
        let handler = if term.color {
            self.handler
                .clone()
                .with_theme(themed(&labels, severity, term))
        } else {
            self.handler.clone()
        };
        let snippet = Snippet {
            source: WindowedSource {
                file: shown,
                header: location,
            },
            labels,
            severity,
        };
        let mut rendered = String::new();
        if handler.render_report(&mut rendered, &snippet).is_err() {
            return fallback;
        }
        // The first line is the (empty) message; the rest is the frame.
        match rendered.split_once('\n') {
            Some((_, frame)) if !frame.trim().is_empty() => frame.to_string(),
            _ => fallback,
        }
    }
}

/// A label of a code frame, before it is placed in the text that is drawn.
struct FrameLabel {
    span: Span,
    text: Option<String>,
    primary: bool,
}

/// True when `other` starts or ends within [`NEAR_LINES`] lines of `span`.
fn near(file: &SourceFile, span: Span, other: Span) -> bool {
    let lines = |s: Span| {
        (
            file.line_col(s.start).line,
            file.line_col(s.end.max(s.start)).line,
        )
    };
    let (first, last) = lines(span);
    let (other_first, other_last) = lines(other);
    other_first <= last + NEAR_LINES && first <= other_last + NEAR_LINES
}

/// A file's text with the characters no terminal should receive (see
/// [`crate::term::escape`]) written as visible escapes, for code frames. Line feeds,
/// tabs and the `CR` of a `CRLF` keep their meaning.
struct Printable {
    file: SourceFile,
    /// For each escaped character: where it ends in the original text, and how many
    /// bytes longer the copy is from there on. Ascending.
    shifts: Vec<(u32, u32)>,
}

impl Printable {
    /// `None` when the text can be shown as it is.
    fn of(file: &SourceFile) -> Option<Printable> {
        let text = file.text.as_str();
        let unsafe_at = |i: usize, c: char| {
            is_unsafe(c)
                && c != '\n'
                && c != '\t'
                && !(c == '\r' && text.as_bytes().get(i + 1) == Some(&b'\n'))
        };
        if !text.char_indices().any(|(i, c)| unsafe_at(i, c)) {
            return None;
        }
        let mut copy = String::with_capacity(text.len() + 16);
        let mut shifts = Vec::new();
        for (i, c) in text.char_indices() {
            if unsafe_at(i, c) {
                escape_char(c, &mut copy);
                let end = i + c.len_utf8();
                shifts.push((end as u32, (copy.len() - end) as u32));
            } else {
                copy.push(c);
            }
        }
        Some(Printable {
            file: SourceFile::new(file.name.clone(), copy),
            shifts,
        })
    }

    /// Where a byte offset of the original text (on a character boundary) is in the copy.
    fn shift(&self, offset: u32) -> u32 {
        let i = self.shifts.partition_point(|&(end, _)| end <= offset);
        offset + i.checked_sub(1).map_or(0, |i| self.shifts[i].1)
    }
}

/// The `✓`/`✗` line of every resource, and of every file that holds none.
fn resource_lines(report: &Report, facts: &Facts, locator: &Locator<'_>, term: Term) -> String {
    struct Line {
        ok: Option<bool>,
        name: String,
        place: String,
        note: String,
    }
    let mut lines: Vec<(u32, u32, Line)> = Vec::new();
    let mut has_resource = vec![false; report.sources.files().count()];
    for (i, r) in report.resources.iter().enumerate() {
        if let Some(slot) = has_resource.get_mut(r.source.0 as usize) {
            *slot = true;
        }
        let place = locator
            .locate(r.span)
            .map(|l| format!("{}:{}", escape_line(&l.file), l.line))
            .unwrap_or_default();
        lines.push((
            r.source.0,
            r.span.start,
            Line {
                ok: Some(facts.errors_of[i] == 0),
                name: escape_line(&r.display_name()).into_owned(),
                place,
                note: counts(facts.errors_of[i], facts.warnings_of[i], term),
            },
        ));
    }
    // Files without resources: unreadable, unparsable or empty.
    let mut errors_in = vec![0usize; has_resource.len()];
    let mut warnings_in = vec![0usize; has_resource.len()];
    for d in &report.diagnostics {
        if let Some(span) = d.span {
            let i = span.source.0 as usize;
            if i < has_resource.len() {
                match d.severity {
                    Severity::Error => errors_in[i] += 1,
                    Severity::Warning => warnings_in[i] += 1,
                }
            }
        }
    }
    for (id, file) in report.sources.files() {
        let i = id.0 as usize;
        if has_resource[i] {
            continue;
        }
        let note = if errors_in[i] + warnings_in[i] == 0 {
            term.paint("no resources", styles::dim())
        } else {
            counts(errors_in[i], warnings_in[i], term)
        };
        lines.push((
            id.0,
            0,
            Line {
                ok: (errors_in[i] > 0).then_some(false),
                name: escape_line(&file.name).into_owned(),
                place: String::new(),
                note,
            },
        ));
    }
    lines.sort_by_key(|(source, start, _)| (*source, *start));

    let name_width = lines
        .iter()
        .map(|(_, _, l)| width(&l.name))
        .filter(|&w| w <= MAX_NAME_COLUMN)
        .max()
        .unwrap_or(0);
    let place_width = lines
        .iter()
        .map(|(_, _, l)| width(&l.place))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (_, _, line) in lines {
        let mark = match line.ok {
            Some(true) => term.paint(term.glyph("✓", "ok"), styles::ok()),
            Some(false) => term.paint(term.glyph("✗", "XX"), styles::error()),
            None => term.paint(term.glyph("·", "--"), styles::dim()),
        };
        let mut text = format!("{mark} {}", pad(&line.name, name_width));
        if !line.place.is_empty() || !line.note.is_empty() {
            text.push_str("  ");
            text.push_str(&term.paint(pad(&line.place, place_width), styles::dim()));
        }
        if !line.note.is_empty() {
            text.push_str("  ");
            text.push_str(&line.note);
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// `2 errors, 1 warning`, coloured; empty when both are zero.
fn counts(errors: usize, warnings: usize, term: Term) -> String {
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(term.paint(plural(errors, "error", "errors"), styles::error()));
    }
    if warnings > 0 {
        parts.push(term.paint(plural(warnings, "warning", "warnings"), styles::warning()));
    }
    parts.join(", ")
}

/// `3 resources in 2 files: 2 valid, 1 invalid · 1 error, 1 warning`.
pub fn summary_line(s: &Summary, term: Term) -> String {
    let when = |n: usize, text: String, style| {
        if n > 0 {
            term.paint(text, style)
        } else {
            text
        }
    };
    format!(
        "{} in {}: {}, {} {} {}, {}",
        term.paint(
            plural(s.resources, "resource", "resources"),
            styles::strong()
        ),
        plural(s.files, "file", "files"),
        when(s.valid, format!("{} valid", s.valid), styles::ok()),
        when(s.invalid, format!("{} invalid", s.invalid), styles::error()),
        term.glyph("·", "-"),
        when(
            s.errors,
            plural(s.errors, "error", "errors"),
            styles::error()
        ),
        when(
            s.warnings,
            plural(s.warnings, "warning", "warnings"),
            styles::warning()
        ),
    )
}

fn severity(s: Severity) -> miette::Severity {
    match s {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    }
}

/// Continuation lines of a multi-line text, indented to line up after a prefix.
fn indent_continuation(text: &str, columns: usize) -> String {
    text.replace('\n', &format!("\n{}", " ".repeat(columns)))
}

/// A span of `file` as a byte range, clamped to the text and to character boundaries.
fn clamp(span: Span, file: &SourceFile) -> (usize, usize) {
    let text = &file.text;
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while i > 0 && !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(span.start as usize);
    let end = floor(span.end as usize).max(start);
    (start, end)
}

/// The miette handler that draws code frames, themed for `term`.
pub fn frame_handler(term: Term) -> GraphicalReportHandler {
    let characters = if term.unicode {
        ThemeCharacters::unicode()
    } else {
        ThemeCharacters::ascii()
    };
    let styles = if term.color {
        ThemeStyles::ansi()
    } else {
        ThemeStyles::none()
    };
    // The header's `file:line:column` is ours (see `WindowedSource`): miette would
    // count the column in bytes.
    GraphicalReportHandler::new_themed(GraphicalTheme { characters, styles })
        .with_links(false)
        .with_context_lines(1)
        .without_primary_span_start()
}

/// A colour theme where the primary label has the severity's colour and the
/// others are cyan. miette colours labels in the order of their offsets.
fn themed(labels: &[LabeledSpan], severity: miette::Severity, term: Term) -> GraphicalTheme {
    let primary = match severity {
        miette::Severity::Error => owo_colors::Style::new().red().bold(),
        miette::Severity::Warning => owo_colors::Style::new().yellow().bold(),
        miette::Severity::Advice => owo_colors::Style::new().cyan().bold(),
    };
    let mut order: Vec<&LabeledSpan> = labels.iter().collect();
    order.sort_by_key(|l| l.offset());
    let mut styles = ThemeStyles::ansi();
    styles.highlights = order
        .iter()
        .map(|l| {
            if l.primary() {
                primary
            } else {
                owo_colors::Style::new().cyan().bold()
            }
        })
        .collect();
    if styles.highlights.is_empty() {
        styles.highlights.push(primary);
    }
    let characters = if term.unicode {
        ThemeCharacters::unicode()
    } else {
        ThemeCharacters::ascii()
    };
    GraphicalTheme { characters, styles }
}

/// True when a line the frame would show is longer than [`MAX_FRAME_LINE`].
fn lines_too_long(file: &SourceFile, span: Span) -> bool {
    let first = file.line_col(span.start).line as usize;
    let last = file.line_col(span.end.max(span.start)).line as usize;
    let from = first.saturating_sub(2);
    let to = (last + 1).min(file.line_count());
    // Long spans would make the frame itself long: show at most a few lines anyway.
    if to.saturating_sub(from) > 40 {
        return true;
    }
    (from..to).any(|line0| {
        let start = file.offset_of(line0, 0);
        let end = if line0 + 1 < file.line_count() {
            file.offset_of(line0 + 1, 0)
        } else {
            file.text.len()
        };
        end.saturating_sub(start) > MAX_FRAME_LINE * 4
            || file.text[start..end].chars().count() > MAX_FRAME_LINE
    })
}

/// A diagnostic with no message and no code: just labels on a source, so miette
/// draws only the frame.
struct Snippet<'a> {
    source: WindowedSource<'a>,
    labels: Vec<LabeledSpan>,
    severity: miette::Severity,
}

impl fmt::Debug for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snippet")
            .field("file", &self.source.file.name)
            .finish()
    }
}

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl std::error::Error for Snippet<'_> {}

impl miette::Diagnostic for Snippet<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// A [`SourceFile`] as miette source code. miette scans from the start of the
/// text for every span; this hands it only the few lines around the span (found
/// with the file's line index) so large files with many findings stay fast.
///
/// Its name is `header`, the frame's `file:line:column` (miette prints the name in
/// the frame's header and, left to itself, would add a column counted in bytes).
struct WindowedSource<'a> {
    file: &'a SourceFile,
    header: String,
}

impl SourceCode for WindowedSource<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let file = self.file;
        let text = file.text.as_str();
        let start = span.offset().min(text.len());
        let end = (span.offset() + span.len()).min(text.len()).max(start);
        let first_line0 = file.line_col(start as u32).line as usize - 1;
        let last_line0 = file.line_col(end as u32).line as usize - 1;
        let window_line0 = first_line0.saturating_sub(context_lines_before + 1);
        let window_end_line0 = last_line0 + context_lines_after + 2;
        let window_start = file.offset_of(window_line0, 0).min(start);
        let window_end = if window_end_line0 < file.line_count() {
            file.offset_of(window_end_line0, 0).max(end)
        } else {
            text.len()
        };
        let window = &text[window_start..window_end];
        let local = SourceSpan::new((start - window_start).into(), end - start);
        let contents = window.read_span(&local, context_lines_before, context_lines_after)?;
        let data_start = contents.span().offset() + window_start;
        Ok(Box::new(MietteSpanContents::new_named(
            self.header.clone(),
            contents.data(),
            SourceSpan::new(data_start.into(), contents.span().len()),
            contents.line() + window_line0,
            contents.column(),
            contents.line_count() + window_line0,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_validate::{Code, SourceId, SourceMap};

    fn sample() -> (SourceMap, Span) {
        let mut sources = SourceMap::new();
        let text = "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: release\nspec:\n  graph:\n    nodes: []\n";
        let id = sources.add(SourceFile::new("plans/release.yaml", text));
        let at = text.find("spec:").unwrap();
        (sources, Span::new(id, at, at + 4))
    }

    #[test]
    fn frame_shows_header_location_snippet_and_help() {
        let (sources, span) = sample();
        let d = Diagnostic::new(Code::MissingField, "missing required field `description`")
            .at(span)
            .with_path("spec.description")
            .with_hint("add `description: <one line>` under `spec`");
        let text = Printer::new(&sources, Term::plain()).diagnostic(&d);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("error[PS0302]: missing required field `description`")
        );
        assert!(text.contains("plans/release.yaml:5:1"), "{text}");
        assert!(text.contains(" 5 │ spec:"), "{text}");
        assert!(text.contains("spec.description"), "{text}");
        assert!(text.ends_with("help: add `description: <one line>` under `spec`\n"));
        assert!(!text.contains('×'), "{text}");
    }

    #[test]
    fn windowed_source_matches_whole_text() {
        let (sources, span) = sample();
        let file = sources.get(span.source);
        let whole = file.text.as_str();
        let (start, end) = clamp(span, file);
        let src = SourceSpan::new(start.into(), end - start);
        for (before, after) in [(0, 0), (1, 1), (2, 3), (9, 9)] {
            let windowed = WindowedSource {
                file,
                header: String::new(),
            };
            let a = whole.read_span(&src, before, after).unwrap();
            let b = windowed.read_span(&src, before, after).unwrap();
            assert_eq!(a.data(), b.data());
            assert_eq!(a.span(), b.span());
            assert_eq!(a.line(), b.line());
            assert_eq!(a.column(), b.column());
        }
    }

    #[test]
    fn long_lines_get_a_location_line() {
        let mut sources = SourceMap::new();
        let text = format!("{{\"kind\": \"Plan\", \"x\": \"{}\"}}", "a".repeat(5000));
        let id = sources.add(SourceFile::new("big.json", text));
        let d = Diagnostic::new(Code::UnknownField, "unknown field `x`").at(Span::new(id, 17, 20));
        let text = Printer::new(&sources, Term::plain()).diagnostic(&d);
        assert!(text.starts_with("warning[PS0303]: unknown field `x`\n  --> big.json:1:18\n"));
    }

    #[test]
    fn empty_inputs_get_a_location_line() {
        let mut sources = SourceMap::new();
        let id = sources.add(SourceFile::new("empty.yaml", ""));
        let d = Diagnostic::new(Code::NoDocuments, "this input holds no documents")
            .at(Span::new(id, 0, 0));
        let text = Printer::new(&sources, Term::plain()).diagnostic(&d);
        assert_eq!(
            text,
            "warning[PS0011]: this input holds no documents\n  --> empty.yaml:1:1\n"
        );
    }

    #[test]
    fn spanless_and_stray_spans_do_not_panic() {
        let sources = SourceMap::new();
        let printer = Printer::new(&sources, Term::plain());
        let d = Diagnostic::new(Code::Io, "cannot read `x.yaml`: permission denied");
        assert_eq!(
            printer.diagnostic(&d),
            "error[PS0008]: cannot read `x.yaml`: permission denied\n"
        );
        let stray = d.clone().at(Span::new(SourceId(3), 5, 9));
        assert!(printer.diagnostic(&stray).starts_with("error[PS0008]"));
    }

    /// The `file:line:column` of every frame header, in order.
    fn headers(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                let l = l.trim_start();
                l.strip_prefix("╭─[")
                    .or_else(|| l.strip_prefix("--> "))
                    .map(|rest| rest.trim_end_matches(']').to_string())
            })
            .collect()
    }

    #[test]
    fn header_columns_count_characters() {
        let mut sources = SourceMap::new();
        let text = "kind: Goal\nspec: {description: \"😀😀😀\", priority: \"x\"}\n";
        let id = sources.add(SourceFile::new("uni.yaml", text));
        let at = text.find("\"x\"").unwrap();
        let span = Span::new(id, at, at + 3);
        // JSON and SARIF say column 38: 37 characters (46 bytes) precede the span.
        assert_eq!(sources.line_col(span).column, 38);
        let d = Diagnostic::new(Code::InvalidEnum, "`x` is not a priority").at(span);
        let text = Printer::new(&sources, Term::plain()).diagnostic(&d);
        assert_eq!(headers(&text), ["uni.yaml:2:38"], "{text}");
        // The same with ASCII frames.
        let ascii = Term {
            color: false,
            unicode: false,
        };
        let text = Printer::new(&sources, ascii).diagnostic(&d);
        assert!(text.contains("[uni.yaml:2:38]"), "{text}");
    }

    #[test]
    fn the_primary_place_comes_first_even_when_a_related_one_is_earlier() {
        let mut sources = SourceMap::new();
        let mut text = String::from("name: a\n");
        for i in 2..21 {
            text.push_str(&format!("k{i}: v\n"));
        }
        text.push_str("name: b\n");
        let id = sources.add(SourceFile::new("goals.yaml", text.as_str()));
        let second = text.rfind("name").unwrap();
        let d = Diagnostic::new(Code::DuplicateKey, "duplicate key `name`")
            .at(Span::new(id, second, second + 4))
            .with_related(Span::new(id, 0, 4), "first defined here");
        let out = Printer::new(&sources, Term::plain()).diagnostic(&d);
        assert_eq!(
            headers(&out),
            ["goals.yaml:21:1", "goals.yaml:1:1"],
            "{out}"
        );
        let note = out.find("note: first defined here").expect("a note");
        assert!(out.find("21 │ name: b").unwrap() < note, "{out}");

        // A related place close by shares the frame, whose header names the primary span.
        let mut sources = SourceMap::new();
        let text = "a: 1\nname: a\nb: 2\nname: b\n";
        let id = sources.add(SourceFile::new("near.yaml", text));
        let second = text.rfind("name").unwrap();
        let first = text.find("name").unwrap();
        let d = Diagnostic::new(Code::DuplicateKey, "duplicate key `name`")
            .at(Span::new(id, second, second + 4))
            .with_related(Span::new(id, first, first + 4), "first defined here");
        let out = Printer::new(&sources, Term::plain()).diagnostic(&d);
        assert_eq!(headers(&out), ["near.yaml:4:1"], "{out}");
        assert!(out.contains("first defined here"), "{out}");
        assert!(!out.contains("note:"), "{out}");
    }

    #[test]
    fn control_characters_from_the_input_are_escaped() {
        let mut sources = SourceMap::new();
        let text = "kind: Plan\nname: \"\u{1b}]0;pwned\u{7}\u{1b}[31mRED\u{1b}[0m\"\nx\u{9b}2J: 1\r\nok: 1\r\n";
        let id = sources.add(SourceFile::new("esc\u{1b}[2J.yaml", text));
        let at = text.find("x\u{9b}").unwrap();
        let end = text.find(": 1").unwrap();
        let d = Diagnostic::new(
            Code::UnknownField,
            "unknown field `x\u{9b}2J` near `\u{1b}[31m`",
        )
        .at(Span::new(id, at, end))
        .with_path("spec.x\u{9b}2J")
        .with_hint("remove `\u{1b}[0m`\nor rename it");
        let out = Printer::new(&sources, Term::plain()).diagnostic(&d);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(
            out.contains("unknown field `x\\x9b2J` near `\\x1b[31m`"),
            "{out}"
        );
        assert!(
            out.contains("name: \"\\x1b]0;pwned\\x07\\x1b[31mRED\\x1b[0m\""),
            "{out}"
        );
        assert!(out.contains("[esc\\x1b[2J.yaml:3:1]"), "{out}");
        assert!(
            out.contains("help: remove `\\x1b[0m`\n        or rename it"),
            "{out}"
        );
        // The underline covers the escaped key exactly.
        let line = out.lines().find(|l| l.contains("x\\x9b2J: 1")).unwrap();
        let marks = out
            .lines()
            .find(|l| l.contains('─') && !l.contains('╭'))
            .unwrap();
        let column = |l: &str, pat: &str| l[..l.find(pat).unwrap()].chars().count();
        assert_eq!(column(line, "x\\x9b"), column(marks, "─"), "{out}");
        let width = marks.matches('─').count() + marks.matches('┬').count();
        assert_eq!(width, "x\\x9b2J".len(), "{out}");
    }

    #[test]
    fn printable_copies_move_offsets_past_escapes() {
        let file = SourceFile::new("f", "a\u{1b}b\u{9b}c\r\nd\re");
        let p = Printable::of(&file).unwrap();
        assert_eq!(p.file.text, "a\\x1bb\\x9bc\r\nd\\x0de");
        for (original, copy) in [
            (0, 0),
            (1, 1),
            (2, 5),
            (3, 6),
            (5, 10),
            (6, 11),
            (8, 13),
            (9, 14),
            (10, 18),
        ] {
            assert_eq!(p.shift(original), copy, "offset {original}");
        }
        assert!(Printable::of(&SourceFile::new("f", "plain\r\ntext\t\n")).is_none());
    }

    #[test]
    fn resource_lines_escape_names_and_files() {
        let mut sources = SourceMap::new();
        let id = sources.add(SourceFile::new("a\u{1b}.yaml", "kind: Plan\n"));
        let node = planspec_validate::tree::Node::new(
            Span::new(id, 0, 0),
            planspec_validate::tree::Value::Null,
        );
        let report = Report {
            resources: vec![planspec_validate::Resource {
                kind: planspec_model::Kind::Plan,
                name: Some("p\u{7}".into()),
                namespace: None,
                source: id,
                span: Span::new(id, 0, 4),
                node,
                errors: 0,
                warnings: 0,
            }],
            sources,
            ..Report::default()
        };
        let facts = Facts::of(&report);
        let options = HumanOptions {
            term: Term::plain(),
            quiet: false,
        };
        let out = render(&report, &facts, options);
        assert!(out.contains("✓ Plan/p\\x07  a\\x1b.yaml:1"), "{out}");
    }

    #[test]
    fn summary_reads_naturally() {
        let s = Summary {
            files: 2,
            resources: 3,
            valid: 2,
            invalid: 1,
            errors: 1,
            warnings: 1,
        };
        assert_eq!(
            summary_line(&s, Term::plain()),
            "3 resources in 2 files: 2 valid, 1 invalid · 1 error, 1 warning"
        );
    }
}
