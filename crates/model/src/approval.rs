//! Counting a Gate's reviews: who may decide, which reviews still count, and the decision.
//!
//! Pure and shared: the review endpoint of the API server decides with it as it records a
//! review, and the Gate controller decides with it again whenever a Gate changes (for instance
//! when a client edits `status.reviewHistory` directly, as upstream tools do), so both agree.
//!
//! The rules:
//!
//! * Only reviews made on the Gate's current `metadata.generation` count (`targetGeneration`);
//!   a review without `targetGeneration` (written by an upstream tool) counts as made on the
//!   current one. Changing the Gate's spec therefore invalidates earlier approvals.
//! * With `reviewers` set, only listed reviewers count: `user:alice` matches `user:alice`;
//!   `email:a@b.c` and a bare `a@b.c` match each other. A `team:…`/`group:…` entry matches
//!   a reviewer named exactly so until identities with groups arrive (governance).
//!   Without `reviewers`, anyone may review.
//! * Each reviewer's **last** `approve` or `reject` is their vote (`comment` is no vote).
//! * A reject vote by a counted reviewer rejects the Gate; otherwise `requiredApprovers`
//!   distinct approve votes approve it.

use crate::gate::{GateReview, GateSpec, ReviewAction};
use std::collections::BTreeMap;

/// The decision the reviews support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not decided yet: `approvals` of `required` so far.
    Open {
        /// Distinct counted approvals.
        approvals: Vec<String>,
        /// Approvals needed.
        required: u32,
    },
    /// Approved by these reviewers (in the order they last voted).
    Approved {
        /// Who approved.
        actors: Vec<String>,
    },
    /// Rejected by `actor`, with their comment.
    Rejected {
        /// Who rejected.
        actor: String,
        /// Why.
        comment: Option<String>,
    },
}

/// The outcome of counting, with what was left out and why (for conditions and messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The decision.
    pub decision: Decision,
    /// Reviews not counted because they were made on an older generation.
    pub stale: usize,
    /// Reviewers whose votes did not count because they are not among `reviewers`.
    pub not_reviewers: Vec<String>,
}

/// `true` if `reviewer` may decide a Gate whose spec lists `reviewers` (see the module docs).
pub fn may_review(spec: &GateSpec, reviewer: &str) -> bool {
    spec.reviewers.is_empty()
        || spec
            .reviewers
            .iter()
            .any(|allowed| same_reviewer(allowed, reviewer))
}

fn same_reviewer(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> &str {
        s.strip_prefix("email:").unwrap_or(s)
    }
    a == b || norm(a).eq_ignore_ascii_case(norm(b)) && norm(a).contains('@')
}

/// Counts `history` for a Gate with `spec` at `generation`.
pub fn tally(spec: &GateSpec, generation: u64, history: &[GateReview]) -> Tally {
    let mut stale = 0;
    let mut not_reviewers = Vec::new();
    // reviewer → (order of their last vote, action, comment)
    let mut votes: BTreeMap<&str, (usize, ReviewAction, Option<&str>)> = BTreeMap::new();
    for (i, review) in history.iter().enumerate() {
        if review.action == ReviewAction::Comment {
            continue;
        }
        if review.target_generation.is_some_and(|g| g != generation) {
            stale += 1;
            continue;
        }
        if !may_review(spec, &review.reviewer) {
            if !not_reviewers.contains(&review.reviewer) {
                not_reviewers.push(review.reviewer.clone());
            }
            continue;
        }
        votes.insert(
            &review.reviewer,
            (i, review.action, review.comment.as_deref()),
        );
    }
    let mut ordered: Vec<(usize, &str, ReviewAction, Option<&str>)> = votes
        .into_iter()
        .map(|(who, (i, action, comment))| (i, who, action, comment))
        .collect();
    ordered.sort_by_key(|v| v.0);
    let required = spec.required_approvers.max(1);
    let decision = if let Some((_, who, _, comment)) =
        ordered.iter().rev().find(|v| v.2 == ReviewAction::Reject)
    {
        Decision::Rejected {
            actor: (*who).to_owned(),
            comment: comment.map(str::to_owned),
        }
    } else {
        let approvals: Vec<String> = ordered
            .iter()
            .filter(|v| v.2 == ReviewAction::Approve)
            .map(|v| v.1.to_owned())
            .collect();
        if approvals.len() >= required as usize {
            Decision::Approved { actors: approvals }
        } else {
            Decision::Open {
                approvals,
                required,
            }
        }
    };
    Tally {
        decision,
        stale,
        not_reviewers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Timestamp;
    use crate::gate::{GateTargetRef, GateType};

    fn spec(reviewers: &[&str], required: u32) -> GateSpec {
        GateSpec {
            gate_type: GateType::Approval,
            target_ref: GateTargetRef {
                kind: "Plan".into(),
                name: "p".into(),
                api_version: None,
                namespace: None,
                uid: None,
                node_id: None,
            },
            description: None,
            reviewers: reviewers.iter().map(|s| s.to_string()).collect(),
            required_approvers: required,
            context: None,
        }
    }

    fn review(who: &str, action: ReviewAction, generation: Option<u64>) -> GateReview {
        GateReview {
            reviewer: who.into(),
            action,
            timestamp: Timestamp::from("2026-01-01T00:00:00Z"),
            comment: None,
            target_generation: generation,
        }
    }

    #[test]
    fn two_of_three_distinct_approvers() {
        let s = spec(&["user:a", "user:b", "user:c"], 2);
        let one = [review("user:a", ReviewAction::Approve, Some(1))];
        assert!(matches!(tally(&s, 1, &one).decision, Decision::Open { .. }));
        let same_twice = [
            review("user:a", ReviewAction::Approve, Some(1)),
            review("user:a", ReviewAction::Approve, Some(1)),
        ];
        assert!(matches!(
            tally(&s, 1, &same_twice).decision,
            Decision::Open { .. }
        ));
        let two = [
            review("user:a", ReviewAction::Approve, Some(1)),
            review("user:b", ReviewAction::Approve, Some(1)),
        ];
        assert_eq!(
            tally(&s, 1, &two).decision,
            Decision::Approved {
                actors: vec!["user:a".into(), "user:b".into()]
            }
        );
    }

    #[test]
    fn stale_and_outside_reviews_do_not_count() {
        let s = spec(&["user:a"], 1);
        let t = tally(
            &s,
            2,
            &[
                review("user:a", ReviewAction::Approve, Some(1)),
                review("user:z", ReviewAction::Approve, Some(2)),
            ],
        );
        assert!(matches!(t.decision, Decision::Open { .. }));
        assert_eq!(t.stale, 1);
        assert_eq!(t.not_reviewers, vec!["user:z".to_owned()]);
    }

    #[test]
    fn a_reject_wins_and_the_last_vote_counts() {
        let s = spec(&[], 1);
        let t = tally(
            &s,
            1,
            &[
                review("user:a", ReviewAction::Reject, Some(1)),
                review("user:b", ReviewAction::Approve, Some(1)),
            ],
        );
        assert!(matches!(t.decision, Decision::Rejected { ref actor, .. } if actor == "user:a"));
        let changed_mind = tally(
            &s,
            1,
            &[
                review("user:a", ReviewAction::Reject, Some(1)),
                review("user:a", ReviewAction::Approve, Some(1)),
            ],
        );
        assert!(matches!(changed_mind.decision, Decision::Approved { .. }));
    }

    #[test]
    fn emails_match_with_or_without_prefix() {
        let s = spec(&["email:Ann@example.com"], 1);
        assert!(may_review(&s, "ann@example.com"));
        assert!(!may_review(&s, "user:ann"));
        let u = spec(&["user:ann"], 1);
        assert!(!may_review(&u, "user:Ann"));
    }
}
