//! One WebSocket client: protocol v1 over `/ws`.
//!
//! [`upgrade`] checks the origin and hands the socket to [`run`], one task per
//! client. The task is a single `select!` (shutdown first) whose arms call
//! `on_frame`, `on_heartbeat`, `on_batch` and `on_feed_status`. Every send is
//! bounded by a timeout, so a client that stops reading is closed with 1013
//! instead of pinning memory; the hub itself never waits for a session.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use app::protocol::{
    ALL_SYMBOLS, ClientMsg, ErrorCode, FeedState, Interval, MAX_CHARTS, PROTOCOL_VERSION,
    SUBPROTOCOL_BIN, SUBPROTOCOL_JSON, ServerMsg, decode_client,
};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::Number;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::{self, Message, protocol::WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::json_error;
use crate::candles;
use crate::fanout::{Fanout, Lane};
use crate::hub::published::epoch_name;
use crate::hub::{Batch, ChartWatch, DepthWatch, FeedStatus, Hub, Lagged, SymbolId, Watched};
use crate::market::now_ms;
use crate::metrics::Metrics;
use crate::socket::{NotAnUpgrade, Outgoing, Upgrade};
use crate::subscription::Subscription;
use crate::wire::{self, Encoding};

/// Largest client frame or message accepted; larger ones close with 1009.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// How long closing waits for each step of the close handshake.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Bytes read from a client socket at a time.
const READ_BUFFER: usize = 1024;

/// Close codes of protocol v1.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const SERVICE_RESTART: u16 = 1012;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// The reason of a shutdown's close (1012): come back after this many ms,
/// each client its own draw within `--restart-spread-ms`, so they do not
/// all reconnect in the same second. The page reads `retry_after_ms=`.
fn restart_reason(spread: Duration) -> String {
    let spread = u64::try_from(spread.as_millis()).unwrap_or(u64::MAX).max(1);
    let after = rand::random_range(0..spread);
    format!("service restart; retry_after_ms={after}")
}

/// Per-connection limits, derived once from the configuration.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub heartbeat: Duration,
    /// A client silent for this long (no frame, no pong) is closed.
    pub heartbeat_timeout: Duration,
    /// A send that takes longer marks the client a slow consumer.
    pub send_timeout: Duration,
    /// Sustained client messages per second.
    pub msg_rate: f64,
    /// Messages a client may send at once before the rate applies.
    pub msg_burst: f64,
    /// Messages refused for rate before the connection is closed with 1008.
    pub max_rate_violations: u32,
    /// Origins allowed besides the page's own (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Symbols one session may name in its subscription (`*` always works).
    pub max_symbols: usize,
    /// A new client must send its first message within this.
    pub first_message_timeout: Duration,
    /// The longest a client's `rate` may hold batches back: under what the
    /// hub retains, so a paced client is never a slow consumer.
    pub max_pace: Duration,
    /// At shutdown, clients are told to come back within this, each after
    /// its own random delay.
    pub restart_spread: Duration,
}

/// What `/ws` uses: the hub sessions read, their limits, and the means to
/// admit, track and stop them. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    pub hub: Hub,
    pub config: Arc<SessionConfig>,
    /// One permit per session `--max-connections` allows, taken when the
    /// upgrade is admitted and held until the session ends.
    pub slots: Arc<Semaphore>,
    /// Every session, so shutdown can wait for their close frames.
    pub tracker: TaskTracker,
    /// Fires when the server shuts down: sessions close with 1012.
    pub shutdown: CancellationToken,
    /// Cuts every session without a close frame (the control API's).
    pub cutter: Cutter,
    /// Writes batches to the sessions that keep up.
    pub fanout: Arc<Fanout>,
}

/// Cuts every open session at once, without a close frame, as a network
/// failure would: clients see their connection drop and reconnect.
#[derive(Clone, Default)]
pub struct Cutter(Arc<std::sync::Mutex<CancellationToken>>);

impl Cutter {
    /// What the sessions open now watch.
    fn current(&self) -> CancellationToken {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Cuts the sessions open now; later ones are not.
    pub fn cut(&self) {
        if let Ok(mut current) = self.0.lock() {
            std::mem::take(&mut *current).cancel();
        }
    }
}

/// The `/ws` route.
pub fn router<S: Clone + Send + Sync + 'static>(sessions: Sessions) -> Router<S> {
    Router::new()
        .route("/ws", get(upgrade))
        .with_state(sessions)
}

/// Why an upgrade was refused.
#[derive(Clone, Copy, Debug)]
enum Refused {
    /// A foreign `Origin` (403).
    Origin,
    /// At `--max-connections` (503).
    Capacity,
}

impl Refused {
    /// The `reason` label of `tickertape_upgrades_refused_total`.
    fn label(self) -> &'static str {
        match self {
            Refused::Origin => "origin",
            Refused::Capacity => "capacity",
        }
    }
}

/// `GET /ws`: refuses foreign origins with 403, then upgrades.
pub async fn upgrade(
    State(state): State<Sessions>,
    headers: HeaderMap,
    ws: Result<Upgrade, NotAnUpgrade>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(NotAnUpgrade(status, why)) => return json_error(status, why),
    };
    let refused = |reason: Refused| {
        state
            .hub
            .metrics()
            .upgrades_refused
            .with_label_values(&[reason.label()])
            .inc()
    };
    if let Err(why) = check_origin(&headers, &state.config.allowed_origins) {
        tracing::info!(%why, "refused WebSocket upgrade");
        refused(Refused::Origin);
        return json_error(StatusCode::FORBIDDEN, why);
    }
    // Counted at admission: of a burst of parallel upgrades, exactly as many
    // as there are free places get through.
    let Ok(slot) = state.slots.clone().try_acquire_owned() else {
        refused(Refused::Capacity);
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server is at its connection limit; try again later",
        );
    };
    let Sessions {
        hub,
        config,
        tracker,
        shutdown,
        cutter,
        fanout,
        ..
    } = state;
    let cut = cutter.current();
    // A client offering both gets the binary one.
    let protocol = ws.choose(&[SUBPROTOCOL_BIN, SUBPROTOCOL_JSON]);
    let encoding = match protocol {
        Some(SUBPROTOCOL_BIN) => Encoding::Binary,
        _ => Encoding::Json,
    };
    let reading = WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_FRAME))
        .max_frame_size(Some(MAX_CLIENT_FRAME))
        // tungstenite zero-fills its whole read buffer before every read
        // attempt: at the default 128 KiB that was a third of the server's CPU
        // (and most of its memory per client). Client messages are small.
        .read_buffer_size(READ_BUFFER)
        // It writes only pongs and close answers, which the socket sends.
        .write_buffer_size(0);
    ws.accept(protocol, reading, move |socket| {
        let lane = fanout.lane(socket, encoding);
        tracker.track_future(async move {
            run(lane, hub, config, shutdown, cut).await;
            drop(slot);
        })
    })
}

/// Same-origin by default: the `Origin` must name the `Host` the request was
/// sent to, or be listed. Clients that send no `Origin` (not browsers) pass.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "unreadable Origin header".to_string())?;
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        return Ok(());
    }
    Err(format!("origin {origin} is not allowed"))
}

/// What one of this connection's charts shows.
struct Chart {
    /// Its number (`chart`), named in every message about it but 0's.
    no: u8,
    id: SymbolId,
    interval: Interval,
    /// Bars of history the client asked for.
    limit: usize,
    /// Keeps the hub encoding this series' candles.
    _watch: ChartWatch,
    /// The history sent covers every batch up to this one; older batches'
    /// candles (and trades) would be stale, so they are skipped.
    since_batch: u64,
    /// Interest in the symbol's trades, if the tape is shown, and the batch
    /// the trades sent are current as of: older batches' are skipped.
    trades: Option<(DepthWatch, u64)>,
    /// Interest in its book, if shown, and the batch the book sent is
    /// current as of: older batches' book messages are skipped.
    book: Option<(DepthWatch, u64)>,
}

/// What a `chart` message asks for besides the symbol.
struct Asked {
    interval: Option<Interval>,
    limit: Option<usize>,
    chart: u8,
    trades: bool,
    book: bool,
}

/// Why a session ends.
#[derive(Debug)]
enum Stop {
    /// We close the connection with this code and reason.
    Close(u16, String),
    /// The peer went away; nothing more to send.
    Gone,
}

fn close_with(code: u16, reason: impl Into<String>) -> Stop {
    Stop::Close(code, reason.into())
}

/// Serves one client until it leaves, misbehaves, or `shutdown` fires;
/// dropped without a word when `cut` fires.
pub async fn run(
    lane: Arc<Lane>,
    hub: Hub,
    config: Arc<SessionConfig>,
    shutdown: CancellationToken,
    cut: CancellationToken,
) {
    let metrics = hub.metrics();
    metrics.sessions_opened.inc();
    metrics.connections.inc();
    let mut session = Session::new(lane.clone(), hub.clone(), config);
    let code = match session.serve(&shutdown, &cut).await {
        Ok(()) | Err(Stop::Gone) => "none".to_string(),
        Err(Stop::Close(code, reason)) => {
            if code == close::TRY_AGAIN_LATER {
                metrics.evictions.inc();
            }
            session.finish(Stop::Close(code, reason)).await;
            code.to_string()
        }
    };
    lane.shut();
    metrics
        .sessions_closed
        .with_label_values(&[code.as_str()])
        .inc();
    metrics.connections.dec();
}

struct Session {
    /// The socket, shared with a fan-out writer.
    lane: Arc<Lane>,
    /// Whether the writer delivers batches now: `seq`, `batch` and `sub`
    /// are then the lane's, taken back whenever the task wakes.
    handed: bool,
    /// How snapshots and diffs go to this client.
    encoding: Encoding,
    hub: Hub,
    config: Arc<SessionConfig>,
    head: watch::Receiver<u64>,
    feeds: watch::Receiver<Vec<FeedStatus>>,
    /// Alert firings and changes, sent to every client.
    alerts: broadcast::Receiver<Arc<str>>,
    /// Feed states as this client last heard them.
    told: Vec<Option<FeedState>>,
    sub: Subscription,
    /// By chart number.
    charts: [Option<Chart>; MAX_CHARTS as usize],
    /// `seq` of the next snapshot or diff; 0 until the first snapshot.
    seq: u64,
    /// The newest hub batch this client's view includes.
    batch: u64,
    last_heard: Instant,
    /// Whether the client has sent any message yet.
    heard_from: bool,
    limiter: RateLimiter,
    /// The client's `rate`: at most one message about quotes and charts this often.
    pace: Option<Duration>,
    /// When the next may go, and whether batches wait for it.
    next_send: Instant,
    held: bool,
}

impl Session {
    fn new(lane: Arc<Lane>, hub: Hub, config: Arc<SessionConfig>) -> Session {
        let limiter = RateLimiter::new(config.msg_rate, config.msg_burst);
        Session {
            encoding: lane.encoding(),
            lane,
            handed: false,
            head: hub.published().watch_head(),
            feeds: hub.feeds().watch(),
            alerts: hub.alerts().subscribe(),
            hub,
            config,
            told: Vec::new(),
            sub: Subscription::default(),
            charts: Default::default(),
            seq: 0,
            batch: 0,
            last_heard: Instant::now(),
            heard_from: false,
            limiter,
            pace: None,
            next_send: Instant::now(),
            held: false,
        }
    }

    async fn serve(
        &mut self,
        shutdown: &CancellationToken,
        cut: &CancellationToken,
    ) -> Result<(), Stop> {
        self.greet().await?;
        let mut heartbeat = tokio::time::interval_at(
            Instant::now() + self.config.heartbeat,
            self.config.heartbeat,
        );
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Made once: re-registering with the token on every wake-up costs.
        let mut shutdown = std::pin::pin!(shutdown.cancelled());
        let mut cut = std::pin::pin!(cut.cancelled());
        // When batches held back for the client's `rate` go.
        let mut pace = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
        let mut first_message =
            std::pin::pin!(tokio::time::sleep(self.config.first_message_timeout));
        loop {
            // Batches go from a writer while the task waits, unless it must
            // send them itself; whatever wakes it, it takes them back first
            // (`finish` does for the arms that return).
            self.hand_over();
            tokio::select! {
                biased;
                _ = &mut shutdown => return Err(close_with(close::SERVICE_RESTART, restart_reason(self.config.restart_spread))),
                _ = &mut cut => return Err(Stop::Gone),
                _ = &mut first_message, if !self.heard_from => {
                    return Err(close_with(close::POLICY, "no message from the client in time"));
                }
                frame = self.lane.recv() => {
                    self.take_back();
                    self.on_frame(frame).await?
                }
                _ = heartbeat.tick() => {
                    self.take_back();
                    self.on_heartbeat().await?
                }
                () = self.lane.kicked(), if self.handed => {
                    self.take_back();
                    self.on_kick().await?
                }
                head = self.head.changed(), if !self.handed && (!self.sub.is_empty() || self.charting()) => {
                    head.map_err(|_| close_with(close::GOING_AWAY, "server shutting down"))?;
                    if self.hold_back() {
                        pace.as_mut().reset(self.next_send);
                    } else {
                        self.on_paced_batch().await?;
                    }
                }
                () = &mut pace, if self.held => self.on_paced_batch().await?,
                Ok(()) = self.feeds.changed() => {
                    self.take_back();
                    self.on_feed_status().await?
                }
                alert = self.alerts.recv() => {
                    self.take_back();
                    match alert {
                        Ok(json) => self.send(Outgoing::text_ref(&json)).await?,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "a client missed alert messages");
                        }
                        // The hub is gone: the session ends with it.
                        Err(broadcast::error::RecvError::Closed) => return Err(close_with(close::GOING_AWAY, "server shutting down")),
                    }
                }
            }
        }
    }

    /// Hands the socket's batches to the fan-out writer when the session
    /// is caught up and they need nothing of it: full rate, no chart.
    fn hand_over(&mut self) {
        if self.handed || self.sub.is_empty() || self.pace.is_some() || self.held || self.charting()
        {
            return;
        }
        self.handed = self
            .lane
            .hand(self.seq, self.batch, &self.sub, self.hub.published());
    }

    /// Takes back `seq` and `batch` as the writer left them.
    fn take_back(&mut self) {
        if !std::mem::take(&mut self.handed) {
            return;
        }
        if let Some(handed) = self.lane.reclaim() {
            self.seq = handed.seq;
            self.batch = handed.batch;
        }
    }

    /// The writer left something to this task: a message still in the
    /// socket's buffer goes first (a client that does not read it in time is
    /// a slow consumer), then whatever batches it has not got.
    async fn on_kick(&mut self) -> Result<(), Stop> {
        bounded(&self.config, self.hub.metrics(), None, self.lane.flush()).await?;
        self.on_paced_batch().await
    }

    async fn greet(&mut self) -> Result<(), Stop> {
        let hello = ServerMsg::Hello {
            protocol: PROTOCOL_VERSION,
            server_time: now_ms(),
            heartbeat_ms: u64::try_from(self.config.heartbeat.as_millis()).unwrap_or(u64::MAX),
            epoch: epoch_name(self.hub.published().epoch()),
        };
        self.send_msg(&hello).await?;
        self.on_feed_status().await
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), Stop> {
        let message = match frame {
            None => return Err(Stop::Gone),
            Some(Err(e)) => return Err(read_error(e)),
            Some(Ok(message)) => message,
        };
        self.last_heard = Instant::now();
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            self.heard_from = true;
        }
        match message {
            Message::Text(text) => {
                if !self.admit().await? {
                    return Ok(());
                }
                match decode_client(text.as_str()) {
                    Ok(msg) => self.on_message(msg).await,
                    Err(e) => self.send_error(ErrorCode::BadRequest, e.0).await,
                }
            }
            Message::Binary(_) => {
                if !self.admit().await? {
                    return Ok(());
                }
                self.send_error(
                    ErrorCode::BadRequest,
                    "client messages are JSON text frames, never binary ones",
                )
                .await
            }
            Message::Close(_) => {
                let _ = tokio::time::timeout(CLOSE_WAIT, self.lane.close()).await;
                Err(Stop::Gone)
            }
            // Answered by tungstenite, but counted: a flood of pings is a
            // flood of messages.
            Message::Ping(_) => self.admit().await.map(|_| ()),
            // Raw frames never arrive.
            Message::Pong(_) | Message::Frame(_) => Ok(()),
        }
    }

    async fn on_message(&mut self, msg: ClientMsg) -> Result<(), Stop> {
        match msg {
            ClientMsg::Subscribe { symbols } => self.subscribe(&symbols).await,
            ClientMsg::Unsubscribe { symbols } => self.unsubscribe(&symbols).await,
            ClientMsg::Resync => self.snapshot().await,
            ClientMsg::Resume {
                epoch,
                seq,
                batch,
                symbols,
            } => {
                self.add(&symbols).await?;
                self.resume(&epoch, seq, batch).await
            }
            ClientMsg::Rate { max_hz } => self.rate(max_hz).await,
            ClientMsg::Ping { t } => self.pong(t).await,
            ClientMsg::Chart {
                symbol,
                interval,
                limit,
                chart,
                trades,
                book,
            } => {
                let asked = Asked {
                    interval,
                    limit,
                    chart,
                    trades,
                    book,
                };
                self.chart(symbol, asked).await
            }
        }
    }

    /// `{"op":"rate","max_hz":…}`: at most that many messages a second
    /// (no slower than the hub's retention allows); none: every batch.
    async fn rate(&mut self, max_hz: Option<f64>) -> Result<(), Stop> {
        match max_hz {
            None => {
                self.pace = None;
                // What was held back goes now.
                if std::mem::take(&mut self.held) {
                    self.on_batch().await?;
                }
                Ok(())
            }
            Some(hz) if hz.is_finite() && hz > 0.0 => {
                let every = Duration::from_secs_f64((1.0 / hz).min(3600.0));
                self.pace = Some(every.min(self.config.max_pace));
                Ok(())
            }
            Some(hz) => {
                let message =
                    format!("max_hz must be a positive number of messages a second, not {hz}");
                self.send_error(ErrorCode::BadRequest, message).await
            }
        }
    }

    /// Whether a batch must wait for the client's pace; if so, it is
    /// sent (merged with what follows) when the pace allows.
    fn hold_back(&mut self) -> bool {
        let waits = self.pace.is_some() && Instant::now() < self.next_send;
        self.held |= waits;
        waits
    }

    /// Sends what the batches since the last change, and sets when the
    /// next may go at the client's pace.
    async fn on_paced_batch(&mut self) -> Result<(), Stop> {
        self.held = false;
        self.on_batch().await?;
        if let Some(every) = self.pace {
            self.next_send = Instant::now() + every;
        }
        Ok(())
    }

    fn charting(&self) -> bool {
        self.charts.iter().any(Option::is_some)
    }

    /// Starts (or, without a symbol, stops) one chart: history now (and
    /// the latest trades and the book, if asked), then what each batch changes.
    async fn chart(&mut self, symbol: Option<String>, asked: Asked) -> Result<(), Stop> {
        let Asked {
            interval,
            limit,
            chart: no,
            trades,
            book,
        } = asked;
        if no >= MAX_CHARTS {
            let message = format!("chart must be between 0 and {}", MAX_CHARTS - 1);
            return self.send_error(ErrorCode::BadRequest, message).await;
        }
        let slot = usize::from(no);
        let Some(symbol) = symbol else {
            self.charts[slot] = None;
            return Ok(());
        };
        let Some(id) = self.hub.lookup(&symbol) else {
            return self
                .send_error(
                    ErrorCode::UnknownSymbol,
                    format!("unknown symbol: {symbol}"),
                )
                .await;
        };
        let limit = limit.unwrap_or(candles::DEFAULT_LIMIT);
        if !(1..=candles::CAPACITY).contains(&limit) {
            let message = format!("limit must be between 1 and {}", candles::CAPACITY);
            return self.send_error(ErrorCode::BadRequest, message).await;
        }
        let interval = interval.unwrap_or_default();
        // Watched before the history is read: every batch after it carries
        // this series' bars, so a bar that closes in between is not lost.
        let _watch = self.hub.watch_chart(id, interval);
        // Batches up to `since_batch` hold bars no newer than the history.
        let trades = trades.then(|| self.hub.depths().watch(id, Watched::Trades));
        let book = book.then(|| self.hub.depths().watch(id, Watched::Book));
        let (since_batch, history) = self.hub.history_frame(id, interval, limit);
        self.charts[slot] = None;
        if self.sub.is_empty() && !self.charting() {
            // No diffs are owed: batches start mattering from here.
            self.head.borrow_and_update();
            self.batch = since_batch;
        }
        self.send_chart_frame(no, &history).await?;
        let trades = match trades {
            Some(watch) => {
                let (as_of, recent) = self.hub.depths().recent_frame(id);
                self.send_chart_frame(no, &recent).await?;
                Some((watch, as_of))
            }
            None => None,
        };
        let book = match (book, self.hub.depths().book(id)) {
            (Some(watch), Some(shown)) => {
                self.send_chart_frame(no, &shown.frame).await?;
                Some((watch, shown.no))
            }
            (Some(watch), None) => Some((watch, 0)),
            (None, _) => None,
        };
        self.charts[slot] = Some(Chart {
            no,
            id,
            interval,
            limit,
            since_batch,
            _watch,
            trades,
            book,
        });
        Ok(())
    }

    /// Sends one of the hub's chart messages (made for chart 0) to chart `no`.
    async fn send_chart_frame(&mut self, no: u8, frame: &str) -> Result<(), Stop> {
        let text = wire::for_chart(frame, no);
        send_bounded(
            &self.lane,
            &self.config,
            self.hub.metrics(),
            Outgoing::text_ref(&text),
        )
        .await
    }

    async fn subscribe(&mut self, symbols: &[String]) -> Result<(), Stop> {
        self.add(symbols).await?;
        self.snapshot().await
    }

    /// Adds `symbols` to the subscription, telling the client which it
    /// cannot have.
    async fn add(&mut self, symbols: &[String]) -> Result<(), Stop> {
        let mut unknown = Vec::new();
        let mut over_limit = 0;
        for symbol in symbols {
            match (symbol.as_str(), self.hub.lookup(symbol)) {
                (ALL_SYMBOLS, _) => self.sub.subscribe_all(),
                (_, Some(id)) if self.sub.contains(id) => {}
                (_, Some(_)) if self.sub.len() >= self.config.max_symbols => over_limit += 1,
                (_, Some(id)) => self.sub.insert(id),
                (_, None) => unknown.push(symbol.as_str()),
            }
        }
        self.report_unknown(&unknown).await?;
        if over_limit > 0 {
            let message = format!(
                "at most {} symbols per connection (or \"*\"); {over_limit} not added",
                self.config.max_symbols
            );
            self.send_error(ErrorCode::TooManySymbols, message).await?;
        }
        Ok(())
    }

    /// `resume`: the client holds the state of batch `batch` of `epoch`,
    /// its last message numbered `seq`. One diff brings it up to date when
    /// this hub still holds every batch since; otherwise a snapshot.
    /// Either is numbered `seq + 1`.
    async fn resume(&mut self, epoch: &str, seq: u64, batch: u64) -> Result<(), Stop> {
        self.seq = seq;
        // As for a snapshot: batches after this wake `on_batch`.
        self.head.borrow_and_update();
        let published = self.hub.published();
        let since = published.resume_point(epoch, batch).and_then(|point| {
            let batches = published.batches_after(point).ok()?;
            let newest = batches
                .last()
                .map_or((point, batch, now_ms()), |b| (b.no, b.public, b.ts));
            (!batches.iter().any(|b| b.withdrawn)).then_some((batches, newest))
        });
        let Some((batches, newest)) = since else {
            self.hub
                .metrics()
                .resumes
                .with_label_values(&["snapshot"])
                .inc();
            return self.snapshot().await;
        };
        self.hub
            .metrics()
            .resumes
            .with_label_values(&["diff"])
            .inc();
        let seq = self.next_seq();
        let frame = match batches.as_slice() {
            [] => None,
            [one] => wire::diff_frame(seq, one, &self.sub, self.encoding),
            many => wire::conflated_frame(seq, many, &self.sub, self.encoding),
        };
        let (no, public, ts) = newest;
        self.batch = no;
        let frame = frame.unwrap_or_else(|| wire::empty_diff(seq, public, ts, self.encoding));
        self.send(frame).await
    }

    async fn unsubscribe(&mut self, symbols: &[String]) -> Result<(), Stop> {
        let mut unknown = Vec::new();
        for symbol in symbols {
            match (symbol.as_str(), self.hub.lookup(symbol)) {
                (ALL_SYMBOLS, _) => self.sub.clear(),
                (_, Some(id)) => self.sub.remove(id, self.hub.symbols().len()),
                (_, None) => unknown.push(symbol.as_str()),
            }
        }
        self.report_unknown(&unknown).await
    }

    async fn report_unknown(&mut self, unknown: &[&str]) -> Result<(), Stop> {
        if unknown.is_empty() {
            return Ok(());
        }
        let listed: Vec<&str> = unknown.iter().take(20).copied().collect();
        let more = unknown.len().saturating_sub(listed.len());
        let suffix = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let message = format!("unknown symbols: {}{suffix}", listed.join(", "));
        self.send_error(ErrorCode::UnknownSymbol, message).await
    }

    /// Sends the current state of the subscription; diffs continue from it.
    async fn snapshot(&mut self) -> Result<(), Stop> {
        // Mark the head seen first: a batch published after this point wakes
        // `on_batch`, which then finds it after `self.batch`.
        self.head.borrow_and_update();
        let seq = self.next_seq();
        let published = self.hub.published();
        let (batch, frame) = match self.encoding {
            Encoding::Json => {
                let (batch, json) = published.snapshot_frame(seq, &self.sub);
                (batch, Outgoing::text(json))
            }
            Encoding::Binary => {
                let (batch, bytes) = published.snapshot_bin(seq, &self.sub);
                (batch, Outgoing::binary(bytes))
            }
        };
        self.batch = batch;
        self.send(frame).await
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Sends what the hub published since this client's last message: the
    /// shared encoding when it is one batch behind, one merged diff when more.
    async fn on_batch(&mut self) -> Result<(), Stop> {
        let batches = self
            .hub
            .published()
            .batches_after(self.batch)
            .map_err(|Lagged| close_with(close::TRY_AGAIN_LATER, "slow consumer"))?;
        let Some(newest) = batches.last() else {
            return Ok(());
        };
        self.batch = newest.no;
        if batches.iter().any(|b| b.withdrawn) && !self.sub.is_empty() {
            // Quotes went away, which a diff cannot say: start over.
            self.snapshot().await?;
        } else {
            self.send_diff(&batches).await?;
        }
        for slot in 0..self.charts.len() {
            self.send_chart(slot, &batches).await?;
        }
        Ok(())
    }

    async fn send_diff(&mut self, batches: &[Arc<Batch>]) -> Result<(), Stop> {
        if self.sub.is_empty() {
            return Ok(());
        }
        let seq = self.seq + 1;
        let merged;
        let frame = match batches {
            [one] => wire::diff_frame(seq, one, &self.sub, self.encoding),
            many => {
                self.hub.metrics().conflations.inc();
                // `*` sessions behind share one merge per span; a session
                // with a few symbols, or paced (its spans are its own),
                // merges alone unless the merge is there already.
                let published = self.hub.published();
                let share = self.sub.is_all() && self.pace.is_none();
                merged = published.merged(many, share);
                match &merged {
                    Some(merged) => wire::diff_frame(seq, merged, &self.sub, self.encoding),
                    None => wire::conflated_frame(seq, many, &self.sub, self.encoding),
                }
            }
        };
        match frame {
            Some(frame) => {
                self.seq = seq;
                self.send(frame).await
            }
            None => Ok(()),
        }
    }

    /// What `batches` change of one chart: its candles, trades and book.
    async fn send_chart(&mut self, slot: usize, batches: &[Arc<Batch>]) -> Result<(), Stop> {
        let Some(chart) = self.charts[slot].as_ref() else {
            return Ok(());
        };
        let (no, id, interval, limit, since_batch) = (
            chart.no,
            chart.id,
            chart.interval,
            chart.limit,
            chart.since_batch,
        );
        let tape_since = chart.trades.as_ref().map(|t| t.1);
        let book_since = chart.book.as_ref().map(|b| b.1);
        let fresh = batches
            .iter()
            .position(|b| b.no > since_batch)
            .unwrap_or(batches.len());
        let fresh = &batches[fresh..];
        if fresh.iter().any(|b| b.resync) {
            // History may have changed anywhere: send all of it again.
            let (_, history) = self.hub.history_frame(id, interval, limit);
            self.send_chart_frame(no, &history).await?;
        } else {
            for frame in wire::candle_frames(fresh, id, interval) {
                self.send_chart_frame(no, frame).await?;
            }
        }
        if let Some(since) = tape_since {
            let newer = batches
                .iter()
                .position(|b| b.no > since)
                .unwrap_or(batches.len());
            if let Some(frame) = self.hub.depths().trades_of(&batches[newer..], id) {
                self.send_chart_frame(no, &frame).await?;
            }
        }
        if let Some(since) = book_since {
            let newer: Vec<&Arc<Batch>> = batches.iter().filter(|b| b.no > since).collect();
            if let Some(frame) = wire::book_frame(&newer, id) {
                self.send_chart_frame(no, frame).await?;
            }
        }
        Ok(())
    }

    async fn on_heartbeat(&mut self) -> Result<(), Stop> {
        if self.last_heard.elapsed() > self.config.heartbeat_timeout {
            return Err(close_with(close::NORMAL, "heartbeat timeout"));
        }
        self.send(Outgoing::ping()).await
    }

    /// Tells the client about every feed whose state it has not heard yet.
    async fn on_feed_status(&mut self) -> Result<(), Stop> {
        let feeds = self.feeds.borrow_and_update().clone();
        self.told.resize(feeds.len(), None);
        for (told, feed) in self.told.iter_mut().zip(&feeds) {
            if *told == Some(feed.state) {
                continue;
            }
            *told = Some(feed.state);
            let status = ServerMsg::Status {
                feed: feed.name.clone(),
                state: feed.state,
            };
            let status = Outgoing::text(wire::encode(&status));
            send_bounded(&self.lane, &self.config, self.hub.metrics(), status).await?;
        }
        Ok(())
    }

    async fn pong(&mut self, t: Number) -> Result<(), Stop> {
        self.send_msg(&ServerMsg::Pong {
            t,
            server_time: now_ms(),
        })
        .await
    }

    /// Whether to act on a client message: beyond the rate, the first refusal
    /// gets a `rate_limited` error, later ones are dropped, and 1008 closes a
    /// client that goes on.
    async fn admit(&mut self) -> Result<bool, Stop> {
        match self.limiter.admit(Instant::now()) {
            Admit::Yes => Ok(true),
            Admit::No { violations } if violations > self.config.max_rate_violations => {
                Err(close_with(close::POLICY, "message rate limit exceeded"))
            }
            Admit::No { violations: 1 } => {
                self.hub.metrics().rate_limited.inc();
                let message = format!(
                    "more than {} messages per second; slow down",
                    self.config.msg_rate
                );
                self.send_error(ErrorCode::RateLimited, message).await?;
                Ok(false)
            }
            Admit::No { .. } => Ok(false),
        }
    }

    async fn send_error(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Result<(), Stop> {
        self.send_msg(&ServerMsg::Error {
            code,
            message: message.into(),
        })
        .await
    }

    async fn send_msg(&mut self, msg: &ServerMsg) -> Result<(), Stop> {
        self.send(Outgoing::text(wire::encode(msg))).await
    }

    async fn send(&mut self, message: Outgoing<'_>) -> Result<(), Stop> {
        send_bounded(&self.lane, &self.config, self.hub.metrics(), message).await
    }

    async fn finish(&mut self, stop: Stop) {
        let Stop::Close(code, reason) = stop else {
            return;
        };
        self.take_back();
        tracing::debug!(code, %reason, "closing session");
        let frame = Outgoing::close(code, &reason);
        if tokio::time::timeout(CLOSE_WAIT, self.lane.send(frame))
            .await
            .is_err()
        {
            return; // it does not read: nothing more to say
        }
        // Wait briefly for the peer's close, reading what it still sends:
        // closing a socket with unread input resets the connection, and the
        // reset can destroy our close frame before the peer reads it.
        let drain = async {
            while let Some(Ok(message)) = self.lane.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
    }
}

async fn send_bounded(
    lane: &Lane,
    config: &SessionConfig,
    metrics: &Metrics,
    message: Outgoing<'_>,
) -> Result<(), Stop> {
    let bytes = message.len();
    bounded(config, metrics, Some(bytes), lane.send(message)).await
}

/// Waits for a send of a message of `bytes` (or a flush: none) within the
/// send timeout: a client that does not read in time is a slow consumer.
async fn bounded(
    config: &SessionConfig,
    metrics: &Metrics,
    bytes: Option<usize>,
    sending: impl Future<Output = std::io::Result<()>>,
) -> Result<(), Stop> {
    match tokio::time::timeout(config.send_timeout, sending).await {
        Ok(Ok(())) => {
            if let Some(bytes) = bytes {
                metrics.messages_out.inc();
                metrics.bytes_out.inc_by(bytes as u64);
            }
            Ok(())
        }
        Ok(Err(_)) => Err(Stop::Gone),
        Err(_) => Err(close_with(close::TRY_AGAIN_LATER, "slow consumer")),
    }
}

/// Maps a read error to how the session ends: an oversized frame is the
/// client's fault and is answered with 1009; anything else means the peer
/// broke the connection.
fn read_error(error: tungstenite::Error) -> Stop {
    match error {
        tungstenite::Error::Capacity(e) => {
            close_with(close::TOO_BIG, format!("frame too big: {e}"))
        }
        error => {
            tracing::debug!(%error, "WebSocket read failed");
            Stop::Gone
        }
    }
}

enum Admit {
    Yes,
    /// Refused; `violations` counts refusals since the bucket last refilled.
    No {
        violations: u32,
    },
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    violations: u32,
}

impl RateLimiter {
    fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate,
            burst,
            tokens: burst,
            at: Instant::now(),
            violations: 0,
        }
    }

    fn admit(&mut self, now: Instant) -> Admit {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            if self.tokens >= self.burst / 2.0 {
                self.violations = 0;
            }
            return Admit::Yes;
        }
        self.violations += 1;
        Admit::No {
            violations: self.violations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::tests::headers;

    #[test]
    fn origins_must_match_the_host_or_be_listed() {
        let allowed = vec!["https://dash.example.com".to_string()];
        let same = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::ORIGIN, "http://127.0.0.1:3000"),
        ]);
        assert!(check_origin(&same, &[]).is_ok());
        let foreign = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::ORIGIN, "http://evil.test"),
        ]);
        assert_eq!(
            check_origin(&foreign, &[]),
            Err("origin http://evil.test is not allowed".into())
        );
        let listed = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::ORIGIN, "https://dash.example.com"),
        ]);
        assert!(check_origin(&listed, &allowed).is_ok());
        assert!(
            check_origin(&headers(&[(header::HOST, "a:1")]), &[]).is_ok(),
            "no Origin: not a browser"
        );
        let other_port = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::ORIGIN, "http://127.0.0.1:3001"),
        ]);
        assert!(check_origin(&other_port, &[]).is_err());
    }

    #[test]
    fn the_rate_limiter_allows_bursts_then_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10.0, 20.0);
        let admitted = (0..25)
            .filter(|_| matches!(limiter.admit(start), Admit::Yes))
            .count();
        assert_eq!(admitted, 20);
        assert!(matches!(limiter.admit(start), Admit::No { violations: 6 }));
        let later = start + Duration::from_millis(500);
        let admitted = (0..10)
            .filter(|_| matches!(limiter.admit(later), Admit::Yes))
            .count();
        assert_eq!(admitted, 5);
    }
}
