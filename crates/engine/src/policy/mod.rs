//! Policy: the verdict on each Task before it dispatches — `allow` (it runs), `assist` (a
//! person must approve it first) or `deny` (it fails with `policy_denied`).
//!
//! What a run is judged by is pinned when it starts ([`Governance`], carried by the journal's
//! `ExecutionStarted`): the namespace's Policies (name, uid, resourceVersion and spec), the
//! provider facts of each Task (type, name, declared risk, `destructive`, `verified`), the
//! declared risk of each Capability, and the server's default verdict. Replay re-evaluates
//! against exactly that record.
//!
//! **Rules.** Every rule of every Policy (Policies by name, rules in order) is evaluated as CEL
//! over `node`, `plan`, `goal`, `provider`, `execution`, `parameters` and `actor` (see
//! [`evaluate`]). A rule whose `when` is `true` matches. A rule whose `when` fails or is not a
//! boolean counts as matched with at least `assist`: a broken rule never lets a node through
//! unreviewed, and never blocks it for good either.
//!
//! **Combining.** Any `deny` wins, then `assist`, then `allow`; the reason and message come
//! from the first matching rule with the winning verdict. When no rule matches, the strictest
//! `defaultVerdict` among the namespace's Policies applies, else the server's default
//! (`allow`).
//!
//! **Built in, not overridable.** The node's risk is the highest of its own `risk`, its
//! Capabilities' and its provider's. Risk `high` is never autonomous (`allow` becomes
//! `assist`); risk `blocked` is never approvable (anything becomes `deny`); under the Goal's
//! `safety: no_destructive_actions` a node whose provider is `destructive` is denied.

mod constraints;
mod evaluate;

pub use constraints::{Constraints, NO_DESTRUCTIVE_ACTIONS};
pub use evaluate::{
    check_rule, evaluate, Evaluation, RuleEvaluation, RuleOutcome, Subject, VerdictSource,
    BUILTIN_DESTRUCTIVE, BUILTIN_HIGH_RISK, BUILTIN_RISK_BLOCKED, RULE_VARIABLES,
};

use planspec_model::policy::{PolicySpec, PolicyVerdict, RiskLevel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Policy as pinned when a run starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedPolicy {
    /// The Policy's name.
    pub name: String,
    /// Its uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Its `resourceVersion` when the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Its spec at that version.
    pub spec: PolicySpec,
}

impl PinnedPolicy {
    /// The version reference journaled with each verdict.
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            name: self.name.clone(),
            uid: self.uid.clone(),
            resource_version: self.resource_version.clone(),
        }
    }
}

/// Which version of a Policy a verdict was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// The Policy's name.
    pub name: String,
    /// Its uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Its `resourceVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// One rule of one Policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRef {
    /// The Policy.
    pub policy: String,
    /// The rule's name.
    pub rule: String,
}

/// What the runtime knows of a Task's provider, as policies see it (`provider`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderFacts {
    /// The provider type (`exec`, `http`, `human`, `noop`, …).
    #[serde(rename = "type")]
    pub type_name: String,
    /// The Provider resource's name, or the provider URI without credentials.
    #[serde(default)]
    pub name: String,
    /// The provider's declared risk.
    #[serde(default)]
    pub risk: RiskLevel,
    /// `true` if the provider declares it does destructive things.
    #[serde(default)]
    pub destructive: bool,
    /// `true` if the provider's signed manifest verified against the trust policy.
    #[serde(default)]
    pub verified: bool,
}

/// Everything a run's verdicts depend on beyond the graph, pinned at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Governance {
    /// The namespace's Policies, by name.
    #[serde(default)]
    pub policies: Vec<PinnedPolicy>,
    /// The server's default verdict, for when no rule matches and no Policy sets
    /// `defaultVerdict`.
    #[serde(default = "allow")]
    pub default_verdict: PolicyVerdict,
    /// Each Task's provider, by node id.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderFacts>,
    /// The declared risk of each Capability the plan uses, by name.
    #[serde(default)]
    pub capabilities: BTreeMap<String, RiskLevel>,
}

impl Default for Governance {
    fn default() -> Self {
        Governance {
            policies: Vec::new(),
            default_verdict: PolicyVerdict::Allow,
            providers: BTreeMap::new(),
            capabilities: BTreeMap::new(),
        }
    }
}

fn allow() -> PolicyVerdict {
    PolicyVerdict::Allow
}

impl Governance {
    /// The version references of the pinned Policies.
    pub fn policy_refs(&self) -> Vec<PolicyRef> {
        self.policies.iter().map(PinnedPolicy::reference).collect()
    }
}

/// The verdict's name as written (`allow`, `assist`, `deny`).
pub fn verdict_str(verdict: PolicyVerdict) -> &'static str {
    match verdict {
        PolicyVerdict::Allow => "allow",
        PolicyVerdict::Assist => "assist",
        PolicyVerdict::Deny => "deny",
    }
}

/// The risk's name as written (`low`, `medium`, `high`, `blocked`).
pub fn risk_str(risk: RiskLevel) -> &'static str {
    match risk {
        RiskLevel::Low => "low",
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
        RiskLevel::Blocked => "blocked",
    }
}
