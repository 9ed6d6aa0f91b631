//! The writer of a hub that copies another (an edge following the ingest
//! node over the bus): changes computed elsewhere become this hub's batches.

use app::protocol::{Candle, Change, Interval, Quote};

use super::charts::Charts;
use super::feeds::FeedReports;
use super::handle::Hub;
use super::published::Publisher;
use crate::batch::{Batch, CandleEntry, Entry};
use crate::market::SymbolId;
use crate::wire;

/// The only writer of a mirroring hub: its quotes, batches, candles and
/// feed status.
pub struct Mirror {
    pub(super) hub: Hub,
    pub(super) publisher: Publisher,
    pub(super) charts: Charts,
    pub(super) reports: FeedReports,
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

    /// Publishes changes computed elsewhere as this hub's next batch: quotes
    /// get the changes, the candle store gets the bars, sessions get one
    /// batch. `withdrawn` symbols lose their quote (the copied hub restarted
    /// and has not quoted them yet).
    pub fn publish(
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
                self.charts.put(id, interval, candle);
                self.charts.entry(id, interval, candle)
            })
            .collect();
        let (no, updated, entries) = self.apply(changes);
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
            trades: Vec::new(),
            books: Vec::new(),
            resync,
            withdrawn: !withdrawn.is_empty(),
        };
        let cleared = withdrawn.iter().map(|&id| (id, None));
        let quotes = updated.into_iter().map(|(id, q)| (id, Some(q)));
        self.publisher.publish(batch, quotes.chain(cleared));
    }

    /// The next batch's number, and each change applied to the published
    /// quote it changes.
    fn apply(&self, changes: Vec<(SymbolId, Change)>) -> (u64, Vec<(SymbolId, Quote)>, Vec<Entry>) {
        let (no, published) = self.publisher.published().quotes();
        let mut updated = Vec::with_capacity(changes.len());
        let mut entries = Vec::with_capacity(changes.len());
        for (id, change) in changes {
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
            let json = wire::to_json(&change);
            entries.push(Entry { id, change, json });
        }
        (no + 1, updated, entries)
    }
}
