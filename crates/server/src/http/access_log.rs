//! The access log: one line per request, and the request id every response carries.
//!
//! ```text
//! 2025-01-02T03:04:05.123Z POST /apis/planspec.io/v1alpha1/namespaces/default/plans 201 2.314ms 1187B ua="planspec/0.1.0" id=5f0c2a9e61b4d3a7-00000001
//! ```
//!
//! Fields: time (UTC, when the request arrived), method, path with query, status, duration
//! (until the last byte of the response was handed over, so a watch's line comes when it
//! ends), response bytes, `User-Agent`, request id (the client's `X-Request-Id` when it sends
//! a sensible one, else generated; echoed in the response's `X-Request-Id` either way).
//!
//! What is logged is a [`Level`]: by default ([`Level::Writes`]) every request that changes
//! something (any method but `GET`, `HEAD`, `OPTIONS`, whatever its outcome) and every read
//! that failed (status 400 and above, except `404`, which is how clients such as `planspec
//! apply` ask whether something exists): the lines someone reading the log after the fact
//! wants, without one line per get, list or watch — as kube-apiserver keeps per-request lines
//! for higher verbosity.
//! [`Level::All`] logs every request, [`Level::Off`] none.
//!
//! Lines are written by a thread of their own (stderr or an appended file) fed through a
//! bounded channel: a request never waits for the disk. If the writer falls behind by
//! [`QUEUE`] lines, further lines are dropped and counted, and the next line written says how
//! many were lost.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::Frame;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use time::OffsetDateTime;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Lines that may wait for the writer.
pub const QUEUE: usize = 8192;
/// Longest request id taken from a client.
pub const MAX_REQUEST_ID: usize = 128;

/// Which requests are logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Level {
    /// None.
    Off,
    /// Requests that change something, and failures (the default).
    #[default]
    Writes,
    /// Every request.
    All,
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Level, String> {
        match s {
            "off" => Ok(Level::Off),
            "writes" => Ok(Level::Writes),
            "all" => Ok(Level::All),
            other => Err(format!(
                "unknown access log level `{other}`: use off, writes or all"
            )),
        }
    }
}

/// Where lines go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Target {
    /// Standard error (the default).
    #[default]
    Stderr,
    /// A file, appended to (created if missing).
    File(PathBuf),
}

/// How the access log is configured. The default is what `planspec server` does: writes and
/// failures, on standard error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Which requests are logged.
    pub level: Level,
    /// Where the lines go.
    pub target: Target,
}

/// A running access log; see the module documentation.
#[derive(Debug)]
pub struct AccessLog {
    level: Level,
    sender: Mutex<Option<SyncSender<String>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    dropped: AtomicU64,
    id_base: u64,
    next_id: AtomicU64,
}

impl AccessLog {
    /// Opens the target and starts the writer thread (none when the level is `Off`).
    pub fn start(config: &Config) -> std::io::Result<Arc<AccessLog>> {
        let (sender, writer) = if config.level == Level::Off {
            (None, None)
        } else {
            let out: Box<dyn Write + Send> = match &config.target {
                Target::Stderr => Box::new(std::io::stderr()),
                Target::File(path) => Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ),
            };
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let writer = std::thread::Builder::new()
                .name("planspec-access-log".into())
                .spawn(move || write_lines(&rx, out))?;
            (Some(tx), Some(writer))
        };
        let random = uuid::Uuid::new_v4().as_u64_pair().0;
        Ok(Arc::new(AccessLog {
            level: config.level,
            sender: Mutex::new(sender),
            writer: Mutex::new(writer),
            dropped: AtomicU64::new(0),
            id_base: random,
            next_id: AtomicU64::new(1),
        }))
    }

    /// Stops the writer after it has written every line queued so far. Later lines are
    /// dropped. Called on drop too.
    pub fn close(&self) {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(sender);
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }

    fn request_id(&self, given: Option<&HeaderValue>) -> HeaderValue {
        if let Some(value) = given.filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_REQUEST_ID
                && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
        }) {
            return value.clone();
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}-{n:08x}", self.id_base);
        HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }

    fn wants(&self, method: &Method, status: u16) -> bool {
        match self.level {
            Level::Off => false,
            Level::All => true,
            Level::Writes => {
                let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
                !read || (status >= 400 && status != 404)
            }
        }
    }

    fn emit(&self, line: String) {
        let guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = guard.as_ref() else {
            return;
        };
        let lost = self.dropped.swap(0, Ordering::Relaxed);
        let line = if lost > 0 {
            format!("{line} (access log: {lost} earlier lines dropped)")
        } else {
            line
        };
        match sender.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(lost + 1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_lines(lines: &Receiver<String>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::new(out);
    while let Ok(line) = lines.recv() {
        let _ = writeln!(out, "{line}");
        while let Ok(more) = lines.try_recv() {
            let _ = writeln!(out, "{more}");
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

/// What a line says besides the response's status and size.
struct Record {
    log: Arc<AccessLog>,
    arrived: OffsetDateTime,
    started: Instant,
    method: Method,
    target: String,
    status: u16,
    agent: String,
    id: String,
}

impl Record {
    fn line(&self, bytes: u64) -> String {
        let elapsed = self.started.elapsed();
        let mut line = String::with_capacity(160 + self.target.len());
        let t = self.arrived;
        let _ = write!(
            line,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {} {} {:.3}ms {bytes}B ua={:?} id={}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond(),
            self.method,
            self.target,
            self.status,
            elapsed.as_secs_f64() * 1000.0,
            self.agent,
            self.id
        );
        line
    }
}

/// The middleware: gives the request and the response their `X-Request-Id`, and logs the
/// request when its response has been sent (if the level wants it).
pub async fn middleware(
    State(log): State<Arc<AccessLog>>,
    mut request: Request,
    next: Next,
) -> Response {
    let arrived = OffsetDateTime::now_utc();
    let started = Instant::now();
    let id = log.request_id(request.headers().get(REQUEST_ID));
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let method = request.method().clone();
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, id.clone());
    let status = response.status().as_u16();
    if !log.wants(&method, status) {
        return response;
    }
    let record = Record {
        log,
        arrived,
        started,
        method,
        target,
        status,
        agent,
        id: String::from_utf8_lossy(id.as_bytes()).into_owned(),
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Counted {
            inner: body,
            bytes: 0,
            record: Some(record),
        }),
    )
}

/// A response body that counts its bytes and logs its request when it ends (or is dropped:
/// the client went away).
struct Counted {
    inner: Body,
    bytes: u64,
    record: Option<Record>,
}

impl Counted {
    fn finish(&mut self) {
        if let Some(record) = self.record.take() {
            let line = record.line(self.bytes);
            record.log.emit(line);
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_request_ids() {
        assert_eq!("writes".parse::<Level>().unwrap(), Level::Writes);
        assert_eq!("all".parse::<Level>().unwrap(), Level::All);
        assert!("loud".parse::<Level>().is_err());
        let log = AccessLog::start(&Config {
            level: Level::Off,
            target: Target::Stderr,
        })
        .unwrap();
        assert!(!log.wants(&Method::POST, 500));
        let log = AccessLog::start(&Config::default()).unwrap();
        assert!(log.wants(&Method::POST, 201));
        assert!(log.wants(&Method::GET, 400));
        assert!(!log.wants(&Method::GET, 404));
        assert!(log.wants(&Method::DELETE, 404));
        assert!(!log.wants(&Method::GET, 200));
        let given = HeaderValue::from_static("abc-123");
        assert_eq!(log.request_id(Some(&given)), given);
        let spaced = HeaderValue::from_static("a b");
        let a = log.request_id(Some(&spaced));
        let b = log.request_id(None);
        assert_ne!(a, b);
        assert_eq!(a.len(), 25);
        log.close();
    }

    #[test]
    fn lines_reach_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(&Config {
            level: Level::All,
            target: Target::File(path.clone()),
        })
        .unwrap();
        log.emit("one".into());
        log.emit("two".into());
        log.close();
        log.emit("after close".into());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    }
}
