//! The journal: every entry is an [`Event`], either an [`Input`] (a fact from the world) or a
//! [`Decision`] (what the engine derived from it). Both are journaled.
//!
//! On the wire an entry is one JSON object tagged by `type` (`{"type":"NodeStarted", …}`),
//! field names in camelCase. Every entry carries `at`: milliseconds since the Unix epoch,
//! given by the runtime with the input; decisions carry the `at` of the input they answer.
//! The engine never reads a clock.

use crate::ids::TimerId;
use crate::policy::{Governance, PolicyRef, RuleRef};
use crate::reason::ReasonCode;
use planspec_model::actor::UserInfo;
use planspec_model::execution::ExecutionPhase;
use planspec_model::policy::{PolicyVerdict, RiskLevel};
use planspec_model::NodeId;
use planspec_model::ObjectReference;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A fact from the world, handed to [`Execution::handle`](crate::Execution::handle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Input {
    /// The run starts.
    ExecutionStarted {
        /// When.
        at: u64,
        /// The Execution's uid: the root of every idempotency key.
        uid: String,
        /// The Execution's name, for `execution.name` in expressions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The Execution's namespace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// The digest of the graph the run executes; must match the engine's graph.
        graph_digest: String,
        /// The run's parameters (`parameters` in expressions).
        #[serde(default)]
        parameters: Map<String, Value>,
        /// What the runtime resolved and pinned at start (bindings, providers); opaque to the
        /// engine, kept for the runtime's recovery.
        #[serde(default, skip_serializing_if = "Value::is_null")]
        pinned: Value,
        /// A deadline (ms since the epoch) on top of the Goal's `timeout`; the earlier wins.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<u64>,
        /// Who created the Execution.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        creator: Option<UserInfo>,
        /// The Policies and facts every Task's verdict is made against. Without it (journals
        /// from before governance) nodes are not routed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        governance: Option<Box<Governance>>,
        /// Most nodes running at once (the Execution's `maxParallel`; `None`: no limit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_parallel: Option<u32>,
        /// The Execution's `failFast`: the first failure stops anything new from starting.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fail_fast: bool,
    },
    /// A provider finished an attempt of a Task.
    NodeResult {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// How it went.
        outcome: Outcome,
        /// The process's exit code, when the provider ran one (`exec`). Informational: the
        /// engine decides nothing from it; run artifacts report it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
    },
    /// The runtime checked a Task's acceptance criteria.
    CriteriaResult {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt whose outputs were checked.
        attempt: u32,
        /// One verdict per criterion.
        verdicts: Vec<Verdict>,
    },
    /// The Gate resource a Gate node waits for was decided.
    GateResolved {
        /// When.
        at: u64,
        /// The Gate node.
        node: NodeId,
        /// Approved or rejected.
        approved: bool,
        /// Who decided.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Their comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// The values the approval carried (the Gate's typed input); with `approved`, the
        /// node's outputs besides `approved`, `by` and `comment` (which win a clash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outputs: Option<Map<String, Value>>,
        /// Decided by the Gate's timeout (its `onTimeout`), not by reviewers; a rejection is
        /// then `gate_timeout`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
    },
    /// What an External node waits for completed (or failed).
    ExternalCompleted {
        /// When.
        at: u64,
        /// The External node.
        node: NodeId,
        /// How it went.
        outcome: Outcome,
    },
    /// A timer the engine asked for fired.
    TimerFired {
        /// When.
        at: u64,
        /// The timer.
        timer: TimerId,
    },
    /// Someone cancels the run.
    CancelRequested {
        /// When.
        at: u64,
        /// `false`: running nodes finish, nothing new starts. `true`: running nodes are
        /// killed.
        #[serde(default)]
        force: bool,
        /// Who asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The child Execution a `Plan` node started finished.
    ChildFinished {
        /// When.
        at: u64,
        /// The `Plan` node.
        node: NodeId,
        /// The node's attempt the child belongs to.
        attempt: u32,
        /// The child Execution's name.
        child: String,
        /// How the child ended: `Succeeded`, `Failed` or `Cancelled`.
        phase: ExecutionPhase,
        /// The child's outputs: for each child node with outputs, `{<node id>: {outputs…}}`.
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        outputs: Map<String, Value>,
        /// The child's reason code, unless it succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The child's message.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
    /// A value for a Placeholder node: the answer to a selector lookup (`value` absent: nothing
    /// matched), or a person's value (`planspec resolve`).
    PlaceholderValue {
        /// When.
        at: u64,
        /// The Placeholder node.
        node: NodeId,
        /// The node's attempt the value is for.
        attempt: u32,
        /// Where it comes from: `selector` or `person`.
        source: crate::placeholder::Source,
        /// The value; absent when the source has none. A present `null` is a value
        /// (`Some(Null)`), kept distinct from an absent one when the journal is read back.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present_value"
        )]
        value: Option<Value>,
        /// Who gave it (a person), or which resource it is (a selector's match).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The runtime granted the lease a Task's `concurrency` asked for (`AcquireLease`).
    LeaseAcquired {
        /// When.
        at: u64,
        /// The Task.
        node: NodeId,
        /// The key, as the engine asked for it.
        key: String,
        /// The slot held (`0..limit`).
        slot: u32,
        /// The lease's fencing token.
        token: u64,
        /// Who holds it (the runtime instance, execution and node), for people.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        holder: String,
    },
    /// Someone re-runs a finished execution.
    RetryRequested {
        /// When.
        at: u64,
        /// Re-run this node and everything downstream of it; `None`: every node that failed
        /// or was cancelled, and everything downstream.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<NodeId>,
        /// A deadline for the new round on top of the Goal's `timeout` counted from `at`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<u64>,
        /// Who asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
}

/// How an attempt (or an External wait) ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all_fields = "camelCase")]
pub enum Outcome {
    /// It succeeded with these outputs.
    Succeeded {
        /// Output values by name.
        #[serde(default)]
        outputs: Map<String, Value>,
        /// What the attempt cost, in US dollars, as the provider reported it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// It failed.
    Failed {
        /// Why, as a failure code.
        reason: ReasonCode,
        /// Detail for people.
        #[serde(default)]
        message: String,
        /// `false` if retrying cannot help; the engine then never retries.
        #[serde(default = "yes")]
        retryable: bool,
    },
}

fn yes() -> bool {
    true
}

/// The verdict on one acceptance criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The criterion's name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Detail for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the engine derived from an input. Every state change is one of these, except that an
/// accepted `ExecutionStarted` records the run's identity and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Decision {
    /// The run is running.
    ExecutionRunning {
        /// When.
        at: u64,
        /// The deadline (ms since the epoch), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<u64>,
    },
    /// A node's dependencies are done and its conditions hold; it may start.
    NodeReady {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
    },
    /// A node will not run.
    NodeSkipped {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// Why (`when_false`, `upstream_failed`, `upstream_skipped`).
        reason: ReasonCode,
        /// Detail: the condition, or the upstream node.
        message: String,
    },
    /// The pinned Policies were evaluated for a Ready Task: `allow` dispatches it, `assist`
    /// holds it until a person approves, `deny` is followed by its `NodeFailed`.
    NodeVerdict {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The verdict.
        verdict: PolicyVerdict,
        /// The node's risk.
        risk: RiskLevel,
        /// Why (the deciding rule's reason, a default, or a built-in reason).
        reason: String,
        /// For people.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
        /// The rules that matched.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        matched: Vec<RuleRef>,
        /// The Policy versions evaluated.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        policies: Vec<PolicyRef>,
    },
    /// A person approved a Task its `assist` verdict held; it may dispatch.
    NodeApproved {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// Who approved.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Their comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A provider reported what an attempt cost.
    CostRecorded {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The cost, in US dollars.
        usd: f64,
        /// Everything reported so far in this run, in US dollars.
        total_usd: f64,
    },
    /// An attempt of a Task, or the wait of an External, starts.
    NodeStarted {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt (1 for the first).
        attempt: u32,
        /// The attempt's idempotency key.
        idempotency_key: String,
        /// The resolved inputs (Tasks; `null` for Externals).
        #[serde(default)]
        inputs: Value,
        /// When the attempt times out (ms since the epoch), if it has a `timeout`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_at: Option<u64>,
    },
    /// A Gate node waits for its Gate.
    GateOpened {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The Gate resource.
        gate_ref: ObjectReference,
    },
    /// A Placeholder node waits for its value from `source`: a selector lookup or its
    /// resolver's provider (the node is `Running`), or a person (`AwaitingInput`).
    PlaceholderWaiting {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// What it waits for.
        source: crate::placeholder::Source,
    },
    /// A Task's provider succeeded; its acceptance criteria are being checked.
    CriteriaRequested {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The outputs the criteria are checked against (kept until the verdict).
        outputs: Map<String, Value>,
    },
    /// A node succeeded.
    NodeSucceeded {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// Its outputs.
        outputs: Map<String, Value>,
        /// Advisory (not required) criteria that failed, by name.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        advisories: Vec<String>,
    },
    /// An attempt failed and another will start at `due_at`.
    RetryScheduled {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The attempt that will start.
        attempt: u32,
        /// When it starts (ms since the epoch).
        due_at: u64,
        /// Why the previous attempt failed.
        reason: ReasonCode,
        /// Detail.
        message: String,
        /// `true` if the engine asked the runtime to kill the previous attempt.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        killed: bool,
    },
    /// A node failed.
    NodeFailed {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The last attempt (0 if none started).
        attempt: u32,
        /// Why.
        reason: ReasonCode,
        /// Detail.
        message: String,
        /// `true` if the engine asked the runtime to kill the attempt.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        killed: bool,
    },
    /// A node was cancelled.
    NodeCancelled {
        /// When.
        at: u64,
        /// The node.
        node: NodeId,
        /// The last attempt (0 if none started).
        attempt: u32,
        /// Why.
        reason: ReasonCode,
        /// `true` if the engine asked the runtime to kill the attempt.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        killed: bool,
    },
    /// Cancellation was accepted.
    CancelAccepted {
        /// When.
        at: u64,
        /// Forced or graceful.
        force: bool,
    },
    /// A finished execution runs again: these nodes are pending again.
    ExecutionRetried {
        /// When.
        at: u64,
        /// The node the retry was asked from, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<NodeId>,
        /// The nodes that run again, in the engine's order.
        nodes: Vec<NodeId>,
        /// The new retry round (1 for the first retry).
        round: u32,
        /// The round's deadline, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<u64>,
    },
    /// The run finished.
    ExecutionCompleted {
        /// When.
        at: u64,
        /// `Succeeded`, `Failed` or `Cancelled`.
        phase: ExecutionPhase,
        /// Why, unless it succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<ReasonCode>,
        /// Detail.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
    /// A Task admitted to dispatch waits for the lease its `concurrency` names.
    LeaseRequested {
        /// When.
        at: u64,
        /// The Task.
        node: NodeId,
        /// The key with its expressions evaluated.
        key: String,
        /// How many holders the key allows.
        limit: u32,
    },
    /// A Task got its lease (`LeaseAcquired`); its attempt dispatches.
    LeaseGranted {
        /// When.
        at: u64,
        /// The Task.
        node: NodeId,
        /// The key.
        key: String,
        /// The slot held.
        slot: u32,
        /// The lease's fencing token.
        token: u64,
    },
    /// A matrix Task fanned out: its instances are derived again, by the fold too, from the
    /// graph, the parameters and the upstream outputs (see [`crate::matrix`]); the journal
    /// keeps only their number and digest, which a fold checks.
    MatrixExpanded {
        /// When.
        at: u64,
        /// The matrix node.
        node: NodeId,
        /// How many instances.
        instances: u32,
        /// `sha256:<hex>` over the instance ids, in instance order.
        digest: String,
    },
    /// The input changed nothing.
    InputIgnored {
        /// When.
        at: u64,
        /// Why.
        reason: ReasonCode,
        /// The node the input named, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
        /// The attempt the input named, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
    },
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// A fact from the world.
    Input(Input),
    /// What the engine derived.
    Decision(Decision),
}

/// An optional value whose presence matters: a present `null` reads as `Some(Null)` (serde's
/// `Option` would read it as `None`); an absent field is `None` through `default`.
fn present_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

const INPUT_TYPES: &[&str] = &[
    "ExecutionStarted",
    "NodeResult",
    "CriteriaResult",
    "GateResolved",
    "ExternalCompleted",
    "TimerFired",
    "CancelRequested",
    "RetryRequested",
    "LeaseAcquired",
    "PlaceholderValue",
    "ChildFinished",
];

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let is_input = match value.get("type").and_then(Value::as_str) {
            Some(t) => INPUT_TYPES.contains(&t),
            None => return Err(serde::de::Error::missing_field("type")),
        };
        if is_input {
            Input::deserialize(value)
                .map(Event::Input)
                .map_err(serde::de::Error::custom)
        } else {
            Decision::deserialize(value)
                .map(Event::Decision)
                .map_err(serde::de::Error::custom)
        }
    }
}

impl Input {
    /// When the input happened.
    pub fn at(&self) -> u64 {
        match self {
            Input::ExecutionStarted { at, .. }
            | Input::NodeResult { at, .. }
            | Input::CriteriaResult { at, .. }
            | Input::GateResolved { at, .. }
            | Input::ExternalCompleted { at, .. }
            | Input::TimerFired { at, .. }
            | Input::CancelRequested { at, .. }
            | Input::RetryRequested { at, .. }
            | Input::LeaseAcquired { at, .. }
            | Input::PlaceholderValue { at, .. }
            | Input::ChildFinished { at, .. } => *at,
        }
    }
}

impl Decision {
    /// The `at` of the input it answers.
    pub fn at(&self) -> u64 {
        match self {
            Decision::ExecutionRunning { at, .. }
            | Decision::NodeReady { at, .. }
            | Decision::NodeVerdict { at, .. }
            | Decision::NodeApproved { at, .. }
            | Decision::CostRecorded { at, .. }
            | Decision::NodeSkipped { at, .. }
            | Decision::NodeStarted { at, .. }
            | Decision::GateOpened { at, .. }
            | Decision::PlaceholderWaiting { at, .. }
            | Decision::CriteriaRequested { at, .. }
            | Decision::NodeSucceeded { at, .. }
            | Decision::RetryScheduled { at, .. }
            | Decision::NodeFailed { at, .. }
            | Decision::NodeCancelled { at, .. }
            | Decision::CancelAccepted { at, .. }
            | Decision::ExecutionRetried { at, .. }
            | Decision::ExecutionCompleted { at, .. }
            | Decision::LeaseRequested { at, .. }
            | Decision::LeaseGranted { at, .. }
            | Decision::MatrixExpanded { at, .. }
            | Decision::InputIgnored { at, .. } => *at,
        }
    }
}

impl Event {
    /// When it happened.
    pub fn at(&self) -> u64 {
        match self {
            Event::Input(i) => i.at(),
            Event::Decision(d) => d.at(),
        }
    }

    /// `true` for an input.
    pub fn is_input(&self) -> bool {
        matches!(self, Event::Input(_))
    }
}

impl From<Input> for Event {
    fn from(input: Input) -> Self {
        Event::Input(input)
    }
}

impl From<Decision> for Event {
    fn from(decision: Decision) -> Self {
        Event::Decision(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_flat_json_tagged_by_type() {
        let e = Event::Decision(Decision::NodeStarted {
            at: 5,
            node: NodeId::new("build"),
            attempt: 1,
            idempotency_key: "psk_x".into(),
            inputs: json!({"a": 1}),
            timeout_at: None,
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({"type": "NodeStarted", "at": 5, "node": "build", "attempt": 1,
                   "idempotencyKey": "psk_x", "inputs": {"a": 1}})
        );
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);

        let i: Event = serde_json::from_value(json!({
            "type": "NodeResult", "at": 9, "node": "build", "attempt": 1,
            "outcome": {"status": "Failed", "reason": "provider_failed", "message": "exit 1"}
        }))
        .unwrap();
        assert_eq!(
            i,
            Event::Input(Input::NodeResult {
                at: 9,
                node: NodeId::new("build"),
                attempt: 1,
                outcome: Outcome::Failed {
                    reason: ReasonCode::ProviderFailed,
                    message: "exit 1".into(),
                    retryable: true
                },
                exit_code: None,
            })
        );
        assert!(serde_json::from_value::<Event>(json!({"type": "Nope", "at": 1})).is_err());
        assert!(serde_json::from_value::<Event>(json!({"at": 1})).is_err());
    }
}
