//! The `exec` provider against real processes.

use std::time::{Duration, Instant};

use planspec_runtime::{
    CancellationToken, DispatchOutcome, FailureReason, LogLimits, LogSink, ProviderRegistry,
};
use serde_json::{json, Value};

use crate::support::{pin, process_gone, read_pid, registry, request, scratch};

fn shell(script: &str) -> Value {
    json!({"command": script, "shell": true, "gracePeriod": "500ms"})
}

async fn run(
    registry: &ProviderRegistry,
    req: planspec_runtime::DispatchRequest,
) -> DispatchOutcome {
    registry.dispatch(req, CancellationToken::new()).await
}

fn outputs(outcome: DispatchOutcome) -> serde_json::Map<String, Value> {
    match outcome {
        DispatchOutcome::Succeeded { outputs, .. } => outputs,
        other => panic!("expected success, got {other:?}"),
    }
}

fn failure(outcome: DispatchOutcome) -> planspec_runtime::Failure {
    match outcome {
        DispatchOutcome::Failed(f) => f,
        other => panic!("expected failure, got {other:?}"),
    }
}

#[tokio::test]
async fn the_cost_file_reports_what_the_attempt_cost() {
    let (_dir, work) = scratch();
    let pinned = pin("exec://build", shell(r#"echo 0.42 > "$PLANSPEC_COST""#));
    let outcome = run(&registry(), request(pinned, &work, json!({}))).await;
    assert!(
        matches!(outcome, DispatchOutcome::Succeeded { cost_usd: Some(c), .. } if c == 0.42),
        "{outcome:?}"
    );
    // No file: no cost; a value that is not a cost: none either (the log says why).
    let pinned = pin("exec://build", shell("true"));
    let outcome = run(&registry(), request(pinned, &work, json!({}))).await;
    assert!(matches!(
        outcome,
        DispatchOutcome::Succeeded { cost_usd: None, .. }
    ));
    let pinned = pin("exec://build", shell(r#"echo -1 > "$PLANSPEC_COST""#));
    let outcome = run(&registry(), request(pinned, &work, json!({}))).await;
    assert!(matches!(
        outcome,
        DispatchOutcome::Succeeded { cost_usd: None, .. }
    ));
}

#[tokio::test]
async fn outputs_come_from_the_outputs_file() {
    let (_dir, work) = scratch();
    let pinned = pin(
        "exec://build",
        shell(
            r#"echo noise; echo '{"from":"stdout"}'; echo '{"from":"file","n":1}' > "$PLANSPEC_OUTPUTS""#,
        ),
    );
    let out = outputs(run(&registry(), request(pinned, &work, json!({}))).await);
    assert_eq!(Value::Object(out), json!({"from": "file", "n": 1}));
}

#[tokio::test]
async fn outputs_come_from_the_last_stdout_line() {
    let (_dir, work) = scratch();
    let reg = registry();
    let pinned = pin(
        "exec",
        shell(r#"echo starting; echo '{"sha":"abc","ok":true}'; echo; echo '  '"#),
    );
    let out = outputs(run(&reg, request(pinned, &work, json!({}))).await);
    assert_eq!(Value::Object(out), json!({"sha": "abc", "ok": true}));

    let pinned = pin("exec", shell("echo '{\"a\":1}'; echo done"));
    let out = outputs(run(&reg, request(pinned, &work, json!({}))).await);
    assert!(
        out.is_empty(),
        "a last line that is not JSON means no outputs"
    );
}

#[tokio::test]
async fn argv_runs_without_a_shell() {
    let (_dir, work) = scratch();
    let pinned = pin(
        "exec://echo",
        json!({"command": ["/bin/echo", "{\"literal\":\"$HOME; `id`\"}"]}),
    );
    let out = outputs(run(&registry(), request(pinned, &work, json!({}))).await);
    assert_eq!(Value::Object(out), json!({"literal": "$HOME; `id`"}));
}

#[tokio::test]
async fn inputs_arrive_as_env_and_stdin() {
    let (_dir, work) = scratch();
    std::fs::create_dir(work.join("sub")).expect("mkdir");
    let pinned = pin(
        "exec://inputs",
        json!({
            "command": concat!(
                "cat > stdin.json; ",
                "printf '%s' \"$PLANSPEC_INPUT_REPO_URL\" > url.txt; ",
                "printf '%s' \"$PLANSPEC_INPUT_COUNT\" > count.txt; ",
                "printf '%s' \"$PLANSPEC_INPUTS\" > inputs.txt; ",
                "printf '%s|%s|%s|%s|%s' \"$PLANSPEC_NODE\" \"$PLANSPEC_ATTEMPT\" ",
                "\"$PLANSPEC_EXECUTION\" \"$PLANSPEC_IDEMPOTENCY_KEY\" \"$GREETING\" > meta.txt; ",
                "pwd > pwd.txt"
            ),
            "shell": true,
            "env": {"GREETING": "hello"},
            "workingDir": "sub"
        }),
    );
    let inputs = json!({"repo-url": "https://example.test/r.git", "count": 3, "flags": ["a"]});
    let mut req = request(pinned, &work, inputs.clone());
    req.attempt = 2;
    req.idempotency_key = "uid-1/build/2".into();
    outputs(run(&registry(), req).await);

    let sub = work.join("sub");
    let read = |name: &str| std::fs::read_to_string(sub.join(name)).expect(name);
    let stdin: Value = serde_json::from_str(&read("stdin.json")).expect("stdin is JSON");
    assert_eq!(stdin, inputs);
    let env_inputs: Value = serde_json::from_str(&read("inputs.txt")).expect("PLANSPEC_INPUTS");
    assert_eq!(env_inputs, inputs);
    assert_eq!(read("url.txt"), "https://example.test/r.git");
    assert_eq!(read("count.txt"), "3");
    assert_eq!(
        read("meta.txt"),
        "build|2|default/run-1|uid-1/build/2|hello"
    );
    let pwd = std::fs::canonicalize(read("pwd.txt").trim()).expect("pwd");
    assert_eq!(pwd, std::fs::canonicalize(&sub).expect("sub"));
}

#[tokio::test]
async fn non_zero_exit_fails_retryable_with_the_code_and_stderr() {
    let (_dir, work) = scratch();
    let pinned = pin("exec", shell("echo 'compiler says no' >&2; exit 3"));
    let f = failure(run(&registry(), request(pinned, &work, json!({}))).await);
    assert_eq!(f.reason, FailureReason::ExitNonZero);
    assert_eq!(f.exit_code, Some(3));
    assert!(f.retryable);
    assert!(f.message.contains("compiler says no"), "{}", f.message);
}

#[tokio::test]
async fn a_missing_program_fails_to_spawn() {
    let (_dir, work) = scratch();
    let pinned = pin(
        "exec",
        json!({"command": ["/nonexistent/planspec-test-program"]}),
    );
    let f = failure(run(&registry(), request(pinned, &work, json!({}))).await);
    assert_eq!(f.reason, FailureReason::SpawnFailed);
    assert!(!f.retryable);
}

#[tokio::test]
async fn a_signal_is_reported_as_killed() {
    let (_dir, work) = scratch();
    let pinned = pin("exec", shell("kill -9 $$"));
    let f = failure(run(&registry(), request(pinned, &work, json!({}))).await);
    assert_eq!(f.reason, FailureReason::Killed);
    assert!(f.retryable);
}

#[tokio::test]
async fn bad_outputs_fail_without_retry() {
    let (_dir, work) = scratch();
    let reg = registry();
    let pinned = pin("exec", shell(r#"echo '[1,2]' > "$PLANSPEC_OUTPUTS""#));
    let f = failure(run(&reg, request(pinned, &work, json!({}))).await);
    assert_eq!(f.reason, FailureReason::InvalidOutputs);
    assert!(!f.retryable);

    let pinned = pin(
        "exec",
        shell(
            r#"printf '{"x":"' > "$PLANSPEC_OUTPUTS"; head -c 2000000 /dev/zero | tr '\0' a >> "$PLANSPEC_OUTPUTS"; printf '"}' >> "$PLANSPEC_OUTPUTS""#,
        ),
    );
    let f = failure(run(&reg, request(pinned, &work, json!({}))).await);
    assert_eq!(f.reason, FailureReason::OutputsTooLarge);
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let (_dir, work) = scratch();
    let pinned = pin(
        "exec",
        shell("sleep 300 & echo $! > grandchild.pid; sleep 300"),
    );
    let mut req = request(pinned, &work, json!({}));
    req.timeout = Some(Duration::from_millis(800));
    let started = Instant::now();
    let f = failure(run(&registry(), req).await);
    assert_eq!(f.reason, FailureReason::Timeout);
    assert!(f.retryable);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let grandchild = read_pid(&work.join("grandchild.pid")).await;
    assert!(
        process_gone(grandchild).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn processes_ignoring_sigterm_get_sigkill_after_the_grace_period() {
    let (_dir, work) = scratch();
    let pinned = pin(
        "exec",
        shell("trap '' TERM; sleep 300 & echo $! > grandchild.pid; while true; do sleep 1; done"),
    );
    let mut req = request(pinned, &work, json!({}));
    req.timeout = Some(Duration::from_millis(500));
    let started = Instant::now();
    let f = failure(run(&registry(), req).await);
    assert_eq!(f.reason, FailureReason::Timeout);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1000),
        "grace not honoured: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let grandchild = read_pid(&work.join("grandchild.pid")).await;
    assert!(
        process_gone(grandchild).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn processes_left_behind_after_exit_are_terminated() {
    let (_dir, work) = scratch();
    let pinned = pin(
        "exec",
        json!({
            "command": r#"sleep 300 & echo $! > grandchild.pid; echo '{"done":true}'"#,
            "shell": true,
            "gracePeriod": "5s"
        }),
    );
    let started = Instant::now();
    let out = outputs(run(&registry(), request(pinned, &work, json!({}))).await);
    assert_eq!(Value::Object(out), json!({"done": true}));
    // The leftover dies on SIGTERM; nothing waits out the grace period (not even for its
    // zombie, which a non-reaping PID 1 may leave behind).
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let grandchild = read_pid(&work.join("grandchild.pid")).await;
    assert!(
        process_gone(grandchild).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn cancel_stops_the_attempt_and_its_group() {
    let (_dir, work) = scratch();
    let pinned = pin(
        "exec",
        shell("sleep 300 & echo $! > grandchild.pid; sleep 300"),
    );
    let req = request(pinned, &work, json!({}));
    let cancel = CancellationToken::new();
    let reg = registry();
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { reg.dispatch(req, cancel).await })
    };
    let grandchild = read_pid(&work.join("grandchild.pid")).await;
    let started = Instant::now();
    cancel.cancel();
    let f = failure(task.await.expect("join"));
    assert_eq!(f.reason, FailureReason::Cancelled);
    assert!(!f.retryable);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        process_gone(grandchild).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn ten_mebibytes_of_output_are_capped_in_the_log() {
    let (_dir, work) = scratch();
    let log_path = work.join("logs").join("build.1.log");
    let log = LogSink::create(&log_path, LogLimits::default())
        .await
        .expect("log");
    let pinned = pin(
        "exec",
        shell(
            r#"yes 0123456789abcdef | head -c 10485760; echo; echo warning >&2; echo '{"printed":"10MiB"}'"#,
        ),
    );
    let mut req = request(pinned, &work, json!({}));
    req.log = log.clone();
    let started = Instant::now();
    let out = outputs(run(&registry(), req).await);
    assert_eq!(Value::Object(out), json!({"printed": "10MiB"}));
    assert!(started.elapsed() < Duration::from_secs(30));
    let summary = log.finish().await.expect("finish");

    let limits = LogLimits::default();
    let text = std::fs::read_to_string(&log_path).expect("read log");
    let size = text.len() as u64;
    assert!(summary.stdout_dropped >= 10 * 1024 * 1024 - limits.per_stream);
    assert!(
        size < limits.per_stream + limits.tail as u64 + 4096,
        "log is {size} bytes"
    );
    assert!(size > limits.per_stream, "the head is kept");
    assert!(text.starts_with("[planspec] exec: starting `/bin/sh`"));
    assert!(text.contains("stdout reached the log limit of 1048576 bytes"));
    assert!(text.contains("bytes dropped in total; the last 65536 follow"));
    assert!(text.contains("warning\n"));
    assert!(
        text.contains("{\"printed\":\"10MiB\"}\n"),
        "the tail is kept"
    );
    assert!(planspec_runtime::log::completion_marker(&log_path).exists());
}

#[tokio::test]
async fn large_inputs_go_to_stdin_only_and_an_unread_stdin_does_not_block() {
    let (_dir, work) = scratch();
    let reg = registry();
    let blob = "x".repeat(200_000);
    let inputs = json!({"blob": blob, "small": "ok"});
    let expected_stdin = inputs.to_string().len() + 1;

    let pinned = pin(
        "exec",
        shell(concat!(
            "wc -c < /dev/stdin | tr -d ' ' > size.txt; ",
            "printf '%s|%s|%s' \"${PLANSPEC_INPUT_BLOB:-unset}\" \"${PLANSPEC_INPUTS:-unset}\" ",
            "\"$PLANSPEC_INPUT_SMALL\" > env.txt"
        )),
    );
    outputs(run(&reg, request(pinned, &work, inputs.clone())).await);
    let size = std::fs::read_to_string(work.join("size.txt")).expect("size");
    assert_eq!(size.trim(), expected_stdin.to_string());
    let env = std::fs::read_to_string(work.join("env.txt")).expect("env");
    assert_eq!(env, "unset|unset|ok");

    let pinned = pin("exec", json!({"command": ["true"]}));
    let started = Instant::now();
    outputs(run(&reg, request(pinned, &work, inputs)).await);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A runtime that died mid-attempt leaves the attempt's process group running; the attempt's
/// re-dispatch (same key) stops it first, so the two never run side by side. A recorded group
/// whose leader is someone else's process (a recycled pid) is left alone.
#[tokio::test]
async fn a_re_dispatched_attempt_stops_what_the_previous_runtime_left_running() {
    use std::os::unix::process::CommandExt;
    let (_dir, work) = scratch();
    let req = |pinned| request(pinned, &work, json!({}));
    let key = req(pin("exec", shell("true"))).idempotency_key.clone();
    // The orphan: a process group carrying the attempt's key, as the dead runtime left it.
    let mut orphan = std::process::Command::new("sh")
        .args(["-c", "sleep 300"])
        .env("PLANSPEC_IDEMPOTENCY_KEY", &key)
        .process_group(0)
        .spawn()
        .unwrap();
    let orphan_pid = orphan.id();
    let group_file = planspec_runtime::provider::exec::group_path(&work, "build", 1);
    std::fs::create_dir_all(group_file.parent().unwrap()).unwrap();
    std::fs::write(&group_file, orphan_pid.to_string()).unwrap();
    // Someone else's process, recorded for attempt 2: not ours to kill.
    let mut stranger = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let stranger_file = planspec_runtime::provider::exec::group_path(&work, "build", 2);
    std::fs::write(&stranger_file, stranger.id().to_string()).unwrap();

    let out = outputs(
        run(
            &registry(),
            req(pin("exec", shell("echo '{\"ok\": true}'"))),
        )
        .await,
    );
    assert_eq!(Value::Object(out), json!({"ok": true}));
    assert!(
        process_gone(orphan_pid).await,
        "the orphan {orphan_pid} survived"
    );
    assert!(!group_file.exists(), "the group record is cleared");

    let mut second = req(pin("exec", shell("true")));
    second.attempt = 2;
    second.idempotency_key = "another-key".into();
    outputs(run(&registry(), second).await);
    assert!(
        std::fs::read_to_string(format!("/proc/{}/stat", stranger.id())).is_ok(),
        "a process without the key was killed"
    );
    let _ = stranger.kill();
    let _ = stranger.wait();
    let _ = orphan.wait();
}
