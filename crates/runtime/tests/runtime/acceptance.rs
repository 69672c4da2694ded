//! Acceptance criteria against real files, processes and loopback servers.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use planspec_model::plan::AcceptanceCriterion;
use planspec_runtime::{
    verdict, AcceptanceVerdict, CriteriaContext, CriterionResult, CriterionStatus, Evaluator,
};
use serde_json::{json, Value};

use crate::support::{closed_port_url, reply, scratch, TestServer};

fn criterion(value: Value) -> AcceptanceCriterion {
    serde_json::from_value(value).expect("criterion")
}

async fn eval(ctx: &CriteriaContext, criteria: Vec<Value>) -> Vec<CriterionResult> {
    let criteria: Vec<_> = criteria.into_iter().map(criterion).collect();
    Evaluator::new().evaluate(&criteria, ctx).await
}

fn statuses(results: &[CriterionResult]) -> Vec<(&str, CriterionStatus)> {
    results
        .iter()
        .map(|r| (r.name.as_str(), r.status))
        .collect()
}

use CriterionStatus::{Failed, NeedsPerson, Passed};

#[tokio::test]
async fn artifact_exists_with_and_without_content_match() {
    let (_dir, work) = scratch();
    std::fs::create_dir_all(work.join("dist")).expect("mkdir");
    std::fs::write(work.join("dist/report.txt"), "coverage: 91%\n").expect("write");
    let absolute = work.join("dist/report.txt").display().to_string();
    let ctx = CriteriaContext::new("default/run-1", "build", &work);
    let results = eval(
        &ctx,
        vec![
            json!({"type": "artifact_exists", "name": "file", "path": "dist/report.txt"}),
            json!({"type": "artifact_exists", "name": "dir", "path": "dist"}),
            json!({"type": "artifact_exists", "name": "absolute", "path": absolute}),
            json!({"type": "artifact_exists", "name": "missing", "path": "dist/nope.txt"}),
            json!({"type": "artifact_exists", "name": "content", "path": "dist/report.txt",
                   "contentMatch": "coverage: (9\\d|100)%"}),
            json!({"type": "artifact_exists", "name": "wrong-content", "path": "dist/report.txt",
                   "contentMatch": "coverage: 100%"}),
            json!({"type": "artifact_exists", "name": "dir-content", "path": "dist",
                   "contentMatch": "x"}),
        ],
    )
    .await;
    assert_eq!(
        statuses(&results),
        [
            ("file", Passed),
            ("dir", Passed),
            ("absolute", Passed),
            ("missing", Failed),
            ("content", Passed),
            ("wrong-content", Failed),
            ("dir-content", Failed),
        ]
    );
    assert!(results[3].message.contains("does not exist"));
    assert!(results[5].message.contains("does not match"));
    assert_eq!(
        verdict(&results),
        AcceptanceVerdict::Failed {
            criterion: "missing".into(),
            message: results[3].message.clone()
        }
    );
}

#[tokio::test]
async fn command_succeeds_checks_exit_code_and_output() {
    let (_dir, work) = scratch();
    let mut ctx = CriteriaContext::new("default/run-1", "build", &work);
    ctx.env.insert("EXPECTED".into(), "ready".into());
    let results = eval(
        &ctx,
        vec![
            json!({"type": "command_succeeds", "name": "ok", "command": "sh",
                   "args": ["-c", "echo \"service $EXPECTED\""], "outputMatch": "service ready"}),
            json!({"type": "command_succeeds", "name": "stderr-match", "command": "sh",
                   "args": ["-c", "echo 'all good' >&2"], "outputMatch": "all good"}),
            json!({"type": "command_succeeds", "name": "exit-3", "command": "sh",
                   "args": ["-c", "exit 3"], "expectedExitCode": 3}),
            json!({"type": "command_succeeds", "name": "wrong-code", "command": "sh",
                   "args": ["-c", "echo broken >&2; exit 1"]}),
            json!({"type": "command_succeeds", "name": "wrong-output", "command": "sh",
                   "args": ["-c", "echo nope"], "outputMatch": "^yes$"}),
            json!({"type": "command_succeeds", "name": "slow", "command": "sleep",
                   "args": ["30"], "timeout": "300ms"}),
            json!({"type": "command_succeeds", "name": "missing", "command": "planspec-no-such-command"}),
        ],
    )
    .await;
    assert_eq!(
        statuses(&results),
        [
            ("ok", Passed),
            ("stderr-match", Passed),
            ("exit-3", Passed),
            ("wrong-code", Failed),
            ("wrong-output", Failed),
            ("slow", Failed),
            ("missing", Failed),
        ]
    );
    assert!(results[3]
        .message
        .contains("exited with code 1, expected 0"));
    assert!(results[3].message.contains("broken"));
    assert!(results[5].message.contains("did not finish within 300ms"));
    assert!(results[6].message.contains("cannot start"));
}

#[tokio::test]
async fn test_passes_runs_in_the_work_dir() {
    let (_dir, work) = scratch();
    let script = work.join("check.sh");
    std::fs::write(&script, "#!/bin/sh\ntest -f marker\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let ctx = CriteriaContext::new("default/run-1", "build", &work);
    let criteria = vec![
        json!({"type": "test_passes", "name": "suite", "command": "./check.sh"}),
        json!({"type": "test_passes", "name": "true", "command": "true"}),
    ];
    let results = eval(&ctx, criteria.clone()).await;
    assert_eq!(statuses(&results), [("suite", Failed), ("true", Passed)]);
    std::fs::write(work.join("marker"), "").expect("write");
    let results = eval(&ctx, criteria).await;
    assert_eq!(statuses(&results), [("suite", Passed), ("true", Passed)]);
    assert_eq!(verdict(&results), AcceptanceVerdict::Passed);
}

#[tokio::test]
async fn endpoint_responds_checks_status_and_body() {
    let server = TestServer::start(vec![reply(200, r#"{"status":"healthy"}"#)]).await;
    let down = TestServer::start(vec![reply(503, "down")]).await;
    let refused = closed_port_url().await;
    let (_dir, work) = scratch();
    let ctx = CriteriaContext::new("default/run-1", "build", &work);
    let health = format!("{}/healthz", server.url);
    let results = eval(
        &ctx,
        vec![
            json!({"type": "endpoint_responds", "name": "up", "url": health}),
            json!({"type": "endpoint_responds", "name": "body", "url": health,
                   "bodyMatch": "\"healthy\""}),
            json!({"type": "endpoint_responds", "name": "wrong-body", "url": health,
                   "bodyMatch": "degraded"}),
            json!({"type": "endpoint_responds", "name": "post", "url": health, "method": "POST"}),
            json!({"type": "endpoint_responds", "name": "down", "url": down.url}),
            json!({"type": "endpoint_responds", "name": "expected-503", "url": down.url,
                   "expectedStatus": 503}),
            json!({"type": "endpoint_responds", "name": "refused", "url": refused,
                   "timeout": "2s"}),
        ],
    )
    .await;
    assert_eq!(
        statuses(&results),
        [
            ("up", Passed),
            ("body", Passed),
            ("wrong-body", Failed),
            ("post", Passed),
            ("down", Failed),
            ("expected-503", Passed),
            ("refused", Failed),
        ]
    );
    assert!(results[4]
        .message
        .contains("answered HTTP 503, expected 200"));
    let methods: Vec<_> = server.seen().iter().map(|r| r.method.to_string()).collect();
    assert_eq!(methods, ["GET", "GET", "GET", "POST"]);
}

#[tokio::test]
async fn custom_webhooks_decide() {
    let pass = TestServer::start(vec![reply(200, r#"{"passed":true,"message":"LGTM"}"#)]).await;
    let fail = TestServer::start(vec![reply(
        200,
        r#"{"passed":false,"message":"coverage 40%"}"#,
    )])
    .await;
    let silent = TestServer::start(vec![reply(202, r#"{"queued":true}"#)]).await;
    let broken = TestServer::start(vec![reply(500, "")]).await;
    let (_dir, work) = scratch();
    let mut ctx = CriteriaContext::new("default/run-1", "build", &work);
    ctx.outputs = crate::support::object(json!({"sha": "abc"}));
    let results = eval(
        &ctx,
        vec![
            json!({"type": "custom", "name": "review", "webhookUrl": pass.url,
                   "payload": {"threshold": 80}}),
            json!({"type": "custom", "name": "coverage", "webhookUrl": fail.url}),
            json!({"type": "custom", "name": "no-verdict", "webhookUrl": silent.url}),
            json!({"type": "custom", "name": "accepted", "webhookUrl": silent.url,
                   "expectedResponse": {"statusCode": 202, "bodyMatch": "queued"}}),
            json!({"type": "custom", "name": "error", "webhookUrl": broken.url}),
        ],
    )
    .await;
    assert_eq!(
        statuses(&results),
        [
            ("review", Passed),
            ("coverage", Failed),
            ("no-verdict", Failed),
            ("accepted", Passed),
            ("error", Failed),
        ]
    );
    assert_eq!(results[0].message, "LGTM");
    assert_eq!(results[1].message, "coverage 40%");
    let seen = pass.seen();
    assert_eq!(
        seen[0].body,
        json!({"criterion": "review", "execution": "default/run-1", "node": "build",
               "payload": {"threshold": 80}, "outputs": {"sha": "abc"}})
    );
}

#[tokio::test]
async fn manual_criteria_need_a_person_and_advisory_ones_never_decide() {
    let (_dir, work) = scratch();
    let ctx = CriteriaContext::new("default/run-1", "build", &work);
    let results = eval(
        &ctx,
        vec![
            json!({"type": "manual", "name": "ux-review", "description": "Check the new page"}),
            json!({"type": "artifact_exists", "name": "nice-to-have", "path": "missing",
                   "required": false}),
        ],
    )
    .await;
    assert_eq!(
        statuses(&results),
        [("ux-review", NeedsPerson), ("nice-to-have", Failed)]
    );
    assert_eq!(results[0].message, "Check the new page");
    assert_eq!(
        verdict(&results),
        AcceptanceVerdict::NeedsPerson {
            criteria: vec!["ux-review".into()]
        }
    );
}

#[tokio::test]
async fn cancelled_checks_fail() {
    let (_dir, work) = scratch();
    let ctx = CriteriaContext::new("default/run-1", "build", &work);
    let criteria = vec![
        criterion(
            json!({"type": "command_succeeds", "name": "slow", "command": "sleep", "args": ["30"]}),
        ),
        criterion(json!({"type": "test_passes", "name": "next", "command": "true"})),
    ];
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let results = tokio::time::timeout(
        Duration::from_secs(10),
        planspec_runtime::evaluate(&criteria, &ctx),
    )
    .await
    .expect("cancel is prompt");
    assert_eq!(statuses(&results), [("slow", Failed), ("next", Failed)]);
    assert!(results.iter().all(|r| r.message == "cancelled"));
}
