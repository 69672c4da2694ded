//! The `http` provider: POSTs the node's inputs to an endpoint.
//!
//! Target: an `http://` or `https://` URL, the endpoint. Config:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `headers` | object of strings | extra request headers (`Idempotency-Key` and `Content-Type` are set by the runtime and may not be given) |
//! | `timeout` | duration (default `30s`, at most `1h`) | how long one request may take |
//! | `maxAttempts` | integer 1–10 (default 3) | requests made within one dispatch before giving up |
//! | `retryBackoff` | duration (default `500ms`, at most `1m`) | wait before the second request; doubled each time, at most 30 s |
//! | `outputsPointer` | string | a JSON pointer (`/outputs`) selecting the outputs object inside the response; by default the whole response object is the outputs |
//!
//! # Protocol
//!
//! `POST <url>` with `Content-Type: application/json`, `Idempotency-Key: <key>` (the same key
//! on every retry) and the body `{"execution": "ns/name", "node": "id", "attempt": 1,
//! "inputs": {…}}`.
//!
//! * `2xx`: the body (at most 1 MiB) must be a JSON object — or empty, meaning `{}` — and is
//!   the outputs (or the object at `outputsPointer`). A `PlanSpec-Cost-Usd: 0.42` response
//!   header reports what the attempt cost (see `provider::cost`).
//! * `5xx`, `408`, `429`, connection errors and request timeouts are retried with exponential
//!   backoff up to `maxAttempts`; when they run out the attempt fails **retryable**
//!   (`HttpStatus`, `ConnectionFailed` or `Timeout`), so the node's own `retries` still apply.
//! * Any other status (`4xx`, and `3xx`: redirects are not followed, because a redirected POST
//!   would lose its body) fails **not retryable** with `HttpStatus`.
//!
//! The Task's timeout bounds the whole dispatch, retries and backoff included. Logs show the
//! URL without credentials or query, never the headers.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use planspec_model::provider::SecretRef;

use super::config::{format_duration, ConfigError, ConfigReader};
use super::pinned::redact_uri;
use super::{cost, DispatchOutcome, DispatchRequest, FailureReason, Provider, ProviderUri};
use crate::http_client::{self, BodyError};
use crate::outputs::{json_type, parse_object, OutputsError, MAX_OUTPUTS_BYTES};

/// Default time one request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of requests per dispatch.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default wait before the second request.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between two requests.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How much of an error response's body is quoted in the log.
const ERROR_BODY_QUOTE: usize = 2048;

const FIELDS: &[&str] = &[
    "headers",
    "timeout",
    "maxAttempts",
    "retryBackoff",
    "outputsPointer",
];
const RESERVED_HEADERS: &[&str] = &["idempotency-key", "content-type", "content-length"];

/// A validated `http` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Extra request headers whose values are secrets, read at dispatch time (the registry
    /// fills them in before the provider sees the config).
    pub secret_headers: BTreeMap<String, SecretRef>,
    /// How long one request may take.
    pub timeout: Duration,
    /// Requests per dispatch.
    pub max_attempts: u32,
    /// Wait before the second request (doubled each time).
    pub retry_backoff: Duration,
    /// JSON pointer to the outputs inside the response.
    pub outputs_pointer: Option<String>,
}

impl HttpConfig {
    /// Validates a config map.
    pub fn from_config(config: &Map<String, Value>) -> Result<HttpConfig, ConfigError> {
        let r = ConfigReader::new(config, FIELDS)?;
        let (headers, secret_headers) = r.secret_string_map("headers")?.unwrap_or_default();
        for name in secret_headers.keys() {
            check_header_name(name)?;
        }
        for (name, value) in &headers {
            let field = format!("headers.{name}");
            check_header_name(name)?;
            if HeaderValue::from_str(value).is_err() {
                return Err(ConfigError::field(
                    &field,
                    "is not a valid header value (visible ASCII and spaces only)",
                ));
            }
        }
        let timeout = r
            .duration("timeout", Duration::from_secs(3600))?
            .unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(ConfigError::field("timeout", "must be more than zero"));
        }
        let max_attempts = r
            .u64_in("maxAttempts", 1, 10)?
            .map(|n| n as u32)
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        let retry_backoff = r
            .duration("retryBackoff", Duration::from_secs(60))?
            .unwrap_or(DEFAULT_RETRY_BACKOFF);
        let outputs_pointer = r.string("outputsPointer")?;
        if let Some(p) = &outputs_pointer {
            if !p.is_empty() && !p.starts_with('/') {
                return Err(ConfigError::field(
                    "outputsPointer",
                    "must be a JSON pointer: empty or starting with `/`",
                ));
            }
        }
        Ok(HttpConfig {
            headers,
            secret_headers,
            timeout,
            max_attempts,
            retry_backoff,
            outputs_pointer,
        })
    }

    /// The normalised config map (what gets pinned).
    pub fn to_config(&self) -> Map<String, Value> {
        let mut map = Map::new();
        if !self.headers.is_empty() || !self.secret_headers.is_empty() {
            let mut headers: Map<String, Value> = self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            for (k, reference) in &self.secret_headers {
                headers.insert(
                    k.clone(),
                    serde_json::to_value(reference).unwrap_or(Value::Null),
                );
            }
            headers.sort_keys();
            map.insert("headers".into(), Value::Object(headers));
        }
        map.insert(
            "timeout".into(),
            Value::String(format_duration(self.timeout)),
        );
        map.insert("maxAttempts".into(), Value::from(self.max_attempts));
        map.insert(
            "retryBackoff".into(),
            Value::String(format_duration(self.retry_backoff)),
        );
        if let Some(p) = &self.outputs_pointer {
            map.insert("outputsPointer".into(), Value::String(p.clone()));
        }
        map
    }

    fn header_map(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
        headers
    }
}

fn check_header_name(name: &str) -> Result<(), ConfigError> {
    let field = format!("headers.{name}");
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(ConfigError::field(&field, "is not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(ConfigError::field(&field, "is set by the runtime"));
    }
    Ok(())
}

/// Checks an endpoint URI: `http(s)://host…`, parseable, without a fragment.
fn check_endpoint(uri: &ProviderUri) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(uri.as_str())
        .map_err(|e| ConfigError::target(format!("the endpoint is not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::target("the endpoint URL has no host"));
    }
    if url.fragment().is_some() {
        return Err(ConfigError::target(
            "the endpoint URL must not have a fragment (`#…`)",
        ));
    }
    Ok(url)
}

/// The `http` provider (schemes `http` and `https`).
#[derive(Debug, Clone)]
pub struct HttpProvider {
    client: reqwest::Client,
}

impl HttpProvider {
    /// A provider with its own connection pool.
    pub fn new() -> Result<HttpProvider, reqwest::Error> {
        Ok(HttpProvider {
            client: http_client::build()?,
        })
    }
}

/// What went wrong with one request.
enum AttemptError {
    /// Worth another request.
    Retry(FailureReason, String),
    /// Final.
    Fatal(DispatchOutcome),
}

#[async_trait]
impl Provider for HttpProvider {
    fn type_name(&self) -> &'static str {
        "http"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["http", "https"]
    }

    fn resolve(
        &self,
        uri: &ProviderUri,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        check_endpoint(uri)?;
        Ok(HttpConfig::from_config(config)?.to_config())
    }

    async fn dispatch(
        &self,
        request: DispatchRequest,
        cancel: CancellationToken,
    ) -> DispatchOutcome {
        let config = match HttpConfig::from_config(&request.provider.config) {
            Ok(c) => c,
            Err(e) => {
                return DispatchOutcome::failed(FailureReason::InvalidConfig, e.to_string(), false)
            }
        };
        if !config.secret_headers.is_empty() {
            return DispatchOutcome::failed(
                FailureReason::InvalidConfig,
                "secret references reached the http provider unresolved",
                false,
            );
        }
        let url = match ProviderUri::parse(&request.provider.uri)
            .ok_or_else(|| ConfigError::target("the endpoint is not a URI"))
            .and_then(|u| check_endpoint(&u))
        {
            Ok(u) => u,
            Err(e) => {
                return DispatchOutcome::failed(FailureReason::InvalidConfig, e.to_string(), false)
            }
        };
        let idempotency_key = match HeaderValue::from_str(&request.idempotency_key) {
            Ok(v) => v,
            Err(_) => {
                return DispatchOutcome::failed(
                    FailureReason::InvalidInputs,
                    "the idempotency key is not a valid header value",
                    false,
                )
            }
        };
        let body = json!({
            "execution": request.execution,
            "node": request.node_id,
            "attempt": request.attempt,
            "inputs": Value::Object(request.inputs.clone()),
        })
        .to_string();
        let shown = redact_uri(url.as_str());
        let deadline = request.timeout.map(|t| Instant::now() + t);
        let mut headers = config.header_map();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(HeaderName::from_static("idempotency-key"), idempotency_key);

        let mut last = (FailureReason::ConnectionFailed, String::new());
        let mut out_of_time = false;
        let mut made = 0;
        for n in 1..=config.max_attempts {
            if n > 1 {
                let backoff = backoff(config.retry_backoff, n - 1);
                if deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                    out_of_time = true;
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancel.cancelled() => return cancelled(&request).await,
                }
            }
            let mut per_request = config.timeout;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    out_of_time = true;
                    break;
                }
                per_request = per_request.min(left);
            }
            made = n;
            let send = self
                .client
                .post(url.clone())
                .headers(headers.clone())
                .timeout(per_request)
                .body(body.clone())
                .send();
            let result = tokio::select! {
                r = attempt(send, &config) => r,
                _ = cancel.cancelled() => return cancelled(&request).await,
            };
            match result {
                Ok((status, outputs, cost_usd)) => {
                    request
                        .log
                        .note(&format!(
                            "http: POST {shown}: attempt {n} of {}: HTTP {status}",
                            config.max_attempts
                        ))
                        .await;
                    return DispatchOutcome::Succeeded { outputs, cost_usd };
                }
                Err(AttemptError::Fatal(outcome)) => {
                    if let DispatchOutcome::Failed(f) = &outcome {
                        request
                            .log
                            .note(&format!(
                                "http: POST {shown}: attempt {n} of {}: {}",
                                config.max_attempts, f.message
                            ))
                            .await;
                    }
                    return outcome;
                }
                Err(AttemptError::Retry(reason, message)) => {
                    request
                        .log
                        .note(&format!(
                            "http: POST {shown}: attempt {n} of {}: {message}",
                            config.max_attempts
                        ))
                        .await;
                    last = (reason, message);
                }
            }
        }
        let reached_deadline = deadline.is_some_and(|d| Instant::now() >= d);
        if out_of_time || reached_deadline {
            let limit = request.timeout.map(format_duration).unwrap_or_default();
            let mut message = format!(
                "POST {shown}: the Task's timeout of {limit} ran out after {made} request(s)"
            );
            if !last.1.is_empty() {
                message.push_str(&format!("; last error: {}", last.1));
            }
            request.log.note(&format!("http: {message}")).await;
            return DispatchOutcome::failed(FailureReason::Timeout, message, true);
        }
        DispatchOutcome::failed(
            last.0,
            format!(
                "POST {shown}: giving up after {made} attempts; last error: {}",
                last.1
            ),
            true,
        )
    }
}

async fn cancelled(request: &DispatchRequest) -> DispatchOutcome {
    let message = "the attempt was cancelled";
    request.log.note(&format!("http: {message}")).await;
    DispatchOutcome::failed(FailureReason::Cancelled, message, false)
}

/// `base × 2^(retry-1)`, at most [`MAX_BACKOFF`].
fn backoff(base: Duration, retry: u32) -> Duration {
    let factor = 1u32
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// One request: sends, classifies the status, reads and parses the body.
async fn attempt(
    send: impl std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
    config: &HttpConfig,
) -> Result<(u16, Map<String, Value>, Option<f64>), AttemptError> {
    let response = match send.await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Err(AttemptError::Retry(
                FailureReason::Timeout,
                format!(
                    "no answer within the request timeout of {}",
                    format_duration(config.timeout)
                ),
            ))
        }
        Err(e) => {
            return Err(AttemptError::Retry(
                FailureReason::ConnectionFailed,
                http_client::describe(&e),
            ))
        }
    };
    let status = response.status();
    if !status.is_success() {
        let code = status.as_u16();
        let quote = http_client::read_body(response, ERROR_BODY_QUOTE)
            .await
            .map(|b| String::from_utf8_lossy(&b.bytes).trim().to_string())
            .unwrap_or_default();
        let message = if quote.is_empty() {
            format!("HTTP {code}")
        } else {
            format!("HTTP {code}: {quote}")
        };
        let retryable = status.is_server_error() || code == 408 || code == 429;
        return Err(if retryable {
            AttemptError::Retry(FailureReason::HttpStatus, message)
        } else {
            AttemptError::Fatal(DispatchOutcome::failed(
                FailureReason::HttpStatus,
                message,
                false,
            ))
        });
    }
    let cost_usd = response
        .headers()
        .get(cost::COST_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| cost::parse_cost(v).ok());
    let body = match http_client::read_body(response, MAX_OUTPUTS_BYTES).await {
        Ok(b) if b.truncated => {
            return Err(AttemptError::Fatal(DispatchOutcome::failed(
                FailureReason::OutputsTooLarge,
                format!(
                    "the response is larger than the outputs limit of {MAX_OUTPUTS_BYTES} bytes"
                ),
                false,
            )))
        }
        Ok(b) => b.bytes,
        Err(BodyError(e)) => {
            return Err(AttemptError::Retry(
                FailureReason::ConnectionFailed,
                format!("reading the response failed: {}", http_client::describe(&e)),
            ))
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((status.as_u16(), Map::new(), cost_usd));
    }
    let invalid = |message: String| {
        AttemptError::Fatal(DispatchOutcome::failed(
            FailureReason::InvalidOutputs,
            message,
            false,
        ))
    };
    let object = parse_object(&body).map_err(|e| match e {
        OutputsError::TooLarge { .. } => AttemptError::Fatal(DispatchOutcome::failed(
            FailureReason::OutputsTooLarge,
            format!("response: {e}"),
            false,
        )),
        other => invalid(format!("response: {other}")),
    })?;
    let outputs = match config.outputs_pointer.as_deref() {
        None | Some("") => object,
        Some(pointer) => match Value::Object(object).pointer(pointer) {
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(invalid(format!(
                    "response: `{pointer}` must be an object, got {}",
                    json_type(other)
                )))
            }
            None => return Err(invalid(format!("response: `{pointer}` is missing"))),
        },
    };
    Ok((status.as_u16(), outputs, cost_usd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_millis(100);
        assert_eq!(backoff(b, 1), Duration::from_millis(100));
        assert_eq!(backoff(b, 2), Duration::from_millis(200));
        assert_eq!(backoff(b, 4), Duration::from_millis(800));
        assert_eq!(backoff(b, 40), MAX_BACKOFF);
    }

    #[test]
    fn config_validation() {
        let e = |v: Value| {
            HttpConfig::from_config(v.as_object().unwrap_or(&Map::new()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(e(json!({"headers": {"Idempotency-Key": "x"}})).contains("set by the runtime"));
        assert!(e(json!({"headers": {"bad header": "x"}})).contains("not a valid header name"));
        assert!(e(json!({"maxAttempts": 0})).contains("from 1 to 10"));
        assert!(e(json!({"outputsPointer": "outputs"})).contains("JSON pointer"));
        let ok = HttpConfig::from_config(&Map::new()).ok();
        assert_eq!(ok.as_ref().map(|c| c.max_attempts), Some(3));
        let map = ok.as_ref().map(HttpConfig::to_config).unwrap_or_default();
        assert_eq!(HttpConfig::from_config(&map).ok(), ok);
    }
}
