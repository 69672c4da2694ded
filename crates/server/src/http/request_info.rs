//! What a request asks, in the terms authorization and the audit log use: verb, API group,
//! resource, subresource, namespace and name — Kubernetes' `RequestInfo`, from the method, the
//! path and the query alone (pure; no body).
//!
//! | Request | Verb | Resource |
//! |---|---|---|
//! | `GET` a collection | `list` (`watch` with `?watch=true`) | the plural |
//! | `GET` an object | `get` (`watch` with `?watch=true`) | the plural |
//! | `POST` a collection | `create` | the plural |
//! | `PUT` / `PATCH` an object | `update` / `patch` | the plural (`…/status`: subresource `status`) |
//! | `DELETE` an object / a collection | `delete` / `deletecollection` | the plural |
//! | `POST …/executions/N/cancel`, `…/retry` | `cancel`, `retry` | `executions` |
//! | `POST …/executions/N/nodes/X/complete`, `…/fail`, `…/resolve` | `update` | `executions/nodes` |
//! | `GET …/executions/N/nodes`, `…/journal`, `…/nodes/X/log` | `get` | `executions/nodes`, `executions/journal`, `executions/log` |
//! | `POST …/gates/N/review` | `approve` (refined by the body: `approve`, `reject`; a comment needs `approve`) | `gates` |
//! | `GET …/plans/N/graph` | `get` | `plans/graph` |
//! | `POST …/namespaces/NS/apply` (bulk) | `create` — each item is then checked for `create` and `update` of its kind ([`RequestInfo::per_item`]) | — |
//! | `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`, `…authorization…/selfsubjectaccessreviews` | `create` | allowed to every authenticated identity |
//!
//! Everything else (`/api`, `/apis…` discovery, `/openapi/…`, `/version`, `/healthz`,
//! `/livez`, `/readyz`, `…/validate`) is a non-resource request: its verb is the lowercase
//! method and its path is kept.

use crate::resource::GROUP;
use planspec_model::rbac::authorize::Attributes;

/// The API group of whoami.
pub const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
/// The API group of can-i.
pub const AUTHORIZATION_GROUP: &str = "authorization.k8s.io";

/// What a request asks; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// `true` for a request about resources (`false`: discovery, health, OpenAPI …).
    pub is_resource_request: bool,
    /// The path, for non-resource requests (and for the record).
    pub path: String,
    /// The verb.
    pub verb: String,
    /// The API group (`planspec.io`, `""` for the core group).
    pub api_group: String,
    /// The API version (`v1alpha1`, `v1`).
    pub api_version: String,
    /// The resource's plural.
    pub resource: String,
    /// The subresource (`status`, `nodes`, `log` …), or empty.
    pub subresource: String,
    /// The namespace, or empty (cluster-scoped, across namespaces).
    pub namespace: String,
    /// The object's name, or empty.
    pub name: String,
    /// The bulk `apply` route: the handler checks every item.
    pub per_item: bool,
}

impl RequestInfo {
    /// Parses `method`, `path` (without the query) and `query`.
    pub fn parse(method: &str, path: &str, query: Option<&str>) -> RequestInfo {
        let method = method.to_ascii_uppercase();
        let mut info = RequestInfo {
            is_resource_request: false,
            path: path.to_owned(),
            verb: method.to_ascii_lowercase(),
            api_group: String::new(),
            api_version: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            per_item: false,
        };
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let rest: &[&str] = match segments.as_slice() {
            ["api", version, rest @ ..] if !rest.is_empty() => {
                info.api_version = (*version).to_owned();
                rest
            }
            ["apis", group, version, rest @ ..] if !rest.is_empty() => {
                info.api_group = (*group).to_owned();
                info.api_version = (*version).to_owned();
                rest
            }
            _ => return info,
        };
        // Upstream compatibility: `POST /apis/planspec.io/v1alpha1/validate` writes nothing.
        if info.api_group == GROUP && rest == ["validate"] {
            return info;
        }
        let watch = query.is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
        });
        let core = info.api_group.is_empty();
        let (namespace, parts): (&str, &[&str]) = match rest {
            // `/api/v1/namespaces/NAME/status` is the namespace object's subresource: the core
            // group serves nothing inside a namespace.
            ["namespaces", _, _] if core => ("", rest),
            ["namespaces", ns, tail @ ..] if !tail.is_empty() => (ns, tail),
            _ => ("", rest),
        };
        info.is_resource_request = true;
        info.namespace = namespace.to_owned();
        let collection = |info: &mut RequestInfo| {
            info.verb = match method.as_str() {
                "GET" | "HEAD" if watch => "watch",
                "GET" | "HEAD" => "list",
                "POST" => "create",
                "DELETE" => "deletecollection",
                "PUT" => "update",
                "PATCH" => "patch",
                other => return other.to_ascii_lowercase(),
            }
            .to_owned();
            String::new()
        };
        let object = |info: &mut RequestInfo| {
            info.verb = match method.as_str() {
                "GET" | "HEAD" if watch => "watch",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                "POST" => "create",
                other => return other.to_ascii_lowercase(),
            }
            .to_owned();
            String::new()
        };
        match parts {
            ["apply"] if !namespace.is_empty() && info.api_group == GROUP => {
                info.verb = "create".into();
                info.per_item = true;
            }
            [resource] => {
                info.resource = (*resource).to_owned();
                collection(&mut info);
            }
            [resource, name] => {
                info.resource = (*resource).to_owned();
                info.name = (*name).to_owned();
                object(&mut info);
            }
            ["executions", name, op @ ("cancel" | "retry")] if method == "POST" => {
                info.resource = "executions".into();
                info.name = (*name).to_owned();
                info.verb = (*op).to_owned();
            }
            ["executions", name, sub @ ("journal" | "nodes")] => {
                info.resource = "executions".into();
                info.subresource = (*sub).to_owned();
                info.name = (*name).to_owned();
                object(&mut info);
            }
            ["executions", name, "nodes", _node, "complete" | "fail" | "resolve"]
                if method == "POST" =>
            {
                info.resource = "executions".into();
                info.subresource = "nodes".into();
                info.name = (*name).to_owned();
                info.verb = "update".into();
            }
            ["executions", name, "nodes", _node, "log"] => {
                info.resource = "executions".into();
                info.subresource = "log".into();
                info.name = (*name).to_owned();
                object(&mut info);
            }
            ["gates", name, "review"] if method == "POST" => {
                info.resource = "gates".into();
                info.name = (*name).to_owned();
                info.verb = "approve".into();
            }
            [resource, name, sub] => {
                info.resource = (*resource).to_owned();
                info.name = (*name).to_owned();
                info.subresource = (*sub).to_owned();
                object(&mut info);
            }
            _ => {
                info.is_resource_request = false;
            }
        }
        info
    }

    /// The gate review's verb, from the body's `action`: `reject` for a rejection,
    /// `approve` otherwise (an approval, or a comment, which is a review too).
    pub fn refine_review(&mut self, action: Option<&str>) {
        if self.is_review() {
            self.verb = match action {
                Some("reject") => "reject",
                _ => "approve",
            }
            .into();
        }
    }

    /// Whether this is a Gate review (`POST …/gates/NAME/review`).
    pub fn is_review(&self) -> bool {
        self.is_resource_request
            && self.api_group == GROUP
            && self.resource == "gates"
            && self.path.ends_with("/review")
            && matches!(self.verb.as_str(), "approve" | "reject")
    }

    /// The RBAC attributes of a resource request.
    pub fn attributes(&self) -> Attributes {
        Attributes {
            verb: self.verb.clone(),
            api_group: self.api_group.clone(),
            resource: self.resource.clone(),
            subresource: self.subresource.clone(),
            namespace: (!self.namespace.is_empty()).then(|| self.namespace.clone()),
            name: (!self.name.is_empty()).then(|| self.name.clone()),
        }
    }

    /// Whether every authenticated identity may do this: non-resource requests (discovery,
    /// OpenAPI, health, version, validation) and asking about oneself (whoami, can-i).
    pub fn open_to_authenticated(&self) -> bool {
        if !self.is_resource_request {
            return true;
        }
        self.verb == "create"
            && self.name.is_empty()
            && is_self_review(&self.api_group, &self.resource)
    }
}

/// Whether `resource` of `group` is one of the reviews an identity makes about itself
/// (whoami, can-i), which every authenticated identity may create.
pub fn is_self_review(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        (AUTHENTICATION_GROUP, "selfsubjectreviews")
            | (AUTHORIZATION_GROUP, "selfsubjectaccessreviews")
            | (AUTHORIZATION_GROUP, "selfsubjectrulesreviews")
    )
}

/// Whether `path` is served without authentication: health, liveness, readiness, version.
pub fn is_public(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/healthz" | "/livez" | "/readyz" | "/version"
    )
}

fn decode(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_owned();
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "/apis/planspec.io/v1alpha1/namespaces/dev";

    fn info(method: &str, path: &str) -> RequestInfo {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        RequestInfo::parse(method, path, query)
    }

    fn brief(i: &RequestInfo) -> String {
        format!(
            "{} {}/{}/{} ns={} name={}",
            i.verb, i.api_group, i.resource, i.subresource, i.namespace, i.name
        )
    }

    #[test]
    fn kube_verbs() {
        let cases = [
            (
                "GET",
                format!("{NS}/plans"),
                "list planspec.io/plans/ ns=dev name=",
            ),
            (
                "GET",
                format!("{NS}/plans?watch=true"),
                "watch planspec.io/plans/ ns=dev name=",
            ),
            (
                "GET",
                format!("{NS}/plans/p"),
                "get planspec.io/plans/ ns=dev name=p",
            ),
            (
                "POST",
                format!("{NS}/plans"),
                "create planspec.io/plans/ ns=dev name=",
            ),
            (
                "PUT",
                format!("{NS}/plans/p"),
                "update planspec.io/plans/ ns=dev name=p",
            ),
            (
                "PATCH",
                format!("{NS}/plans/p/status"),
                "patch planspec.io/plans/status ns=dev name=p",
            ),
            (
                "DELETE",
                format!("{NS}/plans/p"),
                "delete planspec.io/plans/ ns=dev name=p",
            ),
            (
                "DELETE",
                format!("{NS}/plans"),
                "deletecollection planspec.io/plans/ ns=dev name=",
            ),
            (
                "GET",
                "/apis/planspec.io/v1alpha1/plans".into(),
                "list planspec.io/plans/ ns= name=",
            ),
            (
                "GET",
                "/apis/planspec.io/v1alpha1/clusterroles/view".into(),
                "get planspec.io/clusterroles/ ns= name=view",
            ),
            (
                "POST",
                "/apis/planspec.io/v1alpha1/clusterrolebindings".into(),
                "create planspec.io/clusterrolebindings/ ns= name=",
            ),
            (
                "GET",
                "/api/v1/namespaces".into(),
                "list /namespaces/ ns= name=",
            ),
            (
                "GET",
                "/api/v1/namespaces/dev".into(),
                "get /namespaces/ ns= name=dev",
            ),
            (
                "PUT",
                "/api/v1/namespaces/dev/status".into(),
                "update /namespaces/status ns= name=dev",
            ),
            (
                "DELETE",
                "/api/v1/namespaces/dev".into(),
                "delete /namespaces/ ns= name=dev",
            ),
        ];
        for (method, path, want) in cases {
            let i = info(method, &path);
            assert!(i.is_resource_request, "{path}");
            assert_eq!(brief(&i), want, "{method} {path}");
        }
    }

    #[test]
    fn planspec_verbs() {
        let cases = [
            (
                "POST",
                format!("{NS}/executions/e/cancel"),
                "cancel planspec.io/executions/ ns=dev name=e",
            ),
            (
                "POST",
                format!("{NS}/executions/e/retry"),
                "retry planspec.io/executions/ ns=dev name=e",
            ),
            (
                "POST",
                format!("{NS}/executions/e/nodes/n/complete"),
                "update planspec.io/executions/nodes ns=dev name=e",
            ),
            (
                "POST",
                format!("{NS}/executions/e/nodes/n/fail"),
                "update planspec.io/executions/nodes ns=dev name=e",
            ),
            (
                "POST",
                format!("{NS}/executions/e/nodes/n/resolve"),
                "update planspec.io/executions/nodes ns=dev name=e",
            ),
            (
                "GET",
                format!("{NS}/executions/e/nodes?phase=Failed"),
                "get planspec.io/executions/nodes ns=dev name=e",
            ),
            (
                "GET",
                format!("{NS}/executions/e/journal"),
                "get planspec.io/executions/journal ns=dev name=e",
            ),
            (
                "GET",
                format!("{NS}/executions/e/nodes/n/log"),
                "get planspec.io/executions/log ns=dev name=e",
            ),
            (
                "POST",
                format!("{NS}/gates/g/review"),
                "approve planspec.io/gates/ ns=dev name=g",
            ),
            (
                "GET",
                format!("{NS}/plans/p/graph"),
                "get planspec.io/plans/graph ns=dev name=p",
            ),
            (
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews".into(),
                "create authorization.k8s.io/selfsubjectaccessreviews/ ns= name=",
            ),
        ];
        for (method, path, want) in cases {
            assert_eq!(brief(&info(method, &path)), want, "{method} {path}");
        }
        let mut review = info("POST", &format!("{NS}/gates/g/review"));
        assert!(review.is_review());
        review.refine_review(Some("reject"));
        assert_eq!(review.verb, "reject");
        review.refine_review(Some("comment"));
        assert_eq!(review.verb, "approve");
        assert!(!info("POST", &format!("{NS}/executions/e/cancel")).is_review());
        let bulk = info("POST", &format!("{NS}/apply"));
        assert!(bulk.per_item && bulk.is_resource_request);
        assert!(
            info("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews")
                .open_to_authenticated()
        );
        assert!(!info("GET", &format!("{NS}/plans")).open_to_authenticated());
    }

    #[test]
    fn non_resource_requests() {
        for path in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/planspec.io",
            "/apis/planspec.io/v1alpha1",
            "/apis/planspec.io/v1alpha1/validate",
            "/openapi/v3",
            "/openapi/v3/apis/planspec.io/v1alpha1",
            "/version",
            "/healthz",
        ] {
            let i = info("GET", path);
            assert!(!i.is_resource_request, "{path}");
            assert!(i.open_to_authenticated());
        }
        assert!(is_public("/healthz") && is_public("/readyz") && is_public("/version"));
        assert!(!is_public("/apis") && !is_public("/openapi/v3"));
    }

    #[test]
    fn names_are_percent_decoded() {
        let i = info("GET", &format!("{NS}/plans/a%2Db"));
        assert_eq!(i.name, "a-b");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%41"), "A");
        assert_eq!(decode("%é1"), "%é1");
    }
}
