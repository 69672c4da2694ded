//! Rules across the resources validated together: references resolve (including
//! `metadata.ownerReferences` to PlanSpec kinds), names are unique, Capability requirements
//! are acyclic, Gate targets agree with Gate nodes, and Bindings resolve every Task node they
//! apply to without conflicts ([`bindings`]).

pub(crate) mod bindings;
mod subplans;

use crate::diagnostic::{Code, Diagnostic};
use crate::normalize::ImpliedGate;
use crate::report::Resource;
use crate::source::Span;
use crate::tree::Node;
use planspec_model::Kind;
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

/// The namespace a resource without `metadata.namespace` lives in.
pub const DEFAULT_NAMESPACE: &str = "default";

type Key<'a> = (Kind, &'a str, &'a str);

struct Index<'a> {
    resources: &'a [Resource],
    by_key: HashMap<Key<'a>, usize>,
    implied_gates: HashSet<(&'a str, &'a str)>,
    /// The node ids of each Plan (by resource index, built on first use); one more, empty,
    /// cell at the end for a plan that is not indexed.
    node_ids: Vec<OnceCell<HashSet<&'a str>>>,
}

impl<'a> Index<'a> {
    fn find(&self, kind: Kind, namespace: &str, name: &str) -> Option<&'a Resource> {
        self.by_key
            .get(&(kind, namespace, name))
            .map(|&i| &self.resources[i])
    }

    /// The node ids of a Plan found with [`Index::find`], computed once per Plan.
    fn node_ids(&self, plan: &'a Resource) -> &HashSet<&'a str> {
        let i = plan
            .name
            .as_deref()
            .and_then(|name| self.by_key.get(&(Kind::Plan, namespace_of(plan), name)))
            .copied()
            .unwrap_or(self.resources.len());
        let cell = &self.node_ids[i.min(self.resources.len())];
        cell.get_or_init(|| {
            if i < self.resources.len() {
                plan_node_ids(plan)
            } else {
                HashSet::new()
            }
        })
    }
}

fn namespace_of(r: &Resource) -> &str {
    r.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
}

/// Checks references between `resources`.
pub fn check(resources: &[Resource], implied: &[ImpliedGate], diags: &mut Vec<Diagnostic>) {
    let mut index = Index {
        resources,
        by_key: HashMap::new(),
        implied_gates: HashSet::new(),
        node_ids: (0..=resources.len()).map(|_| OnceCell::new()).collect(),
    };
    for (i, r) in resources.iter().enumerate() {
        let Some(name) = r.name.as_deref() else {
            continue;
        };
        let key = (r.kind, namespace_of(r), name);
        if let Some(&first) = index.by_key.get(&key) {
            if resources[first].node.to_json() == r.node.to_json() {
                continue; // the same definition twice changes nothing
            }
            let span = r
                .node
                .at(&["metadata", "name"])
                .map(|n| n.span)
                .unwrap_or(r.span);
            let first_span = resources[first]
                .node
                .at(&["metadata", "name"])
                .map(|n| n.span)
                .unwrap_or(resources[first].span);
            diags.push(
                Diagnostic::new(Code::DuplicateResource, format!("{} `{name}` in namespace `{}` is defined twice", r.kind.as_str(), key.1))
                    .at(span)
                    .with_path("metadata.name")
                    .with_related(first_span, "first defined here")
                    .with_hint("the later definition would overwrite the earlier one on apply; rename or remove one")
                    .for_resource(i, r.display_name()),
            );
        } else {
            index.by_key.insert(key, i);
        }
    }
    for gate in implied {
        index.implied_gates.insert((
            gate.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
            gate.name.as_str(),
        ));
    }
    let mut missing: Vec<Missing> = Vec::new();
    for (position, r) in resources.iter().enumerate() {
        let mut found = Vec::new();
        let mut ctx = Ctx {
            index: &index,
            from: r,
            from_index: position,
            diags: &mut found,
            missing: &mut missing,
        };
        match r.kind {
            Kind::Plan => ctx.plan(),
            Kind::Execution => ctx.execution(),
            Kind::Binding => ctx.binding(),
            Kind::Gate => ctx.gate(),
            Kind::Capability => ctx.capability_refs(),
            Kind::Goal
            | Kind::Policy
            | Kind::Provider
            | Kind::Role
            | Kind::RoleBinding
            | Kind::ClusterRole
            | Kind::ClusterRoleBinding => {}
        }
        ctx.owner_references();
        let display = r.display_name();
        diags.extend(
            found
                .into_iter()
                .map(|d| d.for_resource(position, display.clone())),
        );
    }
    report_missing(missing, diags);
    capability_cycles(&index, diags);
    subplans::check(&index, diags);
    bindings::check(&index, diags);
}

/// A reference to a resource outside the validated set.
struct Missing {
    kind: Kind,
    namespace: String,
    name: String,
    field: String,
    span: Span,
    resource: String,
    resource_index: usize,
}

/// One warning per missing target, at its first reference, counting the others: a plan
/// validated alone would otherwise get a warning for every node that uses a capability.
fn report_missing(missing: Vec<Missing>, diags: &mut Vec<Diagnostic>) {
    let mut groups: Vec<(Missing, Vec<Span>)> = Vec::new();
    let mut position: HashMap<(Kind, String, String), usize> = HashMap::new();
    for m in missing {
        let key = (m.kind, m.namespace.clone(), m.name.clone());
        match position.get(&key) {
            Some(&i) => groups[i].1.push(m.span),
            None => {
                position.insert(key, groups.len());
                groups.push((m, Vec::new()));
            }
        }
    }
    for (first, others) in groups {
        let more = match others.len() {
            0 => String::new(),
            1 => " (referenced once more)".to_string(),
            n => format!(" (referenced {n} more times)"),
        };
        let mut d = Diagnostic::new(
            Code::UnresolvedReference,
            format!(
                "`{}` refers to {} `{}` in namespace `{}`, which is not among the validated resources{more}",
                first.field,
                first.kind.as_str(),
                first.name,
                first.namespace
            ),
        )
        .at(first.span)
        .with_path(first.field)
        .with_hint("validate it together with the file that defines it (e.g. `planspec validate DIR -R`), or fix the name");
        d = d.for_resource(first.resource_index, first.resource);
        for span in others.into_iter().take(3) {
            d = d.with_related(span, "also referenced here");
        }
        diags.push(d);
    }
}

struct Ctx<'i, 'a, 'd> {
    index: &'i Index<'a>,
    from: &'a Resource,
    from_index: usize,
    diags: &'d mut Vec<Diagnostic>,
    missing: &'d mut Vec<Missing>,
}

impl<'a> Ctx<'_, 'a, '_> {
    /// Resolves a reference; reports a foreign `kind` or a target missing from the set.
    fn reference(&mut self, node: &Node, expected: Kind, field: &str) -> Option<&'a Resource> {
        let name = node.get("name").and_then(Node::as_str)?;
        if let Some(kind_node) = node.get("kind") {
            if let Some(kind) = kind_node.as_str().filter(|k| *k != expected.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::WrongReferenceKind,
                        format!(
                            "`{field}` must refer to a {}, but its `kind` is `{kind}`",
                            expected.as_str()
                        ),
                    )
                    .at(kind_node.span)
                    .with_path(format!("{field}.kind"))
                    .with_hint(format!(
                        "write `kind: {}` or leave `kind` out",
                        expected.as_str()
                    )),
                );
                return None;
            }
        }
        let namespace = node
            .get("namespace")
            .and_then(Node::as_str)
            .unwrap_or_else(|| namespace_of(self.from));
        if let Some(target) = self.index.find(expected, namespace, name) {
            return Some(target);
        }
        if expected == Kind::Gate && self.index.implied_gates.contains(&(namespace, name)) {
            return None;
        }
        self.missing.push(Missing {
            kind: expected,
            namespace: namespace.to_string(),
            name: name.to_string(),
            field: field.to_string(),
            span: node.get("name").map(|n| n.span).unwrap_or(node.span),
            resource: self.from.display_name(),
            resource_index: self.from_index,
        });
        None
    }

    fn plan(&mut self) {
        let doc = &self.from.node;
        let Some(spec) = doc.get("spec") else { return };
        if let Some(goal) = spec.get("goalRef") {
            self.reference(goal, Kind::Goal, "spec.goalRef");
        }
        if let Some(list) = spec.get("supersedes").and_then(Node::as_seq) {
            for (i, r) in list.iter().enumerate() {
                self.reference(r, Kind::Plan, &format!("spec.supersedes[{i}]"));
            }
        }
        let plan_name = self.from.name.clone().unwrap_or_default();
        let Some((nodes, nodes_path)) = plan_nodes(doc) else {
            return;
        };
        for (i, node) in nodes.iter().enumerate() {
            if let Some(refs) = node.get("capabilityRefs").and_then(Node::as_seq) {
                for (k, r) in refs.iter().enumerate() {
                    self.reference(
                        r,
                        Kind::Capability,
                        &format!("{nodes_path}[{i}].capabilityRefs[{k}]"),
                    );
                }
            }
            if node.get("kind").and_then(Node::as_str) == Some("Plan") {
                // By name: the Plan should be among the validated resources (a warning at
                // most: it may exist on the server). A series is picked at run time.
                if let Some(r) = node.get("planRef").filter(|r| r.get("series").is_none()) {
                    self.reference(r, Kind::Plan, &format!("{nodes_path}[{i}].planRef"));
                }
            }
            if let Some(r) = node.get("resolverRef") {
                self.reference(
                    r,
                    Kind::Capability,
                    &format!("spec.graph.nodes[{i}].resolverRef"),
                );
            }
            let Some(gate_ref) = node.get("gateRef") else {
                continue;
            };
            let field = format!("{nodes_path}[{i}].gateRef");
            let Some(gate) = self.reference(gate_ref, Kind::Gate, &field) else {
                continue;
            };
            let node_id = node.get("id").and_then(Node::as_str).unwrap_or_default();
            let Some(target) = gate.node.at(&["spec", "targetRef"]) else {
                continue;
            };
            let target_kind = target.get("kind").and_then(Node::as_str);
            let target_name = target.get("name").and_then(Node::as_str);
            let target_node = target.get("nodeId").and_then(Node::as_str);
            let mismatch =
                if target_kind == Some("Plan") && target_name.is_some_and(|n| n != plan_name) {
                    Some(format!(
                        "targets Plan `{}`",
                        target_name.unwrap_or_default()
                    ))
                } else if target_kind == Some("Plan") && target_node.is_some_and(|n| n != node_id) {
                    Some(format!(
                        "targets node `{}`",
                        target_node.unwrap_or_default()
                    ))
                } else {
                    None
                };
            if let Some(what) = mismatch {
                let span = gate_ref
                    .get("name")
                    .map(|n| n.span)
                    .unwrap_or(gate_ref.span);
                self.diags.push(
                    Diagnostic::new(
                        Code::GateTargetMismatch,
                        format!("node `{node_id}` uses Gate `{}`, but that Gate {what}", gate.name.as_deref().unwrap_or_default()),
                    )
                    .at(span)
                    .with_path(field)
                    .with_related(target.span, "the Gate's targetRef")
                    .with_hint(format!("point the Gate's `targetRef` at Plan `{plan_name}` node `{node_id}`, or use another Gate")),
                );
            }
        }
    }

    fn execution(&mut self) {
        let Some(spec) = self.from.node.get("spec") else {
            return;
        };
        let plan = spec
            .get("planRef")
            .and_then(|r| self.reference(r, Kind::Plan, "spec.planRef"));
        if let Some(r) = spec.get("goalRef") {
            self.reference(r, Kind::Goal, "spec.goalRef");
        }
        if let Some(r) = spec.get("bindingRef") {
            self.reference(r, Kind::Binding, "spec.bindingRef");
        }
        let ids = plan.map(|p| self.index.node_ids(p));
        if let Some(entries) = spec.get("nodeBindings").and_then(Node::as_map) {
            for entry in entries {
                let field = format!("spec.nodeBindings.{}", entry.key);
                self.reference(&entry.value, Kind::Binding, &field);
                if let (Some(ids), Some(plan)) = (&ids, plan) {
                    if !ids.contains(entry.key.as_str()) {
                        self.unknown_node(&entry.key, entry.key_span, plan, &field);
                    }
                }
            }
        }
        let statuses = self
            .from
            .node
            .at(&["status", "nodeStatuses"])
            .and_then(Node::as_map);
        if let (Some(entries), Some(ids), Some(plan)) = (statuses, &ids, plan) {
            for entry in entries.iter().filter(|e| !ids.contains(e.key.as_str())) {
                let field = format!("status.nodeStatuses.{}", entry.key);
                self.unknown_node(&entry.key, entry.key_span, plan, &field);
            }
        }
    }

    fn binding(&mut self) {
        let Some(rules) = self.from.node.at(&["spec", "rules"]).and_then(Node::as_seq) else {
            return;
        };
        for (i, rule) in rules.iter().enumerate() {
            let Some(selector) = rule.get("selector") else {
                continue;
            };
            let base = format!("spec.rules[{i}].selector");
            if let Some(r) = selector.get("capabilityRef") {
                self.reference(r, Kind::Capability, &format!("{base}.capabilityRef"));
            }
            let plan = selector
                .get("planRef")
                .and_then(|r| self.reference(r, Kind::Plan, &format!("{base}.planRef")));
            if let (Some(plan), Some(node_id)) = (plan, selector.get("nodeId")) {
                if let Some(id) = node_id
                    .as_str()
                    .filter(|id| !self.index.node_ids(plan).contains(id))
                {
                    self.unknown_node(id, node_id.span, plan, &format!("{base}.nodeId"));
                }
            }
        }
    }

    /// `metadata.ownerReferences` naming a PlanSpec kind resolve like other references (in
    /// the owned resource's namespace: an owner reference has no namespace). The `uid` is
    /// opaque and not compared: files rarely carry the server's uids (upstream examples use
    /// `placeholder-uid`). Owners of other APIs (`apiVersion` not `planspec.io/…`, or a kind
    /// PlanSpec does not have) are not ours to check.
    fn owner_references(&mut self) {
        let Some(owners) = self
            .from
            .node
            .at(&["metadata", "ownerReferences"])
            .and_then(Node::as_seq)
        else {
            return;
        };
        for (i, owner) in owners.iter().enumerate() {
            let api_version = owner.get("apiVersion").and_then(Node::as_str);
            if api_version.is_some_and(|v| v != planspec_model::API_VERSION) {
                continue;
            }
            let Some(kind) = owner
                .get("kind")
                .and_then(Node::as_str)
                .and_then(|k| Kind::ALL.into_iter().find(|kind| kind.as_str() == k))
            else {
                continue;
            };
            if owner.get("namespace").is_some() {
                continue; // not an owner reference the schema accepts; reported there
            }
            self.reference(owner, kind, &format!("metadata.ownerReferences[{i}]"));
        }
    }

    fn gate(&mut self) {
        let Some(target) = self.from.node.at(&["spec", "targetRef"]) else {
            return;
        };
        let kind_node = target.get("kind");
        let kind = match kind_node.and_then(Node::as_str) {
            Some("Plan") => Kind::Plan,
            Some("Execution") => Kind::Execution,
            // A well-formed kind (the schema reports malformed ones) that a Gate cannot guard.
            Some(other)
                if other.starts_with(|c: char| c.is_ascii_uppercase())
                    && other.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::WrongReferenceKind,
                        format!("a Gate guards a Plan or an Execution, but `spec.targetRef.kind` is `{other}`"),
                    )
                    .at(kind_node.map_or(target.span, |k| k.span))
                    .with_path("spec.targetRef.kind")
                    .with_hint("write `kind: Plan` (optionally with `nodeId`) or `kind: Execution`"),
                );
                return;
            }
            _ => return,
        };
        let Some(resolved) = self.reference(target, kind, "spec.targetRef") else {
            return;
        };
        if kind == Kind::Plan {
            if let Some(node_id) = target.get("nodeId") {
                if let Some(id) = node_id
                    .as_str()
                    .filter(|id| !self.index.node_ids(resolved).contains(id))
                {
                    self.unknown_node(id, node_id.span, resolved, "spec.targetRef.nodeId");
                }
            }
        }
    }

    fn capability_refs(&mut self) {
        let Some(reqs) = self
            .from
            .node
            .at(&["spec", "requirements"])
            .and_then(Node::as_seq)
        else {
            return;
        };
        for (i, req) in reqs.iter().enumerate() {
            if req.get("optional").and_then(Node::as_bool) == Some(true) {
                continue; // optional requirements never block, so a missing one is fine
            }
            self.reference(req, Kind::Capability, &format!("spec.requirements[{i}]"));
        }
    }

    /// Reports a node id its plan lacks. An id that is not even a valid node id has
    /// already been reported by the schema, so it is not reported twice.
    fn unknown_node(&mut self, id: &str, span: Span, plan: &'a Resource, field: &str) {
        if !planspec_model::common::is_dns_label(id) {
            return;
        }
        let ids = self.index.node_ids(plan);
        let hint = crate::suggest::did_you_mean(id, ids.iter().copied()).unwrap_or_else(|| {
            format!(
                "Plan `{}` has no such node",
                plan.name.as_deref().unwrap_or_default()
            )
        });
        self.diags.push(
            Diagnostic::new(
                Code::UnknownNodeReference,
                format!(
                    "`{field}` names node `{id}`, which Plan `{}` does not have",
                    plan.name.as_deref().unwrap_or_default()
                ),
            )
            .at(span)
            .with_path(field.to_string())
            .with_hint(hint),
        );
    }
}

/// A Plan's nodes, from `spec.graph.nodes` or else `spec.steps`, with the path that names
/// them.
fn plan_nodes(doc: &Node) -> Option<(&[Node], &'static str)> {
    if let Some(nodes) = doc.at(&["spec", "graph", "nodes"]).and_then(Node::as_seq) {
        return Some((nodes, "spec.graph.nodes"));
    }
    doc.at(&["spec", "steps"])
        .and_then(Node::as_seq)
        .map(|nodes| (nodes, "spec.steps"))
}

fn plan_node_ids(plan: &Resource) -> HashSet<&str> {
    plan_nodes(&plan.node)
        .map(|(nodes, _)| {
            nodes
                .iter()
                .filter_map(|n| n.get("id").and_then(Node::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Capability requirements must not form a cycle; each cycle is reported at the
/// requirement that closes it.
fn capability_cycles(index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    let caps: Vec<usize> = (0..index.resources.len())
        .filter(|&i| index.resources[i].kind == Kind::Capability)
        .collect();
    let position: HashMap<usize, usize> = caps.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let edges: Vec<Vec<(usize, Span)>> = caps
        .iter()
        .map(|&i| {
            let r = &index.resources[i];
            r.node
                .at(&["spec", "requirements"])
                .and_then(Node::as_seq)
                .unwrap_or(&[])
                .iter()
                .filter_map(|req| {
                    let name = req.get("name").and_then(Node::as_str)?;
                    let ns = req
                        .get("namespace")
                        .and_then(Node::as_str)
                        .unwrap_or_else(|| namespace_of(r));
                    let target = *index.by_key.get(&(Kind::Capability, ns, name))?;
                    Some((position[&target], req.span))
                })
                .collect()
        })
        .collect();
    let name = |p: usize| index.resources[caps[p]].name.clone().unwrap_or_default();
    let mut state = vec![0u8; caps.len()]; // 0 new, 1 on the stack, 2 done
    let mut on_stack_at = vec![0usize; caps.len()];
    for start in 0..caps.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(&mut (u, ref mut next)) = stack.last_mut() {
            if let Some(&(v, span)) = edges[u].get(*next) {
                *next += 1;
                if state[v] == 0 {
                    state[v] = 1;
                    on_stack_at[v] = stack.len();
                    stack.push((v, 0));
                } else if state[v] == 1 {
                    let mut path: Vec<String> = stack[on_stack_at[v]..]
                        .iter()
                        .map(|&(n, _)| name(n))
                        .collect();
                    path.push(name(v));
                    diags.push(
                        Diagnostic::new(
                            Code::CapabilityCycle,
                            format!("capability requirements form a cycle: {}", path.join(" → ")),
                        )
                        .at(span)
                        .with_path("spec.requirements")
                        .with_hint(format!(
                            "`{}` requiring `{}` closes the cycle; remove one requirement",
                            name(u),
                            name(v)
                        ))
                        .for_resource(caps[u], format!("Capability/{}", name(u))),
                    );
                }
            } else {
                state[u] = 2;
                stack.pop();
            }
        }
    }
}
