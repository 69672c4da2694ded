//! `planspec resolve execution/NAME --node ID --value JSON`: a person fills a Placeholder
//! that is `AwaitingInput`.
//!
//! The value is one of `--value JSON` (parsed as JSON; text that is not JSON is taken as a
//! string), `--string TEXT` (always a string), or `--value-file FILE` (JSON or YAML; `-` reads
//! standard input). The server checks it against the node's schema and rules before journaling
//! it; a refused value exits non-zero with the constraints it broke, and the node keeps
//! waiting. One `POST …/executions/NAME/nodes/ID/resolve` (RBAC: `update` on
//! `executions/nodes`, like `complete`).

use clap::Args;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use super::ops::{execution_path, name_of, ActorArgs, EXECUTION_KINDS};
use super::resources::server_error;
use crate::cli::ClientArgs;
use crate::client::encode;
use crate::error::{emit, usage, Exit, Failure, Outcome};

/// Largest `--value-file` read.
const MAX_VALUE_FILE: u64 = 4 << 20;

/// `planspec resolve execution/NAME --node ID (--value JSON | --string TEXT | --value-file F)`.
#[derive(Debug, Clone, Args)]
pub struct ResolveArgs {
    /// The Execution: `execution/NAME` or `NAME`.
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// The Placeholder node awaiting input.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// The value as JSON (`3`, `"eu-west-1"`, `{"port": 80}`); text that is not JSON is taken
    /// as a string.
    #[arg(long, value_name = "JSON", required_unless_present_any = ["string", "value_file"], conflicts_with_all = ["string", "value_file"])]
    pub value: Option<String>,
    /// The value as a string, taken as it is.
    #[arg(long, value_name = "TEXT", conflicts_with = "value_file")]
    pub string: Option<String>,
    /// The value from a JSON or YAML file (`-`: standard input).
    #[arg(long = "value-file", value_name = "FILE")]
    pub value_file: Option<PathBuf>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The value the flags give.
fn value(args: &ResolveArgs) -> Result<Value, Failure> {
    if let Some(text) = &args.value {
        return Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())));
    }
    if let Some(text) = &args.string {
        return Ok(Value::String(text.clone()));
    }
    let Some(path) = &args.value_file else {
        return Err(usage(
            "resolve",
            "give the value: --value JSON, --string TEXT or --value-file FILE",
        ));
    };
    let text = read(path)?;
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(_) => serde_yaml_ng::from_str(&text).map_err(|e| {
            usage(
                "resolve",
                format!(
                    "--value-file {} is neither JSON nor YAML: {e}",
                    path.display()
                ),
            )
        }),
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    use std::io::Read;
    let mut text = String::new();
    let result = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_VALUE_FILE + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_VALUE_FILE + 1).read_to_string(&mut text))
    };
    result.map_err(|e| {
        usage(
            "resolve",
            format!("cannot read --value-file {}: {e}", path.display()),
        )
    })?;
    if text.len() as u64 > MAX_VALUE_FILE {
        return Err(usage(
            "resolve",
            format!(
                "--value-file {} is larger than {} MiB",
                path.display(),
                MAX_VALUE_FILE >> 20
            ),
        ));
    }
    Ok(text)
}

/// `planspec resolve`.
pub fn resolve(args: &ResolveArgs) -> Outcome {
    let name = name_of("resolve", &args.execution, EXECUTION_KINDS)?;
    let value = value(args)?;
    let path = execution_path(
        args.client.ns(),
        name,
        &format!("/nodes/{}/resolve", encode(&args.node)),
    );
    args.actor
        .apply(super::resources::connect(&args.client))
        .request(
            "POST",
            &path,
            "application/json",
            Some(&json!({"value": value})),
        )
        .map_err(server_error)?;
    emit(&format!("execution/{name} node {} resolved\n", args.node))?;
    Ok(Exit::Success)
}
