//! The three ways `validate` reports: human, JSON and SARIF.
//!
//! They share [`Facts`]: each diagnostic's position and resource, and the summary
//! counts, computed once so the formats cannot disagree.

pub mod human;
pub mod json;
pub mod sarif;

use planspec_validate::{Report, SourceFile, SourceId, SourceMap, Span};

/// A span as 1-based lines and character columns; the end is exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

/// Looks spans up in a [`SourceMap`] without ever panicking on a stray source id.
#[derive(Debug, Clone, Copy)]
pub struct Locator<'a> {
    sources: &'a SourceMap,
    count: usize,
}

impl<'a> Locator<'a> {
    pub fn new(sources: &'a SourceMap) -> Self {
        Locator {
            sources,
            count: sources.files().count(),
        }
    }

    /// The file a span points into, if it exists.
    pub fn file(&self, id: SourceId) -> Option<&'a SourceFile> {
        ((id.0 as usize) < self.count).then(|| self.sources.get(id))
    }

    /// Where `span` is. Spans beyond the text are clamped to it.
    pub fn locate(&self, span: Span) -> Option<Location> {
        let file = self.file(span.source)?;
        let start = file.line_col(span.start);
        let end = file.line_col(span.end.max(span.start));
        Some(Location {
            file: file.name.clone(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
        })
    }
}

/// The counts every format reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub resources: usize,
    pub valid: usize,
    pub invalid: usize,
    pub errors: usize,
    pub warnings: usize,
}

impl Summary {
    /// True when nothing is an error.
    pub fn is_valid(&self) -> bool {
        self.errors == 0
    }
}

/// Per-resource and per-diagnostic facts derived from a [`Report`].
#[derive(Debug, Clone)]
pub struct Facts {
    pub summary: Summary,
    /// For each resource, its number of warnings.
    pub warnings_of: Vec<usize>,
    /// For each resource, its number of errors (at least `Resource::errors`).
    pub errors_of: Vec<usize>,
}

impl Facts {
    pub fn of(report: &Report) -> Facts {
        let warnings_of: Vec<usize> = report.resources.iter().map(|r| r.warnings).collect();
        let errors_of: Vec<usize> = report.resources.iter().map(|r| r.errors).collect();
        let invalid = errors_of.iter().filter(|&&e| e > 0).count();
        let summary = Summary {
            files: report.sources.files().count(),
            resources: report.resources.len(),
            valid: report.resources.len() - invalid,
            invalid,
            errors: report.error_count(),
            warnings: report.warning_count(),
        };
        Facts {
            summary,
            warnings_of,
            errors_of,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_model::Kind;
    use planspec_validate::{Code, Diagnostic};

    fn report_with_two_resources() -> Report {
        let mut sources = SourceMap::new();
        let id = sources.add(SourceFile::new(
            "a.yaml",
            "kind: Plan\nname: a\n---\nkind: Gate\nname: b\n",
        ));
        let node = planspec_validate::tree::Node::new(
            Span::new(id, 0, 0),
            planspec_validate::tree::Value::Null,
        );
        let resource =
            |kind, name: &str, start, end, errors, warnings| planspec_validate::Resource {
                kind,
                name: Some(name.into()),
                namespace: None,
                source: id,
                span: Span::new(id, start, end),
                node: node.clone(),
                errors,
                warnings,
            };
        Report {
            resources: vec![
                resource(Kind::Plan, "a", 0, 19, 0, 1),
                resource(Kind::Gate, "b", 23, 42, 1, 0),
            ],
            diagnostics: vec![
                Diagnostic::new(Code::UnknownField, "w").at(Span::new(id, 11, 15)),
                Diagnostic::new(Code::MissingField, "e").at(Span::new(id, 34, 38)),
                Diagnostic::new(Code::Io, "unreadable"),
            ],
            sources,
            ..Report::default()
        }
    }

    #[test]
    fn summarises_resources_from_the_report() {
        let report = report_with_two_resources();
        let facts = Facts::of(&report);
        assert_eq!(facts.warnings_of, vec![1, 0]);
        assert_eq!(facts.errors_of, vec![0, 1]);
        assert_eq!(
            facts.summary,
            Summary {
                files: 1,
                resources: 2,
                valid: 1,
                invalid: 1,
                errors: 2,
                warnings: 1
            }
        );
    }

    #[test]
    fn locations_are_one_based_and_clamped() {
        let report = report_with_two_resources();
        let locator = Locator::new(&report.sources);
        let loc = locator.locate(Span::new(SourceId(0), 34, 38)).unwrap();
        assert_eq!(
            (loc.line, loc.column, loc.end_line, loc.end_column),
            (5, 1, 5, 5)
        );
        let far = locator.locate(Span::new(SourceId(0), 900, 990)).unwrap();
        assert_eq!(far.line, 6);
        assert!(locator.locate(Span::new(SourceId(7), 0, 1)).is_none());
    }
}
