//! Provider resources as Binding targets: `provider://NAME`.
//!
//! A Binding rule whose target is `provider://NAME` (and no `config`) routes to the Provider
//! `NAME` of the Execution's namespace. At start the runtime reads that Provider, verifies its
//! manifest against the registry's trust policy ([`planspec_trust::verify`]), turns its `exec`
//! or `http` implementation into the target the built-in provider of that type resolves, and
//! pins the result with the Provider's identity (uid, resourceVersion, manifest digest), its
//! declared `risk` and `destructive`, and the verdict — so a Provider edited or re-signed
//! later does not change a running Execution.

use planspec_model::binding::BindingTarget;
use planspec_model::provider::{Provider, ProviderType, SecretString};
use planspec_trust::{verify, RuntimeFacts, Verification};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::pinned::{PinnedProvider, ProviderResourcePin, ProviderUri};
use super::registry::{ProviderRegistry, ResolveError};

/// The URI scheme of targets that name a Provider resource.
pub const PROVIDER_SCHEME: &str = "provider";

/// The Provider a target names, if it is a `provider://NAME` target: `Some(Ok(name))`, or
/// `Some(Err(problem))` when the target is malformed.
pub fn provider_target(target: &BindingTarget) -> Option<Result<String, String>> {
    let uri = ProviderUri::parse(&target.provider)?;
    if uri.scheme() != PROVIDER_SCHEME {
        return None;
    }
    let name = uri.rest().trim_end_matches('/');
    if name.is_empty() || name.contains(['/', '?', '#', '@']) {
        return Some(Err(format!(
            "`{}` must be `provider://NAME`, NAME a Provider of the namespace",
            target.provider
        )));
    }
    if target.config.as_ref().is_some_and(|c| !c.is_empty()) {
        return Some(Err(format!(
            "target `provider://{name}` takes no config: the Provider's spec is what runs \
             (and what its manifest signs)"
        )));
    }
    Some(Ok(name.to_string()))
}

/// Why a Provider resource cannot be pinned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderResourceError {
    /// The Provider's type has no implementation in this runtime (`agent`, `mcp`).
    #[error("provider {name}: type `{provider_type}` cannot be bound by this runtime yet")]
    UnsupportedType {
        /// The Provider's name.
        name: String,
        /// Its type.
        provider_type: String,
    },
    /// The Provider's spec lacks the section of its type, or it is invalid.
    #[error("provider {name}: {problem}")]
    Invalid {
        /// The Provider's name.
        name: String,
        /// What is wrong (names fields, never values).
        problem: String,
    },
    /// The built-in provider rejected the implementation.
    #[error("provider {name}: {error}")]
    Resolve {
        /// The Provider's name.
        name: String,
        /// Why.
        #[source]
        error: ResolveError,
    },
}

/// Verifies a Provider against the registry's trust policy at `now` with this build's
/// runtime facts.
pub fn verify_provider(
    registry: &ProviderRegistry,
    provider: &Provider,
    now: OffsetDateTime,
) -> Verification {
    verify(
        &provider.spec,
        Some(registry.trust_policy()),
        &RuntimeFacts::current(now),
    )
}

/// Resolves a Provider resource (already verified, `verification`) into the record to pin.
pub fn pin_provider(
    registry: &ProviderRegistry,
    provider: &Provider,
    verification: &Verification,
) -> Result<PinnedProvider, ProviderResourceError> {
    let name = provider.metadata.name.to_string();
    let target = implementation_target(provider)?;
    let pinned = registry
        .resolve(&target)
        .map_err(|error| ProviderResourceError::Resolve {
            name: name.clone(),
            error,
        })?;
    let spec = &provider.spec;
    let risk = serde_json::to_value(spec.risk)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "low".into());
    Ok(pinned.with_resource(ProviderResourcePin {
        name,
        uid: provider.metadata.uid.clone().unwrap_or_default(),
        resource_version: provider
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default(),
        risk,
        destructive: spec.destructive,
        verified: verification.verified,
        manifest_digest: verification.manifest_digest.clone(),
        issues: verification
            .issues
            .iter()
            .map(|i| i.code.as_str().to_string())
            .collect(),
    }))
}

/// The target a Provider's implementation amounts to: `exec://NAME` with the command, or the
/// `http` endpoint with its headers.
pub fn implementation_target(provider: &Provider) -> Result<BindingTarget, ProviderResourceError> {
    let name = provider.metadata.name.to_string();
    let invalid = |problem: &str| ProviderResourceError::Invalid {
        name: name.clone(),
        problem: problem.to_string(),
    };
    let spec = &provider.spec;
    match spec.provider_type {
        ProviderType::Exec => {
            let exec = spec
                .exec
                .as_ref()
                .ok_or_else(|| invalid("type `exec` needs spec.exec"))?;
            let mut config = Map::new();
            if exec.shell {
                if exec.command.len() != 1 || !exec.args.is_empty() {
                    return Err(invalid(
                        "with spec.exec.shell, spec.exec.command is one script and args is empty",
                    ));
                }
                config.insert("command".into(), Value::String(exec.command[0].clone()));
                config.insert("shell".into(), Value::Bool(true));
            } else {
                let argv: Vec<Value> = exec
                    .command
                    .iter()
                    .chain(&exec.args)
                    .cloned()
                    .map(Value::String)
                    .collect();
                config.insert("command".into(), Value::Array(argv));
            }
            if !exec.env.is_empty() {
                config.insert("env".into(), secret_map(&exec.env));
            }
            if let Some(dir) = &exec.working_dir {
                config.insert("workingDir".into(), Value::String(dir.clone()));
            }
            if let Some(grace) = &exec.grace_period {
                config.insert("gracePeriod".into(), Value::String(grace.clone()));
            }
            Ok(BindingTarget {
                provider: format!("exec://{name}"),
                config: Some(config),
            })
        }
        ProviderType::Http => {
            let http = spec
                .http
                .as_ref()
                .ok_or_else(|| invalid("type `http` needs spec.http"))?;
            if http
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
            {
                return Err(invalid("spec.http.method: only `POST` is supported"));
            }
            let mut config = Map::new();
            if !http.headers.is_empty() {
                config.insert("headers".into(), secret_map(&http.headers));
            }
            if let Some(timeout) = &http.timeout {
                config.insert("timeout".into(), Value::String(timeout.clone()));
            }
            Ok(BindingTarget {
                provider: http.url.clone(),
                config: Some(config),
            })
        }
        other => Err(ProviderResourceError::UnsupportedType {
            name,
            provider_type: other.as_str().to_string(),
        }),
    }
}

fn secret_map(entries: &std::collections::BTreeMap<String, SecretString>) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    SecretString::Literal(s) => Value::String(s.clone()),
                    SecretString::Secret(r) => serde_json::to_value(r).unwrap_or(Value::Null),
                };
                (k.clone(), value)
            })
            .collect(),
    )
}
