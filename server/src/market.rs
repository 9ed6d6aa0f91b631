//! The vocabulary every part of the server shares: ids, what feeds report
//! (trades, book updates, history) and feeds' status. Imports nothing of the
//! crate's, so any module may use it without creating a cycle.

use std::collections::HashMap;
use std::sync::Arc;

use app::protocol::{Candle, FeedState, Interval, Level, Quote, SymbolInfo, TradeSide};

/// Index of a symbol in the served universe (display order).
pub type SymbolId = usize;
/// Index of a feed in the order the feeds were configured.
pub type FeedId = usize;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One normalised trade, with the quote around it if the source has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub symbol: Arc<str>,
    pub price: f64,
    /// Shares (or units, fractional for crypto) traded.
    pub size: f64,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    /// Event time, Unix milliseconds.
    pub ts: i64,
    /// Session figures the source supplies; the hub computes what is missing.
    pub session: Session,
    /// Whose initiative it was, where the source says (else the hub uses
    /// the tick test).
    pub side: Option<TradeSide>,
}

impl Tick {
    /// A plain trade: no quote, no session figures.
    pub fn trade(symbol: impl Into<Arc<str>>, price: f64, size: f64, ts: i64) -> Tick {
        Tick {
            symbol: symbol.into(),
            price,
            size,
            bid: None,
            ask: None,
            ts,
            session: Session::default(),
            side: None,
        }
    }
}

/// Session figures a source may supply. Without them the hub uses the
/// first price seen as open and previous close, the running high and low,
/// and the sum of trade sizes as volume.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Session {
    pub prev_close: Option<f64>,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub volume: Option<f64>,
}

/// A new best bid and offer, without a trade.
#[derive(Clone, Debug, PartialEq)]
pub struct Book {
    pub symbol: Arc<str>,
    pub bid: f64,
    pub ask: f64,
    /// Event time, Unix milliseconds.
    pub ts: i64,
}

/// A change to a symbol's order book (level 2), from a feed that has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Depth {
    pub symbol: Arc<str>,
    /// Event time, Unix milliseconds.
    pub ts: i64,
    pub change: DepthChange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DepthChange {
    /// The whole book, replacing what was held: `[price, size]` per level.
    Snapshot { bids: Vec<Level>, asks: Vec<Level> },
    /// Levels set to a new size (0: gone).
    Update { bids: Vec<Level>, asks: Vec<Level> },
    /// The feed lost track of the book (a gap, a disconnect): it is not to
    /// be shown as live until the next snapshot.
    Lost,
}

/// Where trades pushed to a push feed go (`--feed push:<name>`): its name,
/// the symbols it serves, and the channel into it. Held by the HTTP route.
#[derive(Clone, Debug)]
pub struct PushInlet {
    pub name: Arc<str>,
    pub symbols: Arc<std::collections::HashSet<String>>,
    pub tx: tokio::sync::mpsc::Sender<Pushed>,
}

/// What goes into a push feed: trades, in order, and (from the control
/// API) a sync point the feed hands the hub after them.
#[derive(Debug)]
pub struct Pushed {
    pub ticks: Vec<Tick>,
    pub then: Option<Synced>,
}

impl Pushed {
    pub fn trades(ticks: Vec<Tick>) -> Pushed {
        Pushed { ticks, then: None }
    }
}

/// What a feed hands the hub.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Trade(Tick),
    Book(Book),
    Depth(Depth),
    /// The market halted trading in a symbol (`halted`), or resumed it.
    Halt {
        symbol: Arc<str>,
        halted: bool,
        ts: i64,
    },
    /// A feed keeping recorded time says where its clock is (at least at
    /// every session change of its symbols' calendars), so their sessions
    /// change while they do not trade.
    Clock {
        symbols: Arc<[Arc<str>]>,
        ts: i64,
    },
    /// Not market data: answered once every event before it is published
    /// (the control API waits on it, so its answer shows what it did).
    Sync(Synced),
}

/// The answer to an [`Event::Sync`]: fires after the hub's next flush.
#[derive(Clone)]
pub struct Synced(Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>);

impl Synced {
    /// A sync point, and what completes once the hub has passed it.
    pub fn new() -> (Synced, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Synced(Arc::new(std::sync::Mutex::new(Some(tx)))), rx)
    }

    /// Says the hub has passed it.
    pub fn done(&self) {
        let waiting = self.0.lock().ok().and_then(|mut tx| tx.take());
        if let Some(tx) = waiting {
            let _ = tx.send(());
        }
    }
}

impl PartialEq for Synced {
    fn eq(&self, other: &Synced) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Synced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Synced")
    }
}

/// Bars a feed knows from before it started, to draw charts with.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    pub symbol: Arc<str>,
    pub interval: Interval,
    /// Oldest first.
    pub candles: Vec<Candle>,
}

/// Where stored history left off, handed to feeds before they start so
/// they continue it (a simulator from its last prices, a provider filling
/// only the span it missed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resume {
    /// Each symbol's last quote as stored: its last price and the session
    /// figures of the day it traded.
    pub quotes: Vec<Quote>,
    /// Each symbol with stored bars, and the start of its newest 1 m bar.
    pub newest_minute: HashMap<String, i64>,
}

impl Resume {
    pub fn quote(&self, symbol: &str) -> Option<&Quote> {
        self.quotes.iter().find(|q| q.symbol == symbol)
    }
}

/// A feed's name and state, as sent to clients.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedStatus {
    pub name: String,
    pub state: FeedState,
    /// Why the feed last failed; cleared when it is live again.
    pub error: Option<String>,
}

/// The symbols a hub serves, in display order, and their ids.
#[derive(Debug, Default)]
pub struct Universe {
    symbols: Vec<SymbolInfo>,
    index: HashMap<String, SymbolId>,
}

impl Universe {
    pub fn new(symbols: Vec<SymbolInfo>) -> Universe {
        let index = symbols
            .iter()
            .enumerate()
            .map(|(id, s)| (s.symbol.clone(), id))
            .collect();
        Universe { symbols, index }
    }

    /// Every symbol, in display order (a symbol's id is its position).
    pub fn symbols(&self) -> &[SymbolInfo] {
        &self.symbols
    }

    pub fn lookup(&self, symbol: &str) -> Option<SymbolId> {
        self.index.get(symbol).copied()
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}
