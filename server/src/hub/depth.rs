//! Each symbol's recent trades and the newest state of its order book as
//! clients see it, and who watches which: what a chart's `trades` and `book`
//! start with. Written only by the folder ([`Depths::record_trades`],
//! [`Depths::publish_book`]); read by sessions.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use app::protocol::{ServerMsg, TRADES_PER_MESSAGE, Trade};

use crate::batch::{Batch, BookFrames};
use crate::book::BookView;
use crate::market::{SymbolId, Universe};
use crate::wire;

/// The book as last published for one symbol: the batch it is current as
/// of and its `book` message (a snapshot, chart 0).
#[derive(Clone)]
pub struct BookFrame {
    pub no: u64,
    pub frame: Arc<str>,
}

#[derive(Default)]
struct PerSymbol {
    /// The newest trades, oldest first, at most [`TRADES_PER_MESSAGE`]: all
    /// those of the batches up to the one numbered with them.
    recent: Mutex<(u64, VecDeque<Trade>)>,
    book: Mutex<Option<BookFrame>>,
    trade_watchers: AtomicUsize,
    book_watchers: AtomicUsize,
}

struct Shared {
    universe: Arc<Universe>,
    symbols: Vec<PerSymbol>,
}

/// A cheap handle to a hub's trades and books.
#[derive(Clone)]
pub struct Depths {
    shared: Arc<Shared>,
}

/// What a chart watches beyond its candles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched {
    Trades,
    Book,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these: a poisoned lock is still valid.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Depths {
    pub(super) fn new(universe: Arc<Universe>) -> Depths {
        let symbols = (0..universe.len()).map(|_| PerSymbol::default()).collect();
        Depths {
            shared: Arc::new(Shared { universe, symbols }),
        }
    }

    fn counter(&self, id: SymbolId, what: Watched) -> &AtomicUsize {
        let symbol = &self.shared.symbols[id];
        match what {
            Watched::Trades => &symbol.trade_watchers,
            Watched::Book => &symbol.book_watchers,
        }
    }

    /// Registers interest in a symbol's trades or book for as long as the
    /// returned guard lives: batches carry them only for watched symbols.
    pub fn watch(&self, id: SymbolId, what: Watched) -> DepthWatch {
        self.counter(id, what).fetch_add(1, Ordering::Relaxed);
        DepthWatch {
            depths: self.clone(),
            id,
            what,
        }
    }

    pub(super) fn is_watched(&self, id: SymbolId, what: Watched) -> bool {
        self.counter(id, what).load(Ordering::Relaxed) > 0
    }

    /// The `trades` message with the symbol's newest trades (chart 0), and
    /// the batch it is current as of: later batches carry newer trades.
    pub fn recent_frame(&self, id: SymbolId) -> (u64, String) {
        let (no, trades) = {
            let recent = lock(&self.shared.symbols[id].recent);
            (recent.0, recent.1.iter().copied().collect())
        };
        (no, self.trades_frame(id, trades))
    }

    /// A `trades` message of `trades` (chart 0).
    pub fn trades_frame(&self, id: SymbolId, trades: Vec<Trade>) -> String {
        wire::encode(&ServerMsg::Trades {
            symbol: self.shared.universe.symbols()[id].symbol.clone(),
            trades,
            chart: 0,
        })
    }

    /// The `trades` message of `batches` for one symbol: the shared one when
    /// a single batch has its trades, else their newest [`TRADES_PER_MESSAGE`].
    pub fn trades_of(&self, batches: &[Arc<Batch>], id: SymbolId) -> Option<String> {
        let mut entries = batches
            .iter()
            .flat_map(|b| &b.trades)
            .filter(|e| e.id == id)
            .peekable();
        let first = entries.next()?;
        if entries.peek().is_none()
            && let Some(json) = &first.json
        {
            return Some(json.clone());
        }
        let mut trades: Vec<_> = first.trades.clone();
        trades.extend(entries.flat_map(|e| e.trades.iter().copied()));
        let over = trades.len().saturating_sub(TRADES_PER_MESSAGE);
        trades.drain(..over);
        Some(self.trades_frame(id, trades))
    }

    /// Keeps the newest trades of a symbol, those of batch `no` added.
    fn record_trades(&self, id: SymbolId, trades: &[Trade], no: u64) {
        let mut recent = lock(&self.shared.symbols[id].recent);
        recent.0 = no;
        recent.1.extend(trades.iter().copied());
        let over = recent.1.len().saturating_sub(TRADES_PER_MESSAGE);
        recent.1.drain(..over);
    }

    /// The symbol's book as last published, if it has one.
    pub fn book(&self, id: SymbolId) -> Option<BookFrame> {
        lock(&self.shared.symbols[id].book).clone()
    }

    /// The `book` messages that bring sessions from `shown` (the book as
    /// they were last sent it) to `view` as of batch `no`, if it changed;
    /// the whole of it is kept for sessions that start watching.
    pub(super) fn book_frames(
        &self,
        id: SymbolId,
        shown: &mut Option<(BookView, bool)>,
        view: &BookView,
        live: bool,
        (no, ts): (u64, i64),
    ) -> Option<BookFrames> {
        let symbol = &self.shared.universe.symbols()[id].symbol;
        let diff = match shown.as_ref() {
            Some((was, was_live)) if was == view && *was_live == live => return None,
            Some((was, _)) => book_message(symbol, false, live, was.diff(view), ts),
            None => book_message(symbol, true, live, view.clone(), ts),
        };
        let snapshot: Arc<str> = book_message(symbol, true, live, view.clone(), ts).into();
        let frame = BookFrame {
            no,
            frame: snapshot.clone(),
        };
        *lock(&self.shared.symbols[id].book) = Some(frame);
        *shown = Some((view.clone(), live));
        Some(BookFrames { diff, snapshot })
    }

    /// A symbol's trades as batch `no` carries them (encoded if someone
    /// watches its tape), kept among its newest.
    pub(super) fn trades_entry(
        &self,
        id: SymbolId,
        trades: Vec<Trade>,
        no: u64,
    ) -> crate::batch::TradesEntry {
        self.record_trades(id, &trades, no);
        let json = self
            .is_watched(id, Watched::Trades)
            .then(|| self.trades_frame(id, trades.clone()));
        crate::batch::TradesEntry { id, trades, json }
    }
}

/// A `book` message (chart 0).
fn book_message(symbol: &str, snapshot: bool, live: bool, view: BookView, ts: i64) -> String {
    wire::encode(&ServerMsg::Book {
        symbol: symbol.to_string(),
        snapshot,
        live,
        bids: view.bids,
        asks: view.asks,
        ts,
        chart: 0,
    })
}

/// Interest in a symbol's trades or book; see [`Depths::watch`].
pub struct DepthWatch {
    depths: Depths,
    id: SymbolId,
    what: Watched,
}

impl Drop for DepthWatch {
    fn drop(&mut self) {
        self.depths
            .counter(self.id, self.what)
            .fetch_sub(1, Ordering::Relaxed);
    }
}
