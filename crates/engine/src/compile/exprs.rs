//! `when` conditions and `${{ }}` inputs: parsed, and their node reads checked.

use super::groups::Structure;
use super::{CompileError, MAX_INPUT_DEPTH};
use crate::cel::{self, Analysis, ExprError};
use crate::graph::{Condition, ExecGraph, ExecKind, Expr, Reads, Test};
use crate::template;
use planspec_model::plan::Node;
use std::collections::{BTreeMap, HashMap};

/// Fills in every executable node's conditions and input template.
pub(super) fn compile_expressions(
    graph: &mut ExecGraph,
    nodes: &[Node],
    executable: &[usize],
    structure: &Structure<'_>,
) -> Result<(), CompileError> {
    let mut cache: HashMap<String, Result<Analysis, ExprError>> = HashMap::new();
    for (k, &i) in executable.iter().enumerate() {
        let id = graph.nodes[k].id.to_string();
        // Every node read (by index) → the first field that reads it.
        let mut reads: BTreeMap<usize, (String, String)> = BTreeMap::new();

        let mut declared_on = structure.enclosing(i);
        declared_on.push(i);
        let mut conditions = Vec::new();
        for d in declared_on {
            let Some(text) = nodes[d].when() else {
                continue;
            };
            let from = nodes[d].id().clone();
            let field = if d == i {
                "`when`".to_string()
            } else {
                format!("the `when` of group `{from}`")
            };
            let test = match analyze(&mut cache, text) {
                Ok(analysis) => Test::Cel(Expr {
                    source: text.to_string(),
                    reads: node_reads(graph, &id, &field, &analysis, &mut reads)?,
                }),
                Err(ExprError::Unavailable) => return Err(CompileError::EvaluatorUnavailable),
                Err(problem) => {
                    graph.warnings.push(format!(
                        "node `{id}`: {field} is kept as an opaque label and never evaluated: {problem}"
                    ));
                    Test::Opaque(text.to_string())
                }
            };
            conditions.push(Condition { from, test });
        }

        let inputs = match &graph.nodes[k].kind {
            ExecKind::Task(task) => Some(serde_json::Value::Object(task.inputs.value.clone())),
            ExecKind::Plan(plan) => Some(serde_json::Value::Object(plan.inputs.value.clone())),
            _ => None,
        };
        let mut template = None;
        if let Some(value) = inputs {
            let found = template::expressions(&value, MAX_INPUT_DEPTH).map_err(|path| {
                CompileError::InvalidInputs {
                    node: id.clone(),
                    path,
                    message: format!("nested more than {MAX_INPUT_DEPTH} levels deep"),
                }
            })?;
            let mut all = Reads::none();
            for (path, exprs) in &found {
                let invalid = |message: String| CompileError::InvalidInputs {
                    node: id.clone(),
                    path: path.clone(),
                    message,
                };
                let exprs = exprs.as_ref().map_err(|e| invalid(e.to_string()))?;
                for text in exprs {
                    let analysis = analyze(&mut cache, text).map_err(|e| match e {
                        ExprError::Unavailable => CompileError::EvaluatorUnavailable,
                        e => invalid(format!("`${{{{ {text} }}}}`: {e}")),
                    })?;
                    let field = format!("`inputs` at `{path}`");
                    all = all.union(&node_reads(graph, &id, &field, &analysis, &mut reads)?);
                }
            }
            template = Some((!found.is_empty(), all));
        }

        check_upstream(graph, k, &id, &reads)?;
        let node = &mut graph.nodes[k];
        node.when = conditions;
        if let Some((has_expressions, all)) = template {
            let inputs = match &mut node.kind {
                ExecKind::Task(task) => Some(&mut task.inputs),
                ExecKind::Plan(plan) => Some(&mut plan.inputs),
                _ => None,
            };
            if let Some(inputs) = inputs {
                inputs.has_expressions = has_expressions;
                inputs.reads = all;
            }
        }
    }
    Ok(())
}

/// Parses `text` (once per distinct text) and requires it to read only PlanSpec's variables.
fn analyze(
    cache: &mut HashMap<String, Result<Analysis, ExprError>>,
    text: &str,
) -> Result<Analysis, ExprError> {
    cache
        .entry(text.to_string())
        .or_insert_with(|| cel::analyze_known(text))
        .clone()
}

/// The indices of the nodes an expression reads; records each in `reads` for the upstream
/// check.
fn node_reads(
    graph: &ExecGraph,
    id: &str,
    field: &str,
    analysis: &Analysis,
    reads: &mut BTreeMap<usize, (String, String)>,
) -> Result<Reads, CompileError> {
    let mut indices = Vec::with_capacity(analysis.nodes.ids.len());
    for read in &analysis.nodes.ids {
        let j = graph
            .index_of(read)
            .ok_or_else(|| CompileError::ReadsUnknownNode {
                node: id.to_string(),
                field: field.to_string(),
                read: read.clone(),
            })?;
        reads
            .entry(j)
            .or_insert_with(|| (field.to_string(), read.clone()));
        indices.push(j);
    }
    indices.sort_unstable();
    Ok(if analysis.nodes.dynamic {
        Reads::Upstream
    } else {
        Reads::Nodes(indices)
    })
}

/// Every node read must be upstream of node `k`.
fn check_upstream(
    graph: &ExecGraph,
    k: usize,
    id: &str,
    reads: &BTreeMap<usize, (String, String)>,
) -> Result<(), CompileError> {
    if reads.is_empty() {
        return Ok(());
    }
    let mut missing = reads.len();
    let mut seen = vec![false; graph.nodes.len()];
    let mut todo: Vec<usize> = graph.deps(k).collect();
    while let Some(j) = todo.pop() {
        if missing == 0 {
            break;
        }
        if std::mem::replace(&mut seen[j], true) {
            continue;
        }
        if reads.contains_key(&j) {
            missing -= 1;
        }
        todo.extend(graph.deps(j));
    }
    match reads.iter().find(|(&j, _)| !seen[j]) {
        None => Ok(()),
        Some((_, (field, read))) => Err(CompileError::ReadsNonUpstream {
            node: id.to_string(),
            field: field.clone(),
            read: read.clone(),
        }),
    }
}
