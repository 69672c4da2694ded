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
//! * With `reviewers` set, only eligible reviewers count (see [`Reviewer`]): a user entry
//!   (`alice`, `user:alice`) matches that user name, an e-mail entry (`email:a@b.c`, `a@b.c`)
//!   matches that name without regard to case, and a group entry (`group:ops`, `team:ops`)
//!   matches a review the server recorded as made through that group (`via`), because the
//!   reviewer was in it when they reviewed. Without `reviewers`, anyone may review.
//! * **No self-approval**: an approval by the creator of the Execution the Gate belongs to
//!   never counts (the API refuses it; a review written into the status directly is ignored).
//!   The creator may still reject (stopping their own run is always allowed, like cancelling).
//! * Each reviewer's **last** `approve` or `reject` is their vote (`comment` is no vote).
//! * A reject vote by a counted reviewer rejects the Gate; otherwise `requiredApprovers`
//!   distinct reviewers approving **the same values** approve it (values matter only with an
//!   `inputSchema`; without one every approval carries none), and those values are the decision's.

use crate::actor::UserInfo;
use crate::gate::{GateReview, GateSpec, ReviewAction};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The decision the reviews support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not decided yet: `approvals` of `required` so far (the largest group of approvers that
    /// agree on the values).
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
        /// The values they approved (`None` when the reviews carried none).
        values: Option<Map<String, Value>>,
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
    /// Approvals not counted because the reviewer created the Execution.
    pub self_approvals: usize,
    /// How many different sets of values the counted approvals carry (more than one: the
    /// approvers disagree, and only the largest agreeing group counts).
    pub value_sets: usize,
}

/// One entry of a Gate's `reviewers`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviewer<'a> {
    /// A user name (`alice` or `user:alice`).
    User(&'a str),
    /// A group (`group:ops` or `team:ops`).
    Group(&'a str),
    /// An e-mail address (`email:a@b.c` or a bare `a@b.c`), matched without regard to case.
    Email(&'a str),
}

impl<'a> Reviewer<'a> {
    /// Parses an entry of `reviewers`.
    pub fn parse(entry: &'a str) -> Reviewer<'a> {
        let entry = entry.trim();
        if let Some(g) = entry
            .strip_prefix("group:")
            .or_else(|| entry.strip_prefix("team:"))
        {
            Reviewer::Group(g)
        } else if let Some(e) = entry.strip_prefix("email:") {
            Reviewer::Email(e)
        } else if let Some(u) = entry.strip_prefix("user:") {
            if u.contains('@') {
                Reviewer::Email(u)
            } else {
                Reviewer::User(u)
            }
        } else if entry.contains('@') {
            Reviewer::Email(entry)
        } else {
            Reviewer::User(entry)
        }
    }

    /// Whether the user named `name` is this entry (group entries name no user).
    pub fn names(&self, name: &str) -> bool {
        let name = user_name(name);
        match self {
            Reviewer::User(u) => *u == name,
            Reviewer::Email(e) => e.eq_ignore_ascii_case(name),
            Reviewer::Group(_) => false,
        }
    }
}

/// A user name without the `user:` / `email:` prefix a declared actor may carry.
pub fn user_name(name: &str) -> &str {
    let name = name.trim();
    name.strip_prefix("user:")
        .or_else(|| name.strip_prefix("email:"))
        .unwrap_or(name)
}

/// Whether two user names (either possibly prefixed) are the same person.
pub fn same_user(a: &str, b: &str) -> bool {
    let (a, b) = (user_name(a), user_name(b));
    a == b || (a.contains('@') && a.eq_ignore_ascii_case(b))
}

/// How a reviewer is eligible for a Gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// The Gate names no reviewers: anyone may review.
    Anyone,
    /// Named by a user or e-mail entry.
    Named,
    /// Through the group entry (as written in `reviewers`).
    Group(String),
}

impl Eligibility {
    /// The `via` to record with a review made this way.
    pub fn via(&self) -> Option<String> {
        match self {
            Eligibility::Group(entry) => Some(entry.clone()),
            _ => None,
        }
    }
}

/// How `user` may decide a Gate with `spec`, or `None` if they may not (see the module docs).
/// A user entry wins over a group entry.
pub fn eligibility(spec: &GateSpec, user: &UserInfo) -> Option<Eligibility> {
    if spec.reviewers.is_empty() {
        return Some(Eligibility::Anyone);
    }
    if spec
        .reviewers
        .iter()
        .any(|r| Reviewer::parse(r).names(&user.username))
    {
        return Some(Eligibility::Named);
    }
    spec.reviewers
        .iter()
        .find(|r| matches!(Reviewer::parse(r), Reviewer::Group(g) if user.in_group(g)))
        .map(|r| Eligibility::Group(r.clone()))
}

/// Whether a recorded review counts as made by an eligible reviewer: by its reviewer's name,
/// or through the group entry the server recorded in `via` (which must still be listed).
pub fn counts(spec: &GateSpec, review: &GateReview) -> bool {
    spec.reviewers.is_empty()
        || spec
            .reviewers
            .iter()
            .any(|r| Reviewer::parse(r).names(&review.reviewer))
        || review.via.as_deref().is_some_and(|via| {
            matches!(Reviewer::parse(via), Reviewer::Group(_))
                && spec.reviewers.iter().any(|r| r.trim() == via.trim())
        })
}

/// Approvers who approved the same values (`None`: no values).
type Agreeing<'h> = (Option<&'h Map<String, Value>>, Vec<String>);

/// Counts `history` for a Gate with `spec` at `generation`; `creator` is the user who created
/// the Execution the Gate belongs to (their approvals never count).
pub fn tally(
    spec: &GateSpec,
    generation: u64,
    history: &[GateReview],
    creator: Option<&str>,
) -> Tally {
    let mut stale = 0;
    let mut self_approvals = 0;
    let mut not_reviewers = Vec::new();
    // reviewer → (order of their last vote, the review)
    let mut votes: BTreeMap<&str, (usize, &GateReview)> = BTreeMap::new();
    for (i, review) in history.iter().enumerate() {
        if review.action == ReviewAction::Comment {
            continue;
        }
        if review.target_generation.is_some_and(|g| g != generation) {
            stale += 1;
            continue;
        }
        if !counts(spec, review) {
            if !not_reviewers.contains(&review.reviewer) {
                not_reviewers.push(review.reviewer.clone());
            }
            continue;
        }
        if review.action == ReviewAction::Approve
            && creator.is_some_and(|c| same_user(c, &review.reviewer))
        {
            self_approvals += 1;
            continue;
        }
        votes.insert(user_name(&review.reviewer), (i, review));
    }
    let mut ordered: Vec<(usize, &GateReview)> = votes.into_values().collect();
    ordered.sort_by_key(|v| v.0);
    let required = spec.required_approvers.max(1);
    // Approvers grouped by the values they approved, groups in order of first appearance.
    let mut groups: Vec<Agreeing<'_>> = Vec::new();
    for (_, review) in ordered
        .iter()
        .filter(|v| v.1.action == ReviewAction::Approve)
    {
        let values = review.values.as_ref();
        match groups.iter_mut().find(|g| g.0 == values) {
            Some(group) => group.1.push(review.reviewer.clone()),
            None => groups.push((values, vec![review.reviewer.clone()])),
        }
    }
    let value_sets = groups.len();
    let decision = if let Some((_, review)) = ordered
        .iter()
        .rev()
        .find(|v| v.1.action == ReviewAction::Reject)
    {
        Decision::Rejected {
            actor: review.reviewer.clone(),
            comment: review.comment.clone(),
        }
    } else if let Some((values, actors)) = groups.iter().find(|g| g.1.len() >= required as usize) {
        Decision::Approved {
            actors: actors.clone(),
            values: values.cloned(),
        }
    } else {
        let approvals = groups
            .iter()
            .max_by_key(|g| g.1.len())
            .map(|g| g.1.clone())
            .unwrap_or_default();
        Decision::Open {
            approvals,
            required,
        }
    };
    Tally {
        decision,
        stale,
        not_reviewers,
        self_approvals,
        value_sets,
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
            timeout: None,
            on_timeout: None,
            input_schema: None,
            context: None,
        }
    }

    fn review(who: &str, action: ReviewAction, generation: Option<u64>) -> GateReview {
        GateReview {
            reviewer: who.into(),
            via: None,
            action,
            timestamp: Timestamp::from("2026-01-01T00:00:00Z"),
            comment: None,
            target_generation: generation,
            values: None,
        }
    }

    fn with_values(mut r: GateReview, v: serde_json::Value) -> GateReview {
        r.values = v.as_object().cloned();
        r
    }

    #[test]
    fn two_of_three_distinct_approvers() {
        let s = spec(&["user:a", "b", "user:c"], 2);
        let one = [review("user:a", ReviewAction::Approve, Some(1))];
        assert!(matches!(
            tally(&s, 1, &one, None).decision,
            Decision::Open { .. }
        ));
        let same_twice = [
            review("user:a", ReviewAction::Approve, Some(1)),
            review("a", ReviewAction::Approve, Some(1)),
        ];
        assert!(matches!(
            tally(&s, 1, &same_twice, None).decision,
            Decision::Open { .. }
        ));
        let two = [
            review("a", ReviewAction::Approve, Some(1)),
            review("b", ReviewAction::Approve, Some(1)),
        ];
        assert_eq!(
            tally(&s, 1, &two, None).decision,
            Decision::Approved {
                actors: vec!["a".into(), "b".into()],
                values: None
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
            None,
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
            None,
        );
        assert!(matches!(t.decision, Decision::Rejected { ref actor, .. } if actor == "user:a"));
        let changed_mind = tally(
            &s,
            1,
            &[
                review("user:a", ReviewAction::Reject, Some(1)),
                review("user:a", ReviewAction::Approve, Some(1)),
            ],
            None,
        );
        assert!(matches!(changed_mind.decision, Decision::Approved { .. }));
    }

    #[test]
    fn emails_match_with_or_without_prefix() {
        let s = spec(&["email:Ann@example.com"], 1);
        let ann = UserInfo::new("ann@example.com", Vec::<String>::new());
        assert_eq!(eligibility(&s, &ann), Some(Eligibility::Named));
        assert_eq!(eligibility(&s, &UserInfo::new("ann", ["x"])), None);
        let u = spec(&["user:ann"], 1);
        assert_eq!(
            eligibility(&u, &UserInfo::new("Ann", Vec::<String>::new())),
            None
        );
        assert_eq!(
            eligibility(&u, &UserInfo::new("ann", Vec::<String>::new())),
            Some(Eligibility::Named)
        );
    }

    #[test]
    fn groups_make_reviewers_eligible_and_are_recorded() {
        let s = spec(&["alice", "group:release-managers"], 1);
        let bob = UserInfo::new("bob", ["release-managers"]);
        let eve = UserInfo::new("eve", ["developers"]);
        assert_eq!(
            eligibility(&s, &bob),
            Some(Eligibility::Group("group:release-managers".into()))
        );
        assert_eq!(eligibility(&s, &eve), None);
        // A group review counts only with its recorded `via`.
        let mut r = review("bob", ReviewAction::Approve, Some(1));
        assert!(!counts(&s, &r));
        r.via = Some("group:release-managers".into());
        assert!(counts(&s, &r));
        r.via = Some("group:other".into());
        assert!(!counts(&s, &r));
    }

    #[test]
    fn the_creator_cannot_approve_but_may_reject() {
        let s = spec(&["alice", "bob"], 1);
        let own = [review("alice", ReviewAction::Approve, Some(1))];
        let t = tally(&s, 1, &own, Some("alice"));
        assert!(matches!(t.decision, Decision::Open { .. }));
        assert_eq!(t.self_approvals, 1);
        let mut reject = review("user:alice", ReviewAction::Reject, Some(1));
        reject.comment = Some("wrong target".into());
        let t = tally(&s, 1, &[reject], Some("alice"));
        assert!(matches!(t.decision, Decision::Rejected { .. }));
    }

    #[test]
    fn approvers_must_agree_on_the_values() {
        let s = spec(&[], 2);
        let a = with_values(
            review("a", ReviewAction::Approve, Some(1)),
            serde_json::json!({"version": "1.2.0"}),
        );
        let b = with_values(
            review("b", ReviewAction::Approve, Some(1)),
            serde_json::json!({"version": "1.3.0"}),
        );
        let c = with_values(
            review("c", ReviewAction::Approve, Some(1)),
            serde_json::json!({"version": "1.3.0"}),
        );
        let t = tally(&s, 1, &[a.clone(), b.clone()], None);
        assert!(matches!(t.decision, Decision::Open { .. }));
        assert_eq!(t.value_sets, 2);
        let t = tally(&s, 1, &[a, b, c], None);
        assert_eq!(
            t.decision,
            Decision::Approved {
                actors: vec!["b".into(), "c".into()],
                values: serde_json::json!({"version": "1.3.0"}).as_object().cloned()
            }
        );
    }
}
