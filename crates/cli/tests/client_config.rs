//! The client config file end to end, against a real `planspec server` with a token file:
//! `login` (a refused token saves nothing; a good one saves a `0600` file with a current
//! context), `config view|get-contexts|current-context|use-context|set-context|delete-context`,
//! the precedence flags > `--context` > environment > current context > defaults as seen by
//! real client commands, and a broken config file reported with file:line:column.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use planspec_server::auth::token_file::hash_token;

const ADMIN_TOKEN: &str = "pst_admin_0123456789abcdef";
const BOB_TOKEN: &str = "pst_bob_0123456789abcdef";

struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `planspec server` on a fresh store with a token file of two users: `admin` (in
/// `system:masters`) and `bob` (no grants).
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
    let store = format!("sqlite:{}", dir.path().join("planspec.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_planspec"))
        .args(["server", "--listen", "127.0.0.1:0", "--store", &store])
        .arg("--token-file")
        .arg(&tokens)
        .args(["--access-log-level", "off"])
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
        dir,
    }
}

/// `planspec` with a config file of its own and none of the connection variables set.
fn planspec(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planspec"));
    command.env("PLANSPEC_CONFIG", config).env("NO_COLOR", "1");
    for var in [
        "PLANSPEC_SERVER",
        "PLANSPEC_TOKEN",
        "PLANSPEC_NAMESPACE",
        "PLANSPEC_CONTEXT",
    ] {
        command.env_remove(var);
    }
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
    let output: Output = command.stdin(Stdio::null()).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ok(command: &mut Command) -> String {
    let (success, out, err) = run(command);
    assert!(success, "{command:?} failed:\n{out}{err}");
    out
}

fn config_path(server: &Server) -> PathBuf {
    server.dir.path().join("client").join("config.yaml")
}

#[test]
fn login_with_a_bad_token_saves_nothing() {
    let server = start();
    let config = config_path(&server);
    let (success, out, err) =
        run(planspec(&config).args(["login", "--server", &server.url, "--token", "pst_wrong"]));
    assert!(!success, "{out}{err}");
    assert!(
        err.contains("refused the token") && err.contains("nothing was saved"),
        "{err}"
    );
    assert!(!err.contains("pst_wrong"), "the token is not echoed: {err}");
    assert!(!config.exists(), "no config file was written");

    // A server that is not there: nothing saved either.
    let (success, _, err) = run(planspec(&config).args([
        "login",
        "--server",
        "http://127.0.0.1:1",
        "--token",
        ADMIN_TOKEN,
    ]));
    assert!(!success && err.contains("nothing was saved"), "{err}");
    assert!(!config.exists());

    // No token at all against a server that needs one.
    let (success, _, err) = run(planspec(&config).args(["login", "--server", &server.url]));
    assert!(!success && err.contains("requires a token"), "{err}");
    assert!(!config.exists());
}

#[test]
fn login_then_contexts_drive_the_client() {
    let server = start();
    let config = config_path(&server);
    let token_file = server.dir.path().join("admin.token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();

    let out = ok(planspec(&config)
        .args([
            "login",
            "--server",
            &server.url,
            "--context",
            "local",
            "-n",
            "team",
        ])
        .arg("--token-file")
        .arg(&token_file));
    assert!(
        out.contains("as admin") && out.contains("\"local\""),
        "{out}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("current-context: local"), "{text}");
    assert!(
        text.contains("tokenFile:") && !text.contains(ADMIN_TOKEN),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // The current context's server, token and namespace are used: no flags, no environment.
    ok(planspec(&config).args(["create", "namespace", "team"]));
    let out = ok(planspec(&config).args(["get", "plans"]));
    assert!(out.is_empty(), "{out}");
    let (_, _, err) = run(planspec(&config).args(["get", "plans"]));
    assert!(err.contains("team namespace"), "{err}");

    // A second context, for bob, with the token stored in the file.
    ok(planspec(&config).args([
        "config",
        "set-context",
        "bob",
        "--server",
        &server.url,
        "--token",
        BOB_TOKEN,
    ]));
    let contexts = ok(planspec(&config).args(["config", "get-contexts"]));
    assert!(
        contexts
            .lines()
            .any(|l| l.starts_with('*') && l.contains("local")),
        "{contexts}"
    );
    assert!(
        contexts.contains("bob") && contexts.contains("token"),
        "{contexts}"
    );
    let view = ok(planspec(&config).args(["config", "view"]));
    assert!(
        view.contains("REDACTED") && !view.contains(BOB_TOKEN),
        "{view}"
    );
    let view = ok(planspec(&config).args(["config", "view", "-o", "json"]));
    assert!(!view.contains(BOB_TOKEN), "{view}");
    assert_eq!(
        ok(planspec(&config).args(["config", "current-context"])),
        "local\n"
    );

    let whoami = |command: &mut Command, flags: &[&str]| -> String {
        let out = ok(command.args(["auth", "whoami"]).args(flags));
        out.lines()
            .find(|l| l.starts_with("Username"))
            .unwrap_or("")
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned()
    };
    // current context < PLANSPEC_CONTEXT < PLANSPEC_TOKEN < --context < --token
    assert_eq!(whoami(&mut planspec(&config), &[]), "admin");
    assert_eq!(
        whoami(planspec(&config).env("PLANSPEC_CONTEXT", "bob"), &[]),
        "bob"
    );
    assert_eq!(
        whoami(
            planspec(&config)
                .env("PLANSPEC_CONTEXT", "bob")
                .env("PLANSPEC_TOKEN", ADMIN_TOKEN),
            &[]
        ),
        "admin"
    );
    assert_eq!(
        whoami(
            planspec(&config).env("PLANSPEC_TOKEN", ADMIN_TOKEN),
            &["--context", "bob"]
        ),
        "bob",
        "--context is a flag: it outranks the environment"
    );
    assert_eq!(
        whoami(
            &mut planspec(&config),
            &["--context", "bob", "--token", ADMIN_TOKEN]
        ),
        "admin"
    );
    // The environment's server outranks the current context's; --server outranks both.
    let (success, _, err) = run(planspec(&config)
        .env("PLANSPEC_SERVER", "http://127.0.0.1:1")
        .args(["get", "plans"]));
    assert!(!success && err.contains("127.0.0.1:1"), "{err}");
    ok(planspec(&config)
        .env("PLANSPEC_SERVER", "http://127.0.0.1:1")
        .args(["get", "plans", "--server", &server.url]));

    // Bob is refused what admin may do: his token really is the one sent.
    let (success, _, err) =
        run(planspec(&config).args(["get", "plans", "-n", "team", "--context", "bob"]));
    assert!(!success && err.contains("Forbidden"), "{err}");

    // `planspec run --context` runs on that context's server with its token: bob may not.
    let plan = server.dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: p\nspec:\n  description: d\n  graph:\n    nodes:\n      - id: a\n        kind: Task\n",
    )
    .unwrap();
    let (success, out, err) = run(planspec(&config)
        .args(["run", "--no-input", "--context", "bob", "-f"])
        .arg(&plan));
    assert!(
        !success && err.contains("Forbidden") && err.contains("bob"),
        "{out}{err}"
    );
    let (success, _, err) = run(planspec(&config)
        .args(["run", "--no-input", "--context", "nope", "-f"])
        .arg(&plan));
    assert!(
        !success && err.contains("no context named \"nope\""),
        "{err}"
    );

    // Switching and deleting.
    ok(planspec(&config).args(["config", "use-context", "bob"]));
    assert_eq!(whoami(&mut planspec(&config), &[]), "bob");
    let (success, _, err) = run(planspec(&config).args(["config", "use-context", "nope"]));
    assert!(
        !success && err.contains("no context named \"nope\""),
        "{err}"
    );
    ok(planspec(&config).args(["config", "delete-context", "bob"]));
    let contexts = ok(planspec(&config).args(["config", "get-contexts", "-o", "name"]));
    assert_eq!(contexts, "local\n");
    let (success, _, err) = run(planspec(&config).args(["get", "plans", "--context", "bob"]));
    assert!(
        !success && err.contains("no context named \"bob\""),
        "{err}"
    );
}

#[test]
fn a_broken_config_file_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "contexts:\n  - name: a\n    sever: http://x\n").unwrap();
    let (success, _, err) = run(planspec(&config).args(["get", "plans"]));
    assert!(!success, "{err}");
    assert!(
        err.contains(&format!("{}:3:5", config.display())) && err.contains("unknown field `sever`"),
        "{err}"
    );
    let (success, _, err) = run(planspec(&config).args(["config", "view"]));
    assert!(!success && err.contains(":3:5"), "{err}");
}
