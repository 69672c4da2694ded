//! Rules a schema cannot express, checked inside one resource.

mod concurrency;
mod flow;
mod graph;
mod matrix;
mod misc;
mod placeholder;
mod provider;
mod subplan;
mod when;

use crate::diagnostic::Diagnostic;
use crate::tree::Node;
use planspec_model::Kind;

/// Runs the rules of `kind` over a normalised document.
pub fn check(kind: Kind, doc: &Node, diags: &mut Vec<Diagnostic>) {
    misc::metadata(doc, diags);
    match kind {
        Kind::Plan => {
            graph::check(doc, diags);
            flow::check(doc, diags);
            matrix::check(doc, diags);
            concurrency::check(doc, diags);
            placeholder::check(doc, diags);
            subplan::check(doc, diags);
            misc::plan(doc, diags);
        }
        Kind::Goal => misc::goal(doc, diags),
        Kind::Capability => misc::capability(doc, diags),
        Kind::Binding => misc::binding(doc, diags),
        Kind::Gate => misc::gate(doc, diags),
        Kind::Provider => provider::check(doc, diags),
        Kind::Execution
        | Kind::Policy
        | Kind::Role
        | Kind::RoleBinding
        | Kind::ClusterRole
        | Kind::ClusterRoleBinding => {}
    }
}
