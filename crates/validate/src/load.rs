//! YAML/JSON → spanned [`Node`] trees. (Being written: see the loader task.)

use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, SourceId};
use crate::tree::Node;

/// Limits that keep hostile input from exhausting memory, time or stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_file_bytes: usize,
    /// Deepest accepted nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most documents accepted in one input.
    pub max_documents: usize,
    /// Most nodes that alias expansion may add to one document.
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_documents: 10_000,
            max_alias_nodes: 100_000,
        }
    }
}

/// Parses every document of `file`. Empty documents are skipped. Findings go to `diags`;
/// a document with a fatal error is dropped, the ones before it are kept.
pub fn parse(
    _id: SourceId,
    _file: &SourceFile,
    _limits: &Limits,
    _diags: &mut Vec<Diagnostic>,
) -> Vec<Node> {
    Vec::new()
}
