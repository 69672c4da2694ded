//! Run artifacts: what `planspec export execution/NAME --artifacts DIR` writes, derived from
//! the journal alone (`docs/artifacts.md` is the reference).
//!
//! * the **expanded graph**: the graph the run executed, compiled again from what the journal
//!   pinned, with the matrix instances the fold re-derives ([`crate::matrix::expanded_graph`]);
//! * the **expansion manifest**: how matrix nodes expanded ([`crate::matrix::expansion_manifest`]);
//! * one **attempt record** per node attempt (and one per node that finished without an
//!   attempt: skipped, or cancelled or failed before it started), in graph order, then round,
//!   then attempt, with SHA-256 hashes of the canonical JSON of its inputs and outputs.
//!
//! Everything is a pure function of the journal entries, so exporting twice gives identical
//! bytes.

use super::check::load_journal;
use crate::event::{Decision, Event, Input, Outcome};
use crate::ids::{canonical_json, sha256_digest};
use crate::machine::Execution;
use crate::reason::ReasonCode;
use crate::timestamp;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// How one attempt (or a node that never started) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttemptOutcome {
    /// Started and not finished when the journal was read.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed; the node was retried (`retried: true`) or failed.
    Failed,
    /// Cancelled (or killed by a cancel or a deadline).
    Cancelled,
    /// Never ran: a `when` was false or something upstream did not succeed.
    Skipped,
}

/// One line of `attempts.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// The Execution's uid.
    pub execution_uid: String,
    /// The node's id: a matrix instance's own deterministic instance id
    /// (`<matrix node>-<12 hex>`).
    pub node: String,
    /// The node's position in the expanded graph's `nodes`.
    pub index: usize,
    /// For a matrix instance: the matrix node it was expanded from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix_node: Option<String>,
    /// For a matrix instance: its position among the matrix's instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u32>,
    /// For a matrix instance: its coordinates (axis → value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Map<String, Value>>,
    /// The retry round of the Execution (0, then 1 for the first retry …).
    pub round: u32,
    /// The attempt number (0: the node finished without an attempt).
    pub attempt: u32,
    /// The attempt's idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When the attempt started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it finished (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// For a failed attempt: `true` if another attempt followed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retried: bool,
    /// The reason code (failures, skips, cancels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    /// The process's exit code, when the provider ran one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// `sha256:<hex>` of the canonical JSON of the resolved inputs sent to the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs_sha256: Option<String>,
    /// `sha256:<hex>` of the canonical JSON of the outputs the attempt reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs_sha256: Option<String>,
}

/// Everything `--artifacts` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArtifacts {
    /// `expanded_graph.json`.
    pub expanded_graph: Value,
    /// `expansion_manifest.json`.
    pub expansion_manifest: Value,
    /// `attempts.jsonl`, one record per line, in order.
    pub attempts: Vec<AttemptRecord>,
}

impl RunArtifacts {
    /// Derives the artifacts from a journal (entries as stored): the journal is folded on the
    /// graph its pinned Plan compiles to, which re-derives the matrix instances. Fails when
    /// the journal does not begin with `ExecutionStarted`, an entry does not parse, the
    /// pinned Plan does not compile, or the journal does not fold.
    pub fn derive(entries: &[Value]) -> Result<RunArtifacts, String> {
        let execution = load_journal(entries)?;
        let expanded_graph = crate::matrix::expanded_graph(&execution);
        let uid = execution.state().uid.clone().unwrap_or_default();
        let attempts = attempt_records(&execution, &expanded_graph, &uid, entries)?;
        Ok(RunArtifacts {
            expansion_manifest: crate::matrix::expansion_manifest(&execution),
            expanded_graph,
            attempts,
        })
    }

    /// `attempts.jsonl` as bytes: one compact JSON object per line, each line ending in `\n`.
    pub fn attempts_jsonl(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.attempts.len() * 256);
        for record in &self.attempts {
            if serde_json::to_writer(&mut out, record).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }
}

/// `sha256:<hex>` of a value's canonical JSON.
fn hash(value: &Value) -> String {
    sha256_digest(canonical_json(value).as_bytes())
}

fn hash_map(map: &Map<String, Value>) -> String {
    hash(&Value::Object(map.clone()))
}

/// Walks the journal and builds one record per (node, round, attempt).
fn attempt_records(
    execution: &Execution,
    expanded_graph: &Value,
    uid: &str,
    entries: &[Value],
) -> Result<Vec<AttemptRecord>, String> {
    let mut records: BTreeMap<(usize, u32, u32), AttemptRecord> = BTreeMap::new();
    // Node → the key of its record still open (started, not finished).
    let mut open: HashMap<usize, (usize, u32, u32)> = HashMap::new();
    let mut round = 0u32;
    // Every node of the expanded graph (matrix instances included) by id → its position.
    let positions: HashMap<&str, usize> = expanded_graph["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, n)| n["id"].as_str().map(|id| (id, i)))
        .collect();
    let mut nodes = Nodes {
        ids: {
            let mut ids = vec![String::new(); positions.len()];
            for (id, &i) in &positions {
                ids[i] = (*id).to_owned();
            }
            ids
        },
        retired: Vec::new(),
        positions,
    };
    // The journal folded entry by entry alongside: a retry that re-expands a matrix can
    // retire instances the final expansion no longer has, and their records need them.
    let mut live = Execution::new(execution.graph().clone());
    let base = nodes.ids.len();
    for (position, entry) in entries.iter().enumerate() {
        let event: Event = serde_json::from_value(entry.clone())
            .map_err(|e| format!("journal entry {position} does not parse: {e}"))?;
        live.apply(&event)
            .map_err(|e| format!("journal entry {position} does not fold: {e}"))?;
        let new_record = |nodes: &Nodes, i: usize, round: u32, attempt: u32| {
            let (id, instance) = if i < base {
                let id = nodes.ids[i].as_str();
                (id, execution.instance(id))
            } else {
                let (id, info) = &nodes.retired[i - base];
                (id.as_str(), Some(info))
            };
            AttemptRecord {
                execution_uid: uid.to_owned(),
                node: id.to_owned(),
                index: i,
                matrix_node: instance.map(|m| execution.graph().nodes()[m.node].id.to_string()),
                ordinal: instance.map(|m| m.ordinal),
                coordinates: instance.map(|m| m.coordinates.clone()),
                round,
                attempt,
                idempotency_key: None,
                started_at: None,
                finished_at: None,
                outcome: AttemptOutcome::Running,
                retried: false,
                reason: None,
                exit_code: None,
                inputs_sha256: None,
                outputs_sha256: None,
            }
        };
        match event {
            Event::Input(Input::NodeResult {
                node,
                attempt,
                outcome,
                exit_code,
                ..
            }) => {
                let i = nodes.index(&node, &live)?;
                if let Some(r) = records.get_mut(&(i, round, attempt)) {
                    if r.finished_at.is_none() {
                        r.exit_code = exit_code;
                        if let Outcome::Succeeded { outputs, .. } = &outcome {
                            r.outputs_sha256 = Some(hash_map(outputs));
                        }
                    }
                }
            }
            Event::Decision(Decision::ExecutionRetried { round: r, .. }) => round = r,
            Event::Decision(Decision::NodeStarted {
                at,
                node,
                attempt,
                idempotency_key,
                inputs,
                ..
            }) => {
                let i = nodes.index(&node, &live)?;
                let mut r = new_record(&nodes, i, round, attempt);
                r.idempotency_key = Some(idempotency_key);
                r.started_at = Some(timestamp(at).to_string());
                if !inputs.is_null() {
                    r.inputs_sha256 = Some(hash(&inputs));
                }
                open.insert(i, (i, round, attempt));
                records.insert((i, round, attempt), r);
            }
            Event::Decision(Decision::GateOpened {
                at, node, attempt, ..
            }) => {
                let i = nodes.index(&node, &live)?;
                let mut r = new_record(&nodes, i, round, attempt);
                r.started_at = Some(timestamp(at).to_string());
                open.insert(i, (i, round, attempt));
                records.insert((i, round, attempt), r);
            }
            Event::Decision(Decision::CriteriaRequested {
                node,
                attempt,
                outputs,
                ..
            }) => {
                let i = nodes.index(&node, &live)?;
                if let Some(r) = records.get_mut(&(i, round, attempt)) {
                    r.outputs_sha256 = Some(hash_map(&outputs));
                }
            }
            Event::Decision(Decision::NodeSucceeded {
                at, node, outputs, ..
            }) => {
                let i = nodes.index(&node, &live)?;
                let r = finish(&mut records, &mut open, i, round, 0, &|i, r, a| {
                    new_record(&nodes, i, r, a)
                });
                r.outcome = AttemptOutcome::Succeeded;
                r.finished_at = Some(timestamp(at).to_string());
                r.outputs_sha256 = Some(hash_map(&outputs));
            }
            Event::Decision(Decision::RetryScheduled {
                at, node, reason, ..
            }) => {
                let i = nodes.index(&node, &live)?;
                if let Some(key) = open.remove(&i) {
                    if let Some(r) = records.get_mut(&key) {
                        r.outcome = AttemptOutcome::Failed;
                        r.retried = true;
                        r.reason = Some(reason);
                        r.finished_at = Some(timestamp(at).to_string());
                    }
                }
            }
            Event::Decision(Decision::NodeFailed {
                at, node, reason, ..
            }) => {
                let i = nodes.index(&node, &live)?;
                let r = finish(&mut records, &mut open, i, round, 0, &|i, r, a| {
                    new_record(&nodes, i, r, a)
                });
                r.outcome = AttemptOutcome::Failed;
                r.reason = Some(reason);
                r.finished_at = Some(timestamp(at).to_string());
            }
            Event::Decision(Decision::NodeCancelled {
                at, node, reason, ..
            }) => {
                let i = nodes.index(&node, &live)?;
                let r = finish(&mut records, &mut open, i, round, 0, &|i, r, a| {
                    new_record(&nodes, i, r, a)
                });
                r.outcome = AttemptOutcome::Cancelled;
                r.reason = Some(reason);
                r.finished_at = Some(timestamp(at).to_string());
            }
            Event::Decision(Decision::NodeSkipped {
                at, node, reason, ..
            }) => {
                let i = nodes.index(&node, &live)?;
                let r = finish(&mut records, &mut open, i, round, 0, &|i, r, a| {
                    new_record(&nodes, i, r, a)
                });
                r.outcome = AttemptOutcome::Skipped;
                r.reason = Some(reason);
                r.finished_at = Some(timestamp(at).to_string());
            }
            _ => {}
        }
    }
    Ok(records.into_values().collect())
}

/// The nodes attempt records can name: the expanded graph's (by position), then matrix
/// instances of earlier rounds that a retry retired and the final expansion does not have,
/// numbered after them in the order the journal first names them.
struct Nodes<'g> {
    positions: HashMap<&'g str, usize>,
    ids: Vec<String>,
    retired: Vec<(String, crate::matrix::InstanceInfo)>,
}

impl Nodes<'_> {
    /// The index of `node`: in the expanded graph, or a retired instance that `live` (the
    /// journal folded up to this entry) has.
    fn index(&mut self, node: &str, live: &Execution) -> Result<usize, String> {
        if let Some(&i) = self.positions.get(node) {
            return Ok(i);
        }
        let base = self.ids.len();
        if let Some(k) = self.retired.iter().position(|(id, _)| id == node) {
            return Ok(base + k);
        }
        match live.instance(node) {
            Some(info) => {
                self.retired.push((node.to_owned(), info.clone()));
                Ok(base + self.retired.len() - 1)
            }
            None => Err(format!(
                "the journal names node `{node}`, which is not in the expanded graph"
            )),
        }
    }
}

/// The record a node's terminal decision finishes: its open attempt's, or a new one for a
/// node that finished without an attempt in this round.
fn finish<'r>(
    records: &'r mut BTreeMap<(usize, u32, u32), AttemptRecord>,
    open: &mut HashMap<usize, (usize, u32, u32)>,
    i: usize,
    round: u32,
    attempt: u32,
    new_record: &dyn Fn(usize, u32, u32) -> AttemptRecord,
) -> &'r mut AttemptRecord {
    let key = open.remove(&i).unwrap_or((i, round, attempt));
    records
        .entry(key)
        .or_insert_with(|| new_record(key.0, key.1, key.2))
}
