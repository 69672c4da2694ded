//! The execution state machine: `(state, input) → (state, decisions, commands)`.
//!
//! [`Execution::handle`] derives decisions from an input and applies each as it goes;
//! [`Execution::apply`] is the pure state update for one journal entry. Folding a journal
//! with `apply` gives the same state as handling its inputs live, which makes recovery
//! (restore a snapshot, fold the rest, [`recover`](Execution::recover)) and replay
//! ([`replay`](crate::replay())) the same code path.

mod derive;
mod recover;
mod state;

pub use state::{
    Activity, Approval, ArmedTimer, CancelMode, Counters, LeaseHold, NodePhase, NodeState, State,
    VerdictRecord,
};

use crate::command::Step;
use crate::event::{Event, Input};
use crate::graph::ExecGraph;
use crate::EngineError;
use planspec_model::execution::ExecutionPhase;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One execution of a compiled graph.
#[derive(Debug, Clone)]
pub struct Execution {
    graph: Arc<ExecGraph>,
    state: State,
}

/// A serialisable copy of an execution's state, pinned to its graph by digest. Restore it
/// with [`Execution::restore`] and fold the journal entries after
/// [`applied`](State::applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The digest of the graph the state belongs to.
    pub graph_digest: String,
    /// The state.
    pub state: State,
}

impl Execution {
    /// A new execution of `graph`, not started yet: hand it `ExecutionStarted`.
    pub fn new(graph: Arc<ExecGraph>) -> Execution {
        let state = State::new(&graph);
        Execution { graph, state }
    }

    /// Folds a whole journal with [`apply`](Self::apply).
    pub fn fold(graph: Arc<ExecGraph>, journal: &[Event]) -> Result<Execution, EngineError> {
        let mut execution = Execution::new(graph);
        for event in journal {
            execution.apply(event)?;
        }
        Ok(execution)
    }

    /// Restores a snapshot taken of an execution of the same graph.
    pub fn restore(graph: Arc<ExecGraph>, snapshot: Snapshot) -> Result<Execution, EngineError> {
        if snapshot.graph_digest != graph.digest() {
            return Err(EngineError::GraphMismatch {
                graph: graph.digest().to_string(),
                journal: snapshot.graph_digest,
            });
        }
        // Matrix instances follow the graph's nodes.
        let expected = graph.len() + snapshot.state.instances.len();
        if snapshot.state.nodes.len() != expected
            || snapshot
                .state
                .instances
                .iter()
                .any(|i| i.node >= graph.len())
        {
            return Err(EngineError::CorruptSnapshot {
                message: format!(
                    "the snapshot has {} nodes, the graph {} and {} matrix instances",
                    snapshot.state.nodes.len(),
                    graph.len(),
                    snapshot.state.instances.len()
                ),
            });
        }
        let mut state = snapshot.state;
        state.rebuild(&graph);
        Ok(Execution { graph, state })
    }

    /// A snapshot of the current state.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            graph_digest: self.graph.digest().to_string(),
            state: self.state.clone(),
        }
    }

    /// Handles one input: derives the decisions it leads to, applies them, and returns them
    /// with the commands for the runtime. Journal the input and the decisions in one write
    /// before carrying out the commands.
    ///
    /// An input that changes nothing (a stale result, a second cancel…) is answered with a
    /// single `InputIgnored` decision. The only error is an `ExecutionStarted` for another
    /// graph; nothing is applied then.
    pub fn handle(&mut self, input: Input) -> Result<Step, EngineError> {
        let fresh_start =
            matches!(input, Input::ExecutionStarted { .. }) && self.state.accepts_start();
        self.state.apply_input(&self.graph, &input)?;
        let mut step = Step::default();
        derive::Deriver::new(self, &mut step, input.at(), fresh_start).input(&input)?;
        Ok(step)
    }

    /// The pinned Policies' verdict on a Task as things stand now (the rules evaluated one by
    /// one, with the inputs resolved from the upstream outputs the state holds): what
    /// `planspec policy explain` shows. `None` for an unknown node, a node that is not a Task,
    /// or a run without pinned governance.
    pub fn explain(&self, node: &str) -> Option<crate::policy::Evaluation> {
        let i = self.graph.index_of(node)?;
        let mut copy = self.clone();
        let mut step = Step::default();
        let at = self.state.started_at.unwrap_or(0);
        derive::Deriver::new(&mut copy, &mut step, at, false).evaluation(i)
    }

    /// Applies one journal entry (an input or a decision) to the state, deriving nothing.
    pub fn apply(&mut self, event: &Event) -> Result<(), EngineError> {
        match event {
            Event::Input(input) => self.state.apply_input(&self.graph, input),
            Event::Decision(decision) => self.state.apply_decision(&self.graph, decision),
        }
    }

    /// The graph being executed.
    pub fn graph(&self) -> &Arc<ExecGraph> {
        &self.graph
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The execution's phase.
    pub fn phase(&self) -> ExecutionPhase {
        self.state.phase
    }

    /// Nodes per phase.
    pub fn counters(&self) -> Counters {
        self.state.counters
    }

    /// The state of the node or matrix instance with this id.
    pub fn node(&self, id: &str) -> Option<&NodeState> {
        self.state
            .slot_of(&self.graph, id)
            .map(|i| &self.state.nodes[i])
    }

    /// The graph node `id` runs as: itself for a node of the graph, its matrix node for a
    /// matrix instance (whose provider, Binding and configuration are the matrix node's).
    pub fn owner_of(&self, id: &str) -> Option<&planspec_model::NodeId> {
        let slot = self.state.slot_of(&self.graph, id)?;
        Some(&self.graph.nodes()[self.state.owner(&self.graph, slot)].id)
    }

    /// The matrix instance with this id: its matrix node's index, ordinal and coordinates.
    pub fn instance(&self, id: &str) -> Option<&crate::matrix::InstanceInfo> {
        let slot = self.state.matrix.slot(id)?;
        self.state.instances.get(slot - self.graph.len())
    }

    /// `true` once the execution has finished (it can still be retried).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.state.phase,
            ExecutionPhase::Succeeded | ExecutionPhase::Failed | ExecutionPhase::Cancelled
        )
    }
}

impl PartialEq for Execution {
    /// Two executions are equal when they run the same graph (by digest) and have the same
    /// state.
    fn eq(&self, other: &Self) -> bool {
        self.graph.digest() == other.graph.digest() && self.state == other.state
    }
}
