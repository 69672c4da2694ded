//! `planspec graph`: validate the inputs, pick a Plan, draw its graph.

use clap::ArgMatches;
use planspec_model::{EdgeType, Kind, NodeKind, Plan, PlanGraph};
use planspec_validate::{Report, Resource};

use crate::cli::{GlobalArgs, GraphArgs, GraphFormat};
use crate::error::{emit, emit_err, usage, Exit, Failure, Outcome};
use crate::inputs;
use crate::output::{human, Facts};
use crate::render::{dot, mermaid, text, Shape, View, ViewEdge, ViewNode};
use crate::term::{plural, styles, Stream, Term};

/// Validates the inputs and prints the chosen Plan's graph to standard output.
/// Findings go to standard error: all of them when the inputs are invalid, a
/// one-line count when there are only warnings.
pub fn run(args: &GraphArgs, global: &GlobalArgs, matches: Option<&ArgMatches>) -> Outcome {
    let specs = inputs::specs(&args.input, matches, "graph")?;
    let report = inputs::load(&specs, false);
    let facts = Facts::of(&report);
    let err_term = Term::detect(global, Stream::Stderr);
    if !facts.summary.is_valid() {
        let options = human::HumanOptions {
            term: err_term,
            quiet: true,
        };
        emit_err(&human::render(&report, &facts, options));
        return Ok(Exit::Invalid);
    }
    if facts.summary.warnings > 0 {
        emit_err(&format!(
            "{}: {}; run `planspec validate` to see them\n",
            err_term.paint("note", styles::warning()),
            plural(facts.summary.warnings, "warning", "warnings")
        ));
    }

    let resource = pick_plan(&report, args.plan.as_deref())?;
    let plan: Plan = resource.to_typed().map_err(|e| {
        Failure::Error(miette::miette!(
            "cannot read Plan `{}`: {e}",
            resource.name.as_deref().unwrap_or("<unnamed>")
        ))
    })?;
    let view = view_of(&plan);
    let out = match args.format {
        GraphFormat::Text => text::render(&view, Term::detect(global, Stream::Stdout)),
        GraphFormat::Dot => dot::render(&view),
        GraphFormat::Mermaid => mermaid::render(&view),
    };
    emit(&out)?;
    Ok(Exit::Success)
}

/// The Plan named `wanted`, or the only Plan.
fn pick_plan<'r>(report: &'r Report, wanted: Option<&str>) -> Result<&'r Resource, Failure> {
    let plans: Vec<&Resource> = report
        .resources
        .iter()
        .filter(|r| r.kind == Kind::Plan)
        .collect();
    let names = || {
        plans
            .iter()
            .map(|r| r.name.as_deref().unwrap_or("<unnamed>"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(name) => {
            let mut found = plans.iter().filter(|r| r.name.as_deref() == Some(name));
            match (found.next(), found.next()) {
                (Some(plan), None) => Ok(plan),
                (Some(_), Some(_)) => Err(miette::miette!(
                    help = "pass the file that holds the one you want",
                    "several Plans are named `{name}` (in different namespaces)"
                )
                .into()),
                (None, _) if plans.is_empty() => Err(no_plans()),
                (None, _) => {
                    let suggestion = planspec_validate::suggest::did_you_mean(
                        name,
                        plans.iter().filter_map(|r| r.name.as_deref()),
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
            [only] => Ok(only),
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

/// The drawable view of a Plan's graph.
fn view_of(plan: &Plan) -> View {
    let graph = PlanGraph::from_plan(plan);
    let nodes = graph
        .nodes
        .iter()
        .map(|n| ViewNode {
            id: n.id.clone(),
            shape: match n.kind {
                NodeKind::Task => Shape::Task,
                NodeKind::Gate => Shape::Gate,
                NodeKind::Group => Shape::Group,
                NodeKind::External => Shape::External,
            },
            name: n.name.clone(),
            group: n.group,
        })
        .collect();
    let edges = graph
        .edges
        .iter()
        .map(|e| ViewEdge {
            from: e.from,
            to: e.to,
            soft: e.edge_type == EdgeType::Soft,
        })
        .collect();
    View::new(plan.metadata.name.as_str(), nodes, edges)
}
