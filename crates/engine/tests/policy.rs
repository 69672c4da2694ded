//! Risk routing: verdicts before dispatch, approvals for `assist`, `deny`, the built-in rules,
//! and the Goal constraints (budget, runtime, safety).

mod common;

use common::*;
use planspec_engine::policy::{Governance, PinnedPolicy, ProviderFacts};
use planspec_engine::{
    compile, Approval, Command, Decision, Event, ExecGraph, Input, NodePhase, Outcome, ReasonCode,
};
use planspec_model::actor::UserInfo;
use planspec_model::policy::{PolicyVerdict, RiskLevel};
use planspec_model::{Goal, NodeId};
use serde_json::{json, Value};
use std::sync::Arc;

fn policy(name: &str, spec: Value) -> PinnedPolicy {
    PinnedPolicy {
        name: name.into(),
        uid: Some(format!("uid-{name}")),
        resource_version: Some("7".into()),
        spec: serde_json::from_value(spec).expect("a policy spec"),
    }
}

fn governed(run: &mut Run, governance: Governance, parameters: Value) -> planspec_engine::Step {
    let digest = run.exec.graph().digest().to_string();
    run.send(Input::ExecutionStarted {
        at: run.now,
        uid: "uid-1".into(),
        name: Some("ex".into()),
        namespace: Some("team".into()),
        graph_digest: digest,
        parameters: parameters.as_object().cloned().unwrap_or_default(),
        pinned: Value::Null,
        deadline: None,
        creator: Some(UserInfo::new("alice", ["dev"])),
        governance: Some(Box::new(governance)),
        max_parallel: None,
        fail_fast: false,
    })
}

fn verdicts(run: &Run) -> Vec<(String, PolicyVerdict, String)> {
    run.journal
        .iter()
        .filter_map(|e| match e {
            Event::Decision(Decision::NodeVerdict {
                node,
                verdict,
                reason,
                ..
            }) => Some((node.to_string(), *verdict, reason.clone())),
            _ => None,
        })
        .collect()
}

fn approvals(step: &planspec_engine::Step) -> Vec<String> {
    step.commands
        .iter()
        .filter_map(|c| match c {
            Command::RequestApproval { node, .. } => Some(node.to_string()),
            _ => None,
        })
        .collect()
}

fn goal_with(constraints: Value) -> Goal {
    serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1", "kind": "Goal",
        "metadata": {"name": "g"},
        "spec": {"description": "ship it", "constraints": constraints}
    }))
    .expect("a goal")
}

fn graph_with(plan: &planspec_model::Plan, goal: &Goal) -> Arc<ExecGraph> {
    Arc::new(compile(plan, Some(goal)).expect("compiles"))
}

#[test]
fn a_high_risk_node_waits_for_approval_even_when_a_rule_allows_it() {
    let p = plan(
        json!([
            {"id": "build", "kind": "Task"},
            {"id": "deploy", "kind": "Task", "dependsOn": ["build"], "risk": "high",
             "inputs": {"env": "prod"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let governance = Governance {
        policies: vec![policy(
            "routing",
            json!({"rules": [{"name": "everything", "when": "true", "verdict": "allow"}]}),
        )],
        ..Governance::default()
    };
    let step = governed(&mut run, governance, json!({}));
    assert_eq!(dispatched_ids(&step), ["build"]);
    let step = run.succeed("build", 1, json!({}));
    assert!(dispatched_ids(&step).is_empty(), "{step:?}");
    assert_eq!(approvals(&step), ["deploy"]);
    assert_eq!(
        verdicts(&run),
        [
            ("build".into(), PolicyVerdict::Allow, "everything".into()),
            (
                "deploy".into(),
                PolicyVerdict::Assist,
                "high_risk_requires_approval".into()
            )
        ]
    );
    let deploy = run.exec.node("deploy").unwrap();
    assert_eq!(
        (deploy.phase, deploy.approval),
        (NodePhase::Ready, Some(Approval::Waiting))
    );
    // A restart asks for the approval again.
    assert!(run
        .exec
        .recover()
        .iter()
        .any(|c| matches!(c, Command::RequestApproval { node, .. } if node == "deploy")));
    run.check_journal();

    let step = run.send(Input::GateResolved {
        at: run.now,
        node: NodeId::new("deploy"),
        approved: true,
        by: Some("bob".into()),
        comment: Some("ok".into()),
        outputs: None,
        timed_out: false,
    });
    assert_eq!(dispatched_ids(&step), ["deploy"]);
    match &step.commands[0] {
        Command::Dispatch { inputs, .. } => assert_eq!(*inputs, json!({"env": "prod"})),
        other => panic!("{other:?}"),
    }
    run.succeed("deploy", 1, json!({}));
    assert_eq!(
        run.exec.phase(),
        planspec_model::execution::ExecutionPhase::Succeeded
    );
    run.check_journal();
}

#[test]
fn a_denied_node_fails_and_its_dependents_are_skipped() {
    let p = plan(
        json!([
            {"id": "drop", "kind": "Task", "inputs": {"table": "users"}},
            {"id": "after", "kind": "Task", "dependsOn": ["drop"]},
            {"id": "other", "kind": "Task"}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let governance = Governance {
        policies: vec![policy(
            "guard",
            json!({"rules": [{"name": "no-drops", "when": "has(node.inputs.table) && node.inputs.table == 'users' && actor.username == 'alice'",
                              "verdict": "deny", "reason": "protected_table",
                              "message": "users is protected"}]}),
        )],
        ..Governance::default()
    };
    let step = governed(&mut run, governance, json!({}));
    assert_eq!(dispatched_ids(&step), ["other"]);
    assert_eq!(run.reason("drop"), Some(ReasonCode::PolicyDenied));
    let message = run.exec.node("drop").unwrap().message.clone().unwrap();
    assert!(
        message.contains("guard/no-drops") && message.contains("users is protected"),
        "{message}"
    );
    assert_eq!(run.reason("after"), Some(ReasonCode::UpstreamFailed));
    run.succeed("other", 1, json!({}));
    assert_eq!(
        run.exec.phase(),
        planspec_model::execution::ExecutionPhase::Failed
    );
    run.check_journal();
}

#[test]
fn a_rejected_approval_fails_the_node() {
    let p = plan(json!([{"id": "ship", "kind": "Task"}]), json!([]));
    let mut run = Run::of(&p);
    let governance = Governance {
        policies: vec![policy(
            "review",
            json!({"rules": [{"name": "prod", "when": "parameters.env == 'prod'", "verdict": "assist"}]}),
        )],
        ..Governance::default()
    };
    let step = governed(&mut run, governance, json!({"env": "prod"}));
    assert_eq!(approvals(&step), ["ship"]);
    run.send(Input::GateResolved {
        at: run.now,
        node: NodeId::new("ship"),
        approved: false,
        by: Some("bob".into()),
        comment: Some("not today".into()),
        outputs: None,
        timed_out: false,
    });
    assert_eq!(run.reason("ship"), Some(ReasonCode::ApprovalRejected));
    run.check_journal();

    // A retry round asks again, with its own (second) approval: the rejected Gate is not
    // reused.
    let step = run.retry(None);
    let asked: Vec<u32> = step
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::RequestApproval { approval, .. } => Some(*approval),
            _ => None,
        })
        .collect();
    assert_eq!(asked, [2]);
    run.check_journal();
}

#[test]
fn combining_defaults_and_rule_errors() {
    let p = plan(
        json!([{"id": "a", "kind": "Task"}, {"id": "b", "kind": "Task", "capabilityRefs": [{"name": "wipe"}]}]),
        json!([]),
    );
    // No rule matches: the strictest namespace default applies.
    let mut run = Run::of(&p);
    let governance = Governance {
        policies: vec![
            policy("p1", json!({"defaultVerdict": "allow"})),
            policy(
                "p2",
                json!({"defaultVerdict": "assist",
                                "rules": [{"name": "never", "when": "false", "verdict": "deny"}]}),
            ),
        ],
        ..Governance::default()
    };
    governed(&mut run, governance, json!({}));
    assert_eq!(
        verdicts(&run)[0],
        (
            "a".into(),
            PolicyVerdict::Assist,
            "namespace_default".into()
        )
    );

    // A rule that fails counts as at least assist; a deny anywhere wins; a blocked
    // Capability is denied whatever the rules say.
    let mut run = Run::of(&p);
    let governance = Governance {
        policies: vec![policy(
            "p1",
            json!({"rules": [
                {"name": "broken", "when": "node.inputs.missing == 1", "verdict": "allow"},
                {"name": "ok", "when": "true", "verdict": "allow"}]}),
        )],
        capabilities: [("wipe".to_string(), RiskLevel::Blocked)].into(),
        ..Governance::default()
    };
    governed(&mut run, governance, json!({}));
    let v = verdicts(&run);
    assert_eq!(
        v[0],
        (
            "a".into(),
            PolicyVerdict::Assist,
            "policy_rule_error".into()
        )
    );
    assert_eq!(
        v[1],
        ("b".into(), PolicyVerdict::Deny, "risk_blocked".into())
    );
    assert_eq!(run.reason("b"), Some(ReasonCode::PolicyDenied));
    run.check_journal();
}

#[test]
fn destructive_providers_are_denied_under_no_destructive_actions() {
    let p = plan(
        json!([{"id": "wipe", "kind": "Task"}, {"id": "read", "kind": "Task"}]),
        json!([]),
    );
    let goal = goal_with(json!({"safety": "no_destructive_actions"}));
    let mut run = Run::new(graph_with(&p, &goal));
    let facts = |destructive| ProviderFacts {
        type_name: "exec".into(),
        name: "x".into(),
        destructive,
        ..ProviderFacts::default()
    };
    let governance = Governance {
        providers: [
            ("wipe".to_string(), facts(true)),
            ("read".to_string(), facts(false)),
        ]
        .into(),
        ..Governance::default()
    };
    let step = governed(&mut run, governance, json!({}));
    assert_eq!(dispatched_ids(&step), ["read"]);
    assert_eq!(run.reason("wipe"), Some(ReasonCode::PolicyDenied));
    assert_eq!(verdicts(&run)[0].2, "destructive_action_forbidden");
    run.check_journal();
}

#[test]
fn a_spent_budget_stops_dispatch() {
    let p = plan(
        json!([
            {"id": "a", "kind": "Task"},
            {"id": "b", "kind": "Task", "dependsOn": ["a"]},
            {"id": "c", "kind": "Task", "dependsOn": ["b"]}
        ]),
        json!([]),
    );
    let goal = goal_with(json!({"budgetUsd": 1.0}));
    let mut run = Run::new(graph_with(&p, &goal));
    governed(&mut run, Governance::default(), json!({}));
    let cost = |usd| Outcome::Succeeded {
        outputs: Default::default(),
        cost_usd: Some(usd),
    };
    let step = run.send(Input::NodeResult {
        at: run.now,
        node: NodeId::new("a"),
        attempt: 1,
        outcome: cost(0.6),
        exit_code: None,
    });
    assert_eq!(dispatched_ids(&step), ["b"]);
    let step = run.send(Input::NodeResult {
        at: run.now,
        node: NodeId::new("b"),
        attempt: 1,
        outcome: cost(0.5),
        exit_code: None,
    });
    assert!(dispatched_ids(&step).is_empty());
    assert_eq!(run.reason("c"), Some(ReasonCode::BudgetExceeded));
    assert!((run.exec.state().spent_usd - 1.1).abs() < 1e-9);
    run.check_journal();
}

#[test]
fn max_runtime_seconds_is_a_deadline() {
    let p = plan(json!([{"id": "a", "kind": "Task"}]), json!([]));
    let goal = goal_with(json!({"maxRuntimeSeconds": 5}));
    let graph = graph_with(&p, &goal);
    assert_eq!(graph.goal_timeout_ms(), Some(5_000));
    let mut run = Run::new(graph);
    let step = governed(&mut run, Governance::default(), json!({}));
    assert!(timers(&step)
        .iter()
        .any(
            |(t, due)| matches!(t, planspec_engine::TimerId::Deadline { .. }) && *due == T0 + 5_000
        ));
    // A bad value is refused when compiling.
    assert!(compile(&p, Some(&goal_with(json!({"maxRuntimeSeconds": "soon"})))).is_err());
}

#[test]
fn ungoverned_runs_are_not_routed() {
    let p = plan(
        json!([{"id": "a", "kind": "Task", "risk": "blocked"}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    assert_eq!(dispatched_ids(&step), ["a"]);
    assert!(verdicts(&run).is_empty());
}

/// A governed run's journal as stored (JSON), with the pinned plan, for the evidence checks.
fn stored_journal() -> (Vec<Value>, Run) {
    let p = plan(
        json!([
            {"id": "build", "kind": "Task", "outputs": ["image"]},
            {"id": "deploy", "kind": "Task", "dependsOn": ["build"], "risk": "high",
             "inputs": {"image": "${{ nodes.build.outputs.image }}"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let digest = run.exec.graph().digest().to_string();
    run.send(Input::ExecutionStarted {
        at: run.now,
        uid: "uid-1".into(),
        name: Some("ex".into()),
        namespace: Some("team".into()),
        graph_digest: digest,
        parameters: Default::default(),
        pinned: json!({"plan": serde_json::to_value(&p).unwrap()}),
        deadline: None,
        creator: Some(UserInfo::new("alice", ["dev"])),
        governance: Some(Box::new(Governance {
            policies: vec![policy(
                "routing",
                json!({"rules": [{"name": "images", "when": "has(node.inputs.image) && node.inputs.image.startsWith('app:')", "verdict": "allow"}]}),
            )],
            ..Governance::default()
        })),
        max_parallel: None,
        fail_fast: false,
    });
    run.succeed("build", 1, json!({"image": "app:1"}));
    let entries = run
        .journal
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    (entries, run)
}

#[test]
fn explain_shows_each_rule_with_resolved_inputs() {
    let (_, run) = stored_journal();
    let e = run.exec.explain("deploy").expect("a governed task");
    assert_eq!(e.verdict, PolicyVerdict::Assist);
    assert_eq!(e.policy_verdict, PolicyVerdict::Allow);
    assert_eq!(e.rules.len(), 1);
    assert_eq!(
        e.rules[0].outcome,
        planspec_engine::policy::RuleOutcome::Matched
    );
    assert_eq!(e.risk, RiskLevel::High);
    assert!(run.exec.explain("nope").is_none());
}

#[test]
fn check_journal_agrees_and_reports_an_altered_verdict_precisely() {
    use planspec_engine::evidence::{check_journal, Bundle};
    let (entries, _) = stored_journal();
    let report = check_journal(&entries);
    assert!(report.agrees(), "{:?}", report.problems);
    assert_eq!(report.verdicts, 2);
    assert_eq!(report.policies, ["routing@7"]);

    // Someone turns the recorded assist into an allow.
    let mut altered = entries.clone();
    let i = altered
        .iter()
        .position(|e| e["type"] == "NodeVerdict" && e["node"] == "deploy")
        .unwrap();
    altered[i]["verdict"] = json!("allow");
    let report = check_journal(&altered);
    assert_eq!(report.problems.len(), 1);
    let p = &report.problems[0];
    assert_eq!(p.index, Some(i));
    assert_eq!(p.differences.len(), 1, "{:?}", p.differences);
    assert_eq!(p.differences[0].path, "/verdict");
    assert_eq!(p.differences[0].left, Some(json!("allow")));
    assert_eq!(p.differences[0].right, Some(json!("assist")));

    // A bundle verifies offline; any edit to a part is caught.
    let execution = json!({"metadata": {"name": "ex", "namespace": "team", "uid": "uid-1"}});
    let bundle = Bundle::assemble(execution, entries, Some(vec![])).unwrap();
    let text = serde_json::to_string(&bundle).unwrap();
    let back: Bundle = serde_json::from_str(&text).unwrap();
    assert!(back.verify().agrees(), "{:?}", back.verify().problems);
    let mut tampered = back.clone();
    tampered.parts["plan"]["spec"]["description"] = json!("something else");
    let problems = tampered.verify().problems;
    assert!(
        problems
            .iter()
            .any(|p| p.detail.contains("part `plan` does not match")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.detail.contains("is not what the journal")),
        "{problems:?}"
    );
}

#[test]
fn rules_are_checked_before_they_are_stored() {
    use planspec_engine::policy::check_rule;
    assert_eq!(
        check_rule("node.risk == 'high' && actor.username != ''"),
        Ok(())
    );
    let e = check_rule("nodes.build.phase == 'x'").unwrap_err();
    assert!(e.contains("`nodes`"), "{e}");
    assert!(check_rule("node.id ==").is_err());
    assert!(check_rule("").is_err());
}

#[test]
fn a_plans_own_constraints_apply_and_the_stricter_of_plan_and_goal_wins() {
    let mut p = plan(
        json!([
            {"id": "a", "kind": "Task"},
            {"id": "b", "kind": "Task", "dependsOn": ["a"]}
        ]),
        json!([]),
    );
    p.spec.constraints = json!({"budgetUsd": 0.5, "maxRuntimeSeconds": 30})
        .as_object()
        .cloned();
    // Without a Goal, the Plan's budget alone stops dispatch.
    let mut run = Run::new(Arc::new(compile(&p, None).expect("compiles")));
    governed(&mut run, Governance::default(), json!({}));
    let step = run.send(Input::NodeResult {
        at: run.now,
        node: NodeId::new("a"),
        attempt: 1,
        outcome: Outcome::Succeeded {
            outputs: Default::default(),
            cost_usd: Some(0.6),
        },
        exit_code: None,
    });
    assert!(dispatched_ids(&step).is_empty());
    assert_eq!(run.reason("b"), Some(ReasonCode::BudgetExceeded));
    run.check_journal();
    // With a Goal: the lower cap of each wins.
    let graph = graph_with(
        &p,
        &goal_with(json!({"maxRuntimeSeconds": 10, "budgetUsd": 9})),
    );
    assert_eq!(graph.goal_timeout_ms(), Some(10_000));
    assert_eq!(graph.constraints().budget_usd, Some(0.5));
    // A bad value in the Plan is refused when compiling.
    p.spec.constraints = json!({"budgetUsd": -1}).as_object().cloned();
    let error = compile(&p, None).unwrap_err();
    assert!(
        error.to_string().starts_with("spec.constraints:"),
        "{error}"
    );
}
