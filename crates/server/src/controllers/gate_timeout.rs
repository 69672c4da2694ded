//! When a Gate times out: `spec.timeout` counted from the moment an Execution reached it (the
//! `Activated` condition the runtime sets, else the Gate's creation for a per-run Gate created
//! `Waiting`). Only Gates an Execution waits on time out; a template Gate never does.

use planspec_model::gate::{Gate, GateStatus};
use planspec_model::meta::ConditionStatus;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// When `gate` (with `status`) times out, if it has a `timeout` and an Execution reached it.
pub fn expiry(gate: &Gate, status: &GateStatus) -> Option<OffsetDateTime> {
    let timeout = gate.spec.timeout.as_ref()?.to_std()?;
    let opened = status
        .conditions
        .iter()
        .find(|c| c.condition_type == "Activated" && c.status == ConditionStatus::True)
        .map(|c| c.last_transition_time.as_str())
        .or(gate.metadata.creation_timestamp.as_deref())
        .and_then(parse)?;
    let timeout = time::Duration::try_from(timeout).ok()?;
    opened.checked_add(timeout)
}

/// An RFC 3339 timestamp.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// How long from `now` until `at` (at least a second, so a requeue never spins), plus a
/// second because stored timestamps have whole seconds.
pub fn until(now: OffsetDateTime, at: OffsetDateTime) -> std::time::Duration {
    let left = (at - now).whole_milliseconds().max(0) as u64;
    std::time::Duration::from_millis(left + 1000)
}
