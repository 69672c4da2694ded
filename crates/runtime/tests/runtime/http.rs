//! The `http` provider against real loopback servers.

use std::time::Duration;

use planspec_runtime::{CancellationToken, DispatchOutcome, FailureReason};
use serde_json::{json, Value};

use crate::support::{closed_port_url, pin, registry, reply, request, scratch, Reply, TestServer};

fn fast(extra: Value) -> Value {
    let mut config = json!({"retryBackoff": "10ms", "timeout": "5s"});
    if let (Some(c), Value::Object(e)) = (config.as_object_mut(), extra) {
        c.extend(e);
    }
    config
}

async fn dispatch(url: &str, config: Value) -> DispatchOutcome {
    let (_dir, work) = scratch();
    let pinned = pin(url, config);
    registry()
        .dispatch(
            request(pinned, &work, json!({"branch": "main", "n": 2})),
            CancellationToken::new(),
        )
        .await
}

#[tokio::test]
async fn posts_inputs_and_reads_outputs() {
    let server = TestServer::start(vec![reply(200, r#"{"deployed":"v1.2","url":"x"}"#)]).await;
    let outcome = dispatch(
        &format!("{}/deploy?token=s3cret", server.url),
        fast(json!({"headers": {"Authorization": "Bearer t0ken"}})),
    )
    .await;
    assert_eq!(
        outcome,
        DispatchOutcome::Succeeded {
            outputs: crate::support::object(json!({"deployed": "v1.2", "url": "x"})),
            cost_usd: None,
        }
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, axum::http::Method::POST);
    assert_eq!(r.path, "/deploy");
    assert_eq!(r.headers["idempotency-key"], "uid-1/build/1");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["authorization"], "Bearer t0ken");
    assert_eq!(
        r.body,
        json!({"execution": "default/run-1", "node": "build", "attempt": 1,
               "inputs": {"branch": "main", "n": 2}})
    );
}

#[tokio::test]
async fn outputs_pointer_selects_a_sub_object_and_empty_bodies_mean_no_outputs() {
    let server = TestServer::start(vec![reply(200, r#"{"outputs":{"a":1},"meta":{}}"#)]).await;
    let outcome = dispatch(&server.url, fast(json!({"outputsPointer": "/outputs"}))).await;
    assert_eq!(
        outcome,
        DispatchOutcome::Succeeded {
            outputs: crate::support::object(json!({"a": 1})),
            cost_usd: None,
        }
    );
    let server = TestServer::start(vec![reply(204, "")]).await;
    let outcome = dispatch(&server.url, fast(json!({}))).await;
    assert_eq!(
        outcome,
        DispatchOutcome::Succeeded {
            outputs: Default::default(),
            cost_usd: None,
        }
    );
}

#[tokio::test]
async fn retries_503_with_the_same_idempotency_key() {
    let server = TestServer::start(vec![
        reply(503, "busy"),
        reply(503, "still busy"),
        reply(200, r#"{"ok":true}"#),
    ])
    .await;
    let outcome = dispatch(&server.url, fast(json!({"maxAttempts": 3}))).await;
    assert!(
        matches!(outcome, DispatchOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    for r in &seen {
        assert_eq!(r.headers["idempotency-key"], "uid-1/build/1");
        assert_eq!(r.body["attempt"], 1);
    }
}

#[tokio::test]
async fn exhausted_retries_fail_retryable() {
    let server = TestServer::start(vec![reply(502, "bad gateway")]).await;
    let outcome = dispatch(&server.url, fast(json!({"maxAttempts": 2}))).await;
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("expected failure, got {outcome:?}")
    };
    assert_eq!(f.reason, FailureReason::HttpStatus);
    assert!(f.retryable);
    assert!(f.message.contains("502"), "{}", f.message);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = TestServer::start(vec![reply(400, r#"{"error":"missing field"}"#)]).await;
    let outcome = dispatch(&server.url, fast(json!({"maxAttempts": 5}))).await;
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("expected failure, got {outcome:?}")
    };
    assert_eq!(f.reason, FailureReason::HttpStatus);
    assert!(!f.retryable);
    assert!(
        f.message.contains("400") && f.message.contains("missing field"),
        "{}",
        f.message
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_fails() {
    let url = closed_port_url().await;
    let outcome = dispatch(
        &format!("{url}?token=s3cret"),
        fast(json!({"maxAttempts": 2})),
    )
    .await;
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("expected failure, got {outcome:?}")
    };
    assert_eq!(f.reason, FailureReason::ConnectionFailed);
    assert!(f.retryable);
    assert!(
        f.message.contains("giving up after 2 attempts"),
        "{}",
        f.message
    );
    assert!(!f.message.contains("s3cret"), "{}", f.message);
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let server = TestServer::start(vec![Reply {
        status: 200,
        body: "{}".into(),
        delay: Duration::from_secs(3),
        cost: None,
    }])
    .await;
    let outcome = dispatch(&server.url, json!({"timeout": "200ms", "maxAttempts": 1})).await;
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("expected failure, got {outcome:?}")
    };
    assert_eq!(f.reason, FailureReason::Timeout);
    assert!(f.retryable);
}

#[tokio::test]
async fn non_object_responses_are_invalid_outputs() {
    let server = TestServer::start(vec![reply(200, "[1,2,3]")]).await;
    let outcome = dispatch(&server.url, fast(json!({}))).await;
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("expected failure, got {outcome:?}")
    };
    assert_eq!(f.reason, FailureReason::InvalidOutputs);
    assert!(!f.retryable);
}

#[tokio::test]
async fn cancel_interrupts_a_request() {
    let server = TestServer::start(vec![Reply {
        status: 200,
        body: "{}".into(),
        delay: Duration::from_secs(30),
        cost: None,
    }])
    .await;
    let (_dir, work) = scratch();
    let req = request(pin(&server.url, json!({})), &work, json!({}));
    let cancel = CancellationToken::new();
    let reg = registry();
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { reg.dispatch(req, cancel).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("cancel is prompt")
        .expect("join");
    let DispatchOutcome::Failed(f) = outcome else {
        panic!("expected failure, got {outcome:?}")
    };
    assert_eq!(f.reason, FailureReason::Cancelled);
}

#[tokio::test]
async fn the_cost_header_reports_what_the_attempt_cost() {
    let server = TestServer::start(vec![Reply {
        cost: Some("0.25"),
        ..reply(200, r#"{"ok":true}"#)
    }])
    .await;
    let outcome = dispatch(&server.url, fast(json!({}))).await;
    assert_eq!(
        outcome,
        DispatchOutcome::Succeeded {
            outputs: crate::support::object(json!({"ok": true})),
            cost_usd: Some(0.25),
        }
    );
    // A value that is not a cost is ignored.
    let server = TestServer::start(vec![Reply {
        cost: Some("lots"),
        ..reply(200, "{}")
    }])
    .await;
    let outcome = dispatch(&server.url, fast(json!({}))).await;
    assert!(matches!(
        outcome,
        DispatchOutcome::Succeeded { cost_usd: None, .. }
    ));
}
