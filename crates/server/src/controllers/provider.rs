//! The Provider controller: keeps each Provider's `status` equal to what verifying its
//! manifest against the server's trust policy says, now.
//!
//! `status.verified`, `status.issues[]` (stable codes such as `SIGNATURE_INVALID`),
//! `status.manifestDigest`, `status.trustPolicyDigest` and the condition `Verified`. The trust
//! policy is the server's (`planspec server --trust-policy`), fixed for the process's life, so
//! every Provider is verified again at each start (the informer's initial list); a signature
//! that will expire is looked at again when it does. The status is for people and tools:
//! the runtime verifies again when an Execution starts and never trusts this status, which
//! anyone allowed to write `providers/status` could set.

use super::conditions::set_condition;
use super::{write_status, Reconciler, Requeue};
use crate::api::{clock::timestamp, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use async_trait::async_trait;
use planspec_model::meta::ConditionStatus;
use planspec_model::provider::{Provider, TrustPolicy};
use planspec_model::Kind;
use planspec_store::ObjectKey;
use planspec_trust::{canonical_json, sha256_prefixed, verify, RuntimeFacts};
use std::sync::Arc;
use std::time::Duration;

const PROVIDER: ResourceType = ResourceType::Kind(Kind::Provider);

/// Verifies Providers; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct ProviderController {
    trust: Arc<TrustPolicy>,
    trust_digest: String,
}

impl ProviderController {
    /// A controller verifying against `trust`.
    pub fn new(trust: TrustPolicy) -> ProviderController {
        let trust_digest = canonical_json(&trust)
            .map(|b| sha256_prefixed(&b))
            .unwrap_or_default();
        ProviderController {
            trust: Arc::new(trust),
            trust_digest,
        }
    }
}

#[async_trait]
impl Reconciler for ProviderController {
    fn name(&self) -> &'static str {
        "provider"
    }

    fn resource(&self) -> ResourceType {
        PROVIDER
    }

    async fn reconcile(&self, api: &Api, key: &ObjectKey) -> Result<Requeue, Status> {
        let Some(current) = super::get_opt(api, PROVIDER, key).await? else {
            return Ok(Requeue::Never);
        };
        let Some(provider) = super::typed::<Provider>(&current, key) else {
            return Ok(Requeue::Never);
        };
        let now = api.now();
        let verification = verify(
            &provider.spec,
            Some(&self.trust),
            &RuntimeFacts::current(now),
        );
        let generation = provider.metadata.generation;
        let mut status = provider.status.clone().unwrap_or_default();
        status.observed_generation = generation;
        status.verified = verification.verified;
        status.issues = verification.issues.iter().map(|i| i.to_model()).collect();
        status.manifest_digest = verification.manifest_digest.clone();
        status.trust_policy_digest = Some(self.trust_digest.clone());
        let (condition, reason, message) = match verification.issues.first() {
            None => (
                ConditionStatus::True,
                "Verified",
                "the signed manifest verifies against the trust policy".to_string(),
            ),
            Some(first) => (
                ConditionStatus::False,
                first.code.as_str(),
                verification
                    .issues
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        set_condition(
            &mut status.conditions,
            "Verified",
            condition,
            reason,
            Some(message),
            generation,
            &timestamp(now),
        );
        write_status(api, PROVIDER, &current, &status).await?;
        Ok(match verification.valid_until {
            Some(until) => {
                let left = (until - now).whole_milliseconds().max(0) as u64;
                Requeue::After(Duration::from_millis(left) + Duration::from_secs(1))
            }
            None => Requeue::Never,
        })
    }
}
