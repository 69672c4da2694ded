//! `planspec auth whoami` and `planspec auth can-i`: the server's self-reviews
//! (`selfsubjectreviews`, `selfsubjectaccessreviews`), as `kubectl auth` prints them.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::cli::ClientArgs;
use crate::client::Target;
use crate::error::{emit, usage, Exit, Outcome};

use super::ops::ActorArgs;
use super::resources::{connect, server_error};

const WHOAMI: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
const CAN_I: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// `planspec auth`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// What `auth` does.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Print who the server says you are: your username and groups.
    Whoami(WhoamiArgs),
    /// Ask whether you may do VERB on RESOURCE[/NAME]: prints yes or no, exits 0 or 1.
    #[command(
        name = "can-i",
        after_help = "Examples:\n  \
            planspec auth can-i create executions\n  \
            planspec auth can-i cancel executions/release-42 -n prod\n  \
            planspec auth can-i approve gates\n  \
            planspec auth can-i execute plans/ship-release\n  \
            planspec auth can-i update executions --subresource nodes\n\n\
            Exit codes: 0 yes, 1 no, 2 usage error."
    )]
    CanI(CanIArgs),
    /// Make a token for a user of a server's token file: writes the token to a new private
    /// file (mode 0600) and prints the entry to add to the token file (only its SHA-256).
    #[command(after_help = "Example:\n  \
            planspec auth token bob --group release-managers --out bob.token >> entry.yaml\n\n\
            Add the printed entry under `users:` in the server's tokens.yaml (the server re-reads it\n\
            within seconds), then give bob the file: `planspec login --server URL --token-file bob.token`.")]
    Token(TokenArgs),
}

/// `planspec auth token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user's name (not starting with `system:`).
    #[arg(value_name = "USER")]
    pub user: String,
    /// A group the user is in (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Where to write the token (a new file, mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
}

/// `planspec auth whoami`.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Output: `table` (default) or `json`.
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "table")]
    pub output: String,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec auth can-i`.
#[derive(Debug, Args)]
pub struct CanIArgs {
    /// The verb: get, list, watch, create, update, patch, delete, deletecollection, approve,
    /// reject, cancel, retry, execute, bind, escalate, impersonate, or `*`.
    #[arg(value_name = "VERB")]
    pub verb: String,
    /// The resource (`executions`, `plans/NAME`, `clusterroles` …).
    #[arg(value_name = "RESOURCE[/NAME]")]
    pub resource: String,
    /// A subresource (`nodes`, `log`, `status` …).
    #[arg(long, value_name = "SUBRESOURCE")]
    pub subresource: Option<String>,
    /// Ask across all namespaces (only cluster-wide grants count).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Print nothing; only the exit code answers.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `auth`.
pub fn run(args: &AuthArgs) -> Outcome {
    match &args.command {
        AuthCommand::Whoami(a) => whoami(a),
        AuthCommand::CanI(a) => can_i(a),
        AuthCommand::Token(a) => token(a),
    }
}

fn token(args: &TokenArgs) -> Outcome {
    use planspec_server::auth::token_file::{generate_token, hash_token};
    if args.user.is_empty() || args.user.starts_with("system:") {
        return Err(usage(
            "auth token",
            format!(
                "`{}` cannot be a user name (empty, or in the reserved `system:` prefix)",
                args.user
            ),
        ));
    }
    let token = generate_token()
        .map_err(|e| crate::error::Failure::Message(format!("cannot make a token: {e}")))?;
    super::provider::write_private(&args.out, format!("{token}\n").as_bytes())?;
    let quote = |s: &str| Value::String(s.to_owned()).to_string();
    let groups: Vec<String> = args.groups.iter().map(|g| quote(g)).collect();
    emit(&format!(
        "  - name: {}\n    groups: [{}]\n    tokenHashes: [{}]\n",
        quote(&args.user),
        groups.join(", "),
        quote(&hash_token(&token))
    ))?;
    eprintln!(
        "wrote the token to {} (keep it private); add the entry above under `users:` in the token file",
        args.out.display()
    );
    Ok(Exit::Success)
}

fn whoami(args: &WhoamiArgs) -> Outcome {
    if !matches!(args.output.as_str(), "table" | "json") {
        return Err(usage(
            "auth whoami",
            format!("unknown output format `{}`: use table or json", args.output),
        ));
    }
    let client = args.actor.apply(connect(&args.client));
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let answer = client
        .request("POST", WHOAMI, "application/json", Some(&review))
        .map_err(server_error)?;
    let info = &answer["status"]["userInfo"];
    if args.output == "json" {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        ))?;
        return Ok(Exit::Success);
    }
    let username = info["username"].as_str().unwrap_or("");
    let groups: Vec<&str> = info["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    emit(&format!(
        "ATTRIBUTE   VALUE\nUsername    {}\nGroups      [{}]\n",
        crate::term::escape_line(username),
        crate::term::escape_line(&groups.join(" "))
    ))?;
    Ok(Exit::Success)
}

/// The API group and plural of a resource name as `can-i` takes it.
fn resolve(kind: &str) -> Option<(&'static str, String)> {
    if let Some(target) = Target::parse(kind) {
        return Some(match target {
            Target::Namespace => ("", "namespaces".to_owned()),
            Target::Kind(k) => ("planspec.io", k.plural().to_owned()),
        });
    }
    match kind {
        "users" | "user" => Some(("", "users".to_owned())),
        "groups" | "group" => Some(("", "groups".to_owned())),
        "*" => Some(("*", "*".to_owned())),
        _ => None,
    }
}

fn namespaced(kind: &str) -> bool {
    match Target::parse(kind) {
        Some(Target::Kind(k)) => k.namespaced(),
        _ => false,
    }
}

fn can_i(args: &CanIArgs) -> Outcome {
    let (kind, name) = match args.resource.split_once('/') {
        Some((k, n)) => (k, Some(n)),
        None => (args.resource.as_str(), None),
    };
    let Some((group, plural)) = resolve(kind) else {
        return Err(usage(
            "auth can-i",
            format!(
                "unknown resource `{kind}` (kinds: goals, plans, capabilities, bindings, executions, gates, policies, providers, roles, rolebindings, clusterroles, clusterrolebindings, namespaces, users, groups)"
            ),
        ));
    };
    if args.verb.trim().is_empty() {
        return Err(usage("auth can-i", "the verb is empty"));
    }
    let mut attributes = json!({"verb": args.verb, "group": group, "resource": plural});
    if namespaced(kind) && !args.all_namespaces {
        attributes["namespace"] = json!(args.client.ns());
    }
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        attributes["name"] = json!(name);
    }
    if let Some(sub) = args.subresource.as_deref().filter(|s| !s.is_empty()) {
        attributes["subresource"] = json!(sub);
    }
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    });
    let client = args.actor.apply(connect(&args.client));
    let answer = client
        .request("POST", CAN_I, "application/json", Some(&review))
        .map_err(server_error)?;
    let allowed = answer["status"]["allowed"].as_bool().unwrap_or(false);
    if !args.quiet {
        emit(if allowed { "yes\n" } else { "no\n" })?;
    }
    Ok(if allowed {
        Exit::Success
    } else {
        Exit::Invalid
    })
}
