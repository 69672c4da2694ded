//! `planspec approvals`: the Gates waiting for me — an Execution reached them, they are
//! undecided, I am an eligible reviewer (by name or through one of my groups), I did not create
//! the Execution (no self-approval), and my approval is not already counted.
//!
//! Who "me" is comes from the server (`POST …/selfsubjectreviews`, what `planspec auth whoami`
//! asks); a server without authentication has no such API, and then the declared `--as` name
//! (without groups) is used. Eligibility and counting are the server's own rules
//! (`planspec_model::approval`), applied to the listed Gates.
//!
//! Also here: the typed input of `planspec approve --set KEY=VALUE --values-file FILE`.

use std::path::Path;

use clap::{Args, ValueEnum};
use planspec_model::actor::{UserInfo, CREATED_BY_ANNOTATION};
use planspec_model::approval::{self, same_user, Decision, Eligibility};
use planspec_model::gate::{Gate, GatePhase, ReviewAction};
use planspec_model::meta::ConditionStatus;
use planspec_model::Kind;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ops::ActorArgs;
use super::resources::{align, connect, server_error, to_yaml};
use crate::cli::ClientArgs;
use crate::client::{encode, Client, Target};
use crate::error::{emit, emit_err, usage, Exit, Failure, Outcome};

/// `planspec approvals`.
#[derive(Debug, Clone, Args)]
pub struct ApprovalsArgs {
    /// Look in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = ApprovalsFormat::Table)]
    pub output: ApprovalsFormat,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// How `approvals` prints: `table`, `json` or `yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum ApprovalsFormat {
    Table,
    Json,
    Yaml,
}

/// One Gate waiting for me.
#[derive(Debug, Clone, PartialEq)]
struct Waiting {
    namespace: String,
    gate: String,
    execution: String,
    node: String,
    description: Option<String>,
    approvals: Vec<String>,
    required: u32,
    opened_at: Option<OffsetDateTime>,
    expires_at: Option<OffsetDateTime>,
    via: Option<String>,
    input: bool,
}

/// `planspec approvals`.
pub fn run(args: &ApprovalsArgs) -> Outcome {
    let client = args.actor.apply(connect(&args.client));
    let me = whoami(&client, &args.actor)?;
    let namespace = (!args.all_namespaces).then(|| args.client.ns());
    let list = client
        .get(&Target::Kind(Kind::Gate).collection(namespace))
        .map_err(server_error)?;
    let mut rows = Vec::new();
    let mut creators = std::collections::HashMap::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let Ok(gate) = serde_json::from_value::<Gate>(item.clone()) else {
            continue;
        };
        if gate.status.as_ref().and_then(|s| s.phase) != Some(GatePhase::Waiting) {
            continue;
        }
        let ns = gate.metadata.namespace.clone().unwrap_or_default();
        let creator = creator(&client, &mut creators, &ns, &gate)?;
        if let Some(w) = waiting_for(&gate, &me, creator.as_deref()) {
            rows.push(w);
        }
    }
    rows.sort_by(|a, b| (&a.namespace, &a.gate).cmp(&(&b.namespace, &b.gate)));
    let now = OffsetDateTime::now_utc();
    match args.output {
        ApprovalsFormat::Json | ApprovalsFormat::Yaml => {
            let doc = json!({
                "user": {"username": me.username, "groups": me.groups},
                "items": rows.iter().map(|w| as_json(w, now)).collect::<Vec<_>>(),
            });
            let text = if args.output == ApprovalsFormat::Json {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&doc).unwrap_or_default()
                )
            } else {
                to_yaml(&doc)?
            };
            emit(&text)?;
        }
        ApprovalsFormat::Table if rows.is_empty() => {
            let place = match namespace {
                Some(ns) => format!(" in namespace {ns}"),
                None => String::new(),
            };
            emit_err(&format!("No gates wait for {}{place}.\n", me.username));
        }
        ApprovalsFormat::Table => emit(&table(&rows, args.all_namespaces, now))?,
    }
    Ok(Exit::Success)
}

/// Who the server says I am; the declared actor when the server has no authentication API.
fn whoami(client: &Client, actor: &ActorArgs) -> Result<UserInfo, Failure> {
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    match client.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        "application/json",
        Some(&body),
    ) {
        Ok(review) => {
            let user = &review["status"]["userInfo"];
            let username = user["username"].as_str().unwrap_or_default().to_owned();
            if username.is_empty() {
                return Err(Failure::Message(
                    "the server did not say who you are (no status.userInfo.username)".into(),
                ));
            }
            let groups = user["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>();
            Ok(UserInfo::new(username, groups))
        }
        Err(e) if matches!(e.code(), Some(404 | 405)) => {
            Ok(UserInfo::new(actor.name(), Vec::<String>::new()))
        }
        Err(e) => Err(server_error(e)),
    }
}

/// The creator of the Execution `gate` belongs to (cached per Execution).
fn creator(
    client: &Client,
    cache: &mut std::collections::HashMap<(String, String), Option<String>>,
    namespace: &str,
    gate: &Gate,
) -> Result<Option<String>, Failure> {
    let target = &gate.spec.target_ref;
    if target.kind != "Execution" {
        return Ok(None);
    }
    let ns = target.namespace.as_deref().unwrap_or(namespace).to_owned();
    let key = (ns.clone(), target.name.to_string());
    if let Some(known) = cache.get(&key) {
        return Ok(known.clone());
    }
    let path = Target::Kind(Kind::Execution).item(&ns, &target.name);
    let found = match client.get(&path) {
        Ok(execution) => execution["metadata"]["annotations"][CREATED_BY_ANNOTATION]
            .as_str()
            .map(str::to_owned),
        Err(e) if e.code() == Some(404) => None,
        Err(e) => return Err(server_error(e)),
    };
    cache.insert(key, found.clone());
    Ok(found)
}

/// The row for `gate` if it waits for `me` (see the module documentation).
fn waiting_for(gate: &Gate, me: &UserInfo, creator: Option<&str>) -> Option<Waiting> {
    let eligibility = approval::eligibility(&gate.spec, me)?;
    if creator.is_some_and(|c| same_user(c, &me.username)) {
        return None;
    }
    let status = gate.status.clone().unwrap_or_default();
    let generation = gate.metadata.generation.unwrap_or(1);
    let mine_counted = status
        .review_history
        .iter()
        .rev()
        .filter(|r| r.action != ReviewAction::Comment)
        .filter(|r| r.target_generation.is_none_or(|g| g == generation))
        .find(|r| same_user(&r.reviewer, &me.username))
        .is_some_and(|r| r.action == ReviewAction::Approve);
    if mine_counted {
        return None;
    }
    let (approvals, required) =
        match approval::tally(&gate.spec, generation, &status.review_history, creator).decision {
            Decision::Open {
                approvals,
                required,
            } => (approvals, required),
            _ => return None,
        };
    let opened_at = status
        .conditions
        .iter()
        .find(|c| c.condition_type == "Activated" && c.status == ConditionStatus::True)
        .map(|c| c.last_transition_time.as_str())
        .or(gate.metadata.creation_timestamp.as_deref())
        .and_then(parse);
    Some(Waiting {
        namespace: gate
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        gate: gate.metadata.name.to_string(),
        execution: gate.spec.target_ref.name.to_string(),
        node: gate.spec.target_ref.node_id.clone().unwrap_or_default(),
        description: gate.spec.description.clone(),
        approvals,
        required,
        opened_at,
        expires_at: status.expires_at.as_deref().and_then(parse),
        via: match eligibility {
            Eligibility::Anyone => None,
            other => Some(other.via().unwrap_or_else(|| "user".to_owned())),
        },
        input: gate.spec.input_schema.is_some(),
    })
}

fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

fn timestamp(at: OffsetDateTime) -> Option<String> {
    at.format(&Rfc3339).ok()
}

fn as_json(w: &Waiting, now: OffsetDateTime) -> Value {
    json!({
        "namespace": w.namespace,
        "gate": w.gate,
        "execution": w.execution,
        "node": w.node,
        "description": w.description,
        "approvals": w.approvals,
        "requiredApprovals": w.required,
        "openedAt": w.opened_at.and_then(timestamp),
        "expiresAt": w.expires_at.and_then(timestamp),
        "secondsLeft": w.expires_at.map(|at| (at - now).whole_seconds().max(0)),
        "eligibleVia": w.via,
        "takesValues": w.input,
    })
}

fn table(rows: &[Waiting], namespaces: bool, now: OffsetDateTime) -> String {
    let mut lines = Vec::with_capacity(rows.len() + 1);
    let mut head: Vec<String> = Vec::new();
    if namespaces {
        head.push("NAMESPACE".into());
    }
    head.extend(
        [
            "GATE",
            "EXECUTION",
            "NODE",
            "APPROVALS",
            "AGE",
            "TIMEOUT",
            "VIA",
        ]
        .map(str::to_owned),
    );
    lines.push(head);
    for w in rows {
        let mut line = Vec::new();
        if namespaces {
            line.push(w.namespace.clone());
        }
        let age = w
            .opened_at
            .map(|at| planspec_server::table::human_duration(now - at))
            .unwrap_or_else(|| "<unknown>".into());
        let left = match w.expires_at {
            None => "none".to_owned(),
            Some(at) if at <= now => "expiring".to_owned(),
            Some(at) => format!("{} left", planspec_server::table::human_duration(at - now)),
        };
        line.extend([
            w.gate.clone(),
            w.execution.clone(),
            w.node.clone(),
            format!("{}/{}", w.approvals.len(), w.required),
            age,
            left,
            w.via.clone().unwrap_or_else(|| "anyone".into()),
        ]);
        lines.push(
            line.into_iter()
                .map(|c| crate::term::escape_line(&c).into_owned())
                .collect(),
        );
    }
    align(&lines)
}

/// The typed input of an approval: `--values-file` (JSON or YAML object), then each `--set
/// KEY=VALUE` (VALUE parsed as JSON if it can be, else text); `None` when neither is given.
pub fn values(
    subcommand: &str,
    set: &[String],
    file: Option<&Path>,
) -> Result<Option<Map<String, Value>>, Failure> {
    if set.is_empty() && file.is_none() {
        return Ok(None);
    }
    let mut values = match file {
        None => Map::new(),
        Some(path) => {
            let text = if path == Path::new("-") {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .map_err(|e| usage(subcommand, format!("cannot read standard input: {e}")))?;
                text
            } else {
                std::fs::read_to_string(path).map_err(|e| {
                    usage(
                        subcommand,
                        format!("cannot read --values-file {}: {e}", path.display()),
                    )
                })?
            };
            let parsed: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) => serde_yaml_ng::from_str(&text).map_err(|e| {
                    usage(
                        subcommand,
                        format!(
                            "--values-file {} is neither JSON nor YAML: {e}",
                            path.display()
                        ),
                    )
                })?,
            };
            match parsed {
                Value::Object(m) => m,
                _ => {
                    return Err(usage(
                        subcommand,
                        format!("--values-file {} must hold an object", path.display()),
                    ))
                }
            }
        }
    };
    for pair in set {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(usage(
                subcommand,
                format!("--set takes KEY=VALUE, not `{pair}`"),
            ));
        };
        if k.trim().is_empty() {
            return Err(usage(subcommand, format!("--set `{pair}` has no key")));
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        values.insert(k.trim().to_owned(), value);
    }
    Ok(Some(values))
}

/// The path of a Gate's review subresource.
pub fn review_path(namespace: &str, name: &str) -> String {
    format!(
        "/apis/planspec.io/v1alpha1/namespaces/{}/gates/{}/review",
        encode(namespace),
        encode(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(reviewers: &[&str], history: Value) -> Gate {
        serde_json::from_value(json!({
            "apiVersion": "planspec.io/v1alpha1", "kind": "Gate",
            "metadata": {"name": "run-1-approve", "namespace": "default", "generation": 1,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"gateType": "approval", "reviewers": reviewers, "requiredApprovers": 2,
                     "targetRef": {"kind": "Execution", "name": "run-1", "nodeId": "approve"}},
            "status": {"phase": "Waiting", "reviewHistory": history}
        }))
        .unwrap()
    }

    #[test]
    fn only_eligible_reviewers_who_did_not_create_the_run_see_a_gate() {
        let g = gate(&["alice", "group:release"], json!([]));
        let alice = UserInfo::new("alice", Vec::<String>::new());
        let bob = UserInfo::new("bob", ["release"]);
        let eve = UserInfo::new("eve", ["dev"]);
        assert!(waiting_for(&g, &alice, None).is_some());
        assert!(waiting_for(&g, &alice, Some("alice")).is_none());
        let row = waiting_for(&g, &bob, Some("alice")).unwrap();
        assert_eq!(row.via.as_deref(), Some("group:release"));
        assert_eq!((row.approvals.len(), row.required), (0, 2));
        assert!(waiting_for(&g, &eve, None).is_none());
    }

    #[test]
    fn a_gate_i_already_approved_does_not_wait_for_me() {
        let g = gate(
            &[],
            json!([{"reviewer": "bob", "action": "approve", "timestamp": "2026-01-01T00:00:01Z",
                    "targetGeneration": 1}]),
        );
        let bob = UserInfo::new("bob", Vec::<String>::new());
        let carol = UserInfo::new("carol", Vec::<String>::new());
        assert!(waiting_for(&g, &bob, None).is_none());
        let row = waiting_for(&g, &carol, None).unwrap();
        assert_eq!(row.approvals, vec!["bob".to_owned()]);
    }

    #[test]
    fn values_come_from_set_pairs() {
        let v = values(
            "approve",
            &["version=1.2.3".into(), "canary=10".into()],
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(Value::Object(v), json!({"version": "1.2.3", "canary": 10}));
        assert!(values("approve", &[], None).unwrap().is_none());
        assert!(values("approve", &["novalue".into()], None).is_err());
    }
}
