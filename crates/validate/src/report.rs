//! The validation pipeline and its result.

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::load::Limits;
use crate::normalize::ImpliedGate;
use crate::schema::CompiledSchema;
use crate::source::{SourceId, SourceMap, Span};
use crate::tree::Node;
use crate::{cross, envelope, load, normalize, rules, schema};
use planspec_model::Kind;
use std::sync::OnceLock;

/// How to validate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Turn every warning into an error.
    pub strict: bool,
    pub limits: Limits,
}

/// One resource found in the inputs, after legacy forms were normalised.
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: Kind,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub source: SourceId,
    /// Span of the whole resource document (or `List` item).
    pub span: Span,
    /// The normalised document.
    pub node: Node,
    /// Number of error diagnostics about this resource.
    pub errors: usize,
    /// Number of warnings about this resource.
    pub warnings: usize,
}

impl Resource {
    /// `Kind/name`, as used in messages.
    pub fn display_name(&self) -> String {
        format!(
            "{}/{}",
            self.kind.as_str(),
            self.name.as_deref().unwrap_or("<unnamed>")
        )
    }

    pub fn is_valid(&self) -> bool {
        self.errors == 0
    }

    /// Deserialises the normalised document into a model type.
    pub fn to_typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.node.to_json())
    }
}

/// Everything a validation run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sources: SourceMap,
    pub resources: Vec<Resource>,
    /// Gate resources implied by legacy Gate nodes without `gateRef`.
    pub implied_gates: Vec<ImpliedGate>,
    /// Sorted by source, position, then code.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// Adds findings from outside the pipeline (unreadable inputs …), keeping the order.
    pub fn add_diagnostics(
        &mut self,
        diags: impl IntoIterator<Item = Diagnostic>,
        options: &Options,
    ) {
        self.diagnostics
            .extend(diags.into_iter().map(|d| raise(d, options)));
        sort(&mut self.diagnostics);
    }
}

/// Validates every document in `sources`.
pub fn validate(sources: SourceMap, options: &Options) -> Report {
    let mut diagnostics = Vec::new();
    let mut resources = Vec::new();
    let mut implied_gates = Vec::new();
    for (id, file) in sources.files() {
        let documents = load::parse(id, file, &options.limits, &mut diagnostics);
        for candidate in envelope::resources(documents, &mut diagnostics) {
            let index = resources.len();
            resources.push(check_resource(
                id,
                index,
                candidate,
                &mut diagnostics,
                &mut implied_gates,
            ));
        }
    }
    cross::check(&resources, &implied_gates, &mut diagnostics);
    for d in &mut diagnostics {
        if options.strict {
            d.severity = Severity::Error;
        }
    }
    count_errors(&mut resources, &mut diagnostics);
    sort(&mut diagnostics);
    Report {
        sources,
        resources,
        implied_gates,
        diagnostics,
    }
}

fn check_resource(
    source: SourceId,
    index: usize,
    candidate: envelope::Candidate,
    diagnostics: &mut Vec<Diagnostic>,
    implied: &mut Vec<ImpliedGate>,
) -> Resource {
    let start = diagnostics.len();
    let envelope::Candidate { kind, mut node } = candidate;
    normalize::normalize(kind, &mut node, diagnostics, implied);
    match compiled(kind) {
        Ok(schema) => schema::check(schema, &node, diagnostics),
        Err(message) => {
            diagnostics.push(Diagnostic::new(Code::Internal, message.clone()).at(node.span))
        }
    }
    rules::check(kind, &node, diagnostics);
    let name = node
        .at(&["metadata", "name"])
        .and_then(Node::as_str)
        .map(str::to_string);
    let namespace = node
        .at(&["metadata", "namespace"])
        .and_then(Node::as_str)
        .map(str::to_string);
    let resource = Resource {
        kind,
        name,
        namespace,
        source,
        span: node.span,
        node,
        errors: 0,
        warnings: 0,
    };
    let display = resource.display_name();
    for d in &mut diagnostics[start..] {
        d.resource.get_or_insert_with(|| display.clone());
        d.resource_index.get_or_insert(index);
    }
    resource
}

/// The compiled schema of each kind, built once per process on first use.
fn compiled(kind: Kind) -> &'static Result<CompiledSchema, String> {
    #[allow(clippy::declare_interior_mutable_const)] // each array slot is its own OnceLock
    const EMPTY: OnceLock<Result<CompiledSchema, String>> = OnceLock::new();
    static SCHEMAS: [OnceLock<Result<CompiledSchema, String>>; Kind::ALL.len()] =
        [EMPTY; Kind::ALL.len()];
    let slot = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    SCHEMAS[slot].get_or_init(|| {
        schema::compile(&planspec_model::schema::kind_schema(kind)).map_err(|e| {
            format!(
                "the built-in schema for {} does not compile: {e}",
                kind.as_str()
            )
        })
    })
}

fn raise(mut d: Diagnostic, options: &Options) -> Diagnostic {
    if options.strict {
        d.severity = Severity::Error;
    }
    d
}

/// Counts each resource's errors and warnings, as attributed by the stage that found them.
/// Findings of the loader come before any resource exists; they belong to the resource
/// whose document contains their span.
fn count_errors(resources: &mut [Resource], diagnostics: &mut [Diagnostic]) {
    let mut by_start: Vec<(SourceId, u32, u32, usize)> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.source, r.span.start, r.span.end, i))
        .collect();
    by_start.sort_unstable();
    for d in diagnostics.iter_mut() {
        if d.resource_index.is_none() {
            if let Some(i) = d.span.and_then(|span| containing(&by_start, span)) {
                *d = d.clone().for_resource(i, resources[i].display_name());
            }
        }
        let Some(r) = d.resource_index.and_then(|i| resources.get_mut(i)) else {
            continue;
        };
        match d.severity {
            Severity::Error => r.errors += 1,
            Severity::Warning => r.warnings += 1,
        }
    }
}

/// The resource whose span contains `span`, if any.
fn containing(by_start: &[(SourceId, u32, u32, usize)], span: Span) -> Option<usize> {
    let after = by_start
        .partition_point(|&(source, start, _, _)| (source, start) <= (span.source, span.start));
    let &(source, start, end, index) = by_start.get(after.checked_sub(1)?)?;
    (source == span.source && start <= span.start && span.end <= end).then_some(index)
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| {
        let span = d.span.unwrap_or_default();
        (d.span.is_some(), span.source, span.start, d.code)
    });
}
