//! What a hub publishes once per flush interval: a [`Batch`] of changed
//! quotes and candles, encoded once and shared by every session and the bus.

use std::sync::Arc;

use app::protocol::{Candle, Change, Interval, Trade};

use crate::book::BookView;
use crate::market::SymbolId;

/// One symbol's changes within a batch.
#[derive(Debug)]
pub struct Entry {
    pub id: SymbolId,
    pub change: Change,
    /// `change` as JSON, encoded once for every session.
    pub json: String,
    /// `change` in `tickertape.v1.bin`, its `ts` relative to the batch's.
    pub bin: Vec<u8>,
}

/// A candle changed during one flush interval.
#[derive(Debug)]
pub struct CandleEntry {
    pub id: SymbolId,
    pub interval: Interval,
    /// The bar's start time.
    pub t: i64,
    pub candle: Candle,
    /// The whole `candle` message, encoded once for every session charting
    /// it; `None` when nobody charted the series at flush time.
    pub json: Option<String>,
}

/// A symbol's trades during one flush interval, oldest first (a watched
/// symbol's, or every symbol's on a hub that publishes to the bus).
#[derive(Debug)]
pub struct TradesEntry {
    pub id: SymbolId,
    pub trades: Vec<Trade>,
    /// The `trades` message (chart 0), encoded once if someone watched the
    /// symbol's trades when the batch was made.
    pub json: Option<String>,
}

/// A symbol's book changed during one flush interval (a watched symbol's,
/// or any symbol's on a hub that publishes to the bus).
#[derive(Debug)]
pub struct BookEntry {
    pub id: SymbolId,
    /// The best levels as of this batch, and whether they can be trusted.
    pub view: BookView,
    pub live: bool,
    /// The `book` messages for sessions, if someone watched the book.
    pub frames: Option<BookFrames>,
}

/// The `book` messages (chart 0) of one [`BookEntry`].
#[derive(Debug)]
pub struct BookFrames {
    /// What changed since the symbol's previous frames (a snapshot if it
    /// had none).
    pub diff: String,
    /// The whole book as of this batch.
    pub snapshot: Arc<str>,
}

/// The changes of one flush interval, in symbol order.
#[derive(Debug)]
pub struct Batch {
    /// Hub-wide batch number; consecutive batches differ by exactly 1.
    pub no: u64,
    /// The number clients see (`batch` in snapshots and diffs, what
    /// `resume` names): `no` on a node with feeds; on an edge, the ingest
    /// node's number of the batch it copied, so that every node of a
    /// cluster numbers a batch alike and a client can resume on any.
    pub public: u64,
    /// Server time of the flush, Unix milliseconds (the diff's `ts`).
    pub ts: i64,
    pub entries: Vec<Entry>,
    /// The tail of a diff message carrying every entry, from `"ts"` to the
    /// closing brace: shared by every session subscribed to `*`.
    pub all_tail: String,
    /// Every entry in `tickertape.v1.bin`, back to back: the body of the
    /// binary diff shared by every session subscribed to `*`.
    pub all_bin: Vec<u8>,
    /// Candles changed in this interval (each bar once, in its latest state).
    pub candles: Vec<CandleEntry>,
    /// Trades of the symbols some chart shows the tape of.
    pub trades: Vec<TradesEntry>,
    /// Books of the symbols some chart shows the book of, that changed.
    pub books: Vec<BookEntry>,
    /// The hub's state was replaced (an edge resynced from the ingest node):
    /// `entries` bring quotes up to date, but candle history may have
    /// changed anywhere, so charts need it again.
    pub resync: bool,
    /// Quotes were withdrawn (a restarted ingest node has not quoted them
    /// yet): a diff cannot say so, so sessions send a fresh snapshot.
    pub withdrawn: bool,
}
