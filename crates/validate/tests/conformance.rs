//! The upstream conformance corpus (`../shared/conformance/upstream/`), read in place,
//! behaves as `../shared/conformance/README.md` says.

use planspec_validate::{
    validate, Code, Diagnostic, Options, Report, Severity, SourceFile, SourceMap,
};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/upstream");
    let dir = dir.canonicalize().unwrap_or(dir);
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

fn run(paths: &[PathBuf], strict: bool) -> Report {
    let mut sources = SourceMap::new();
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap();
        sources.add(SourceFile::new(path.display().to_string(), text));
    }
    validate(
        sources,
        &Options {
            strict,
            ..Options::default()
        },
    )
}

fn describe(report: &Report) -> String {
    report
        .diagnostics
        .iter()
        .map(|d| {
            let at = d.span.map(|s| {
                let lc = report.sources.line_col(s);
                format!(
                    "{}:{}:{}",
                    report.sources.get(s.source).name,
                    lc.line,
                    lc.column
                )
            });
            format!(
                "{:?} {} {} {}",
                d.severity,
                d.code.id(),
                at.unwrap_or_default(),
                d.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_malformed(path: &Path) -> bool {
    path.ends_with("fixtures/v0.1.0/goals.yaml") || path.ends_with("fixtures/v0.1.0/bundle.yaml")
}

fn line_of(report: &Report, d: &Diagnostic) -> u32 {
    report
        .sources
        .line_col(d.span.expect("diagnostic has a span"))
        .line
}

#[test]
fn every_upstream_doc_is_accepted_alone() {
    let files: Vec<PathBuf> = yaml_files(&corpus().join("docs"))
        .into_iter()
        .filter(|p| !is_malformed(p))
        .collect();
    assert!(
        files.len() >= 40,
        "expected the upstream docs, found {}",
        files.len()
    );
    for file in &files {
        let report = run(std::slice::from_ref(file), false);
        assert!(
            !report.resources.is_empty(),
            "{}: no resources found",
            file.display()
        );
        assert_eq!(
            report.error_count(),
            0,
            "{} must be accepted:\n{}",
            file.display(),
            describe(&report)
        );
    }
}

/// Upstream's own planning resources form one coherent set: validated together, every
/// reference between them resolves. (`docs/` as a whole repeats resources across its
/// example and dogfood folders, so it is not one set.)
#[test]
fn upstream_dogfood_set_validates_together() {
    let files: Vec<PathBuf> = yaml_files(&corpus().join("docs/planspec"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("fixtures"))
        .collect();
    let report = run(&files, false);
    assert_eq!(report.error_count(), 0, "{}", describe(&report));
    assert!(
        report.resources.len() >= 25,
        "found {}",
        report.resources.len()
    );
}

#[test]
fn legacy_forms_are_warned_about_with_field_line_and_modern_form() {
    let docs = corpus().join("docs");
    let cases: &[(&str, Code, &str)] = &[
        (
            "planspec/fixtures/v0.1.0/capabilities.yaml",
            Code::LegacyRequirementKey,
            "write `name`",
        ),
        (
            "examples/sso-integration.yaml",
            Code::LegacyCapabilityRef,
            "capabilityRefs",
        ),
        (
            "planspec/plans/cli-batch-edit-features.yaml",
            Code::LegacyCapabilityNames,
            "capabilityRefs",
        ),
        (
            "planspec/fixtures/v0.1.0/plans.yaml",
            Code::InlineGate,
            "gateRef",
        ),
        (
            "planspec/fixtures/v0.1.0/plans.yaml",
            Code::ManualExternal,
            "externalRef",
        ),
        (
            "planspec/goals/cli-batch-edit-features.yaml",
            Code::UnknownField,
            "",
        ),
    ];
    for (file, code, hint) in cases {
        let path = docs.join(file);
        let report = run(std::slice::from_ref(&path), false);
        let found = report.diagnostics.iter().find(|d| d.code == *code);
        let d = found
            .unwrap_or_else(|| panic!("{file}: expected {}:\n{}", code.id(), describe(&report)));
        assert_eq!(d.severity, Severity::Warning, "{file}: {}", code.id());
        assert!(
            d.span.is_some() && d.path.is_some(),
            "{file}: {} needs a line and a field path",
            code.id()
        );
        assert!(
            d.hint.as_deref().unwrap_or_default().contains(hint),
            "{file}: hint {:?} should name {hint}",
            d.hint
        );
    }
}

#[test]
fn day_durations_are_normalised_with_a_warning() {
    let files: Vec<PathBuf> = yaml_files(&corpus().join("docs"))
        .into_iter()
        .filter(|p| !is_malformed(p))
        .collect();
    let report = run(&files, false);
    let days: Vec<&Diagnostic> = report
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::LegacyDayDuration)
        .collect();
    assert!(
        !days.is_empty(),
        "the corpus uses day durations such as `7d`"
    );
    assert!(days
        .iter()
        .all(|d| d.hint.as_deref().is_some_and(|h| h.ends_with("h`"))));
}

#[test]
fn strict_mode_rejects_legacy_forms() {
    let path = corpus().join("docs/planspec/fixtures/v0.1.0/capabilities.yaml");
    let report = run(std::slice::from_ref(&path), true);
    assert!(report.has_errors());
    assert!(report
        .diagnostics
        .iter()
        .all(|d| d.severity == Severity::Error));
}

/// The line of the first top-level key that repeats inside one `---`-separated document:
/// an oracle independent of the loader.
fn first_repeated_top_level_key(text: &str) -> (String, u32) {
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            seen.clear();
            continue;
        }
        if line.starts_with(|c: char| c.is_ascii_alphabetic()) {
            if let Some((key, _)) = line.split_once(':') {
                if !seen.insert(key.to_string()) {
                    return (key.to_string(), i as u32 + 1);
                }
            }
        }
    }
    panic!("no repeated key");
}

#[test]
fn concatenated_fixtures_are_rejected_at_the_second_occurrence() {
    for file in ["goals.yaml", "bundle.yaml"] {
        let path = corpus().join("docs/planspec/fixtures/v0.1.0").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let (key, line) = first_repeated_top_level_key(&text);
        let report = run(std::slice::from_ref(&path), false);
        assert!(report.has_errors(), "{file} must be rejected");
        let first = report
            .diagnostics
            .iter()
            .find(|d| d.code == Code::DuplicateKey)
            .unwrap_or_else(|| {
                panic!(
                    "{file}: no duplicate-key diagnostic:\n{}",
                    describe(&report)
                )
            });
        assert_eq!(
            line_of(&report, first),
            line,
            "{file}: duplicate `{key}` must be reported at line {line}"
        );
        assert!(
            first.message.contains(&key),
            "{file}: message names the key: {}",
            first.message
        );
        assert!(
            !first.related.is_empty(),
            "{file}: points at the first occurrence too"
        );
    }
}

#[test]
fn templates_are_reported_as_invalid_values_without_panicking() {
    let files = yaml_files(&corpus().join("templates"));
    assert!(files.len() >= 8);
    for file in &files {
        let report = run(std::slice::from_ref(file), false);
        assert!(
            report.has_errors(),
            "{} has unrendered placeholders and must be invalid",
            file.display()
        );
    }
    let goal = corpus().join("templates/newer/goal.yaml");
    let report = run(std::slice::from_ref(&goal), false);
    let priority = report
        .diagnostics
        .iter()
        .find(|d| d.path.as_deref() == Some("spec.priority"))
        .unwrap_or_else(|| panic!("priority must be reported:\n{}", describe(&report)));
    assert_eq!(priority.code, Code::WrongType);
    assert!(priority
        .hint
        .as_deref()
        .unwrap_or_default()
        .contains("template"));
}
