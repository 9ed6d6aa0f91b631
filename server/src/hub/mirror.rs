//! The writer of a hub that copies another (an edge following the ingest
//! node over the bus): changes computed elsewhere become this hub's batches.

use std::sync::Mutex;

use app::protocol::{BOOK_DEPTH, Candle, Change, Interval, Quote, Trade};

use super::charts::Charts;
use super::depth::Watched;
use super::feeds::FeedReports;
use super::handle::Hub;
use super::published::Publisher;
use crate::batch::{Batch, BookEntry, CandleEntry, Entry, TradesEntry};
use crate::book::BookView;
use crate::market::SymbolId;
use crate::wire;

/// The only writer of a mirroring hub: its quotes, batches, candles and
/// feed status.
pub struct Mirror {
    pub(super) hub: Hub,
    pub(super) publisher: Publisher,
    pub(super) charts: Charts,
    pub(super) reports: FeedReports,
    /// Each symbol's book as copied, and as last sent to sessions.
    pub(super) books: Mutex<Vec<CopiedBook>>,
}

/// One symbol's book on a mirroring hub.
#[derive(Default)]
pub(super) struct CopiedBook {
    /// The best levels as the copied hub last published them, and whether live.
    view: Option<(BookView, bool)>,
    changed: bool,
    /// As last sent to this hub's sessions.
    shown: Option<(BookView, bool)>,
}

/// Trades and books a copied batch carries.
#[derive(Debug, Default)]
pub struct CopiedDepth {
    /// Each symbol's trades, oldest first.
    pub trades: Vec<(SymbolId, Vec<Trade>)>,
    /// Each changed book: its best levels and whether live.
    pub books: Vec<(SymbolId, BookView, bool)>,
}

impl Mirror {
    /// The hub this mirror writes, to read and to serve.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The feeds' status, as the copied hub reports it.
    pub fn feeds(&self) -> &FeedReports {
        &self.reports
    }

    /// Replaces one series' bars (taking the copied hub's history).
    pub fn replace_candles(&self, id: SymbolId, interval: Interval, bars: &[Candle]) {
        self.charts.replace(id, interval, bars);
    }

    /// Numbers the batches published from now on as the copied hub of
    /// `epoch` does.
    pub fn set_epoch(&self, epoch: u64) {
        self.publisher.set_epoch(epoch);
    }

    /// Publishes changes computed elsewhere as this hub's next batch: quotes
    /// get the changes, the candle store gets the bars, sessions get one
    /// batch. `withdrawn` symbols lose their quote (the copied hub restarted
    /// and has not quoted them yet). `at` is the copied hub's number of the
    /// batch (which clients see) and its time.
    pub fn publish(
        &self,
        at: (u64, i64),
        changes: Vec<(SymbolId, Change, Option<String>)>,
        candles: Vec<(SymbolId, Interval, Candle)>,
        depth: CopiedDepth,
        resync: bool,
        withdrawn: &[SymbolId],
    ) {
        let (public, ts) = at;
        let candles: Vec<CandleEntry> = candles
            .into_iter()
            .map(|(id, interval, candle)| {
                self.charts.put(id, interval, candle);
                self.charts.entry(id, interval, candle)
            })
            .collect();
        let (no, updated, entries) = self.apply(changes, ts);
        let trades: Vec<TradesEntry> = depth
            .trades
            .into_iter()
            .map(|(id, trades)| self.hub.depths.trades_entry(id, trades, no))
            .collect();
        let books = self.books(depth.books, no, ts);
        let quiet = entries.is_empty() && candles.is_empty() && trades.is_empty();
        if quiet && books.is_empty() && !resync && withdrawn.is_empty() {
            return;
        }
        let all_tail = wire::diff_tail(ts, entries.iter().map(|e| e.json.as_str()));
        let all_bin = wire::all_bin(&entries);
        let batch = Batch {
            no,
            public,
            ts,
            entries,
            all_tail,
            all_bin,
            candles,
            trades,
            books,
            resync,
            withdrawn: !withdrawn.is_empty(),
        };
        let cleared = withdrawn.iter().map(|&id| (id, None));
        let quotes = updated.into_iter().map(|(id, q)| (id, Some(q)));
        self.publisher.publish(batch, quotes.chain(cleared));
    }

    /// Takes the copied books, and makes the `book` messages of those that
    /// changed (or were never sent) for this hub's sessions watching them.
    fn books(&self, copied: Vec<(SymbolId, BookView, bool)>, no: u64, ts: i64) -> Vec<BookEntry> {
        let mut books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        for (id, mut view, live) in copied {
            if let Some(book) = books.get_mut(id) {
                view.bids.truncate(BOOK_DEPTH);
                view.asks.truncate(BOOK_DEPTH);
                // Whatever the bus says, a crossed book is not live.
                let live = live && !view.crossed();
                book.view = Some((view, live));
                book.changed = true;
            }
        }
        let mut entries = Vec::new();
        for (id, book) in books.iter_mut().enumerate() {
            let Some((view, live)) = book.view.clone() else {
                continue;
            };
            let unsent = book.shown.is_none();
            if !(book.changed || unsent) || !self.hub.depths.is_watched(id, Watched::Book) {
                continue;
            }
            book.changed = false;
            let shown = &mut book.shown;
            if let Some(frames) = self
                .hub
                .depths
                .book_frames(id, shown, &view, live, (no, ts))
            {
                let frames = Some(frames);
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

    /// The copied hub was copied again (or lost): every book is out of date
    /// until it publishes it again.
    pub fn lose_books(&self) {
        let mut books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        for book in books.iter_mut() {
            if book.view.is_some() {
                book.view = Some((BookView::default(), false));
                book.changed = true;
            }
        }
    }

    /// The next batch's number, and each change applied to the published
    /// quote it changes.
    fn apply(
        &self,
        changes: Vec<(SymbolId, Change, Option<String>)>,
        ts: i64,
    ) -> (u64, Vec<(SymbolId, Quote)>, Vec<Entry>) {
        let (no, published) = self.publisher.published().quotes();
        let mut updated = Vec::with_capacity(changes.len());
        let mut entries = Vec::with_capacity(changes.len());
        for (id, change, json) in changes {
            let quote = match &published[id] {
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
            entries.push(match json {
                Some(json) => wire::entry_of(id, change, json, ts),
                None => wire::entry(id, change, ts),
            });
        }
        (no + 1, updated, entries)
    }
}
