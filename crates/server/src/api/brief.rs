//! `GET …/executions/NAME/journal?brief=true`: journal entries with what the run pinned at
//! start summarised. The first entry (`ExecutionStarted`) carries the whole Plan, Goal, every
//! node's provider and the governance record — megabytes for a 100,000-node run — which a
//! timeline (`planspec trace`) does not need. A brief entry keeps everything else as stored.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Summarises an `ExecutionStarted` entry in place (other entries are left as they are):
/// `pinned` becomes `{plan: {metadata}, goal: {metadata} | null, brief: {planNodes,
/// providerUris}}` and `governance.policies` keeps each Policy's identity only.
pub fn summarise(entry: &mut Value) {
    if entry["type"] != "ExecutionStarted" {
        return;
    }
    let Some(object) = entry.as_object_mut() else {
        return;
    };
    if let Some(pinned) = object.get("pinned") {
        let metadata = |v: &Value| {
            let mut m = v["metadata"].as_object().cloned().unwrap_or_default();
            m.remove("managedFields");
            m.remove("annotations");
            json!({ "metadata": m })
        };
        let spec = &pinned["plan"]["spec"];
        let plan_nodes = spec["graph"]["nodes"]
            .as_array()
            .or_else(|| spec["steps"].as_array())
            .map_or(0, Vec::len);
        let uris: BTreeSet<&str> = pinned["providers"]
            .as_object()
            .into_iter()
            .flat_map(Map::values)
            .filter_map(|p| p["uri"].as_str())
            .collect();
        let goal = match &pinned["goal"] {
            Value::Null => Value::Null,
            g => metadata(g),
        };
        let brief = json!({
            "plan": metadata(&pinned["plan"]),
            "goal": goal,
            "brief": {"planNodes": plan_nodes, "providerUris": uris},
        });
        object.insert("pinned".into(), brief);
    }
    if let Some(Value::Object(governance)) = object.get_mut("governance") {
        let policies: Vec<Value> = governance
            .get("policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let mut id = Map::new();
                for k in ["name", "namespace", "uid", "resourceVersion"] {
                    if let Some(v) = p.get(k) {
                        id.insert(k.into(), v.clone());
                    }
                }
                Value::Object(id)
            })
            .collect();
        governance.clear();
        governance.insert("policies".into(), Value::Array(policies));
        governance.insert("brief".into(), Value::Bool(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_entry_keeps_identities_and_counts() {
        let mut e = json!({"type": "ExecutionStarted", "at": 1, "uid": "u", "graphDigest": "sha256:x",
            "pinned": {"plan": {"metadata": {"name": "p", "resourceVersion": "7", "managedFields": [1]},
                                "spec": {"graph": {"nodes": [{"id": "a"}, {"id": "b"}]}}},
                       "goal": null,
                       "providers": {"a": {"uri": "noop://"}, "b": {"uri": "noop://"}}},
            "governance": {"policies": [{"name": "x", "resourceVersion": "3", "spec": {"rules": []}}],
                           "providers": {"a": {}}}});
        summarise(&mut e);
        assert_eq!(
            e["pinned"],
            json!({"plan": {"metadata": {"name": "p", "resourceVersion": "7"}}, "goal": null,
                   "brief": {"planNodes": 2, "providerUris": ["noop://"]}})
        );
        assert_eq!(
            e["governance"],
            json!({"policies": [{"name": "x", "resourceVersion": "3"}], "brief": true})
        );
        assert_eq!(e["graphDigest"], "sha256:x");
        let mut other = json!({"type": "NodeReady", "at": 2, "node": "a"});
        let before = other.clone();
        summarise(&mut other);
        assert_eq!(other, before);
    }
}
