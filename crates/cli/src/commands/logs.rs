//! `planspec logs execution/NAME [--node N] [--attempt A] [-f]`.
//!
//! With `--node`, the log of that node's attempt (the latest by default). Without, the latest
//! log of every node that has run, each line prefixed with `[node]`. `-f` follows: it polls from
//! where it stopped until the attempt's log is closed (and, for a node, moves on to a newer
//! attempt when the node is retried), until the Execution has finished. A run of more than
//! 200 nodes shows, without `--node`, the logs of its first 20 failed nodes (one page of node
//! records, never the whole list).

use clap::Args;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::cli::ClientArgs;
use crate::client::{encode, Client, ClientError};
use crate::error::{emit, Exit, Failure, Outcome};

use super::ops::{execution_path, name_of, EXECUTION_KINDS};
use super::resources::server_error;

/// How often `-f` polls.
const POLL: Duration = Duration::from_millis(250);

/// `planspec logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// Only this node.
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// This attempt of the node (default: the latest).
    #[arg(long, value_name = "N", requires = "node")]
    pub attempt: Option<u32>,
    /// Keep printing new output until the Execution finishes.
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Where one node's log has been read to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    attempt: u32,
    offset: u64,
    complete: bool,
}

/// A piece of a log as the server sends it.
struct Chunk {
    attempt: u32,
    offset: u64,
    complete: bool,
    data: Vec<u8>,
}

fn read(client: &Client, path: &str) -> Result<Option<Chunk>, Failure> {
    match client.get_raw(path) {
        Ok(raw) => {
            let header = |name: &str| raw.header(name).unwrap_or_default().to_owned();
            Ok(Some(Chunk {
                attempt: header("x-log-attempt").parse().unwrap_or(0),
                offset: header("x-log-offset").parse().unwrap_or(0),
                complete: header("x-log-complete") == "true",
                data: raw.body,
            }))
        }
        Err(ClientError::Api { code: 404, .. }) => Ok(None),
        Err(e) => Err(server_error(e)),
    }
}

fn log_path(ns: &str, name: &str, node: &str, attempt: Option<u32>, offset: u64) -> String {
    let mut path = execution_path(
        ns,
        name,
        &format!("/nodes/{}/log?offset={offset}", encode(node)),
    );
    if let Some(a) = attempt {
        path.push_str(&format!("&attempt={a}"));
    }
    path
}

fn print(prefix: Option<&str>, data: &[u8], partial: &mut String) -> Result<(), Failure> {
    let text = String::from_utf8_lossy(data);
    match prefix {
        None => emit(&text),
        Some(p) => {
            partial.push_str(&text);
            let mut out = String::new();
            while let Some(i) = partial.find('\n') {
                out.push_str(&format!("[{p}] {}\n", &partial[..i]));
                partial.drain(..=i);
            }
            emit(&out)
        }
    }
}

fn finished(client: &Client, ns: &str, name: &str) -> Result<bool, Failure> {
    let e = client
        .get(&execution_path(ns, name, ""))
        .map_err(server_error)?;
    Ok(matches!(
        e["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed" | "Cancelled")
    ))
}

/// The nodes that have an attempt, with their latest attempt number.
fn nodes_with_attempts(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<BTreeMap<String, u32>, Failure> {
    let mut nodes = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = execution_path(ns, name, "/nodes?limit=2000");
        if let Some(a) = &after {
            path.push_str(&format!("&continue={}", encode(a)));
        }
        let page = client.get(&path).map_err(server_error)?;
        for item in page["items"].as_array().into_iter().flatten() {
            if let (Some(node), Some(attempt)) = (item["node"].as_str(), item["attempt"].as_u64()) {
                nodes.insert(node.to_owned(), u32::try_from(attempt).unwrap_or(u32::MAX));
            }
        }
        match page["metadata"]["continue"].as_str() {
            Some(c) => after = Some(c.to_owned()),
            None => return Ok(nodes),
        }
    }
}

/// The child Executions of `name`'s `Plan` nodes (sub-plans), as (node, child), by label.
fn children_of(client: &Client, ns: &str, name: &str) -> Vec<(String, String)> {
    let path = format!(
        "/apis/planspec.io/v1alpha1/namespaces/{}/executions?labelSelector={}",
        encode(ns),
        encode(&format!("planspec.io/parent-execution={name}"))
    );
    let Ok(list) = client.get(&path) else {
        return Vec::new();
    };
    let mut children: Vec<(String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let node = e["metadata"]["labels"]["planspec.io/parent-node"].as_str()?;
            let child = e["metadata"]["name"].as_str()?;
            Some((node.to_owned(), child.to_owned()))
        })
        .collect();
    children.sort();
    children
}

/// Where the logs of a sub-plan's node are: its child Execution's.
fn child_hint(node: &str, child: &str) -> String {
    format!("node {node} runs as execution/{child}: `planspec logs execution/{child}`")
}

/// Runs of more nodes than this show, without `--node`, the logs of their failed nodes only.
pub const LOGS_ALL_NODES: u64 = 200;
/// How many failed nodes' logs a large run shows.
pub const LOGS_FAILED_NODES: usize = 20;

/// For a run of more than [`LOGS_ALL_NODES`] nodes: its first failed nodes (one filtered page
/// of node records), after a note on stderr (once). `None` for a smaller run: every node.
fn failed_nodes_of_large_run(
    client: &Client,
    ns: &str,
    name: &str,
    noted: &mut bool,
) -> Result<Option<Vec<String>>, Failure> {
    let object = client
        .get(&execution_path(ns, name, ""))
        .map_err(server_error)?;
    let total = object["status"]["extensions"]["progress"]["total"]
        .as_u64()
        .unwrap_or(0);
    if total <= LOGS_ALL_NODES {
        return Ok(None);
    }
    let failed = super::nodes::Filter {
        phase: Some("Failed"),
        matrix: None,
    };
    let (items, _) = super::nodes::fetch(client, ns, name, failed, LOGS_FAILED_NODES, None)?;
    if !*noted {
        *noted = true;
        crate::error::emit_err(&format!(
            "execution/{name} has {total} nodes: showing the logs of its first {} failed node(s); `--node NODE` shows any node's\n",
            items.len()
        ));
    }
    Ok(Some(
        items
            .iter()
            .filter_map(|n| n["node"].as_str().map(str::to_owned))
            .collect(),
    ))
}

/// `planspec logs`.
pub fn run(args: &LogsArgs) -> Outcome {
    let name = name_of("logs", &args.execution, EXECUTION_KINDS)?;
    let ns = args.client.ns();
    let client = super::resources::connect(&args.client);
    // Which nodes to show, and where each stands.
    let mut cursors: BTreeMap<String, Cursor> = BTreeMap::new();
    let mut partial: BTreeMap<String, String> = BTreeMap::new();
    let prefixed = args.node.is_none();
    let mut noted = false;
    loop {
        let wanted: Vec<(String, Option<u32>)> = match &args.node {
            Some(node) => vec![(node.clone(), args.attempt)],
            None => match failed_nodes_of_large_run(&client, ns, name, &mut noted)? {
                Some(failed) => failed.into_iter().map(|n| (n, None)).collect(),
                None => nodes_with_attempts(&client, ns, name)?
                    .into_keys()
                    .map(|n| (n, None))
                    .collect(),
            },
        };
        // Read before checking for the end, so nothing written before the end is missed.
        let done = !args.follow || finished(&client, ns, name)?;
        for (node, attempt) in wanted {
            loop {
                let cursor = cursors.get(&node).copied();
                // A closed log of an older attempt: look for a newer one (retries).
                let (ask_attempt, offset) = match (attempt, cursor) {
                    (Some(a), Some(c)) => (Some(a), c.offset),
                    (Some(a), None) => (Some(a), 0),
                    (None, Some(c)) if !c.complete => (Some(c.attempt), c.offset),
                    (None, _) => (None, 0),
                };
                let Some(chunk) = read(&client, &log_path(ns, name, &node, ask_attempt, offset))?
                else {
                    if args.node.is_some() && !args.follow {
                        if let Some((_, child)) = children_of(&client, ns, name)
                            .into_iter()
                            .rev()
                            .find(|(n, _)| *n == node)
                        {
                            return Err(Failure::Message(format!(
                                "error: node {node} of execution {name} has no log: {}",
                                child_hint(&node, &child)
                            )));
                        }
                        return Err(Failure::Message(format!(
                            "error: node {node} of execution {name} has no log{}",
                            attempt
                                .map(|a| format!(" for attempt {a}"))
                                .unwrap_or_default()
                        )));
                    }
                    break;
                };
                if ask_attempt.is_none() {
                    if let Some(c) = cursor {
                        if chunk.attempt == c.attempt {
                            break; // nothing newer than the closed attempt
                        }
                    }
                    if prefixed && chunk.attempt > 1 {
                        emit(&format!("[{node}] --- attempt {} ---\n", chunk.attempt))?;
                    }
                }
                let buffer = partial.entry(node.clone()).or_default();
                print(prefixed.then_some(node.as_str()), &chunk.data, buffer)?;
                let more = !chunk.data.is_empty() && !chunk.complete;
                cursors.insert(
                    node.clone(),
                    Cursor {
                        attempt: chunk.attempt,
                        offset: chunk.offset,
                        complete: chunk.complete,
                    },
                );
                if !more {
                    break;
                }
            }
        }
        if done {
            break;
        }
        std::thread::sleep(POLL);
    }
    for (node, rest) in partial {
        if !rest.is_empty() {
            emit(&format!("[{node}] {rest}\n"))?;
        }
    }
    if args.node.is_none() {
        for (node, child) in children_of(&client, ns, name) {
            crate::error::emit_err(&format!("{}\n", child_hint(&node, &child)));
        }
    }
    Ok(Exit::Success)
}
