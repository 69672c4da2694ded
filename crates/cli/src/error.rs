//! How a command ends, and how failures reach the user.
//!
//! Exit codes: `0` success, `1` invalid input or a failure, `2` a usage error.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::term::{escape, styles, Term};

/// How a command that ran to the end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit code 0.
    Success,
    /// Exit code 1: the inputs are invalid; the findings were already printed.
    Invalid,
}

/// Why a command stopped early.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong (exit code 2). Printed the way clap prints its own errors.
    Usage(Box<clap::Error>),
    /// Anything else (exit code 1).
    Error(miette::Report),
    /// A message printed to standard error as it is (exit code 1): errors from the API
    /// server, which read `Error from server (Reason): …` like kubectl's.
    Message(String),
}

impl From<miette::Report> for Failure {
    fn from(report: miette::Report) -> Self {
        Failure::Error(report)
    }
}

impl From<clap::Error> for Failure {
    fn from(error: clap::Error) -> Self {
        Failure::Usage(Box::new(error))
    }
}

/// What a command returns.
pub type Outcome = Result<Exit, Failure>;

/// A usage error for `subcommand` (exit code 2), with its usage line. The message may
/// quote the inputs, so control characters in it are escaped.
pub fn usage(subcommand: &str, message: impl std::fmt::Display) -> Failure {
    use clap::CommandFactory;
    let message = escape(&message.to_string()).into_owned();
    let mut command = crate::cli::Cli::command();
    command.build();
    let error = match command.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(clap::error::ErrorKind::InvalidValue, message),
        None => command.error(clap::error::ErrorKind::InvalidValue, message),
    };
    Failure::Usage(Box::new(error))
}

/// Maps the outcome to the process exit code, printing failures to standard error.
pub fn finish(outcome: Outcome, term: Term) -> ExitCode {
    match outcome {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::Invalid) => ExitCode::from(1),
        Err(Failure::Usage(error)) => {
            let _ = error.print();
            ExitCode::from(2)
        }
        Err(Failure::Error(report)) => {
            let _ = io::stderr().write_all(render_report(&report, term).as_bytes());
            ExitCode::from(1)
        }
        Err(Failure::Message(message)) => {
            let _ = io::stderr().write_all(format!("{}\n", message.trim_end()).as_bytes());
            ExitCode::from(1)
        }
    }
}

/// `error: message`, its causes and its help, in the style of the validation diagnostics.
/// They may quote the inputs, so control characters in them are escaped.
pub fn render_report(report: &miette::Report, term: Term) -> String {
    let mut out = format!(
        "{}{}\n",
        term.paint("error", styles::error()),
        term.paint(
            format!(": {}", escape(&report.to_string())),
            styles::strong()
        )
    );
    let mut cause = report.source();
    while let Some(error) = cause {
        out.push_str(&format!("  caused by: {}\n", escape(&error.to_string())));
        cause = error.source();
    }
    if let Some(help) = report.help() {
        out.push_str(&format!(
            "  {} {}\n",
            term.paint("help:", styles::accent()),
            escape(&help.to_string())
        ));
    }
    out
}

/// Writes `text` to standard output. A closed pipe (`planspec … | head`) is not an error.
pub fn emit(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Failure::Error(miette::miette!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// Writes `text` to standard error, ignoring failures (there is nowhere left to report them).
pub fn emit_err(text: &str) {
    let _ = io::stderr().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_message_and_help() {
        let report = miette::miette!(help = "pass --plan NAME", "several plans");
        let text = render_report(&report, Term::plain());
        assert_eq!(text, "error: several plans\n  help: pass --plan NAME\n");
    }

    #[test]
    fn escapes_control_characters() {
        let report = miette::miette!(
            help = "try `b\u{1b}[0m`",
            "no Plan named `a\u{1b}]0;x\u{7}`"
        );
        let text = render_report(&report, Term::plain());
        assert_eq!(
            text,
            "error: no Plan named `a\\x1b]0;x\\x07`\n  help: try `b\\x1b[0m`\n"
        );
    }
}
