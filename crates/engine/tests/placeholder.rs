//! Placeholder nodes: each source in order (parameter → selector → resolver → person), the
//! constraints, timeouts, cancel, recovery and replay. Every scenario ends by checking that
//! folding its journal gives the live state and that replaying it agrees.

mod common;

use common::*;
use planspec_engine::placeholder::{PlaceholderRefusal, Source, Violation};
use planspec_engine::{Command, Decision, Input, NodePhase, ReasonCode, Step, TimerId};
use planspec_model::execution::ExecutionPhase;
use planspec_model::NodeId;
use serde_json::{json, Value};

/// A plan: Placeholder `port` (with `extra` fields), then Task `deploy` reading its value.
fn port_plan(extra: Value) -> planspec_model::Plan {
    let mut placeholder = json!({
        "id": "port", "kind": "Placeholder", "description": "The port to listen on",
        "schema": {"type": "integer", "minimum": 1, "maximum": 65535},
        "rules": [{"expression": "value < 1024", "message": "pick a privileged port"}]
    });
    placeholder
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap());
    plan(
        json!([
            placeholder,
            {"id": "deploy", "kind": "Task", "dependsOn": ["port"],
             "inputs": {"port": "${{ nodes.port.outputs.value }}"}}
        ]),
        json!([]),
    )
}

fn waiting(step: &Step) -> Option<Source> {
    step.decisions.iter().find_map(|d| match d {
        Decision::PlaceholderWaiting { source, .. } => Some(*source),
        _ => None,
    })
}

fn dispatch_inputs(step: &Step, node: &str) -> Option<Value> {
    step.commands.iter().find_map(|c| match c {
        Command::Dispatch {
            node: n, inputs, ..
        } if n.as_str() == node => Some(inputs.clone()),
        _ => None,
    })
}

fn value(run: &mut Run, source: Source, value: Option<Value>, by: &str) -> Step {
    let attempt = run.exec.node("port").unwrap().attempt;
    run.send(Input::PlaceholderValue {
        at: run.now,
        node: NodeId::new("port"),
        attempt,
        source,
        value,
        by: Some(by.into()),
    })
}

#[test]
fn a_parameter_named_like_the_node_fills_it_at_once() {
    let mut run = Run::of(&port_plan(json!({})));
    let step = run.start(json!({"port": 443}));
    assert_eq!(run.phase("port"), NodePhase::Succeeded);
    assert_eq!(
        run.outputs("port"),
        json!({"value": 443, "source": "parameter"})
            .as_object()
            .cloned()
            .unwrap()
    );
    // Downstream reads `nodes.port.outputs.value`.
    assert_eq!(dispatch_inputs(&step, "deploy"), Some(json!({"port": 443})));
    run.check_journal();
}

#[test]
fn a_bad_parameter_fails_the_node_naming_the_source_and_constraint() {
    let mut run = Run::of(&port_plan(json!({})));
    run.start(json!({"port": 8080}));
    assert_eq!(run.phase("port"), NodePhase::Failed);
    assert_eq!(run.reason("port"), Some(ReasonCode::PlaceholderRejected));
    let message = run.exec.node("port").unwrap().message.clone().unwrap();
    assert!(message.contains("parameter"), "{message}");
    assert!(message.contains("pick a privileged port"), "{message}");
    assert_eq!(run.reason("deploy"), Some(ReasonCode::UpstreamFailed));
    run.check_journal();

    let mut run = Run::of(&port_plan(json!({})));
    run.start(json!({"port": "eighty"}));
    assert_eq!(run.reason("port"), Some(ReasonCode::PlaceholderRejected));
    let message = run.exec.node("port").unwrap().message.clone().unwrap();
    assert!(message.contains("schema"), "{message}");
    run.check_journal();
}

#[test]
fn sources_are_asked_in_order_and_an_empty_one_passes_to_the_next() {
    let extra = json!({
        "selector": {"kind": "ConfigMap", "matchLabels": {"role": "port"}},
        "resolverRef": {"name": "port-picker"}
    });
    let mut run = Run::of(&port_plan(extra));
    let step = run.start(json!({}));
    assert_eq!(waiting(&step), Some(Source::Selector));
    assert!(step.commands.iter().any(|c| matches!(
        c,
        Command::ResolveSelector { kind, .. } if kind == "ConfigMap"
    )));
    assert_eq!(run.phase("port"), NodePhase::Running);
    // Nothing matches: the resolver's provider is asked.
    let step = value(&mut run, Source::Selector, None, "");
    assert_eq!(waiting(&step), Some(Source::Resolver));
    let inputs = dispatch_inputs(&step, "port").expect("the resolver is dispatched");
    assert_eq!(inputs["description"], json!("The port to listen on"));
    // The resolver returns no `value`: a person is asked.
    let step = run.succeed("port", 1, json!({"other": 1}));
    assert_eq!(waiting(&step), Some(Source::Person));
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    assert_eq!(run.exec.counters().awaiting_input, 1);
    assert_eq!(run.exec.awaiting_input().len(), 1);
    let step = value(&mut run, Source::Person, Some(json!(22)), "alice");
    assert_eq!(run.phase("port"), NodePhase::Succeeded);
    assert_eq!(
        run.outputs("port"),
        json!({"value": 22, "source": "person", "by": "alice"})
            .as_object()
            .cloned()
            .unwrap()
    );
    assert_eq!(dispatch_inputs(&step, "deploy"), Some(json!({"port": 22})));
    run.check_journal();
}

#[test]
fn a_selector_match_fills_the_node() {
    let extra = json!({"selector": {"kind": "ConfigMap"}});
    let mut run = Run::of(&port_plan(extra));
    run.start(json!({}));
    let step = value(
        &mut run,
        Source::Selector,
        Some(json!(80)),
        "ConfigMap/http",
    );
    assert_eq!(run.phase("port"), NodePhase::Succeeded);
    assert_eq!(run.outputs("port")["by"], json!("ConfigMap/http"));
    assert_eq!(dispatch_inputs(&step, "deploy"), Some(json!({"port": 80})));
    run.check_journal();
}

#[test]
fn a_resolver_value_fills_the_node_and_a_bad_one_fails_it() {
    let extra = json!({"resolverRef": {"name": "port-picker"}});
    let mut run = Run::of(&port_plan(extra.clone()));
    let step = run.start(json!({}));
    assert_eq!(waiting(&step), Some(Source::Resolver));
    let step = run.succeed("port", 1, json!({"value": 25}));
    assert_eq!(run.outputs("port")["source"], json!("resolver"));
    assert_eq!(dispatch_inputs(&step, "deploy"), Some(json!({"port": 25})));
    run.check_journal();

    let mut run = Run::of(&port_plan(extra.clone()));
    run.start(json!({}));
    run.succeed("port", 1, json!({"value": 99999}));
    assert_eq!(run.reason("port"), Some(ReasonCode::PlaceholderRejected));
    assert!(run
        .exec
        .node("port")
        .unwrap()
        .message
        .as_deref()
        .unwrap()
        .contains("resolver"));
    run.check_journal();

    let mut run = Run::of(&port_plan(extra));
    run.start(json!({}));
    run.fail("port", 1, ReasonCode::ProviderFailed, true);
    assert_eq!(run.reason("port"), Some(ReasonCode::ProviderFailed));
    run.check_journal();
}

#[test]
fn a_persons_bad_value_is_refused_and_the_node_keeps_waiting() {
    let mut run = Run::of(&port_plan(json!({})));
    run.start(json!({}));
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    // The runtime's check says which constraint failed.
    match run.exec.check_placeholder("port", &json!(8080)) {
        Err(PlaceholderRefusal::Rejected(r)) => assert!(matches!(
            &r.violations[..],
            [Violation::Rule { message, .. }] if message == "pick a privileged port"
        )),
        other => panic!("{other:?}"),
    }
    match run.exec.check_placeholder("port", &json!({"p": 1})) {
        Err(PlaceholderRefusal::Rejected(r)) => {
            assert!(matches!(r.violations[0], Violation::Schema { .. }))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        run.exec.check_placeholder("deploy", &json!(1)),
        Err(PlaceholderRefusal::NotPlaceholder(_))
    ));
    assert!(matches!(
        run.exec.check_placeholder("nope", &json!(1)),
        Err(PlaceholderRefusal::UnknownNode(_))
    ));
    assert_eq!(run.exec.check_placeholder("port", &json!(443)), Ok(()));
    // Journaled anyway, the engine ignores it.
    let step = value(&mut run, Source::Person, Some(json!(8080)), "bob");
    assert_eq!(ignored(&step), Some(ReasonCode::PlaceholderRejected));
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    value(&mut run, Source::Person, Some(json!(443)), "bob");
    assert_eq!(run.phase("port"), NodePhase::Succeeded);
    assert!(matches!(
        run.exec.check_placeholder("port", &json!(443)),
        Err(PlaceholderRefusal::NotAwaiting { .. })
    ));
    run.check_journal();
}

#[test]
fn the_timeout_counts_the_whole_wait() {
    let extra = json!({"timeout": "1m", "selector": {"kind": "ConfigMap"}});
    let mut run = Run::of(&port_plan(extra));
    let step = run.start(json!({}));
    let due = timers(&step)
        .into_iter()
        .find(|(t, _)| matches!(t, TimerId::Timeout { .. }))
        .expect("a timeout timer");
    assert_eq!(due.1, T0 + 60_000);
    run.advance(1_000);
    value(&mut run, Source::Selector, None, "");
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    // Restarting now re-arms the same timer at its original time.
    assert!(run.exec.recover().iter().any(|c| matches!(
        c,
        Command::StartTimer { due_at, .. } if *due_at == T0 + 60_000
    )));
    run.advance(59_000);
    let step = run.fire(due.0);
    assert_eq!(run.reason("port"), Some(ReasonCode::PlaceholderTimeout));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    run.check_journal();
}

#[test]
fn cancel_ends_the_wait_and_recovery_asks_again() {
    let extra = json!({"selector": {"kind": "ConfigMap"}});
    let mut run = Run::of(&port_plan(extra));
    run.start(json!({}));
    assert!(run
        .exec
        .recover()
        .iter()
        .any(|c| matches!(c, Command::ResolveSelector { .. })));
    let step = run.cancel(false);
    assert_eq!(run.phase("port"), NodePhase::Cancelled);
    assert_eq!(
        completed(&step).map(|c| c.0),
        Some(ExecutionPhase::Cancelled)
    );
    run.check_journal();

    let mut run = Run::of(&port_plan(json!({})));
    run.start(json!({}));
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    run.cancel(false);
    assert_eq!(run.phase("port"), NodePhase::Cancelled);
    let late = value(&mut run, Source::Person, Some(json!(22)), "late");
    assert!(ignored(&late).is_some());
    run.check_journal();
}

#[test]
fn a_bad_schema_or_rule_refuses_the_plan() {
    let p = port_plan(json!({"schema": {"type": 12}}));
    assert!(planspec_engine::compile(&p, None).is_err());
    let p = port_plan(json!({"rules": [{"expression": "value >"}]}));
    assert!(planspec_engine::compile(&p, None).is_err());
    // Rules read only upstream nodes, as a `when` does.
    let p = port_plan(json!({"rules": [{"expression": "value == nodes.deploy.outputs.port"}]}));
    let err = planspec_engine::compile(&p, None).unwrap_err().to_string();
    assert!(err.contains("not upstream"), "{err}");
    let p = port_plan(json!({"rules": [{"expression": "value == nodes.nope.outputs.port"}]}));
    assert!(planspec_engine::compile(&p, None).is_err());
}

#[test]
fn rules_read_the_values_of_upstream_nodes() {
    let p = plan(
        json!([
            {"id": "limit", "kind": "Task"},
            {"id": "port", "kind": "Placeholder", "description": "A port under the limit",
             "dependsOn": ["limit"],
             "rules": [{"expression": "value < nodes.limit.outputs.max", "message": "too high"}]}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    run.succeed("limit", 1, json!({"max": 100}));
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    assert!(matches!(
        run.exec.check_placeholder("port", &json!(200)),
        Err(PlaceholderRefusal::Rejected(_))
    ));
    assert_eq!(run.exec.check_placeholder("port", &json!(50)), Ok(()));
    value(&mut run, Source::Person, Some(json!(50)), "ann");
    assert_eq!(run.phase("port"), NodePhase::Succeeded);
    run.check_journal();
}

/// A person's `null` (`planspec resolve --value null`) is a value: the journal read back
/// from JSON keeps it (`"value": null`, not an absent value), so the fold and replay of the
/// stored journal re-derive the live run.
#[test]
fn a_null_value_survives_the_stored_journal_and_replays() {
    let p = plan(
        json!([
            {"id": "port", "kind": "Placeholder", "description": "Anything, even null"},
            {"id": "deploy", "kind": "Task", "dependsOn": ["port"],
             "inputs": {"port": "${{ nodes.port.outputs.value }}"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    let step = value(&mut run, Source::Person, Some(Value::Null), "alice");
    assert_eq!(run.phase("port"), NodePhase::Succeeded);
    assert_eq!(
        dispatch_inputs(&step, "deploy"),
        Some(json!({"port": null}))
    );
    run.check_journal();
    // Through JSON, as the store keeps it.
    let text = serde_json::to_string(&run.journal).unwrap();
    let stored: Vec<planspec_engine::Event> = serde_json::from_str(&text).unwrap();
    assert_eq!(stored, run.journal);
    let replayed = planspec_engine::replay(run.exec.graph().clone(), &stored)
        .unwrap_or_else(|d| panic!("replay diverges: {d}"));
    assert_eq!(replayed, run.exec);
    // An absent value stays absent.
    let absent: planspec_engine::Event = serde_json::from_value(json!({
        "type": "PlaceholderValue", "at": 1, "node": "port", "attempt": 1, "source": "selector"
    }))
    .unwrap();
    assert!(matches!(
        absent,
        planspec_engine::Event::Input(Input::PlaceholderValue { value: None, .. })
    ));
}

/// A Placeholder waiting in a large run: listing what awaits input (every status write does)
/// reads a set kept by phase changes, and checking a person's value borrows the run instead
/// of copying it — both cheap however many nodes the run has.
#[test]
fn waiting_placeholders_are_listed_and_checked_without_scanning_or_copying_the_run() {
    let mut nodes: Vec<Value> = (0..9_999).map(|k| task(&format!("t{k}"), &[])).collect();
    nodes.push(json!({
        "id": "port", "kind": "Placeholder", "description": "The port",
        "schema": {"type": "integer"},
        "rules": [{"expression": "value < 1024", "message": "pick a privileged port"}]
    }));
    let mut run = Run::of(&plan(json!(nodes), json!([])));
    run.start(json!({}));
    assert_eq!(run.phase("port"), NodePhase::AwaitingInput);
    let started = std::time::Instant::now();
    for _ in 0..100_000 {
        let waiting = run.exec.awaiting_input();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].0.as_str(), "port");
    }
    for _ in 0..500 {
        assert!(run.exec.check_placeholder("port", &json!(22)).is_ok());
        assert!(run.exec.check_placeholder("port", &json!(8080)).is_err());
    }
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 5, "took {elapsed:?}");
    value(&mut run, Source::Person, Some(json!(22)), "alice");
    assert!(run.exec.awaiting_input().is_empty());
    run.check_journal();
}
