//! What the engine asks the runtime to do, and what one [`handle`](crate::Execution::handle)
//! call returns.

use crate::event::{Decision, Event, Input};
use crate::ids::TimerId;
use crate::reason::ReasonCode;
use planspec_model::execution::ExecutionPhase;
use planspec_model::plan::{AcceptanceCriterion, ExternalRef};
use planspec_model::policy::RiskLevel;
use planspec_model::{NodeId, ObjectReference};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A request to the runtime. Commands are not journaled: they follow from the state, and
/// [`recover`](crate::Execution::recover) derives again the ones in-flight state needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Command {
    /// Run an attempt of a Task with its provider. Answer with `NodeResult`.
    Dispatch {
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The key the provider must use to never repeat a side effect.
        idempotency_key: String,
        /// The resolved inputs.
        inputs: Value,
        /// The node's `timeout`, in milliseconds. The engine enforces it with a timer and a
        /// `Kill`; the provider may also use it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Check a Task's acceptance criteria against its outputs. Answer with `CriteriaResult`.
    EvaluateCriteria {
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The attempt's idempotency key.
        idempotency_key: String,
        /// The criteria.
        criteria: Vec<AcceptanceCriterion>,
        /// The outputs of the attempt.
        outputs: Map<String, Value>,
    },
    /// Mark the Gate resource as waited for and watch it. Answer with `GateResolved`.
    OpenGate {
        /// The Gate node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The Gate resource.
        gate_ref: ObjectReference,
    },
    /// Open an approval for a Task whose verdict is `assist`: a Gate owned by the Execution
    /// (`<execution>-<node>`). Answer with `GateResolved` for the node.
    RequestApproval {
        /// The Task.
        node: NodeId,
        /// Which approval of this node in this run: 1 for the first, 2 for the one a retry
        /// round asks for, and so on (each is its own Gate).
        approval: u32,
        /// The node's risk.
        risk: RiskLevel,
        /// Why it needs approval.
        reason: String,
        /// For the reviewers.
        message: String,
    },
    /// Wait for an External node's dependency. Answer with `ExternalCompleted`.
    WatchExternal {
        /// The External node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The wait's idempotency key.
        idempotency_key: String,
        /// What to wait for.
        external_ref: ExternalRef,
        /// How often to check, in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        poll_interval_ms: Option<u64>,
    },
    /// Start the child Execution of a `Plan` node (idempotently: an existing child of this
    /// node and attempt is used as it is, a finished one is reported at once), with `inputs`
    /// as its parameters, from the Plan the run pinned at start. Answer with `ChildFinished`.
    StartChild {
        /// The `Plan` node.
        node: NodeId,
        /// The attempt (each attempt has its own child).
        attempt: u32,
        /// The attempt's idempotency key.
        idempotency_key: String,
        /// The child's parameters (the node's `inputs`, interpolated).
        inputs: Value,
        /// The node's `timeout`, in milliseconds (the engine enforces it with a timer and a
        /// `Kill`, which cancels the child with force).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Cancel the child Execution of a `Plan` node (the parent is being cancelled
    /// gracefully; a forced stop is a `Kill`). The child's end still arrives as
    /// `ChildFinished`.
    CancelChild {
        /// The `Plan` node.
        node: NodeId,
        /// The attempt whose child is cancelled.
        attempt: u32,
        /// Kill the child's running attempts too.
        force: bool,
    },
    /// Look up the resources that may fill a Placeholder: those of `kind` in the Execution's
    /// namespace matching `selector`'s labels, the first by name. Answer with
    /// `PlaceholderValue` (source `selector`): its name for a `capability`/`plan` placeholder,
    /// its `spec` for data; no `value` when nothing matches.
    ResolveSelector {
        /// The Placeholder node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The kind of resource.
        kind: String,
        /// The labels to match.
        selector: planspec_model::meta::LabelSelector,
        /// What fills the node (decides name or `spec`).
        value_type: planspec_model::plan::PlaceholderType,
    },
    /// Arm a timer (replacing one with the same id). Answer with `TimerFired` at `due_at`.
    StartTimer {
        /// The timer.
        timer: TimerId,
        /// When it fires, in ms since the epoch.
        due_at: u64,
    },
    /// Disarm a timer. A timer that fires anyway is ignored.
    CancelTimer {
        /// The timer.
        timer: TimerId,
    },
    /// Stop whatever runs for this attempt: kill the provider's work or the criteria checks,
    /// stop watching a Gate or an External. Idempotent.
    Kill {
        /// The node.
        node: NodeId,
        /// The attempt.
        attempt: u32,
        /// The attempt's idempotency key.
        idempotency_key: String,
    },
    /// Take a slot of the keyed lease a Task's `concurrency` names, waiting (in `priority`
    /// order, then first come first served) while every slot is held. Answer with
    /// `LeaseAcquired`. Asked again for a held lease after a restart: the lease must be taken
    /// anew before the attempt continues.
    AcquireLease {
        /// The Task.
        node: NodeId,
        /// The key (expressions evaluated).
        key: String,
        /// How many holders the key allows.
        limit: u32,
        /// The Goal's `priority` (0–1000, higher first).
        priority: u32,
    },
    /// Give up a Task's lease: release the slot it holds, or (without a slot) stop waiting
    /// for one. Idempotent.
    ReleaseLease {
        /// The Task.
        node: NodeId,
        /// The key.
        key: String,
        /// The slot held, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slot: Option<u32>,
        /// The token of the tenure, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<u64>,
    },
    /// The execution finished: record its final phase.
    Finish {
        /// `Succeeded`, `Failed` or `Cancelled`.
        phase: ExecutionPhase,
        /// Why, unless it succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<ReasonCode>,
        /// Detail.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
}

/// The result of handling one input.
///
/// The runtime journals the input and `decisions` durably **in one write**, then carries out
/// `commands`. If it crashes in between, folding the journal and calling
/// [`recover`](crate::Execution::recover) gives the commands again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// What the engine decided, already applied to the state.
    pub decisions: Vec<Decision>,
    /// What the runtime must do.
    pub commands: Vec<Command>,
}

impl Step {
    /// The journal entries of this step: the input, then the decisions.
    pub fn journal_entries(&self, input: &Input) -> Vec<Event> {
        std::iter::once(Event::Input(input.clone()))
            .chain(self.decisions.iter().cloned().map(Event::Decision))
            .collect()
    }
}
