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

pub fn binding(doc: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(rules) = doc.at(&["spec", "rules"]).and_then(Node::as_seq) else {
        return;
    };
    let strategy = doc
        .at(&["spec", "strategy"])
        .and_then(Node::as_str)
        .unwrap_or("FirstMatch");
    let namespace = doc
        .at(&["metadata", "namespace"])
        .and_then(Node::as_str)
        .unwrap_or(crate::cross::DEFAULT_NAMESPACE);
    let mut seen: Vec<(i64, serde_json::Value, serde_json::Value, usize)> = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let Some(selector) = rule.get("selector") else {
            continue;
        };
        let priority = rule.get("priority").and_then(Node::as_i64).unwrap_or(0);
        let selector_json = canonical_selector(selector, namespace);
        let target = rule.get("target").map(Node::to_json).unwrap_or_default();
        if let Some((_, _, first_target, first)) = seen
            .iter()
            .find(|(p, s, _, _)| *p == priority && *s == selector_json)
        {
            let anchor = rule
                .entry("selector")
                .map(|e| e.key_span)
                .unwrap_or(rule.span);
            let first_span = rules[*first].span;
            if *first_target == target {
                diags.push(
                    Diagnostic::new(
                        Code::DuplicateBindingRule,
                        format!(
                            "rule {i} repeats rule {first} (same selector, priority and target)"
                        ),
                    )
                    .at(anchor)
                    .with_path(format!("spec.rules[{i}]"))
                    .with_related(first_span, "same rule here")
                    .with_hint("remove the duplicate"),
                );
            } else {
                let provider = |v: &serde_json::Value| {
                    v.get("provider")
                        .and_then(|p| p.as_str())
                        .unwrap_or("?")
                        .to_string()
                };
                diags.push(
                    Diagnostic::new(
                        Code::BindingConflict,
                        format!(
                            "rules {first} and {i} select the same thing at priority {priority} but bind different providers (`{}` vs `{}`)",
                            provider(first_target),
                            provider(&target)
                        ),
                    )
                    .at(anchor)
                    .with_path(format!("spec.rules[{i}]"))
                    .with_related(first_span, "conflicting rule")
                    .with_hint(if strategy == "FirstMatch" {
                        "under `FirstMatch` the later rule never applies; give one rule a higher `priority` or remove it".to_string()
                    } else {
                        "give one rule a higher `priority`, or make one selector narrower".to_string()
                    }),
                );
            }
        } else {
            seen.push((priority, selector_json, target, i));
        }
    }
}

/// A selector as JSON with references' implicit fields dropped, for comparison: `kind`
/// and `apiVersion` when they say what the field implies, `namespace` when it is the
/// Binding's own.
fn canonical_selector(selector: &Node, namespace: &str) -> serde_json::Value {
    let mut json = selector.to_json();
    if let Some(obj) = json.as_object_mut() {
        for (field, kind) in [("capabilityRef", "Capability"), ("planRef", "Plan")] {
            let Some(reference) = obj.get_mut(field).and_then(|r| r.as_object_mut()) else {
                continue;
            };
            let implied = [
                ("kind", kind),
                ("apiVersion", planspec_model::API_VERSION),
                ("namespace", namespace),
            ];
            for (key, value) in implied {
                if reference.get(key).and_then(serde_json::Value::as_str) == Some(value) {
                    reference.remove(key);
                }
            }
        }
        obj.sort_keys();
    }
    json
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
