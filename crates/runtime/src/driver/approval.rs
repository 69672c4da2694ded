//! The approval a Task with an `assist` policy verdict waits for.
//!
//! It is a per-run Gate like a Gate node's (`<execution>-<node>`; `-2`, `-3` … for the approvals
//! later retry rounds ask for), owned by the Execution and labelled `planspec.io/gate: policy-approval`, with
//! `gateType: approval`, one required approver, no listed reviewers (anyone RBAC lets
//! `approve` may decide, except the Execution's creator), the verdict's message as its
//! description and `{reason, risk}` as its context. Its decision comes back as `GateResolved`
//! for the node, exactly as for a Gate node, so every approval rule (self-approval,
//! generations, timeouts) applies to both.

use super::execution::Driver;
use planspec_engine::policy::risk_str;
use planspec_model::policy::RiskLevel;
use serde_json::json;

/// The label value (`planspec.io/gate`) of approval Gates opened by a policy verdict.
pub(crate) const POLICY_APPROVAL: &str = "policy-approval";

impl Driver {
    /// Opens (or finds, after a restart) the approval Gate of `node` and waits for it.
    pub(crate) async fn request_approval(
        &mut self,
        node: String,
        approval: u32,
        risk: RiskLevel,
        reason: String,
        message: String,
    ) {
        let ns = self.key.namespace.clone();
        let description: String = if message.is_empty() {
            format!("approve node {node} of execution {}", self.key.name)
        } else {
            message.chars().take(4096).collect()
        };
        let template = json!({
            "metadata": {"name": POLICY_APPROVAL},
            "spec": {
                "gateType": "approval",
                "description": description,
                "requiredApprovers": 1,
                "context": {"reason": reason, "risk": risk_str(risk), "node": node},
            }
        });
        let Some(key) = self.gate_instance(&template, &ns, &node, approval).await else {
            return;
        };
        self.shared.watch_object(key.clone(), &self.uid);
        if let Some(run) = self.run.as_mut() {
            run.gates.insert(node.clone(), (key.clone(), approval));
            run.extras.gates.insert(node.clone(), key.name.clone());
        }
        let _ = self.write_status_only().await;
        self.activate_gate(&key, &node).await;
        self.check_gate(&node).await;
    }
}
