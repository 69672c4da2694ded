//! `planspec provider keygen|sign|verify`: ed25519 keys, signing a Provider's manifest, and
//! verifying one offline — the same checks (`planspec-trust`) the server runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use planspec_model::common::parse_go_duration;
use planspec_model::provider::{
    ArtifactRef, Provider, ProviderManifest, PublisherRef, TrustPolicy, MANIFEST_SCHEMA_VERSION,
};
use planspec_trust::{sign, verify, KeyPair, RuntimeFacts, SignOptions, Verification};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::error::{emit, usage, Exit, Failure, Outcome};

/// `planspec provider`.
#[derive(Debug, Clone, Args)]
pub struct ProviderArgs {
    #[command(subcommand)]
    pub command: ProviderCommand,
}

/// `planspec provider …`.
#[derive(Debug, Clone, Subcommand)]
pub enum ProviderCommand {
    /// Create an ed25519 key pair for signing Provider manifests (private file, mode 0600).
    Keygen(KeygenArgs),
    /// Sign a Provider document's manifest in place (sets artifact.digest and signature).
    Sign(SignArgs),
    /// Verify a Provider document offline; exit 1 unless it verifies.
    Verify(VerifyArgs),
}

/// `planspec provider keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Where to write the key pair (JSON, mode 0600); refuses to overwrite a file.
    #[arg(long, value_name = "KEY")]
    pub out: PathBuf,
}

/// `planspec provider sign`.
#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// The Provider document (YAML or JSON), rewritten with the signature.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// The key file `planspec provider keygen` wrote.
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The key id to record [default: the key's fingerprint, what trust policies pin].
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// The publisher id, when the document has no spec.manifest yet.
    #[arg(long, value_name = "ID")]
    pub publisher: Option<String>,
    /// The publisher's provenance (e.g. a repository URL and tag), with --publisher.
    #[arg(long, value_name = "URI")]
    pub provenance: Option<String>,
    /// How long the signature stays valid, e.g. `8760h` [default: no expiry].
    #[arg(long, value_name = "DURATION")]
    pub valid_for: Option<String>,
}

/// `planspec provider verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The Provider document (YAML or JSON).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// The trust policy (YAML or JSON); without it only integrity and compatibility are
    /// checked, not whether the publisher and key are trusted.
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,
    /// Output format: `text` or `json`.
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "text")]
    pub output: String,
}

/// `planspec provider`.
pub fn run(args: &ProviderArgs) -> Outcome {
    match &args.command {
        ProviderCommand::Keygen(a) => keygen(a),
        ProviderCommand::Sign(a) => sign_file(a),
        ProviderCommand::Verify(a) => verify_file(a),
    }
}

fn fail(message: impl std::fmt::Display) -> Failure {
    Failure::Message(format!("error: {message}"))
}

fn keygen(args: &KeygenArgs) -> Outcome {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| fail(format!("no randomness from the OS: {e}")))?;
    let pair = KeyPair::from_seed(seed);
    write_private(&args.out, pair.to_json().as_bytes())?;
    emit(&format!(
        "wrote {} (keep it private)\nkeyId: {}\npublicKey: {}\n",
        args.out.display(),
        pair.key_id,
        pair.public_key
    ))?;
    Ok(Exit::Success)
}

/// Creates `path` with mode 0600; never overwrites.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| fail(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))
}

/// Reads a YAML or JSON document as JSON.
fn read_document(path: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    serde_yaml_ng::from_str::<Value>(&text).map_err(|e| {
        fail(format!(
            "{}: not a YAML or JSON document: {e}",
            path.display()
        ))
    })
}

fn read_provider(path: &Path) -> Result<(Value, Provider), Failure> {
    let document = read_document(path)?;
    if document.get("kind").and_then(Value::as_str) != Some("Provider") {
        return Err(fail(format!(
            "{}: not a Provider document (kind: Provider)",
            path.display()
        )));
    }
    let provider: Provider = serde_json::from_value(document.clone())
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok((document, provider))
}

fn sign_file(args: &SignArgs) -> Outcome {
    let key_text = std::fs::read_to_string(&args.key)
        .map_err(|e| fail(format!("cannot read {}: {e}", args.key.display())))?;
    let key =
        KeyPair::from_json(&key_text).map_err(|e| fail(format!("{}: {e}", args.key.display())))?;
    let (mut document, mut provider) = read_provider(&args.file)?;
    match (
        &args.publisher,
        &args.provenance,
        provider.spec.manifest.as_mut(),
    ) {
        (Some(id), Some(provenance), Some(manifest)) => {
            manifest.publisher.id = id.clone();
            manifest.publisher.provenance = provenance.clone();
        }
        (Some(id), Some(provenance), None) => {
            provider.spec.manifest = Some(ProviderManifest {
                schema_version: MANIFEST_SCHEMA_VERSION.into(),
                publisher: PublisherRef {
                    id: id.clone(),
                    provenance: provenance.clone(),
                    repository_url: None,
                },
                artifact: ArtifactRef {
                    digest: String::new(),
                },
                compatibility: None,
                metadata: None,
                signature: None,
            });
        }
        (None, None, Some(_)) => {}
        (None, None, None) => {
            return Err(usage(
                "provider",
                "the document has no spec.manifest: give --publisher ID and --provenance URI",
            ))
        }
        _ => {
            return Err(usage(
                "provider",
                "--publisher and --provenance go together",
            ))
        }
    }
    let now = OffsetDateTime::now_utc();
    let expires_at = match &args.valid_for {
        Some(text) => {
            let d = parse_go_duration(text).ok_or_else(|| {
                usage(
                    "provider",
                    format!("--valid-for `{text}` is not a duration such as 8760h"),
                )
            })?;
            Some(now + d)
        }
        None => None,
    };
    let options = SignOptions {
        key_id: args.key_id.clone(),
        issued_at: now.replace_nanosecond(0).unwrap_or(now),
        expires_at: expires_at.map(|t| t.replace_nanosecond(0).unwrap_or(t)),
    };
    sign(&mut provider.spec, &key, &options).map_err(fail)?;
    let manifest = serde_json::to_value(&provider.spec.manifest).map_err(fail)?;
    document["spec"]["manifest"] = manifest;
    let json_file = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = if json_file {
        let mut t = serde_json::to_string_pretty(&document).map_err(fail)?;
        t.push('\n');
        t
    } else {
        serde_yaml_ng::to_string(&document).map_err(fail)?
    };
    std::fs::write(&args.file, text)
        .map_err(|e| fail(format!("cannot write {}: {e}", args.file.display())))?;
    let digest = provider
        .spec
        .manifest
        .as_ref()
        .map(|m| m.artifact.digest.clone())
        .unwrap_or_default();
    emit(&format!(
        "signed {} (artifact {digest}, key {})\n",
        args.file.display(),
        options.key_id.as_deref().unwrap_or(&key.key_id)
    ))?;
    Ok(Exit::Success)
}

fn verify_file(args: &VerifyArgs) -> Outcome {
    if args.output != "text" && args.output != "json" {
        return Err(usage(
            "provider",
            format!("-o must be text or json, not `{}`", args.output),
        ));
    }
    let (_, provider) = read_provider(&args.file)?;
    let policy: Option<TrustPolicy> = match &args.trust_policy {
        Some(path) => Some(
            serde_json::from_value(read_document(path)?)
                .map_err(|e| fail(format!("{}: not a trust policy: {e}", path.display())))?,
        ),
        None => None,
    };
    let result = verify(
        &provider.spec,
        policy.as_ref(),
        &RuntimeFacts::current(OffsetDateTime::now_utc()),
    );
    let name = provider.metadata.name.to_string();
    if args.output == "json" {
        emit(&format!(
            "{:#}\n",
            report_json(&name, &result, policy.is_some())
        ))?;
    } else {
        emit(&report_text(&name, &result, policy.is_some()))?;
    }
    Ok(if result.verified {
        Exit::Success
    } else {
        Exit::Invalid
    })
}

fn report_json(name: &str, result: &Verification, trust_checked: bool) -> Value {
    json!({
        "provider": name,
        "verified": result.verified,
        "trustChecked": trust_checked,
        "manifestDigest": result.manifest_digest,
        "issues": result.issues.iter().map(|i| json!({"code": i.code.as_str(), "message": i.message})).collect::<Vec<_>>(),
    })
}

fn report_text(name: &str, result: &Verification, trust_checked: bool) -> String {
    let mut out = String::new();
    if result.verified {
        out.push_str(&format!("provider/{name}: verified"));
        if !trust_checked {
            out.push_str(
                " (signature, digest and compatibility; trust not checked: no --trust-policy)",
            );
        }
        out.push('\n');
    } else {
        out.push_str(&format!(
            "provider/{name}: NOT verified ({} issue(s))\n",
            result.issues.len()
        ));
        for issue in &result.issues {
            out.push_str(&format!("  {}: {}\n", issue.code, issue.message));
        }
    }
    if let Some(d) = &result.manifest_digest {
        out.push_str(&format!("manifestDigest: {d}\n"));
    }
    out
}
