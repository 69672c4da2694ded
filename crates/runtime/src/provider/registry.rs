//! The registry of providers: resolves Binding targets by URI scheme and dispatches pinned
//! providers by type.

use std::collections::BTreeMap;
use std::sync::Arc;

use planspec_model::binding::BindingTarget;
use serde_json::Map;
use tokio_util::sync::CancellationToken;

use super::config::ConfigError;
use super::exec::ExecProvider;
use super::http::HttpProvider;
use super::human::HumanProvider;
use super::noop::NoopProvider;
use super::pinned::{redact_uri, PinnedProvider, ProviderUri};
use super::{DispatchOutcome, DispatchRequest, FailureReason, Provider};
use crate::secret::{self, Redactor, SecretSource};
use planspec_model::provider::TrustPolicy;

/// Why a Binding target could not be resolved to a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The `provider` has no usable scheme.
    #[error(
        "provider `{provider}` is not a URI with a scheme (write e.g. `exec://NAME`, \
         `https://…`, `human://ROLE`); supported schemes: {}",
        supported.join(", ")
    )]
    InvalidProviderUri {
        /// The provider as written, without credentials or query.
        provider: String,
        /// The schemes this runtime supports.
        supported: Vec<String>,
    },
    /// No registered provider serves the scheme (yet): `agent://`, `mcp://`, `tool://` …
    #[error(
        "provider scheme `{scheme}://` is not supported by this runtime; supported schemes: {}",
        supported.join(", ")
    )]
    UnsupportedProvider {
        /// The scheme, lowercase.
        scheme: String,
        /// The schemes this runtime supports.
        supported: Vec<String>,
    },
    /// The provider exists but the target's URI or config is not valid for it.
    #[error("provider `{provider}` ({provider_type}): {error}")]
    InvalidConfig {
        /// The provider as written, without credentials or query.
        provider: String,
        /// The provider type that rejected it.
        provider_type: String,
        /// What is wrong (names fields, never values).
        #[source]
        error: ConfigError,
    },
}

/// A provider could not be constructed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderInitError {
    /// The HTTP client (TLS roots, resolver) could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// Providers by URI scheme and by type, with what dispatch needs besides them: where secrets
/// are read from, and the trust policy Provider resources are verified against.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    by_scheme: BTreeMap<String, Arc<dyn Provider>>,
    by_type: BTreeMap<String, Arc<dyn Provider>>,
    secrets: SecretSource,
    trust: Arc<TrustPolicy>,
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRegistry")
            .field("schemes", &self.by_scheme.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ProviderRegistry {
    /// A registry with no providers.
    pub fn empty() -> ProviderRegistry {
        ProviderRegistry::default()
    }

    /// A registry with the built-in providers: `exec`, `http`/`https`, `human`, `noop`.
    pub fn with_builtins() -> Result<ProviderRegistry, ProviderInitError> {
        let mut registry = ProviderRegistry::empty();
        registry.register(Arc::new(ExecProvider::new()));
        registry.register(Arc::new(HttpProvider::new()?));
        registry.register(Arc::new(HumanProvider::new()));
        registry.register(Arc::new(NoopProvider::new()));
        Ok(registry)
    }

    /// Adds a provider under its type and each of its schemes. A later registration of the
    /// same scheme or type replaces the earlier one.
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        for scheme in provider.schemes() {
            self.by_scheme
                .insert(scheme.to_ascii_lowercase(), provider.clone());
        }
        self.by_type
            .insert(provider.type_name().to_string(), provider);
    }

    /// Reads secret references from `secrets` at dispatch time.
    pub fn set_secrets(&mut self, secrets: SecretSource) {
        self.secrets = secrets;
    }

    /// Verifies Provider resources against `policy` (the default trusts no publisher).
    pub fn set_trust_policy(&mut self, policy: TrustPolicy) {
        self.trust = Arc::new(policy);
    }

    /// The trust policy Provider resources are verified against.
    pub fn trust_policy(&self) -> &TrustPolicy {
        &self.trust
    }

    /// The supported schemes, sorted.
    pub fn schemes(&self) -> Vec<String> {
        self.by_scheme.keys().cloned().collect()
    }

    /// The provider of a type (as recorded in [`PinnedProvider::type_name`]).
    pub fn provider(&self, type_name: &str) -> Option<Arc<dyn Provider>> {
        self.by_type.get(type_name).cloned()
    }

    /// Resolves a Binding target into the record to pin: picks the provider by scheme and lets
    /// it validate and normalise the config. Call once per Execution start.
    pub fn resolve(&self, target: &BindingTarget) -> Result<PinnedProvider, ResolveError> {
        let Some(uri) = ProviderUri::parse(&target.provider) else {
            return Err(ResolveError::InvalidProviderUri {
                provider: redact_uri(target.provider.trim()),
                supported: self.schemes(),
            });
        };
        let Some(provider) = self.by_scheme.get(uri.scheme()) else {
            return Err(ResolveError::UnsupportedProvider {
                scheme: uri.scheme().to_string(),
                supported: self.schemes(),
            });
        };
        let empty = Map::new();
        let config = target.config.as_ref().unwrap_or(&empty);
        let normalised =
            provider
                .resolve(&uri, config)
                .map_err(|error| ResolveError::InvalidConfig {
                    provider: uri.redacted(),
                    provider_type: provider.type_name().to_string(),
                    error,
                })?;
        Ok(PinnedProvider::new(
            provider.type_name(),
            uri.as_str(),
            normalised,
        ))
    }

    /// Dispatches a request to the provider of its pinned type. A type this registry does not
    /// have, or a pinned record whose digest does not match, fails with `InvalidConfig`.
    pub async fn dispatch(
        &self,
        request: DispatchRequest,
        cancel: CancellationToken,
    ) -> DispatchOutcome {
        if !request.provider.verify() {
            return DispatchOutcome::failed(
                FailureReason::InvalidConfig,
                "the pinned provider record does not match its digest",
                false,
            );
        }
        let Some(provider) = self.provider(&request.provider.type_name) else {
            return DispatchOutcome::failed(
                FailureReason::InvalidConfig,
                format!(
                    "provider type `{}` is not available in this runtime",
                    request.provider.type_name
                ),
                false,
            );
        };
        // Secrets are read now, never pinned: the provider gets the values, everything the
        // attempt produces passes through the redactor before it is logged or recorded.
        let (config, redactor) = match secret::materialise(
            &self.secrets,
            &request.provider.type_name,
            &request.provider.config,
        )
        .await
        {
            Ok(x) => x,
            Err(e) => {
                let message = format!("a secret of the provider cannot be read: {e}");
                request.log.note(&message).await;
                return DispatchOutcome::failed(FailureReason::SecretUnavailable, message, true);
            }
        };
        let mut request = request;
        if !redactor.is_empty() {
            request.log.set_redactor(redactor.clone()).await;
        }
        request.provider.config = config;
        let outcome = provider.dispatch(request, cancel).await;
        redact_outcome(outcome, &redactor)
    }
}

/// The outcome with every secret value replaced in outputs and messages.
fn redact_outcome(outcome: DispatchOutcome, redactor: &Redactor) -> DispatchOutcome {
    if redactor.is_empty() {
        return outcome;
    }
    match outcome {
        DispatchOutcome::Succeeded {
            mut outputs,
            cost_usd,
        } => {
            redactor.redact_map(&mut outputs);
            DispatchOutcome::Succeeded { outputs, cost_usd }
        }
        DispatchOutcome::Failed(mut failure) => {
            failure.message = redactor.redact(&failure.message).into_owned();
            DispatchOutcome::Failed(failure)
        }
        DispatchOutcome::AwaitingHuman { role, prompt } => DispatchOutcome::AwaitingHuman {
            role: redactor.redact(&role).into_owned(),
            prompt: redactor.redact(&prompt).into_owned(),
        },
    }
}
