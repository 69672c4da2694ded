//! The PlanSpec runtime: what performs the work of an Execution's Task nodes.
//!
//! * [`provider`]: the [`Provider`] trait, the [`ProviderRegistry`] that resolves a Binding
//!   target to a [`PinnedProvider`] when an Execution starts, and the built-in providers
//!   `exec`, `http`, `human` and `noop`.
//! * [`log`]: the size-capped log of one node attempt and a reader that can follow it.
//! * [`acceptance`]: the acceptance criteria of a Task, evaluated after its provider succeeded.
//!
//! This crate does I/O (processes, files, HTTP) and uses tokio; it does not depend on the pure
//! engine. The server wires the engine's dispatch commands to [`ProviderRegistry::dispatch`]
//! and feeds the outcomes back to the engine as events.

#![warn(missing_docs)]

pub mod acceptance;
pub mod driver;
pub mod governance;
mod http_client;
pub mod log;
pub mod outputs;
mod process;
pub mod provider;
pub mod secret;

pub use acceptance::{
    evaluate, verdict, AcceptanceVerdict, CriteriaContext, CriterionResult, CriterionStatus,
    Evaluator,
};
pub use driver::{Runtime, RuntimeError, RuntimeHandle, RuntimeOptions};
pub use log::{LogLimits, LogReader, LogSink, LogStream, LogSummary};
pub use provider::{
    DispatchOutcome, DispatchRequest, Failure, FailureReason, PinnedProvider, Provider,
    ProviderRegistry, ResolveError,
};
pub use tokio_util::sync::CancellationToken;
