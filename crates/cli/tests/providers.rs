//! Trusted providers and secrets end to end (issue 5, points 8 and 9), through the real
//! `planspec` binary: `provider keygen|sign|verify` offline; a real `planspec server` with a
//! trust policy file and a secrets directory running Provider-backed exec nodes; an
//! unverified Provider failing its Execution with `provider_untrusted` unless a Policy allows
//! it; and secrets (from a file and from the environment) echoed by the process to stdout,
//! stderr, its outputs and its error message never appearing in any API response, CLI output,
//! server output or anywhere in the server's data directory.

#![cfg(unix)]

mod common;

use common::{doc, show, text};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_planspec");
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The secret in the secrets directory, and the one in the server's environment.
const FILE_SECRET: &str = "fs-7f3a9c-ZEBRA-quartz";
const ENV_SECRET: &str = "ev-41b2d8-OTTER-basalt";

// ------------------------------------------------------------------------------------------
// A test directory with keys, documents, a secrets directory and a data directory.
// ------------------------------------------------------------------------------------------

struct Dir {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let root = tmp.path().to_path_buf();
        for sub in ["work", "data", "secrets"] {
            std::fs::create_dir_all(root.join(sub)).expect("a folder");
        }
        Dir { _tmp: tmp, root }
    }

    fn work(&self, name: &str) -> PathBuf {
        self.root.join("work").join(name)
    }

    fn write(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.work(name);
        std::fs::write(&path, serde_json::to_string_pretty(value).expect("json")).expect("write");
        path
    }

    /// `planspec ARGS` in the work folder; every output is kept for the leak check.
    fn cli(&self, outputs: &mut Vec<String>, args: &[&str], server: Option<&str>) -> Output {
        let mut command = Command::new(BIN);
        command
            .current_dir(self.root.join("work"))
            .env("NO_COLOR", "1")
            .env_remove("PLANSPEC_NAMESPACE")
            .env_remove("PLANSPEC_SERVER")
            .stdin(Stdio::null())
            .args(args);
        if let Some(url) = server {
            command.env("PLANSPEC_SERVER", url);
        }
        let output = command.output().expect("planspec runs");
        outputs.push(text(&output.stdout));
        outputs.push(text(&output.stderr));
        output
    }

    fn ok(&self, outputs: &mut Vec<String>, args: &[&str], server: Option<&str>) -> String {
        let output = self.cli(outputs, args, server);
        assert!(
            output.status.success(),
            "planspec {args:?}: {}",
            show(&output)
        );
        text(&output.stdout)
    }
}

/// A Provider running `script` with `/bin/sh -c`, with `env`.
fn exec_provider(name: &str, script: &str, env: Value) -> Value {
    doc(
        "Provider",
        name,
        json!({"type": "exec", "risk": "low", "description": "test provider",
               "exec": {"command": [script], "shell": true, "env": env}}),
    )
}

fn plan(name: &str, nodes: Value) -> Value {
    doc(
        "Plan",
        name,
        json!({"description": format!("provider test plan {name}"), "graph": {"nodes": nodes}}),
    )
}

fn node_rule(plan: &str, node: &str, provider: &str, config: Option<Value>) -> Value {
    let mut target = json!({ "provider": provider });
    if let Some(c) = config {
        target["config"] = c;
    }
    json!({"selector": {"planRef": {"name": plan}, "nodeId": node}, "target": target})
}

fn execution(name: &str, plan: &str, binding: &str) -> Value {
    doc(
        "Execution",
        name,
        json!({"planRef": {"name": plan}, "bindingRef": {"name": binding}}),
    )
}

/// Keygen + a trust policy trusting that key for publisher `acme`.
fn trusted_key(dir: &Dir, outputs: &mut Vec<String>) -> (PathBuf, PathBuf) {
    let key = dir.work("acme.key");
    let out = dir.ok(
        outputs,
        &["provider", "keygen", "--out", key.to_str().expect("utf-8")],
        None,
    );
    let key_id = out
        .lines()
        .find_map(|l| l.strip_prefix("keyId: "))
        .expect("keygen prints the key id")
        .to_string();
    let policy = dir.write(
        "trust.json",
        &json!({"trustedPublishers": [{"id": "acme", "keyIds": [key_id],
                 "provenancePrefixes": ["https://git.example/acme"]}]}),
    );
    (key, policy)
}

fn sign(dir: &Dir, outputs: &mut Vec<String>, file: &Path, key: &Path) {
    dir.ok(
        outputs,
        &[
            "provider",
            "sign",
            "-f",
            file.to_str().expect("utf-8"),
            "--key",
            key.to_str().expect("utf-8"),
            "--publisher",
            "acme",
            "--provenance",
            "https://git.example/acme/tools@v1",
            "--valid-for",
            "24h",
        ],
        None,
    );
}

// ------------------------------------------------------------------------------------------
// A real server.
// ------------------------------------------------------------------------------------------

struct Server {
    child: Child,
    url: String,
    out: PathBuf,
    err: PathBuf,
    copier: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// `planspec server --dev` on `data/planspec.db` with the trust policy and secrets.
    fn start(dir: &Dir, trust_policy: &Path) -> Server {
        let out = dir.work("server.stdout");
        let err = dir.work("server.stderr");
        let mut child = Command::new(BIN)
            .args(["server", "--dev", "--listen", "127.0.0.1:0", "--store"])
            .arg(format!(
                "sqlite:{}",
                dir.root.join("data/planspec.db").display()
            ))
            .arg("--trust-policy")
            .arg(trust_policy)
            .arg("--secrets-dir")
            .arg(dir.root.join("secrets"))
            .env("PLANSPEC_SECRET_TOKEN", ENV_SECRET)
            .env("NO_COLOR", "1")
            .current_dir(dir.root.join("work"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(&err).expect("stderr file"),
            ))
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
        let out_path = out.clone();
        let first = line.clone();
        let copier = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            let _ = std::fs::write(out_path, format!("{first}{rest}"));
        });
        Server {
            child,
            url: format!("http://{addr}"),
            out,
            err,
            copier: Some(copier),
        }
    }

    /// Stops the server and returns everything it printed.
    fn stop(mut self) -> String {
        // SIGTERM: a graceful shutdown that closes stdout, so the copier ends.
        sigterm(self.child.id());
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(c) = self.copier.take() {
            let _ = c.join();
        }
        format!(
            "{}\n{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM through `kill(1)`, so the test needs no libc.
fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

fn wait_for(
    dir: &Dir,
    outputs: &mut Vec<String>,
    url: &str,
    kind: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let output = dir.cli(outputs, &["get", kind, name, "-o", "json"], Some(url));
        let value: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        if check(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{kind}/{name}: {what} not reached in {WAIT:?}: {value:#}"
        );
        std::thread::sleep(POLL);
    }
}

fn finished(dir: &Dir, outputs: &mut Vec<String>, url: &str, name: &str) -> Value {
    wait_for(dir, outputs, url, "execution", name, "finished", |e| {
        matches!(
            e["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed" | "Cancelled")
        )
    })
}

// ------------------------------------------------------------------------------------------
// Tests.
// ------------------------------------------------------------------------------------------

/// keygen → sign → verify (with and without a trust policy); a tampered field, a changed spec
/// and an untrusted publisher each fail with their code and exit 1.
#[test]
fn sign_and_verify_offline() {
    let dir = Dir::new();
    let mut outputs = Vec::new();
    let (key, trust) = trusted_key(&dir, &mut outputs);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key).expect("key file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the private key file is private");
    // keygen never overwrites.
    let again = dir.cli(
        &mut outputs,
        &["provider", "keygen", "--out", key.to_str().expect("utf-8")],
        None,
    );
    assert!(!again.status.success());

    let yaml = dir.work("deploy.yaml");
    std::fs::write(
        &yaml,
        "apiVersion: planspec.io/v1alpha1\nkind: Provider\nmetadata:\n  name: deploy\nspec:\n  \
         type: exec\n  risk: medium\n  exec:\n    command: [\"/bin/echo\", \"deploying\"]\n",
    )
    .expect("write");
    let unsigned = dir.cli(
        &mut outputs,
        &["provider", "verify", "-f", yaml.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(unsigned.status.code(), Some(1), "{}", show(&unsigned));
    assert!(text(&unsigned.stdout).contains("SIGNATURE_MISSING"));

    sign(&dir, &mut outputs, &yaml, &key);
    let signed = std::fs::read_to_string(&yaml).expect("read");
    assert!(
        signed.contains("signature:") && signed.contains("ed25519"),
        "{signed}"
    );
    let y = yaml.to_str().expect("utf-8");
    let t = trust.to_str().expect("utf-8");
    dir.ok(&mut outputs, &["provider", "verify", "-f", y], None);
    let out = dir.ok(
        &mut outputs,
        &["provider", "verify", "-f", y, "--trust-policy", t],
        None,
    );
    assert!(out.contains("provider/deploy: verified"), "{out}");

    let verify_code = |dir: &Dir, outputs: &mut Vec<String>, file: &Path, policy: &Path| {
        let output = dir.cli(
            outputs,
            &[
                "provider",
                "verify",
                "-f",
                file.to_str().expect("utf-8"),
                "--trust-policy",
                policy.to_str().expect("utf-8"),
                "-o",
                "json",
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(1), "{}", show(&output));
        let report: Value = serde_json::from_slice(&output.stdout).expect("json report");
        report["issues"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["code"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };

    // A signed manifest field changed: the signature no longer verifies.
    let tampered = dir.work("tampered.yaml");
    std::fs::write(
        &tampered,
        signed.replace(
            "https://git.example/acme/tools@v1",
            "https://git.example/acme/evil@v9",
        ),
    )
    .expect("write");
    assert_eq!(
        verify_code(&dir, &mut outputs, &tampered, &trust),
        ["SIGNATURE_INVALID"]
    );

    // The implementation changed after signing.
    let changed = dir.work("changed.yaml");
    std::fs::write(&changed, signed.replace("deploying", "rm -rf")).expect("write");
    assert_eq!(
        verify_code(&dir, &mut outputs, &changed, &trust),
        ["ARTIFACT_DIGEST_MISMATCH"]
    );

    // Another publisher's trust policy.
    let other = dir.write(
        "other-trust.json",
        &json!({"trustedPublishers": [{"id": "globex", "publicKeys": ["AAAA"]}]}),
    );
    assert_eq!(
        verify_code(&dir, &mut outputs, &yaml, &other),
        ["PUBLISHER_UNTRUSTED"]
    );
}

/// A signed Provider runs end to end through a real server; an unsigned one fails its
/// Execution with `provider_untrusted` until a Policy allows unverified Providers.
#[test]
fn provider_backed_nodes_and_trust_at_start() {
    let dir = Dir::new();
    let mut outputs = Vec::new();
    let (key, trust) = trusted_key(&dir, &mut outputs);
    let marker = dir.work("ran.txt");
    let signed = dir.write(
        "signed.json",
        &exec_provider(
            "signed",
            &format!(
                "echo \"$GREETING\" >> {}; echo '{{\"said\":\"hello\"}}'",
                marker.display()
            ),
            json!({"GREETING": "hello from a signed provider"}),
        ),
    );
    sign(&dir, &mut outputs, &signed, &key);
    dir.write(
        "unsigned.json",
        &exec_provider("unsigned", "echo '{}'", json!({})),
    );
    dir.write(
        "plan.json",
        &plan("p", json!([{"id": "work", "kind": "Task"}])),
    );
    dir.write(
        "b-signed.json",
        &doc(
            "Binding",
            "b-signed",
            json!({"rules": [node_rule("p", "work", "provider://signed", None)]}),
        ),
    );
    dir.write(
        "b-unsigned.json",
        &doc(
            "Binding",
            "b-unsigned",
            json!({"rules": [node_rule("p", "work", "provider://unsigned", None)]}),
        ),
    );
    let server = Server::start(&dir, &trust);
    let url = server.url.clone();
    let work = dir.root.join("work");
    for f in [
        "signed.json",
        "unsigned.json",
        "plan.json",
        "b-signed.json",
        "b-unsigned.json",
    ] {
        dir.ok(
            &mut outputs,
            &["apply", "-f", work.join(f).to_str().expect("utf-8")],
            Some(&url),
        );
    }

    // The controller records the verdicts.
    let p = wait_for(
        &dir,
        &mut outputs,
        &url,
        "provider",
        "signed",
        "verified",
        |p| p["status"]["verified"] == json!(true),
    );
    assert!(p["status"]["manifestDigest"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:")));
    let u = wait_for(
        &dir,
        &mut outputs,
        &url,
        "provider",
        "unsigned",
        "status",
        |p| p["status"]["verified"] == json!(false),
    );
    assert_eq!(
        u["status"]["issues"][0]["code"], "SIGNATURE_MISSING",
        "{u:#}"
    );

    // Signed: runs, and the pinned record names the Provider.
    dir.write("e-signed.json", &execution("e-signed", "p", "b-signed"));
    dir.ok(
        &mut outputs,
        &[
            "apply",
            "-f",
            work.join("e-signed.json").to_str().expect("utf-8"),
        ],
        Some(&url),
    );
    let e = finished(&dir, &mut outputs, &url, "e-signed");
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    assert_eq!(
        std::fs::read_to_string(&marker)
            .expect("the provider ran")
            .trim(),
        "hello from a signed provider"
    );

    // Unsigned, no allowance: fails at start, naming the node, the Provider and the issue.
    dir.write(
        "e-unsigned.json",
        &execution("e-unsigned", "p", "b-unsigned"),
    );
    dir.ok(
        &mut outputs,
        &[
            "apply",
            "-f",
            work.join("e-unsigned.json").to_str().expect("utf-8"),
        ],
        Some(&url),
    );
    let e = finished(&dir, &mut outputs, &url, "e-unsigned");
    assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
    assert_eq!(e["status"]["reason"], "provider_untrusted", "{e:#}");
    let message = e["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("work")
            && message.contains("unsigned")
            && message.contains("SIGNATURE_MISSING"),
        "{message}"
    );

    // A Policy allows unverified Providers: the same plan runs.
    dir.write(
        "allow.json",
        &doc(
            "Policy",
            "allow-unverified",
            json!({"allowUnverifiedProviders": true}),
        ),
    );
    dir.ok(
        &mut outputs,
        &[
            "apply",
            "-f",
            work.join("allow.json").to_str().expect("utf-8"),
        ],
        Some(&url),
    );
    dir.write("e-allowed.json", &execution("e-allowed", "p", "b-unsigned"));
    dir.ok(
        &mut outputs,
        &[
            "apply",
            "-f",
            work.join("e-allowed.json").to_str().expect("utf-8"),
        ],
        Some(&url),
    );
    let e = finished(&dir, &mut outputs, &url, "e-allowed");
    assert_eq!(e["status"]["phase"], "Succeeded", "{e:#}");
    server.stop();
}

/// Secrets from a file and from the environment, echoed to stdout, stderr, outputs and an
/// error message, appear nowhere: not in API responses, CLI output, server output, nor any
/// file of the data directory — while `[REDACTED]` shows where they were.
#[test]
fn secrets_never_leak() {
    let dir = Dir::new();
    let mut outputs = Vec::new();
    std::fs::write(dir.root.join("secrets/token"), format!("{FILE_SECRET}\n")).expect("secret");
    let (key, trust) = trusted_key(&dir, &mut outputs);
    // Node `leak` (a signed Provider, env from secrets) prints both secrets everywhere and
    // succeeds; node `fail` (a Binding's own exec target with a secret env) prints them and
    // fails, so they reach the error message.
    let provider = dir.write(
        "leaky.json",
        &exec_provider(
            "leaky",
            "echo \"stdout $FILE_SECRET $ENV_SECRET\"; echo \"stderr $FILE_SECRET\" >&2; \
             printf '{\"file\":\"%s\",\"env\":\"%s\",\"%s\":1}' \"$FILE_SECRET\" \"$ENV_SECRET\" \
             \"$ENV_SECRET\" > \"$PLANSPEC_OUTPUTS\"",
            json!({"FILE_SECRET": {"secretFile": "token"},
                   "ENV_SECRET": {"secretEnv": "PLANSPEC_SECRET_TOKEN"}}),
        ),
    );
    sign(&dir, &mut outputs, &provider, &key);
    dir.write(
        "plan.json",
        &plan(
            "s",
            json!([{"id": "leak", "kind": "Task"},
                   {"id": "fail", "kind": "Task", "dependsOn": ["leak"]},
                   {"id": "inherit", "kind": "Task"}]),
        ),
    );
    dir.write(
        "binding.json",
        &doc(
            "Binding",
            "b",
            json!({"rules": [
                node_rule("s", "leak", "provider://leaky", None),
                node_rule("s", "fail", "exec://fail", Some(json!({
                    "command": ["sh", "-c", "echo \"failing with $S\"; echo \"bad $S\" >&2; exit 3"],
                    "env": {"S": {"secretEnv": "PLANSPEC_SECRET_TOKEN"}}
                }))),
                // No secret configured: the server's PLANSPEC_SECRET_* must not be inherited.
                node_rule("s", "inherit", "exec://inherit", Some(json!({
                    "command": ["sh", "-c", "env; echo \"{\\\"inherited\\\":\\\"${PLANSPEC_SECRET_TOKEN:-absent}\\\"}\""]
                }))),
            ]}),
        ),
    );
    dir.write("exec.json", &execution("e1", "s", "b"));
    let server = Server::start(&dir, &trust);
    let url = server.url.clone();
    let work = dir.root.join("work");
    for f in ["leaky.json", "plan.json", "binding.json", "exec.json"] {
        dir.ok(
            &mut outputs,
            &["apply", "-f", work.join(f).to_str().expect("utf-8")],
            Some(&url),
        );
    }
    let e = finished(&dir, &mut outputs, &url, "e1");
    assert_eq!(e["status"]["phase"], "Failed", "{e:#}");
    let leak = &e["status"]["nodeStatuses"]["leak"];
    assert_eq!(leak["phase"], "Succeeded", "{e:#}");
    let fail = &e["status"]["nodeStatuses"]["fail"];
    assert_eq!(fail["phase"], "Failed", "{e:#}");
    let inherit = &e["status"]["nodeStatuses"]["inherit"];
    assert_eq!(inherit["phase"], "Succeeded", "{e:#}");

    // Where the secrets were, `[REDACTED]` is.
    let logs = dir.ok(
        &mut outputs,
        &["logs", "execution/e1", "--node", "leak"],
        Some(&url),
    );
    assert!(logs.contains("stdout [REDACTED] [REDACTED]"), "{logs}");
    assert!(logs.contains("stderr [REDACTED]"), "{logs}");
    let fail_logs = dir.ok(
        &mut outputs,
        &["logs", "execution/e1", "--node", "fail"],
        Some(&url),
    );
    assert!(fail_logs.contains("bad [REDACTED]"), "{fail_logs}");
    let inherit_logs = dir.ok(
        &mut outputs,
        &["logs", "execution/e1", "--node", "inherit"],
        Some(&url),
    );
    assert!(
        inherit_logs.contains(r#"{"inherited":"absent"}"#),
        "{inherit_logs}"
    );
    let described = dir.ok(&mut outputs, &["describe", "execution", "e1"], Some(&url));
    let everything = format!("{e}");
    assert!(
        everything.contains("[REDACTED]") || described.contains("[REDACTED]"),
        "{e:#}"
    );
    assert!(
        fail["message"]
            .as_str()
            .unwrap_or_default()
            .contains("[REDACTED]"),
        "the error message quotes stderr, redacted: {fail:#}"
    );

    // Every other way to read it.
    for args in [
        vec!["get", "execution", "e1", "-o", "yaml"],
        vec!["get", "executions", "-o", "wide"],
        vec!["get", "provider", "leaky", "-o", "yaml"],
        vec!["get", "binding", "b", "-o", "json"],
        vec!["trace", "execution/e1"],
        vec!["trace", "execution/e1", "-o", "json"],
        vec!["describe", "provider", "leaky"],
        vec!["logs", "execution/e1"],
    ] {
        dir.cli(&mut outputs, &args, Some(&url));
    }
    for path in [
        format!("{url}/apis/planspec.io/v1alpha1/namespaces/default/executions/e1/journal"),
        format!("{url}/apis/planspec.io/v1alpha1/namespaces/default/executions/e1/nodes"),
        format!("{url}/apis/planspec.io/v1alpha1/namespaces/default/executions/e1"),
    ] {
        outputs.push(http_get(&path));
    }
    let printed = server.stop();

    let mut leaks = Vec::new();
    for secret in [FILE_SECRET, ENV_SECRET] {
        for (i, out) in outputs.iter().enumerate() {
            if out.contains(secret) {
                leaks.push(format!("CLI/API output #{i} contains {secret}:\n{out}"));
            }
        }
        if printed.contains(secret) {
            leaks.push(format!("the server's stdout/stderr contain {secret}"));
        }
        for file in files_under(&dir.root.join("data")) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                leaks.push(format!("{} contains {secret}", file.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

/// A GET with curl-free std networking (plain HTTP/1.1 on loopback).
fn http_get(url: &str) -> String {
    use std::io::Write as _;
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(WAIT));
    let _ = write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    let mut body = Vec::new();
    let _ = stream.read_to_end(&mut body);
    let body = text(&body);
    assert!(body.starts_with("HTTP/1.1 200"), "GET {url}: {body}");
    body
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(current) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "the data directory holds files");
    files
}
