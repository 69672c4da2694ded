//! `planspec login` and `planspec config …`: the client config file's contexts
//! (`crate::client::config`).
//!
//! `login` checks the credentials with the server's whoami (`selfsubjectreviews`) before it
//! saves anything: a refused token (`401`) is reported and the file is left as it was.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::client::config::{
    default_config_path, read_token_file, ConfigError, ConfigFile, Context,
};
use crate::client::{Client, ClientError};
use crate::error::{emit, emit_err, usage, Exit, Failure, Outcome};
use crate::term::escape_line;

/// The whoami endpoint `login` checks credentials with.
pub const WHOAMI: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

/// `planspec login`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    planspec login --server https://planspec.example.com --token-file ~/.planspec-token\n  \
    printf %s \"$TOKEN\" | planspec login --server http://127.0.0.1:8080 --token-file - --context dev\n  \
    planspec login --server http://127.0.0.1:8080          # a --dev server: no token\n\n\
    The token is checked with the server first; nothing is saved if it is refused.")]
pub struct LoginArgs {
    /// The API server's URL.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The bearer token (stored in the config file; prefer --token-file, which keeps it out
    /// of the process list and the file).
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the token; the context refers to it (`-`: read the token from standard
    /// input and store it in the config file).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The context's name [default: the server's host:port].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The context's namespace.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// `planspec config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// What `config` does.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the config file, tokens redacted.
    View(ViewArgs),
    /// List the contexts; `*` marks the current one.
    GetContexts(GetContextsArgs),
    /// Print the current context's name.
    CurrentContext,
    /// Make NAME the current context.
    UseContext(NameArg),
    /// Create or change a context (only the fields given change).
    SetContext(SetContextArgs),
    /// Delete a context.
    DeleteContext(NameArg),
}

/// `config view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ViewFormat::Yaml)]
    pub output: ViewFormat,
}

/// How `config view` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewFormat {
    /// YAML, as the file is written.
    Yaml,
    /// JSON.
    Json,
}

/// `config get-contexts`.
#[derive(Debug, Args)]
pub struct GetContextsArgs {
    /// Print only the names.
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = ["name"])]
    pub output: Option<String>,
}

/// A context's name.
#[derive(Debug, Args)]
pub struct NameArg {
    /// The context.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `config set-context`.
#[derive(Debug, Args)]
pub struct SetContextArgs {
    /// The context (created if missing).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The API server's URL.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// A bearer token to store (replaces a tokenFile).
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the token (replaces a stored token).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The namespace.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Also make it the current context.
    #[arg(long)]
    pub current: bool,
}

fn config_failure(error: ConfigError) -> Failure {
    Failure::Message(format!("error: {}", escape_line(&error.to_string())))
}

fn located() -> Result<(PathBuf, ConfigFile), Failure> {
    let path = default_config_path().map_err(config_failure)?;
    let file = ConfigFile::load(&path).map_err(config_failure)?;
    Ok((path, file))
}

/// Runs `config`.
pub fn run(args: &ConfigArgs) -> Outcome {
    let (path, mut file) = located()?;
    match &args.command {
        ConfigCommand::View(view) => {
            let redacted = file.redacted();
            let text = match view.output {
                ViewFormat::Yaml => serde_yaml_ng::to_string(&redacted).unwrap_or_default(),
                ViewFormat::Json => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&redacted).unwrap_or_default()
                ),
            };
            emit(&text)?;
        }
        ConfigCommand::GetContexts(list) => emit(&contexts_table(&file, list.output.is_some()))?,
        ConfigCommand::CurrentContext => match &file.current_context {
            Some(name) => emit(&format!("{}\n", escape_line(name)))?,
            None => {
                return Err(Failure::Message(format!(
                    "error: current-context is not set in {}",
                    path.display()
                )))
            }
        },
        ConfigCommand::UseContext(NameArg { name }) => {
            file.require(name, &path).map_err(config_failure)?;
            file.current_context = Some(name.clone());
            file.save(&path).map_err(config_failure)?;
            emit(&format!("Switched to context {:?}.\n", name))?;
        }
        ConfigCommand::SetContext(set) => {
            let name = set.name.trim();
            if name.is_empty() {
                return Err(usage("config", "a context needs a name"));
            }
            let existed = file.context(name).is_some();
            let mut context = file.context(name).cloned().unwrap_or(Context {
                name: name.to_owned(),
                ..Context::default()
            });
            if let Some(server) = &set.server {
                context.server = Some(check_server(server)?);
            }
            if let Some(token) = &set.token {
                context.token = Some(token.trim().to_owned());
                context.token_file = None;
            }
            if let Some(token_file) = &set.token_file {
                context.token_file = Some(absolute(token_file)?);
                context.token = None;
            }
            if let Some(namespace) = &set.namespace {
                context.namespace = Some(namespace.clone());
            }
            file.upsert(context);
            if set.current {
                file.current_context = Some(name.to_owned());
            }
            file.save(&path).map_err(config_failure)?;
            let verb = if existed { "modified" } else { "created" };
            emit(&format!("Context {name:?} {verb}.\n"))?;
        }
        ConfigCommand::DeleteContext(NameArg { name }) => {
            let was_current = file.current_context.as_deref() == Some(name.as_str());
            if !file.remove(name) {
                file.require(name, &path).map_err(config_failure)?;
            }
            file.save(&path).map_err(config_failure)?;
            emit(&format!(
                "Deleted context {name:?} from {}.\n",
                path.display()
            ))?;
            if was_current {
                emit_err("warning: that was the current context; none is set now\n");
            }
        }
    }
    Ok(Exit::Success)
}

fn contexts_table(file: &ConfigFile, names_only: bool) -> String {
    if names_only {
        return file
            .contexts
            .iter()
            .map(|c| format!("{}\n", escape_line(&c.name)))
            .collect();
    }
    let mut rows = vec![[
        "CURRENT".to_owned(),
        "NAME".to_owned(),
        "SERVER".to_owned(),
        "NAMESPACE".to_owned(),
        "AUTH".to_owned(),
    ]];
    for c in &file.contexts {
        let current = file.current_context.as_deref() == Some(c.name.as_str());
        rows.push([
            if current { "*" } else { "" }.to_owned(),
            escape_line(&c.name).into_owned(),
            escape_line(c.server.as_deref().unwrap_or("")).into_owned(),
            escape_line(c.namespace.as_deref().unwrap_or("")).into_owned(),
            c.auth_kind().to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", line.join("   ").trim_end())
        })
        .collect()
}

/// A server URL as stored: `http(s)://…` without a trailing slash.
fn check_server(server: &str) -> Result<String, Failure> {
    let server = server.trim().trim_end_matches('/');
    if !(server.starts_with("http://") || server.starts_with("https://")) || server.len() < 10 {
        return Err(usage(
            "config",
            format!("`{server}` is not a server URL: give http://HOST:PORT or https://HOST"),
        ));
    }
    Ok(server.to_owned())
}

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    if path.is_absolute() || path.starts_with("~") {
        return Ok(path.to_owned());
    }
    std::env::current_dir()
        .map(|dir| dir.join(path))
        .map_err(|e| Failure::Message(format!("error: cannot resolve {}: {e}", path.display())))
}

/// The default context name for a server: its `host:port`.
fn context_name(server: &str) -> String {
    let rest = server.split_once("://").map_or(server, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Runs `login`.
pub fn login(args: &LoginArgs) -> Outcome {
    let server = check_server(&args.server).map_err(|_| {
        usage(
            "login",
            format!(
                "`{}` is not a server URL: give http://HOST:PORT or https://HOST",
                args.server
            ),
        )
    })?;
    // The token to check, and how the context will hold it.
    let (token, stored_token, stored_file) = match (&args.token, &args.token_file) {
        (Some(token), _) => {
            let token = token.trim().to_owned();
            (Some(token.clone()), Some(token), None)
        }
        (None, Some(file)) if file.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                Failure::Message(format!(
                    "error: cannot read the token from standard input: {e}"
                ))
            })?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(Failure::Message(
                    "error: standard input held no token".into(),
                ));
            }
            (Some(token.clone()), Some(token), None)
        }
        (None, Some(file)) => {
            let file = absolute(file)?;
            let token = read_token_file(&file).map_err(config_failure)?;
            (Some(token), None, Some(file))
        }
        (None, None) => (None, None, None),
    };

    let client = Client::new(&server).with_token(token.as_deref());
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let answer = match client.request("POST", WHOAMI, "application/json", Some(&review)) {
        Ok(answer) => answer,
        Err(ClientError::Api { code: 401, .. }) => {
            let why = if token.is_some() {
                "the server refused the token (401 Unauthorized)"
            } else {
                "the server requires a token (401 Unauthorized): pass --token-file FILE or --token TOKEN"
            };
            return Err(Failure::Message(format!(
                "error: cannot log in to {server}: {why}; nothing was saved"
            )));
        }
        Err(error) => {
            return Err(Failure::Message(format!(
                "error: cannot log in to {server}: {}; nothing was saved",
                escape_line(&error.render())
            )))
        }
    };
    let info = &answer["status"]["userInfo"];
    let username = info["username"].as_str().unwrap_or("").to_owned();
    if username.is_empty() {
        return Err(Failure::Message(format!(
            "error: cannot log in to {server}: its whoami answer names no user; nothing was saved"
        )));
    }
    let groups: Vec<&str> = info["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    let (path, mut file) = located()?;
    let name = args
        .context
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| context_name(&server));
    let previous = file.context(&name).cloned();
    file.upsert(Context {
        name: name.clone(),
        server: Some(server.clone()),
        token: stored_token,
        token_file: stored_file,
        namespace: args
            .namespace
            .clone()
            .or_else(|| previous.and_then(|p| p.namespace)),
    });
    file.current_context = Some(name.clone());
    file.save(&path).map_err(config_failure)?;
    emit(&format!(
        "Logged in to {server} as {} (groups: {}).\nContext {:?} saved in {} and made current.\n",
        escape_line(&username),
        escape_line(&groups.join(", ")),
        name,
        path.display()
    ))?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_come_from_the_server() {
        assert_eq!(context_name("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(context_name("https://p.example.com/x"), "p.example.com");
    }

    #[test]
    fn servers_are_urls() {
        assert_eq!(check_server("http://h:1/").unwrap(), "http://h:1");
        assert!(check_server("h:1").is_err());
    }

    #[test]
    fn the_contexts_table_marks_the_current_one() {
        let file = ConfigFile::parse(
            "current-context: b\ncontexts:\n- name: a\n  server: http://a:1\n- name: b\n  server: http://bb:2\n  token: x\n  namespace: n\n",
            Path::new("/c"),
        )
        .unwrap();
        assert_eq!(
            contexts_table(&file, false),
            "CURRENT   NAME   SERVER        NAMESPACE   AUTH\n          a      http://a:1                none\n*         b      http://bb:2   n           token\n"
        );
        assert_eq!(contexts_table(&file, true), "a\nb\n");
    }
}
