//! `planspec apply`: validate locally, then create or update each resource on the server.

use serde_json::Value;

use crate::cli::{ApplyArgs, GlobalArgs, ObjectFormat};
use crate::client::{Client, ClientError};
use crate::error::{emit, Exit, Outcome};

use super::resources::{connect, object_ref, read_manifests, server_error, Manifest};

/// How many times an update is retried after a conflict (`409`).
const CONFLICT_RETRIES: usize = 5;

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It did not exist and was created.
    Created,
    /// It existed and was updated.
    Configured,
    /// It existed with the same spec, labels and annotations.
    Unchanged,
}

impl Applied {
    /// The word printed for it.
    pub fn word(self) -> &'static str {
        match self {
            Applied::Created => "created",
            Applied::Configured => "configured",
            Applied::Unchanged => "unchanged",
        }
    }
}

/// Applies every resource of the inputs; stops at the first server error.
pub fn run(args: &ApplyArgs, global: &GlobalArgs) -> Outcome {
    let Some(manifests) =
        read_manifests(&args.files, args.recursive, &args.client, global, "apply")?
    else {
        return Ok(Exit::Invalid);
    };
    let client = connect(&args.client);
    let dry = if args.dry_run { "?dryRun=All" } else { "" };
    let mut errors: Vec<String> = Vec::new();
    for manifest in &manifests {
        // Like kubectl, one failure does not stop the others; they are reported at the end.
        let (applied, stored) = match apply_one(&client, manifest, dry) {
            Ok(done) => done,
            Err(e @ ClientError::Transport(_)) => return Err(server_error(e)),
            Err(e) => {
                if let crate::error::Failure::Message(m) = server_error(e) {
                    errors.push(m);
                }
                continue;
            }
        };
        let reference = object_ref(manifest.target, &manifest.name);
        let text = match args.output {
            Some(ObjectFormat::Name) => format!("{reference}\n"),
            Some(ObjectFormat::Json) => format!(
                "{}\n",
                serde_json::to_string_pretty(&stored).unwrap_or_default()
            ),
            Some(ObjectFormat::Yaml) => format!("---\n{}", super::resources::to_yaml(&stored)?),
            _ if args.dry_run => format!("{reference} {} (server dry run)\n", applied.word()),
            _ => format!("{reference} {}\n", applied.word()),
        };
        emit(&text)?;
    }
    if errors.is_empty() {
        Ok(Exit::Success)
    } else {
        Err(crate::error::Failure::Message(errors.join("\n")))
    }
}

/// Applies one manifest: GET, then POST or PUT (with the current `resourceVersion`, retried on `409`).
pub fn apply_one(
    client: &Client,
    manifest: &Manifest,
    dry: &str,
) -> Result<(Applied, Value), ClientError> {
    let path = manifest.target.item(&manifest.namespace, &manifest.name);
    let mut attempt = 0;
    loop {
        let current = match client.get(&path) {
            Ok(current) => Some(current),
            Err(e) if e.code() == Some(404) => None,
            Err(e) => return Err(e),
        };
        let result = match current {
            None => {
                let collection = manifest.target.collection(Some(&manifest.namespace));
                client
                    .request(
                        "POST",
                        &format!("{collection}{dry}"),
                        "application/json",
                        Some(&manifest.object),
                    )
                    .map(|stored| (Applied::Created, stored))
            }
            Some(current) if same(&current, &manifest.object) => {
                return Ok((Applied::Unchanged, current))
            }
            Some(current) => {
                let mut object = manifest.object.clone();
                if let (Some(metadata), Some(version)) = (
                    object.get_mut("metadata").and_then(Value::as_object_mut),
                    current["metadata"]["resourceVersion"].as_str(),
                ) {
                    metadata.insert("resourceVersion".into(), Value::String(version.to_owned()));
                }
                client
                    .request(
                        "PUT",
                        &format!("{path}{dry}"),
                        "application/json",
                        Some(&object),
                    )
                    .map(|stored| (Applied::Configured, stored))
            }
        };
        match result {
            // 409: the object changed between GET and PUT (or appeared before POST): retry.
            Err(e) if e.code() == Some(409) && attempt < CONFLICT_RETRIES => attempt += 1,
            other => return other,
        }
    }
}

/// Whether the stored object already has the applied spec, labels and annotations.
pub fn same(current: &Value, applied: &Value) -> bool {
    let meta = |v: &Value, key: &str| -> Value {
        match &v["metadata"][key] {
            Value::Object(map) if !map.is_empty() => Value::Object(map.clone()),
            _ => Value::Null,
        }
    };
    current["spec"] == applied["spec"]
        && meta(current, "labels") == meta(applied, "labels")
        && meta(current, "annotations") == meta(applied, "annotations")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sameness_ignores_server_fields_and_empty_maps() {
        let stored = json!({"metadata": {"name": "a", "resourceVersion": "7", "labels": {}}, "spec": {"x": 1}, "status": {"phase": "Ready"}});
        assert!(same(
            &stored,
            &json!({"metadata": {"name": "a"}, "spec": {"x": 1}})
        ));
        assert!(!same(
            &stored,
            &json!({"metadata": {"name": "a"}, "spec": {"x": 2}})
        ));
        assert!(!same(
            &stored,
            &json!({"metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {"x": 1}})
        ));
    }
}
