//! `command_succeeds` and `test_passes`.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use planspec_model::common::{Duration as GoDuration, RegexPattern};
use planspec_model::plan::{CommandSucceedsCriterion, TestPassesCriterion};

use super::{compile, time_limit, CriteriaContext};
use crate::log::LogSink;
use crate::process::{self, CaptureSpec, ProcessSpec, Termination};

/// How much of each stream `outputMatch` searches.
const MAX_OUTPUT: usize = 1024 * 1024;
/// How much of the end of stderr a failure quotes.
const QUOTE: usize = 512;
/// Time between `SIGTERM` and `SIGKILL` for a check that ran out of time.
const GRACE: Duration = Duration::from_secs(2);

struct Check<'a> {
    command: &'a str,
    args: &'a [String],
    expected_exit_code: i32,
    output_match: Option<&'a RegexPattern>,
    timeout: Option<&'a GoDuration>,
}

pub(super) async fn check_command(
    c: &CommandSucceedsCriterion,
    ctx: &CriteriaContext,
) -> Result<String, String> {
    run(
        Check {
            command: &c.command,
            args: &c.args,
            expected_exit_code: c.expected_exit_code,
            output_match: c.output_match.as_ref(),
            timeout: c.timeout.as_ref(),
        },
        ctx,
    )
    .await
}

pub(super) async fn check_test(
    c: &TestPassesCriterion,
    ctx: &CriteriaContext,
) -> Result<String, String> {
    run(
        Check {
            command: &c.command,
            args: &c.args,
            expected_exit_code: c.expected_exit_code,
            output_match: None,
            timeout: c.timeout.as_ref(),
        },
        ctx,
    )
    .await
}

async fn run(check: Check<'_>, ctx: &CriteriaContext) -> Result<String, String> {
    if check.command.is_empty() {
        return Err("`command` is empty".into());
    }
    if check.command.contains('\0') || check.args.iter().any(|a| a.contains('\0')) {
        return Err("the command contains a NUL byte".into());
    }
    let timeout = time_limit(check.timeout, ctx)?;
    let regex = match check.output_match {
        Some(p) => Some(compile("outputMatch", p.as_str())?),
        None => None,
    };
    let program: OsString = if check.command.contains('/') && Path::new(check.command).is_relative()
    {
        ctx.work_dir.join(check.command).into_os_string()
    } else {
        check.command.into()
    };
    let mut env: Vec<(OsString, OsString)> = ctx
        .env
        .iter()
        .filter(|(k, v)| !k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0'))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    env.push((
        "PLANSPEC_WORK_DIR".into(),
        ctx.work_dir.clone().into_os_string(),
    ));
    env.push(("PLANSPEC_NODE".into(), ctx.node_id.clone().into()));
    env.push(("PLANSPEC_EXECUTION".into(), ctx.execution.clone().into()));
    let spec = ProcessSpec {
        program,
        args: check.args.iter().map(OsString::from).collect(),
        env,
        cwd: ctx.work_dir.clone(),
        stdin: None,
        timeout: Some(timeout),
        grace: GRACE,
        group_file: None,
    };
    let capture = CaptureSpec {
        head: if regex.is_some() { MAX_OUTPUT } else { 0 },
        tail: QUOTE,
        last_line: 0,
    };
    let finished = process::run(spec, &LogSink::disabled(), capture, &ctx.cancel)
        .await
        .map_err(|e| {
            let hint = if check.command.contains(char::is_whitespace) {
                " (hint: `command` is the program alone; put its arguments in `args`, or write `command: sh` with `args: [-c, \"…\"]` for a shell line)"
            } else {
                ""
            };
            format!("cannot start `{}`: {e}{hint}", check.command)
        })?;
    let code = match finished.termination {
        Termination::Exited(code) => code,
        Termination::Signalled(signal) => {
            return Err(format!("`{}` was killed by signal {signal}", check.command))
        }
        Termination::TimedOut => {
            return Err(format!(
                "`{}` did not finish within {}",
                check.command,
                crate::provider::format_duration(timeout)
            ))
        }
        Termination::Cancelled => return Err("cancelled".into()),
    };
    if code != check.expected_exit_code {
        let stderr = finished.stderr.tail_text();
        let mut message = format!(
            "`{}` exited with code {code}, expected {}",
            check.command, check.expected_exit_code
        );
        if !stderr.is_empty() {
            message.push_str(&format!("; stderr ends with: {stderr}"));
        }
        return Err(message);
    }
    match regex {
        None => Ok(format!("`{}` exited with code {code}", check.command)),
        Some(regex) => {
            if regex.is_match(&finished.stdout.head) || regex.is_match(&finished.stderr.head) {
                Ok(format!(
                    "`{}` exited with code {code} and its output matches `{}`",
                    check.command,
                    regex.as_str()
                ))
            } else {
                Err(format!(
                    "`{}` exited with code {code} but its output does not match `{}`",
                    check.command,
                    regex.as_str()
                ))
            }
        }
    }
}
