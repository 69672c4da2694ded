//! Running a child process in its own process group, with a timeout, cancellation, streaming
//! of its output to a [`LogSink`] and bounded in-memory captures.
//!
//! Shared by the `exec` provider and the command-based acceptance criteria.
//!
//! * The child is the leader of a new process group (`setpgid(0, 0)`), so everything it starts
//!   (unless it calls `setsid` itself) can be signalled at once.
//! * On timeout or cancellation the group gets `SIGTERM`, then `SIGKILL` after the grace period.
//! * When the child exits on its own, whatever it left running in its group is terminated the
//!   same way: a task's processes never outlive the task.
//! * stdout and stderr are read continuously into bounded buffers, so the child never blocks on
//!   a full pipe however much it prints.
//! * If the future is dropped mid-run, a guard sends `SIGKILL` to the group.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::log::{LogSink, LogStream};

/// How long to keep reading a stream after the group is gone; a process that escaped the
/// group (`setsid`) and still holds the pipe is not waited for longer.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often to check whether a signalled process group is gone.
const GROUP_POLL: Duration = Duration::from_millis(20);

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSpec {
    /// The program (looked up in `PATH` unless it contains a `/`).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables (on top of the inherited environment).
    pub env: Vec<(OsString, OsString)>,
    /// The working directory.
    pub cwd: PathBuf,
    /// Bytes written to stdin (then closed); `None` connects stdin to `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// How long the process may run.
    pub timeout: Option<Duration>,
    /// Time between `SIGTERM` and `SIGKILL`.
    pub grace: Duration,
    /// Where to record the process group while it runs (removed when it is gone), so that a
    /// runtime that died with the group still running can find and stop it later
    /// ([`reap_leftover`]).
    pub group_file: Option<PathBuf>,
}

/// Stops what an earlier runtime left running for the same attempt: the process group
/// recorded in `group_file`, if it still exists. A recorded leader that is alive counts only
/// if its environment carries `marker` (`PLANSPEC_IDEMPOTENCY_KEY=…`), so a recycled pid is
/// never touched; a group whose leader is gone cannot have been recycled (Linux keeps a pid
/// while it names a live group) and is killed as it is. Waits (at most `wait`) until no
/// member is left, then removes the file.
pub(crate) async fn reap_leftover(group_file: &std::path::Path, marker: &str, wait: Duration) {
    let Ok(text) = tokio::fs::read_to_string(group_file).await else {
        return;
    };
    let Ok(pgid) = text.trim().parse::<libc::pid_t>() else {
        let _ = tokio::fs::remove_file(group_file).await;
        return;
    };
    let ours = match tokio::fs::read(format!("/proc/{pgid}/environ")).await {
        Ok(environ) => environ
            .split(|b| *b == 0)
            .any(|var| var == marker.as_bytes()),
        // No leader (or not ours to read): only the old group can still carry this id.
        Err(_) => true,
    };
    if pgid > 0 && ours && group_alive(pgid).await {
        signal_group(pgid, libc::SIGKILL);
        let deadline = tokio::time::Instant::now() + wait;
        while group_alive(pgid).await && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _ = tokio::fs::remove_file(group_file).await;
}

/// What to keep in memory from each stream.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CaptureSpec {
    /// The first bytes (0: none).
    pub head: usize,
    /// The last bytes (0: none).
    pub tail: usize,
    /// The last non-blank line, up to this many bytes (0: not tracked).
    pub last_line: usize,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Termination {
    /// It exited with this code.
    Exited(i32),
    /// A signal we did not send killed it.
    Signalled(i32),
    /// The timeout elapsed; the group was terminated.
    TimedOut,
    /// Cancelled; the group was terminated.
    Cancelled,
}

/// The result of [`run`].
#[derive(Debug)]
pub(crate) struct Finished {
    pub termination: Termination,
    pub pid: u32,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// What was kept of one stream.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    /// The first bytes.
    pub head: Vec<u8>,
    /// The last bytes.
    pub tail: VecDeque<u8>,
    /// Bytes read in total.
    pub total: u64,
    /// The last non-blank line seen (without its newline).
    pub last_line: Vec<u8>,
    /// `true` if the last line was longer than the limit (then `last_line` holds its start).
    pub last_line_overflow: bool,
    current: Vec<u8>,
    current_overflow: bool,
}

impl Captured {
    fn push(&mut self, spec: CaptureSpec, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < spec.head {
            let take = (spec.head - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        if spec.tail > 0 {
            let bytes = &bytes[bytes.len().saturating_sub(spec.tail)..];
            let overflow = (self.tail.len() + bytes.len()).saturating_sub(spec.tail);
            self.tail.drain(..overflow.min(self.tail.len()));
            self.tail.extend(bytes);
        }
        if spec.last_line > 0 {
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                let (content, complete) = match line.split_last() {
                    Some((b'\n', rest)) => (rest, true),
                    _ => (line, false),
                };
                let room = spec.last_line.saturating_sub(self.current.len());
                if content.len() > room {
                    self.current_overflow = true;
                }
                self.current
                    .extend_from_slice(&content[..content.len().min(room)]);
                if complete {
                    self.close_line();
                }
            }
        }
    }

    fn close_line(&mut self) {
        if self.current.iter().any(|b| !b.is_ascii_whitespace()) || self.current_overflow {
            self.last_line = std::mem::take(&mut self.current);
            self.last_line_overflow = self.current_overflow;
        }
        self.current.clear();
        self.current_overflow = false;
    }

    /// The tail as a lossy UTF-8 string, trimmed.
    pub fn tail_text(&self) -> String {
        let bytes: Vec<u8> = self.tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).trim().to_string()
    }
}

/// Sends `SIGKILL` to the group when dropped while armed.
struct GroupGuard {
    pgid: libc::pid_t,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

fn signal_group(pgid: libc::pid_t, signal: libc::c_int) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; it has no memory effects.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// `true` while the group has a member that is not a zombie. Zombies count as gone: an
/// orphaned grandchild is reparented to PID 1, which in some containers never reaps it, and
/// waiting for such a zombie would only burn the grace period.
async fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    if pgid <= 0 || unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    tokio::task::spawn_blocking(move || has_live_member(pgid).unwrap_or(true))
        .await
        .unwrap_or(true)
}

/// Scans `/proc` for a non-zombie process in group `pgid`; `None` if `/proc` is unreadable.
fn has_live_member(pgid: libc::pid_t) -> Option<bool> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the parenthesised command name: state, ppid, pgrp, …
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|f| f.parse::<libc::pid_t>().ok());
        if pgrp == Some(pgid) && !matches!(state, Some("Z") | Some("X")) {
            return Some(true);
        }
    }
    Some(false)
}

/// Runs the process to completion (or timeout, or cancellation). `Err` only when it could not
/// be started.
pub(crate) async fn run(
    spec: ProcessSpec,
    log: &LogSink,
    capture: CaptureSpec,
    cancel: &CancellationToken,
) -> io::Result<Finished> {
    let mut command = Command::new(&spec.program);
    // The server's `PLANSPEC_SECRET_*` variables are for `{secretEnv}` references only: a
    // process gets a secret under the name its configuration gives it, never by inheritance.
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with(planspec_model::provider::SECRET_ENV_PREFIX))
        {
            command.env_remove(name);
        }
    }
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let pid = child.id().unwrap_or(0);
    let pgid = libc::pid_t::try_from(pid).unwrap_or(0);
    let mut guard = GroupGuard { pgid, armed: true };
    if let Some(file) = &spec.group_file {
        if let Some(dir) = file.parent() {
            let _ = tokio::fs::create_dir_all(dir).await;
        }
        let _ = tokio::fs::write(file, pgid.to_string()).await;
    }

    // A child that never reads stdin must not stall us: write from a task, ignore EPIPE.
    let stdin_writer = match (spec.stdin, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => Some(tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        })),
        _ => None,
    };

    let stop_reading = CancellationToken::new();
    let stdout = child.stdout.take().map(|r| {
        tokio::spawn(pump(
            r,
            LogStream::Stdout,
            log.clone(),
            capture,
            stop_reading.clone(),
        ))
    });
    let stderr = child.stderr.take().map(|r| {
        tokio::spawn(pump(
            r,
            LogStream::Stderr,
            log.clone(),
            capture,
            stop_reading.clone(),
        ))
    });

    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let sleep_until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };

    let termination = tokio::select! {
        status = child.wait() => {
            let termination = from_status(status?);
            if group_alive(pgid).await {
                terminate_group(&mut child, pgid, spec.grace).await;
            }
            termination
        }
        _ = sleep_until_deadline => {
            terminate_group(&mut child, pgid, spec.grace).await;
            Termination::TimedOut
        }
        _ = cancel.cancelled() => {
            terminate_group(&mut child, pgid, spec.grace).await;
            Termination::Cancelled
        }
    };
    guard.armed = false;
    if let Some(file) = &spec.group_file {
        let _ = tokio::fs::remove_file(file).await;
    }
    if let Some(writer) = stdin_writer {
        // Only a process that escaped the group can still hold the pipe; stop writing to it.
        writer.abort();
    }

    let stdout = collect(stdout, &stop_reading).await;
    let stderr = collect(stderr, &stop_reading).await;
    Ok(Finished {
        termination,
        pid,
        stdout,
        stderr,
    })
}

/// Waits for a pump to reach end of file; after [`DRAIN_TIMEOUT`] it is told to stop.
async fn collect(
    pump: Option<tokio::task::JoinHandle<Captured>>,
    stop: &CancellationToken,
) -> Captured {
    let Some(mut handle) = pump else {
        return Captured::default();
    };
    match tokio::time::timeout(DRAIN_TIMEOUT, &mut handle).await {
        Ok(result) => result.unwrap_or_default(),
        Err(_) => {
            stop.cancel();
            handle.await.unwrap_or_default()
        }
    }
}

fn from_status(status: ExitStatus) -> Termination {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Termination::Exited(code),
        (None, Some(signal)) => Termination::Signalled(signal),
        (None, None) => Termination::Exited(-1),
    }
}

/// `SIGTERM` to the group; after `grace` (or as soon as the group is empty) `SIGKILL`; the
/// leader is reaped.
async fn terminate_group(child: &mut Child, pgid: libc::pid_t, grace: Duration) {
    signal_group(pgid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    // Reap the leader first: an unreaped zombie still counts as a member of the group.
    let _ = tokio::time::timeout_at(deadline, child.wait()).await;
    while Instant::now() < deadline && group_alive(pgid).await {
        tokio::time::sleep(GROUP_POLL).await;
    }
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait().await;
}

/// Copies a stream to the log and the capture until end of file or `stop`.
async fn pump(
    mut reader: impl AsyncRead + Unpin,
    stream: LogStream,
    log: LogSink,
    spec: CaptureSpec,
    stop: CancellationToken,
) -> Captured {
    let mut captured = Captured::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // `stop` first: a process that escaped the group could keep the pipe always readable.
        let n = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        let chunk = &buf[..n];
        log.write(stream, chunk).await;
        captured.push(spec, chunk);
    }
    if !captured.current.is_empty() || captured.current_overflow {
        captured.close_line();
    }
    log.end_stream(stream).await;
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(chunks: &[&[u8]], spec: CaptureSpec) -> Captured {
        let mut c = Captured::default();
        for chunk in chunks {
            c.push(spec, chunk);
        }
        if !c.current.is_empty() || c.current_overflow {
            c.close_line();
        }
        c
    }

    #[test]
    fn last_line_ignores_blank_lines_and_spans_chunks() {
        let spec = CaptureSpec {
            last_line: 100,
            ..Default::default()
        };
        let c = captured(&[b"one\n{\"a\":", b"1}\n\n  \n"], spec);
        assert_eq!(c.last_line, b"{\"a\":1}");
        assert!(!c.last_line_overflow);
        let c = captured(&[b"one\ntwo"], spec);
        assert_eq!(c.last_line, b"two");
    }

    #[test]
    fn overlong_last_line_is_flagged() {
        let spec = CaptureSpec {
            last_line: 4,
            ..Default::default()
        };
        let c = captured(&[b"{\"long\":", b"true}\n"], spec);
        assert_eq!(c.last_line, b"{\"lo");
        assert!(c.last_line_overflow);
        let c = captured(&[b"{\"long\":true}\nok\n"], spec);
        assert_eq!(c.last_line, b"ok");
        assert!(!c.last_line_overflow);
    }

    #[test]
    fn head_and_tail_are_bounded() {
        let spec = CaptureSpec {
            head: 3,
            tail: 3,
            last_line: 0,
        };
        let c = captured(&[b"abcd", b"efgh"], spec);
        assert_eq!(c.head, b"abc");
        assert_eq!(c.tail_text(), "fgh");
        assert_eq!(c.total, 8);
    }
}
