//! The main chart's symbol's trades tape (time and sales) and order book as
//! the page shows them: written by `connection`, read by
//! `components::depth`. Rows of the tape keep an id for life, so a list
//! keyed by it never renders a row twice.

use std::collections::VecDeque;

use leptos::prelude::*;

use crate::protocol::{BOOK_DEPTH, Level, Trade, apply_levels};

/// Trades the tape keeps (newest first).
pub const TAPE_ROWS: usize = 60;
/// Without a threshold of the viewer's, a trade this many times the median
/// size of the trades on the tape is large.
pub const LARGE_TIMES_MEDIAN: f64 = 4.0;

/// One trade on the tape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TapeRow {
    /// Unique for the page's life (the list's key).
    pub id: u64,
    pub trade: Trade,
    /// Over the large-trade threshold when it arrived.
    pub large: bool,
}

/// The book as shown: best levels per side, best first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BookShown {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    /// The server vouches for it and it is not crossed.
    pub live: bool,
    /// Server time of the state, Unix ms (0: none yet).
    pub ts: i64,
}

impl BookShown {
    /// Best bid below best ask (or a side empty).
    pub fn uncrossed(&self) -> bool {
        match (self.bids.first(), self.asks.first()) {
            (Some((bid, _)), Some((ask, _))) => bid < ask,
            _ => true,
        }
    }

    /// The best ask minus the best bid.
    pub fn spread(&self) -> Option<f64> {
        Some(self.asks.first()?.0 - self.bids.first()?.0)
    }

    fn apply(&mut self, levels: &[Level], bids: bool) {
        let side = if bids { &mut self.bids } else { &mut self.asks };
        apply_levels(side, levels, bids, BOOK_DEPTH);
    }
}

/// See the module documentation; provided as context.
#[derive(Clone, Copy)]
pub struct MarketDepth {
    /// The tape and book are shown (the viewer's choice, remembered).
    pub open: RwSignal<bool>,
    /// The symbol the tape and book are of.
    pub symbol: RwSignal<Option<String>>,
    pub tape: RwSignal<VecDeque<TapeRow>>,
    pub book: RwSignal<BookShown>,
    /// The viewer's large-trade size, if set (else the automatic one).
    pub large: RwSignal<Option<f64>>,
    next_id: StoredValue<u64>,
}

impl Default for MarketDepth {
    fn default() -> Self {
        MarketDepth::new()
    }
}

impl MarketDepth {
    pub fn new() -> MarketDepth {
        MarketDepth {
            open: RwSignal::new(false),
            symbol: RwSignal::new(None),
            tape: RwSignal::new(VecDeque::new()),
            book: RwSignal::new(BookShown::default()),
            large: RwSignal::new(None),
            next_id: StoredValue::new(0),
        }
    }

    /// Starts over for `symbol` (the chart changed, or asked again).
    fn follow(&self, symbol: &str) {
        if self.symbol.with_untracked(|s| s.as_deref() != Some(symbol)) {
            self.symbol.set(Some(symbol.to_string()));
            self.tape.update(VecDeque::clear);
            self.book.set(BookShown::default());
        }
    }

    /// The size from which a trade counts as large: the viewer's, else
    /// [`LARGE_TIMES_MEDIAN`] times the median of the tape's and `more`'s.
    pub fn threshold(&self, more: &[Trade]) -> f64 {
        if let Some(large) = self.large.get_untracked().filter(|l| *l > 0.0) {
            return large;
        }
        let mut sizes: Vec<f64> = self.tape.with_untracked(|tape| {
            tape.iter()
                .map(|r| r.trade.s)
                .chain(more.iter().map(|t| t.s))
                .collect()
        });
        if sizes.is_empty() {
            return f64::INFINITY;
        }
        sizes.sort_by(f64::total_cmp);
        sizes[sizes.len() / 2] * LARGE_TIMES_MEDIAN
    }

    /// Trades of `symbol`, oldest first; `replace`: they are the server's
    /// latest (a fresh subscription), not new ones.
    pub fn trades(&self, symbol: &str, trades: &[Trade], replace: bool) {
        self.follow(symbol);
        if replace {
            self.tape.update(VecDeque::clear);
        }
        let threshold = self.threshold(trades);
        let mut id = self.next_id.get_value();
        self.tape.update(|tape| {
            for trade in trades {
                id += 1;
                tape.push_front(TapeRow {
                    id,
                    trade: *trade,
                    large: trade.s >= threshold,
                });
            }
            tape.truncate(TAPE_ROWS);
        });
        self.next_id.set_value(id);
    }

    /// A `book` message of `symbol`.
    pub fn book(
        &self,
        symbol: &str,
        snapshot: bool,
        live: bool,
        bids: &[Level],
        asks: &[Level],
        ts: i64,
    ) {
        self.follow(symbol);
        self.book.update(|book| {
            if snapshot {
                *book = BookShown::default();
            }
            book.apply(bids, true);
            book.apply(asks, false);
            book.live = live && book.uncrossed();
            book.ts = ts;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::TradeSide;

    fn trade(t: i64, p: f64, s: f64) -> Trade {
        Trade {
            t,
            p,
            s,
            side: Some(TradeSide::Up),
        }
    }

    #[test]
    fn the_tape_is_newest_first_capped_and_ids_never_repeat() {
        Owner::new().with(|| {
            let depth = MarketDepth::new();
            depth.trades("A", &[trade(1, 10.0, 1.0), trade(2, 10.1, 1.0)], true);
            let batch: Vec<Trade> = (3..70).map(|t| trade(t, 10.0, 1.0)).collect();
            depth.trades("A", &batch, false);
            depth.tape.with_untracked(|tape| {
                assert_eq!(tape.len(), TAPE_ROWS);
                assert_eq!(tape[0].trade.t, 69);
                assert!(
                    tape.iter()
                        .zip(tape.iter().skip(1))
                        .all(|(a, b)| a.id > b.id)
                );
            });
            // Another symbol starts over.
            depth.trades("B", &[trade(5, 1.0, 1.0)], false);
            assert_eq!(depth.tape.with_untracked(VecDeque::len), 1);
        });
    }

    #[test]
    fn large_trades_are_marked_against_the_median_or_the_viewers_size() {
        Owner::new().with(|| {
            let depth = MarketDepth::new();
            let sizes = [100.0, 100.0, 200.0, 100.0, 1_000.0];
            let trades: Vec<Trade> = (0..5).map(|i| trade(i, 1.0, sizes[i as usize])).collect();
            depth.trades("A", &trades, true);
            let large: Vec<bool> = depth
                .tape
                .with_untracked(|t| t.iter().map(|r| r.large).collect());
            assert_eq!(large, [true, false, false, false, false]);
            depth.large.set(Some(150.0));
            depth.trades("A", &[trade(9, 1.0, 160.0)], false);
            assert!(depth.tape.with_untracked(|t| t[0].large));
        });
    }

    #[test]
    fn book_diffs_apply_onto_the_snapshot_and_a_crossed_book_is_not_live() {
        Owner::new().with(|| {
            let depth = MarketDepth::new();
            depth.book(
                "A",
                true,
                true,
                &[(99.0, 1.0), (100.0, 2.0)],
                &[(101.0, 3.0)],
                1,
            );
            depth.book(
                "A",
                false,
                true,
                &[(100.0, 0.0), (99.5, 4.0)],
                &[(100.5, 1.0)],
                2,
            );
            let book = depth.book.get_untracked();
            assert_eq!(book.bids, [(99.5, 4.0), (99.0, 1.0)]);
            assert_eq!(book.asks, [(100.5, 1.0), (101.0, 3.0)]);
            assert_eq!(book.spread(), Some(1.0));
            assert!(book.live);
            depth.book("A", false, true, &[(101.0, 1.0)], &[], 3);
            assert!(!depth.book.get_untracked().live, "crossed");
            depth.book("A", true, false, &[(1.0, 1.0)], &[(2.0, 1.0)], 4);
            assert!(!depth.book.get_untracked().live, "the server says stale");
        });
    }
}
