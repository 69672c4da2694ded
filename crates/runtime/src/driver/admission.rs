//! The Execution-level verdict computed when an Execution is created: each Task evaluated
//! statically (the run's parameters, inputs as written) against the namespace's Policies and
//! the providers its Bindings resolve to now — the same reads the driver pins at start.

use super::start::pin;
use super::RuntimeHandle;
use crate::governance::{creator_of, read_governance, static_verdicts, NodeVerdictSummary};
use planspec_model::execution::Execution as ExecutionResource;
use planspec_store::ObjectKey;
use serde_json::{json, Value};

/// Why no admission verdict could be computed (the run would fail at start with the same
/// reason; admission lets it through and the start failure says why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AdmissionUnavailable(pub String);

impl RuntimeHandle {
    /// Every Task's static verdict for the Execution object about to be created in
    /// `namespace`, in the engine's order.
    pub async fn admission_verdicts(
        &self,
        namespace: &str,
        execution: &Value,
    ) -> Result<Vec<NodeVerdictSummary>, AdmissionUnavailable> {
        let resource: ExecutionResource =
            serde_json::from_value(execution.clone()).map_err(|e| {
                AdmissionUnavailable(format!("the execution does not fit the model: {e}"))
            })?;
        let name = execution
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = ObjectKey::new("Execution", namespace, name);
        let (pinned, graph) = pin(&self.shared, &key, &resource)
            .await
            .map_err(|f| AdmissionUnavailable(f.message))?;
        let governance = read_governance(
            self.shared.store.as_ref(),
            namespace,
            &graph,
            &pinned.providers,
            self.shared.options.default_verdict,
        )
        .await
        .map_err(|e| AdmissionUnavailable(e.to_string()))?;
        let creator = creator_of(execution);
        let parameters = resource.spec.parameters.clone().unwrap_or_default();
        Ok(static_verdicts(
            &graph,
            &governance,
            &parameters,
            json!({"name": name, "namespace": namespace, "parameters": parameters,
                   "creator": creator}),
            creator.as_ref(),
        ))
    }
}
