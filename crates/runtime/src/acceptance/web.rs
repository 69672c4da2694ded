//! `endpoint_responds` and `custom`.

use planspec_model::plan::{CustomCriterion, EndpointRespondsCriterion, HttpMethod};
use reqwest::Method;
use serde_json::{json, Value};

use super::{compile, time_limit, CriteriaContext};
use crate::http_client::{self, BodyError};
use crate::provider::format_duration;
use crate::provider::ProviderUri;

/// How much of a response body is searched or parsed.
const MAX_BODY: usize = 1024 * 1024;

fn method(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Patch => Method::PATCH,
    }
}

fn shown(url: &str) -> String {
    ProviderUri::parse(url)
        .map(|u| u.redacted())
        .unwrap_or_else(|| "the URL".into())
}

fn parse_url(field: &str, url: &str) -> Result<reqwest::Url, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("`{field}` is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{field}` must be an http or https URL"));
    }
    Ok(parsed)
}

async fn send(
    request: reqwest::RequestBuilder,
    ctx: &CriteriaContext,
    url: &str,
    timeout: std::time::Duration,
) -> Result<reqwest::Response, String> {
    let result = tokio::select! {
        r = request.timeout(timeout).send() => r,
        _ = ctx.cancel.cancelled() => return Err("cancelled".into()),
    };
    result.map_err(|e| {
        if e.is_timeout() {
            format!(
                "{} did not answer within {}",
                shown(url),
                format_duration(timeout)
            )
        } else {
            format!("{}: {}", shown(url), http_client::describe(&e))
        }
    })
}

async fn body(response: reqwest::Response, url: &str) -> Result<Vec<u8>, String> {
    http_client::read_body(response, MAX_BODY)
        .await
        .map(|b| b.bytes)
        .map_err(|BodyError(e)| {
            format!(
                "{}: reading the body: {}",
                shown(url),
                http_client::describe(&e)
            )
        })
}

pub(super) async fn check_endpoint(
    client: &reqwest::Client,
    c: &EndpointRespondsCriterion,
    ctx: &CriteriaContext,
) -> Result<String, String> {
    let timeout = time_limit(c.timeout.as_ref(), ctx)?;
    let regex = match &c.body_match {
        Some(p) => Some(compile("bodyMatch", p.as_str())?),
        None => None,
    };
    let url = parse_url("url", &c.url)?;
    let request = client.request(method(c.method), url);
    let response = send(request, ctx, &c.url, timeout).await?;
    let status = response.status().as_u16();
    if status != c.expected_status {
        return Err(format!(
            "{} answered HTTP {status}, expected {}",
            shown(&c.url),
            c.expected_status
        ));
    }
    match regex {
        None => Ok(format!("{} answered HTTP {status}", shown(&c.url))),
        Some(regex) => {
            let body = body(response, &c.url).await?;
            if regex.is_match(&body) {
                Ok(format!(
                    "{} answered HTTP {status} with a body matching `{}`",
                    shown(&c.url),
                    regex.as_str()
                ))
            } else {
                Err(format!(
                    "{} answered HTTP {status} but its body does not match `{}`",
                    shown(&c.url),
                    regex.as_str()
                ))
            }
        }
    }
}

pub(super) async fn check_custom(
    client: &reqwest::Client,
    c: &CustomCriterion,
    ctx: &CriteriaContext,
) -> Result<String, String> {
    let timeout = time_limit(c.timeout.as_ref(), ctx)?;
    let expected = c.expected_response.as_ref();
    let regex = match expected.and_then(|e| e.body_match.as_ref()) {
        Some(p) => Some(compile("expectedResponse.bodyMatch", p.as_str())?),
        None => None,
    };
    let url = parse_url("webhookUrl", &c.webhook_url)?;
    let payload = json!({
        "criterion": c.name,
        "execution": ctx.execution,
        "node": ctx.node_id,
        "payload": Value::Object(c.payload.clone().unwrap_or_default()),
        "outputs": Value::Object(ctx.outputs.clone()),
    });
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload.to_string());
    let response = send(request, ctx, &c.webhook_url, timeout).await?;
    let status = response.status();
    let code = status.as_u16();
    let who = shown(&c.webhook_url);
    match expected.and_then(|e| e.status_code) {
        Some(want) if code != want => {
            return Err(format!(
                "the webhook {who} answered HTTP {code}, expected {want}"
            ))
        }
        None if !status.is_success() => {
            return Err(format!("the webhook {who} answered HTTP {code}"))
        }
        _ => {}
    }
    let body = body(response, &c.webhook_url).await?;
    if let Some(regex) = &regex {
        if !regex.is_match(&body) {
            return Err(format!(
                "the webhook's answer does not match `{}`",
                regex.as_str()
            ));
        }
    }
    let answer: Option<Value> = serde_json::from_slice(&body).ok();
    let message = answer
        .as_ref()
        .and_then(|a| a.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match answer.as_ref().and_then(|a| a.get("passed")) {
        Some(Value::Bool(true)) => Ok(message.unwrap_or_else(|| "the webhook passed it".into())),
        Some(Value::Bool(false)) => Err(message.unwrap_or_else(|| "the webhook failed it".into())),
        Some(_) => Err("the webhook's `passed` is not a boolean".into()),
        None if expected.is_some() => Ok(format!("the webhook answered HTTP {code} as expected")),
        None => Err(
            "the webhook's answer has no boolean `passed` (and no `expectedResponse` is declared)"
                .into(),
        ),
    }
}
