//! A blocking client for the PlanSpec API server, following Kubernetes conventions:
//! resource paths, `Status` errors, `Table` output and newline-delimited watch events.
//!
//! Credentials: a [`Client`] made with [`Client::with_token`] sends `Authorization: Bearer
//! <token>` with every request, watches included — added in one place,
//! [`Client::prepare`]. Which token, server and namespace a command uses is [`connection`]'s
//! business (flags, environment, the contexts of the [`config`] file).

pub mod config;
pub mod connection;

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use planspec_model::Kind;
use serde_json::Value;

/// The API group and version of PlanSpec resources.
pub const GROUP_VERSION: &str = "planspec.io/v1alpha1";

/// The `Accept` header asking for a server-side `Table`.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// What the client can address: a PlanSpec kind or the core `Namespace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A namespaced PlanSpec kind.
    Kind(Kind),
    /// `namespaces` (cluster-scoped, core group).
    Namespace,
}

impl Target {
    /// Parses `plan`, `plans`, `pl`, `Plan`, `namespace`, `ns` …
    pub fn parse(name: &str) -> Option<Target> {
        if ["namespace", "namespaces", "ns"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return Some(Target::Namespace);
        }
        Kind::from_name(name).map(Target::Kind)
    }

    /// `plan.planspec.io` or `namespace`, as kubectl names things in messages.
    pub fn singular_ref(self) -> String {
        match self {
            Target::Kind(kind) => format!("{}.planspec.io", kind.as_str().to_ascii_lowercase()),
            Target::Namespace => "namespace".to_owned(),
        }
    }

    /// Whether objects of the target live in a namespace.
    pub fn namespaced(self) -> bool {
        match self {
            Target::Kind(kind) => kind.namespaced(),
            Target::Namespace => false,
        }
    }

    /// The collection path: in `namespace`, or across all namespaces when `None` (a
    /// cluster-scoped kind ignores `namespace`).
    pub fn collection(self, namespace: Option<&str>) -> String {
        match (self, namespace) {
            (Target::Namespace, _) => "/api/v1/namespaces".to_owned(),
            (Target::Kind(kind), _) if !kind.namespaced() => {
                format!("/apis/{GROUP_VERSION}/{}", kind.plural())
            }
            (Target::Kind(kind), Some(ns)) => format!(
                "/apis/{GROUP_VERSION}/namespaces/{}/{}",
                encode(ns),
                kind.plural()
            ),
            (Target::Kind(kind), None) => format!("/apis/{GROUP_VERSION}/{}", kind.plural()),
        }
    }

    /// The path of one object (`namespace` is ignored for cluster-scoped targets).
    pub fn item(self, namespace: &str, name: &str) -> String {
        format!("{}/{}", self.collection(Some(namespace)), encode(name))
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// The server answered with an error status (its `Status` body, if any).
    Api {
        /// The HTTP status code.
        code: u16,
        /// The decoded body (a `Status` normally).
        status: Value,
    },
    /// The server could not be reached or the answer could not be read.
    Transport(String),
}

impl ClientError {
    /// The HTTP status code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            ClientError::Transport(_) => None,
        }
    }

    /// The error the way kubectl prints it: `Error from server (NotFound): …`, then one
    /// line per cause.
    pub fn render(&self) -> String {
        match self {
            ClientError::Transport(message) => message.clone(),
            ClientError::Api { code, status } => {
                let reason = status["reason"]
                    .as_str()
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| code.to_string());
                let message = status["message"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("the server answered HTTP {code}"));
                let causes = status["details"]["causes"]
                    .as_array()
                    .filter(|c| !c.is_empty());
                // `… is invalid: [a, b]` repeats the causes, which follow one per line.
                let message = match (causes, message.rfind(": [")) {
                    (Some(_), Some(at)) if message.ends_with(']') => message[..=at].to_owned(),
                    _ => message,
                };
                let mut out = format!("Error from server ({reason}): {message}");
                if let Some(causes) = causes {
                    for cause in causes {
                        let field = cause["field"].as_str().unwrap_or("");
                        let text = cause["message"].as_str().unwrap_or("");
                        if field.is_empty() {
                            out.push_str(&format!("\n  * {text}"));
                        } else {
                            out.push_str(&format!("\n  * {field}: {text}"));
                        }
                    }
                }
                out
            }
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for ClientError {}

/// A connection to one API server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// Extra headers sent with every request (the actor, …).
    headers: Vec<(String, String)>,
    /// The bearer token sent with every request.
    token: Option<String>,
}

/// An answer read as bytes, with its headers.
pub struct RawResponse {
    /// `(name, value)` pairs, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    /// A client for the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .build();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            headers: Vec::new(),
            token: None,
        }
    }

    /// This client, authenticating every request with the bearer token `token` (`None`:
    /// none).
    pub fn with_token(mut self, token: Option<&str>) -> Client {
        self.token = token.filter(|t| !t.is_empty()).map(str::to_owned);
        self
    }

    /// A request to `path` on `agent` with what every request carries: `Accept`,
    /// `User-Agent`, the extra headers, and the bearer token. The one place credentials are
    /// added.
    fn prepare(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        accept: &str,
    ) -> ureq::Request {
        let url = format!("{}{path}", self.base);
        let mut request = agent.request(method, &url).set("Accept", accept).set(
            "User-Agent",
            concat!("planspec/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in &self.headers {
            request = request.set(name, value);
        }
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        request
    }

    /// This client, sending `name: value` with every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Client {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `GET` read as bytes with the headers (logs and other non-JSON answers).
    pub fn get_raw(&self, path: &str) -> Result<RawResponse, ClientError> {
        let response = self.call("GET", path, "*/*", None)?;
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|n| {
                let v = response.header(&n)?.to_owned();
                Some((n.to_ascii_lowercase(), v))
            })
            .collect();
        let mut body = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| ClientError::Transport(format!("cannot read the answer: {e}")))?;
        Ok(RawResponse { headers, body })
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<&Value>,
    ) -> Result<ureq::Response, ClientError> {
        let request = self.prepare(&self.agent, method, path, accept);
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
            None => request.call(),
        };
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(code, response)) => {
                let text = response.into_string().unwrap_or_default();
                let status = serde_json::from_str(&text)
                    .unwrap_or_else(|_| serde_json::json!({ "message": text.trim() }));
                Err(ClientError::Api { code, status })
            }
            Err(ureq::Error::Transport(t)) => Err(ClientError::Transport(format!(
                "cannot reach the server at {}: {}",
                self.base,
                t.message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| t.kind().to_string())
            ))),
        }
    }

    /// Sends a request and decodes the JSON answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let response = self.call(method, path, accept, body)?;
        let mut text = String::new();
        response
            .into_reader()
            .read_to_string(&mut text)
            .map_err(|e| ClientError::Transport(format!("cannot read the answer: {e}")))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Transport(format!("the server sent invalid JSON: {e}")))
    }

    /// `GET` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.request("GET", path, "application/json", None)
    }

    /// Opens a watch and calls `each` with every event until the stream ends or `each`
    /// returns `false`.
    pub fn watch(
        &self,
        path: &str,
        accept: &str,
        mut each: impl FnMut(Value) -> bool,
    ) -> Result<(), ClientError> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .build();
        let response = match self.prepare(&agent, "GET", path, accept).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, response)) => {
                let text = response.into_string().unwrap_or_default();
                let status = serde_json::from_str(&text).unwrap_or(Value::Null);
                return Err(ClientError::Api { code, status });
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(ClientError::Transport(format!(
                    "cannot reach the server at {}: {t}",
                    self.base
                )))
            }
        };
        for line in BufReader::new(response.into_reader()).lines() {
            let line =
                line.map_err(|e| ClientError::Transport(format!("the watch broke off: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(&line)
                .map_err(|e| ClientError::Transport(format!("bad watch event: {e}")))?;
            if !each(event) {
                break;
            }
        }
        Ok(())
    }
}

/// `value` (an object, or a list with `items`) without `metadata.managedFields`: the
/// server's bookkeeping of who owns which field, hidden from output and editors as kubectl
/// hides it.
pub fn without_managed_fields(value: &Value) -> Value {
    let mut value = value.clone();
    let strip = |object: &mut Value| {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    };
    match value.get_mut("items").and_then(Value::as_array_mut) {
        Some(items) => items.iter_mut().for_each(strip),
        None => strip(&mut value),
    }
    value
}

/// How many revisions of the whole store [`Client::history`] looks back at most.
pub const HISTORY_WINDOW: i64 = 1000;

/// The recent changes of one object (`WatchEvent`s, oldest first), and whether the change log
/// reached back as far as asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The events (`{type, object}`), oldest first; the last one is the object's current state.
    pub events: Vec<Value>,
    /// `false` when the server had compacted part of the window away.
    pub complete: bool,
}

impl Client {
    /// The changes of the object `name` in `collection` among the last `window`
    /// revisions before and at `revision` (its `resourceVersion`): a watch with
    /// `sendInitialEvents=false` from the window's start, selecting the object by name, read
    /// until the change at `revision`. Cheap: the server reads its change log from memory. A
    /// window partly compacted away (`410`) is read from the oldest revision left.
    /// `window` is usually [`HISTORY_WINDOW`]; a large Execution's status changes at nearly
    /// every revision, so a narrower window finds its recent changes without reading a
    /// thousand copies of it.
    pub fn history_within(
        &self,
        collection: &str,
        name: &str,
        revision: i64,
        window: i64,
    ) -> Result<History, ClientError> {
        let mut from = (revision - window).max(1);
        let mut complete = true;
        for _ in 0..2 {
            if from >= revision {
                return Ok(History {
                    events: Vec::new(),
                    complete: false,
                });
            }
            let path = format!(
                "{collection}?watch=true&sendInitialEvents=false&resourceVersion={from}&fieldSelector={}&timeoutSeconds=10",
                encode(&format!("metadata.name={name}"))
            );
            let mut events = Vec::new();
            let mut expired = None;
            self.watch(&path, "application/json", |event| {
                if event["type"] == "ERROR" {
                    expired = Some(event["object"].clone());
                    return false;
                }
                let at = event["object"]["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(i64::MAX);
                if event["type"] != "BOOKMARK" && at <= revision {
                    events.push(event);
                }
                at < revision
            })?;
            match expired {
                None => return Ok(History { events, complete }),
                Some(status) => match oldest_revision(&status) {
                    Some(oldest) if status["code"] == 410 => {
                        from = oldest.max(from + 1);
                        complete = false;
                    }
                    _ => {
                        let code = status["code"].as_u64().unwrap_or(500) as u16;
                        return Err(ClientError::Api { code, status });
                    }
                },
            }
        }
        Ok(History {
            events: Vec::new(),
            complete: false,
        })
    }
}

/// The oldest revision a `410 Expired` names: `too old resource version: 5 (10)` → 10.
fn oldest_revision(status: &Value) -> Option<i64> {
    let message = status["message"].as_str()?;
    let inner = message.rsplit_once('(')?.1.strip_suffix(')')?;
    inner.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn managed_fields_are_hidden() {
        let object = serde_json::json!({"metadata": {"name": "a", "managedFields": [{}]}});
        assert_eq!(
            super::without_managed_fields(&object),
            serde_json::json!({"metadata": {"name": "a"}})
        );
        let list = serde_json::json!({"items": [object]});
        assert_eq!(
            super::without_managed_fields(&list)["items"][0],
            serde_json::json!({"metadata": {"name": "a"}})
        );
    }

    #[test]
    fn expired_watches_name_the_oldest_revision() {
        let status =
            serde_json::json!({"code": 410, "message": "too old resource version: 5 (12)"});
        assert_eq!(super::oldest_revision(&status), Some(12));
        assert_eq!(
            super::oldest_revision(&serde_json::json!({"message": "x"})),
            None
        );
    }

    use super::*;

    #[test]
    fn paths() {
        let plan = Target::parse("pl").unwrap();
        assert_eq!(
            plan.item("default", "a b"),
            "/apis/planspec.io/v1alpha1/namespaces/default/plans/a%20b"
        );
        assert_eq!(plan.collection(None), "/apis/planspec.io/v1alpha1/plans");
        assert_eq!(Target::parse("ns"), Some(Target::Namespace));
        assert_eq!(plan.singular_ref(), "plan.planspec.io");
    }

    #[test]
    fn renders_status() {
        let error = ClientError::Api {
            code: 422,
            status: serde_json::json!({
                "reason": "Invalid",
                "message": "Plan.planspec.io \"x\" is invalid: [spec.graph: required]",
                "details": {"causes": [{"field": "spec.graph", "message": "required"}]}
            }),
        };
        assert_eq!(
            error.render(),
            "Error from server (Invalid): Plan.planspec.io \"x\" is invalid:\n  * spec.graph: required"
        );
    }
}
