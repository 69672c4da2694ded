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

use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents, ThemeCharacters, ThemeStyles,
};
use planspec_validate::{Diagnostic, Report, Severity, SourceFile, Span};

use super::{Facts, Locator, Summary};
use crate::term::{pad, plural, styles, width, Term};

/// Lines longer than this (minified JSON …) get a location line instead of a code frame.
const MAX_FRAME_LINE: usize = 400;
/// Resource names wider than this are not used to align the location column.
const MAX_NAME_COLUMN: usize = 48;

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
    let handler = frame_handler(term);
    let mut out = String::new();
    for d in &report.diagnostics {
        if options.quiet && d.severity != Severity::Error {
            continue;
        }
        out.push_str(&diagnostic(d, &locator, &handler, term));
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

/// One diagnostic: header, code frame (or location line), related places, help.
pub fn diagnostic(
    d: &Diagnostic,
    locator: &Locator<'_>,
    handler: &GraphicalReportHandler,
    term: Term,
) -> String {
    let (word, style) = match d.severity {
        Severity::Error => ("error", styles::error()),
        Severity::Warning => ("warning", styles::warning()),
    };
    let mut out = format!(
        "{}{}\n",
        term.paint(format!("{word}[{}]", d.code.id()), style),
        term.paint(format!(": {}", d.message), styles::strong()),
    );
    let file = d.span.and_then(|s| Some((s, locator.file(s.source)?)));
    if let Some((span, file)) = file {
        // The field path labels the span, unless the message already names it.
        let label = d.path.clone().filter(|p| !d.message.contains(p.as_str()));
        let mut labels = vec![LabeledSpan::new_primary_with_span(label, clamp(span, file))];
        let mut elsewhere = Vec::new();
        for r in &d.related {
            if r.span.source == span.source {
                labels.push(LabeledSpan::new_with_span(
                    Some(r.message.clone()),
                    clamp(r.span, file),
                ));
            } else {
                elsewhere.push(r);
            }
        }
        out.push_str(&frame(
            file,
            span,
            labels,
            severity(d.severity),
            handler,
            term,
        ));
        for r in elsewhere {
            out.push_str(&format!(
                "  {} {}\n",
                term.paint("note:", styles::accent()),
                r.message
            ));
            if let Some(other) = locator.file(r.span.source) {
                let label = LabeledSpan::new_primary_with_span(None, clamp(r.span, other));
                out.push_str(&frame(
                    other,
                    r.span,
                    vec![label],
                    miette::Severity::Advice,
                    handler,
                    term,
                ));
            }
        }
    } else {
        for r in &d.related {
            out.push_str(&format!(
                "  {} {}\n",
                term.paint("note:", styles::accent()),
                r.message
            ));
        }
    }
    if let Some(hint) = &d.hint {
        out.push_str(&format!(
            "  {} {}\n",
            term.paint("help:", styles::accent()),
            indent_continuation(hint, 8)
        ));
    }
    out
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
            .map(|l| format!("{}:{}", l.file, l.line))
            .unwrap_or_default();
        lines.push((
            r.source.0,
            r.span.start,
            Line {
                ok: Some(facts.errors_of[i] == 0),
                name: r.display_name(),
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
                name: file.name.clone(),
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

/// A span of `file` in miette's terms, clamped to the text and to character boundaries.
fn clamp(span: Span, file: &SourceFile) -> SourceSpan {
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
    SourceSpan::new(start.into(), end - start)
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
    GraphicalReportHandler::new_themed(GraphicalTheme { characters, styles })
        .with_links(false)
        .with_context_lines(1)
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

/// The code frame around `span`, or a `--> file:line:column` line when the
/// lines are too long to show.
fn frame(
    file: &SourceFile,
    span: Span,
    labels: Vec<LabeledSpan>,
    severity: miette::Severity,
    handler: &GraphicalReportHandler,
    term: Term,
) -> String {
    let at = file.line_col(span.start);
    let location = format!("  --> {}:{}:{}\n", file.name, at.line, at.column);
    // An empty input has no line to show; very long lines would flood the terminal.
    if file.text.trim().is_empty() || lines_too_long(file, span) {
        return term.paint(location, styles::dim());
    }
    let handler = if term.color {
        handler.clone().with_theme(themed(&labels, severity, term))
    } else {
        handler.clone()
    };
    let snippet = Snippet {
        source: WindowedSource { file },
        labels,
        severity,
    };
    let mut rendered = String::new();
    if handler.render_report(&mut rendered, &snippet).is_err() {
        return location;
    }
    // The first line is the (empty) message; the rest is the frame.
    match rendered.split_once('\n') {
        Some((_, frame)) if !frame.trim().is_empty() => frame.to_string(),
        _ => location,
    }
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
struct WindowedSource<'a> {
    file: &'a SourceFile,
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
            file.name.clone(),
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
        let locator = Locator::new(&sources);
        let text = diagnostic(&d, &locator, &frame_handler(Term::plain()), Term::plain());
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
        let src = clamp(span, file);
        for (before, after) in [(0, 0), (1, 1), (2, 3), (9, 9)] {
            let windowed = WindowedSource { file };
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
        let locator = Locator::new(&sources);
        let text = diagnostic(&d, &locator, &frame_handler(Term::plain()), Term::plain());
        assert!(text.starts_with("warning[PS0303]: unknown field `x`\n  --> big.json:1:18\n"));
    }

    #[test]
    fn empty_inputs_get_a_location_line() {
        let mut sources = SourceMap::new();
        let id = sources.add(SourceFile::new("empty.yaml", ""));
        let d = Diagnostic::new(Code::NoDocuments, "this input holds no documents")
            .at(Span::new(id, 0, 0));
        let locator = Locator::new(&sources);
        let text = diagnostic(&d, &locator, &frame_handler(Term::plain()), Term::plain());
        assert_eq!(
            text,
            "warning[PS0011]: this input holds no documents\n  --> empty.yaml:1:1\n"
        );
    }

    #[test]
    fn spanless_and_stray_spans_do_not_panic() {
        let sources = SourceMap::new();
        let locator = Locator::new(&sources);
        let handler = frame_handler(Term::plain());
        let d = Diagnostic::new(Code::Io, "cannot read `x.yaml`: permission denied");
        assert_eq!(
            diagnostic(&d, &locator, &handler, Term::plain()),
            "error[PS0008]: cannot read `x.yaml`: permission denied\n"
        );
        let stray = d.clone().at(Span::new(SourceId(3), 5, 9));
        assert!(diagnostic(&stray, &locator, &handler, Term::plain()).starts_with("error[PS0008]"));
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
