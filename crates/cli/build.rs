//! Build script: records the compilation target and, when cheaply available, the git commit.
//!
//! The commit is read straight from `.git` (no `git` process); when the sources are not a
//! git checkout (a crates.io tarball, a vendored copy) it is simply left out.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PLANSPEC_GIT_COMMIT");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=PLANSPEC_TARGET={target}");

    let commit = std::env::var("PLANSPEC_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit);
    if let Some(commit) = commit {
        println!("cargo:rustc-env=PLANSPEC_GIT_COMMIT={commit}");
    }
}

/// The commit `HEAD` points at, read from the `.git` directory above the crate.
fn git_commit() -> Option<String> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git_dir = manifest.ancestors().find_map(git_dir_of)?;
    let head_path = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head_path.display());
    let head = fs::read_to_string(&head_path).ok()?;
    let head = head.trim();
    let commit = match head.strip_prefix("ref: ") {
        None => head.to_string(),
        Some(reference) => {
            let ref_path = git_dir.join(reference);
            println!("cargo:rerun-if-changed={}", ref_path.display());
            let packed = git_dir.join("packed-refs");
            println!("cargo:rerun-if-changed={}", packed.display());
            match fs::read_to_string(&ref_path) {
                Ok(id) => id.trim().to_string(),
                Err(_) => fs::read_to_string(&packed).ok()?.lines().find_map(|line| {
                    let (id, name) = line.split_once(' ')?;
                    (name == reference).then(|| id.to_string())
                })?,
            }
        }
    };
    let valid = commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| commit[..12.min(commit.len())].to_string())
}

/// `dir/.git` when it is a git directory (or a `gitdir:` file pointing at one).
fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let text = fs::read_to_string(&dot_git).ok()?;
    let target = text.trim().strip_prefix("gitdir: ")?;
    let path = dir.join(target);
    path.is_dir().then_some(path)
}
