//! Legacy forms → the modern form (upstream reference §8), each with a warning.
//!
//! PlanSpec reads every form upstream documents were written in and writes only the
//! strict form. Each rewrite here names the modern form in its warning, so `--strict`
//! (which turns warnings into errors) gives a migration checklist.

use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::tree::{Node, Value};
use planspec_model::Kind;

/// A Gate resource implied by a legacy Gate node without `gateRef` (§8 L5).
#[derive(Debug, Clone, PartialEq)]
pub struct ImpliedGate {
    pub namespace: Option<String>,
    /// The name written into the node's synthesised `gateRef`.
    pub name: String,
    pub plan: String,
    pub node_id: String,
}

/// Rewrites legacy forms in one resource document.
pub fn normalize(
    kind: Kind,
    doc: &mut Node,
    diags: &mut Vec<Diagnostic>,
    implied: &mut Vec<ImpliedGate>,
) {
    match kind {
        Kind::Goal => {
            if let Some(spec) = doc.get_mut("spec") {
                day_duration(spec, "timeout", "spec.timeout", diags);
            }
        }
        Kind::Plan => plan(doc, diags, implied),
        Kind::Capability => capability(doc, diags),
        Kind::Binding => binding(doc, diags),
        Kind::Execution => execution(doc, diags),
        Kind::Gate => gate(doc, diags),
        Kind::Policy
        | Kind::Provider
        | Kind::Role
        | Kind::RoleBinding
        | Kind::ClusterRole
        | Kind::ClusterRoleBinding => {}
    }
}

fn warn(
    diags: &mut Vec<Diagnostic>,
    code: Code,
    span: Span,
    path: String,
    message: String,
    hint: impl Into<String>,
) {
    diags.push(
        Diagnostic::new(code, message)
            .at(span)
            .with_path(path)
            .with_hint(hint),
    );
}

/// Renames the legacy key `old` of `node` to `new` with a `code` warning. When both are
/// present, an equal legacy value is dropped with the warning and a different one is an
/// error: PlanSpec never silently prefers one of two disagreeing values.
fn legacy_key(
    node: &mut Node,
    old: &str,
    new: &str,
    code: Code,
    path: &str,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(entry) = node.entry(old) else { return };
    let span = entry.key_span;
    let field = format!("{path}.{old}");
    match node.get(new) {
        None => {
            warn(
                diags,
                code,
                span,
                field,
                what.to_string(),
                format!("write `{new}`"),
            );
            node.rename_key(old, new);
        }
        Some(modern) if modern.to_json() == entry.value.to_json() => {
            warn(
                diags,
                code,
                span,
                field,
                format!("{what}, and repeats `{new}`"),
                format!("remove `{old}`"),
            );
            node.remove(old);
        }
        Some(_) => diags.push(
            Diagnostic::new(
                Code::MixedLegacyForms,
                format!("both `{old}` (legacy) and `{new}` are set, and they disagree"),
            )
            .at(span)
            .with_path(field)
            .with_hint(format!("keep only `{new}`")),
        ),
    }
    if node.get(new).is_some() {
        node.remove(old);
    }
}

/// `7d` → `168h` (§8 L4).
fn day_duration(parent: &mut Node, key: &str, path: &str, diags: &mut Vec<Diagnostic>) {
    let Some(node) = parent.get_mut(key) else {
        return;
    };
    let Some(text) = node.as_str() else { return };
    let Some(modern) = day_duration_hours(text) else {
        return;
    };
    warn(
        diags,
        Code::LegacyDayDuration,
        node.span,
        path.to_string(),
        format!("`{path}` uses days (`{text}`); durations have no day unit"),
        format!("write `{modern}`"),
    );
    node.value = Value::String(modern);
}

/// The hour form of a day-unit duration (`7d` → `168h`, `1d30m` → `24h30m`); `None` for anything else.
pub fn day_duration_hours(text: &str) -> Option<String> {
    let (days, rest) = text.split_once('d')?;
    if days.is_empty()
        || !days.chars().all(|c| c.is_ascii_digit() || c == '.')
        || days.matches('.').count() > 1
    {
        return None;
    }
    let days: f64 = days.parse().ok()?;
    let (extra_hours, rest) = match rest.split_once('h') {
        Some((h, tail)) if !h.is_empty() && h.chars().all(|c| c.is_ascii_digit()) => {
            (h.parse::<f64>().ok()?, tail)
        }
        _ => (0.0, rest),
    };
    if !rest.is_empty()
        && !rest
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || "nsuµm".contains(c))
    {
        return None;
    }
    let hours = days * 24.0 + extra_hours;
    let hours = if hours.fract() == 0.0 {
        format!("{}", hours as u64)
    } else {
        format!("{hours}")
    };
    Some(format!("{hours}h{rest}"))
}

fn plan(doc: &mut Node, diags: &mut Vec<Diagnostic>, implied: &mut Vec<ImpliedGate>) {
    let plan_name = doc
        .at(&["metadata", "name"])
        .and_then(Node::as_str)
        .unwrap_or("plan")
        .to_string();
    let namespace = doc
        .at(&["metadata", "namespace"])
        .and_then(Node::as_str)
        .map(str::to_string);
    let Some(spec) = doc.get_mut("spec") else {
        return;
    };
    // `spec.graph.nodes`, else `spec.steps` (a plan gives one of them).
    let (nodes, nodes_path) = match spec.get("graph").is_some() {
        true => (
            spec.get_mut("graph").and_then(|g| g.get_mut("nodes")),
            "spec.graph.nodes",
        ),
        false => (spec.get_mut("steps"), "spec.steps"),
    };
    let Some(nodes) = nodes.and_then(Node::as_seq_mut) else {
        return;
    };
    for (i, node) in nodes.iter_mut().enumerate() {
        if node.as_map().is_none() {
            continue;
        }
        let base = format!("{nodes_path}[{i}]");
        let kind = node
            .get("kind")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        let id = node
            .get("id")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        capability_refs(node, &base, diags);
        day_duration(node, "timeout", &format!("{base}.timeout"), diags);
        day_duration(node, "pollInterval", &format!("{base}.pollInterval"), diags);
        depends_on_in_inputs(node, &base, &kind, diags);
        match kind.as_str() {
            "Gate" if node.get("gateRef").is_none() => {
                let name = inline_gate_name(&plan_name, &id);
                let span = node.entry("kind").map(|e| e.key_span).unwrap_or(node.span);
                warn(
                    diags,
                    Code::InlineGate,
                    span,
                    base.clone(),
                    format!("Gate node `{id}` has no `gateRef`; it is read as an inline approval gate `{name}` (one approver)"),
                    format!("create a Gate resource and reference it: `gateRef: {{name: {name}}}`"),
                );
                node.insert(
                    "gateRef",
                    span,
                    Node::map(span, vec![("name", Node::string(span, name.clone()))]),
                );
                implied.push(ImpliedGate {
                    namespace: namespace.clone(),
                    name,
                    plan: plan_name.clone(),
                    node_id: id.clone(),
                });
            }
            "External" => external(node, &base, &id, diags),
            _ => {}
        }
        criteria(node, &base, diags);
    }
}

/// The name of the Gate implied by an inline gate node: `<plan>-<node>`, kept a DNS label.
fn inline_gate_name(plan: &str, node_id: &str) -> String {
    let name = crate::suggest::dns_label(&format!("{plan}-{node_id}"));
    if name.is_empty() {
        "inline-gate".to_string()
    } else {
        name
    }
}

/// `capabilityRef: {name}` and `capabilities: [name]` → `capabilityRefs` (§8 L1, L2).
fn capability_refs(node: &mut Node, base: &str, diags: &mut Vec<Diagnostic>) {
    let mut refs: Vec<Node> = Vec::new();
    if let Some(entry) = node.remove("capabilityRef") {
        let as_ref = match &entry.value.value {
            Value::String(name) => Some(Node::map(
                entry.value.span,
                vec![("name", Node::string(entry.value.span, name.clone()))],
            )),
            Value::Map(_) => Some(entry.value.clone()),
            _ => None,
        };
        let name = as_ref
            .as_ref()
            .and_then(|r| r.get("name"))
            .and_then(Node::as_str)
            .unwrap_or("…")
            .to_string();
        warn(
            diags,
            Code::LegacyCapabilityRef,
            entry.key_span,
            format!("{base}.capabilityRef"),
            "`capabilityRef` (singular) is the legacy form".to_string(),
            format!("write `capabilityRefs: [{{name: {name}}}]`"),
        );
        match as_ref {
            Some(r) => refs.push(r),
            None => node.insert("capabilityRef", entry.key_span, entry.value),
        }
    }
    if let Some(entry) = node.remove("capabilities") {
        match &entry.value.value {
            Value::Seq(items) => {
                let names: Vec<String> = items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect();
                for item in items {
                    match &item.value {
                        Value::String(name) => refs.push(Node::map(
                            item.span,
                            vec![("name", Node::string(item.span, name.clone()))],
                        )),
                        Value::Map(_) => refs.push(item.clone()),
                        _ => {}
                    }
                }
                let shown = names
                    .iter()
                    .map(|n| format!("{{name: {n}}}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                warn(
                    diags,
                    Code::LegacyCapabilityNames,
                    entry.key_span,
                    format!("{base}.capabilities"),
                    "`capabilities` (a list of names) is the legacy form".to_string(),
                    format!("write `capabilityRefs: [{shown}]`"),
                );
            }
            _ => node.insert("capabilities", entry.key_span, entry.value),
        }
    }
    if refs.is_empty() {
        return;
    }
    let span = refs[0].span;
    let key_span = node
        .entry("capabilityRefs")
        .map(|e| e.key_span)
        .unwrap_or(span);
    let mut merged: Vec<Node> = node
        .get("capabilityRefs")
        .and_then(Node::as_seq)
        .map(<[Node]>::to_vec)
        .unwrap_or_default();
    if node
        .get("capabilityRefs")
        .is_some_and(|n| n.as_seq().is_none())
    {
        return; // a malformed modern field: leave both for the schema to report
    }
    for r in refs {
        let key = ref_key(&r);
        if !merged.iter().any(|m| ref_key(m) == key) {
            merged.push(r);
        }
    }
    node.insert(
        "capabilityRefs",
        key_span,
        Node::new(span, Value::Seq(merged)),
    );
}

fn ref_key(r: &Node) -> (Option<String>, Option<String>) {
    let get = |k: &str| r.get(k).and_then(Node::as_str).map(str::to_string);
    (get("namespace"), get("name"))
}

/// `inputs.depends_on` is not a dependency (§8 L8). On a Gate node, where `inputs` is
/// not allowed at all, an `inputs` that holds only `depends_on` is that legacy form and goes.
fn depends_on_in_inputs(node: &mut Node, base: &str, kind: &str, diags: &mut Vec<Diagnostic>) {
    let Some(entry) = node.get("inputs").and_then(|i| i.entry("depends_on")) else {
        return;
    };
    let deps = match &entry.value.value {
        Value::String(s) => s.clone(),
        Value::Seq(items) => items
            .iter()
            .filter_map(Node::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    warn(
        diags,
        Code::DependsOnInInputs,
        entry.key_span,
        format!("{base}.inputs.depends_on"),
        "`inputs.depends_on` does not create a dependency; PlanSpec does not infer edges from inputs".to_string(),
        format!("write `dependsOn: [{deps}]` on the node, or an edge"),
    );
    if kind == "Gate" {
        let only_depends = node
            .get("inputs")
            .and_then(Node::as_map)
            .is_some_and(|e| e.len() == 1);
        if only_depends {
            node.remove("inputs");
        }
    }
}

/// External node legacy forms (§8 L6, L17).
fn external(node: &mut Node, base: &str, id: &str, diags: &mut Vec<Diagnostic>) {
    match node.get_mut("externalRef") {
        None => {
            let span = node.entry("kind").map(|e| e.key_span).unwrap_or(node.span);
            warn(
                diags,
                Code::ManualExternal,
                span,
                base.to_string(),
                format!("External node `{id}` has no `externalRef`; it completes only when its completion is signalled through the API"),
                "say so explicitly with `externalRef: {type: manual}`, or point at a uri, resource or webhook",
            );
            node.insert(
                "externalRef",
                span,
                Node::map(span, vec![("type", Node::string(span, "manual"))]),
            );
        }
        Some(ext) => {
            for (old, new) in [("resource", "resourceRef"), ("webhook", "webhookUrl")] {
                let what = format!("`externalRef.{old}` is the legacy key");
                legacy_key(
                    ext,
                    old,
                    new,
                    Code::LegacyExternalRefKey,
                    &format!("{base}.externalRef"),
                    &what,
                    diags,
                );
            }
        }
    }
}

/// The fields a goal-style prose criterion has; one with any other field is a typed check
/// that is missing its `type`, which the schema reports.
const PROSE_FIELDS: &[&str] = &["description", "name", "id", "required"];

/// Task acceptance-criteria legacy forms (§8 L4, L19).
fn criteria(node: &mut Node, base: &str, diags: &mut Vec<Diagnostic>) {
    let Some(items) = node
        .get_mut("acceptanceCriteria")
        .and_then(Node::as_seq_mut)
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if item.as_map().is_none() {
            continue;
        }
        let path = format!("{base}.acceptanceCriteria[{i}]");
        day_duration(item, "timeout", &format!("{path}.timeout"), diags);
        if item.get("type").and_then(Node::as_str) == Some("custom") {
            let what = "`webhook` is the legacy key of a custom criterion";
            legacy_key(
                item,
                "webhook",
                "webhookUrl",
                Code::LegacyCriterionWebhook,
                &path,
                what,
                diags,
            );
        }
        let prose_only = item.as_map().is_some_and(|entries| {
            entries
                .iter()
                .all(|e| PROSE_FIELDS.contains(&e.key.as_str()))
        });
        if item.get("type").is_none() && item.get("description").is_some() && prose_only {
            let span = item
                .entry("description")
                .map(|e| e.key_span)
                .unwrap_or(item.span);
            warn(
                diags,
                Code::ProseCriterion,
                span,
                path.clone(),
                "this acceptance criterion has only a description; it is read as a manual check a person confirms".to_string(),
                "say so with `type: manual` and a `name`, or make it a typed check such as `command_succeeds`",
            );
            item.insert("type", span, Node::string(span, "manual"));
            if item.get("name").is_none() {
                let name = item
                    .get("id")
                    .and_then(Node::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("criterion-{}", i + 1));
                item.remove("id");
                item.insert("name", span, Node::string(span, name));
            }
        }
    }
}

fn capability(doc: &mut Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get_mut("spec") else {
        return;
    };
    if let Some(reqs) = spec.get_mut("requirements").and_then(Node::as_seq_mut) {
        for (i, req) in reqs.iter_mut().enumerate() {
            let Some(entry) = req.entry("capability") else {
                continue;
            };
            let path = format!("spec.requirements[{i}]");
            let legacy = entry.value.as_str().map(str::to_string);
            let span = entry.key_span;
            match (req.get("name").and_then(Node::as_str), legacy) {
                (Some(name), Some(old)) if name != old => {
                    diags.push(
                        Diagnostic::new(
                            Code::MixedLegacyForms,
                            format!("requirement has both `name: {name}` and the legacy `capability: {old}`, and they disagree"),
                        )
                        .at(span)
                        .with_path(format!("{path}.capability"))
                        .with_hint("keep only `name`"),
                    );
                    // Reported once here, not again as an unknown field; `name` is read.
                    req.remove("capability");
                }
                (Some(_), _) => {
                    warn(
                        diags,
                        Code::LegacyRequirementKey,
                        span,
                        format!("{path}.capability"),
                        "`capability` repeats `name` in this requirement".to_string(),
                        "remove `capability`",
                    );
                    req.remove("capability");
                }
                (None, _) => {
                    warn(
                        diags,
                        Code::LegacyRequirementKey,
                        span,
                        format!("{path}.capability"),
                        "`capability` is the legacy key of a requirement".to_string(),
                        "write `name`",
                    );
                    req.rename_key("capability", "name");
                }
            }
        }
    }
    for list in ["inputs", "outputs"] {
        if let Some(params) = spec.get_mut(list).and_then(Node::as_seq_mut) {
            for (i, param) in params.iter_mut().enumerate() {
                parameter(param, &format!("spec.{list}[{i}]"), diags);
            }
        }
    }
}

/// ParameterDefinition legacy forms (§8 L11, L12), recursively through `objectProperties`.
fn parameter(param: &mut Node, path: &str, diags: &mut Vec<Diagnostic>) {
    for key in ["type", "itemType"] {
        let Some(ty) = param.get_mut(key) else {
            continue;
        };
        if ty.as_str() == Some("integer") {
            warn(
                diags,
                Code::LegacyIntegerType,
                ty.span,
                format!("{path}.{key}"),
                format!(
                    "parameter `{key}: integer` is not a PlanSpec type; it is read as `number`"
                ),
                format!("write `{key}: number`"),
            );
            ty.value = Value::String("number".to_string());
        }
    }
    let what = "`properties` is the legacy key for an object parameter's fields";
    legacy_key(
        param,
        "properties",
        "objectProperties",
        Code::LegacyPropertiesKey,
        path,
        what,
        diags,
    );
    if let Some(Value::Map(props)) = param.get_mut("objectProperties").map(|p| &mut p.value) {
        for entry in props.iter_mut() {
            let sub = format!("{path}.objectProperties.{}", entry.key);
            parameter(&mut entry.value, &sub, diags);
        }
    }
}

fn binding(doc: &mut Node, diags: &mut Vec<Diagnostic>) {
    let Some(items) = doc
        .get_mut("status")
        .and_then(|s| s.get_mut("unboundCapabilities"))
        .and_then(Node::as_seq_mut)
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if let Value::String(name) = &item.value {
            let name = name.clone();
            warn(
                diags,
                Code::LegacyUnboundString,
                item.span,
                format!("status.unboundCapabilities[{i}]"),
                "an unbound capability given as a plain string is the legacy form".to_string(),
                format!("write `{{capabilityRef: {{name: {name}}}}}`"),
            );
            let span = item.span;
            *item = Node::map(
                span,
                vec![(
                    "capabilityRef",
                    Node::map(span, vec![("name", Node::string(span, name))]),
                )],
            );
        }
    }
}

fn execution(doc: &mut Node, diags: &mut Vec<Diagnostic>) {
    let Some(items) = doc
        .get_mut("status")
        .and_then(|s| s.get_mut("artifacts"))
        .and_then(Node::as_seq_mut)
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        let what = "`uri` is the legacy key of an artifact's address";
        legacy_key(
            item,
            "uri",
            "url",
            Code::LegacyArtifactUri,
            &format!("status.artifacts[{i}]"),
            what,
            diags,
        );
    }
}

fn gate(doc: &mut Node, diags: &mut Vec<Diagnostic>) {
    let Some(spec) = doc.get_mut("spec") else {
        return;
    };
    // `spec.timeout` is part of v1alpha1 (with `onTimeout`); only its day form is legacy.
    day_duration(spec, "timeout", "spec.timeout", diags);
    for (key, hint) in [(
        "metadata",
        "remove it; put labels and annotations in the Gate's `metadata`, not in `spec`",
    )] {
        if let Some(entry) = spec.remove(key) {
            warn(
                diags,
                Code::LegacyGateTimeout,
                entry.key_span,
                format!("spec.{key}"),
                format!("Gate `spec.{key}` is not part of planspec.io/v1alpha1 and is ignored"),
                hint,
            );
        }
    }
    let Some(phase) = doc.get_mut("status").and_then(|s| s.get_mut("phase")) else {
        return;
    };
    if let Some(old @ ("ChangesRequested" | "Expired")) = phase.as_str() {
        warn(
            diags,
            Code::LegacyGatePhase,
            phase.span,
            "status.phase".to_string(),
            format!("Gate phase `{old}` is from an older design and is read as `Waiting`"),
            "v1alpha1 Gates are `Pending`, `Waiting`, `Approved` or `Rejected`; a request for changes is a `comment` review",
        );
        phase.value = Value::String("Waiting".to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::day_duration_hours;

    #[test]
    fn day_durations() {
        assert_eq!(day_duration_hours("7d").as_deref(), Some("168h"));
        assert_eq!(day_duration_hours("1.5d").as_deref(), Some("36h"));
        assert_eq!(day_duration_hours("2d12h").as_deref(), Some("60h"));
        assert_eq!(day_duration_hours("1d30m").as_deref(), Some("24h30m"));
        assert_eq!(day_duration_hours("168h"), None);
        assert_eq!(day_duration_hours("d"), None);
        assert_eq!(day_duration_hours("xd"), None);
        assert_eq!(day_duration_hours("3 days"), None);
    }
}
