//! `planspec policy explain execution/NAME [--node N]`: why each Task got its verdict.
//!
//! Computed on the client from the journal: its first entry pins the Policies (with their
//! resourceVersions) and the provider facts the run is judged by; the engine folds the journal
//! and evaluates every rule again for each Task (inputs resolved from the upstream outputs the
//! run produced). Each rule is shown as matched, not matched or failed, then the combined
//! verdict, what the built-in rules changed, and the verdict the journal recorded.

use clap::{Args, Subcommand};
use planspec_engine::evidence::load_journal;
use planspec_engine::policy::{risk_str, verdict_str, Evaluation, RuleOutcome, VerdictSource};
use planspec_engine::ExecKind;
use serde_json::{json, Value};

use crate::cli::ClientArgs;
use crate::error::{emit, usage, Exit, Failure, Outcome};

use super::ops::{name_of, EXECUTION_KINDS};
use super::resources::connect;
use super::trace::journal;

/// `planspec policy`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// `planspec policy …`.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Show each policy rule's evaluation for each Task of an Execution, and the verdict.
    Explain(ExplainArgs),
}

/// `planspec policy explain`.
#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// Only this node.
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Output format: `text` or `json`.
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "text")]
    pub output: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec policy`.
pub fn run(args: &PolicyArgs) -> Outcome {
    match &args.command {
        PolicyCommand::Explain(a) => explain(a),
    }
}

fn explain(args: &ExplainArgs) -> Outcome {
    let name = name_of("policy explain", &args.execution, EXECUTION_KINDS)?;
    if args.output != "text" && args.output != "json" {
        return Err(usage(
            "policy explain",
            format!("-o must be text or json, not `{}`", args.output),
        ));
    }
    let client = connect(&args.client);
    let entries = journal(&client, args.client.ns(), name)?;
    let exec = load_journal(&entries)
        .map_err(|e| Failure::Message(format!("error: execution/{name}: {e}")))?;
    if exec.state().governance.is_none() {
        return Err(Failure::Message(format!(
            "error: execution/{name} was started without pinned policies (before governance); nothing to explain"
        )));
    }
    let graph = exec.graph().clone();
    let tasks: Vec<String> = graph
        .order()
        .iter()
        .map(|&i| &graph.nodes()[i])
        .filter(|n| matches!(n.kind, ExecKind::Task(_)))
        .map(|n| n.id.to_string())
        .collect();
    let wanted: Vec<String> = match &args.node {
        Some(n) if tasks.contains(n) => vec![n.clone()],
        Some(n) => {
            return Err(Failure::Message(format!(
                "error: execution/{name} has no Task node `{n}`"
            )))
        }
        None => tasks,
    };
    let mut report = Vec::new();
    for node in &wanted {
        let Some(evaluation) = exec.explain(node) else {
            continue;
        };
        let journaled = entries
            .iter()
            .rev()
            .find(|e| e["type"] == "NodeVerdict" && e["node"] == node.as_str())
            .cloned();
        report.push((node.clone(), evaluation, journaled));
    }
    if args.output == "json" {
        let items: Vec<Value> = report
            .iter()
            .map(|(node, e, j)| json!({"node": node, "evaluation": e, "journaled": j}))
            .collect();
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"execution": name, "nodes": items}))
                .unwrap_or_default()
        ))?;
        return Ok(Exit::Success);
    }
    let mut out = String::new();
    if let Some(g) = &exec.state().governance {
        let policies: Vec<String> = g
            .policies
            .iter()
            .map(|p| {
                format!(
                    "{}@{}",
                    p.name,
                    p.resource_version.as_deref().unwrap_or("?")
                )
            })
            .collect();
        out.push_str(&format!(
            "execution/{name}: policies {} (server default {})\n",
            if policies.is_empty() {
                "none".to_string()
            } else {
                policies.join(", ")
            },
            verdict_str(g.default_verdict)
        ));
    }
    for (node, e, journaled) in &report {
        out.push_str(&render_node(node, e, journaled.as_ref()));
    }
    emit(&out)?;
    Ok(Exit::Success)
}

fn render_node(node: &str, e: &Evaluation, journaled: Option<&Value>) -> String {
    let mut out = format!(
        "\nnode {node}: {} (risk {})\n",
        verdict_str(e.verdict),
        risk_str(e.risk)
    );
    if e.rules.is_empty() {
        out.push_str("  no rules\n");
    }
    for r in &e.rules {
        let (mark, detail) = match &r.outcome {
            RuleOutcome::Matched => ("matched", format!("→ {}", verdict_str(r.verdict))),
            RuleOutcome::NotMatched => ("not matched", String::new()),
            RuleOutcome::Error { message } => (
                "error",
                format!(
                    "→ counts as {} ({message})",
                    verdict_str(r.verdict.max(planspec_model::policy::PolicyVerdict::Assist))
                ),
            ),
        };
        out.push_str(&format!(
            "  {:<11} {}/{}  when {}  {}\n",
            mark, r.policy, r.rule, r.when, detail
        ));
    }
    let how = match e.source {
        VerdictSource::Rule => "from the rules (any deny wins, then assist, then allow)",
        VerdictSource::NamespaceDefault => "no rule matched: the namespace default",
        VerdictSource::ServerDefault => "no rule matched: the server default",
        VerdictSource::Builtin => "a built-in rule made it stricter",
    };
    out.push_str(&format!(
        "  combined: policies {} → {} ({how}): {} — {}\n",
        verdict_str(e.policy_verdict),
        verdict_str(e.verdict),
        e.reason,
        e.message
    ));
    match journaled {
        Some(j) => {
            let v = j["verdict"].as_str().unwrap_or("?");
            let same = v == verdict_str(e.verdict);
            out.push_str(&format!(
                "  journaled: {v} ({}){}\n",
                j["reason"].as_str().unwrap_or(""),
                if same { "" } else { "  ≠ re-evaluated" }
            ));
        }
        None => out.push_str("  journaled: not yet (the node was not ready)\n"),
    }
    out
}
