//! Canonical forms and digests.

use planspec_model::provider::{ProviderManifest, ProviderSpec};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The RFC 8785 (JCS) canonical JSON of a value.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json_canonicalizer::to_vec(value)
}

/// `sha256:` and the lowercase hex SHA-256 of `bytes`.
pub fn sha256_prefixed(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The bytes a signature covers: the canonical JSON of the manifest with the signature's
/// `value` left out. Unlike the ContractSpec form (manifest without `signature`), this also
/// covers the signature's own claims — `publicKey`, `keyId`, `issuedAt`, `expiresAt` — so
/// nobody can extend an expiry or relabel a key without the private key.
pub(crate) fn signed_bytes(manifest: &ProviderManifest) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(manifest)?;
    if let Some(signature) = value.get_mut("signature").and_then(|s| s.as_object_mut()) {
        signature.remove("value");
    }
    canonical_json(&value)
}

/// `sha256:` of the manifest's canonical form without `signature`: what identifies the
/// manifest's content (`status.manifestDigest`, the pinned provider record).
pub fn manifest_digest(manifest: &ProviderManifest) -> Result<String, serde_json::Error> {
    let mut unsigned = manifest.clone();
    unsigned.signature = None;
    canonical_json(&unsigned).map(|b| sha256_prefixed(&b))
}

/// The digest a manifest's `artifact.digest` must equal: `sha256:` of the canonical JSON of
/// the Provider's spec without `manifest` — the implementation, its declared risk,
/// `destructive` and capabilities. Editing any of them breaks the signature's claim.
pub fn artifact_digest(spec: &ProviderSpec) -> Result<String, serde_json::Error> {
    let mut artifact = spec.clone();
    artifact.manifest = None;
    canonical_json(&artifact).map(|b| sha256_prefixed(&b))
}
