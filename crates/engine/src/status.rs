//! The Execution's `status` as the API shows it: small, whatever the graph's size.

use crate::machine::{Execution, NodePhase};
use planspec_model::execution::{ExecutionStatus, NodePhase as ModelNodePhase, NodeStatus};
use planspec_model::{NodeId, Timestamp};
use serde_json::{json, Map};
use std::collections::BTreeMap;

impl Execution {
    /// The `status` of the Execution resource: phase, reason, times, per-phase node counters
    /// (in `extensions.counters`), and `nodeStatuses` only when the graph has at most
    /// `max_node_statuses` nodes — larger executions keep per-node records elsewhere, so the
    /// object stays small.
    pub fn status(&self, max_node_statuses: usize) -> ExecutionStatus {
        let state = self.state();
        let mut node_statuses = BTreeMap::new();
        if self.graph().len() <= max_node_statuses {
            for (node, n) in self.graph().nodes().iter().zip(&state.nodes) {
                let phase = match (n.phase, n.activity) {
                    (NodePhase::Pending | NodePhase::Ready, _) => ModelNodePhase::Pending,
                    (NodePhase::Running, Some(crate::machine::Activity::Gate)) => {
                        ModelNodePhase::Blocked
                    }
                    (NodePhase::Running, _) => ModelNodePhase::Running,
                    (NodePhase::Succeeded, _) => ModelNodePhase::Succeeded,
                    (NodePhase::Failed, _) => ModelNodePhase::Failed,
                    (NodePhase::Skipped, _) => ModelNodePhase::Skipped,
                    (NodePhase::Cancelled, _) => ModelNodePhase::Cancelled,
                };
                let message = match (n.reason, &n.message) {
                    (Some(reason), Some(m)) if !m.is_empty() => Some(format!("{reason}: {m}")),
                    (Some(reason), _) => Some(reason.to_string()),
                    (None, m) => m.clone(),
                };
                node_statuses.insert(
                    NodeId::new(node.id.as_str()),
                    NodeStatus {
                        phase,
                        start_time: n.started_at.map(timestamp),
                        completion_time: n.finished_at.map(timestamp),
                        attempt: (n.attempt > 0).then_some(n.attempt),
                        outputs: n
                            .outputs
                            .clone()
                            .filter(|_| n.phase == NodePhase::Succeeded),
                        message,
                        extensions: None,
                    },
                );
            }
        }
        let mut extensions = Map::new();
        extensions.insert(
            "counters".into(),
            serde_json::to_value(state.counters).unwrap_or_default(),
        );
        extensions.insert("round".into(), json!(state.round));
        extensions.insert("graphDigest".into(), json!(self.graph().digest()));
        ExecutionStatus {
            phase: Some(state.phase),
            run_id: state.uid.clone(),
            reason: state.reason.map(|r| r.to_string()),
            message: (!state.message.is_empty()).then(|| state.message.clone()),
            start_time: state.started_at.map(timestamp),
            completion_time: state.finished_at.map(timestamp),
            node_statuses,
            extensions: Some(extensions),
            ..ExecutionStatus::default()
        }
    }
}

/// RFC 3339 in UTC for milliseconds since the epoch (`2026-02-04T12:00:00Z`, with `.mmm`
/// when the milliseconds are not zero).
pub fn timestamp(ms: u64) -> Timestamp {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let text = if millis == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
    };
    Timestamp::new(text)
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (non-negative).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(timestamp(0).as_str(), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(1_770_206_400_000).as_str(),
            "2026-02-04T12:00:00Z"
        );
        assert_eq!(
            timestamp(951_782_400_123).as_str(),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            timestamp(253_402_300_799_000).as_str(),
            "9999-12-31T23:59:59Z"
        );
    }
}
