//! Reading inputs: files, directories, standard input, encodings and size limits.
//! (Moved here from `planspec-validate`, which no longer does I/O.)

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use planspec_validate::{validate, Code, Limits, Options, Severity, SourceMap};

use planspec_validate::Diagnostic;

use super::{classify, decode, read_inputs, read_stdin_from, Given, InputSpec, Listing};

/// The files a directory contributes, and the problems met listing it.
fn list_dir(dir: &Path, recursive: bool) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let listing = Listing::of(dir, recursive);
    (listing.files, listing.diags)
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "planspec-cli-input-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn names(sources: &SourceMap, base: &Path) -> Vec<String> {
    let base = base.display().to_string();
    sources
        .files()
        .map(|(_, f)| f.name.replace(&base, "").replace('\\', "/"))
        .collect()
}

const SMALL_GOAL: &str = "\
apiVersion: planspec.io/v1alpha1
kind: Goal
metadata:
  name: ship-login
spec:
  description: Add SSO login
";

#[test]
fn reads_a_file_named_as_given() {
    let s = Scratch::new();
    let path = s.write("plan.yaml", "a: 1\n");
    let (sources, diags) = read_inputs(&[InputSpec::File(path.clone())], &Limits::default());
    assert!(diags.is_empty(), "{diags:#?}");
    let (_, file) = sources.files().next().unwrap();
    assert_eq!(file.name, path.display().to_string());
    assert_eq!(file.text, "a: 1\n");
}

#[test]
fn strips_a_byte_order_mark() {
    let s = Scratch::new();
    let path = s.write("bom.yaml", b"\xEF\xBB\xBFa: 1\n");
    let (sources, diags) = read_inputs(&[InputSpec::File(path)], &Limits::default());
    assert!(diags.is_empty());
    assert_eq!(sources.files().next().unwrap().1.text, "a: 1\n");
}

#[test]
fn rejects_invalid_utf8_with_the_offset() {
    let s = Scratch::new();
    let path = s.write("latin1.yaml", b"name: caf\xE9\n");
    let (sources, diags) = read_inputs(&[InputSpec::File(path.clone())], &Limits::default());
    assert_eq!(sources.files().count(), 0);
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(d.code, Code::NotUtf8);
    assert_eq!(d.span, None);
    assert!(d.message.contains("offset 9"), "{}", d.message);
    assert!(d.message.contains(&path.display().to_string()));
}

#[test]
fn utf16_gets_a_hint() {
    let d = decode("x.yaml", b"\xFF\xFEa\x00".to_vec()).unwrap_err();
    assert_eq!(d.code, Code::NotUtf8);
    assert!(d.message.contains("offset 0"), "{}", d.message);
    assert!(d.hint.unwrap().contains("UTF-16"));
}

#[test]
fn missing_file_is_an_io_error_without_span() {
    let s = Scratch::new();
    let path = s.path("nope.yaml");
    let (sources, diags) = read_inputs(&[InputSpec::File(path.clone())], &Limits::default());
    assert_eq!(sources.files().count(), 0);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, Code::Io);
    assert_eq!(diags[0].span, None);
    assert!(diags[0].message.contains(&path.display().to_string()));
    assert!(
        diags[0].message.contains("os error"),
        "{}",
        diags[0].message
    );
}

fn tree() -> Scratch {
    let s = Scratch::new();
    s.write("b.yaml", "b: 1\n");
    s.write("a.yml", "a: 1\n");
    s.write("c.json", "{}");
    s.write("D.YAML", "d: 1\n");
    s.write("notes.txt", "no");
    s.write("noext", "no");
    s.write(".hidden.yaml", "h: 1\n");
    s.write("sub/e.yaml", "e: 1\n");
    s.write("sub/deeper/f.yaml", "f: 1\n");
    s.write(".git/config.yaml", "g: 1\n");
    s
}

#[test]
fn directories_are_sorted_filtered_and_not_recursive_by_default() {
    let s = tree();
    let spec = InputSpec::Dir {
        path: s.0.clone(),
        recursive: false,
    };
    let (sources, diags) = read_inputs(&[spec], &Limits::default());
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(
        names(&sources, &s.0),
        ["/D.YAML", "/a.yml", "/b.yaml", "/c.json"]
    );
}

#[test]
fn recursive_directories_skip_hidden_ones() {
    let s = tree();
    let (files, diags) = list_dir(&s.0, true);
    assert!(diags.is_empty());
    let rel: Vec<_> = files
        .iter()
        .map(|p| {
            p.strip_prefix(&s.0)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    assert_eq!(
        rel,
        [
            "D.YAML",
            "a.yml",
            "b.yaml",
            "c.json",
            "sub/deeper/f.yaml",
            "sub/e.yaml"
        ]
    );
}

#[test]
fn a_file_argument_that_is_a_directory_is_read_as_one() {
    let s = tree();
    // `-f DIR` and `PATH` are classified once, on the command line, as directories.
    for given in [Given::File, Given::Path] {
        let spec = classify(&s.0, given, false).unwrap();
        assert_eq!(
            spec,
            InputSpec::Dir {
                path: s.0.clone(),
                recursive: false
            }
        );
        let (sources, diags) = read_inputs(&[spec], &Limits::default());
        assert!(diags.is_empty());
        assert_eq!(sources.files().count(), 4);
    }
    // `-R` applies to it.
    assert_eq!(
        classify(&s.0, Given::File, true).unwrap(),
        InputSpec::Dir {
            path: s.0.clone(),
            recursive: true
        }
    );
}

#[test]
fn classifying_checks_existence_and_kind() {
    let s = tree();
    let missing = classify(&s.path("nope.yaml"), Given::Path, false).unwrap_err();
    assert!(missing.contains("no such file or directory"), "{missing}");
    let not_a_dir = classify(&s.path("a.yml"), Given::Dir, false).unwrap_err();
    assert!(not_a_dir.contains("is not a directory"), "{not_a_dir}");
    assert_eq!(
        classify(&s.path("a.yml"), Given::File, true).unwrap(),
        InputSpec::File(s.path("a.yml"))
    );
}

#[test]
fn a_directory_read_as_a_file_is_an_io_error() {
    // Only when the directory took the file's place after the command line was read.
    let s = tree();
    let (sources, diags) = read_inputs(&[InputSpec::File(s.path("sub"))], &Limits::default());
    assert_eq!(sources.files().count(), 0);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, Code::Io);
}

#[test]
fn empty_directory_warns() {
    let s = Scratch::new();
    s.write("readme.md", "x");
    let spec = InputSpec::Dir {
        path: s.0.clone(),
        recursive: false,
    };
    let (sources, diags) = read_inputs(&[spec], &Limits::default());
    assert_eq!(sources.files().count(), 0);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, Code::NoDocuments);
    assert_eq!(diags[0].severity, Severity::Warning);
}

#[test]
fn missing_directory_is_an_io_error() {
    let s = Scratch::new();
    let spec = InputSpec::Dir {
        path: s.path("nope"),
        recursive: true,
    };
    let (_, diags) = read_inputs(&[spec], &Limits::default());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, Code::Io);
    assert!(diags[0].message.contains("nope"));
}

#[test]
fn the_same_file_is_read_once() {
    let s = tree();
    let specs = [
        InputSpec::File(s.path("a.yml")),
        InputSpec::Dir {
            path: s.0.clone(),
            recursive: false,
        },
        InputSpec::File(s.path("a.yml")),
    ];
    let (sources, diags) = read_inputs(&specs, &Limits::default());
    assert!(diags.is_empty());
    assert_eq!(
        names(&sources, &s.0),
        ["/a.yml", "/D.YAML", "/b.yaml", "/c.json"]
    );
}

#[test]
fn files_over_the_size_limit_are_not_read() {
    let s = Scratch::new();
    let path = s.write("big.yaml", "a: 1234567890\n");
    let limits = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let (sources, diags) = read_inputs(&[InputSpec::File(path)], &limits);
    assert_eq!(sources.files().count(), 0);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, Code::FileTooLarge);
    assert_eq!(diags[0].span, None);
    assert!(
        diags[0].message.contains("big.yaml"),
        "{}",
        diags[0].message
    );
}

#[test]
fn stdin_is_named_and_bounded() {
    let limits = Limits {
        max_file_bytes: 8,
        ..Limits::default()
    };
    let file = read_stdin_from(Cursor::new("a: 1\n"), &limits).unwrap();
    assert_eq!(file.name, "<stdin>");
    assert_eq!(file.text, "a: 1\n");
    let exact = read_stdin_from(Cursor::new("12345678"), &limits).unwrap();
    assert_eq!(exact.text.len(), 8);
    let d = read_stdin_from(Cursor::new("a: 123456789\n"), &limits).unwrap_err();
    assert_eq!(d.code, Code::FileTooLarge);
    assert!(d.message.contains("<stdin>"));
    let d = read_stdin_from(Cursor::new(b"\xEF\xBB\xBF\xC3".to_vec()), &limits).unwrap_err();
    assert_eq!(d.code, Code::NotUtf8);
    assert!(d.message.contains("offset 0"), "{}", d.message);
}

#[test]
fn a_file_called_stdin_is_not_shown_as_standard_input() {
    assert_eq!(super::display(Path::new("<stdin>")), "./<stdin>");
    assert_eq!(super::display(Path::new("dir/<stdin>")), "dir/<stdin>");
}

#[cfg(unix)]
#[test]
fn symlinked_files_are_read_but_symlinked_directories_are_not_followed() {
    let s = Scratch::new();
    s.write("real/x.yaml", "x: 1\n");
    std::os::unix::fs::symlink(s.path("real/x.yaml"), s.path("link.yaml")).unwrap();
    std::os::unix::fs::symlink(s.path("real"), s.path("loop")).unwrap();
    std::os::unix::fs::symlink(&s.0, s.path("real/up")).unwrap();
    let (files, diags) = list_dir(&s.0, true);
    assert!(diags.is_empty());
    let rel: Vec<_> = files
        .iter()
        .map(|p| p.strip_prefix(&s.0).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(rel, ["link.yaml", "real/x.yaml"]);
}

// The codes only reading can produce (moved from `planspec-validate`'s invalid corpus).

#[test]
fn non_utf8_input_is_ps0009() {
    let s = Scratch::new();
    // `description: Caf\xe9` written in Latin-1.
    let mut bytes = SMALL_GOAL.replace("Add SSO login", "Caf").into_bytes();
    let at = bytes.len() - 1;
    bytes.insert(at, 0xE9);
    let path = s.write("latin1.yaml", &bytes);
    let (sources, diags) = read_inputs(&[InputSpec::File(path)], &Limits::default());
    assert_eq!(sources.files().count(), 0, "a non-UTF-8 file is not read");
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d.code, Code::NotUtf8);
    assert_eq!(d.severity, Severity::Error);
    assert!(d.span.is_none(), "a whole-input finding has no span");
    assert!(
        d.message.contains("0xE9") && d.message.contains(&format!("offset {at}")),
        "names the byte and its offset: {}",
        d.message
    );
}

#[test]
fn missing_path_is_ps0008_and_makes_the_run_invalid() {
    let s = Scratch::new();
    let path = s.path("no-such-plan.yaml");
    let (sources, diags) = read_inputs(&[InputSpec::File(path.clone())], &Limits::default());
    assert_eq!(sources.files().count(), 0);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, Code::Io);
    assert_eq!(diags[0].severity, Severity::Error);
    assert!(
        diags[0].message.contains("no-such-plan.yaml"),
        "names the path: {}",
        diags[0].message
    );
    let mut report = validate(sources, &Options::default());
    report.add_diagnostics(diags, &Options::default());
    assert!(report.has_errors());
    // `load` does the same in one step.
    assert!(super::load(&[InputSpec::File(path)], false).has_errors());
}

#[test]
fn file_over_the_size_limit_is_ps0003() {
    let s = Scratch::new();
    let path = s.write("goal.yaml", SMALL_GOAL);
    let limits = Limits {
        max_file_bytes: 64,
        ..Limits::default()
    };
    let (sources, diags) = read_inputs(&[InputSpec::File(path)], &limits);
    assert_eq!(sources.files().count(), 0, "an oversized file is not read");
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, Code::FileTooLarge);
    assert_eq!(diags[0].severity, Severity::Error);
    assert!(diags[0].span.is_none());
}
