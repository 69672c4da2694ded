//! A corpus of invalid documents, one rule per file (`tests/invalid/NNNN-<slug>.yaml`).
//!
//! Every file starts with a header comment that says what it must produce:
//!
//! ```yaml
//! # expect: PS0302 line 9
//! ```
//!
//! (the code, and the 1-based line of the diagnostic's primary span; several `# expect:`
//! lines when one mistake necessarily yields several findings). Optional header lines:
//!
//! * `# limits: max_documents=2` — validate with tighter [`Limits`] (keys are the field
//!   names of `Limits`);
//!
//! Each file is validated alone and must: produce every expected code on its line;
//! produce no code it does not expect; not report the same finding twice; be invalid
//! (with `strict: true` when it only expects warnings, which must then all be errors);
//! give every diagnostic a span; not panic. A file is named after its first expected
//! code, and every code of [`Code::ALL`] has a file, except [`NOT_IN_CORPUS`].
//!
//! The codes that cannot be written as a small YAML text (unreadable, non-UTF-8 and
//! oversized inputs, a constant no document reaches, …) have their own tests at the end
//! of this file.
//!
//! `PLANSPEC_CORPUS_DUMP=1` prints every file's diagnostics.

use planspec_validate::{
    validate, Code, Diagnostic, Limits, Options, Report, Severity, SourceFile, SourceMap,
};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Codes no small YAML text file can produce; each has a Rust test below or, for
/// problems met reading a file, in the CLI (`crates/cli/src/input/tests.rs`), except
/// internal errors, which no input provokes by design.
///
/// `PS0321 invalid-constant` guards only `apiVersion` and `kind`, which the envelope
/// stage checks first (`PS0103`, `PS0105`), so no document reaches it.
const NOT_IN_CORPUS: &[Code] = &[
    Code::Io,
    Code::NotUtf8,
    Code::FileTooLarge,
    Code::InvalidConstValue,
    Code::Internal,
];

/// Codes a diagnostic may come without a span for: findings about an input as a whole.
const WHOLE_INPUT: &[Code] = &[Code::Io, Code::NotUtf8, Code::FileTooLarge];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/invalid")
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/invalid exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

fn code_by_id(id: &str) -> Option<Code> {
    Code::ALL.iter().copied().find(|c| c.id() == id)
}

/// What a file's header asks for.
#[derive(Debug, Default)]
struct Header {
    /// (code, 1-based line)
    expect: Vec<(Code, u32)>,
    limits: Limits,
}

fn parse_header(name: &str, text: &str) -> Header {
    let mut header = Header::default();
    for line in text.lines() {
        let Some(comment) = line.strip_prefix('#') else {
            continue;
        };
        let comment = comment.trim();
        if let Some(rest) = comment.strip_prefix("expect:") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let [id, "line", n] = words[..] else {
                panic!("{name}: malformed header `{line}`; write `# expect: PS0302 line 9`");
            };
            let code = code_by_id(id).unwrap_or_else(|| panic!("{name}: unknown code `{id}`"));
            let n: u32 = n
                .parse()
                .unwrap_or_else(|_| panic!("{name}: `{n}` is not a line number"));
            header.expect.push((code, n));
        } else if let Some(rest) = comment.strip_prefix("limits:") {
            for setting in rest.split_whitespace() {
                let (key, value) = setting
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{name}: malformed limit `{setting}`"));
                let value: usize = value
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: `{value}` is not a number"));
                match key {
                    "max_file_bytes" => header.limits.max_file_bytes = value,
                    "max_depth" => header.limits.max_depth = value,
                    "max_documents" => header.limits.max_documents = value,
                    "max_alias_nodes" => header.limits.max_alias_nodes = value,
                    other => panic!("{name}: unknown limit `{other}`"),
                }
            }
        }
    }
    header
}

fn run(name: &str, text: &str, strict: bool, limits: Limits) -> Report {
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new(name, text));
    validate(sources, &Options { strict, limits })
}

fn line_of(report: &Report, d: &Diagnostic) -> Option<u32> {
    d.span.map(|s| report.sources.line_col(s).line)
}

fn describe(report: &Report) -> String {
    if report.diagnostics.is_empty() {
        return "    (no diagnostics)".to_string();
    }
    report
        .diagnostics
        .iter()
        .map(|d| {
            let at = d
                .span
                .map(|s| {
                    let lc = report.sources.line_col(s);
                    format!("{}:{}", lc.line, lc.column)
                })
                .unwrap_or_else(|| "-".to_string());
            format!(
                "    {} {:<7} line {:<6} {} [{}]",
                d.code.id(),
                format!("{:?}", d.severity).to_lowercase(),
                at,
                d.message,
                d.path.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first `quoted` word of a message: what a finding is about (`type` in
/// "missing required field `type` in `spec.graph.nodes[0]`").
fn first_quoted(message: &str) -> String {
    message.split('`').nth(1).unwrap_or_default().to_string()
}

/// Checks one corpus file; returns the problems found.
fn check_file(path: &Path) -> Vec<String> {
    let name = file_name(path);
    let text = std::fs::read_to_string(path).expect("corpus files are UTF-8");
    let header = parse_header(&name, &text);
    let mut problems = Vec::new();
    if header.expect.is_empty() {
        problems.push("has no `# expect:` header".to_string());
        return problems;
    }
    let (report, strict_report) = match catch_unwind(AssertUnwindSafe(|| {
        (
            run(&name, &text, false, header.limits),
            run(&name, &text, true, header.limits),
        )
    })) {
        Ok(reports) => reports,
        Err(_) => return vec!["the validator panicked".to_string()],
    };
    for &(code, line) in &header.expect {
        let hit = report
            .diagnostics
            .iter()
            .any(|d| d.code == code && line_of(&report, d) == Some(line));
        if !hit {
            let elsewhere: Vec<String> = report
                .diagnostics
                .iter()
                .filter(|d| d.code == code)
                .map(|d| line_of(&report, d).map_or("-".to_string(), |l| l.to_string()))
                .collect();
            problems.push(if elsewhere.is_empty() {
                format!(
                    "expected {} at line {line}, but it was not reported",
                    code.id()
                )
            } else {
                format!(
                    "expected {} at line {line}, but it was reported at line(s) {}",
                    code.id(),
                    elsewhere.join(", ")
                )
            });
        }
    }
    let expected: BTreeSet<Code> = header.expect.iter().map(|&(c, _)| c).collect();
    let unexpected: BTreeSet<&str> = report
        .diagnostics
        .iter()
        .filter(|d| !expected.contains(&d.code))
        .map(|d| d.code.id())
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!(
            "reports codes the header does not expect: {}",
            unexpected.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let warnings_only = header
        .expect
        .iter()
        .all(|&(c, _)| c.default_severity() == Severity::Warning);
    if warnings_only {
        if !strict_report.has_errors() {
            problems.push("is not invalid even with `strict: true`".to_string());
        }
        if strict_report
            .diagnostics
            .iter()
            .any(|d| d.severity != Severity::Error)
        {
            problems.push("`strict: true` left a warning that is not an error".to_string());
        }
    } else if !report.has_errors() {
        problems.push("is accepted (no error reported)".to_string());
    }
    let mut reported = BTreeSet::new();
    for d in &report.diagnostics {
        let key = (
            d.code,
            d.span.map(|s| (s.start, s.end)),
            d.path.clone(),
            first_quoted(&d.message),
        );
        if !reported.insert(key) {
            problems.push(format!(
                "{} is reported twice at line {}: {}",
                d.code.id(),
                line_of(&report, d).unwrap_or_default(),
                d.message
            ));
        }
        if d.span.is_none() && !WHOLE_INPUT.contains(&d.code) {
            problems.push(format!("{} has no span: {}", d.code.id(), d.message));
        }
        if d.severity != d.code.default_severity() {
            problems.push(format!(
                "{} has severity {:?}, but its default is {:?}",
                d.code.id(),
                d.severity,
                d.code.default_severity()
            ));
        }
    }
    if std::env::var_os("PLANSPEC_CORPUS_DUMP").is_some() {
        eprintln!("{name}:\n{}", describe(&report));
    }
    if !problems.is_empty() {
        problems.push(format!("diagnostics:\n{}", describe(&report)));
    }
    problems
}

#[test]
fn every_corpus_file_reports_its_code_on_its_line() {
    let files = corpus_files();
    let mut failures = Vec::new();
    for path in &files {
        let name = file_name(path);
        let problems = check_file(path);
        if !problems.is_empty() {
            failures.push(format!("{name}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn corpus_file_names_match_their_first_expected_code() {
    for path in corpus_files() {
        let name = file_name(&path);
        let (number, slug) = name
            .strip_suffix(".yaml")
            .and_then(|stem| stem.split_once('-'))
            .unwrap_or_else(|| panic!("{name}: name it `NNNN-<slug>.yaml`"));
        assert!(
            number.len() == 4 && number.chars().all(|c| c.is_ascii_digit()),
            "{name}: name it `NNNN-<slug>.yaml`"
        );
        assert!(
            !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}: the slug is lowercase kebab-case"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let header = parse_header(&name, &text);
        let code = format!("PS{number}");
        assert!(
            header.expect.iter().any(|(c, _)| c.id() == code),
            "{name}: the file is named after {code}, which its header does not expect"
        );
    }
}

#[test]
fn corpus_covers_every_code() {
    let mut seen: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for path in corpus_files() {
        let name = file_name(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        for (code, _) in parse_header(&name, &text).expect {
            seen.entry(code.id()).or_default().push(name.clone());
        }
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !NOT_IN_CORPUS.contains(c))
        .map(|c| c.id())
        .filter(|id| !seen.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "no corpus file expects {}; add `tests/invalid/NNNN-<slug>.yaml` for each",
        missing.join(", ")
    );
}

#[test]
fn corpus_is_large_enough() {
    let n = corpus_files().len();
    assert!(n >= 60, "the corpus holds {n} files; it needs at least 60");
}

// ----- codes that are not a YAML text ---------------------------------------------------

const SMALL_GOAL: &str = "\
apiVersion: planspec.io/v1alpha1
kind: Goal
metadata:
  name: ship-login
spec:
  description: Add SSO login
";

/// Reading files (`PS0008`, `PS0009`, and `PS0003` before reading) is the CLI's job and is
/// tested there (`crates/cli/src/input/tests.rs`); text handed to `validate` directly is
/// held to the size limit here.
#[test]
fn file_over_the_size_limit_is_ps0003() {
    let limits = Limits {
        max_file_bytes: 64,
        ..Limits::default()
    };
    let report = run("goal.yaml", SMALL_GOAL, false, limits);
    assert!(report.has_errors(), "{}", describe(&report));
    assert!(report.resources.is_empty());
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.code == Code::FileTooLarge),
        "{}",
        describe(&report)
    );
}

#[test]
fn the_small_goal_used_above_is_valid() {
    let report = run("goal.yaml", SMALL_GOAL, true, Limits::default());
    assert!(!report.has_errors(), "{}", describe(&report));
    assert_eq!(report.resources.len(), 1);
}

/// The schema check behind `PS0321`, with a schema that pins a value.
#[test]
fn constant_mismatch_is_ps0321() {
    let schema = planspec_validate::schema::compile(&serde_json::json!({
        "type": "object",
        "properties": {"apiVersion": {"type": "string", "const": "planspec.io/v1alpha1"}}
    }))
    .expect("the schema compiles");
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new("x.yaml", "apiVersion: planspec.io/v1\n"));
    let mut diags = Vec::new();
    let docs = planspec_validate::load::parse(id, sources.get(id), &Limits::default(), &mut diags);
    assert!(diags.is_empty(), "{diags:#?}");
    planspec_validate::schema::check(&schema, &docs[0], &mut diags);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d.code, Code::InvalidConstValue);
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.path.as_deref(), Some("apiVersion"));
    let at = sources.line_col(d.span.expect("has a span"));
    assert_eq!((at.line, at.column), (1, 13));
}
