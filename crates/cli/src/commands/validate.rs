//! `planspec validate`: read, validate, report.

use clap::ArgMatches;

use crate::cli::{GlobalArgs, ReportFormat, ValidateArgs};
use crate::error::{emit, Exit, Failure, Outcome};
use crate::input;
use crate::output::{human, json, sarif, Facts};
use crate::term::{Stream, Term};

/// Validates the inputs and prints the report to standard output.
pub fn run(args: &ValidateArgs, global: &GlobalArgs, matches: Option<&ArgMatches>) -> Outcome {
    let specs = input::specs(&args.input, matches, "validate")?;
    let report = input::load(&specs, args.strict);
    let facts = Facts::of(&report);
    let text = match args.output {
        ReportFormat::Human => human::render(
            &report,
            &facts,
            human::HumanOptions {
                term: Term::detect(global, Stream::Stdout),
                quiet: args.quiet,
            },
        ),
        ReportFormat::Json => to_json(&json::render(&report, &facts))?,
        ReportFormat::Sarif => to_json(&sarif::render(&report))?,
    };
    emit(&text)?;
    Ok(if facts.summary.is_valid() {
        Exit::Success
    } else {
        Exit::Invalid
    })
}

/// Pretty JSON with a final newline.
pub fn to_json(value: &serde_json::Value) -> Result<String, Failure> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Error(miette::miette!("cannot encode JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}
