//! `docs/reason-codes.md` carries the catalogue generated from `ReasonCode::ALL`.
//! Run with `PLANSPEC_BLESS=1` to rewrite the generated part.

use planspec_engine::{ReasonCategory, ReasonCode};
use std::path::PathBuf;

const START: &str = "<!-- catalogue:start (generated from ReasonCode::ALL; PLANSPEC_BLESS=1 cargo test -p planspec-engine --test reason_codes_doc) -->";
const END: &str = "<!-- catalogue:end -->";

fn catalogue() -> String {
    let mut out = String::new();
    let sections = [
        (ReasonCategory::Failure, "Failures", "A node attempt or node failed. Retried by default: whether a Task retries the code when its `retryPolicy` names no codes."),
        (ReasonCategory::Skip, "Skips", "A node did not run."),
        (ReasonCategory::Cancel, "Cancellation", "A node was cancelled."),
        (ReasonCategory::Execution, "Execution outcomes", "Why an execution ended (besides `cancelled` and `force_cancelled`)."),
        (ReasonCategory::Start, "Start failures", "Why an Execution could not start: the runtime checks these before anything runs, and the Execution fails with the code in `status.reason`."),
        (ReasonCategory::Ignored, "Ignored inputs", "An input was journaled with an `InputIgnored` decision and changed nothing."),
    ];
    for (category, title, intro) in sections {
        out.push_str(&format!("### {title}\n\n{intro}\n\n"));
        let failure = category == ReasonCategory::Failure;
        out.push_str(if failure {
            "| Code | Retried by default | Meaning |\n|---|---|---|\n"
        } else {
            "| Code | Meaning |\n|---|---|\n"
        });
        for code in ReasonCode::ALL.iter().filter(|c| c.category() == category) {
            let anchor = format!("<a id=\"{}\"></a>`{}`", code.as_str(), code.as_str());
            let meaning = code.description().replace('|', "\\|");
            if failure {
                let retried = if code.retryable_by_default() {
                    "yes"
                } else {
                    "no"
                };
                out.push_str(&format!("| {anchor} | {retried} | {meaning} |\n"));
            } else {
                out.push_str(&format!("| {anchor} | {meaning} |\n"));
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn reason_codes_doc_lists_every_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/reason-codes.md");
    let text = std::fs::read_to_string(&path).expect("docs/reason-codes.md exists");
    let (head, rest) = text
        .split_once(START)
        .expect("docs/reason-codes.md has the catalogue start marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/reason-codes.md has the catalogue end marker");
    let expected = format!("{head}{START}\n{}{END}{tail}", catalogue());
    if std::env::var_os("PLANSPEC_BLESS").is_some() {
        std::fs::write(&path, expected).expect("write docs/reason-codes.md");
        return;
    }
    assert!(
        text == expected,
        "docs/reason-codes.md is out of date with ReasonCode::ALL; run PLANSPEC_BLESS=1 cargo test -p planspec-engine --test reason_codes_doc"
    );
}
