//! What the `tickertape` binary does, as a library function a program of
//! its own calls with its feeds: configuration (command line, environment,
//! file), logging, the open-file limit, the node its role asks for (TLS,
//! history, bus), serving until SIGINT or SIGTERM (every WebSocket closed
//! with 1012 and a retry hint), and writing what history is pending before exit.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError, LogFormat};
use crate::feed::Feed;
use crate::{AppState, serve};

/// What may still be running when `serve` returns (a blocking DNS lookup of
/// a feed, say) gets this long before the process exits anyway.
const LEFTOVER_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs the server as the `tickertape` binary does, on the feeds `--feed`
/// names (the simulator by default).
pub fn run() -> anyhow::Result<()> {
    run_with_feeds(Vec::new())
}

/// Runs the server as the `tickertape` binary does, with `feeds` too: with
/// them, `--feed` adds feeds only when it is given (no simulator by
/// default). Every flag applies; those that cannot (`--role edge` with
/// feeds) stop it at start with the reason. A bad command line prints its
/// error and exits with status 2, as the binary does.
pub fn run_with_feeds(feeds: Vec<Box<dyn Feed>>) -> anyhow::Result<()> {
    let config = match Config::load() {
        Ok(config) => config,
        Err(ConfigError::Args(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    init_logging(config.log_format);
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(serve_until_signal(config, feeds));
    // Tasks still running (connections past the shutdown timeout) are dropped.
    runtime.shutdown_timeout(LEFTOVER_TIMEOUT);
    served
}

async fn serve_until_signal(config: Config, feeds: Vec<Box<dyn Feed>>) -> anyhow::Result<()> {
    // An edge starts only once it holds the ingest node's state, so it
    // listens only then: nothing is served from an empty copy.
    let state = tokio::select! {
        state = AppState::start_node_with(&config, feeds) => state?,
        _ = shutdown_signal() => return Ok(()),
    };
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving http://{addr}");
    let store = state.store.clone();
    serve(listener, state, shutdown_signal()).await?;
    if let Some(store) = store {
        // What the last flush left pending is written before exit.
        tokio::task::spawn_blocking(move || store.close()).await?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// One file descriptor per client: lift the soft limit to the hard one and
/// say what it is, since it caps how many browsers this process can hold.
fn raise_fd_limit() {
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, hard)) => {
            if soft < hard && rlimit::Resource::NOFILE.set(hard, hard).is_err() {
                tracing::warn!(soft, hard, "cannot raise the open-file limit");
            }
            let limit = rlimit::Resource::NOFILE.get().map_or(soft, |(s, _)| s);
            tracing::info!(limit, "open-file limit (about one per connected client)");
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

/// Logs to stdout at `TICKERTAPE_LOG` (default `info`); a program that set
/// up its own subscriber keeps it.
fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("TICKERTAPE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
