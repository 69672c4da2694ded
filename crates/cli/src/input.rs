//! Inputs: from `PATH…`, `-f FILE` and `-d DIR` to source files, and the validation run.
//!
//! This is the only place that touches the file system or standard input for
//! `validate` and `graph`; `planspec-validate` works on the in-memory [`SourceMap`]
//! it is handed.
//!
//! * Each command-line path is looked at once ([`classify`]): a path that does not exist
//!   is a usage error; a directory (given as `PATH`, `-f` or `-d`) becomes an
//!   [`InputSpec::Dir`]; `-d` on a file is a usage error.
//! * Every input becomes one [`SourceFile`] named as the user gave it (`<stdin>` for
//!   standard input; `dir/file.yaml` for a file found in directory `dir`). Problems met
//!   while reading become diagnostics without a span: [`Code::Io`], [`Code::NotUtf8`],
//!   [`Code::FileTooLarge`].
//! * A directory contributes its `*.yaml`, `*.yml` and `*.json` files (extension case
//!   ignored), sorted by path; hidden files and directories (`.name`) are skipped;
//!   subdirectories are read only with `recursive: true`, and symbolic links to
//!   directories are not followed (no cycles). A directory without such files is a
//!   [`Code::NoDocuments`] warning.
//! * The same file reached twice (given twice, or also through a directory) is read once.
//! * The size limit is checked from the file's metadata before reading, and enforced
//!   again while reading (the file may grow; standard input has no size up front).
//! * A UTF-8 byte order mark is removed; any other non-UTF-8 content is rejected with the
//!   byte offset of the first invalid byte.

// A failed read is one `Diagnostic` per input, returned once: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use planspec_validate::load::file_too_large;
use planspec_validate::{
    validate, Code, Diagnostic, Limits, Options, Report, SourceFile, SourceMap,
};

use crate::cli::InputArgs;
use crate::error::{usage, Failure};

/// The name standard input gets in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// File extensions read from directories.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// One input, as classified from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// A file (or a path that could not be looked at; reading it reports why).
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// The `*.yaml`, `*.yml` and `*.json` files of a directory.
    Dir {
        /// The directory.
        path: PathBuf,
        /// Whether to read subdirectories too.
        recursive: bool,
    },
}

/// How a path was given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// `PATH`: a file or a directory.
    Path,
    /// `-f FILE`: a file (a directory is read as one).
    File,
    /// `-d DIR`: a directory.
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
        specs.push(classify(path, kind, args.recursive).map_err(|m| usage(subcommand, m))?);
    }
    Ok(specs)
}

/// What a command-line path is: the one place that looks at it before reading.
/// `Err` is a usage error's message.
fn classify(path: &Path, kind: Given, recursive: bool) -> Result<InputSpec, String> {
    let dir = InputSpec::Dir {
        path: path.to_path_buf(),
        recursive,
    };
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("`{}`: no such file or directory", path.display()))
        }
        // Unreadable for another reason: the reader reports it as a diagnostic (PS0008).
        Err(_) => Ok(match kind {
            Given::Dir => dir,
            _ => InputSpec::File(path.to_path_buf()),
        }),
        Ok(meta) if meta.is_dir() => Ok(dir),
        Ok(_) if kind == Given::Dir => Err(format!(
            "`{}` is not a directory; pass it as a PATH or with `-f`",
            path.display()
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

/// Reads every input into a [`SourceMap`], in the order given; problems become
/// diagnostics ([`Code::Io`], [`Code::NotUtf8`], [`Code::FileTooLarge`],
/// [`Code::NoDocuments`]).
pub fn read_inputs(specs: &[InputSpec], limits: &Limits) -> (SourceMap, Vec<Diagnostic>) {
    let mut reader = Reader {
        limits,
        sources: SourceMap::new(),
        diags: Vec::new(),
        seen: HashSet::new(),
        stdin_read: false,
    };
    for spec in specs {
        match spec {
            InputSpec::Stdin => reader.read_stdin(),
            InputSpec::File(path) => reader.read_file(path),
            InputSpec::Dir { path, recursive } => reader.read_dir(path, *recursive),
        }
    }
    (reader.sources, reader.diags)
}

/// Reads standard input (or any reader standing in for it) as a source named
/// `<stdin>`, reading at most `limits.max_file_bytes` bytes.
pub fn read_stdin_from(reader: impl Read, limits: &Limits) -> Result<SourceFile, Diagnostic> {
    read_source(STDIN_NAME, reader, limits)
}

/// Reads one source from `reader`, named `name`: bounded by `limits.max_file_bytes`,
/// then decoded with [`decode`].
fn read_source(name: &str, reader: impl Read, limits: &Limits) -> Result<SourceFile, Diagnostic> {
    let limit = limits.max_file_bytes;
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(name, "read", &e))?;
    if bytes.len() > limit {
        return Err(file_too_large(Some(name), None, limit));
    }
    decode(name, bytes)
}

/// Turns raw bytes into a source file: strips a UTF-8 byte order mark, and rejects
/// anything that is not UTF-8 with [`Code::NotUtf8`] (naming the offset of the first
/// invalid byte).
pub fn decode(name: &str, mut bytes: Vec<u8>) -> Result<SourceFile, Diagnostic> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(name, text)),
        Err(e) => Err(not_utf8(name, e.as_bytes(), e.utf8_error().valid_up_to())),
    }
}

/// The files a directory contributes, sorted by path, and the problems met listing it.
struct Listing {
    files: Vec<PathBuf>,
    diags: Vec<Diagnostic>,
    /// Whether the directory itself could be read.
    readable: bool,
}

impl Listing {
    fn of(dir: &Path, recursive: bool) -> Listing {
        let mut files = Vec::new();
        let mut diags = Vec::new();
        let mut readable = true;
        let mut todo = vec![dir.to_path_buf()];
        while let Some(current) = todo.pop() {
            let entries = match fs::read_dir(&current) {
                Ok(entries) => entries,
                Err(e) => {
                    readable &= current != dir;
                    diags.push(io_error(&display(&current), "read directory", &e));
                    continue;
                }
            };
            for entry in entries {
                match entry {
                    Ok(entry) => classify_entry(&entry, recursive, &mut files, &mut todo),
                    Err(e) => diags.push(io_error(&display(&current), "read directory", &e)),
                }
            }
        }
        files.sort();
        Listing {
            files,
            diags,
            readable,
        }
    }
}

/// Sorts one directory entry into `files` (a document file) or `todo` (a subdirectory
/// to read).
fn classify_entry(
    entry: &fs::DirEntry,
    recursive: bool,
    files: &mut Vec<PathBuf>,
    todo: &mut Vec<PathBuf>,
) {
    let name = entry.file_name();
    if name.to_string_lossy().starts_with('.') {
        return;
    }
    let path = entry.path();
    let Ok(kind) = entry.file_type() else {
        return;
    };
    if kind.is_dir() {
        if recursive {
            todo.push(path);
        }
        return;
    }
    // A symbolic link counts if it leads to a file; links to directories are not followed.
    let is_file = kind.is_file() || (kind.is_symlink() && path.is_file());
    if is_file && has_document_extension(&path) {
        files.push(path);
    }
}

/// `.yaml`, `.yml` or `.json`, in any case.
fn has_document_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

struct Reader<'a> {
    limits: &'a Limits,
    sources: SourceMap,
    diags: Vec<Diagnostic>,
    /// Files already read (canonical paths when available).
    seen: HashSet<PathBuf>,
    stdin_read: bool,
}

impl Reader<'_> {
    fn read_stdin(&mut self) {
        if std::mem::replace(&mut self.stdin_read, true) {
            return;
        }
        let stdin = io::stdin();
        let result = read_stdin_from(stdin.lock(), self.limits);
        self.add(result);
    }

    fn read_dir(&mut self, dir: &Path, recursive: bool) {
        let listing = Listing::of(dir, recursive);
        self.diags.extend(listing.diags);
        if listing.files.is_empty() && listing.readable {
            self.diags.push(Diagnostic::new(
                Code::NoDocuments,
                format!(
                    "directory `{}` holds no .yaml, .yml or .json files{}",
                    dir.display(),
                    if recursive {
                        ""
                    } else {
                        " (add --recursive to read its subdirectories)"
                    }
                ),
            ));
        }
        for file in listing.files {
            self.read_file(&file);
        }
    }

    fn read_file(&mut self, path: &Path) {
        let identity = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !self.seen.insert(identity) {
            return;
        }
        let result = read_file(path, self.limits);
        self.add(result);
    }

    fn add(&mut self, result: Result<SourceFile, Diagnostic>) {
        match result {
            Ok(file) => {
                self.sources.add(file);
            }
            Err(diag) => self.diags.push(diag),
        }
    }
}

/// Reads one file, checking its size before and while reading. The size comes from
/// the opened file, so a directory that took the file's place is caught here too.
fn read_file(path: &Path, limits: &Limits) -> Result<SourceFile, Diagnostic> {
    let name = display(path);
    let file = fs::File::open(path).map_err(|e| io_error(&name, "open", &e))?;
    let meta = file.metadata().map_err(|e| io_error(&name, "read", &e))?;
    if meta.is_dir() {
        return Err(Diagnostic::new(
            Code::Io,
            format!("cannot read `{name}`: it is a directory"),
        ));
    }
    let limit = limits.max_file_bytes;
    if meta.len() > limit as u64 {
        return Err(file_too_large(Some(&name), Some(meta.len()), limit));
    }
    read_source(&name, file, limits)
}

/// A path as shown to the user. A file that happens to be called `<stdin>` is shown
/// as `./<stdin>`, so it cannot pass for standard input.
fn display(path: &Path) -> String {
    let name = path.display().to_string();
    if name == STDIN_NAME {
        format!("./{name}")
    } else {
        name
    }
}

fn io_error(name: &str, action: &str, error: &io::Error) -> Diagnostic {
    Diagnostic::new(Code::Io, format!("cannot {action} `{name}`: {error}"))
}

fn not_utf8(name: &str, bytes: &[u8], offset: usize) -> Diagnostic {
    let utf16 = bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF");
    let hint = if utf16 {
        "the input looks UTF-16 encoded; save it as UTF-8"
    } else {
        "save the input as UTF-8"
    };
    Diagnostic::new(
        Code::NotUtf8,
        format!(
            "`{name}` is not valid UTF-8: invalid byte 0x{:02X} at byte offset {offset}",
            bytes.get(offset).copied().unwrap_or(0)
        ),
    )
    .with_hint(hint)
}

#[cfg(test)]
mod tests;
