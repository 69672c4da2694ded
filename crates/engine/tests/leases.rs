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

fn acquires(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::AcquireLease { node, .. } => Some(node.to_string()),
            _ => None,
        })
        .collect()
}

fn mutex(id: &str, key: &str) -> serde_json::Value {
    json!({"id": id, "kind": "Task", "concurrency": {"key": key, "limit": 1}})
}

#[test]
fn after_a_restart_holders_ask_for_their_lease_before_waiters() {
    // `x` comes first in the engine's order but waits; `y` holds the one slot and runs.
    let plan = plan(json!([mutex("x", "db"), mutex("y", "db")]), json!([]));
    let mut run = Run::of(&plan);
    let step = run.start(json!({}));
    assert_eq!(acquires(&step.commands), ["x", "y"]);
    let step = granted(&mut run, "y", "db", 0, 3);
    assert_eq!(dispatched_ids(&step), ["y"]);
    assert_eq!(run.phase("x"), NodePhase::Ready);
    let resumed = Execution::fold(run.exec.graph().clone(), &run.journal).unwrap();
    assert_eq!(
        acquires(&resumed.recover()),
        ["y", "x"],
        "the running holder asks first, so the waiter cannot take its slot"
    );
    run.check_journal();
}

#[test]
fn under_max_parallel_a_task_asks_for_its_lease_only_with_a_slot_to_start_in() {
    let plan = plan(json!([mutex("x", "kx"), mutex("y", "ky")]), json!([]));
    let mut run = Run::of(&plan);
    let step = run.start_with(json!({}), Some(1), false);
    // Asking counts against `maxParallel`: `y` does not take a lease it could not use.
    assert_eq!(acquires(&step.commands), ["x"]);
    let step = granted(&mut run, "x", "kx", 0, 1);
    assert_eq!(dispatched_ids(&step), ["x"]);
    let step = run.succeed("x", 1, json!({}));
    assert_eq!(acquires(&step.commands), ["y"]);
    assert!(dispatched(&step).is_empty());
    let step = granted(&mut run, "y", "ky", 0, 2);
    assert_eq!(dispatched_ids(&step), ["y"]);
    run.succeed("y", 1, json!({}));
    assert_eq!(
        run.exec.phase(),
        planspec_model::execution::ExecutionPhase::Succeeded
    );
    run.check_journal();
}

fn big_matrix(n: usize, key: &str) -> Arc<planspec_engine::ExecGraph> {
    let values: Vec<serde_json::Value> = (0..n).map(|i| json!(i)).collect();
    let p = plan(
        json!([{"id": "m", "kind": "Task",
                "matrix": {"axes": [{"name": "i", "values": values}]},
                "concurrency": {"key": key, "limit": 1}}]),
        json!([]),
    );
    let limits = planspec_engine::Limits {
        max_matrix_instances: n,
        ..planspec_engine::Limits::default()
    };
    Arc::new(planspec_engine::compile_with(&p, None, limits).unwrap())
}

/// 20,000 instances behind one mutex: the ones waiting for the lease are parked, not
/// rescanned on every step (which cost O(n²) admission checks: minutes in a debug build).
#[test]
fn a_large_matrix_behind_a_mutex_runs_in_linear_work() {
    let started = std::time::Instant::now();
    let mut run = Run::new(big_matrix(20_000, "db"));
    let step = run.start(json!({}));
    let ids = acquires(&step.commands);
    assert_eq!(ids.len(), 20_000);
    for (token, id) in ids.iter().enumerate() {
        let step = granted(&mut run, id, "db", 0, token as u64 + 1);
        assert_eq!(dispatched_ids(&step), [id.as_str()]);
        run.succeed(id, 1, json!({}));
    }
    assert_eq!(
        run.exec.phase(),
        planspec_model::execution::ExecutionPhase::Succeeded
    );
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
}

/// 20,000 running instances, each holding its own lease, re-granted after a restart: each
/// grant resumes its own instance from that instance alone (it re-derived the whole run's
/// recovery per grant: O(K·n)).
#[test]
fn many_leases_granted_anew_after_a_restart_resume_in_linear_work() {
    let mut run = Run::new(big_matrix(20_000, "k-${{ matrix.i }}"));
    let step = run.start(json!({}));
    let ids = acquires(&step.commands);
    for (token, id) in ids.iter().enumerate() {
        let key = format!("k-{}", token);
        granted(&mut run, id, &key, 0, token as u64 + 1);
    }
    assert_eq!(run.exec.state().counters.running as usize, 20_001);
    let started = std::time::Instant::now();
    let mut resumed = Execution::fold(run.exec.graph().clone(), &run.journal).unwrap();
    assert_eq!(acquires(&resumed.recover()).len(), 20_000);
    for (token, id) in ids.iter().enumerate() {
        let step = resumed
            .handle(Input::LeaseAcquired {
                at: run.now,
                node: NodeId::new(id.as_str()),
                key: format!("k-{}", token),
                slot: 0,
                token: 100_000 + token as u64,
                holder: "another runtime".into(),
            })
            .unwrap();
        assert_eq!(dispatched_ids(&step), [id.as_str()]);
    }
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
}
