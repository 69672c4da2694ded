//! Valid uses of the graph-semantics extensions: `spec.steps`, edges with `on`, `finally`
//! Tasks. They validate without any finding, even with `--strict`; a plan with neither
//! `graph` nor `steps` is a missing field.

use planspec_validate::{validate, Code, Limits, Options, Report, SourceFile, SourceMap};

fn run(text: &str) -> Report {
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new("plan.yaml", text));
    validate(
        sources,
        &Options {
            strict: true,
            limits: Limits::default(),
        },
    )
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.diagnostics.iter().map(|d| d.code.id()).collect()
}

#[test]
fn a_steps_plan_with_finally_tasks_is_valid() {
    let report = run(r#"
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: release
spec:
  description: Build, test and ship, then clean up
  steps:
    - id: build
      kind: Task
      outputs: [image]
    - id: test
      kind: Task
      inputs:
        image: "${{ nodes.build.outputs.image }}"
      when: "nodes.build.phase == 'Succeeded'"
    - id: ship
      kind: Task
    - id: cleanup
      kind: Task
      finally: true
      when: "execution.outcome != 'Succeeded'"
    - id: report
      kind: Task
      finally: true
"#);
    assert!(report.diagnostics.is_empty(), "{:?}", codes(&report));
}

#[test]
fn edges_with_conditions_and_finally_tasks_are_valid() {
    let report = run(r#"
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: deploy
spec:
  description: Deploy, roll back on failure, always clean up
  graph:
    nodes:
      - id: deploy
        kind: Task
      - id: rollback
        kind: Task
      - id: notify
        kind: Task
      - id: cleanup
        kind: Task
        finally: true
      - id: audit
        kind: Task
        finally: true
        dependsOn: [cleanup]
    edges:
      - from: deploy
        to: rollback
        on: failure
      - from: deploy
        to: notify
        type: soft
        on: always
"#);
    assert!(report.diagnostics.is_empty(), "{:?}", codes(&report));
}

#[test]
fn a_plan_needs_graph_or_steps() {
    let report = run(r#"
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: empty
spec:
  description: Nothing to run
"#);
    let d = report
        .diagnostics
        .iter()
        .find(|d| d.code == Code::MissingField)
        .expect("a missing field");
    assert_eq!(d.path.as_deref(), Some("spec.graph"));
}

#[test]
fn graph_rules_point_into_steps() {
    let report = run(r#"
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: twice
spec:
  description: Two steps with one id
  steps:
    - id: build
      kind: Task
    - id: build
      kind: Task
"#);
    let d = report
        .diagnostics
        .iter()
        .find(|d| d.code == Code::DuplicateNodeId)
        .expect("a duplicate id");
    assert_eq!(d.path.as_deref(), Some("spec.steps[1].id"));
}
