//! Per-attempt logs: a size-capped writer ([`LogSink`]) and a reader that can follow a log while
//! it is written ([`LogReader`]).
//!
//! # Format
//!
//! One plain-text file per node attempt (the runtime chooses the path). The process's stdout
//! and stderr are interleaved **line by line**: a stream's bytes are held until a newline (or
//! until [`MAX_PENDING_LINE`] bytes without one), so a line of stdout is never cut by a line of
//! stderr. Lines the runtime adds itself start with `[planspec] `.
//!
//! # Limits
//!
//! Each stream may write [`LogLimits::per_stream`] bytes (default 1 MiB). Past that the head is
//! kept as written, a `[planspec]` marker says the limit was reached, the remaining output is
//! **drained and dropped** (the child is never blocked on a full pipe), and the last
//! [`LogLimits::tail`] dropped bytes (default 64 KiB) are kept in memory and appended when the
//! stream ends, after a second marker giving the number of bytes dropped. The head shows how a
//! run started, the tail how it ended; a file never exceeds about
//! `2 × (per_stream + tail)` plus the markers and notes.
//!
//! # Completion
//!
//! [`LogSink::finish`] flushes everything and then creates an empty sidecar file
//! `<path>.done` ([`completion_marker`]); [`LogReader::follow`] uses it to know that no more
//! bytes will come.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::secret::Redactor;

/// A stream's bytes are written once a newline arrives or once this many bytes are pending.
pub const MAX_PENDING_LINE: usize = 16 * 1024;

/// Which output stream bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
}

impl LogStream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        }
    }
}

/// Size limits of one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Bytes each stream may write before its output is dropped (default 1 MiB).
    pub per_stream: u64,
    /// Dropped bytes kept (the last ones) and appended when the stream ends (default 64 KiB).
    pub tail: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            per_stream: 1024 * 1024,
            tail: 64 * 1024,
        }
    }
}

/// What a finished log holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Bytes written to the file, markers and notes included.
    pub bytes_written: u64,
    /// Bytes of stdout that were dropped because of the limit.
    pub stdout_dropped: u64,
    /// Bytes of stderr that were dropped because of the limit.
    pub stderr_dropped: u64,
}

/// The path of the sidecar file that marks `log` as complete.
pub fn completion_marker(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".done");
    PathBuf::from(name)
}

/// An async, size-capped writer of one node attempt's log. Cheap to clone; clones write to the
/// same file.
///
/// Writing never fails for the caller: the first I/O error is kept, further writes are skipped,
/// and [`finish`](LogSink::finish) returns the error. A log must never make a task fail.
#[derive(Clone)]
pub struct LogSink {
    inner: Option<Arc<Mutex<SinkState>>>,
    path: Option<Arc<Path>>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink").field("path", &self.path).finish()
    }
}

struct SinkState {
    file: Option<File>,
    /// Secrets of the attempt; every byte written passes through it.
    redactor: Redactor,
    limits: LogLimits,
    streams: [StreamState; 2],
    written: u64,
    error: Option<io::Error>,
    finished: bool,
}

#[derive(Default)]
struct StreamState {
    accepted: u64,
    dropped: u64,
    pending: Vec<u8>,
    tail: VecDeque<u8>,
    ended: bool,
}

impl LogSink {
    /// Creates (or truncates) the log file at `path`, creating its parent directories, and
    /// removes a stale completion marker.
    pub async fn create(path: impl Into<PathBuf>, limits: LogLimits) -> io::Result<LogSink> {
        let path: PathBuf = path.into();
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        match tokio::fs::remove_file(completion_marker(&path)).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .await?;
        Ok(LogSink {
            inner: Some(Arc::new(Mutex::new(SinkState {
                file: Some(file),
                redactor: Redactor::new(),
                limits,
                streams: Default::default(),
                written: 0,
                error: None,
                finished: false,
            }))),
            path: Some(Arc::from(path)),
        })
    }

    /// A sink that discards everything (dry runs, benchmarks, tests).
    pub fn disabled() -> LogSink {
        LogSink {
            inner: None,
            path: None,
        }
    }

    /// The log file's path; `None` for a disabled sink.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Registers the attempt's secret values: from now on every line written to the log (by
    /// any clone) has them replaced with `[REDACTED]`. Output is written line by line, so a
    /// secret is caught unless a process prints it split across a line longer than the
    /// pending-line limit.
    pub async fn set_redactor(&self, redactor: Redactor) {
        let Some(inner) = &self.inner else { return };
        inner.lock().await.redactor = redactor;
    }

    /// Appends bytes of one stream, subject to the stream's limit.
    pub async fn write(&self, stream: LogStream, bytes: &[u8]) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.lock().await;
        state.write_stream(stream, bytes).await;
    }

    /// Appends a line of the runtime's own (`[planspec] message`). Not counted against the
    /// streams' limits. Never put configuration values or secrets in a note.
    pub async fn note(&self, message: &str) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.lock().await;
        if state.finished {
            return;
        }
        let line = format!("[planspec] {}\n", message.trim_end());
        state.put(line.as_bytes()).await;
    }

    /// Ends one stream: writes its pending partial line and, if output was dropped, the marker
    /// and the kept tail. Further writes to the stream are ignored.
    pub async fn end_stream(&self, stream: LogStream) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.lock().await;
        state.end_stream(stream).await;
    }

    /// Ends both streams, flushes, closes the file and creates the completion marker. Later
    /// calls (on any clone) return the same summary without writing.
    pub async fn finish(&self) -> io::Result<LogSummary> {
        let Some(inner) = &self.inner else {
            return Ok(LogSummary::default());
        };
        let mut state = inner.lock().await;
        if !state.finished {
            state.end_stream(LogStream::Stdout).await;
            state.end_stream(LogStream::Stderr).await;
            if let Some(mut file) = state.file.take() {
                if let Err(e) = file.flush().await {
                    state.error.get_or_insert(e);
                }
            }
            state.finished = true;
            if state.error.is_none() {
                if let Some(path) = &self.path {
                    if let Err(e) = tokio::fs::write(completion_marker(path), b"").await {
                        state.error = Some(e);
                    }
                }
            }
        }
        if let Some(e) = &state.error {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        Ok(LogSummary {
            bytes_written: state.written,
            stdout_dropped: state.streams[0].dropped,
            stderr_dropped: state.streams[1].dropped,
        })
    }
}

impl SinkState {
    async fn put(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.error.is_some() {
            return;
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let bytes = self.redactor.redact_bytes(bytes);
        match file.write_all(&bytes).await {
            Ok(()) => self.written += bytes.len() as u64,
            Err(e) => self.error = Some(e),
        }
    }

    async fn write_stream(&mut self, stream: LogStream, bytes: &[u8]) {
        let limits = self.limits;
        let s = &mut self.streams[stream.index()];
        if s.ended || self.finished {
            return;
        }
        let room = limits.per_stream.saturating_sub(s.accepted);
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
        let (kept, dropped) = bytes.split_at(take);
        s.accepted += kept.len() as u64;
        s.pending.extend_from_slice(kept);

        let mut out = Vec::new();
        if let Some(last_newline) = s.pending.iter().rposition(|&b| b == b'\n') {
            out.extend(s.pending.drain(..=last_newline));
        } else if s.pending.len() >= MAX_PENDING_LINE {
            out.append(&mut s.pending);
        }

        if !dropped.is_empty() {
            let first_drop = s.dropped == 0;
            s.dropped += dropped.len() as u64;
            keep_tail(&mut s.tail, dropped, limits.tail);
            if first_drop {
                if !s.pending.is_empty() {
                    out.append(&mut s.pending);
                    out.push(b'\n');
                }
                out.extend_from_slice(
                    format!(
                        "[planspec] {} reached the log limit of {} bytes; further output is \
                         dropped (its last {} bytes are appended when the stream ends)\n",
                        stream.as_str(),
                        limits.per_stream,
                        limits.tail
                    )
                    .as_bytes(),
                );
            }
        }
        self.put(&out).await;
    }

    async fn end_stream(&mut self, stream: LogStream) {
        let s = &mut self.streams[stream.index()];
        if s.ended {
            return;
        }
        s.ended = true;
        let mut out = std::mem::take(&mut s.pending);
        if !out.is_empty() && out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        if s.dropped > 0 {
            out.extend_from_slice(
                format!(
                    "[planspec] {}: {} bytes dropped in total; the last {} follow\n",
                    stream.as_str(),
                    s.dropped,
                    s.tail.len()
                )
                .as_bytes(),
            );
            out.extend(s.tail.drain(..));
            if out.last() != Some(&b'\n') {
                out.push(b'\n');
            }
        }
        if !self.finished {
            self.put(&out).await;
        }
    }
}

/// Appends `bytes` to a ring of at most `cap` bytes, keeping the newest.
fn keep_tail(tail: &mut VecDeque<u8>, bytes: &[u8], cap: usize) {
    if cap == 0 {
        return;
    }
    let bytes = &bytes[bytes.len().saturating_sub(cap)..];
    let overflow = (tail.len() + bytes.len()).saturating_sub(cap);
    tail.drain(..overflow.min(tail.len()));
    tail.extend(bytes);
}

/// Reads a log from an offset, now or as it grows (`planspec logs`, `planspec logs -f`).
#[derive(Debug, Clone)]
pub struct LogReader {
    path: PathBuf,
    offset: u64,
}

impl LogReader {
    /// A reader of `path` starting at byte `offset`.
    pub fn new(path: impl Into<PathBuf>, offset: u64) -> LogReader {
        LogReader {
            path: path.into(),
            offset,
        }
    }

    /// The offset of the next byte to read (pass it back to resume later).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads up to `max` bytes available now and advances the offset. Empty at the end of what
    /// is written so far, and while the file does not exist yet.
    pub async fn read(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut file = match File::open(&self.path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        file.seek(io::SeekFrom::Start(self.offset)).await?;
        let mut buf = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX);
        (&mut file).take(limit).read_to_end(&mut buf).await?;
        self.offset += buf.len() as u64;
        Ok(buf)
    }

    /// `true` once the writer has finished (the completion marker exists).
    pub async fn is_complete(&self) -> bool {
        tokio::fs::try_exists(completion_marker(&self.path))
            .await
            .unwrap_or(false)
    }

    /// Waits for the next bytes (up to `max`), checking every `poll`. Returns `None` once the
    /// log is complete and fully read, or when `cancel` fires.
    pub async fn follow(
        &mut self,
        max: usize,
        poll: Duration,
        cancel: &CancellationToken,
    ) -> io::Result<Option<Vec<u8>>> {
        loop {
            let chunk = self.read(max).await?;
            if !chunk.is_empty() {
                return Ok(Some(chunk));
            }
            if self.is_complete().await {
                // Bytes may have landed between the read and the marker check.
                let chunk = self.read(max).await?;
                return Ok((!chunk.is_empty()).then_some(chunk));
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = cancel.cancelled() => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_newest_bytes() {
        let mut tail = VecDeque::new();
        keep_tail(&mut tail, b"abc", 4);
        keep_tail(&mut tail, b"def", 4);
        assert_eq!(tail.iter().copied().collect::<Vec<_>>(), b"cdef");
        keep_tail(&mut tail, b"0123456789", 4);
        assert_eq!(tail.iter().copied().collect::<Vec<_>>(), b"6789");
        let mut none = VecDeque::new();
        keep_tail(&mut none, b"abc", 0);
        assert!(none.is_empty());
    }

    #[test]
    fn marker_is_a_sibling() {
        assert_eq!(
            completion_marker(Path::new("/x/a.log")),
            PathBuf::from("/x/a.log.done")
        );
    }
}
