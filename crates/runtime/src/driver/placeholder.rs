//! Placeholder nodes in the runtime: answering a selector lookup, and a person's value
//! (`planspec resolve`), checked before it is journaled.
//!
//! * **ResolveSelector** lists the resources of the asked kind in the Execution's namespace,
//!   keeps those whose labels match, and answers `PlaceholderValue` (source `selector`) with
//!   the first by name: its name for a `capability`/`plan` placeholder, its `spec` for data
//!   (`by` is `Kind/name`); without a match, with no value, so the engine asks the next source.
//!   A store failure is retried (the lookup is a read). Only the kinds a Placeholder may read
//!   ([`Kind::PLACEHOLDER_SELECTABLE`]: Goal, Plan, Capability, Binding) are listed; any other
//!   (a Provider, a Policy, an RBAC object, an Execution, a Gate — which validation refuses
//!   as `PS0447`) is answered as no match without reading the store, so its contents never
//!   become node outputs.
//! * **A person's value** goes through [`Execution::check_placeholder`] first: a value the node's
//!   schema or rules refuse is answered with [`RuntimeError::Rejected`] (the API's 422) and
//!   nothing is journaled; the node keeps waiting.

use super::execution::{Driver, Msg};
use super::{now_ms, RuntimeError};
use planspec_engine::placeholder::{PlaceholderRefusal, Source};
use planspec_engine::Input;
use planspec_model::meta::{LabelSelector, Labels};
use planspec_model::plan::{Node, PlaceholderType, Plan, TaskNode};
use planspec_model::Kind;
use planspec_store::ListQuery;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::oneshot;

/// Whether a Placeholder's selector may list `kind` (by its name as written).
fn selectable(kind: &str) -> bool {
    Kind::from_name(kind).is_some_and(Kind::placeholder_selectable)
}

/// Store reads tried before a lookup gives up (then it reports no match).
const LOOKUP_TRIES: u32 = 10;

/// For each Placeholder with a `resolverRef`, a Task of the same id needing that Capability:
/// what the Binding resolves (and the start pins) as the resolver's provider.
pub(crate) fn resolver_subjects(plan: &Plan) -> Vec<Node> {
    plan.spec
        .nodes()
        .iter()
        .filter_map(|n| match n {
            Node::Placeholder(p) => p.resolver_ref.as_ref().map(|r| {
                Node::Task(TaskNode {
                    id: p.id.clone(),
                    capability_refs: vec![r.clone()],
                    ..TaskNode::default()
                })
            }),
            _ => None,
        })
        .collect()
}

impl Driver {
    /// Looks up the resources that may fill Placeholder `node` and answers the engine.
    pub(crate) fn resolve_selector(
        &mut self,
        node: String,
        attempt: u32,
        kind: String,
        selector: LabelSelector,
        value_type: PlaceholderType,
    ) {
        let tx = self.tx.clone();
        let store = self.shared.store.clone();
        let namespace = self.key.namespace.clone();
        if !selectable(&kind) {
            eprintln!(
                "planspec: runtime: placeholder {node}: a selector may not list `{kind}`; no match"
            );
            let _ = tx.send(Msg::Input(Input::PlaceholderValue {
                at: now_ms(),
                node: node.as_str().into(),
                attempt,
                source: Source::Selector,
                value: None,
                by: None,
            }));
            return;
        }
        tokio::spawn(async move {
            let query = ListQuery::in_namespace(kind.clone(), namespace);
            let mut tries = 0;
            let page = loop {
                match store.list(&query).await {
                    Ok(page) => break Some(page),
                    Err(e) if tries + 1 < LOOKUP_TRIES => {
                        tries += 1;
                        eprintln!(
                            "planspec: runtime: placeholder {node}: listing {kind}: {e}; retrying"
                        );
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(e) => {
                        eprintln!("planspec: runtime: placeholder {node}: listing {kind}: {e}");
                        break None;
                    }
                }
            };
            let mut matches: Vec<(String, Value)> = page
                .map(|p| p.items)
                .unwrap_or_default()
                .into_iter()
                .filter(|o| {
                    let labels: Labels = o
                        .object
                        .pointer("/metadata/labels")
                        .cloned()
                        .and_then(|l| serde_json::from_value(l).ok())
                        .unwrap_or_default();
                    selector.matches(&labels)
                })
                .map(|o| (o.key.name, o.object))
                .collect();
            matches.sort_by(|a, b| a.0.cmp(&b.0));
            let (value, by) = match matches.into_iter().next() {
                Some((name, object)) => {
                    let value = match value_type {
                        PlaceholderType::Capability | PlaceholderType::Plan => {
                            Value::String(name.clone())
                        }
                        PlaceholderType::Data => object.get("spec").cloned().unwrap_or(Value::Null),
                    };
                    (Some(value), Some(format!("{kind}/{name}")))
                }
                None => (None, None),
            };
            let _ = tx.send(Msg::Input(Input::PlaceholderValue {
                at: now_ms(),
                node: node.as_str().into(),
                attempt,
                source: Source::Selector,
                value,
                by,
            }));
        });
    }

    /// A person's value for Placeholder `node`: checked, then journaled.
    pub(crate) async fn resolve_by_person(
        &mut self,
        node: String,
        value: Value,
        by: Option<String>,
        reply: oneshot::Sender<Result<(), RuntimeError>>,
    ) -> Result<(), super::execution::End> {
        let checked = match self.run.as_ref() {
            None => Err(RuntimeError::Conflict("the execution is not loaded".into())),
            Some(run) => match run.exec.check_placeholder(&node, &value) {
                Ok(()) => Ok(run.exec.node(&node).map(|n| n.attempt).unwrap_or_default()),
                Err(PlaceholderRefusal::UnknownNode(_)) => {
                    Err(RuntimeError::NotFound(format!("node {node}")))
                }
                Err(PlaceholderRefusal::Rejected(rejection)) => {
                    Err(RuntimeError::Rejected(rejection))
                }
                Err(other) => Err(RuntimeError::Conflict(other.to_string())),
            },
        };
        match checked {
            Ok(attempt) => {
                let input = Input::PlaceholderValue {
                    at: now_ms(),
                    node: node.as_str().into(),
                    attempt,
                    source: Source::Person,
                    value: Some(value),
                    by,
                };
                self.process(input, Some(reply)).await
            }
            Err(e) => {
                let _ = reply.send(Err(e));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::selectable;

    #[test]
    fn selectors_read_only_the_plan_model_kinds_that_describe_work() {
        for kind in ["Goal", "Plan", "Capability", "Binding"] {
            assert!(selectable(kind), "{kind}");
        }
        for kind in [
            "Execution",
            "Gate",
            "Policy",
            "Provider",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Secret",
            "ConfigMap",
        ] {
            assert!(!selectable(kind), "{kind}");
        }
    }
}
