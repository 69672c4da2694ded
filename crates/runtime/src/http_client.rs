//! The HTTP client shared by the `http` provider and the HTTP acceptance criteria.
//!
//! `reqwest` (no default features; `rustls-tls` with the webpki roots, so no OpenSSL and no
//! system certificate store is needed) rather than bare `hyper-util`: the providers need HTTPS,
//! connection pooling, per-request timeouts and proxy support from the environment, which
//! `hyper-util` would have us assemble by hand. Redirects are never followed: a redirected POST
//! loses its body, and a check of an endpoint's status should see that endpoint's status.

use std::time::Duration;

/// Connection attempts give up after this long (each request also has its own timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a client: no redirects, `planspec-runtime/<version>` user agent.
pub(crate) fn build() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("planspec-runtime/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

/// A reqwest error as text without the URL (which may carry credentials in its query) and
/// with its root cause (`Connection refused (os error 111)`).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut root: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(error);
    while let Some(source) = next {
        root = Some(source);
        next = source.source();
    }
    let kind = if error.is_connect() {
        "cannot connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "bad response body"
    } else if error.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    match root.map(|r| r.to_string()) {
        Some(root) if !root.is_empty() => format!("{kind}: {root}"),
        _ => kind.to_string(),
    }
}

/// A body read up to a limit.
#[derive(Debug)]
pub(crate) struct Body {
    /// The bytes, at most the limit.
    pub bytes: Vec<u8>,
    /// `true` if the body was longer than the limit.
    pub truncated: bool,
}

/// Reading a body failed mid-way.
#[derive(Debug)]
pub(crate) struct BodyError(pub reqwest::Error);

/// Reads at most `limit` bytes of a response body; stops reading once past the limit.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Body, BodyError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError)? {
        let room = limit - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Body {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        truncated: false,
    })
}
