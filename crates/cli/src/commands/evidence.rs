//! `planspec replay` and `planspec export`: proving what a run did.
//!
//! * `replay execution/NAME` reads the journal from the server and re-derives it with the
//!   engine from what it pinned (`planspec_engine::evidence::check_journal`): the pinned Plan
//!   must compile to the journaled digest, every decision — policy verdicts re-evaluated
//!   against the pinned Policy versions — must come out identical, and the state must match
//!   the Execution's status. Exit 0 when everything agrees, 1 with a report of each
//!   difference (entry index, field, journaled and derived values) when not.
//! * `replay --bundle FILE` does the same offline from an evidence bundle, after checking
//!   every part's SHA-256 against the bundle's manifest.
//! * `export execution/NAME [-o FILE]` writes the bundle: the Execution, the pinned plan, goal,
//!   graph (digest and canonical form), providers and policies, the journal, and the audit
//!   records about the run when the server keeps an audit log, with a manifest of hashes.
//! * `export execution/NAME --artifacts DIR` writes the run artifacts instead
//!   ([`super::artifacts`]).

use clap::Args;
use planspec_engine::evidence::{check_journal, Bundle, JournalReport};
use serde_json::{json, Value};

use crate::cli::ClientArgs;
use crate::client::{encode, Client};
use crate::error::{emit, usage, Exit, Failure, Outcome};

use super::ops::{execution_path, name_of, EXECUTION_KINDS};
use super::resources::{connect, server_error};
use super::trace::journal;

/// Audit records read per request.
const AUDIT_PAGE: usize = 1000;

/// `planspec replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The Execution: `execution/NAME` or `NAME` (not with `--bundle`).
    #[arg(value_name = "EXECUTION", required_unless_present = "bundle")]
    pub execution: Option<String>,
    /// Verify an evidence bundle written by `planspec export`, offline.
    #[arg(long, value_name = "FILE", conflicts_with = "execution")]
    pub bundle: Option<std::path::PathBuf>,
    /// Output format: `text` (a report) or `json`.
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "text")]
    pub output: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// Write the bundle to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Write the run artifacts into this directory instead (`expanded_graph.json`,
    /// `expansion_manifest.json`, `attempts.jsonl`; see docs/artifacts.md). With `-o`, the
    /// bundle is written too.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec replay`.
pub fn replay(args: &ReplayArgs) -> Outcome {
    if args.output != "text" && args.output != "json" {
        return Err(usage(
            "replay",
            format!("-o must be text or json, not `{}`", args.output),
        ));
    }
    let (subject, report) = match &args.bundle {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Message(format!("error: cannot read {}: {e}", path.display()))
            })?;
            let bundle: Bundle = serde_json::from_str(&text).map_err(|e| {
                Failure::Message(format!(
                    "error: {} is not an evidence bundle: {e}",
                    path.display()
                ))
            })?;
            let subject = format!(
                "bundle {} (execution {}/{}, manifest {})",
                path.display(),
                bundle.execution.namespace,
                bundle.execution.name,
                bundle.manifest.digest
            );
            (subject, bundle.verify())
        }
        None => {
            let text = args.execution.as_deref().unwrap_or_default();
            let name = name_of("replay", text, EXECUTION_KINDS)?;
            let client = connect(&args.client);
            let ns = args.client.ns();
            let object = client
                .get(&execution_path(ns, name, ""))
                .map_err(server_error)?;
            let entries = journal(&client, ns, name)?;
            let mut report = check_journal(&entries);
            compare_status(&mut report, &object);
            (format!("execution/{name}"), report)
        }
    };
    if args.output == "json" {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"subject": subject, "agrees": report.agrees(), "report": without_state(&report)}))
                .unwrap_or_default()
        ))?;
    } else {
        emit(&render(&subject, &report))?;
    }
    Ok(if report.agrees() {
        Exit::Success
    } else {
        Exit::Invalid
    })
}

/// The report without the (large) replayed state.
fn without_state(report: &JournalReport) -> Value {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("state");
    }
    v
}

/// Adds a problem when the Execution's status shows another phase than the replayed state.
fn compare_status(report: &mut JournalReport, object: &Value) {
    if report.state.is_none() {
        return;
    }
    let status_phase = object["status"]["phase"].as_str();
    let replayed = report.phase.map(|p| {
        serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    });
    // A run waiting on people shows `Blocked`, which the engine counts as running.
    let same = match (status_phase, replayed.as_deref()) {
        (Some("Blocked"), Some("Running")) => true,
        (a, b) => a == b,
    };
    if !same {
        report.problems.push(planspec_engine::evidence::Problem {
            index: None,
            detail: "the Execution's status shows another phase than the journal gives".into(),
            journaled: replayed.map(Value::String),
            derived: status_phase.map(|s| Value::String(s.to_owned())),
            differences: Vec::new(),
        });
    }
}

/// The human report.
fn render(subject: &str, report: &JournalReport) -> String {
    let mut out = String::new();
    let phase = report
        .phase
        .and_then(|p| serde_json::to_value(p).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    out.push_str(&format!("replay of {subject}\n"));
    out.push_str(&format!(
        "  {} journal entries: {} inputs, {} decisions ({} policy verdicts)\n",
        report.entries, report.inputs, report.decisions, report.verdicts
    ));
    if let Some(d) = &report.graph_digest {
        let same = report.compiled_digest.as_deref() == Some(d.as_str());
        out.push_str(&format!(
            "  graph {d}{}\n",
            if same {
                " (the pinned plan compiles to it)"
            } else {
                ""
            }
        ));
    }
    if !report.policies.is_empty() {
        out.push_str(&format!("  policies {}\n", report.policies.join(", ")));
    }
    if report.agrees() {
        out.push_str(&format!(
            "agrees: every decision and the final state ({phase}) are what the engine derives\n"
        ));
        return out;
    }
    out.push_str(&format!("DIVERGES: {} problem(s)\n", report.problems.len()));
    for p in &report.problems {
        match p.index {
            Some(i) => out.push_str(&format!("  entry {i}: {}\n", p.detail)),
            None => out.push_str(&format!("  {}\n", p.detail)),
        }
        for d in &p.differences {
            let show =
                |v: &Option<Value>| v.as_ref().map_or("(absent)".to_string(), Value::to_string);
            out.push_str(&format!(
                "    {}: journaled {}, derived {}\n",
                if d.path.is_empty() {
                    "(whole entry)"
                } else {
                    &d.path
                },
                show(&d.left),
                show(&d.right)
            ));
        }
        if p.differences.is_empty() {
            if let Some(j) = &p.journaled {
                out.push_str(&format!("    journaled {j}\n"));
            }
            if let Some(d) = &p.derived {
                out.push_str(&format!("    derived   {d}\n"));
            }
        }
    }
    out
}

/// `planspec export`.
pub fn export(args: &ExportArgs) -> Outcome {
    let name = name_of("export", &args.execution, EXECUTION_KINDS)?;
    let client = connect(&args.client);
    let ns = args.client.ns();
    let object = client
        .get(&execution_path(ns, name, ""))
        .map_err(server_error)?;
    let entries = journal(&client, ns, name)?;
    if let Some(dir) = &args.artifacts {
        let written = super::artifacts::write(dir, name, &entries)?;
        emit(&format!(
            "wrote {} (execution/{name}: {} nodes, {} attempt records)\n",
            dir.display(),
            written.nodes,
            written.attempts
        ))?;
        if args.file.is_none() {
            return Ok(Exit::Success);
        }
    }
    let audit = audit_slice(&client, ns, name);
    let bundle = Bundle::assemble(object, entries, audit)
        .map_err(|e| Failure::Message(format!("error: execution/{name}: {e}")))?;
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&bundle).unwrap_or_default()
    );
    match &args.file {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| {
                Failure::Message(format!("error: cannot write {}: {e}", path.display()))
            })?;
            emit(&format!(
                "wrote {} (execution/{name}, {} journal entries, manifest {})\n",
                path.display(),
                bundle.parts["journal"].as_array().map_or(0, Vec::len),
                bundle.manifest.digest
            ))?;
        }
        None => emit(&text)?,
    }
    Ok(Exit::Success)
}

/// The audit records about the Execution and its Gates (`<name>-…`), or `None` when the
/// server has no audit log (or does not let us read it).
fn audit_slice(client: &Client, ns: &str, name: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    let mut cont: Option<String> = None;
    loop {
        let mut path = format!(
            "/apis/planspec.io/v1alpha1/auditrecords?namespace={}&limit={AUDIT_PAGE}",
            encode(ns)
        );
        if let Some(c) = &cont {
            path.push_str(&format!("&continue={}", encode(c)));
        }
        let page = client.get(&path).ok()?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        for item in &items {
            // Records carry their entry's fields at the top level (older shapes nest them).
            let resource = if item["resource"].is_object() {
                &item["resource"]
            } else {
                &item["entry"]["resource"]
            };
            let kind = resource["resource"].as_str().unwrap_or_default();
            let object = resource["name"].as_str().unwrap_or_default();
            let about_run = (kind == "executions" && object == name)
                || (kind == "gates" && object.starts_with(&format!("{name}-")));
            if about_run {
                out.push(item.clone());
            }
        }
        match page["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() && !items.is_empty() => cont = Some(c.to_owned()),
            _ => return Some(out),
        }
    }
}
