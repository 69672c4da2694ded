//! Test helpers: plans from JSON, and a run that journals every step like a runtime would.
#![allow(dead_code)]

use planspec_engine::{
    compile, replay, Command, Decision, Event, ExecGraph, Execution, Input, NodePhase, Outcome,
    ReasonCode, Step, TimerId, Verdict,
};
use planspec_model::{Goal, NodeId, Plan};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub const T0: u64 = 1_770_206_400_000;

/// A Plan with these nodes (and edges).
pub fn plan(nodes: Value, edges: Value) -> Plan {
    serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"description": "d", "graph": {"nodes": nodes, "edges": edges}}
    }))
    .expect("a plan")
}

/// A Goal with a timeout.
pub fn goal(timeout: &str) -> Goal {
    serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Goal",
        "metadata": {"name": "g"},
        "spec": {"description": "ship it", "timeout": timeout, "constraints": {"budget": 5}}
    }))
    .expect("a goal")
}

pub fn task(id: &str, deps: &[&str]) -> Value {
    json!({"id": id, "kind": "Task", "dependsOn": deps})
}

pub fn graph(plan: &Plan) -> Arc<ExecGraph> {
    Arc::new(compile(plan, None).expect("the plan compiles"))
}

/// An execution driven step by step, with its journal.
pub struct Run {
    pub exec: Execution,
    pub journal: Vec<Event>,
    pub now: u64,
}

impl Run {
    pub fn new(graph: Arc<ExecGraph>) -> Run {
        Run {
            exec: Execution::new(graph),
            journal: Vec::new(),
            now: T0,
        }
    }

    pub fn of(plan: &Plan) -> Run {
        Run::new(graph(plan))
    }

    /// Handles an input, journals it with its decisions, and returns the step.
    pub fn send(&mut self, input: Input) -> Step {
        let step = self
            .exec
            .handle(input.clone())
            .expect("the input is handled");
        self.journal.extend(step.journal_entries(&input));
        step
    }

    pub fn advance(&mut self, ms: u64) -> u64 {
        self.now += ms;
        self.now
    }

    pub fn start(&mut self, parameters: Value) -> Step {
        self.start_with(parameters, None, false)
    }

    /// Starts the run with the Execution's `maxParallel` and `failFast`.
    pub fn start_with(
        &mut self,
        parameters: Value,
        max_parallel: Option<u32>,
        fail_fast: bool,
    ) -> Step {
        let digest = self.exec.graph().digest().to_string();
        self.send(Input::ExecutionStarted {
            at: self.now,
            uid: "uid-1".into(),
            name: Some("ex".into()),
            namespace: Some("team".into()),
            graph_digest: digest,
            parameters: parameters.as_object().cloned().unwrap_or_default(),
            pinned: Value::Null,
            deadline: None,
            creator: None,
            governance: None,
            max_parallel,
            fail_fast,
        })
    }

    pub fn succeed(&mut self, node: &str, attempt: u32, outputs: Value) -> Step {
        self.send(Input::NodeResult {
            at: self.now,
            node: NodeId::new(node),
            attempt,
            outcome: Outcome::Succeeded {
                outputs: outputs.as_object().cloned().unwrap_or_default(),
                cost_usd: None,
            },
            exit_code: None,
        })
    }

    pub fn fail(&mut self, node: &str, attempt: u32, reason: ReasonCode, retryable: bool) -> Step {
        self.send(Input::NodeResult {
            at: self.now,
            node: NodeId::new(node),
            attempt,
            outcome: Outcome::Failed {
                reason,
                message: format!("{node} attempt {attempt} failed"),
                retryable,
            },
            exit_code: None,
        })
    }

    pub fn fire(&mut self, timer: TimerId) -> Step {
        self.send(Input::TimerFired {
            at: self.now,
            timer,
        })
    }

    pub fn verdicts(&mut self, node: &str, attempt: u32, verdicts: &[(&str, bool)]) -> Step {
        self.send(Input::CriteriaResult {
            at: self.now,
            node: NodeId::new(node),
            attempt,
            verdicts: verdicts
                .iter()
                .map(|(name, passed)| Verdict {
                    name: name.to_string(),
                    passed: *passed,
                    message: (!passed).then(|| format!("{name} did not hold")),
                })
                .collect(),
        })
    }

    pub fn cancel(&mut self, force: bool) -> Step {
        self.send(Input::CancelRequested {
            at: self.now,
            force,
            by: Some("alice".into()),
        })
    }

    pub fn retry(&mut self, from: Option<&str>) -> Step {
        self.send(Input::RetryRequested {
            at: self.now,
            from: from.map(NodeId::new),
            deadline: None,
            by: None,
        })
    }

    pub fn phase(&self, node: &str) -> NodePhase {
        self.exec.node(node).expect("the node exists").phase
    }

    pub fn reason(&self, node: &str) -> Option<ReasonCode> {
        self.exec.node(node).expect("the node exists").reason
    }

    pub fn outputs(&self, node: &str) -> Map<String, Value> {
        self.exec
            .node(node)
            .and_then(|n| n.outputs.clone())
            .unwrap_or_default()
    }

    /// Folding the journal gives the live state, and replaying it agrees.
    pub fn check_journal(&self) {
        let folded = Execution::fold(self.exec.graph().clone(), &self.journal).expect("fold");
        assert_eq!(
            folded, self.exec,
            "fold(journal) differs from the live state"
        );
        let replayed = replay(self.exec.graph().clone(), &self.journal)
            .unwrap_or_else(|d| panic!("replay diverges: {d}"));
        assert_eq!(replayed, self.exec, "replay differs from the live state");
    }
}

/// The (node, attempt) of every `Dispatch` in a step.
pub fn dispatched(step: &Step) -> Vec<(String, u32)> {
    step.commands
        .iter()
        .filter_map(|c| match c {
            Command::Dispatch { node, attempt, .. } => Some((node.to_string(), *attempt)),
            _ => None,
        })
        .collect()
}

/// The ids of the nodes dispatched in a step.
pub fn dispatched_ids(step: &Step) -> Vec<String> {
    dispatched(step).into_iter().map(|(n, _)| n).collect()
}

/// The timers started in a step.
pub fn timers(step: &Step) -> Vec<(TimerId, u64)> {
    step.commands
        .iter()
        .filter_map(|c| match c {
            Command::StartTimer { timer, due_at } => Some((timer.clone(), *due_at)),
            _ => None,
        })
        .collect()
}

/// The final phase of a step's `ExecutionCompleted`, if any.
pub fn completed(
    step: &Step,
) -> Option<(
    planspec_model::execution::ExecutionPhase,
    Option<ReasonCode>,
)> {
    step.decisions.iter().find_map(|d| match d {
        Decision::ExecutionCompleted { phase, reason, .. } => Some((*phase, *reason)),
        _ => None,
    })
}

/// The reason of a step's `InputIgnored`, if any.
pub fn ignored(step: &Step) -> Option<ReasonCode> {
    step.decisions.iter().find_map(|d| match d {
        Decision::InputIgnored { reason, .. } => Some(*reason),
        _ => None,
    })
}
