//! The Execution-level policy verdict at admission.
//!
//! Creating an Execution evaluates every Task statically — the run's parameters, inputs as
//! written, the namespace's Policies, the providers its Bindings resolve to now — the way the
//! engine will before each dispatch. A Task that must run (no `when` on it or its Groups) and
//! is denied would fail the run for certain, so the create is refused with **403 Forbidden**,
//! one cause per denied node (`field: spec.graph.nodes[<id>]`, the rule's message). Otherwise
//! the summary is recorded in `status.extensions.admission`: the strictest verdict, the count
//! per verdict, and the nodes that will wait for approval or may be denied.
//!
//! Policies are checked when written ([`check_policy_rules`]): every rule's `when` must parse
//! as CEL and read only the variables policies provide, else the write is `422` with one cause
//! per rule (`spec.rules[i].when`).
//!
//! Nothing is decided here when no runtime is attached or the run could not start anyway (a
//! missing Plan, an unbound Task): the start failure then says why, as before.

use super::Api;
use crate::resource::ResourceType;
use crate::status::{Status, StatusCause};
use planspec_engine::policy::{check_rule, verdict_str};
use planspec_model::policy::PolicyVerdict;
use planspec_model::Kind;
use serde_json::{json, Value};

/// Most node ids listed per verdict in the status summary.
const LISTED: usize = 100;

impl Api {
    /// Applies the admission verdict to an Execution about to be created (see the module
    /// docs); other objects pass unchanged.
    pub(crate) async fn execution_verdict(
        &self,
        resource: ResourceType,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, Status> {
        if resource != ResourceType::Kind(Kind::Execution) {
            return Ok(object);
        }
        let Some(runtime) = self.runtime_handle() else {
            return Ok(object);
        };
        let Ok(verdicts) = runtime.admission_verdicts(namespace, &object).await else {
            return Ok(object);
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let denied: Vec<StatusCause> = verdicts
            .iter()
            .filter(|v| v.must_run && v.evaluation.verdict == PolicyVerdict::Deny)
            .map(|v| {
                StatusCause::new(
                    "PolicyDenied",
                    format!("spec.graph.nodes[{}]", v.node),
                    format!("{}: {}", v.evaluation.reason, v.evaluation.message),
                )
            })
            .collect();
        if !denied.is_empty() {
            let why = format!(
                "the policy verdict on {} node(s) that must run is deny: {}",
                denied.len(),
                denied
                    .iter()
                    .map(|c| c.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            let mut status = Status::forbidden(resource, &name, &why);
            if let Some(details) = status.details.as_mut() {
                details.causes = denied;
            }
            return Err(status);
        }
        let strictest = verdicts
            .iter()
            .map(|v| v.evaluation.verdict)
            .max()
            .unwrap_or(PolicyVerdict::Allow);
        let count = |verdict| {
            verdicts
                .iter()
                .filter(|v| v.evaluation.verdict == verdict)
                .count()
        };
        let list = |verdict| {
            verdicts
                .iter()
                .filter(|v| v.evaluation.verdict == verdict)
                .take(LISTED)
                .map(|v| v.node.clone())
                .collect::<Vec<_>>()
        };
        let summary = json!({
            "verdict": verdict_str(strictest),
            "tasks": verdicts.len(),
            "allow": count(PolicyVerdict::Allow),
            "assist": count(PolicyVerdict::Assist),
            "deny": count(PolicyVerdict::Deny),
            "needsApproval": list(PolicyVerdict::Assist),
            "mayBeDenied": list(PolicyVerdict::Deny),
        });
        if let Some(status) = object.get_mut("status").and_then(Value::as_object_mut) {
            let ext = status.entry("extensions").or_insert_with(|| json!({}));
            if let Some(ext) = ext.as_object_mut() {
                ext.insert("admission".into(), summary);
            }
        }
        Ok(object)
    }
}

/// `422` when a Policy's rule does not compile (see the module docs); other objects pass.
pub(crate) fn check_policy_rules(
    resource: ResourceType,
    name: &str,
    object: &Value,
) -> Result<(), Status> {
    if resource != ResourceType::Kind(Kind::Policy) {
        return Ok(());
    }
    let rules = object
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let causes: Vec<StatusCause> = rules
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| {
            let when = rule.get("when").and_then(Value::as_str)?;
            check_rule(when)
                .err()
                .map(|e| StatusCause::new("FieldValueInvalid", format!("spec.rules[{i}].when"), e))
        })
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Status::invalid_causes(resource, name, causes))
    }
}
