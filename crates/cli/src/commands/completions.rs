//! `planspec completions SHELL`: a completion script from the clap definitions.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{emit, Exit, Outcome};

/// Prints the completion script for the shell.
pub fn run(args: &CompletionsArgs) -> Outcome {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "planspec", &mut script);
    emit(&String::from_utf8_lossy(&script))?;
    Ok(Exit::Success)
}
