//! Binding resolution over the validated set, with the resolver of `planspec-model`:
//!
//! * every Binding is applied to every Plan of its namespace, and every Execution's Binding
//!   (`bindingRef`, or the `nodeBindings` override of a node) to the Execution's Plan; a Task
//!   node whose rules tie with different targets under `ErrorOnConflict`/`MostSpecific` is a
//!   conflict (`PS0503`, error), reported once per Binding and set of rules at the first
//!   rule's selector;
//! * a Task node of an Execution's Plan that its Binding leaves unbound is a warning
//!   (`PS0501`): the Execution could not dispatch it. Unbound nodes are not reported
//!   otherwise — a Binding validated with a subset of the plans is normal.
//!
//! Conflicts between rules with the *same* selector are certain whatever the plans, so the
//! per-resource rules report them already (`rules::misc::binding`); they are not repeated here.
//!
//! Cost: each Binding is indexed once (O(rules)); each (Binding, Plan) pair costs one label
//! match per plan plus a few hash lookups per Task node.

use super::{namespace_of, Index};
use crate::diagnostic::{Code, Diagnostic};
use crate::report::Resource;
use crate::source::Span;
use crate::tree::Node;
use planspec_model::binding::{
    BindingIndex, BindingRule, BindingStrategy, NodeSubject, PlanSubject, QualifiedName, Resolution,
};
use planspec_model::{Kind, LabelKey, LabelValue, Labels};
use std::collections::HashMap;

/// The selector shapes, by their sorted keys.
const SHAPES: &[&[&str]] = &[
    &["nodeId", "planRef"],
    &["capabilityRef", "planRef"],
    &["capabilityRef"],
    &["planRef"],
    &["matchLabels"],
];

/// A Binding rule as the resolver reads it; `None` if it is malformed (the schema reports
/// that), including a selector with other keys than exactly one shape's.
pub(crate) fn typed_rule(rule: &Node) -> Option<BindingRule> {
    let selector = rule.get("selector")?.as_map()?;
    let mut keys: Vec<&str> = selector.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    if !SHAPES.contains(&keys.as_slice()) {
        return None;
    }
    serde_json::from_value(rule.to_json()).ok()
}

/// The Binding's strategy; `None` if `spec.strategy` is not one of the three values.
pub(crate) fn strategy(doc: &Node) -> Option<BindingStrategy> {
    match doc.at(&["spec", "strategy"]) {
        None => Some(BindingStrategy::default()),
        Some(s) => match s.as_str()? {
            "FirstMatch" => Some(BindingStrategy::FirstMatch),
            "MostSpecific" => Some(BindingStrategy::MostSpecific),
            "ErrorOnConflict" => Some(BindingStrategy::ErrorOnConflict),
            _ => None,
        },
    }
}

/// The span a finding about rule `i` points at: its `selector` key.
pub(crate) fn selector_span(rule: &Node) -> Span {
    rule.entry("selector").map_or(rule.span, |e| e.key_span)
}

struct BindingDoc<'a> {
    resource: usize,
    namespace: &'a str,
    strategy: BindingStrategy,
    rule_nodes: &'a [Node],
    rules: Vec<(usize, BindingRule)>,
}

struct TaskDoc<'a> {
    subject: NodeSubject<'a>,
    span: Span,
}

struct PlanDoc<'a> {
    resource: usize,
    plan: QualifiedName<'a>,
    labels: Labels,
    tasks: Vec<TaskDoc<'a>>,
}

impl<'a> PlanDoc<'a> {
    fn read(resource: usize, r: &'a Resource) -> Option<Self> {
        let namespace = namespace_of(r);
        let plan = QualifiedName::new(namespace, r.name.as_deref()?);
        let labels = r
            .node
            .at(&["metadata", "labels"])
            .and_then(Node::as_map)
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                Some((
                    LabelKey::from(e.key.as_str()),
                    LabelValue::from(e.value.as_str()?),
                ))
            })
            .collect();
        let tasks = r
            .node
            .at(&["spec", "graph", "nodes"])
            .or_else(|| r.node.at(&["spec", "steps"]))
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .filter(|n| n.get("kind").and_then(Node::as_str) == Some("Task"))
            .filter_map(|n| {
                let id = n.get("id")?;
                let caps = n
                    .get("capabilityRefs")
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| {
                        let name = c.get("name")?.as_str()?;
                        let ns = c
                            .get("namespace")
                            .and_then(Node::as_str)
                            .unwrap_or(namespace);
                        Some(QualifiedName::new(ns, name))
                    });
                Some(TaskDoc {
                    subject: NodeSubject::new(id.as_str()?, caps),
                    span: id.span,
                })
            })
            .collect();
        Some(PlanDoc {
            resource,
            plan,
            labels,
            tasks,
        })
    }

    fn subject(&self) -> PlanSubject<'_> {
        PlanSubject {
            plan: self.plan,
            labels: &self.labels,
        }
    }
}

/// Where a conflict was seen first, and how often.
struct Conflict<'a> {
    binding: usize,
    rules: Vec<usize>,
    plan: QualifiedName<'a>,
    node: &'a str,
    capabilities: Vec<QualifiedName<'a>>,
    node_span: Span,
    count: usize,
}

#[derive(Default)]
struct Conflicts<'a> {
    list: Vec<Conflict<'a>>,
    seen: HashMap<(usize, Vec<usize>), usize>,
}

impl<'a> Conflicts<'a> {
    fn record(
        &mut self,
        binding: usize,
        rules: Vec<usize>,
        plan: &PlanDoc<'a>,
        task: &TaskDoc<'a>,
    ) {
        let key = (binding, rules);
        if let Some(&i) = self.seen.get(&key) {
            self.list[i].count += 1;
            return;
        }
        self.seen.insert(key.clone(), self.list.len());
        self.list.push(Conflict {
            binding,
            rules: key.1,
            plan: plan.plan,
            node: task.subject.id,
            capabilities: task.subject.capabilities.clone(),
            node_span: task.span,
            count: 1,
        });
    }
}

/// Resolves every Task node the validated Bindings apply to; see the module docs.
pub(super) fn check(index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    let resources = index.resources;
    let bindings: Vec<BindingDoc<'_>> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == Kind::Binding && r.name.is_some())
        .filter_map(|(i, r)| {
            let rule_nodes = r.node.at(&["spec", "rules"]).and_then(Node::as_seq)?;
            Some(BindingDoc {
                resource: i,
                namespace: namespace_of(r),
                strategy: strategy(&r.node)?,
                rule_nodes,
                rules: rule_nodes
                    .iter()
                    .enumerate()
                    .filter_map(|(k, n)| Some((k, typed_rule(n)?)))
                    .collect(),
            })
        })
        .collect();
    let plans: Vec<PlanDoc<'_>> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == Kind::Plan)
        .filter_map(|(i, r)| PlanDoc::read(i, r))
        .collect();
    if bindings.is_empty() || plans.is_empty() {
        return;
    }
    let indexes: Vec<BindingIndex<'_>> = bindings
        .iter()
        .map(|b| {
            BindingIndex::from_rules(
                b.namespace,
                b.strategy,
                b.rules.iter().map(|(k, r)| (*k, r)),
            )
        })
        .collect();
    let binding_at: HashMap<usize, usize> = bindings
        .iter()
        .enumerate()
        .map(|(p, b)| (b.resource, p))
        .collect();
    let plan_at: HashMap<usize, usize> = plans
        .iter()
        .enumerate()
        .map(|(p, d)| (d.resource, p))
        .collect();
    let mut by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
    for (p, plan) in plans.iter().enumerate() {
        by_namespace.entry(plan.plan.namespace).or_default().push(p);
    }

    let mut conflicts = Conflicts::default();
    let may_conflict = |b: &BindingDoc<'_>| b.strategy != BindingStrategy::FirstMatch;
    for (bi, b) in bindings.iter().enumerate() {
        if !may_conflict(b) || b.rules.is_empty() {
            continue; // FirstMatch settles every tie
        }
        for &p in by_namespace.get(b.namespace).map_or(&[][..], Vec::as_slice) {
            let plan = &plans[p];
            let subject = plan.subject();
            let scope = indexes[bi].scope(&subject);
            for task in &plan.tasks {
                if let Resolution::Conflict { rules } = scope.resolve(&task.subject) {
                    conflicts.record(bi, rules, plan, task);
                }
            }
        }
    }

    // Executions: the Binding each Task node would run with.
    for (ei, exec) in resources.iter().enumerate() {
        if exec.kind != Kind::Execution {
            continue;
        }
        let Some(spec) = exec.node.get("spec") else {
            continue;
        };
        let ns = namespace_of(exec);
        let find = |reference: &Node, kind: Kind| -> Option<usize> {
            if let Some(k) = reference.get("kind") {
                if k.as_str() != Some(kind.as_str()) {
                    return None; // a reference of the wrong kind (reported as such)
                }
            }
            let name = reference.get("name")?.as_str()?;
            let ns = reference
                .get("namespace")
                .and_then(Node::as_str)
                .unwrap_or(ns);
            index.by_key.get(&(kind, ns, name)).copied()
        };
        let Some(plan) = spec
            .get("planRef")
            .and_then(|r| find(r, Kind::Plan))
            .and_then(|i| plan_at.get(&i))
            .map(|&p| &plans[p])
        else {
            continue;
        };
        let binding_ref = spec.get("bindingRef");
        let default = binding_ref
            .and_then(|r| find(r, Kind::Binding))
            .and_then(|i| binding_at.get(&i).copied());
        let overrides: HashMap<&str, (&crate::tree::Entry, Option<usize>)> = spec
            .get("nodeBindings")
            .and_then(Node::as_map)
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let target =
                    find(&e.value, Kind::Binding).and_then(|i| binding_at.get(&i).copied());
                (e.key.as_str(), (e, target))
            })
            .collect();
        let subject = plan.subject();
        let mut scopes = HashMap::new();
        let mut unbound_default: Vec<&TaskDoc<'_>> = Vec::new();
        for task in &plan.tasks {
            let (binding, entry) = match overrides.get(task.subject.id) {
                Some(&(entry, target)) => (target, Some(entry)),
                None => (default, None),
            };
            let Some(bi) = binding else {
                continue; // no Binding, or one outside the set (reported as a reference)
            };
            let scope = scopes
                .entry(bi)
                .or_insert_with(|| indexes[bi].scope(&subject));
            match scope.resolve(&task.subject) {
                Resolution::Bound { .. } => {}
                Resolution::Conflict { rules } => conflicts.record(bi, rules, plan, task),
                Resolution::Unbound { .. } => match entry {
                    Some(entry) => diags.push(unbound_override(
                        exec,
                        ei,
                        plan,
                        &bindings[bi],
                        resources,
                        entry,
                        task,
                    )),
                    None => unbound_default.push(task),
                },
            }
        }
        if let (Some(bi), Some(reference), false) =
            (default, binding_ref, unbound_default.is_empty())
        {
            diags.push(unbound_nodes(
                exec,
                ei,
                plan,
                &bindings[bi],
                resources,
                reference,
                &unbound_default,
            ));
        }
    }

    for c in conflicts.list {
        let b = &bindings[c.binding];
        if same_selector(b, &c.rules) {
            continue; // reported with the Binding's own rules
        }
        diags.push(conflict(b, &resources[b.resource], &c));
    }
}

fn rule<'b>(b: &'b BindingDoc<'_>, i: usize) -> Option<&'b BindingRule> {
    b.rules
        .binary_search_by_key(&i, |(k, _)| *k)
        .ok()
        .map(|at| &b.rules[at].1)
}

/// `true` if every rule of the set has the same selector (after defaulting namespaces).
fn same_selector(b: &BindingDoc<'_>, rules: &[usize]) -> bool {
    let mut keys = rules
        .iter()
        .filter_map(|&i| rule(b, i))
        .map(|r| r.selector.key(b.namespace));
    match keys.next() {
        Some(first) => keys.all(|k| k == first),
        None => true,
    }
}

fn provider(b: &BindingDoc<'_>, i: usize) -> String {
    rule(b, i).map_or_else(|| "?".to_string(), |r| r.target.provider.clone())
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `` `name` `` when the namespace is the plan's, else `` `ns/name` ``.
fn qualified(q: &QualifiedName<'_>, home: &str) -> String {
    if q.namespace == home {
        format!("`{}`", q.name)
    } else {
        format!("`{q}`")
    }
}

const LISTED: usize = 6;

fn conflict(b: &BindingDoc<'_>, binding: &Resource, c: &Conflict<'_>) -> Diagnostic {
    let first = c.rules[0];
    let mut listed: Vec<String> = c
        .rules
        .iter()
        .take(LISTED)
        .map(|&i| format!("{i} (`{}`)", provider(b, i)))
        .collect();
    if c.rules.len() > LISTED {
        listed.push(format!("{} more", c.rules.len() - LISTED));
    }
    let (priority, shape) = rule(b, first).map_or((0, "?"), |r| (r.priority, r.selector.shape()));
    let needs = if c.capabilities.is_empty() {
        String::new()
    } else {
        let caps: Vec<String> = c
            .capabilities
            .iter()
            .map(|q| qualified(q, c.plan.namespace))
            .collect();
        format!(" (needs {})", caps.join(", "))
    };
    let plan = qualified(&c.plan, b.namespace);
    let more = match c.count {
        1 => String::new(),
        2 => "; 1 more node conflicts the same way".to_string(),
        n => format!("; {} more nodes conflict the same way", n - 1),
    };
    let mut d = Diagnostic::new(
        Code::BindingConflict,
        format!(
            "Binding `{}` cannot choose a provider for node `{}` of Plan {plan}{needs}: rules {} tie at priority {priority} with equally specific `{shape}` selectors and bind different targets, which `strategy: {:?}` does not settle{more}",
            binding.name.as_deref().unwrap_or_default(),
            c.node,
            and_list(&listed),
            b.strategy,
        ),
    )
    .at(selector_span(&b.rule_nodes[first]))
    .with_path(format!("spec.rules[{first}].selector"))
    .with_hint("give the rule that should win a higher `priority`, add a narrower rule for the node (`{planRef, nodeId}`), or use `strategy: FirstMatch` to let the earliest rule win")
    .for_resource(b.resource, binding.display_name());
    for &i in c.rules.iter().skip(1).take(LISTED) {
        d = d.with_related(
            selector_span(&b.rule_nodes[i]),
            format!("rule {i} also matches and binds `{}`", provider(b, i)),
        );
    }
    d.with_related(
        c.node_span,
        format!("node `{}` of Plan `{}`", c.node, c.plan.name),
    )
}

fn unbound_nodes(
    exec: &Resource,
    exec_index: usize,
    plan: &PlanDoc<'_>,
    b: &BindingDoc<'_>,
    resources: &[Resource],
    reference: &Node,
    tasks: &[&TaskDoc<'_>],
) -> Diagnostic {
    let ids: Vec<String> = tasks
        .iter()
        .take(LISTED)
        .map(|t| format!("`{}`", t.subject.id))
        .collect();
    let mut list = ids.join(", ");
    if tasks.len() > LISTED {
        list.push_str(&format!(" and {} more", tasks.len() - LISTED));
    }
    let (what, nodes) = match tasks.len() {
        1 => ("node", "it"),
        _ => ("nodes", "them"),
    };
    let mut d = Diagnostic::new(
        Code::UnboundNode,
        format!(
            "no rule of Binding `{}` binds Task {what} {list} of Plan `{}`; this Execution could not dispatch {nodes}",
            resources[b.resource].name.as_deref().unwrap_or_default(),
            plan.plan.name,
        ),
    )
    .at(reference.get("name").map_or(reference.span, |n| n.span))
    .with_path("spec.bindingRef")
    .with_hint("add a rule that matches these nodes (by capability, plan or labels), or give them a Binding in `spec.nodeBindings`")
    .for_resource(exec_index, exec.display_name());
    for t in tasks.iter().take(3) {
        d = d.with_related(t.span, format!("node `{}` is unbound", t.subject.id));
    }
    d
}

fn unbound_override(
    exec: &Resource,
    exec_index: usize,
    plan: &PlanDoc<'_>,
    b: &BindingDoc<'_>,
    resources: &[Resource],
    entry: &crate::tree::Entry,
    task: &TaskDoc<'_>,
) -> Diagnostic {
    Diagnostic::new(
        Code::UnboundNode,
        format!(
            "`spec.nodeBindings.{id}` gives Task node `{id}` of Plan `{}` Binding `{}`, but no rule of that Binding matches the node; it replaces `bindingRef` for this node, so the Execution could not dispatch it",
            plan.plan.name,
            resources[b.resource].name.as_deref().unwrap_or_default(),
            id = task.subject.id,
        ),
    )
    .at(entry.key_span)
    .with_path(format!("spec.nodeBindings.{}", entry.key))
    .with_hint("add a rule for this node to that Binding (e.g. `{planRef, nodeId}`), or remove the override")
    .with_related(task.span, format!("node `{}`", task.subject.id))
    .for_resource(exec_index, exec.display_name())
}

#[cfg(test)]
mod tests {
    use crate::{validate, Code, Diagnostic, Options, SourceFile, SourceMap};

    fn run(text: &str) -> Vec<Diagnostic> {
        let mut sources = SourceMap::new();
        sources.add(SourceFile::new("test.yaml", text));
        validate(sources, &Options::default()).diagnostics
    }

    fn codes(diags: &[Diagnostic]) -> Vec<Code> {
        diags.iter().map(|d| d.code).collect()
    }

    const CAPS: &str = "
---
apiVersion: planspec.io/v1alpha1
kind: Capability
metadata: {name: deploy, namespace: ns}
spec: {description: d}
---
apiVersion: planspec.io/v1alpha1
kind: Capability
metadata: {name: notify, namespace: ns}
spec: {description: d}
";

    fn plan(nodes: usize) -> String {
        let mut s = String::from(
            "---\napiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata: {name: p, namespace: ns}\nspec:\n  description: d\n  graph:\n    nodes:\n",
        );
        for i in 0..nodes {
            s.push_str(&format!(
                "      - {{id: n{i}, kind: Task, capabilityRefs: [{{name: deploy}}, {{name: notify}}]}}\n"
            ));
        }
        s
    }

    fn binding(namespace: &str, strategy: &str) -> String {
        format!(
            "---
apiVersion: planspec.io/v1alpha1
kind: Binding
metadata: {{name: b, namespace: {namespace}}}
spec:
  strategy: {strategy}
  rules:
    - selector: {{capabilityRef: {{name: deploy, namespace: ns}}}}
      target: {{provider: 'service://deployer'}}
    - selector: {{capabilityRef: {{name: notify, namespace: ns}}}}
      target: {{provider: 'tool://mailer'}}
"
        )
    }

    #[test]
    fn one_finding_per_conflicting_rule_set() {
        let diags = run(&format!(
            "{}{}{CAPS}",
            binding("ns", "ErrorOnConflict"),
            plan(3)
        ));
        assert_eq!(codes(&diags), vec![Code::BindingConflict], "{diags:#?}");
        let d = &diags[0];
        assert!(
            d.message
                .contains("node `n0` of Plan `p` (needs `deploy`, `notify`)"),
            "{}",
            d.message
        );
        assert!(
            d.message
                .contains("rules 0 (`service://deployer`) and 1 (`tool://mailer`)"),
            "{}",
            d.message
        );
        assert!(
            d.message.ends_with("; 2 more nodes conflict the same way"),
            "{}",
            d.message
        );
        assert_eq!(d.path.as_deref(), Some("spec.rules[0].selector"));
        assert_eq!(d.resource.as_deref(), Some("Binding/b"));
        let related: Vec<&str> = d.related.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            related,
            [
                "rule 1 also matches and binds `tool://mailer`",
                "node `n0` of Plan `p`"
            ]
        );
    }

    #[test]
    fn first_match_never_conflicts() {
        let diags = run(&format!("{}{}{CAPS}", binding("ns", "FirstMatch"), plan(3)));
        assert!(diags.is_empty(), "{diags:#?}");
    }

    #[test]
    fn a_binding_applies_to_the_plans_of_its_namespace() {
        // Same rules (they name namespace `ns` explicitly), Binding in another namespace, no
        // Execution tying them together: nothing to resolve.
        let diags = run(&format!(
            "{}{}{CAPS}",
            binding("other", "ErrorOnConflict"),
            plan(1)
        ));
        assert!(diags.is_empty(), "{diags:#?}");
        // An Execution in `ns` that uses it brings the conflict back.
        let exec = "---
apiVersion: planspec.io/v1alpha1
kind: Execution
metadata: {name: run, namespace: ns}
spec:
  planRef: {name: p}
  bindingRef: {name: b, namespace: other}
";
        let diags = run(&format!(
            "{}{}{CAPS}{exec}",
            binding("other", "ErrorOnConflict"),
            plan(1)
        ));
        assert_eq!(codes(&diags), vec![Code::BindingConflict], "{diags:#?}");
    }

    #[test]
    fn same_selector_conflicts_are_reported_once() {
        let text = "
apiVersion: planspec.io/v1alpha1
kind: Binding
metadata: {name: b}
spec:
  strategy: MostSpecific
  rules:
    - selector: {planRef: {name: p}}
      target: {provider: 'a://x'}
    - selector: {planRef: {name: p, kind: Plan}}
      target: {provider: 'a://y'}
---
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata: {name: p}
spec:
  description: d
  graph: {nodes: [{id: a, kind: Task}, {id: b, kind: Task}]}
";
        let diags = run(text);
        assert_eq!(codes(&diags), vec![Code::BindingConflict], "{diags:#?}");
        assert!(diags[0]
            .message
            .starts_with("rules 0, 1 select the same nodes"));
    }

    #[test]
    fn unbound_nodes_are_reported_only_for_executions() {
        let text = "
apiVersion: planspec.io/v1alpha1
kind: Binding
metadata: {name: b}
spec:
  rules:
    - selector: {planRef: {name: p}, nodeId: a}
      target: {provider: 'a://x'}
---
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata: {name: p}
spec:
  description: d
  graph: {nodes: [{id: a, kind: Task}, {id: b, kind: Task}, {id: g, kind: Group, children: [a]}]}
";
        assert!(run(text).is_empty());
        let exec = "---
apiVersion: planspec.io/v1alpha1
kind: Execution
metadata: {name: run}
spec: {planRef: {name: p}, bindingRef: {name: b}}
";
        let diags = run(&format!("{text}{exec}"));
        assert_eq!(codes(&diags), vec![Code::UnboundNode], "{diags:#?}");
        assert!(
            diags[0]
                .message
                .starts_with("no rule of Binding `b` binds Task node `b` of Plan `p`"),
            "{}",
            diags[0].message
        );
        // Without a Binding in the set there is nothing to resolve (the missing Binding is the
        // finding).
        let exec = "---
apiVersion: planspec.io/v1alpha1
kind: Execution
metadata: {name: run}
spec: {planRef: {name: p}, bindingRef: {name: elsewhere}}
";
        let diags = run(&format!("{text}{exec}"));
        assert_eq!(codes(&diags), vec![Code::UnresolvedReference]);
        assert!(diags[0]
            .message
            .contains("`spec.bindingRef` refers to Binding `elsewhere`"));
    }

    #[test]
    fn owner_references_resolve_within_the_set() {
        let goal = "
apiVersion: planspec.io/v1alpha1
kind: Goal
metadata: {name: g}
spec: {description: d}
---
";
        let owned = |owner: &str| {
            format!(
                "apiVersion: planspec.io/v1alpha1
kind: Execution
metadata:
  name: run
  ownerReferences: [{owner}]
spec: {{planRef: {{name: p}}}}
---
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata: {{name: p}}
spec: {{description: d, graph: {{nodes: [{{id: a, kind: Task}}]}}}}
"
            )
        };
        let present =
            owned("{apiVersion: planspec.io/v1alpha1, kind: Goal, name: g, uid: placeholder-uid}");
        assert!(run(&format!("{goal}{present}")).is_empty());
        let missing = run(&present);
        assert_eq!(codes(&missing), vec![Code::UnresolvedReference]);
        assert_eq!(
            missing[0].path.as_deref(),
            Some("metadata.ownerReferences[0]")
        );
        // Other APIs' owners are not ours to resolve.
        let foreign = owned("{apiVersion: apps/v1, kind: Deployment, name: web, uid: u}");
        assert!(run(&foreign).is_empty());
        let foreign = owned("{apiVersion: example.com/v1, kind: Goal, name: web, uid: u}");
        assert!(run(&foreign).is_empty());
    }

    /// 100 Bindings of 200 rules (every shape, mixed strategies and priorities) against
    /// 20 plans of 500 Task nodes, and one Binding of 20,000 rules: the Binding checks stay
    /// linear. The budget is loose for debug builds; release builds take a fraction of it.
    #[test]
    fn twenty_thousand_rules_stay_fast() {
        let mut text = String::new();
        for p in 0..20 {
            text.push_str(&format!(
                "---\napiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata: {{name: p{p}, labels: {{team: t{}}}}}\nspec:\n  description: d\n  graph:\n    nodes:\n",
                p % 3
            ));
            for n in 0..500 {
                text.push_str(&format!(
                    "      - {{id: n{n}, kind: Task, capabilityRefs: [{{name: c{}}}, {{name: c{}}}]}}\n",
                    n % 200,
                    (n * 7) % 200
                ));
            }
        }
        let selector = |k: usize| match k % 5 {
            0 => format!("{{planRef: {{name: p{}}}, nodeId: n{}}}", k % 20, k % 500),
            1 => format!(
                "{{planRef: {{name: p{}}}, capabilityRef: {{name: c{}}}}}",
                k % 20,
                k % 200
            ),
            2 => format!("{{capabilityRef: {{name: c{}}}}}", k % 200),
            3 => format!("{{planRef: {{name: p{}}}}}", k % 20),
            _ => format!("{{matchLabels: {{team: t{}}}}}", k % 3),
        };
        let rules = |count: usize, offset: usize| {
            (0..count)
                .map(|k| {
                    format!(
                        "    - {{priority: {}, selector: {}, target: {{provider: 'a://{}'}}}}\n",
                        (k + offset) % 4,
                        selector(k + offset),
                        (k * 31 + offset) % 3
                    )
                })
                .collect::<String>()
        };
        let strategies = ["FirstMatch", "MostSpecific", "ErrorOnConflict"];
        for b in 0..100 {
            text.push_str(&format!(
                "---\napiVersion: planspec.io/v1alpha1\nkind: Binding\nmetadata: {{name: b{b}}}\nspec:\n  strategy: {}\n  rules:\n{}",
                strategies[b % 3],
                rules(200, b * 200)
            ));
        }
        text.push_str(&format!(
            "---\napiVersion: planspec.io/v1alpha1\nkind: Binding\nmetadata: {{name: big}}\nspec:\n  strategy: ErrorOnConflict\n  rules:\n{}",
            rules(20_000, 7)
        ));
        let start = std::time::Instant::now();
        let diags = run(&text);
        let elapsed = start.elapsed();
        assert!(diags.iter().any(|d| d.code == Code::BindingConflict));
        assert!(diags.iter().any(|d| d.code == Code::DuplicateBindingRule));
        assert!(elapsed.as_secs_f64() < 20.0, "took {elapsed:?}");
    }
}
