//! The checked-in schemas in `schemas/v1alpha1/` must equal the generated ones.
//!
//! Regenerate them with:
//!
//! ```text
//! PLANSPEC_BLESS=1 cargo test -p planspec-model --test schemas_in_sync
//! ```

use planspec_model::schema::{all_schema_files, schema_file_text};
use std::path::PathBuf;

const BLESS_HINT: &str =
    "run `PLANSPEC_BLESS=1 cargo test -p planspec-model --test schemas_in_sync` to regenerate";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/v1alpha1")
}

#[test]
fn schemas_in_sync() {
    let dir = schema_dir();
    let bless = std::env::var_os("PLANSPEC_BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let files = all_schema_files();
    let mut problems = Vec::new();

    if bless {
        std::fs::create_dir_all(&dir).expect("create schemas/v1alpha1");
    }
    for (name, schema) in &files {
        let path = dir.join(name);
        let expected = schema_file_text(schema);
        let actual = std::fs::read_to_string(&path).ok();
        if actual.as_deref() == Some(expected.as_str()) {
            continue;
        }
        if bless {
            std::fs::write(&path, &expected)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        } else if actual.is_none() {
            problems.push(format!("schemas/v1alpha1/{name} is missing"));
        } else {
            problems.push(format!("schemas/v1alpha1/{name} is out of date"));
        }
    }

    // Files that are no longer generated.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.ends_with(".json") && !files.iter().any(|(n, _)| *n == file) {
                if bless {
                    std::fs::remove_file(entry.path()).expect("remove a stale schema");
                } else {
                    problems.push(format!("schemas/v1alpha1/{file} is not generated any more"));
                }
            }
        }
    }

    assert!(
        problems.is_empty(),
        "the checked-in JSON Schemas differ from the model:\n  {}\n{BLESS_HINT}",
        problems.join("\n  ")
    );
}
