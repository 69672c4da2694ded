//! Property tests over the whole validator: real documents, mutated at random, never
//! make it panic, hang or report an internal error; spans stay inside the text; and a
//! resource the validator accepts always deserialises into the typed model, so the
//! generated schema and the Rust types cannot drift apart unnoticed.

use planspec_model::{Binding, Capability, Execution, Gate, Goal, Kind, Plan};
use planspec_validate::{validate, Code, Options, Report, SourceFile, SourceMap};
use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Valid documents to start from: the shipped examples and upstream's examples.
fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        collect(&root.join("examples"), &mut files);
        collect(
            &root.join("../shared/conformance/upstream/docs/examples"),
            &mut files,
        );
        files.sort();
        let texts: Vec<String> = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        assert!(
            texts.len() >= 10,
            "expected example documents, found {}",
            texts.len()
        );
        texts
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

fn run(text: &str) -> Report {
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new("input.yaml", text));
    validate(sources, &Options::default())
}

/// The invariants every run must keep, whatever the input.
fn check_invariants(text: &str) -> Result<(), TestCaseError> {
    let report = run(text);
    for d in &report.diagnostics {
        prop_assert!(d.code != Code::Internal, "internal error: {}", d.message);
        if let Some(span) = d.span {
            let (start, end) = (span.start as usize, span.end as usize);
            prop_assert!(
                start <= end && end <= text.len(),
                "span {start}..{end} outside the text"
            );
            prop_assert!(
                text.is_char_boundary(start) && text.is_char_boundary(end),
                "span not on char boundaries"
            );
        }
    }
    for r in report.resources.iter().filter(|r| r.is_valid()) {
        let typed = match r.kind {
            Kind::Goal => r.to_typed::<Goal>().map(drop),
            Kind::Plan => r.to_typed::<Plan>().map(drop),
            Kind::Capability => r.to_typed::<Capability>().map(drop),
            Kind::Binding => r.to_typed::<Binding>().map(drop),
            Kind::Execution => r.to_typed::<Execution>().map(drop),
            Kind::Gate => r.to_typed::<Gate>().map(drop),
            Kind::Policy => r.to_typed::<planspec_model::Policy>().map(drop),
            Kind::Provider => r.to_typed::<planspec_model::Provider>().map(drop),
            Kind::Role => r.to_typed::<planspec_model::Role>().map(drop),
            Kind::RoleBinding => r.to_typed::<planspec_model::RoleBinding>().map(drop),
            Kind::ClusterRole => r.to_typed::<planspec_model::ClusterRole>().map(drop),
            Kind::ClusterRoleBinding => {
                r.to_typed::<planspec_model::ClusterRoleBinding>().map(drop)
            }
        };
        prop_assert!(
            typed.is_ok(),
            "{} is valid but does not deserialise: {:?}",
            r.display_name(),
            typed.err()
        );
    }
    let again = run(text);
    prop_assert_eq!(
        &report.diagnostics,
        &again.diagnostics,
        "validation is not deterministic"
    );
    Ok(())
}

/// Tokens that stress YAML and the rules: structure, anchors, tags, odd scalars, names.
const TOKENS: &[&str] = &[
    "",
    "~",
    "null",
    "[",
    "]",
    "{",
    "}",
    "- ",
    ": ",
    "*a",
    "&a ",
    "<<: *a",
    "!!binary x",
    "!custom",
    "'",
    "\"",
    "\t",
    "é─",
    "1e999",
    "-0",
    "0x1F",
    "9223372036854775808",
    ".nan",
    "true",
    "yes",
    "---",
    "...",
    "#",
    "kind: Gate",
    "kind: Task",
    "kind: List",
    "kind: Plan",
    "dependsOn: [a, a]",
    "id: x",
    "edges: [{from: a, to: a}]",
    "gateRef: {}",
    "apiVersion: v1",
    "when: \"a &&\"",
    "timeout: 7d",
    "capabilityRef: x",
    "name: \"\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertToken(usize, usize),
    ReplaceValue(usize, usize),
    Indent(usize, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::InsertToken(a, t)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::ReplaceValue(a, t)),
        (any::<usize>(), any::<bool>()).prop_map(|(a, b)| Mutation::Indent(a, b)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match *m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::InsertToken(i, t) => {
                let line = &mut lines[i % n];
                let at = line
                    .char_indices()
                    .map(|(k, _)| k)
                    .nth(i % (line.chars().count() + 1))
                    .unwrap_or(line.len());
                line.insert_str(at, TOKENS[t]);
            }
            Mutation::ReplaceValue(i, t) => {
                let line = &mut lines[i % n];
                if let Some((key, _)) = line.split_once(": ") {
                    *line = format!("{key}: {}", TOKENS[t]);
                }
            }
            Mutation::Indent(i, deeper) => {
                let line = &mut lines[i % n];
                if deeper {
                    line.insert_str(0, "  ");
                } else if line.starts_with("  ") {
                    line.drain(..2);
                }
            }
        }
    }
    lines.join("\n")
}

/// A random JSON value, to put where the schema expects something else.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9_. -]{0,12}".prop_map(Value::String),
        (0..TOKENS.len()).prop_map(|t| Value::String(TOKENS[t].to_string())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a pseudo-random position of `doc` (walking `choices`) with `with`.
fn replace_somewhere(doc: &mut Value, choices: &[usize], with: Value) {
    match (choices.split_first(), doc) {
        (Some((&c, rest)), Value::Object(map)) if !map.is_empty() => {
            let n = map.len();
            if let Some((_, child)) = map.iter_mut().nth(c % n) {
                replace_somewhere(child, rest, with);
            }
        }
        (Some((&c, rest)), Value::Array(items)) if !items.is_empty() => {
            let n = items.len();
            replace_somewhere(&mut items[c % n], rest, with);
        }
        (_, here) => *here = with,
    }
}

/// A seed document as JSON (JSON is YAML), through the validator's own loader.
fn seed_as_json(index: usize) -> Option<Value> {
    let text = &seeds()[index % seeds().len()];
    let report = run(text);
    report.resources.first().map(|r| r.node.to_json())
}

proptest! {
    // `PROPTEST_CASES=20000` searches harder; CI runs the default.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(192),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_documents_keep_the_invariants(seed in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let text = apply(&seeds()[seed % seeds().len()], &mutations);
        check_invariants(&text)?;
    }

    #[test]
    fn type_confusion_keeps_the_invariants(
        seed in any::<usize>(),
        edits in prop::collection::vec((prop::collection::vec(any::<usize>(), 1..7), json_value()), 1..4),
    ) {
        if let Some(mut doc) = seed_as_json(seed) {
            for (path, value) in edits {
                replace_somewhere(&mut doc, &path, value);
            }
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            check_invariants(&text)?;
        }
    }

    #[test]
    fn arbitrary_text_keeps_the_invariants(text in "\\PC{0,300}") {
        check_invariants(&text)?;
    }
}

#[test]
fn every_seed_is_valid_and_typed() {
    for text in seeds() {
        check_invariants(text).unwrap();
    }
}
