//! Evaluating the pinned Policies for one Task (see the module docs of [`crate::policy`]).

use super::{verdict_str, Governance, PolicyRef, ProviderFacts, RuleRef};
use crate::cel;
use crate::graph::{ExecGraph, ExecKind};
use planspec_model::actor::UserInfo;
use planspec_model::policy::{PolicyVerdict, RiskLevel};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The reason of the built-in rule that sends risk `high` to approval.
pub const BUILTIN_HIGH_RISK: &str = "high_risk_requires_approval";
/// The reason of the built-in rule that denies risk `blocked`.
pub const BUILTIN_RISK_BLOCKED: &str = "risk_blocked";
/// The reason of the built-in rule that denies destructive providers under
/// `safety: no_destructive_actions`.
pub const BUILTIN_DESTRUCTIVE: &str = "destructive_action_forbidden";

/// The variables a rule may read.
pub const RULE_VARIABLES: &[&str] = &[
    "node",
    "plan",
    "goal",
    "provider",
    "execution",
    "parameters",
    "actor",
];

/// Checks a rule's `when` before it is stored: it must parse as CEL (within the length and
/// nesting limits) and read only [`RULE_VARIABLES`]. `Err` says what is wrong.
pub fn check_rule(when: &str) -> Result<(), String> {
    let analysis = cel::analyze(when).map_err(|e| e.to_string())?;
    let unknown: Vec<String> = analysis
        .variables
        .iter()
        .filter(|v| !RULE_VARIABLES.contains(&v.as_str()))
        .map(|v| format!("`{v}`"))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the expression reads {}, which policies do not provide (they provide {})",
            unknown.join(", "),
            RULE_VARIABLES.join(", ")
        ))
    }
}

/// What one Task is judged on.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The graph.
    pub graph: &'a ExecGraph,
    /// The node's index in the graph.
    pub node: usize,
    /// The node's inputs, after `${{ }}` interpolation when it could be done (else as
    /// written).
    pub inputs: Value,
    /// The run's parameters.
    pub parameters: &'a Map<String, Value>,
    /// The Execution's name, namespace and uid (`execution.name` …).
    pub execution: Value,
    /// Who created the Execution.
    pub actor: Option<&'a UserInfo>,
    /// The pinned Policies and facts.
    pub governance: &'a Governance,
}

/// How one rule came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum RuleOutcome {
    /// `when` is `true`.
    Matched,
    /// `when` is `false`.
    NotMatched,
    /// `when` failed or is not a boolean; counts as matched with at least `assist`.
    Error {
        /// Why.
        message: String,
    },
}

/// One rule's evaluation, for `planspec policy explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleEvaluation {
    /// The Policy.
    pub policy: String,
    /// The rule.
    pub rule: String,
    /// Its `when`.
    pub when: String,
    /// The verdict it yields when it matches.
    pub verdict: PolicyVerdict,
    /// How it came out.
    #[serde(flatten)]
    pub outcome: RuleOutcome,
}

/// Where the final verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VerdictSource {
    /// A matching rule.
    Rule,
    /// No rule matched: the strictest `defaultVerdict` of the namespace's Policies.
    NamespaceDefault,
    /// No rule matched and no Policy sets a default: the server's default.
    ServerDefault,
    /// A built-in rule (risk or safety) made the verdict stricter.
    Builtin,
}

/// The verdict on one Task and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The final verdict.
    pub verdict: PolicyVerdict,
    /// The node's risk: the highest of its own, its Capabilities' and its provider's.
    pub risk: RiskLevel,
    /// Why: the deciding rule's `reason` (else its name), `namespace_default`,
    /// `server_default`, or a built-in reason.
    pub reason: String,
    /// For people.
    pub message: String,
    /// Where the verdict came from.
    pub source: VerdictSource,
    /// The verdict of the rules and defaults, before the built-in rules.
    pub policy_verdict: PolicyVerdict,
    /// Every rule that matched (or failed), in evaluation order.
    pub matched: Vec<RuleRef>,
    /// Every rule's evaluation.
    pub rules: Vec<RuleEvaluation>,
    /// The Policy versions evaluated.
    pub policies: Vec<PolicyRef>,
}

/// The node's risk: the highest of its own, its Capabilities' and its provider's.
pub fn node_risk(graph: &ExecGraph, node: usize, governance: &Governance) -> RiskLevel {
    let n = &graph.nodes[node];
    let mut risk = RiskLevel::Low;
    if let ExecKind::Task(task) = &n.kind {
        if let Some(r) = task.risk {
            risk = risk.max(r);
        }
        for cap in &task.capability_refs {
            if let Some(r) = governance.capabilities.get(&*cap.name) {
                risk = risk.max(*r);
            }
        }
    }
    if let Some(p) = governance.providers.get(n.id.as_str()) {
        risk = risk.max(p.risk);
    }
    risk
}

/// The variables a rule sees.
fn variables(subject: &Subject<'_>, risk: RiskLevel) -> Vec<(&'static str, Value)> {
    let graph = subject.graph;
    let n = &graph.nodes[subject.node];
    let (capabilities, declared) = match &n.kind {
        ExecKind::Task(task) => (
            task.capability_refs
                .iter()
                .map(|c| c.name.to_string())
                .collect::<Vec<_>>(),
            task.risk,
        ),
        _ => (Vec::new(), None),
    };
    let provider = subject
        .governance
        .providers
        .get(n.id.as_str())
        .cloned()
        .unwrap_or_else(|| ProviderFacts {
            type_name: "none".into(),
            ..ProviderFacts::default()
        });
    let actor = subject.actor.cloned().unwrap_or_default();
    vec![
        (
            "node",
            json!({
                "id": n.id,
                "kind": n.kind.name(),
                "capabilities": capabilities,
                "risk": risk,
                "declaredRisk": declared,
                "group": n.group,
                "inputs": subject.inputs,
            }),
        ),
        ("plan", graph.plan.clone()),
        ("goal", graph.goal.clone()),
        ("provider", json!(provider)),
        ("execution", subject.execution.clone()),
        ("parameters", Value::Object(subject.parameters.clone())),
        ("actor", json!(actor)),
    ]
}

/// Evaluates every pinned rule for the subject and combines them (see the module docs).
pub fn evaluate(subject: &Subject<'_>) -> Evaluation {
    let governance = subject.governance;
    let graph = subject.graph;
    let risk = node_risk(graph, subject.node, governance);
    let vars = variables(subject, risk);
    let mut rules = Vec::new();
    let mut matched = Vec::new();
    // The winning verdict with the first rule that yielded it: (verdict, reason, message).
    let mut best: Option<(PolicyVerdict, String, String)> = None;
    for policy in &governance.policies {
        for rule in &policy.spec.rules {
            let (outcome, effective) = match cel::evaluate_with(&rule.when, vars.clone()) {
                Ok(Value::Bool(true)) => (RuleOutcome::Matched, Some(rule.verdict)),
                Ok(Value::Bool(false)) => (RuleOutcome::NotMatched, None),
                Ok(other) => (
                    RuleOutcome::Error {
                        message: format!("`when` yields {other}, not a boolean"),
                    },
                    Some(rule.verdict.max(PolicyVerdict::Assist)),
                ),
                Err(e) => (
                    RuleOutcome::Error {
                        message: format!("`when` failed: {e}"),
                    },
                    Some(rule.verdict.max(PolicyVerdict::Assist)),
                ),
            };
            if let Some(verdict) = effective {
                matched.push(RuleRef {
                    policy: policy.name.clone(),
                    rule: rule.name.clone(),
                });
                if best.as_ref().is_none_or(|(v, _, _)| verdict > *v) {
                    let reason = match &outcome {
                        RuleOutcome::Error { .. } => "policy_rule_error".to_string(),
                        _ => rule.reason.clone().unwrap_or_else(|| rule.name.clone()),
                    };
                    let detail = match &outcome {
                        RuleOutcome::Error { message } => message.clone(),
                        _ => rule.message.clone().unwrap_or_default(),
                    };
                    let mut message = format!(
                        "rule {}/{} yields {}",
                        policy.name,
                        rule.name,
                        verdict_str(verdict)
                    );
                    if !detail.is_empty() {
                        message.push_str(": ");
                        message.push_str(&detail);
                    }
                    best = Some((verdict, reason, message));
                }
            }
            rules.push(RuleEvaluation {
                policy: policy.name.clone(),
                rule: rule.name.clone(),
                when: rule.when.clone(),
                verdict: rule.verdict,
                outcome,
            });
        }
    }
    let (mut verdict, mut reason, mut message, mut source) = match best {
        Some((v, r, m)) => (v, r, m, VerdictSource::Rule),
        None => match governance
            .policies
            .iter()
            .filter_map(|p| p.spec.default_verdict.map(|v| (v, &p.name)))
            .max_by_key(|(v, _)| *v)
        {
            Some((v, name)) => (
                v,
                "namespace_default".to_string(),
                format!(
                    "no rule matched; the namespace default is {} (policy {name})",
                    verdict_str(v)
                ),
                VerdictSource::NamespaceDefault,
            ),
            None => (
                governance.default_verdict,
                "server_default".to_string(),
                format!(
                    "no rule matched and no Policy sets a default; the server default is {}",
                    verdict_str(governance.default_verdict)
                ),
                VerdictSource::ServerDefault,
            ),
        },
    };
    let policy_verdict = verdict;
    let provider = governance
        .providers
        .get(graph.nodes[subject.node].id.as_str());
    let builtin = builtin_rule(graph, provider, risk);
    if let Some((v, r, m)) = builtin {
        if v > verdict {
            verdict = v;
            reason = r.to_string();
            message = format!(
                "{m} ({} said {})",
                source_name(source),
                verdict_str(policy_verdict)
            );
            source = VerdictSource::Builtin;
        }
    }
    Evaluation {
        verdict,
        risk,
        reason,
        message,
        source,
        policy_verdict,
        matched,
        rules,
        policies: governance.policy_refs(),
    }
}

/// The built-in rule that applies to a node, if any: (verdict, reason, message).
fn builtin_rule(
    graph: &ExecGraph,
    provider: Option<&ProviderFacts>,
    risk: RiskLevel,
) -> Option<(PolicyVerdict, &'static str, String)> {
    if graph.constraints.no_destructive_actions && provider.is_some_and(|p| p.destructive) {
        let name = provider.map(|p| p.name.as_str()).unwrap_or_default();
        let message = format!(
            "the provider {name} is destructive and the Goal's safety is no_destructive_actions"
        );
        return Some((PolicyVerdict::Deny, BUILTIN_DESTRUCTIVE, message));
    }
    match risk {
        RiskLevel::Blocked => Some((
            PolicyVerdict::Deny,
            BUILTIN_RISK_BLOCKED,
            "the node's risk is blocked: it never runs and cannot be approved".to_string(),
        )),
        RiskLevel::High => Some((
            PolicyVerdict::Assist,
            BUILTIN_HIGH_RISK,
            "the node's risk is high: it never runs without a person's approval".to_string(),
        )),
        _ => None,
    }
}

fn source_name(source: VerdictSource) -> &'static str {
    match source {
        VerdictSource::Rule => "the policies",
        VerdictSource::NamespaceDefault => "the namespace default",
        VerdictSource::ServerDefault => "the server default",
        VerdictSource::Builtin => "a built-in rule",
    }
}
