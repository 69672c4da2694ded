//! Graph semantics beyond plain dependencies: edges that name an upstream outcome
//! (`on: failure` / `on: skipped`), `finally` Tasks and the outcome they read, the run's
//! `maxParallel`, and `failFast`.

use super::Deriver;
use crate::event::Decision;
use crate::machine::state::{CancelMode, NodePhase};
use crate::machine::Execution;
use crate::reason::ReasonCode;
use crate::EngineError;
use planspec_model::plan::EdgeCondition;
use serde_json::{json, Value};

impl Deriver<'_> {
    /// `true` while the run fails fast: `failFast` is set and a node failed in the current
    /// round. (Only `finally` Tasks are left to fail once every other node is terminal, so
    /// any failure counts; a failure an earlier round left, e.g. beside `retry --from`,
    /// does not.)
    pub(super) fn failing_fast(&self) -> bool {
        self.exec.state.fail_fast && self.exec.state.round_failed > 0
    }

    /// `true` if one more node may be running under the run's `maxParallel`. A Ready node
    /// that asked for its lease (waiting or holding) counts as running: it holds, or will
    /// hold, a cross-run lease, which it must not sit on without a slot to start in.
    pub(super) fn below_max_parallel(&self) -> bool {
        self.exec
            .state
            .max_parallel
            // An expanded matrix node is Running while its instances run; they count, it
            // does not.
            .is_none_or(|max| {
                let state = &self.exec.state;
                let leasing = u32::try_from(state.leasing.len()).unwrap_or(u32::MAX);
                state
                    .counters
                    .running
                    .saturating_sub(state.matrix_nodes_running())
                    .saturating_add(leasing)
                    < max
            })
    }

    /// `true` if a graceful cancel leaves node `i` to run: a `finally` Task.
    pub(super) fn survives_cancel(&self, i: usize) -> bool {
        self.exec.state.cancel == Some(CancelMode::Graceful)
            && self.graph.nodes[self.owner(i)].finally
    }

    /// Skips node `i` (Pending or Ready, not `finally`) because the run fails fast.
    pub(super) fn skip_fail_fast(&mut self, i: usize) -> Result<(), EngineError> {
        self.emit(Decision::NodeSkipped {
            at: self.at,
            node: self.id(i),
            reason: ReasonCode::FailFast,
            message: "a node failed and the Execution fails fast".to_string(),
        })
    }

    /// Skips every Ready node that is not a `finally` Task, once the run fails fast; `true`
    /// if it skipped any.
    pub(super) fn skip_ready_on_fail_fast(&mut self) -> Result<bool, EngineError> {
        if !self.failing_fast() {
            return Ok(false);
        }
        let doomed: Vec<usize> = self
            .exec
            .state
            .ready
            .iter()
            .map(|&(_, i)| i)
            .filter(|&i| !self.graph.nodes[self.owner(i)].finally)
            .collect();
        let any = !doomed.is_empty();
        for i in doomed {
            self.skip_fail_fast(i)?;
        }
        Ok(any)
    }

    /// The first edge into node `i` whose `on` condition its upstream's terminal phase does
    /// not meet, as a message naming it.
    pub(super) fn unmet_edge(&self, i: usize) -> Option<String> {
        self.graph.nodes[self.owner(i)]
            .edge_conditions
            .iter()
            .find_map(|&(d, condition)| {
                let phase = self.exec.state.nodes[d].phase;
                let met = match condition {
                    EdgeCondition::Success => phase == NodePhase::Succeeded,
                    EdgeCondition::Failure => phase == NodePhase::Failed,
                    EdgeCondition::Skipped => phase == NodePhase::Skipped,
                    EdgeCondition::Always => true,
                };
                (!met).then(|| {
                    format!(
                        "the edge from `{}` runs this node on `{}`, but `{}` ended {}",
                        self.graph.nodes[d].id,
                        edge_condition_name(condition),
                        self.graph.nodes[d].id,
                        phase.as_str()
                    )
                })
            })
    }

    /// A retry round runs the `finally` Tasks again after what it re-runs, whatever they
    /// did the first time.
    pub(super) fn rerun_finally(&self, rerun: &mut [bool]) {
        for (i, again) in rerun.iter_mut().enumerate() {
            if self.graph.nodes[i].finally {
                *again = true;
            }
        }
    }

    /// The partial-results summary of a run that ends with failures:
    /// `3 of 10 nodes failed; 6 succeeded, 1 skipped`.
    pub(super) fn partial_results(&self) -> String {
        let c = &self.exec.state.counters;
        let mut text = format!(
            "{} of {} nodes failed; {} succeeded",
            c.failed,
            c.total(),
            c.succeeded
        );
        if c.skipped > 0 {
            text.push_str(&format!(", {} skipped", c.skipped));
        }
        if c.cancelled > 0 {
            text.push_str(&format!(", {} cancelled", c.cancelled));
        }
        text
    }
}

fn edge_condition_name(condition: EdgeCondition) -> &'static str {
    match condition {
        EdgeCondition::Success => "success",
        EdgeCondition::Failure => "failure",
        EdgeCondition::Skipped => "skipped",
        EdgeCondition::Always => "always",
    }
}

impl Execution {
    /// What a `finally` Task reads as `execution.outcome` and `execution.failedNodes`: how
    /// the other nodes ended (`Cancelled` if the run is being cancelled, else `Failed` if
    /// one failed, else `Succeeded`) and the ids of those that failed, in canonical order.
    pub(super) fn outcome(&self) -> (&'static str, Value) {
        let state = &self.state;
        let failed: Vec<&str> = self
            .graph
            .order
            .iter()
            .filter(|&&j| !self.graph.nodes[j].finally && state.nodes[j].phase == NodePhase::Failed)
            .map(|&j| self.graph.nodes[j].id.as_str())
            .collect();
        let outcome = if state.cancel.is_some() {
            "Cancelled"
        } else if failed.is_empty() {
            "Succeeded"
        } else {
            "Failed"
        };
        (outcome, json!(failed))
    }
}
