//! `planspec server`: opens the store and serves the API until SIGINT or SIGTERM.

use planspec_server::auth::bootstrap::{default_token_file, ensure_token_file, Bootstrap};
use planspec_server::auth::AuthConfig;
use planspec_server::config::{default_store_path, listen_address, parse_store, StoreLocation};
use planspec_server::control_plane::ControlPlane;
#[cfg(not(unix))]
use planspec_server::http::shutdown_signal;
use planspec_server::http::tls::TlsConfig;
use planspec_server::http::{access_log, ServerConfig};
use planspec_server::providers::ProviderSettings;

use crate::cli::ServerArgs;
use crate::error::{emit, usage, Exit, Failure, Outcome};

/// Runs the server; returns when it has shut down.
/// Threads for blocking work (file I/O of attempts, SQLite reads, large admissions). Tokio's
/// default, 512, is what a 1,000-wide matrix of short attempts reaches: each thread keeps its
/// own allocator heap, so the server held about a gigabyte it did not use. Work beyond the
/// cap waits its turn; nothing on this pool blocks for long.
pub const MAX_BLOCKING_THREADS: usize = 32;

pub fn run(args: &ServerArgs) -> Outcome {
    let listen = listen_address(
        &args.listen,
        args.insecure_bind || args.tls_cert_file.is_some(),
    )
    .map_err(|e| usage("server", e))?;
    let tls = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert_file), Some(key_file)) => Some(TlsConfig {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
        }),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let access_log = access_log::Config {
        level: args
            .access_log_level
            .parse()
            .map_err(|e: String| usage("server", e))?,
        target: match args.access_log.as_str() {
            "-" => access_log::Target::Stderr,
            path => access_log::Target::File(path.into()),
        },
    };
    let path = match &args.store {
        Some(url) => match parse_store(url).map_err(|e| usage("server", e))? {
            StoreLocation::Sqlite(path) => path,
        },
        None => default_store_path(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
            .ok_or_else(|| {
                usage(
                    "server",
                    "cannot find a data directory (neither XDG_DATA_HOME nor HOME is set): pass --store sqlite:PATH",
                )
            })?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            fail(format!(
                "cannot create the store directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let auth = auth_config(args, &path)?;
    let providers = provider_settings(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let config = ServerConfig {
            listen,
            access_log,
            auth,
            tls,
            providers,
            audit_reads: args.audit_reads,
            policy_default: match args.policy_default.as_str() {
                "deny" => planspec_model::policy::PolicyVerdict::Deny,
                "assist" => planspec_model::policy::PolicyVerdict::Assist,
                _ => planspec_model::policy::PolicyVerdict::Allow,
            },
            lease_ttl: args.lease_ttl,
            max_running_tasks: args.max_running_tasks.map(|n| n as usize),
            ..ServerConfig::default()
        };
        let plane = ControlPlane::start(&path, &config)
            .await
            .map_err(|e| fail(e.to_string()))?;
        // The signal handlers are installed before the address is announced: a SIGTERM
        // sent as soon as the line appears must shut the server down gracefully.
        let shutdown = signals()?;
        emit(&format!(
            "planspec server listening on {scheme}://{} (store: sqlite:{})\n",
            plane.local_addr(),
            path.display()
        ))?;
        plane
            .serve(shutdown)
            .await
            .map_err(|e| fail(format!("the server failed: {e}")))?;
        Ok(Exit::Success)
    })
}

/// SIGINT or SIGTERM, registered now; the future resolves on the first of them.
#[cfg(unix)]
fn signals() -> Result<impl std::future::Future<Output = ()>, Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| fail(format!("cannot install the SIGINT handler: {e}")))?;
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| fail(format!("cannot install the SIGTERM handler: {e}")))?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn signals() -> Result<impl std::future::Future<Output = ()>, Failure> {
    Ok(shutdown_signal())
}

/// How the server authenticates: `--dev` (anonymous as `system:anonymous-dev`, plus the
/// token file if one is named), else the token file (by default `tokens.yaml` beside the
/// store), created with a bootstrap admin on first start. The admin token's path goes to
/// standard error — never the token.
fn auth_config(args: &ServerArgs, store: &std::path::Path) -> Result<AuthConfig, Failure> {
    if args.dev {
        let mut auth = AuthConfig::dev();
        if let Some(file) = &args.token_file {
            auth.token_file = Some(file.clone());
        }
        return Ok(auth);
    }
    let file = args
        .token_file
        .clone()
        .unwrap_or_else(|| default_token_file(store));
    match ensure_token_file(&file) {
        Ok(Bootstrap::Existing) => {}
        Ok(Bootstrap::Created { admin_token }) => eprintln!(
            "planspec: created the token file {} with the user `admin` (group system:masters); \
             its token is in {} (readable by you only): use it with --token, then store it safely",
            file.display(),
            admin_token.display()
        ),
        Err(e) => {
            return Err(fail(format!(
                "cannot create the token file {}: {e}",
                file.display()
            )))
        }
    }
    Ok(AuthConfig::token_file(file))
}

/// The trust policy (`--trust-policy`, YAML or JSON) and the secrets directory.
fn provider_settings(args: &ServerArgs) -> Result<ProviderSettings, Failure> {
    let trust_policy = match &args.trust_policy {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                fail(format!(
                    "cannot read the trust policy {}: {e}",
                    path.display()
                ))
            })?;
            serde_yaml_ng::from_str(&text)
                .map_err(|e| fail(format!("{}: not a trust policy: {e}", path.display())))?
        }
        None => Default::default(),
    };
    if let Some(dir) = &args.secrets_dir {
        if !dir.is_dir() {
            return Err(fail(format!(
                "--secrets-dir {} is not a directory",
                dir.display()
            )));
        }
    }
    Ok(ProviderSettings {
        trust_policy,
        secrets_dir: args.secrets_dir.clone(),
    })
}

fn fail(message: String) -> Failure {
    Failure::Error(miette::miette!("{message}"))
}
