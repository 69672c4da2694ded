//! `planspec export execution/NAME --artifacts DIR`: the run's artifacts as files
//! (`docs/artifacts.md`): `expanded_graph.json`, `expansion_manifest.json` and
//! `attempts.jsonl`, derived from the journal by `planspec_engine::evidence::RunArtifacts`.
//! The same journal always gives the same bytes.

use std::path::Path;

use planspec_engine::evidence::RunArtifacts;
use serde_json::Value;

use crate::error::Failure;

/// The file names written into the directory, in the order they are written.
pub const ARTIFACT_FILES: [&str; 3] = [
    "expanded_graph.json",
    "expansion_manifest.json",
    "attempts.jsonl",
];

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Nodes in the expanded graph.
    pub nodes: usize,
    /// Lines of `attempts.jsonl`.
    pub attempts: usize,
}

/// Derives the artifacts from `journal` (entries as the server returns them) and writes them
/// into `dir` (created if missing). Each file is written to a temporary name and renamed, so
/// a reader never sees half a file.
pub fn write(dir: &Path, name: &str, journal: &[Value]) -> Result<Written, Failure> {
    let artifacts = RunArtifacts::derive(journal)
        .map_err(|e| Failure::Message(format!("error: execution/{name}: {e}")))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Message(format!("error: cannot create {}: {e}", dir.display())))?;
    let pretty = |v: &Value| {
        let mut text = serde_json::to_vec_pretty(v).unwrap_or_default();
        text.push(b'\n');
        text
    };
    let contents = [
        pretty(&artifacts.expanded_graph),
        pretty(&artifacts.expansion_manifest),
        artifacts.attempts_jsonl(),
    ];
    for (file, bytes) in ARTIFACT_FILES.iter().zip(contents) {
        write_atomically(&dir.join(file), &bytes)?;
    }
    Ok(Written {
        nodes: artifacts.expanded_graph["nodes"]
            .as_array()
            .map_or(0, Vec::len),
        attempts: artifacts.attempts.len(),
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let fail = |e: std::io::Error| {
        Failure::Message(format!("error: cannot write {}: {e}", path.display()))
    };
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
