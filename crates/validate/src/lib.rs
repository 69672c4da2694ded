//! `planspec-validate` — reads PlanSpec documents and says exactly what is wrong with them.
//!
//! The pipeline, one stage per module:
//!
//! 1. the caller puts the inputs into a [`SourceMap`] (the `planspec` binary reads files,
//!    directories and standard input; the server, request bodies): this crate does no I/O;
//! 2. [`load`] parses YAML/JSON into spanned [`tree::Node`]s, enforcing limits;
//! 3. [`envelope`] checks `apiVersion`/`kind` and flattens `kind: List`;
//! 4. [`normalize`] rewrites legacy forms into the modern form, warning for each;
//! 5. [`schema`] checks each resource against the JSON Schema generated from `planspec-model`;
//! 6. [`rules`] checks what a schema cannot say: the graph, Gate invariants …;
//! 7. [`cross`] checks references between the resources validated together.
//!
//! No stage panics on any input; every finding is a [`Diagnostic`] with a stable [`Code`].

pub mod cross;
pub mod diagnostic;
pub mod envelope;
pub mod load;
pub mod normalize;
pub mod rules;
pub mod schema;
pub mod source;
pub mod suggest;
pub mod tree;

mod report;

pub use diagnostic::{Code, Diagnostic, Related, Severity};
pub use load::Limits;
pub use report::{validate, Options, Report, Resource};
pub use source::{LineCol, SourceFile, SourceId, SourceMap, Span};
