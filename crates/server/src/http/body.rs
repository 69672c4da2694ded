//! Request bodies (read whole, within a size limit) and streamed response bodies (watch).

use crate::status::Status;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use bytes::Bytes;
use http_body::Frame;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Reads the whole body; `413 RequestEntityTooLarge` if it is longer than `limit` bytes
/// (judged by `Content-Length` first, then by what arrives).
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Status> {
    let too_large = || Status::request_entity_too_large(format!("limit is {limit} bytes"));
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if length > limit as u64 {
            return Err(too_large());
        }
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if over {
                Err(too_large())
            } else {
                Err(Status::bad_request(format!(
                    "the request body could not be read: {e}"
                )))
            }
        }
    }
}

/// A response body fed by a channel: each message is sent as it comes, and the body ends
/// when the sender is dropped. Dropping the body (the client went away) closes the channel.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl ChannelBody {
    /// A body and the sender that feeds it (`capacity` messages may wait).
    pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, ChannelBody(rx))
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// A `Warning` header value as Kubernetes sends it: `299 - "text"`, with `"` and `\`
/// escaped and control characters replaced by spaces. Non-ASCII text is sent as UTF-8 bytes.
pub fn warning_header(text: &str) -> HeaderValue {
    let mut quoted = String::with_capacity(text.len() + 8);
    quoted.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => quoted.push(' '),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    HeaderValue::from_bytes(quoted.as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_static("299 - \"(unprintable warning)\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_quoted() {
        assert_eq!(
            warning_header("spec.x: PS0303: unknown field `x`").as_bytes(),
            b"299 - \"spec.x: PS0303: unknown field `x`\""
        );
        assert_eq!(
            warning_header("a \"b\" \\ c\nd").as_bytes(),
            b"299 - \"a \\\"b\\\" \\\\ c d\""
        );
        assert_eq!(warning_header("→").as_bytes(), "299 - \"→\"".as_bytes());
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            read(&headers, Body::from("12345"), 5).await.unwrap(),
            Bytes::from("12345")
        );
        let s = read(&headers, Body::from("123456"), 5).await.unwrap_err();
        assert_eq!(s.code, 413);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
        let s = read(&headers, Body::from("1"), 5).await.unwrap_err();
        assert_eq!(s.code, 413);
    }
}
