//! Market-data sources and the supervisor that keeps them running.
//!
//! Every source implements [`Feed`] and pushes normalised [`Tick`]s (and,
//! where the source has them, [`Book`] updates) through a [`FeedOutput`]
//! into a [`FeedSink`]; sources never see what is behind it (the hub).
//! [`supervise`] runs one feed, restarts it with capped exponential backoff
//! and jitter when it fails, and reports the feed's state (`live` / `stale` /
//! `reconnecting`) to the sink, whose owner tells clients. An [`Outage`]
//! (the control API's) takes a feed down as a failing source would, until
//! it is lifted.

pub mod alpaca;
pub mod backfill;
pub mod coinbase;
pub mod finnhub;
pub mod push;
pub mod remote;
pub mod replay;
pub mod rest;
pub mod sim;
pub mod universe;
pub mod upstream;
pub mod walk;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use app::protocol::{FeedState, SymbolInfo, TradingDay};
use async_trait::async_trait;
use futures_util::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
pub use crate::market::{
    Book, Depth, DepthChange, Event, FeedId, History, PushInlet, Resume, Session, Tick,
};
use crate::metrics::Metrics;

/// Why a feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the hub has shut down")]
    HubGone,
    #[error("upstream failed: {0}")]
    Upstream(String),
}

/// A source of ticks.
#[async_trait]
pub trait Feed: Send {
    /// Short name shown to clients in `status` messages (`sim`, `finnhub`, ...).
    fn name(&self) -> &str;
    /// Whether this feed's timestamps are recorded history (a replay) rather
    /// than the wall clock's; live feeds' events are held to [`ClockBounds`].
    fn recorded_time(&self) -> bool {
        false
    }
    /// The instruments this feed quotes; the hub serves their union.
    fn symbols(&self) -> Vec<SymbolInfo>;
    /// Where other programs push this feed's trades, for a push feed
    /// (default: none).
    fn inlet(&self) -> Option<PushInlet> {
        None
    }
    /// The simulator's remote control, for the control API (default: none).
    fn remote(&self) -> Option<remote::SimRemote> {
        None
    }
    /// Where stored history left off (last quotes, newest bars), told once
    /// before [`Feed::history`]; a feed that can continue it does (default:
    /// ignored).
    fn resume(&mut self, _from: &Resume) {}
    /// Bars from before `now_ms`, asked before every run: before the first
    /// to start the charts with, before a restart for the span the feed
    /// missed while it was down (default: none). They replace the bars
    /// held for the same times, which saw fewer trades.
    async fn history(&mut self, _now_ms: i64) -> Vec<History> {
        Vec::new()
    }
    /// Pushes ticks until `stop` fires (returns `Ok`) or upstream fails.
    async fn run(&mut self, out: &mut FeedOutput, stop: CancellationToken)
    -> Result<(), FeedError>;
}

/// Where a feed's output goes. The hub's side implements it; a feed sees
/// only [`FeedOutput`], which holds it.
pub trait FeedSink: Send + Sync {
    /// The channel every event goes into (bounded: a full one makes the
    /// feed wait).
    fn events(&self) -> mpsc::Sender<Event>;
    fn set_state(&self, feed: FeedId, state: FeedState);
    /// Why the feed last failed.
    fn set_error(&self, feed: FeedId, error: String);
    /// Bars a feed recorded up to `as_of` (see [`Feed::history`]).
    fn history(&self, history: Vec<History>, as_of: i64);
    /// Where stored history left off (nothing without a store).
    fn resume(&self) -> Resume {
        Resume::default()
    }
}

/// Where a feed sends its events. A run is live once the feed says so
/// ([`FeedOutput::set_live`], after its handshake) or sends its first event.
pub struct FeedOutput {
    events: mpsc::Sender<Event>,
    events_in: prometheus::IntCounter,
    sink: Arc<dyn FeedSink>,
    id: FeedId,
    name: String,
    live: bool,
    /// Whether events are held to [`ClockBounds`] (not for recorded time).
    wall_clock: bool,
    clock: ClockBounds,
    /// Dropped events by reason: too far ahead, too old.
    rejected: [prometheus::IntCounter; 2],
    /// When a dropped event was last logged, and how many since were not.
    logged: Option<(Instant, u64)>,
    /// Symbols this feed sent order books of: lost when it stops.
    books: std::collections::HashSet<Arc<str>>,
}

/// How far a live feed's timestamps may stray from this server's clock. A
/// trade stamped in the future (microseconds read as milliseconds, a
/// provider's clock glitch) would otherwise become the symbol's newest
/// forever, freezing its last price and candles; one from decades ago
/// (seconds read as milliseconds) would open a bar in 1970.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockBounds {
    /// Accepted ahead of the server's clock (`--clock-skew-ms`).
    pub ahead: Duration,
    /// Accepted behind it (`--max-event-age`).
    pub behind: Duration,
}

impl Default for ClockBounds {
    fn default() -> ClockBounds {
        ClockBounds {
            ahead: Duration::from_secs(5),
            behind: Duration::from_secs(86_400),
        }
    }
}

/// Why an event's timestamp was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skew {
    Future,
    Old,
}

impl Skew {
    const ALL: [Skew; 2] = [Skew::Future, Skew::Old];

    /// The `reason` label of `tickertape_feed_events_rejected_total`.
    pub fn label(self) -> &'static str {
        match self {
            Skew::Future => "future",
            Skew::Old => "old",
        }
    }
}

impl ClockBounds {
    /// Whether an event stamped `ts` is out of bounds at `now` (both Unix ms).
    pub fn judge(&self, ts: i64, now: i64) -> Option<Skew> {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if ts > now.saturating_add(ms(self.ahead)) {
            Some(Skew::Future)
        } else if ts < now.saturating_sub(ms(self.behind)) {
            Some(Skew::Old)
        } else {
            None
        }
    }
}

/// A dropped event is logged at most this often per feed.
const REJECTION_LOG_EVERY: Duration = Duration::from_secs(10);

impl FeedOutput {
    /// Output for feed `id` called `name`, into `sink`; live feeds' events
    /// are held to `clock`.
    pub fn new(
        id: FeedId,
        name: String,
        sink: Arc<dyn FeedSink>,
        clock: ClockBounds,
        metrics: &Metrics,
    ) -> FeedOutput {
        let rejected = Skew::ALL.map(|skew| {
            metrics
                .events_rejected
                .with_label_values(&[name.as_str(), skew.label()])
        });
        FeedOutput {
            events: sink.events(),
            events_in: metrics.events_in.with_label_values(&[name.as_str()]),
            sink,
            id,
            name,
            live: false,
            wall_clock: true,
            clock,
            rejected,
            logged: None,
            books: Default::default(),
        }
    }

    /// Hands one trade to the hub, waiting if the hub is momentarily behind.
    pub async fn send(&mut self, tick: Tick) -> Result<(), FeedError> {
        self.event(Event::Trade(tick)).await
    }

    /// Hands one quote update to the hub.
    pub async fn send_book(&mut self, book: Book) -> Result<(), FeedError> {
        self.event(Event::Book(book)).await
    }

    /// Hands the hub a change to a symbol's order book.
    pub async fn send_depth(&mut self, depth: Depth) -> Result<(), FeedError> {
        if !self.books.contains(&depth.symbol) {
            self.books.insert(depth.symbol.clone());
        }
        self.event(Event::Depth(depth)).await
    }

    /// The feed stopped: every book it kept is out of date until it sends
    /// a new snapshot.
    async fn lose_books(&mut self) -> Result<(), FeedError> {
        let ts = crate::market::now_ms();
        for symbol in std::mem::take(&mut self.books) {
            let change = DepthChange::Lost;
            let lost = Event::Depth(Depth { symbol, ts, change });
            self.events
                .send(lost)
                .await
                .map_err(|_| FeedError::HubGone)?;
        }
        Ok(())
    }

    /// Hands the hub a halt (`true`) or its end for `symbol`, at `ts`.
    pub async fn send_halt(
        &mut self,
        symbol: Arc<str>,
        halted: bool,
        ts: i64,
    ) -> Result<(), FeedError> {
        self.events
            .send(Event::Halt { symbol, halted, ts })
            .await
            .map_err(|_| FeedError::HubGone)
    }

    /// Hands the hub a sync point after this feed's events so far (the
    /// control API's, through a push feed).
    pub async fn pass_sync(&mut self, synced: crate::market::Synced) -> Result<(), FeedError> {
        self.events
            .send(Event::Sync(synced))
            .await
            .map_err(|_| FeedError::HubGone)
    }

    /// Tells the hub this feed's recorded clock is at `ts` for `symbols`.
    pub async fn send_clock(&mut self, symbols: Arc<[Arc<str>]>, ts: i64) -> Result<(), FeedError> {
        self.events
            .send(Event::Clock { symbols, ts })
            .await
            .map_err(|_| FeedError::HubGone)
    }

    async fn event(&mut self, event: Event) -> Result<(), FeedError> {
        self.set_live();
        self.events_in.inc();
        let (symbol, ts) = match &event {
            Event::Trade(t) => (&t.symbol, t.ts),
            Event::Book(b) => (&b.symbol, b.ts),
            Event::Depth(d) => (&d.symbol, d.ts),
            Event::Halt { .. } | Event::Clock { .. } | Event::Sync(_) => return Ok(()),
        };
        if self.wall_clock
            && let Some(skew) = self.clock.judge(ts, crate::market::now_ms())
        {
            let symbol = symbol.clone();
            self.reject(skew, &symbol, ts);
            return Ok(());
        }
        self.events
            .send(event)
            .await
            .map_err(|_| FeedError::HubGone)
    }

    /// Marks the feed live: connected and subscribed, even if the market is quiet.
    /// Counts a dropped event and logs it, at most every
    /// [`REJECTION_LOG_EVERY`] (with how many were dropped unlogged since).
    fn reject(&mut self, skew: Skew, symbol: &str, ts: i64) {
        self.rejected[skew as usize].inc();
        let now = Instant::now();
        match &mut self.logged {
            Some((at, unlogged)) if now.duration_since(*at) < REJECTION_LOG_EVERY => {
                *unlogged += 1;
            }
            logged => {
                let unlogged = logged.map_or(0, |(_, n)| n);
                let (why, bound) = match skew {
                    Skew::Future => ("ahead of", self.clock.ahead),
                    Skew::Old => ("behind", self.clock.behind),
                };
                tracing::warn!(
                    feed = %self.name,
                    symbol,
                    ts,
                    server_ms = crate::market::now_ms(),
                    also_dropped = unlogged,
                    "dropped an event stamped more than {bound:?} {why} this server's clock"
                );
                *logged = Some((now, 0));
            }
        }
    }

    /// Marks the feed stale: nothing comes (a push feed nobody pushes to).
    pub fn set_stale(&mut self) {
        self.report(FeedState::Stale);
    }

    pub fn set_live(&mut self) {
        if !self.live {
            self.report(FeedState::Live);
        }
    }

    fn report(&mut self, state: FeedState) {
        self.live = state == FeedState::Live;
        self.sink.set_state(self.id, state);
    }
}

/// A feed's outage switch: while it holds a reason, the feed is down as if
/// its source had failed with that error (stale, its books lost); lifted,
/// the feed reconnects. The receiving side is [`supervise`]'s.
pub type Outage = watch::Sender<Option<String>>;

/// How long a feed taken down by an [`Outage`] gets to stop by itself.
const OUTAGE_STOP: Duration = Duration::from_secs(1);

/// Runs `feed` until `stop` fires, restarting it whenever it fails or
/// `outage` lets it up again.
pub async fn supervise(
    mut feed: Box<dyn Feed>,
    mut out: FeedOutput,
    backoff: Backoff,
    stop: CancellationToken,
    mut outage: watch::Receiver<Option<String>>,
) {
    out.wall_clock = !feed.recorded_time();
    let from = out.sink.resume();
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| feed.resume(&from))) {
        let error = panicked(panic.as_ref());
        tracing::error!(feed = feed.name(), %error, "the feed's resume panicked");
    }
    let mut attempt = 0;
    loop {
        fill(feed.as_mut(), &out).await;
        let started = Instant::now();
        // An adapter that panics fails like one that errs: stale, the panic
        // as its error, restarted with backoff.
        let run_stop = stop.child_token();
        let ran = {
            let run = AssertUnwindSafe(feed.run(&mut out, run_stop.clone())).catch_unwind();
            let mut run = std::pin::pin!(run);
            tokio::select! {
                ran = &mut run => Some(ran),
                () = outage_begins(&mut outage) => {
                    run_stop.cancel();
                    tokio::time::timeout(OUTAGE_STOP, run).await.ok()
                }
            }
        };
        let result = ran
            .unwrap_or(Ok(Ok(())))
            .unwrap_or_else(|panic| Err(FeedError::Upstream(panicked(panic.as_ref()))));
        if stop.is_cancelled() {
            return;
        }
        out.report(FeedState::Stale);
        if out.lose_books().await.is_err() {
            return;
        }
        let down = outage.borrow().clone();
        if let Some(reason) = down {
            tracing::warn!(feed = feed.name(), %reason, "feed taken down");
            out.sink.set_error(out.id, reason);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = outage.wait_for(Option::is_none) => {}
            }
            tracing::info!(feed = feed.name(), "feed let up again");
            attempt = 0;
            out.report(FeedState::Reconnecting);
            continue;
        }
        match result {
            Err(FeedError::HubGone) => return,
            Err(e) => {
                tracing::warn!(feed = feed.name(), error = %e, "feed failed");
                out.sink.set_error(out.id, e.to_string());
            }
            Ok(()) => tracing::warn!(feed = feed.name(), "feed ended"),
        }
        if started.elapsed() >= backoff.reset_after {
            attempt = 0;
        }
        let delay = backoff.delay(attempt, &mut rand::rng());
        attempt = attempt.saturating_add(1);
        tracing::info!(feed = feed.name(), ?delay, attempt, "restarting feed");
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        out.report(FeedState::Reconnecting);
    }
}

/// Completes when an outage begins (never, once nobody can start one).
async fn outage_begins(outage: &mut watch::Receiver<Option<String>>) {
    if outage.wait_for(Option::is_some).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Hands the sink the bars `feed` has from before now.
async fn fill(feed: &mut dyn Feed, out: &FeedOutput) {
    let now = crate::market::now_ms();
    match AssertUnwindSafe(feed.history(now)).catch_unwind().await {
        Ok(history) if history.is_empty() => {}
        Ok(history) => out.sink.history(history, now),
        Err(panic) => {
            let error = panicked(panic.as_ref());
            tracing::error!(feed = feed.name(), %error, "the feed's history panicked");
        }
    }
}

/// A panic's message, as a feed error.
fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("the adapter panicked: {message}")
}

/// Display details for a ticker of a US equities provider: the name from
/// the default list when it is there, else the ticker itself. Its trading
/// day is New York's, but for the provider's crypto and forex pairs
/// (`BINANCE:BTCUSDT`, `BTC/USD`), which trade on the UTC day.
pub fn equity_info(symbol: &str) -> SymbolInfo {
    let name = universe::find(symbol).map_or(symbol, |i| &i.name);
    let pair = symbol.contains([':', '/']);
    SymbolInfo {
        symbol: symbol.to_string(),
        name: name.to_string(),
        currency: "USD".into(),
        trading_day: if pair {
            TradingDay::Utc
        } else {
            TradingDay::NewYork
        },
    }
}

/// A `--feed` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedSpec {
    /// The built-in simulator.
    Sim,
    /// Trades recorded in a CSV file.
    Replay(PathBuf),
    Finnhub,
    Coinbase,
    Alpaca,
    /// Trades other programs push over HTTP, under this name.
    Push(String),
}

impl std::str::FromStr for FeedSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<FeedSpec, String> {
        match spec {
            "sim" => Ok(FeedSpec::Sim),
            "finnhub" => Ok(FeedSpec::Finnhub),
            "coinbase" => Ok(FeedSpec::Coinbase),
            "alpaca" => Ok(FeedSpec::Alpaca),
            _ => {
                if let Some(name) = spec.strip_prefix("push:") {
                    let good = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
                    return if (1..=32).contains(&name.len()) && name.chars().all(good) {
                        Ok(FeedSpec::Push(name.into()))
                    } else {
                        Err(
                            "a push feed's name is 1 to 32 letters, digits, - or _: push:<name>"
                                .into(),
                        )
                    };
                }
                match spec.strip_prefix("replay:") {
                    Some("") => Err("replay needs a file: replay:<path.csv>".into()),
                    Some(path) => Ok(FeedSpec::Replay(path.into())),
                    None => Err(format!(
                        "unknown feed {spec:?} (known: sim, replay:<file>, finnhub, coinbase, alpaca, push:<name>)"
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_bounds_take_the_edges_and_refuse_beyond() {
        let bounds = ClockBounds::default();
        let now = 1_795_000_000_000;
        assert_eq!(bounds.judge(now, now), None);
        assert_eq!(bounds.judge(now + 5_000, now), None);
        assert_eq!(bounds.judge(now + 5_001, now), Some(Skew::Future));
        assert_eq!(bounds.judge(now * 1_000, now), Some(Skew::Future));
        assert_eq!(bounds.judge(now - 86_400_000, now), None);
        assert_eq!(bounds.judge(now - 86_400_001, now), Some(Skew::Old));
        assert_eq!(bounds.judge(now / 1_000, now), Some(Skew::Old));
        assert_eq!(bounds.judge(i64::MIN, now), Some(Skew::Old));
        assert_eq!(bounds.judge(i64::MAX, now), Some(Skew::Future));
    }

    #[test]
    fn feed_specs_parse_with_a_clear_error() {
        assert_eq!("sim".parse::<FeedSpec>(), Ok(FeedSpec::Sim));
        assert_eq!("coinbase".parse::<FeedSpec>(), Ok(FeedSpec::Coinbase));
        assert_eq!(
            "replay:day.csv".parse::<FeedSpec>(),
            Ok(FeedSpec::Replay("day.csv".into()))
        );
        assert!(
            "replay:"
                .parse::<FeedSpec>()
                .unwrap_err()
                .contains("needs a file")
        );
        let err = "nope".parse::<FeedSpec>().unwrap_err();
        assert!(
            err.contains("known: sim, replay:<file>, finnhub, coinbase, alpaca, push:<name>"),
            "{err}"
        );
        assert_eq!(
            "push:desk-1".parse::<FeedSpec>(),
            Ok(FeedSpec::Push("desk-1".into()))
        );
        assert!("push:".parse::<FeedSpec>().is_err());
        assert!("push:a/b".parse::<FeedSpec>().is_err());
    }

    #[test]
    fn equities_are_named_from_the_default_list() {
        assert_eq!(equity_info("MSFT").name, "Microsoft Corporation");
        assert_eq!(equity_info("ZZZZ").name, "ZZZZ");
    }
}
