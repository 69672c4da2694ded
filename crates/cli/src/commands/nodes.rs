//! `planspec get nodes execution/NAME [--phase PHASE] [--matrix NODE] [--limit N]
//! [--continue TOKEN]`: an Execution's node records, read page by page from
//! `GET …/executions/NAME/nodes` (node-id order, filtered by phase and matrix on the server), so a 100,000-node run costs what is shown, not
//! the whole run. Shared with `describe execution` (the first failed nodes).

use serde_json::Value;

use crate::cli::{GetArgs, ObjectFormat};
use crate::client::{encode, Client};
use crate::error::{emit, emit_err, usage, Exit, Failure, Outcome};
use crate::term::escape_line;

use super::describe::duration;
use super::ops::{execution_path, name_of, EXECUTION_KINDS};
use super::resources::{align, connect, server_error, to_yaml};

/// Nodes shown when `--limit` is not given.
pub const DEFAULT_LIMIT: usize = 500;
/// Most records asked for per request.
const PAGE: usize = 1000;

/// `true` for the pseudo-kinds `nodes` and `node`.
pub fn is_nodes(kind: &str) -> bool {
    matches!(kind, "nodes" | "node")
}

/// Which node records [`fetch`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Only nodes in this phase.
    pub phase: Option<&'a str>,
    /// Only the instances of this matrix node.
    pub matrix: Option<&'a str>,
}

/// Up to `limit` node records of the Execution, from `after` on, that pass `filter`, and the
/// token to resume after them when more follow.
pub fn fetch(
    client: &Client,
    ns: &str,
    name: &str,
    filter: Filter<'_>,
    limit: usize,
    after: Option<String>,
) -> Result<(Vec<Value>, Option<String>), Failure> {
    let mut items = Vec::new();
    let mut after = after;
    loop {
        let want = (limit - items.len()).min(PAGE);
        let mut query = format!("/nodes?limit={want}");
        if let Some(p) = filter.phase {
            query.push_str(&format!("&phase={}", encode(p)));
        }
        if let Some(m) = filter.matrix {
            query.push_str(&format!("&matrix={}", encode(m)));
        }
        if let Some(a) = &after {
            query.push_str(&format!("&continue={}", encode(a)));
        }
        let page = client
            .get(&execution_path(ns, name, &query))
            .map_err(server_error)?;
        let got = page["items"].as_array().cloned().unwrap_or_default();
        let empty = got.is_empty();
        items.extend(got);
        after = page["metadata"]["continue"].as_str().map(str::to_owned);
        if after.is_none() || empty || items.len() >= limit {
            return Ok((items, after));
        }
    }
}

/// The table of node records: node, phase, attempt, duration, reason, message.
pub fn table(items: &[Value]) -> String {
    let mut rows = vec![vec![
        "NODE".to_owned(),
        "PHASE".to_owned(),
        "ATTEMPT".to_owned(),
        "DURATION".to_owned(),
        "REASON".to_owned(),
        "MESSAGE".to_owned(),
    ]];
    for n in items {
        let message = n["message"]
            .as_str()
            .or_else(|| n["awaitingHuman"].as_str())
            .or_else(|| n["awaitingInput"].as_str())
            .or_else(|| n["waitingOn"].as_str())
            .unwrap_or("");
        rows.push(vec![
            escape_line(n["node"].as_str().unwrap_or("")).into_owned(),
            n["phase"].as_str().unwrap_or("").to_owned(),
            n["attempt"]
                .as_u64()
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            duration(&n["startTime"], &n["completionTime"]),
            n["reason"].as_str().unwrap_or("").to_owned(),
            escape_line(message).into_owned(),
        ]);
    }
    align(&rows)
}

/// `planspec get nodes execution/NAME`.
pub fn run(args: &GetArgs) -> Outcome {
    let Some(text) = args.name.as_deref() else {
        return Err(usage(
            "get",
            "give the Execution: `planspec get nodes execution/NAME [--phase Failed]`",
        ));
    };
    if args.watch || args.selector.is_some() || args.all_namespaces {
        return Err(usage(
            "get",
            "`get nodes` takes --phase, --matrix, --limit, --continue and -o, not -w, -l or -A",
        ));
    }
    let name = name_of("get", text, EXECUTION_KINDS)?;
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT).max(1);
    let client = connect(&args.client);
    let ns = args.client.ns();
    let filter = Filter {
        phase: args.phase.as_deref(),
        matrix: args.matrix.as_deref(),
    };
    let (items, next) = fetch(&client, ns, name, filter, limit, args.continue_from.clone())?;
    match args.output {
        ObjectFormat::Table | ObjectFormat::Wide => {
            if items.is_empty() {
                emit_err(&format!(
                    "No nodes{}{} in execution/{name}.\n",
                    args.phase
                        .as_deref()
                        .map(|p| format!(" in phase {p}"))
                        .unwrap_or_default(),
                    args.matrix
                        .as_deref()
                        .map(|m| format!(" of matrix {m}"))
                        .unwrap_or_default()
                ));
            } else {
                emit(&table(&items))?;
            }
            if let Some(token) = &next {
                emit_err(&format!(
                    "(more nodes follow: --continue {token}; or --limit)\n"
                ));
            }
        }
        ObjectFormat::Name => {
            let mut out = String::new();
            for n in &items {
                out.push_str(n["node"].as_str().unwrap_or(""));
                out.push('\n');
            }
            emit(&out)?;
        }
        ObjectFormat::Json | ObjectFormat::Yaml => {
            let mut metadata = serde_json::json!({});
            if let Some(token) = &next {
                metadata["continue"] = Value::String(token.clone());
            }
            let list = serde_json::json!({"apiVersion": "planspec.io/v1alpha1",
                "kind": "ExecutionNodeList", "metadata": metadata, "execution": name,
                "items": items});
            if args.output == ObjectFormat::Json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                ))?;
            } else {
                emit(&to_yaml(&list)?)?;
            }
        }
    }
    Ok(Exit::Success)
}
