//! Round-trips, defaults and the shape of the generated schemas.

use planspec_model::binding::BindingSelector;
use planspec_model::capability::ParameterType;
use planspec_model::gate::GateType;
use planspec_model::plan::{AcceptanceCriterion, GroupMode, HttpMethod};
use planspec_model::schema::{all_schema_files, document_schema, kind_schema};
use planspec_model::*;
use serde_json::{json, Value};

/// The coherent example of upstream §2.8, as JSON.
fn example() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Goal",
            "metadata": {"name": "ship-login", "namespace": "team-a"},
            "spec": {
                "description": "Add SSO login",
                "acceptanceCriteria": [{"id": "sso-works", "description": "Users can sign in with SSO"}],
                "planSelector": {"matchLabels": {"planspec.io/goal": "ship-login"}},
                "timeout": "168h"
            }
        }),
        json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Plan",
            "metadata": {"name": "ship-login-v1", "namespace": "team-a", "labels": {"planspec.io/goal": "ship-login"}},
            "spec": {
                "goalRef": {"name": "ship-login"},
                "series": "ship-login",
                "version": "1",
                "description": "Implement, test, approve, deploy",
                "graph": {"nodes": [
                    {"id": "implement", "kind": "Task", "capabilityRefs": [{"name": "code-generation"}], "retries": 2, "timeout": "2h"},
                    {"id": "test", "kind": "Task", "capabilityRefs": [{"name": "test-execution"}], "dependsOn": ["implement"],
                     "acceptanceCriteria": [{"type": "command_succeeds", "name": "unit-tests", "command": "cargo", "args": ["test"]}]},
                    {"id": "review", "kind": "Gate", "gateRef": {"name": "ship-login-review"}, "dependsOn": ["test"]},
                    {"id": "deploy", "kind": "Task", "capabilityRefs": [{"name": "deployment"}], "dependsOn": ["review"]}
                ]}
            }
        }),
        json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Gate",
            "metadata": {"name": "ship-login-review", "namespace": "team-a"},
            "spec": {
                "gateType": "approval",
                "targetRef": {"kind": "Plan", "name": "ship-login-v1", "nodeId": "review"},
                "reviewers": ["team:security"],
                "requiredApprovers": 1
            }
        }),
        json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Binding",
            "metadata": {"name": "defaults", "namespace": "team-a"},
            "spec": {
                "strategy": "FirstMatch",
                "rules": [
                    {"selector": {"capabilityRef": {"name": "code-generation"}}, "target": {"provider": "agent://claude-code"}},
                    {"priority": 10, "selector": {"planRef": {"name": "ship-login-v1"}, "nodeId": "deploy"},
                     "target": {"provider": "human://release-manager"}}
                ]
            }
        }),
        json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
            "metadata": {"name": "ship-login-run-1", "namespace": "team-a"},
            "spec": {"planRef": {"name": "ship-login-v1"}, "goalRef": {"name": "ship-login"}, "bindingRef": {"name": "defaults"}}
        }),
    ]
}

/// Asserts that `written` keeps everything of `original`, and collects the keys it adds
/// (as `pointer=value`) into `added`.
fn assert_superset(original: &Value, written: &Value, path: &str, added: &mut Vec<String>) {
    match (original, written) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let w = b
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}/{k} was dropped on the round-trip"));
                assert_superset(v, w, &format!("{path}/{k}"), added);
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                added.push(format!("{path}/{k}={}", b[k]));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length changed");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_superset(x, y, &format!("{path}/{i}"), added);
            }
        }
        _ => assert_eq!(original, written, "{path} changed on the round-trip"),
    }
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug>(
    doc: &Value,
) -> (T, Vec<String>) {
    let typed: T = serde_json::from_value(doc.clone()).expect("deserialises");
    let written = serde_json::to_value(&typed).unwrap();
    let again: T = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(typed, again, "serialise → deserialise is not the identity");
    let mut added = Vec::new();
    assert_superset(doc, &written, "", &mut added);
    added.sort();
    (typed, added)
}

#[test]
fn example_round_trips_adding_only_defaults() {
    let docs = example();

    let (goal, added) = round_trip::<Goal>(&docs[0]);
    assert_eq!(added, ["/spec/priority=0"]);
    assert_eq!(
        goal.spec
            .timeout
            .as_ref()
            .unwrap()
            .to_std()
            .unwrap()
            .as_secs(),
        168 * 3600
    );
    assert_eq!(goal.metadata.namespace_or_default(), "team-a");

    let (plan, added) = round_trip::<Plan>(&docs[1]);
    assert_eq!(
        added,
        [
            "/spec/graph/nodes/1/acceptanceCriteria/0/expectedExitCode=0",
            "/spec/graph/nodes/1/acceptanceCriteria/0/required=true",
            "/spec/graph/nodes/1/retries=0",
            "/spec/graph/nodes/3/retries=0",
        ]
    );
    let nodes = &plan.spec.graph.nodes;
    assert_eq!(nodes.len(), 4);
    assert_eq!(nodes[2].kind(), NodeKind::Gate);
    assert_eq!(nodes[3].depends_on(), [NodeId::from("review")]);
    let Node::Task(test) = &nodes[1] else {
        panic!("test is a Task")
    };
    match &test.acceptance_criteria[0] {
        AcceptanceCriterion::CommandSucceeds(c) => {
            assert_eq!(c.command, "cargo");
            assert_eq!(c.args, ["test"]);
            assert!(c.required);
        }
        other => panic!("unexpected criterion {other:?}"),
    }

    let (gate, added) = round_trip::<Gate>(&docs[2]);
    assert!(added.is_empty(), "{added:?}");
    assert_eq!(gate.spec.gate_type, GateType::Approval);

    let (binding, added) = round_trip::<Binding>(&docs[3]);
    assert_eq!(added, ["/spec/rules/0/priority=0"]);
    let rules = &binding.spec.rules;
    assert!(matches!(rules[0].selector, BindingSelector::Capability(_)));
    assert!(matches!(rules[1].selector, BindingSelector::PlanNode(_)));
    assert_eq!(rules[1].selector.specificity(), 1);

    let (execution, added) = round_trip::<Execution>(&docs[4]);
    assert!(added.is_empty(), "{added:?}");
    assert_eq!(execution.spec.plan_ref.name, "ship-login-v1");

    let list: List = serde_json::from_value(json!({"kind": "List", "items": docs})).unwrap();
    assert_eq!(list.items.len(), 5);
}

#[test]
fn defaults_are_applied() {
    let plan: Plan = serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1", "kind": "Plan", "metadata": {"name": "p"},
        "spec": {"description": "d", "graph": {
            "nodes": [
                {"id": "a", "kind": "Task", "acceptanceCriteria": [
                    {"type": "endpoint_responds", "name": "up", "url": "https://example.com/health"},
                    {"type": "test_passes", "name": "t", "command": "make", "required": false}
                ]},
                {"id": "g", "kind": "Group", "children": ["a"]}
            ],
            "edges": [{"from": "a", "to": "g"}]
        }}
    }))
    .unwrap();
    assert_eq!(plan.metadata.namespace, None);
    assert_eq!(plan.metadata.namespace_or_default(), "default");
    assert_eq!(plan.spec.graph.edges[0].edge_type, EdgeType::Hard);
    let Node::Task(task) = &plan.spec.graph.nodes[0] else {
        panic!()
    };
    assert_eq!(task.retries, 0);
    match &task.acceptance_criteria[0] {
        AcceptanceCriterion::EndpointResponds(c) => {
            assert_eq!(c.method, HttpMethod::Get);
            assert_eq!(c.expected_status, 200);
            assert!(c.required);
        }
        other => panic!("{other:?}"),
    }
    match &task.acceptance_criteria[1] {
        AcceptanceCriterion::TestPasses(c) => {
            assert_eq!(c.expected_exit_code, 0);
            assert!(!c.required);
        }
        other => panic!("{other:?}"),
    }
    let Node::Group(group) = &plan.spec.graph.nodes[1] else {
        panic!()
    };
    assert_eq!(group.mode, GroupMode::Parallel);

    let gate: Gate = serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1", "kind": "Gate", "metadata": {"name": "g"},
        "spec": {"gateType": "sign-off", "targetRef": {"kind": "Plan", "name": "p"}}
    }))
    .unwrap();
    assert_eq!(gate.spec.required_approvers, 1);
    assert_eq!(gate.spec.gate_type, GateType::SignOff);
    assert_eq!(
        serde_json::to_value(gate.spec.gate_type).unwrap(),
        "sign-off"
    );

    let binding: Binding = serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1", "kind": "Binding", "metadata": {"name": "b"},
        "spec": {"rules": [{"selector": {"matchLabels": {"team": "a"}}, "target": {"provider": "tool://x"}}]}
    }))
    .unwrap();
    assert_eq!(binding.spec.strategy, binding::BindingStrategy::FirstMatch);
    assert_eq!(binding.spec.rules[0].priority, 0);
    assert_eq!(binding.spec.rules[0].selector.specificity(), 5);

    let capability: Capability = serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1", "kind": "Capability", "metadata": {"name": "c"},
        "spec": {"description": "d", "inputs": [{"name": "p", "type": "object",
            "objectProperties": {"q": {"name": "q", "type": "array", "itemType": "string"}}}],
            "requirements": [{"name": "other"}]}
    }))
    .unwrap();
    assert!(!capability.spec.requirements[0].optional);
    assert!(!capability.spec.inputs[0].required);
    let inner = &capability.spec.inputs[0]
        .object_properties
        .as_ref()
        .unwrap()["q"];
    assert_eq!(inner.param_type, ParameterType::Array);
}

#[test]
fn serde_is_lenient_about_unknown_fields() {
    let goal: Goal = serde_json::from_value(json!({
        "apiVersion": "planspec.io/v1alpha1", "kind": "Goal",
        "metadata": {"name": "g", "extra": 1},
        "spec": {"description": "d", "objectives": [{"id": "x"}]}
    }))
    .unwrap();
    assert_eq!(goal.spec.description, "d");
}

fn defs(schema: &Value) -> &serde_json::Map<String, Value> {
    schema["$defs"].as_object().expect("$defs")
}

#[test]
fn node_schema_is_one_of_with_kind_consts() {
    let plan = kind_schema(Kind::Plan);
    let node = &defs(&plan)["Node"];
    let branches = node["oneOf"].as_array().expect("Node is a oneOf");
    let kinds: Vec<&str> = branches
        .iter()
        .map(|b| {
            assert_eq!(b["additionalProperties"], false);
            let required: Vec<&str> = b["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert!(required.contains(&"kind") && required.contains(&"id"));
            b["properties"]["kind"]["const"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        kinds,
        ["Task", "Gate", "Group", "External", "Plan", "Placeholder"]
    );
    assert_eq!(node["properties"]["kind"]["enum"], json!(kinds));

    // Each branch lists exactly its own fields.
    let fields = |i: usize| -> Vec<&str> {
        branches[i]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    };
    assert_eq!(
        fields(1),
        [
            "kind",
            "id",
            "name",
            "description",
            "context",
            "dependsOn",
            "gateRef",
            "when"
        ]
    );
    assert!(!fields(1).contains(&"retries"));
    assert!(fields(0).contains(&"capabilityRefs"));

    for (tagged, tag) in [
        ("AcceptanceCriterion", "type"),
        ("ExternalRef", "type"),
        ("ContextItem", "format"),
    ] {
        for branch in defs(&plan)[tagged]["oneOf"].as_array().unwrap() {
            assert!(branch["properties"][tag]["const"].is_string(), "{tagged}");
            assert_eq!(branch["required"][0], tag, "{tagged}");
        }
    }
}

#[test]
fn schemas_are_strict_and_named() {
    for (file, schema) in all_schema_files() {
        assert_eq!(
            schema["$id"],
            format!("https://planspec.io/schemas/v1alpha1/{file}"),
            "{file}"
        );
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        check_no_null(&schema, file);
        // Every object schema with properties forbids unknown ones (or is a free-form map).
        check_strict(&schema, file);
    }
    for kind in Kind::ALL {
        let schema = kind_schema(kind);
        assert_eq!(schema["properties"]["apiVersion"]["const"], API_VERSION);
        assert_eq!(schema["properties"]["kind"]["const"], kind.as_str());
        assert_eq!(schema["additionalProperties"], false);
        for name in ["DnsLabel", "LabelKey", "LabelValue", "Timestamp"] {
            assert!(defs(&schema).contains_key(name), "{kind}: $defs/{name}");
        }
    }
    let plan = kind_schema(Kind::Plan);
    for name in ["NodeId", "Duration", "Digest", "OutputName"] {
        assert!(defs(&plan).contains_key(name), "$defs/{name}");
    }
    let capability = kind_schema(Kind::Capability);
    for name in ["ParameterName", "Category"] {
        assert!(defs(&capability).contains_key(name), "$defs/{name}");
    }
    assert!(defs(&kind_schema(Kind::Execution)).contains_key("HashDigest"));

    let labels = &defs(&plan)["ObjectMeta"]["properties"]["labels"];
    assert_eq!(labels["propertyNames"]["$ref"], "#/$defs/LabelKey");
    assert_eq!(labels["additionalProperties"]["$ref"], "#/$defs/LabelValue");

    let graph = &defs(&plan)["Graph"]["properties"];
    assert_eq!(graph["nodes"]["maxItems"], 10_000);
    assert_eq!(graph["edges"]["maxItems"], 100_000);
    assert!(defs(&plan)["ObjectMeta"]["required"] == json!(["name"]));

    let binding = kind_schema(Kind::Binding);
    let selector = &defs(&binding)["BindingSelector"];
    assert_eq!(selector["oneOf"].as_array().unwrap().len(), 5);
    assert!(selector.get("anyOf").is_none());
}

#[test]
fn document_schema_dispatches_on_kind() {
    let doc = document_schema();
    assert_eq!(doc["then"]["$ref"], "#/$defs/ResourceList");
    assert_eq!(doc["else"]["$ref"], "#/$defs/Resource");
    let resource = &defs(&doc)["Resource"];
    let dispatch = resource["allOf"].as_array().unwrap();
    assert_eq!(dispatch.len(), Kind::ALL.len());
    for (rule, kind) in dispatch.iter().zip(Kind::ALL) {
        assert_eq!(rule["if"]["properties"]["kind"]["const"], kind.as_str());
        let target = rule["then"]["$ref"].as_str().unwrap();
        let name = target.strip_prefix("#/$defs/").unwrap();
        assert!(defs(&doc).contains_key(name), "{target}");
    }
    // Every $ref resolves inside the document.
    check_refs(&doc, defs(&doc));
}

fn check_refs(value: &Value, defs: &serde_json::Map<String, Value>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r.strip_prefix("#/$defs/").expect("local ref");
                assert!(defs.contains_key(name), "dangling {r}");
            }
            map.values().for_each(|v| check_refs(v, defs));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(v, defs)),
        _ => {}
    }
}

fn check_no_null(value: &Value, file: &str) {
    match value {
        Value::Object(map) => {
            if let Some(t) = map.get("type") {
                let has_null =
                    t == "null" || t.as_array().is_some_and(|a| a.contains(&json!("null")));
                // Only the scalar `enum` of a Capability parameter may hold null: one bare
                // `{"type": "null"}` branch of its items' `anyOf`.
                let allowed = t == "null" && map.len() == 1;
                assert!(!has_null || allowed, "{file}: null type in {value}");
            }
            if let Some(f) = map.get("format").and_then(Value::as_str) {
                assert!(
                    ["date-time", "uri", "uri-reference", "email", "regex"].contains(&f),
                    "{file}: format {f}"
                );
            }
            map.values().for_each(|v| check_no_null(v, file));
        }
        Value::Array(items) => items.iter().for_each(|v| check_no_null(v, file)),
        _ => {}
    }
}

fn check_strict(value: &Value, file: &str) {
    match value {
        // Conditional rules describe parts of an already strict object.
        Value::Object(map)
            if map
                .get("$comment")
                .and_then(Value::as_str)
                .is_some_and(|c| c.starts_with("planspec-rule")) => {}
        Value::Object(map) => {
            // Dispatchers (tagged-enum wrappers, the document root and `Resource`) only state
            // the discriminator; the branches they dispatch to are strict.
            let dispatcher = ["oneOf", "if", "allOf"]
                .iter()
                .any(|k| map.contains_key(*k))
                && !map.contains_key("additionalProperties");
            if map.contains_key("properties")
                && map.get("type") == Some(&json!("object"))
                && !dispatcher
            {
                assert_eq!(
                    map.get("additionalProperties"),
                    Some(&json!(false)),
                    "{file}: not strict: properties {:?}",
                    map["properties"]
                        .as_object()
                        .map(|p| p.keys().collect::<Vec<_>>())
                );
            }
            map.values().for_each(|v| check_strict(v, file));
        }
        Value::Array(items) => items.iter().for_each(|v| check_strict(v, file)),
        _ => {}
    }
}
