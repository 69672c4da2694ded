//! Verification issues and their stable codes.

use std::fmt;

/// A stable issue code (the ContractSpec skill-manifest codes, adapted). Never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IssueCode {
    /// The manifest cannot be read (bad base64, key, timestamp or version string).
    ManifestInvalid,
    /// The manifest's `schemaVersion` is not one this runtime reads.
    SchemaVersionInvalid,
    /// There is no manifest, or it is not signed.
    SignatureMissing,
    /// The signature does not verify over the canonical manifest.
    SignatureInvalid,
    /// The signature is past its `expiresAt`.
    SignatureExpired,
    /// The trust policy does not list the publisher.
    PublisherUntrusted,
    /// The signing key is not pinned for the publisher.
    KeyUntrusted,
    /// The publisher's `provenance` has none of the allowed prefixes.
    ProvenanceUntrusted,
    /// `artifact.digest` is not the digest of the Provider's spec.
    ArtifactDigestMismatch,
    /// The manifest names a PlanSpec version range but the runtime's version is unknown.
    PlanspecVersionMissing,
    /// The runtime is older than the manifest's `minVersion`.
    PlanspecVersionTooOld,
    /// The runtime is newer than the manifest's `maxVersion`.
    PlanspecVersionTooNew,
    /// A required runtime capability is missing (or at an incompatible version).
    CapabilityMissing,
}

impl IssueCode {
    /// Every code, in catalogue order.
    pub const ALL: [IssueCode; 13] = [
        IssueCode::ManifestInvalid,
        IssueCode::SchemaVersionInvalid,
        IssueCode::SignatureMissing,
        IssueCode::SignatureInvalid,
        IssueCode::SignatureExpired,
        IssueCode::PublisherUntrusted,
        IssueCode::KeyUntrusted,
        IssueCode::ProvenanceUntrusted,
        IssueCode::ArtifactDigestMismatch,
        IssueCode::PlanspecVersionMissing,
        IssueCode::PlanspecVersionTooOld,
        IssueCode::PlanspecVersionTooNew,
        IssueCode::CapabilityMissing,
    ];

    /// The code as written, e.g. `SIGNATURE_INVALID`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::ManifestInvalid => "MANIFEST_INVALID",
            IssueCode::SchemaVersionInvalid => "SCHEMA_VERSION_INVALID",
            IssueCode::SignatureMissing => "SIGNATURE_MISSING",
            IssueCode::SignatureInvalid => "SIGNATURE_INVALID",
            IssueCode::SignatureExpired => "SIGNATURE_EXPIRED",
            IssueCode::PublisherUntrusted => "PUBLISHER_UNTRUSTED",
            IssueCode::KeyUntrusted => "KEY_UNTRUSTED",
            IssueCode::ProvenanceUntrusted => "PROVENANCE_UNTRUSTED",
            IssueCode::ArtifactDigestMismatch => "ARTIFACT_DIGEST_MISMATCH",
            IssueCode::PlanspecVersionMissing => "PLANSPEC_VERSION_MISSING",
            IssueCode::PlanspecVersionTooOld => "PLANSPEC_VERSION_TOO_OLD",
            IssueCode::PlanspecVersionTooNew => "PLANSPEC_VERSION_TOO_NEW",
            IssueCode::CapabilityMissing => "CAPABILITY_MISSING",
        }
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found by [`verify`](crate::verify()).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The stable code.
    pub code: IssueCode,
    /// What is wrong, for people (never a secret: manifests hold none).
    pub message: String,
}

impl Issue {
    pub(crate) fn new(code: IssueCode, message: impl Into<String>) -> Issue {
        Issue {
            code,
            message: message.into(),
        }
    }

    /// The model's form, for a Provider's status.
    pub fn to_model(&self) -> planspec_model::provider::ProviderIssue {
        planspec_model::provider::ProviderIssue {
            code: self.code.as_str().to_string(),
            message: self.message.clone(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
