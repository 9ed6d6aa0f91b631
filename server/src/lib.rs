//! tickertape's server: feeds → hub → WebSocket sessions, plus the HTTP API
//! and the server-rendered page. Data flows one way:
//!
//! ```text
//! Feed ──FeedOutput──▶ FeedSink (hub::FeedPort) ──events──▶ hub::Folder ──Publisher──▶ Published
//!                                                                                     │ (read: Hub)
//!            session (/ws) · api (/api, probes) · page (/) · bus::ingest ◀────────────┘
//! edge node: bus ──▶ bus::edge ──hub::Mirror──▶ Published ──▶ the same readers
//! ```
//!
//! Vocabulary (import nothing of the crate's): [`market`] (ids, trades,
//! books, history, feed status), [`batch`] (what a hub publishes),
//! [`candles`] (bar aggregation), [`metrics`], [`backoff`].
//! - [`feed`]: the [`Feed`](feed::Feed) trait, every adapter, the supervisor;
//!   feeds write to a [`FeedSink`](feed::FeedSink) and never see the hub.
//! - [`hub`]: quotes, batches, candles and feed status, each with its one
//!   writer (see its table).
//! - [`quotes`]: how trades and books fold into a quote; [`subscription`]:
//!   which symbols a client wants; [`wire`]: encoding, shared fragments.
//! - [`session`], [`api`], [`page`]: the HTTP surface, each with its router
//!   and the slice of state it uses; [`guard`] checks every request;
//!   [`listen`] owns sockets and their clocks.
//! - [`bus`]: the NATS cluster (ingest publishes, edges mirror).
//! - [`config`] parses and validates once; [`feed_setup`] turns it into feeds.
//!
//! [`AppState`] assembles a node; [`app`] merges the routers; [`serve`] runs
//! them on a listener. `main` and the tests share both.

#![recursion_limit = "256"]

pub mod alerts;
pub mod api;
pub mod backoff;
pub mod batch;
pub mod book;
pub mod bus;
pub mod candles;
pub mod config;
pub mod control;
pub mod fanout;
pub mod feed;
pub mod feed_setup;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod hub;
pub mod listen;
pub mod market;
pub mod metrics;
pub mod page;
mod process;
pub mod push;
pub mod quotes;
pub mod session;
pub mod socket;
pub mod store;
pub mod subscription;
pub mod webhook;
pub mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;
use crate::config::{Config, Role};
use crate::fanout::Fanout;
use crate::feed::FeedSink;
use crate::hub::{Hub, HubConfig};
pub use crate::market::now_ms;
pub use crate::process::{run, run_with_feeds};
// Everything an adapter's `impl Feed` names, from one place: an adapter
// outside this repository needs only `tickertape` (see
// docs/writing-a-feed-adapter.md).
pub use crate::feed::{
    Book, Depth, DepthChange, Feed, FeedError, FeedOutput, History, Resume, Session, Tick,
};
use crate::metrics::Metrics;
use crate::session::SessionConfig;
use crate::store::SharedStore;
pub use app::protocol::{Candle, Interval, Level, Quote, SymbolInfo, TradeSide, TradingDay};
pub use async_trait::async_trait;
pub use tokio_util::sync::CancellationToken;

/// A running node: the hub, and what each part of the HTTP surface uses
/// of it. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    /// `/ws`: sessions' limits, admission and tracking.
    pub sessions: session::Sessions,
    /// `/api/*`, the probes, `/metrics`.
    pub api: api::ApiState,
    /// `/` and everything else a browser asks for.
    pub page: page::Page,
    /// The checks every request passes.
    pub policy: guard::Policy,
    /// `/api/feeds/…`: where push feeds take trades.
    pub push: push::PushApi,
    /// `/api/control/…`, with `--control-token`.
    pub control: Option<control::ControlApi>,
    /// Fires when the server shuts down; feeds, the hub and sessions watch it.
    pub shutdown: CancellationToken,
    /// Where history is kept (none with `--ephemeral`, and on edges).
    pub store: Option<SharedStore>,
    tls_acceptor: Option<TlsAcceptor>,
    limits: listen::Limits,
}

/// A configuration that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Feed(#[from] feed_setup::FeedConfigError),
    #[error(transparent)]
    Tls(#[from] listen::TlsError),
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    #[error("history store: {0}")]
    Store(#[from] store::StoreError),
    /// Flags that would be ignored: refused instead.
    #[error("{0}")]
    NotApplicable(&'static str),
}

impl AppState {
    /// Starts what `config.role` asks for: feeds and hub (`all`), the same
    /// publishing to the bus (`ingest`), or a mirror of the ingest node
    /// (`edge`, which returns once it holds the ingest node's state).
    pub async fn start_node(config: &Config) -> Result<AppState, StartError> {
        AppState::start_node_with(config, Vec::new()).await
    }

    /// [`AppState::start_node`] with `feeds` beside those `--feed` names
    /// (without `--feed`, only `feeds`): how a program of its own serves
    /// its adapters ([`run_with_feeds`]). An edge runs no feeds: given
    /// any, it refuses to start.
    pub async fn start_node_with(
        config: &Config,
        feeds: Vec<Box<dyn Feed>>,
    ) -> Result<AppState, StartError> {
        let tls = tls_acceptor(config)?;
        let heartbeat = config.bus_heartbeat();
        let (access, prefix) = (config.bus_access(), config.bus_subject.as_str());
        if config.role == Role::Edge && !feeds.is_empty() {
            return Err(StartError::NotApplicable(
                "--role edge mirrors the ingest node and runs no feeds: run custom feeds with --role all or ingest",
            ));
        }
        if config.role == Role::Edge && config.control_token.is_some() {
            return Err(StartError::NotApplicable(
                "--control-token drives feeds, which an edge does not run: give it to the ingest node (or --role all)",
            ));
        }
        let state = match (config.role, access) {
            (Role::All, _) | (_, None) => AppState::start_feeds(config, feeds)?,
            (Role::Ingest, Some(access)) => {
                let mut state = AppState::start_feeds(config, feeds)?;
                let (hub, feeds, stop) = (
                    state.hub.clone(),
                    state.page.symbol_feeds.clone(),
                    state.shutdown.clone(),
                );
                let answer = answer_alerts(&hub);
                let health =
                    bus::ingest::start(&access, prefix, heartbeat, hub, feeds, answer, stop)
                        .await?;
                state.api.readiness.bus = Some(health);
                state.policy.serves_browsers = config.serve_browsers;
                state
            }
            (Role::Edge, Some(access)) => {
                let shutdown = CancellationToken::new();
                let hub_config = hub_config(config);
                let copy =
                    bus::edge::start(&access, prefix, heartbeat, &hub_config, shutdown.clone())
                        .await?;
                let mut state = AppState::assemble(config, copy.hub, copy.symbol_feeds, shutdown);
                state.api.readiness.bus = Some(copy.health);
                // The ingest node holds and checks the rules; this edge relays.
                state.api.alerts = api::AlertsApi::Ingest(copy.alerts);
                state
            }
        };
        Ok(state.with_tls(tls))
    }

    /// Builds the feeds `config` names and the hub, and starts them on the
    /// current runtime. They run until [`AppState::shutdown`] fires.
    pub fn start(config: &Config) -> Result<AppState, StartError> {
        let tls = tls_acceptor(config)?;
        Ok(AppState::start_feeds(config, Vec::new())?.with_tls(tls))
    }

    /// `feeds` and those `--feed` names (all of them without `feeds`; with
    /// them, only if `--feed` is given).
    fn start_feeds(config: &Config, mut feeds: Vec<Box<dyn Feed>>) -> Result<AppState, StartError> {
        if feeds.is_empty() || config.feeds_given {
            feeds.extend(feed_setup::build(config)?);
        }
        AppState::start_hub(config, feeds)
    }

    fn with_tls(mut self, tls: Option<TlsAcceptor>) -> AppState {
        self.policy.tls = tls.is_some();
        self.tls_acceptor = tls;
        self
    }

    /// Starts one node (`--role all`) fed by `feeds` alone, built by the
    /// caller: how tests script a feed, and how a program that runs its
    /// own listener plugs in an adapter ([`run_with_feeds`] does all the
    /// rest too). `--tls-cert`/`--tls-key` apply; `--feed` and `--role`
    /// would not, so they are refused.
    pub fn start_with_feeds(
        config: &Config,
        feeds: Vec<Box<dyn Feed>>,
    ) -> Result<AppState, StartError> {
        if config.role != Role::All {
            return Err(StartError::NotApplicable(
                "start_with_feeds starts one node: for --role ingest or edge use start_node_with or run_with_feeds",
            ));
        }
        if config.feeds_given {
            return Err(StartError::NotApplicable(
                "start_with_feeds serves the feeds it is given, not --feed's: build those with feed_setup::build, or use run_with_feeds",
            ));
        }
        let tls = tls_acceptor(config)?;
        Ok(AppState::start_hub(config, feeds)?.with_tls(tls))
    }

    /// A hub fed by `feeds`, started on the current runtime.
    fn start_hub(config: &Config, feeds: Vec<Box<dyn Feed>>) -> Result<AppState, StartError> {
        // The universe: every feed's symbols; a symbol two feeds name is the first's.
        let mut symbols: Vec<SymbolInfo> = Vec::new();
        let mut owners: Vec<String> = Vec::new();
        let mut recorded: Vec<bool> = Vec::new();
        for feed in &feeds {
            for info in feed.symbols() {
                if !symbols.iter().any(|s| s.symbol == info.symbol) {
                    symbols.push(info);
                    owners.push(feed.name().to_owned());
                    recorded.push(feed.recorded_time());
                }
            }
        }
        let names: Vec<String> = feeds.iter().map(|f| f.name().to_owned()).collect();
        let sim = feeds.iter().find_map(|f| f.remote());
        let inlets = feeds
            .iter()
            .filter_map(|f| f.inlet())
            .map(|inlet| (inlet.name.to_string(), inlet))
            .collect();
        let hub_config = hub_config(config);
        let store = open_store(config, &hub_config)?;
        let (hub, mut folder) = match store.clone() {
            Some(store) => Hub::folding_on(symbols, names, &hub_config, store)?,
            None => Hub::folding(symbols, names, &hub_config),
        };
        folder.keep_recorded_time(recorded);
        hub.alerts().rearm_with(config.alert_rearm());
        if let Some(webhooks) = config.webhooks() {
            hub.alerts()
                .deliver_webhooks(webhooks, hub.metrics_handle());
        }
        let port: Arc<dyn FeedSink> = Arc::new(folder.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(folder.run(shutdown.clone()));
        let mut outages = HashMap::new();
        for (id, feed) in feeds.into_iter().enumerate() {
            let name = feed.name().to_owned();
            let (outage, held) = tokio::sync::watch::channel(None);
            outages.entry(name.clone()).or_insert(outage);
            let out = FeedOutput::new(id, name, port.clone(), feed_clock(config), hub.metrics());
            let stop = shutdown.clone();
            tokio::spawn(feed::supervise(feed, out, Backoff::default(), stop, held));
        }
        let owners: Arc<[String]> = owners.into();
        let mut state = AppState::assemble(config, hub, owners.clone(), shutdown);
        state.push.inlets = Arc::new(inlets);
        state.push.outages = Arc::new(
            outages
                .iter()
                .map(|(name, outage)| (name.clone(), outage.subscribe()))
                .collect(),
        );
        state.control = config
            .control_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|token| control::ControlApi {
                token: guard::Token::new(token),
                hub: state.hub.clone(),
                sim,
                outages: Arc::new(outages),
                symbol_feeds: owners,
                events: port.events(),
                inlets: state.push.inlets.clone(),
                cutter: state.sessions.cutter.clone(),
                sessions: state.sessions.tracker.clone(),
            });
        state.api.readiness.store = store.clone();
        state.store = store;
        Ok(state)
    }

    /// The state around a running hub.
    fn assemble(
        config: &Config,
        hub: Hub,
        symbol_feeds: Arc<[String]>,
        shutdown: CancellationToken,
    ) -> AppState {
        let sessions = session::Sessions {
            hub: hub.clone(),
            config: Arc::new(session_config(config)),
            slots: Arc::new(Semaphore::new(config.max_connections as usize)),
            tracker: TaskTracker::new(),
            shutdown: shutdown.clone(),
            cutter: session::Cutter::default(),
            fanout: Fanout::start(
                hub.published().clone(),
                hub.metrics_handle(),
                shutdown.clone(),
            ),
        };
        let readiness = api::Readiness {
            hub: hub.clone(),
            bus: None,
            store: None,
        };
        let page = page::Page {
            hub: hub.clone(),
            symbol_feeds,
            leptos: leptos_options(config),
        };
        AppState {
            api: api::ApiState {
                hub: hub.clone(),
                readiness,
                alerts: api::AlertsApi::Local(hub.clone()),
            },
            hub,
            sessions,
            page,
            policy: http_policy(config),
            push: push::PushApi {
                inlets: Arc::default(),
                outages: Arc::default(),
                token: config
                    .push_token
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(guard::Token::new),
                trust_proxy: config.trust_proxy,
                bounds: feed_clock(config),
                shutdown: shutdown.clone(),
            },
            control: None,
            shutdown,
            store: None,
            tls_acceptor: None,
            limits: connection_limits(config),
        }
    }
}

/// The ingest node's answers to edges' alert API requests: its own routes'.
fn answer_alerts(hub: &Hub) -> bus::AnswerAlerts {
    let hub = hub.clone();
    Arc::new(move |request| api::answer_alerts(&hub, request))
}

/// Batches a hub keeps for sessions that fall behind (5 s at the default
/// flush interval); further behind is a slow consumer.
const RETAINED_BATCHES: usize = 50;
/// Feed events that may wait for the hub before feeds are made to wait.
const EVENT_CAPACITY: usize = 16_384;
/// A client may send this many seconds' worth of its message rate at once.
const BURST_SECONDS: f64 = 2.0;
/// Messages refused for rate before a session is closed with 1008.
const MAX_RATE_VIOLATIONS: u32 = 50;

/// The history store `--data-dir` names (none with `--ephemeral`).
fn open_store(config: &Config, hub: &HubConfig) -> Result<Option<SharedStore>, StartError> {
    if config.ephemeral {
        return Ok(None);
    }
    let store = store::sqlite::SqliteStore::open(
        &config.data_dir,
        store::Retention::default(),
        hub.metrics.clone(),
    )?;
    Ok(Some(Arc::new(store)))
}

/// The TLS set-up `--tls-cert` and `--tls-key` name, checked before anything starts.
fn tls_acceptor(config: &Config) -> Result<Option<TlsAcceptor>, StartError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(listen::tls_acceptor(cert, key)?)),
        _ => Ok(None),
    }
}

fn hub_config(config: &Config) -> HubConfig {
    HubConfig {
        flush: config.flush(),
        retained_batches: RETAINED_BATCHES,
        tick_capacity: EVENT_CAPACITY,
        all_candles: config.role == Role::Ingest,
        metrics: Arc::new(Metrics::new()),
    }
}

/// How far live feeds' timestamps may stray from this server's clock.
fn feed_clock(config: &Config) -> feed::ClockBounds {
    feed::ClockBounds {
        ahead: Duration::from_millis(config.clock_skew_ms),
        behind: Duration::from_secs(config.max_event_age),
    }
}

/// Sockets are capped below the open-file limit, leaving room for feeds,
/// the bus and files.
const RESERVED_DESCRIPTORS: u64 = 256;

fn connection_limits(config: &Config) -> listen::Limits {
    let max_open = config.max_open_connections.map_or_else(
        || {
            let files = rlimit::Resource::NOFILE
                .get()
                .map_or(1024, |(soft, _)| soft);
            files.saturating_sub(RESERVED_DESCRIPTORS).max(64) as usize
        },
        |n| n as usize,
    );
    listen::Limits {
        handshake: Duration::from_secs(config.handshake_timeout),
        idle: Duration::from_secs(config.idle_timeout),
        write: Duration::from_secs(config.write_timeout),
        max_open,
        shutdown: Duration::from_secs(config.shutdown_timeout),
    }
}

fn session_config(config: &Config) -> SessionConfig {
    SessionConfig {
        heartbeat: Duration::from_millis(config.heartbeat_ms),
        heartbeat_timeout: Duration::from_millis(config.heartbeat_timeout_ms),
        send_timeout: Duration::from_millis(config.send_timeout_ms),
        msg_rate: f64::from(config.client_msg_rate),
        msg_burst: BURST_SECONDS * f64::from(config.client_msg_rate),
        max_rate_violations: MAX_RATE_VIOLATIONS,
        allowed_origins: config
            .allowed_origins
            .iter()
            .chain(&config.public_origin)
            .cloned()
            .collect(),
        max_symbols: config.max_symbols_per_client as usize,
        first_message_timeout: Duration::from_secs(config.first_message_timeout),
        // Half what the hub retains: a paced client is never a slow consumer.
        max_pace: config.flush() * RETAINED_BATCHES as u32 / 2,
        restart_spread: Duration::from_millis(config.restart_spread_ms),
    }
}

fn http_policy(config: &Config) -> guard::Policy {
    guard::Policy {
        auth_token: config
            .auth_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(guard::Token::new),
        tls: false,
        trust_proxy: config.trust_proxy,
        served_hosts: config.served_hosts().into(),
        serves_browsers: true,
    }
}

fn leptos_options(config: &Config) -> LeptosOptions {
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("site")));
    let site = locate_site(&config.site_root, beside_binary.as_deref());
    if option_env!("LEPTOS_OUTPUT_NAME").is_none() {
        // Leptos then asks for `tickertape_bg.wasm`, which the site has not.
        tracing::error!(
            "built without LEPTOS_OUTPUT_NAME=tickertape: pages will never go live; build with that variable set (docs/writing-a-feed-adapter.md)"
        );
    }
    LeptosOptions::builder()
        .output_name("tickertape")
        .site_root(site.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build()
}

/// The page's script, which a built site holds.
const SITE_SCRIPT: &str = "pkg/tickertape.js";

/// Where the built site is: `given` (`--site-root`) if it holds the page's
/// script; else the `site` folder beside the binary's (`target/site` for
/// `target/release/tickertape`), so the binary serves its page from
/// wherever it is started; else `given`, saying loudly that the page will
/// have no script.
fn locate_site(given: &Path, beside_binary: Option<&Path>) -> PathBuf {
    if given.join(SITE_SCRIPT).is_file() {
        return given.to_path_buf();
    }
    if let Some(found) = beside_binary.filter(|b| b.join(SITE_SCRIPT).is_file()) {
        tracing::info!(site = %found.display(), not_at = %given.display(), "serving the page's files from beside the binary");
        return found.to_path_buf();
    }
    tracing::error!(
        site_root = %given.display(),
        "the page's files are not there ({SITE_SCRIPT} is missing): pages will show the server-rendered quotes but never go live; build them with `make build` or point --site-root at the built site"
    );
    given.to_path_buf()
}

/// The whole HTTP surface: page, assets, API, probes and `/ws`, behind the
/// checks every request passes.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(page::router(state.page))
        .merge(session::router(state.sessions))
        .merge(api::router(state.api))
        .merge(push::router(state.push))
        .merge(state.control.map(control::router).unwrap_or_default());
    guard::guarded(routes, state.policy)
}

/// Serves `state` on `listener` until `shutdown` completes, then stops
/// accepting, closes every session with 1012 (and pushers with 1001) and waits for requests in
/// flight and sessions, `--shutdown-timeout` at most in all.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let sessions = state.sessions.tracker.clone();
    let limits = state.limits;
    let stopping = {
        let token = token.clone();
        async move {
            tokio::select! {
                _ = shutdown => token.cancel(),
                _ = token.cancelled() => {}
            }
        }
    };
    tokio::spawn(stopping);
    let (tls, metrics) = (state.tls_acceptor.clone(), state.hub.metrics_handle());
    let stopped = listen::serve_router(listener, app(state), tls, limits, metrics, token).await;
    sessions.close();
    let deadline = stopped + limits.shutdown;
    if tokio::time::timeout_at(deadline, sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = sessions.len(),
            "sessions still open at the shutdown timeout"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_is_found_where_given_else_beside_the_binary() {
        let scratch = std::env::temp_dir().join(format!("tickertape-site-{}", std::process::id()));
        let (given, beside) = (scratch.join("given"), scratch.join("beside"));
        for dir in [&given, &beside] {
            std::fs::create_dir_all(dir.join("pkg")).unwrap();
        }
        let nowhere = scratch.join("nowhere");
        // Neither holds the script: the given one, as it is.
        assert_eq!(locate_site(&given, Some(&beside)), given);
        std::fs::write(beside.join(SITE_SCRIPT), "").unwrap();
        assert_eq!(locate_site(&nowhere, Some(&beside)), beside);
        assert_eq!(locate_site(&nowhere, None), nowhere);
        std::fs::write(given.join(SITE_SCRIPT), "").unwrap();
        assert_eq!(
            locate_site(&given, Some(&beside)),
            given,
            "the given one first"
        );
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
