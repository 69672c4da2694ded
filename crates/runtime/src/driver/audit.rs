//! Governance decisions in the audit log: every policy verdict (`NodeVerdict`) and every
//! approval a verdict waited for (`NodeApproved`) is appended to the hash-chained audit log in
//! the same transaction that journals it, so the log and the journal never disagree about what
//! was decided.
//!
//! A verdict is recorded with the control plane as actor (`system:planspec`), verb `verdict`,
//! the Execution as resource and `nodes/<id>` as subresource, outcome `allowed` (allow),
//! `allowed` with reason `assist` (held for approval) or `denied` (deny), and the verdict's
//! risk, reason, message, matched rules and Policy versions as details. An approval is
//! recorded with the approver as actor and verb `approve`.

use planspec_model::actor::UserInfo;
use planspec_model::audit::{AuditEntry, AuditResource, Decision};
use planspec_store::{ObjectKey, WriteOp};
use serde_json::{json, Value};

/// The audit records for the governance decisions among journal `entries` of `key`.
pub(crate) fn decision_records(key: &ObjectKey, entries: &[Value]) -> Vec<WriteOp> {
    entries
        .iter()
        .filter_map(|e| record(key, e))
        .map(WriteOp::AppendAudit)
        .collect()
}

fn record(key: &ObjectKey, entry: &Value) -> Option<AuditEntry> {
    let kind = entry["type"].as_str()?;
    let node = entry["node"].as_str().unwrap_or_default();
    let time = planspec_engine::timestamp(entry["at"].as_u64().unwrap_or(0)).to_string();
    let resource = AuditResource {
        group: "planspec.io".into(),
        resource: "executions".into(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        subresource: format!("nodes/{node}"),
        path: String::new(),
    };
    match kind {
        "NodeVerdict" => {
            let verdict = entry["verdict"].as_str().unwrap_or_default();
            let decision = if verdict == "deny" {
                Decision::Denied
            } else {
                Decision::Allowed
            };
            Some(AuditEntry::decision(
                time,
                UserInfo::control_plane(),
                "verdict",
                resource,
                decision,
                verdict,
                json!({"verdict": verdict, "risk": entry["risk"], "reason": entry["reason"],
                       "message": entry["message"], "matched": entry["matched"],
                       "policies": entry["policies"]}),
            ))
        }
        "NodeApproved" => {
            let by = entry["by"].as_str().unwrap_or("unknown");
            Some(AuditEntry::decision(
                time,
                UserInfo::new(by, Vec::<String>::new()),
                "approve",
                resource,
                Decision::Allowed,
                "approved",
                json!({"comment": entry["comment"]}),
            ))
        }
        _ => None,
    }
}
