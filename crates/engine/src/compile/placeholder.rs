//! A `Placeholder` node → its [`PlaceholderConfig`], refusing a schema that does not compile
//! or a rule that does not parse (the validator reports both first, as PS0445 and PS0446),
//! and, once the graph is built, a rule that reads a node not upstream of its Placeholder.

use super::CompileError;
use crate::cel::{self, ExprError};
use crate::graph::{ExecGraph, ExecKind};
use crate::placeholder::{check_rule, compile_schema, PlaceholderConfig};
use planspec_model::plan::PlaceholderNode;

pub(super) fn config(node: &PlaceholderNode) -> Result<PlaceholderConfig, CompileError> {
    let bad = |message: String| CompileError::InvalidPlaceholder {
        node: node.id.to_string(),
        message,
    };
    if let Some(schema) = &node.schema {
        compile_schema(schema)
            .map_err(|why| bad(format!("`schema` is not a usable JSON Schema: {why}")))?;
    }
    for (k, rule) in node.rules.iter().enumerate() {
        check_rule(&rule.expression).map_err(|why| bad(format!("`rules[{k}]`: {why}")))?;
    }
    Ok(PlaceholderConfig {
        description: node.description.clone(),
        value_type: node.placeholder_type,
        schema: node.schema.clone(),
        rules: node.rules.clone(),
        selector: node.selector.clone(),
        resolver_ref: node.resolver_ref.clone(),
    })
}

/// A rule may read only nodes upstream of its Placeholder (through `nodes`), as a `when` may.
pub(super) fn check_reads(graph: &ExecGraph) -> Result<(), CompileError> {
    for (k, node) in graph.nodes.iter().enumerate() {
        let ExecKind::Placeholder(config) = &node.kind else {
            continue;
        };
        let mut upstream: Option<Vec<usize>> = None;
        for (j, rule) in config.rules.iter().enumerate() {
            let analysis = cel::analyze(&rule.expression).map_err(|e| match e {
                ExprError::Unavailable => CompileError::EvaluatorUnavailable,
                e => CompileError::InvalidPlaceholder {
                    node: node.id.to_string(),
                    message: format!("`rules[{j}]`: {e}"),
                },
            })?;
            for read in &analysis.nodes.ids {
                let field = format!("`rules[{j}]`");
                let i = graph
                    .index_of(read)
                    .ok_or_else(|| CompileError::ReadsUnknownNode {
                        node: node.id.to_string(),
                        field: field.clone(),
                        read: read.clone(),
                    })?;
                let upstream = upstream.get_or_insert_with(|| graph.upstream(k));
                if upstream.binary_search(&i).is_err() {
                    return Err(CompileError::ReadsNonUpstream {
                        node: node.id.to_string(),
                        field,
                        read: read.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}
