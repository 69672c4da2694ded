//! A Task's `concurrency` key: its `${{ }}` expressions parsed and their node reads checked,
//! like those of `inputs` (an expression that does not parse, reads an unknown variable or a
//! node that is not upstream refuses the plan).

use super::CompileError;
use crate::cel::{self, ExprError};
use crate::graph::{ExecGraph, ExecKind, Reads};
use crate::template::{self, Piece};
use std::collections::BTreeSet;

/// Most bytes of a `concurrency` key as written (the model's limit).
pub(crate) const MAX_KEY_BYTES: usize = 253;

/// Checks every Task's `concurrency` key and records what its expressions read.
pub(super) fn compile_keys(graph: &mut ExecGraph) -> Result<(), CompileError> {
    for k in 0..graph.nodes.len() {
        let ExecKind::Task(task) = &graph.nodes[k].kind else {
            continue;
        };
        let Some(lease) = &task.concurrency else {
            continue;
        };
        let id = graph.nodes[k].id.to_string();
        let invalid = |message: String| CompileError::InvalidConcurrency {
            node: id.clone(),
            message,
        };
        if lease.key.trim().is_empty() {
            return Err(invalid("the key is empty".into()));
        }
        if lease.key.len() > MAX_KEY_BYTES {
            return Err(invalid(format!(
                "the key is {} bytes; at most {MAX_KEY_BYTES} are allowed",
                lease.key.len()
            )));
        }
        if !(1..=1000).contains(&lease.limit) {
            return Err(invalid(format!(
                "`limit` is {}; it must be between 1 and 1000",
                lease.limit
            )));
        }
        let (has_expressions, reads) = if template::has_expression(&lease.key) {
            let pieces = template::split(&lease.key).map_err(|e| invalid(e.to_string()))?;
            let mut ids = BTreeSet::new();
            let mut dynamic = false;
            for piece in pieces {
                let Piece::Expr(text) = piece else {
                    continue;
                };
                let analysis = cel::analyze_known(text).map_err(|e| match e {
                    ExprError::Unavailable => CompileError::EvaluatorUnavailable,
                    e => invalid(format!("`${{{{ {text} }}}}`: {e}")),
                })?;
                dynamic |= analysis.nodes.dynamic;
                for read in &analysis.nodes.ids {
                    let j = graph
                        .index_of(read)
                        .ok_or_else(|| CompileError::ReadsUnknownNode {
                            node: id.clone(),
                            field: "`concurrency.key`".into(),
                            read: read.clone(),
                        })?;
                    ids.insert((j, read.clone()));
                }
            }
            if !ids.is_empty() {
                let upstream = graph.upstream(k);
                if let Some((_, read)) =
                    ids.iter().find(|(j, _)| upstream.binary_search(j).is_err())
                {
                    return Err(CompileError::ReadsNonUpstream {
                        node: id.clone(),
                        field: "`concurrency.key`".into(),
                        read: read.clone(),
                    });
                }
            }
            let reads = if dynamic {
                Reads::Upstream
            } else {
                Reads::Nodes(ids.into_iter().map(|(j, _)| j).collect())
            };
            (true, reads)
        } else {
            (false, Reads::none())
        };
        if let ExecKind::Task(task) = &mut graph.nodes[k].kind {
            if let Some(lease) = &mut task.concurrency {
                lease.has_expressions = has_expressions;
                lease.reads = reads;
            }
        }
    }
    Ok(())
}
