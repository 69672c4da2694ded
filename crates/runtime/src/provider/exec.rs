//! The `exec` provider: runs a command.
//!
//! Target: `exec://NAME` (the name is a label for people) or a bare `exec`. Config:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `command` | list of strings (required) | the argv; `command[0]` is looked up in `PATH` unless it contains `/`, and a relative path with `/` resolves against the working directory |
//! | `shell` | boolean (default `false`) | if `true`, `command` is one string run by `/bin/sh -c` |
//! | `env` | object of strings | extra environment variables; names starting with `PLANSPEC_` are reserved |
//! | `workingDir` | string | working directory; relative to the Execution's scratch directory (the default) |
//! | `gracePeriod` | duration (default `5s`, at most `5m`) | time between `SIGTERM` and `SIGKILL` when the attempt is stopped |
//!
//! # What the process gets
//!
//! The runtime's environment, then `env`, then:
//! `PLANSPEC_EXECUTION` (`namespace/name`), `PLANSPEC_EXECUTION_UID`, `PLANSPEC_NODE`,
//! `PLANSPEC_ATTEMPT`, `PLANSPEC_IDEMPOTENCY_KEY`, `PLANSPEC_WORK_DIR`, `PLANSPEC_OUTPUTS` (a
//! file path to write outputs to), `PLANSPEC_COST` (a file path to write the attempt's cost
//! in US dollars to, as a decimal number; see `provider::cost`), `PLANSPEC_INPUTS` (the inputs as a JSON object) and one
//! `PLANSPEC_INPUT_<NAME>` per input (name in ASCII uppercase, every other character `_`; a
//! string as is, anything else as compact JSON; when two names collide the later in key order
//! wins). A variable whose value would exceed 64 KiB or contains a NUL byte is left out (the log
//! says which); the full inputs JSON is always written to **stdin**, followed by a newline.
//!
//! # Outputs
//!
//! The JSON object written to `$PLANSPEC_OUTPUTS`, if the file is non-empty; else the last
//! non-blank stdout line, if it is a JSON object; else `{}`. At most 1 MiB either way.
//!
//! # Failures
//!
//! Exit code ≠ 0 → `ExitNonZero` (retryable, with the code and the end of stderr); killed by a
//! signal → `Killed` (retryable); timeout → `Timeout` (retryable); cancel → `Cancelled`; the
//! program cannot be started → `SpawnFailed` (retryable unless not found / not permitted);
//! bad outputs → `InvalidOutputs` / `OutputsTooLarge` (not retryable). The whole process group
//! is terminated on timeout, on cancel, and when the command exits leaving processes behind.
//!
//! Arguments, the shell script and `env` values are never written to the log.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use planspec_model::provider::SecretRef;

use super::config::{format_duration, ConfigError, ConfigReader};
use super::{
    cost, DispatchOutcome, DispatchRequest, Failure, FailureReason, Provider, ProviderUri,
};
use crate::outputs::{parse_object, OutputsError, MAX_OUTPUTS_BYTES};
use crate::process::{self, CaptureSpec, ProcessSpec, Termination};

/// Default time between `SIGTERM` and `SIGKILL`.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);
/// Longest accepted `gracePeriod`.
pub const MAX_GRACE_PERIOD: Duration = Duration::from_secs(300);
/// Longest environment variable value passed (Linux refuses single strings over 128 KiB).
pub const MAX_ENV_VALUE: usize = 64 * 1024;
/// How much of the end of stderr a failure message quotes.
const STDERR_QUOTE: usize = 1024;

const FIELDS: &[&str] = &["command", "shell", "env", "workingDir", "gracePeriod"];

/// The command of an `exec` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecCommand {
    /// Run this argv directly.
    Argv(Vec<String>),
    /// Run this script with `/bin/sh -c`.
    Shell(String),
}

/// A validated `exec` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// What to run.
    pub command: ExecCommand,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Extra environment variables whose values are secrets, read at dispatch time (the
    /// registry fills them in before the provider sees the config).
    pub secret_env: BTreeMap<String, SecretRef>,
    /// Working directory (relative to the scratch directory unless absolute).
    pub working_dir: Option<String>,
    /// Time between `SIGTERM` and `SIGKILL`.
    pub grace_period: Duration,
}

impl ExecConfig {
    /// Validates a config map.
    pub fn from_config(config: &Map<String, Value>) -> Result<ExecConfig, ConfigError> {
        let r = ConfigReader::new(config, FIELDS)?;
        let shell = r.bool("shell")?.unwrap_or(false);
        let command =
            if shell {
                match r.string("command")? {
                    Some(script) if !script.trim().is_empty() => ExecCommand::Shell(script),
                    Some(_) => return Err(ConfigError::field("command", "must not be empty")),
                    None => {
                        return Err(ConfigError::field(
                            "command",
                            "is required: with `shell: true`, the script to run as a string",
                        ))
                    }
                }
            } else {
                match r.value("command") {
                    Some(Value::String(_)) => {
                        return Err(ConfigError::field(
                            "command",
                            "must be a list of strings (the argv); to run a shell script, \
                         set `shell: true`",
                        ))
                    }
                    _ => match r.string_list("command")? {
                        Some(argv) if argv.first().is_some_and(|p| !p.is_empty()) => {
                            ExecCommand::Argv(argv)
                        }
                        Some(_) => {
                            return Err(ConfigError::field(
                                "command",
                                "must start with a non-empty program name",
                            ))
                        }
                        None => return Err(ConfigError::field(
                            "command",
                            "is required: the argv as a list of strings, e.g. [\"make\", \"test\"]",
                        )),
                    },
                }
            };
        let strings: Vec<&str> = match &command {
            ExecCommand::Argv(argv) => argv.iter().map(String::as_str).collect(),
            ExecCommand::Shell(script) => vec![script.as_str()],
        };
        if strings.iter().any(|s| s.contains('\0')) {
            return Err(ConfigError::field("command", "must not contain NUL bytes"));
        }
        let (env, secret_env) = r.secret_string_map("env")?.unwrap_or_default();
        for name in secret_env.keys() {
            check_env_name(name)?;
        }
        for (name, value) in &env {
            check_env_name(name)?;
            if value.contains('\0') {
                return Err(ConfigError::field(
                    &format!("env.{name}"),
                    "must not contain NUL bytes",
                ));
            }
        }
        let working_dir = r.string("workingDir")?;
        if let Some(dir) = &working_dir {
            if dir.is_empty() || dir.contains('\0') {
                return Err(ConfigError::field(
                    "workingDir",
                    "must be a non-empty path without NUL bytes",
                ));
            }
        }
        let grace_period = r
            .duration("gracePeriod", MAX_GRACE_PERIOD)?
            .unwrap_or(DEFAULT_GRACE_PERIOD);
        Ok(ExecConfig {
            command,
            env,
            secret_env,
            working_dir,
            grace_period,
        })
    }

    /// The normalised config map (what gets pinned).
    pub fn to_config(&self) -> Map<String, Value> {
        let mut map = Map::new();
        match &self.command {
            ExecCommand::Argv(argv) => {
                map.insert(
                    "command".into(),
                    Value::Array(argv.iter().cloned().map(Value::String).collect()),
                );
                map.insert("shell".into(), Value::Bool(false));
            }
            ExecCommand::Shell(script) => {
                map.insert("command".into(), Value::String(script.clone()));
                map.insert("shell".into(), Value::Bool(true));
            }
        }
        if !self.env.is_empty() || !self.secret_env.is_empty() {
            let mut env: Map<String, Value> = self
                .env
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            for (k, reference) in &self.secret_env {
                env.insert(
                    k.clone(),
                    serde_json::to_value(reference).unwrap_or(Value::Null),
                );
            }
            env.sort_keys();
            map.insert("env".into(), Value::Object(env));
        }
        if let Some(dir) = &self.working_dir {
            map.insert("workingDir".into(), Value::String(dir.clone()));
        }
        map.insert(
            "gracePeriod".into(),
            Value::String(format_duration(self.grace_period)),
        );
        map
    }
}

fn check_env_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(ConfigError::field(
            &format!("env.{name}"),
            "is not a valid variable name (empty, or contains `=` or NUL)",
        ));
    }
    if name.starts_with("PLANSPEC_") {
        return Err(ConfigError::field(
            &format!("env.{name}"),
            "names starting with `PLANSPEC_` are reserved for the runtime",
        ));
    }
    Ok(())
}

/// The `exec` provider.
#[derive(Debug, Clone, Default)]
pub struct ExecProvider;

impl ExecProvider {
    /// The provider.
    pub fn new() -> ExecProvider {
        ExecProvider
    }
}

#[async_trait]
impl Provider for ExecProvider {
    fn type_name(&self) -> &'static str {
        "exec"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["exec"]
    }

    fn resolve(
        &self,
        _uri: &ProviderUri,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        Ok(ExecConfig::from_config(config)?.to_config())
    }

    async fn dispatch(
        &self,
        request: DispatchRequest,
        cancel: CancellationToken,
    ) -> DispatchOutcome {
        let config = match ExecConfig::from_config(&request.provider.config) {
            Ok(c) => c,
            Err(e) => {
                return DispatchOutcome::failed(FailureReason::InvalidConfig, e.to_string(), false)
            }
        };
        if !config.secret_env.is_empty() {
            return DispatchOutcome::failed(
                FailureReason::InvalidConfig,
                "secret references reached the exec provider unresolved",
                false,
            );
        }
        match run(&request, &config, &cancel).await {
            Ok(outcome) | Err(outcome) => outcome,
        }
    }
}

/// Where the process group of one attempt is recorded while it runs:
/// `<work dir>/.planspec/groups/<node>.<attempt>`.
pub fn group_path(work_dir: &Path, node_id: &str, attempt: u32) -> PathBuf {
    work_dir
        .join(".planspec")
        .join("groups")
        .join(format!("{}.{attempt}", safe_name(node_id)))
}

fn safe_name(node_id: &str) -> String {
    node_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The outputs file of one attempt: `<work dir>/.planspec/outputs/<node>.<attempt>.json`.
pub fn outputs_path(work_dir: &Path, node_id: &str, attempt: u32) -> PathBuf {
    work_dir
        .join(".planspec")
        .join("outputs")
        .join(format!("{}.{attempt}.json", safe_name(node_id)))
}

/// The environment variable an input is passed in: `PLANSPEC_INPUT_` and the name in ASCII
/// uppercase with every other character replaced by `_`.
pub fn input_env_name(input: &str) -> String {
    let mut name = String::from("PLANSPEC_INPUT_");
    name.extend(input.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    name
}

fn runtime_error(context: &str, e: &io::Error) -> DispatchOutcome {
    DispatchOutcome::failed(FailureReason::RuntimeError, format!("{context}: {e}"), true)
}

async fn run(
    request: &DispatchRequest,
    config: &ExecConfig,
    cancel: &CancellationToken,
) -> Result<DispatchOutcome, DispatchOutcome> {
    let log = &request.log;
    let outputs_file = outputs_path(&request.work_dir, &request.node_id, request.attempt);
    if let Some(dir) = outputs_file.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| runtime_error("cannot create the scratch directory", &e))?;
    }
    match tokio::fs::remove_file(&outputs_file).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(runtime_error("cannot clear the outputs file", &e)),
    }
    let cost_file = cost::cost_path(
        &request.work_dir,
        &safe_name(&request.node_id),
        request.attempt,
    );
    if let Some(dir) = cost_file.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| runtime_error("cannot create the scratch directory", &e))?;
    }
    match tokio::fs::remove_file(&cost_file).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(runtime_error("cannot clear the cost file", &e)),
    }

    let cwd = match &config.working_dir {
        Some(dir) => request.work_dir.join(dir),
        None => request.work_dir.clone(),
    };
    if !tokio::fs::metadata(&cwd).await.is_ok_and(|m| m.is_dir()) {
        return Err(DispatchOutcome::failed(
            FailureReason::SpawnFailed,
            "the working directory does not exist or is not a directory",
            false,
        ));
    }

    let inputs_json = Value::Object(request.inputs.clone()).to_string();
    let mut env: Vec<(OsString, OsString)> = config
        .env
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let mut skipped = Vec::new();
    let mut push = |name: String, value: String, env: &mut Vec<(OsString, OsString)>| {
        if value.len() > MAX_ENV_VALUE || value.contains('\0') {
            skipped.push(name);
        } else {
            env.push((name.into(), value.into()));
        }
    };
    let mut inputs: Vec<(&String, &Value)> = request.inputs.iter().collect();
    inputs.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in inputs {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        push(input_env_name(name), text, &mut env);
    }
    push("PLANSPEC_INPUTS".into(), inputs_json.clone(), &mut env);
    for (name, value) in [
        ("PLANSPEC_EXECUTION", request.execution.clone()),
        ("PLANSPEC_EXECUTION_UID", request.execution_uid.clone()),
        ("PLANSPEC_NODE", request.node_id.clone()),
        ("PLANSPEC_ATTEMPT", request.attempt.to_string()),
        ("PLANSPEC_IDEMPOTENCY_KEY", request.idempotency_key.clone()),
    ] {
        push(name.into(), value, &mut env);
    }
    env.push((
        "PLANSPEC_WORK_DIR".into(),
        request.work_dir.clone().into_os_string(),
    ));
    env.push((
        "PLANSPEC_OUTPUTS".into(),
        outputs_file.clone().into_os_string(),
    ));
    env.push((cost::COST_ENV.into(), cost_file.clone().into_os_string()));
    for name in &skipped {
        log.note(&format!(
            "{name} is not set: its value is over {MAX_ENV_VALUE} bytes or contains NUL; \
             read the inputs from stdin"
        ))
        .await;
    }

    let (program, args): (OsString, Vec<OsString>) = match &config.command {
        ExecCommand::Argv(argv) => {
            let (first, rest) = argv.split_first().ok_or_else(|| {
                DispatchOutcome::failed(FailureReason::InvalidConfig, "empty command", false)
            })?;
            let program = if first.contains('/') && Path::new(first).is_relative() {
                cwd.join(first).into_os_string()
            } else {
                first.into()
            };
            (program, rest.iter().map(OsString::from).collect())
        }
        ExecCommand::Shell(script) => ("/bin/sh".into(), vec!["-c".into(), script.into()]),
    };
    let shown_program = match &config.command {
        ExecCommand::Argv(argv) => argv.first().cloned().unwrap_or_default(),
        ExecCommand::Shell(_) => "/bin/sh".to_string(),
    };

    let mut stdin = inputs_json.into_bytes();
    stdin.push(b'\n');
    // A runtime that died while this attempt ran may have left its processes running: stop
    // them before the attempt runs again (same key), so two never run at once.
    let group_file = group_path(&request.work_dir, &request.node_id, request.attempt);
    process::reap_leftover(
        &group_file,
        &format!("PLANSPEC_IDEMPOTENCY_KEY={}", request.idempotency_key),
        config.grace_period + Duration::from_secs(5),
    )
    .await;
    let spec = ProcessSpec {
        program,
        args,
        env,
        cwd,
        stdin: Some(stdin),
        timeout: request.timeout,
        grace: config.grace_period,
        group_file: Some(group_file),
    };
    // stdout: the last line (outputs); stderr: its end (quoted in failures).
    let capture = CaptureSpec {
        head: 0,
        tail: STDERR_QUOTE,
        last_line: MAX_OUTPUTS_BYTES,
    };
    log.note(&format!(
        "exec: starting `{shown_program}` (node {}, attempt {})",
        request.node_id, request.attempt
    ))
    .await;
    let finished = match process::run(spec, log, capture, cancel).await {
        Ok(f) => f,
        Err(e) => {
            let retryable = !matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            );
            let message = format!("cannot start `{shown_program}`: {e}");
            log.note(&message).await;
            return Err(DispatchOutcome::failed(
                FailureReason::SpawnFailed,
                message,
                retryable,
            ));
        }
    };

    let pid = finished.pid;
    match finished.termination {
        Termination::Exited(0) => {
            log.note(&format!("exec: process {pid} exited with code 0"))
                .await;
        }
        Termination::Exited(code) => {
            log.note(&format!("exec: process {pid} exited with code {code}"))
                .await;
            let stderr = finished.stderr.tail_text();
            let message = if stderr.is_empty() {
                format!("the command exited with code {code}")
            } else {
                format!("the command exited with code {code}; stderr ends with: {stderr}")
            };
            return Err(DispatchOutcome::Failed(Failure {
                reason: FailureReason::ExitNonZero,
                message,
                retryable: true,
                exit_code: Some(code),
            }));
        }
        Termination::Signalled(signal) => {
            let message = format!("the command was killed by signal {signal}");
            log.note(&format!("exec: process {pid}: {message}")).await;
            return Err(DispatchOutcome::failed(
                FailureReason::Killed,
                message,
                true,
            ));
        }
        Termination::TimedOut => {
            let limit = request.timeout.map(format_duration).unwrap_or_default();
            let message = format!(
                "the command exceeded its timeout of {limit}; its process group was terminated"
            );
            log.note(&format!("exec: {message}")).await;
            return Err(DispatchOutcome::failed(
                FailureReason::Timeout,
                message,
                true,
            ));
        }
        Termination::Cancelled => {
            let message = "the attempt was cancelled; its process group was terminated";
            log.note(&format!("exec: {message}")).await;
            return Err(DispatchOutcome::failed(
                FailureReason::Cancelled,
                message,
                false,
            ));
        }
    }

    let outputs = read_outputs(&outputs_file, &finished.stdout).await;
    // The outputs are now the attempt's result (redacted before they are recorded); the file
    // may hold secret values in clear, so it does not stay in the data directory.
    if let Err(e) = tokio::fs::remove_file(&outputs_file).await {
        if e.kind() != io::ErrorKind::NotFound {
            log.note(&format!("exec: cannot remove the outputs file: {e}"))
                .await;
        }
    }
    match outputs {
        Ok(outputs) => {
            let cost_usd = match cost::read_cost_file(&cost_file).await {
                Ok(cost) => cost,
                Err(message) => {
                    log.note(&format!("exec: cost not recorded: {message}"))
                        .await;
                    None
                }
            };
            Ok(DispatchOutcome::Succeeded { outputs, cost_usd })
        }
        Err(failure) => {
            log.note(&format!("exec: {}", failure.message)).await;
            Err(DispatchOutcome::Failed(failure))
        }
    }
}

/// The outputs file if non-empty, else the last stdout line if it is a JSON object, else `{}`.
async fn read_outputs(
    file: &Path,
    stdout: &process::Captured,
) -> Result<Map<String, Value>, Failure> {
    let fail = |reason, message: String| Failure {
        reason,
        message,
        retryable: false,
        exit_code: Some(0),
    };
    match tokio::fs::metadata(file).await {
        Ok(meta) if meta.len() > MAX_OUTPUTS_BYTES as u64 => {
            return Err(fail(
                FailureReason::OutputsTooLarge,
                format!(
                    "$PLANSPEC_OUTPUTS is {} bytes, more than the limit of {MAX_OUTPUTS_BYTES}",
                    meta.len()
                ),
            ))
        }
        Ok(_) => {
            let bytes = tokio::fs::read(file).await.map_err(|e| {
                fail(
                    FailureReason::InvalidOutputs,
                    format!("cannot read $PLANSPEC_OUTPUTS: {e}"),
                )
            })?;
            if bytes.iter().any(|b| !b.is_ascii_whitespace()) {
                return parse_object(&bytes).map_err(|e| {
                    let reason = match e {
                        OutputsError::TooLarge { .. } => FailureReason::OutputsTooLarge,
                        _ => FailureReason::InvalidOutputs,
                    };
                    fail(reason, format!("$PLANSPEC_OUTPUTS: {e}"))
                });
            }
        }
        Err(_) => {}
    }
    let line = &stdout.last_line;
    let looks_like_object = line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if stdout.last_line_overflow {
        if looks_like_object {
            return Err(fail(
                FailureReason::OutputsTooLarge,
                format!(
                    "the last stdout line is longer than the outputs limit of \
                     {MAX_OUTPUTS_BYTES} bytes"
                ),
            ));
        }
        return Ok(Map::new());
    }
    if looks_like_object {
        if let Ok(outputs) = parse_object(line) {
            return Ok(outputs);
        }
    }
    Ok(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<ExecConfig, ConfigError> {
        ExecConfig::from_config(v.as_object().unwrap_or(&Map::new()))
    }

    #[test]
    fn env_names() {
        assert_eq!(input_env_name("repo-url"), "PLANSPEC_INPUT_REPO_URL");
        assert_eq!(input_env_name("déjà"), "PLANSPEC_INPUT_D_J_");
    }

    #[test]
    fn outputs_path_is_per_attempt_and_safe() {
        let p = outputs_path(Path::new("/w"), "../x", 2);
        assert_eq!(p, PathBuf::from("/w/.planspec/outputs/___x.2.json"));
    }

    #[test]
    fn config_validation() {
        assert!(cfg(json!({"command": ["make", "test"]})).is_ok());
        assert!(cfg(json!({"command": "make test", "shell": true})).is_ok());
        let e = |v| cfg(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e(json!({})).contains("`config.command`: is required"));
        assert!(e(json!({"command": "make test"})).contains("set `shell: true`"));
        assert!(e(json!({"command": []})).contains("non-empty program"));
        assert!(e(json!({"command": ["x"], "env": {"PLANSPEC_NODE": "x"}})).contains("reserved"));
        assert!(e(json!({"command": ["x"], "gracePeriod": "1h"})).contains("at most 5m"));
        assert!(e(json!({"command": ["x"], "timeout": "1s"})).contains("unknown field"));
    }

    #[test]
    fn normalised_config_round_trips() {
        let c = cfg(json!({"command": ["a"], "env": {"K": "v"}, "workingDir": "sub"}));
        let c = c.ok();
        let map = c.as_ref().map(ExecConfig::to_config).unwrap_or_default();
        assert_eq!(map.get("gracePeriod"), Some(&json!("5s")));
        assert_eq!(ExecConfig::from_config(&map).ok(), c);
    }
}
