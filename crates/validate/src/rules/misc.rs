//! Per-kind rules outside the graph: metadata, Goal, Capability, Binding, Gate invariants.

use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::tree::Node;
use std::collections::HashMap;

/// Fields the server sets; a client's values are ignored on write.
const SERVER_OWNED: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
];

pub fn metadata(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(meta) = doc.get("metadata") else {
        return;
    };
    for key in SERVER_OWNED {
        if let Some(entry) = meta.entry(key) {
            diags.push(
                Diagnostic::new(
                    Code::ServerOwnedField,
                    format!(
                        "`metadata.{key}` is set by the server; this value is ignored on write"
                    ),
                )
                .at(entry.key_span)
                .with_path(format!("metadata.{key}"))
                .with_hint("remove it from files you apply"),
            );
        }
    }
}

pub fn plan(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get("spec") else { return };
    match (spec.entry("series"), spec.entry("version")) {
        (Some(e), None) | (None, Some(e)) => {
            let (have, missing) = if e.key == "series" {
                ("series", "version")
            } else {
                ("version", "series")
            };
            diags.push(
                Diagnostic::new(Code::DependentField, format!("`spec.{have}` is set but `spec.{missing}` is not; give both or neither"))
                    .at(e.key_span)
                    .with_path(format!("spec.{have}"))
                    .with_hint("plans in a series are told apart by version: `series: x` with `version: \"2\"`"),
            );
        }
        _ => {}
    }
    let label = doc.at(&["metadata", "labels", "planspec.io/goal"]);
    let goal = spec.at(&["goalRef", "name"]).and_then(Node::as_str);
    if let (Some(label), Some(goal)) = (label, goal) {
        if let Some(text) = label.as_str().filter(|l| *l != goal) {
            diags.push(
                Diagnostic::new(Code::PlanGoalMismatch, format!("label `planspec.io/goal: {text}` disagrees with `spec.goalRef.name: {goal}`"))
                    .at(label.span)
                    .with_path("metadata.labels.planspec.io/goal")
                    .with_hint("Goals select plans by this label; make it name the same goal"),
            );
        }
    }
}

pub fn goal(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get("spec") else { return };
    if let Some(criteria) = spec.get("acceptanceCriteria").and_then(Node::as_seq) {
        unique_by(
            criteria,
            "id",
            "spec.acceptanceCriteria",
            Code::DuplicateCriterion,
            "acceptance criterion id",
            diags,
        );
    }
    if let Some(exprs) = spec.at(&["planSelector", "matchExpressions"]) {
        selector_expressions(exprs, "spec.planSelector.matchExpressions", diags);
    }
}

/// `In`/`NotIn` need values, `Exists`/`DoesNotExist` forbid them.
pub fn selector_expressions(exprs: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
    let Some(items) = exprs.as_seq() else { return };
    for (i, expr) in items.iter().enumerate() {
        let Some(op) = expr.get("operator").and_then(Node::as_str) else {
            continue;
        };
        let values = expr.get("values");
        let count = values.and_then(Node::as_seq).map_or(0, <[Node]>::len);
        let anchor = expr
            .entry("operator")
            .map(|e| e.key_span)
            .unwrap_or(expr.span);
        let problem = match op {
            "In" | "NotIn" if count == 0 => {
                Some(format!("operator `{op}` needs a non-empty `values` list"))
            }
            "Exists" | "DoesNotExist" if values.is_some() => {
                Some(format!("operator `{op}` takes no `values`"))
            }
            _ => None,
        };
        if let Some(message) = problem {
            diags.push(
                Diagnostic::new(Code::SelectorValues, message)
                    .at(anchor)
                    .with_path(format!("{path}[{i}]"))
                    .with_hint("`In`/`NotIn` compare against `values`; `Exists`/`DoesNotExist` only test the key"),
            );
        }
    }
}

pub fn capability(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get("spec") else { return };
    for list in ["inputs", "outputs"] {
        if let Some(params) = spec.get(list).and_then(Node::as_seq) {
            let path = format!("spec.{list}");
            unique_by(
                params,
                "name",
                &path,
                Code::DuplicateParameter,
                "parameter",
                diags,
            );
            for (i, param) in params.iter().enumerate() {
                parameter_keywords(param, &format!("{path}[{i}]"), diags);
            }
        }
    }
    if let Some(reqs) = spec.get("requirements").and_then(Node::as_seq) {
        let mut seen: HashMap<(Option<&str>, &str), Span> = HashMap::new();
        for (i, req) in reqs.iter().enumerate() {
            let Some(name) = req.get("name").and_then(Node::as_str) else {
                continue;
            };
            let ns = req.get("namespace").and_then(Node::as_str);
            if let Some(&first) = seen.get(&(ns, name)) {
                diags.push(
                    Diagnostic::new(
                        Code::DuplicateRequirement,
                        format!("requirement `{name}` is listed twice"),
                    )
                    .at(req.span)
                    .with_path(format!("spec.requirements[{i}]"))
                    .with_related(first, "first listed here"),
                );
            } else {
                seen.insert((ns, name), req.span);
            }
        }
    }
    let status = doc.get("status");
    if status.and_then(|s| s.get("phase")).and_then(Node::as_str) == Some("Deprecated") {
        let status = status.unwrap_or(doc);
        if status.get("replacement").is_none() && status.get("deprecationMessage").is_none() {
            let anchor = status
                .entry("phase")
                .map(|e| e.key_span)
                .unwrap_or(status.span);
            diags.push(
                Diagnostic::new(Code::DeprecatedWithoutReplacement, "a Deprecated Capability must name a `replacement` or give a `deprecationMessage`")
                    .at(anchor)
                    .with_path("status.phase"),
            );
        }
    }
}

/// `format` only with strings, `itemType` only with arrays, `objectProperties` only with objects.
fn parameter_keywords(param: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
    let ty = param.get("type").and_then(Node::as_str);
    for (keyword, needs) in [
        ("format", "string"),
        ("itemType", "array"),
        ("objectProperties", "object"),
    ] {
        if let Some(entry) = param.entry(keyword) {
            if ty.is_some_and(|t| t != needs) {
                diags.push(
                    Diagnostic::new(
                        Code::UnsupportedParameterKeyword,
                        format!("`{keyword}` applies only to parameters of `type: {needs}`, but this one is `{}`", ty.unwrap_or_default()),
                    )
                    .at(entry.key_span)
                    .with_path(format!("{path}.{keyword}")),
                );
            }
        }
    }
    if let Some(props) = param.get("objectProperties").and_then(Node::as_map) {
        for entry in props {
            parameter_keywords(
                &entry.value,
                &format!("{path}.objectProperties.{}", entry.key),
                diags,
            );
        }
    }
}

/// Rules with the same selector (after defaulting namespaces; `uid`, `kind` and `apiVersion`
/// ignored) match exactly the same nodes, so some of them can never apply whatever plans
/// exist: one with a lower priority than another (`PS0418`), a repeat of the same target
/// (`PS0418`), and under `FirstMatch` any later one (`PS0418`). Under `ErrorOnConflict` and
/// `MostSpecific` the same selector at the same priority with different targets is a conflict
/// for every node it matches (`PS0503`, at the first rule). Conflicts between *different*
/// selectors depend on the plans and are found by `cross::bindings`. Linear in the rules.
pub fn binding(doc: &Node, diags: &mut Vec<Diagnostic>) {
    use crate::cross::bindings::{selector_span, strategy, typed_rule};
    use planspec_model::binding::{BindingRule, BindingStrategy, SelectorKey};
    let Some(rules) = doc.at(&["spec", "rules"]).and_then(Node::as_seq) else {
        return;
    };
    // An invalid strategy is reported by the schema; judge the rules as `FirstMatch` then.
    let strategy = strategy(doc).unwrap_or_default();
    let namespace = doc
        .at(&["metadata", "namespace"])
        .and_then(Node::as_str)
        .unwrap_or(crate::cross::DEFAULT_NAMESPACE);
    let typed: Vec<Option<BindingRule>> = rules.iter().map(typed_rule).collect();
    let mut groups: Vec<Vec<(usize, &BindingRule)>> = Vec::new();
    let mut by_key: HashMap<SelectorKey<'_>, usize> = HashMap::new();
    for (i, rule) in typed.iter().enumerate() {
        let Some(rule) = rule else { continue };
        let next = groups.len();
        let g = *by_key.entry(rule.selector.key(namespace)).or_insert(next);
        if g == next {
            groups.push(Vec::new());
        }
        groups[g].push((i, rule));
    }
    let provider = |r: &BindingRule| r.target.provider.clone();
    for group in groups.iter().filter(|g| g.len() > 1) {
        let top = group.iter().map(|(_, r)| r.priority).max().unwrap_or(0);
        let Some(&(head, head_rule)) = group.iter().find(|(_, r)| r.priority == top) else {
            continue;
        };
        let mut conflicting: Vec<(usize, &BindingRule)> = Vec::new();
        for &(i, rule) in group.iter().filter(|(i, _)| *i != head) {
            let message = if rule.priority < top {
                format!(
                    "rule {i} never applies: rule {head} has the same selector and a higher priority ({top} > {})",
                    rule.priority
                )
            } else if rule.target == head_rule.target {
                format!("rule {i} repeats rule {head} (same selector, priority and target)")
            } else if strategy == BindingStrategy::FirstMatch {
                format!(
                    "rule {i} never applies: rule {head} has the same selector and priority and comes first, so under `FirstMatch` it always wins (`{}` over `{}`)",
                    provider(head_rule),
                    provider(rule)
                )
            } else {
                conflicting.push((i, rule));
                continue;
            };
            diags.push(
                Diagnostic::new(Code::DuplicateBindingRule, message)
                    .at(selector_span(&rules[i]))
                    .with_path(format!("spec.rules[{i}]"))
                    .with_related(selector_span(&rules[head]), format!("rule {head}"))
                    .with_hint(
                        "remove the rule, or change its selector or priority so that it can apply",
                    ),
            );
        }
        if conflicting.is_empty() {
            continue;
        }
        let mut providers = vec![format!("`{}`", provider(head_rule))];
        providers.extend(
            conflicting
                .iter()
                .take(5)
                .map(|(_, r)| format!("`{}`", provider(r))),
        );
        if conflicting.len() > 5 {
            providers.push(format!("{} more", conflicting.len() - 5));
        }
        let numbers: Vec<String> = std::iter::once(head)
            .chain(conflicting.iter().map(|(i, _)| *i))
            .map(|i| i.to_string())
            .collect();
        let mut d = Diagnostic::new(
            Code::BindingConflict,
            format!(
                "rules {} select the same nodes ({}) at priority {top} but bind different targets ({}); under `strategy: {strategy:?}` every node they match is a conflict",
                numbers.join(", "),
                head_rule.selector.shape(),
                providers.join(", "),
            ),
        )
        .at(selector_span(&rules[head]))
        .with_path(format!("spec.rules[{head}].selector"))
        .with_hint("keep one of these rules, give the one that should win a higher `priority`, or use `strategy: FirstMatch` to let the earliest rule win");
        for (i, rule) in conflicting.iter().take(8) {
            d = d.with_related(
                selector_span(&rules[*i]),
                format!("rule {i} binds `{}`", provider(rule)),
            );
        }
        diags.push(d);
    }
}

pub fn gate(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(status) = doc.get("status") else {
        return;
    };
    let phase = status.get("phase").and_then(Node::as_str);
    let resolution = status.get("resolution");
    let decided = status.get("decidedGeneration");
    let outcome = resolution
        .and_then(|r| r.get("outcome"))
        .and_then(Node::as_str);
    let anchor = status
        .entry("phase")
        .map(|e| e.key_span)
        .or_else(|| status.as_map().and_then(|m| m.first()).map(|e| e.key_span))
        .unwrap_or(status.span);
    let mut problems = Vec::new();
    if resolution.is_some() != decided.is_some() {
        problems.push("`resolution` and `decidedGeneration` must be set together".to_string());
    }
    if let Some(phase @ ("Approved" | "Rejected")) = phase {
        if resolution.is_none() || decided.is_none() {
            problems.push(format!(
                "phase `{phase}` requires `resolution` and `decidedGeneration`"
            ));
        }
    }
    match (phase, outcome) {
        (Some("Approved"), Some(o)) if o != "approved" => {
            problems.push(format!("phase `Approved` but resolution outcome `{o}`"))
        }
        (Some("Rejected"), Some(o)) if o != "rejected" => {
            problems.push(format!("phase `Rejected` but resolution outcome `{o}`"))
        }
        (Some(p @ ("Pending" | "Waiting")), Some(o)) => {
            problems.push(format!("phase `{p}` but the gate is resolved (`{o}`)"))
        }
        (None, Some(o)) => problems.push(format!(
            "the gate is resolved (`{o}`) but has no `phase`; a resolved gate is `Approved` or `Rejected`"
        )),
        _ => {}
    }
    if let (Some(decided), Some(generation)) = (
        decided.and_then(Node::as_i64),
        doc.at(&["metadata", "generation"]).and_then(Node::as_i64),
    ) {
        if decided > generation {
            problems.push(format!(
                "`decidedGeneration` {decided} is newer than the Gate's generation {generation}"
            ));
        }
    }
    for message in problems {
        diags.push(
            Diagnostic::new(Code::GateStatusInvariant, message)
                .at(anchor)
                .with_path("status")
                .with_hint("a decision is valid only for the spec generation in `decidedGeneration`; phase, resolution and outcome must agree"),
        );
    }
}

/// Reports items whose `key` repeats an earlier item's.
fn unique_by(
    items: &[Node],
    key: &str,
    path: &str,
    code: Code,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(value) = item.get(key) else { continue };
        let Some(text) = value.as_str() else { continue };
        if let Some(&first) = seen.get(text) {
            diags.push(
                Diagnostic::new(code, format!("{what} `{text}` is declared twice"))
                    .at(value.span)
                    .with_path(format!("{path}[{i}].{key}"))
                    .with_related(first, "first declared here"),
            );
        } else {
            seen.insert(text, value.span);
        }
    }
}
