//! Fuzzes the loader: any bytes (read as lossy UTF-8) must load without panicking,
//! with every span inside the text and on character boundaries, and without an
//! internal error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use planspec_validate::load::{parse, Limits};
use planspec_validate::tree::{Node, Value};
use planspec_validate::{Code, SourceFile, SourceId, Span};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let file = SourceFile::new("fuzz.yaml", text.as_ref());
    let limits = Limits {
        max_alias_nodes: 10_000,
        ..Limits::default()
    };
    let mut diags = Vec::new();
    let docs = parse(SourceId(0), &file, &limits, &mut diags);

    let mut todo: Vec<&Node> = docs.iter().collect();
    while let Some(node) = todo.pop() {
        check(&file.text, node.span);
        match &node.value {
            Value::Seq(items) => todo.extend(items),
            Value::Map(entries) => {
                for entry in entries {
                    check(&file.text, entry.key_span);
                    todo.push(&entry.value);
                }
            }
            _ => {}
        }
    }
    for d in &diags {
        assert_ne!(d.code, Code::Internal, "{d:?}");
        d.span.into_iter().for_each(|s| check(&file.text, s));
        d.related.iter().for_each(|r| check(&file.text, r.span));
    }
});

fn check(text: &str, span: Span) {
    let (start, end) = (span.start as usize, span.end as usize);
    assert!(start <= end && end <= text.len(), "{span:?}");
    assert!(
        text.is_char_boundary(start) && text.is_char_boundary(end),
        "{span:?}"
    );
}
