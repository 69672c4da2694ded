//! One module per command. Each returns an [`Outcome`]; `main` turns it into an exit code.

pub mod completions;
pub mod graph;
pub mod schema;
pub mod server;
pub mod validate;
pub mod version;

use clap::ArgMatches;

use crate::cli::{Cli, Command};
use crate::error::Outcome;

/// Runs the command `cli` names. `matches` are the subcommand's, for argument order.
pub fn run(cli: &Cli, matches: Option<&ArgMatches>) -> Outcome {
    match &cli.command {
        Command::Validate(args) => validate::run(args, &cli.global, matches),
        Command::Graph(args) => graph::run(args, &cli.global, matches),
        Command::Schema(args) => schema::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Version(args) => version::run(args),
        Command::Server(args) => server::run(args),
    }
}
