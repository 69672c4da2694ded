//! Properties over random DAGs and random (valid) interleavings of results, timers, stale
//! deliveries, cancels and retries:
//!
//! (a) folding the journal gives the live state, also from a snapshot taken part-way;
//! (b) no node starts again after it succeeded (within a retry round);
//! (c) every node ends terminal, and the execution finishes;
//! (d) replay agrees with the journal;
//! and every dispatch carries the deterministic idempotency key of its attempt.

mod common;

use common::{plan, Run};
use planspec_engine::{
    idempotency_key, Command, Decision, Event, Execution, Input, Outcome, ReasonCode, TimerId,
    Verdict,
};
use planspec_model::NodeId;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Debug, Clone)]
struct NodeSpec {
    kind: u8,
    deps: Vec<(usize, bool)>,
    retries: u32,
    timeout: bool,
    criteria: bool,
    when: Option<usize>,
    interpolate: bool,
}

fn node_spec(i: usize) -> impl Strategy<Value = NodeSpec> {
    (
        0u8..10,
        proptest::collection::vec((0..i.max(1), any::<bool>()), 0..=i.min(3)),
        0u32..3,
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.3, 0usize..4),
        any::<bool>(),
    )
        .prop_map(
            move |(kind, deps, retries, timeout, criteria, when, interpolate)| NodeSpec {
                kind,
                deps: if i == 0 { Vec::new() } else { deps },
                retries,
                timeout,
                criteria,
                when,
                interpolate,
            },
        )
}

fn plan_spec() -> impl Strategy<Value = Vec<NodeSpec>> {
    (1usize..14).prop_flat_map(|n| (0..n).map(node_spec).collect::<Vec<_>>())
}

fn to_plan(specs: &[NodeSpec]) -> planspec_model::Plan {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let id = format!("n{i}");
        let mut hard: BTreeSet<String> = BTreeSet::new();
        for &(j, is_hard) in &s.deps {
            if is_hard {
                hard.insert(format!("n{j}"));
            } else {
                edges.push(json!({"from": format!("n{j}"), "to": id, "type": "soft"}));
            }
        }
        let mut node = match s.kind {
            0 => json!({"id": id, "kind": "Gate", "gateRef": {"name": "g"}}),
            1 => json!({"id": id, "kind": "External", "externalRef": {"type": "manual"}}),
            _ => json!({"id": id, "kind": "Task", "retries": s.retries}),
        };
        node["dependsOn"] = json!(hard.iter().collect::<Vec<_>>());
        if let Some(f) = s.when {
            node["when"] = json!(format!("parameters.f{f}"));
        }
        if s.timeout && s.kind != 0 {
            node["timeout"] = json!("1m");
        }
        if s.kind >= 2 {
            if s.criteria {
                node["acceptanceCriteria"] = json!([{"type": "manual", "name": "ok"}]);
            }
            if s.interpolate {
                let reads: Vec<String> = hard
                    .iter()
                    .map(|d| format!("${{{{ nodes.{d}.outputs }}}}"))
                    .collect();
                node["inputs"] = json!({"up": reads, "flag": "${{ parameters.f0 }}"});
            }
        }
        nodes.push(node);
    }
    plan(Value::Array(nodes), Value::Array(edges))
}

/// What the simulated world still owes the engine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Owed {
    Result(String, u32),
    Criteria(String, u32),
    Gate(String),
    External(String),
    Timer(TimerId, u64),
    /// A delivery that is no longer expected (killed attempt, cancelled timer): sent late.
    Stale(Box<Owed>),
}

struct World {
    run: Run,
    owed: Vec<Owed>,
    choices: Vec<u32>,
    next: usize,
    retries_left: u32,
}

impl World {
    fn pick(&mut self, bound: u32) -> u32 {
        let c = self.choices.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        if bound == 0 {
            0
        } else {
            c % bound
        }
    }

    fn take(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Dispatch {
                    node,
                    attempt,
                    idempotency_key: key,
                    ..
                } => {
                    assert_eq!(key, idempotency_key("uid-1", &node, attempt));
                    self.owed.push(Owed::Result(node.to_string(), attempt));
                }
                Command::EvaluateCriteria { node, attempt, .. } => {
                    self.owed.push(Owed::Criteria(node.to_string(), attempt))
                }
                Command::OpenGate { node, .. } | Command::RequestApproval { node, .. } => {
                    self.owed.push(Owed::Gate(node.to_string()))
                }
                Command::WatchExternal { node, .. } => {
                    self.owed.push(Owed::External(node.to_string()))
                }
                Command::StartTimer { timer, due_at } => {
                    self.owed
                        .retain(|o| !matches!(o, Owed::Timer(t, _) if *t == timer));
                    self.owed.push(Owed::Timer(timer, due_at));
                }
                Command::CancelTimer { timer } => {
                    if let Some(k) = self
                        .owed
                        .iter()
                        .position(|o| matches!(o, Owed::Timer(t, _) if *t == timer))
                    {
                        let o = self.owed.remove(k);
                        if self.pick(4) == 0 {
                            self.owed.push(Owed::Stale(Box::new(o)));
                        }
                    }
                }
                Command::Kill { node, attempt, .. } => {
                    let n = node.to_string();
                    let killed: Vec<Owed> = self
                        .owed
                        .iter()
                        .filter(|o| match o {
                            Owed::Result(x, a) | Owed::Criteria(x, a) => *x == n && *a == attempt,
                            Owed::Gate(x) | Owed::External(x) => *x == n,
                            _ => false,
                        })
                        .cloned()
                        .collect();
                    self.owed.retain(|o| !killed.contains(o));
                    for o in killed {
                        if self.pick(2) == 0 {
                            self.owed.push(Owed::Stale(Box::new(o)));
                        }
                    }
                }
                Command::Finish { .. } => {}
                // The generated plans have no Plan or Placeholder nodes and no `concurrency`.
                Command::StartChild { .. }
                | Command::CancelChild { .. }
                | Command::ResolveSelector { .. }
                | Command::AcquireLease { .. }
                | Command::ReleaseLease { .. } => {}
            }
        }
    }

    fn input_for(&mut self, owed: Owed) -> Input {
        let step = 1 + u64::from(self.pick(1000));
        let at = self.run.advance(step);
        match owed {
            Owed::Result(node, attempt) => {
                let outcome = match self.pick(4) {
                    0 => Outcome::Failed {
                        reason: [
                            ReasonCode::ProviderFailed,
                            ReasonCode::ProviderRejected,
                            ReasonCode::AttemptLost,
                        ][self.pick(3) as usize],
                        message: "boom".into(),
                        retryable: self.pick(3) != 0,
                    },
                    _ => Outcome::Succeeded {
                        outputs: json!({"v": self.pick(100), "by": node})
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                        cost_usd: None,
                    },
                };
                Input::NodeResult {
                    at,
                    node: NodeId::new(node),
                    attempt,
                    outcome,
                    exit_code: None,
                }
            }
            Owed::Criteria(node, attempt) => Input::CriteriaResult {
                at,
                node: NodeId::new(node),
                attempt,
                verdicts: vec![Verdict {
                    name: "ok".into(),
                    passed: self.pick(3) != 0,
                    message: None,
                }],
            },
            Owed::Gate(node) => Input::GateResolved {
                at,
                node: NodeId::new(node),
                approved: self.pick(4) != 0,
                by: Some("user:x".into()),
                comment: None,
                outputs: None,
                timed_out: false,
            },
            Owed::External(node) => Input::ExternalCompleted {
                at,
                node: NodeId::new(node),
                outcome: if self.pick(5) == 0 {
                    Outcome::Failed {
                        reason: ReasonCode::ExternalFailed,
                        message: "gone".into(),
                        retryable: false,
                    }
                } else {
                    Outcome::Succeeded {
                        outputs: Default::default(),
                        cost_usd: None,
                    }
                },
            },
            Owed::Timer(timer, due) => {
                self.run.now = self.run.now.max(due);
                Input::TimerFired {
                    at: self.run.now,
                    timer,
                }
            }
            Owed::Stale(inner) => self.input_for(*inner),
        }
    }

    /// Drives the execution until nothing is owed, with occasional cancels and retries.
    fn drive(&mut self, first: Vec<Command>) {
        self.take(first);
        for _ in 0..5_000 {
            if self.owed.is_empty() {
                if self.run.exec.is_finished() && self.retries_left > 0 {
                    self.retries_left -= 1;
                    let from = match self.pick(3) {
                        0 => {
                            let n = self.run.exec.graph().len() as u32;
                            Some(format!("n{}", self.pick(n)))
                        }
                        _ => None,
                    };
                    let step = self.run.retry(from.as_deref());
                    self.take(step.commands);
                    continue;
                }
                return;
            }
            let exhausted = self.next >= self.choices.len();
            match if exhausted { 1 } else { self.pick(40) } {
                0 => {
                    let force = self.pick(2) == 0;
                    let step = self.run.cancel(force);
                    self.take(step.commands);
                }
                _ => {
                    let k = self.pick(self.owed.len() as u32) as usize;
                    let owed = self.owed.remove(k);
                    let input = self.input_for(owed);
                    let step = self.run.send(input);
                    self.take(step.commands);
                }
            }
        }
        panic!("the execution did not settle: {:?}", self.owed);
    }
}

/// (b): within a round, no node starts after it succeeded.
fn no_start_after_success(journal: &[Event]) -> Result<(), String> {
    let mut succeeded: BTreeSet<String> = BTreeSet::new();
    for (k, event) in journal.iter().enumerate() {
        match event {
            Event::Decision(Decision::NodeSucceeded { node, .. }) => {
                succeeded.insert(node.to_string());
            }
            Event::Decision(
                Decision::NodeStarted { node, .. } | Decision::GateOpened { node, .. },
            ) if succeeded.contains(node.as_str()) => {
                return Err(format!("entry {k}: `{node}` starts after it succeeded"));
            }
            Event::Decision(Decision::ExecutionRetried { nodes, .. }) => {
                for n in nodes {
                    succeeded.remove(n.as_str());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_runs_fold_replay_and_finish(
        specs in plan_spec(),
        flags in proptest::collection::vec(any::<bool>(), 4),
        choices in proptest::collection::vec(any::<u32>(), 0..400),
        deadline in prop::option::weighted(0.2, 1_000u64..200_000),
        retries in 0u32..3,
        cut in any::<prop::sample::Index>(),
    ) {
        let plan = to_plan(&specs);
        let graph = Arc::new(planspec_engine::compile(&plan, None).expect("random DAGs compile"));
        let mut run = Run::new(graph.clone());
        let parameters: BTreeMap<String, Value> = flags
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("f{i}"), json!(f)))
            .collect();
        let digest = graph.digest().to_string();
        let start = Input::ExecutionStarted {
            at: run.now,
            uid: "uid-1".into(),
            name: None,
            namespace: None,
            graph_digest: digest,
            parameters: serde_json::to_value(parameters).unwrap().as_object().cloned().unwrap(),
            pinned: Value::Null,
            deadline: deadline.map(|d| run.now + d),
            creator: None,
            governance: None,
            max_parallel: None,
            fail_fast: false,
        };
        let first = run.send(start).commands;
        let mut world = World { run, owed: Vec::new(), choices, next: 0, retries_left: retries };
        world.drive(first);
        let run = world.run;

        // (c) every node ends terminal and the execution finished.
        prop_assert!(run.exec.is_finished(), "phase {:?}", run.exec.phase());
        for (node, state) in graph.nodes().iter().zip(&run.exec.state().nodes) {
            prop_assert!(state.phase.is_terminal(), "{} is {:?}", node.id, state.phase);
        }
        prop_assert_eq!(run.exec.counters().terminal() as usize, graph.len());

        // (a) fold(journal) == live state, also through a snapshot at a random entry.
        let folded = Execution::fold(graph.clone(), &run.journal).expect("the journal folds");
        prop_assert_eq!(&folded, &run.exec);
        let at = cut.index(run.journal.len());
        let prefix = Execution::fold(graph.clone(), &run.journal[..at]).expect("a prefix folds");
        let text = serde_json::to_string(&prefix.snapshot()).unwrap();
        let mut restored = Execution::restore(graph.clone(), serde_json::from_str(&text).unwrap())
            .expect("the snapshot restores");
        prop_assert_eq!(&restored, &prefix);
        for event in &run.journal[at..] {
            restored.apply(event).expect("the rest folds");
        }
        prop_assert_eq!(&restored, &run.exec);

        // (b) no node starts after it succeeded.
        if let Err(e) = no_start_after_success(&run.journal) {
            return Err(TestCaseError::fail(e));
        }

        // (d) replay agrees.
        match planspec_engine::replay(graph.clone(), &run.journal) {
            Ok(replayed) => prop_assert_eq!(&replayed, &run.exec),
            Err(d) => return Err(TestCaseError::fail(d.to_string())),
        }
    }
}
