//! The `human` provider: a person performs the node.
//!
//! Target: `human://ROLE` (the role the work is assigned to, required). Config: `prompt`
//! (string, optional): what the person is asked to do.
//!
//! A dispatch returns [`DispatchOutcome::AwaitingHuman`] at once; the node stays `Running` with
//! condition `AwaitingHuman` until `planspec complete` or `planspec fail` (with outputs) is
//! called. Nothing waits inside the provider, so a restart loses nothing.

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::config::{ConfigError, ConfigReader};
use super::{DispatchOutcome, DispatchRequest, FailureReason, Provider, ProviderUri};

const FIELDS: &[&str] = &["prompt"];

/// The `human` provider.
#[derive(Debug, Clone, Default)]
pub struct HumanProvider;

impl HumanProvider {
    /// The provider.
    pub fn new() -> HumanProvider {
        HumanProvider
    }
}

/// The role named by a `human://ROLE` URI.
fn role(uri: &str) -> Result<String, ConfigError> {
    let rest = ProviderUri::parse(uri)
        .map(|u| u.rest().trim_end_matches('/').to_string())
        .unwrap_or_default();
    if rest.is_empty() {
        return Err(ConfigError::target(
            "name the role the work is assigned to: `human://ROLE`",
        ));
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(ConfigError::target(
            "the role must be a single name, e.g. `human://release-manager`",
        ));
    }
    Ok(rest)
}

#[async_trait]
impl Provider for HumanProvider {
    fn type_name(&self) -> &'static str {
        "human"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["human"]
    }

    fn resolve(
        &self,
        uri: &ProviderUri,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        role(uri.as_str())?;
        let r = ConfigReader::new(config, FIELDS)?;
        let mut normalised = Map::new();
        if let Some(prompt) = r.string("prompt")? {
            normalised.insert("prompt".into(), Value::String(prompt));
        }
        Ok(normalised)
    }

    async fn dispatch(
        &self,
        request: DispatchRequest,
        _cancel: CancellationToken,
    ) -> DispatchOutcome {
        let role = match role(&request.provider.uri) {
            Ok(r) => r,
            Err(e) => {
                return DispatchOutcome::failed(FailureReason::InvalidConfig, e.to_string(), false)
            }
        };
        let prompt = match request.provider.config.get("prompt") {
            Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
            _ => format!(
                "Perform node `{}` of Execution `{}`, then run `planspec complete` (with its \
                 outputs) or `planspec fail`.",
                request.node_id, request.execution
            ),
        };
        request
            .log
            .note(&format!(
                "human: node {} (attempt {}) is waiting for role `{role}`",
                request.node_id, request.attempt
            ))
            .await;
        DispatchOutcome::AwaitingHuman { role, prompt }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(
            role("human://release-manager").ok().as_deref(),
            Some("release-manager")
        );
        assert_eq!(role("human://qa/").ok().as_deref(), Some("qa"));
        assert!(role("human://").is_err());
        assert!(role("human").is_err());
        assert!(role("human://a/b").is_err());
    }
}
