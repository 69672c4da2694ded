//! Placeholder nodes: the value comes from a parameter named like the node, else a selector
//! lookup, else the resolver's provider, else a person — checked by
//! [`placeholder::check`](crate::placeholder::check) before it fills the node.
//!
//! * Starting (`NodeStarted`): a parameter fills the node at once; otherwise the node's
//!   `timeout` timer is armed (it counts the whole wait, across sources) and the node waits for
//!   its first source (`PlaceholderWaiting`).
//! * A source with no value (no resource matches, the resolver returns no `value`) passes to
//!   the next; a person is always last.
//! * A value that breaks a constraint fails the node with `placeholder_rejected` naming the
//!   source — except a person's, which is ignored (`InputIgnored`, `placeholder_rejected`)
//!   while the node keeps waiting (the runtime refuses it before journaling it anyway).
//! * The node succeeds with the outputs `value`, `source` and, when known, `by`.

use super::Deriver;
use crate::command::Command;
use crate::event::{Decision, Outcome};
use crate::graph::{ExecKind, Reads};
use crate::ids::{idempotency_key, TimerId};
use crate::machine::state::{Activity, NodePhase};
use crate::machine::Execution;
use crate::placeholder::{
    self, PlaceholderConfig, PlaceholderRefusal, Rejection, Source, Violation,
};
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::NodeId;
use serde_json::{json, Map, Value};

impl Execution {
    /// Checks a person's `value` for Placeholder `node` as the engine will when it is
    /// journaled: the node must be `AwaitingInput` and the value must pass its schema, its
    /// rules and the output size limit. The runtime calls this before journaling a value, so a
    /// bad one is refused with what it broke.
    pub fn check_placeholder(&self, node: &str, value: &Value) -> Result<(), PlaceholderRefusal> {
        let i = self
            .graph
            .index_of(node)
            .ok_or_else(|| PlaceholderRefusal::UnknownNode(node.to_string()))?;
        if !matches!(self.graph.nodes[i].kind, ExecKind::Placeholder(_)) {
            return Err(PlaceholderRefusal::NotPlaceholder(node.to_string()));
        }
        let phase = self.state.nodes[i].phase;
        if phase != NodePhase::AwaitingInput {
            return Err(PlaceholderRefusal::NotAwaiting {
                node: node.to_string(),
                phase: phase.as_str(),
            });
        }
        self.constraints(i, value)
            .map_err(PlaceholderRefusal::Rejected)
    }

    /// Every Placeholder waiting for a person, in the engine's order, with its configuration
    /// (its `description` is what the person is asked).
    pub fn awaiting_input(&self) -> Vec<(&NodeId, &PlaceholderConfig)> {
        // Kept up to date by every phase change: no scan of the graph.
        self.state
            .awaiting
            .iter()
            .filter_map(|&(_, i)| match &self.graph.nodes.get(i)?.kind {
                ExecKind::Placeholder(config) => Some((&self.graph.nodes[i].id, config)),
                _ => None,
            })
            .collect()
    }
}

/// What the resolver's provider is sent: the node's `description`, `type` and `schema`.
fn resolver_inputs(config: &PlaceholderConfig) -> Value {
    let mut inputs = Map::new();
    inputs.insert("description".into(), json!(config.description));
    inputs.insert("type".into(), json!(config.value_type));
    if let Some(schema) = &config.schema {
        inputs.insert("schema".into(), schema.clone());
    }
    Value::Object(inputs)
}

impl Execution {
    /// What Placeholder `i` needs again after a restart: its selector lookup or resolver
    /// dispatch (same attempt and key), and its timeout timer at its original time.
    pub(in crate::machine) fn recover_placeholder(&self, i: usize) -> Vec<Command> {
        let mut commands = Vec::new();
        let (node, n) = (&self.graph.nodes[i], &self.state.nodes[i]);
        let ExecKind::Placeholder(config) = &node.kind else {
            return commands;
        };
        match (n.phase, n.activity) {
            (NodePhase::Running, Some(Activity::Lookup)) => {
                if let (Some(selector), Some(kind)) = (&config.selector, config.selector_kind()) {
                    commands.push(Command::ResolveSelector {
                        node: node.id.clone(),
                        attempt: n.attempt,
                        kind,
                        selector: selector.label_selector(),
                        value_type: config.value_type,
                    });
                }
            }
            (NodePhase::Running, Some(Activity::Provider)) => {
                let uid = self.state.uid.clone().unwrap_or_default();
                commands.push(Command::Dispatch {
                    node: node.id.clone(),
                    attempt: n.attempt,
                    idempotency_key: n
                        .key
                        .clone()
                        .unwrap_or_else(|| idempotency_key(&uid, &node.id, n.attempt)),
                    inputs: resolver_inputs(config),
                    timeout_ms: None,
                });
            }
            _ => {}
        }
        if matches!(n.phase, NodePhase::Running | NodePhase::AwaitingInput) {
            if let Some(timer) = &n.timer {
                commands.push(Command::StartTimer {
                    timer: timer.id.clone(),
                    due_at: timer.due_at,
                });
            }
        }
        commands
    }
}

impl Deriver<'_> {
    /// The configuration of node `i` if it is a Placeholder (`i` may be a matrix instance's
    /// slot beyond the graph's nodes: never a Placeholder).
    fn config(&self, i: usize) -> Option<&PlaceholderConfig> {
        match self.graph.nodes.get(i).map(|n| &n.kind) {
            Some(ExecKind::Placeholder(config)) => Some(config),
            _ => None,
        }
    }

    /// `true` if node `i` is a Placeholder.
    pub(super) fn is_placeholder(&self, i: usize) -> bool {
        self.config(i).is_some()
    }

    /// Starts attempt `attempt` of Placeholder `i`.
    pub(super) fn start_placeholder(&mut self, i: usize, attempt: u32) -> Result<(), EngineError> {
        let graph = self.graph.clone();
        let node = &graph.nodes[i];
        let uid = self.exec.state.uid.clone().unwrap_or_default();
        let parameter = self.exec.state.parameters.get(node.id.as_str()).cloned();
        let timeout_at = match parameter {
            Some(_) => None,
            None => node.timeout_ms.map(|t| self.at.saturating_add(t)),
        };
        self.emit(Decision::NodeStarted {
            at: self.at,
            node: node.id.clone(),
            attempt,
            idempotency_key: idempotency_key(&uid, &node.id, attempt),
            inputs: Value::Null,
            timeout_at,
        })?;
        if let Some(due_at) = timeout_at {
            self.command(Command::StartTimer {
                timer: TimerId::Timeout {
                    node: node.id.to_string(),
                    attempt,
                },
                due_at,
            });
        }
        match parameter {
            Some(value) => self.offer(i, Source::Parameter, value, None),
            None => self.wait_after(i, Source::Parameter),
        }
    }

    /// Waits for the first source after `after` that node `i` has (a person last).
    fn wait_after(&mut self, i: usize, after: Source) -> Result<(), EngineError> {
        let Some(config) = self.config(i).cloned() else {
            return Ok(());
        };
        let attempt = self.exec.state.nodes[i].attempt;
        let id = self.id(i);
        if self.exec.state.cancel.is_some() {
            self.cancel_node_timer(i);
            return self.emit(Decision::NodeCancelled {
                at: self.at,
                node: id,
                attempt,
                reason: ReasonCode::Cancelled,
                killed: false,
            });
        }
        let selector = config.selector.as_ref().zip(config.selector_kind());
        let source = match after {
            Source::Parameter if selector.is_some() => Source::Selector,
            Source::Parameter | Source::Selector if config.resolver_ref.is_some() => {
                Source::Resolver
            }
            _ => Source::Person,
        };
        self.emit(Decision::PlaceholderWaiting {
            at: self.at,
            node: id.clone(),
            attempt,
            source,
        })?;
        match source {
            Source::Selector => {
                if let Some((selector, kind)) = selector {
                    self.command(Command::ResolveSelector {
                        node: id,
                        attempt,
                        kind,
                        selector: selector.label_selector(),
                        value_type: config.value_type,
                    });
                }
            }
            Source::Resolver => {
                let key = self.exec.state.nodes[i].key.clone().unwrap_or_default();
                self.command(Command::Dispatch {
                    node: id,
                    attempt,
                    idempotency_key: key,
                    inputs: resolver_inputs(&config),
                    timeout_ms: None,
                });
            }
            Source::Parameter | Source::Person => {}
        }
        Ok(())
    }

    /// Why `value` cannot fill Placeholder `i`, if it cannot.
    pub(super) fn constraints(&self, i: usize, value: &Value) -> Result<(), Rejection> {
        self.exec.constraints(i, value)
    }

    /// A value from `source` for Placeholder `i`: it fills the node, or is rejected.
    fn offer(
        &mut self,
        i: usize,
        source: Source,
        value: Value,
        by: Option<&str>,
    ) -> Result<(), EngineError> {
        let attempt = self.exec.state.nodes[i].attempt;
        let id = self.id(i);
        match self.constraints(i, &value) {
            Ok(()) => {
                self.cancel_node_timer(i);
                let mut outputs = Map::new();
                outputs.insert("value".into(), value);
                outputs.insert("source".into(), json!(source));
                if let Some(by) = by {
                    outputs.insert("by".into(), Value::String(self.clip(by)));
                }
                self.emit(Decision::NodeSucceeded {
                    at: self.at,
                    node: id,
                    attempt,
                    outputs,
                    advisories: Vec::new(),
                })
            }
            Err(_) if source == Source::Person => {
                self.ignore(ReasonCode::PlaceholderRejected, Some(&id), Some(attempt))
            }
            Err(rejection) => {
                self.cancel_node_timer(i);
                let message = self.clip(&format!(
                    "the value from the {source} is rejected: {rejection}"
                ));
                self.emit(Decision::NodeFailed {
                    at: self.at,
                    node: id,
                    attempt,
                    reason: ReasonCode::PlaceholderRejected,
                    message,
                    killed: false,
                })
            }
        }
    }

    /// `PlaceholderValue`: a selector's answer or a person's value.
    pub(super) fn placeholder_value(
        &mut self,
        node: &NodeId,
        attempt: u32,
        source: Source,
        value: Option<&Value>,
        by: Option<&str>,
    ) -> Result<(), EngineError> {
        let i = match source {
            Source::Selector => match self.waiting_node(node, Some(attempt), Activity::Lookup)? {
                Some(i) => i,
                None => return Ok(()),
            },
            Source::Person => {
                if let Some(reason) = self.not_running() {
                    return self.ignore(reason, Some(node), Some(attempt));
                }
                let Some(i) = self.graph.index_of(node) else {
                    return self.ignore(ReasonCode::UnknownNode, Some(node), Some(attempt));
                };
                let n = &self.exec.state.nodes[i];
                if n.attempt != attempt {
                    return self.ignore(ReasonCode::StaleAttempt, Some(node), Some(attempt));
                }
                if n.phase != NodePhase::AwaitingInput {
                    return self.ignore(ReasonCode::NotWaiting, Some(node), Some(attempt));
                }
                i
            }
            Source::Parameter | Source::Resolver => {
                return self.ignore(ReasonCode::NotWaiting, Some(node), Some(attempt));
            }
        };
        match value {
            Some(value) => self.offer(i, source, value.clone(), by),
            None if source == Source::Selector => self.wait_after(i, Source::Selector),
            None => self.ignore(ReasonCode::PlaceholderRejected, Some(node), Some(attempt)),
        }
    }

    /// The resolver's provider finished: its output `value` is offered; without one, a person
    /// is asked; a failure fails the node.
    pub(super) fn resolver_result(
        &mut self,
        i: usize,
        outcome: &Outcome,
    ) -> Result<(), EngineError> {
        match outcome {
            Outcome::Succeeded { outputs, .. } => match outputs.get("value") {
                Some(value) => self.offer(i, Source::Resolver, value.clone(), None),
                None => self.wait_after(i, Source::Resolver),
            },
            Outcome::Failed {
                reason, message, ..
            } => {
                self.cancel_node_timer(i);
                let message = self.clip(&format!("the resolver failed: {message}"));
                let attempt = self.exec.state.nodes[i].attempt;
                self.emit(Decision::NodeFailed {
                    at: self.at,
                    node: self.id(i),
                    attempt,
                    reason: *reason,
                    message,
                    killed: false,
                })
            }
        }
    }

    /// The Placeholder's `timeout` passed without a value.
    pub(super) fn placeholder_timed_out(
        &mut self,
        i: usize,
        limit: String,
    ) -> Result<(), EngineError> {
        let n = &self.exec.state.nodes[i];
        let attempt = n.attempt;
        let kill = n.phase == NodePhase::Running;
        if kill {
            self.kill(i);
        }
        self.emit(Decision::NodeFailed {
            at: self.at,
            node: self.id(i),
            attempt,
            reason: ReasonCode::PlaceholderTimeout,
            message: format!("no value within its timeout of {limit}"),
            killed: kill,
        })
    }
}

impl Execution {
    /// Why `value` cannot fill Placeholder `i`, if it cannot: read-only, so the runtime's
    /// check of a person's value copies nothing.
    fn constraints(&self, i: usize, value: &Value) -> Result<(), Rejection> {
        let Some(ExecKind::Placeholder(config)) = self.graph.nodes.get(i).map(|n| &n.kind) else {
            return Ok(());
        };
        let size = serde_json::to_vec(&Map::from_iter([("value".to_string(), value.clone())]))
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        let max = self.graph.limits.max_output_bytes;
        if size > max {
            return Err(Rejection {
                violations: vec![Violation::Schema {
                    path: String::new(),
                    message: format!(
                        "the outputs are {size} bytes as JSON; at most {max} are kept"
                    ),
                }],
            });
        }
        let variables = if config.rules.is_empty() {
            Vec::new()
        } else {
            self.variables(i, &Reads::Upstream)
                .into_iter()
                .map(|(name, var)| (name, var.into_json()))
                .collect()
        };
        placeholder::check(config.schema.as_ref(), &config.rules, value, variables)
    }
}
