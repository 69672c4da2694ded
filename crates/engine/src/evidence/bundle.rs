//! Evidence bundles: one JSON document with everything needed to check a run offline.
//!
//! ```json
//! {"apiVersion": "planspec.io/v1alpha1", "kind": "EvidenceBundle",
//!  "execution": {"name": "…", "namespace": "…", "uid": "…"},
//!  "parts": {"execution": {…}, "plan": {…}, "goal": {…}|null, "graph": {"digest": "sha256:…", "canonical": {…}},
//!            "providers": {…}, "governance": {…}|null, "journal": [ … ], "audit": [ … ]|null},
//!  "manifest": {"algorithm": "sha256", "parts": {"plan": "sha256:…", …}, "digest": "sha256:…"}}
//! ```
//!
//! Each part's hash is the SHA-256 of its canonical JSON (keys sorted, no whitespace); the
//! manifest's `digest` is the hash of the canonical `parts` map of hashes. [`Bundle::verify`]
//! recomputes every hash, checks that the parts agree with the journal's first entry (the
//! plan, goal, providers and governance it pinned, the graph digest) and replays the journal
//! ([`check_journal`](super::check_journal)).

use super::check::{check_journal, digest_of, graph_of, JournalReport, Problem};
use super::diff::differences;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The bundle's `kind`.
pub const BUNDLE_KIND: &str = "EvidenceBundle";

/// The parts every bundle has, in order.
pub const BUNDLE_PARTS: &[&str] = &[
    "execution",
    "plan",
    "goal",
    "graph",
    "providers",
    "governance",
    "journal",
    "audit",
];

/// Which Execution a bundle is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleExecution {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its uid.
    pub uid: String,
}

/// The hashes of a bundle's parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always `sha256`.
    pub algorithm: String,
    /// `sha256:<hex>` of each part's canonical JSON.
    pub parts: BTreeMap<String, String>,
    /// `sha256:<hex>` of the canonical JSON of `parts`.
    pub digest: String,
}

/// An evidence bundle (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// `planspec.io/v1alpha1`.
    pub api_version: String,
    /// [`BUNDLE_KIND`].
    pub kind: String,
    /// The Execution.
    pub execution: BundleExecution,
    /// The parts, by name.
    pub parts: Map<String, Value>,
    /// Their hashes.
    pub manifest: Manifest,
}

impl Bundle {
    /// Assembles a bundle from the Execution object, its journal (entries as stored) and the
    /// audit records about it (`None` when the server keeps no audit log). The plan, goal,
    /// providers and governance are taken from the journal's first entry — what the run
    /// pinned — and the graph is compiled from them.
    pub fn assemble(
        execution: Value,
        journal: Vec<Value>,
        audit: Option<Vec<Value>>,
    ) -> Result<Bundle, String> {
        let first = journal
            .first()
            .filter(|e| e["type"] == "ExecutionStarted")
            .ok_or("the journal does not begin with ExecutionStarted (has the run started?)")?;
        let pinned = &first["pinned"];
        let graph = graph_of(pinned)?;
        let meta = |k: &str| {
            execution["metadata"][k]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let who = BundleExecution {
            name: meta("name"),
            namespace: meta("namespace"),
            uid: meta("uid"),
        };
        let mut parts = Map::new();
        parts.insert("execution".into(), execution);
        parts.insert("plan".into(), pinned["plan"].clone());
        parts.insert(
            "goal".into(),
            pinned.get("goal").cloned().unwrap_or(Value::Null),
        );
        parts.insert(
            "graph".into(),
            json!({"digest": graph.digest(), "canonical": graph.canonical_form()}),
        );
        parts.insert(
            "providers".into(),
            pinned
                .get("providers")
                .cloned()
                .unwrap_or_else(|| json!({})),
        );
        parts.insert(
            "governance".into(),
            first.get("governance").cloned().unwrap_or(Value::Null),
        );
        parts.insert("journal".into(), Value::Array(journal));
        parts.insert(
            "audit".into(),
            audit.map(Value::Array).unwrap_or(Value::Null),
        );
        let manifest = manifest_of(&parts);
        Ok(Bundle {
            api_version: "planspec.io/v1alpha1".into(),
            kind: BUNDLE_KIND.into(),
            execution: who,
            parts,
            manifest,
        })
    }

    /// Checks the bundle offline: every hash, the parts against the journal's first entry,
    /// and the journal against the engine. The journal report carries every problem found.
    pub fn verify(&self) -> JournalReport {
        let mut problems = Vec::new();
        if self.kind != BUNDLE_KIND {
            problems.push(Problem::at(
                None,
                format!("kind is {:?}, not {BUNDLE_KIND}", self.kind),
            ));
        }
        if self.manifest.algorithm != "sha256" {
            problems.push(Problem::at(
                None,
                format!(
                    "manifest algorithm {:?} is not sha256",
                    self.manifest.algorithm
                ),
            ));
        }
        let actual = manifest_of(&self.parts);
        for name in BUNDLE_PARTS {
            let listed = self.manifest.parts.get(*name);
            let computed = actual.parts.get(*name);
            if listed != computed {
                problems.push(Problem {
                    detail: format!("part `{name}` does not match its manifest hash"),
                    journaled: listed.map(|s| Value::String(s.clone())),
                    derived: computed.map(|s| Value::String(s.clone())),
                    ..Problem::at(None, "")
                });
            }
        }
        for name in self.manifest.parts.keys() {
            if !BUNDLE_PARTS.contains(&name.as_str()) {
                problems.push(Problem::at(
                    None,
                    format!("the manifest lists an unknown part `{name}`"),
                ));
            }
        }
        if digest_of(&json!(self.manifest.parts)) != self.manifest.digest {
            problems.push(Problem::at(
                None,
                "the manifest digest does not match its part hashes",
            ));
        }
        let journal: Vec<Value> = self.parts["journal"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(first) = journal.first() {
            let pinned = &first["pinned"];
            let expect = [
                ("plan", pinned["plan"].clone()),
                ("goal", pinned.get("goal").cloned().unwrap_or(Value::Null)),
                (
                    "providers",
                    pinned
                        .get("providers")
                        .cloned()
                        .unwrap_or_else(|| json!({})),
                ),
                (
                    "governance",
                    first.get("governance").cloned().unwrap_or(Value::Null),
                ),
            ];
            for (name, pinned_value) in expect {
                let part = self.parts.get(name).cloned().unwrap_or(Value::Null);
                if part != pinned_value {
                    problems.push(Problem {
                        index: Some(0),
                        detail: format!(
                            "part `{name}` is not what the journal's ExecutionStarted pinned"
                        ),
                        differences: differences(&pinned_value, &part, 20),
                        ..Problem::at(None, "")
                    });
                }
            }
            let digest = self.parts["graph"]["digest"].as_str();
            if digest != first["graphDigest"].as_str() {
                problems.push(Problem::at(
                    Some(0),
                    "part `graph` names another digest than the journal",
                ));
            }
        }
        let uid = self.parts["execution"]["metadata"]["uid"].as_str();
        if uid != Some(self.execution.uid.as_str()) {
            problems.push(Problem::at(
                None,
                "the bundle names another Execution than its `execution` part",
            ));
        }
        let mut report = check_journal(&journal);
        problems.append(&mut report.problems);
        report.problems = problems;
        report
    }
}

fn manifest_of(parts: &Map<String, Value>) -> Manifest {
    let hashes: BTreeMap<String, String> = parts
        .iter()
        .map(|(k, v)| (k.clone(), digest_of(v)))
        .collect();
    let digest = digest_of(&json!(hashes));
    Manifest {
        algorithm: "sha256".into(),
        parts: hashes,
        digest,
    }
}
