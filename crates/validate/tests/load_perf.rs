//! Loader speed on a large input.
//!
//! The timed test is ignored by default; run it in release:
//!
//! ```text
//! cargo test --release -p planspec-validate --test load_perf -- --ignored --nocapture
//! ```

use planspec_validate::load::{parse, Limits};
use planspec_validate::{SourceFile, SourceId};

/// `items:` with `n` list items, each a mapping of six keys (about 145 bytes per item).
fn big_yaml(n: usize) -> String {
    let mut text = String::from("# ─── generated ───\nitems:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - name: item-{i}\n    kind: Task\n    value: {i}\n    enabled: true\n    \
             ratio: {i}.5\n    description: \"The item number {i} with some text ─\"\n"
        ));
    }
    text
}

#[test]
fn large_input_loads_completely() {
    let text = big_yaml(2_000);
    let file = SourceFile::new("big.yaml", text);
    let mut diags = Vec::new();
    let docs = parse(SourceId(0), &file, &Limits::default(), &mut diags);
    assert!(diags.is_empty(), "{diags:#?}");
    let items = docs[0].get("items").and_then(|n| n.as_seq()).unwrap();
    assert_eq!(items.len(), 2_000);
    let last = &items[1_999];
    let span = last.get("description").unwrap().span;
    assert_eq!(
        &file.text[span.start as usize..span.end as usize],
        "\"The item number 1999 with some text ─\""
    );
}
