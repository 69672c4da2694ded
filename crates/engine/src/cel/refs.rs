//! Which nodes an expression reads through the `nodes` variable, found in its syntax tree.

use cel::common::ast::{operators, EntryExpr, Expr, LiteralValue};
use cel::IdedExpr;
use std::collections::BTreeSet;

/// The nodes an expression reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeReads {
    /// Node ids read as `nodes.<id>` or `nodes["<id>"]`.
    pub ids: BTreeSet<String>,
    /// `true` if `nodes` is also used in a way that names no node statically
    /// (`nodes[parameters.which]`, `nodes.exists(…)`, a bare `nodes`): then every upstream
    /// node may be read.
    pub dynamic: bool,
}

const NODES: &str = "nodes";

/// Walks `root` without recursion (the tree of a long operator chain is deep).
pub(super) fn node_reads(root: &IdedExpr) -> NodeReads {
    let mut reads = NodeReads::default();
    let mut todo: Vec<&IdedExpr> = vec![root];
    let is_nodes = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(name) if name == NODES);
    while let Some(expr) = todo.pop() {
        match &expr.expr {
            Expr::Ident(name) => {
                if name == NODES {
                    reads.dynamic = true;
                }
            }
            Expr::Select(select) => {
                if is_nodes(&select.operand) {
                    reads.ids.insert(select.field.clone());
                } else {
                    todo.push(&select.operand);
                }
            }
            Expr::Call(call) => {
                let static_index = call.func_name == operators::INDEX
                    && call.target.is_none()
                    && call.args.len() == 2
                    && is_nodes(&call.args[0]);
                let literal = match call.args.get(1).map(|a| &a.expr) {
                    Some(Expr::Literal(LiteralValue::String(s))) if static_index => {
                        Some(s.inner().to_string())
                    }
                    _ => None,
                };
                if let Some(id) = literal {
                    reads.ids.insert(id);
                } else {
                    if let Some(target) = &call.target {
                        todo.push(target);
                    }
                    todo.extend(call.args.iter());
                }
            }
            Expr::Comprehension(c) => {
                todo.extend([
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ]);
            }
            Expr::List(list) => todo.extend(list.elements.iter()),
            Expr::Map(map) => {
                for entry in &map.entries {
                    push_entry(&entry.expr, &mut todo);
                }
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    push_entry(&entry.expr, &mut todo);
                }
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    reads
}

fn push_entry<'a>(entry: &'a EntryExpr, todo: &mut Vec<&'a IdedExpr>) {
    match entry {
        EntryExpr::MapEntry(e) => {
            todo.push(&e.key);
            todo.push(&e.value);
        }
        EntryExpr::StructField(f) => todo.push(&f.value),
    }
}
