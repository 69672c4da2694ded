//! How a provider's failure becomes the engine's journal outcome.
//!
//! The engine's catalogue (`docs/reason-codes.md`) decides retries and skips, so a provider's
//! detailed reason maps onto it; the detailed reason stays first in the message
//! (`ExitNonZero: exit code 3`), so nothing is lost in the trace.

use crate::provider::{DispatchOutcome, Failure, FailureReason};
use planspec_engine::{Outcome, ReasonCode};

/// The engine's reason for a provider failure.
pub(crate) fn reason_code(failure: &Failure) -> ReasonCode {
    match failure.reason {
        FailureReason::Timeout => ReasonCode::NodeTimeout,
        FailureReason::Killed | FailureReason::Cancelled => ReasonCode::Killed,
        FailureReason::SpawnFailed
        | FailureReason::ConnectionFailed
        | FailureReason::SecretUnavailable => ReasonCode::ProviderUnavailable,
        FailureReason::InvalidOutputs => ReasonCode::OutputsInvalid,
        FailureReason::OutputsTooLarge => ReasonCode::OutputsTooLarge,
        FailureReason::InvalidInputs | FailureReason::InvalidConfig => ReasonCode::ProviderRejected,
        FailureReason::HttpStatus if !failure.retryable => ReasonCode::ProviderRejected,
        _ => ReasonCode::ProviderFailed,
    }
}

/// The exit code a finished dispatch reports: a failure's own, or 0 for a success of a
/// provider that runs a process (`runs_process`: `exec`).
pub(crate) fn exit_code(result: &DispatchOutcome, runs_process: bool) -> Option<i32> {
    match result {
        DispatchOutcome::Failed(failure) => failure.exit_code,
        DispatchOutcome::Succeeded { .. } if runs_process => Some(0),
        _ => None,
    }
}

/// The journal outcome of a finished dispatch (`None` for a node handed to a person).
pub(crate) fn outcome(result: DispatchOutcome) -> Option<Outcome> {
    match result {
        DispatchOutcome::Succeeded { outputs, cost_usd } => {
            Some(Outcome::Succeeded { outputs, cost_usd })
        }
        DispatchOutcome::Failed(failure) => {
            let code = reason_code(&failure);
            let mut message = format!("{}: {}", failure.reason.as_str(), failure.message);
            if let Some(exit) = failure.exit_code {
                if !failure.message.contains("exit") {
                    message.push_str(&format!(" (exit code {exit})"));
                }
            }
            Some(Outcome::Failed {
                reason: code,
                message,
                retryable: failure.retryable,
            })
        }
        DispatchOutcome::AwaitingHuman { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_retryable_http_errors_are_rejections() {
        let f = |reason, retryable| Failure {
            reason,
            message: "m".into(),
            retryable,
            exit_code: None,
        };
        assert_eq!(
            reason_code(&f(FailureReason::HttpStatus, false)),
            ReasonCode::ProviderRejected
        );
        assert_eq!(
            reason_code(&f(FailureReason::HttpStatus, true)),
            ReasonCode::ProviderFailed
        );
        assert_eq!(
            reason_code(&f(FailureReason::Timeout, true)),
            ReasonCode::NodeTimeout
        );
    }
}
