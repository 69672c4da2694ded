//! `planspec server`: opens the store and serves the API until SIGINT or SIGTERM.

use planspec_server::config::{default_store_path, listen_address, parse_store, StoreLocation};
use planspec_server::control_plane::ControlPlane;
#[cfg(not(unix))]
use planspec_server::http::shutdown_signal;
use planspec_server::http::{access_log, ServerConfig};

use crate::cli::ServerArgs;
use crate::error::{emit, usage, Exit, Failure, Outcome};

/// Runs the server; returns when it has shut down.
pub fn run(args: &ServerArgs) -> Outcome {
    let listen =
        listen_address(&args.listen, args.insecure_bind).map_err(|e| usage("server", e))?;
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let config = ServerConfig {
            listen,
            access_log,
            ..ServerConfig::default()
        };
        let plane = ControlPlane::start(&path, &config)
            .await
            .map_err(|e| fail(e.to_string()))?;
        // The signal handlers are installed before the address is announced: a SIGTERM
        // sent as soon as the line appears must shut the server down gracefully.
        let shutdown = signals()?;
        emit(&format!(
            "planspec server listening on http://{} (store: sqlite:{})\n",
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

fn fail(message: String) -> Failure {
    Failure::Error(miette::miette!("{message}"))
}
