//! `planspec diff -f FILE`: what `apply` would change, as a unified-style diff of the
//! applied fields (`metadata.labels`, `metadata.annotations`, `spec`).

use serde_json::{json, Map, Value};

use crate::cli::{DiffArgs, GlobalArgs};
use crate::error::{emit, Exit, Outcome};

use super::resources::{connect, object_ref, read_manifests, server_error, to_yaml};

/// Prints the differences; exit code 1 when there are any (like `kubectl diff`), 0 when none.
pub fn run(args: &DiffArgs, global: &GlobalArgs) -> Outcome {
    let Some(manifests) =
        read_manifests(&args.files, args.recursive, &args.client, global, "diff")?
    else {
        return Ok(Exit::Invalid);
    };
    let client = connect(&args.client);
    let mut changed = false;
    let mut out = String::new();
    for manifest in &manifests {
        let path = manifest.target.item(&manifest.namespace, &manifest.name);
        let current = match client.get(&path) {
            Ok(current) => Some(current),
            Err(e) if e.code() == Some(404) => None,
            Err(e) => return Err(server_error(e)),
        };
        let new = to_yaml(&applied_fields(&manifest.object))?;
        let old = match &current {
            Some(current) => to_yaml(&applied_fields(current))?,
            None => String::new(),
        };
        if old == new {
            continue;
        }
        changed = true;
        let reference = object_ref(manifest.target, &manifest.name);
        let from = if current.is_some() {
            format!("live/{}/{reference}", manifest.namespace)
        } else {
            "/dev/null".to_owned()
        };
        out.push_str(&format!(
            "--- {from}\n+++ file/{}/{reference}\n",
            manifest.namespace
        ));
        out.push_str(&unified(&old, &new));
    }
    emit(&out)?;
    Ok(if changed {
        Exit::Invalid
    } else {
        Exit::Success
    })
}

/// The fields `apply` sets: name, labels, annotations and spec.
fn applied_fields(object: &Value) -> Value {
    let meta = &object["metadata"];
    let mut metadata = Map::new();
    metadata.insert("name".into(), meta["name"].clone());
    for key in ["labels", "annotations"] {
        if let Some(map) = meta[key].as_object().filter(|m| !m.is_empty()) {
            metadata.insert(key.into(), Value::Object(map.clone()));
        }
    }
    json!({ "metadata": metadata, "spec": object["spec"] })
}

/// A line diff of `old` and `new` (longest common subsequence): changed lines with `-` and
/// `+`, three unchanged lines of context around them, `@@` where lines were left out.
pub fn unified(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // (marker, line) in order; deletions before insertions.
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    // Unchanged lines more than CONTEXT away from a change are left out; `@@` marks a gap.
    const CONTEXT: usize = 3;
    let changes: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let near = |k: usize| changes.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
    let mut out = String::new();
    let mut skipped = false;
    for (k, (marker, line)) in ops.iter().enumerate() {
        if *marker == ' ' && !near(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("@@\n");
        }
        skipped = false;
        out.push_str(&format!("{marker}{line}\n"));
    }
    crate::term::escape(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff() {
        assert_eq!(unified("a\nb\nc\n", "a\nx\nc\n"), " a\n-b\n+x\n c\n");
        assert_eq!(unified("", "a\n"), "+a\n");
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\n5\n6\n7\n8\nX\n";
        assert_eq!(unified(old, new), "@@\n 6\n 7\n 8\n-9\n+X\n");
    }
}
