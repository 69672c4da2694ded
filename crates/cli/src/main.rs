//! `planspec` — the PlanSpec command-line tool.
//!
//! Parses the command line, runs one command and maps how it went to an exit code:
//! `0` success, `1` invalid input or failure, `2` usage error. See `docs/cli.md`.

mod cli;
mod client;
mod commands;
mod error;
mod input;
mod output;
mod render;
mod term;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// mimalloc: validation builds and drops many small trees; the system allocator spent about a
/// fifth of a large validation in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = cli::Cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        // The client config could not be used (`cli::ClientArgs`): a failure, not a usage
        // error.
        Err(error) if error.kind() == clap::error::ErrorKind::Io => {
            let message = error.to_string();
            let message = message.trim_end().trim_start_matches("error: ");
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
        Err(error) => error.exit(),
    };
    let sub_matches = matches.subcommand().map(|(_, m)| m);
    let outcome = commands::run(&cli, sub_matches);
    error::finish(
        outcome,
        term::Term::detect(&cli.global, term::Stream::Stderr),
    )
}
