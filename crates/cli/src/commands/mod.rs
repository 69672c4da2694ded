//! One module per command. Each returns an [`Outcome`]; `main` turns it into an exit code.

pub mod apply;
pub mod approvals;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod completions;
pub mod config;
pub mod create;
pub mod delete;
pub mod describe;
pub mod diff;
pub mod edit;
pub mod embedded;
pub mod evidence;
pub mod get;
pub mod graph;
pub mod leases;
pub mod logs;
pub mod nodes;
pub mod ops;
pub mod policy;
pub mod provider;
pub mod resolve;
pub mod resources;
pub mod run;
pub mod schema;
pub mod server;
pub mod trace;
pub mod validate;
pub mod version;
pub mod watch;

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
        Command::Apply(args) => apply::run(args, &cli.global),
        Command::Get(args) => get::run(args),
        Command::Diff(args) => diff::run(args, &cli.global),
        Command::Watch(args) => watch::run(args),
        Command::Edit(args) => edit::run(args),
        Command::Describe(args) => describe::run(args),
        Command::Delete(args) => delete::run(args, &cli.global),
        Command::Create(args) => create::run(args),
        Command::Run(args) => run::run(args, &cli.global),
        Command::Approve(args) => ops::review(args, true),
        Command::Reject(args) => ops::review(args, false),
        Command::Approvals(args) => approvals::run(args),
        Command::Leases(args) => leases::run(args),
        Command::Cancel(args) => ops::cancel(args),
        Command::Retry(args) => ops::retry(args),
        Command::Complete(args) => ops::complete(args),
        Command::Fail(args) => ops::fail(args),
        Command::Resolve(args) => resolve::resolve(args),
        Command::Logs(args) => logs::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Replay(args) => evidence::replay(args),
        Command::Export(args) => evidence::export(args),
        Command::Policy(args) => policy::run(args),
        Command::Auth(args) => auth::run(args),
        Command::Login(args) => config::login(args),
        Command::Config(args) => config::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Provider(args) => provider::run(args),
    }
}
