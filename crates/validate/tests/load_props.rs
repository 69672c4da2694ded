//! Property tests of the loader: it never panics, its spans are always valid, valid input
//! round-trips, and hostile input is rejected quickly.

use std::time::Duration;

use planspec_validate::load::{parse, Limits};
use planspec_validate::tree::{Node, Value};
use planspec_validate::{Code, Diagnostic, SourceFile, SourceId, Span};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn load(text: &str) -> (Vec<Node>, Vec<Diagnostic>) {
    let file = SourceFile::new("prop.yaml", text);
    let mut diags = Vec::new();
    let docs = parse(SourceId(0), &file, &Limits::default(), &mut diags);
    (docs, diags)
}

/// Loads `text` and checks every span of the result.
fn load_checked(text: &str) -> Result<(Vec<Node>, Vec<Diagnostic>), TestCaseError> {
    let (docs, diags) = load(text);
    let mut spans = Vec::new();
    let mut todo: Vec<&Node> = docs.iter().collect();
    while let Some(node) = todo.pop() {
        spans.push(node.span);
        match &node.value {
            Value::Seq(items) => todo.extend(items),
            Value::Map(entries) => {
                for e in entries {
                    spans.push(e.key_span);
                    todo.push(&e.value);
                }
            }
            _ => {}
        }
    }
    for d in &diags {
        prop_assert!(d.code != Code::Internal, "{text:?}: {d:#?}");
        spans.extend(d.span);
        spans.extend(d.related.iter().map(|r| r.span));
    }
    for span in spans {
        check_span(text, span)?;
    }
    Ok((docs, diags))
}

fn check_span(text: &str, span: Span) -> Result<(), TestCaseError> {
    let (start, end) = (span.start as usize, span.end as usize);
    prop_assert!(
        start <= end && end <= text.len(),
        "{span:?} in {} bytes",
        text.len()
    );
    prop_assert!(
        text.is_char_boundary(start) && text.is_char_boundary(end),
        "{span:?} not on char boundaries of {text:?}"
    );
    Ok(())
}

/// Runs `f` on another thread; fails if it does not finish within ten seconds.
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("took longer than 10 s (or panicked)")
}

// ----- generators ------------------------------------------------------------------------

/// Pieces of YAML syntax, valid and broken.
const TOKENS: &[&str] = &[
    "a",
    "b",
    "key",
    "x y",
    ":",
    ": ",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "? ",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "!!str ",
    "!!int ",
    "!!map ",
    "!x ",
    "! ",
    "\"",
    "'",
    "\\",
    "\"q\"",
    "'s'",
    "|",
    "|-\n",
    ">",
    "# c",
    "#",
    "---",
    "---\n",
    "...",
    "\n...\n",
    "<<: ",
    "<<",
    "~",
    "null",
    "true",
    "1",
    "-1.5",
    "0x1f",
    ".inf",
    "─",
    "é",
    "日本",
    "\u{feff}",
    "%YAML 1.2\n",
    "%TAG ! tag:x:\n",
    "!<tag:yaml.org,2002:str> ",
    "\u{0}",
    "\u{7f}",
    "@",
    "`",
    "%",
];

fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

/// Arbitrary JSON values with awkward strings and keys.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let text = prop_oneof![
        "[a-z]{0,8}",
        "[ -~]{0,12}",
        any::<String>().prop_map(|s| s.chars().filter(|c| *c != '\u{feff}').collect()),
        prop::sample::select(vec![
            "<<",
            "yes",
            "no",
            "null",
            "~",
            "1",
            "0x10",
            "- a",
            "a: b",
            "#x",
            "*a",
            "&a",
            "---",
            "",
            " ",
            "─┼─",
            "\t",
            "\n",
        ])
        .prop_map(str::to_owned),
    ];
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        (-1.0e6f64..1.0e6).prop_map(J::from),
        text.clone().prop_map(J::String),
    ];
    leaf.prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
            prop::collection::vec((text.clone(), inner), 0..6)
                .prop_map(|pairs| J::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Renders a JSON value as block-style YAML (strings double-quoted).
fn to_yaml(value: &serde_json::Value) -> String {
    let mut out = String::new();
    render(value, 0, &mut out);
    out.trim_start_matches('\n').to_owned()
}

fn render(value: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value as J;
    let pad = " ".repeat(indent);
    match value {
        J::Array(items) if !items.is_empty() => {
            for item in items {
                out.push('\n');
                out.push_str(&pad);
                out.push('-');
                render(item, indent + 2, out);
            }
        }
        J::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                out.push('\n');
                out.push_str(&pad);
                out.push_str(&serde_json::to_string(key).unwrap_or_default());
                out.push(':');
                render(item, indent + 2, out);
            }
        }
        scalar => {
            out.push(' ');
            out.push_str(&serde_json::to_string(scalar).unwrap_or_default());
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteChar(usize),
    InsertToken(usize, &'static str),
    DuplicateChar(usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<usize>();
    prop_oneof![
        i.prop_map(Mutation::DeleteChar),
        (i, prop::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        i.prop_map(Mutation::DuplicateChar),
        i.prop_map(Mutation::DeleteLine),
        i.prop_map(Mutation::DuplicateLine),
        (i, i).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
    match *mutation {
        Mutation::DeleteChar(i) if !chars.is_empty() => {
            let mut c = chars;
            c.remove(at(i, c.len()));
            c.into_iter().collect()
        }
        Mutation::InsertToken(i, token) => {
            let k = at(i, chars.len() + 1);
            let mut s: String = chars[..k].iter().collect();
            s.push_str(token);
            s.extend(&chars[k..]);
            s
        }
        Mutation::DuplicateChar(i) if !chars.is_empty() => {
            let mut c = chars;
            let k = at(i, c.len());
            c.insert(k, c[k]);
            c.into_iter().collect()
        }
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(at(i, lines.len()));
            lines.concat()
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let k = at(i, lines.len());
            lines.insert(k, lines[k]);
            lines.concat()
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(at(a, n), at(b, n));
            lines.concat()
        }
        _ => text.to_owned(),
    }
}

// ----- properties ------------------------------------------------------------------------

proptest! {
    #![proptest_config(Config { cases: 4096, ..Config::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        load_checked(&text)?;
    }

    #[test]
    fn yamlish_token_soup_never_panics(text in yamlish()) {
        load_checked(&text)?;
    }
}

proptest! {
    #![proptest_config(Config { cases: 1024, ..Config::default() })]

    #[test]
    fn json_round_trips(value in json_value()) {
        for text in [
            serde_json::to_string(&value).unwrap_or_default(),
            serde_json::to_string_pretty(&value).unwrap_or_default(),
        ] {
            let (docs, diags) = load_checked(&text)?;
            prop_assert!(diags.is_empty(), "{text}\n{diags:#?}");
            prop_assert_eq!(docs.len(), 1);
            prop_assert_eq!(docs[0].to_json(), value.clone(), "{}", text);
        }
    }

    #[test]
    fn block_yaml_round_trips(value in json_value()) {
        let text = to_yaml(&value);
        let (docs, diags) = load_checked(&text)?;
        prop_assert!(diags.is_empty(), "{text}\n{diags:#?}");
        prop_assert_eq!(docs.len(), 1);
        prop_assert_eq!(docs[0].to_json(), value, "{}", text);
    }

    #[test]
    fn mutated_documents_never_panic(
        value in json_value(),
        mutations in prop::collection::vec(mutation(), 1..6),
        multi in any::<bool>(),
    ) {
        let mut text = to_yaml(&value);
        if multi {
            text = format!("a: &a [1, 2]\nb: *a\n---\n{text}\n---\n{}", serde_json::to_string(&value).unwrap_or_default());
        }
        for m in &mutations {
            text = mutate(&text, m);
        }
        load_checked(&text)?;
    }

    #[test]
    fn every_document_of_a_stream_is_read(values in prop::collection::vec(json_value(), 1..5)) {
        let text: String = values.iter().map(|v| format!("---\n{}\n", to_yaml(v))).collect();
        let (docs, diags) = load_checked(&text)?;
        prop_assert!(diags.is_empty(), "{text}\n{diags:#?}");
        let got: Vec<_> = docs.iter().map(Node::to_json).collect();
        // Empty documents (a null rendered as nothing) do not occur: nulls render as `null`.
        prop_assert_eq!(got, values);
    }
}

proptest! {
    #![proptest_config(Config { cases: 24, ..Config::default() })]

    #[test]
    fn deep_nesting_is_rejected_quickly(
        depth in 65usize..300_000,
        style in 0usize..4,
        tail in "[a-z: ]{0,5}",
    ) {
        let text = match style {
            0 => "[".repeat(depth),
            1 => "{a: ".repeat(depth),
            2 => format!("{}{tail}", "- ".repeat(depth)),
            _ => (0..depth.min(3_000)).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect(),
        };
        let codes = within_10s(move || {
            let (_, diags) = load(&text);
            diags.iter().map(|d| d.code).collect::<Vec<_>>()
        });
        prop_assert!(codes.contains(&Code::NestingTooDeep), "{codes:?}");
    }

    #[test]
    fn alias_bombs_are_rejected_quickly(fanout in 2usize..12, levels in 6usize..30) {
        let mut text = String::from("l0: &l0 [x, x]\n");
        for i in 1..levels {
            let refs = vec![format!("*l{}", i - 1); fanout].join(", ");
            text.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        let total = (fanout as f64).powi(levels as i32 - 1) * 3.0;
        let codes = within_10s(move || {
            let (_, diags) = load(&text);
            diags.iter().map(|d| d.code).collect::<Vec<_>>()
        });
        if total > 200_000.0 {
            prop_assert_eq!(codes, vec![Code::AliasLimit]);
        } else {
            prop_assert!(codes.is_empty() || codes == vec![Code::AliasLimit], "{codes:?}");
        }
    }
}
