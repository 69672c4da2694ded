//! `planspec server` as a process: address checks, the default store location, serving,
//! graceful shutdown on SIGTERM and SIGINT, and data that survives a restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn planspec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_planspec"))
}

/// A running `planspec server` and its address.
struct Running {
    child: Child,
    addr: String,
}

fn start(args: &[&str], envs: &[(&str, &Path)]) -> (Running, String) {
    let mut command = planspec();
    command
        .args(["server", "--dev", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
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
    (Running { child, addr }, line)
}

/// One HTTP/1.1 request on its own connection; returns the status code and the body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

fn wait(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the server did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const PLAN: &str = r#"{"apiVersion":"planspec.io/v1alpha1","kind":"Plan","metadata":{"name":"kept"},"spec":{"description":"d","graph":{"nodes":[{"id":"a","kind":"Task"}]}}}"#;

#[test]
fn refuses_non_loopback_addresses_and_unknown_stores() {
    let out = planspec()
        .args([
            "server",
            "--listen",
            "0.0.0.0:0",
            "--store",
            "sqlite:/nonexistent/x.db",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure-bind"), "{err}");
    let out = planspec()
        .args(["server", "--store", "postgres://db/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported store"));
}

#[test]
fn serves_stops_on_sigterm_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("db.sqlite").display());
    let (server, line) = start(&["--store", &store], &[]);
    assert!(line.contains("db.sqlite"), "{line}");
    assert_eq!(
        http(&server.addr, "GET", "/healthz", ""),
        (200, "ok".into())
    );
    let (status, body) = http(
        &server.addr,
        "POST",
        "/apis/planspec.io/v1alpha1/namespaces/default/plans",
        PLAN,
    );
    assert_eq!(status, 201, "{body}");

    // A watch is open when the signal comes: the server still stops promptly.
    let mut watch = TcpStream::connect(&server.addr).unwrap();
    write!(
        watch,
        "GET /apis/planspec.io/v1alpha1/namespaces/default/plans?watch=true HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&server.child, "TERM");
    let status = wait(server.child, Duration::from_secs(15));
    assert!(status.success(), "{status:?}");

    // The data is there after a restart (SIGINT this time).
    let (server, _) = start(&["--store", &store], &[]);
    let (status, body) = http(
        &server.addr,
        "GET",
        "/apis/planspec.io/v1alpha1/namespaces/default/plans/kept",
        "",
    );
    assert_eq!(status, 200, "{body}");
    signal(&server.child, "INT");
    assert!(wait(server.child, Duration::from_secs(15)).success());
}

#[test]
fn the_default_store_lives_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (server, line) = start(&[], &[("XDG_DATA_HOME", dir.path())]);
    let expected = dir.path().join("planspec").join("planspec.db");
    assert!(line.contains(&expected.display().to_string()), "{line}");
    assert!(expected.exists());
    signal(&server.child, "TERM");
    assert!(wait(server.child, Duration::from_secs(15)).success());
}
