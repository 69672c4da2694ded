//! `Provider`: a concrete implementation of capabilities (a command, an HTTP endpoint; later
//! agents and MCP servers), optionally with a signed manifest a trust policy verifies.
//!
//! A Binding routes work to a Provider with the target `provider://NAME`. The runtime pins the
//! Provider's implementation (`exec` or `http`), its declared `risk` and `destructive`, and
//! whether its manifest verified, when an Execution starts. Verification itself (RFC 8785
//! canonical JSON, ed25519, the trust policy) lives in `planspec-trust`; this module holds the
//! data.

mod manifest;
mod secret;

pub use manifest::{
    ArtifactRef, CompatibilitySpec, ManifestSignature, ProviderManifest, PublisherRef,
    RequiredCapability, SignatureAlgorithm, TrustPolicy, TrustedPublisher, VersionRange,
    MANIFEST_SCHEMA_VERSION,
};
pub use secret::{SecretRef, SecretString, SECRET_ENV_PREFIX};

use crate::meta::Condition;
use crate::policy::RiskLevel;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

crate::resource::resource! {
    /// A Provider: what actually does the work a Binding routes a capability to.
    Provider, "Provider", ProviderSpec, ProviderStatus
}

/// Desired state of a Provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProviderSpec {
    /// What kind of implementation: `exec`, `http`, `agent` or `mcp` (the last two are
    /// reserved: they are stored and verified, but this runtime cannot bind them yet).
    #[serde(rename = "type")]
    pub provider_type: ProviderType,
    /// What the Provider is (at most 4096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// The declared risk of what it does.
    #[serde(default)]
    pub risk: RiskLevel,
    /// Whether it may destroy or irreversibly change things.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destructive: bool,
    /// The capabilities it implements, with the version of each (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub capabilities: Vec<ProvidedCapability>,
    /// The command, when `type` is `exec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecImplementation>,
    /// The endpoint, when `type` is `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpImplementation>,
    /// The publisher's signed statement about this Provider; its `artifact.digest` covers
    /// every other field of this spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ProviderManifest>,
}

/// What kind of implementation a Provider is: `exec`, `http`, `agent` or `mcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ProviderType {
    Exec,
    Http,
    Agent,
    Mcp,
}

impl ProviderType {
    /// The type as written (`exec`, `http`, `agent`, `mcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderType::Exec => "exec",
            ProviderType::Http => "http",
            ProviderType::Agent => "agent",
            ProviderType::Mcp => "mcp",
        }
    }
}

/// A capability a Provider implements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProvidedCapability {
    /// The Capability's name (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The version implemented (semantic version, e.g. `1.2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub version: Option<String>,
}

/// An `exec` implementation: the command the runtime starts for each attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ExecImplementation {
    /// The argv (`shell: false`, the default) or a one-element list holding the script
    /// (`shell: true`).
    #[schemars(length(min = 1, max = 1024))]
    pub command: Vec<String>,
    /// Arguments appended to `command` (argv form only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub args: Vec<String>,
    /// Run `command[0]` with `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shell: bool,
    /// Extra environment variables: a literal, `{secretFile: NAME}` or `{secretEnv: VAR}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, SecretString>,
    /// Working directory, relative to the Execution's scratch directory unless absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Time between `SIGTERM` and `SIGKILL` (a duration such as `5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<String>,
}

/// An `http` implementation: the endpoint each attempt is POSTed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HttpImplementation {
    /// The endpoint, `http://` or `https://` (1–2048 characters).
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// The request method; only `POST` is supported (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Extra request headers: a literal, `{secretFile: NAME}` or `{secretEnv: VAR}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, SecretString>,
    /// How long one request may take (a duration such as `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Observed state of a Provider: the outcome of verifying its manifest against the server's
/// trust policy and this runtime.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProviderStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    /// `true` when verification found no issue.
    #[serde(default)]
    pub verified: bool,
    /// What verification found, in a stable order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<ProviderIssue>,
    /// `sha256:` of the manifest's canonical form (RFC 8785, without `signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// `sha256:` of the trust policy the verification used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy_digest: Option<String>,
    /// Conditions (`Verified`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One problem found verifying a Provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProviderIssue {
    /// The stable code, e.g. `SIGNATURE_INVALID`.
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
}
