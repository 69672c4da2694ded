//! Re-deriving a journal from its own pinned inputs.

use super::diff::{differences, Difference};
use crate::event::{Decision, Event, Input};
use crate::graph::ExecGraph;
use crate::machine::Execution;
use crate::replay::replay;
use crate::{compile, ids};
use planspec_model::execution::ExecutionPhase;
use planspec_model::{Goal, Plan};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Most field differences listed per problem.
const MAX_DIFFERENCES: usize = 20;

/// Something that does not agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The journal entry it is about, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// What is wrong.
    pub detail: String,
    /// The entry as journaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journaled: Option<Value>,
    /// The entry the engine derives instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived: Option<Value>,
    /// Field by field: `left` journaled, `right` derived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
}

impl Problem {
    pub(crate) fn at(index: Option<usize>, detail: impl Into<String>) -> Problem {
        Problem {
            index,
            detail: detail.into(),
            journaled: None,
            derived: None,
            differences: Vec::new(),
        }
    }
}

/// The outcome of [`check_journal`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalReport {
    /// Journal entries checked.
    pub entries: usize,
    /// Of which inputs.
    pub inputs: usize,
    /// Of which decisions.
    pub decisions: usize,
    /// Of which policy verdicts.
    pub verdicts: usize,
    /// The digest the journal names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_digest: Option<String>,
    /// The digest of the pinned Plan compiled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled_digest: Option<String>,
    /// The Policy versions the verdicts were checked against (`name@resourceVersion`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The execution's phase after the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ExecutionPhase>,
    /// The state after replaying (a snapshot, for comparing with what the server shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// Everything that does not agree; empty when the journal is exactly what the engine
    /// derives.
    pub problems: Vec<Problem>,
}

impl JournalReport {
    /// `true` when nothing disagrees.
    pub fn agrees(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a journal (entries as stored, in order) against the engine: the pinned Plan compiles
/// to the digest the journal names, every input leads to exactly the decisions journaled
/// after it, and folding the journal gives the state replaying it gives. Never panics on any
/// input; everything wrong is a [`Problem`].
pub fn check_journal(entries: &[Value]) -> JournalReport {
    let mut report = JournalReport {
        entries: entries.len(),
        inputs: 0,
        decisions: 0,
        verdicts: 0,
        graph_digest: None,
        compiled_digest: None,
        policies: Vec::new(),
        phase: None,
        state: None,
        problems: Vec::new(),
    };
    let mut journal = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match serde_json::from_value::<Event>(entry.clone()) {
            Ok(event) => {
                match &event {
                    Event::Input(_) => report.inputs += 1,
                    Event::Decision(d) => {
                        report.decisions += 1;
                        if matches!(d, Decision::NodeVerdict { .. }) {
                            report.verdicts += 1;
                        }
                    }
                }
                journal.push(event);
            }
            Err(e) => report.problems.push(Problem::at(
                Some(i),
                format!("the entry does not parse: {e}"),
            )),
        }
    }
    if !report.problems.is_empty() {
        return report;
    }
    if journal.is_empty() {
        report.problems.push(Problem::at(
            None,
            "the journal is empty (the Execution never started)",
        ));
        return report;
    }
    let Some(Event::Input(Input::ExecutionStarted {
        graph_digest,
        pinned,
        governance,
        ..
    })) = journal.first()
    else {
        report.problems.push(Problem::at(
            Some(0),
            "the journal does not begin with ExecutionStarted",
        ));
        return report;
    };
    report.graph_digest = Some(graph_digest.clone());
    if let Some(g) = governance {
        report.policies = g
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
    }
    let graph = match graph_of(pinned) {
        Ok(g) => Arc::new(g),
        Err(detail) => {
            report.problems.push(Problem::at(Some(0), detail));
            return report;
        }
    };
    report.compiled_digest = Some(graph.digest().to_string());
    if graph.digest() != graph_digest {
        report.problems.push(Problem {
            differences: vec![Difference {
                path: "/graphDigest".into(),
                left: Some(Value::String(graph_digest.clone())),
                right: Some(Value::String(graph.digest().to_string())),
            }],
            ..Problem::at(
                Some(0),
                "the pinned plan compiles to another graph than the journal names",
            )
        });
        return report;
    }
    let replayed = match replay(graph.clone(), &journal) {
        Ok(exec) => exec,
        Err(d) => {
            let journaled = d.journaled.as_deref().map(to_value);
            let derived = d.derived.as_deref().map(to_value);
            let diffs = match (&journaled, &derived) {
                (Some(a), Some(b)) => differences(a, b, MAX_DIFFERENCES),
                _ => Vec::new(),
            };
            report.problems.push(Problem {
                index: Some(d.index),
                detail: d.detail,
                journaled,
                derived,
                differences: diffs,
            });
            return report;
        }
    };
    match Execution::fold(graph, &journal) {
        Ok(folded) if folded == replayed => {}
        Ok(folded) => {
            let a = serde_json::to_value(folded.snapshot().state).unwrap_or(Value::Null);
            let b = serde_json::to_value(replayed.snapshot().state).unwrap_or(Value::Null);
            report.problems.push(Problem {
                differences: differences(&a, &b, MAX_DIFFERENCES),
                ..Problem::at(
                    None,
                    "folding the journal gives another state than replaying it",
                )
            });
        }
        Err(e) => report
            .problems
            .push(Problem::at(None, format!("the journal does not fold: {e}"))),
    }
    report.phase = Some(replayed.phase());
    report.state = serde_json::to_value(replayed.snapshot().state).ok();
    report
}

fn to_value(event: &Event) -> Value {
    serde_json::to_value(event).unwrap_or(Value::Null)
}

/// Compiles the graph a journal's `pinned` record names (`{plan, goal}`).
pub(crate) fn graph_of(pinned: &Value) -> Result<ExecGraph, String> {
    let plan: Plan = serde_json::from_value(pinned.get("plan").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("the pinned plan does not parse: {e}"))?;
    let goal: Option<Goal> = match pinned.get("goal") {
        None | Some(Value::Null) => None,
        Some(g) => Some(
            serde_json::from_value(g.clone())
                .map_err(|e| format!("the pinned goal does not parse: {e}"))?,
        ),
    };
    compile(&plan, goal.as_ref()).map_err(|e| format!("the pinned plan does not compile: {e}"))
}

/// `sha256:<hex>` of a value's canonical JSON.
pub(crate) fn digest_of(value: &Value) -> String {
    ids::sha256_digest(ids::canonical_json(value).as_bytes())
}

/// Folds a journal (entries as stored) on the graph its pinned Plan compiles to: the state
/// `planspec policy explain` evaluates against.
pub fn load_journal(entries: &[Value]) -> Result<Execution, String> {
    let journal: Vec<Event> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::from_value(e.clone())
                .map_err(|err| format!("entry {i} does not parse: {err}"))
        })
        .collect::<Result<_, _>>()?;
    let Some(Event::Input(Input::ExecutionStarted { pinned, .. })) = journal.first() else {
        return Err("the journal does not begin with ExecutionStarted".into());
    };
    let graph = Arc::new(graph_of(pinned)?);
    Execution::fold(graph, &journal).map_err(|e| e.to_string())
}
