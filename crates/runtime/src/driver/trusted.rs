//! Pinning `provider://NAME` targets at start: the Provider resource, its verification, and
//! the namespace's `allowUnverifiedProviders` allowance.

use super::Shared;
use crate::provider::resource::{pin_provider, verify_provider};
use crate::provider::PinnedProvider;
use planspec_model::policy::Policy;
use planspec_model::provider::Provider;
use planspec_store::{ListQuery, ObjectKey, StoreError};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Why one node's Provider could not be pinned.
pub(crate) enum ProviderProblem {
    /// The Provider did not verify and no Policy allows unverified Providers.
    Untrusted(String),
    /// Anything else: missing, unreadable, unsupported type, invalid implementation.
    Unusable(String),
}

/// What one start has read so far (a plan may name one Provider many times).
pub(crate) struct TrustContext {
    now: OffsetDateTime,
    providers: BTreeMap<String, Result<PinnedProvider, String>>,
    allow_unverified: Option<bool>,
}

impl TrustContext {
    pub(crate) fn new() -> TrustContext {
        TrustContext {
            now: OffsetDateTime::now_utc(),
            providers: BTreeMap::new(),
            allow_unverified: None,
        }
    }
}

/// Pins the Provider `name` of namespace `ns`. The outer error is a store failure.
pub(crate) async fn pin_named(
    shared: &Shared,
    ns: &str,
    name: &str,
    ctx: &mut TrustContext,
) -> Result<Result<PinnedProvider, ProviderProblem>, StoreError> {
    if !ctx.providers.contains_key(name) {
        let result = read_and_pin(shared, ns, name, ctx.now).await?;
        ctx.providers.insert(name.to_string(), result);
    }
    let pinned = match ctx.providers.get(name) {
        Some(Ok(p)) => p.clone(),
        Some(Err(problem)) => return Ok(Err(ProviderProblem::Unusable(problem.clone()))),
        None => {
            return Ok(Err(ProviderProblem::Unusable(format!(
                "provider {name} was not read"
            ))))
        }
    };
    let verified = pinned.resource.as_ref().is_some_and(|r| r.verified);
    if verified {
        return Ok(Ok(pinned));
    }
    if ctx.allow_unverified.is_none() {
        ctx.allow_unverified = Some(allows_unverified(shared, ns).await?);
    }
    if ctx.allow_unverified == Some(true) {
        return Ok(Ok(pinned));
    }
    let issues = pinned
        .resource
        .as_ref()
        .map(|r| r.issues.join(", "))
        .unwrap_or_default();
    Ok(Err(ProviderProblem::Untrusted(format!(
        "provider {name} is not verified ({issues}) and no Policy of namespace {ns} sets \
         allowUnverifiedProviders (see `planspec describe provider {name}`)"
    ))))
}

async fn read_and_pin(
    shared: &Shared,
    ns: &str,
    name: &str,
    now: OffsetDateTime,
) -> Result<Result<PinnedProvider, String>, StoreError> {
    let Some(object) = shared
        .store
        .get(&ObjectKey::new("Provider", ns, name))
        .await?
    else {
        return Ok(Err(format!(
            "provider {name} does not exist in namespace {ns}"
        )));
    };
    let provider: Provider = match serde_json::from_value(object.object) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("provider {name} cannot be read: {e}"))),
    };
    let verification = verify_provider(&shared.registry, &provider, now);
    Ok(pin_provider(&shared.registry, &provider, &verification).map_err(|e| e.to_string()))
}

/// `true` if any Policy of the namespace sets `spec.allowUnverifiedProviders`.
async fn allows_unverified(shared: &Shared, ns: &str) -> Result<bool, StoreError> {
    let page = shared
        .store
        .list(&ListQuery::in_namespace("Policy", ns))
        .await?;
    Ok(page.items.into_iter().any(|item| {
        serde_json::from_value::<Policy>(item.object)
            .is_ok_and(|p| p.spec.allow_unverified_providers)
    }))
}
