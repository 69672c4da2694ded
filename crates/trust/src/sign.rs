//! Signing a Provider's manifest.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use planspec_model::provider::{ManifestSignature, ProviderSpec, SignatureAlgorithm};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::canonical::{artifact_digest, signed_bytes};
use crate::keys::{KeyError, KeyPair};

/// Why a Provider could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The spec has no `manifest` to sign (give the publisher to create one).
    #[error(
        "the Provider has no spec.manifest; give the publisher id and provenance to create one"
    )]
    NoManifest,
    /// The key cannot be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The spec or manifest cannot be put in canonical form.
    #[error("cannot canonicalise the manifest: {0}")]
    Canonical(#[from] serde_json::Error),
    /// A time cannot be written as RFC 3339.
    #[error("cannot format a timestamp: {0}")]
    Time(#[from] time::error::Format),
}

/// What goes into a signature besides the key.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The key id to record; the key's fingerprint when `None`.
    pub key_id: Option<String>,
    /// When the signature is made.
    pub issued_at: OffsetDateTime,
    /// When it stops being valid.
    pub expires_at: Option<OffsetDateTime>,
}

/// Signs `spec.manifest` in place: sets `artifact.digest` to the spec's digest, then the
/// signature over the manifest's canonical form.
pub fn sign(
    spec: &mut ProviderSpec,
    key: &KeyPair,
    options: &SignOptions,
) -> Result<(), SignError> {
    let digest = artifact_digest(spec)?;
    let signing = key.signing_key()?;
    let Some(manifest) = spec.manifest.as_mut() else {
        return Err(SignError::NoManifest);
    };
    manifest.artifact.digest = digest;
    manifest.signature = Some(ManifestSignature {
        algorithm: SignatureAlgorithm::Ed25519,
        value: String::new(),
        public_key: key.public_key.clone(),
        key_id: Some(options.key_id.clone().unwrap_or_else(|| key.key_id.clone())),
        issued_at: Some(options.issued_at.format(&Rfc3339)?),
        expires_at: options.expires_at.map(|t| t.format(&Rfc3339)).transpose()?,
    });
    let bytes = signed_bytes(manifest)?;
    let signature = signing.sign(&bytes);
    if let Some(s) = manifest.signature.as_mut() {
        s.value = STANDARD.encode(signature.to_bytes());
    }
    Ok(())
}
