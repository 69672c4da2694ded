//! The `noop` provider: does nothing, for benchmarks, dry runs and tests of the engine.
//!
//! Target: `noop://` (anything after `://` is a label), or a bare `noop`. Config:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `outputs` | object (default `{}`) | the outputs the attempt succeeds with |
//! | `sleepMs` | integer 0–86,400,000 (default 0) | how long the attempt takes |
//! | `fail` | boolean (default `false`) | fail with `InjectedFailure` instead of succeeding |
//! | `retryable` | boolean (default `false`) | whether that failure is retryable |
//!
//! It writes nothing (no files, no log lines), so a benchmark measures the runtime alone. It
//! honours the Task's timeout and cancellation while sleeping.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::config::{ConfigError, ConfigReader};
use super::{DispatchOutcome, DispatchRequest, FailureReason, Provider, ProviderUri};

const FIELDS: &[&str] = &["outputs", "sleepMs", "fail", "retryable"];
/// Longest accepted `sleepMs` (one day).
pub const MAX_SLEEP_MS: u64 = 86_400_000;

/// A validated `noop` configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoopConfig {
    /// The outputs to succeed with.
    pub outputs: Map<String, Value>,
    /// How long to take.
    pub sleep: Duration,
    /// Fail instead of succeeding.
    pub fail: bool,
    /// Whether the failure is retryable.
    pub retryable: bool,
}

impl NoopConfig {
    /// Validates a config map.
    pub fn from_config(config: &Map<String, Value>) -> Result<NoopConfig, ConfigError> {
        let r = ConfigReader::new(config, FIELDS)?;
        Ok(NoopConfig {
            outputs: r.object("outputs")?.unwrap_or_default(),
            sleep: Duration::from_millis(r.u64_in("sleepMs", 0, MAX_SLEEP_MS)?.unwrap_or(0)),
            fail: r.bool("fail")?.unwrap_or(false),
            retryable: r.bool("retryable")?.unwrap_or(false),
        })
    }

    /// The normalised config map (what gets pinned).
    pub fn to_config(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("outputs".into(), Value::Object(self.outputs.clone()));
        map.insert(
            "sleepMs".into(),
            Value::from(u64::try_from(self.sleep.as_millis()).unwrap_or(MAX_SLEEP_MS)),
        );
        map.insert("fail".into(), Value::Bool(self.fail));
        map.insert("retryable".into(), Value::Bool(self.retryable));
        map
    }
}

/// The `noop` provider.
#[derive(Debug, Clone, Default)]
pub struct NoopProvider;

impl NoopProvider {
    /// The provider.
    pub fn new() -> NoopProvider {
        NoopProvider
    }
}

#[async_trait]
impl Provider for NoopProvider {
    fn type_name(&self) -> &'static str {
        "noop"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["noop"]
    }

    fn resolve(
        &self,
        _uri: &ProviderUri,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        Ok(NoopConfig::from_config(config)?.to_config())
    }

    async fn dispatch(
        &self,
        request: DispatchRequest,
        cancel: CancellationToken,
    ) -> DispatchOutcome {
        let config = match NoopConfig::from_config(&request.provider.config) {
            Ok(c) => c,
            Err(e) => {
                return DispatchOutcome::failed(FailureReason::InvalidConfig, e.to_string(), false)
            }
        };
        if !config.sleep.is_zero() {
            let timed_out = match request.timeout {
                Some(limit) if limit < config.sleep => {
                    tokio::select! {
                        _ = tokio::time::sleep(limit) => true,
                        _ = cancel.cancelled() => return cancelled(),
                    }
                }
                _ => {
                    tokio::select! {
                        _ = tokio::time::sleep(config.sleep) => false,
                        _ = cancel.cancelled() => return cancelled(),
                    }
                }
            };
            if timed_out {
                return DispatchOutcome::failed(
                    FailureReason::Timeout,
                    "the no-op attempt exceeded its timeout",
                    true,
                );
            }
        } else if cancel.is_cancelled() {
            return cancelled();
        }
        if config.fail {
            return DispatchOutcome::failed(
                FailureReason::InjectedFailure,
                "the no-op provider was configured to fail",
                config.retryable,
            );
        }
        DispatchOutcome::Succeeded {
            outputs: config.outputs,
            cost_usd: None,
        }
    }
}

fn cancelled() -> DispatchOutcome {
    DispatchOutcome::failed(FailureReason::Cancelled, "the attempt was cancelled", false)
}
