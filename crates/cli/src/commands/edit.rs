//! `planspec edit KIND NAME`: the object as YAML in `$VISUAL`/`$EDITOR`, then a `PUT` carrying
//! the `resourceVersion` that was read, so a concurrent change is a conflict, not a lost update.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::cli::EditArgs;
use crate::client::ClientError;
use crate::error::{emit, emit_err, Exit, Failure, Outcome};

use super::resources::{connect, object_ref, server_error, target, to_yaml};

/// Fetches, edits, and writes back the object.
pub fn run(args: &EditArgs) -> Outcome {
    let target = target(&args.kind, "edit")?;
    let client = connect(&args.client);
    let path = target.item(args.client.ns(), &args.name);
    let object = client.get(&path).map_err(server_error)?;
    let original = format!(
        "# Edit the object below; saving an unchanged file (or an empty one) cancels.\n\
         # A change made by someone else meanwhile is detected through metadata.resourceVersion.\n{}",
        to_yaml(&crate::client::without_managed_fields(&object))?
    );
    let file = temp_path(&args.name);
    std::fs::write(&file, &original)
        .map_err(|e| fail(format!("cannot write {}: {e}", file.display())))?;
    let result = match edit_and_put(&client, &path, &file, &original) {
        Ok(edited) => {
            let _ = std::fs::remove_file(&file);
            Ok(edited)
        }
        Err(Failure::Message(message)) => Err(Failure::Message(format!(
            "{message}\nYour changes are kept in {}",
            file.display()
        ))),
        Err(other) => {
            emit_err(&format!("Your changes are kept in {}\n", file.display()));
            Err(other)
        }
    };
    match result? {
        Edited::Cancelled => {
            emit("Edit cancelled, no changes made.\n")?;
        }
        Edited::Saved => {
            emit(&format!("{} edited\n", object_ref(target, &args.name)))?;
        }
    }
    Ok(Exit::Success)
}

enum Edited {
    Cancelled,
    Saved,
}

fn edit_and_put(
    client: &crate::client::Client,
    path: &str,
    file: &Path,
    original: &str,
) -> Result<Edited, Failure> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_owned());
    // Through the shell, so `EDITOR="code --wait"` works.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("planspec-edit")
        .arg(file)
        .status()
        .map_err(|e| fail(format!("cannot run the editor `{editor}`: {e}")))?;
    if !status.success() {
        return Err(fail(format!("the editor `{editor}` failed ({status})")));
    }
    let edited = std::fs::read_to_string(file)
        .map_err(|e| fail(format!("cannot read {}: {e}", file.display())))?;
    let meaningful = |t: &str| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    if edited == original
        || meaningful(&edited).is_empty()
        || meaningful(&edited) == meaningful(original)
    {
        return Ok(Edited::Cancelled);
    }
    let value: Value = serde_yaml_ng::from_str(&edited)
        .map_err(|e| fail(format!("the edited object is not valid YAML: {e}")))?;
    match client.request("PUT", path, "application/json", Some(&value)) {
        Ok(_) => Ok(Edited::Saved),
        Err(e @ ClientError::Api { code: 409, .. }) => Err(Failure::Message(format!(
            "{}\nThe object was changed on the server while you were editing it; run `planspec edit` again to edit the latest version.",
            server_error_text(e)
        ))),
        Err(e) => Err(server_error(e)),
    }
}

fn server_error_text(e: ClientError) -> String {
    match server_error(e) {
        Failure::Message(m) => m,
        other => format!("{other:?}"),
    }
}

fn temp_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::env::temp_dir().join(format!(
        "planspec-edit-{safe}-{}-{nanos}.yaml",
        std::process::id()
    ))
}

fn fail(message: String) -> Failure {
    Failure::Error(miette::miette!("{message}"))
}
