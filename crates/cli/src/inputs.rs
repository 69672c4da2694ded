//! From `PATH…`, `-f FILE` and `-d DIR` to what the validator reads, and the validation run.

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use planspec_validate::input::{read_inputs, InputSpec};
use planspec_validate::{validate, Options, Report};

use crate::cli::InputArgs;
use crate::error::{usage, Failure};

/// One input as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    Path,
    File,
    Dir,
}

/// The inputs in the order they were given, checked for existence.
///
/// `matches` (the subcommand's) supplies the order across `PATH`, `-f` and `-d`;
/// without it positional paths come first, then files, then directories.
pub fn specs(
    args: &InputArgs,
    matches: Option<&ArgMatches>,
    subcommand: &str,
) -> Result<Vec<InputSpec>, Failure> {
    let mut given: Vec<(usize, Given, &PathBuf)> = Vec::new();
    for (id, kind, paths) in [
        ("paths", Given::Path, &args.paths),
        ("files", Given::File, &args.files),
        ("dirs", Given::Dir, &args.dirs),
    ] {
        let indices: Vec<usize> = matches
            .and_then(|m| m.indices_of(id))
            .map(|i| i.collect())
            .unwrap_or_default();
        for (n, path) in paths.iter().enumerate() {
            let order = indices.get(n).copied().unwrap_or(usize::MAX);
            given.push((order, kind, path));
        }
    }
    // Stable: without indices the declaration order above is kept.
    given.sort_by_key(|(order, _, _)| *order);

    if given.is_empty() {
        return Err(usage(
            subcommand,
            "no input given: pass files or directories, `-f FILE`, `-d DIR`, or `-f -` for standard input",
        ));
    }

    let mut stdin_seen = false;
    let mut specs = Vec::with_capacity(given.len());
    for (_, kind, path) in given {
        if path.as_os_str() == "-" {
            if kind == Given::Dir {
                return Err(usage(
                    subcommand,
                    "`-d -` is not allowed: standard input is a file; use `-f -`",
                ));
            }
            if stdin_seen {
                return Err(usage(
                    subcommand,
                    "standard input (`-`) can be read only once",
                ));
            }
            stdin_seen = true;
            specs.push(InputSpec::Stdin);
            continue;
        }
        specs.push(spec_for(path, kind, args.recursive, subcommand)?);
    }
    Ok(specs)
}

fn spec_for(
    path: &Path,
    kind: Given,
    recursive: bool,
    subcommand: &str,
) -> Result<InputSpec, Failure> {
    let dir = InputSpec::Dir {
        path: path.to_path_buf(),
        recursive,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(usage(
            subcommand,
            format!("`{}`: no such file or directory", path.display()),
        )),
        // Unreadable for another reason: the reader reports it as a diagnostic (PS0008).
        Err(_) => Ok(match kind {
            Given::Dir => dir,
            _ => InputSpec::File(path.to_path_buf()),
        }),
        Ok(meta) if meta.is_dir() => Ok(dir),
        Ok(_) if kind == Given::Dir => Err(usage(
            subcommand,
            format!(
                "`{}` is not a directory; pass it as a PATH or with `-f`",
                path.display()
            ),
        )),
        Ok(_) => Ok(InputSpec::File(path.to_path_buf())),
    }
}

/// Reads every input and validates it. Problems found while reading (they have no
/// span) come first.
pub fn load(specs: &[InputSpec], strict: bool) -> Report {
    let options = Options {
        strict,
        ..Options::default()
    };
    let (sources, read_diagnostics) = read_inputs(specs, &options.limits);
    let mut report = validate(sources, &options);
    report.add_diagnostics(read_diagnostics, &options);
    report
}
