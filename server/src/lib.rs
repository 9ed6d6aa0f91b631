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
pub mod candles;
pub mod config;
pub mod feed;
pub mod hub;
pub mod quotes;
pub mod session;
pub mod subscription;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use app::protocol::{Interval, SymbolInfo};
use app::store::SPARK_MINUTES;
use app::{App, Board, BoardSource, Sparkline, shell};
use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::feed::{Backoff, Feed, FeedOutput};
use crate::hub::{Hub, HubConfig};
use crate::session::SessionConfig;
use crate::subscription::Subscription;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

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
    /// The feed each symbol comes from, by symbol id.
    symbol_feeds: Arc<[String]>,
    shutdown_timeout: Duration,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos.clone()
    }
}

/// A configuration that cannot start.
pub type StartError = feed::from_config::FeedConfigError;

impl AppState {
    /// Builds the feeds `config` names and the hub, and starts them on the
    /// current runtime. They run until [`AppState::shutdown`] fires.
    pub fn start(config: &Config) -> Result<AppState, StartError> {
        Ok(AppState::start_with_feeds(
            config,
            feed::from_config::build(config)?,
        ))
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
        let hub_config = HubConfig {
            flush: config.flush(),
            retained_batches: 50,
            tick_capacity: 16_384,
        };
        let (hub, hub_task) = Hub::new(symbols, names, &hub_config);
        let shutdown = CancellationToken::new();
        tokio::spawn(hub_task.run(shutdown.clone()));
        for (id, feed) in feeds.into_iter().enumerate() {
            let out = FeedOutput::new(hub.clone(), id);
            tokio::spawn(feed::supervise(
                feed,
                out,
                Backoff::default(),
                shutdown.clone(),
            ));
        }
        AppState {
            hub,
            session: Arc::new(session_config(config)),
            leptos: leptos_options(config),
            shutdown,
            sessions: TaskTracker::new(),
            symbol_feeds: owners.into(),
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout),
        }
    }

    /// The quotes the page is first rendered with.
    pub fn board(&self) -> Board {
        let (seq, quotes) = self.hub.snapshot(&Subscription::all());
        let feeds = self
            .hub
            .feed_states()
            .borrow()
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

    fn sparkline(&self, id: hub::SymbolId) -> Sparkline {
        let bars = self.hub.candles(id, Interval::M1, SPARK_MINUTES);
        Sparkline {
            symbol: self.hub.symbols()[id].symbol.clone(),
            minute: bars.last().map_or(0, |b| b.t),
            closes: bars.iter().map(|b| b.c).collect(),
        }
    }
}

fn session_config(config: &Config) -> SessionConfig {
    SessionConfig {
        heartbeat: Duration::from_millis(config.heartbeat_ms),
        heartbeat_timeout: Duration::from_millis(config.heartbeat_timeout_ms),
        send_timeout: Duration::from_secs(5),
        msg_rate: f64::from(config.client_msg_rate),
        msg_burst: 2.0 * f64::from(config.client_msg_rate),
        max_rate_violations: 50,
        allowed_origins: config.allowed_origins.clone(),
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
    let board = {
        let state = state.clone();
        move || {
            let state = state.clone();
            provide_context(BoardSource::new(move || state.board()));
        }
    };
    let routes = generate_route_list(App);
    Router::new()
        .route("/ws", get(session::upgrade))
        .route("/api/symbols", get(api::symbols))
        .route("/api/quotes", get(api::quotes))
        .route("/api/candles/{symbol}", get(api::candles))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .leptos_routes_with_context(&state, routes, board.clone(), {
            let options = state.leptos.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            board, shell,
        ))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes, then stops
/// accepting, closes every WebSocket with 1001 and waits (bounded) for them.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let sessions = state.sessions.clone();
    let timeout = state.shutdown_timeout;
    let stopping = {
        let token = token.clone();
        async move {
            tokio::select! {
                _ = shutdown => token.cancel(),
                _ = token.cancelled() => {}
            }
        }
    };
    // Quotes are small frames that must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(stopping)
        .await?;
    sessions.close();
    if tokio::time::timeout(timeout, sessions.wait())
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
