//! Keyed concurrency: a Task's `concurrency` lease is asked for before its attempt dispatches,
//! held across its retries, released by whatever ends the node, and asked for again after a
//! restart before a running attempt resumes.

mod common;

use common::*;
use planspec_engine::{compile, Command, Decision, Execution, Input, NodePhase, ReasonCode};
use planspec_model::{Goal, NodeId};
use serde_json::json;
use std::sync::Arc;

fn leased(key: &str, limit: u32) -> serde_json::Value {
    json!({"id": "deploy", "kind": "Task", "concurrency": {"key": key, "limit": limit},
           "retries": 1, "retryPolicy": {"backoff": {"initial": "1s"}}})
}

fn acquire(step: &planspec_engine::Step) -> Option<(String, String, u32, u32)> {
    step.commands.iter().find_map(|c| match c {
        Command::AcquireLease {
            node,
            key,
            limit,
            priority,
        } => Some((node.to_string(), key.clone(), *limit, *priority)),
        _ => None,
    })
}

fn release(step: &planspec_engine::Step) -> Option<(String, Option<u32>, Option<u64>)> {
    step.commands.iter().find_map(|c| match c {
        Command::ReleaseLease {
            node, slot, token, ..
        } => Some((node.to_string(), *slot, *token)),
        _ => None,
    })
}

fn granted(run: &mut Run, node: &str, key: &str, slot: u32, token: u64) -> planspec_engine::Step {
    let at = run.now;
    run.send(Input::LeaseAcquired {
        at,
        node: NodeId::new(node),
        key: key.into(),
        slot,
        token,
        holder: "test".into(),
    })
}

#[test]
fn a_task_waits_for_its_lease_then_dispatches_and_releases_it_when_it_ends() {
    let plan = plan(
        json!([leased("deploy-${{ parameters.env }}", 1)]),
        json!([]),
    );
    let mut run = Run::of(&plan);
    let step = run.start(json!({"env": "prod"}));
    assert!(
        dispatched(&step).is_empty(),
        "nothing runs without the lease"
    );
    assert_eq!(
        acquire(&step),
        Some(("deploy".into(), "deploy-prod".into(), 1, 0))
    );
    assert!(step.decisions.iter().any(|d| matches!(d,
        Decision::LeaseRequested { key, limit: 1, .. } if key == "deploy-prod")));
    assert_eq!(run.phase("deploy"), NodePhase::Ready);

    let step = granted(&mut run, "deploy", "deploy-prod", 0, 42);
    assert!(step.decisions.iter().any(|d| matches!(
        d,
        Decision::LeaseGranted {
            slot: 0,
            token: 42,
            ..
        }
    )));
    assert_eq!(dispatched(&step), vec![("deploy".into(), 1)]);
    assert!(release(&step).is_none());

    // A second grant of the same tenure changes nothing.
    let step = granted(&mut run, "deploy", "deploy-prod", 0, 42);
    assert_eq!(ignored(&step), Some(ReasonCode::NotWaiting));
    assert!(dispatched(&step).is_empty() && release(&step).is_none());

    let step = run.succeed("deploy", 1, json!({}));
    assert_eq!(release(&step), Some(("deploy".into(), Some(0), Some(42))));
    assert!(run.exec.node("deploy").unwrap().lease.is_none());
    run.check_journal();
}

#[test]
fn the_lease_is_held_across_retries_and_released_by_the_last_failure() {
    let plan = plan(json!([leased("db", 2)]), json!([]));
    let mut run = Run::of(&plan);
    run.start(json!({}));
    granted(&mut run, "deploy", "db", 1, 7);
    let step = run.fail("deploy", 1, ReasonCode::ProviderFailed, true);
    assert!(release(&step).is_none(), "kept while waiting to retry");
    let (timer, _) = timers(&step).pop().expect("a backoff timer");
    run.advance(5_000);
    let step = run.fire(timer);
    assert!(acquire(&step).is_none(), "the lease is still held");
    assert_eq!(dispatched(&step), vec![("deploy".into(), 2)]);
    let step = run.fail("deploy", 2, ReasonCode::ProviderFailed, true);
    assert_eq!(release(&step), Some(("deploy".into(), Some(1), Some(7))));
    run.check_journal();
}

#[test]
fn cancel_stops_the_wait_and_a_late_grant_is_handed_back() {
    let plan = plan(json!([leased("db", 1)]), json!([]));
    let mut run = Run::of(&plan);
    run.start(json!({}));
    let step = run.cancel(false);
    assert_eq!(run.phase("deploy"), NodePhase::Cancelled);
    assert_eq!(release(&step), Some(("deploy".into(), None, None)));
    let step = granted(&mut run, "deploy", "db", 0, 9);
    assert!(ignored(&step).is_some());
    assert_eq!(release(&step), Some(("deploy".into(), Some(0), Some(9))));
    assert!(dispatched(&step).is_empty());
    run.check_journal();
}

#[test]
fn force_cancel_releases_the_lease_of_a_running_task() {
    let plan = plan(json!([leased("db", 1)]), json!([]));
    let mut run = Run::of(&plan);
    run.start(json!({}));
    granted(&mut run, "deploy", "db", 0, 3);
    let step = run.cancel(true);
    assert_eq!(release(&step), Some(("deploy".into(), Some(0), Some(3))));
    run.check_journal();
}

#[test]
fn after_a_restart_a_running_task_resumes_only_once_its_lease_is_granted_anew() {
    let plan = plan(
        json!([leased("db", 1), task("after", &["deploy"])]),
        json!([]),
    );
    let mut run = Run::of(&plan);
    run.start(json!({}));
    let step = granted(&mut run, "deploy", "db", 0, 5);
    let key = step
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Dispatch {
                idempotency_key, ..
            } => Some(idempotency_key.clone()),
            _ => None,
        })
        .unwrap();

    // The runtime dies; a new one folds the journal.
    let mut resumed = Execution::fold(run.exec.graph().clone(), &run.journal).unwrap();
    let commands = resumed.recover();
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Command::AcquireLease { key, .. } if key == "db")),
        "{commands:?}"
    );
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, Command::Dispatch { .. })),
        "no dispatch before the lease is taken anew: {commands:?}"
    );
    let step = resumed
        .handle(Input::LeaseAcquired {
            at: run.now + 30_000,
            node: NodeId::new("deploy"),
            key: "db".into(),
            slot: 0,
            token: 11,
            holder: "another runtime".into(),
        })
        .unwrap();
    let again: Vec<_> = step
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Dispatch {
                attempt,
                idempotency_key,
                ..
            } => Some((*attempt, idempotency_key.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(again, vec![(1, key)], "the same attempt, with the same key");
    assert_eq!(
        resumed
            .node("deploy")
            .unwrap()
            .lease
            .as_ref()
            .unwrap()
            .token,
        Some(11)
    );
}

#[test]
fn a_key_that_cannot_be_evaluated_fails_the_node() {
    let bad = plan(
        json!([leased("deploy-${{ parameters.env.name }}", 1)]),
        json!([]),
    );
    let mut run = Run::of(&bad);
    let step = run.start(json!({"env": 3}));
    assert!(acquire(&step).is_none());
    assert_eq!(run.phase("deploy"), NodePhase::Failed);
    assert_eq!(run.reason("deploy"), Some(ReasonCode::InterpolationFailed));
    run.check_journal();

    let blank = plan(json!([leased("${{ parameters.env }}", 1)]), json!([]));
    let mut run = Run::of(&blank);
    run.start(json!({"env": "  "}));
    assert_eq!(run.reason("deploy"), Some(ReasonCode::InterpolationFailed));
}

#[test]
fn keys_that_read_what_they_may_not_are_refused_at_compile_time() {
    for (key, expect) in [
        ("   ", "the key is empty"),
        ("a-${{ nodes.other.outputs.x }}", "not upstream"),
        ("a-${{ nodes.nope.outputs.x }}", "nope"),
        ("a-${{ secrets.x }}", "secrets"),
        ("a-${{ ", "no closing"),
    ] {
        let refused = plan(json!([leased(key, 1), task("other", &[])]), json!([]));
        let error = compile(&refused, None).expect_err(key).to_string();
        assert!(error.contains(expect), "{key}: {error}");
    }
    let reads = plan(
        json!([task("build", &[]), {"id": "deploy", "kind": "Task", "dependsOn": ["build"],
               "concurrency": {"key": "deploy-${{ nodes.build.outputs.env }}"}}]),
        json!([]),
    );
    let mut run = Run::new(Arc::new(compile(&reads, None).unwrap()));
    run.start(json!({}));
    let step = run.succeed("build", 1, json!({"env": "eu"}));
    assert_eq!(acquire(&step).map(|a| a.1), Some("deploy-eu".into()));
}

#[test]
fn the_goal_priority_goes_with_the_request_and_the_key_counts_in_the_digest() {
    let goal: Goal = serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "metadata": {"name": "g"},
        "spec": {"description": "urgent", "priority": 700}
    }))
    .unwrap();
    let one = plan(json!([leased("db", 1)]), json!([]));
    let mut run = Run::new(Arc::new(compile(&one, Some(&goal)).unwrap()));
    let step = run.start(json!({}));
    assert_eq!(acquire(&step).map(|a| a.3), Some(700));

    let other = plan_with_limit(2);
    assert_ne!(
        compile(&one, None).unwrap().digest(),
        compile(&other, None).unwrap().digest()
    );
}

fn plan_with_limit(limit: u32) -> planspec_model::Plan {
    plan(json!([leased("db", limit)]), json!([]))
}

#[test]
fn each_matrix_instance_asks_for_the_lease_of_its_own_coordinates() {
    let plan = plan(
        json!([{"id": "deploy", "kind": "Task",
                "matrix": {"axes": [{"name": "region", "values": ["eu", "us"]}]},
                "concurrency": {"key": "region-${{ matrix.region }}"}}]),
        json!([]),
    );
    let mut run = Run::of(&plan);
    let step = run.start(json!({}));
    assert!(
        dispatched(&step).is_empty(),
        "no instance runs without its lease"
    );
    let mut keys: Vec<String> = step
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::AcquireLease { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    keys.sort();
    assert_eq!(keys, ["region-eu", "region-us"]);
    run.check_journal();
}
