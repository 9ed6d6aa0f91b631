//! An edge node's side of the bus: copy the ingest node's state, then apply
//! its batches to a local hub that serves browsers exactly as a single node
//! does. See the [module docs](super) for when the copy is taken again.
//!
//! Alerts are the ingest node's: an edge passes its alert events on to its
//! own pages and forwards its alert API to it ([`IngestAlerts`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::protocol::{Candle, Change, Interval, ServerMsg};
use async_nats::{Client, Subscriber};
use axum::http::StatusCode;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{
    ALERTS_API_TIMEOUT, AlertsReply, AlertsRequest, BusAccess, BusBatch, BusError, BusFeed,
    BusHealth, HEAD_TIMEOUT, Heartbeat, Link, PART_TIMEOUT, STATE_WINDOW, StateAck, StatePart,
    StateRequest, Subjects, SymbolRow,
};
use crate::alerts::AlertBook;
use crate::backoff::Backoff;
use crate::book::BookView;
use crate::candles::CAPACITY;
use crate::hub::{CopiedDepth, Hub, HubConfig, Mirror, SymbolId};
use crate::market::now_ms;
use crate::metrics::SharedMetrics;

/// Why an edge copies the ingest node's state (again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resync {
    /// The edge starting.
    Start,
    /// A batch went missing: a gap in batch numbers.
    Gap,
    /// The ingest node's history was rewritten (a backfill).
    Rev,
    /// The ingest node restarted.
    Epoch,
    /// A batch names a symbol this edge does not serve.
    Universe,
    /// The bus came back after a disconnection.
    Reconnect,
}

impl Resync {
    /// The `reason` label of `tickertape_bus_resyncs_total`.
    fn label(self) -> &'static str {
        match self {
            Resync::Start => "start",
            Resync::Gap => "gap",
            Resync::Rev => "rev",
            Resync::Epoch => "epoch",
            Resync::Universe => "universe",
            Resync::Reconnect => "reconnect",
        }
    }
}

/// Heartbeats an edge may miss before it calls the ingest node gone.
const MISSED_HEARTBEATS: u32 = 3;

/// The local copy an edge serves from.
pub struct EdgeCopy {
    pub hub: Hub,
    /// The feed each symbol comes from, by symbol id.
    pub symbol_feeds: Arc<[String]>,
    pub health: watch::Receiver<BusHealth>,
    /// The ingest node's alert API, for this edge's routes.
    pub alerts: IngestAlerts,
}

/// Connects to the bus, waits for the ingest node's complete state and
/// starts following it. Nothing should be served before this returns.
pub async fn start(
    access: &BusAccess,
    prefix: &str,
    heartbeat: Duration,
    hub_config: &HubConfig,
    shutdown: CancellationToken,
) -> Result<EdgeCopy, BusError> {
    let metrics = hub_config.metrics.clone();
    let (client, links) = super::connect(access, &super::client_name("edge"), &metrics).await?;
    let subjects = Subjects::new(prefix);
    // Subscribed before the copy is taken: no batch after it can be missed.
    let subscribe = |subject: &String| client.subscribe(subject.clone());
    let batches = subscribe(&subjects.batch)
        .await
        .map_err(|e| BusError::Subscribe(e.to_string()))?;
    let beats = subscribe(&subjects.heartbeat)
        .await
        .map_err(|e| BusError::Subscribe(e.to_string()))?;
    let alert_events = subscribe(&subjects.alerts)
        .await
        .map_err(|e| BusError::Subscribe(e.to_string()))?;
    tracing::info!(bus = %access.servers_shown(), subject = %prefix, "waiting for the ingest node's state");
    let state = fetch_until_copied(&client, &subjects, &metrics, &shutdown, |e| {
        tracing::warn!(error = %e, "no state from the ingest node yet");
    })
    .await
    .ok_or(BusError::Stopped)?;
    metrics
        .bus_resyncs
        .with_label_values(&[Resync::Start.label()])
        .inc();
    let symbols = state.rows.iter().map(|r| r.info.clone()).collect();
    let feed_names = state.feeds.iter().map(|f| f.name.clone()).collect();
    let symbol_feeds: Arc<[String]> = state.rows.iter().map(|r| r.feed.clone()).collect();
    let mirror = Hub::mirroring(symbols, feed_names, hub_config);
    let hub = mirror.hub().clone();
    let alerts = IngestAlerts {
        client: client.clone(),
        subject: subjects.alerts_api.clone(),
        metrics: metrics.clone(),
    };
    tokio::spawn(relay_alerts(
        alert_events,
        hub.alerts().clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let (health_tx, health) = watch::channel(BusHealth::Ok);
    let mut follower = Follower {
        client,
        subjects,
        mirror,
        metrics,
        heartbeat,
        epoch: state.epoch,
        seq: state.seq,
        rev: state.rev,
        prev_beat_seq: None,
        last_heard: Instant::now(),
        ingest_gone: false,
        linked: true,
        incompatible: false,
        as_of: Vec::new(),
        health: health_tx,
    };
    follower.install(state, false);
    tracing::info!(
        symbols = hub.symbols().len(),
        seq = follower.seq,
        "copied the ingest node's state"
    );
    tokio::spawn(follower.run(batches, beats, links, shutdown));
    Ok(EdgeCopy {
        hub,
        symbol_feeds,
        health,
        alerts,
    })
}

/// Passes the ingest node's alert events on to this edge's pages, as they
/// were encoded there; anything else on the subject is counted and dropped.
async fn relay_alerts(
    mut events: Subscriber,
    book: Arc<AlertBook>,
    metrics: SharedMetrics,
    shutdown: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            message = events.next() => message,
        };
        let Some(message) = message else { return };
        match alert_event(&message.payload) {
            Ok(event) => {
                metrics.bus_messages.with_label_values(&["alert_in"]).inc();
                book.relay(event);
            }
            Err(why) => {
                metrics.bus_errors.with_label_values(&["alert_in"]).inc();
                tracing::warn!(%why, "dropped a malformed alert event from the bus");
            }
        }
    }
}

/// The payload as the alert message pages are to get, or why it is not one.
fn alert_event(payload: &[u8]) -> Result<Arc<str>, String> {
    let text = std::str::from_utf8(payload).map_err(|e| format!("not UTF-8: {e}"))?;
    let message: ServerMsg =
        serde_json::from_str(text).map_err(|e| format!("not a server message: {e}"))?;
    match message {
        ServerMsg::Alert { .. }
        | ServerMsg::AlertCreated { .. }
        | ServerMsg::AlertDeleted { .. }
        | ServerMsg::AlertUpdated { .. } => Ok(text.into()),
        _ => Err("a server message, but not an alert event".into()),
    }
}

/// The ingest node's alert API, asked over the bus: an edge's alert routes
/// answer what it answers.
#[derive(Clone)]
pub struct IngestAlerts {
    client: Client,
    subject: String,
    metrics: SharedMetrics,
}

/// Why an alert API request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("the ingest node is unreachable: {0}")]
    Unreachable(String),
    #[error("the ingest node's answer could not be read: {0}")]
    Malformed(String),
}

impl AskError {
    /// What an edge's client is answered: 503 while the ingest node cannot
    /// be reached, 502 for an answer that is not one.
    pub fn status(&self) -> StatusCode {
        match self {
            AskError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AskError::Malformed(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IngestAlerts {
    /// The ingest node's status and body for `request`, if it answers
    /// within [`ALERTS_API_TIMEOUT`]; counted either way.
    pub async fn ask(
        &self,
        request: &AlertsRequest,
    ) -> Result<(StatusCode, serde_json::Value), AskError> {
        let asked = self.request(request).await;
        let kind = &["alert_api"];
        match &asked {
            Ok(_) => self.metrics.bus_messages.with_label_values(kind).inc(),
            Err(e) => {
                self.metrics.bus_errors.with_label_values(kind).inc();
                tracing::warn!(error = %e, "an alert API request went unanswered");
            }
        }
        asked
    }

    async fn request(
        &self,
        request: &AlertsRequest,
    ) -> Result<(StatusCode, serde_json::Value), AskError> {
        use async_nats::RequestErrorKind;
        let unreachable = |why: String| AskError::Unreachable(why);
        // A request made while disconnected would wait in the client's
        // buffer and could be carried out after its client was told 503.
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(unreachable("disconnected from the bus".into()));
        }
        let payload = serde_json::to_vec(request).map_err(|e| unreachable(e.to_string()))?;
        let asked = self.client.request(self.subject.clone(), payload.into());
        let message = tokio::time::timeout(ALERTS_API_TIMEOUT, asked)
            .await
            .map_err(|_| unreachable(format!("no answer within {ALERTS_API_TIMEOUT:?}")))?
            .map_err(|e| match e.kind() {
                RequestErrorKind::NoResponders => {
                    unreachable("no ingest node is listening on the bus".into())
                }
                _ => unreachable(e.to_string()),
            })?;
        let malformed = |why: String| AskError::Malformed(why);
        let reply: AlertsReply =
            serde_json::from_slice(&message.payload).map_err(|e| malformed(e.to_string()))?;
        let status = StatusCode::from_u16(reply.status).map_err(|e| malformed(e.to_string()))?;
        Ok((status, reply.body))
    }
}

/// A complete copy of the ingest node's state.
#[derive(Debug)]
struct State {
    epoch: u64,
    seq: u64,
    rev: u64,
    feeds: Vec<BusFeed>,
    rows: Vec<SymbolRow>,
    candles: Vec<Series>,
}

/// One series of a state copy.
#[derive(Debug)]
struct Series {
    symbol: String,
    interval: Interval,
    bars: Vec<Candle>,
    /// The first batch with newer states of these bars.
    as_of: u64,
}

/// Why a state transfer failed.
#[derive(Debug, thiserror::Error)]
enum TransferError {
    #[error("no answer from the ingest node within {0:?}")]
    Timeout(Duration),
    #[error("no ingest node is listening on the bus")]
    NoResponders,
    #[error("bus: {0}")]
    Bus(String),
    #[error("malformed state part: {0}")]
    Malformed(String),
    #[error("incomplete state: {0}")]
    Incomplete(String),
}

/// One state transfer: request, then parts until `end`, acknowledged every
/// half window so the ingest node never sends more than [`STATE_WINDOW`]
/// ahead. What is kept is bounded by what the head announced: one row per
/// symbol, at most one part per series, at most [`CAPACITY`] bars each.
async fn fetch_state(client: &Client, subjects: &Subjects) -> Result<State, TransferError> {
    let bus = |e: &dyn std::fmt::Display| TransferError::Bus(e.to_string());
    let malformed = |what: String| TransferError::Malformed(what);
    let inbox = client.new_inbox();
    let mut parts = client.subscribe(inbox.clone()).await.map_err(|e| bus(&e))?;
    let request = StateRequest {
        window: Some(STATE_WINDOW),
    };
    let payload = serde_json::to_vec(&request).map_err(|e| bus(&e))?;
    client
        .publish_with_reply(subjects.state.clone(), inbox, payload.into())
        .await
        .map_err(|e| bus(&e))?;
    let mut head: Option<Head> = None;
    let mut rows = Vec::new();
    let mut candles = Vec::new();
    let mut received = 0;
    loop {
        // The ingest node may be busy with other edges' transfers at first.
        let wait = if received == 0 {
            HEAD_TIMEOUT
        } else {
            PART_TIMEOUT
        };
        let message = next_part(client, &mut parts, wait).await?;
        if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Err(TransferError::NoResponders);
        }
        received += 1;
        let part: StatePart =
            serde_json::from_slice(&message.payload).map_err(|e| malformed(e.to_string()))?;
        match (part, &head) {
            (
                StatePart::Head {
                    epoch,
                    seq,
                    rev,
                    feeds,
                    symbols,
                    ack,
                },
                None,
            ) => {
                head = Some(Head {
                    epoch,
                    seq,
                    rev,
                    feeds,
                    symbols,
                    ack,
                })
            }
            (StatePart::Head { .. }, Some(_)) => return Err(malformed("a second head".into())),
            (_, None) => return Err(malformed("a part before the head".into())),
            (StatePart::Symbols { rows: more }, Some(head)) => {
                if rows.len() + more.len() > head.symbols {
                    return Err(malformed(format!("more than {} symbol rows", head.symbols)));
                }
                rows.extend(more);
            }
            (
                StatePart::Candles {
                    symbol,
                    interval,
                    candles: bars,
                    as_of,
                },
                Some(head),
            ) => {
                if candles.len() >= head.symbols * Interval::ALL.len() || bars.len() > CAPACITY {
                    return Err(malformed(format!(
                        "too many bars for {symbol} {interval:?}"
                    )));
                }
                candles.push(Series {
                    symbol,
                    interval,
                    bars,
                    as_of,
                });
            }
            (StatePart::End { parts: sent }, Some(_)) if sent == received => break,
            (StatePart::End { parts: sent }, Some(_)) => {
                let message = format!("{sent} parts sent, {received} received");
                return Err(TransferError::Incomplete(message));
            }
        }
        if let Some(ack) = head.as_ref().and_then(|h| h.ack.as_ref())
            && received % (STATE_WINDOW / 2) == 0
        {
            let payload = serde_json::to_vec(&StateAck { received }).map_err(|e| bus(&e))?;
            client
                .publish(ack.clone(), payload.into())
                .await
                .map_err(|e| bus(&e))?;
        }
    }
    let _ = parts.unsubscribe().await;
    let Some(head) = head else {
        return Err(TransferError::Incomplete("no head part".into()));
    };
    if rows.len() != head.symbols {
        let message = format!(
            "{} symbols announced, {} received",
            head.symbols,
            rows.len()
        );
        return Err(TransferError::Incomplete(message));
    }
    Ok(State {
        epoch: head.epoch,
        seq: head.seq,
        rev: head.rev,
        feeds: head.feeds,
        rows,
        candles,
    })
}

/// The next message of a transfer, within `wait`; fails at once when the
/// link to the bus goes down meanwhile (nothing will come, and the edge must
/// say it is stale rather than wait out the timeout).
async fn next_part(
    client: &Client,
    parts: &mut Subscriber,
    wait: Duration,
) -> Result<async_nats::Message, TransferError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let slice = (tokio::time::Instant::now() + LINK_CHECK).min(deadline);
        match tokio::time::timeout_at(slice, parts.next()).await {
            Ok(Some(message)) => return Ok(message),
            Ok(None) => return Err(TransferError::Bus("reply subscription closed".into())),
            Err(_) if slice >= deadline => return Err(TransferError::Timeout(wait)),
            Err(_) => {
                if client.connection_state() != async_nats::connection::State::Connected {
                    return Err(TransferError::Bus("disconnected from the bus".into()));
                }
            }
        }
    }
}

/// How often a waiting transfer checks that the bus is still there.
const LINK_CHECK: Duration = Duration::from_millis(500);

/// A transfer's head part.
struct Head {
    epoch: u64,
    seq: u64,
    rev: u64,
    feeds: Vec<BusFeed>,
    symbols: usize,
    ack: Option<String>,
}

/// [`fetch_state`] until it succeeds (with backoff) or `shutdown` fires.
async fn fetch_until_copied(
    client: &Client,
    subjects: &Subjects,
    metrics: &SharedMetrics,
    shutdown: &CancellationToken,
    mut on_error: impl FnMut(&TransferError),
) -> Option<State> {
    let backoff = Backoff {
        base: Duration::from_millis(200),
        max: Duration::from_secs(5),
        ..Default::default()
    };
    let mut attempt = 0;
    loop {
        let fetched = tokio::select! {
            _ = shutdown.cancelled() => return None,
            fetched = fetch_state(client, subjects) => fetched,
        };
        match fetched {
            Ok(state) => {
                metrics
                    .bus_messages
                    .with_label_values(&["state_received"])
                    .inc();
                return Some(state);
            }
            Err(e) => {
                metrics.bus_errors.with_label_values(&["state"]).inc();
                on_error(&e);
            }
        }
        let delay = backoff.delay(attempt, &mut rand::rng());
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Applies the ingest node's batches to the local hub; owns the edge's view
/// of the bus (see the module docs).
struct Follower {
    client: Client,
    subjects: Subjects,
    /// The local hub's only writer.
    mirror: Mirror,
    metrics: SharedMetrics,
    heartbeat: Duration,
    epoch: u64,
    /// The newest ingest batch applied.
    seq: u64,
    rev: u64,
    /// The ingest node's newest batch as of the previous heartbeat: if it is
    /// still ahead of `seq` a heartbeat later, a batch was lost.
    prev_beat_seq: Option<u64>,
    last_heard: Instant,
    ingest_gone: bool,
    linked: bool,
    /// The ingest node serves another symbol list than this edge's hub.
    incompatible: bool,
    /// By symbol and interval: the first batch whose bars are newer than
    /// the state copy's (see [`StatePart::Candles`]).
    as_of: Vec<[u64; Interval::COUNT]>,
    health: watch::Sender<BusHealth>,
}

impl Follower {
    async fn run(
        mut self,
        mut batches: Subscriber,
        mut beats: Subscriber,
        mut links: mpsc::UnboundedReceiver<Link>,
        shutdown: CancellationToken,
    ) {
        let mut check = tokio::time::interval(self.heartbeat / 2);
        loop {
            // Batches before heartbeats: NATS delivers a heartbeat after the
            // batches it announces, but into another subscription; taken in
            // any order (after a copy both queues are long), a heartbeat could
            // be read before its batches and taken for news of lost ones.
            let resync = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                Some(message) = batches.next() => self.on_batch(&message.payload),
                Some(message) = beats.next() => self.on_heartbeat(&message.payload),
                Some(link) = links.recv() => self.on_link(link),
                _ = check.tick() => {
                    self.check_alive();
                    None
                }
            };
            if let Some(reason) = resync
                && !self.resync(reason, &shutdown).await
            {
                return;
            }
            // Sessions read each batch before the next: after a copy, the
            // batches held meanwhile are all ready at once, and applying them
            // back to back on a busy machine could lap the hub's ring before a
            // session runs, evicting clients that are keeping up.
            tokio::task::yield_now().await;
        }
    }

    /// Decodes a message from the ingest node: counted, and proof that it
    /// is alive; a malformed one is counted and dropped (a lost batch shows
    /// as a gap in the next one).
    fn decode<T: serde::de::DeserializeOwned>(&mut self, payload: &[u8], kind: &str) -> Option<T> {
        match serde_json::from_slice(payload) {
            Ok(value) => {
                self.metrics.bus_messages.with_label_values(&[kind]).inc();
                self.last_heard = Instant::now();
                Some(value)
            }
            Err(e) => {
                self.metrics.bus_errors.with_label_values(&[kind]).inc();
                tracing::warn!(error = %e, kind, "malformed message on the bus");
                None
            }
        }
    }

    fn on_batch(&mut self, payload: &[u8]) -> Option<Resync> {
        let batch: BusBatch = self.decode(payload, "batch_in")?;
        if self.incompatible && batch.epoch == self.epoch {
            return None;
        }
        if batch.epoch != self.epoch {
            return Some(Resync::Epoch);
        }
        if batch.seq <= self.seq {
            return None;
        }
        if batch.seq != self.seq + 1 {
            tracing::warn!(expected = self.seq + 1, got = batch.seq, "gap on the bus");
            return Some(Resync::Gap);
        }
        if batch.rev != self.rev {
            return Some(Resync::Rev);
        }
        let lag = (now_ms() - batch.ts).max(0) as f64 / 1000.0;
        self.metrics.bus_lag_seconds.observe(lag);
        let hub = self.mirror.hub();
        let mut changes = Vec::with_capacity(batch.changes.len());
        for change in batch.changes {
            let Some(id) = hub.lookup(&change.change.symbol) else {
                return Some(Resync::Universe);
            };
            let (change, json) = change.into_parts();
            changes.push((id, change, Some(json)));
        }
        let mut candles = Vec::with_capacity(batch.candles.len());
        for c in batch.candles {
            let Some(id) = hub.lookup(&c.symbol) else {
                return Some(Resync::Universe);
            };
            // A batch older than the copy of this series carries an older
            // state of its bars: applying it would move them backwards.
            if batch.seq < self.as_of[id][c.interval.index()] {
                continue;
            }
            candles.push((id, c.interval, c.candle));
        }
        let mut depth = CopiedDepth::default();
        for t in batch.trades {
            let Some(id) = hub.lookup(&t.symbol) else {
                return Some(Resync::Universe);
            };
            depth.trades.push((id, t.trades));
        }
        for b in batch.books {
            let Some(id) = hub.lookup(&b.symbol) else {
                return Some(Resync::Universe);
            };
            let view = BookView {
                bids: b.bids,
                asks: b.asks,
            };
            depth.books.push((id, view, b.live));
        }
        self.mirror
            .publish((batch.seq, batch.ts), changes, candles, depth, false, &[]);
        self.seq = batch.seq;
        self.metrics.bus_seq.set(self.seq as i64);
        None
    }

    fn on_heartbeat(&mut self, payload: &[u8]) -> Option<Resync> {
        let beat: Heartbeat = self.decode(payload, "heartbeat_in")?;
        if self.incompatible && beat.epoch == self.epoch {
            return None;
        }
        if beat.epoch != self.epoch {
            return Some(Resync::Epoch);
        }
        if beat.rev != self.rev {
            return Some(Resync::Rev);
        }
        if self.prev_beat_seq.is_some_and(|prev| prev > self.seq) {
            return Some(Resync::Gap);
        }
        self.prev_beat_seq = Some(beat.seq);
        if self.ingest_gone {
            tracing::info!("the ingest node is back");
            self.ingest_gone = false;
        }
        self.set_feeds(&beat.feeds);
        self.set_health(BusHealth::Ok);
        None
    }

    fn on_link(&mut self, link: Link) -> Option<Resync> {
        match (link, self.linked) {
            (Link::Down, _) => {
                self.linked = false;
                self.mirror.feeds().all_stale("disconnected from the bus");
                self.set_health(BusHealth::Down(
                    "disconnected from the bus; reconnecting".into(),
                ));
                None
            }
            (Link::Up, false) => {
                self.linked = true;
                // Whatever was published meanwhile is lost: copy again.
                Some(Resync::Reconnect)
            }
            (Link::Up, true) => None,
        }
    }

    fn check_alive(&mut self) {
        let silent = self.last_heard.elapsed();
        if self.ingest_gone || silent < self.heartbeat * MISSED_HEARTBEATS {
            return;
        }
        self.ingest_gone = true;
        let reason = format!(
            "no heartbeat from the ingest node for {:.1} s",
            silent.as_secs_f64()
        );
        tracing::warn!("{reason}; serving the last state as stale");
        self.mirror.feeds().all_stale(&reason);
        self.set_health(BusHealth::Down(reason));
    }

    fn set_feeds(&self, feeds: &[BusFeed]) {
        for (id, feed) in feeds.iter().enumerate() {
            self.mirror.feeds().set_state(id, feed.state);
            if let Some(error) = &feed.error {
                self.mirror.feeds().set_error(id, error.clone());
            }
        }
    }

    fn set_health(&self, health: BusHealth) {
        self.health.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
    }

    /// Copies the state again and publishes the difference to sessions.
    /// False when shutdown came first.
    async fn resync(&mut self, reason: Resync, shutdown: &CancellationToken) -> bool {
        tracing::info!(reason = reason.label(), "resyncing from the ingest node");
        self.metrics
            .bus_resyncs
            .with_label_values(&[reason.label()])
            .inc();
        let health = self.health.clone();
        let feeds = self.mirror.feeds().clone();
        let fetched =
            fetch_until_copied(&self.client, &self.subjects, &self.metrics, shutdown, |e| {
                tracing::warn!(error = %e, "cannot copy the ingest node's state");
                let why = format!("cannot copy the ingest node's state: {e}");
                feeds.all_stale(&why);
                health.send_replace(BusHealth::Down(why));
            })
            .await;
        let Some(state) = fetched else {
            return false;
        };
        self.install(state, true);
        true
    }

    /// Makes the hub equal to `state`: one batch with every quote that
    /// differs (sessions apply it like any diff), candle history replaced.
    fn install(&mut self, state: State, resync: bool) {
        let hub = self.mirror.hub().clone();
        self.epoch = state.epoch;
        self.seq = state.seq;
        self.rev = state.rev;
        self.prev_beat_seq = None;
        self.last_heard = Instant::now();
        self.ingest_gone = false;
        let same_universe = state.rows.len() == hub.symbols().len()
            && state
                .rows
                .iter()
                .zip(hub.symbols())
                .all(|(row, info)| row.info.symbol == info.symbol);
        if !same_universe {
            self.incompatible = true;
            let reason = format!(
                "the ingest node now serves {} symbols, not the {} this edge started with; restart this edge",
                state.rows.len(),
                hub.symbols().len()
            );
            tracing::error!("{reason}");
            self.mirror.feeds().all_stale(&reason);
            self.set_health(BusHealth::Down(reason));
            return;
        }
        self.incompatible = false;
        let mut bars: Vec<[Vec<Candle>; Interval::COUNT]> =
            vec![Default::default(); hub.symbols().len()];
        self.as_of = vec![[0; Interval::COUNT]; hub.symbols().len()];
        for series in state.candles {
            if let Some(id) = hub.lookup(&series.symbol) {
                let i = series.interval.index();
                bars[id][i] = series.bars;
                self.as_of[id][i] = series.as_of;
            }
        }
        for (id, series) in bars.iter().enumerate() {
            for interval in Interval::ALL {
                self.mirror
                    .replace_candles(id, interval, &series[interval.index()]);
            }
        }
        let (_, current) = hub.published().state();
        let mut withdrawn = Vec::new();
        let mut changes: Vec<(SymbolId, Change, Option<String>)> = Vec::new();
        for (id, (row, old)) in state.rows.iter().zip(current).enumerate() {
            match (old, &row.quote) {
                (Some(old), Some(new)) => changes.extend(old.diff(new).map(|c| (id, c, None))),
                (None, Some(new)) => changes.push((id, Change::full(new), None)),
                // The ingest node (restarted) has not quoted it yet: the old
                // quote is another epoch's and must not be served as current.
                (Some(_), None) => withdrawn.push(id),
                (None, None) => {}
            }
        }
        // Books are copied whole as they change: until then, the ones held
        // may have missed changes.
        self.mirror.lose_books();
        let depth = CopiedDepth::default();
        // Numbered as the ingest node numbers its batches, so a client can
        // resume on any node that has the batch it holds.
        self.mirror.set_epoch(state.epoch);
        self.mirror.publish(
            (state.seq, now_ms()),
            changes,
            Vec::new(),
            depth,
            resync,
            &withdrawn,
        );
        self.metrics.bus_seq.set(self.seq as i64);
        self.set_feeds(&state.feeds);
        self.set_health(if self.linked {
            BusHealth::Ok
        } else {
            BusHealth::Down("disconnected from the bus; reconnecting".into())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_alert_events_are_passed_on_as_they_came() {
        let deleted = r#"{"type":"alert_deleted","id":7}"#;
        assert_eq!(alert_event(deleted.as_bytes()).as_deref(), Ok(deleted));
        let refused: [&[u8]; 6] = [
            b"",
            b"{",
            b"\xff\xfe",
            br#"{"type":"alert_deleted","id":"seven"}"#,
            br#"{"type":"status","feed":"sim","state":"live"}"#,
            br#"{"type":"shout"}"#,
        ];
        for payload in refused {
            assert!(alert_event(payload).is_err(), "{payload:?}");
        }
    }
}
