//! tickertape's server: feeds → hub → WebSocket sessions, plus the HTTP API
//! and the server-rendered page.
//!
//! - [`config`]: the one [`Config`](config::Config), from flags, env and file.
//! - [`feed`]: the [`Feed`](feed::Feed) trait, the simulator, the supervisor.
//! - [`hub`]: latest quotes, batching, the ring of encoded batches.
//! - [`session`]: one task per WebSocket client (protocol v1).
//! - [`wire`]: message encoding, diffs assembled from shared fragments.
//! - [`api`]: `/api/*`, `/healthz`, `/readyz`.
//!
//! Ticks flow from each feed through one channel into the hub task; the hub
//! publishes a batch per flush interval; sessions read batches and write
//! frames. [`serve`] wires it all to a listener; `main` and the tests share it.

#![recursion_limit = "256"]

pub mod api;
pub mod backoff;
pub mod batch;
pub mod bus;
pub mod candles;
pub mod config;
pub mod feed;
pub mod feed_setup;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod hub;
pub mod listen;
pub mod market;
pub mod metrics;
pub mod quotes;
pub mod session;
pub mod subscription;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use app::protocol::{Interval, SymbolInfo};
use app::selection::PageUrl;
use app::store::SPARK_MINUTES;
use app::{Board, BoardSource, Sparkline, shell};
use axum::Router;
use axum::extract::FromRef;
use axum::middleware;
use axum::routing::get;
use leptos::config::LeptosOptions;
use leptos::nonce::use_nonce;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{
    ResponseOptions, file_and_error_handler_with_context, render_app_async_with_context,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Role};
use crate::backoff::Backoff;
use crate::feed::{Feed, FeedOutput, FeedSink};
use crate::hub::{Hub, HubConfig};
pub use crate::market::now_ms;
use crate::metrics::Metrics;
use crate::session::SessionConfig;
use crate::subscription::Subscription;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub session: Arc<SessionConfig>,
    pub leptos: LeptosOptions,
    /// Fires when the server shuts down; feeds, the hub and sessions watch it.
    pub shutdown: CancellationToken,
    /// Every WebSocket session, so shutdown can wait for their close frames.
    pub sessions: TaskTracker,
    /// One permit per WebSocket session `--max-connections` allows, taken
    /// when the upgrade is admitted and held until the session ends.
    pub session_slots: Arc<tokio::sync::Semaphore>,
    /// The feed each symbol comes from, by symbol id.
    symbol_feeds: Arc<[String]>,
    /// The access token every route but `/healthz` needs, if any.
    pub auth_token: Option<guard::Token>,
    /// Whether the server speaks TLS (cookies are then `Secure`).
    pub tls: bool,
    /// Whether `X-Forwarded-Proto` is believed (`--trust-proxy`).
    pub trust_proxy: bool,
    /// The hosts requests may be addressed to; empty: any (see [`guard::check_host`]).
    pub served_hosts: Arc<[String]>,
    tls_acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: listen::Limits,
    /// This node's link to the bus, on ingest and edge nodes.
    pub bus: Option<bus::HealthWatch>,
    /// Whether the page and `/ws` are served (not on a plain ingest node).
    pub serves_browsers: bool,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos.clone()
    }
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
}

impl AppState {
    /// Starts what `config.role` asks for: feeds and hub (`all`), the same
    /// publishing to the bus (`ingest`), or a mirror of the ingest node
    /// (`edge`, which returns once it holds the ingest node's state).
    pub async fn start_node(config: &Config) -> Result<AppState, StartError> {
        let heartbeat = config.bus_heartbeat();
        let (access, prefix) = (config.bus_access(), config.bus_subject.as_str());
        let mut state = match (config.role, access) {
            (Role::All, _) | (_, None) => AppState::start(config)?,
            (Role::Ingest, Some(access)) => {
                let mut state = AppState::start(config)?;
                let (hub, feeds, stop) = (
                    state.hub.clone(),
                    state.symbol_feeds.clone(),
                    state.shutdown.clone(),
                );
                state.bus =
                    Some(bus::ingest::start(&access, prefix, heartbeat, hub, feeds, stop).await?);
                state.serves_browsers = config.serve_browsers;
                state
            }
            (Role::Edge, Some(access)) => {
                let shutdown = CancellationToken::new();
                let hub_config = hub_config(config);
                let mirror =
                    bus::edge::start(&access, prefix, heartbeat, &hub_config, shutdown.clone())
                        .await?;
                let mut state =
                    AppState::assemble(config, mirror.hub, mirror.symbol_feeds, shutdown);
                state.bus = Some(mirror.health);
                state
            }
        };
        state.add_tls(config)?;
        Ok(state)
    }

    /// Builds the feeds `config` names and the hub, and starts them on the
    /// current runtime. They run until [`AppState::shutdown`] fires.
    pub fn start(config: &Config) -> Result<AppState, StartError> {
        let feeds = feed_setup::build(config)?;
        let mut state = AppState::start_with_feeds(config, feeds);
        state.add_tls(config)?;
        Ok(state)
    }

    fn add_tls(&mut self, config: &Config) -> Result<(), StartError> {
        if let (Some(cert), Some(key), None) =
            (&config.tls_cert, &config.tls_key, &self.tls_acceptor)
        {
            self.tls_acceptor = Some(listen::tls_acceptor(cert, key)?);
            self.tls = true;
        }
        Ok(())
    }

    /// [`AppState::start`] with feeds built by the caller: how a custom
    /// adapter is plugged in, and how tests script a feed.
    pub fn start_with_feeds(config: &Config, feeds: Vec<Box<dyn Feed>>) -> AppState {
        // The universe: every feed's symbols; a symbol two feeds name is the first's.
        let mut symbols: Vec<SymbolInfo> = Vec::new();
        let mut owners: Vec<String> = Vec::new();
        for feed in &feeds {
            for info in feed.symbols() {
                if !symbols.iter().any(|s| s.symbol == info.symbol) {
                    symbols.push(info);
                    owners.push(feed.name().to_owned());
                }
            }
        }
        let names = feeds.iter().map(|f| f.name().to_owned()).collect();
        let (hub, folder) = Hub::folding(symbols, names, &hub_config(config));
        let port: Arc<dyn FeedSink> = Arc::new(folder.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(folder.run(shutdown.clone()));
        for (id, feed) in feeds.into_iter().enumerate() {
            let name = feed.name().to_owned();
            let out = FeedOutput::new(id, name, port.clone(), feed_clock(config), hub.metrics());
            tokio::spawn(feed::supervise(
                feed,
                out,
                Backoff::default(),
                shutdown.clone(),
            ));
        }
        AppState::assemble(config, hub, owners.into(), shutdown)
    }

    /// The state around a running hub.
    fn assemble(
        config: &Config,
        hub: Hub,
        symbol_feeds: Arc<[String]>,
        shutdown: CancellationToken,
    ) -> AppState {
        AppState {
            hub,
            session: Arc::new(session_config(config)),
            leptos: leptos_options(config),
            shutdown,
            sessions: TaskTracker::new(),
            session_slots: Arc::new(tokio::sync::Semaphore::new(config.max_connections as usize)),
            symbol_feeds,
            auth_token: config
                .auth_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(guard::Token::new),
            tls: false,
            trust_proxy: config.trust_proxy,
            served_hosts: config.served_hosts().into(),
            tls_acceptor: None,
            limits: connection_limits(config),
            bus: None,
            serves_browsers: true,
        }
    }

    /// The quotes the page is first rendered with.
    pub fn board(&self) -> Board {
        let (seq, quotes) = self.hub.published().snapshot(&Subscription::all());
        let feeds = self
            .hub
            .feeds()
            .all()
            .iter()
            .map(|f| (f.name.clone(), f.state))
            .collect();
        let sparklines = (0..self.hub.symbols().len())
            .map(|id| self.sparkline(id))
            .collect();
        Board {
            seq,
            symbols: self.hub.symbols().to_vec(),
            quotes,
            symbol_feeds: self
                .hub
                .symbols()
                .iter()
                .zip(self.symbol_feeds.iter())
                .map(|(s, f)| (s.symbol.clone(), f.clone()))
                .collect(),
            feeds,
            sparklines,
        }
    }

    fn sparkline(&self, id: market::SymbolId) -> Sparkline {
        let bars = self.hub.charts().candles(id, Interval::M1, SPARK_MINUTES);
        Sparkline {
            symbol: self.hub.symbols()[id].symbol.clone(),
            minute: bars.last().map_or(0, |b| b.t),
            closes: bars.iter().map(|b| b.c).collect(),
        }
    }
}

fn hub_config(config: &Config) -> HubConfig {
    HubConfig {
        flush: config.flush(),
        retained_batches: 50,
        tick_capacity: 16_384,
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
        msg_burst: 2.0 * f64::from(config.client_msg_rate),
        max_rate_violations: 50,
        allowed_origins: config
            .allowed_origins
            .iter()
            .chain(&config.public_origin)
            .cloned()
            .collect(),
        max_symbols: config.max_symbols_per_client as usize,
        first_message_timeout: Duration::from_secs(config.first_message_timeout),
    }
}

fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("tickertape")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build()
}

/// The whole HTTP surface: page, assets, API, probes and `/ws`.
pub fn app(state: AppState) -> Router {
    // Context for every server-rendered page: its quotes and address, and
    // the CSP header carrying this response's script nonce.
    let board = {
        let state = state.clone();
        move || {
            let state = state.clone();
            provide_context(BoardSource::new(move || state.board()));
            provide_context(requested_theme());
            provide_context(page_url());
            set_content_security_policy();
        }
    };
    // Rendering runs on tokio (an error only says it was set already).
    let _ = any_spawner::Executor::init_tokio();
    // The page is rendered whole (prices included) before it is sent.
    let page = render_app_async_with_context(board.clone(), {
        let options = state.leptos.clone();
        move || shell(options.clone())
    });
    Router::new()
        .route("/", get(page))
        .route("/ws", get(session::upgrade))
        .route("/api/symbols", get(api::symbols))
        .route("/api/quotes", get(api::quotes))
        .route("/api/candles/{symbol}", get(api::candles))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            board, shell,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::browsers_only_where_served,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_host,
        ))
        .layer(middleware::from_fn(guard::security_headers))
        .with_state(state)
}

/// The request's path and query, for the page to render its selection.
fn page_url() -> PageUrl {
    use_context::<axum::http::request::Parts>()
        .map(|parts| PageUrl {
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
        })
        .unwrap_or_default()
}

/// The theme the request's cookie chose, for the server-rendered `<html>`.
fn requested_theme() -> app::theme::RequestedTheme {
    let cookies = use_context::<axum::http::request::Parts>().and_then(|parts| {
        let header = parts.headers.get(axum::http::header::COOKIE)?;
        header.to_str().ok().map(str::to_owned)
    });
    app::theme::RequestedTheme(
        cookies
            .as_deref()
            .and_then(app::theme::Theme::from_cookie_header),
    )
}

/// Sets the page's Content-Security-Policy for the nonce Leptos gives its
/// hydration script (outside a page render there is neither: nothing to do).
fn set_content_security_policy() {
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let host = use_context::<axum::http::request::Parts>().and_then(|parts| {
        parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    let policy = guard::content_security_policy(&nonce.to_string(), host.as_deref());
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then stops
/// accepting, closes every WebSocket with 1001 and waits for requests in
/// flight and sessions, `--shutdown-timeout` at most in all.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let sessions = state.sessions.clone();
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
