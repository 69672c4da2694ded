//! What the client commands share: reading files into objects, printing objects,
//! turning server errors into failures.

use std::path::PathBuf;

use serde_json::Value;

use crate::cli::{ClientArgs, GlobalArgs, InputArgs, ObjectFormat};
use crate::client::{Client, ClientError, Target};
use crate::error::{emit, Failure};
use crate::input;
use crate::output::{human, Facts};
use crate::term::{pad, width, Stream, Term};

/// One object read from the inputs, ready to send.
pub struct Manifest {
    /// Its kind.
    pub target: Target,
    /// Its namespace (the document's, else `-n`).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The object, with `metadata.namespace` filled in.
    pub object: Value,
}

/// Connects to the server `args` name, with its bearer token: the one place a client gets
/// its credentials.
pub fn connect(args: &ClientArgs) -> Client {
    Client::new(&args.server).with_token(args.token.as_deref().map(str::trim))
}

/// A server error as a failure, printed `Error from server (Reason): …` like kubectl
/// (control characters escaped; the server may quote user input).
pub fn server_error(error: ClientError) -> Failure {
    let mut text = error.render();
    if error.code() == Some(401) {
        text.push_str(
            "\nhint: the server wants a token: `planspec login --server URL --token-file FILE` saves one in a \
             context (or pass --token / PLANSPEC_TOKEN); a new server's admin token is in admin.token \
             beside its store",
        );
    }
    let lines: Vec<String> = text
        .lines()
        .map(|l| crate::term::escape_line(l).into_owned())
        .collect();
    Failure::Message(lines.join("\n"))
}

/// Parses KIND for `subcommand`, or a usage error.
pub fn target(kind: &str, subcommand: &str) -> Result<Target, Failure> {
    Target::parse(kind).ok_or_else(|| {
        crate::error::usage(
            subcommand,
            format!(
                "unknown resource kind `{kind}` (kinds: goals, plans, capabilities, bindings, executions, gates, policies, providers, roles, rolebindings, clusterroles, clusterrolebindings, namespaces)"
            ),
        )
    })
}

/// Reads and validates `files`; prints the diagnostics like `validate` and returns
/// `Ok(None)` when there are errors. A document without a namespace goes to `-n`'s; one
/// whose namespace differs from a `-n` (or `PLANSPEC_NAMESPACE`) that was given is an error,
/// as in kubectl.
pub fn read_manifests(
    files: &[PathBuf],
    recursive: bool,
    client: &ClientArgs,
    global: &GlobalArgs,
    subcommand: &str,
) -> Result<Option<Vec<Manifest>>, Failure> {
    let input_args = InputArgs {
        paths: Vec::new(),
        files: files.to_vec(),
        dirs: Vec::new(),
        recursive,
    };
    let specs = input::specs(&input_args, None, subcommand)?;
    let report = input::load(&specs, false);
    let facts = Facts::of(&report);
    if !facts.summary.is_valid() || report.has_errors() {
        let text = human::render(
            &report,
            &facts,
            human::HumanOptions {
                term: Term::detect(global, Stream::Stderr),
                quiet: true,
            },
        );
        crate::error::emit_err(&text);
        return Ok(None);
    }
    let mut manifests = Vec::new();
    for resource in &report.resources {
        let mut object = resource.node.to_json();
        let Some(name) = resource.name.clone() else {
            continue;
        };
        let ns = match (&resource.namespace, &client.namespace) {
            (Some(own), Some(given)) if own != given => {
                return Err(Failure::Message(format!(
                    "error: the namespace from the provided object \"{own}\" does not match the namespace \"{given}\". You must pass '--namespace={own}' to perform this operation."
                )))
            }
            (Some(own), _) => own.clone(),
            (None, _) => client.ns().to_owned(),
        };
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("namespace".into(), Value::String(ns.clone()));
        }
        manifests.push(Manifest {
            target: Target::Kind(resource.kind),
            namespace: ns,
            name,
            object,
        });
    }
    Ok(Some(manifests))
}

/// `kind.planspec.io/name` (`namespace/name` for namespaces).
pub fn object_ref(target: Target, name: &str) -> String {
    format!("{}/{name}", target.singular_ref())
}

/// The target an object names in its `kind`.
pub fn target_of(object: &Value) -> Option<Target> {
    object["kind"].as_str().and_then(Target::parse)
}

/// Prints objects (a single object or a list's `items`) as JSON, YAML or names.
pub fn print_objects(value: &Value, format: ObjectFormat, fallback: Target) -> Result<(), Failure> {
    let value = &crate::client::without_managed_fields(value);
    match format {
        ObjectFormat::Json => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(value).unwrap_or_default()
        )),
        ObjectFormat::Yaml => emit(&to_yaml(value)?),
        _ => {
            let items: Vec<&Value> = match value["items"].as_array() {
                Some(items) => items.iter().collect(),
                None => vec![value],
            };
            let mut out = String::new();
            for item in items {
                let target = target_of(item).unwrap_or(fallback);
                let name = item["metadata"]["name"].as_str().unwrap_or("");
                out.push_str(&object_ref(target, name));
                out.push('\n');
            }
            emit(&out)
        }
    }
}

/// YAML text of a value.
pub fn to_yaml(value: &Value) -> Result<String, Failure> {
    serde_yaml_ng::to_string(value)
        .map_err(|e| Failure::Error(miette::miette!("cannot encode YAML: {e}")))
}

/// The cells of a `meta.k8s.io/v1` `Table`, to print as aligned columns like kubectl
/// ([`align`]): the header row first when `header`; `wide` keeps the columns with a
/// priority above 0; `namespace` adds a NAMESPACE column first.
pub fn table_rows(table: &Value, wide: bool, namespace: bool, header: bool) -> Vec<Vec<String>> {
    let empty = Vec::new();
    let columns = table["columnDefinitions"].as_array().unwrap_or(&empty);
    let shown: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    if header {
        let mut head: Vec<String> = Vec::new();
        if namespace {
            head.push("NAMESPACE".into());
        }
        head.extend(
            shown
                .iter()
                .map(|&i| columns[i]["name"].as_str().unwrap_or("").to_uppercase()),
        );
        rows.push(head);
    }
    for row in table["rows"].as_array().unwrap_or(&empty) {
        let cells = row["cells"].as_array().unwrap_or(&empty);
        let mut line: Vec<String> = Vec::new();
        if namespace {
            line.push(
                row["object"]["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        for &i in &shown {
            line.push(cell(cells.get(i).unwrap_or(&Value::Null)));
        }
        rows.push(line);
    }
    rows
}

fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => "<none>".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    crate::term::escape_line(&text).into_owned()
}

/// Columns separated by three spaces, each as wide as its widest cell.
pub fn align(rows: &[Vec<String>]) -> String {
    align_with(rows, &mut Vec::new())
}

/// [`align`], with columns at least `widths` wide; `widths` grows to fit these rows, so rows
/// printed later (watch events) line up with the earlier ones.
pub fn align_with(rows: &[Vec<String>], widths: &mut Vec<usize>) -> String {
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(width(c));
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                line.push_str(&pad(c, widths[i] + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_align() {
        let table = serde_json::json!({
            "kind": "Table",
            "columnDefinitions": [
                {"name": "Name", "priority": 0},
                {"name": "Phase", "priority": 0},
                {"name": "Nodes", "priority": 1}
            ],
            "rows": [
                {"cells": ["a", "Ready", 3], "object": {"metadata": {"namespace": "default"}}},
                {"cells": ["longer-name", "", 1], "object": {"metadata": {"namespace": "x"}}}
            ]
        });
        assert_eq!(
            align(&table_rows(&table, false, false, true)),
            "NAME          PHASE\na             Ready\nlonger-name\n"
        );
        assert_eq!(
            align(&table_rows(&table, true, true, true)),
            "NAMESPACE   NAME          PHASE   NODES\ndefault     a             Ready   3\nx           longer-name           1\n"
        );
    }
}
