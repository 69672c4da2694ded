//! Providers: whatever performs a Task node — a command, a webhook, a person, nothing.
//!
//! A [`Provider`] is selected by the scheme of a Binding target's `provider` URI. The
//! [`ProviderRegistry`] resolves a [`BindingTarget`](planspec_model::binding::BindingTarget)
//! once, when the Execution starts, into a [`PinnedProvider`] (type, URI, validated and
//! normalised config, digest) that the runtime records in the Execution's status. Every dispatch
//! afterwards — including after a restart — uses the pinned record, never the Binding as it is
//! now.
//!
//! Later providers (agent, MCP, remote worker) implement the same trait and are registered with
//! [`ProviderRegistry::register`]; the engine never sees them.

mod config;
pub mod cost;
pub mod exec;
pub mod http;
pub mod human;
pub mod noop;
mod pinned;
mod registry;
pub mod resource;

pub(crate) use config::format_duration;
pub use config::ConfigError;
pub use pinned::{PinnedProvider, ProviderResourcePin, ProviderUri};
pub use registry::{ProviderInitError, ProviderRegistry, ResolveError};

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::log::LogSink;

/// Something that performs Task nodes.
///
/// A provider validates its configuration at resolution time ([`resolve`](Provider::resolve)),
/// and performs one attempt of one node per [`dispatch`](Provider::dispatch). It keeps no
/// per-execution state between calls: everything an attempt needs is in the
/// [`DispatchRequest`], so a restarted runtime can dispatch again from the journal.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider type recorded in [`PinnedProvider::type_name`], e.g. `exec`.
    fn type_name(&self) -> &'static str;

    /// The URI schemes this provider serves, e.g. `["http", "https"]`.
    fn schemes(&self) -> &'static [&'static str];

    /// Validates a target and returns its normalised configuration (defaults filled in), which
    /// is what gets pinned. Error messages name fields, never their values.
    fn resolve(
        &self,
        uri: &ProviderUri,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError>;

    /// Performs one attempt. Must return promptly once `cancel` fires (with
    /// [`FailureReason::Cancelled`]), and honour [`DispatchRequest::timeout`]. Never panics on
    /// bad input; every problem is a [`DispatchOutcome::Failed`].
    async fn dispatch(
        &self,
        request: DispatchRequest,
        cancel: CancellationToken,
    ) -> DispatchOutcome;
}

/// One attempt of one node, as handed to a provider.
///
/// Unlike the brief's first sketch, the request carries the whole [`PinnedProvider`] rather
/// than only its `config`: the URI is part of what was pinned (the `http` endpoint, the `human`
/// role), and dispatching from the pinned record is what guarantees that a resumed Execution
/// runs exactly what it started with.
#[derive(Debug, Clone)]
pub struct DispatchRequest {
    /// The Execution, `namespace/name`.
    pub execution: String,
    /// The Execution's `metadata.uid`.
    pub execution_uid: String,
    /// The node's id.
    pub node_id: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// Deterministic key for this side effect (execution uid, node, attempt); providers pass it
    /// on so a repeated dispatch does not repeat the effect.
    pub idempotency_key: String,
    /// The node's inputs, already interpolated.
    pub inputs: Map<String, Value>,
    /// The provider as pinned when the Execution started (secrets are not resolved here).
    pub provider: PinnedProvider,
    /// How long the attempt may take (the Task's `timeout`).
    pub timeout: Option<Duration>,
    /// The Execution's scratch directory, created by the runtime and shared by its nodes.
    pub work_dir: PathBuf,
    /// Where the attempt's log goes.
    pub log: LogSink,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum DispatchOutcome {
    /// The work is done; these are the node's outputs.
    Succeeded {
        /// The outputs (a JSON object).
        outputs: Map<String, Value>,
        /// What the attempt cost, in US dollars, if the provider reported it (see [`cost`]).
        cost_usd: Option<f64>,
    },
    /// The attempt failed.
    Failed(Failure),
    /// A person must finish the node (`planspec complete` / `planspec fail`); the node stays
    /// `Running` with condition `AwaitingHuman`.
    AwaitingHuman {
        /// The role the work is assigned to (from `human://ROLE`).
        role: String,
        /// What the person is asked to do.
        prompt: String,
    },
}

impl DispatchOutcome {
    /// A failure.
    pub fn failed(reason: FailureReason, message: impl Into<String>, retryable: bool) -> Self {
        DispatchOutcome::Failed(Failure {
            reason,
            message: message.into(),
            retryable,
            exit_code: None,
        })
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Stable machine-readable reason.
    pub reason: FailureReason,
    /// Human-readable detail (never contains configuration values).
    pub message: String,
    /// `true` if another attempt may succeed (the engine still applies the node's `retries`).
    pub retryable: bool,
    /// The process's exit code, for `exec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// Stable reason codes of a failed attempt. They are written to the journal and shown to
/// users; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureReason {
    /// The process exited with a non-zero code.
    ExitNonZero,
    /// The attempt exceeded its timeout.
    Timeout,
    /// The process was killed by a signal the runtime did not send.
    Killed,
    /// The attempt was cancelled.
    Cancelled,
    /// The process could not be started.
    SpawnFailed,
    /// The endpoint answered with an error status.
    HttpStatus,
    /// The endpoint could not be reached.
    ConnectionFailed,
    /// The outputs were not a JSON object.
    InvalidOutputs,
    /// The outputs exceeded the size limit.
    OutputsTooLarge,
    /// The inputs could not be handed to the provider.
    InvalidInputs,
    /// The pinned configuration is not valid for this provider.
    InvalidConfig,
    /// The runtime could not prepare the attempt (scratch directory, files).
    RuntimeError,
    /// The `noop` provider was told to fail.
    InjectedFailure,
    /// A secret the provider's configuration refers to could not be read.
    SecretUnavailable,
}

impl FailureReason {
    /// The code as written, e.g. `ExitNonZero`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::ExitNonZero => "ExitNonZero",
            FailureReason::Timeout => "Timeout",
            FailureReason::Killed => "Killed",
            FailureReason::Cancelled => "Cancelled",
            FailureReason::SpawnFailed => "SpawnFailed",
            FailureReason::HttpStatus => "HttpStatus",
            FailureReason::ConnectionFailed => "ConnectionFailed",
            FailureReason::InvalidOutputs => "InvalidOutputs",
            FailureReason::OutputsTooLarge => "OutputsTooLarge",
            FailureReason::InvalidInputs => "InvalidInputs",
            FailureReason::InvalidConfig => "InvalidConfig",
            FailureReason::RuntimeError => "RuntimeError",
            FailureReason::InjectedFailure => "InjectedFailure",
            FailureReason::SecretUnavailable => "SecretUnavailable",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_serialise_as_their_code() {
        for reason in [
            FailureReason::ExitNonZero,
            FailureReason::Timeout,
            FailureReason::OutputsTooLarge,
            FailureReason::InjectedFailure,
        ] {
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(Value::String(reason.as_str().to_string()))
            );
        }
    }
}
