//! Query parameters and the options they carry: `dryRun`, `fieldValidation`, list and watch
//! options (`labelSelector`, `fieldSelector`, `limit`, `continue`, `resourceVersion`, `watch`,
//! `allowWatchBookmarks`, `sendInitialEvents`, `timeoutSeconds`) and delete options (which may
//! also come in the body, as kubectl sends them).

use crate::resource::ResourceType;
use crate::status::Status;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use planspec_model::selector::{FieldSelector, Selector};
use serde_json::Value;
use std::time::Duration;

/// The decoded query string of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes a raw query string (`a=1&b=x%20y`); `None` is the empty query.
    pub fn parse(query: Option<&str>) -> Params {
        Params {
            pairs: query
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        }
    }

    /// Parameters from pairs, for tests and internal callers.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Params {
        Params {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter: absent → `None`; `true`/`1` → true; `false`/`0`/empty → false.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Status> {
        match self.get(name) {
            None => Ok(None),
            Some("true" | "True" | "1") => Ok(Some(true)),
            Some("false" | "False" | "0" | "") => Ok(Some(false)),
            Some(other) => Err(Status::bad_request(format!(
                "invalid value for {name}: `{other}` (use true or false)"
            ))),
        }
    }
}

/// `dryRun`: only `All` is a valid value (as in Kubernetes); empty means a real write.
pub fn dry_run(params: &Params) -> Result<bool, Status> {
    parse_dry_run(params.get("dryRun"))
}

fn parse_dry_run(value: Option<&str>) -> Result<bool, Status> {
    match value {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(Status::bad_request(format!(
            "invalid dryRun value `{other}`: the only supported value is `All`"
        ))),
    }
}

/// `fieldValidation`: what to do with unknown or duplicate fields in a written object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop the warnings about them.
    Ignore,
    /// Send them as `Warning` headers (the default).
    #[default]
    Warn,
    /// Reject the request (400).
    Strict,
}

/// Options of a create, update or patch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `dryRun=All`: run every check, write nothing.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `fieldManager`: who is writing, recorded in `metadata.managedFields` (the HTTP layer
    /// fills it from the `User-Agent` when absent, except for server-side apply, which
    /// requires it).
    pub field_manager: Option<String>,
    /// `force=true`: a server-side apply takes the fields other managers own.
    pub force: bool,
    /// Who writes: the authenticated identity of the request (`None`: the control plane's
    /// own writes). Stamps an Execution's creator and drives the checks a write needs
    /// beyond its verb (`execute` on the Plan an Execution runs).
    pub user: Option<planspec_model::actor::UserInfo>,
}

impl WriteOptions {
    /// Reads `dryRun`, `fieldValidation`, `fieldManager` and `force`.
    pub fn from_params(params: &Params) -> Result<Self, Status> {
        let field_validation = match params.get("fieldValidation") {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Ignore") => FieldValidation::Ignore,
            Some("Strict") => FieldValidation::Strict,
            Some(other) => {
                return Err(Status::bad_request(format!(
                    "fieldValidation `{other}` is not supported: use `Ignore`, `Warn` or `Strict`"
                )))
            }
        };
        let field_manager = match params.get("fieldManager") {
            None | Some("") => None,
            Some(m) => Some(field_manager(m)?),
        };
        Ok(WriteOptions {
            dry_run: dry_run(params)?,
            field_validation,
            field_manager,
            force: params.bool("force")?.unwrap_or(false),
            user: None,
        })
    }
}

/// A valid `fieldManager`: at most 128 characters, all printable (as Kubernetes).
pub fn field_manager(name: &str) -> Result<String, Status> {
    if name.chars().count() > crate::ssa::MAX_MANAGER_LENGTH {
        return Err(Status::bad_request(format!(
            "fieldManager: Invalid value: \"{name}\": must be at most {} characters",
            crate::ssa::MAX_MANAGER_LENGTH
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Status::bad_request(
            "fieldManager: Invalid value: must contain only printable characters",
        ));
    }
    Ok(name.to_owned())
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Synthetic `ADDED` events for every object that exists now, then the changes after
    /// (`resourceVersion` unset or `0`, or `sendInitialEvents=true`). `end_bookmark`: close the
    /// initial events with a `BOOKMARK` annotated `k8s.io/initial-events-end: "true"`.
    InitialEvents {
        /// Send the closing bookmark.
        end_bookmark: bool,
    },
    /// The changes after this revision.
    After(i64),
    /// The changes after the current revision (`sendInitialEvents=false` without a
    /// `resourceVersion`).
    Now,
}

/// Options of a list or a watch.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: Selector,
    /// `fieldSelector`, restricted to the fields of the resource type.
    pub field_selector: FieldSelector,
    /// `limit` (`None` or `0`: everything).
    pub limit: Option<usize>,
    /// The key to resume after, from `continue`.
    pub continue_after: Option<(String, String)>,
    /// `resourceVersion`, parsed (`Some(0)` for `"0"`).
    pub resource_version: Option<i64>,
    /// `watch=true`.
    pub watch: bool,
    /// `allowWatchBookmarks=true`.
    pub allow_bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
}

impl ListOptions {
    /// Reads the list and watch parameters for `resource`.
    pub fn from_params(resource: ResourceType, params: &Params) -> Result<Self, Status> {
        let label_selector = match params.get("labelSelector") {
            None => Selector::everything(),
            Some(s) => {
                Selector::parse(s).map_err(|e| Status::invalid_selector("labelSelector", &e))?
            }
        };
        let field_selector = match params.get("fieldSelector") {
            None => FieldSelector::default(),
            Some(s) => FieldSelector::parse_supported(s, resource.field_selector_fields())
                .map_err(|e| Status::invalid_selector("fieldSelector", &e))?,
        };
        let limit = match params.get("limit") {
            None | Some("") => None,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                Ok(_) => None,
                Err(_) => {
                    return Err(Status::bad_request(format!(
                        "invalid limit `{s}`: must be a whole number"
                    )))
                }
            },
        };
        let continue_after = match params.get("continue") {
            None | Some("") => None,
            Some(token) => Some(decode_continue(token)?),
        };
        let resource_version = match params.get("resourceVersion") {
            None | Some("") => None,
            Some(s) => Some(parse_resource_version(s)?),
        };
        let timeout = match params.get("timeoutSeconds") {
            None | Some("") => None,
            Some(s) => match s.parse::<u64>() {
                Ok(n) => Some(Duration::from_secs(n)),
                Err(_) => {
                    return Err(Status::bad_request(format!(
                        "invalid timeoutSeconds `{s}`: must be a whole number of seconds"
                    )))
                }
            },
        };
        let watch = params.bool("watch")?.unwrap_or(false);
        if watch && continue_after.is_some() {
            return Err(Status::bad_request(
                "continue is not supported on watch requests",
            ));
        }
        Ok(ListOptions {
            label_selector,
            field_selector,
            limit,
            continue_after,
            resource_version,
            watch,
            allow_bookmarks: params.bool("allowWatchBookmarks")?.unwrap_or(false),
            send_initial_events: params.bool("sendInitialEvents")?,
            timeout,
        })
    }

    /// Where a watch with these options starts.
    pub fn watch_start(&self) -> WatchStart {
        match (self.send_initial_events, self.resource_version) {
            (Some(true), _) => WatchStart::InitialEvents { end_bookmark: true },
            (Some(false), None | Some(0)) => WatchStart::Now,
            (_, None | Some(0)) => WatchStart::InitialEvents {
                end_bookmark: false,
            },
            (_, Some(rv)) => WatchStart::After(rv),
        }
    }
}

/// Parses a `resourceVersion`: a non-negative decimal revision.
pub fn parse_resource_version(s: &str) -> Result<i64, Status> {
    match s.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(Status::bad_request(format!(
            "invalid resourceVersion `{s}`: must be a revision this server returned"
        ))),
    }
}

/// The opaque `continue` token of a page that ended at `(namespace, name)`.
pub fn encode_continue(after: &(String, String)) -> String {
    let json = serde_json::json!({"v": 1, "ns": after.0, "name": after.1});
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// The key a `continue` token resumes after.
pub fn decode_continue(token: &str) -> Result<(String, String), Status> {
    let bad = || Status::bad_request(format!("invalid continue token `{token}`"));
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    match (
        value.get("v").and_then(Value::as_i64),
        value.get("ns").and_then(Value::as_str),
        value.get("name").and_then(Value::as_str),
    ) {
        (Some(1), Some(ns), Some(name)) => Ok((ns.to_owned(), name.to_owned())),
        _ => Err(bad()),
    }
}

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Delete the object now; dependents later (the default).
    #[default]
    Background,
    /// Delete dependents first.
    Foreground,
    /// Leave dependents.
    Orphan,
}

/// Options of a delete (`metav1.DeleteOptions`), from the query and the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// `dryRun: [All]`.
    pub dry_run: bool,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<i64>,
    /// `propagationPolicy`.
    pub propagation_policy: PropagationPolicy,
}

impl DeleteOptions {
    /// Reads the options from the query parameters and a (possibly empty) JSON body; the
    /// body wins where both say something.
    pub fn from_request(params: &Params, body: &[u8]) -> Result<Self, Status> {
        let mut options = DeleteOptions {
            dry_run: dry_run(params)?,
            ..DeleteOptions::default()
        };
        if let Some(p) = params.get("propagationPolicy") {
            options.propagation_policy = propagation_policy(p)?;
        }
        if let Some(orphan) = params.bool("orphanDependents")? {
            if orphan {
                options.propagation_policy = PropagationPolicy::Orphan;
            }
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(options);
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| Status::bad_request(format!("the DeleteOptions body is not JSON: {e}")))?;
        let Some(body) = body.as_object() else {
            return Err(Status::bad_request(
                "the DeleteOptions body must be a JSON object",
            ));
        };
        match body.get("dryRun") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    options.dry_run |= parse_dry_run(item.as_str().or(Some("?")))?;
                }
            }
            Some(_) => return Err(Status::bad_request("DeleteOptions.dryRun must be a list")),
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            options.propagation_policy = propagation_policy(p)?;
        }
        if body.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            options.propagation_policy = PropagationPolicy::Orphan;
        }
        if let Some(pre) = body.get("preconditions").and_then(Value::as_object) {
            if let Some(uid) = pre.get("uid").and_then(Value::as_str) {
                options.precondition_uid = Some(uid.to_owned());
            }
            if let Some(rv) = pre.get("resourceVersion").and_then(Value::as_str) {
                options.precondition_resource_version = Some(parse_resource_version(rv)?);
            }
        }
        Ok(options)
    }
}

fn propagation_policy(value: &str) -> Result<PropagationPolicy, Status> {
    match value {
        "Background" => Ok(PropagationPolicy::Background),
        "Foreground" => Ok(PropagationPolicy::Foreground),
        "Orphan" => Ok(PropagationPolicy::Orphan),
        other => Err(Status::bad_request(format!(
            "invalid propagationPolicy `{other}`: use `Background`, `Foreground` or `Orphan`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_model::Kind;

    const PLAN: ResourceType = ResourceType::Kind(Kind::Plan);

    #[test]
    fn query_strings_decode() {
        let p = Params::parse(Some(
            "labelSelector=env%3Dprod%2Ctier+in+(a)&limit=2&watch=1",
        ));
        assert_eq!(p.get("labelSelector"), Some("env=prod,tier in (a)"));
        assert_eq!(p.bool("watch").unwrap(), Some(true));
        assert_eq!(p.bool("nope").unwrap(), None);
        assert!(Params::parse(Some("watch=maybe")).bool("watch").is_err());
        assert_eq!(Params::parse(None), Params::default());
    }

    #[test]
    fn list_options() {
        let p = Params::from_pairs([
            ("labelSelector", "env=prod"),
            ("fieldSelector", "status.phase!=Failed"),
            ("limit", "10"),
            ("resourceVersion", "42"),
            ("timeoutSeconds", "5"),
        ]);
        let o = ListOptions::from_params(PLAN, &p).unwrap();
        assert_eq!(o.label_selector.to_string(), "env=prod");
        assert_eq!(o.field_selector.to_string(), "status.phase!=Failed");
        assert_eq!(o.limit, Some(10));
        assert_eq!(o.resource_version, Some(42));
        assert_eq!(o.timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.watch_start(), WatchStart::After(42));

        let bad = |k: &str, v: &str| {
            ListOptions::from_params(PLAN, &Params::from_pairs([(k, v)]))
                .unwrap_err()
                .code
        };
        assert_eq!(bad("labelSelector", "a b"), 400);
        assert_eq!(bad("fieldSelector", "spec.x=1"), 400);
        assert_eq!(bad("limit", "ten"), 400);
        assert_eq!(bad("resourceVersion", "-1"), 400);
        assert_eq!(bad("continue", "%%%"), 400);
        assert_eq!(bad("timeoutSeconds", "x"), 400);
        assert_eq!(
            ListOptions::from_params(PLAN, &Params::from_pairs([("limit", "0")]))
                .unwrap()
                .limit,
            None
        );
        // Namespaces have no metadata.namespace field.
        assert!(ListOptions::from_params(
            ResourceType::Namespace,
            &Params::from_pairs([("fieldSelector", "metadata.namespace=x")])
        )
        .is_err());
    }

    #[test]
    fn watch_starts() {
        let start = |pairs: &[(&str, &str)]| {
            ListOptions::from_params(PLAN, &Params::from_pairs(pairs.iter().copied()))
                .unwrap()
                .watch_start()
        };
        assert_eq!(
            start(&[]),
            WatchStart::InitialEvents {
                end_bookmark: false
            }
        );
        assert_eq!(
            start(&[("resourceVersion", "0")]),
            WatchStart::InitialEvents {
                end_bookmark: false
            }
        );
        assert_eq!(
            start(&[("sendInitialEvents", "true"), ("resourceVersion", "9")]),
            WatchStart::InitialEvents { end_bookmark: true }
        );
        assert_eq!(start(&[("sendInitialEvents", "false")]), WatchStart::Now);
        assert_eq!(start(&[("resourceVersion", "9")]), WatchStart::After(9));
    }

    #[test]
    fn continue_tokens_round_trip_and_are_opaque() {
        let key = ("team-a".to_owned(), "build".to_owned());
        let token = encode_continue(&key);
        assert!(!token.contains("build"));
        assert_eq!(decode_continue(&token).unwrap(), key);
        assert!(decode_continue("e30").is_err()); // `{}`
        assert!(decode_continue("!").is_err());
    }

    #[test]
    fn write_and_delete_options() {
        let o = WriteOptions::from_params(&Params::from_pairs([
            ("dryRun", "All"),
            ("fieldValidation", "Strict"),
        ]))
        .unwrap();
        assert!(o.dry_run);
        assert_eq!(o.field_validation, FieldValidation::Strict);
        assert!(WriteOptions::from_params(&Params::from_pairs([("dryRun", "Some")])).is_err());
        assert!(
            WriteOptions::from_params(&Params::from_pairs([("fieldValidation", "x")])).is_err()
        );

        let d = DeleteOptions::from_request(
            &Params::default(),
            br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground",
                 "dryRun":["All"],"preconditions":{"uid":"u","resourceVersion":"7"}}"#,
        )
        .unwrap();
        assert_eq!(
            d,
            DeleteOptions {
                dry_run: true,
                precondition_uid: Some("u".into()),
                precondition_resource_version: Some(7),
                propagation_policy: PropagationPolicy::Foreground,
            }
        );
        let d = DeleteOptions::from_request(
            &Params::from_pairs([("propagationPolicy", "Orphan")]),
            b" ",
        )
        .unwrap();
        assert_eq!(d.propagation_policy, PropagationPolicy::Orphan);
        assert!(DeleteOptions::from_request(&Params::default(), b"[1]").is_err());
        assert!(DeleteOptions::from_request(
            &Params::from_pairs([("propagationPolicy", "Later")]),
            b""
        )
        .is_err());
    }
}
