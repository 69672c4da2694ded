//! Matrix fan-out through the state machine: expansion, instances dispatched under their own
//! ids, fan-in, limits, empty axes, failFast, maxParallel, cancel, retry — each scenario
//! checks that folding and replaying its journal agree with the live run.

mod common;

use common::*;
use planspec_engine::{
    compile_with, matrix, Command, Decision, Execution, Limits, NodePhase, ReasonCode,
};
use planspec_model::execution::ExecutionPhase;
use serde_json::{json, Value};
use std::sync::Arc;

fn matrix_task(id: &str, deps: &[&str], matrix: Value, inputs: Value) -> Value {
    json!({"id": id, "kind": "Task", "dependsOn": deps, "matrix": matrix, "inputs": inputs})
}

fn ids_of(run: &Run, node: &str) -> Vec<String> {
    run.exec
        .state()
        .instances
        .iter()
        .filter(|i| run.exec.graph().nodes()[i.node].id.as_str() == node)
        .map(|i| i.id.clone())
        .collect()
}

fn inputs_of(step: &planspec_engine::Step) -> Vec<(String, Value)> {
    step.commands
        .iter()
        .filter_map(|c| match c {
            Command::Dispatch { node, inputs, .. } => Some((node.to_string(), inputs.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn instances_run_under_their_own_ids_and_fan_in_in_instance_order() {
    let p = plan(
        json!([
            matrix_task(
                "build",
                &[],
                json!({"axes": [{"name": "os", "values": ["linux", "mac"]},
                                {"name": "v", "values": [1, 2]}]}),
                json!({"target": "${{ matrix.os }}-${{ matrix.v }}"})
            ),
            {"id": "ship", "kind": "Task", "dependsOn": ["build"],
             "inputs": {"all": "${{ nodes.build.outputs.artifact }}",
                        "n": "${{ size(nodes.build.instances) }}"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    let ids = ids_of(&run, "build");
    assert_eq!(ids.len(), 4);
    assert_eq!(
        ids[0],
        matrix::instance_id("build", json!({"os": "linux", "v": 1}).as_object().unwrap())
    );
    assert!(step
        .decisions
        .iter()
        .any(|d| matches!(d, Decision::MatrixExpanded { instances: 4, .. })));
    let dispatched = inputs_of(&step);
    assert_eq!(
        dispatched,
        ids.iter()
            .zip(["linux-1", "linux-2", "mac-1", "mac-2"])
            .map(|(id, t)| (id.clone(), json!({"target": t})))
            .collect::<Vec<_>>()
    );
    assert_eq!(run.phase("build"), NodePhase::Running);
    // Each dispatch has the instance's own idempotency key.
    let keys: Vec<&str> = step
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Dispatch {
                idempotency_key, ..
            } => Some(idempotency_key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        keys.iter().collect::<std::collections::HashSet<_>>().len(),
        4
    );
    // Finish out of order; the fan-in keeps instance order.
    for (k, id) in ids.iter().enumerate().rev() {
        let step = run.succeed(id, 1, json!({"artifact": format!("a{k}")}));
        if k > 0 {
            assert!(dispatched_ids(&step).is_empty());
        } else {
            assert_eq!(run.phase("build"), NodePhase::Succeeded);
            assert_eq!(
                inputs_of(&step),
                [(
                    "ship".to_string(),
                    json!({"all": ["a0", "a1", "a2", "a3"], "n": 4})
                )]
            );
        }
    }
    let step = run.succeed("ship", 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    assert_eq!(run.exec.counters().succeeded, 6);
    run.check_journal();

    // The artifacts are deterministic.
    let folded = Execution::fold(run.exec.graph().clone(), &run.journal).unwrap();
    assert_eq!(
        serde_json::to_vec(&matrix::expansion_manifest(&folded)).unwrap(),
        serde_json::to_vec(&matrix::expansion_manifest(&run.exec)).unwrap()
    );
    let manifest = matrix::expansion_manifest(&run.exec);
    assert_eq!(manifest["matrices"][0]["count"], json!(4));
    assert_eq!(
        manifest["matrices"][0]["instances"][3]["coordinates"],
        json!({"os": "mac", "v": 2})
    );
    let graph = matrix::expanded_graph(&run.exec);
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 6);
    assert_eq!(graph["nodes"][1]["kind"], json!("Instance"));
    assert_eq!(graph["nodes"][5]["id"], json!("ship"));
}

#[test]
fn a_parameter_axis_and_when_per_instance() {
    let p = plan(
        json!([matrix_task(
            "deploy",
            &[],
            json!({"axes": [{"name": "env", "parameter": "envs"}]}),
            json!({"env": "${{ matrix.env }}"})
        )
        .as_object()
        .cloned()
        .map(|mut m| {
            m.insert("when".into(), json!("matrix.env != 'skip'"));
            Value::Object(m)
        })
        .unwrap()]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({"envs": ["dev", "skip", "prod"]}));
    let ids = ids_of(&run, "deploy");
    assert_eq!(dispatched_ids(&step), [ids[0].clone(), ids[2].clone()]);
    assert_eq!(run.phase(&ids[1]), NodePhase::Skipped);
    assert_eq!(run.reason(&ids[1]), Some(ReasonCode::WhenFalse));
    run.succeed(&ids[0], 1, json!({}));
    let step = run.succeed(&ids[2], 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    run.check_journal();
}

#[test]
fn too_many_instances_fail_the_run_before_any_node_runs() {
    let p = plan(
        json!([
            task("first", &[]),
            matrix_task(
                "wide",
                &["first"],
                json!({"axes": [{"name": "a", "values": [1, 2, 3]}, {"name": "b", "values": [1, 2, 3]}]}),
                json!({})
            )
        ]),
        json!([]),
    );
    let limits = Limits {
        max_matrix_instances: 8,
        ..Limits::default()
    };
    let graph = Arc::new(compile_with(&p, None, limits).unwrap());
    assert_ne!(
        graph.digest(),
        compile_with(&p, None, Limits::default()).unwrap().digest()
    );
    let mut run = Run::new(graph);
    let step = run.start(json!({}));
    assert!(dispatched(&step).is_empty());
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Failed, Some(ReasonCode::PlanExpansionLimit)))
    );
    assert_eq!(run.phase("wide"), NodePhase::Failed);
    assert_eq!(run.phase("first"), NodePhase::Skipped);
    let message = &run.exec.node("wide").unwrap().message;
    let message = message.as_deref().unwrap_or_default();
    assert!(
        message.contains("`wide`") && message.contains("9 instances"),
        "{message}"
    );
    run.check_journal();

    // The run-wide limit counts every node and instance.
    let limits = Limits {
        max_run_nodes: 10,
        ..Limits::default()
    };
    let mut run = Run::new(Arc::new(compile_with(&p, None, limits).unwrap()));
    let step = run.start(json!({}));
    assert!(dispatched(&step).is_empty());
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Failed, Some(ReasonCode::PlanExpansionLimit)))
    );
    run.check_journal();
}

#[test]
fn an_empty_parameter_axis_fails_before_any_node_runs() {
    let p = plan(
        json!([
            task("other", &[]),
            matrix_task(
                "m",
                &[],
                json!({"axes": [{"name": "x", "parameter": "xs"}]}),
                json!({})
            )
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({"xs": []}));
    assert!(dispatched(&step).is_empty());
    assert_eq!(
        completed(&step),
        Some((ExecutionPhase::Failed, Some(ReasonCode::MatrixEmpty)))
    );
    assert_eq!(run.reason("other"), Some(ReasonCode::MatrixEmpty));
    run.check_journal();
}

#[test]
fn a_from_output_axis_expands_when_ready_and_an_empty_one_fails_the_node() {
    let p = plan(
        json!([
            {"id": "plan", "kind": "Task", "outputs": ["shards"]},
            matrix_task(
                "shard",
                &["plan"],
                json!({"axes": [{"name": "s", "fromOutput": {"node": "plan", "output": "shards"}}]}),
                json!({"s": "${{ matrix.s }}"})
            ),
            task("after", &["shard"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.succeed("plan", 1, json!({"shards": [7, 8]}));
    assert_eq!(
        inputs_of(&step)
            .into_iter()
            .map(|(_, i)| i)
            .collect::<Vec<_>>(),
        [json!({"s": 7}), json!({"s": 8})]
    );
    run.check_journal();

    let mut run = Run::of(&p);
    run.start(json!({}));
    let step = run.succeed("plan", 1, json!({"shards": []}));
    assert!(dispatched(&step).is_empty());
    assert_eq!(run.phase("shard"), NodePhase::Failed);
    assert_eq!(run.reason("shard"), Some(ReasonCode::MatrixEmpty));
    assert_eq!(run.reason("after"), Some(ReasonCode::UpstreamFailed));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    run.check_journal();
}

#[test]
fn max_parallel_caps_running_instances_and_fail_fast_skips_the_rest() {
    let p = plan(
        json!([matrix_task(
            "m",
            &[],
            json!({"axes": [{"name": "x", "values": [1, 2, 3, 4, 5]}], "maxParallel": 2, "failFast": true}),
            json!({})
        )]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    let ids = ids_of(&run, "m");
    assert_eq!(dispatched_ids(&step), [ids[0].clone(), ids[1].clone()]);
    let step = run.succeed(&ids[0], 1, json!({}));
    assert_eq!(dispatched_ids(&step), [ids[2].clone()]);
    let step = run.fail(&ids[1], 1, ReasonCode::ProviderFailed, false);
    assert!(dispatched(&step).is_empty());
    for id in &ids[3..] {
        assert_eq!(run.phase(id), NodePhase::Skipped);
        assert_eq!(run.reason(id), Some(ReasonCode::FailFast));
    }
    assert_eq!(run.phase("m"), NodePhase::Running);
    let step = run.succeed(&ids[2], 1, json!({}));
    assert_eq!(run.phase("m"), NodePhase::Failed);
    assert_eq!(run.reason("m"), Some(ReasonCode::ProviderFailed));
    assert_eq!(completed(&step).map(|c| c.0), Some(ExecutionPhase::Failed));
    run.check_journal();

    // Without failFast every instance runs (run what can run).
    let p = plan(
        json!([matrix_task(
            "m",
            &[],
            json!({"axes": [{"name": "x", "values": [1, 2, 3]}], "maxParallel": 1}),
            json!({})
        )]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let ids = ids_of(&run, "m");
    let step = run.fail(&ids[0], 1, ReasonCode::ProviderFailed, false);
    assert_eq!(dispatched_ids(&step), [ids[1].clone()]);
    let step = run.succeed(&ids[1], 1, json!({}));
    assert_eq!(dispatched_ids(&step), [ids[2].clone()]);
    run.succeed(&ids[2], 1, json!({}));
    assert_eq!(run.phase("m"), NodePhase::Failed);
    assert_eq!(run.exec.counters().succeeded, 2);
    run.check_journal();
}

#[test]
fn instances_retry_time_out_cancel_and_rerun_with_fresh_keys() {
    let p = plan(
        json!([{"id": "m", "kind": "Task", "retries": 1, "timeout": "10s",
                "matrix": {"axes": [{"name": "x", "values": [1, 2]}]}}]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let ids = ids_of(&run, "m");
    // A retryable failure retries the instance alone, after its backoff.
    let step = run.fail(&ids[0], 1, ReasonCode::ProviderFailed, true);
    let (timer, due) = timers(&step).pop().expect("a backoff timer");
    run.now = due;
    let step = run.fire(timer);
    assert_eq!(dispatched(&step), [(ids[0].clone(), 2)]);
    run.fail(&ids[0], 2, ReasonCode::ProviderFailed, true);
    run.succeed(&ids[1], 1, json!({}));
    assert_eq!(run.phase("m"), NodePhase::Failed);
    assert_eq!(run.exec.phase(), ExecutionPhase::Failed);
    run.check_journal();

    // Retrying the run re-expands the matrix; attempts count on, so keys never repeat.
    let step = run.retry(None);
    let again = dispatched(&step);
    assert_eq!(again, [(ids[0].clone(), 3), (ids[1].clone(), 2)]);
    // A graceful cancel lets running instances finish; the matrix node ends with them.
    run.cancel(false);
    run.succeed(&ids[0], 3, json!({}));
    let step = run.succeed(&ids[1], 2, json!({}));
    assert_eq!(
        completed(&step).map(|c| c.0),
        Some(ExecutionPhase::Cancelled)
    );
    run.check_journal();

    // A snapshot restores the instances.
    let snapshot = run.exec.snapshot();
    let text = serde_json::to_string(&snapshot).unwrap();
    let restored = Execution::restore(
        run.exec.graph().clone(),
        serde_json::from_str(&text).unwrap(),
    )
    .unwrap();
    assert_eq!(restored, run.exec);
    assert_eq!(restored.node(&ids[1]).unwrap().phase, NodePhase::Succeeded);
}

#[test]
fn recover_redispatches_running_instances_with_their_keys() {
    let p = plan(
        json!([matrix_task(
            "m",
            &[],
            json!({"axes": [{"name": "x", "values": ["a", "b"]}]}),
            json!({"x": "${{ matrix.x }}"})
        )]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    let folded = Execution::fold(run.exec.graph().clone(), &run.journal).unwrap();
    let recovered: Vec<Command> = folded
        .recover()
        .into_iter()
        .filter(|c| matches!(c, Command::Dispatch { .. }))
        .collect();
    let live: Vec<Command> = step
        .commands
        .into_iter()
        .filter(|c| matches!(c, Command::Dispatch { .. }))
        .collect();
    assert_eq!(recovered, live);
    assert_eq!(
        run.exec.owner_of(&ids_of(&run, "m")[0]).map(|o| o.as_str()),
        Some("m")
    );
}

#[test]
fn a_matrix_with_a_thousand_instances_runs_and_replays() {
    let values: Vec<Value> = (0..1000).map(|i| json!(i)).collect();
    let p = plan(
        json!([
            matrix_task("m", &[], json!({"axes": [{"name": "i", "values": values}], "maxParallel": 50}), json!({"i": "${{ matrix.i }}"})),
            {"id": "sum", "kind": "Task", "dependsOn": ["m"], "inputs": {"n": "${{ size(nodes.m.outputs.out) }}"}}
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let mut step = run.start(json!({}));
    let mut queue: std::collections::VecDeque<String> = dispatched_ids(&step).into();
    assert_eq!(queue.len(), 50);
    while let Some(id) = queue.pop_front() {
        if id == "sum" {
            break;
        }
        step = run.succeed(&id, 1, json!({"out": 1}));
        queue.extend(dispatched_ids(&step));
    }
    assert_eq!(inputs_of(&step), [("sum".to_string(), json!({"n": 1000}))]);
    run.check_journal();
}

/// 100 matrix Tasks × 1,000 instances: every step stays cheap (no per-step scan of all
/// instances), so the whole run is quick even in a debug build.
#[test]
fn a_hundred_thousand_instances_run_without_quadratic_steps() {
    let values: Vec<Value> = (0..1000).map(|i| json!(i)).collect();
    let nodes: Vec<Value> = (0..100)
        .map(|k| {
            matrix_task(
                &format!("m{k}"),
                &[],
                json!({"axes": [{"name": "i", "values": values}]}),
                json!({}),
            )
        })
        .collect();
    let p = plan(json!(nodes), json!([]));
    let started = std::time::Instant::now();
    let mut exec = Execution::new(Arc::new(compile_with(&p, None, Limits::default()).unwrap()));
    let step = exec
        .handle(planspec_engine::Input::ExecutionStarted {
            at: T0,
            uid: "u".into(),
            name: None,
            namespace: None,
            graph_digest: exec.graph().digest().to_string(),
            parameters: Default::default(),
            pinned: Value::Null,
            deadline: None,
            creator: None,
            governance: None,
            max_parallel: None,
            fail_fast: false,
        })
        .unwrap();
    let ids = dispatched_ids(&step);
    assert_eq!(ids.len(), 100_000);
    for id in ids {
        exec.handle(planspec_engine::Input::NodeResult {
            at: T0 + 1,
            node: id.as_str().into(),
            attempt: 1,
            outcome: planspec_engine::Outcome::Succeeded {
                outputs: Default::default(),
                cost_usd: None,
            },
            exit_code: None,
        })
        .unwrap();
    }
    assert_eq!(exec.phase(), ExecutionPhase::Succeeded);
    assert_eq!(exec.counters().succeeded, 100_100);
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 120, "took {elapsed:?}");
}

#[test]
fn a_snapshot_taken_mid_matrix_resumes_exactly_like_the_live_run() {
    let p = plan(
        json!([
            matrix_task(
                "m",
                &[],
                json!({"axes": [{"name": "x", "values": [1, 2, 3, 4, 5]}], "maxParallel": 2}),
                json!({"x": "${{ matrix.x }}"})
            ),
            task("after", &["m"])
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    run.start(json!({}));
    let ids = ids_of(&run, "m");
    run.succeed(&ids[0], 1, json!({"y": 1}));
    // Restore a snapshot (as a restarted runtime would) and drive both the same way.
    let text = serde_json::to_string(&run.exec.snapshot()).unwrap();
    let mut restored = Execution::restore(
        run.exec.graph().clone(),
        serde_json::from_str(&text).unwrap(),
    )
    .unwrap();
    assert_eq!(restored, run.exec);
    let running: Vec<String> = restored
        .recover()
        .into_iter()
        .filter_map(|c| match c {
            Command::Dispatch { node, .. } => Some(node.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(running, [ids[1].clone(), ids[2].clone()]);
    for id in &ids[1..] {
        let input = planspec_engine::Input::NodeResult {
            at: run.now,
            node: id.as_str().into(),
            attempt: 1,
            outcome: planspec_engine::Outcome::Succeeded {
                outputs: json!({"y": 1}).as_object().cloned().unwrap(),
                cost_usd: None,
            },
            exit_code: None,
        };
        let live = run.send(input.clone());
        let again = restored.handle(input).unwrap();
        assert_eq!(live, again);
    }
    assert_eq!(run.phase("m"), NodePhase::Succeeded);
    assert_eq!(restored, run.exec);
    // Retrying from an instance re-runs its matrix.
    run.succeed("after", 1, json!({}));
    let step = run.retry(Some(&ids[3]));
    assert!(step.decisions.iter().any(|d| matches!(
        d,
        Decision::ExecutionRetried { nodes, .. } if nodes.iter().map(|n| n.as_str()).collect::<Vec<_>>() == ["m", "after"]
    )));
    assert_eq!(dispatched_ids(&step), [ids[0].clone(), ids[1].clone()]);
    run.check_journal();
}

#[test]
fn the_executions_max_parallel_counts_instances_not_the_matrix_node() {
    let p = plan(
        json!([matrix_task(
            "m",
            &[],
            json!({"axes": [{"name": "x", "values": [1, 2, 3]}]}),
            json!({})
        )]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start_with(json!({}), Some(1), false);
    let ids = ids_of(&run, "m");
    assert_eq!(dispatched_ids(&step), [ids[0].clone()]);
    assert_eq!(
        dispatched_ids(&run.succeed(&ids[0], 1, json!({}))),
        [ids[1].clone()]
    );
    assert_eq!(
        dispatched_ids(&run.succeed(&ids[1], 1, json!({}))),
        [ids[2].clone()]
    );
    let step = run.succeed(&ids[2], 1, json!({}));
    assert_eq!(completed(&step), Some((ExecutionPhase::Succeeded, None)));
    assert_eq!(run.exec.state().matrix_nodes_running(), 0);
    run.check_journal();
}

/// `failFast` with every instance running at once: the first failure sweeps the ones not
/// started once; each later result does not sweep again (no quadratic work).
#[test]
fn fail_fast_with_many_running_instances_sweeps_once() {
    let values: Vec<Value> = (0..20_000).map(|i| json!(i)).collect();
    let p = plan(
        json!([matrix_task(
            "m",
            &[],
            json!({"axes": [{"name": "i", "values": values}], "failFast": true}),
            json!({})
        )]),
        json!([]),
    );
    let limits = Limits {
        max_matrix_instances: 20_000,
        ..Limits::default()
    };
    let mut run = Run::new(Arc::new(compile_with(&p, None, limits).unwrap()));
    let started = std::time::Instant::now();
    let step = run.start(json!({}));
    let ids = dispatched_ids(&step);
    assert_eq!(ids.len(), 20_000);
    run.fail(&ids[0], 1, ReasonCode::ProviderFailed, false);
    for id in &ids[1..] {
        run.succeed(id, 1, json!({}));
    }
    assert_eq!(run.phase("m"), NodePhase::Failed);
    assert_eq!(run.exec.phase(), ExecutionPhase::Failed);
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
}

/// A 2,000-instance matrix reading a 2,000-instance upstream matrix: the upstream fan-in
/// (`outputs` lists and `instances`) is built once, after the upstream finished, converted
/// once into the CEL interpreter's form, and read by every downstream expression through
/// `nodes.<id>.outputs` / `nodes.<id>.instances` without a copy — not rebuilt, copied and
/// converted per instance and expression (about 8 million values here). Replay agrees.
#[test]
fn a_matrix_reading_a_large_upstream_matrix_shares_its_fan_in() {
    let started = std::time::Instant::now();
    let values: Vec<Value> = (0..2000).map(|i| json!(i)).collect();
    let p = plan(
        json!([
            matrix_task(
                "a",
                &[],
                json!({"axes": [{"name": "i", "values": values}]}),
                json!({})
            ),
            matrix_task(
                "b",
                &["a"],
                json!({"axes": [{"name": "i", "values": values}]}),
                json!({"x": "${{ nodes.a.outputs.out[matrix.i] }}",
                       "n": "${{ size(nodes.a.instances) }}",
                       "id": "${{ nodes.a.instances[matrix.i].outputs.out }}"})
            ),
        ]),
        json!([]),
    );
    let mut run = Run::of(&p);
    let step = run.start(json!({}));
    let a = dispatched_ids(&step);
    assert_eq!(a.len(), 2000);
    let mut b = Vec::new();
    for (k, id) in a.iter().enumerate() {
        let step = run.succeed(id, 1, json!({"out": k}));
        b = inputs_of(&step);
    }
    assert_eq!(b.len(), 2000);
    for (k, (_, inputs)) in b.iter().enumerate() {
        assert_eq!(inputs, &json!({"x": k, "n": 2000, "id": k}));
    }
    for (id, _) in &b {
        run.succeed(id, 1, json!({}));
    }
    assert_eq!(run.exec.phase(), ExecutionPhase::Succeeded);
    run.check_journal();
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 15, "took {elapsed:?}");
}

/// A retry re-runs `plan`, whose new output re-expands `shard` into other instances: the
/// artifacts still export, with records for the first round's instances (retired, numbered
/// after the expanded graph's nodes) as well as the final ones.
#[test]
fn artifacts_export_after_a_retry_re_expanded_a_matrix_differently() {
    let p = plan(
        json!([
            {"id": "plan", "kind": "Task", "outputs": ["shards"]},
            matrix_task(
                "shard",
                &["plan"],
                json!({"axes": [{"name": "s", "fromOutput": {"node": "plan", "output": "shards"}}]}),
                json!({"s": "${{ matrix.s }}"})
            )
        ]),
        json!([]),
    );
    let graph = Arc::new(compile_with(&p, None, Limits::default()).unwrap());
    let mut exec = Execution::new(graph.clone());
    let mut journal = Vec::new();
    let mut send = |exec: &mut Execution, input: planspec_engine::Input| {
        let step = exec.handle(input.clone()).unwrap();
        journal.extend(step.journal_entries(&input));
        step
    };
    let result =
        |exec: &Execution, node: &str, outputs: Value| planspec_engine::Input::NodeResult {
            at: T0 + 1,
            node: node.into(),
            attempt: exec.node(node).unwrap().attempt,
            outcome: planspec_engine::Outcome::Succeeded {
                outputs: outputs.as_object().cloned().unwrap_or_default(),
                cost_usd: None,
            },
            exit_code: None,
        };
    send(
        &mut exec,
        planspec_engine::Input::ExecutionStarted {
            at: T0,
            uid: "u".into(),
            name: None,
            namespace: None,
            graph_digest: graph.digest().to_string(),
            parameters: Default::default(),
            pinned: json!({"plan": p}),
            deadline: None,
            creator: None,
            governance: None,
            max_parallel: None,
            fail_fast: false,
        },
    );
    let step = {
        let input = result(&exec, "plan", json!({"shards": [1, 2]}));
        send(&mut exec, input)
    };
    let first = dispatched_ids(&step);
    assert_eq!(first.len(), 2);
    for id in &first {
        {
            let input = result(&exec, id, json!({}));
            send(&mut exec, input)
        };
    }
    assert_eq!(exec.phase(), ExecutionPhase::Succeeded);
    send(
        &mut exec,
        planspec_engine::Input::RetryRequested {
            at: T0 + 2,
            from: Some("plan".into()),
            deadline: None,
            by: None,
        },
    );
    let step = {
        let input = result(&exec, "plan", json!({"shards": [3]}));
        send(&mut exec, input)
    };
    let second = dispatched_ids(&step);
    assert_eq!(second.len(), 1);
    assert!(!first.contains(&second[0]));
    {
        let input = result(&exec, &second[0], json!({}));
        send(&mut exec, input)
    };
    assert_eq!(exec.phase(), ExecutionPhase::Succeeded);

    let entries: Vec<Value> = journal
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let artifacts = planspec_engine::evidence::RunArtifacts::derive(&entries)
        .unwrap_or_else(|e| panic!("export fails: {e}"));
    let nodes = artifacts.expanded_graph["nodes"].as_array().unwrap().len();
    assert_eq!(nodes, 3);
    let records: Vec<(&str, usize, u32)> = artifacts
        .attempts
        .iter()
        .map(|r| (r.node.as_str(), r.index, r.round))
        .collect();
    for id in &first {
        let r = records
            .iter()
            .find(|r| r.0 == id.as_str())
            .expect("a retired record");
        assert!(r.1 >= nodes && r.2 == 0, "{r:?}");
    }
    assert!(records
        .iter()
        .any(|r| r.0 == second[0].as_str() && r.1 < nodes && r.2 == 1));
    let retired = artifacts
        .attempts
        .iter()
        .find(|r| r.node == first[0])
        .unwrap();
    assert_eq!(retired.matrix_node.as_deref(), Some("shard"));
    assert_eq!(
        retired.coordinates,
        Some(json!({"s": 1}).as_object().cloned().unwrap())
    );
    // Deterministic.
    assert_eq!(
        planspec_engine::evidence::RunArtifacts::derive(&entries).unwrap(),
        artifacts
    );
}
