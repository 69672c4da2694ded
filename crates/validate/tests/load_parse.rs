//! Behaviour of the loader: documents, scalars, keys, spans, tags, anchors, merge keys,
//! limits and errors.

use std::time::{Duration, Instant};

use planspec_validate::load::{parse, Limits};
use planspec_validate::tree::{Node, Value};
use planspec_validate::{Code, Diagnostic, LineCol, Severity, SourceFile, SourceId, Span};
use serde_json::json;

struct Loaded {
    file: SourceFile,
    docs: Vec<Node>,
    diags: Vec<Diagnostic>,
}

impl Loaded {
    fn text(&self, span: Span) -> &str {
        &self.file.text[span.start as usize..span.end as usize]
    }

    fn at(&self, span: Span) -> (u32, u32) {
        let LineCol { line, column } = self.file.line_col(span.start);
        (line, column)
    }

    fn codes(&self) -> Vec<Code> {
        self.diags.iter().map(|d| d.code).collect()
    }

    fn only_doc(&self) -> &Node {
        assert_eq!(self.docs.len(), 1, "documents: {:?}", self.docs);
        &self.docs[0]
    }

    /// The document as JSON, keeping the loader's integer/float distinction (unlike
    /// `Node::to_json`, which writes integral floats as integers).
    fn json(&self) -> serde_json::Value {
        exact_json(self.only_doc())
    }

    fn diag(&self, code: Code) -> &Diagnostic {
        self.diags
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("no {code:?} in {:#?}", self.diags))
    }
}

fn load_with(text: &str, limits: &Limits) -> Loaded {
    let file = SourceFile::new("test.yaml", text);
    let mut diags = Vec::new();
    let docs = parse(SourceId(0), &file, limits, &mut diags);
    Loaded { file, docs, diags }
}

fn load(text: &str) -> Loaded {
    load_with(text, &Limits::default())
}

fn clean(text: &str) -> Loaded {
    let loaded = load(text);
    assert!(loaded.diags.is_empty(), "{:#?}", loaded.diags);
    loaded
}

/// Runs `f` on another thread and fails if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("took too long (or panicked)")
}

// ----- documents -------------------------------------------------------------------------

#[test]
fn one_node_per_document_and_empty_documents_are_skipped() {
    let l = clean("a: 1\n---\n---\n# only a comment\n---\nb: 2\n...\n---\n- 3\n");
    let docs: Vec<_> = l.docs.iter().map(Node::to_json).collect();
    assert_eq!(docs, vec![json!({"a": 1}), json!({"b": 2}), json!([3])]);
}

#[test]
fn document_spans_cover_their_content() {
    let l = clean("---\nkind: Plan\nname: x\n---\n[1, 2]\n");
    assert_eq!(l.text(l.docs[0].span), "kind: Plan\nname: x");
    assert_eq!(l.text(l.docs[1].span), "[1, 2]");
}

#[test]
fn input_without_documents_warns_at_offset_zero() {
    for text in ["", "# just a comment\n", "---\n", "\n\n", "---\n...\n---\n"] {
        let l = load(text);
        assert!(l.docs.is_empty());
        let d = l.diag(Code::NoDocuments);
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.span, Some(Span::new(SourceId(0), 0, 0)), "{text:?}");
    }
}

#[test]
fn a_null_document_is_kept() {
    let l = clean("--- ~\n");
    assert_eq!(l.only_doc().value, Value::Null);
}

// ----- scalars ---------------------------------------------------------------------------

#[test]
fn plain_scalars_follow_the_yaml_1_2_core_schema() {
    let l = clean(
        "n1: ~\nn2: null\nn3: NULL\nn4:\nb1: true\nb2: False\ns1: yes\ns2: on\ns3: No\n\
         i1: 42\ni2: -7\ni3: 0o17\ni4: 0x1f\ni5: 99999999999999999999\n\
         f1: 1.5\nf2: 1e3\nf3: -.5\ns4: 1_000\ns5: 1.2.3\ns6: 12:30\n",
    );
    assert_eq!(
        l.json(),
        json!({
            "n1": null, "n2": null, "n3": null, "n4": null,
            "b1": true, "b2": false, "s1": "yes", "s2": "on", "s3": "No",
            "i1": 42, "i2": -7, "i3": 15, "i4": 31, "i5": 1e20,
            "f1": 1.5, "f2": 1000.0, "f3": -0.5, "s4": "1_000", "s5": "1.2.3", "s6": "12:30"
        })
    );
    let doc = l.only_doc();
    assert_eq!(doc.get("i5").map(|n| &n.value), Some(&Value::Float(1e20)));
    assert_eq!(doc.get("f2").map(|n| &n.value), Some(&Value::Float(1000.0)));
}

#[test]
fn special_floats() {
    let l = clean("- .inf\n- -.Inf\n- .nan\n- .NaN\n");
    let items = l.only_doc().as_seq().unwrap();
    assert_eq!(items[0].value, Value::Float(f64::INFINITY));
    assert_eq!(items[1].value, Value::Float(f64::NEG_INFINITY));
    assert!(matches!(items[2].value, Value::Float(f) if f.is_nan()));
    assert!(matches!(items[3].value, Value::Float(f) if f.is_nan()));
}

#[test]
fn quoted_and_block_scalars_are_strings() {
    let l = clean("a: \"1\"\nb: 'true'\nc: |\n  null\nd: >-\n  12\n  34\ne: ''\n");
    assert_eq!(
        l.json(),
        json!({"a": "1", "b": "true", "c": "null\n", "d": "12 34", "e": ""})
    );
}

#[test]
fn scalar_spans_cover_the_token_with_quotes() {
    let l = clean("plain: hello world\ndq: \"a \\\" b\"\nsq: 'it''s'\nnum: -12.5\n");
    let doc = l.only_doc();
    let span_of = |k: &str| l.text(doc.get(k).unwrap().span);
    assert_eq!(span_of("plain"), "hello world");
    assert_eq!(span_of("dq"), "\"a \\\" b\"");
    assert_eq!(span_of("sq"), "'it''s'");
    assert_eq!(span_of("num"), "-12.5");
}

#[test]
fn block_scalar_spans_run_from_header_to_last_character() {
    let l = clean("a: |  # keep\n  line 1\n  line 2\n\n\nb: >-\n  folded\nc:\n  - |\n    x\n");
    let doc = l.only_doc();
    assert_eq!(
        l.text(doc.get("a").unwrap().span),
        "|  # keep\n  line 1\n  line 2"
    );
    assert_eq!(l.text(doc.get("b").unwrap().span), ">-\n  folded");
    let item = &doc.get("c").unwrap().as_seq().unwrap()[0];
    assert_eq!(l.text(item.span), "|\n    x");
}

#[test]
fn multi_line_plain_scalar_span() {
    let l = clean("a: one\n  two\nb: 1\n");
    let a = l.only_doc().get("a").unwrap();
    assert_eq!(a.value, Value::String("one two".into()));
    assert_eq!(l.text(a.span), "one\n  two");
}

#[test]
fn empty_value_is_null_with_an_empty_span_after_the_key() {
    let l = clean("a:\nb: 1\n");
    let a = l.only_doc().get("a").unwrap();
    assert!(a.is_null());
    assert!(a.span.start >= 1 && a.span.start <= 2 && a.span.is_empty());
}

// ----- keys ------------------------------------------------------------------------------

#[test]
fn scalar_keys_become_the_text_as_written() {
    let l = clean("1: a\ntrue: b\n0x10: c\n1.50: d\n\"q\": e\n'': f\n");
    let keys: Vec<_> = l
        .only_doc()
        .as_map()
        .unwrap()
        .iter()
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(keys, ["1", "true", "0x10", "1.50", "q", ""]);
}

#[test]
fn null_keys_are_empty_strings() {
    for text in ["~: a\n", "null: a\n", ": a\n", "? \n: a\n"] {
        let l = clean(text);
        assert_eq!(l.json(), json!({"": "a"}), "{text:?}");
    }
}

#[test]
fn key_spans_point_at_the_key() {
    let l = clean("outer:\n  \"inner key\": 1\n  other: 2\n");
    let outer = l.only_doc().entry("outer").unwrap();
    assert_eq!(l.text(outer.key_span), "outer");
    let inner = outer.value.entry("inner key").unwrap();
    assert_eq!(l.text(inner.key_span), "\"inner key\"");
    assert_eq!(l.at(inner.key_span), (2, 3));
}

#[test]
fn collection_keys_are_unsupported() {
    let l = load("? [a, b]\n: 1\n{x: 1}: 2\nok: 3\n");
    let errors: Vec<_> = l
        .diags
        .iter()
        .filter(|d| d.code == Code::UnsupportedKey)
        .collect();
    assert_eq!(errors.len(), 2, "{:#?}", l.diags);
    assert_eq!(l.text(errors[0].span.unwrap()), "[a, b]");
    assert_eq!(l.text(errors[1].span.unwrap()), "{x: 1}");
    assert_eq!(l.json(), json!({"ok": 3}));
}

// ----- duplicate keys --------------------------------------------------------------------

#[test]
fn duplicate_key_is_reported_at_the_second_occurrence() {
    let text = "apiVersion: v1\nkind: Plan\nmetadata:\n  name: a\nkind: Task\n";
    let l = load(text);
    assert_eq!(l.codes(), [Code::DuplicateKey]);
    let d = &l.diags[0];
    assert_eq!(d.severity, Severity::Error);
    assert!(d.message.contains("`kind`"), "{}", d.message);
    assert_eq!(l.at(d.span.unwrap()), (5, 1));
    assert_eq!(l.text(d.span.unwrap()), "kind");
    assert_eq!(d.related.len(), 1);
    assert_eq!(l.at(d.related[0].span), (2, 1));
    assert_eq!(d.related[0].message, "first defined here");
    assert!(d
        .hint
        .as_deref()
        .unwrap()
        .contains("separate them with `---`"));
    assert_eq!(d.path.as_deref(), Some("kind"));
    // The first value is kept.
    assert_eq!(l.only_doc().get("kind").unwrap().as_str(), Some("Plan"));
}

#[test]
fn nested_duplicate_keys_have_paths_and_later_findings_are_still_reported() {
    let text = "spec:\n  nodes:\n    - id: a\n      id: b\n    - x: 1\n      x: 2\nz: !foo 1\n";
    let l = load(text);
    assert_eq!(
        l.codes(),
        [Code::DuplicateKey, Code::DuplicateKey, Code::UnknownTag]
    );
    assert_eq!(l.diags[0].path.as_deref(), Some("spec.nodes[0].id"));
    assert_eq!(l.at(l.diags[0].span.unwrap()), (4, 7));
    assert_eq!(l.diags[1].path.as_deref(), Some("spec.nodes[1].x"));
    assert_eq!(
        l.json(),
        json!({"spec": {"nodes": [{"id": "a"}, {"x": 1}]}, "z": 1})
    );
}

#[test]
fn duplicate_keys_in_json() {
    let l = load("{\"a\": 1, \"b\": 2, \"a\": 3}");
    assert_eq!(l.codes(), [Code::DuplicateKey]);
    let d = &l.diags[0];
    assert_eq!(l.text(d.span.unwrap()), "\"a\"");
    assert_eq!(l.at(d.span.unwrap()), (1, 18));
    assert_eq!(l.text(d.related[0].span), "\"a\"");
    assert_eq!(l.json(), json!({"a": 1, "b": 2}));
}

#[test]
fn duplicate_keys_in_large_mappings() {
    let mut text: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
    text.push_str("k42: again\nk99: again\n");
    let l = load(&text);
    assert_eq!(l.codes(), [Code::DuplicateKey, Code::DuplicateKey]);
    assert_eq!(l.at(l.diags[0].span.unwrap()), (101, 1));
    assert_eq!(l.at(l.diags[0].related[0].span), (43, 1));
    assert_eq!(l.only_doc().as_map().unwrap().len(), 100);
}

#[test]
fn concatenated_documents_show_as_duplicate_keys() {
    let l = load("kind: Plan\nname: a\nkind: Plan\nname: b\n");
    assert_eq!(l.codes(), [Code::DuplicateKey, Code::DuplicateKey]);
}

#[test]
fn keys_equal_after_resolution_are_duplicates() {
    let l = load("~: 1\nnull: 2\n");
    assert_eq!(l.codes(), [Code::DuplicateKey]);
}

// ----- non-ASCII text and line endings ---------------------------------------------------

#[test]
fn spans_are_byte_offsets_with_non_ascii_text() {
    let text = "# ─── Plan ───────────\n# ═══ ünïcödé ═══\nname: \"héllo ─ wörld\"\nnote: 日本語 # ──\nlist: [ä, 'ö']\n";
    let l = clean(text);
    let doc = l.only_doc();
    let name = doc.entry("name").unwrap();
    assert_eq!(l.text(name.key_span), "name");
    assert_eq!(l.at(name.key_span), (3, 1));
    assert_eq!(l.text(name.value.span), "\"héllo ─ wörld\"");
    let note = doc.get("note").unwrap();
    assert_eq!(l.text(note.span), "日本語");
    assert_eq!(l.at(note.span), (4, 7));
    let list = doc.get("list").unwrap();
    assert_eq!(l.text(list.span), "[ä, 'ö']");
    assert_eq!(l.text(list.as_seq().unwrap()[1].span), "'ö'");
}

#[test]
fn duplicate_key_after_non_ascii_comment() {
    let l = load("# ┌──────┐\n# │ box  │\n# └──────┘\na: 1\nb: ─\na: 2\n");
    let d = l.diag(Code::DuplicateKey);
    assert_eq!(l.at(d.span.unwrap()), (6, 1));
    assert_eq!(l.text(d.span.unwrap()), "a");
}

#[test]
fn crlf_line_endings() {
    let l = clean("a: 1\r\nb:\r\n  - x\r\n  - \"y\"\r\n");
    assert_eq!(l.json(), json!({"a": 1, "b": ["x", "y"]}));
    let b = l.only_doc().get("b").unwrap();
    assert_eq!(l.text(b.as_seq().unwrap()[1].span), "\"y\"");
    assert_eq!(l.at(b.as_seq().unwrap()[1].span), (4, 5));
}

#[test]
fn byte_order_mark_in_text_is_tolerated() {
    let l = clean("\u{feff}a: é\n");
    let a = l.only_doc().entry("a").unwrap();
    assert_eq!(l.text(a.key_span), "a");
    assert_eq!(l.text(a.value.span), "é");
}

// ----- JSON ------------------------------------------------------------------------------

#[test]
fn compact_json() {
    let l = clean("{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"e\"},\"f\":-1.5e2}");
    assert_eq!(
        l.json(),
        json!({"a": 1, "b": [true, null], "c": {"d": "e"}, "f": -150.0})
    );
    let doc = l.only_doc();
    assert_eq!(l.text(doc.span), l.file.text);
    assert_eq!(l.text(doc.get("b").unwrap().span), "[true,null]");
    assert_eq!(l.text(doc.entry("c").unwrap().key_span), "\"c\"");
}

#[test]
fn pretty_json() {
    let text = "{\n  \"apiVersion\": \"planspec.io/v1alpha1\",\n  \"kind\": \"Plan\",\n  \"spec\": {\n    \"nodes\": [\n      {\"id\": \"a\"},\n      {\"id\": \"b\"}\n    ],\n    \"empty\": {},\n    \"none\": []\n  }\n}\n";
    let l = clean(text);
    assert_eq!(
        l.json(),
        json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan",
               "spec": {"nodes": [{"id": "a"}, {"id": "b"}], "empty": {}, "none": []}})
    );
    let nodes = l.only_doc().at(&["spec", "nodes"]).unwrap();
    assert_eq!(l.at(nodes.as_seq().unwrap()[1].span), (7, 7));
    assert_eq!(
        l.text(l.only_doc().at(&["spec", "empty"]).unwrap().span),
        "{}"
    );
}

#[test]
fn json_with_unicode_escapes() {
    let l = clean("{\"a\": \"\\u00e9\\u2500\"}");
    assert_eq!(l.json(), json!({"a": "é─"}));
}

// ----- tags ------------------------------------------------------------------------------

#[test]
fn core_tags_are_honoured() {
    let l = clean(
        "s: !!str 1\ni: !!int \"12\"\nf: !!float 2\nb: !!bool \"true\"\nn: !!null ''\n\
         m: !!map {a: 1}\nq: !!seq [1]\nx: ! 12\nv: !<tag:yaml.org,2002:int> '7'\n",
    );
    assert_eq!(
        l.json(),
        json!({"s": "1", "i": 12, "f": 2.0, "b": true, "n": null,
               "m": {"a": 1}, "q": [1], "x": "12", "v": 7})
    );
}

#[test]
fn tagged_value_span_excludes_the_tag() {
    let l = clean("s: !!str 1\nm: &a !!map {a: 1}\n");
    let doc = l.only_doc();
    assert_eq!(l.text(doc.get("s").unwrap().span), "1");
    assert_eq!(l.text(doc.get("m").unwrap().span), "{a: 1}");
}

#[test]
fn unknown_tags_warn_and_are_ignored() {
    let l = load("a: !custom 12\nb: !!binary aGk=\nc: !thing {x: 1}\n");
    assert_eq!(l.codes(), [Code::UnknownTag; 3]);
    assert!(l.diags.iter().all(|d| d.severity == Severity::Warning));
    assert_eq!(l.text(l.diags[0].span.unwrap()), "!custom");
    assert!(l.diags[0].message.contains("`!custom`"));
    assert_eq!(l.text(l.diags[1].span.unwrap()), "!!binary");
    assert_eq!(l.json(), json!({"a": 12, "b": "aGk=", "c": {"x": 1}}));
}

#[test]
fn core_tags_that_do_not_fit_warn_and_are_ignored() {
    let l = load("a: !!int abc\nb: !!seq {x: 1}\nc: !!bool yes\n");
    assert_eq!(l.codes(), [Code::UnknownTag; 3]);
    assert_eq!(l.json(), json!({"a": "abc", "b": {"x": 1}, "c": "yes"}));
}

// ----- anchors, aliases, merge keys ------------------------------------------------------

#[test]
fn aliases_copy_the_anchored_value() {
    let l = clean("base: &b\n  cpu: 2\n  tags: [x, y]\nuse: *b\nname: &n hello\nagain: *n\n");
    assert_eq!(
        l.json(),
        json!({"base": {"cpu": 2, "tags": ["x", "y"]},
               "use": {"cpu": 2, "tags": ["x", "y"]}, "name": "hello", "again": "hello"})
    );
    let doc = l.only_doc();
    // The copy's root points at the alias, its insides at the anchored text.
    let copy = doc.get("use").unwrap();
    assert_eq!(l.text(copy.span), "*b");
    assert_eq!(l.text(copy.get("cpu").unwrap().span), "2");
    assert_eq!(l.at(copy.get("cpu").unwrap().span), (2, 8));
    assert_eq!(
        l.text(doc.get("base").unwrap().span),
        "cpu: 2\n  tags: [x, y]"
    );
    assert_eq!(l.text(doc.get("name").unwrap().span), "hello");
}

#[test]
fn aliases_into_closed_and_nested_collections() {
    let l = clean(
        "a:\n  b:\n    - &x {k: v}\n    - [&y 1, 2]\nc: [*x, *y]\nd:\n  - e: &z [3]\n  - *z\n",
    );
    assert_eq!(
        l.json(),
        json!({"a": {"b": [{"k": "v"}, [1, 2]]}, "c": [{"k": "v"}, 1],
               "d": [{"e": [3]}, [3]]})
    );
}

#[test]
fn anchors_on_keys_and_dropped_values_still_resolve() {
    let l = load("&k key: 1\nother: *k\nd: 1\nd: &gone 2\nuse: *gone\n");
    assert_eq!(l.codes(), [Code::DuplicateKey]);
    assert_eq!(
        l.json(),
        json!({"key": 1, "other": "key", "d": 1, "use": 2})
    );
}

#[test]
fn alias_as_key() {
    let l = clean("a: &k name\n*k : 1\n");
    assert_eq!(l.json(), json!({"a": "name", "name": 1}));
}

#[test]
fn anchors_can_be_redefined() {
    let l = clean("- &a 1\n- *a\n- &a 2\n- *a\n");
    assert_eq!(l.json(), json!([1, 1, 2, 2]));
}

#[test]
fn undefined_alias_is_a_syntax_error() {
    let l = load("a: 1\nb: *nope\n---\nc: 2\n");
    let d = l.diag(Code::Syntax);
    assert!(d.message.contains("*nope"), "{}", d.message);
    assert_eq!(l.text(d.span.unwrap()), "*nope");
    // The broken document is dropped; the next one is read.
    let docs: Vec<_> = l.docs.iter().map(Node::to_json).collect();
    assert_eq!(docs, vec![json!({"c": 2})]);
}

#[test]
fn aliases_do_not_cross_documents() {
    let l = load("a: &x 1\n---\nb: *x\n");
    let d = l.diag(Code::Syntax);
    assert_eq!(l.text(d.span.unwrap()), "*x");
    assert_eq!(l.docs.len(), 1);
}

#[test]
fn recursive_alias_is_an_error() {
    let l = load("a: &r\n  b: *r\n");
    let d = l.diag(Code::Syntax);
    assert!(d.message.contains("recursive"), "{}", d.message);
    assert!(l.docs.is_empty());
}

#[test]
fn merge_keys_do_not_override_explicit_keys() {
    let l = clean(
        "base: &base\n  image: nginx\n  replicas: 1\n  port: 80\n\
         svc:\n  replicas: 3\n  <<: *base\n  name: web\n",
    );
    assert_eq!(
        l.json()["svc"],
        json!({"replicas": 3, "name": "web", "image": "nginx", "port": 80})
    );
    let svc = l.only_doc().get("svc").unwrap();
    // Merged entries keep the spans of the text they came from.
    assert_eq!(l.at(svc.entry("image").unwrap().key_span), (2, 3));
}

#[test]
fn merge_lists_earlier_sources_win() {
    let l = clean("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n");
    assert_eq!(l.json()["c"], json!({"z": 3, "x": 1, "y": 1}));
}

#[test]
fn inline_merge_and_nested_merge() {
    let l = clean("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b}\nd: {<<: {w: 0}}\n");
    assert_eq!(l.json()["c"], json!({"y": 2, "x": 1}));
    assert_eq!(l.json()["d"], json!({"w": 0}));
}

#[test]
fn merge_of_a_scalar_is_an_error_and_quoted_merge_key_is_a_plain_key() {
    let l = load("a: {<<: 1, b: 2}\nc: {\"<<\": 1}\n");
    assert_eq!(l.codes(), [Code::Syntax]);
    assert_eq!(l.json(), json!({"a": {"b": 2}, "c": {"<<": 1}}));
}

#[test]
fn merge_keys_in_json_style_and_with_anchored_inline_source() {
    let l = clean("x: {<<: &m {a: 1}, b: 2}\ny: *m\n");
    assert_eq!(l.json(), json!({"x": {"b": 2, "a": 1}, "y": {"a": 1}}));
}

// ----- limits ----------------------------------------------------------------------------

fn billion_laughs() -> String {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=12 {
        let prev = format!("*a{}", i - 1);
        let refs = [prev.as_str(); 9].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn billion_laughs_fails_fast() {
    let l = within(Duration::from_secs(10), || {
        let start = Instant::now();
        let l = load(&billion_laughs());
        (l.codes(), l.docs.len(), start.elapsed())
    });
    let (codes, docs, elapsed) = l;
    assert_eq!(codes, [Code::AliasLimit]);
    assert_eq!(docs, 0);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn alias_limit_counts_copied_nodes() {
    let text = "a: &a [1, 2, 3, 4]\nb: [*a, *a]\n";
    let limits = |n| Limits {
        max_alias_nodes: n,
        ..Limits::default()
    };
    assert!(load_with(text, &limits(10)).diags.is_empty());
    let l = load_with(text, &limits(9));
    assert_eq!(l.codes(), [Code::AliasLimit]);
    assert_eq!(l.text(l.diags[0].span.unwrap()), "*a");
}

#[test]
fn anchors_cost_nothing_until_an_alias_copies_them() {
    let (codes, elapsed) = within(Duration::from_secs(10), || {
        let mut text = String::from("big: &big\n");
        text.extend((0..60_000).map(|i| format!("  - &i{i} {{k: {i}}}\n")));
        text.push_str("one: *i59999\ncopy: *big\n");
        let start = Instant::now();
        let l = load(&text);
        (l.codes(), start.elapsed())
    });
    // 60,000 anchors are free; copying 120,001 nodes is over the budget of 100,000.
    assert_eq!(codes, [Code::AliasLimit]);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn nested_anchored_merge_sources_are_counted() {
    let limits = Limits {
        max_alias_nodes: 5,
        ..Limits::default()
    };
    let text = "a: {<<: &m {<<: &n {x: 1, y: 2, z: 3}}}\n";
    assert_eq!(load(text).json(), json!({"a": {"x": 1, "y": 2, "z": 3}}));
    assert_eq!(load_with(text, &limits).codes(), [Code::AliasLimit]);
}

#[test]
fn alias_limit_only_stops_its_document() {
    let text = format!("{}---\nok: 1\n", billion_laughs());
    let l = load(&text);
    assert_eq!(l.codes(), [Code::AliasLimit]);
    assert_eq!(l.json(), json!({"ok": 1}));
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn nesting_at_the_limit_is_fine_and_beyond_is_an_error() {
    let limits = Limits {
        max_depth: 10,
        ..Limits::default()
    };
    assert!(load_with(&nested(10), &limits).diags.is_empty());
    let l = load_with(&nested(11), &limits);
    assert_eq!(l.codes(), [Code::NestingTooDeep]);
    assert_eq!(l.diags[0].span.unwrap().start, 10);
    assert!(l.docs.is_empty());
}

#[test]
fn block_nesting_is_limited_too() {
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    let text = "a:\n b:\n  c:\n   d:\n    e:\n     f: 1\n";
    let l = load_with(text, &limits);
    assert_eq!(l.codes(), [Code::NestingTooDeep]);
    assert_eq!(l.at(l.diags[0].span.unwrap()), (6, 6));
}

#[test]
fn alias_expansion_cannot_exceed_the_depth_limit() {
    let limits = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    let l = load_with("a: &a [[1]]\nb: [[*a]]\n", &limits);
    assert_eq!(l.codes(), [Code::NestingTooDeep]);
    assert_eq!(l.text(l.diags[0].span.unwrap()), "*a");
}

#[test]
fn a_million_brackets_fail_fast() {
    let (codes, elapsed) = within(Duration::from_secs(10), || {
        let start = Instant::now();
        let l = load(&"[".repeat(1_000_000));
        (l.codes(), start.elapsed())
    });
    assert_eq!(codes, [Code::NestingTooDeep]);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn a_million_nested_block_sequences_fail_fast() {
    let (codes, docs, elapsed) = within(Duration::from_secs(10), || {
        let start = Instant::now();
        let l = load(&format!("{}x\n---\nok: 1\n", "- ".repeat(1_000_000)));
        (l.codes(), l.docs.len(), start.elapsed())
    });
    assert_eq!(codes, [Code::NestingTooDeep]);
    assert_eq!(docs, 1);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn too_many_documents() {
    let limits = Limits {
        max_documents: 3,
        ..Limits::default()
    };
    let l = load_with(
        "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4\n---\ne: 5\n",
        &limits,
    );
    assert_eq!(l.codes(), [Code::TooManyDocuments]);
    assert_eq!(l.docs.len(), 3);
    assert_eq!(l.at(l.diags[0].span.unwrap()), (6, 1));
}

#[test]
fn file_too_large() {
    let limits = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let l = load_with("a: 1234567890\n", &limits);
    assert_eq!(l.codes(), [Code::FileTooLarge]);
    assert!(l.docs.is_empty());
    assert!(load_with("a: 1\n", &limits).diags.is_empty());
}

// ----- syntax errors ---------------------------------------------------------------------

#[test]
fn syntax_error_points_at_the_problem_and_keeps_earlier_documents() {
    let l = load("a: 1\n---\nb: 2\n  c: 3\n");
    assert_eq!(l.codes(), [Code::Syntax]);
    let d = &l.diags[0];
    assert_eq!(l.at(d.span.unwrap()), (4, 4));
    assert_eq!(l.text(d.span.unwrap()), ":");
    assert!(d.message.contains("`:`"), "{}", d.message);
    assert!(d.hint.is_some());
    assert_eq!(l.json(), json!({"a": 1}));
}

#[test]
fn reading_resumes_after_a_broken_document() {
    let l = load("a: 1\n---\nb: [1, 2\n---\nc: \"open\n---\nd: 4\n");
    assert_eq!(l.codes(), [Code::Syntax, Code::Syntax]);
    let docs: Vec<_> = l.docs.iter().map(Node::to_json).collect();
    assert_eq!(docs, vec![json!({"a": 1}), json!({"d": 4})]);
    assert!(l.diags[1].message.contains("unterminated"));
}

#[test]
fn syntax_errors_in_json() {
    let l = load("{\"a\": 1,, \"b\": 2}");
    assert_eq!(l.codes(), [Code::Syntax]);
    let l = load("{\"a\": [1, 2}");
    assert_eq!(l.codes(), [Code::Syntax]);
    assert_eq!(l.at(l.diags[0].span.unwrap()), (1, 12));
}

#[test]
fn tab_indentation_is_explained() {
    let l = load("a:\n\tb: 1\n");
    let d = l.diag(Code::Syntax);
    assert!(d.message.contains("tab"), "{}", d.message);
}

#[test]
fn errors_at_the_end_of_the_input_have_a_span_inside_the_text() {
    for text in ["a: [1, 2", "a: \"x", "{", "- a\n- [b, {c: "] {
        let l = load(text);
        let d = l.diag(Code::Syntax);
        let span = d.span.unwrap();
        assert!(span.end as usize <= text.len(), "{text:?}");
    }
}

fn exact_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Seq(items) => J::Array(items.iter().map(exact_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), exact_json(&e.value)))
                .collect(),
        ),
        _ => node.to_json(),
    }
}

#[test]
fn json_surrogate_pair_escapes_decode_and_keep_later_spans() {
    let l = clean(r#"{"a": "ship \ud83d\ude80!", "b": "after"}"#);
    assert_eq!(l.json(), json!({"a": "ship 🚀!", "b": "after"}));
    let b = l.only_doc().get("b").unwrap();
    assert_eq!(l.text(b.span), "\"after\"");
}
