//! `planspec trace execution/NAME`: the journal as a readable timeline of stages.
//!
//! It opens with the stages before the journal: **received** (when the API server stored the
//! Execution, and who created it) and **compiled** (the graph digest the run executes, the
//! Policy versions it is judged by). Then each line is one journal entry: the time since the
//! run started, its stage (`started`, `verdict`, `blocked`, `approved`, `rejected`,
//! `dispatched`, `completed`, `cancelled`, `finished` …), `>` for an input (a fact from the
//! world: a result, a timer, a review, a request and who made it) or a blank for a decision
//! the engine derived from it, the entry's type, the node, and what matters about it — with
//! the actor (`by …`) wherever the journal knows one. `-o json` prints the entries as the
//! server keeps them. A journal of more than 1,000 entries (a large run) shows its first and
//! last 500 entries — two requests — unless `--all` or `--node` asks for more.

use clap::Args;
use serde_json::Value;

use crate::cli::ClientArgs;
use crate::client::Client;
use crate::error::{emit, Exit, Outcome};

use super::ops::{execution_path, name_of, EXECUTION_KINDS};
use super::resources::server_error;

/// Entries read per request.
const PAGE: usize = 2000;

/// `planspec trace`.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// Only entries about this node.
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Output format: `text` (a timeline) or `json` (one entry per line).
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "text")]
    pub output: String,
    /// Show every entry of a long journal (by default the timeline of a journal of more than
    /// 1,000 entries shows its first and last 500).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Entries the timeline shows from each end of a long journal (without `--all` or `--node`).
pub const TRACE_ENDS: usize = 500;

/// One window of the journal: up to `limit` entries from `from`, and the journal's length.
fn journal_window(
    client: &Client,
    ns: &str,
    name: &str,
    from: u64,
    limit: usize,
) -> Result<(Vec<Value>, u64), crate::error::Failure> {
    let page = client
        .get(&execution_path(
            ns,
            name,
            &format!("/journal?from={from}&limit={limit}&brief=true"),
        ))
        .map_err(server_error)?;
    let items: Vec<Value> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["entry"].clone())
        .collect();
    let total = page["metadata"]["total"]
        .as_u64()
        .unwrap_or(from + items.len() as u64);
    Ok((items, total))
}

/// The two ends of a long journal.
struct Ends {
    head: Vec<Value>,
    total: u64,
    tail: Vec<Value>,
}

/// The timeline of a long journal from its two ends: two requests, whatever its length.
/// `None` when the journal is short enough to show whole.
fn summarised(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Option<Ends>, crate::error::Failure> {
    let (head, total) = journal_window(client, ns, name, 0, TRACE_ENDS)?;
    if total <= 2 * TRACE_ENDS as u64 {
        return Ok(None);
    }
    let tail_from = total - TRACE_ENDS as u64;
    let (tail, _) = journal_window(client, ns, name, tail_from, TRACE_ENDS)?;
    Ok(Some(Ends { head, total, tail }))
}

/// Reads the whole journal, page by page.
pub fn journal(client: &Client, ns: &str, name: &str) -> Result<Vec<Value>, crate::error::Failure> {
    let mut entries = Vec::new();
    let mut from = 0u64;
    loop {
        let page = client
            .get(&execution_path(
                ns,
                name,
                &format!("/journal?from={from}&limit={PAGE}"),
            ))
            .map_err(server_error)?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        for item in &items {
            entries.push(item["entry"].clone());
        }
        match page["metadata"]["continue"]
            .as_str()
            .and_then(|c| c.parse().ok())
        {
            Some(next) if !items.is_empty() => from = next,
            _ => return Ok(entries),
        }
    }
}

/// `planspec trace`.
pub fn run(args: &TraceArgs) -> Outcome {
    let name = name_of("trace", &args.execution, EXECUTION_KINDS)?;
    if args.output != "text" && args.output != "json" {
        return Err(crate::error::usage(
            "trace",
            format!("-o must be text or json, not `{}`", args.output),
        ));
    }
    let client = super::resources::connect(&args.client);
    if args.output == "text" && args.node.is_none() && !args.all {
        if let Some(Ends { head, total, tail }) = summarised(&client, args.client.ns(), name)? {
            let start = head.first().and_then(|e| e["at"].as_u64()).unwrap_or(0);
            let mut out = format!(
                "execution/{name}  started {}  ({total} journal entries)\n",
                planspec_engine::timestamp(start)
            );
            let object = client.get(&execution_path(args.client.ns(), name, "")).ok();
            out.push_str(&preamble(object.as_ref(), head.first()));
            for e in &head {
                out.push_str(&line(e, start));
                out.push('\n');
            }
            out.push_str(&format!(
                "{:>10}  … {} more entries not shown (`--all` shows every one, `--node NODE` one node's)\n",
                "",
                total - (head.len() + tail.len()) as u64
            ));
            for e in &tail {
                out.push_str(&line(e, start));
                out.push('\n');
            }
            emit(&out)?;
            return Ok(Exit::Success);
        }
    }
    let entries = journal(&client, args.client.ns(), name)?;
    let wanted = |e: &Value| {
        args.node
            .as_deref()
            .is_none_or(|n| e["node"].as_str() == Some(n))
    };
    let mut out = String::new();
    if args.output == "json" {
        for e in entries.iter().filter(|e| wanted(e)) {
            out.push_str(&e.to_string());
            out.push('\n');
        }
        emit(&out)?;
        return Ok(Exit::Success);
    }
    let start = entries.first().and_then(|e| e["at"].as_u64()).unwrap_or(0);
    if let Some(first) = entries.first() {
        out.push_str(&format!(
            "execution/{name}  started {}  ({} journal entries)\n",
            first["at"]
                .as_u64()
                .map(|ms| planspec_engine::timestamp(ms).to_string())
                .unwrap_or_default(),
            entries.len()
        ));
    }
    if args.node.is_none() {
        let object = client.get(&execution_path(args.client.ns(), name, "")).ok();
        out.push_str(&preamble(object.as_ref(), entries.first()));
    }
    for e in entries.iter().filter(|e| wanted(e)) {
        out.push_str(&line(e, start));
        out.push('\n');
    }
    emit(&out)?;
    Ok(Exit::Success)
}

/// One timeline line.
pub fn line(e: &Value, start: u64) -> String {
    let at = e["at"].as_u64().unwrap_or(start).saturating_sub(start);
    let kind = e["type"].as_str().unwrap_or("?");
    let input = matches!(
        kind,
        "ExecutionStarted"
            | "NodeResult"
            | "CriteriaResult"
            | "GateResolved"
            | "ExternalCompleted"
            | "TimerFired"
            | "CancelRequested"
            | "RetryRequested"
            | "ChildFinished"
            | "PlaceholderValue"
    );
    let node = e["node"].as_str().unwrap_or("");
    format!(
        "{:>10}  {:<10} {} {:<20} {:<16} {}",
        format!("+{}.{:03}s", at / 1000, at % 1000),
        stage(e),
        if input { '>' } else { ' ' },
        kind,
        node,
        detail(e)
    )
}

/// The stage an entry marks.
fn stage(e: &Value) -> &'static str {
    match e["type"].as_str().unwrap_or("") {
        "ExecutionStarted" | "ExecutionRunning" => "started",
        "NodeVerdict" => match e["verdict"].as_str() {
            Some("assist") => "blocked",
            Some("deny") => "denied",
            _ => "verdict",
        },
        "GateOpened" => "blocked",
        // A Placeholder waits for a source; for a person it is blocked.
        "PlaceholderWaiting" => match e["source"].as_str() {
            Some("person") => "blocked",
            _ => "dispatched",
        },
        "PlaceholderValue" => "result",
        "GateResolved" => {
            if e["approved"] == true {
                "approved"
            } else {
                "rejected"
            }
        }
        "NodeApproved" => "approved",
        "NodeStarted" => "dispatched",
        "NodeResult" | "ExternalCompleted" | "CriteriaResult" | "CriteriaRequested"
        | "CostRecorded" | "ChildFinished" => "result",
        "NodeSucceeded" | "NodeFailed" | "NodeSkipped" => "completed",
        "NodeCancelled" | "CancelRequested" | "CancelAccepted" => "cancelled",
        "RetryRequested" | "ExecutionRetried" | "RetryScheduled" => "retry",
        "ExecutionCompleted" => "finished",
        "NodeReady" => "ready",
        "TimerFired" => "timer",
        "LeaseRequested" => "blocked",
        "LeaseAcquired" | "LeaseGranted" => "lease",
        _ => "",
    }
}

/// The stages before the journal: received (stored by the API server, by whom) and compiled
/// (the graph the run executes, the Policy versions it is judged by).
fn preamble(object: Option<&Value>, first: Option<&Value>) -> String {
    let mut out = String::new();
    if let Some(o) = object {
        let created = o["metadata"]["creationTimestamp"].as_str().unwrap_or("?");
        let by = o["metadata"]["annotations"][planspec_model::actor::CREATED_BY_ANNOTATION]
            .as_str()
            .unwrap_or("unknown");
        out.push_str(&format!(
            "{:>10}  {:<10}   {:<20} {:<16} at {created}  by {by}\n",
            "", "received", "Execution", ""
        ));
    }
    let Some(f) = first else {
        return out;
    };
    let Some(d) = f["graphDigest"].as_str() else {
        return out;
    };
    let plan = f["pinned"]["plan"]["metadata"]["name"]
        .as_str()
        .unwrap_or("?");
    let version = f["pinned"]["plan"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("?");
    let mut line = format!(
        "{:>10}  {:<10}   {:<20} {:<16} plan {plan}@{version} → graph {}",
        "",
        "compiled",
        "Plan",
        "",
        short(d)
    );
    if let Some(ps) = f["governance"]["policies"].as_array() {
        let names: Vec<String> = ps
            .iter()
            .map(|p| {
                format!(
                    "{}@{}",
                    p["name"].as_str().unwrap_or("?"),
                    p["resourceVersion"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if names.is_empty() {
            line.push_str("  no policies");
        } else {
            line.push_str(&format!("  policies {}", names.join(", ")));
        }
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn detail(e: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(a) = e["attempt"].as_u64() {
        parts.push(format!("attempt {a}"));
    }
    match e["type"].as_str().unwrap_or("") {
        "ExecutionStarted" => {
            let plan = e["pinned"]["plan"]["metadata"]["name"]
                .as_str()
                .unwrap_or("?");
            let spec = &e["pinned"]["plan"]["spec"];
            let brief = &e["pinned"]["brief"];
            let nodes = spec["graph"]["nodes"]
                .as_array()
                .or_else(|| spec["steps"].as_array())
                .map(Vec::len)
                .or_else(|| brief["planNodes"].as_u64().map(|n| n as usize))
                .unwrap_or(0);
            parts.push(format!("plan {plan}, {nodes} nodes"));
            if let Some(uris) = brief["providerUris"].as_array() {
                let uris: Vec<&str> = uris.iter().filter_map(Value::as_str).collect();
                if !uris.is_empty() {
                    parts.push(format!("providers {}", uris.join(", ")));
                }
            }
            if let Some(providers) = e["pinned"]["providers"].as_object() {
                let mut uris: Vec<&str> = providers
                    .values()
                    .filter_map(|p| p["uri"].as_str())
                    .collect();
                uris.sort();
                uris.dedup();
                if !uris.is_empty() {
                    parts.push(format!("providers {}", uris.join(", ")));
                }
            }
            if let Some(d) = e["graphDigest"].as_str() {
                parts.push(format!("graph {}", short(d)));
            }
            if let Some(by) = e["creator"]["username"].as_str() {
                parts.push(format!("by {by}"));
            }
        }
        "NodeVerdict" => {
            parts.push(format!(
                "{} (risk {})",
                e["verdict"].as_str().unwrap_or("?"),
                e["risk"].as_str().unwrap_or("?")
            ));
            let rules: Vec<String> = e["matched"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{}/{}",
                        r["policy"].as_str().unwrap_or("?"),
                        r["rule"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            if !rules.is_empty() {
                parts.push(format!("rules {}", rules.join(", ")));
            }
        }
        "NodeApproved" => {
            if let Some(by) = e["by"].as_str() {
                parts.push(format!("by {by}"));
            }
            if let Some(c) = e["comment"].as_str() {
                parts.push(format!("\"{c}\""));
            }
        }
        "CostRecorded" => parts.push(format!(
            "${} (total ${})",
            e["usd"].as_f64().unwrap_or(0.0),
            e["totalUsd"].as_f64().unwrap_or(0.0)
        )),
        "NodeStarted" => {
            if let Some(k) = e["idempotencyKey"].as_str() {
                parts.push(format!("key {k}"));
            }
        }
        "LeaseRequested" => parts.push(format!(
            "waits for lease {} (limit {})",
            e["key"].as_str().unwrap_or("?"),
            e["limit"].as_u64().unwrap_or(1)
        )),
        "LeaseAcquired" | "LeaseGranted" => {
            parts.push(format!(
                "lease {} slot {} token {}",
                e["key"].as_str().unwrap_or("?"),
                e["slot"].as_u64().unwrap_or(0),
                e["token"].as_u64().unwrap_or(0)
            ));
            let holder: Option<Value> = e["holder"]
                .as_str()
                .and_then(|h| serde_json::from_str(h).ok());
            if let Some(instance) = holder.as_ref().and_then(|h| h["instance"].as_str()) {
                parts.push(format!("by runtime {instance}"));
            }
        }
        "NodeResult" | "ExternalCompleted" => match e["outcome"]["status"].as_str() {
            Some("Succeeded") => {
                let keys: Vec<&str> = e["outcome"]["outputs"]
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                parts.push(if keys.is_empty() {
                    "succeeded".into()
                } else {
                    format!("succeeded, outputs {}", keys.join(", "))
                });
            }
            Some("Failed") => parts.push(format!(
                "failed: {} {}",
                e["outcome"]["reason"].as_str().unwrap_or(""),
                e["outcome"]["message"].as_str().unwrap_or("")
            )),
            _ => {}
        },
        "CriteriaResult" => {
            for v in e["verdicts"].as_array().into_iter().flatten() {
                parts.push(format!(
                    "{} {}",
                    v["name"].as_str().unwrap_or("?"),
                    if v["passed"] == true {
                        "passed"
                    } else {
                        "failed"
                    }
                ));
            }
        }
        "GateResolved" => {
            parts.push(if e["approved"] == true {
                "approved".into()
            } else {
                "rejected".into()
            });
            if let Some(by) = e["by"].as_str() {
                parts.push(format!("by {by}"));
            }
            if let Some(c) = e["comment"].as_str() {
                parts.push(format!("\"{c}\""));
            }
        }
        // A sub-plan's child: its own trace is `planspec trace execution/<child>`.
        "ChildFinished" => parts.push(format!(
            "execution/{} {}",
            e["child"].as_str().unwrap_or("?"),
            e["phase"].as_str().unwrap_or("?")
        )),
        "PlaceholderWaiting" => parts.push(format!(
            "waits for its {}",
            e["source"].as_str().unwrap_or("?")
        )),
        "PlaceholderValue" => {
            parts.push(format!("from the {}", e["source"].as_str().unwrap_or("?")));
            match e.get("value") {
                Some(v) => {
                    // A value may be large: its first 120 characters.
                    let text = v.to_string();
                    let mut short: String = text.chars().take(120).collect();
                    if short.len() < text.len() {
                        short.push('…');
                    }
                    parts.push(crate::term::escape_line(&short).into_owned())
                }
                None => parts.push("no value".into()),
            }
            if let Some(by) = e["by"].as_str() {
                parts.push(format!("by {by}"));
            }
        }
        "TimerFired" => parts.push(format!("timer {}", e["timer"].as_str().unwrap_or("?"))),
        "CancelRequested" => {
            parts.push(if e["force"] == true {
                "forced".into()
            } else {
                "graceful".into()
            });
            if let Some(by) = e["by"].as_str() {
                parts.push(format!("by {by}"));
            }
        }
        "RetryRequested" => {
            if let Some(from) = e["from"].as_str() {
                parts.push(format!("from {from}"));
            }
            if let Some(by) = e["by"].as_str() {
                parts.push(format!("by {by}"));
            }
        }
        "RetryScheduled" => {
            if let Some(due) = e["dueAt"].as_u64() {
                let wait = due.saturating_sub(e["at"].as_u64().unwrap_or(due));
                parts.push(format!("in {wait} ms"));
            }
        }
        _ => {}
    }
    for field in ["reason", "message"] {
        if let Some(v) = e[field].as_str().filter(|v| !v.is_empty()) {
            parts.push(v.to_owned());
        }
    }
    if let Some(p) = e["phase"].as_str() {
        parts.push(p.to_owned());
    }
    parts.join("  ")
}

fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => digest.chars().take(16).collect(),
    }
}
