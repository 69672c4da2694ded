//! `planspec graph`: validate the inputs, pick a Plan, draw its graph.

use clap::ArgMatches;
use planspec_model::{Kind, Plan};
use planspec_validate::{Report, Resource};

use crate::cli::{GlobalArgs, GraphArgs, GraphFormat};
use crate::error::{emit, emit_err, usage, Exit, Failure, Outcome};
use crate::input;
use crate::output::{human, Facts, Summary};
use crate::render::{dot, mermaid, text, View};
use crate::term::{escape_line, plural, styles, Stream, Term};

/// Validates the inputs and prints the chosen Plan's graph to standard output.
///
/// Only the chosen Plan must be valid. When it is not, its findings (with the rest,
/// as `validate -q` prints them) go to standard error and nothing is drawn; when it
/// is, findings elsewhere are counted in a one-line note on standard error.
pub fn run(args: &GraphArgs, global: &GlobalArgs, matches: Option<&ArgMatches>) -> Outcome {
    let specs = input::specs(&args.input, matches, "graph")?;
    let report = input::load(&specs, false);
    let facts = Facts::of(&report);
    let err_term = Term::detect(global, Stream::Stderr);
    let print_findings = || {
        let options = human::HumanOptions {
            term: err_term,
            quiet: true,
        };
        emit_err(&human::render(&report, &facts, options));
    };
    let index = match pick_plan(&report, args.plan.as_deref()) {
        Ok(index) if facts.errors_of[index] == 0 => index,
        // The chosen Plan is invalid.
        Ok(_) => {
            print_findings();
            return Ok(Exit::Invalid);
        }
        // No such Plan, but some input could not be read or understood: the Plan may
        // well be in it, so the findings say more than "no Plan".
        Err(Failure::Error(_)) if !facts.summary.is_valid() => {
            print_findings();
            return Ok(Exit::Invalid);
        }
        Err(failure) => return Err(failure),
    };
    let resource = &report.resources[index];
    let plan_name = escape_line(resource.name.as_deref().unwrap_or("<unnamed>")).into_owned();
    if let Some(note) = findings_note(&facts.summary, &plan_name) {
        emit_err(&format!(
            "{}: {note}\n",
            err_term.paint("note", styles::warning())
        ));
    }

    let plan: Plan = resource
        .to_typed()
        .map_err(|e| Failure::Error(miette::miette!("cannot read Plan `{plan_name}`: {e}")))?;
    let view = View::of_plan(&plan);
    let out = match args.format {
        GraphFormat::Text => text::render(&view, Term::detect(global, Stream::Stdout)),
        GraphFormat::Dot => dot::render(&view),
        GraphFormat::Mermaid => mermaid::render(&view),
    };
    emit(&out)?;
    Ok(Exit::Success)
}

/// `2 errors (none in Plan `p`), 1 warning; run …`, or nothing without findings.
/// Errors are never in the drawn Plan (it would not be drawn).
fn findings_note(summary: &Summary, plan: &str) -> Option<String> {
    let mut counts = Vec::new();
    if summary.errors > 0 {
        counts.push(format!(
            "{} (none in Plan `{plan}`)",
            plural(summary.errors, "error", "errors")
        ));
    }
    if summary.warnings > 0 {
        counts.push(plural(summary.warnings, "warning", "warnings"));
    }
    (!counts.is_empty())
        .then(|| format!("{}; run `planspec validate` to see them", counts.join(", ")))
}

/// The index (in `report.resources`) of the Plan named `wanted`, or of the only Plan.
fn pick_plan(report: &Report, wanted: Option<&str>) -> Result<usize, Failure> {
    let plans: Vec<(usize, &Resource)> = report
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == Kind::Plan)
        .collect();
    let names = || {
        plans
            .iter()
            .map(|(_, r)| escape_line(r.name.as_deref().unwrap_or("<unnamed>")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(name) => {
            let mut found = plans
                .iter()
                .filter(|(_, r)| r.name.as_deref() == Some(name));
            match (found.next(), found.next()) {
                (Some(&(index, _)), None) => Ok(index),
                (Some(_), Some(_)) => Err(miette::miette!(
                    help = "pass the file that holds the one you want",
                    "several Plans are named `{name}` (in different namespaces)"
                )
                .into()),
                (None, _) if plans.is_empty() => Err(no_plans()),
                (None, _) => {
                    let suggestion = planspec_validate::suggest::did_you_mean(
                        name,
                        plans.iter().filter_map(|(_, r)| r.name.as_deref()),
                    );
                    let help = match suggestion {
                        Some(s) => format!("{s} The inputs hold: {}", names()),
                        None => format!("the inputs hold: {}", names()),
                    };
                    Err(miette::miette!(help = help, "no Plan named `{name}` in the inputs").into())
                }
            }
        }
        None => match plans.as_slice() {
            [] => Err(no_plans()),
            [(index, _)] => Ok(*index),
            _ => Err(usage(
                "graph",
                format!(
                    "the inputs hold {} Plans; choose one with `--plan NAME`\n\n  Plans: {}",
                    plans.len(),
                    names()
                ),
            )),
        },
    }
}

fn no_plans() -> Failure {
    miette::miette!(
        help = "`planspec graph` draws a resource with `kind: Plan`",
        "the inputs hold no Plan"
    )
    .into()
}
