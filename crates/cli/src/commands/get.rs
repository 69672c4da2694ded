//! `planspec get`: list or show resources, as the server's Table or as JSON, YAML or names;
//! `-w` keeps printing changes. Several kinds at once (`plans,goals`, or `all` for the six
//! PlanSpec kinds) print one table per kind, as kubectl does.

use serde_json::Value;

use crate::cli::{GetArgs, ObjectFormat};
use crate::client::{encode, Client, Target, TABLE};
use crate::error::{emit, emit_err, Exit, Failure, Outcome};

use super::resources::{
    align_with, connect, object_ref, print_objects, server_error, table_rows, target, to_yaml,
};

/// Lists or shows, then watches with `-w`.
pub fn run(args: &GetArgs) -> Outcome {
    if super::nodes::is_nodes(&args.kind) {
        return super::nodes::run(args);
    }
    let targets = targets(&args.kind)?;
    let target = match targets.as_slice() {
        [one] => *one,
        _ => return run_many(args, &targets),
    };
    let client = connect(&args.client);
    let namespace = (!args.all_namespaces).then_some(args.client.ns());
    let collection = target.collection(namespace);
    let mut query: Vec<String> = Vec::new();
    if let Some(selector) = &args.selector {
        query.push(format!("labelSelector={}", encode(selector)));
    }
    let path = match &args.name {
        Some(name) => target.item(args.client.ns(), name),
        None => with_query(&collection, &query),
    };
    let table = matches!(args.output, ObjectFormat::Table | ObjectFormat::Wide);
    let wide = args.output == ObjectFormat::Wide;
    let show_namespace = args.all_namespaces && target.namespaced();
    let accept = if table { TABLE } else { "application/json" };
    let value = client
        .request("GET", &path, accept, None)
        .map_err(server_error)?;
    let mut printed_header = false;
    let mut widths: Vec<usize> = Vec::new();
    if table {
        let empty = value["rows"].as_array().is_none_or(Vec::is_empty);
        if empty && args.name.is_none() {
            if !args.watch {
                emit_err(&match namespace {
                    Some(ns) if target.namespaced() => {
                        format!("No resources found in {ns} namespace.\n")
                    }
                    _ => "No resources found\n".to_owned(),
                });
            }
        } else {
            let rows = table_rows(&value, wide, show_namespace, true);
            emit(&align_with(&rows, &mut widths))?;
            printed_header = true;
        }
    } else {
        print_objects(&value, args.output, target)?;
    }
    if !args.watch {
        return Ok(Exit::Success);
    }
    if let Some(name) = &args.name {
        query.push(format!(
            "fieldSelector={}",
            encode(&format!("metadata.name={name}"))
        ));
    }
    query.push("watch=true".into());
    if let Some(version) = value["metadata"]["resourceVersion"].as_str() {
        query.push(format!("resourceVersion={}", encode(version)));
    }
    watch(
        &client,
        &with_query(&collection, &query),
        target,
        args.output,
        show_namespace,
        printed_header,
        widths,
    )
}

/// Prints each watch event on `path` until the stream ends.
pub fn watch(
    client: &Client,
    path: &str,
    target: Target,
    format: ObjectFormat,
    show_namespace: bool,
    mut printed_header: bool,
    mut widths: Vec<usize>,
) -> Outcome {
    let table = matches!(format, ObjectFormat::Table | ObjectFormat::Wide);
    let accept = if table { TABLE } else { "application/json" };
    let mut failure: Option<Failure> = None;
    client
        .watch(path, accept, |event| {
            let kind = event["type"].as_str().unwrap_or("");
            if kind == "BOOKMARK" {
                return true;
            }
            if kind == "ERROR" {
                let status = event["object"].clone();
                let code = status["code"].as_u64().unwrap_or(500) as u16;
                failure = Some(server_error(crate::client::ClientError::Api {
                    code,
                    status,
                }));
                return false;
            }
            let object = &event["object"];
            let text = match format {
                ObjectFormat::Table | ObjectFormat::Wide => {
                    let rows = table_rows(
                        object,
                        format == ObjectFormat::Wide,
                        show_namespace,
                        !printed_header,
                    );
                    let text = align_with(&rows, &mut widths);
                    printed_header = true;
                    text
                }
                ObjectFormat::Json => {
                    format!("{}\n", serde_json::to_string(&event).unwrap_or_default())
                }
                ObjectFormat::Yaml => match to_yaml(&event) {
                    Ok(y) => format!("---\n{y}"),
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                },
                ObjectFormat::Name => {
                    let name = object["metadata"]["name"].as_str().unwrap_or("");
                    format!(
                        "{kind} {}\n",
                        object_ref(super::resources::target_of(object).unwrap_or(target), name)
                    )
                }
            };
            match emit(&text) {
                Ok(()) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })
        .map_err(server_error)?;
    match failure {
        Some(f) => Err(f),
        None => Ok(Exit::Success),
    }
}

/// The kinds of `KIND[,KIND…]` (`all`: the six PlanSpec kinds), each once, in order.
pub fn targets(kinds: &str) -> Result<Vec<Target>, Failure> {
    let mut out: Vec<Target> = Vec::new();
    for name in kinds.split(',').map(str::trim) {
        let named: Vec<Target> = if name.eq_ignore_ascii_case("all") {
            planspec_model::Kind::PLAN_MODEL
                .into_iter()
                .map(Target::Kind)
                .collect()
        } else {
            vec![target(name, "get")?]
        };
        for t in named {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    if out.is_empty() {
        return Err(target("", "get").err().unwrap_or_else(|| {
            crate::error::usage("get", "name a kind, e.g. `plans` or `plans,goals`")
        }));
    }
    Ok(out)
}

/// Several kinds: one table per kind (names as `kind.planspec.io/name`, a blank line
/// between), or one `List` of every object, or every name. Kinds with nothing to show are
/// left out; a kind that fails is reported at the end, the others still print.
fn run_many(args: &GetArgs, targets: &[Target]) -> Outcome {
    if args.watch {
        return Err(crate::error::usage(
            "get",
            "you may only specify a single resource type with --watch",
        ));
    }
    let client = connect(&args.client);
    let table = matches!(args.output, ObjectFormat::Table | ObjectFormat::Wide);
    let wide = args.output == ObjectFormat::Wide;
    let accept = if table { TABLE } else { "application/json" };
    let mut query: Vec<String> = Vec::new();
    if let Some(selector) = &args.selector {
        query.push(format!("labelSelector={}", encode(selector)));
    }
    let mut sections: Vec<String> = Vec::new();
    let mut items: Vec<Value> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for &target in targets {
        let namespace = (!args.all_namespaces).then_some(args.client.ns());
        let show_namespace = args.all_namespaces && target.namespaced();
        let path = match (&args.name, target) {
            (Some(name), _) => target.item(args.client.ns(), name),
            (None, _) => with_query(&target.collection(namespace), &query),
        };
        let value = match client.request("GET", &path, accept, None) {
            Ok(v) => v,
            Err(e) => {
                if let Failure::Message(m) = server_error(e) {
                    errors.push(m);
                }
                continue;
            }
        };
        if table {
            if value["rows"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            let mut rows = table_rows(&value, wide, show_namespace, true);
            let name_column = usize::from(show_namespace);
            for row in rows.iter_mut().skip(1) {
                if let Some(cell) = row.get_mut(name_column) {
                    *cell = object_ref(target, cell);
                }
            }
            sections.push(align_with(&rows, &mut Vec::new()));
        } else {
            items.extend(self::items(&value).into_iter().cloned());
        }
    }
    if table {
        if sections.is_empty() && errors.is_empty() {
            emit_err(&match args.all_namespaces {
                false => format!("No resources found in {} namespace.\n", args.client.ns()),
                true => "No resources found\n".to_owned(),
            });
        }
        emit(&sections.join("\n"))?;
    } else {
        let list = serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": items,
        });
        let fallback = targets.first().copied().unwrap_or(Target::Namespace);
        print_objects(&list, args.output, fallback)?;
    }
    if errors.is_empty() {
        Ok(Exit::Success)
    } else {
        Err(Failure::Message(errors.join("\n")))
    }
}

/// `path?a&b`.
pub fn with_query(path: &str, query: &[String]) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A value's `items`, or the value itself.
pub fn items(value: &Value) -> Vec<&Value> {
    match value["items"].as_array() {
        Some(items) => items.iter().collect(),
        None => vec![value],
    }
}
