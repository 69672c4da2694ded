//! What an Execution's policy verdicts are made against, read from the store when it starts
//! (and at admission, for the Execution-level verdict):
//!
//! * every `Policy` of the Execution's namespace, by name, with uid, resourceVersion and spec;
//! * each Task's provider facts, from its pinned provider record: `type`, `name` (the Provider
//!   resource's name when the record names one, else the URI without credentials), `risk`,
//!   `destructive`, `verified` (fields of the pinned record of the same names; absent means
//!   `low`, `false`, `false`);
//! * the declared `risk` of each Capability the plan's Tasks name;
//! * the server's default verdict ([`RuntimeOptions::default_verdict`](crate::RuntimeOptions)).
//!
//! The creator is the Execution's `planspec.io/created-by` annotation (set by the API server
//! from the authenticated identity), with the groups in `planspec.io/created-by-groups`
//! (comma-separated) when the server records them.

use crate::provider::PinnedProvider;
use planspec_engine::policy::{self, Evaluation, Governance, PinnedPolicy, ProviderFacts, Subject};
use planspec_engine::{ExecGraph, ExecKind};
use planspec_model::actor::{UserInfo, CREATED_BY_ANNOTATION};
use planspec_model::policy::{PolicySpec, PolicyVerdict, RiskLevel};
use planspec_store::{ListQuery, ObjectKey, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The annotation holding the creator's groups (comma-separated), when recorded.
pub const CREATED_BY_GROUPS_ANNOTATION: &str = "planspec.io/created-by-groups";

/// Why the governance record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GovernanceError {
    /// The store failed.
    #[error("reading policies: {0}")]
    Store(String),
    /// A Policy does not fit the model.
    #[error("policy {name} cannot be read: {message}")]
    InvalidPolicy {
        /// The Policy.
        name: String,
        /// Why.
        message: String,
    },
}

/// The creator recorded on an Execution object.
pub fn creator_of(execution: &Value) -> Option<UserInfo> {
    let annotations = execution.pointer("/metadata/annotations")?;
    let username = annotations.get(CREATED_BY_ANNOTATION)?.as_str()?;
    let groups = annotations
        .get(CREATED_BY_GROUPS_ANNOTATION)
        .and_then(Value::as_str)
        .map(|g| {
            g.split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(UserInfo {
        username: username.to_string(),
        groups,
    })
}

/// The facts policies see about a pinned provider.
pub fn provider_facts(provider: &PinnedProvider) -> ProviderFacts {
    let record = serde_json::to_value(provider).unwrap_or(Value::Null);
    let name = ["providerRef", "provider", "name"]
        .iter()
        .find_map(|k| match record.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("name").and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
        .unwrap_or_else(|| {
            crate::provider::ProviderUri::parse(&provider.uri)
                .map(|u| u.redacted())
                .unwrap_or_default()
        });
    ProviderFacts {
        type_name: provider.type_name.clone(),
        name,
        risk: record
            .get("risk")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_default(),
        destructive: record
            .get("destructive")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        verified: record
            .get("verified")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// Reads the namespace's Policies (by name) and the Capabilities' risk, and assembles the
/// record with the providers' facts.
pub async fn read_governance(
    store: &dyn Store,
    namespace: &str,
    graph: &ExecGraph,
    providers: &BTreeMap<String, PinnedProvider>,
    default_verdict: PolicyVerdict,
) -> Result<Governance, GovernanceError> {
    let page = store
        .list(&ListQuery::in_namespace("Policy", namespace))
        .await
        .map_err(|e| GovernanceError::Store(e.to_string()))?;
    let mut policies = Vec::new();
    for item in page.items {
        let spec: PolicySpec = serde_json::from_value(
            item.object
                .get("spec")
                .cloned()
                .unwrap_or_else(|| json!({})),
        )
        .map_err(|e| GovernanceError::InvalidPolicy {
            name: item.key.name.clone(),
            message: e.to_string(),
        })?;
        policies.push(PinnedPolicy {
            name: item.key.name.clone(),
            uid: Some(item.uid.clone()),
            resource_version: Some(item.revision.to_string()),
            spec,
        });
    }
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    let mut capabilities = BTreeMap::new();
    for node in graph.nodes() {
        let ExecKind::Task(task) = &node.kind else {
            continue;
        };
        for cap in &task.capability_refs {
            if capabilities.contains_key(&*cap.name) {
                continue;
            }
            let ns = cap.namespace.as_deref().unwrap_or(namespace);
            let object = store
                .get(&ObjectKey::new("Capability", ns, cap.name.to_string()))
                .await
                .map_err(|e| GovernanceError::Store(e.to_string()))?;
            let risk: Option<RiskLevel> = object
                .as_ref()
                .and_then(|o| o.object.pointer("/spec/risk"))
                .and_then(|r| serde_json::from_value(r.clone()).ok());
            if let Some(risk) = risk {
                capabilities.insert(cap.name.to_string(), risk);
            }
        }
    }
    Ok(Governance {
        policies,
        default_verdict,
        providers: providers
            .iter()
            .map(|(node, p)| (node.clone(), provider_facts(p)))
            .collect(),
        capabilities,
    })
}

/// One Task's verdict as admission sees it: evaluated with the run's parameters and the inputs
/// as written (`${{ }}` not yet resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeVerdictSummary {
    /// The node.
    pub node: String,
    /// `true` if the node runs whenever its dependencies succeed (no `when` on it or its
    /// Groups), so a `deny` here is certain to stop the run.
    pub must_run: bool,
    /// The evaluation.
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

/// Every Task's static verdict, in the engine's order.
pub fn static_verdicts(
    graph: &ExecGraph,
    governance: &Governance,
    parameters: &Map<String, Value>,
    execution: Value,
    creator: Option<&UserInfo>,
) -> Vec<NodeVerdictSummary> {
    graph
        .order()
        .iter()
        .filter_map(|&i| {
            let node = &graph.nodes()[i];
            let ExecKind::Task(task) = &node.kind else {
                return None;
            };
            let evaluation = policy::evaluate(&Subject {
                graph,
                node: i,
                inputs: Value::Object(task.inputs.value.clone()),
                parameters,
                execution: execution.clone(),
                actor: creator,
                governance,
            });
            Some(NodeVerdictSummary {
                node: node.id.to_string(),
                must_run: node.when.is_empty(),
                evaluation,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderResourcePin;

    #[test]
    fn provider_facts_come_from_the_pinned_record() {
        let mut p = PinnedProvider::new("exec", "exec://wipe?token=x", Map::new());
        let bare = provider_facts(&p);
        assert_eq!(bare.type_name, "exec");
        assert_eq!(bare.name, "exec://wipe");
        assert_eq!(bare.risk, RiskLevel::Low);
        assert!(!bare.destructive && !bare.verified);
        p.resource = Some(ProviderResourcePin {
            name: "wiper".into(),
            uid: "u".into(),
            resource_version: "3".into(),
            risk: "high".into(),
            destructive: true,
            verified: true,
            manifest_digest: None,
            issues: Vec::new(),
        });
        let pinned = provider_facts(&p);
        assert_eq!(pinned.name, "wiper");
        assert_eq!(pinned.risk, RiskLevel::High);
        assert!(pinned.destructive && pinned.verified);
    }

    #[test]
    fn the_creator_comes_from_the_annotations() {
        let e = json!({"metadata": {"annotations": {
            "planspec.io/created-by": "alice",
            "planspec.io/created-by-groups": "dev, ops,"}}});
        assert_eq!(creator_of(&e), Some(UserInfo::new("alice", ["dev", "ops"])));
        assert_eq!(creator_of(&json!({"metadata": {}})), None);
    }
}
