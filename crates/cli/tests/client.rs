//! The client commands end to end: a real `planspec server` on a temporary SQLite file,
//! driven by `planspec apply`, `get`, `delete` and `create namespace`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("planspec.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
        .args([
            "server",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &store,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Server {
        child,
        url: format!("http://{addr}"),
        _dir: dir,
    }
}

fn planspec(server: &Server) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planspec"));
    command
        .env("PLANSPEC_SERVER", &server.url)
        .env_remove("PLANSPEC_NAMESPACE")
        .env("NO_COLOR", "1");
    command
}

fn run(server: &Server, args: &[&str]) -> Output {
    planspec(server).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(server: &Server, args: &[&str]) -> String {
    let output = run(server, args);
    assert!(
        output.status.success(),
        "planspec {args:?} failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

const PLAN: &str = "apiVersion: planspec.io/v1alpha1
kind: Plan
metadata:
  name: hello
  labels:
    app: web
spec:
  description: DESCRIPTION
  graph:
    nodes:
      - id: write
        kind: Task
        action:
          capabilityRef: { name: shell }
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn apply_creates_then_is_unchanged_then_configures() {
    let server = start();
    let hello = examples().join("hello/plan.yaml");
    let hello = hello.to_str().unwrap();
    let first = ok(&server, &["apply", "-f", hello]);
    assert!(first.contains("plan.planspec.io/hello created"), "{first}");
    let second = ok(&server, &["apply", "-f", hello]);
    assert!(
        second.contains("plan.planspec.io/hello unchanged"),
        "{second}"
    );

    let dir = tempfile::tempdir().unwrap();
    let changed = std::fs::read_to_string(hello).unwrap().replacen(
        "description:",
        "description: Changed.\n  # was:",
        1,
    );
    let file = write(dir.path(), "plan.yaml", &changed);
    let third = ok(&server, &["apply", "-f", &file]);
    assert!(
        third.contains("plan.planspec.io/hello configured"),
        "{third}"
    );
    let json = ok(&server, &["get", "plan", "hello", "-o", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["spec"]["description"], "Changed.");
}

#[test]
fn apply_dry_run_stores_nothing() {
    let server = start();
    let hello = examples().join("hello/plan.yaml");
    let out = ok(
        &server,
        &["apply", "--dry-run", "-f", hello.to_str().unwrap()],
    );
    assert!(
        out.contains("plan.planspec.io/hello created (server dry run)"),
        "{out}"
    );
    let output = run(&server, &["get", "plans"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("No resources found in default namespace."));
}

#[test]
fn apply_validates_locally_first() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: Bad_Name\nspec: {}\n",
    );
    let output = run(&server, &["apply", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("bad.yaml"), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
}

#[test]
fn apply_reads_stdin_and_namespace_flag() {
    let server = start();
    ok(&server, &["create", "namespace", "team"]);
    let text = PLAN.replace("DESCRIPTION", "From stdin.");
    let mut child = planspec(&server)
        .args(["apply", "-n", "team", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let table = ok(&server, &["get", "plans", "-A"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("NAMESPACE   NAME"), "{table}");
    assert!(
        lines.next().unwrap().starts_with("team        hello"),
        "{table}"
    );
}

#[test]
fn get_prints_tables_names_yaml_and_selects_by_label() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let a = PLAN.replace("DESCRIPTION", "A");
    let b = PLAN
        .replace("name: hello", "name: other")
        .replace("app: web", "app: db")
        .replace("DESCRIPTION", "B");
    let file = write(dir.path(), "all.yaml", &format!("{a}---\n{b}"));
    ok(&server, &["apply", "-f", &file]);

    let table = ok(&server, &["get", "plans"]);
    assert!(table.starts_with("NAME "), "{table}");
    assert!(table.contains("\nhello "), "{table}");
    assert!(table.contains("\nother "), "{table}");
    let names = ok(&server, &["get", "plans", "-l", "app=web", "-o", "name"]);
    assert_eq!(names, "plan.planspec.io/hello\n");
    let yaml = ok(&server, &["get", "pl", "other", "-o", "yaml"]);
    assert!(yaml.contains("kind: Plan"), "{yaml}");
    assert!(yaml.contains("name: other"), "{yaml}");
    let described = ok(&server, &["describe", "plan", "other"]);
    assert!(
        described.starts_with("Name:               other\n"),
        "{described}"
    );
    assert!(
        described.contains("Labels:             app=db\n"),
        "{described}"
    );
    assert!(
        described.contains("Spec:\n  description: B\n"),
        "{described}"
    );
    let wide = ok(&server, &["get", "plans", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().len() > table.lines().next().unwrap().len());
}

#[test]
fn server_errors_read_like_kubectl() {
    let server = start();
    let output = run(&server, &["get", "plan", "missing"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "Error from server (NotFound): plans.planspec.io \"missing\" not found\n"
    );
    let output = run(&server, &["delete", "plan", "missing"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).starts_with("Error from server (NotFound)"));
    let output = run(
        &server,
        &["delete", "plan", "missing", "--ignore-not-found"],
    );
    assert!(output.status.success());

    let output = run(&server, &["get", "widgets"]);
    assert_eq!(output.status.code(), Some(2));

    let unreachable = Command::new(env!("CARGO_BIN_EXE_planspec"))
        .args(["get", "plans", "--server", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(stderr(&unreachable).contains("cannot reach the server"));
}

#[test]
fn delete_by_name_selector_and_file() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let a = PLAN.replace("DESCRIPTION", "A");
    let b = PLAN
        .replace("name: hello", "name: other")
        .replace("app: web", "app: db")
        .replace("DESCRIPTION", "B");
    let c = PLAN
        .replace("name: hello", "name: third")
        .replace("DESCRIPTION", "C");
    let file_a = write(dir.path(), "a.yaml", &a);
    let all = write(dir.path(), "all.yaml", &format!("{b}---\n{c}"));
    ok(&server, &["apply", "-f", &file_a, "-f", &all]);

    assert_eq!(
        ok(&server, &["delete", "-f", &file_a]),
        "plan.planspec.io/hello deleted\n"
    );
    assert_eq!(
        ok(&server, &["delete", "plans", "-l", "app=web"]),
        "plan.planspec.io/third deleted\n"
    );
    assert_eq!(
        ok(&server, &["delete", "plan", "other"]),
        "plan.planspec.io/other deleted\n"
    );
    let names = ok(&server, &["get", "plans", "-o", "name"]);
    assert_eq!(names, "");
}

#[test]
fn create_namespace_and_conflict() {
    let server = start();
    assert_eq!(
        ok(&server, &["create", "namespace", "web"]),
        "namespace/web created\n"
    );
    let output = run(&server, &["create", "ns", "web"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("Error from server (AlreadyExists)"),
        "{}",
        stderr(&output)
    );
    let names = ok(&server, &["get", "namespaces", "-o", "name"]);
    assert!(names.contains("namespace/web"), "{names}");
}

#[test]
fn get_watch_streams_changes() {
    let server = start();
    let hello = examples().join("hello/plan.yaml");
    let hello = hello.to_str().unwrap().to_owned();
    ok(&server, &["apply", "-f", &hello]);
    let mut child = planspec(&server)
        .args(["get", "plans", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first, "plan.planspec.io/hello\n");
    // Give the watch a moment to be established, then change the object.
    std::thread::sleep(Duration::from_millis(300));
    ok(&server, &["delete", "plan", "hello"]);
    let event = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(event, "DELETED plan.planspec.io/hello\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn diff_shows_what_apply_would_change() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.yaml", &PLAN.replace("DESCRIPTION", "Old."));
    let output = run(&server, &["diff", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).starts_with("--- /dev/null\n+++ file/default/plan.planspec.io/hello\n"),
        "{}",
        stdout(&output)
    );
    ok(&server, &["apply", "-f", &file]);
    assert_eq!(ok(&server, &["diff", "-f", &file]), "");
    let file = write(dir.path(), "a.yaml", &PLAN.replace("DESCRIPTION", "New."));
    let output = run(&server, &["diff", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("-  description: Old.\n+  description: New.\n"),
        "{text}"
    );
}

#[test]
fn watch_prints_events() {
    let server = start();
    let mut child = planspec(&server)
        .args(["watch", "plans"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.yaml", &PLAN.replace("DESCRIPTION", "A"));
    ok(&server, &["apply", "-f", &file]);
    let event = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(event, "ADDED plan.planspec.io/hello\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn edit_saves_cancels_and_detects_conflicts() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.yaml", &PLAN.replace("DESCRIPTION", "Old."));
    ok(&server, &["apply", "-f", &file]);

    let edit = |editor: &str| {
        planspec(&server)
            .env_remove("VISUAL")
            .env("EDITOR", editor)
            .args(["edit", "plan", "hello"])
            .output()
            .unwrap()
    };
    let output = edit("sed -i s/Old\\./New./");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "plan.planspec.io/hello edited\n");
    let json = ok(&server, &["get", "plan", "hello", "-o", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["spec"]["description"], "New.");

    let output = edit("true");
    assert!(output.status.success());
    assert_eq!(stdout(&output), "Edit cancelled, no changes made.\n");

    // Someone else writes while the editor is open: the PUT carries the old resourceVersion.
    let other = write(
        dir.path(),
        "b.yaml",
        &PLAN.replace("DESCRIPTION", "Theirs."),
    );
    let editor = format!(
        "sh -c 'sed -i s/New\\./Mine./ \"$0\"; PLANSPEC_SERVER={} {} apply -f {other} >/dev/null'",
        server.url,
        env!("CARGO_BIN_EXE_planspec"),
    );
    let output = edit(&editor);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("Error from server (Conflict)"), "{err}");
    assert!(err.contains("Your changes are kept in "), "{err}");
    let json = ok(&server, &["get", "plan", "hello", "-o", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["spec"]["description"], "Theirs.");
    if let Some(path) = err
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("Your changes are kept in "))
    {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn apply_refuses_a_namespace_other_than_the_one_given() {
    let server = start();
    let hello = examples().join("hello/plan.yaml");
    let output = run(
        &server,
        &["apply", "-n", "team", "-f", hello.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(
            "error: the namespace from the provided object \"default\" does not match the namespace \"team\""
        ),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
}

const GOAL: &str = "apiVersion: planspec.io/v1alpha1
kind: Goal
metadata:
  name: ship
spec:
  description: Ship the web app.
";

#[test]
fn get_several_kinds_prints_a_table_per_kind() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "both.yaml",
        &format!("{}---\n{GOAL}", PLAN.replace("DESCRIPTION", "A")),
    );
    ok(&server, &["apply", "-f", &file]);

    let out = ok(&server, &["get", "plans,goals"]);
    let sections: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(sections.len(), 2, "{out}");
    assert!(sections[0].starts_with("NAME "), "{out}");
    assert!(sections[0].contains("\nplan.planspec.io/hello "), "{out}");
    assert!(sections[1].starts_with("NAME "), "{out}");
    assert!(sections[1].contains("\ngoal.planspec.io/ship "), "{out}");
    // Kinds with nothing to show are left out; `all` is the six kinds.
    let out = ok(&server, &["get", "all"]);
    assert_eq!(out.split("\n\n").count(), 2, "{out}");
    assert_eq!(
        ok(&server, &["get", "goals,plans,goal", "-o", "name"]),
        "goal.planspec.io/ship\nplan.planspec.io/hello\n"
    );
    let list: serde_json::Value =
        serde_json::from_str(&ok(&server, &["get", "plans,goals", "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // Managed fields are the server's bookkeeping: not shown.
    assert!(list["items"][0]["metadata"].get("managedFields").is_none());
    let output = run(&server, &["get", "executions,gates"]);
    assert!(output.status.success());
    assert_eq!(
        stderr(&output),
        "No resources found in default namespace.\n"
    );
    let output = run(&server, &["get", "plans,goals", "-w"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&server, &["get", "plans,widgets"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn describe_shows_recent_changes() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.yaml", &PLAN.replace("DESCRIPTION", "One."));
    ok(&server, &["apply", "-f", &file]);
    std::fs::write(&file, PLAN.replace("DESCRIPTION", "Two.")).unwrap();
    ok(&server, &["apply", "-f", &file]);
    let described = ok(&server, &["describe", "plan", "hello"]);
    let events = described
        .split("Events:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no events: {described}"));
    let lines: Vec<&str> = events.lines().collect();
    assert!(lines[0].starts_with("  Revision   Type"), "{described}");
    assert!(lines[1].contains(" ADDED "), "{described}");
    assert!(
        lines[1].ends_with("created (generation 1, phase Ready)"),
        "{described}"
    );
    assert!(lines[2].contains(" MODIFIED "), "{described}");
    assert!(
        lines[2].ends_with("spec changed (generation 1 → 2)"),
        "{described}"
    );
    assert_eq!(lines.len(), 3, "{described}");
}

#[test]
fn the_server_logs_writes_to_its_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let store = format!("sqlite:{}", dir.path().join("planspec.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
        .args([
            "server",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &store,
        ])
        .args(["--access-log", log.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!(
        "http://{}",
        line.split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
    );
    let server = Server {
        child,
        url,
        _dir: tempfile::tempdir().unwrap(),
    };
    let hello = examples().join("hello/plan.yaml");
    ok(&server, &["apply", "-f", hello.to_str().unwrap()]);
    ok(&server, &["get", "plans"]);
    let output = run(&server, &["get", "plan", "missing"]);
    assert_eq!(output.status.code(), Some(1));
    // Lines are written by a thread of their own: wait for them.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines: Vec<&str> = text.lines().collect();
    // The hello example holds three objects; `apply` first asks whether each exists (a 404 is
    // not a failure worth a line), then creates it.
    assert_eq!(lines.len(), 3, "{text}");
    for line in &lines {
        assert!(
            line.contains(" POST /apis/planspec.io/v1alpha1/namespaces/default/")
                && line.contains(" 201 ")
                && line.contains("ua=\"planspec/"),
            "{text}"
        );
    }
    // The manager of the writes is the client's name, from its User-Agent (the CLI hides
    // managed fields; ask the server directly).
    let json = ok(&server, &["get", "plan", "hello", "-o", "json"]);
    assert!(!json.contains("managedFields"), "{json}");
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /apis/planspec.io/v1alpha1/namespaces/default/plans/hello HTTP/1.0\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.contains("\"manager\":\"planspec\""), "{raw}");
}
