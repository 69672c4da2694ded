//! Shared by the CLI's integration tests: a real `planspec server` process.
#![allow(dead_code)] // each test binary uses part of it

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

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

/// A `planspec server --dev` on a SQLite file in its own temporary directory (which is also
/// where the CLI runs), with the CLI helpers the end-to-end suites share. Killed when dropped.
pub struct DevServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The temporary directory.
    pub dir: PathBuf,
    _stdout: BufReader<ChildStdout>,
    _tmp: tempfile::TempDir,
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DevServer {
    /// Starts the server; its log goes to `server.log` in the directory.
    pub fn start() -> DevServer {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().to_path_buf();
        let log = std::fs::File::create(dir.join("server.log")).expect("the server log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
            .args(["server", "--dev", "--listen", "127.0.0.1:0", "--store"])
            .arg(format!("sqlite:{}", dir.join("planspec.db").display()))
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("planspec server starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        DevServer {
            child,
            url: format!("http://{addr}"),
            dir,
            _stdout: stdout,
            _tmp: tmp,
        }
    }

    /// `planspec ARGS` against the server, in its directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_planspec"))
            .current_dir(&self.dir)
            .env("PLANSPEC_SERVER", &self.url)
            .env("NO_COLOR", "1")
            .env_remove("PLANSPEC_NAMESPACE")
            .env_remove("PLANSPEC_USER")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("planspec runs")
    }

    /// [`cli`](Self::cli), asserting success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "planspec {args:?}: {}\n--- server log ---\n{}",
            show(&out),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
        text(&out.stdout)
    }

    /// [`ok`](Self::ok), parsed as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Writes `docs` into the folder `name`; its path.
    pub fn docs(&self, name: &str, docs: &[Value]) -> String {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).expect("the folder");
        for (i, d) in docs.iter().enumerate() {
            let body = serde_json::to_string_pretty(d).expect("serialises");
            std::fs::write(dir.join(format!("{i:02}.json")), body).expect("written");
        }
        dir.display().to_string()
    }

    /// `planspec run` to the end (exit status not checked: failing runs exit 1).
    pub fn run(&self, files: &str, name: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "run",
            "-f",
            files,
            "--no-input",
            "--name",
            name,
            "--as",
            "user:dev",
            "--as-group",
            "system:masters",
        ];
        args.extend(extra);
        self.cli(&args)
    }
}
