//! How the control plane treats Provider resources and secrets: `planspec server
//! --trust-policy FILE --secrets-dir DIR`.
//!
//! **Why a server flag, not a resource.** The trust policy says whose signatures make a
//! Provider trusted; if it were an API object, anyone allowed to edit it could trust their own
//! key and so bypass the check it exists for. It is therefore the operator's, like the token
//! file: a file read at start. A namespace that must run unverified Providers says so with a
//! Policy (`spec.allowUnverifiedProviders: true`), which RBAC guards and the audit log records.

use planspec_model::provider::TrustPolicy;
use std::path::PathBuf;

/// The trust policy and the secrets directory.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    /// Whom Provider manifests must be signed by; the default trusts nobody, so every
    /// Provider is unverified until the operator names publishers.
    pub trust_policy: TrustPolicy,
    /// Where `{secretFile: NAME}` references are read from; without it they fail at dispatch.
    pub secrets_dir: Option<PathBuf>,
}
