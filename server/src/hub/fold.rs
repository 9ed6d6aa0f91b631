//! The writer of a hub fed by feeds. Feeds send [`Event`]s into one channel
//! through their [`FeedPort`]; the [`Folder`] task folds them into a working
//! copy of every quote (by the rules in [`crate::quotes`]) and the candle
//! store, and once per flush interval diffs the working copy against what it
//! last published. The changed fields become one [`Batch`], encoded once and
//! handed to the hub's [`Publisher`]; on a store, every bar and quote the
//! batch changed (charted or not) is also recorded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use app::protocol::{
    BOOK_DEPTH, Change, DAY_MS, FeedState, Interval, MarketSession, Quote, TRADES_PER_MESSAGE,
    Trade, TradeSide, TradingDay,
};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::charts::Charts;
use super::depth::{Depths, Watched};
use super::feeds::FeedReports;
use super::published::Publisher;
use crate::batch::{Batch, BookEntry, CandleEntry, Entry, TradesEntry};
use crate::book::{BookView, OrderBook};
use crate::feed::FeedSink;
use crate::market::{
    Book, Depth, DepthChange, Event, FeedId, History, Resume, SymbolId, Synced, Tick, Universe,
    now_ms,
};
use crate::metrics::SharedMetrics;
use crate::quotes::{self, Working};
use crate::store::{Changes, Restored};
use crate::wire;

/// What feeds of a folding hub write to: the event channel, their status,
/// and the candle store (history). Cheap to clone, one per feed.
#[derive(Clone)]
pub struct FeedPort {
    events: mpsc::Sender<Event>,
    reports: FeedReports,
    charts: Charts,
    resume: Arc<Resume>,
}

impl FeedSink for FeedPort {
    fn events(&self) -> mpsc::Sender<Event> {
        self.events.clone()
    }

    fn set_state(&self, feed: FeedId, state: FeedState) {
        self.reports.set_state(feed, state);
    }

    fn set_error(&self, feed: FeedId, error: String) {
        self.reports.set_error(feed, error);
    }

    fn history(&self, history: Vec<History>, as_of: i64) {
        self.charts.backfill(history, as_of);
    }

    fn resume(&self) -> Resume {
        (*self.resume).clone()
    }
}

/// The hub's task when feeds write to it: owns the working quotes.
pub struct Folder {
    publisher: Publisher,
    charts: Charts,
    universe: Arc<Universe>,
    port: FeedPort,
    rx: mpsc::Receiver<Event>,
    flush_every: Duration,
    /// Put every changed bar in each batch, charted or not.
    all_candles: bool,
    metrics: SharedMetrics,
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
    /// Symbols by id, shared with what is recorded.
    names: Vec<Arc<str>>,
    /// The start of each long series' open bar, recorded only once it
    /// closes (see [`crate::store::written_live`]).
    open_bars: HashMap<(SymbolId, Interval), i64>,
    /// Each symbol's calendar (its trading day).
    calendars: Vec<TradingDay>,
    alerts: Arc<crate::alerts::AlertBook>,
    /// Trades, books and who watches them, as sessions read them.
    depths: Depths,
    /// Each symbol's trades tape and order book, being built.
    tapes: Vec<Tape>,
    /// Symbols with trades since the last flush, each once.
    traded: Vec<SymbolId>,
    /// Symbols whose feed keeps recorded time (a replay, a simulator on its
    /// own clock): their sessions follow their events, not this server's clock.
    recorded: Vec<bool>,
    /// When each calendar (UTC, New York) next changes session or day.
    next_sweep: [i64; 2],
    /// Waiting for the next flush ([`Event::Sync`]).
    synced: Vec<Synced>,
}

/// What a [`Folder`] is built from.
pub(super) struct Parts {
    pub publisher: Publisher,
    pub charts: Charts,
    pub depths: Depths,
    pub reports: FeedReports,
    pub universe: Arc<Universe>,
    pub metrics: SharedMetrics,
    pub alerts: Arc<crate::alerts::AlertBook>,
}

/// How a [`Folder`] batches (from the hub's configuration).
pub(super) struct Settings {
    pub flush: Duration,
    pub tick_capacity: usize,
    pub all_candles: bool,
}

impl Folder {
    pub(super) fn new(parts: Parts, settings: Settings) -> Folder {
        let (events, rx) = mpsc::channel(settings.tick_capacity);
        let n = parts.universe.len();
        let names = parts
            .universe
            .symbols()
            .iter()
            .map(|s| s.symbol.as_str().into())
            .collect();
        let calendars: Vec<TradingDay> = parts
            .universe
            .symbols()
            .iter()
            .map(|s| s.trading_day)
            .collect();
        Folder {
            port: FeedPort {
                events,
                reports: parts.reports,
                charts: parts.charts.clone(),
                resume: Arc::default(),
            },
            publisher: parts.publisher,
            charts: parts.charts,
            universe: parts.universe,
            rx,
            flush_every: settings.flush,
            all_candles: settings.all_candles,
            metrics: parts.metrics,
            working: vec![Working::default(); n],
            sent: vec![None; n],
            dirty: Vec::new(),
            is_dirty: vec![false; n],
            touched: HashSet::new(),
            no: 0,
            names,
            open_bars: HashMap::new(),
            recorded: vec![false; calendars.len()],
            alerts: parts.alerts,
            depths: parts.depths,
            tapes: (0..n).map(|_| Tape::default()).collect(),
            traded: Vec::new(),
            calendars,
            next_sweep: [i64::MIN; 2],
            synced: Vec::new(),
        }
    }

    /// Starts from what a store restored: each symbol's last quote (as if
    /// already published, so the first batch carries only what changes),
    /// and tells the feeds where history left off.
    pub(super) fn restore(&mut self, restored: &Restored) {
        let symbols = self.universe.symbols();
        for (id, quote) in &restored.quotes {
            self.working[*id] = Working::restored(quote.clone(), self.calendars[*id]);
        }
        let newest_minute = restored
            .bars
            .iter()
            .filter(|(_, interval, _)| *interval == Interval::M1)
            .filter_map(|(id, _, bars)| Some((symbols[*id].symbol.clone(), bars.last()?.t)))
            .collect();
        self.port.resume = Arc::new(Resume {
            quotes: restored.quotes.iter().map(|(_, q)| q.clone()).collect(),
            newest_minute,
        });
        // Published at the first flush: a snapshot right after start shows them.
        for (id, _) in &restored.quotes {
            self.mark_dirty(*id);
        }
    }

    pub(super) fn restored_quotes(&self) -> usize {
        self.port.resume.quotes.len()
    }

    /// Marks the symbols whose feeds keep recorded time (by universe order).
    pub fn keep_recorded_time(&mut self, recorded: Vec<bool>) {
        if recorded.len() == self.recorded.len() {
            self.recorded = recorded;
        }
    }

    /// Where the hub's feeds write.
    pub fn port(&self) -> FeedPort {
        self.port.clone()
    }

    /// Applies events and publishes a batch every flush interval until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut flush = tokio::time::interval(self.flush_every);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return self.record_open_bars(),
                due = flush.tick() => {
                    let metrics = self.metrics.clone();
                    metrics.flush_lag_seconds.observe(due.elapsed().as_secs_f64());
                    let started = std::time::Instant::now();
                    self.flush(now_ms());
                    metrics.batch_encode_seconds.observe(started.elapsed().as_secs_f64());
                    for synced in self.synced.drain(..) {
                        synced.done();
                    }
                }
                Some(event) = self.rx.recv() => self.apply(event),
            }
        }
    }

    /// Folds one event into the working state of its symbol.
    pub(super) fn apply(&mut self, event: Event) {
        match event {
            Event::Trade(tick) => self.trade(tick),
            Event::Book(book) => self.book(&book),
            Event::Depth(depth) => self.depth(depth),
            Event::Halt { symbol, halted, ts } => {
                if let Some(id) = self.symbol_id(&symbol) {
                    self.working[id].halt(halted, self.calendars[id], ts);
                    self.mark_dirty(id);
                }
            }
            Event::Sync(synced) => self.synced.push(synced),
            Event::Clock { symbols, ts } => {
                for symbol in symbols.iter() {
                    if let Some(id) = self.symbol_id(symbol)
                        && self.working[id].clock(self.calendars[id], ts)
                    {
                        self.mark_dirty(id);
                    }
                }
            }
        }
    }

    /// Moves the sessions of symbols on this server's clock to `now`, when
    /// a calendar's session or trading day has changed since the last time.
    fn sweep(&mut self, now: i64) {
        for (index, calendar) in [TradingDay::Utc, TradingDay::NewYork]
            .into_iter()
            .enumerate()
        {
            if now < self.next_sweep[index] {
                continue;
            }
            // The next change: a session boundary, or (around the clock) the next UTC midnight.
            self.next_sweep[index] = calendar
                .next_change(now)
                .unwrap_or_else(|| (now.div_euclid(DAY_MS) + 1) * DAY_MS);
            for id in 0..self.working.len() {
                if self.calendars[id] == calendar
                    && !self.recorded[id]
                    && self.working[id].clock(calendar, now)
                {
                    self.mark_dirty(id);
                }
            }
        }
    }

    fn symbol_id(&self, symbol: &str) -> Option<SymbolId> {
        let id = self.universe.lookup(symbol);
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
        let calendar = self.calendars[id];
        self.working[id].trade(&tick.symbol, &tick, calendar);
        if let Some(quote) = self.working[id].quote() {
            // On the trade's own price, before anything is batched.
            self.alerts
                .on_trade(&tick.symbol, tick.price, quote.prev_close, tick.ts);
        }
        // A daily bar is the regular session's, as the day's figures are.
        let regular = calendar.session_at(tick.ts) == MarketSession::Regular;
        self.tape(id, &tick);
        let bars = self.charts.add(id, tick.ts, tick.price, tick.size, regular);
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

    /// Puts a trade on its symbol's tape, with its side (the tick test's
    /// where the feed does not say).
    fn tape(&mut self, id: SymbolId, tick: &Tick) {
        let tape = &mut self.tapes[id];
        let tested = match tape.last {
            Some(last) if tick.price > last => Some(TradeSide::Up),
            Some(last) if tick.price < last => Some(TradeSide::Down),
            _ => tape.direction,
        };
        let side = tick.side.or(tested);
        if tick.side.is_none() {
            tape.direction = side;
        }
        tape.last = Some(tick.price);
        let trade = Trade {
            t: tick.ts,
            p: tick.price,
            s: tick.size,
            side,
        };
        if tape.pending.is_empty() {
            self.traded.push(id);
        }
        tape.pending.push(trade);
    }

    /// Applies a change to a symbol's order book.
    fn depth(&mut self, depth: Depth) {
        let Some(id) = self.symbol_id(&depth.symbol) else {
            return;
        };
        let tape = &mut self.tapes[id];
        match &depth.change {
            DepthChange::Snapshot { bids, asks } => tape.book.snapshot(bids, asks),
            DepthChange::Update { bids, asks } => tape.book.update(bids, asks),
            DepthChange::Lost => tape.book.lose(),
        }
        tape.book_changed = true;
    }

    fn mark_dirty(&mut self, id: SymbolId) {
        if !self.is_dirty[id] {
            self.is_dirty[id] = true;
            self.dirty.push(id);
        }
    }

    /// Publishes the changes since the last flush as one batch, if any.
    pub(super) fn flush(&mut self, ts: i64) {
        self.sweep(ts);
        let entries = self.quote_entries(ts);
        self.record(&entries);
        let candles = self.candle_entries();
        let trades = self.trades_entries(self.no + 1);
        let books = self.book_entries(self.no + 1, ts);
        if entries.is_empty() && candles.is_empty() && trades.is_empty() && books.is_empty() {
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
        let all_bin = wire::all_bin(&entries);
        let batch = Batch {
            no: self.no,
            public: self.no,
            ts,
            entries,
            all_tail,
            all_bin,
            candles,
            trades,
            books,
            resync: false,
            withdrawn: false,
        };
        self.publisher
            .publish(batch, updated.into_iter().map(|(id, q)| (id, Some(q))));
    }

    /// The trades of each symbol since the last flush (the newest
    /// [`TRADES_PER_MESSAGE`]), as batch `no` carries them.
    fn trades_entries(&mut self, no: u64) -> Vec<TradesEntry> {
        self.traded.sort_unstable();
        let mut entries = Vec::with_capacity(self.traded.len());
        for id in self.traded.drain(..) {
            let mut trades = std::mem::take(&mut self.tapes[id].pending);
            let over = trades.len().saturating_sub(TRADES_PER_MESSAGE);
            trades.drain(..over);
            entries.push(self.depths.trades_entry(id, trades, no));
        }
        entries
    }

    /// Each book that changed since it was last published (or was never
    /// published), for the sessions watching it (what changed, and the
    /// whole of it, as of batch `no`) and, on a hub that publishes to the
    /// bus, for the bus (the best levels).
    fn book_entries(&mut self, no: u64, ts: i64) -> Vec<BookEntry> {
        let mut entries = Vec::new();
        for (id, tape) in self.tapes.iter_mut().enumerate() {
            let watched = self.depths.is_watched(id, Watched::Book);
            let bus = self.all_candles;
            let synced = tape.book.is_synced();
            let unpublished =
                synced && ((watched && tape.shown.is_none()) || (bus && tape.bus_shown.is_none()));
            if !(tape.book_changed || unpublished) || !(watched || bus) {
                continue;
            }
            tape.book_changed = false;
            let view = tape.book.top(BOOK_DEPTH);
            // A book that crossed is missing updates: never shown as live.
            let live = synced && !view.crossed();
            let frames = watched
                .then(|| {
                    let shown = &mut tape.shown;
                    self.depths.book_frames(id, shown, &view, live, (no, ts))
                })
                .flatten();
            let for_bus =
                bus && !matches!(&tape.bus_shown, Some((v, l)) if *v == view && *l == live);
            if for_bus {
                tape.bus_shown = Some((view.clone(), live));
            }
            if frames.is_some() || for_bus {
                entries.push(BookEntry {
                    id,
                    view,
                    live,
                    frames,
                });
            }
        }
        entries
    }

    /// Each dirty symbol's change since the last batch, in symbol order.
    fn quote_entries(&mut self, ts: i64) -> Vec<Entry> {
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
                entries.push(wire::entry(id, change, ts));
            }
        }
        entries
    }

    /// Has the store keep every bar touched and every quote changed since
    /// the last flush.
    /// Bars of 1 m and shorter as they change, longer ones as they close
    /// (or when a late trade corrects a closed one).
    fn record(&mut self, entries: &[Entry]) {
        let Some(store) = self.charts.store().cloned() else {
            return;
        };
        let mut bars = Vec::new();
        for &(id, interval, t) in &self.touched {
            let closed = if crate::store::written_live(interval) {
                Some(t)
            } else {
                match self.open_bars.get(&(id, interval)).copied() {
                    Some(open) if open < t => {
                        self.open_bars.insert((id, interval), t);
                        Some(open)
                    }
                    Some(open) if open > t => Some(t),
                    Some(_) => None,
                    None => {
                        self.open_bars.insert((id, interval), t);
                        None
                    }
                }
            };
            if let Some(bar) = closed.and_then(|t| self.charts.get(id, interval, t)) {
                bars.push((self.names[id].clone(), interval, bar));
            }
        }
        let quotes = entries
            .iter()
            .filter_map(|e| self.working[e.id].quote().cloned())
            .collect();
        store.record(Changes { bars, quotes });
    }

    /// At shutdown: the open long bars as they are, so a restart has them.
    fn record_open_bars(&mut self) {
        let Some(store) = self.charts.store().cloned() else {
            return;
        };
        let bars = self
            .open_bars
            .drain()
            .filter_map(|((id, interval), t)| {
                let bar = self.charts.get(id, interval, t)?;
                Some((self.names[id].clone(), interval, bar))
            })
            .collect();
        store.record(Changes {
            bars,
            quotes: Vec::new(),
        });
    }

    /// Every bar touched since the last flush, in the series some session
    /// charts (or in every series, for a hub that publishes to the bus).
    fn candle_entries(&mut self) -> Vec<CandleEntry> {
        let (charts, all) = (&self.charts, self.all_candles);
        let mut touched: Vec<_> = self
            .touched
            .drain()
            .filter(|(id, i, _)| all || charts.is_charted(*id, *i))
            .collect();
        touched.sort_unstable();
        touched
            .into_iter()
            .filter_map(|(id, interval, t)| {
                let candle = charts.get(id, interval, t)?;
                Some(charts.entry(id, interval, candle))
            })
            .collect()
    }
}

/// One symbol's tape and book as the folder builds them.
#[derive(Default)]
struct Tape {
    /// Trades since the last flush (only while someone watches the tape).
    pending: Vec<Trade>,
    /// The last trade's price and the tick test's last direction.
    last: Option<f64>,
    direction: Option<TradeSide>,
    book: OrderBook,
    /// The book changed since it was last published.
    book_changed: bool,
    /// The book as last published to sessions, and whether it was live.
    shown: Option<(BookView, bool)>,
    /// The same, as last published to the bus.
    bus_shown: Option<(BookView, bool)>,
}
