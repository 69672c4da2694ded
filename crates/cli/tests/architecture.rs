//! The rules of `ARCHITECTURE.md` that a test can check.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(current) = todo.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// "Pure logic has no I/O": the model, the validator, the engine and the trust checks
/// (`planspec-trust`) read no files, no standard input, no environment, no network and start
/// no processes. Reading inputs is the CLI's job (`crates/cli/src/input.rs`); the engine gets every fact from the runtime.
#[test]
fn pure_crates_do_no_io() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // `std::net` is allowed for its address types (`Ipv4Addr` parsing is pure); its
    // sockets are not.
    const IO: &[&str] = &[
        "std::fs",
        "std::io",
        "std::env",
        "std::process",
        "stdin()",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "ToSocketAddrs",
        "tokio",
    ];
    let mut found = Vec::new();
    for krate in ["model", "validate", "engine", "trust"] {
        for file in rust_files(&crates.join(krate).join("src")) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if let Some(io) = IO.iter().find(|io| code.contains(*io)) {
                    found.push(format!("{}:{}: {io}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O in a pure crate:\n{}",
        found.join("\n")
    );
}

/// The engine reads no clock: every time comes with the input that reports it, so a journal
/// replays to the same decisions.
#[test]
fn the_engine_reads_no_clock() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    const CLOCK: &[&str] = &["SystemTime", "Instant", "chrono", "UNIX_EPOCH"];
    let mut found = Vec::new();
    for file in rust_files(&crates.join("engine").join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(clock) = CLOCK.iter().find(|c| code.contains(*c)) {
                found.push(format!("{}:{}: {clock}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a clock in the engine:\n{}",
        found.join("\n")
    );
}
