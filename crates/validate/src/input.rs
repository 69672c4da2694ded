//! Reading inputs: files, directories (optionally recursive) and standard input.
//!
//! Every input becomes one [`SourceFile`] named as the user gave it (`<stdin>` for
//! standard input; `dir/file.yaml` for a file found in directory `dir`). Problems become
//! diagnostics without a span: [`Code::Io`], [`Code::NotUtf8`], [`Code::FileTooLarge`].
//!
//! * A directory contributes its `*.yaml`, `*.yml` and `*.json` files (extension case
//!   ignored), sorted by path; hidden files and directories (`.name`) are skipped;
//!   subdirectories are read only with `recursive: true`, and symbolic links to
//!   directories are not followed (no cycles). A directory without such files is a
//!   [`Code::NoDocuments`] warning.
//! * A [`InputSpec::File`] that turns out to be a directory is read as a non-recursive
//!   directory.
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

use crate::diagnostic::{Code, Diagnostic};
use crate::load::{human_bytes, Limits};
use crate::source::{SourceFile, SourceMap};

/// The name standard input gets in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// File extensions read from directories.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// One input as given by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// A file (read as a directory if it is one).
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

/// Reads every input into a [`SourceMap`], in the order given; problems become
/// diagnostics ([`Code::Io`], [`Code::NotUtf8`], [`Code::FileTooLarge`]).
pub fn read_inputs(specs: &[InputSpec], limits: &Limits) -> (SourceMap, Vec<Diagnostic>) {
    let mut reader = Reader {
        limits,
        sources: SourceMap::new(),
        diags: Vec::new(),
        seen: HashSet::new(),
        stdin_read: false,
    };
    for spec in specs {
        reader.read_spec(spec);
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
pub fn read_source(
    name: &str,
    reader: impl Read,
    limits: &Limits,
) -> Result<SourceFile, Diagnostic> {
    let limit = limits.max_file_bytes;
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(name, "read", &e))?;
    if bytes.len() > limit {
        return Err(too_large(name, None, limit));
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
pub fn list_dir(dir: &Path, recursive: bool) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(current) = todo.pop() {
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) => {
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
    (files, diags)
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
    fn read_spec(&mut self, spec: &InputSpec) {
        match spec {
            InputSpec::Stdin => self.read_stdin(),
            InputSpec::File(path) if path.is_dir() => self.read_dir(path, false),
            InputSpec::File(path) => self.read_file(path),
            InputSpec::Dir { path, recursive } => self.read_dir(path, *recursive),
        }
    }

    fn read_stdin(&mut self) {
        if std::mem::replace(&mut self.stdin_read, true) {
            return;
        }
        let stdin = io::stdin();
        let result = read_stdin_from(stdin.lock(), self.limits);
        self.add(result);
    }

    fn read_dir(&mut self, dir: &Path, recursive: bool) {
        let (files, diags) = list_dir(dir, recursive);
        self.diags.extend(diags);
        if files.is_empty() && fs::metadata(dir).is_ok() {
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
        for file in files {
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

/// Reads one file, checking its size before and while reading.
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
        return Err(too_large(&name, Some(meta.len()), limit));
    }
    read_source(&name, file, limits)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn io_error(name: &str, action: &str, error: &io::Error) -> Diagnostic {
    Diagnostic::new(Code::Io, format!("cannot {action} `{name}`: {error}"))
}

fn too_large(name: &str, size: Option<u64>, limit: usize) -> Diagnostic {
    let size = match size {
        Some(size) => format!("is {}, more than", human_bytes(size)),
        None => "is larger than".to_owned(),
    };
    Diagnostic::new(
        Code::FileTooLarge,
        format!(
            "`{name}` {size} the limit of {}; it was not read",
            human_bytes(limit as u64)
        ),
    )
    .with_hint("split it into several files")
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
