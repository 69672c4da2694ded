//! `Plan` nodes: `StartChild` with interpolated inputs, `ChildFinished` up, cancel, timeout,
//! recovery and replay.

mod common;

use common::*;
use planspec_engine::{Activity, Command, Input, NodePhase, ReasonCode, TimerId};
use planspec_model::execution::ExecutionPhase;
use planspec_model::NodeId;
use serde_json::{json, Value};

fn sub(id: &str, deps: &[&str], inputs: Value) -> Value {
    json!({"id": id, "kind": "Plan", "dependsOn": deps,
           "planRef": {"series": "deploy", "version": "^1"}, "inputs": inputs, "timeout": "1m"})
}

fn child_finished(
    run: &mut Run,
    node: &str,
    attempt: u32,
    phase: ExecutionPhase,
    outputs: Value,
) -> planspec_engine::Step {
    let (reason, message) = match phase {
        ExecutionPhase::Succeeded => (None, String::new()),
        _ => (
            Some("node_failed".to_string()),
            "node `x` failed".to_string(),
        ),
    };
    let at = run.now;
    run.send(Input::ChildFinished {
        at,
        node: NodeId::new(node),
        attempt,
        child: format!("ex-{node}"),
        phase,
        outputs: outputs.as_object().cloned().unwrap_or_default(),
        reason,
        message,
    })
}

fn start_child(step: &planspec_engine::Step) -> Option<(String, u32, Value)> {
    step.commands.iter().find_map(|c| match c {
        Command::StartChild {
            node,
            attempt,
            inputs,
            ..
        } => Some((node.to_string(), *attempt, inputs.clone())),
        _ => None,
    })
}

#[test]
fn inputs_go_down_and_outputs_come_up() {
    let plan = plan(
        json!([
            task("build", &[]),
            sub("deploy", &["build"], json!({"image": "${{ nodes.build.outputs.image }}", "n": 2})),
            {"id": "report", "kind": "Task", "dependsOn": ["deploy"],
             "inputs": {"url": "${{ nodes.deploy.outputs.web.url }}"}},
        ]),
        json!([]),
    );
    let mut run = Run::of(&plan);
    run.start(json!({}));
    let step = run.succeed("build", 1, json!({"image": "app:1"}));
    let (node, attempt, inputs) = start_child(&step).expect("StartChild");
    assert_eq!((node.as_str(), attempt), ("deploy", 1));
    assert_eq!(inputs, json!({"image": "app:1", "n": 2}));
    let deploy = run.exec.node("deploy").unwrap();
    assert_eq!(deploy.phase, NodePhase::Running);
    assert_eq!(deploy.activity, Some(Activity::Child));
    // The node's timeout is armed.
    assert!(step.commands.iter().any(|c| matches!(c, Command::StartTimer { timer: TimerId::Timeout { node, .. }, .. } if node == "deploy")));

    // A result for another attempt changes nothing.
    child_finished(&mut run, "deploy", 2, ExecutionPhase::Succeeded, json!({}));
    assert_eq!(run.phase("deploy"), NodePhase::Running);

    let step = child_finished(
        &mut run,
        "deploy",
        1,
        ExecutionPhase::Succeeded,
        json!({"web": {"url": "http://x"}}),
    );
    assert_eq!(run.phase("deploy"), NodePhase::Succeeded);
    assert_eq!(
        run.outputs("deploy"),
        json!({"web": {"url": "http://x"}})
            .as_object()
            .cloned()
            .unwrap()
    );
    let inputs = step.commands.iter().find_map(|c| match c {
        Command::Dispatch { node, inputs, .. } if node.as_str() == "report" => Some(inputs.clone()),
        _ => None,
    });
    assert_eq!(inputs, Some(json!({"url": "http://x"})));
    run.succeed("report", 1, json!({}));
    assert_eq!(run.exec.phase(), ExecutionPhase::Succeeded);
    run.check_journal();
}

#[test]
fn a_failed_child_fails_the_node_with_its_reason() {
    let plan = plan(
        json!([sub("deploy", &[], json!({})), task("after", &["deploy"])]),
        json!([]),
    );
    let mut run = Run::of(&plan);
    run.start(json!({}));
    child_finished(&mut run, "deploy", 1, ExecutionPhase::Failed, json!({}));
    assert_eq!(run.phase("deploy"), NodePhase::Failed);
    assert_eq!(run.reason("deploy"), Some(ReasonCode::SubplanFailed));
    let message = run.exec.node("deploy").unwrap().message.clone().unwrap();
    assert!(
        message.contains("ex-deploy") && message.contains("node_failed"),
        "{message}"
    );
    assert_eq!(run.reason("after"), Some(ReasonCode::UpstreamFailed));
    assert_eq!(run.exec.phase(), ExecutionPhase::Failed);
    run.check_journal();
}

/// The runtime stops reading a child's outputs past `max_output_bytes` and reports the end
/// with no outputs and the reason `outputs_too_large`: the node fails with that reason (and
/// replay agrees), without the outputs ever being in the journal.
#[test]
fn a_child_whose_outputs_were_too_large_fails_the_node() {
    let plan = plan(
        json!([sub("deploy", &[], json!({})), task("after", &["deploy"])]),
        json!([]),
    );
    let mut run = Run::of(&plan);
    run.start(json!({}));
    let at = run.now;
    run.send(Input::ChildFinished {
        at,
        node: NodeId::new("deploy"),
        attempt: 1,
        child: "ex-deploy".into(),
        phase: ExecutionPhase::Succeeded,
        outputs: serde_json::Map::new(),
        reason: Some("outputs_too_large".into()),
        message: "the outputs of child execution ex-deploy are at least 300000 bytes as JSON"
            .into(),
    });
    assert_eq!(run.phase("deploy"), NodePhase::Failed);
    assert_eq!(run.reason("deploy"), Some(ReasonCode::OutputsTooLarge));
    let message = run.exec.node("deploy").unwrap().message.clone().unwrap();
    assert!(message.contains("at least 300000 bytes"), "{message}");
    assert_eq!(run.reason("after"), Some(ReasonCode::UpstreamFailed));
    run.check_journal();
}

#[test]
fn a_graceful_cancel_cancels_the_child_and_waits_for_it() {
    let plan = plan(json!([sub("deploy", &[], json!({}))]), json!([]));
    let mut run = Run::of(&plan);
    run.start(json!({}));
    let step = run.cancel(false);
    assert!(step.commands.iter().any(|c| matches!(c,
        Command::CancelChild { node, attempt: 1, force: false } if node.as_str() == "deploy")));
    assert_eq!(run.phase("deploy"), NodePhase::Running);
    // After a restart the child is asked again, and cancelled again.
    let recovered = run.exec.recover();
    assert!(recovered
        .iter()
        .any(|c| matches!(c, Command::StartChild { .. })));
    assert!(recovered
        .iter()
        .any(|c| matches!(c, Command::CancelChild { force: false, .. })));
    child_finished(&mut run, "deploy", 1, ExecutionPhase::Cancelled, json!({}));
    assert_eq!(run.phase("deploy"), NodePhase::Cancelled);
    assert_eq!(run.exec.phase(), ExecutionPhase::Cancelled);
    run.check_journal();
}

#[test]
fn a_forced_cancel_and_a_timeout_kill_the_child() {
    let plan = plan(json!([sub("deploy", &[], json!({}))]), json!([]));
    let mut run = Run::of(&plan);
    run.start(json!({}));
    let step = run.cancel(true);
    assert!(step
        .commands
        .iter()
        .any(|c| matches!(c, Command::Kill { node, .. } if node.as_str() == "deploy")));
    assert_eq!(run.reason("deploy"), Some(ReasonCode::ForceCancelled));
    run.check_journal();

    let mut run = Run::of(&plan);
    run.start(json!({}));
    run.advance(60_000);
    let step = run.fire(TimerId::Timeout {
        node: "deploy".into(),
        attempt: 1,
    });
    assert!(step
        .commands
        .iter()
        .any(|c| matches!(c, Command::Kill { node, .. } if node.as_str() == "deploy")));
    assert_eq!(run.reason("deploy"), Some(ReasonCode::NodeTimeout));
    // The child's late end is ignored.
    child_finished(&mut run, "deploy", 1, ExecutionPhase::Cancelled, json!({}));
    assert_eq!(run.reason("deploy"), Some(ReasonCode::NodeTimeout));
    run.check_journal();
}

#[test]
fn a_child_cancelled_on_its_own_fails_the_node() {
    let plan = plan(json!([sub("deploy", &[], json!({}))]), json!([]));
    let mut run = Run::of(&plan);
    run.start(json!({}));
    child_finished(&mut run, "deploy", 1, ExecutionPhase::Cancelled, json!({}));
    assert_eq!(run.reason("deploy"), Some(ReasonCode::SubplanFailed));
    run.check_journal();
}

#[test]
fn a_retry_round_starts_a_new_child() {
    let plan = plan(json!([sub("deploy", &[], json!({}))]), json!([]));
    let mut run = Run::of(&plan);
    run.start(json!({}));
    child_finished(&mut run, "deploy", 1, ExecutionPhase::Failed, json!({}));
    let step = run.retry(None);
    let (_, attempt, _) = start_child(&step).expect("a new child");
    assert_eq!(attempt, 2);
    child_finished(&mut run, "deploy", 2, ExecutionPhase::Succeeded, json!({}));
    assert_eq!(run.exec.phase(), ExecutionPhase::Succeeded);
    run.check_journal();
}

#[test]
fn the_plan_ref_and_inputs_are_part_of_the_digest() {
    let a = plan(json!([sub("deploy", &[], json!({"n": 1}))]), json!([]));
    let b = plan(json!([sub("deploy", &[], json!({"n": 2}))]), json!([]));
    let mut c = a.clone();
    if let planspec_model::plan::Node::Plan(p) = &mut c.spec.graph.nodes[0] {
        p.plan_ref.version = Some("^2".into());
    }
    let (da, db, dc) = (graph(&a), graph(&b), graph(&c));
    assert_ne!(da.digest(), db.digest());
    assert_ne!(da.digest(), dc.digest());
}
