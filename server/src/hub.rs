//! The hub: the latest quote per symbol and the batches that carry changes.
//!
//! Feeds send [`Event`]s into one channel. [`HubTask`] folds them into a
//! working copy of every quote (by the rules in [`crate::quotes`]) and, once per flush interval, diffs the working
//! copy against what it last published. The changed fields become one
//! [`Batch`], encoded to JSON once, appended to a short ring of recent batches,
//! and announced through a `watch` of the newest batch number. Sessions read
//! the ring at their own pace; the hub never waits for any of them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::Duration;

use app::protocol::{Candle, Change, FeedState, Interval, Quote, ServerMsg, SymbolInfo};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::candles::SymbolCandles;
use crate::feed::ClockBounds;
pub use crate::batch::{Batch, CandleEntry, Entry};
pub use crate::market::{FeedId, FeedStatus, SymbolId};
use crate::market::{Book, Event, History, Tick, now_ms};
use crate::metrics::{Metrics, SharedMetrics};
use crate::quotes::{self, Working};
use crate::subscription::Subscription;
use crate::wire;

/// How the hub batches.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Interval between batches.
    pub flush: Duration,
    /// Batches kept for sessions that fall behind; a session further behind
    /// than this is a slow consumer and is disconnected.
    pub retained_batches: usize,
    /// Capacity of the tick channel shared by every feed.
    pub tick_capacity: usize,
    /// Put every changed bar in each batch, charted or not (an ingest node
    /// publishes them all to the bus).
    pub all_candles: bool,
    /// How far live feeds' timestamps may stray from this server's clock.
    pub clock: ClockBounds,
    pub metrics: SharedMetrics,
}

/// The reader was further behind than the hub retains.
#[derive(Debug, PartialEq, Eq)]
pub struct Lagged;

/// What sessions and the HTTP API read. Written only by [`HubTask::flush`];
/// `no` and `quotes` always describe the same instant.
struct Published {
    no: u64,
    /// Shared with readers: a snapshot takes the `Arc` under the lock and
    /// copies nothing there; publishing replaces quotes in place unless a
    /// reader still holds the previous version.
    quotes: Arc<Vec<Option<Arc<Quote>>>>,
    ring: VecDeque<Arc<Batch>>,
}

struct Inner {
    symbols: Vec<SymbolInfo>,
    index: HashMap<String, SymbolId>,
    published: RwLock<Published>,
    /// Per symbol; written by the hub task for every trade, read by sessions
    /// and the API. Each lock is held only to fold a trade or copy bars out.
    candles: Vec<Mutex<SymbolCandles>>,
    /// Sessions charting each symbol and interval: `candle` messages are
    /// encoded only for series someone watches.
    chart_watchers: Vec<[AtomicUsize; 4]>,
    /// The `*` snapshot's encoded quotes, for the batch they are current as of.
    snapshot_cache: Mutex<Option<(u64, Arc<str>)>>,
    /// Encoded chart histories of the current batch and history revision.
    history_cache: Mutex<HistoryCache>,
    head: watch::Sender<u64>,
    feeds: watch::Sender<Vec<FeedStatus>>,
    events: mpsc::Sender<Event>,
    retained: usize,
    all_candles: bool,
    clock: ClockBounds,
    /// Counts rewrites of candle history (backfills), which batches do not
    /// carry: a mirror that saw a different count must copy the history again.
    rev: AtomicU64,
    metrics: SharedMetrics,
}

/// `candles` messages valid while the hub is at batch `no` and history
/// revision `rev`, by symbol, interval and limit.
#[derive(Default)]
struct HistoryCache {
    no: u64,
    rev: u64,
    frames: HashMap<(SymbolId, Interval, usize), Arc<str>>,
}

/// Chart histories kept per batch: enough for every series a crowd charts at
/// once, bounded whatever limits clients ask for.
const HISTORY_CACHE_ENTRIES: usize = 256;

/// A cheap handle to the hub, shared by feeds, sessions and HTTP handlers.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// Creates the hub for a fixed universe of symbols and feeds. The returned
    /// task must be run for batches to flow.
    pub fn new(
        symbols: Vec<SymbolInfo>,
        feed_names: Vec<String>,
        config: &HubConfig,
    ) -> (Hub, HubTask) {
        let (events, rx) = mpsc::channel(config.tick_capacity);
        let index = symbols
            .iter()
            .enumerate()
            .map(|(id, s)| (s.symbol.clone(), id))
            .collect();
        let feeds = feed_names.into_iter().map(|name| FeedStatus {
            name,
            state: FeedState::Reconnecting,
            error: None,
        });
        let published = Published {
            no: 0,
            quotes: Arc::new(vec![None; symbols.len()]),
            ring: VecDeque::new(),
        };
        let inner = Inner {
            index,
            candles: symbols.iter().map(|_| Mutex::default()).collect(),
            chart_watchers: symbols.iter().map(|_| Default::default()).collect(),
            snapshot_cache: Mutex::new(None),
            history_cache: Mutex::new(HistoryCache::default()),
            published: RwLock::new(published),
            head: watch::Sender::new(0),
            feeds: watch::Sender::new(feeds.collect()),
            events,
            retained: config.retained_batches.max(1),
            all_candles: config.all_candles,
            clock: config.clock,
            rev: AtomicU64::new(0),
            metrics: config.metrics.clone(),
            symbols,
        };
        let hub = Hub {
            inner: Arc::new(inner),
        };
        let task = HubTask::new(hub.clone(), rx, config.flush);
        (hub, task)
    }

    /// Every symbol the hub serves, in display order.
    pub fn symbols(&self) -> &[SymbolInfo] {
        &self.inner.symbols
    }

    pub fn lookup(&self, symbol: &str) -> Option<SymbolId> {
        self.inner.index.get(symbol).copied()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn metrics_handle(&self) -> SharedMetrics {
        self.inner.metrics.clone()
    }

    pub fn event_sender(&self) -> mpsc::Sender<Event> {
        self.inner.events.clone()
    }

    pub fn set_feed_state(&self, feed: FeedId, state: FeedState) {
        self.inner
            .feeds
            .send_if_modified(|feeds| match feeds.get_mut(feed) {
                Some(f) if f.state != state => {
                    tracing::info!(feed = %f.name, ?state, "feed state");
                    let gauge = match state {
                        FeedState::Live => 2,
                        FeedState::Reconnecting => 1,
                        FeedState::Stale => 0,
                    };
                    self.inner
                        .metrics
                        .feed_state
                        .with_label_values(&[f.name.as_str()])
                        .set(gauge);
                    f.state = state;
                    if state == FeedState::Live {
                        f.error = None;
                    }
                    true
                }
                _ => false,
            });
    }

    /// Records why a feed failed (shown by `/readyz`; clients are not woken).
    pub fn set_feed_error(&self, feed: FeedId, error: String) {
        self.inner.feeds.send_if_modified(|feeds| {
            if let Some(f) = feeds.get_mut(feed) {
                f.error = Some(error);
            }
            false
        });
    }

    /// How far live feeds' timestamps may stray from this server's clock.
    pub fn clock_bounds(&self) -> ClockBounds {
        self.inner.clock
    }

    /// Every feed's status.
    pub fn feeds(&self) -> Vec<FeedStatus> {
        self.inner.feeds.borrow().clone()
    }

    /// Feed states; changes wake the receiver.
    pub fn feed_states(&self) -> watch::Receiver<Vec<FeedStatus>> {
        self.inner.feeds.subscribe()
    }

    pub fn any_feed_live(&self) -> bool {
        self.inner
            .feeds
            .borrow()
            .iter()
            .any(|f| f.state == FeedState::Live)
    }

    /// The newest batch number; changes wake the receiver.
    pub fn watch_head(&self) -> watch::Receiver<u64> {
        self.inner.head.subscribe()
    }

    fn read(&self) -> RwLockReadGuard<'_, Published> {
        // A panic while holding the lock cannot leave `Published` half-written
        // (flush builds everything first), so a poisoned lock is still valid.
        self.inner
            .published
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The published quotes and the batch number they are current as of,
    /// taken without copying anything under the lock the hub publishes with.
    fn published_quotes(&self) -> (u64, Arc<Vec<Option<Arc<Quote>>>>) {
        let published = self.read();
        (published.no, published.quotes.clone())
    }

    /// The published quotes a subscription covers, and the batch number they
    /// are current as of: the next diff for them is batch `no + 1`.
    pub fn snapshot(&self, sub: &Subscription) -> (u64, Vec<Quote>) {
        let (no, quotes) = self.published_quotes();
        let mine = quotes
            .iter()
            .enumerate()
            .filter(|(id, _)| sub.contains(*id))
            .filter_map(|(_, q)| q.as_deref().cloned());
        (no, mine.collect())
    }

    /// A `snapshot` message with `seq` for a subscription, and the batch
    /// number it is current as of. Every `*` subscriber asking during one
    /// batch shares one encoding of the quotes (a crowd resyncing at once
    /// costs one encode, not one each).
    pub fn snapshot_frame(&self, seq: u64, sub: &Subscription) -> (u64, String) {
        let (no, quotes) = self.published_quotes();
        let tail = if sub.is_all() {
            let mut cache = self
                .inner
                .snapshot_cache
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match &*cache {
                Some((cached, tail)) if *cached == no => tail.clone(),
                _ => {
                    let tail: Arc<str> =
                        wire::snapshot_tail(quotes.iter().flatten().map(|q| &**q)).into();
                    *cache = Some((no, tail.clone()));
                    tail
                }
            }
        } else {
            let mine = quotes
                .iter()
                .enumerate()
                .filter(|(id, _)| sub.contains(*id))
                .filter_map(|(_, q)| q.as_deref());
            wire::snapshot_tail(mine).into()
        };
        (no, wire::snapshot_frame(seq, &tail))
    }

    /// The `candles` message with a series' newest `limit` bars, and the
    /// batch they are current as of (later batches carry newer bars). Shared
    /// by every chart asking for the same series and limit during one batch.
    /// Register the [`ChartWatch`] first: a batch published after that
    /// carries this series' bars encoded, so none closes unseen.
    pub fn history_frame(&self, id: SymbolId, interval: Interval, limit: usize) -> (u64, Arc<str>) {
        let (no, rev) = (self.read().no, self.rev());
        let key = (id, interval, limit);
        let mut cache = self
            .inner
            .history_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if (cache.no, cache.rev) != (no, rev) {
            *cache = HistoryCache {
                no,
                rev,
                frames: HashMap::new(),
            };
        }
        if let Some(frame) = cache.frames.get(&key) {
            return (no, frame.clone());
        }
        let frame: Arc<str> = wire::encode(&ServerMsg::Candles {
            symbol: self.inner.symbols[id].symbol.clone(),
            interval,
            candles: self.candles(id, interval, limit),
        })
        .into();
        if cache.frames.len() < HISTORY_CACHE_ENTRIES {
            cache.frames.insert(key, frame.clone());
        }
        (no, frame)
    }

    /// Every batch numbered above `no`, oldest first.
    pub fn batches_after(&self, no: u64) -> Result<Vec<Arc<Batch>>, Lagged> {
        let published = self.read();
        let Some(oldest) = published.ring.front().map(|b| b.no) else {
            return Ok(Vec::new());
        };
        if no + 1 < oldest {
            return Err(Lagged);
        }
        let skip = usize::try_from(no + 1 - oldest).unwrap_or(usize::MAX);
        Ok(published.ring.iter().skip(skip).cloned().collect())
    }

    fn candles_of(&self, id: SymbolId) -> MutexGuard<'_, SymbolCandles> {
        // Folding a trade cannot panic halfway, so a poisoned lock is valid.
        self.inner.candles[id]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Registers interest in a series' live candles for as long as the
    /// returned guard lives.
    pub fn watch_chart(&self, id: SymbolId, interval: Interval) -> ChartWatch {
        self.inner.chart_watchers[id][interval.index()].fetch_add(1, Ordering::Relaxed);
        ChartWatch {
            hub: self.clone(),
            id,
            interval,
        }
    }

    fn is_charted(&self, id: SymbolId, interval: Interval) -> bool {
        self.inner.chart_watchers[id][interval.index()].load(Ordering::Relaxed) > 0
    }

    /// The `candle` entry of a changed bar; encoded only if someone charts it.
    fn candle_entry(&self, id: SymbolId, interval: Interval, candle: Candle) -> CandleEntry {
        let json = self.is_charted(id, interval).then(|| {
            wire::encode(&ServerMsg::Candle {
                symbol: self.inner.symbols[id].symbol.clone(),
                interval,
                candle,
            })
        });
        CandleEntry {
            id,
            interval,
            t: candle.t,
            candle,
            json,
        }
    }

    /// The newest `limit` bars of one symbol and interval, oldest first.
    pub fn candles(&self, id: SymbolId, interval: Interval, limit: usize) -> Vec<Candle> {
        self.candles_of(id).series(interval).last(limit)
    }

    /// The newest `limit` bars of a series and the first batch that will
    /// carry newer states of them: read under the lock batches are published
    /// with, so no batch is published in between (and the hub task, which
    /// alone moves bars, is not between a flush and its publication with
    /// different bars).
    pub fn candles_as_of(
        &self,
        id: SymbolId,
        interval: Interval,
        limit: usize,
    ) -> (u64, Vec<Candle>) {
        let published = self.read();
        let bars = self.candles(id, interval, limit);
        (published.no + 1, bars)
    }

    /// How many times candle history was rewritten; see [`Hub::backfill`].
    pub fn rev(&self) -> u64 {
        self.inner.rev.load(Ordering::Acquire)
    }

    /// Every symbol's published quote (`None` before its first trade) and
    /// the batch number they are current as of.
    pub fn state(&self) -> (u64, Vec<Option<Quote>>) {
        let (no, quotes) = self.published_quotes();
        (no, quotes.iter().map(|q| q.as_deref().cloned()).collect())
    }

    /// Merges a feed's history into the candle store; unknown symbols are skipped.
    pub fn backfill(&self, history: Vec<History>) {
        for h in history {
            match self.lookup(&h.symbol) {
                Some(id) => self
                    .candles_of(id)
                    .series_mut(h.interval)
                    .backfill(&h.candles),
                None => {
                    tracing::debug!(symbol = %h.symbol, "history for a symbol outside the universe")
                }
            }
        }
        // After the merge: whoever copies the history after reading the new
        // number sees it.
        self.inner.rev.fetch_add(1, Ordering::AcqRel);
    }

    /// Replaces one series' bars (a mirror taking the ingest node's history).
    pub fn replace_candles(&self, id: SymbolId, interval: Interval, bars: &[Candle]) {
        self.candles_of(id).series_mut(interval).replace(bars);
    }

    /// Publishes changes computed elsewhere (an edge mirroring the ingest
    /// node) as this hub's next batch: quotes get the changes, the candle
    /// store gets the bars, sessions get one batch.
    ///
    /// `withdrawn` symbols lose their quote (an edge copying a restarted
    /// ingest node that has not quoted them yet).
    pub fn publish_mirrored(
        &self,
        ts: i64,
        changes: Vec<(SymbolId, Change)>,
        candles: Vec<(SymbolId, Interval, Candle)>,
        resync: bool,
        withdrawn: &[SymbolId],
    ) {
        let candles: Vec<CandleEntry> = candles
            .into_iter()
            .map(|(id, interval, candle)| {
                self.candles_of(id).series_mut(interval).put(candle);
                self.candle_entry(id, interval, candle)
            })
            .collect();
        let (no, updated, entries) = {
            let published = self.read();
            let mut updated = Vec::with_capacity(changes.len());
            let mut entries = Vec::with_capacity(changes.len());
            for (id, change) in changes {
                let quote = match &published.quotes[id] {
                    Some(old) => {
                        let mut quote = Quote::clone(old);
                        quote.apply(&change);
                        Some(quote)
                    }
                    None => change.to_quote(),
                };
                let Some(quote) = quote else {
                    tracing::warn!(symbol = %change.symbol, "partial change for a symbol without a quote");
                    continue;
                };
                updated.push((id, quote));
                let json = wire::to_json(&change);
                entries.push(Entry { id, change, json });
            }
            (published.no + 1, updated, entries)
        };
        if entries.is_empty() && candles.is_empty() && !resync && withdrawn.is_empty() {
            return;
        }
        let all_tail = wire::diff_tail(ts, entries.iter().map(|e| e.json.as_str()));
        let batch = Batch {
            no,
            ts,
            entries,
            all_tail,
            candles,
            resync,
            withdrawn: !withdrawn.is_empty(),
        };
        let cleared = withdrawn.iter().map(|&id| (id, None));
        self.publish(
            batch,
            updated
                .into_iter()
                .map(|(id, q)| (id, Some(q)))
                .chain(cleared),
        );
    }

    fn publish(&self, batch: Batch, quotes: impl Iterator<Item = (SymbolId, Option<Quote>)>) {
        let no = batch.no;
        {
            let mut published = self
                .inner
                .published
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let shared = Arc::make_mut(&mut published.quotes);
            for (id, quote) in quotes {
                shared[id] = quote.map(Arc::new);
            }
            published.no = no;
            published.ring.push_back(Arc::new(batch));
            while published.ring.len() > self.inner.retained {
                published.ring.pop_front();
            }
        }
        self.inner.metrics.batches.inc();
        self.inner.head.send_replace(no);
    }
}

/// Interest in one series' candles; see [`Hub::watch_chart`].
pub struct ChartWatch {
    hub: Hub,
    id: SymbolId,
    interval: Interval,
}

impl Drop for ChartWatch {
    fn drop(&mut self) {
        self.hub.inner.chart_watchers[self.id][self.interval.index()]
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The hub's own task: owns the working quotes; see the module docs.
pub struct HubTask {
    hub: Hub,
    rx: mpsc::Receiver<Event>,
    flush_every: Duration,
    /// Current state, updated by every event.
    working: Vec<Working>,
    /// State as of the last batch, the base the next diff is taken against.
    sent: Vec<Option<Quote>>,
    /// Symbols touched since the last flush, each once.
    dirty: Vec<SymbolId>,
    is_dirty: Vec<bool>,
    /// Bars changed since the last flush: (symbol, interval, bar start).
    touched: HashSet<(SymbolId, Interval, i64)>,
    no: u64,
}

impl HubTask {
    fn new(hub: Hub, rx: mpsc::Receiver<Event>, flush_every: Duration) -> HubTask {
        let n = hub.symbols().len();
        HubTask {
            hub,
            rx,
            flush_every,
            working: vec![Working::default(); n],
            sent: vec![None; n],
            dirty: Vec::new(),
            is_dirty: vec![false; n],
            touched: HashSet::new(),
            no: 0,
        }
    }

    /// Applies ticks and publishes a batch every flush interval until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut flush = tokio::time::interval(self.flush_every);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                due = flush.tick() => {
                    let hub = self.hub.clone();
                    let metrics = hub.metrics();
                    metrics.flush_lag_seconds.observe(due.elapsed().as_secs_f64());
                    let started = std::time::Instant::now();
                    self.flush(now_ms());
                    metrics.batch_encode_seconds.observe(started.elapsed().as_secs_f64());
                }
                Some(event) = self.rx.recv() => self.apply(event),
            }
        }
    }

    /// Folds one event into the working state of its symbol.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Trade(tick) => self.trade(tick),
            Event::Book(book) => self.book(&book),
        }
    }

    fn symbol_id(&self, symbol: &str) -> Option<SymbolId> {
        let id = self.hub.lookup(symbol);
        if id.is_none() {
            tracing::debug!(%symbol, "event for a symbol outside the universe");
        }
        id
    }

    fn trade(&mut self, mut tick: Tick) {
        let Some(id) = self.symbol_id(&tick.symbol) else {
            return;
        };
        if !quotes::usable(tick.price) {
            tracing::debug!(?tick, "trade with an unusable price");
            return;
        }
        quotes::sanitise(&mut tick);
        self.working[id].trade(&tick.symbol, &tick);
        let bars = self.hub.candles_of(id).add(tick.ts, tick.price, tick.size);
        for (interval, t) in Interval::ALL.into_iter().zip(bars) {
            if let Some(t) = t {
                self.touched.insert((id, interval, t));
            }
        }
        self.mark_dirty(id);
    }

    fn book(&mut self, book: &Book) {
        let Some(id) = self.symbol_id(&book.symbol) else {
            return;
        };
        if !(quotes::usable(book.bid) && quotes::usable(book.ask)) {
            tracing::debug!(?book, "book with an unusable price");
            return;
        }
        self.working[id].book(book);
        self.mark_dirty(id);
    }

    fn mark_dirty(&mut self, id: SymbolId) {
        if !self.is_dirty[id] {
            self.is_dirty[id] = true;
            self.dirty.push(id);
        }
    }

    /// Publishes the changes since the last flush as one batch, if any.
    pub fn flush(&mut self, ts: i64) {
        self.dirty.sort_unstable();
        let mut entries = Vec::with_capacity(self.dirty.len());
        for id in self.dirty.drain(..) {
            self.is_dirty[id] = false;
            let (Some(new), old) = (self.working[id].quote(), &self.sent[id]) else {
                continue;
            };
            let change = match old {
                Some(old) => old.diff(new),
                None => Some(Change::full(new)),
            };
            if let Some(change) = change {
                let json = wire::to_json(&change);
                entries.push(Entry { id, change, json });
            }
        }
        let candles = self.candle_entries();
        if entries.is_empty() && candles.is_empty() {
            return;
        }
        self.no += 1;
        let updated: Vec<(SymbolId, Quote)> = entries
            .iter()
            .filter_map(|e| Some((e.id, self.working[e.id].quote()?.clone())))
            .collect();
        for (id, quote) in &updated {
            self.sent[*id] = Some(quote.clone());
        }
        let all_tail = wire::diff_tail(ts, entries.iter().map(|e| e.json.as_str()));
        let batch = Batch {
            no: self.no,
            ts,
            entries,
            all_tail,
            candles,
            resync: false,
            withdrawn: false,
        };
        self.hub
            .publish(batch, updated.into_iter().map(|(id, q)| (id, Some(q))));
    }

    /// Every bar touched since the last flush, in the series some session
    /// charts (or in every series, for a hub that publishes to the bus).
    fn candle_entries(&mut self) -> Vec<CandleEntry> {
        let hub = &self.hub;
        let all = hub.inner.all_candles;
        let mut touched: Vec<_> = self
            .touched
            .drain()
            .filter(|(id, i, _)| all || hub.is_charted(*id, *i))
            .collect();
        touched.sort_unstable();
        touched
            .into_iter()
            .filter_map(|(id, interval, t)| {
                let candle = hub.candles_of(id).series(interval).get(t)?;
                Some(hub.candle_entry(id, interval, candle))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::ServerMsg;

    fn hub(symbols: &[&str]) -> (Hub, HubTask) {
        hub_keeping(symbols, 3)
    }

    fn hub_keeping(symbols: &[&str], retained_batches: usize) -> (Hub, HubTask) {
        let infos = symbols
            .iter()
            .map(|s| SymbolInfo {
                symbol: s.to_string(),
                name: format!("{s} Inc."),
                currency: "USD".into(),
            })
            .collect();
        let config = HubConfig {
            flush: Duration::from_millis(100),
            retained_batches,
            tick_capacity: 16,
            all_candles: false,
            clock: ClockBounds::default(),
            metrics: Default::default(),
        };
        Hub::new(infos, vec!["sim".into()], &config)
    }

    fn tick(symbol: &str, price: f64, size: u64, ts: i64) -> Tick {
        Tick {
            bid: Some(price - 0.01),
            ask: Some(price + 0.01),
            ..Tick::trade(symbol, price, size as f64, ts)
        }
    }

    #[test]
    fn snapshots_and_histories_are_encoded_once_per_batch_and_follow_it() {
        let (hub, mut task) = hub(&["AAPL", "MSFT"]);
        task.apply(Event::Trade(tick("AAPL", 100.0, 10, 1_000)));
        task.apply(Event::Trade(tick("MSFT", 400.0, 10, 1_000)));
        task.flush(1_000);
        let all = Subscription::all();
        let (no, first) = hub.snapshot_frame(7, &all);
        let (_, again) = hub.snapshot_frame(8, &all);
        let msg: ServerMsg = serde_json::from_str(&first).unwrap();
        let ServerMsg::Snapshot { seq: 7, quotes } = msg else {
            panic!("{first}")
        };
        assert_eq!((no, quotes), hub.snapshot(&all));
        assert_eq!(
            first.replace("\"seq\":7", "\"seq\":8"),
            again,
            "one encoding, two seqs"
        );
        let shared = hub.inner.snapshot_cache.lock().unwrap().clone().unwrap();
        let (_, third) = hub.snapshot_frame(9, &all);
        assert!(third.ends_with(&*shared.1), "the cached quotes are reused");

        let (since, history) = hub.history_frame(0, Interval::S1, 10);
        assert_eq!(since, no);
        assert!(Arc::ptr_eq(
            &history,
            &hub.history_frame(0, Interval::S1, 10).1
        ));
        // A new batch: both follow it.
        task.apply(Event::Trade(tick("AAPL", 101.0, 5, 1_200)));
        task.flush(1_300);
        let (later, frame) = hub.snapshot_frame(10, &all);
        assert_eq!(later, no + 1);
        assert!(
            frame.contains("101.0") || frame.contains("\"last\":101"),
            "{frame}"
        );
        let (since, history) = hub.history_frame(0, Interval::S1, 10);
        assert_eq!(since, later);
        let ServerMsg::Candles { candles, .. } = serde_json::from_str(&history).unwrap() else {
            panic!("{history}")
        };
        assert_eq!((candles[0].c, candles[0].v), (101.0, 15));
        // A subscription to one symbol gets only it.
        let mut one = Subscription::default();
        one.insert(1);
        let ServerMsg::Snapshot { quotes, .. } =
            serde_json::from_str(&hub.snapshot_frame(11, &one).1).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            quotes.iter().map(|q| q.symbol.as_str()).collect::<Vec<_>>(),
            ["MSFT"]
        );
    }

    #[test]
    fn ticks_between_flushes_coalesce_into_one_change() {
        let (hub, mut task) = hub(&["AAPL", "MSFT"]);
        task.apply(Event::Trade(tick("AAPL", 100.0, 10, 1)));
        task.flush(1000);
        task.apply(Event::Trade(tick("AAPL", 101.0, 5, 2)));
        task.apply(Event::Trade(tick("AAPL", 100.5, 5, 3)));
        task.apply(Event::Trade(tick("AAPL", 100.5, 0, 3)));
        task.flush(1100);
        let batch = &hub.batches_after(1).unwrap()[0];
        assert_eq!(batch.no, 2);
        assert_eq!(batch.entries.len(), 1);
        let change = &batch.entries[0].change;
        assert_eq!(change.last, Some(100.5));
        assert_eq!(change.high, Some(101.0));
        assert_eq!(change.volume, Some(20));
        assert_eq!(change.low, None, "low did not change");
        assert_eq!(
            change.open, None,
            "open never changes after the first trade"
        );
    }

    #[test]
    fn a_symbols_first_change_is_complete_and_later_ones_minimal() {
        let (hub, mut task) = hub(&["AAPL"]);
        let mut first = tick("AAPL", 100.0, 10, 1);
        first.session.prev_close = Some(99.0);
        task.apply(Event::Trade(first));
        task.flush(10);
        task.apply(Event::Trade(tick("AAPL", 100.0, 0, 1)));
        task.flush(20);
        let first = &hub.batches_after(0).unwrap()[0].entries[0].change;
        assert!(
            first.to_quote().is_some(),
            "first change carries every field: {first:?}"
        );
        assert_eq!(first.prev_close, Some(99.0));
        let later = hub.batches_after(1).unwrap();
        assert!(
            later.iter().all(|b| b.entries.is_empty()),
            "an unchanged quote publishes no change"
        );
    }

    #[test]
    fn diffs_applied_to_a_snapshot_give_the_published_state() {
        let (hub, mut task) = hub_keeping(&["A", "B", "C"], 10);
        task.apply(Event::Trade(tick("A", 10.0, 1, 1)));
        task.apply(Event::Trade(tick("B", 20.0, 1, 1)));
        task.flush(1);
        let (no, mut client) = hub.snapshot(&Subscription::all());
        for (i, price) in [10.5, 9.75, 11.0, 11.0, 12.25].into_iter().enumerate() {
            task.apply(Event::Trade(tick(
                ["A", "B", "C"][i % 3],
                price,
                3,
                2 + i as i64,
            )));
            task.flush(10 + i as i64);
        }
        for batch in hub.batches_after(no).unwrap() {
            for e in &batch.entries {
                match client.iter_mut().find(|q| q.symbol == e.change.symbol) {
                    Some(q) => q.apply(&e.change),
                    None => client.push(e.change.to_quote().unwrap()),
                }
            }
        }
        client.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        assert_eq!(client, hub.snapshot(&Subscription::all()).1);
    }

    #[test]
    fn the_shared_encoding_is_the_documented_diff() {
        let (hub, mut task) = hub(&["A", "B"]);
        task.apply(Event::Trade(tick("A", 10.0, 1, 1)));
        task.apply(Event::Trade(tick("B", 20.0, 1, 1)));
        task.flush(77);
        let batch = &hub.batches_after(0).unwrap()[0];
        let frame = format!("{{\"type\":\"diff\",\"seq\":5,{}", batch.all_tail);
        let parsed: ServerMsg = serde_json::from_str(&frame).unwrap();
        let changes = batch.entries.iter().map(|e| e.change.clone()).collect();
        assert_eq!(
            parsed,
            ServerMsg::Diff {
                seq: 5,
                ts: 77,
                changes
            }
        );
    }

    #[test]
    fn readers_too_far_behind_are_told_so() {
        let (hub, mut task) = hub(&["A"]);
        for i in 1..=5 {
            task.apply(Event::Trade(tick("A", 10.0 + i as f64, 1, i)));
            task.flush(i);
        }
        assert_eq!(hub.batches_after(0).unwrap_err(), Lagged);
        assert_eq!(hub.batches_after(1).unwrap_err(), Lagged);
        let nos: Vec<u64> = hub.batches_after(2).unwrap().iter().map(|b| b.no).collect();
        assert_eq!(nos, vec![3, 4, 5]);
        assert!(hub.batches_after(5).unwrap().is_empty());
    }

    #[test]
    fn a_late_trade_adds_volume_but_is_not_the_last_price() {
        let (hub, mut task) = hub(&["A"]);
        task.apply(Event::Trade(tick("A", 10.0, 1, 2_000)));
        task.apply(Event::Trade(tick("A", 12.0, 5, 1_000)));
        task.flush(3_000);
        let quote = &hub.snapshot(&Subscription::all()).1[0];
        assert_eq!(
            (quote.last, quote.high, quote.volume, quote.ts),
            (10.0, 12.0, 6, 2_000)
        );
    }

    #[test]
    fn each_batch_carries_the_changed_candles_once() {
        let (hub, mut task) = hub(&["A", "B"]);
        let _watches: Vec<ChartWatch> = (0..2)
            .flat_map(|id| Interval::ALL.map(|i| hub.watch_chart(id, i)))
            .collect();
        task.apply(Event::Trade(tick("A", 10.0, 1, 61_000)));
        task.apply(Event::Trade(tick("A", 11.0, 2, 61_500)));
        task.apply(Event::Trade(tick("B", 20.0, 3, 59_999)));
        task.flush(62_000);
        let batch = &hub.batches_after(0).unwrap()[0];
        let keys: Vec<(SymbolId, Interval, i64)> = batch
            .candles
            .iter()
            .map(|c| (c.id, c.interval, c.t))
            .collect();
        assert_eq!(
            keys,
            vec![
                (0, Interval::S1, 61_000),
                (0, Interval::S5, 60_000),
                (0, Interval::M1, 60_000),
                (0, Interval::M5, 0),
                (1, Interval::S1, 59_000),
                (1, Interval::S5, 55_000),
                (1, Interval::M1, 0),
                (1, Interval::M5, 0),
            ]
        );
        let msg: ServerMsg =
            serde_json::from_str(batch.candles[2].json.as_deref().unwrap()).unwrap();
        let candle = Candle {
            t: 60_000,
            o: 10.0,
            h: 11.0,
            l: 10.0,
            c: 11.0,
            v: 3,
        };
        assert_eq!(
            msg,
            ServerMsg::Candle {
                symbol: "A".into(),
                interval: Interval::M1,
                candle
            }
        );
        assert_eq!(hub.candles(0, Interval::M1, 10), vec![candle]);
    }

    #[test]
    fn candles_are_encoded_only_for_charted_series() {
        let (hub, mut task) = hub(&["A", "B"]);
        let watch = hub.watch_chart(1, Interval::M1);
        task.apply(Event::Trade(tick("A", 10.0, 1, 61_000)));
        task.apply(Event::Trade(tick("B", 20.0, 1, 61_000)));
        task.flush(62_000);
        let keys: Vec<_> = hub.batches_after(0).unwrap()[0]
            .candles
            .iter()
            .map(|c| (c.id, c.interval))
            .collect();
        assert_eq!(keys, vec![(1, Interval::M1)]);
        drop(watch);
        task.apply(Event::Trade(tick("B", 21.0, 1, 61_500)));
        task.flush(63_000);
        assert!(hub.batches_after(1).unwrap()[0].candles.is_empty());
    }

    #[test]
    fn unusable_ticks_are_ignored() {
        let (hub, mut task) = hub(&["A"]);
        task.apply(Event::Trade(tick("ZZZ", 10.0, 1, 1)));
        task.apply(Event::Trade(tick("A", f64::NAN, 1, 1)));
        task.apply(Event::Trade(tick("A", -3.0, 1, 1)));
        task.flush(1);
        assert!(hub.snapshot(&Subscription::all()).1.is_empty());
        task.apply(Event::Trade(Tick {
            bid: None,
            ask: Some(f64::INFINITY),
            ..tick("A", 5.0, 1, 1)
        }));
        task.flush(2);
        let quote = &hub.snapshot(&Subscription::all()).1[0];
        assert_eq!((quote.bid, quote.ask, quote.prev_close), (5.0, 5.0, 5.0));
    }
}
