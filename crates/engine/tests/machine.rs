//! The state machine, scenario by scenario. Every scenario ends by checking that folding its
//! journal gives the live state and that replaying it agrees.

mod common;

use common::*;
use planspec_engine::{
    idempotency_key, Command, Decision, Execution, Input, NodePhase, Outcome, ReasonCode, TimerId,
};
use planspec_model::execution::ExecutionPhase;
use planspec_model::NodeId;
use serde_json::{json, Value};

#[test]
fn nodes_run_in_dependency_order() {
    let p = plan(
        json!([task("c", &["b"]), task("b", &["a"]), task("a", &[])]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    assert_eq!(dispatched(&step), [("a".to_string(), 1)]);
    assert_eq!(run.phase("b"), NodePhase::Pending);
    assert_eq!(dispatched_ids(&run.succeed("a", 1, json!({}))), ["b"]);
    assert_eq!(dispatched_ids(&run.succeed("b", 1, json!({}))), ["c"]);
    let step = run.succeed("c", 1, json!({"done": true}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    assert!(step.commands.iter().any(|c| matches!(
        c,
        Command::Finish {
            phase: ExecutionPhase::Succeeded,
            ..
        }
    )));
    assert_eq!(run.exec.counters().succeeded, 3);
    assert_eq!(
        run.outputs("c"),
        json!({"done": true}).as_object().cloned().unwrap()
    );
    run.check_journal();
}

#[test]
fn parallel_branches_start_together_and_join() {
    let p = plan(
        json!([
            task("root", &[]),
            task("left", &["root"]),
            task("right", &["root"]),
            task("join", &["left", "right"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    assert_eq!(
        dispatched_ids(&run.succeed("root", 1, json!({}))),
        ["left", "right"]
    );
    assert!(dispatched(&run.succeed("right", 1, json!({}))).is_empty());
    assert_eq!(run.phase("join"), NodePhase::Pending);
    assert_eq!(dispatched_ids(&run.succeed("left", 1, json!({}))), ["join"]);
    run.check_journal();
}

#[test]
fn a_failure_skips_hard_dependents_and_spares_independent_branches() {
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &["a"]),
            task("c", &["b"]),
            task("other", &[])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, true);
    assert_eq!(run.phase("b"), NodePhase::Skipped);
    assert_eq!(run.reason("b"), Some(ReasonCode::UpstreamFailed));
    assert_eq!(run.reason("c"), Some(ReasonCode::UpstreamFailed));
    assert_eq!(
        run.exec.node("c").unwrap().message.as_deref(),
        Some("`a` failed"),
        "the root failure carries down"
    );
    assert!(completed(&step).is_none(), "`other` still runs");
    let step = run.succeed("other", 1, json!({}));
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Failed, Some(ReasonCode::NodeFailed)))
    );
    assert!(run
        .exec
        .state()
        .message
        .contains("node `a` failed (provider_failed)"));
    run.check_journal();
}

#[test]
fn soft_edges_order_but_do_not_block() {
    let p = plan(
        json!([task("a", &[]), task("b", &[])]),
        json!([{"from": "a", "to": "b", "type": "soft"}]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    assert_eq!(dispatched_ids(&step), ["a"], "b waits for a");
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_ids(&step), ["b"], "a's failure does not block b");
    let step = run.succeed("b", 1, json!({}));
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Failed, Some(ReasonCode::NodeFailed)))
    );
    run.check_journal();
}

#[test]
fn when_false_skips_and_the_skip_propagates_along_hard_edges_only() {
    let p = plan(
        json!([
            {"id": "deploy", "kind": "Task", "when": "parameters.env == 'prod'"},
            task("verify", &["deploy"]),
            task("after", &[]),
            task("report", &[])
        ]),
        json!([{"from": "deploy", "to": "after", "type": "soft"}]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({"env": "dev"}));
    assert_eq!(run.phase("deploy"), NodePhase::Skipped);
    assert_eq!(run.reason("deploy"), Some(ReasonCode::WhenFalse));
    assert_eq!(run.reason("verify"), Some(ReasonCode::UpstreamSkipped));
    assert_eq!(dispatched_ids(&step), ["after", "report"]);
    run.succeed("after", 1, json!({}));
    let step = run.succeed("report", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();

    let mut run = Run::of(&p);
    let step = run.start(json!({"env": "prod"}));
    assert_eq!(dispatched_ids(&step), ["deploy", "report"]);
}

#[test]
fn when_errors_and_non_booleans_fail_the_node() {
    let p = plan(
        json!([
            {"id": "a", "kind": "Task", "when": "parameters.missing == 1"},
            {"id": "b", "kind": "Task", "when": "parameters.n"},
            {"id": "c", "kind": "Task", "when": "manualApproval"}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({"n": 3}));
    assert_eq!(run.reason("a"), Some(ReasonCode::WhenFailed));
    assert_eq!(run.reason("b"), Some(ReasonCode::WhenFailed));
    assert!(run
        .exec
        .node("b")
        .unwrap()
        .message
        .as_deref()
        .unwrap()
        .contains("a number, not a boolean"));
    assert_eq!(
        dispatched_ids(&step),
        ["c"],
        "an opaque label is never evaluated"
    );
    assert!(!run.exec.graph().warnings().is_empty());
    run.check_journal();
}

#[test]
fn group_when_and_dependencies_apply_to_members() {
    let p = plan(
        json!([
            task("setup", &[]),
            {"id": "prod-only", "kind": "Group", "children": ["x", "y"], "dependsOn": ["setup"],
             "when": "nodes.setup.outputs.target == 'prod'"},
            task("x", &[]),
            task("y", &["x"]),
            task("end", &["prod-only"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.succeed("setup", 1, json!({"target": "staging"}));
    assert_eq!(run.reason("x"), Some(ReasonCode::WhenFalse));
    // `y` depends on `x`: dependencies are settled before conditions.
    assert_eq!(run.reason("y"), Some(ReasonCode::UpstreamSkipped));
    assert_eq!(run.reason("end"), Some(ReasonCode::UpstreamSkipped));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();

    let mut run = Run::of(&p);
    run.start(json!({}));
    assert_eq!(
        dispatched_ids(&run.succeed("setup", 1, json!({"target": "prod"}))),
        ["x"]
    );
}

#[test]
fn retries_back_off_then_succeed() {
    let p = plan(
        json!([{"id": "flaky", "kind": "Task", "retries": 2,
                "retryPolicy": {"backoff": {"initial": "10s", "max": "1m", "factor": 3}}}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.fail("flaky", 1, ReasonCode::ProviderFailed, true);
    let all = timers(&step);
    assert_eq!(all.len(), 1, "one backoff timer: {:?}", step.commands);
    let (timer, due) = all[0].clone();
    assert_eq!(
        timer,
        TimerId::Backoff {
            node: "flaky".into(),
            attempt: 2
        }
    );
    let wait = due - run.now;
    assert!((5_000..=10_000).contains(&wait), "first wait {wait}");
    assert!(matches!(
        step.decisions[..],
        [Decision::RetryScheduled { attempt: 2, .. }]
    ));
    assert_eq!(run.phase("flaky"), NodePhase::Running);

    run.advance(wait);
    let step = run.fire(timer);
    assert_eq!(dispatched(&step), [("flaky".to_string(), 2)]);
    let key2 = match &step.commands[0] {
        Command::Dispatch {
            idempotency_key, ..
        } => idempotency_key.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(key2, idempotency_key("uid-1", "flaky", 2));
    assert_ne!(key2, idempotency_key("uid-1", "flaky", 1));

    let step = run.fail("flaky", 2, ReasonCode::ProviderFailed, true);
    let (timer, due) = timers(&step)[0].clone();
    let wait = due - run.now;
    assert!((15_000..=30_000).contains(&wait), "second wait {wait} (×3)");
    run.advance(wait);
    run.fire(timer);
    let step = run.succeed("flaky", 3, json!({"ok": 1}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    assert_eq!(run.exec.node("flaky").unwrap().attempt, 3);
    run.check_journal();
}

#[test]
fn retries_run_out() {
    let p = plan(
        json!([{"id": "a", "kind": "Task", "retries": 1}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.fail("a", 1, ReasonCode::ProviderUnavailable, true);
    let (timer, _) = timers(&step)[0].clone();
    run.fire(timer);
    let step = run.fail("a", 2, ReasonCode::ProviderUnavailable, true);
    assert!(matches!(
        step.decisions[0],
        Decision::NodeFailed {
            attempt: 2,
            reason: ReasonCode::ProviderUnavailable,
            ..
        }
    ));
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Failed, Some(ReasonCode::NodeFailed)))
    );
    run.check_journal();
}

#[test]
fn retry_policy_decides_which_failures_retry() {
    let p = plan(
        json!([
            {"id": "only-timeouts", "kind": "Task", "retries": 3,
             "retryPolicy": {"retryOn": ["node_timeout"]}},
            {"id": "defaults", "kind": "Task", "retries": 3},
            {"id": "not-retryable", "kind": "Task", "retries": 3}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    // Not in retryOn.
    let step = run.fail("only-timeouts", 1, ReasonCode::ProviderFailed, true);
    assert!(matches!(step.decisions[0], Decision::NodeFailed { .. }));
    // The default set does not retry a rejected request.
    let step = run.fail("defaults", 1, ReasonCode::ProviderRejected, true);
    assert!(matches!(step.decisions[0], Decision::NodeFailed { .. }));
    // The provider says retrying cannot help.
    let step = run.fail("not-retryable", 1, ReasonCode::ProviderFailed, false);
    assert!(matches!(step.decisions[0], Decision::NodeFailed { .. }));
    run.check_journal();
}

#[test]
fn node_timeout_kills_the_attempt_and_retries() {
    let p = plan(
        json!([{"id": "slow", "kind": "Task", "timeout": "30s", "retries": 1}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    let timeout = TimerId::Timeout {
        node: "slow".into(),
        attempt: 1,
    };
    assert_eq!(timers(&step), [(timeout.clone(), T0 + 30_000)]);
    assert!(matches!(
        step.commands[0],
        Command::Dispatch {
            timeout_ms: Some(30_000),
            ..
        }
    ));
    run.advance(30_000);
    let step = run.fire(timeout.clone());
    assert!(step.commands.iter().any(|c| matches!(
        c,
        Command::Kill { node, attempt: 1, .. } if node == "slow"
    )));
    assert!(matches!(
        step.decisions[0],
        Decision::RetryScheduled {
            reason: ReasonCode::NodeTimeout,
            killed: true,
            ..
        }
    ));
    let (backoff, _) = timers(&step).pop().expect("a backoff timer");
    // The late result of the killed attempt changes nothing.
    let step = run.succeed("slow", 1, json!({}));
    assert_eq!(ignored(&step), Some(ReasonCode::NotWaiting));
    // The same timer firing again is stale.
    assert_eq!(ignored(&run.fire(timeout)), Some(ReasonCode::StaleTimer));
    run.fire(backoff);
    let step = run.succeed("slow", 2, json!({}));
    assert!(step.commands.iter().any(|c| matches!(
        c,
        Command::CancelTimer {
            timer: TimerId::Timeout { attempt: 2, .. }
        }
    )));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn the_goal_timeout_is_the_execution_deadline() {
    let p = plan(
        json!([task("a", &[]), task("b", &["a"]), {"id": "c", "kind": "Task", "retries": 3}]),
        json!([]),
    );
    let g = goal("1h");
    let graph = std::sync::Arc::new(planspec_engine::compile(&p, Some(&g)).unwrap());
    let mut run = Run::new(graph);
    let step = run.start(json!({}));
    assert!(timers(&step).contains(&(TimerId::Deadline { round: 0 }, T0 + 3_600_000)));
    run.fail("c", 1, ReasonCode::ProviderFailed, true);
    run.advance(3_600_000);
    let step = run.fire(TimerId::Deadline { round: 0 });
    assert_eq!(run.reason("a"), Some(ReasonCode::ExecutionDeadlineExceeded));
    assert_eq!(run.phase("a"), NodePhase::Failed);
    assert_eq!(run.phase("b"), NodePhase::Cancelled);
    assert_eq!(run.phase("c"), NodePhase::Failed, "waiting for a retry");
    let kills: Vec<&Command> = step
        .commands
        .iter()
        .filter(|c| matches!(c, Command::Kill { .. }))
        .collect();
    assert_eq!(kills.len(), 1, "only the running attempt of `a` is killed");
    assert_eq!(
        completed(&step),
        Some((
            ExecutionPhase::Failed,
            Some(ReasonCode::ExecutionDeadlineExceeded)
        ))
    );
    run.check_journal();
}

#[test]
fn the_goal_is_readable_in_expressions() {
    let p = plan(
        json!([{"id": "a", "kind": "Task", "when": "goal.constraints.budget > 3",
                "inputs": {"goal": "${{ goal.description }}", "plan": "${{ plan.name }}",
                           "run": "${{ execution.uid }}"}}]),
        json!([]),
    );
    let g = goal("2h");
    let graph = std::sync::Arc::new(planspec_engine::compile(&p, Some(&g)).unwrap());
    let mut run = Run::new(graph);
    let step = run.start(json!({}));
    match &step.commands[..] {
        [Command::StartTimer { .. }, Command::Dispatch { inputs, .. }] => {
            assert_eq!(
                *inputs,
                json!({"goal": "ship it", "plan": "p", "run": "uid-1"})
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gates_open_and_are_approved_or_rejected() {
    let p = plan(
        json!([
            task("build", &[]),
            {"id": "approve", "kind": "Gate", "gateRef": {"name": "release"}, "dependsOn": ["build"]},
            task("deploy", &["approve"])
        ]),
        json!([]),
    );
    for approved in [true, false] {
        let mut run = Run::of(&p);
        run.start(json!({}));
        let step = run.succeed("build", 1, json!({}));
        assert!(matches!(
            &step.commands[..],
            [Command::OpenGate { node, gate_ref, .. }] if node == "approve" && gate_ref.name == "release"
        ));
        assert_eq!(run.phase("approve"), NodePhase::Running);
        assert_eq!(
            run.exec.node("approve").unwrap().activity,
            Some(planspec_engine::Activity::Gate)
        );
        let step = run.send(Input::GateResolved {
            at: run.now,
            node: NodeId::new("approve"),
            approved,
            by: Some("user:bob".into()),
            comment: Some("looks risky".into()),
            outputs: None,
            timed_out: false,
        });
        if approved {
            assert_eq!(dispatched_ids(&step), ["deploy"]);
            assert_eq!(run.outputs("approve")["by"], json!("user:bob"));
        } else {
            assert_eq!(run.reason("approve"), Some(ReasonCode::GateRejected));
            assert_eq!(
                run.exec.node("approve").unwrap().message.as_deref(),
                Some("rejected by user:bob: looks risky")
            );
            assert_eq!(run.reason("deploy"), Some(ReasonCode::UpstreamFailed));
            assert_eq!(
                completed(&step),
                Some((ExecutionPhase::Failed, Some(ReasonCode::NodeFailed)))
            );
        }
        run.check_journal();
    }
}

#[test]
fn approved_values_become_the_gate_outputs_and_a_timeout_rejects_as_gate_timeout() {
    let p = plan(
        json!([
            {"id": "approve", "kind": "Gate", "gateRef": {"name": "release"}},
            {"id": "deploy", "kind": "Task", "dependsOn": ["approve"],
             "inputs": {"version": "${{ nodes.approve.outputs.version }}",
                        "canary": "${{ nodes.approve.outputs.canary }}"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let values = json!({"version": "1.4.2", "canary": 10, "approved": "forged"});
    let step = run.send(Input::GateResolved {
        at: run.now,
        node: NodeId::new("approve"),
        approved: true,
        by: Some("bob".into()),
        comment: None,
        outputs: values.as_object().cloned(),
        timed_out: false,
    });
    match &step.commands[..] {
        [Command::Dispatch { node, inputs, .. }] if node == "deploy" => {
            assert_eq!(*inputs, json!({"version": "1.4.2", "canary": 10}))
        }
        other => panic!("{other:?}"),
    }
    // The decision's own outputs win a clash with a value of the same name.
    assert_eq!(run.outputs("approve")["approved"], json!(true));
    assert_eq!(run.outputs("approve")["by"], json!("bob"));
    run.check_journal();

    let mut run = Run::of(&p);
    run.start(json!({}));
    run.send(Input::GateResolved {
        at: run.now,
        node: NodeId::new("approve"),
        approved: false,
        by: Some("system:planspec".into()),
        comment: Some("not decided within 30m".into()),
        outputs: None,
        timed_out: true,
    });
    assert_eq!(run.reason("approve"), Some(ReasonCode::GateTimeout));
    assert_eq!(
        run.exec.node("approve").unwrap().message.as_deref(),
        Some("timed out: not decided within 30m")
    );
    run.check_journal();
}

#[test]
fn externals_complete_by_an_event_or_time_out() {
    let p = plan(
        json!([
            {"id": "wait", "kind": "External", "externalRef": {"type": "manual"}, "timeout": "1h",
             "pollInterval": "30s"},
            task("next", &["wait"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    assert!(matches!(
        &step.commands[..],
        [
            Command::WatchExternal {
                poll_interval_ms: Some(30_000),
                ..
            },
            Command::StartTimer { .. }
        ]
    ));
    let step = run.send(Input::ExternalCompleted {
        at: run.now,
        node: NodeId::new("wait"),
        outcome: Outcome::Succeeded {
            outputs: json!({"url": "x"}).as_object().cloned().unwrap(),
            cost_usd: None,
        },
    });
    assert_eq!(dispatched_ids(&step), ["next"]);
    run.check_journal();

    let mut run = Run::of(&p);
    run.start(json!({}));
    run.advance(3_600_000);
    let step = run.fire(TimerId::Timeout {
        node: "wait".into(),
        attempt: 1,
    });
    assert_eq!(run.reason("wait"), Some(ReasonCode::NodeTimeout));
    assert!(step
        .commands
        .iter()
        .any(|c| matches!(c, Command::Kill { .. })));
    run.check_journal();
}

#[test]
fn acceptance_criteria_decide_after_the_provider_succeeds() {
    let p = plan(
        json!([{"id": "build", "kind": "Task", "retries": 1, "timeout": "10m",
        "acceptanceCriteria": [
            {"type": "artifact_exists", "name": "binary", "path": "target/app"},
            {"type": "manual", "name": "looks-good", "required": false}
        ]}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.succeed("build", 1, json!({"size": 10}));
    assert!(matches!(
        &step.commands[..],
        [Command::CancelTimer { .. }, Command::EvaluateCriteria { criteria, outputs, .. }]
            if criteria.len() == 2 && outputs["size"] == json!(10)
    ));
    assert_eq!(run.phase("build"), NodePhase::Running);
    // A required criterion fails: the attempt fails naming it, and is retried.
    let step = run.verdicts("build", 1, &[("binary", false), ("looks-good", true)]);
    match &step.decisions[0] {
        Decision::RetryScheduled {
            reason: ReasonCode::CriterionFailed,
            message,
            ..
        } => assert!(message.contains("`binary`"), "{message}"),
        other => panic!("{other:?}"),
    }
    let (timer, _) = timers(&step)[0].clone();
    run.fire(timer);
    run.succeed("build", 2, json!({"size": 11}));
    // An advisory failure does not fail the node.
    let step = run.verdicts("build", 2, &[("binary", true), ("looks-good", false)]);
    match &step.decisions[0] {
        Decision::NodeSucceeded {
            advisories,
            outputs,
            ..
        } => {
            assert_eq!(advisories, &["looks-good".to_string()]);
            assert_eq!(outputs["size"], json!(11));
        }
        other => panic!("{other:?}"),
    }
    run.check_journal();
}

#[test]
fn graceful_cancel_lets_running_nodes_finish_and_starts_nothing() {
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &["a"]),
            {"id": "c", "kind": "Task", "retries": 2},
            task("d", &[])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.fail("c", 1, ReasonCode::ProviderFailed, true); // c waits for a retry
    let step = run.cancel(false);
    assert!(step
        .commands
        .iter()
        .all(|c| !matches!(c, Command::Kill { .. })));
    assert_eq!(run.phase("a"), NodePhase::Running);
    assert_eq!(run.phase("b"), NodePhase::Cancelled);
    assert_eq!(
        run.phase("c"),
        NodePhase::Cancelled,
        "no retry after cancel"
    );
    assert!(completed(&step).is_none());
    assert_eq!(
        ignored(&run.cancel(false)),
        Some(ReasonCode::AlreadyCancelling)
    );
    // Running attempts finish; their failure is not retried.
    let step = run.succeed("a", 1, json!({}));
    assert!(dispatched(&step).is_empty(), "b stays cancelled");
    let step = run.fail("d", 1, ReasonCode::ProviderFailed, true);
    assert!(matches!(step.decisions[0], Decision::NodeFailed { .. }));
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Cancelled, Some(ReasonCode::Cancelled)))
    );
    run.check_journal();
}

#[test]
fn force_cancel_kills_running_nodes_and_escalates_a_graceful_cancel() {
    let p = plan(
        json!([task("a", &[]), task("b", &[]), task("c", &["a"])]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.cancel(false);
    let step = run.cancel(true);
    let killed: Vec<String> = step
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Kill { node, .. } => Some(node.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(killed, ["a", "b"]);
    assert_eq!(run.reason("a"), Some(ReasonCode::ForceCancelled));
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Cancelled, Some(ReasonCode::ForceCancelled)))
    );
    // Never downgraded, and late results change nothing.
    assert_eq!(
        ignored(&run.cancel(false)),
        Some(ReasonCode::ExecutionFinished)
    );
    assert_eq!(
        ignored(&run.succeed("a", 1, json!({}))),
        Some(ReasonCode::ExecutionFinished)
    );
    // Recovery re-issues the kills (they may not have reached the runtime).
    let kills = run
        .exec
        .recover()
        .into_iter()
        .filter(|c| matches!(c, Command::Kill { .. }))
        .count();
    assert_eq!(kills, 2);
    run.check_journal();
}

#[test]
fn cancel_before_start_finishes_cancelled() {
    let p = plan(json!([task("a", &[])]), json!([]));
    let mut run = Run::of(&p);
    let step = run.cancel(false);
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Cancelled, Some(ReasonCode::Cancelled)))
    );
    assert_eq!(
        ignored(&run.start(json!({}))),
        Some(ReasonCode::ExecutionFinished)
    );
    run.check_journal();
}

#[test]
fn retry_from_a_node_keeps_upstream_outputs() {
    let p = plan(
        json!([
            task("fetch", &[]),
            {"id": "build", "kind": "Task", "dependsOn": ["fetch"],
             "inputs": {"src": "${{ nodes.fetch.outputs.path }}"}},
            task("test", &["build"]),
            task("docs", &["fetch"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.succeed("fetch", 1, json!({"path": "/src"}));
    run.succeed("docs", 1, json!({}));
    run.fail("build", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(run.exec.phase(), ExecutionPhase::Failed);
    assert_eq!(
        ignored(&run.retry(Some("nope"))),
        Some(ReasonCode::UnknownNode)
    );

    let step = run.retry(None);
    match &step.decisions[0] {
        Decision::ExecutionRetried { nodes, round, .. } => {
            assert_eq!(nodes, &[NodeId::new("build"), NodeId::new("test")]);
            assert_eq!(*round, 1);
        }
        other => panic!("{other:?}"),
    }
    // `build` runs again as attempt 2 with a new key and the kept upstream output.
    match &step.commands[..] {
        [Command::Dispatch {
            node,
            attempt,
            idempotency_key,
            inputs,
            ..
        }] => {
            assert_eq!(node, "build");
            assert_eq!(*attempt, 2);
            assert_eq!(
                idempotency_key,
                &planspec_engine::idempotency_key("uid-1", "build", 2)
            );
            assert_eq!(inputs, &json!({"src": "/src"}));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(run.phase("fetch"), NodePhase::Succeeded);
    assert_eq!(run.phase("docs"), NodePhase::Succeeded);
    assert_eq!(
        ignored(&run.retry(None)),
        Some(ReasonCode::ExecutionNotFinished)
    );
    run.succeed("build", 2, json!({}));
    let step = run.succeed("test", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));

    // A succeeded run can be re-run from a chosen node.
    let step = run.retry(Some("build"));
    assert_eq!(dispatched(&step), [("build".to_string(), 3)]);
    assert_eq!(run.phase("test"), NodePhase::Pending);
    assert_eq!(run.phase("fetch"), NodePhase::Succeeded);
    // A stale result of an earlier round changes nothing.
    assert_eq!(
        ignored(&run.succeed("build", 2, json!({}))),
        Some(ReasonCode::StaleAttempt)
    );
    run.check_journal();
}

#[test]
fn stale_and_unknown_inputs_are_journaled_as_ignored() {
    let p = plan(json!([task("a", &[]), task("b", &["a"])]), json!([]));
    let mut run = Run::of(&p);
    assert_eq!(
        ignored(&run.succeed("a", 1, json!({}))),
        Some(ReasonCode::ExecutionNotStarted)
    );
    run.start(json!({}));
    assert_eq!(
        ignored(&run.start(json!({}))),
        Some(ReasonCode::AlreadyStarted)
    );
    assert_eq!(
        ignored(&run.succeed("zzz", 1, json!({}))),
        Some(ReasonCode::UnknownNode)
    );
    assert_eq!(
        ignored(&run.succeed("a", 7, json!({}))),
        Some(ReasonCode::StaleAttempt)
    );
    assert_eq!(
        ignored(&run.succeed("b", 0, json!({}))),
        Some(ReasonCode::NotWaiting)
    );
    run.succeed("a", 1, json!({"v": 1}));
    let step = run.succeed("a", 1, json!({"v": 2}));
    assert_eq!(ignored(&step), Some(ReasonCode::NotWaiting));
    assert_eq!(step.decisions.len(), 1);
    assert_eq!(run.outputs("a")["v"], json!(1), "never double-applied");
    assert_eq!(
        ignored(&run.fire(TimerId::Deadline { round: 0 })),
        Some(ReasonCode::StaleTimer)
    );
    run.check_journal();
}

#[test]
fn an_execution_started_for_another_graph_is_refused() {
    let p = plan(json!([task("a", &[])]), json!([]));
    let mut exec = Execution::new(graph(&p));
    let err = exec
        .handle(Input::ExecutionStarted {
            at: T0,
            uid: "u".into(),
            name: None,
            namespace: None,
            graph_digest: "sha256:00".into(),
            parameters: Default::default(),
            pinned: Value::Null,
            deadline: None,
            creator: None,
            governance: None,
            max_parallel: None,
            fail_fast: false,
        })
        .unwrap_err();
    assert!(err.to_string().contains("sha256:00"));
    assert_eq!(exec.phase(), ExecutionPhase::Pending);
    assert_eq!(exec.state().applied, 0);
}

#[test]
fn recovery_from_a_journal_prefix_redispatches_the_same_keys() {
    let p = plan(
        json!([
            {"id": "a", "kind": "Task", "timeout": "5m", "inputs": {"x": "${{ parameters.x }}"}},
            {"id": "b", "kind": "Task", "retries": 2},
            {"id": "g", "kind": "Gate", "gateRef": {"name": "ok"}},
            {"id": "c", "kind": "Task", "acceptanceCriteria": [{"type": "manual", "name": "m"}]}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let first = run.start(json!({"x": 41}));
    run.advance(1_000);
    run.fail("b", 1, ReasonCode::ProviderFailed, true);
    run.succeed("c", 1, json!({"k": 1}));

    // The runtime restarts: a snapshot taken earlier plus the rest of the journal.
    let cut = 4;
    let mut restored = Execution::fold(run.exec.graph().clone(), &run.journal[..cut]).unwrap();
    let snapshot = serde_json::to_string(&restored.snapshot()).unwrap();
    restored = Execution::restore(
        run.exec.graph().clone(),
        serde_json::from_str(&snapshot).unwrap(),
    )
    .unwrap();
    for event in &run.journal[cut..] {
        restored.apply(event).unwrap();
    }
    assert_eq!(restored, run.exec);

    let commands = restored.recover();
    let original_key = first
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Dispatch {
                node,
                idempotency_key,
                inputs,
                ..
            } if node == "a" => Some((idempotency_key.clone(), inputs.clone())),
            _ => None,
        })
        .unwrap();
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::Dispatch { node, attempt: 1, idempotency_key, inputs, .. }
            if node == "a" && (idempotency_key.clone(), inputs.clone()) == original_key
    )));
    assert!(commands.contains(&Command::StartTimer {
        timer: TimerId::Timeout {
            node: "a".into(),
            attempt: 1
        },
        due_at: T0 + 300_000,
    }));
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::StartTimer {
            timer: TimerId::Backoff { attempt: 2, .. },
            ..
        }
    )));
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::OpenGate { node, .. } if node == "g")));
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::EvaluateCriteria { node, .. } if node == "c")));
    // Recovery is a function of the state: the live execution says the same.
    assert_eq!(commands, run.exec.recover());
    run.check_journal();
}

#[test]
fn replay_reports_the_first_divergence_precisely() {
    let p = plan(json!([task("a", &[]), task("b", &["a"])]), json!([]));
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.succeed("a", 1, json!({"n": 1}));
    run.succeed("b", 1, json!({}));
    run.check_journal();

    // Edit a journaled decision: the outputs `a` succeeded with.
    let mut edited = run.journal.clone();
    let at = edited
        .iter()
        .position(|e| {
            matches!(
                e,
                planspec_engine::Event::Decision(Decision::NodeSucceeded { .. })
            )
        })
        .unwrap();
    if let planspec_engine::Event::Decision(Decision::NodeSucceeded { outputs, .. }) =
        &mut edited[at]
    {
        outputs.insert("n".into(), json!(2));
    }
    let d = planspec_engine::replay(run.exec.graph().clone(), &edited).unwrap_err();
    assert_eq!(d.index, at);
    assert_eq!(d.detail, "the decisions differ");
    assert_eq!(d.journaled.as_deref(), Some(&edited[at]));
    assert_eq!(d.derived.as_deref(), Some(&run.journal[at]));
    assert!(d.to_string().contains(&format!("journal entry {at}")));

    // A decision removed: the engine derives one the journal lacks.
    let mut short = run.journal.clone();
    short.remove(at);
    let d = planspec_engine::replay(run.exec.graph().clone(), &short).unwrap_err();
    assert_eq!(d.index, at);
    assert_eq!(d.derived.as_deref(), Some(&run.journal[at]));

    // A decision added after the last step.
    let mut long = run.journal.clone();
    let last = long.last().cloned().unwrap();
    long.push(last);
    let d = planspec_engine::replay(run.exec.graph().clone(), &long).unwrap_err();
    assert_eq!(d.index, run.journal.len());
    assert!(d.derived.is_none());
    assert_eq!(
        d.detail,
        "the journal has a decision the engine does not derive"
    );

    // A journal that starts with a decision.
    let d = planspec_engine::replay(run.exec.graph().clone(), &run.journal[1..]).unwrap_err();
    assert_eq!(d.index, 0);
}

#[test]
fn the_journal_round_trips_through_json() {
    let p = plan(
        json!([{"id": "a", "kind": "Task", "retries": 1}, task("b", &["a"])]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({"p": [1, 2]}));
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, true);
    let (timer, _) = timers(&step)[0].clone();
    run.fire(timer);
    run.succeed("a", 2, json!({}));
    run.cancel(true);
    let text: Vec<String> = run
        .journal
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let back: Vec<planspec_engine::Event> = text
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(back, run.journal);
    assert!(
        text[0].starts_with(r#"{"type":"ExecutionStarted""#),
        "{}",
        text[0]
    );
    planspec_engine::replay(run.exec.graph().clone(), &back).unwrap();
}

#[test]
fn interpolation_keeps_types_and_stringifies_embedded_values() {
    let p = plan(
        json!([
            task("a", &[]),
            {"id": "b", "kind": "Task", "dependsOn": ["a"], "inputs": {
                "count": "${{ parameters.n }}",
                "flag": "${{ parameters.n > 2 }}",
                "list": "${{ nodes.a.outputs.items }}",
                "obj": "${{ nodes.a.outputs }}",
                "text": "n=${{ parameters.n }}, items=${{ nodes.a.outputs.items }}, none=${{ null }}",
                "nested": {"deep": ["${{ parameters.name + '!' }}"]},
                "literal": "$${{ not evaluated }}",
                "plain": 7
            }},
            {"id": "c", "kind": "Task", "dependsOn": ["a"],
             "inputs": {"bad": "${{ nodes.a.outputs.missing }}"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({"n": 3, "name": "x"}));
    let step = run.succeed("a", 1, json!({"items": [1, "two"], "z": true}));
    let inputs = step
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Dispatch { node, inputs, .. } if node == "b" => Some(inputs.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        inputs,
        json!({
            "count": 3,
            "flag": true,
            "list": [1, "two"],
            "obj": {"items": [1, "two"], "z": true},
            "text": "n=3, items=[1,\"two\"], none=",
            "nested": {"deep": ["x!"]},
            "literal": "${{ not evaluated }}",
            "plain": 7
        })
    );
    assert_eq!(run.reason("c"), Some(ReasonCode::InterpolationFailed));
    let message = run.exec.node("c").unwrap().message.clone().unwrap();
    assert!(message.contains("/bad"), "{message}");
    run.check_journal();
}

#[test]
fn outputs_and_inputs_over_the_limit_fail_the_node() {
    let p = plan(
        json!([
            task("big", &[]),
            {"id": "copy", "kind": "Task", "dependsOn": ["small"],
             "inputs": {"a": "${{ nodes.small.outputs.s }}", "b": "${{ nodes.small.outputs.s }}"}},
            task("small", &[]),
            task("chatty", &[])
        ]),
        json!([]),
    );
    let limits = planspec_engine::Limits {
        max_output_bytes: 1_000,
        max_input_bytes: 1_500,
        max_message_bytes: 100,
        ..planspec_engine::Limits::default()
    };
    let graph = std::sync::Arc::new(planspec_engine::compile_with(&p, None, limits).unwrap());
    let mut run = Run::new(graph);
    run.start(json!({}));
    run.succeed("big", 1, json!({"s": "x".repeat(2_000)}));
    assert_eq!(run.reason("big"), Some(ReasonCode::OutputsTooLarge));
    run.succeed("small", 1, json!({"s": "y".repeat(900)}));
    assert_eq!(run.reason("copy"), Some(ReasonCode::InputsTooLarge));
    // Messages are cut to the limit, at a character boundary.
    let long = Input::NodeResult {
        at: run.now,
        node: NodeId::new("chatty"),
        attempt: 1,
        outcome: Outcome::Failed {
            reason: ReasonCode::ProviderFailed,
            message: "é".repeat(500),
            retryable: true,
        },
        exit_code: None,
    };
    run.send(long);
    let message = run.exec.node("chatty").unwrap().message.clone().unwrap();
    assert_eq!(message, format!("{}…", "é".repeat(50)));
    run.check_journal();
}

#[test]
fn ten_thousand_nodes_run_to_completion() {
    // A chain of 5,000 and a fan-out of 5,000 joined at the end.
    let mut nodes = vec![task("c0", &[])];
    for i in 1..5_000 {
        nodes.push(task(&format!("c{i}"), &[&format!("c{}", i - 1)]));
    }
    for i in 0..4_999 {
        nodes.push(task(&format!("f{i}"), &["c0"]));
    }
    nodes.push(json!({"id": "end", "kind": "Task", "dependsOn": ["c4999", "f0"]}));
    let mut run = Run::of(&plan(Value::Array(nodes), json!([])));
    let mut todo: std::collections::VecDeque<(String, u32)> =
        dispatched(&run.start(json!({}))).into();
    while let Some((node, attempt)) = todo.pop_front() {
        let step = run.succeed(&node, attempt, json!({}));
        todo.extend(dispatched(&step));
    }
    assert_eq!(run.exec.phase(), ExecutionPhase::Succeeded);
    assert_eq!(run.exec.counters().succeeded, 10_000);
}

#[test]
fn each_retry_round_has_its_own_deadline() {
    let p = plan(json!([task("a", &[])]), json!([]));
    let g = goal("10m");
    let graph = std::sync::Arc::new(planspec_engine::compile(&p, Some(&g)).unwrap());
    let mut run = Run::new(graph.clone());
    // An explicit deadline earlier than the Goal's timeout wins.
    let step = run.send(Input::ExecutionStarted {
        at: run.now,
        uid: "uid-1".into(),
        name: None,
        namespace: None,
        graph_digest: graph.digest().to_string(),
        parameters: Default::default(),
        pinned: json!({"bindings": "opaque"}),
        deadline: Some(T0 + 60_000),
        creator: None,
        governance: None,
        max_parallel: None,
        fail_fast: false,
    });
    assert_eq!(
        timers(&step),
        [(TimerId::Deadline { round: 0 }, T0 + 60_000)]
    );
    assert_eq!(run.exec.state().pinned, json!({"bindings": "opaque"}));
    run.fail("a", 1, ReasonCode::ProviderFailed, true);
    run.advance(120_000);
    let step = run.retry(None);
    assert_eq!(
        timers(&step)[0],
        (TimerId::Deadline { round: 1 }, run.now + 600_000)
    );
    // The first round's deadline firing late is stale.
    assert_eq!(
        ignored(&run.fire(TimerId::Deadline { round: 0 })),
        Some(ReasonCode::StaleTimer)
    );
    assert_eq!(run.phase("a"), NodePhase::Running);
    run.check_journal();
}

#[test]
fn a_plan_of_only_groups_succeeds_at_once() {
    let p = plan(
        json!([{"id": "g", "kind": "Group", "children": ["h"]}, {"id": "h", "kind": "Group", "children": []}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}
