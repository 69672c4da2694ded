//! Valid uses of `matrix` validate without any finding, even with `--strict`: literal,
//! parameter and `fromOutput` axes (upstream through `dependsOn`, a Group, or an earlier
//! step), `include`/`exclude`, `matrix.<axis>` in the Task's own expressions, fan-in reads
//! downstream (including a field that happens to be called `matrix`).

use planspec_validate::{validate, Limits, Options, Report, SourceFile, SourceMap};

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
fn a_graph_with_every_kind_of_axis_is_valid() {
    let report = run(r#"
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: fan
spec:
  description: Build everywhere, test every shard, collect
  graph:
    nodes:
      - id: prepare
        kind: Group
        children: [plan-shards]
      - id: plan-shards
        kind: Task
        outputs: [shards]
      - id: build
        kind: Task
        outputs: [artifact]
        inputs:
          target: "${{ matrix.os }}-${{ matrix.arch }}"
        when: "matrix.os != 'skip'"
        matrix:
          axes:
            - {name: os, values: [linux, mac]}
            - {name: arch, parameter: arches}
          exclude: [{os: mac, arch: arm}]
          include: [{os: windows, arch: x86}]
          maxParallel: 4
          failFast: true
      - id: test
        kind: Task
        dependsOn: [prepare, build]
        inputs:
          artifacts: "${{ nodes.build.outputs.artifact }}"
          shard: "${{ matrix.shard }}"
        matrix:
          axes:
            - name: shard
              fromOutput: {node: plan-shards, output: shards}
      - id: collect
        kind: Task
        dependsOn: [test]
        inputs:
          count: "${{ size(nodes.build.instances) }}"
          note: "${{ nodes.build.outputs.matrix }}"
"#);
    assert!(report.diagnostics.is_empty(), "{:?}", codes(&report));
}

#[test]
fn a_steps_plan_reads_an_earlier_step() {
    let report = run(r#"
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: fan-steps
spec:
  description: List the regions, then deploy to each
  steps:
    - id: regions
      kind: Task
      outputs: [list]
    - id: deploy
      kind: Task
      inputs:
        region: "${{ matrix.region }}"
      matrix:
        axes:
          - name: region
            fromOutput: {node: regions, output: list}
"#);
    assert!(report.diagnostics.is_empty(), "{:?}", codes(&report));
}

#[test]
fn a_later_step_is_not_upstream() {
    let report = run(r#"
apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: fan-steps
spec:
  description: Deploy to regions listed later (wrong)
  steps:
    - id: deploy
      kind: Task
      matrix:
        axes:
          - name: region
            fromOutput: {node: regions, output: list}
    - id: regions
      kind: Task
      outputs: [list]
"#);
    assert_eq!(codes(&report), ["PS0423"]);
}
