//! Schema layer: runs the JSON Schemas generated from `planspec-model` over the spanned tree.
//!
//! The published schemas in `schemas/v1alpha1/` and this validator are one source of
//! truth: [`compile`] turns a schema into a compact form once, [`check`] walks a
//! document against it and reports findings with stable codes and exact spans.
//! Compared with a generic JSON Schema validator it adds what a reviewer wants:
//! unknown fields are warnings with "did you mean", a field that belongs to another
//! node kind is named as such, and a tagged union picks its branch by the tag
//! instead of listing every branch's failure.

mod check;
mod compile;
mod formats;

pub use check::check;
pub use compile::{compile, CompileError, CompiledSchema};
