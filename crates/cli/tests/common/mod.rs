//! Shared by the CLI's integration tests: a real `planspec server` process.
#![allow(dead_code)] // each test binary uses part of it

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// A `planspec server` child process, killed (and reaped) when dropped.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// `127.0.0.1:PORT`, as the server announced it.
    pub addr: String,
}

impl ServerProcess {
    /// Starts `planspec server --dev --listen 127.0.0.1:0 --store STORE` (dev mode: requests
    /// need no token) with its stderr going to
    /// `stderr`, and reads the address it announces on its first stdout line. `Err` carries
    /// that line when it holds no address.
    pub fn start(store: &str, stderr: Stdio) -> Result<ServerProcess, String> {
        ServerProcess::start_with(store, stderr, &[])
    }

    /// [`start`](Self::start) with more flags (`--lease-ttl 2s` …).
    pub fn start_with(store: &str, stderr: Stdio, extra: &[&str]) -> Result<ServerProcess, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
            .args([
                "server",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--store",
                store,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the planspec binary starts");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line);
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        match addr {
            Some(addr) => Ok(ServerProcess { child, addr }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(line)
            }
        }
    }

    /// SIGKILL, then reap.
    pub fn sigkill(mut self) {
        // `Child::kill` is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A no-op for a child already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes as text (lossy), for assertions on a command's output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's exit code, stdout and stderr, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// A `planspec.io/v1alpha1` document of `kind` named `name` with `spec`.
pub fn doc(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": kind, "metadata": {"name": name},
           "spec": spec})
}
