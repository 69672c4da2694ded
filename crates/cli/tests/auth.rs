//! Authentication end to end, through real processes: `planspec server` bootstrapping its
//! admin on first start (token file, `admin.token` mode 0600, the path printed and never the
//! token), 401 without a token, `planspec auth whoami|can-i` with `--token`, stock `kubectl`
//! with `--token` (`get`, `auth can-i`, `auth whoami`), and dev mode refused off loopback.

mod common;

use common::text;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_planspec");

/// A `planspec server` process with tokens (no `--dev`), killed when dropped.
struct Server {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    let stderr = dir.join("server.err");
    let mut child = Command::new(BIN)
        .args(["server", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!(
            "sqlite:{}",
            dir.join("data").join("planspec.db").display()
        ))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("the planspec binary starts");
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            panic!(
                "no address in {line:?}; stderr: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
    Server { child, url, stderr }
}

fn planspec(server: &Server, args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("PLANSPEC_SERVER", &server.url)
        .env("NO_COLOR", "1")
        .env_remove("PLANSPEC_TOKEN")
        .env_remove("PLANSPEC_NAMESPACE")
        .env_remove("PLANSPEC_CONTEXT")
        .env("HOME", server.stderr.parent().unwrap())
        .env(
            "XDG_CONFIG_HOME",
            server.stderr.parent().unwrap().join("config"),
        )
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command.output().expect("planspec runs")
}

fn http(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut request = ureq::request(method, &format!("{}{path}", server.url));
    if let Some(t) = token {
        request = request.set("Authorization", &format!("Bearer {t}"));
    }
    let result = match body {
        Some(b) => request
            .set("Content-Type", "application/json")
            .send_string(b),
        None => request.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

#[test]
fn first_start_bootstraps_an_admin_and_tokens_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let data = dir.path().join("data");
    let admin_token = data.join("admin.token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&admin_token)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "admin.token must be readable by its owner only"
        );
    }
    let token = std::fs::read_to_string(&admin_token)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.starts_with("pst_") && token.len() == 68, "{token}");
    // The path is printed, the token never; the token file holds only its hash.
    let log = std::fs::read_to_string(&server.stderr).unwrap();
    assert!(log.contains(&admin_token.display().to_string()), "{log}");
    assert!(!log.contains(&token));
    let tokens = std::fs::read_to_string(data.join("tokens.yaml")).unwrap();
    assert!(!tokens.contains(&token));
    assert!(tokens.contains("sha256:"));

    let (code, body) = http(
        &server,
        "GET",
        "/apis/planspec.io/v1alpha1/namespaces/default/plans",
        None,
        None,
    );
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
    assert_eq!(http(&server, "GET", "/healthz", None, None).0, 200);
    let (code, _) = http(
        &server,
        "GET",
        "/apis/planspec.io/v1alpha1/namespaces/default/plans",
        Some(&token),
        None,
    );
    assert_eq!(code, 200);

    // The CLI without a token: the 401 reads like kubectl's.
    let out = planspec(&server, &["get", "plans"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out.stderr)
    );

    let out = planspec(&server, &["auth", "whoami"], Some(&token));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let who = text(&out.stdout);
    assert!(who.contains("Username    admin"), "{who}");
    assert!(who.contains("system:masters"), "{who}");

    let out = planspec(
        &server,
        &["auth", "can-i", "delete", "clusterroles"],
        Some(&token),
    );
    assert_eq!(text(&out.stdout), "yes\n");
    assert_eq!(out.status.code(), Some(0));

    // A second start keeps the file and the token.
    drop(server);
    let again = start(dir.path(), &[]);
    assert_eq!(std::fs::read_to_string(&admin_token).unwrap().trim(), token);
    assert_eq!(http(&again, "GET", "/apis", Some(&token), None).0, 200);
}

#[test]
fn auth_can_i_answers_for_roles_and_exits_like_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let hash = |t: &str| planspec_server::auth::token_file::hash_token(t);
    std::fs::write(
        data.join("tokens.yaml"),
        format!(
            "users:\n  - name: root\n    groups: [\"system:masters\"]\n    tokenHashes: [\"{}\"]\n  - name: bob\n    tokenHashes: [\"{}\"]\n",
            hash("root-token"),
            hash("bob-token")
        ),
    )
    .unwrap();
    let server = start(dir.path(), &[]);
    assert!(
        !data.join("admin.token").exists(),
        "an existing token file is not bootstrapped"
    );
    let ask = |args: &[&str]| planspec(&server, args, Some("bob-token"));
    let out = ask(&["auth", "can-i", "cancel", "executions"]);
    assert_eq!(
        (text(&out.stdout).as_str(), out.status.code()),
        ("no\n", Some(1))
    );
    let binding = r#"{"apiVersion":"planspec.io/v1alpha1","kind":"RoleBinding","metadata":{"name":"bob-exec"},"subjects":[{"kind":"User","name":"bob"}],"roleRef":{"kind":"ClusterRole","name":"executor"}}"#;
    let (code, body) = http(
        &server,
        "POST",
        "/apis/planspec.io/v1alpha1/namespaces/default/rolebindings",
        Some("root-token"),
        Some(binding),
    );
    assert_eq!(code, 201, "{body}");
    for (verb, resource) in [
        ("cancel", "executions"),
        ("create", "executions"),
        ("execute", "plans/release"),
        ("get", "executions/x"),
    ] {
        let out = ask(&["auth", "can-i", verb, resource]);
        assert_eq!(
            text(&out.stdout),
            "yes\n",
            "{verb} {resource}: {}",
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0));
    }
    for args in [
        &["auth", "can-i", "approve", "gates"][..],
        &["auth", "can-i", "cancel", "executions", "-n", "prod"],
        &["auth", "can-i", "cancel", "executions", "-A"],
        &["auth", "can-i", "create", "plans"],
    ] {
        let out = ask(args);
        assert_eq!(text(&out.stdout), "no\n", "{args:?}");
        assert_eq!(out.status.code(), Some(1));
    }
    let quiet = ask(&["auth", "can-i", "cancel", "executions", "-q"]);
    assert_eq!(
        (text(&quiet.stdout).as_str(), quiet.status.code()),
        ("", Some(0))
    );
    let unknown = ask(&["auth", "can-i", "get", "pods"]);
    assert_eq!(unknown.status.code(), Some(2));
    // Acting as someone else needs `impersonate`: bob has not got it.
    let out = ask(&["auth", "whoami", "--as", "root"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot impersonate"),
        "{}",
        text(&out.stderr)
    );
    let out = planspec(
        &server,
        &["auth", "whoami", "--as", "bob"],
        Some("root-token"),
    );
    assert!(
        text(&out.stdout).contains("Username    bob"),
        "{}",
        text(&out.stderr)
    );
}

fn kubectl_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|c| c.is_file())
}

fn kubectl(
    binary: &Path,
    dir: &Path,
    server: &Server,
    token: Option<&str>,
    args: &[&str],
) -> Output {
    let config = dir.join("kubeconfig");
    std::fs::write(
        &config,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: p\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: p\n  context:\n    cluster: p\n    user: u\n    namespace: default\ncurrent-context: p\nusers:\n- name: u\n  user: {{}}\n",
            server.url,
            dir.join("cert.pem").display()
        ),
    )
    .unwrap();
    let mut command = Command::new(binary);
    command
        .arg("--kubeconfig")
        .arg(&config)
        .arg("--cache-dir")
        .arg(dir.join("kube-cache"))
        .args(args)
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        command.arg(format!("--token={t}"));
    }
    let mut child = command.spawn().expect("kubectl starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kubectl {args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A self-signed certificate for 127.0.0.1 (`cert.pem`, `key.pem` in `dir`), by openssl.
fn certificate(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=planspec-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl runs (needed to make the test's certificate)");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Stock kubectl sends its token only over TLS: a server with a certificate and a token
/// file, then `kubectl --token`: 401 without it, reads, a 403, `auth can-i`, `auth whoami`.
#[test]
fn kubectl_with_a_token_over_tls() {
    let Some(binary) = kubectl_binary() else {
        panic!("kubectl is required for this test: install it or set KUBECTL");
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certificate(dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let hash = |t: &str| planspec_server::auth::token_file::hash_token(t);
    std::fs::write(
        data.join("tokens.yaml"),
        format!(
            "users:\n  - name: root\n    groups: [\"system:masters\"]\n    tokenHashes: [\"{}\"]\n  - name: bob\n    tokenHashes: [\"{}\"]\n",
            hash("root-token"),
            hash("bob-token")
        ),
    )
    .unwrap();
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let server = start(
        dir,
        &["--tls-cert-file", &cert, "--tls-private-key-file", &key],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let server = &server;
    std::fs::write(
        dir.join("binding.yaml"),
        "apiVersion: planspec.io/v1alpha1\nkind: RoleBinding\nmetadata:\n  name: bob-exec\n  namespace: default\nsubjects:\n- kind: User\n  name: bob\nroleRef:\n  kind: ClusterRole\n  name: executor\n",
    )
    .unwrap();
    let binding = dir.join("binding.yaml").display().to_string();
    let out = kubectl(
        &binary,
        dir,
        server,
        Some("bob-token"),
        &["apply", "-f", &binding],
    );
    assert!(!out.status.success(), "bob may not bind roles");
    let out = kubectl(
        &binary,
        dir,
        server,
        Some("root-token"),
        &["apply", "-f", &binding],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A wrong token is refused (without any, kubectl would prompt for a password).
    let out = kubectl(
        &binary,
        dir,
        server,
        Some("wrong-token"),
        &["get", "executions"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Unauthorized")
            || text(&out.stderr).contains("provide credentials"),
        "{}",
        text(&out.stderr)
    );
    let out = kubectl(
        &binary,
        dir,
        server,
        Some("bob-token"),
        &["get", "executions"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = kubectl(
        &binary,
        dir,
        server,
        Some("bob-token"),
        &["get", "rolebindings"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Forbidden") || text(&out.stderr).contains("forbidden"),
        "{}",
        text(&out.stderr)
    );
    let out = kubectl(
        &binary,
        dir,
        server,
        Some("bob-token"),
        &["auth", "can-i", "cancel", "executions"],
    );
    assert_eq!(text(&out.stdout).trim(), "yes", "{}", text(&out.stderr));
    assert!(out.status.success());
    let out = kubectl(
        &binary,
        dir,
        server,
        Some("bob-token"),
        &["auth", "can-i", "approve", "gates"],
    );
    assert_eq!(text(&out.stdout).trim(), "no", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(1));
    let out = kubectl(&binary, dir, server, Some("bob-token"), &["auth", "whoami"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("bob"), "{}", text(&out.stdout));
}

#[test]
fn dev_mode_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "server",
            "--dev",
            "--insecure-bind",
            "--listen",
            "0.0.0.0:0",
            "--store",
        ])
        .arg(format!("sqlite:{}", dir.path().join("x.db").display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("dev mode") && err.contains("loopback"),
        "{err}"
    );
    assert!(!dir.path().join("tokens.yaml").exists());
}

#[test]
fn auth_token_makes_a_user_the_server_accepts_once_listed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let data = dir.path().join("data");
    let out = dir.path().join("carol.token");
    let made = planspec(
        &server,
        &[
            "auth",
            "token",
            "carol",
            "--group",
            "release-managers",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    let token = std::fs::read_to_string(&out).unwrap().trim().to_owned();
    assert!(token.starts_with("pst_"), "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let entry = text(&made.stdout);
    assert!(!entry.contains(&token), "only the hash is printed: {entry}");
    // Never overwrites a token file.
    let again = planspec(
        &server,
        &["auth", "token", "carol", "--out", out.to_str().unwrap()],
        None,
    );
    assert!(!again.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), token);
    // Reserved names are refused.
    let reserved = planspec(
        &server,
        &[
            "auth",
            "token",
            "system:x",
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(reserved.status.code(), Some(2));

    // Unknown to the server until the entry is in its token file; then carol is carol.
    let before = planspec(&server, &["auth", "whoami", "-o", "json"], Some(&token));
    assert!(!before.status.success());
    assert!(
        text(&before.stderr).contains("hint: the server wants a token"),
        "{}",
        text(&before.stderr)
    );
    let file = data.join("tokens.yaml");
    let listed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("serviceAccounts:", &format!("{entry}serviceAccounts:"));
    std::fs::write(&file, listed).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let whoami = planspec(&server, &["auth", "whoami", "-o", "json"], Some(&token));
        if whoami.status.success() {
            let me: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
            assert_eq!(me["status"]["userInfo"]["username"], "carol", "{me}");
            assert!(me["status"]["userInfo"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == "release-managers"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token file was not re-read"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
