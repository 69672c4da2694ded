//! Resolving Binding targets, pinning, and dispatching by the pinned record.

use std::sync::Arc;

use async_trait::async_trait;
use planspec_runtime::provider::{ConfigError, ProviderUri};
use planspec_runtime::{
    CancellationToken, DispatchOutcome, DispatchRequest, FailureReason, PinnedProvider, Provider,
    ResolveError,
};
use serde_json::{json, Map, Value};

use crate::support::{pin, registry, request, scratch, target};

fn resolve_err(provider: &str, config: Value) -> ResolveError {
    match registry().resolve(&target(provider, config)) {
        Ok(p) => panic!("{provider} resolved to {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn builtins_resolve_with_defaults_filled_in() {
    let exec = pin("exec://build", json!({"command": ["make"]}));
    assert_eq!(exec.type_name, "exec");
    assert_eq!(exec.uri, "exec://build");
    assert_eq!(
        Value::Object(exec.config.clone()),
        json!({"command": ["make"], "shell": false, "gracePeriod": "5s"})
    );

    let http = pin("https://hooks.example.test/run", Value::Null);
    assert_eq!(http.type_name, "http");
    assert_eq!(
        Value::Object(http.config.clone()),
        json!({"timeout": "30s", "maxAttempts": 3, "retryBackoff": "500ms"})
    );
    assert_eq!(pin("HTTP://x.test", Value::Null).type_name, "http");

    let human = pin("human://release-manager", json!({"prompt": "Ship it?"}));
    assert_eq!(human.type_name, "human");

    let noop = pin("noop://", Value::Null);
    assert_eq!(
        Value::Object(noop.config.clone()),
        json!({"outputs": {}, "sleepMs": 0, "fail": false, "retryable": false})
    );
    assert_eq!(pin("noop", Value::Null).type_name, "noop");
}

#[test]
fn pinned_records_round_trip_and_digests_are_stable() {
    let a = pin(
        "exec://x",
        json!({"command": ["a"], "env": {"B": "1", "A": "2"}}),
    );
    let b = pin(
        "exec://x",
        json!({"env": {"A": "2", "B": "1"}, "command": ["a"]}),
    );
    assert_eq!(a.digest, b.digest);
    let text = serde_json::to_value(&a).expect("serialise");
    assert_eq!(text["type"], "exec");
    assert_eq!(text["digest"], a.digest.as_str());
    let back: PinnedProvider = serde_json::from_value(text).expect("deserialise");
    assert_eq!(back, a);
    assert!(back.verify());
    let other = pin("exec://x", json!({"command": ["b"]}));
    assert_ne!(a.digest, other.digest);
}

#[test]
fn later_providers_are_reported_as_unsupported() {
    for scheme in ["agent", "mcp", "tool", "service"] {
        match resolve_err(&format!("{scheme}://thing"), Value::Null) {
            ResolveError::UnsupportedProvider {
                scheme: s,
                supported,
            } => {
                assert_eq!(s, scheme);
                assert_eq!(supported, ["exec", "http", "https", "human", "noop"]);
            }
            other => panic!("{other:?}"),
        }
    }
    let message = resolve_err("agent://claude-code", Value::Null).to_string();
    assert_eq!(
        message,
        "provider scheme `agent://` is not supported by this runtime; supported schemes: \
         exec, http, https, human, noop"
    );
    assert!(matches!(
        resolve_err("claude code", Value::Null),
        ResolveError::InvalidProviderUri { .. }
    ));
}

#[test]
fn invalid_targets_name_the_field_but_never_the_value() {
    let cases = [
        ("exec://x", json!({}), "`config.command`: is required"),
        (
            "exec://x",
            json!({"command": ["x"], "shel": true}),
            "`config.shel`: unknown field",
        ),
        (
            "exec://x",
            json!({"command": ["x"], "env": {"TOKEN": 42}}),
            "`config.env.TOKEN`: must be a string or a secret reference, got a number",
        ),
        (
            "https://x.test",
            json!({"headers": {"Authorization": 7}}),
            "`config.headers.Authorization`: must be a string",
        ),
        ("http://", Value::Null, "the endpoint"),
        ("human://", Value::Null, "human://ROLE"),
        ("noop://", json!({"sleepMs": -1}), "`config.sleepMs`"),
    ];
    for (provider, config, expected) in cases {
        let err = resolve_err(provider, config);
        assert!(
            matches!(err, ResolveError::InvalidConfig { .. }),
            "{provider}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(expected), "{provider}: {message}");
    }
    let err = resolve_err(
        "https://user:pw@x.test/h?key=s3cret",
        json!({"headers": {"X-Api-Key": "s3cret\n"}}),
    );
    let message = err.to_string();
    assert!(
        !message.contains("s3cret") && !message.contains("pw"),
        "{message}"
    );
}

#[tokio::test]
async fn dispatch_uses_the_pinned_record() {
    let (_dir, work) = scratch();
    let reg = registry();
    let pinned = pin("noop://", json!({"outputs": {"answer": 42}}));
    let outcome = reg
        .dispatch(
            request(pinned.clone(), &work, json!({})),
            CancellationToken::new(),
        )
        .await;
    assert_eq!(
        outcome,
        DispatchOutcome::Succeeded {
            outputs: crate::support::object(json!({"answer": 42})),
            cost_usd: None,
        }
    );

    let mut tampered = pinned;
    tampered
        .config
        .insert("outputs".into(), json!({"answer": 43}));
    let outcome = reg
        .dispatch(
            request(tampered, &work, json!({})),
            CancellationToken::new(),
        )
        .await;
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(f.reason, FailureReason::InvalidConfig);
}

#[tokio::test]
async fn human_and_noop_outcomes() {
    let (_dir, work) = scratch();
    let reg = registry();
    let outcome = reg
        .dispatch(
            request(
                pin(
                    "human://release-manager",
                    json!({"prompt": "Approve the release"}),
                ),
                &work,
                json!({}),
            ),
            CancellationToken::new(),
        )
        .await;
    assert_eq!(
        outcome,
        DispatchOutcome::AwaitingHuman {
            role: "release-manager".into(),
            prompt: "Approve the release".into()
        }
    );

    let outcome = reg
        .dispatch(
            request(
                pin("noop", json!({"fail": true, "retryable": true})),
                &work,
                json!({}),
            ),
            CancellationToken::new(),
        )
        .await;
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (f.reason, f.retryable),
        (FailureReason::InjectedFailure, true)
    );

    let mut req = request(pin("noop", json!({"sleepMs": 60_000})), &work, json!({}));
    req.timeout = Some(std::time::Duration::from_millis(50));
    let DispatchOutcome::Failed(f) = reg.dispatch(req, CancellationToken::new()).await else {
        panic!("expected a timeout")
    };
    assert_eq!(f.reason, FailureReason::Timeout);
}

/// A provider of a later issue slots in without touching anything else.
struct EchoAgent;

#[async_trait]
impl Provider for EchoAgent {
    fn type_name(&self) -> &'static str {
        "agent"
    }
    fn schemes(&self) -> &'static [&'static str] {
        &["agent"]
    }
    fn resolve(
        &self,
        uri: &ProviderUri,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        if uri.rest().is_empty() {
            return Err(ConfigError::target("name the agent"));
        }
        Ok(config.clone())
    }
    async fn dispatch(&self, request: DispatchRequest, _: CancellationToken) -> DispatchOutcome {
        DispatchOutcome::Succeeded {
            outputs: request.inputs,
            cost_usd: None,
        }
    }
}

#[tokio::test]
async fn new_providers_register_by_scheme() {
    let mut reg = registry();
    reg.register(Arc::new(EchoAgent));
    let pinned = reg
        .resolve(&target("agent://echo", Value::Null))
        .expect("resolves");
    assert_eq!(pinned.type_name, "agent");
    let (_dir, work) = scratch();
    let outcome = reg
        .dispatch(
            request(pinned, &work, json!({"q": 1})),
            CancellationToken::new(),
        )
        .await;
    assert_eq!(
        outcome,
        DispatchOutcome::Succeeded {
            outputs: crate::support::object(json!({"q": 1})),
            cost_usd: None,
        }
    );
    assert!(reg.schemes().contains(&"agent".to_string()));
}
