//! Operations on running work: `approve`/`reject` a Gate, `cancel`/`retry` an Execution,
//! `complete`/`fail` a node that waits for a person.
//!
//! Each is one `POST` to the server (see `crates/server/src/http/operations.rs`), made as the
//! identity the bearer token proves; `--as USER` acts as someone else (Kubernetes
//! impersonation: the server allows it only to identities with the `impersonate` verb).

use clap::Args;
use serde_json::{json, Map, Value};

use crate::cli::ClientArgs;
use crate::client::{encode, Client};
use crate::error::{emit, usage, Exit, Failure, Outcome};

use super::resources::server_error;

/// Acting as someone else (kubectl's `--as`).
#[derive(Debug, Clone, Args)]
pub struct ActorArgs {
    /// Act as this user (impersonation: needs the `impersonate` verb on `users`).
    #[arg(long = "as", value_name = "USER", help_heading = "Connection")]
    pub actor: Option<String>,
    /// With --as: a group of the identity acted as (repeatable; needs `impersonate` on
    /// `groups`).
    #[arg(
        long = "as-group",
        value_name = "GROUP",
        requires = "actor",
        help_heading = "Connection"
    )]
    pub groups: Vec<String>,
}

impl ActorArgs {
    /// `client`, impersonating the `--as` user when one is given.
    pub fn apply(&self, client: Client) -> Client {
        match self
            .actor
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            Some(user) => {
                let client = client.with_header("Impersonate-User", user);
                let groups: Vec<&str> = self
                    .groups
                    .iter()
                    .map(|g| g.trim())
                    .filter(|g| !g.is_empty())
                    .collect();
                if groups.is_empty() {
                    client
                } else {
                    // One header, the groups comma-separated (RFC 9110 list syntax).
                    client.with_header("Impersonate-Group", &groups.join(", "))
                }
            }
            None => client,
        }
    }

    /// A name for messages: the `--as` user, else `user:$USER` (the server knows better:
    /// `planspec auth whoami`).
    pub fn name(&self) -> String {
        if let Some(a) = self.actor.as_deref().filter(|a| !a.trim().is_empty()) {
            return a.trim().to_owned();
        }
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        format!("user:{user}")
    }
}

/// `planspec approve gate/NAME`.
#[derive(Debug, Clone, Args)]
pub struct ReviewArgs {
    /// The Gate: `gate/NAME` or `NAME`.
    #[arg(value_name = "GATE")]
    pub gate: String,
    /// What you say (required to reject: the reason).
    #[arg(long, short = 'm', value_name = "TEXT", visible_alias = "reason")]
    pub comment: Option<String>,
    /// A value of the Gate's typed input, `KEY=VALUE` (VALUE is parsed as JSON if it can be,
    /// else taken as text); becomes the gate node's output KEY. Repeatable; approve only.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The Gate's typed input as one JSON (or YAML) object from a file (`-`: standard input);
    /// `--set` adds to it. Approve only.
    #[arg(long = "values-file", value_name = "FILE")]
    pub values_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec cancel execution/NAME`.
#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// Kill running attempts too (default: let them finish, start nothing new).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec retry execution/NAME`.
#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// Re-run this node and everything downstream of it (default: every failed or
    /// cancelled node and everything downstream).
    #[arg(long, value_name = "NODE")]
    pub from: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec complete execution/NAME --node N`.
#[derive(Debug, Clone, Args)]
pub struct CompleteArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// The node that waits for a person.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// An output, `NAME=VALUE` (VALUE is parsed as JSON if it can be, else taken as text).
    #[arg(long = "output", value_name = "NAME=VALUE")]
    pub outputs: Vec<String>,
    /// All outputs as one JSON object.
    #[arg(long = "outputs-json", value_name = "JSON", conflicts_with = "outputs")]
    pub outputs_json: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec fail execution/NAME --node N --message M`.
#[derive(Debug, Clone, Args)]
pub struct FailArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// The node that waits for a person.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// Why it failed.
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub message: String,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The name in `kind/NAME` (or a bare `NAME`) when the kind is one of `kinds`.
pub fn name_of<'a>(subcommand: &str, text: &'a str, kinds: &[&str]) -> Result<&'a str, Failure> {
    let name = match text.split_once('/') {
        // `execution/NAME`, or `execution.planspec.io/NAME` as `get -o name` prints it.
        Some((kind, name))
            if kinds.contains(&kind.to_ascii_lowercase().trim_end_matches(".planspec.io")) =>
        {
            name
        }
        Some((kind, _)) => {
            return Err(usage(
                subcommand,
                format!("`{kind}` is not {} {}", article(kinds[0]), kinds[0]),
            ))
        }
        None => text,
    };
    if name.is_empty() {
        return Err(usage(subcommand, format!("no {} name given", kinds[0])));
    }
    Ok(name)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The execution names accepted: `execution/NAME`, `executions/NAME`, `exec/NAME`, `NAME`.
pub const EXECUTION_KINDS: &[&str] = &["execution", "executions", "exec"];

/// The path of an Execution's subresource.
pub fn execution_path(ns: &str, name: &str, rest: &str) -> String {
    format!(
        "/apis/planspec.io/v1alpha1/namespaces/{}/executions/{}{rest}",
        encode(ns),
        encode(name)
    )
}

fn post(client: &ClientArgs, actor: &ActorArgs, path: &str, body: Value) -> Result<Value, Failure> {
    actor
        .apply(super::resources::connect(client))
        .request("POST", path, "application/json", Some(&body))
        .map_err(server_error)
}

/// `approve` (`approve = true`) or `reject`.
pub fn review(args: &ReviewArgs, approve: bool) -> Outcome {
    let subcommand = if approve { "approve" } else { "reject" };
    let name = name_of(subcommand, &args.gate, &["gate", "gates"])?;
    if !approve && args.comment.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(usage(
            subcommand,
            "a rejection needs a reason: --comment TEXT",
        ));
    }
    let path = super::approvals::review_path(args.client.ns(), name);
    if !approve && (!args.set.is_empty() || args.values_file.is_some()) {
        return Err(usage(
            subcommand,
            "only an approval carries values (--set, --values-file)",
        ));
    }
    let mut body = json!({"action": if approve { "approve" } else { "reject" }});
    if let Some(c) = &args.comment {
        body["comment"] = json!(c);
    }
    if let Some(values) =
        super::approvals::values(subcommand, &args.set, args.values_file.as_deref())?
    {
        body["values"] = Value::Object(values);
    }
    let gate = post(&args.client, &args.actor, &path, body)?;
    let phase = gate["status"]["phase"].as_str().unwrap_or("Pending");
    let detail = gate["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["message"].as_str())
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let verb = if approve { "approved" } else { "rejected" };
    // Who the server recorded (the authenticated user), not who we think we are.
    let reviewer = gate["status"]["reviewHistory"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|r| r["reviewer"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| args.actor.name());
    emit(&format!(
        "gate/{name} {verb} by {reviewer}: now {phase}{}\n",
        if phase == "Approved" || phase == "Rejected" {
            String::new()
        } else {
            detail
        }
    ))?;
    Ok(Exit::Success)
}

/// `planspec cancel`.
pub fn cancel(args: &CancelArgs) -> Outcome {
    let name = name_of("cancel", &args.execution, EXECUTION_KINDS)?;
    let path = execution_path(args.client.ns(), name, "/cancel");
    post(
        &args.client,
        &args.actor,
        &path,
        json!({"force": args.force}),
    )?;
    emit(&format!(
        "execution/{name} {}\n",
        if args.force {
            "cancelling (forced: running attempts are killed)"
        } else {
            "cancelling (running attempts finish; nothing new starts)"
        }
    ))?;
    Ok(Exit::Success)
}

/// `planspec retry`.
pub fn retry(args: &RetryArgs) -> Outcome {
    let name = name_of("retry", &args.execution, EXECUTION_KINDS)?;
    let path = execution_path(args.client.ns(), name, "/retry");
    let mut body = json!({});
    if let Some(from) = &args.from {
        body["from"] = json!(from);
    }
    post(&args.client, &args.actor, &path, body)?;
    emit(&match &args.from {
        Some(node) => format!("execution/{name} retrying from {node}\n"),
        None => format!("execution/{name} retrying its failed nodes\n"),
    })?;
    Ok(Exit::Success)
}

/// The outputs given with `--output`/`--outputs-json`.
fn outputs(args: &CompleteArgs) -> Result<Map<String, Value>, Failure> {
    if let Some(text) = &args.outputs_json {
        return match serde_json::from_str(text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(usage("complete", "--outputs-json must be a JSON object")),
            Err(e) => Err(usage(
                "complete",
                format!("--outputs-json is not JSON: {e}"),
            )),
        };
    }
    let mut map = Map::new();
    for pair in &args.outputs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(usage(
                "complete",
                format!("--output takes NAME=VALUE, not `{pair}`"),
            ));
        };
        if k.is_empty() {
            return Err(usage("complete", format!("--output `{pair}` has no name")));
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        map.insert(k.to_owned(), value);
    }
    Ok(map)
}

/// `planspec complete`.
pub fn complete(args: &CompleteArgs) -> Outcome {
    let name = name_of("complete", &args.execution, EXECUTION_KINDS)?;
    let outputs = outputs(args)?;
    let path = execution_path(
        args.client.ns(),
        name,
        &format!("/nodes/{}/complete", encode(&args.node)),
    );
    post(
        &args.client,
        &args.actor,
        &path,
        json!({"outputs": outputs}),
    )?;
    emit(&format!("execution/{name} node {} completed\n", args.node))?;
    Ok(Exit::Success)
}

/// `planspec fail`.
pub fn fail(args: &FailArgs) -> Outcome {
    let name = name_of("fail", &args.execution, EXECUTION_KINDS)?;
    if args.message.trim().is_empty() {
        return Err(usage("fail", "--message must say why"));
    }
    let path = execution_path(
        args.client.ns(),
        name,
        &format!("/nodes/{}/fail", encode(&args.node)),
    );
    post(
        &args.client,
        &args.actor,
        &path,
        json!({"message": args.message}),
    )?;
    emit(&format!("execution/{name} node {} failed\n", args.node))?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_in_every_form_kubectl_prints() {
        for text in [
            "execution/x",
            "executions/x",
            "exec/x",
            "execution.planspec.io/x",
            "x",
        ] {
            assert_eq!(
                name_of("trace", text, EXECUTION_KINDS).unwrap(),
                "x",
                "{text}"
            );
        }
        assert!(name_of("trace", "plan/x", EXECUTION_KINDS).is_err());
        assert!(name_of("trace", "execution/", EXECUTION_KINDS).is_err());
        assert_eq!(
            name_of("approve", "gate.planspec.io/g", &["gate", "gates"]).unwrap(),
            "g"
        );
    }
}
