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

    /// Allow listening on an address that is not loopback (the API has no authentication yet).
    #[arg(long)]
    pub insecure_bind: bool,
}

/// How `version` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VersionFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object.
    Json,
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
