//! `planspec run -f FILES`: apply the documents, start an Execution of the Plan, show it live,
//! and exit 0 only if it succeeds.
//!
//! * **Where.** With `--server` (or `PLANSPEC_SERVER`), on that server. Without, on an
//!   embedded control plane — the same store, API, controllers and runtime as
//!   `planspec server`, on a loopback port for the duration of the run — over the SQLite file
//!   `.planspec/planspec.db` in the current directory (`--store sqlite:PATH` to choose), which
//!   keeps the run's journal, logs (`.planspec/planspec.data/`) and history afterwards.
//! * **What.** Every document except Executions is applied (created or updated). The Plan is
//!   the only Plan in the files, or `--plan NAME`. The Execution is new each time
//!   (`<plan>-` plus a random suffix, or `--name`); if the files hold an Execution of that
//!   Plan, its spec (binding, goal, parameters) is the template; `--param NAME=VALUE` adds or
//!   overrides parameters, `--max-parallel N` and `--fail-fast` set `maxParallel` and
//!   `failFast`. Without a `bindingRef`, the namespace's only Binding is used.
//! * **While it runs.** A line per node as it finishes (or starts waiting), and on a terminal
//!   a progress line. A Gate the run reaches is asked about on a terminal (`--yes` approves
//!   without asking, `--no-input` never asks); so is a node that waits for a person. Anyone
//!   else can decide meanwhile with `planspec approve` / `planspec complete` against the
//!   address printed at the start. Ctrl-C cancels gracefully (running nodes finish, nothing
//!   new starts); a second Ctrl-C forces (running nodes are killed).
//! * **After.** A summary: each node's phase, attempts and duration; the exit code is 0 only
//!   if the Execution succeeded.

use clap::Args;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::{ClientArgs, GlobalArgs};
use crate::client::{encode, Client, Target};
use crate::error::{emit, emit_err, usage, Exit, Failure, Outcome};
use crate::term::{styles, Stream, Term};
use planspec_model::Kind;

use super::apply::apply_one;
use super::ops::{execution_path, ActorArgs};
use super::resources::{read_manifests, server_error, Manifest};

/// How often the run is looked at.
const POLL: Duration = Duration::from_millis(150);

/// `planspec run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Files or directories holding the documents (Plan, Binding, Goal, Gate, …).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// A parameter of the run, NAME=VALUE (VALUE is JSON if it parses, else text).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The Plan to run, when the files hold several.
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// The Execution's name [default: PLAN- and a random suffix].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// At most N nodes running at once (the Execution's `maxParallel`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// Start nothing new once a node fails (the Execution's `failFast`); `finally` Tasks
    /// still run.
    #[arg(long)]
    pub fail_fast: bool,
    /// The embedded control plane's store, sqlite:PATH [default: sqlite:.planspec/planspec.db].
    #[arg(long, value_name = "URL", conflicts_with = "server")]
    pub store: Option<String>,
    /// Run on this API server instead of an embedded control plane.
    #[arg(
        long,
        env = "PLANSPEC_SERVER",
        value_name = "URL",
        help_heading = "Connection"
    )]
    pub server: Option<String>,
    /// The namespace to work in [default: default].
    #[arg(
        short = 'n',
        long,
        env = "PLANSPEC_NAMESPACE",
        value_name = "NAMESPACE",
        help_heading = "Connection"
    )]
    pub namespace: Option<String>,
    /// Approve every Gate the run reaches without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Never ask: Gates and people's nodes wait for `planspec approve` / `planspec complete`.
    #[arg(long, conflicts_with = "yes")]
    pub no_input: bool,
    /// Run on the server of this context of the config file, with its token and namespace
    /// (`--server`, `--token` and `-n` still win).
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "store",
        help_heading = "Connection"
    )]
    pub context: Option<String>,
    /// The bearer token for `--server` (the embedded control plane makes its own).
    #[arg(
        long,
        env = "PLANSPEC_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub token: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
}

/// The control plane a run talks to.
enum Plane {
    Remote(String),
    Embedded(super::embedded::Embedded),
}

impl Plane {
    fn url(&self) -> String {
        match self {
            Plane::Remote(u) => u.clone(),
            Plane::Embedded(e) => e.url(),
        }
    }
}

/// `planspec run`.
pub fn run(args: &RunArgs, global: &GlobalArgs) -> Outcome {
    // `--context NAME`: that context's server, token and namespace, below the flags.
    let context = match &args.context {
        Some(name) => crate::client::connection::named_context(name)
            .map_err(|e| Failure::Message(format!("error: {e}")))?,
        None => Default::default(),
    };
    let server = args.server.clone().or(context.server);
    let remote_token = args.token.clone().or(context.token);
    let ns = args
        .namespace
        .clone()
        .or(context.namespace)
        .unwrap_or_else(|| "default".into());
    let params = parameters(&args.params)?;
    // Validate locally before anything starts.
    let client_args = ClientArgs::fixed(
        server
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:0".into()),
        ns.clone(),
    );
    let Some(manifests) = read_manifests(&args.files, args.recursive, &client_args, global, "run")?
    else {
        return Ok(Exit::Invalid);
    };
    let plan = pick_plan(&manifests, args.plan.as_deref())?;
    let term = Term::detect(global, Stream::Stderr);

    let plane = match &server {
        Some(url) => Plane::Remote(url.clone()),
        None => {
            let store = store_path(args.store.as_deref())?;
            let embedded = super::embedded::Embedded::start(&store)?;
            emit_err(&format!(
                "{} embedded control plane at {} (store: sqlite:{})\n",
                term.paint(term.glyph("▶", ">"), styles::accent()),
                embedded.url(),
                store.display()
            ));
            Plane::Embedded(embedded)
        }
    };
    let token = match &plane {
        Plane::Embedded(e) => Some(e.token()),
        Plane::Remote(_) => remote_token.as_deref().map(str::trim),
    };
    let client = Client::new(&plane.url()).with_token(token);
    let client = args.actor.apply(client);

    // The namespaces the documents live in must exist: create the missing ones.
    let namespaces: BTreeSet<&str> = manifests
        .iter()
        .map(|m| m.namespace.as_str())
        .chain(std::iter::once(ns.as_str()))
        .collect();
    for namespace in namespaces {
        let path = format!(
            "{}/{}",
            Target::Namespace.collection(None),
            encode(namespace)
        );
        if let Err(e) = client.get(&path) {
            if e.code() != Some(404) {
                return Err(server_error(e));
            }
            let body =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
            match client.request(
                "POST",
                &Target::Namespace.collection(None),
                "application/json",
                Some(&body),
            ) {
                Ok(_) => emit_err(&format!("namespace/{namespace} created\n")),
                Err(e) if e.code() == Some(409) => {}
                Err(e) => return Err(server_error(e)),
            }
        }
    }

    // Apply everything but Executions.
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for manifest in manifests
        .iter()
        .filter(|m| m.target != Target::Kind(Kind::Execution))
    {
        let (applied, _) = apply_one(&client, manifest, "").map_err(server_error)?;
        *counts.entry(applied.word()).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    emit_err(&format!(
        "applied {} resources ({})\n",
        counts.values().sum::<usize>(),
        summary.join(", ")
    ));

    // The Execution.
    let template = manifests.iter().find(|m| {
        m.target == Target::Kind(Kind::Execution)
            && m.object["spec"]["planRef"]["name"] == plan.name.as_str()
    });
    let mut spec = template
        .map(|m| m.object["spec"].clone())
        .unwrap_or_else(|| json!({"planRef": {"name": plan.name}}));
    if spec.get("goalRef").is_none() {
        if let Some(goal) = plan.object["spec"]["goalRef"]["name"].as_str() {
            if manifests
                .iter()
                .any(|m| m.target == Target::Kind(Kind::Goal) && m.name == goal)
            {
                spec["goalRef"] = json!({"name": goal});
            }
        }
    }
    if !params.is_empty() {
        let merged = spec["parameters"].as_object().cloned().unwrap_or_default();
        let mut merged = merged;
        merged.extend(params);
        spec["parameters"] = Value::Object(merged);
    }
    if let Some(n) = args.max_parallel {
        spec["maxParallel"] = json!(n);
    }
    if args.fail_fast {
        spec["failFast"] = json!(true);
    }
    let mut metadata = json!({"namespace": ns});
    match &args.name {
        Some(n) => metadata["name"] = json!(n),
        None => metadata["generateName"] = json!(format!("{}-", truncate(&plan.name, 50))),
    }
    let body = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
                      "metadata": metadata, "spec": spec});
    let created = client
        .request(
            "POST",
            &Target::Kind(Kind::Execution).collection(Some(&ns)),
            "application/json",
            Some(&body),
        )
        .map_err(server_error)?;
    let name = created["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    emit_err(&format!("execution/{name} of plan/{} started\n", plan.name));

    let interactive =
        !args.no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let interrupts = Arc::new(AtomicU32::new(0));
    install_interrupt_handler(interrupts.clone());
    let mut view = View::new(term, std::io::stderr().is_terminal());
    let started = Instant::now();
    let mut cancels_sent = 0;
    let mut asked: BTreeSet<String> = BTreeSet::new();
    let execution = loop {
        let e = client
            .get(&execution_path(&ns, &name, ""))
            .map_err(server_error)?;
        view.update(&e, started.elapsed());
        let phase = e["status"]["phase"].as_str().unwrap_or("Pending");
        if matches!(phase, "Succeeded" | "Failed" | "Cancelled") {
            break e;
        }
        let hits = interrupts.load(Ordering::SeqCst);
        if hits > cancels_sent {
            cancels_sent = hits;
            if hits >= 3 {
                view.clear();
                emit_err("interrupted again: leaving the execution as it is\n");
                drop(plane);
                return Err(Failure::Message(format!(
                    "execution/{name} was left {phase}"
                )));
            }
            let force = hits >= 2;
            view.clear();
            emit_err(if force {
                "cancelling (forced: running nodes are killed)…\n"
            } else {
                "cancelling (running nodes finish; nothing new starts; Ctrl-C again to force)…\n"
            });
            let _ = client.request(
                "POST",
                &execution_path(&ns, &name, "/cancel"),
                "application/json",
                Some(&json!({"force": force})),
            );
        }
        // Gates and people.
        for (node, status) in e["status"]["nodeStatuses"]
            .as_object()
            .into_iter()
            .flatten()
        {
            // One question per wait: a node may wait again (criteria after the work, a
            // retried attempt), and that is a new wait.
            let wait = format!(
                "{node}|{}|{}|{}",
                status["attempt"],
                status["extensions"]["activity"],
                status["message"].as_str().unwrap_or("")
            );
            if status["phase"] == "AwaitingInput" && !asked.contains(&wait) {
                asked.insert(wait.clone());
                view.clear();
                let prompt = status["message"].as_str().unwrap_or("").to_owned();
                if interactive {
                    ask_value(&client, &ns, &name, node, &prompt)?;
                } else {
                    emit_err(&format!(
                        "node {node} {prompt}: planspec resolve execution/{name} --node {node} --value JSON --server {} -n {ns}\n",
                        plane.url()
                    ));
                }
                continue;
            }
            if status["phase"] != "Running" || asked.contains(&wait) {
                continue;
            }
            let at_gate = status["extensions"]["activity"] == "Gate";
            let awaiting = e["status"]["extensions"]["awaitingHuman"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == node));
            if at_gate {
                // This run's own Gate, created from the plan's Gate when the node opened it
                // and named in the node's status just after. Until it is named, look again
                // at the next poll: the plan's Gate is only a template, and approving it
                // would leave this run waiting.
                let Some(gate) = status["extensions"]["gate"].as_str() else {
                    continue;
                };
                let gate = &gate.to_owned();
                asked.insert(wait.clone());
                view.clear();
                if args.yes {
                    let recorded = review(
                        &client,
                        &ns,
                        gate,
                        true,
                        Some("approved by planspec run --yes".into()),
                    )?;
                    if recorded {
                        emit_err(&format!("gate/{gate} approved (--yes)\n"));
                    }
                } else if interactive {
                    ask_gate(&client, &ns, gate, node)?;
                } else {
                    emit_err(&format!(
                        "node {node} waits for gate/{gate}: planspec approve gate/{gate} --server {} -n {ns}\n",
                        plane.url()
                    ));
                }
            } else if awaiting {
                asked.insert(wait.clone());
                view.clear();
                let prompt = status["message"].as_str().unwrap_or("").to_owned();
                if interactive {
                    ask_person(&client, &ns, &name, node, &prompt)?;
                } else {
                    emit_err(&format!(
                        "node {node} waits for a person ({prompt}): planspec complete execution/{name} --node {node} --server {} -n {ns}\n",
                        plane.url()
                    ));
                }
            }
        }
        std::thread::sleep(POLL);
    };
    view.clear();
    let phase = execution["status"]["phase"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    emit(&summary_table(&execution, &term, started.elapsed()))?;
    if let Plane::Embedded(e) = &plane {
        emit_err(&format!(
            "state kept in {}: planspec trace execution/{name} and planspec logs execution/{name} work against `planspec server --dev --store sqlite:{}` (loopback, no token)\n",
            e.store().display(),
            e.store().display()
        ));
    }
    drop(plane);
    if phase == "Succeeded" {
        Ok(Exit::Success)
    } else {
        let why = execution["status"]["message"]
            .as_str()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        Err(Failure::Message(format!("execution/{name} {phase}{why}")))
    }
}

/// The Plan chosen to run.
struct PlanDoc {
    name: String,
    object: Value,
}

fn pick_plan(manifests: &[Manifest], wanted: Option<&str>) -> Result<PlanDoc, Failure> {
    let plans: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.target == Target::Kind(Kind::Plan))
        .collect();
    let chosen = match wanted {
        Some(w) => plans.iter().find(|m| m.name == w).copied().ok_or_else(|| {
            usage(
                "run",
                format!(
                    "no Plan named `{w}` in the files (Plans: {})",
                    names(&plans)
                ),
            )
        })?,
        None => match plans.as_slice() {
            [one] => *one,
            [] => return Err(usage("run", "the files hold no Plan to run")),
            _ => {
                return Err(usage(
                    "run",
                    format!(
                        "the files hold several Plans ({}): choose one with --plan NAME",
                        names(&plans)
                    ),
                ))
            }
        },
    };
    Ok(PlanDoc {
        name: chosen.name.clone(),
        object: chosen.object.clone(),
    })
}

fn names(plans: &[&Manifest]) -> String {
    plans
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => s[..i].trim_end_matches('-'),
        None => s,
    }
}

/// `--param` values.
pub fn parameters(pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(usage(
                "run",
                format!("--param takes NAME=VALUE, not `{pair}`"),
            ));
        };
        if k.is_empty() {
            return Err(usage("run", format!("--param `{pair}` has no name")));
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        map.insert(k.to_owned(), value);
    }
    Ok(map)
}

fn store_path(store: Option<&str>) -> Result<PathBuf, Failure> {
    let path = match store {
        Some(url) => {
            match planspec_server::config::parse_store(url).map_err(|e| usage("run", e))? {
                planspec_server::config::StoreLocation::Sqlite(path) => path,
            }
        }
        None => PathBuf::from(".planspec").join("planspec.db"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::Message(format!(
                "error: cannot create the store directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(path)
}

/// Reviews `gate`; `Ok(true)` when the review was recorded, `Ok(false)` when it was not ours
/// to make (the Gate was decided meanwhile, or we may not approve it: said on stderr).
fn review(
    client: &Client,
    ns: &str,
    gate: &str,
    approve: bool,
    comment: Option<String>,
) -> Result<bool, Failure> {
    let path = format!(
        "/apis/planspec.io/v1alpha1/namespaces/{}/gates/{}/review",
        encode(ns),
        encode(gate)
    );
    let mut body = json!({"action": if approve { "approve" } else { "reject" }});
    if let Some(c) = comment {
        body["comment"] = json!(c);
    }
    match client.request("POST", &path, "application/json", Some(&body)) {
        Ok(_) => Ok(true),
        // Decided meanwhile by someone else: fine.
        Err(e) if e.code() == Some(409) => Ok(false),
        // Not ours to approve (our own run on a shared server: no self-approval; or not a
        // reviewer): say so and wait for someone who may.
        Err(e) if approve && e.code() == Some(403) => {
            let why = match server_error(e) {
                Failure::Message(m) => m,
                _ => String::new(),
            };
            emit_err(&format!(
                "{why}\ngate/{gate} waits for another reviewer (they see it in `planspec approvals`)\n"
            ));
            Ok(false)
        }
        Err(e) => Err(server_error(e)),
    }
}

fn read_line(prompt: &str) -> String {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim().to_owned()
}

fn ask_gate(client: &Client, ns: &str, gate: &str, node: &str) -> Result<(), Failure> {
    loop {
        let answer = read_line(&format!(
            "node {node} waits for gate/{gate}: approve? [y]es / [n]o (reject) / [w]ait for someone else: "
        ));
        match answer.to_ascii_lowercase().as_str() {
            "y" | "yes" => {
                let comment = read_line("comment (optional): ");
                return review(
                    client,
                    ns,
                    gate,
                    true,
                    (!comment.is_empty()).then_some(comment),
                )
                .map(drop);
            }
            "n" | "no" => {
                let mut reason = String::new();
                while reason.is_empty() {
                    reason = read_line("why (required): ");
                }
                return review(client, ns, gate, false, Some(reason)).map(drop);
            }
            "w" | "wait" | "" => return Ok(()),
            _ => continue,
        }
    }
}

/// Asks for a Placeholder's value until the server takes one (a refused value is shown
/// with the constraints it broke) or the person chooses to wait (an empty line).
fn ask_value(
    client: &Client,
    ns: &str,
    name: &str,
    node: &str,
    prompt: &str,
) -> Result<(), Failure> {
    let path = execution_path(ns, name, &format!("/nodes/{}/resolve", encode(node)));
    loop {
        let answer = read_line(&format!(
            "node {node} {prompt}\n  value (JSON, or text; empty line to wait for someone else): "
        ));
        if answer.is_empty() {
            return Ok(());
        }
        let value = serde_json::from_str(&answer).unwrap_or(Value::String(answer));
        match client.request(
            "POST",
            &path,
            "application/json",
            Some(&json!({"value": value})),
        ) {
            Ok(_) => return Ok(()),
            Err(e) => emit_err(&format!("  {}\n", crate::term::escape_line(&e.render()))),
        }
    }
}

fn ask_person(
    client: &Client,
    ns: &str,
    name: &str,
    node: &str,
    prompt: &str,
) -> Result<(), Failure> {
    loop {
        let answer = read_line(&format!(
            "node {node} waits for a person — {prompt}\n  [d]one / [f]ailed / [w]ait for someone else: "
        ));
        match answer.to_ascii_lowercase().as_str() {
            "d" | "done" => {
                let mut outputs = Map::new();
                loop {
                    let line = read_line("  output NAME=VALUE (empty line to finish): ");
                    if line.is_empty() {
                        break;
                    }
                    match line.split_once('=') {
                        Some((k, v)) if !k.is_empty() => {
                            let value = serde_json::from_str(v)
                                .unwrap_or_else(|_| Value::String(v.to_owned()));
                            outputs.insert(k.to_owned(), value);
                        }
                        _ => eprintln!("  (NAME=VALUE, please)"),
                    }
                }
                let path = execution_path(ns, name, &format!("/nodes/{}/complete", encode(node)));
                return client
                    .request(
                        "POST",
                        &path,
                        "application/json",
                        Some(&json!({"outputs": outputs})),
                    )
                    .map(|_| ())
                    .map_err(server_error);
            }
            "f" | "failed" => {
                let mut message = String::new();
                while message.is_empty() {
                    message = read_line("  why (required): ");
                }
                let path = execution_path(ns, name, &format!("/nodes/{}/fail", encode(node)));
                return client
                    .request(
                        "POST",
                        &path,
                        "application/json",
                        Some(&json!({"message": message})),
                    )
                    .map(|_| ())
                    .map_err(server_error);
            }
            "w" | "wait" | "" => return Ok(()),
            _ => continue,
        }
    }
}

#[cfg(unix)]
fn install_interrupt_handler(hits: Arc<AtomicU32>) {
    use std::sync::OnceLock;
    static HITS: OnceLock<Arc<AtomicU32>> = OnceLock::new();
    let _ = HITS.set(hits);
    extern "C" fn on_sigint(_: libc::c_int) {
        if let Some(h) = HITS.get() {
            h.fetch_add(1, Ordering::SeqCst);
        }
    }
    // SAFETY: the handler only does an atomic add on a value initialised before it is
    // installed, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

#[cfg(not(unix))]
fn install_interrupt_handler(_hits: Arc<AtomicU32>) {}

/// The live view: a line per node event, and a progress line on a terminal.
struct View {
    term: Term,
    tty: bool,
    seen: BTreeMap<String, String>,
    bar_shown: bool,
}

impl View {
    fn new(term: Term, tty: bool) -> View {
        View {
            term,
            tty,
            seen: BTreeMap::new(),
            bar_shown: false,
        }
    }

    fn clear(&mut self) {
        if self.bar_shown {
            emit_err("\r\x1b[2K");
            self.bar_shown = false;
        }
    }

    fn update(&mut self, e: &Value, elapsed: Duration) {
        let mut lines = String::new();
        for (node, s) in e["status"]["nodeStatuses"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let phase = s["phase"].as_str().unwrap_or("Pending");
            let waiting = s["message"]
                .as_str()
                .filter(|m| {
                    phase == "Running" && (m.starts_with("awaiting") || m.starts_with("waiting"))
                })
                .map(str::to_owned);
            let key = format!(
                "{phase}|{}|{}",
                s["attempt"],
                waiting.as_deref().unwrap_or("")
            );
            if self.seen.get(node) == Some(&key) {
                continue;
            }
            self.seen.insert(node.clone(), key);
            let t = &self.term;
            let line = match phase {
                "Succeeded" => Some(format!(
                    "  {} {node:<24} {}",
                    t.paint(t.glyph("✓", "ok"), styles::ok()),
                    super::describe::duration(&s["startTime"], &s["completionTime"])
                )),
                "Failed" => Some(format!(
                    "  {} {node:<24} {}",
                    t.paint(t.glyph("✗", "FAIL"), styles::error()),
                    crate::term::escape_line(s["message"].as_str().unwrap_or("failed"))
                )),
                "Skipped" => Some(format!(
                    "  {} {node:<24} skipped ({})",
                    t.paint(t.glyph("↷", "skip"), styles::dim()),
                    s["extensions"]["reason"].as_str().unwrap_or("")
                )),
                "Cancelled" => Some(format!(
                    "  {} {node:<24} cancelled",
                    t.paint(t.glyph("⊘", "cancel"), styles::warning())
                )),
                "Running" => {
                    let attempt = s["attempt"].as_u64().unwrap_or(1);
                    match &waiting {
                        Some(m) => Some(format!(
                            "  {} {node:<24} {}",
                            t.paint(t.glyph("⏸", "wait"), styles::gate()),
                            crate::term::escape_line(m)
                        )),
                        None if attempt > 1 => Some(format!(
                            "  {} {node:<24} attempt {attempt}",
                            t.paint(t.glyph("↻", "retry"), styles::warning())
                        )),
                        None => None,
                    }
                }
                _ => None,
            };
            if let Some(l) = line {
                lines.push_str(&l);
                lines.push('\n');
            }
        }
        if !lines.is_empty() {
            self.clear();
            emit_err(&lines);
        }
        if self.tty {
            let p = &e["status"]["extensions"]["progress"];
            let total = p["total"].as_u64().unwrap_or(0);
            let done = ["succeeded", "failed", "skipped", "cancelled"]
                .iter()
                .map(|k| p[*k].as_u64().unwrap_or(0))
                .sum::<u64>();
            let running = p["running"].as_u64().unwrap_or(0);
            let width = 24u64;
            let filled = (done * width).checked_div(total).unwrap_or(0);
            let bar: String = (0..width)
                .map(|i| {
                    if i < filled {
                        self.term.glyph("█", "#")
                    } else {
                        self.term.glyph("░", "-")
                    }
                })
                .collect();
            emit_err(&format!(
                "\r\x1b[2K  {bar} {done}/{total} nodes · {running} running · {}",
                clock(elapsed)
            ));
            self.bar_shown = true;
        }
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// The table printed at the end.
fn summary_table(e: &Value, term: &Term, elapsed: Duration) -> String {
    let mut out = String::new();
    let name = e["metadata"]["name"].as_str().unwrap_or("?");
    let phase = e["status"]["phase"].as_str().unwrap_or("?");
    let style = match phase {
        "Succeeded" => styles::ok(),
        "Failed" => styles::error(),
        _ => styles::warning(),
    };
    out.push_str(&format!(
        "\nexecution/{name} {} in {}\n",
        term.paint(phase, style),
        clock(elapsed)
    ));
    if let Some(nodes) = e["status"]["nodeStatuses"].as_object() {
        out.push_str(&format!(
            "{:<28} {:<10} {:>8} {:>10}  {}\n",
            "NODE", "PHASE", "ATTEMPTS", "DURATION", "MESSAGE"
        ));
        for (node, s) in nodes {
            out.push_str(&format!(
                "{:<28} {:<10} {:>8} {:>10}  {}\n",
                node,
                s["phase"].as_str().unwrap_or(""),
                s["attempt"]
                    .as_u64()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
                super::describe::duration(&s["startTime"], &s["completionTime"]),
                crate::term::escape_line(
                    s["message"]
                        .as_str()
                        .or_else(|| s["extensions"]["reason"].as_str())
                        .unwrap_or("")
                )
            ));
        }
    } else if let Some(p) = e["status"]["extensions"]["progress"].as_object() {
        let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push_str(&format!(
            "{} nodes: {} succeeded, {} failed, {} skipped, {} cancelled\n",
            n("total"),
            n("succeeded"),
            n("failed"),
            n("skipped"),
            n("cancelled")
        ));
    } else if let Some(reason) = e["status"]["reason"].as_str() {
        // It never started (no plan, no providers …): nothing ran.
        out.push_str(&format!("nothing ran ({reason})\n"));
    }
    out
}
