//! Each issue code from a real signature: sign, then change one thing.

use super::*;
use planspec_model::policy::RiskLevel;
use planspec_model::provider::{
    ArtifactRef, CompatibilitySpec, ExecImplementation, ProviderManifest, ProviderSpec,
    ProviderType, PublisherRef, RequiredCapability, TrustPolicy, TrustedPublisher, VersionRange,
};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-12-07 12:00 UTC);

fn key(seed: u8) -> KeyPair {
    KeyPair::from_seed([seed; 32])
}

fn spec() -> ProviderSpec {
    ProviderSpec {
        provider_type: ProviderType::Exec,
        description: Some("deploys".into()),
        risk: RiskLevel::Medium,
        destructive: false,
        capabilities: vec![],
        exec: Some(ExecImplementation {
            command: vec!["/bin/echo".into(), "hi".into()],
            args: vec![],
            shell: false,
            env: Default::default(),
            working_dir: None,
            grace_period: None,
        }),
        http: None,
        manifest: Some(ProviderManifest {
            schema_version: "1.0.0".into(),
            publisher: PublisherRef {
                id: "acme".into(),
                provenance: "https://git.example/acme/deployer@v1".into(),
                repository_url: None,
            },
            artifact: ArtifactRef {
                digest: String::new(),
            },
            compatibility: Some(CompatibilitySpec {
                planspec_version: Some(VersionRange {
                    min_version: Some("0.1.0".into()),
                    max_version: Some("0.9.0".into()),
                }),
                required_capabilities: vec![RequiredCapability {
                    key: "secrets.file".into(),
                    version: Some("1.0.0".into()),
                }],
            }),
            metadata: None,
            signature: None,
        }),
    }
}

fn policy(pair: &KeyPair) -> TrustPolicy {
    TrustPolicy {
        trusted_publishers: vec![TrustedPublisher {
            id: "acme".into(),
            key_ids: vec![pair.key_id.clone()],
            public_keys: vec![],
            provenance_prefixes: vec!["https://git.example/acme".into()],
        }],
        allow_expired_signatures: false,
    }
}

fn facts() -> RuntimeFacts<'static> {
    RuntimeFacts {
        planspec_version: Some("0.1.0"),
        capabilities: RUNTIME_CAPABILITIES,
        now: NOW,
    }
}

fn signed(spec: &mut ProviderSpec, pair: &KeyPair, expires: Option<OffsetDateTime>) {
    let options = SignOptions {
        key_id: None,
        issued_at: datetime!(2026-12-01 00:00 UTC),
        expires_at: expires,
    };
    assert!(sign(spec, pair, &options).is_ok());
}

fn codes(
    spec: &ProviderSpec,
    policy: Option<&TrustPolicy>,
    facts: &RuntimeFacts,
) -> Vec<IssueCode> {
    verify(spec, policy, facts).codes()
}

#[test]
fn sign_then_verify_is_clean() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, Some(datetime!(2027-01-01 00:00 UTC)));
    let v = verify(&s, Some(&policy(&pair)), &facts());
    assert!(v.verified, "{:?}", v.issues);
    assert!(v.manifest_digest.is_some_and(|d| d.starts_with("sha256:")));
    assert_eq!(v.valid_until, Some(datetime!(2027-01-01 00:00 UTC)));
    // Pinning the raw public key works as well as its fingerprint.
    let mut by_key = policy(&pair);
    by_key.trusted_publishers[0].key_ids.clear();
    by_key.trusted_publishers[0].public_keys = vec![pair.public_key.clone()];
    assert!(verify(&s, Some(&by_key), &facts()).verified);
    // The key file round-trips.
    let again = KeyPair::from_json(&pair.to_json());
    assert_eq!(
        again.map(|k| k.public_key).ok(),
        Some(pair.public_key.clone())
    );
}

#[test]
fn tampered_manifest_field_is_signature_invalid() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, None);
    if let Some(m) = s.manifest.as_mut() {
        m.publisher.provenance = "https://git.example/acme/other@v2".into();
    }
    assert_eq!(
        codes(&s, Some(&policy(&pair)), &facts()),
        vec![IssueCode::SignatureInvalid]
    );
}

#[test]
fn extending_the_expiry_breaks_the_signature() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, Some(datetime!(2026-12-02 00:00 UTC)));
    if let Some(sig) = s.manifest.as_mut().and_then(|m| m.signature.as_mut()) {
        sig.expires_at = Some("2099-01-01T00:00:00Z".into());
    }
    assert_eq!(
        codes(&s, Some(&policy(&pair)), &facts()),
        vec![IssueCode::SignatureInvalid]
    );
}

#[test]
fn changed_spec_is_artifact_digest_mismatch() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, None);
    s.risk = RiskLevel::Low;
    assert_eq!(
        codes(&s, Some(&policy(&pair)), &facts()),
        vec![IssueCode::ArtifactDigestMismatch]
    );
    let mut s2 = spec();
    signed(&mut s2, &pair, None);
    if let Some(exec) = s2.exec.as_mut() {
        exec.command = vec!["/bin/rm".into(), "-rf".into(), "/".into()];
    }
    assert_eq!(
        codes(&s2, Some(&policy(&pair)), &facts()),
        vec![IssueCode::ArtifactDigestMismatch]
    );
}

#[test]
fn untrusted_publisher_key_and_provenance() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, None);
    let mut p = policy(&pair);
    p.trusted_publishers[0].id = "someone-else".into();
    assert_eq!(
        codes(&s, Some(&p), &facts()),
        vec![IssueCode::PublisherUntrusted]
    );

    let other = key(2);
    assert_eq!(
        codes(&s, Some(&policy(&other)), &facts()),
        vec![IssueCode::KeyUntrusted]
    );

    // A free-form key id pins nothing.
    let mut named = policy(&pair);
    named.trusted_publishers[0].key_ids = vec!["acme-2026".into()];
    assert_eq!(
        codes(&s, Some(&named), &facts()),
        vec![IssueCode::KeyUntrusted]
    );

    let mut p = policy(&pair);
    p.trusted_publishers[0].provenance_prefixes = vec!["https://git.example/acme-evil".into()];
    assert_eq!(
        codes(&s, Some(&p), &facts()),
        vec![IssueCode::ProvenanceUntrusted]
    );
    // Prefixes match at a boundary only.
    let mut evil = spec();
    if let Some(m) = evil.manifest.as_mut() {
        m.publisher.provenance = "https://git.example/acme-evil/x".into();
    }
    signed(&mut evil, &pair, None);
    assert_eq!(
        codes(&evil, Some(&policy(&pair)), &facts()),
        vec![IssueCode::ProvenanceUntrusted]
    );
}

#[test]
fn expired_unless_allowed() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, Some(datetime!(2026-12-05 00:00 UTC)));
    assert_eq!(
        codes(&s, Some(&policy(&pair)), &facts()),
        vec![IssueCode::SignatureExpired]
    );
    let mut lenient = policy(&pair);
    lenient.allow_expired_signatures = true;
    assert!(verify(&s, Some(&lenient), &facts()).verified);
}

#[test]
fn versions_missing_too_old_too_new() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, None);
    let p = policy(&pair);
    let mut f = facts();
    f.planspec_version = None;
    assert_eq!(
        codes(&s, Some(&p), &f),
        vec![IssueCode::PlanspecVersionMissing]
    );
    f.planspec_version = Some("0.0.9");
    assert_eq!(
        codes(&s, Some(&p), &f),
        vec![IssueCode::PlanspecVersionTooOld]
    );
    f.planspec_version = Some("1.0.0");
    assert_eq!(
        codes(&s, Some(&p), &f),
        vec![IssueCode::PlanspecVersionTooNew]
    );
}

#[test]
fn capabilities_missing_or_incompatible() {
    let pair = key(1);
    let p = policy(&pair);
    let mut f = facts();
    let mut s = spec();
    signed(&mut s, &pair, None);
    f.capabilities = &[("provider.exec", "1.0.0")];
    assert_eq!(codes(&s, Some(&p), &f), vec![IssueCode::CapabilityMissing]);
    f.capabilities = &[("secrets.file", "2.0.0")];
    assert_eq!(codes(&s, Some(&p), &f), vec![IssueCode::CapabilityMissing]);
    f.capabilities = &[("secrets.file", "1.3.0")];
    assert!(verify(&s, Some(&p), &f).verified);
}

#[test]
fn missing_and_malformed_signatures() {
    let pair = key(1);
    let mut unsigned = spec();
    unsigned.manifest = None;
    assert_eq!(
        codes(&unsigned, None, &facts()),
        vec![IssueCode::SignatureMissing]
    );
    let s = spec();
    let c = codes(&s, Some(&policy(&pair)), &facts());
    assert!(c.contains(&IssueCode::SignatureMissing), "{c:?}");
    let mut bad = spec();
    signed(&mut bad, &pair, None);
    if let Some(sig) = bad.manifest.as_mut().and_then(|m| m.signature.as_mut()) {
        sig.value = "not base64!".into();
    }
    assert_eq!(
        codes(&bad, Some(&policy(&pair)), &facts()),
        vec![IssueCode::ManifestInvalid]
    );
    let mut v2 = spec();
    if let Some(m) = v2.manifest.as_mut() {
        m.schema_version = "2.0.0".into();
    }
    signed(&mut v2, &pair, None);
    assert_eq!(
        codes(&v2, Some(&policy(&pair)), &facts()),
        vec![IssueCode::SchemaVersionInvalid]
    );
}

#[test]
fn everything_wrong_at_once_reports_every_code() {
    let pair = key(1);
    let mut s = spec();
    signed(&mut s, &pair, Some(datetime!(2026-12-02 00:00 UTC)));
    s.destructive = true;
    let p = TrustPolicy::default();
    let mut f = facts();
    f.planspec_version = Some("5.0.0");
    f.capabilities = &[];
    let c = codes(&s, Some(&p), &f);
    for code in [
        IssueCode::ArtifactDigestMismatch,
        IssueCode::SignatureExpired,
        IssueCode::PublisherUntrusted,
        IssueCode::PlanspecVersionTooNew,
        IssueCode::CapabilityMissing,
    ] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
}

#[test]
fn canonical_form_is_rfc8785() {
    let v = serde_json::json!({"b": [1.0, 2.5e-7, "é\u{2028}"], "a": {"z": null, "y": true}});
    let text = canonical_json(&v).map(|b| String::from_utf8_lossy(&b).into_owned());
    assert_eq!(
        text.ok().as_deref(),
        Some("{\"a\":{\"y\":true,\"z\":null},\"b\":[1,2.5e-7,\"é\u{2028}\"]}")
    );
}
