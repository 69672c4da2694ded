//! Property tests of label and field selector parsing: no input panics, rendering parses back
//! to the same selector, and matching agrees with a naive reference implementation.

use planspec_model::selector::{
    FieldOperator, FieldRequirement, FieldSelector, Operator, Requirement, Selector,
};
use planspec_model::{LabelKey, LabelValue, Labels};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A requirement as the test sees it: key, operator, raw values (maybe unsorted, repeated).
#[derive(Debug, Clone)]
struct Spec {
    key: String,
    op: Operator,
    values: Vec<String>,
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "env", "in", "notin", "x.io/k", "N"]).prop_map(String::from),
        1 => "([a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?(\\.[a-z0-9]{1,3}){0,2}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["", "a", "b", "1", "10", "in", "notin"]).prop_map(String::from),
        1 => "([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?",
    ]
}

fn integer() -> impl Strategy<Value = String> {
    prop_oneof![Just("1".to_owned()), Just("10".to_owned()), "[0-9]{1,4}"]
}

fn spec() -> impl Strategy<Value = Spec> {
    let op = prop::sample::select(vec![
        Operator::Equals,
        Operator::NotEquals,
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::DoesNotExist,
        Operator::GreaterThan,
        Operator::LessThan,
    ]);
    (key(), op).prop_flat_map(|(key, op)| {
        let values: BoxedStrategy<Vec<String>> = match op {
            Operator::Equals | Operator::NotEquals => value().prop_map(|v| vec![v]).boxed(),
            Operator::In | Operator::NotIn => prop::collection::vec(value(), 1..4).boxed(),
            Operator::Exists | Operator::DoesNotExist => Just(Vec::new()).boxed(),
            Operator::GreaterThan | Operator::LessThan => integer().prop_map(|v| vec![v]).boxed(),
        };
        values.prop_map(move |values| Spec {
            key: key.clone(),
            op,
            values,
        })
    })
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), value(), 0..5)
}

fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    m.iter()
        .map(|(k, v)| (LabelKey::from(k.as_str()), LabelValue::from(v.as_str())))
        .collect()
}

/// The reference: the Kubernetes semantics written out plainly.
fn naive_matches(specs: &[Spec], labels: &BTreeMap<String, String>) -> bool {
    specs.iter().all(|s| {
        let have = labels.get(&s.key);
        match s.op {
            Operator::Equals | Operator::In => have.is_some_and(|h| s.values.contains(h)),
            Operator::NotEquals | Operator::NotIn => !have.is_some_and(|h| s.values.contains(h)),
            Operator::Exists => have.is_some(),
            Operator::DoesNotExist => have.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let want: i64 = s.values[0].parse().unwrap();
                match have.and_then(|h| h.parse::<i64>().ok()) {
                    None => false,
                    Some(h) if s.op == Operator::GreaterThan => h > want,
                    Some(h) => h < want,
                }
            }
        }
    })
}

fn space() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "  ", "\t", "\n"])
}

/// Writes a spec the way a person might: optional whitespace, `==` for `=`, values in any order.
fn written(s: &Spec, sp: &[&str]) -> String {
    let w = |i: usize| sp[i % sp.len()];
    let must = |i: usize| {
        if sp[i % sp.len()].is_empty() {
            " "
        } else {
            sp[i % sp.len()]
        }
    };
    match s.op {
        Operator::Equals => {
            let eq = if w(0).len() == 1 { "==" } else { "=" };
            format!("{}{}{eq}{}{}", s.key, w(1), w(2), s.values[0])
        }
        Operator::NotEquals => format!("{}{}!={}{}", s.key, w(1), w(2), s.values[0]),
        Operator::GreaterThan => format!("{}{}>{}{}", s.key, w(1), w(2), s.values[0]),
        Operator::LessThan => format!("{}{}<{}{}", s.key, w(1), w(2), s.values[0]),
        Operator::Exists => s.key.clone(),
        Operator::DoesNotExist => format!("!{}{}", w(3), s.key),
        Operator::In | Operator::NotIn => {
            // An empty value is written as an empty first item: `(,a,b)`; only empty: `()`.
            let mut items: Vec<&str> = s
                .values
                .iter()
                .filter(|v| !v.is_empty())
                .map(String::as_str)
                .collect();
            if s.values.iter().any(String::is_empty) {
                if items.is_empty() {
                    items.push("");
                } else {
                    items.insert(0, "");
                }
            }
            let kw = if s.op == Operator::In { "in" } else { "notin" };
            let sep = format!("{},{}", w(4), w(5));
            let list = if items == [""] {
                String::new()
            } else {
                items.join(&sep)
            };
            format!(
                "{}{}{kw}{}({}{list}{}){}",
                s.key,
                must(1),
                w(2),
                w(3),
                w(6),
                w(7)
            )
        }
    }
}

fn grammar_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        6 => prop::sample::select(vec!["a", "b", "x.io/k", "1", "in", "notin"]),
        6 => prop::sample::select(vec!["=", "==", "!=", "!", ",", " ", "(", ")", ">", "<"]),
        1 => prop::sample::select(vec!["-", "\\", "é", "\t", "/", "_"]),
    ];
    prop::collection::vec(token, 0..14).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn label_parse_never_panics(s in ".*") {
        let _ = Selector::parse(&s);
    }

    #[test]
    fn built_selectors_round_trip(specs in prop::collection::vec(spec(), 0..6)) {
        let reqs: Vec<Requirement> = specs
            .iter()
            .map(|s| Requirement::new(s.key.as_str(), s.op, s.values.iter().map(String::as_str)).unwrap())
            .collect();
        let sel = Selector::new(reqs);
        let rendered = sel.to_string();
        prop_assert_eq!(Selector::parse(&rendered), Ok(sel.clone()), "rendered `{}`", rendered);
    }

    #[test]
    fn parsed_selectors_match_like_the_reference(
        specs in prop::collection::vec(spec(), 0..5),
        sp in prop::collection::vec(space(), 8),
        label_sets in prop::collection::vec(labels(), 1..6),
    ) {
        let text = specs.iter().map(|s| written(s, &sp)).collect::<Vec<_>>().join(&format!("{},{}", sp[0], sp[1]));
        let sel = Selector::parse(&text);
        prop_assert!(sel.is_ok(), "`{}` should parse: {:?}", text, sel);
        let sel = sel.unwrap();
        for l in &label_sets {
            prop_assert_eq!(sel.matches(&to_labels(l)), naive_matches(&specs, l), "`{}` on {:?}", text, l);
            let via_fn = sel.matches_with(|k| l.get(k).map(String::as_str));
            prop_assert_eq!(via_fn, naive_matches(&specs, l));
        }
        if let Some(ls) = sel.to_label_selector() {
            for l in &label_sets {
                prop_assert_eq!(ls.matches(&to_labels(l)), naive_matches(&specs, l));
            }
        }
    }

    #[test]
    fn field_parse_never_panics(s in ".*") {
        let _ = FieldSelector::parse(&s);
    }

    #[test]
    fn accepted_field_selectors_round_trip(s in "[a-z.=!,\\\\ ]{0,24}") {
        if let Ok(sel) = FieldSelector::parse(&s) {
            let rendered = sel.to_string();
            prop_assert_eq!(FieldSelector::parse(&rendered), Ok(sel), "input `{}`", s);
        }
    }

    #[test]
    fn built_field_selectors_round_trip_and_match(
        terms in prop::collection::vec(
            ("[a-z]{1,6}(\\.[a-z]{1,6}){0,2}", any::<bool>(), "[a-z,=\\\\! é]{0,8}"),
            0..5,
        ),
        actual in prop::collection::btree_map("[a-z]{1,6}(\\.[a-z]{1,6}){0,2}", "[a-z,=\\\\! ]{0,3}", 0..4),
    ) {
        let reqs: Vec<FieldRequirement> = terms
            .iter()
            .map(|(f, eq, v)| FieldRequirement {
                field: f.clone(),
                operator: if *eq { FieldOperator::Equals } else { FieldOperator::NotEquals },
                value: v.trim_matches(' ').to_owned(),
            })
            .collect();
        let sel = FieldSelector::new(reqs.clone());
        let rendered = sel.to_string();
        prop_assert_eq!(FieldSelector::parse(&rendered), Ok(sel.clone()), "rendered `{}`", rendered);
        let naive = reqs.iter().all(|r| {
            let have = actual.get(&r.field).map(String::as_str).unwrap_or("");
            (have == r.value) == (r.operator == FieldOperator::Equals)
        });
        prop_assert_eq!(sel.matches_with(|f| actual.get(f).map(String::as_str)), naive);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]
    #[test]
    fn accepted_label_selectors_round_trip(s in grammar_soup()) {
        if let Ok(sel) = Selector::parse(&s) {
            let rendered = sel.to_string();
            let again = Selector::parse(&rendered);
            prop_assert_eq!(again.as_ref(), Ok(&sel), "input `{}`, rendered `{}`", s, rendered);
        }
    }
}
