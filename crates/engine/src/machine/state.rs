//! The state of an execution and how each journal entry changes it ([`State::apply`]).

use crate::event::{Decision, Input};
use crate::graph::{ExecGraph, ExecKind};
use crate::ids::TimerId;
use crate::policy::Governance;
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::actor::UserInfo;
use planspec_model::execution::ExecutionPhase;
use planspec_model::policy::{PolicyVerdict, RiskLevel};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

mod instances;
pub(crate) use instances::MatrixIndex;

/// Phase of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodePhase {
    /// Waiting for its dependencies.
    Pending,
    /// Dependencies done, conditions hold; waiting to be dispatched.
    Ready,
    /// An attempt runs, its criteria are checked, it waits for a Gate or External, or for the
    /// next attempt (see [`Activity`]).
    Running,
    /// Done, with outputs.
    Succeeded,
    /// Done, failed.
    Failed,
    /// Did not run (a `when` is false, or a hard dependency did not succeed).
    Skipped,
    /// Cancelled.
    Cancelled,
    /// A Placeholder waits for a person's value (`planspec resolve`).
    AwaitingInput,
}

impl NodePhase {
    /// `true` for Succeeded, Failed, Skipped and Cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NodePhase::Succeeded | NodePhase::Failed | NodePhase::Skipped | NodePhase::Cancelled
        )
    }

    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        match self {
            NodePhase::Pending => "Pending",
            NodePhase::Ready => "Ready",
            NodePhase::Running => "Running",
            NodePhase::Succeeded => "Succeeded",
            NodePhase::Failed => "Failed",
            NodePhase::Skipped => "Skipped",
            NodePhase::Cancelled => "Cancelled",
            NodePhase::AwaitingInput => "AwaitingInput",
        }
    }
}

/// What a Running node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activity {
    /// The provider's result (`NodeResult`).
    Provider,
    /// The acceptance criteria verdicts (`CriteriaResult`).
    Criteria,
    /// The Gate's decision (`GateResolved`).
    Gate,
    /// The External dependency (`ExternalCompleted`).
    External,
    /// The backoff timer before the next attempt.
    Backoff,
    /// The child Execution of a `Plan` node (`ChildFinished`).
    Child,
    /// A Placeholder's selector lookup (`PlaceholderValue`).
    Lookup,
    /// A matrix Task's instances (it ends when the last one does; nothing of its own runs).
    Instances,
}

/// Where a Task held by an `assist` verdict stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Approval {
    /// It waits for a person's approval.
    Waiting,
    /// It was approved and may dispatch.
    Granted,
}

/// The lease a Task's `concurrency` asked for: waited for (no slot yet) or held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseHold {
    /// The key, expressions evaluated.
    pub key: String,
    /// How many holders the key allows.
    pub limit: u32,
    /// The slot held; `None` while waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    /// The fencing token of the tenure; `None` while waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
}

impl LeaseHold {
    /// `true` once a slot is held.
    pub fn is_held(&self) -> bool {
        self.slot.is_some()
    }
}

/// The policy verdict a Task got this round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerdictRecord {
    /// The verdict.
    pub verdict: PolicyVerdict,
    /// The node's risk.
    pub risk: RiskLevel,
    /// Why.
    pub reason: String,
    /// For people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// How the execution is being cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelMode {
    /// Running attempts finish; nothing new starts.
    Graceful,
    /// Running attempts are killed.
    Force,
}

/// A timer the node has armed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmedTimer {
    /// Its id.
    pub id: TimerId,
    /// When it fires.
    pub due_at: u64,
}

/// The state of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    /// Its phase.
    pub phase: NodePhase,
    /// What it waits for while Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
    /// The last attempt started (0: none yet). Attempts keep counting across retry rounds, so
    /// every attempt has its own idempotency key.
    pub attempt: u32,
    /// The first attempt of the current round: `retries` counts from here.
    pub first_attempt: u32,
    /// The idempotency key of the running attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The resolved inputs of this round (kept so retries and recovery send the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
    /// Outputs: when Succeeded, or held while the criteria are checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Map<String, Value>>,
    /// Why it failed, was skipped or cancelled (or why the last attempt failed, while
    /// waiting to retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    /// Detail for `reason`, or the advisory criteria that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the current attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// When the node finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The timer the node has armed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<ArmedTimer>,
    /// The last attempt the engine asked the runtime to kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killed: Option<u32>,
    /// The policy verdict of this round (Tasks of governed runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictRecord>,
    /// The approval an `assist` verdict asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// How many approvals `assist` verdicts asked for so far, across retry rounds (each has
    /// its own Gate).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub approvals: u32,
    /// The lease of the Task's `concurrency`, from the request until the node is terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseHold>,
}

impl NodeState {
    fn new() -> Self {
        NodeState {
            phase: NodePhase::Pending,
            activity: None,
            attempt: 0,
            first_attempt: 1,
            key: None,
            inputs: None,
            outputs: None,
            reason: None,
            message: None,
            started_at: None,
            finished_at: None,
            timer: None,
            killed: None,
            verdict: None,
            approval: None,
            approvals: 0,
            lease: None,
        }
    }
}

/// How many nodes are in each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Pending nodes.
    pub pending: u32,
    /// Ready nodes.
    pub ready: u32,
    /// Running nodes.
    pub running: u32,
    /// Succeeded nodes.
    pub succeeded: u32,
    /// Failed nodes.
    pub failed: u32,
    /// Skipped nodes.
    pub skipped: u32,
    /// Cancelled nodes.
    pub cancelled: u32,
    /// Placeholders waiting for a person.
    #[serde(default)]
    pub awaiting_input: u32,
}

impl Counters {
    fn slot(&mut self, phase: NodePhase) -> &mut u32 {
        match phase {
            NodePhase::Pending => &mut self.pending,
            NodePhase::Ready => &mut self.ready,
            NodePhase::Running => &mut self.running,
            NodePhase::Succeeded => &mut self.succeeded,
            NodePhase::Failed => &mut self.failed,
            NodePhase::Skipped => &mut self.skipped,
            NodePhase::Cancelled => &mut self.cancelled,
            NodePhase::AwaitingInput => &mut self.awaiting_input,
        }
    }

    /// Nodes in a terminal phase.
    pub fn terminal(&self) -> u32 {
        self.succeeded + self.failed + self.skipped + self.cancelled
    }

    /// All nodes.
    pub fn total(&self) -> u32 {
        self.terminal() + self.pending + self.ready + self.running + self.awaiting_input
    }
}

/// The state of an execution: a fold of its journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The execution's phase.
    pub phase: ExecutionPhase,
    /// Why it ended, unless it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    /// Detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The Execution's uid (set by `ExecutionStarted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The Execution's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Execution's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The run's parameters.
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// What the runtime pinned at start (opaque).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub pinned: Value,
    /// Who created the Execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<UserInfo>,
    /// The Policies and facts verdicts are made against (`None`: nodes are not routed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<Governance>,
    /// Most nodes running at once (`None`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// `true`: the first failure stops anything new from starting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_fast: bool,
    /// Nodes and matrix instances that failed in the current retry round (`failFast` reads
    /// it: a failure a retry left as it was does not stop the new round).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub round_failed: u32,
    /// What providers reported the run's attempts cost, in US dollars.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spent_usd: f64,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The deadline of the current round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
    /// The retry round (0 for the first run).
    pub round: u32,
    /// How it is being cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelMode>,
    /// Node states, by graph index.
    pub nodes: Vec<NodeState>,
    /// Nodes per phase.
    pub counters: Counters,
    /// Journal entries folded so far.
    pub applied: u64,
    /// Matrix instances, in the order they were expanded: the state of instance `k` is
    /// `nodes[graph.len() + k]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<crate::matrix::InstanceInfo>,
    /// The last attempt of each instance of a matrix a retry re-ran, by instance id: the
    /// instance counts on from it when expanded again, so idempotency keys never repeat.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instance_attempts: BTreeMap<String, u32>,
    /// Derived: instance ids → slots, and each matrix's progress.
    #[serde(skip)]
    pub(crate) matrix: MatrixIndex,
    /// Derived: per node, how many of its dependencies are not terminal.
    #[serde(skip)]
    pub(crate) waiting: Vec<u32>,
    /// Derived: Pending nodes whose dependencies are all terminal, as (rank, index).
    #[serde(skip)]
    pub(crate) frontier: BTreeSet<(usize, usize)>,
    /// Derived: Ready nodes, as (rank, index).
    #[serde(skip)]
    pub(crate) ready: BTreeSet<(usize, usize)>,
    /// Derived: Ready nodes that may start now — not waiting for an approval nor for a
    /// lease — as (rank, index). The scheduler scans only these, so nodes parked on an
    /// approval or a lease cost nothing per pass; they come back when granted.
    #[serde(skip)]
    pub(crate) startable: BTreeSet<(usize, usize)>,
    /// Derived: Ready nodes that hold their lease, as (rank, index): they already count
    /// against `maxParallel` and start first.
    #[serde(skip)]
    pub(crate) granted: BTreeSet<(usize, usize)>,
    /// Derived: Ready nodes that asked for a lease (waiting or holding): each counts against
    /// `maxParallel`, so no node takes a cross-run lease it could not start with.
    #[serde(skip)]
    pub(crate) leasing: BTreeSet<usize>,
    /// Derived: nodes `AwaitingInput` (Placeholders waiting for a person), as (rank, index),
    /// so listing them never scans the graph.
    #[serde(skip)]
    pub(crate) awaiting: BTreeSet<(usize, usize)>,
}

impl State {
    /// The state of an execution that has not started.
    pub(crate) fn new(graph: &ExecGraph) -> State {
        let n = graph.len();
        let mut state = State {
            phase: ExecutionPhase::Pending,
            reason: None,
            message: String::new(),
            uid: None,
            name: None,
            namespace: None,
            parameters: Map::new(),
            pinned: Value::Null,
            creator: None,
            governance: None,
            max_parallel: None,
            fail_fast: false,
            round_failed: 0,
            spent_usd: 0.0,
            started_at: None,
            finished_at: None,
            deadline: None,
            round: 0,
            cancel: None,
            nodes: vec![NodeState::new(); n],
            counters: Counters {
                pending: u32::try_from(n).unwrap_or(u32::MAX),
                ..Counters::default()
            },
            applied: 0,
            instances: Vec::new(),
            instance_attempts: BTreeMap::new(),
            matrix: MatrixIndex::default(),
            waiting: Vec::new(),
            frontier: BTreeSet::new(),
            ready: BTreeSet::new(),
            startable: BTreeSet::new(),
            granted: BTreeSet::new(),
            leasing: BTreeSet::new(),
            awaiting: BTreeSet::new(),
        };
        state.rebuild(graph);
        state
    }

    /// Recomputes the derived fields from the node phases.
    pub(crate) fn rebuild(&mut self, graph: &ExecGraph) {
        self.waiting = (0..graph.len())
            .map(|i| {
                let open = graph
                    .deps(i)
                    .filter(|&d| !self.nodes[d].phase.is_terminal())
                    .count();
                u32::try_from(open).unwrap_or(u32::MAX)
            })
            .collect();
        self.frontier.clear();
        self.ready.clear();
        self.awaiting.clear();
        for i in 0..graph.len() {
            match self.nodes[i].phase {
                NodePhase::AwaitingInput => {
                    self.awaiting.insert((graph.rank[i], i));
                }
                NodePhase::Pending if self.waiting[i] == 0 => {
                    self.frontier.insert((graph.rank[i], i));
                }
                NodePhase::Ready => {
                    self.ready.insert((graph.rank[i], i));
                }
                _ => {}
            }
        }
        let mut counters = Counters::default();
        for node in &self.nodes {
            *counters.slot(node.phase) += 1;
        }
        self.counters = counters;
        if self.round == 0 {
            // Every failure of the first run is of this round (and a snapshot written
            // before the field existed lacks it).
            self.round_failed = counters.failed;
        }
        self.rebuild_instances(graph);
        self.startable.clear();
        self.granted.clear();
        self.leasing.clear();
        for i in 0..self.nodes.len() {
            self.refile(graph, i);
        }
    }

    /// Puts node `i` in the derived sets its phase, approval and lease call for.
    pub(crate) fn refile(&mut self, graph: &ExecGraph, i: usize) {
        let key = (graph.rank[self.owner(graph, i)], i);
        let n = &self.nodes[i];
        let ready = n.phase == NodePhase::Ready;
        let lease = n.lease.as_ref();
        let startable =
            ready && n.approval != Some(Approval::Waiting) && lease.is_none_or(LeaseHold::is_held);
        let granted = startable && lease.is_some();
        let leasing = ready && lease.is_some();
        fn put<K: Ord>(set: &mut BTreeSet<K>, key: K, member: bool) {
            if member {
                set.insert(key);
            } else {
                set.remove(&key);
            }
        }
        put(&mut self.startable, key, startable);
        put(&mut self.granted, key, granted);
        put(&mut self.leasing, i, leasing);
    }

    /// Applies one input: only an accepted `ExecutionStarted` changes anything.
    pub(crate) fn apply_input(
        &mut self,
        graph: &ExecGraph,
        input: &Input,
    ) -> Result<(), EngineError> {
        if let Input::ExecutionStarted {
            uid,
            name,
            namespace,
            graph_digest,
            parameters,
            pinned,
            creator,
            governance,
            max_parallel,
            fail_fast,
            ..
        } = input
        {
            if graph_digest != graph.digest() {
                return Err(EngineError::GraphMismatch {
                    graph: graph.digest().to_string(),
                    journal: graph_digest.clone(),
                });
            }
            if self.accepts_start() {
                if *max_parallel == Some(0) {
                    // No node could ever start: the run would wait forever.
                    return Err(EngineError::InvalidStart {
                        message: "`maxParallel` is 0; at least 1 node must be allowed to run"
                            .into(),
                    });
                }
                self.uid = Some(uid.clone());
                self.name = name.clone();
                self.namespace = namespace.clone();
                self.parameters = parameters.clone();
                self.pinned = pinned.clone();
                self.creator = creator.clone();
                self.governance = governance.as_deref().cloned();
                self.max_parallel = *max_parallel;
                self.fail_fast = *fail_fast;
            }
        }
        self.applied += 1;
        Ok(())
    }

    /// `true` while an `ExecutionStarted` would be accepted.
    pub(crate) fn accepts_start(&self) -> bool {
        self.phase == ExecutionPhase::Pending && self.uid.is_none()
    }

    /// Applies one decision.
    pub(crate) fn apply_decision(
        &mut self,
        graph: &ExecGraph,
        decision: &Decision,
    ) -> Result<(), EngineError> {
        let index = |node: &str| {
            graph
                .index_of(node)
                .or_else(|| self.matrix.slot(node))
                .ok_or_else(|| EngineError::UnknownNode {
                    node: node.to_string(),
                })
        };
        match decision {
            Decision::ExecutionRunning { at, deadline } => {
                self.phase = ExecutionPhase::Running;
                self.started_at = Some(*at);
                self.deadline = *deadline;
            }
            Decision::NodeReady { node, .. } => {
                let i = index(node)?;
                self.set_phase(graph, i, NodePhase::Ready);
            }
            Decision::NodeVerdict {
                node,
                verdict,
                risk,
                reason,
                message,
                ..
            } => {
                let n = &mut self.nodes[index(node)?];
                n.verdict = Some(VerdictRecord {
                    verdict: *verdict,
                    risk: *risk,
                    reason: reason.clone(),
                    message: message.clone(),
                });
                if *verdict == PolicyVerdict::Assist {
                    n.approval = Some(Approval::Waiting);
                    n.approvals += 1;
                }
                self.refile(graph, index(node)?);
            }
            Decision::NodeApproved { node, .. } => {
                let i = index(node)?;
                self.nodes[i].approval = Some(Approval::Granted);
                self.refile(graph, i);
            }
            Decision::CostRecorded { total_usd, .. } => {
                self.spent_usd = *total_usd;
            }
            Decision::NodeSkipped {
                at,
                node,
                reason,
                message,
            } => {
                let i = index(node)?;
                self.finish(
                    graph,
                    i,
                    NodePhase::Skipped,
                    *at,
                    Some(*reason),
                    Some(message),
                );
            }
            Decision::NodeStarted {
                at,
                node,
                attempt,
                idempotency_key,
                inputs,
                timeout_at,
            } => {
                let i = index(node)?;
                let activity = match graph.nodes[self.owner(graph, i)].kind {
                    ExecKind::Task(_) => Activity::Provider,
                    ExecKind::Gate(_) | ExecKind::External(_) => Activity::External,
                    ExecKind::Plan(_) => Activity::Child,
                    // Until `PlaceholderWaiting` says what it waits for.
                    ExecKind::Placeholder(_) => Activity::Lookup,
                };
                self.set_phase(graph, i, NodePhase::Running);
                let n = &mut self.nodes[i];
                n.activity = Some(activity);
                n.attempt = *attempt;
                n.key = Some(idempotency_key.clone());
                n.inputs = (!inputs.is_null()).then(|| inputs.clone());
                n.started_at = Some(*at);
                n.timer = timeout_at.map(|due_at| ArmedTimer {
                    id: TimerId::Timeout {
                        node: node.to_string(),
                        attempt: *attempt,
                    },
                    due_at,
                });
            }
            Decision::GateOpened {
                at, node, attempt, ..
            } => {
                let i = index(node)?;
                self.set_phase(graph, i, NodePhase::Running);
                let n = &mut self.nodes[i];
                n.activity = Some(Activity::Gate);
                n.attempt = *attempt;
                n.started_at = Some(*at);
            }
            Decision::PlaceholderWaiting { node, source, .. } => {
                let i = index(node)?;
                let (phase, activity) = match source {
                    crate::placeholder::Source::Person => (NodePhase::AwaitingInput, None),
                    crate::placeholder::Source::Resolver => {
                        (NodePhase::Running, Some(Activity::Provider))
                    }
                    _ => (NodePhase::Running, Some(Activity::Lookup)),
                };
                self.set_phase(graph, i, phase);
                self.nodes[i].activity = activity;
            }
            Decision::CriteriaRequested { node, outputs, .. } => {
                let n = &mut self.nodes[index(node)?];
                n.activity = Some(Activity::Criteria);
                n.outputs = Some(outputs.clone());
                n.timer = None;
            }
            Decision::NodeSucceeded {
                at,
                node,
                outputs,
                advisories,
                ..
            } => {
                let i = index(node)?;
                let message = (!advisories.is_empty())
                    .then(|| format!("advisory criteria failed: {}", advisories.join(", ")));
                self.finish(
                    graph,
                    i,
                    NodePhase::Succeeded,
                    *at,
                    None,
                    message.as_deref(),
                );
                self.nodes[i].outputs = Some(outputs.clone());
            }
            Decision::RetryScheduled {
                node,
                attempt,
                due_at,
                reason,
                message,
                killed,
                ..
            } => {
                let n = &mut self.nodes[index(node)?];
                if *killed {
                    n.killed = Some(n.attempt);
                }
                n.activity = Some(Activity::Backoff);
                n.key = None;
                n.outputs = None;
                n.reason = Some(*reason);
                n.message = Some(message.clone());
                n.timer = Some(ArmedTimer {
                    id: TimerId::Backoff {
                        node: node.to_string(),
                        attempt: *attempt,
                    },
                    due_at: *due_at,
                });
            }
            Decision::NodeFailed {
                at,
                node,
                attempt,
                reason,
                message,
                killed,
            } => {
                let i = index(node)?;
                self.finish(
                    graph,
                    i,
                    NodePhase::Failed,
                    *at,
                    Some(*reason),
                    Some(message),
                );
                if *killed {
                    self.nodes[i].killed = Some(*attempt);
                }
            }
            Decision::NodeCancelled {
                at,
                node,
                attempt,
                reason,
                killed,
            } => {
                let i = index(node)?;
                self.finish(graph, i, NodePhase::Cancelled, *at, Some(*reason), None);
                if *killed {
                    self.nodes[i].killed = Some(*attempt);
                }
            }
            Decision::CancelAccepted { force, .. } => {
                self.cancel = Some(if *force {
                    CancelMode::Force
                } else {
                    CancelMode::Graceful
                });
            }
            Decision::ExecutionRetried {
                nodes,
                round,
                deadline,
                ..
            } => {
                for node in nodes {
                    let i = index(node)?;
                    let n = &mut self.nodes[i];
                    let (attempt, approvals) = (n.attempt, n.approvals);
                    *n = NodeState::new();
                    n.attempt = attempt;
                    n.approvals = approvals;
                    n.first_attempt = attempt + 1;
                }
                self.phase = ExecutionPhase::Running;
                self.reason = None;
                self.message.clear();
                self.finished_at = None;
                self.cancel = None;
                self.round = *round;
                self.round_failed = 0;
                self.deadline = *deadline;
                let reset: Vec<usize> = nodes.iter().filter_map(|n| graph.index_of(n)).collect();
                self.retire_instances(graph, &reset);
                self.rebuild(graph);
            }
            Decision::ExecutionCompleted {
                at,
                phase,
                reason,
                message,
            } => {
                self.phase = *phase;
                self.reason = *reason;
                self.message = message.clone();
                self.finished_at = Some(*at);
            }
            Decision::LeaseRequested {
                node, key, limit, ..
            } => {
                let i = index(node)?;
                self.nodes[i].lease = Some(LeaseHold {
                    key: key.clone(),
                    limit: *limit,
                    slot: None,
                    token: None,
                });
                self.refile(graph, i);
            }
            Decision::LeaseGranted {
                node,
                key,
                slot,
                token,
                ..
            } => {
                let i = index(node)?;
                let n = &mut self.nodes[i];
                let limit = n.lease.as_ref().map_or(1, |l| l.limit);
                n.lease = Some(LeaseHold {
                    key: key.clone(),
                    limit,
                    slot: Some(*slot),
                    token: Some(*token),
                });
                self.refile(graph, i);
            }
            Decision::MatrixExpanded {
                at,
                node,
                instances,
                digest,
            } => {
                let i = index(node)?;
                self.matrix_expanded(graph, i, *at, *instances, digest)?;
            }
            Decision::InputIgnored { .. } => {}
        }
        self.applied += 1;
        Ok(())
    }

    /// Moves node `i` to `phase`, keeping counters and the derived sets right.
    fn set_phase(&mut self, graph: &ExecGraph, i: usize, phase: NodePhase) {
        let old = self.nodes[i].phase;
        if old == phase {
            return;
        }
        *self.counters.slot(old) -= 1;
        *self.counters.slot(phase) += 1;
        if phase == NodePhase::Failed {
            self.round_failed += 1;
        }
        self.nodes[i].phase = phase;
        let key = (graph.rank[self.owner(graph, i)], i);
        match old {
            NodePhase::Pending => {
                self.frontier.remove(&key);
            }
            NodePhase::Ready => {
                self.ready.remove(&key);
            }
            _ => {}
        }
        if phase == NodePhase::Ready {
            self.ready.insert(key);
        }
        if old == NodePhase::AwaitingInput {
            self.awaiting.remove(&key);
        }
        if phase == NodePhase::AwaitingInput {
            self.awaiting.insert(key);
        }
        if phase == NodePhase::Ready || old == NodePhase::Ready {
            self.refile(graph, i);
        }
        if old == NodePhase::Running && i < graph.len() {
            self.matrix_node_left_running(i);
        }
        if i >= graph.len() {
            self.instance_moved(graph, i, old, phase);
        } else if phase.is_terminal() && !old.is_terminal() {
            for &d in graph.dependents(i) {
                self.waiting[d] = self.waiting[d].saturating_sub(1);
                if self.waiting[d] == 0 && self.nodes[d].phase == NodePhase::Pending {
                    self.frontier.insert((graph.rank[d], d));
                }
            }
        }
    }

    /// Ends node `i` in a terminal phase.
    fn finish(
        &mut self,
        graph: &ExecGraph,
        i: usize,
        phase: NodePhase,
        at: u64,
        reason: Option<ReasonCode>,
        message: Option<&str>,
    ) {
        self.set_phase(graph, i, phase);
        let n = &mut self.nodes[i];
        n.activity = None;
        n.key = None;
        n.timer = None;
        n.outputs = None;
        n.reason = reason;
        n.message = message.map(str::to_string);
        n.finished_at = Some(at);
        n.lease = None;
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
