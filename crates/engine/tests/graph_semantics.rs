//! Graph semantics: ordered steps, edges that name an upstream outcome (`on`), `when` over
//! upstream phases, `finally` Tasks and the outcome they read, the run's `maxParallel` and
//! `failFast`. Every scenario ends by checking that folding and replaying its journal agree
//! with the live state.

mod common;

use common::*;
use planspec_engine::{compile, Command, CompileError, Decision, NodePhase, ReasonCode};
use planspec_model::execution::ExecutionPhase;
use planspec_model::Plan;
use serde_json::{json, Value};

fn steps_plan(steps: Value) -> Plan {
    serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"description": "d", "steps": steps}
    }))
    .expect("a plan")
}

fn finally_task(id: &str, deps: &[&str]) -> Value {
    json!({"id": id, "kind": "Task", "dependsOn": deps, "finally": true})
}

/// The message of the step's `ExecutionCompleted`.
fn completion_message(step: &planspec_engine::Step) -> String {
    step.decisions
        .iter()
        .find_map(|d| match d {
            Decision::ExecutionCompleted { message, .. } => Some(message.clone()),
            _ => None,
        })
        .expect("the run completed")
}

fn dispatched_inputs(step: &planspec_engine::Step, node: &str) -> Value {
    step.commands
        .iter()
        .find_map(|c| match c {
            Command::Dispatch {
                node: n, inputs, ..
            } if n.as_str() == node => Some(inputs.clone()),
            _ => None,
        })
        .expect("the node was dispatched")
}

#[test]
fn steps_run_one_after_another() {
    let p = steps_plan(json!([
        {"id": "fetch", "kind": "Task"},
        {"id": "build", "kind": "Task", "inputs": {"from": "${{ nodes.fetch.outputs.rev }}"}},
        {"id": "ship", "kind": "Task"}
    ]));
    let graph = compile(&p, None).expect("a steps plan compiles");
    let build = graph.node("build").expect("build");
    assert_eq!(build.hard_deps, [graph.index_of("fetch").unwrap()]);
    let mut run = Run::of(&p);
    assert_eq!(dispatched_ids(&run.start(json!({}))), ["fetch"]);
    let step = run.succeed("fetch", 1, json!({"rev": "abc"}));
    assert_eq!(dispatched_ids(&step), ["build"]);
    assert_eq!(dispatched_inputs(&step, "build"), json!({"from": "abc"}));
    assert_eq!(
        dispatched_ids(&run.succeed("build", 1, json!({}))),
        ["ship"]
    );
    let step = run.succeed("ship", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn a_failed_step_skips_the_rest() {
    let p = steps_plan(json!([
        {"id": "a", "kind": "Task"},
        {"id": "b", "kind": "Task"},
        {"id": "c", "kind": "Task"}
    ]));
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(run.reason("b"), Some(ReasonCode::UpstreamFailed));
    assert_eq!(run.reason("c"), Some(ReasonCode::UpstreamFailed));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    run.check_journal();
}

#[test]
fn steps_refuse_graph_depends_on_and_groups() {
    let mut both = steps_plan(json!([{"id": "a", "kind": "Task"}]));
    both.spec.graph = plan(json!([task("b", &[])]), json!([])).spec.graph;
    assert_eq!(
        compile(&both, None).unwrap_err(),
        CompileError::GraphAndSteps
    );
    let deps = steps_plan(json!([
        {"id": "a", "kind": "Task"},
        {"id": "b", "kind": "Task", "dependsOn": ["a"]}
    ]));
    assert!(matches!(
        compile(&deps, None).unwrap_err(),
        CompileError::StepDependsOn { node } if node == "b"
    ));
    let group = steps_plan(json!([
        {"id": "a", "kind": "Task"},
        {"id": "g", "kind": "Group", "children": ["a"]}
    ]));
    assert!(matches!(
        compile(&group, None).unwrap_err(),
        CompileError::GroupStep { node } if node == "g"
    ));
}

#[test]
fn an_on_failure_edge_runs_its_node_only_when_the_upstream_failed() {
    let p = plan(
        json!([
            task("deploy", &[]),
            task("rollback", &[]),
            task("announce", &["deploy"])
        ]),
        json!([{"from": "deploy", "to": "rollback", "on": "failure"}]),
    );
    // The upstream fails: the handler runs, the plain dependent is skipped.
    let mut run = Run::of(&p);
    assert_eq!(dispatched_ids(&run.start(json!({}))), ["deploy"]);
    let step = run.fail("deploy", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_ids(&step), ["rollback"]);
    assert_eq!(run.reason("announce"), Some(ReasonCode::UpstreamFailed));
    let step = run.succeed("rollback", 1, json!({}));
    let (phase, reason) = completed(&step).expect("completed");
    assert_eq!(
        (phase, reason),
        (ExecutionPhase::Failed, Some(ReasonCode::NodeFailed))
    );
    run.check_journal();

    // The upstream succeeds: the handler is skipped, and that is no failure.
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.succeed("deploy", 1, json!({}));
    assert_eq!(dispatched_ids(&step), ["announce"]);
    assert_eq!(run.phase("rollback"), NodePhase::Skipped);
    assert_eq!(run.reason("rollback"), Some(ReasonCode::EdgeConditionUnmet));
    let message = run.exec.node("rollback").unwrap().message.clone().unwrap();
    assert!(
        message.contains("`deploy`") && message.contains("failure"),
        "{message}"
    );
    let step = run.succeed("announce", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn on_skipped_and_on_always_edges() {
    let p = plan(
        json!([
            {"id": "optional", "kind": "Task", "when": "parameters.run"},
            task("instead", &[]),
            task("anyway", &[])
        ]),
        json!([
            {"from": "optional", "to": "instead", "on": "skipped"},
            {"from": "optional", "to": "anyway", "on": "always"}
        ]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({"run": false}));
    assert_eq!(run.reason("optional"), Some(ReasonCode::WhenFalse));
    assert_eq!(dispatched_ids(&step), ["instead", "anyway"]);
    run.check_journal();

    let mut run = Run::of(&p);
    run.start(json!({"run": true}));
    let step = run.fail("optional", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_ids(&step), ["anyway"]);
    assert_eq!(run.reason("instead"), Some(ReasonCode::EdgeConditionUnmet));
    run.check_journal();
}

#[test]
fn edge_conditions_count_in_the_digest() {
    let plain = plan(
        json!([task("a", &[]), task("b", &[])]),
        json!([{"from": "a", "to": "b", "type": "soft"}]),
    );
    let on = plan(
        json!([task("a", &[]), task("b", &[])]),
        json!([{"from": "a", "to": "b", "on": "failure"}]),
    );
    let always = plan(
        json!([task("a", &[]), task("b", &[])]),
        json!([{"from": "a", "to": "b", "on": "always"}]),
    );
    let digest = |p: &Plan| compile(p, None).unwrap().digest().to_string();
    assert_ne!(digest(&plain), digest(&on));
    // `on: always` is a soft edge by another name.
    assert_eq!(digest(&plain), digest(&always));
}

#[test]
fn when_reads_upstream_phases_and_reasons() {
    let p = plan(
        json!([
            task("tests", &[]),
            {"id": "report", "kind": "Task",
             "when": "nodes.tests.phase == 'Failed' && nodes.tests.reason == 'provider_failed'"}
        ]),
        json!([{"from": "tests", "to": "report", "on": "always"}]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.fail("tests", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_ids(&step), ["report"]);
    run.check_journal();

    let mut run = Run::of(&p);
    run.start(json!({}));
    run.succeed("tests", 1, json!({}));
    assert_eq!(run.reason("report"), Some(ReasonCode::WhenFalse));
    run.check_journal();
}

#[test]
fn finally_runs_after_a_failure_and_reads_the_outcome() {
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &["a"]),
            task("side", &[]),
            {"id": "cleanup", "kind": "Task", "finally": true,
             "inputs": {"outcome": "${{ execution.outcome }}", "failed": "${{ execution.failedNodes }}",
                        "b": "${{ nodes.b.phase }}"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    assert_eq!(dispatched_ids(&step), ["a", "side"]);
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert!(dispatched(&step).is_empty(), "cleanup waits for `side`");
    assert_eq!(run.phase("cleanup"), NodePhase::Pending);
    let step = run.succeed("side", 1, json!({}));
    assert_eq!(dispatched_ids(&step), ["cleanup"]);
    assert_eq!(
        dispatched_inputs(&step, "cleanup"),
        json!({"outcome": "Failed", "failed": ["a"], "b": "Skipped"})
    );
    let step = run.succeed("cleanup", 1, json!({}));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    let message = completion_message(&step);
    assert!(
        message.starts_with("1 of 4 nodes failed; 2 succeeded, 1 skipped"),
        "{message}"
    );
    run.check_journal();
}

#[test]
fn a_failing_finally_task_fails_a_successful_run() {
    let p = plan(
        json!([
            task("work", &[]),
            finally_task("notify", &[]),
            finally_task("last", &["notify"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    assert_eq!(dispatched_ids(&run.start(json!({}))), ["work"]);
    let step = run.succeed("work", 1, json!({}));
    assert_eq!(dispatched_ids(&step), ["notify"]);
    let step = run.fail("notify", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(run.reason("last"), Some(ReasonCode::UpstreamFailed));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    run.check_journal();
}

#[test]
fn finally_outcome_is_succeeded_when_everything_succeeded() {
    let p = plan(
        json!([task("work", &[]),
               {"id": "f", "kind": "Task", "finally": true, "when": "execution.outcome == 'Succeeded'"}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    assert_eq!(dispatched_ids(&run.succeed("work", 1, json!({}))), ["f"]);
    let step = run.succeed("f", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn finally_runs_after_a_graceful_cancel_but_not_a_forced_one() {
    let p = plan(
        json!([task("a", &[]), task("b", &["a"]),
               {"id": "f", "kind": "Task", "finally": true, "inputs": {"o": "${{ execution.outcome }}"}}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.cancel(false);
    assert_eq!(run.phase("b"), NodePhase::Cancelled);
    assert_eq!(run.phase("f"), NodePhase::Pending);
    let step = run.succeed("a", 1, json!({}));
    assert_eq!(dispatched_ids(&step), ["f"]);
    assert_eq!(dispatched_inputs(&step, "f"), json!({"o": "Cancelled"}));
    let step = run.succeed("f", 1, json!({}));
    assert_eq!(
        completed(&step).map(|c| c.0),
        Some(ExecutionPhase::Cancelled)
    );
    run.check_journal();

    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.cancel(true);
    assert_eq!(run.phase("f"), NodePhase::Cancelled);
    assert_eq!(
        completed(&step).map(|c| c.0),
        Some(ExecutionPhase::Cancelled)
    );
    run.check_journal();
}

#[test]
fn finally_dependencies_are_checked() {
    let p = plan(
        json!([task("a", &[]), finally_task("f", &["a"])]),
        json!([]),
    );
    assert!(matches!(
        compile(&p, None).unwrap_err(),
        CompileError::FinallyDependency { node, dependency, finally_node: true } if node == "f" && dependency == "a"
    ));
    let p = plan(
        json!([finally_task("f", &[]), task("a", &["f"])]),
        json!([]),
    );
    assert!(matches!(
        compile(&p, None).unwrap_err(),
        CompileError::FinallyDependency { node, finally_node: false, .. } if node == "a"
    ));
}

#[test]
fn finally_steps_come_last_and_run_after_a_failure() {
    let p = steps_plan(json!([
        {"id": "a", "kind": "Task"},
        {"id": "b", "kind": "Task"},
        {"id": "f", "kind": "Task", "finally": true},
        {"id": "g", "kind": "Task", "finally": true}
    ]));
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_ids(&step), ["f"]);
    assert_eq!(dispatched_ids(&run.succeed("f", 1, json!({}))), ["g"]);
    let step = run.succeed("g", 1, json!({}));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    run.check_journal();
}

#[test]
fn max_parallel_limits_running_nodes_in_canonical_order() {
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &[]),
            task("c", &[]),
            task("d", &["a"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    assert_eq!(
        dispatched_ids(&run.start_with(json!({}), Some(1), false)),
        ["a"]
    );
    assert_eq!(run.phase("b"), NodePhase::Ready);
    assert_eq!(dispatched_ids(&run.succeed("a", 1, json!({}))), ["b"]);
    assert_eq!(dispatched_ids(&run.succeed("b", 1, json!({}))), ["c"]);
    assert_eq!(dispatched_ids(&run.succeed("c", 1, json!({}))), ["d"]);
    let step = run.succeed("d", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();

    let mut run = Run::of(&p);
    assert_eq!(
        dispatched_ids(&run.start_with(json!({}), Some(2), false)),
        ["a", "b"]
    );
    assert_eq!(dispatched_ids(&run.succeed("b", 1, json!({}))), ["c"]);
    run.check_journal();
}

#[test]
fn fail_fast_skips_what_has_not_started_and_still_runs_finally() {
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &[]),
            task("c", &[]),
            task("after-b", &["b"]),
            finally_task("cleanup", &[])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    assert_eq!(
        dispatched_ids(&run.start_with(json!({}), Some(2), true)),
        ["a", "b"]
    );
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert!(dispatched(&step).is_empty(), "nothing new starts");
    assert_eq!(run.reason("c"), Some(ReasonCode::FailFast));
    assert_eq!(run.phase("b"), NodePhase::Running, "running nodes finish");
    let step = run.succeed("b", 1, json!({}));
    assert_eq!(run.reason("after-b"), Some(ReasonCode::FailFast));
    assert_eq!(dispatched_ids(&step), ["cleanup"]);
    let step = run.succeed("cleanup", 1, json!({}));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    assert!(completion_message(&step).starts_with("1 of 5 nodes failed; 2 succeeded, 2 skipped"));
    run.check_journal();
}

#[test]
fn without_fail_fast_independent_branches_keep_going() {
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &[]),
            task("c", &[]),
            task("after-b", &["b"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start_with(json!({}), Some(2), false);
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_ids(&step), ["c"]);
    assert_eq!(dispatched_ids(&run.succeed("b", 1, json!({}))), ["after-b"]);
    run.succeed("c", 1, json!({}));
    let step = run.succeed("after-b", 1, json!({}));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    let message = completion_message(&step);
    assert!(
        message.starts_with("1 of 4 nodes failed; 3 succeeded; node `a` failed"),
        "{message}"
    );
    run.check_journal();
}

#[test]
fn the_run_policy_is_journaled_with_the_start() {
    let p = plan(json!([task("a", &[])]), json!([]));
    let mut run = Run::of(&p);
    run.start_with(json!({}), Some(3), true);
    let first = serde_json::to_value(&run.journal[0]).unwrap();
    assert_eq!(first["maxParallel"], 3);
    assert_eq!(first["failFast"], true);
    let mut plain = Run::of(&p);
    plain.start(json!({}));
    let first = serde_json::to_value(&plain.journal[0]).unwrap();
    assert!(first.get("maxParallel").is_none() && first.get("failFast").is_none());
}

#[test]
fn a_retry_round_runs_finally_tasks_again() {
    let p = plan(
        json!([task("a", &[]), task("ok", &[]),
               {"id": "f", "kind": "Task", "finally": true, "inputs": {"o": "${{ execution.outcome }}"}}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.succeed("ok", 1, json!({}));
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_inputs(&step, "f"), json!({"o": "Failed"}));
    let step = run.succeed("f", 1, json!({}));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    let step = run.retry(None);
    assert_eq!(dispatched(&step), [("a".to_string(), 2)]);
    assert_eq!(run.phase("ok"), NodePhase::Succeeded);
    assert_eq!(run.phase("f"), NodePhase::Pending);
    let step = run.succeed("a", 2, json!({}));
    assert_eq!(dispatched(&step), [("f".to_string(), 2)]);
    assert_eq!(dispatched_inputs(&step, "f"), json!({"o": "Succeeded"}));
    let step = run.succeed("f", 2, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn fail_fast_with_one_at_a_time_still_reaches_finally() {
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &[]),
            task("c", &[]),
            finally_task("report", &[])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    assert_eq!(
        dispatched_ids(&run.start_with(json!({}), Some(1), true)),
        ["a"]
    );
    assert_eq!(run.phase("b"), NodePhase::Ready);
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(run.reason("b"), Some(ReasonCode::FailFast));
    assert_eq!(run.reason("c"), Some(ReasonCode::FailFast));
    assert_eq!(dispatched_ids(&step), ["report"]);
    let step = run.succeed("report", 1, json!({}));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    run.check_journal();
}

#[test]
fn a_retry_reruns_what_fail_fast_skipped_and_what_that_skipped() {
    // Under `failFast`, `b` is skipped `fail_fast`, `c` and `d` after it
    // `upstream_skipped`, and `e` (behind an `on: success` edge from `c`) `fail_fast`.
    let p = plan(
        json!([
            task("a", &[]),
            task("b", &[]),
            task("c", &["b"]),
            task("d", &["c"]),
            task("e", &[])
        ]),
        json!([{"from": "c", "to": "e", "on": "success"}]),
    );
    let mut run = Run::of(&p);
    assert_eq!(
        dispatched_ids(&run.start_with(json!({}), Some(1), true)),
        ["a"]
    );
    let step = run.fail("a", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    assert_eq!(run.reason("b"), Some(ReasonCode::FailFast));
    assert_eq!(run.reason("c"), Some(ReasonCode::UpstreamSkipped));
    assert_eq!(run.reason("d"), Some(ReasonCode::UpstreamSkipped));
    // The retry runs `a` again and everything the failure kept from running.
    let step = run.retry(None);
    assert_eq!(dispatched(&step), [("a".to_string(), 2)]);
    assert_eq!(run.phase("b"), NodePhase::Ready, "waiting for the one slot");
    for node in ["c", "d", "e"] {
        assert_eq!(run.phase(node), NodePhase::Pending, "{node}");
    }
    assert_eq!(dispatched_ids(&run.succeed("a", 2, json!({}))), ["b"]);
    assert_eq!(dispatched_ids(&run.succeed("b", 1, json!({}))), ["c"]);
    let step = run.succeed("c", 1, json!({}));
    assert_eq!(dispatched_ids(&step), ["d"]);
    assert_eq!(dispatched_ids(&run.succeed("d", 1, json!({}))), ["e"]);
    let step = run.succeed("e", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn retry_from_a_node_is_not_stopped_by_a_failure_of_an_earlier_round() {
    let p = plan(json!([task("a", &[]), task("x", &[])]), json!([]));
    let mut run = Run::of(&p);
    run.start_with(json!({}), None, true);
    run.fail("a", 1, ReasonCode::ProviderFailed, false);
    let step = run.fail("x", 1, ReasonCode::ProviderFailed, false);
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    // `a` stays Failed; `x` is re-run and does run.
    let step = run.retry(Some("x"));
    assert_eq!(dispatched(&step), [("x".to_string(), 2)]);
    assert_eq!(run.phase("a"), NodePhase::Failed);
    let step = run.succeed("x", 2, json!({}));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    assert_eq!(run.phase("x"), NodePhase::Succeeded);
    run.check_journal();
    // A snapshot taken in the new round restores the same state.
    let restored =
        planspec_engine::Execution::restore(run.exec.graph().clone(), run.exec.snapshot())
            .expect("restore");
    assert_eq!(restored, run.exec);
}

#[test]
fn a_retry_runs_an_on_failure_handler_that_already_ran_again() {
    let p = plan(
        json!([task("deploy", &[]), task("rollback", &[])]),
        json!([{"from": "deploy", "to": "rollback", "on": "failure"}]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.fail("deploy", 1, ReasonCode::ProviderFailed, false);
    run.succeed("rollback", 1, json!({}));
    assert_eq!(run.phase("rollback"), NodePhase::Succeeded);
    run.retry(None);
    assert_eq!(run.phase("rollback"), NodePhase::Pending);
    // This time `deploy` succeeds: the handler is skipped, the run succeeds.
    let step = run.succeed("deploy", 2, json!({}));
    assert_eq!(run.reason("rollback"), Some(ReasonCode::EdgeConditionUnmet));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn a_graceful_cancel_keeps_a_ready_finally_task() {
    // Two `finally` Tasks and one slot: `g` is Ready, waiting for it, when the cancel comes.
    let p = plan(
        json!([
            task("a", &[]),
            finally_task("f", &[]),
            finally_task("g", &[])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    assert_eq!(
        dispatched_ids(&run.start_with(json!({}), Some(1), false)),
        ["a"]
    );
    assert_eq!(dispatched_ids(&run.succeed("a", 1, json!({}))), ["f"]);
    assert_eq!(run.phase("g"), NodePhase::Ready);
    run.cancel(false);
    assert_eq!(
        run.phase("g"),
        NodePhase::Ready,
        "a `finally` Task survives"
    );
    assert_eq!(dispatched_ids(&run.succeed("f", 1, json!({}))), ["g"]);
    let step = run.succeed("g", 1, json!({}));
    assert_eq!(
        completed(&step).map(|c| c.0),
        Some(ExecutionPhase::Cancelled)
    );
    run.check_journal();
}

#[test]
fn max_parallel_zero_is_refused() {
    let p = plan(json!([task("a", &[])]), json!([]));
    let graph = graph(&p);
    let mut exec = planspec_engine::Execution::new(graph.clone());
    let err = exec
        .handle(planspec_engine::Input::ExecutionStarted {
            at: T0,
            uid: "uid-1".into(),
            name: None,
            namespace: None,
            graph_digest: graph.digest().to_string(),
            parameters: Default::default(),
            pinned: Value::Null,
            deadline: None,
            creator: None,
            governance: None,
            max_parallel: Some(0),
            fail_fast: false,
        })
        .expect_err("maxParallel 0 is refused");
    assert!(err.to_string().contains("maxParallel"), "{err}");
    assert_eq!(
        exec.state().phase,
        ExecutionPhase::Pending,
        "nothing applied"
    );
    // A matrix's `maxParallel: 0` is refused when the plan compiles.
    let p = plan(
        json!([{"id": "m", "kind": "Task",
                "matrix": {"axes": [{"name": "x", "values": [1, 2]}], "maxParallel": 0}}]),
        json!([]),
    );
    let err = compile(&p, None).expect_err("refused");
    assert!(err.to_string().contains("maxParallel"), "{err}");
}
