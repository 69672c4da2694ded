//! The signed manifest of a Provider and the trust policy it is checked against.
//!
//! Adapted from the ContractSpec skill manifest: a publisher (`id`, `provenance`) states, with
//! an ed25519 signature over the RFC 8785 canonical JSON of the manifest without `signature`,
//! that the artifact with `artifact.digest` — here: the Provider's spec without `manifest` —
//! is theirs and which PlanSpec versions and runtime capabilities it needs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The manifest format this runtime reads.
pub const MANIFEST_SCHEMA_VERSION: &str = "1.0.0";

/// A publisher's signed statement about a Provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProviderManifest {
    /// The manifest format, `1.0.0`.
    pub schema_version: String,
    /// Who publishes the Provider.
    pub publisher: PublisherRef,
    /// What is signed: the digest of the Provider's spec without `manifest`.
    pub artifact: ArtifactRef,
    /// What the Provider needs from the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<CompatibilitySpec>,
    /// Free-form publisher metadata (covered by the signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// The signature over the canonical form of everything above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ManifestSignature>,
}

/// The publisher of a Provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PublisherRef {
    /// A stable publisher id, e.g. `acme` (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub id: String,
    /// Where the artifact comes from, e.g. `https://github.com/acme/deployer@v1.2.0`.
    #[schemars(length(min = 1, max = 2048))]
    pub provenance: String,
    /// The source repository, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
}

/// The signed artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ArtifactRef {
    /// `sha256:` and 64 lowercase hex digits.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: String,
}

/// What a Provider needs from the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CompatibilitySpec {
    /// The PlanSpec versions it works with (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planspec_version: Option<VersionRange>,
    /// Runtime capabilities it needs (e.g. `secrets.file`, `provider.exec`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_capabilities: Vec<RequiredCapability>,
}

/// An inclusive range of semantic versions; either end may be open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct VersionRange {
    /// The oldest version that works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// The newest version that works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// A runtime capability a Provider needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RequiredCapability {
    /// The capability's key, e.g. `secrets.file`.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
    /// The least version needed; the runtime's must have the same major version and be at
    /// least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The signature algorithm: `ed25519`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum SignatureAlgorithm {
    Ed25519,
}

/// The signature over a manifest's canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ManifestSignature {
    /// The algorithm, `ed25519`.
    pub algorithm: SignatureAlgorithm,
    /// The signature, standard base64 (64 bytes).
    pub value: String,
    /// The signer's public key, standard base64 of the 32 raw bytes.
    pub public_key: String,
    /// The id under which trust policies pin the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// When the signature was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// When the signature stops being valid (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Whom the server trusts to publish Providers: read from `planspec server --trust-policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TrustPolicy {
    /// The trusted publishers.
    #[serde(default)]
    pub trusted_publishers: Vec<TrustedPublisher>,
    /// Accept signatures past their `expiresAt`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_expired_signatures: bool,
}

/// One trusted publisher: which keys may sign for it and where its artifacts may come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TrustedPublisher {
    /// The publisher id a manifest names.
    pub id: String,
    /// Pinned key ids; a signature's `keyId` must be one of them (when any are given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ids: Vec<String>,
    /// Pinned public keys (base64); a signature's `publicKey` must be one of them (when any
    /// are given). At least one key id or public key must be pinned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_keys: Vec<String>,
    /// Allowed provenance prefixes; when given, `publisher.provenance` must start with one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance_prefixes: Vec<String>,
}
