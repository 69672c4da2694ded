//! End-to-end tests of the `planspec` binary: real process, real files, real exit codes.
//!
//! They assert structure (exit codes, JSON fields, the lines that matter), not
//! whole snapshots, so cosmetic changes to the output do not break them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A plan with every node kind, a group and a soft edge, plus the Gate it references.
const CLEAN: &str = r#"apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: release-v2
  namespace: default
spec:
  description: Build, check, approve and deploy
  graph:
    nodes:
      - id: build
        kind: Task
        name: Build application
      - id: checks
        kind: Group
        name: Quality checks
        children: [test, lint]
      - id: test
        kind: Task
        name: Run tests
        dependsOn: [build]
      - id: lint
        kind: Task
        dependsOn: [build]
      - id: vendor
        kind: External
        name: Vendor sign-off
        externalRef:
          type: uri
          uri: https://vendor.example.com/status
      - id: approve
        kind: Gate
        name: Release approval
        gateRef:
          name: release-approval
        dependsOn: [test, lint]
      - id: deploy
        kind: Task
        name: Deploy to production
        dependsOn: [approve]
    edges:
      - from: vendor
        to: deploy
        type: soft
---
apiVersion: planspec.io/v1alpha1
kind: Gate
metadata:
  name: release-approval
  namespace: default
spec:
  gateType: approval
  targetRef:
    kind: Plan
    name: release-v2
    nodeId: approve
"#;

/// A Plan without `spec.description` (line 6 is `spec:`).
const MISSING_DESCRIPTION: &str = r#"apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: release-v1
  namespace: default
spec:
  graph:
    nodes:
      - id: build
        kind: Task
"#;

/// A valid Goal with an unknown field: a warning (PS0303), an error with `--strict`.
const WARNING_ONLY: &str = r#"apiVersion: planspec.io/v1alpha1
kind: Goal
metadata:
  name: ship
  namespace: default
spec:
  description: Ship the release
  colour: blue
"#;

/// A second, small Plan.
const OTHER_PLAN: &str = r#"apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: hotfix
  namespace: default
spec:
  description: One task
  graph:
    nodes:
      - id: patch
        kind: Task
"#;

/// A fresh directory for one test.
fn workdir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `planspec` in `dir` with `args`, feeding `stdin`.
fn run_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the planspec binary runs");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "planspec panicked on {args:?}:\n{stderr}"
    );
    output
}

fn run(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, args, None)
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(output)))
}

// ---------------------------------------------------------------- validate: exit codes

#[test]
fn valid_inputs_exit_0() {
    let dir = workdir("valid_inputs_exit_0");
    write(&dir, "clean.yaml", CLEAN);
    let out = run(&dir, &["validate", "clean.yaml"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("✓ Plan/release-v2"), "{text}");
    assert!(text.contains("✓ Gate/release-approval"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("2 resources in 1 file: 2 valid, 0 invalid · 0 errors, 0 warnings"),
        "{text}"
    );
}

#[test]
fn missing_description_is_ps0302_at_the_spec_line() {
    let dir = workdir("missing_description");
    write(&dir, "plan.yaml", MISSING_DESCRIPTION);
    let out = run(&dir, &["validate", "plan.yaml"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("error[PS0302]"), "{text}");
    assert!(text.contains("description"), "{text}");
    assert!(text.contains("plan.yaml:6:"), "{text}");
    assert!(text.contains("✗ Plan/release-v1"), "{text}");
    assert!(text.contains("0 valid, 1 invalid"), "{text}");

    let report = json(&run(&dir, &["validate", "plan.yaml", "-o", "json"]));
    let d = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "PS0302")
        .expect("a PS0302 diagnostic");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["slug"], "missing-required-field");
    assert_eq!(d["file"], "plan.yaml");
    assert_eq!(d["line"], 6);
    assert!(d["message"].as_str().unwrap().contains("description"));
}

#[test]
fn warnings_pass_unless_strict() {
    let dir = workdir("warnings_pass_unless_strict");
    write(&dir, "goal.yaml", WARNING_ONLY);
    let out = run(&dir, &["validate", "goal.yaml"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("warning[PS0303]"), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 warning"));

    let strict = run(&dir, &["validate", "--strict", "goal.yaml"]);
    assert_eq!(code(&strict), 1, "{}", stdout(&strict));
    assert!(
        stdout(&strict).contains("error[PS0303]"),
        "{}",
        stdout(&strict)
    );
}

#[test]
fn quiet_prints_only_errors_and_the_summary() {
    let dir = workdir("quiet");
    write(&dir, "goal.yaml", WARNING_ONLY);
    write(&dir, "plan.yaml", MISSING_DESCRIPTION);
    let out = run(&dir, &["validate", "-q", "goal.yaml", "plan.yaml"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("error[PS0302]"), "{text}");
    assert!(!text.contains("warning["), "{text}");
    assert!(!text.contains('✓') && !text.contains('✗'), "{text}");
    assert!(text.contains("2 resources in 2 files"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = workdir("usage_errors_exit_2");
    write(&dir, "clean.yaml", CLEAN);
    let cases: &[&[&str]] = &[
        &["validate"],
        &["validate", "does-not-exist.yaml"],
        &["validate", "-f", "does-not-exist.yaml"],
        &["validate", "-d", "clean.yaml"],
        &["validate", "--no-such-flag", "clean.yaml"],
        &["validate", "-o", "xml", "clean.yaml"],
        &["validate", "-f", "-", "-"],
        &["graph"],
        &["schema", "Plna"],
        &["completions", "tcsh"],
        &["no-such-command"],
        &[],
    ];
    for args in cases {
        let out = run(&dir, args);
        assert_eq!(code(&out), 2, "{args:?}: {}{}", stdout(&out), stderr(&out));
    }
    let missing = run(&dir, &["validate", "does-not-exist.yaml"]);
    assert!(stderr(&missing).contains("does-not-exist.yaml"));
    assert!(stdout(&missing).is_empty());
}

#[test]
fn unreadable_input_is_invalid_not_a_crash() {
    let dir = workdir("unreadable_input");
    std::fs::write(dir.join("junk.yaml"), [0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3]).unwrap();
    let out = run(&dir, &["validate", "junk.yaml", "-o", "json"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(report["valid"], false);
    assert!(report["summary"]["errors"].as_u64().unwrap() >= 1);
}

#[test]
fn hostile_input_never_panics() {
    let dir = workdir("hostile_input");
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let inputs = [
        ("deep.yaml", deep.as_str()),
        ("tabs.yaml", "\tkind:\t\"Plan\n  : : :\n"),
        ("empty.yaml", ""),
        ("list.yaml", "kind: List\nitems: 3\n"),
        ("anchors.yaml", "a: &a [*a]\n"),
        (
            "long.json",
            &format!("{{\"kind\": \"Plan\", \"x\": \"{}\"}}", "y".repeat(100_000)),
        ),
    ];
    for (name, text) in inputs {
        write(&dir, name, text);
        for format in ["human", "json", "sarif"] {
            let out = run(&dir, &["validate", name, "-o", format]);
            assert!(matches!(code(&out), 0 | 1), "{name}: {}", stderr(&out));
        }
    }
    let out = run(&dir, &["graph", "deep.yaml"]);
    assert!(matches!(code(&out), 1), "{}", stderr(&out));
}

// ---------------------------------------------------------------- validate: inputs

#[test]
fn stdin_is_read_with_dash() {
    let dir = workdir("stdin");
    let out = run_in(
        &dir,
        &["validate", "-f", "-", "-o", "json"],
        Some(MISSING_DESCRIPTION),
    );
    assert_eq!(code(&out), 1);
    let report = json(&out);
    let d = &report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "PS0302")
        .expect("a PS0302 diagnostic")
        .clone();
    assert_eq!(d["file"], "<stdin>");
    assert_eq!(d["line"], 6);

    let ok = run_in(&dir, &["validate", "-"], Some(CLEAN));
    assert_eq!(code(&ok), 0, "{}", stdout(&ok));
    assert!(stdout(&ok).contains("<stdin>"));
}

#[test]
fn directories_are_read_recursively_with_r() {
    let dir = workdir("directories");
    write(&dir, "plans/clean.yaml", CLEAN);
    write(&dir, "plans/nested/hotfix.yml", OTHER_PLAN);
    write(&dir, "plans/README.md", "# not a document\n");

    let flat = json(&run(&dir, &["validate", "plans", "-o", "json"]));
    assert_eq!(flat["summary"]["files"], 1, "{flat}");
    assert_eq!(flat["summary"]["resources"], 2);

    let deep = json(&run(&dir, &["validate", "-R", "-d", "plans", "-o", "json"]));
    assert_eq!(deep["summary"]["files"], 2, "{deep}");
    assert_eq!(deep["summary"]["resources"], 3);
    assert_eq!(deep["valid"], true);
}

#[test]
fn inputs_are_reported_in_command_line_order() {
    let dir = workdir("input_order");
    write(&dir, "a.yaml", OTHER_PLAN);
    write(&dir, "b.yaml", WARNING_ONLY);
    let report = json(&run(
        &dir,
        &["validate", "-f", "b.yaml", "a.yaml", "-o", "json"],
    ));
    let files: Vec<&str> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, vec!["b.yaml", "a.yaml"]);
}

// ---------------------------------------------------------------- validate: formats

#[test]
fn json_report_has_the_documented_shape() {
    let dir = workdir("json_shape");
    write(&dir, "goal.yaml", WARNING_ONLY);
    write(&dir, "plan.yaml", MISSING_DESCRIPTION);
    let out = run(&dir, &["validate", "goal.yaml", "plan.yaml", "-o", "json"]);
    assert_eq!(code(&out), 1);
    let report = json(&out);
    assert_eq!(report["valid"], false);
    let summary = &report["summary"];
    for key in [
        "files",
        "resources",
        "valid",
        "invalid",
        "errors",
        "warnings",
    ] {
        assert!(summary[key].is_u64(), "summary.{key} in {summary}");
    }
    assert_eq!(summary["files"], 2);
    assert_eq!(summary["resources"], 2);
    assert_eq!(summary["valid"], 1);
    assert_eq!(summary["invalid"], 1);
    assert!(summary["warnings"].as_u64().unwrap() >= 1);

    let resources = report["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2);
    for r in resources {
        for key in [
            "file",
            "line",
            "kind",
            "name",
            "namespace",
            "valid",
            "errors",
            "warnings",
        ] {
            assert!(r.get(key).is_some(), "resource.{key} missing in {r}");
        }
    }
    assert_eq!(resources[0]["kind"], "Goal");
    assert_eq!(resources[0]["name"], "ship");
    assert_eq!(resources[0]["namespace"], "default");
    assert_eq!(resources[0]["valid"], true);
    assert_eq!(resources[0]["line"], 1);
    assert_eq!(resources[1]["valid"], false);

    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty());
    for d in diagnostics {
        for key in [
            "code",
            "slug",
            "severity",
            "message",
            "file",
            "line",
            "column",
            "endLine",
            "endColumn",
            "path",
            "hint",
            "resource",
            "related",
        ] {
            assert!(d.get(key).is_some(), "diagnostic.{key} missing in {d}");
        }
        let code = d["code"].as_str().unwrap();
        assert!(code.starts_with("PS") && code.len() == 6, "{code}");
        assert!(matches!(d["severity"].as_str(), Some("error" | "warning")));
        assert!(d["related"].is_array());
        if d["line"].is_u64() {
            assert!(d["line"].as_u64().unwrap() >= 1);
            assert!(d["column"].as_u64().unwrap() >= 1);
            let start = (d["line"].as_u64(), d["column"].as_u64());
            let end = (d["endLine"].as_u64(), d["endColumn"].as_u64());
            assert!(end >= start, "{d}");
        }
    }
    let warning = diagnostics.iter().find(|d| d["code"] == "PS0303").unwrap();
    assert_eq!(warning["severity"], "warning");
    assert_eq!(warning["file"], "goal.yaml");
    assert_eq!(warning["line"], 8);
    assert_eq!(warning["column"], 3);
    assert_eq!(warning["resource"], "Goal/ship");
}

#[test]
fn sarif_report_is_sarif_2_1_0() {
    let dir = workdir("sarif_shape");
    write(&dir, "plans/plan.yaml", MISSING_DESCRIPTION);
    write(&dir, "plans/goal.yaml", WARNING_ONLY);
    let out = run(
        &dir,
        &[
            "validate",
            "plans/plan.yaml",
            "./plans/goal.yaml",
            "-o",
            "sarif",
        ],
    );
    assert_eq!(code(&out), 1);
    let log = json(&out);
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif"));
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "planspec");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(driver["informationUri"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), planspec_validate::Code::ALL.len());
    for (rule, code) in rules.iter().zip(planspec_validate::Code::ALL) {
        assert_eq!(rule["id"], code.id());
        assert_eq!(rule["name"], code.slug());
        assert!(rule["shortDescription"]["text"].is_string());
        let help = rule["helpUri"].as_str().unwrap();
        assert!(help.ends_with(&format!("docs/diagnostics.md#{}", code.id().to_lowercase())));
    }

    let results = run["results"].as_array().unwrap();
    assert!(results.len() >= 2);
    for result in results {
        let id = result["ruleId"].as_str().unwrap();
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], id);
        assert!(matches!(
            result["level"].as_str(),
            Some("error" | "warning")
        ));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        for location in result["locations"].as_array().unwrap() {
            let physical = &location["physicalLocation"];
            let artifact = &physical["artifactLocation"];
            let uri = artifact["uri"].as_str().unwrap();
            assert!(uri.starts_with("plans/"), "{uri}");
            assert!(!uri.contains('\\'));
            assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
            let region = &physical["region"];
            for key in ["startLine", "startColumn", "endLine", "endColumn"] {
                assert!(region[key].as_u64().unwrap() >= 1, "{region}");
            }
        }
    }
    let missing = results.iter().find(|r| r["ruleId"] == "PS0302").unwrap();
    assert_eq!(missing["level"], "error");
    let location = &missing["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "plans/plan.yaml");
    assert_eq!(location["region"]["startLine"], 6);
    let warning = results.iter().find(|r| r["ruleId"] == "PS0303").unwrap();
    assert_eq!(warning["level"], "warning");
    assert_eq!(
        warning["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "plans/goal.yaml"
    );
}

#[test]
fn sarif_gives_stdin_no_source_root() {
    let dir = workdir("sarif_stdin");
    let out = run_in(
        &dir,
        &["validate", "-f", "-", "-o", "sarif"],
        Some(MISSING_DESCRIPTION),
    );
    assert_eq!(code(&out), 1);
    let log = json(&out);
    let result = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "PS0302")
        .unwrap()
        .clone();
    let physical = &result["locations"][0]["physicalLocation"];
    let artifact = &physical["artifactLocation"];
    assert_eq!(artifact["uri"], "stdin", "{artifact}");
    assert!(artifact.get("uriBaseId").is_none(), "{artifact}");
    assert_eq!(artifact["description"]["text"], "standard input");
    assert_eq!(physical["region"]["startLine"], 6);
}

#[test]
fn colour_follows_the_flag() {
    let dir = workdir("colour");
    write(&dir, "plan.yaml", MISSING_DESCRIPTION);
    let piped = run(&dir, &["validate", "plan.yaml"]);
    assert!(!stdout(&piped).contains('\x1b'), "no colour when piped");
    let always = run(&dir, &["validate", "plan.yaml", "--color", "always"]);
    assert!(stdout(&always).contains("\x1b["));
    let ascii = run(&dir, &["validate", "plan.yaml", "--ascii"]);
    assert!(stdout(&ascii).is_ascii(), "{}", stdout(&ascii));
    assert!(stdout(&ascii).contains("error[PS0302]"));
}

#[test]
fn human_columns_count_characters_like_json() {
    let dir = workdir("human_columns");
    write(
        &dir,
        "uni.yaml",
        "apiVersion: planspec.io/v1alpha1\nkind: Goal\nmetadata: {name: g}\nspec: {description: \"😀😀😀\", priority: \"x\"}\n",
    );
    let report = json(&run(&dir, &["validate", "uni.yaml", "-o", "json"]));
    let d = &report["diagnostics"][0];
    let (line, column) = (d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap());
    assert_eq!((line, column), (4, 38), "{d}");
    let text = stdout(&run(&dir, &["validate", "uni.yaml", "--color", "never"]));
    assert!(text.contains("[uni.yaml:4:38]"), "{text}");
    assert!(!text.contains(":4:47"), "{text}");
}

#[test]
fn the_first_frame_names_the_primary_place() {
    let dir = workdir("primary_first");
    // Two documents run together without `---`: `apiVersion` repeats on line 8.
    let goal = WARNING_ONLY.replace("  colour: blue\n", "");
    write(&dir, "goals.yaml", &format!("{goal}{goal}"));
    let report = json(&run(&dir, &["validate", "goals.yaml", "-o", "json"]));
    let d = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "PS0002")
        .unwrap_or_else(|| panic!("a duplicate key: {report}"))
        .clone();
    let primary = format!("goals.yaml:{}:{}", d["line"], d["column"]);
    assert_eq!(primary, "goals.yaml:8:1", "{d}");
    let text = stdout(&run(&dir, &["validate", "goals.yaml", "--color", "never"]));
    let block = &text[text.find("[PS0002]").unwrap()..];
    let first_header = block
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("╭─["))
        .unwrap_or_else(|| panic!("a frame: {text}"));
    assert_eq!(first_header, format!("{primary}]"), "{text}");
}

/// A Plan whose strings (YAML escapes) and comments (raw bytes) hold terminal controls:
/// OSC (set the title), CSI (colours, clear screen), BEL, C1 CSI, a CR, a bidi override.
const HOSTILE: &str = "apiVersion: planspec.io/v1alpha1
kind: Plan
metadata: {name: p}
spec:
  description: d
  graph:
    nodes:
      # \u{1b}]0;owned\u{7} \u{9b}2J
      - {id: a, kind: Task, name: \"\\e]0;pwned\\a\\e[31mRED\\e[0m\", \"\\e[2Jx\": 1}
      - {id: b, kind: Task, dependsOn: [a], name: \"x\\u009b1m\\ry\\u202e\"}
";

#[test]
fn control_characters_from_the_input_never_reach_the_terminal() {
    let dir = workdir("escapes");
    write(&dir, "esc.yaml", HOSTILE);
    let clean = |out: &Output, what: &str| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(out);
        let bad: Vec<char> = text
            .chars()
            .filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
            .collect();
        assert!(bad.is_empty(), "{what}: {bad:?} in\n{text}");
        text
    };
    let text = clean(
        &run(&dir, &["validate", "esc.yaml", "--color", "never"]),
        "validate",
    );
    assert!(text.contains("unknown field `\\x1b[2Jx`"), "{text}");
    // The code frame shows the comment above the unknown field.
    assert!(text.contains("# \\x1b]0;owned\\x07 \\x9b2J"), "{text}");
    let coloured = run(&dir, &["validate", "esc.yaml", "--color", "always"]);
    assert!(
        !stdout(&coloured).contains("\u{1b}]"),
        "no OSC even in colour"
    );
    let graph = clean(
        &run(&dir, &["graph", "esc.yaml", "--color", "never"]),
        "graph",
    );
    assert!(
        graph.contains("\\x1b]0;pwned\\x07\\x1b[31mRED\\x1b[0m"),
        "{graph}"
    );
    assert!(graph.contains("x\\x9b1m\\x0dy\\u202e"), "{graph}");
    for format in ["dot", "mermaid"] {
        clean(
            &run(&dir, &["graph", "esc.yaml", "--format", format]),
            format,
        );
    }
    // JSON keeps the exact value (escaped as JSON does).
    let report = json(&run(&dir, &["validate", "esc.yaml", "-o", "json"]));
    assert!(report["diagnostics"][0]["message"]
        .as_str()
        .unwrap()
        .contains("\u{1b}[2Jx"));
}

// ---------------------------------------------------------------- graph

#[test]
fn graph_text_shows_layers_kinds_groups_and_soft_edges() {
    let dir = workdir("graph_text");
    write(&dir, "clean.yaml", CLEAN);
    let out = run(&dir, &["graph", "clean.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Plan release-v2"), "{text}");
    assert!(lines[0].contains("7 nodes"), "{text}");
    assert!(lines[0].contains("6 edges (1 soft)"), "{text}");
    let row = |id: &str| -> &str {
        lines
            .iter()
            .find(|l| l.split_whitespace().any(|w| w == id) && l.contains('│'))
            .unwrap_or_else(|| panic!("no row for {id}:\n{text}"))
    };
    assert!(row("build").contains("□ build"));
    assert!(row("approve").contains("◇ approve"));
    assert!(row("vendor").contains("⬡ vendor"));
    assert!(row("checks").contains("▣ checks"));
    assert!(row("approve").contains("← test, lint"), "{text}");
    assert!(row("deploy").contains("┄ vendor"), "{text}");
    // Layers: build before test before approve before deploy.
    let position = |id: &str| lines.iter().position(|l| *l == row(id)).unwrap();
    assert!(position("build") < position("test"));
    assert!(position("test") < position("approve"));
    assert!(position("approve") < position("deploy"));
    assert!(text.contains("\nGroups\n"), "{text}");
    assert!(lines
        .iter()
        .any(|l| l.contains("▣ checks") && l.contains("test, lint")));
    assert!(
        lines.last().unwrap().contains("soft"),
        "legend last: {text}"
    );

    let ascii = stdout(&run(&dir, &["graph", "clean.yaml", "--ascii"]));
    assert!(ascii.is_ascii(), "{ascii}");
    assert!(ascii.contains("<G> approve"), "{ascii}");
}

#[test]
fn graph_dot_has_shapes_clusters_and_dashed_soft_edges() {
    let dir = workdir("graph_dot");
    write(&dir, "clean.yaml", CLEAN);
    let out = run(&dir, &["graph", "-f", "clean.yaml", "--format", "dot"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph \"release-v2\" {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "{dot}");
    assert!(dot.contains("subgraph \"cluster_checks\""), "{dot}");
    let line = |id: &str| {
        dot.lines()
            .find(|l| l.trim_start().starts_with(&format!("\"{id}\" [")))
            .unwrap_or_else(|| panic!("no node {id}:\n{dot}"))
            .to_string()
    };
    assert!(line("approve").contains("shape=diamond"));
    assert!(line("vendor").contains("shape=parallelogram"));
    assert!(!line("build").contains("shape=diamond"));
    assert!(
        dot.contains("\"vendor\" -> \"deploy\" [style=dashed]"),
        "{dot}"
    );
    assert!(dot.contains("\"build\" -> \"test\";"), "{dot}");
    assert!(dot.contains("\"approve\" -> \"deploy\";"), "{dot}");
    // The group's members are declared inside its cluster.
    let cluster = dot.find("subgraph \"cluster_checks\"").unwrap();
    let end = cluster + dot[cluster..].find("\n  }").unwrap();
    assert!(dot[cluster..end].contains("\"test\" ["));
    assert!(dot[cluster..end].contains("\"lint\" ["));
}

#[test]
fn graph_mermaid_has_shapes_subgraphs_and_dotted_soft_edges() {
    let dir = workdir("graph_mermaid");
    write(&dir, "clean.yaml", CLEAN);
    let out = run(&dir, &["graph", "clean.yaml", "--format", "mermaid"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = stdout(&out);
    assert!(m.starts_with("flowchart TD\n"), "{m}");
    assert!(m.contains("approve{\""), "{m}");
    assert!(m.contains("vendor[/\""), "{m}");
    assert!(m.contains("subgraph checks"), "{m}");
    assert!(m.contains("vendor -.-> deploy"), "{m}");
    assert!(m.contains("build --> test"), "{m}");
    assert_eq!(
        m.lines()
            .filter(|l| l.trim_start().starts_with("subgraph"))
            .count(),
        m.lines().filter(|l| l.trim() == "end").count()
    );
}

#[test]
fn graph_picks_the_plan() {
    let dir = workdir("graph_picks");
    write(&dir, "clean.yaml", CLEAN);
    write(&dir, "hotfix.yaml", OTHER_PLAN);
    write(&dir, "goal.yaml", WARNING_ONLY);

    let several = run(&dir, &["graph", "clean.yaml", "hotfix.yaml"]);
    assert_eq!(code(&several), 2);
    assert!(stderr(&several).contains("--plan"), "{}", stderr(&several));
    assert!(stderr(&several).contains("release-v2") && stderr(&several).contains("hotfix"));

    let chosen = run(
        &dir,
        &["graph", "clean.yaml", "hotfix.yaml", "--plan", "hotfix"],
    );
    assert_eq!(code(&chosen), 0, "{}", stderr(&chosen));
    assert!(stdout(&chosen).starts_with("Plan hotfix"));

    let unknown = run(
        &dir,
        &["graph", "clean.yaml", "hotfix.yaml", "--plan", "hotfx"],
    );
    assert_eq!(code(&unknown), 1);
    assert!(stderr(&unknown).contains("hotfix"), "{}", stderr(&unknown));

    let none = run(&dir, &["graph", "goal.yaml"]);
    assert_eq!(code(&none), 1);
    assert!(stderr(&none).contains("no Plan"), "{}", stderr(&none));
}

#[test]
fn graph_draws_a_valid_plan_whatever_the_other_inputs() {
    let dir = workdir("graph_other_invalid");
    write(&dir, "clean.yaml", CLEAN);
    write(&dir, "plan.yaml", MISSING_DESCRIPTION);
    write(&dir, "broken.yaml", "kind: [\n");
    write(&dir, "goal.yaml", WARNING_ONLY);

    let out = run(&dir, &["graph", "clean.yaml", "broken.yaml", "goal.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Plan release-v2"),
        "{}",
        stdout(&out)
    );
    let note = stderr(&out);
    assert_eq!(note.lines().count(), 1, "{note}");
    assert!(note.starts_with("note: "), "{note}");
    assert!(
        note.contains("1 error (none in Plan `release-v2`)"),
        "{note}"
    );
    assert!(note.contains("1 warning"), "{note}");

    // The other Plan is invalid; the chosen one is not.
    let chosen = run(
        &dir,
        &[
            "graph",
            "clean.yaml",
            "plan.yaml",
            "--plan",
            "release-v2",
            "--format",
            "dot",
        ],
    );
    assert_eq!(code(&chosen), 0, "{}", stderr(&chosen));
    assert!(stdout(&chosen).starts_with("digraph \"release-v2\""));

    // Choosing the invalid one prints its findings and draws nothing.
    let invalid = run(
        &dir,
        &["graph", "clean.yaml", "plan.yaml", "--plan", "release-v1"],
    );
    assert_eq!(code(&invalid), 1);
    assert!(stdout(&invalid).is_empty(), "{}", stdout(&invalid));
    assert!(
        stderr(&invalid).contains("error[PS0302]"),
        "{}",
        stderr(&invalid)
    );

    // No Plan found while an input is broken: the findings, not just "no Plan".
    let missing = run(&dir, &["graph", "broken.yaml", "goal.yaml"]);
    assert_eq!(code(&missing), 1);
    assert!(stderr(&missing).contains("error["), "{}", stderr(&missing));
}

#[test]
fn graph_of_invalid_inputs_prints_the_diagnostics() {
    let dir = workdir("graph_invalid");
    write(&dir, "plan.yaml", MISSING_DESCRIPTION);
    let out = run(&dir, &["graph", "plan.yaml"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("error[PS0302]"), "{}", stderr(&out));
}

// ---------------------------------------------------------------- schema, completions, version

#[test]
fn schema_of_every_kind_is_json() {
    let dir = workdir("schema");
    let names = [
        "Goal",
        "plans",
        "CAPABILITY",
        "binding",
        "executions",
        "gate",
        "pl",
        "list",
    ];
    for name in names {
        let out = run(&dir, &["schema", name]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let schema = json(&out);
        assert!(schema.is_object(), "{name}");
        assert!(
            schema.get("$schema").is_some() || schema.get("type").is_some(),
            "{name}"
        );
    }
    let plan = json(&run(&dir, &["schema", "plan"]));
    assert!(plan.to_string().contains("graph"));
    let document = run(&dir, &["schema"]);
    assert_eq!(code(&document), 0);
    assert!(json(&document).is_object());

    let typo = run(&dir, &["schema", "Plna"]);
    assert_eq!(code(&typo), 2);
    assert!(
        stderr(&typo).contains("did you mean `Plan`?"),
        "{}",
        stderr(&typo)
    );

    let list = run(&dir, &["schema", "--list"]);
    assert_eq!(code(&list), 0);
    for kind in ["Goal", "Plan", "Capability", "Binding", "Execution", "Gate"] {
        assert!(stdout(&list).contains(kind));
    }
}

#[test]
fn completions_are_generated_for_every_shell() {
    let dir = workdir("completions");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&dir, &["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("planspec"), "{shell}");
    }
    let bash = stdout(&run(&dir, &["completions", "bash"]));
    assert!(bash.contains("validate") && bash.contains("graph"));
}

#[test]
fn version_in_text_and_json() {
    let dir = workdir("version");
    let version = env!("CARGO_PKG_VERSION");
    let text = run(&dir, &["version"]);
    assert_eq!(code(&text), 0);
    assert_eq!(
        stdout(&text).lines().next().unwrap(),
        format!("planspec {version}")
    );
    let flag = run(&dir, &["--version"]);
    assert_eq!(stdout(&flag).trim(), format!("planspec {version}"));

    let info = json(&run(&dir, &["version", "-o", "json"]));
    assert_eq!(info["version"], version);
    assert_eq!(info["apiVersion"], "planspec.io/v1alpha1");
    assert!(!info["target"].as_str().unwrap().is_empty());
    assert!(info["commit"].is_null() || info["commit"].is_string());
}
