//! The real `kubectl` against a running server: the test of Kubernetes compatibility.
//!
//! Needs `kubectl` on the PATH (or `KUBECTL=/path/to/kubectl`); `.ci/run` installs it on a
//! machine that lacks it. Every kubectl call has a timeout, so a hang fails the test instead of
//! stalling the suite.

mod common;

use common::TestServer;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A server whose watches get a heartbeat every 200 ms, so the tests show kubectl reads
/// through them.
async fn start() -> TestServer {
    TestServer::start_with(
        planspec_server::api::ApiOptions::default(),
        planspec_server::http::ServerConfig {
            watch_heartbeat: Duration::from_millis(200),
            ..planspec_server::http::ServerConfig::default()
        },
    )
    .await
}

fn kubectl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return PathBuf::from(path);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = dir.join("kubectl");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("kubectl is required for this test: install it (e.g. /usr/bin/kubectl) or set KUBECTL");
}

/// kubectl pointed at one server, with its own kubeconfig and cache.
struct Kubectl {
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(server: &TestServer) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: planspec\n  cluster:\n    server: {}\ncontexts:\n- name: planspec\n  context:\n    cluster: planspec\n    user: me\n    namespace: default\ncurrent-context: planspec\nusers:\n- name: me\n  user: {{}}\n",
            server.url()
        );
        std::fs::write(dir.path().join("kubeconfig"), config).unwrap();
        Kubectl {
            binary: kubectl_binary(),
            dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs kubectl (at most 60 s) and returns its output.
    fn run(&self, args: &[&str]) -> Output {
        let child = self.command(args).spawn().expect("kubectl starts");
        wait_with_timeout(child, Duration::from_secs(60))
    }

    /// Runs kubectl and returns stdout; panics (showing stderr) if it fails.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kubectl did not finish within {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most 30 s) until `n` watches are open on the server: kubectl has listed and
/// started watching, so what happens next reaches it as a watch event.
fn wait_for_watch(api: &planspec_server::api::Api, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.open_watches() < n {
        assert!(
            Instant::now() < deadline,
            "kubectl did not start watching within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn plan_yaml(name: &str, description: &str, team: &str) -> String {
    format!(
        "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: {name}\n  labels:\n    team: {team}\nspec:\n  description: {description}\n  graph:\n    nodes:\n      - id: build\n        kind: Task\n      - id: test\n        kind: Task\n        dependsOn: [build]\n"
    )
}

/// Runs blocking kubectl work off the async runtime that serves the requests.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_api_resources() {
    let server = start().await;
    let k = Kubectl::new(&server);
    blocking(move || {
        let out = k.ok(&["api-resources"]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{out}");
        for (plural, short, kind) in [
            ("plans", "pl", "Plan"),
            ("goals", "gl", "Goal"),
            ("capabilities", "cap,caps", "Capability"),
            ("bindings", "bd", "Binding"),
            ("executions", "ex,exec", "Execution"),
            ("gates", "gt", "Gate"),
        ] {
            let line = lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(plural))
                .unwrap_or_else(|| panic!("{plural} missing:\n{out}"));
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                cols,
                [plural, short, "planspec.io/v1alpha1", "true", kind],
                "{line}"
            );
        }
        assert!(
            out.contains("namespaces") && out.contains("Namespace"),
            "{out}"
        );
        let out = k.ok(&["api-resources", "--api-group=planspec.io", "-o", "name"]);
        assert!(out.lines().any(|l| l == "plans.planspec.io"), "{out}");
        let out = k.ok(&["api-versions"]);
        assert!(out.lines().any(|l| l == "planspec.io/v1alpha1"), "{out}");
        let out = k.ok(&["get", "--raw", "/version"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert!(v["gitVersion"].as_str().unwrap().starts_with('v'));
        let out = k.ok(&["get", "namespaces"]);
        assert!(
            out.lines()
                .any(|l| l.starts_with("default") && l.contains("Active")),
            "{out}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_apply_watch_delete() {
    let server = start().await;
    let k = Kubectl::new(&server);
    let api = server.api.clone();
    blocking(move || {
        let out = k.run(&["get", "plans"]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("No resources found"));

        // apply: create.
        let file = k.file("release.yaml", &plan_yaml("release", "Build and test", "a"));
        let out = k.ok(&["apply", "-f", &file]);
        assert_eq!(out.trim(), "plan.planspec.io/release created");

        // get: the server's table columns.
        let out = k.ok(&["get", "plans"]);
        let mut lines = out.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAME", "PHASE", "NODES", "SERIES", "VERSION", "GOAL", "AGE"]);
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(&row[..3], ["release", "Ready", "2"], "{out}");
        let out = k.ok(&["get", "pl", "-o", "wide"]);
        assert!(out.contains("DESCRIPTION") && out.contains("Build and test"), "{out}");

        // -o yaml / json: the stored object.
        let out = k.ok(&["get", "plans", "-o", "yaml"]);
        assert!(out.contains("kind: Plan") && out.contains("name: release"), "{out}");
        assert!(out.contains("generation: 1") && out.contains("uid: "), "{out}");
        let json: Value = serde_json::from_str(&k.ok(&["get", "plan", "release", "-o", "json"])).unwrap();
        assert_eq!(json["spec"]["description"], "Build and test");
        assert_eq!(json["metadata"]["generation"], 1);

        // Watch in the background while the file changes and is applied again.
        let mut watch = k
            .command(&["get", "plans", "-w", "--request-timeout=30s"])
            .spawn()
            .unwrap();
        wait_for_watch(&api, 1);

        std::fs::write(&file, plan_yaml("release", "Build, test and ship", "a")).unwrap();
        let out = k.ok(&["apply", "-f", &file]);
        assert_eq!(out.trim(), "plan.planspec.io/release configured");
        let out = k.ok(&["apply", "-f", &file]);
        assert_eq!(out.trim(), "plan.planspec.io/release unchanged");
        let json: Value = serde_json::from_str(&k.ok(&["get", "plan", "release", "-o", "json"])).unwrap();
        assert_eq!(json["spec"]["description"], "Build, test and ship");
        assert_eq!(json["metadata"]["generation"], 2);

        // The watch printed the change: the initial row, then the modified one.
        std::thread::sleep(Duration::from_millis(1500));
        let _ = watch.kill();
        let out = watch.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("release")).collect();
        assert!(rows.len() >= 2, "watch output:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));

        // Invalid input: kubectl shows the server's causes.
        let bad = k.file(
            "bad.yaml",
            "apiVersion: planspec.io/v1alpha1\nkind: Plan\nmetadata:\n  name: bad\nspec:\n  description: x\n  graph:\n    nodes:\n      - id: a\n        kind: Tsk\n",
        );
        let out = k.run(&["apply", "-f", &bad]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is invalid") && err.contains("spec.graph.nodes[0].kind"), "{err}");
        // kubectl's strict field validation reaches the server.
        let unknown = k.file("unknown.yaml", &plan_yaml("unknown", "x", "a").replace("spec:\n", "spec:\n  colour: blue\n"));
        let out = k.run(&["apply", "-f", &unknown]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unknown field \\\"spec.colour\\\"") || err.contains("unknown field \"spec.colour\""), "{err}");

        // delete.
        let out = k.ok(&["delete", "plan", "release"]);
        assert_eq!(out.trim(), "plan.planspec.io \"release\" deleted");
        let out = k.run(&["get", "plan", "release"]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("plans.planspec.io \"release\" not found"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_receives_changes_made_elsewhere() {
    let server = start().await;
    let k = Kubectl::new(&server);
    let c = server.client();
    let file = k.file("p.yaml", &plan_yaml("p", "one", "a"));
    let k = std::sync::Arc::new(k);
    let k2 = k.clone();
    blocking(move || k2.ok(&["apply", "-f", &file])).await;

    let k3 = k.clone();
    let watch = blocking(move || {
        k3.command(&["get", "plans", "-w", "--output-watch-events", "-o", "json"])
            .spawn()
            .unwrap()
    })
    .await;
    let api = server.api.clone();
    blocking(move || wait_for_watch(&api, 1)).await;
    c.patch(
        &common::plan_path("default", "p"),
        "application/merge-patch+json",
        &serde_json::json!({"metadata": {"labels": {"changed": "yes"}}}),
    )
    .await
    .expect(200);
    c.delete(&common::plan_path("default", "p"))
        .await
        .expect(200);
    let text = blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut watch = watch;
        let mut out = String::new();
        // Read until the DELETED event shows up or the deadline passes.
        use std::io::Read;
        let mut stdout = watch.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let complete = |out: &str| {
            serde_json::Deserializer::from_str(out)
                .into_iter::<Value>()
                .filter_map(Result::ok)
                .any(|e| e["type"] == "DELETED")
        };
        while Instant::now() < deadline && !complete(&out) {
            if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
                out.push_str(&String::from_utf8_lossy(&chunk));
            }
        }
        let _ = watch.kill();
        let _ = watch.wait();
        out
    })
    .await;
    let events: Vec<(String, String, String)> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|e| {
            let e = e.unwrap_or_else(|err| panic!("{err}: {text}"));
            let o = &e["object"];
            (
                e["type"].as_str().unwrap_or("").to_owned(),
                o["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                o["metadata"]["labels"]["changed"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    let e = |t: &str, changed: &str| (t.to_owned(), "p".to_owned(), changed.to_owned());
    assert_eq!(
        events,
        [e("ADDED", ""), e("MODIFIED", "yes"), e("DELETED", "yes")],
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selectors_namespaces_and_errors() {
    let server = start().await;
    let k = Kubectl::new(&server);
    blocking(move || {
        let mut all = String::new();
        for (name, team) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
            all.push_str(&plan_yaml(name, "x", team));
            all.push_str("---\n");
        }
        all.push_str("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n");
        let file = k.file("all.yaml", &all);
        let out = k.ok(&["apply", "-f", &file]);
        assert!(out.contains("namespace/dev created"), "{out}");

        // Namespaces the typed way (kubectl sends protobuf) and re-applied with a label
        // (kubectl sends a strategic merge patch for core types).
        assert_eq!(
            k.ok(&["create", "namespace", "ops"]).trim(),
            "namespace/ops created"
        );
        k.ok(&["label", "namespace", "ops", "env=prod"]);
        let labelled = k.file(
            "dev-ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n  labels:\n    tier: test\n",
        );
        assert_eq!(
            k.ok(&["apply", "-f", &labelled]).trim(),
            "namespace/dev configured"
        );
        let out = k.ok(&["get", "namespaces", "-l", "env=prod,!tier", "-o", "name"]);
        assert_eq!(out.trim(), "namespace/ops");
        let out = k.ok(&["get", "namespaces", "-l", "tier=test", "-o", "name"]);
        assert_eq!(out.trim(), "namespace/dev");
        k.ok(&["delete", "namespace", "ops"]);

        let names = |out: String| -> Vec<String> { out.lines().map(str::to_owned).collect() };
        assert_eq!(
            names(k.ok(&["get", "plans", "-l", "team=a", "-o", "name"])),
            ["plan.planspec.io/a1", "plan.planspec.io/a2"]
        );
        assert_eq!(
            names(k.ok(&["get", "plans", "-l", "team!=a", "-o", "name"])),
            ["plan.planspec.io/b1"]
        );
        assert_eq!(
            names(k.ok(&["get", "plans", "-l", "team in (b,c)", "-o", "name"])),
            ["plan.planspec.io/b1"]
        );
        assert_eq!(
            names(k.ok(&[
                "get",
                "plans",
                "--field-selector",
                "metadata.name=a2",
                "-o",
                "name"
            ])),
            ["plan.planspec.io/a2"]
        );
        let out = k.run(&["get", "plans", "-l", "team=z"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("No resources found"));

        // Namespaces: -n, -A.
        let dev = k.file("dev.yaml", &plan_yaml("d1", "x", "a"));
        k.ok(&["apply", "-n", "dev", "-f", &dev]);
        let out = k.ok(&["get", "plans", "-A", "-l", "team=a"]);
        let rows: Vec<Vec<&str>> = out
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().take(2).collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["default", "a1"],
                vec!["default", "a2"],
                vec!["dev", "d1"]
            ],
            "{out}"
        );
        let out = k.run(&["apply", "-n", "nowhere", "-f", &dev]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("namespaces \"nowhere\" not found"));

        // delete by label, and a namespace with its content.
        let out = k.ok(&["delete", "plans", "-l", "team=a"]);
        assert!(
            out.contains("\"a1\" deleted") && out.contains("\"a2\" deleted"),
            "{out}"
        );
        assert_eq!(
            names(k.ok(&["get", "plans", "-o", "name"])),
            ["plan.planspec.io/b1"]
        );
        k.ok(&["delete", "namespace", "dev"]);
        let out = k.ok(&["get", "plans", "-A", "-o", "name"]);
        assert_eq!(names(out), ["plan.planspec.io/b1"]);

        // kubectl edits through patches: label, annotate, patch.
        k.ok(&["label", "plan", "b1", "reviewed=yes"]);
        k.ok(&["annotate", "plan", "b1", "note=hello"]);
        k.ok(&[
            "patch",
            "plan",
            "b1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"description":"patched"}}"#,
        ]);
        let json: Value =
            serde_json::from_str(&k.ok(&["get", "plan", "b1", "-o", "json"])).unwrap();
        assert_eq!(json["metadata"]["labels"]["reviewed"], "yes");
        assert_eq!(json["metadata"]["annotations"]["note"], "hello");
        assert_eq!(json["spec"]["description"], "patched");
        assert_eq!(json["metadata"]["generation"], 2);
        // kubectl replace (PUT) and the server's 422 through kubectl.
        let out = k.run(&[
            "patch",
            "plan",
            "b1",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/spec/graph/nodes/0/kind","value":"Tsk"}]"#,
        ]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("is invalid"));
        let replaced = k.file("b1.yaml", &plan_yaml("b1", "replaced", "b"));
        k.ok(&["replace", "-f", &replaced]);
        let json: Value =
            serde_json::from_str(&k.ok(&["get", "plan", "b1", "-o", "json"])).unwrap();
        assert_eq!(json["spec"]["description"], "replaced");
        // Dry runs.
        let dry = k.file("dry.yaml", &plan_yaml("dry", "x", "a"));
        let out = k.ok(&["apply", "--dry-run=server", "-f", &dry]);
        assert!(out.contains("created (server dry run)"), "{out}");
        assert!(!k.run(&["get", "plan", "dry"]).status.success());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply() {
    let server = start().await;
    let k = Kubectl::new(&server);
    blocking(move || {
        let managers = |k: &Kubectl, name: &str| -> Vec<(String, String)> {
            let json: Value = serde_json::from_str(&k.ok(&[
                "get",
                "plan",
                name,
                "-o",
                "json",
                "--show-managed-fields",
            ]))
            .unwrap();
            json["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap().to_owned(),
                        e["operation"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        let description = |k: &Kubectl, name: &str| -> String {
            k.ok(&["get", "plan", name, "-o", "jsonpath={.spec.description}"])
        };

        // Create, then change.
        let file = k.file("ssa.yaml", &plan_yaml("ssa", "first", "a"));
        let out = k.ok(&["apply", "--server-side", "-f", &file]);
        assert_eq!(out.trim(), "plan.planspec.io/ssa serverside-applied");
        assert_eq!(managers(&k, "ssa"), [("kubectl".into(), "Apply".into())]);
        std::fs::write(&file, plan_yaml("ssa", "second", "a")).unwrap();
        k.ok(&["apply", "--server-side", "-f", &file]);
        assert_eq!(description(&k, "ssa"), "second");

        // Another manager with another value: a conflict naming the field and the owner.
        let other = k.file("other.yaml", &plan_yaml("ssa", "theirs", "a"));
        let out = k.run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            &other,
        ]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.description"
            ),
            "{err}"
        );
        assert!(err.contains("--force-conflicts"), "{err}");
        assert_eq!(description(&k, "ssa"), "second");

        // --force-conflicts moves the field; both managers remain (kubectl still owns the rest).
        k.ok(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            &other,
        ]);
        assert_eq!(description(&k, "ssa"), "theirs");
        let mut m = managers(&k, "ssa");
        m.sort();
        assert_eq!(
            m,
            [
                ("kubectl".into(), "Apply".into()),
                ("other".into(), "Apply".into())
            ]
        );
        // Now kubectl's own apply of its old value conflicts with `other`.
        let out = k.run(&["apply", "--server-side", "-f", &file]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("conflict with \"other\""));

        // Namespaces too.
        let ns = k.file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ssa-ns\n  labels:\n    tier: test\n");
        let out = k.ok(&["apply", "--server-side", "-f", &ns]);
        assert_eq!(out.trim(), "namespace/ssa-ns serverside-applied");
        let out = k.ok(&["get", "namespaces", "-l", "tier=test", "-o", "name"]);
        assert_eq!(out.trim(), "namespace/ssa-ns");

        // Server-side dry run stores nothing.
        let dry = k.file("dry.yaml", &plan_yaml("dry", "x", "a"));
        let out = k.ok(&["apply", "--server-side", "--dry-run=server", "-f", &dry]);
        assert!(out.contains("serverside-applied (server dry run)"), "{out}");
        assert!(!k.run(&["get", "plan", "dry"]).status.success());

        // An object made by client-side apply moves to server-side apply without a conflict:
        // kubectl rewrites its managed fields first.
        let csa = k.file("csa.yaml", &plan_yaml("csa", "one", "a"));
        k.ok(&["apply", "-f", &csa]);
        assert_eq!(
            managers(&k, "csa"),
            [("kubectl-client-side-apply".into(), "Update".into())]
        );
        std::fs::write(&csa, plan_yaml("csa", "two", "a")).unwrap();
        k.ok(&["apply", "--server-side", "-f", &csa]);
        assert_eq!(description(&k, "csa"), "two");
        assert!(managers(&k, "csa").contains(&("kubectl".into(), "Apply".into())));
    })
    .await;
}

/// Reads kubectl's `--output-watch-events -o json` until `done` holds for the events read
/// (at most 20 s), then stops kubectl.
fn watch_events(mut watch: std::process::Child, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    use std::io::Read;
    let mut stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let parse = |text: &str| -> Vec<Value> {
        serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .filter_map(Result::ok)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while Instant::now() < deadline && !done(&parse(&text)) {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    parse(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_with_a_label_selector() {
    let server = start().await;
    let k = std::sync::Arc::new(Kubectl::new(&server));
    let c = server.client();
    let k2 = k.clone();
    blocking(move || {
        let a = k2.file("a.yaml", &plan_yaml("a", "x", "a"));
        let b = k2.file("b.yaml", &plan_yaml("b", "x", "b"));
        k2.ok(&["apply", "-f", &a, "-f", &b]);
    })
    .await;
    let k3 = k.clone();
    let watch = blocking(move || {
        k3.command(&[
            "get",
            "plans",
            "-w",
            "-l",
            "team=a",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .spawn()
        .unwrap()
    })
    .await;
    let api = server.api.clone();
    blocking(move || wait_for_watch(&api, 1)).await;
    // kubectl listed, then watches from the list's resourceVersion: b starting to match is
    // ADDED, a leaving the selection is DELETED with the labels it had.
    let relabel = |team: &str| serde_json::json!({"metadata": {"labels": {"team": team}}});
    c.patch(
        &common::plan_path("default", "b"),
        "application/merge-patch+json",
        &relabel("a"),
    )
    .await
    .expect(200);
    c.patch(
        &common::plan_path("default", "a"),
        "application/merge-patch+json",
        &relabel("b"),
    )
    .await
    .expect(200);
    let events = blocking(move || {
        watch_events(watch, |events| {
            events.iter().any(|e| e["type"] == "DELETED")
        })
    })
    .await;
    let got: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_owned(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                e["object"]["metadata"]["labels"]["team"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    let e = |t: &str, n: &str, team: &str| (t.to_owned(), n.to_owned(), team.to_owned());
    assert_eq!(
        got,
        [
            e("ADDED", "a", "a"),
            e("ADDED", "b", "a"),
            e("DELETED", "a", "a")
        ]
    );
}
