//! Verifying a Provider's manifest against a trust policy and the runtime.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use planspec_model::provider::{
    ManifestSignature, ProviderManifest, ProviderSpec, TrustPolicy, TrustedPublisher,
    MANIFEST_SCHEMA_VERSION,
};
use semver::Version;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::canonical::{artifact_digest, manifest_digest, signed_bytes};
use crate::issue::{Issue, IssueCode};
use crate::keys::{fingerprint, verifying_key};

/// The capabilities this runtime offers to Providers, with their versions: what a manifest's
/// `compatibility.requiredCapabilities` is checked against.
pub const RUNTIME_CAPABILITIES: &[(&str, &str)] = &[
    ("provider.exec", "1.0.0"),
    ("provider.http", "1.0.0"),
    ("secrets.file", "1.0.0"),
    ("secrets.env", "1.0.0"),
    ("idempotency-key", "1.0.0"),
];

/// What verification needs to know about the runtime that would run the Provider.
#[derive(Debug, Clone)]
pub struct RuntimeFacts<'a> {
    /// The PlanSpec version, if known (a manifest's version range needs it).
    pub planspec_version: Option<&'a str>,
    /// The runtime's capabilities, `(key, version)`.
    pub capabilities: &'a [(&'a str, &'a str)],
    /// The time to check expiry against.
    pub now: OffsetDateTime,
}

impl RuntimeFacts<'_> {
    /// The facts of this build at `now`: its version and [`RUNTIME_CAPABILITIES`].
    pub fn current(now: OffsetDateTime) -> RuntimeFacts<'static> {
        RuntimeFacts {
            planspec_version: Some(env!("CARGO_PKG_VERSION")),
            capabilities: RUNTIME_CAPABILITIES,
            now,
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// `true` when there are no issues.
    pub verified: bool,
    /// Every problem found, in check order.
    pub issues: Vec<Issue>,
    /// `sha256:` of the manifest's canonical form, when there is a manifest.
    pub manifest_digest: Option<String>,
    /// The earliest time this verdict changes by itself (the signature's expiry), so a
    /// controller knows when to look again.
    pub valid_until: Option<OffsetDateTime>,
}

impl Verification {
    /// The codes found, in order (for tests and one-line summaries).
    pub fn codes(&self) -> Vec<IssueCode> {
        self.issues.iter().map(|i| i.code).collect()
    }
}

/// Verifies `spec`'s manifest: its format, its signature over the canonical form, expiry, the
/// artifact digest against the spec itself, and compatibility with `facts`; and, when `policy`
/// is given, that the publisher, key and provenance are trusted. `policy: None` (an offline
/// check without a trust policy) checks integrity only. Every issue is reported, not just the
/// first.
pub fn verify(
    spec: &ProviderSpec,
    policy: Option<&TrustPolicy>,
    facts: &RuntimeFacts<'_>,
) -> Verification {
    let mut issues = Vec::new();
    let Some(manifest) = &spec.manifest else {
        issues.push(Issue::new(
            IssueCode::SignatureMissing,
            "the Provider has no spec.manifest, so nobody vouches for it",
        ));
        return finish(issues, None, None);
    };
    let digest = match manifest_digest(manifest) {
        Ok(d) => Some(d),
        Err(e) => {
            issues.push(Issue::new(
                IssueCode::ManifestInvalid,
                format!("the manifest has no canonical form: {e}"),
            ));
            None
        }
    };
    check_schema_version(manifest, &mut issues);
    match artifact_digest(spec) {
        Ok(actual) if actual == manifest.artifact.digest => {}
        Ok(actual) => issues.push(Issue::new(
            IssueCode::ArtifactDigestMismatch,
            format!(
                "artifact.digest is {} but the Provider's spec digests to {actual}: the spec \
                 changed after it was signed",
                manifest.artifact.digest
            ),
        )),
        Err(e) => issues.push(Issue::new(
            IssueCode::ManifestInvalid,
            format!("the spec has no canonical form: {e}"),
        )),
    }
    let mut valid_until = None;
    let mut public_key = None;
    match &manifest.signature {
        None => issues.push(Issue::new(
            IssueCode::SignatureMissing,
            "the manifest is not signed (spec.manifest.signature is missing)",
        )),
        Some(signature) => {
            public_key = check_signature(manifest, signature, &mut issues);
            valid_until = check_expiry(signature, policy, facts, &mut issues);
        }
    }
    if let Some(policy) = policy {
        check_trust(manifest, public_key, policy, &mut issues);
    }
    check_compatibility(manifest, facts, &mut issues);
    finish(issues, digest, valid_until)
}

fn finish(
    issues: Vec<Issue>,
    manifest_digest: Option<String>,
    valid_until: Option<OffsetDateTime>,
) -> Verification {
    Verification {
        verified: issues.is_empty(),
        issues,
        manifest_digest,
        valid_until,
    }
}

fn check_schema_version(manifest: &ProviderManifest, issues: &mut Vec<Issue>) {
    let supported = Version::parse(MANIFEST_SCHEMA_VERSION).ok();
    match Version::parse(&manifest.schema_version) {
        Ok(v) if supported.as_ref().is_some_and(|s| s.major == v.major) => {}
        _ => issues.push(Issue::new(
            IssueCode::SchemaVersionInvalid,
            format!(
                "schemaVersion `{}` is not supported (this runtime reads {MANIFEST_SCHEMA_VERSION})",
                manifest.schema_version
            ),
        )),
    }
}

/// Checks the signature; returns the public key if it could be read.
fn check_signature(
    manifest: &ProviderManifest,
    signature: &ManifestSignature,
    issues: &mut Vec<Issue>,
) -> Option<[u8; 32]> {
    let Some((key_bytes, key)) = verifying_key(&signature.public_key) else {
        issues.push(Issue::new(
            IssueCode::ManifestInvalid,
            "signature.publicKey is not standard base64 of a 32-byte ed25519 public key",
        ));
        return None;
    };
    if let Some(key_id) = &signature.key_id {
        if key_id.starts_with("sha256:") && *key_id != fingerprint(&key_bytes) {
            issues.push(Issue::new(
                IssueCode::KeyUntrusted,
                format!("signature.keyId {key_id} is the fingerprint of another key"),
            ));
        }
    }
    let sig_bytes: Option<[u8; 64]> = STANDARD
        .decode(signature.value.trim())
        .ok()
        .and_then(|b| b.try_into().ok());
    let Some(sig_bytes) = sig_bytes else {
        issues.push(Issue::new(
            IssueCode::ManifestInvalid,
            "signature.value is not standard base64 of a 64-byte ed25519 signature",
        ));
        return Some(key_bytes);
    };
    let ok = signed_bytes(manifest).ok().is_some_and(|bytes| {
        key.verify_strict(&bytes, &Signature::from_bytes(&sig_bytes))
            .is_ok()
    });
    if !ok {
        issues.push(Issue::new(
            IssueCode::SignatureInvalid,
            "the signature does not verify over the manifest's canonical form: the manifest \
             or the signature was altered, or another key signed it",
        ));
    }
    Some(key_bytes)
}

/// Checks `issuedAt`/`expiresAt`; returns the expiry when it is still ahead.
fn check_expiry(
    signature: &ManifestSignature,
    policy: Option<&TrustPolicy>,
    facts: &RuntimeFacts<'_>,
    issues: &mut Vec<Issue>,
) -> Option<OffsetDateTime> {
    if let Some(issued) = &signature.issued_at {
        if OffsetDateTime::parse(issued, &Rfc3339).is_err() {
            issues.push(Issue::new(
                IssueCode::ManifestInvalid,
                format!("signature.issuedAt `{issued}` is not an RFC 3339 time"),
            ));
        }
    }
    let expires = signature.expires_at.as_ref()?;
    let Ok(expires_at) = OffsetDateTime::parse(expires, &Rfc3339) else {
        issues.push(Issue::new(
            IssueCode::ManifestInvalid,
            format!("signature.expiresAt `{expires}` is not an RFC 3339 time"),
        ));
        return None;
    };
    if facts.now < expires_at {
        return Some(expires_at);
    }
    if !policy.is_some_and(|p| p.allow_expired_signatures) {
        issues.push(Issue::new(
            IssueCode::SignatureExpired,
            format!("the signature expired at {expires}"),
        ));
    }
    None
}

fn check_trust(
    manifest: &ProviderManifest,
    public_key: Option<[u8; 32]>,
    policy: &TrustPolicy,
    issues: &mut Vec<Issue>,
) {
    let id = &manifest.publisher.id;
    let Some(publisher) = policy.trusted_publishers.iter().find(|p| p.id == *id) else {
        issues.push(Issue::new(
            IssueCode::PublisherUntrusted,
            format!("publisher `{id}` is not in the trust policy"),
        ));
        return;
    };
    if let Some(key) = public_key {
        if !key_pinned(publisher, &key) {
            issues.push(Issue::new(
                IssueCode::KeyUntrusted,
                format!(
                    "key {} is not pinned for publisher `{id}` (pin it in publicKeys, or its \
                     fingerprint in keyIds)",
                    fingerprint(&key)
                ),
            ));
        }
    }
    let provenance = &manifest.publisher.provenance;
    if !publisher.provenance_prefixes.is_empty()
        && !publisher
            .provenance_prefixes
            .iter()
            .any(|prefix| provenance_matches(prefix, provenance))
    {
        issues.push(Issue::new(
            IssueCode::ProvenanceUntrusted,
            format!(
                "provenance `{provenance}` starts with none of publisher `{id}`'s allowed \
                 prefixes"
            ),
        ));
    }
}

/// A key is pinned by its public key, or by its fingerprint in `keyIds`. A free-form key id
/// alone pins nothing: it is a name the signer chooses.
fn key_pinned(publisher: &TrustedPublisher, key: &[u8; 32]) -> bool {
    let encoded = STANDARD.encode(key);
    let print = fingerprint(key);
    publisher.public_keys.iter().any(|k| k.trim() == encoded) || publisher.key_ids.contains(&print)
}

/// `prefix` matches at a boundary: `https://github.com/acme` allows
/// `https://github.com/acme/tool@v1` but not `https://github.com/acme-evil/tool`.
fn provenance_matches(prefix: &str, provenance: &str) -> bool {
    let Some(rest) = provenance.strip_prefix(prefix) else {
        return false;
    };
    rest.is_empty()
        || prefix.ends_with(['/', '@', ':', '#'])
        || rest.starts_with(['/', '@', '#', '?', ':'])
}

fn check_compatibility(
    manifest: &ProviderManifest,
    facts: &RuntimeFacts<'_>,
    issues: &mut Vec<Issue>,
) {
    let Some(compat) = &manifest.compatibility else {
        return;
    };
    if let Some(range) = &compat.planspec_version {
        let min = parse_version(range.min_version.as_deref(), "minVersion", issues);
        let max = parse_version(range.max_version.as_deref(), "maxVersion", issues);
        if range.min_version.is_some() || range.max_version.is_some() {
            match facts.planspec_version.and_then(|v| Version::parse(v).ok()) {
                None => issues.push(Issue::new(
                    IssueCode::PlanspecVersionMissing,
                    "the manifest names a PlanSpec version range but the runtime's version is \
                     unknown",
                )),
                Some(current) => {
                    if let Some(min) = min.filter(|min| current < *min) {
                        issues.push(Issue::new(
                            IssueCode::PlanspecVersionTooOld,
                            format!("PlanSpec {current} is older than the required {min}"),
                        ));
                    }
                    if let Some(max) = max.filter(|max| current > *max) {
                        issues.push(Issue::new(
                            IssueCode::PlanspecVersionTooNew,
                            format!("PlanSpec {current} is newer than the supported {max}"),
                        ));
                    }
                }
            }
        }
    }
    for required in &compat.required_capabilities {
        let have = facts
            .capabilities
            .iter()
            .find(|(key, _)| *key == required.key);
        let Some((_, have_version)) = have else {
            issues.push(Issue::new(
                IssueCode::CapabilityMissing,
                format!("this runtime has no capability `{}`", required.key),
            ));
            continue;
        };
        let Some(wanted) = parse_version(required.version.as_deref(), "version", issues) else {
            continue;
        };
        let compatible = Version::parse(have_version)
            .is_ok_and(|have| have.major == wanted.major && have >= wanted);
        if !compatible {
            issues.push(Issue::new(
                IssueCode::CapabilityMissing,
                format!(
                    "capability `{}` is at {have_version} here; {wanted} needs the same major \
                     version, at least as new",
                    required.key
                ),
            ));
        }
    }
}

fn parse_version(text: Option<&str>, field: &str, issues: &mut Vec<Issue>) -> Option<Version> {
    let text = text?;
    match Version::parse(text) {
        Ok(v) => Some(v),
        Err(_) => {
            issues.push(Issue::new(
                IssueCode::ManifestInvalid,
                format!("{field} `{text}` is not a semantic version (e.g. 1.2.0)"),
            ));
            None
        }
    }
}
