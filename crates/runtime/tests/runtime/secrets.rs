//! Secret references: resolved at dispatch, never pinned, redacted from the log, the outputs
//! and the failure message; malformed references refused when the target is resolved.

use planspec_runtime::log::{LogLimits, LogSink};
use planspec_runtime::secret::SecretSource;
use planspec_runtime::{CancellationToken, DispatchOutcome, ResolveError};
use serde_json::json;

use crate::support::{pin, registry, request, scratch, target};

const FILE_SECRET: &str = "file-secret-9d1e";
const ENV_SECRET: &str = "env-secret-77ab";

#[tokio::test]
async fn exec_secrets_reach_the_process_and_nothing_else() {
    let (_tmp, dir) = scratch();
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    std::fs::write(secrets.join("token"), format!("{FILE_SECRET}\n")).expect("secret file");
    std::env::set_var("PLANSPEC_SECRET_RUNTIME_TEST", ENV_SECRET);
    let mut registry = registry();
    registry.set_secrets(SecretSource::new(Some(secrets)));

    let script = "echo \"out $A $B\"; echo \"err $A\" >&2; \
                  echo \"{\\\"a\\\":\\\"$A\\\",\\\"b\\\":\\\"$B\\\"}\" > \"$PLANSPEC_OUTPUTS\"; \
                  [ \"$FAIL\" = 1 ] && { echo \"boom $B\" >&2; exit 4; }; exit 0";
    let config = |fail: &str| {
        json!({"command": script, "shell": true, "env": {
            "A": {"secretFile": "token"},
            "B": {"secretEnv": "PLANSPEC_SECRET_RUNTIME_TEST"},
            "FAIL": fail
        }})
    };
    for fail in ["0", "1"] {
        let pinned = pin("exec://s", config(fail));
        let pinned_text = serde_json::to_string(&pinned).expect("json");
        assert!(!pinned_text.contains(FILE_SECRET) && !pinned_text.contains(ENV_SECRET));
        let work = dir.join(format!("work-{fail}"));
        std::fs::create_dir_all(&work).expect("work dir");
        let log_path = dir.join(format!("attempt-{fail}.log"));
        let mut req = request(pinned, &work, json!({}));
        req.log = LogSink::create(&log_path, LogLimits::default())
            .await
            .expect("log");
        let log = req.log.clone();
        let outcome = registry.dispatch(req, CancellationToken::new()).await;
        let _ = log.finish().await;
        let log_text = std::fs::read_to_string(&log_path).expect("log file");
        assert!(log_text.contains("out [REDACTED] [REDACTED]"), "{log_text}");
        assert!(log_text.contains("err [REDACTED]"), "{log_text}");
        let outcome_text = serde_json::to_string(&outcome).expect("json");
        for text in [&log_text, &outcome_text] {
            assert!(
                !text.contains(FILE_SECRET) && !text.contains(ENV_SECRET),
                "{text}"
            );
        }
        match (fail, &outcome) {
            ("0", DispatchOutcome::Succeeded { outputs, .. }) => {
                assert_eq!(outputs.get("a"), Some(&json!("[REDACTED]")));
                assert_eq!(outputs.get("b"), Some(&json!("[REDACTED]")));
            }
            ("1", DispatchOutcome::Failed(f)) => {
                assert!(f.message.contains("boom [REDACTED]"), "{}", f.message);
            }
            _ => panic!("unexpected outcome {outcome_text}"),
        }
    }

    // Without a secrets directory, a secretFile fails the attempt, naming the reference.
    let bare = crate::support::registry();
    let (_t2, work) = scratch();
    let outcome = bare
        .dispatch(
            request(pin("exec://s", config("0")), &work, json!({})),
            CancellationToken::new(),
        )
        .await;
    match outcome {
        DispatchOutcome::Failed(f) => {
            assert_eq!(f.reason.as_str(), "SecretUnavailable");
            assert!(f.message.contains("secretFile token"), "{}", f.message);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_references_are_refused_at_resolution() {
    for (config, expected) in [
        (
            json!({"command": ["x"], "env": {"T": {"secretFile": "../etc/shadow"}}}),
            "config.env.T",
        ),
        (
            json!({"command": ["x"], "env": {"T": {"secretEnv": "HOME"}}}),
            "PLANSPEC_SECRET_",
        ),
        (
            json!({"command": ["x"], "env": {"T": {"secret": "x"}}}),
            "secret reference",
        ),
    ] {
        match registry().resolve(&target("exec://x", config)) {
            Err(e @ ResolveError::InvalidConfig { .. }) => {
                assert!(e.to_string().contains(expected), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
    let http = registry().resolve(&target(
        "https://x.test/h",
        json!({"headers": {"Authorization": {"secretEnv": "PLANSPEC_SECRET_TOKEN"}}}),
    ));
    assert!(http.is_ok(), "{http:?}");
}
