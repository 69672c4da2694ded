//! `planspec describe KIND NAME`: one object for people — metadata, spec, status, conditions.

use serde_json::Value;

use crate::cli::DescribeArgs;
use crate::client::Target;
use crate::error::{emit, Exit, Outcome};
use crate::term::escape_line;

use super::resources::{align, connect, server_error, target, to_yaml};

/// Fetches the object and prints it.
pub fn run(args: &DescribeArgs) -> Outcome {
    let target = target(&args.kind, "describe")?;
    let client = connect(&args.client);
    let path = match target {
        Target::Namespace => format!(
            "{}/{}",
            target.collection(None),
            crate::client::encode(&args.name)
        ),
        Target::Kind(_) => target.item(args.client.ns(), &args.name),
    };
    let object = client.get(&path).map_err(server_error)?;
    let mut text = describe(&object)?;
    if let Target::Kind(_) = target {
        let owned = owned_by(&client, args.client.ns(), &object);
        if !owned.is_empty() {
            text.push_str("Owns:\n");
            for name in owned {
                text.push_str(&format!("  {}\n", escape_line(&name)));
            }
        }
    }
    emit(&text)?;
    Ok(Exit::Success)
}

/// `Kind/name` of the objects in `namespace` whose `ownerReferences` name `object`
/// (the Executions of a Goal …). Lists that fail are skipped: this is a courtesy.
fn owned_by(client: &crate::client::Client, namespace: &str, object: &Value) -> Vec<String> {
    let Some(uid) = object["metadata"]["uid"].as_str() else {
        return Vec::new();
    };
    let mut owned = Vec::new();
    for kind in planspec_model::Kind::ALL {
        let Ok(list) = client.get(&Target::Kind(kind).collection(Some(namespace))) else {
            continue;
        };
        for item in list["items"].as_array().into_iter().flatten() {
            let owners = item["metadata"]["ownerReferences"].as_array();
            if owners.into_iter().flatten().any(|o| o["uid"] == uid) {
                owned.push(format!(
                    "{}/{}",
                    kind.as_str(),
                    text(&item["metadata"]["name"])
                ));
            }
        }
    }
    owned
}

/// The description of one object.
pub fn describe(object: &Value) -> Result<String, crate::error::Failure> {
    let meta = &object["metadata"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut field = |label: &str, value: String| rows.push(vec![format!("{label}:"), value]);
    field("Name", text(&meta["name"]));
    if meta["namespace"].is_string() {
        field("Namespace", text(&meta["namespace"]));
    }
    field("Kind", text(&object["kind"]));
    field("API Version", text(&object["apiVersion"]));
    field("Labels", pairs(&meta["labels"]));
    field("Annotations", pairs(&meta["annotations"]));
    field("Created", text(&meta["creationTimestamp"]));
    field("Resource Version", text(&meta["resourceVersion"]));
    if !meta["generation"].is_null() {
        field("Generation", text(&meta["generation"]));
    }
    field("UID", text(&meta["uid"]));
    if let Some(owners) = meta["ownerReferences"].as_array() {
        let list: Vec<String> = owners
            .iter()
            .map(|o| format!("{}/{}", text(&o["kind"]), text(&o["name"])))
            .collect();
        field("Owned By", list.join(", "));
    }
    if let Some(finalizers) = meta["finalizers"].as_array() {
        let list: Vec<String> = finalizers.iter().map(text).collect();
        field("Finalizers", list.join(", "));
    }
    if !meta["deletionTimestamp"].is_null() {
        field("Deleting Since", text(&meta["deletionTimestamp"]));
    }
    let mut out = super::resources::align(&rows);
    if let Some(spec) = object.get("spec").filter(|s| !s.is_null()) {
        out.push_str("Spec:\n");
        out.push_str(&indent(&to_yaml(spec)?));
    }
    let status = &object["status"];
    if let Some(map) = status.as_object().filter(|m| !m.is_empty()) {
        let mut rest = map.clone();
        let conditions = rest.remove("conditions");
        if !rest.is_empty() {
            out.push_str("Status:\n");
            out.push_str(&indent(&to_yaml(&Value::Object(rest))?));
        }
        out.push_str("Conditions:\n");
        match conditions.as_ref().and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                let mut table = vec![vec![
                    "Type".to_owned(),
                    "Status".to_owned(),
                    "Reason".to_owned(),
                    "Last Transition".to_owned(),
                    "Message".to_owned(),
                ]];
                for c in list {
                    table.push(vec![
                        text(&c["type"]),
                        text(&c["status"]),
                        text(&c["reason"]),
                        text(&c["lastTransitionTime"]),
                        text(&c["message"]),
                    ]);
                }
                out.push_str(&indent(&align(&table)));
            }
            _ => out.push_str("  <none>\n"),
        }
    } else {
        out.push_str("Status:             <none>\n");
    }
    Ok(out)
}

fn text(value: &Value) -> String {
    let s = match value {
        Value::Null => "<none>".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    escape_line(&s).into_owned()
}

fn pairs(value: &Value) -> String {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            let list: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            list.join("\n                    ")
        }
        _ => "<none>".to_owned(),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {}\n", escape_line(l)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_metadata_spec_and_conditions() {
        let object = json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "a", "namespace": "default", "labels": {"app": "web"},
                         "resourceVersion": "3", "generation": 1, "uid": "u"},
            "spec": {"description": "x"},
            "status": {"phase": "Ready", "conditions": [
                {"type": "Valid", "status": "True", "reason": "Checked", "message": "ok"}
            ]}
        });
        let text = describe(&object).unwrap();
        assert!(text.starts_with("Name:   "), "{text}");
        assert!(text.contains("Labels:             app=web\n"), "{text}");
        assert!(text.contains("Spec:\n  description: x\n"), "{text}");
        assert!(text.contains("Status:\n  phase: Ready\n"), "{text}");
        assert!(text.contains("  Valid   True     Checked"), "{text}");
    }
}
