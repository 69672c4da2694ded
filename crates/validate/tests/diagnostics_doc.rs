//! `docs/diagnostics.md` carries the code catalogue generated from `Code::ALL`.
//! Run with `PLANSPEC_BLESS=1` to rewrite the generated part.

use planspec_validate::{Code, Severity};
use std::path::PathBuf;

const START: &str = "<!-- catalogue:start (generated from Code::ALL; PLANSPEC_BLESS=1 cargo test -p planspec-validate --test diagnostics_doc) -->";
const END: &str = "<!-- catalogue:end -->";

fn catalogue() -> String {
    let mut out = String::from("| Code | Name | Default | Meaning |\n|---|---|---|---|\n");
    for code in Code::ALL {
        let severity = match code.default_severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "| <a id=\"{}\"></a>`{}` | `{}` | {} | {} |\n",
            code.id().to_ascii_lowercase(),
            code.id(),
            code.slug(),
            severity,
            code.summary().replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn diagnostics_doc_lists_every_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/diagnostics.md");
    let text = std::fs::read_to_string(&path).expect("docs/diagnostics.md exists");
    let (head, rest) = text
        .split_once(START)
        .expect("docs/diagnostics.md has the catalogue start marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/diagnostics.md has the catalogue end marker");
    let expected = format!("{head}{START}\n{}{END}{tail}", catalogue());
    if std::env::var_os("PLANSPEC_BLESS").is_some() {
        std::fs::write(&path, expected).expect("write docs/diagnostics.md");
        return;
    }
    assert!(
        text == expected,
        "docs/diagnostics.md is out of date with Code::ALL; run PLANSPEC_BLESS=1 cargo test -p planspec-validate --test diagnostics_doc"
    );
}
