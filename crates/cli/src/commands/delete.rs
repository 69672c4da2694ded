//! `planspec delete`: by name, by file, or by label selector.

use crate::cli::{DeleteArgs, GlobalArgs};
use crate::client::{encode, Client, ClientError, Target};
use crate::error::{emit, usage, Exit, Outcome};

use super::get::{items, with_query};
use super::resources::{connect, object_ref, read_manifests, server_error, target};

/// Deletes what the arguments name; the first error other than a tolerated 404 stops it.
pub fn run(args: &DeleteArgs, global: &GlobalArgs) -> Outcome {
    let client = connect(&args.client);
    let ns = args.client.ns();
    let mut victims: Vec<(Target, String, String)> = Vec::new();
    if !args.files.is_empty() {
        let Some(manifests) =
            read_manifests(&args.files, args.recursive, &args.client, global, "delete")?
        else {
            return Ok(Exit::Invalid);
        };
        victims.extend(
            manifests
                .into_iter()
                .map(|m| (m.target, m.namespace, m.name)),
        );
    } else {
        let kind = args.kind.as_deref().unwrap_or_default();
        let target = target(kind, "delete")?;
        match (&args.selector, args.names.is_empty()) {
            (Some(_), false) => return Err(usage("delete", "give names or -l SELECTOR, not both")),
            (None, true) => {
                return Err(usage(
                    "delete",
                    "name the objects to delete, or pass -l SELECTOR or -f FILE",
                ))
            }
            (Some(selector), true) => {
                let path = with_query(
                    &target.collection(Some(ns)),
                    &[format!("labelSelector={}", encode(selector))],
                );
                let list = client.get(&path).map_err(server_error)?;
                for item in items(&list) {
                    if let Some(name) = item["metadata"]["name"].as_str() {
                        victims.push((target, ns.to_owned(), name.to_owned()));
                    }
                }
                if victims.is_empty() {
                    crate::error::emit_err("No resources found\n");
                }
            }
            (None, false) => {
                victims.extend(
                    args.names
                        .iter()
                        .map(|n| (target, ns.to_owned(), n.clone())),
                );
            }
        }
    }
    for (target, namespace, name) in victims {
        match delete_one(&client, target, &namespace, &name) {
            Ok(()) => emit(&format!("{} deleted\n", object_ref(target, &name)))?,
            Err(e) if e.code() == Some(404) && args.ignore_not_found => {}
            Err(e) => return Err(server_error(e)),
        }
    }
    Ok(Exit::Success)
}

fn delete_one(
    client: &Client,
    target: Target,
    namespace: &str,
    name: &str,
) -> Result<(), ClientError> {
    let path = target.item(namespace, name);
    client
        .request("DELETE", &path, "application/json", None)
        .map(|_| ())
}
