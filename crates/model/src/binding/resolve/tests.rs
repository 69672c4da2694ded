use super::*;
use crate::binding::Binding;
use crate::plan::Plan;
use serde_json::{json, Value};

fn binding(strategy: &str, rules: Value) -> Binding {
    binding_in("default", strategy, rules)
}

fn binding_in(namespace: &str, strategy: &str, rules: Value) -> Binding {
    serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Binding",
        "metadata": {"name": "b", "namespace": namespace},
        "spec": {"strategy": strategy, "rules": rules}
    }))
    .expect("binding parses")
}

/// Plan `p` (namespace `default`, labels `team=web, env=prod`) with Task `build` (needs
/// `compile`), Task `ship` (needs `deploy` and `notify`), Task `idle` (needs nothing) and Gate
/// `review`.
fn plan() -> Plan {
    plan_in("default")
}

fn plan_in(namespace: &str) -> Plan {
    serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": "p", "namespace": namespace, "labels": {"team": "web", "env": "prod"}},
        "spec": {"description": "d", "graph": {"nodes": [
            {"id": "build", "kind": "Task", "capabilityRefs": [{"name": "compile"}]},
            {"id": "ship", "kind": "Task", "capabilityRefs": [{"name": "deploy"}, {"name": "notify"}]},
            {"id": "idle", "kind": "Task"},
            {"id": "review", "kind": "Gate", "gateRef": {"name": "g"}}
        ]}}
    }))
    .expect("plan parses")
}

fn rule(priority: u32, selector: Value, provider: &str) -> Value {
    json!({"priority": priority, "selector": selector, "target": {"provider": provider}})
}

fn node<'p>(plan: &'p Plan, id: &str) -> &'p Node {
    plan.spec.graph.node(id).expect("node exists")
}

/// Resolves with the index and with `explain`, checks they agree, returns the result as
/// (winning rule, provider) or the conflicting rules.
fn outcome(b: &Binding, p: &Plan, id: &str) -> Result<Option<(usize, String)>, Vec<usize>> {
    let fast = resolve(b, p, node(p, id));
    let slow = explain(b, p, node(p, id));
    assert_eq!(fast, slow.resolution, "index and explain disagree for {id}");
    match fast {
        Resolution::Bound { rule, target } => Ok(Some((rule, target.provider.clone()))),
        Resolution::Unbound { .. } => Ok(None),
        Resolution::Conflict { rules } => Err(rules),
    }
}

fn bound(rule: usize, provider: &str) -> Result<Option<(usize, String)>, Vec<usize>> {
    Ok(Some((rule, provider.to_string())))
}

const PLAN_NODE: fn() -> Value = || json!({"planRef": {"name": "p"}, "nodeId": "build"});
const PLAN_CAP: fn() -> Value =
    || json!({"planRef": {"name": "p"}, "capabilityRef": {"name": "compile"}});
const CAP: fn() -> Value = || json!({"capabilityRef": {"name": "compile"}});
const PLAN: fn() -> Value = || json!({"planRef": {"name": "p"}});
const LABELS: fn() -> Value = || json!({"matchLabels": {"team": "web"}});

#[test]
fn no_matching_rule_is_unbound() {
    let b = binding(
        "FirstMatch",
        json!([rule(
            0,
            json!({"capabilityRef": {"name": "other"}}),
            "a://x"
        )]),
    );
    let p = plan();
    assert_eq!(outcome(&b, &p, "build"), Ok(None));
    let r = resolve(&b, &p, node(&p, "build"));
    assert_eq!(
        r,
        Resolution::Unbound {
            reason: UnboundReason::NoMatchingRule
        }
    );
    assert_eq!(r.reason(), Some("NoMatchingRule"));
}

#[test]
fn each_shape_matches_alone() {
    let p = plan();
    for selector in [PLAN_NODE(), PLAN_CAP(), CAP(), PLAN(), LABELS()] {
        let b = binding(
            "ErrorOnConflict",
            json!([rule(0, selector.clone(), "a://x")]),
        );
        assert_eq!(outcome(&b, &p, "build"), bound(0, "a://x"), "{selector}");
    }
    // Node and capability shapes do not reach other nodes.
    for selector in [PLAN_NODE(), PLAN_CAP(), CAP()] {
        let b = binding(
            "ErrorOnConflict",
            json!([rule(0, selector.clone(), "a://x")]),
        );
        assert_eq!(outcome(&b, &p, "ship"), Ok(None), "{selector}");
        assert_eq!(outcome(&b, &p, "idle"), Ok(None), "{selector}");
    }
}

#[test]
fn specificity_decides_at_equal_priority() {
    // All five shapes match `build`; rules are listed least specific first so that array
    // order cannot be what decides.
    let shapes = [LABELS(), PLAN(), CAP(), PLAN_CAP(), PLAN_NODE()];
    let p = plan();
    for strategy in ["FirstMatch", "MostSpecific", "ErrorOnConflict"] {
        for keep in 1..=shapes.len() {
            let rules: Vec<Value> = shapes[..keep]
                .iter()
                .enumerate()
                .map(|(i, s)| rule(0, s.clone(), &format!("a://{i}")))
                .collect();
            let b = binding(strategy, Value::Array(rules));
            let winner = keep - 1;
            assert_eq!(
                outcome(&b, &p, "build"),
                bound(winner, &format!("a://{winner}")),
                "{strategy}, {keep} shapes"
            );
        }
    }
}

#[test]
fn priority_beats_specificity() {
    let p = plan();
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(0, PLAN_NODE(), "a://node"),
            rule(5, LABELS(), "a://labels"),
            rule(3, CAP(), "a://cap"),
        ]),
    );
    assert_eq!(outcome(&b, &p, "build"), bound(1, "a://labels"));
    let e = explain(&b, &p, node(&p, "build"));
    assert_eq!(e.rules[0].verdict, Verdict::LostOnPriority { to: 1 });
    assert_eq!(e.rules[1].verdict, Verdict::Won);
    assert_eq!(e.rules[2].verdict, Verdict::LostOnPriority { to: 1 });
}

#[test]
fn first_match_takes_the_earliest_tied_rule() {
    let p = plan();
    let b = binding(
        "FirstMatch",
        json!([
            rule(0, PLAN(), "a://low"),
            rule(1, CAP(), "a://first"),
            rule(
                1,
                json!({"capabilityRef": {"name": "compile", "namespace": "default"}}),
                "a://second"
            ),
        ]),
    );
    assert_eq!(outcome(&b, &p, "build"), bound(1, "a://first"));
    let e = explain(&b, &p, node(&p, "build"));
    assert_eq!(e.rules[0].verdict, Verdict::LostOnPriority { to: 1 });
    assert_eq!(e.rules[2].verdict, Verdict::LostOnOrder { to: 1 });
}

#[test]
fn error_on_conflict_reports_every_tied_rule() {
    let p = plan();
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(0, LABELS(), "a://x"),
            rule(0, json!({"matchLabels": {"env": "prod"}}), "a://y"),
            rule(
                0,
                json!({"matchLabels": {"env": "prod", "team": "web"}}),
                "a://x"
            ),
        ]),
    );
    assert_eq!(outcome(&b, &p, "build"), Err(vec![0, 1, 2]));
    let e = explain(&b, &p, node(&p, "build"));
    assert!(e.rules.iter().all(|r| r.verdict == Verdict::InConflict));
    assert_eq!(
        resolve(&b, &p, node(&p, "build")).reason(),
        Some("ConflictingRules")
    );
}

#[test]
fn identical_targets_are_no_conflict() {
    let p = plan();
    for strategy in ["MostSpecific", "ErrorOnConflict"] {
        let b = binding(
            strategy,
            json!([
                rule(0, PLAN(), "a://x"),
                rule(0, json!({"planRef": {"name": "p", "uid": "u-1"}}), "a://x"),
            ]),
        );
        assert_eq!(outcome(&b, &p, "idle"), bound(0, "a://x"), "{strategy}");
        let e = explain(&b, &p, node(&p, "idle"));
        assert_eq!(e.rules[1].verdict, Verdict::SameTarget { winner: 0 });
    }
    // Same provider, different config: a different target.
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(0, PLAN(), "a://x"),
            {"selector": PLAN(), "target": {"provider": "a://x", "config": {"k": 1}}},
        ]),
    );
    assert_eq!(outcome(&b, &p, "idle"), Err(vec![0, 1]));
}

#[test]
fn most_specific_conflicts_only_among_equally_specific_rules() {
    let p = plan();
    let b = binding(
        "MostSpecific",
        json!([
            rule(0, LABELS(), "a://labels"),
            rule(0, PLAN_CAP(), "a://one"),
            rule(
                0,
                json!({"planRef": {"name": "p"}, "capabilityRef": {"name": "compile", "kind": "Capability"}}),
                "a://two"
            ),
        ]),
    );
    assert_eq!(outcome(&b, &p, "build"), Err(vec![1, 2]));
    let e = explain(&b, &p, node(&p, "build"));
    assert_eq!(e.rules[0].verdict, Verdict::LostOnSpecificity { to: 1 });
    // A narrower rule settles it.
    let b = binding(
        "MostSpecific",
        json!([
            rule(0, PLAN_CAP(), "a://one"),
            rule(0, CAP(), "a://two"),
            rule(0, PLAN_NODE(), "a://node")
        ]),
    );
    assert_eq!(outcome(&b, &p, "build"), bound(2, "a://node"));
    // ... and so does a higher priority, even on a broader rule.
    let b = binding(
        "MostSpecific",
        json!([
            rule(0, PLAN_CAP(), "a://one"),
            rule(0, PLAN_CAP(), "a://two"),
            rule(1, PLAN(), "a://plan")
        ]),
    );
    assert_eq!(outcome(&b, &p, "build"), bound(2, "a://plan"));
}

#[test]
fn a_node_needing_two_capabilities_sees_the_rules_of_both() {
    let p = plan();
    let rules = json!([
        rule(
            0,
            json!({"capabilityRef": {"name": "deploy"}}),
            "service://deployer"
        ),
        rule(
            0,
            json!({"capabilityRef": {"name": "notify"}}),
            "tool://mailer"
        ),
    ]);
    assert_eq!(
        outcome(&binding("ErrorOnConflict", rules.clone()), &p, "ship"),
        Err(vec![0, 1])
    );
    assert_eq!(
        outcome(&binding("MostSpecific", rules.clone()), &p, "ship"),
        Err(vec![0, 1])
    );
    assert_eq!(
        outcome(&binding("FirstMatch", rules), &p, "ship"),
        bound(0, "service://deployer")
    );
    // Priority separates them; so does a plan-scoped capability rule.
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(
                0,
                json!({"capabilityRef": {"name": "deploy"}}),
                "service://deployer"
            ),
            rule(
                2,
                json!({"capabilityRef": {"name": "notify"}}),
                "tool://mailer"
            ),
        ]),
    );
    assert_eq!(outcome(&b, &p, "ship"), bound(1, "tool://mailer"));
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(
                0,
                json!({"capabilityRef": {"name": "deploy"}}),
                "service://deployer"
            ),
            rule(
                0,
                json!({"planRef": {"name": "p"}, "capabilityRef": {"name": "notify"}}),
                "tool://mailer"
            ),
        ]),
    );
    assert_eq!(outcome(&b, &p, "ship"), bound(1, "tool://mailer"));
    // Two plan-scoped capability rules tie like the unscoped ones.
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(
                0,
                json!({"planRef": {"name": "p"}, "capabilityRef": {"name": "deploy"}}),
                "a://1"
            ),
            rule(
                0,
                json!({"planRef": {"name": "p"}, "capabilityRef": {"name": "notify"}}),
                "a://2"
            ),
        ]),
    );
    assert_eq!(outcome(&b, &p, "ship"), Err(vec![0, 1]));
}

#[test]
fn references_are_namespaced() {
    // A Binding in `team-a` names capability `compile` of `team-a`.
    let rules = json!([rule(0, CAP(), "a://x")]);
    let b = binding_in("team-a", "FirstMatch", rules);
    assert_eq!(outcome(&b, &plan_in("team-a"), "build"), bound(0, "a://x"));
    assert_eq!(outcome(&b, &plan_in("team-b"), "build"), Ok(None));
    // An explicit namespace reaches another namespace's plan.
    let b = binding_in(
        "team-a",
        "FirstMatch",
        json!([
            rule(
                0,
                json!({"capabilityRef": {"name": "compile", "namespace": "team-b"}}),
                "a://cap"
            ),
            rule(
                0,
                json!({"planRef": {"name": "p", "namespace": "team-b"}}),
                "a://plan"
            ),
        ]),
    );
    assert_eq!(
        outcome(&b, &plan_in("team-b"), "build"),
        bound(0, "a://cap")
    );
    assert_eq!(
        outcome(&b, &plan_in("team-b"), "idle"),
        bound(1, "a://plan")
    );
    assert_eq!(outcome(&b, &plan_in("team-a"), "idle"), Ok(None));
    let e = explain(&b, &plan_in("team-a"), node(&plan_in("team-a"), "idle"));
    assert_eq!(
        e.rules[1].verdict,
        Verdict::NoMatch(Mismatch::OtherPlan(QualifiedName::new("team-b", "p")))
    );
    // matchLabels looks only at labels.
    let b = binding_in("team-a", "FirstMatch", json!([rule(0, LABELS(), "a://l")]));
    assert_eq!(outcome(&b, &plan_in("team-b"), "idle"), bound(0, "a://l"));
}

#[test]
fn match_labels_needs_every_pair() {
    let p = plan();
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(
                0,
                json!({"matchLabels": {"team": "web", "env": "dev"}}),
                "a://dev"
            ),
            rule(0, json!({"matchLabels": {"tier": "one"}}), "a://tier"),
            rule(0, json!({"matchLabels": {}}), "a://all"),
        ]),
    );
    assert_eq!(outcome(&b, &p, "idle"), bound(2, "a://all"));
    let e = explain(&b, &p, node(&p, "idle"));
    assert_eq!(
        e.rules[0].verdict,
        Verdict::NoMatch(Mismatch::Label("env", "dev"))
    );
    assert_eq!(
        e.rules[1].verdict,
        Verdict::NoMatch(Mismatch::Label("tier", "one"))
    );
}

#[test]
fn explain_says_why_for_every_rule() {
    let p = plan();
    let b = binding(
        "FirstMatch",
        json!([
            rule(0, json!({"planRef": {"name": "q"}}), "a://other-plan"),
            rule(
                0,
                json!({"planRef": {"name": "p"}, "nodeId": "ship"}),
                "a://other-node"
            ),
            rule(
                0,
                json!({"capabilityRef": {"name": "deploy"}}),
                "a://other-cap"
            ),
            rule(0, PLAN(), "a://plan"),
            rule(0, CAP(), "a://cap"),
            rule(
                0,
                json!({"capabilityRef": {"name": "compile"}}),
                "a://cap-again"
            ),
        ]),
    );
    let e = explain(&b, &p, node(&p, "build"));
    let verdicts: Vec<Verdict> = e.rules.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        vec![
            Verdict::NoMatch(Mismatch::OtherPlan(QualifiedName::new("default", "q"))),
            Verdict::NoMatch(Mismatch::OtherNode("ship")),
            Verdict::NoMatch(Mismatch::CapabilityNotNeeded(QualifiedName::new(
                "default", "deploy"
            ))),
            Verdict::LostOnSpecificity { to: 4 },
            Verdict::Won,
            Verdict::LostOnOrder { to: 4 },
        ]
    );
    let text = e.to_string();
    assert!(text.starts_with("bound to `a://cap` by rule 4\n"), "{text}");
    assert!(text.contains("rule 0 ({planRef}, priority 0, specificity 4) → `a://other-plan`: does not match: selects Plan `default/q`"), "{text}");
    assert!(text.contains("rule 3 ({planRef}, priority 0, specificity 4) → `a://plan`: loses: rule 4 has a more specific selector"), "{text}");
    assert!(text.contains("rule 5 ({capabilityRef}, priority 0, specificity 3) → `a://cap-again`: loses: tied with rule 4, which comes first (FirstMatch)"), "{text}");
}

#[test]
fn shadowed_rules_of_the_same_selector_never_win() {
    let p = plan();
    // Rule 1 has the same selector as rule 0 with a lower priority; the index drops it, and
    // it does not take part in the conflict between rules 0 and 2.
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(3, CAP(), "a://x"),
            rule(1, CAP(), "a://y"),
            rule(3, PLAN_CAP(), "a://z"),
            rule(
                3,
                json!({"planRef": {"name": "p"}, "capabilityRef": {"name": "compile", "namespace": "default"}}),
                "a://w"
            ),
        ]),
    );
    assert_eq!(outcome(&b, &p, "build"), Err(vec![2, 3]));
}

#[test]
fn the_index_keeps_the_callers_rule_numbers() {
    let b = binding(
        "FirstMatch",
        json!([
            rule(0, PLAN(), "a://0"),
            rule(0, CAP(), "a://1"),
            rule(0, LABELS(), "a://2")
        ]),
    );
    let p = plan();
    let subject = PlanSubject::of(&p);
    // Rule 1 left out (say, it did not validate): rule 0 wins for `build`.
    let index = BindingIndex::from_rules(
        "default",
        BindingStrategy::FirstMatch,
        [(2, &b.spec.rules[2]), (0, &b.spec.rules[0])],
    );
    assert!(index.rule(1).is_none());
    let scope = index.scope(&subject);
    let r = scope.resolve(&NodeSubject::of(node(&p, "build"), "default"));
    assert_eq!(
        r,
        Resolution::Bound {
            rule: 0,
            target: &b.spec.rules[0].target
        }
    );
}

#[test]
fn resolve_plan_reports_per_capability_use() {
    let p = plan();
    let b = binding(
        "ErrorOnConflict",
        json!([
            rule(0, CAP(), "a://compile"),
            rule(
                0,
                json!({"capabilityRef": {"name": "deploy"}}),
                "a://deploy"
            ),
            rule(
                0,
                json!({"capabilityRef": {"name": "notify"}}),
                "a://notify"
            ),
        ]),
    );
    let r = resolve_plan(&b, &p);
    let ids: Vec<&str> = r.nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["build", "ship", "idle"], "Gate nodes are not listed");
    assert_eq!(r.total_count(), 3);
    assert_eq!(r.bound_count(), 1);
    let unbound = r.unbound_capabilities();
    let summary: Vec<(String, String, String)> = unbound
        .iter()
        .map(|u| {
            (
                u.capability_ref.name.to_string(),
                u.node_id
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                u.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("deploy".into(), "ship".into(), "ConflictingRules".into()),
            ("notify".into(), "ship".into(), "ConflictingRules".into()),
        ]
    );
    assert_eq!(
        r.nodes[2].resolution,
        Resolution::Unbound {
            reason: UnboundReason::NoMatchingRule
        }
    );
}

#[test]
fn node_bindings_replace_the_binding_ref_for_their_node() {
    let spec: ExecutionSpec = serde_json::from_value(json!({
        "planRef": {"name": "p"},
        "bindingRef": {"name": "defaults"},
        "nodeBindings": {"ship": {"name": "release"}}
    }))
    .unwrap();
    assert_eq!(binding_ref_for(&spec, "ship").unwrap().name, "release");
    assert_eq!(binding_ref_for(&spec, "build").unwrap().name, "defaults");
    let bare: ExecutionSpec = serde_json::from_value(json!({"planRef": {"name": "p"}})).unwrap();
    assert!(binding_ref_for(&bare, "build").is_none());
}

#[test]
fn selector_keys_ignore_how_a_reference_is_spelled() {
    let a: BindingSelector =
        serde_json::from_value(json!({"capabilityRef": {"name": "c"}})).unwrap();
    let b: BindingSelector = serde_json::from_value(json!({"capabilityRef": {
        "name": "c", "namespace": "ns", "kind": "Capability", "apiVersion": "planspec.io/v1alpha1", "uid": "x"
    }}))
    .unwrap();
    assert_eq!(a.key("ns"), b.key("ns"));
    assert_ne!(a.key("other"), b.key("other"));
    assert_eq!(a.shape(), "{capabilityRef}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn selector() -> impl Strategy<Value = Value> {
        let plan = prop_oneof![Just("p"), Just("q")];
        let node = prop_oneof![Just("build"), Just("ship"), Just("idle")];
        let cap = prop_oneof![
            Just("compile"),
            Just("deploy"),
            Just("notify"),
            Just("other")
        ];
        let label = prop_oneof![
            Just(json!({})),
            Just(json!({"team": "web"})),
            Just(json!({"env": "prod"})),
            Just(json!({"env": "prod", "team": "web"})),
            Just(json!({"env": "dev"})),
        ];
        prop_oneof![
            (plan.clone(), node).prop_map(|(p, n)| json!({"planRef": {"name": p}, "nodeId": n})),
            (plan.clone(), cap.clone())
                .prop_map(|(p, c)| json!({"planRef": {"name": p}, "capabilityRef": {"name": c}})),
            cap.prop_map(|c| json!({"capabilityRef": {"name": c}})),
            plan.prop_map(|p| json!({"planRef": {"name": p}})),
            label.prop_map(|l| json!({"matchLabels": l})),
        ]
    }

    fn rules() -> impl Strategy<Value = Vec<Value>> {
        prop::collection::vec(
            (0u32..3, selector(), 0usize..3)
                .prop_map(|(priority, selector, t)| rule(priority, selector, &format!("a://{t}"))),
            1..12,
        )
    }

    proptest! {
        /// The index agrees with the rule-by-rule resolution for every strategy and node, and
        /// explain's verdicts are consistent with the outcome.
        #[test]
        fn index_agrees_with_explain(rules in rules(), strategy in 0usize..3) {
            let strategy = ["FirstMatch", "MostSpecific", "ErrorOnConflict"][strategy];
            let b = binding(strategy, Value::Array(rules));
            let p = plan();
            for id in ["build", "ship", "idle", "review"] {
                let fast = resolve(&b, &p, node(&p, id));
                let slow = explain(&b, &p, node(&p, id));
                prop_assert_eq!(&fast, &slow.resolution);
                let won = slow.rules.iter().filter(|r| r.verdict == Verdict::Won).count();
                let conflicting = slow.rules.iter().filter(|r| r.verdict == Verdict::InConflict).count();
                match &fast {
                    Resolution::Bound { rule, .. } => {
                        prop_assert_eq!(won, 1);
                        prop_assert_eq!(slow.rules[*rule].verdict, Verdict::Won);
                    }
                    Resolution::Unbound { .. } => prop_assert!(slow.rules.iter().all(|r| matches!(r.verdict, Verdict::NoMatch(_)))),
                    Resolution::Conflict { rules } => {
                        prop_assert_eq!(conflicting, rules.len());
                        prop_assert!(rules.len() >= 2);
                        prop_assert!(strategy != "FirstMatch");
                    }
                }
            }
        }
    }
}
