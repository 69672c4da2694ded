//! `planspec-engine` — the pure execution engine.
//!
//! No I/O, no clock, no randomness: the same journal always gives the same state, decisions
//! and commands. The runtime (`planspec-runtime`) feeds it facts, each with its time, and
//! carries out what it asks. The only thread it starts is its own CEL evaluator (see
//! [`cel`]), because the CEL parser recurses deeper than a runtime worker's stack allows.
//!
//! If [`Execution::handle`] or [`Execution::apply`] returns an error, the execution may be
//! partly updated: discard it and rebuild it from the journal.
//!
//! * [`compile`] turns a Plan (and its Goal) into an [`ExecGraph`]: Tasks, Gates and
//!   Externals with hard and soft dependencies (Groups folded in), per-node configuration,
//!   parsed expressions and a stable [`digest`](ExecGraph::digest).
//! * [`Execution`] is the state machine. [`Execution::handle`] takes an [`Input`] and
//!   returns a [`Step`]: the [`Decision`]s it derived (already applied) and the
//!   [`Command`]s for the runtime. The runtime journals the input and the decisions in one
//!   durable write, then carries out the commands. [`Execution::apply`] folds one journal
//!   entry; [`Execution::recover`] re-issues what in-flight state needs after a restart.
//! * [`replay()`] handles a journal's inputs again and reports the first decision that
//!   differs ([`Divergence`]).
//! * [`ReasonCode`] is the catalogue of why things fail, skip, cancel or are ignored
//!   (`docs/reason-codes.md` is generated from it).
//!
//! # Semantics
//!
//! **Dependencies.** A node runs when every dependency is done: a *hard* dependency
//! (`dependsOn`, or an edge of type `hard`) must have succeeded; a *soft* one only orders —
//! it must have finished in any way. If a hard dependency failed, the node is skipped with
//! `upstream_failed`; if one was skipped, the node is skipped with `upstream_skipped` (skips
//! propagate along hard edges, never along soft ones); if one was cancelled, the node is
//! cancelled with `upstream_cancelled`. Independent branches keep running after a failure.
//!
//! **Conditions.** When its dependencies are done, a node's `when` conditions are evaluated
//! (the enclosing Groups' first, outermost first): `false` skips it with `when_false` — and
//! so its hard dependents with `upstream_skipped`; an error or a non-boolean fails it with
//! `when_failed`. A `when` that is not CEL over PlanSpec's variables is an opaque label and is
//! never evaluated (as `planspec validate` warns).
//!
//! **Attempts.** A Task's attempt is dispatched with an idempotency key derived from
//! (execution uid, node id, attempt) — see [`idempotency_key`]. Its inputs are interpolated
//! once per round (`${{ … }}`, see the `template` module docs) and sent unchanged to every
//! attempt. A failed attempt is retried while fewer than `retries` retries were made, the
//! failure is retryable (the provider did not say otherwise) and the `retryPolicy` retries its
//! reason code; the wait is exponential with deterministic jitter ([`backoff_delay_ms`]). An
//! attempt running longer than `timeout` is killed and fails with `node_timeout`. Outputs
//! larger than the limit fail the attempt with `outputs_too_large`. After the provider
//! succeeds, the acceptance criteria are checked by the runtime; a failing required
//! criterion fails the attempt with `criterion_failed`, naming it.
//!
//! **Gates and Externals.** A Gate node opens its Gate and waits for `GateResolved`
//! (rejected: `gate_rejected`). An External node waits for `ExternalCompleted` or its
//! `timeout`. Neither retries.
//!
//! **Placeholders.** A Placeholder node takes its value from a parameter named like it, else
//! its selector (`ResolveSelector`), else its resolver's provider (`Dispatch`), else a person
//! (`AwaitingInput` until `PlaceholderValue`); every value passes [`placeholder::check`] (its
//! JSON Schema and CEL rules) first — see [`placeholder`]. Its `timeout` counts the whole wait
//! (`placeholder_timeout`).
//!
//! **Deadline.** The Goal's `timeout`, counted from the start (or an explicit earlier
//! deadline), ends the run when it passes: running attempts are killed and fail, nodes not
//! started are cancelled, and the run fails with `execution_deadline_exceeded`.
//!
//! **Cancel.** Graceful: nothing new starts (pending nodes, waits for a retry, Gates and
//! Externals are cancelled) and running attempts finish without retrying. Forced: running
//! attempts are killed too. A forced cancel is never downgraded.
//!
//! **Retry of a finished run.** `RetryRequested` re-runs every node that failed or was
//! cancelled (or one chosen node) and everything downstream of it along hard edges, keeping
//! the outputs of the nodes that succeeded; attempts keep counting, so keys never repeat, and
//! each re-run node gets its `retries` afresh.
//!
//! **Stale inputs.** A result for another attempt, a result for a node that is not waiting
//! for it, a timer no longer armed: each is journaled with an `InputIgnored` decision and
//! changes nothing. A node that succeeded never runs again in the same round.

#![warn(missing_docs)]

mod backoff;
pub mod cel;
mod command;
mod compile;
mod event;
pub mod evidence;
mod graph;
mod ids;
mod machine;
pub mod matrix;
pub mod placeholder;
pub mod policy;
mod reason;
mod replay;
pub mod template;
mod timestamp;

pub use backoff::backoff_delay_ms;
pub use command::{Command, Step};
pub use compile::{compile, compile_with, CompileError, MAX_EXPANDED_EDGES, MAX_INPUT_DEPTH};
pub use event::{Decision, Event, Input, Outcome, Verdict};
pub use graph::{
    Condition, ExecGraph, ExecKind, ExecNode, Expr, ExternalConfig, GateConfig, Limits, PlanConfig,
    Reads, RetryConfig, TaskConfig, Template, Test,
};
pub use ids::{idempotency_key, InvalidTimerId, TimerId, IDEMPOTENCY_KEY_PREFIX};
pub use machine::{
    Activity, Approval, ArmedTimer, CancelMode, Counters, Execution, LeaseHold, NodePhase,
    NodeState, Snapshot, State, VerdictRecord,
};
pub use reason::{ReasonCategory, ReasonCode, UnknownReasonCode};
pub use replay::{replay, Divergence};
pub use timestamp::timestamp;

/// An input or journal entry the engine cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The journal (or snapshot) belongs to another graph.
    #[error("the journal is for graph {journal}, but the engine runs graph {graph}")]
    GraphMismatch {
        /// The digest of the engine's graph.
        graph: String,
        /// The digest the journal or snapshot names.
        journal: String,
    },
    /// A `MatrixExpanded` entry does not give the instances the run derives.
    #[error("matrix node `{node}`: the journal's expansion does not fit the run: {message}")]
    ExpansionMismatch {
        /// The matrix node.
        node: String,
        /// What differs.
        message: String,
    },
    /// A journal entry names a node the graph does not have.
    #[error("a journal entry names node `{node}`, which is not in the graph")]
    UnknownNode {
        /// The node id.
        node: String,
    },
    /// An `ExecutionStarted` the engine cannot run (e.g. `maxParallel: 0`, which would
    /// let no node start); nothing is applied.
    #[error("the execution cannot start: {message}")]
    InvalidStart {
        /// Why.
        message: String,
    },
    /// A snapshot does not fit its graph.
    #[error("the snapshot is corrupt: {message}")]
    CorruptSnapshot {
        /// What is wrong.
        message: String,
    },
}
