//! `planspec version`: the version, API version, target and (when known) git commit.

use serde_json::json;

use crate::cli::{VersionArgs, VersionFormat};
use crate::commands::validate::to_json;
use crate::error::{emit, Exit, Outcome};

/// The version of this binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The target triple it was built for.
pub const TARGET: &str = env!("PLANSPEC_TARGET");
/// The git commit it was built from, when the build could tell.
pub const COMMIT: Option<&str> = option_env!("PLANSPEC_GIT_COMMIT");

/// Prints the version information.
pub fn run(args: &VersionArgs) -> Outcome {
    let api_version = planspec_model::API_VERSION;
    let text = match args.output {
        VersionFormat::Text => {
            let mut text =
                format!("planspec {VERSION}\napiVersion: {api_version}\ntarget:     {TARGET}\n");
            if let Some(commit) = COMMIT {
                text.push_str(&format!("commit:     {commit}\n"));
            }
            text
        }
        VersionFormat::Json => to_json(&json!({
            "version": VERSION,
            "apiVersion": api_version,
            "target": TARGET,
            "commit": COMMIT,
        }))?,
    };
    emit(&text)?;
    Ok(Exit::Success)
}
