//! Setting a condition the Kubernetes way: `lastTransitionTime` moves only when `status` does.

use planspec_model::common::Timestamp;
use planspec_model::meta::{Condition, ConditionStatus};

/// Sets the condition `condition_type` in `conditions` (adding it if missing). The transition
/// time is `now` if the condition is new or its `status` changed; otherwise it is kept, so a
/// reconcile that finds nothing new writes nothing new.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    condition_type: &str,
    status: ConditionStatus,
    reason: &str,
    message: Option<String>,
    observed_generation: Option<u64>,
    now: &str,
) {
    match conditions
        .iter_mut()
        .find(|c| c.condition_type == condition_type)
    {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Timestamp::from(now);
            }
            c.status = status;
            c.reason = reason.to_owned();
            c.message = message;
            c.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            condition_type: condition_type.to_owned(),
            status,
            reason: reason.to_owned(),
            last_transition_time: Timestamp::from(now),
            message,
            observed_generation,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_status() {
        let mut cs = Vec::new();
        set_condition(
            &mut cs,
            "Ready",
            ConditionStatus::False,
            "A",
            None,
            Some(1),
            "t1",
        );
        set_condition(
            &mut cs,
            "Ready",
            ConditionStatus::False,
            "B",
            None,
            Some(2),
            "t2",
        );
        assert_eq!(&*cs[0].last_transition_time, "t1");
        assert_eq!(cs[0].reason, "B");
        set_condition(
            &mut cs,
            "Ready",
            ConditionStatus::True,
            "C",
            None,
            Some(2),
            "t3",
        );
        assert_eq!(&*cs[0].last_transition_time, "t3");
    }
}
