//! Reason codes: why a node failed, was skipped or cancelled, why an execution ended, and why
//! an input was ignored. `docs/reason-codes.md` is generated from [`ReasonCode::ALL`].
//!
//! Codes are stable: one is never renamed or reused. They are `lower_snake_case` strings on
//! the wire.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// What a reason code explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCategory {
    /// A node attempt or node failed. The runtime reports some, the engine decides others.
    Failure,
    /// A node was skipped.
    Skip,
    /// A node, or the execution, was cancelled.
    Cancel,
    /// The execution ended.
    Execution,
    /// The execution could not start (the runtime decides these before the engine runs).
    Start,
    /// An input was journaled but changed nothing.
    Ignored,
}

impl ReasonCategory {
    /// The category's name in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCategory::Failure => "failure",
            ReasonCategory::Skip => "skip",
            ReasonCategory::Cancel => "cancel",
            ReasonCategory::Execution => "execution",
            ReasonCategory::Start => "start",
            ReasonCategory::Ignored => "ignored",
        }
    }
}

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $category:ident, $retryable:literal, $summary:literal; )*) => {
        /// A stable reason code. See the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ReasonCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ReasonCode] = &[ $( ReasonCode::$variant, )* ];

            /// The code as written on the wire (`lower_snake_case`).
            pub fn as_str(self) -> &'static str {
                match self { $( ReasonCode::$variant => $id, )* }
            }

            /// What the code explains.
            pub fn category(self) -> ReasonCategory {
                match self { $( ReasonCode::$variant => ReasonCategory::$category, )* }
            }

            /// For failures: whether a Task retries it when its `retryPolicy` names no codes.
            pub fn retryable_by_default(self) -> bool {
                match self { $( ReasonCode::$variant => $retryable, )* }
            }

            /// One sentence on what happened.
            pub fn description(self) -> &'static str {
                match self { $( ReasonCode::$variant => $summary, )* }
            }
        }

        impl FromStr for ReasonCode {
            type Err = UnknownReasonCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $id => Ok(ReasonCode::$variant), )*
                    _ => Err(UnknownReasonCode(s.to_string())),
                }
            }
        }
    };
}

reason_codes! {
    // Failures the runtime reports in a `NodeResult` or `ExternalCompleted`.
    /// The provider ran the work and it failed.
    ProviderFailed = "provider_failed", Failure, true,
        "The provider ran the attempt and it failed (a non-zero exit, an error answer).";
    /// The provider could not be reached or started.
    ProviderUnavailable = "provider_unavailable", Failure, true,
        "The provider could not be reached or started (connection refused, spawn failed).";
    /// The provider refused the request.
    ProviderRejected = "provider_rejected", Failure, false,
        "The provider refused the request as invalid (a 4xx answer, bad configuration); retrying cannot help.";
    /// No provider is bound to the node.
    ProviderUnbound = "provider_unbound", Failure, false,
        "No Binding assigns a provider to the node.";
    /// The provider's outputs were unreadable.
    OutputsInvalid = "outputs_invalid", Failure, false,
        "The provider's outputs could not be read as a JSON object.";
    /// The runtime lost track of the attempt.
    AttemptLost = "attempt_lost", Failure, true,
        "The runtime lost the attempt (its worker died or its lease expired) and cannot know the result.";
    /// Something outside the engine killed the attempt.
    Killed = "killed", Failure, true,
        "The attempt was killed by something outside the engine (a signal, the out-of-memory killer).";
    /// The awaited external dependency failed.
    ExternalFailed = "external_failed", Failure, false,
        "The external dependency an External node waits for reported a failure.";
    // Failures the engine decides.
    /// The attempt ran longer than the node's `timeout`.
    NodeTimeout = "node_timeout", Failure, true,
        "The attempt ran longer than the node's `timeout`; it was killed.";
    /// A required acceptance criterion failed.
    CriterionFailed = "criterion_failed", Failure, true,
        "A required acceptance criterion failed after the provider succeeded; the message names it.";
    /// The outputs exceed the size limit.
    OutputsTooLarge = "outputs_too_large", Failure, false,
        "The node's outputs, as JSON, are larger than the engine's limit (256 KiB by default).";
    /// The resolved inputs exceed the size limit.
    InputsTooLarge = "inputs_too_large", Failure, false,
        "The node's inputs after `${{ }}` interpolation are larger than the engine's limit (256 KiB by default).";
    /// A `${{ }}` expression in the inputs failed.
    InterpolationFailed = "interpolation_failed", Failure, false,
        "A `${{ }}` expression in the node's inputs could not be evaluated (a missing key, a type error).";
    /// The `when` condition failed to evaluate.
    WhenFailed = "when_failed", Failure, false,
        "The node's `when` condition could not be evaluated, or did not yield a boolean.";
    /// The Gate was rejected.
    GateRejected = "gate_rejected", Failure, false,
        "The Gate resource the node waits for was rejected.";
    /// The Gate timed out and its `onTimeout` rejected it.
    GateTimeout = "gate_timeout", Failure, false,
        "The Gate the node waits for was not decided within its `timeout`, and its `onTimeout` (by default `reject`) rejected it.";
    /// A Policy denied the node, its risk is `blocked`, or it is destructive under `safety: no_destructive_actions`.
    PolicyDenied = "policy_denied", Failure, false,
        "The node's policy verdict is `deny` (a Policy rule, the namespace default, risk `blocked`, or a destructive provider under the Goal's `safety: no_destructive_actions`); the message names the rule.";
    /// The approval a policy `assist` verdict asked for was rejected.
    ApprovalRejected = "approval_rejected", Failure, false,
        "The node's policy verdict is `assist` and a reviewer rejected the approval Gate opened for it.";
    /// The Goal's `budgetUsd` is spent.
    BudgetExceeded = "budget_exceeded", Failure, false,
        "The costs providers reported reached the Goal's `budgetUsd`; no further attempt is dispatched.";
    /// The child Execution of a `Plan` node failed or was cancelled.
    SubplanFailed = "subplan_failed", Failure, false,
        "The child Execution a `Plan` node started failed (or was cancelled on its own); the message names the child and its reason.";
    /// A Placeholder's value broke its `schema` or `rules` (a person's value is refused instead, and the node keeps waiting).
    PlaceholderRejected = "placeholder_rejected", Failure, false,
        "The value a parameter, a selector or a resolver gave a Placeholder broke its `schema` or `rules`; the message names the source and the constraint. (A person's bad value is refused and the node keeps waiting: journaled as ignored with this code.)";
    /// A Placeholder got no value within its `timeout`.
    PlaceholderTimeout = "placeholder_timeout", Failure, false,
        "A Placeholder got no value within its `timeout`.";
    /// A matrix expands into more instances than allowed.
    PlanExpansionLimit = "plan_expansion_limit", Failure, false,
        "A Task's `matrix` expands into more instances than one matrix may have (10,000 by default), or the run would hold more nodes than allowed (200,000 by default); the message names the node and the count. Literal and parameter axes are checked before any node runs.";
    /// A matrix has no instances.
    MatrixEmpty = "matrix_empty", Failure, false,
        "A Task's `matrix` has an axis with no values (literal, from a parameter, or from an upstream output), or `exclude` removed every combination; the message names the axis.";
    /// A matrix axis cannot be read.
    MatrixInvalid = "matrix_invalid", Failure, false,
        "A Task's `matrix` axis names a parameter or upstream output that is missing or not a list, or two instances have the same coordinates; the message names the axis.";
    // Skips.
    /// The `when` condition is false.
    WhenFalse = "when_false", Skip, false,
        "The node's `when` condition (or an enclosing Group's) is false.";
    /// A hard dependency failed.
    UpstreamFailed = "upstream_failed", Skip, false,
        "A node this one depends on by a hard edge failed.";
    /// A hard dependency was skipped.
    UpstreamSkipped = "upstream_skipped", Skip, false,
        "A node this one depends on by a hard edge was skipped; skips propagate along hard edges.";
    /// An edge's `on` condition can no longer be met.
    EdgeConditionUnmet = "edge_condition_unmet", Skip, false,
        "An edge into the node names an outcome of its upstream node (`on: failure`, `on: skipped`) that did not happen; the message names the edge.";
    /// A node failed under `failFast` (the Execution's, or a matrix's among its instances).
    FailFast = "fail_fast", Skip, false,
        "A node failed and the run fails fast, so this node was not started: the Execution has `failFast: true` (`finally` Tasks still run), or the node is an instance of a matrix with `failFast: true` and another instance failed before it started.";
    // Cancellation.
    /// The execution was cancelled before the node started.
    Cancelled = "cancelled", Cancel, false,
        "The execution was cancelled; the node had not started (or was waiting for a retry, a Gate or an External).";
    /// The node was killed by a forced cancel.
    ForceCancelled = "force_cancelled", Cancel, false,
        "The execution was cancelled with `force`; the node's running attempt was killed.";
    /// A hard dependency was cancelled.
    UpstreamCancelled = "upstream_cancelled", Cancel, false,
        "A node this one depends on by a hard edge was cancelled.";
    // How an execution ends.
    /// At least one node failed.
    NodeFailed = "node_failed", Execution, false,
        "The execution failed because at least one node failed; the message names the first.";
    /// The journal cannot be resumed.
    JournalUnreadable = "journal_unreadable", Execution, false,
        "The Execution's journal could not be resumed (an entry does not parse, or it does not fit the pinned graph, e.g. after an engine change); the Execution was marked failed and its journal kept.";
    /// The execution deadline passed.
    ExecutionDeadlineExceeded = "execution_deadline_exceeded", Execution, false,
        "The execution ran past its deadline (the Goal's `timeout`); running attempts were killed.";
    // Why an execution could not start (decided by the runtime before the engine runs).
    /// The Execution's Plan does not exist.
    PlanNotFound = "plan_not_found", Start, false,
        "The Plan named by `spec.planRef` does not exist (or has another uid than the reference asks for).";
    /// The Plan cannot run.
    PlanInvalid = "plan_invalid", Start, false,
        "The Plan is `Invalid`, or does not compile into an execution graph; the message says why.";
    /// The Execution's Goal does not exist.
    GoalNotFound = "goal_not_found", Start, false,
        "The Goal named by `spec.goalRef` does not exist.";
    /// The Goal cannot be read.
    GoalInvalid = "goal_invalid", Start, false,
        "The Goal named by `spec.goalRef` could not be read as a Goal.";
    /// A Binding cannot be read.
    BindingInvalid = "binding_invalid", Start, false,
        "A Binding the Execution uses could not be read as a Binding.";
    /// The Execution object cannot be read.
    ExecutionInvalid = "execution_invalid", Start, false,
        "The Execution object does not fit the model.";
    /// A Policy of the namespace cannot be read.
    PolicyInvalid = "policy_invalid", Start, false,
        "A Policy of the Execution's namespace could not be read as a Policy, so no verdict could be made; the message names it.";
    /// A task node is bound to a Provider whose manifest does not verify.
    ProviderUntrusted = "provider_untrusted", Start, false,
        "A task node is bound to a Provider whose signed manifest does not verify against the server's trust policy (or has none), and no Policy of the namespace sets `allowUnverifiedProviders`; the message names each node, Provider and issue code.";
    /// The store failed while the execution was being pinned.
    StoreUnavailable = "store_unavailable", Start, false,
        "The store failed while the Plan, Goal and Bindings were being read.";
    /// A `Plan` node names a Plan that does not exist.
    SubplanNotFound = "subplan_not_found", Start, false,
        "A `Plan` node's `planRef` names no Plan (by name, or no version of the series matches the range); the message gives the path of Plan nodes from the root.";
    /// Sub-plans run each other.
    SubplanCycle = "subplan_cycle", Start, false,
        "A Plan runs itself through `Plan` nodes (the same Plan uid twice on one path); the message gives the path.";
    /// Sub-plans nest too deep.
    SubplanDepthExceeded = "subplan_depth_exceeded", Start, false,
        "Sub-plans nest deeper than 8 levels below the root Execution; the message gives the path.";
    /// A sub-plan may not run: its creator lacks `execute`, or it only poses as a child.
    SubplanForbidden = "subplan_forbidden", Start, false,
        "A Plan of the sub-plan tree may not run: the Execution's creator lacks `execute` on it (the message names the Plan and its path), or an Execution poses as a sub-plan child (parent labels or owner that the runtime did not write: a uid, parent or `planRef` that does not match) and runs nothing.";
    // Ignored inputs.
    /// The execution has not started.
    ExecutionNotStarted = "execution_not_started", Ignored, false,
        "The input needs a started execution, and no `ExecutionStarted` was handled yet.";
    /// The execution has already started.
    AlreadyStarted = "already_started", Ignored, false,
        "A second `ExecutionStarted` arrived.";
    /// The execution has finished.
    ExecutionFinished = "execution_finished", Ignored, false,
        "The execution has finished; only `RetryRequested` can reopen it.";
    /// A retry was requested while the execution runs.
    ExecutionNotFinished = "execution_not_finished", Ignored, false,
        "`RetryRequested` arrived while the execution was still running.";
    /// Nothing failed, so nothing can be retried.
    NothingToRetry = "nothing_to_retry", Ignored, false,
        "`RetryRequested` named no node and no node had failed or been cancelled.";
    /// The input names a node the graph does not have.
    UnknownNode = "unknown_node", Ignored, false,
        "The input names a node that is not in the execution graph.";
    /// The input is for an older attempt.
    StaleAttempt = "stale_attempt", Ignored, false,
        "The input is for an attempt other than the node's current one (a late result of a timed-out or retried attempt).";
    /// The node is not waiting for this input.
    NotWaiting = "not_waiting", Ignored, false,
        "The node is not waiting for this kind of input (it finished, has not started, or is of another kind).";
    /// The timer is not armed.
    StaleTimer = "stale_timer", Ignored, false,
        "The timer that fired is not armed any more (its node moved on, or it was cancelled).";
    /// Cancellation was already requested.
    AlreadyCancelling = "already_cancelling", Ignored, false,
        "Cancellation was already requested with the same or a stronger mode (a forced cancel is never downgraded).";
}

impl ReasonCode {
    /// `true` for failure codes a `retryPolicy.retryOn` may name.
    pub fn is_failure(self) -> bool {
        self.category() == ReasonCategory::Failure
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a reason code")]
pub struct UnknownReasonCode(pub String);

impl Serialize for ReasonCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &code in ReasonCode::ALL {
            let id = code.as_str();
            assert!(seen.insert(id), "{id} repeats");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && id.starts_with(|c: char| c.is_ascii_lowercase()),
                "{id} is not lower_snake_case"
            );
            assert_eq!(id.parse::<ReasonCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{id}\""));
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).unwrap(), code);
            assert!(!code.description().is_empty());
            if code.retryable_by_default() {
                assert!(code.is_failure(), "{id}: only failures retry");
            }
        }
        assert!(serde_json::from_str::<ReasonCode>("\"nope\"").is_err());
    }
}
