//! The command line, as clap derive definitions.
//!
//! Only the shape of the command line lives here; what each command does is in
//! [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// PlanSpec: declarative, governed execution plans for humans and AI agents.
#[derive(Debug, Parser)]
#[command(
    name = "planspec",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    max_term_width = 100,
    after_help = "Exit codes: 0 success, 1 invalid input or failure, 2 usage error.\n\
                  Docs: https://github.com/planspec/planspec/blob/main/docs/cli.md"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// When to colour the output; `auto` colours a terminal unless NO_COLOR is set.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        global = true,
        help_heading = "Global options"
    )]
    pub color: ColorChoice,

    /// Draw with ASCII only (no Unicode symbols or box drawing).
    #[arg(long, global = true, help_heading = "Global options")]
    pub ascii: bool,
}

/// When to colour the output: `auto` (a terminal, unless NO_COLOR is set), `always`, `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check PlanSpec documents and report every problem with file:line:column.
    Validate(ValidateArgs),
    /// Draw the node graph of a Plan as text, Graphviz DOT or Mermaid.
    Graph(GraphArgs),
    /// Print the JSON Schema of a kind, or of any PlanSpec document.
    Schema(SchemaArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print version information.
    Version(VersionArgs),
    /// Run the control plane's API server (Kubernetes-compatible; kubectl works with it).
    Server(ServerArgs),
    /// Create or update resources on the server from files (validated locally first).
    Apply(ApplyArgs),
    /// List resources, or show one, from the server.
    Get(GetArgs),
    /// Show what `apply -f` would change on the server.
    Diff(DiffArgs),
    /// Print changes to resources as they happen.
    Watch(WatchArgs),
    /// Edit a resource on the server in $VISUAL / $EDITOR.
    Edit(EditArgs),
    /// Show one resource in detail: metadata, spec, status and conditions.
    Describe(DescribeArgs),
    /// Delete resources by name, by file or by label selector.
    Delete(DeleteArgs),
    /// Create a namespace.
    Create(CreateArgs),
    /// Run a Plan from files: apply them, start an Execution, show it live, exit 0 on success.
    Run(crate::commands::run::RunArgs),
    /// Approve a Gate (`gate/NAME`).
    Approve(crate::commands::ops::ReviewArgs),
    /// Reject a Gate (`gate/NAME --comment WHY`).
    Reject(crate::commands::ops::ReviewArgs),
    /// List the Gates waiting for your approval (you are a reviewer, not the run's creator).
    Approvals(crate::commands::approvals::ApprovalsArgs),
    /// List the keyed concurrency leases: who holds each key, since when, until when, and who waits.
    Leases(crate::commands::leases::LeasesArgs),
    /// Cancel an Execution: running nodes finish, nothing new starts (`--force` kills them).
    Cancel(crate::commands::ops::CancelArgs),
    /// Re-run an Execution's failed nodes (or `--from NODE`) and what depends on them.
    Retry(crate::commands::ops::RetryArgs),
    /// Finish a node that waits for a person, with outputs.
    Complete(crate::commands::ops::CompleteArgs),
    /// Fail a node that waits for a person.
    Fail(crate::commands::ops::FailArgs),
    /// Fill a Placeholder that awaits input with a value (checked against its schema and rules).
    Resolve(crate::commands::resolve::ResolveArgs),
    /// Print the logs of an Execution's nodes (`-f` follows).
    Logs(crate::commands::logs::LogsArgs),
    /// Show an Execution's journal as a timeline of stages, with who acted.
    Trace(crate::commands::trace::TraceArgs),
    /// Re-derive an Execution's journal with the engine and report any difference (exit 1).
    Replay(crate::commands::evidence::ReplayArgs),
    /// Write an Execution's evidence bundle (plan, policies, journal, audit, hashes).
    Export(crate::commands::evidence::ExportArgs),
    /// Explain policy verdicts (`policy explain execution/NAME`).
    Policy(crate::commands::policy::PolicyArgs),
    /// Who you are to the server (`whoami`) and what you may do (`can-i`).
    Auth(crate::commands::auth::AuthArgs),
    /// Check a server's credentials and save them as a context of the config file.
    Login(crate::commands::config::LoginArgs),
    /// Show and change the client config file's contexts (server, token, namespace).
    Config(crate::commands::config::ConfigArgs),
    /// List the audit log, or verify its hash chain (`audit list`, `audit verify`).
    Audit(crate::commands::audit::AuditArgs),
    /// Sign and verify Provider manifests (`keygen`, `sign`, `verify`; offline).
    Provider(crate::commands::provider::ProviderArgs),
}

/// The connection flags of client commands, as given. [`ClientArgs`] resolves them with the
/// environment and the config file's contexts (`crate::client::connection`).
#[derive(Debug, Clone, Default, Args)]
pub struct ClientFlags {
    /// The API server's address [env: PLANSPEC_SERVER; else the context's; default:
    /// http://127.0.0.1:8080].
    #[arg(long = "server", value_name = "URL", help_heading = "Connection")]
    pub server: Option<String>,

    /// The namespace to work in [env: PLANSPEC_NAMESPACE; else the context's; default:
    /// default].
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NAMESPACE",
        help_heading = "Connection"
    )]
    pub namespace: Option<String>,

    /// The bearer token to send [env: PLANSPEC_TOKEN; else the context's] (see
    /// docs/security.md; a context's tokenFile keeps it out of the process list).
    #[arg(long = "token", value_name = "TOKEN", help_heading = "Connection")]
    pub token: Option<String>,

    /// The context of the config file to use [env: PLANSPEC_CONTEXT; default: its
    /// current-context] (`planspec config get-contexts`).
    #[arg(long = "context", value_name = "NAME", help_heading = "Connection")]
    pub context: Option<String>,
}

/// Where the API server is, the credentials, and which namespace to use (client commands):
/// the flags resolved with the environment and the config file when the command line is
/// parsed (`crate::client::connection` has the precedence). A config file that cannot be
/// used fails the parse with a [`clap::error::ErrorKind::Io`] error, which `main` reports
/// as a failure (exit 1), not a usage error.
#[derive(Debug, Clone)]
pub struct ClientArgs {
    /// The flags as given.
    pub flags: ClientFlags,
    /// The server's URL.
    pub server: String,
    /// The namespace when given explicitly (flag or `PLANSPEC_NAMESPACE`): documents naming
    /// another one are refused.
    pub namespace: Option<String>,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// The namespace to work in.
    pub resolved_namespace: String,
}

impl ClientArgs {
    /// The namespace to work in.
    pub fn ns(&self) -> &str {
        &self.resolved_namespace
    }

    /// Fixed settings, for a command that talks to a server it started itself.
    pub fn fixed(server: impl Into<String>, namespace: impl Into<String>) -> ClientArgs {
        let namespace = namespace.into();
        ClientArgs {
            flags: ClientFlags::default(),
            server: server.into(),
            namespace: Some(namespace.clone()),
            token: None,
            resolved_namespace: namespace,
        }
    }

    /// Resolves `flags` with this process's environment and the config file.
    pub fn resolve(flags: ClientFlags) -> Result<ClientArgs, clap::Error> {
        crate::client::connection::resolve_args(flags)
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::Io, format!("{e}\n")))
    }
}

impl clap::FromArgMatches for ClientArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        ClientArgs::resolve(ClientFlags::from_arg_matches(matches)?)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        let mut flags = self.flags.clone();
        flags.update_from_arg_matches(matches)?;
        *self = ClientArgs::resolve(flags)?;
        Ok(())
    }
}

impl Args for ClientArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ClientFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ClientFlags::augment_args_for_update(cmd)
    }
}

/// How client commands print resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectFormat {
    /// Aligned columns (the server's Table).
    Table,
    /// Aligned columns, with the extra ones.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// `kind.planspec.io/name`, one per line.
    Name,
}

/// `planspec apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// A file or directory to apply; `-` reads standard input. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        visible_alias = "file",
        value_name = "FILE",
        required = true
    )]
    pub files: Vec<PathBuf>,

    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,

    /// Ask the server to check and report, without storing anything (`?dryRun=All`).
    #[arg(long)]
    pub dry_run: bool,

    /// Output format of the result lines (`name` prints only `kind.planspec.io/name`).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ObjectFormat>,
}

/// `planspec get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The kind (`plans`, `plan`, `pl`, `namespaces` …).
    #[arg(value_name = "KIND")]
    pub kind: String,

    /// One object to show; without it, list.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Label selector (`app=web,tier in (a,b),!legacy`).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// After listing, keep printing changes until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = ObjectFormat::Table)]
    pub output: ObjectFormat,

    /// `get nodes execution/NAME`: only the nodes in this phase (`Failed`, `Running` …).
    #[arg(long, value_name = "PHASE")]
    pub phase: Option<String>,

    /// `get nodes execution/NAME`: only the instances of this matrix node.
    #[arg(long, value_name = "NODE")]
    pub matrix: Option<String>,

    /// `get nodes execution/NAME`: show at most this many nodes [default: 500].
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// `get nodes execution/NAME`: resume after the token a previous listing printed.
    #[arg(long = "continue", value_name = "TOKEN")]
    pub continue_from: Option<String>,
}

/// `planspec diff`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 no differences, 1 differences (or a failure), 2 usage error."
)]
pub struct DiffArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// A file or directory to compare; `-` reads standard input. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        visible_alias = "file",
        value_name = "FILE",
        required = true
    )]
    pub files: Vec<PathBuf>,

    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// `planspec watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The kind (`plans`, `plan`, `pl`, `namespaces` …).
    #[arg(value_name = "KIND")]
    pub kind: String,

    /// Watch only this object.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Watch every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Output format (`name`: `ADDED plan.planspec.io/x` lines).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = ObjectFormat::Name)]
    pub output: ObjectFormat,
}

/// `planspec edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The kind (`plans`, `plan`, `pl`, `namespace` …).
    #[arg(value_name = "KIND")]
    pub kind: String,

    /// The object's name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `planspec describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The kind (`plans`, `plan`, `pl`, `namespace` …), or `KIND/NAME`.
    #[arg(value_name = "KIND")]
    pub kind: String,

    /// The object's name (not with `KIND/NAME`).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

impl DescribeArgs {
    /// `(kind, name)` from `KIND NAME` or `KIND/NAME`; `None` if the name is missing or given
    /// twice.
    pub fn kind_and_name(&self) -> Option<(&str, &str)> {
        match (self.kind.split_once('/'), self.name.as_deref()) {
            (Some((kind, name)), None) if !name.is_empty() => Some((kind, name)),
            (None, Some(name)) => Some((self.kind.as_str(), name)),
            _ => None,
        }
    }
}

/// `planspec delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The kind (`plans`, `plan`, `pl`, `namespace` …).
    #[arg(value_name = "KIND", required_unless_present = "files")]
    pub kind: Option<String>,

    /// Names of the objects to delete.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Delete the resources a file or directory describes. Repeatable.
    #[arg(short = 'f', long = "filename", visible_alias = "file", value_name = "FILE", conflicts_with_all = ["kind", "selector"])]
    pub files: Vec<PathBuf>,

    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,

    /// Delete every object of KIND matching this label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Do not fail when an object does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,
}

/// `planspec create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(subcommand)]
    pub what: CreateCommand,
}

/// What `create` makes.
#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// Create a namespace.
    #[command(visible_alias = "ns")]
    Namespace {
        #[command(flatten)]
        client: ClientArgs,
        /// The namespace's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// Where to read documents from. Inputs are read in the order given.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Files or directories to read; `-` reads standard input.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// A file to read; `-` reads standard input. Repeatable.
    #[arg(
        short = 'f',
        long = "file",
        visible_alias = "filename",
        value_name = "FILE"
    )]
    pub files: Vec<PathBuf>,

    /// A directory to read (its *.yaml, *.yml and *.json files). Repeatable.
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// `planspec validate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 valid (warnings allowed unless --strict), \
                        1 invalid, 2 usage error."
)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,

    /// Output format.
    #[arg(
        short = 'o',
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t = ReportFormat::Human
    )]
    pub output: ReportFormat,

    /// Print only errors and the summary (human output).
    #[arg(short, long)]
    pub quiet: bool,
}

/// How `validate` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Code frames, a line per resource and a summary.
    Human,
    /// One JSON object (see docs/cli.md).
    Json,
    /// SARIF 2.1.0, e.g. for GitHub code scanning.
    Sarif,
}

/// `planspec graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// The Plan to draw (`metadata.name`); needed when the inputs hold several.
    #[arg(short = 'p', long, value_name = "NAME")]
    pub plan: Option<String>,

    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// How `graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Topological layers for a terminal.
    Text,
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `planspec schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// A kind (`Plan`, `plans`, `plan` …); without it, the schema of any document.
    #[arg(value_name = "KIND", conflicts_with = "list")]
    pub kind: Option<String>,

    /// List the kinds instead.
    #[arg(short, long)]
    pub list: bool,
}

/// `planspec completions`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    planspec completions bash > ~/.local/share/bash-completion/completions/planspec\n  \
    planspec completions zsh > ~/.zfunc/_planspec\n  \
    planspec completions fish > ~/.config/fish/completions/planspec.fish")]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `planspec version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format.
    #[arg(
        short = 'o',
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t = VersionFormat::Text
    )]
    pub output: VersionFormat,
}

/// `planspec server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on (HOST:PORT; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Where to store resources: sqlite:PATH. Default: $XDG_DATA_HOME/planspec/planspec.db
    /// (or ~/.local/share/planspec/planspec.db).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,

    /// Allow listening on an address that is not loopback without TLS (tokens would cross
    /// the network in clear text).
    #[arg(long)]
    pub insecure_bind: bool,

    /// Serve HTTPS with this certificate chain (PEM); needs --tls-private-key-file. With TLS
    /// the server may listen beyond loopback.
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// The private key of --tls-cert-file (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,

    /// The token file: users, service accounts and groups with the SHA-256 hashes of their
    /// tokens, re-read when it changes [default: tokens.yaml beside the store]. Created on
    /// first start with an admin whose token goes to admin.token (mode 0600) beside it.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Dev mode: requests without a token act as `system:anonymous-dev`, which may do
    /// everything. Only on a loopback address. Tokens still work if --token-file is given.
    #[arg(long)]
    pub dev: bool,

    /// Where the access log goes: a file (appended to), or `-` for standard error.
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub access_log: String,

    /// Which requests the access log records: `writes` (every change and every failure),
    /// `all`, or `off`.
    #[arg(long, value_name = "LEVEL", default_value = "writes")]
    pub access_log_level: String,

    /// Record reads (get, list, watch, logs) in the audit log too; every mutating request is
    /// always recorded.
    #[arg(long)]
    pub audit_reads: bool,

    /// The verdict for a node no Policy rule matches, in namespaces whose Policies set no
    /// `defaultVerdict`: `allow` (default), `assist` (every unmatched node needs approval) or
    /// `deny` (deny-by-default).
    #[arg(long, value_name = "VERDICT", default_value = "allow", value_parser = ["allow", "assist", "deny"])]
    pub policy_default: String,

    /// How long a keyed concurrency lease (a Task's `concurrency`) outlives its holder's last
    /// renewal, as a duration (`30s`, `500ms`, `2m`). Leases are renewed every third of it; a
    /// dead server's leases are taken over once it has passed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = lease_ttl)]
    pub lease_ttl: std::time::Duration,

    /// Most Task attempts running at once across every Execution; the others wait, the
    /// Execution with the higher Goal `priority` first, then in arrival order. Default: no
    /// limit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_running_tasks: Option<u32>,

    /// The trust policy Provider manifests are verified against (YAML or JSON:
    /// `trustedPublishers`, `allowExpiredSignatures`). Without it no publisher is trusted.
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,

    /// The directory `{secretFile: NAME}` references in provider configuration are read from
    /// (keep it outside the data directory, readable by the server only).
    #[arg(long, value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,
}

/// How `version` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VersionFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object.
    Json,
}

/// `--lease-ttl`: a Go-style duration of at least 100 ms.
fn lease_ttl(text: &str) -> Result<std::time::Duration, String> {
    let ttl = planspec_model::common::parse_go_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration (like `30s`, `500ms`, `2m`)"))?;
    if ttl < std::time::Duration::from_millis(100) {
        return Err(format!("`{text}` is shorter than the least TTL, 100ms"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
