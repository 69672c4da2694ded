//! `planspec audit list|verify` against a real `planspec server` (token file, two users), then
//! offline against its store file: the records show who did what with which outcome (an
//! allowed create, a 403, a 422), the chain verifies over the API and offline, and edits,
//! deletions, swaps and a cut-off tail made with a second SQLite connection are reported at
//! the right record.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use planspec_server::auth::token_file::hash_token;
use serde_json::Value;

const ADMIN_TOKEN: &str = "pst_admin_audit_0123456789";
const BOB_TOKEN: &str = "pst_bob_audit_0123456789";

struct Server {
    child: Child,
    url: String,
    store: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(
        &tokens,
        format!(
            "users:\n  - name: admin\n    groups: [\"system:masters\"]\n    tokenHashes: [\"{}\"]\n  - name: bob\n    tokenHashes: [\"{}\"]\n",
            hash_token(ADMIN_TOKEN),
            hash_token(BOB_TOKEN)
        ),
    )
    .unwrap();
    let store = dir.path().join("planspec.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--access-log-level",
            "off",
        ])
        .arg("--store")
        .arg(format!("sqlite:{}", store.display()))
        .arg("--token-file")
        .arg(&tokens)
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
        store,
        _dir: dir,
    }
}

fn planspec(server: &Server, token: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planspec"));
    command
        .env("PLANSPEC_CONFIG", server._dir.path().join("no-config.yaml"))
        .env("PLANSPEC_SERVER", &server.url)
        .env("PLANSPEC_TOKEN", token)
        .env_remove("PLANSPEC_NAMESPACE")
        .env_remove("PLANSPEC_CONTEXT")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

fn output(command: &mut Command) -> (Option<i32>, String, String) {
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PLAN: &str = "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: NAME\nspec:\n  description: d\n  graph:\n    nodes:\n      - id: a\n        kind: Task\n";

fn write_plan(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, PLAN.replace("NAME", name)).unwrap();
    path
}

/// A chain of records made through the API: admin's creates and a delete, bob's refusals.
fn make_history(server: &Server) {
    let dir = server._dir.path();
    for name in ["one", "two", "three"] {
        let (code, out, err) = output(
            planspec(server, ADMIN_TOKEN)
                .arg("apply")
                .arg("-f")
                .arg(write_plan(dir, name)),
        );
        assert_eq!(code, Some(0), "{out}{err}");
    }
    let (code, _, err) = output(
        planspec(server, BOB_TOKEN)
            .arg("apply")
            .arg("-f")
            .arg(write_plan(dir, "four")),
    );
    assert_eq!(code, Some(1), "{err}");
    let (code, _, err) = output(planspec(server, BOB_TOKEN).args(["delete", "plan", "one"]));
    assert_eq!(code, Some(1), "{err}");
    let (code, out, err) = output(planspec(server, ADMIN_TOKEN).args(["delete", "plan", "two"]));
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn list_shows_who_did_what_and_verify_checks_the_chain() {
    let mut server = start();
    make_history(&server);

    let (code, out, err) =
        output(planspec(&server, ADMIN_TOKEN).args(["audit", "list", "-o", "json"]));
    assert_eq!(code, Some(0), "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let rows: Vec<(String, String, String, u64, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"]["username"].as_str().unwrap().to_owned(),
                r["verb"].as_str().unwrap().to_owned(),
                r["resource"]["name"].as_str().unwrap_or("").to_owned(),
                r["outcome"]["code"].as_u64().unwrap(),
                r["outcome"]["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // `apply` creates with a POST (the name comes from the answer, or the refusal's path).
    let creates: Vec<_> = rows.iter().filter(|r| r.1 == "create").collect();
    assert!(
        creates
            .iter()
            .any(|r| r.0 == "admin" && r.2 == "one" && r.3 == 201 && r.4 == "allowed"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "bob" && r.3 == 403 && r.4 == "denied"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "bob" && r.1 == "delete" && r.2 == "one" && r.3 == 403),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "admin" && r.1 == "delete" && r.2 == "two" && r.3 == 200),
        "{rows:?}"
    );

    let (_, table, _) =
        output(planspec(&server, ADMIN_TOKEN).args(["audit", "list", "--actor", "bob"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("SEQ") && lines[0].contains("DECISION"),
        "{table}"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains(" bob ") && l.contains("denied")),
        "{table}"
    );
    let (_, two, _) = output(
        planspec(&server, ADMIN_TOKEN).args(["audit", "list", "--limit", "2", "-o", "json"]),
    );
    let two: Value = serde_json::from_str(&two).unwrap();
    let seqs: Vec<u64> = two["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    let total = rows.len() as u64;
    assert_eq!(seqs, [total - 1, total], "the newest two");

    let (code, out, err) = output(planspec(&server, ADMIN_TOKEN).args(["audit", "verify"]));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("{total} records verified")), "{out}");
    // The printed head anchors a later verification.
    let head = out.trim().rsplit(' ').next().unwrap().to_owned();
    let (code, out, _) =
        output(planspec(&server, ADMIN_TOKEN).args(["audit", "verify", "--anchor", &head]));
    assert_eq!(code, Some(0), "{out}");

    // Bob may not read the log.
    let (code, _, err) = output(planspec(&server, BOB_TOKEN).args(["audit", "list"]));
    assert_eq!(code, Some(1));
    assert!(err.contains("Forbidden"), "{err}");

    // Offline, while nothing else has the file.
    server.stop();
    let store = format!("sqlite:{}", server.store.display());
    let (code, out, err) =
        output(planspec(&server, ADMIN_TOKEN).args(["audit", "verify", "--store", &store]));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&head), "the same head offline: {out}");
}

/// Runs SQL on the store file, with the append-only triggers dropped first.
fn tamper(store: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
}

fn verify_offline(server: &Server) -> (Option<i32>, String) {
    let store = format!("sqlite:{}", server.store.display());
    let (code, out, err) =
        output(planspec(server, ADMIN_TOKEN).args(["audit", "verify", "--store", &store]));
    (code, format!("{out}{err}"))
}

#[test]
fn verify_reports_where_the_chain_was_tampered_with() {
    for (sql, expect) in [
        ("UPDATE audit SET actor = 'mallory' WHERE seq = 2", "BROKEN at record 2: record 2 was altered"),
        ("UPDATE audit SET code = 200, decision = 'allowed' WHERE seq = 4", "BROKEN at record 4"),
        ("DELETE FROM audit WHERE seq = 3", "BROKEN at record 4: the chain is broken at record 4"),
        (
            "UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = -1;",
            "BROKEN at record 2",
        ),
        ("DELETE FROM audit WHERE seq >= 5", "BROKEN at record 5: the log is truncated"),
    ] {
        let mut server = start();
        make_history(&server);
        server.stop();
        assert_eq!(verify_offline(&server).0, Some(0));
        tamper(&server.store, sql);
        let (code, out) = verify_offline(&server);
        assert_eq!(code, Some(1), "{sql}: {out}");
        assert!(out.contains(expect), "{sql}: {out}");
    }
}

#[test]
fn an_edit_is_caught_over_the_api_too() {
    let mut server = start();
    make_history(&server);
    server.stop();
    tamper(&server.store, "UPDATE audit SET verb = 'get' WHERE seq = 1");
    // Restart on the same files: the server serves what the file holds.
    let tokens = server._dir.path().join("tokens.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--access-log-level",
            "off",
        ])
        .arg("--store")
        .arg(format!("sqlite:{}", server.store.display()))
        .arg("--token-file")
        .arg(&tokens)
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
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    server.url = format!("http://{addr}");
    let (code, out, err) =
        output(planspec(&server, ADMIN_TOKEN).args(["audit", "verify", "-o", "json"]));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, Some(1), "{out}{err}");
    let verdict: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["intact"], false);
    assert_eq!(verdict["brokenAt"], 1);
}
