//! Every Plan of the upstream conformance corpus (`../shared/conformance/upstream/`, read in
//! place through `planspec-validate`) compiles, and runs to completion when every provider
//! succeeds and every Gate is approved.

mod common;

use common::Run;
use planspec_engine::{compile, Command, Input, Outcome, Verdict};
use planspec_model::execution::ExecutionPhase;
use planspec_model::{Kind, Plan};
use planspec_validate::{validate, Options, SourceFile, SourceMap};
use serde_json::json;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn corpus() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/upstream");
    assert!(
        dir.is_dir(),
        "the conformance corpus must sit beside the repository at {}",
        dir.display()
    );
    dir
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Answers every command the happy way until the execution finishes.
fn run_to_completion(run: &mut Run, first: Vec<Command>) -> ExecutionPhase {
    let mut todo: VecDeque<Command> = first.into();
    let mut steps = 0;
    while let Some(command) = todo.pop_front() {
        steps += 1;
        assert!(steps < 100_000, "the run does not finish");
        run.advance(1);
        let input = match command {
            Command::Dispatch { node, attempt, .. } => Input::NodeResult {
                at: run.now,
                node,
                attempt,
                outcome: Outcome::Succeeded {
                    outputs: Default::default(),
                    cost_usd: None,
                },
                exit_code: None,
            },
            Command::EvaluateCriteria {
                node,
                attempt,
                criteria,
                ..
            } => Input::CriteriaResult {
                at: run.now,
                node,
                attempt,
                verdicts: criteria
                    .iter()
                    .map(|c| Verdict {
                        name: c.name().to_string(),
                        passed: true,
                        message: None,
                    })
                    .collect(),
            },
            Command::OpenGate { node, .. } => Input::GateResolved {
                at: run.now,
                node,
                approved: true,
                by: Some("user:ci".into()),
                comment: None,
                outputs: None,
                timed_out: false,
            },
            Command::WatchExternal { node, .. } => Input::ExternalCompleted {
                at: run.now,
                node,
                outcome: Outcome::Succeeded {
                    outputs: Default::default(),
                    cost_usd: None,
                },
            },
            _ => continue,
        };
        todo.extend(run.send(input).commands);
    }
    run.exec.phase()
}

#[test]
fn every_upstream_plan_compiles_and_runs() {
    let mut sources = SourceMap::new();
    for path in yaml_files(&corpus()) {
        let text = std::fs::read_to_string(&path).unwrap();
        sources.add(SourceFile::new(path.display().to_string(), text));
    }
    let report = validate(sources, &Options::default());
    let (mut compiled, mut valid) = (0, 0);
    for resource in report.resources.iter().filter(|r| r.kind == Kind::Plan) {
        let Ok(plan) = resource.to_typed::<Plan>() else {
            // A template with `${VAR}` placeholders, say: not a Plan yet.
            continue;
        };
        let name = resource.display_name();
        let result = compile(&plan, None);
        if !resource.is_valid() {
            // Whatever the validator objected to, compiling must not panic.
            continue;
        }
        valid += 1;
        let graph = result.unwrap_or_else(|e| panic!("{name} must compile: {e}"));
        compiled += 1;
        let mut run = Run::new(Arc::new(graph));
        let first = run.start(json!({})).commands;
        let phase = run_to_completion(&mut run, first);
        assert_eq!(
            phase,
            ExecutionPhase::Succeeded,
            "{name}: {:?}",
            run.exec.state().message
        );
        run.check_journal();
    }
    eprintln!("{compiled} upstream plans compiled and ran");
    assert_eq!(compiled, valid);
    assert!(
        compiled >= 20,
        "expected the upstream plans, found {compiled}"
    );
}

/// The `retryPolicy` extension passes `planspec validate` on a Task (and only there), and the
/// engine compiles what the validator accepted.
#[test]
fn retry_policy_is_validated_and_compiled() {
    let yaml = |kind_fields: &str| {
        format!(
            "apiVersion: planspec.io/v1alpha1
kind: Plan
metadata: {{name: p}}
spec:
  description: d
  graph:
    nodes:
      - id: deploy
        {kind_fields}
        retries: 3
        retryPolicy:
          backoff: {{initial: 5s, max: 2m, factor: 3}}
          retryOn: [provider_unavailable, node_timeout]
"
        )
    };
    let check = |text: String| {
        let mut sources = SourceMap::new();
        sources.add(SourceFile::new("p.yaml", text));
        validate(sources, &Options::default())
    };
    let report = check(yaml("kind: Task"));
    assert_eq!(report.error_count(), 0, "{:?}", report.diagnostics);
    let plan: Plan = report.resources[0].to_typed().unwrap();
    let graph = compile(&plan, None).unwrap();
    let planspec_engine::ExecKind::Task(task) = &graph.nodes()[0].kind else {
        panic!("a Task")
    };
    assert_eq!(task.retry.initial_ms, 5_000);
    assert_eq!(task.retry.factor_permille, 3_000);

    let report = check(yaml("kind: Gate\n        gateRef: {name: g}"));
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.severity == planspec_validate::Severity::Error
                && d.path.as_deref().is_some_and(|p| p.contains("retryPolicy"))),
        "retryPolicy is a Task field: {:?}",
        report.diagnostics
    );
}
