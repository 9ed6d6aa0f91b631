//! One symbol's order book (level 2: size per price, per side), as a feed's
//! snapshots and updates build it, and the best levels of it that clients
//! see ([`BookView`]) with the changes between two of those.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use app::protocol::{Level, apply_levels};

/// A price as a map key: ordered by value (prices are finite and positive).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Price(f64);

impl Eq for Price {}

impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Price) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Price {
    fn cmp(&self, other: &Price) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A level a feed may set: a finite positive price.
fn usable(price: f64) -> bool {
    price.is_finite() && price > 0.0
}

/// Bids and asks by price; unusable until a snapshot arrives, and again
/// once the feed loses track of it.
#[derive(Clone, Debug, Default)]
pub struct OrderBook {
    bids: BTreeMap<Price, f64>,
    asks: BTreeMap<Price, f64>,
    synced: bool,
}

impl OrderBook {
    /// Replaces the whole book.
    pub fn snapshot(&mut self, bids: &[Level], asks: &[Level]) {
        self.bids.clear();
        self.asks.clear();
        self.synced = true;
        self.update(bids, asks);
    }

    /// Sets levels to new sizes (0 removes one). Ignored while the book
    /// waits for a snapshot: applied to nothing, updates would make a book
    /// that looks whole but is not.
    pub fn update(&mut self, bids: &[Level], asks: &[Level]) {
        if !self.synced {
            return;
        }
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for &(price, size) in levels.iter().filter(|(p, _)| usable(*p)) {
                if size.is_finite() && size > 0.0 {
                    side.insert(Price(price), size);
                } else {
                    side.remove(&Price(price));
                }
            }
        }
    }

    /// The feed lost track: the book is empty and unusable until the next
    /// snapshot.
    pub fn lose(&mut self) {
        *self = OrderBook::default();
    }

    /// Whether a snapshot has been applied since the book was last lost.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The best `depth` levels of each side, best first.
    pub fn top(&self, depth: usize) -> BookView {
        let level = |(p, s): (&Price, &f64)| (p.0, *s);
        BookView {
            bids: self.bids.iter().rev().take(depth).map(level).collect(),
            asks: self.asks.iter().take(depth).map(level).collect(),
        }
    }
}

/// The best levels of a book, best first, as clients see them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BookView {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

impl BookView {
    /// Whether the best bid is at or above the best ask: a book no market
    /// leaves standing, so one that is missing updates.
    pub fn crossed(&self) -> bool {
        match (self.bids.first(), self.asks.first()) {
            (Some((bid, _)), Some((ask, _))) => bid >= ask,
            _ => false,
        }
    }

    /// What turns `self` into `newer`: per side, each level that is new or
    /// changed size with its size, and each one gone with size 0.
    pub fn diff(&self, newer: &BookView) -> BookView {
        BookView {
            bids: side_diff(&self.bids, &newer.bids),
            asks: side_diff(&self.asks, &newer.asks),
        }
    }

    /// Applies a [`BookView::diff`].
    pub fn apply(&mut self, diff: &BookView) {
        apply_levels(&mut self.bids, &diff.bids, true, usize::MAX);
        apply_levels(&mut self.asks, &diff.asks, false, usize::MAX);
    }

    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }
}

fn side_diff(old: &[Level], new: &[Level]) -> Vec<Level> {
    let mut out: Vec<Level> = new
        .iter()
        .filter(|level| !old.contains(level))
        .copied()
        .collect();
    let gone = old
        .iter()
        .filter(|(price, _)| !new.iter().any(|(p, _)| p == price))
        .map(|&(price, _)| (price, 0.0));
    out.extend(gone);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> OrderBook {
        let mut book = OrderBook::default();
        book.snapshot(
            &[(99.0, 1.0), (100.0, 2.0), (98.5, 3.0)],
            &[(101.0, 1.5), (100.5, 0.5), (102.0, 4.0)],
        );
        book
    }

    #[test]
    fn the_top_is_best_first_per_side() {
        let view = book().top(2);
        assert_eq!(view.bids, [(100.0, 2.0), (99.0, 1.0)]);
        assert_eq!(view.asks, [(100.5, 0.5), (101.0, 1.5)]);
        assert!(!view.crossed());
    }

    #[test]
    fn updates_set_and_remove_levels_and_skip_garbage() {
        let mut book = book();
        book.update(
            &[(100.0, 0.0), (99.5, 7.0), (f64::NAN, 1.0), (-1.0, 1.0)],
            &[(100.5, f64::NAN), (100.75, 2.0)],
        );
        let view = book.top(10);
        assert_eq!(view.bids, [(99.5, 7.0), (99.0, 1.0), (98.5, 3.0)]);
        assert_eq!(view.asks, [(100.75, 2.0), (101.0, 1.5), (102.0, 4.0)]);
    }

    #[test]
    fn a_lost_book_ignores_updates_until_a_snapshot() {
        let mut book = book();
        book.lose();
        assert!(!book.is_synced());
        book.update(&[(100.0, 1.0)], &[]);
        assert!(book.top(5).is_empty());
        book.snapshot(&[(10.0, 1.0)], &[(11.0, 1.0)]);
        assert!(book.is_synced());
        assert_eq!(book.top(5).bids, [(10.0, 1.0)]);
    }

    #[test]
    fn a_crossed_top_is_told() {
        let mut book = book();
        book.update(&[(100.5, 1.0)], &[]);
        assert!(book.top(5).crossed());
    }

    #[test]
    fn a_diff_applied_to_the_older_view_gives_the_newer_one() {
        let mut book = book();
        let old = book.top(2);
        // The best bid goes (99 moves up into view), an ask changes size.
        book.update(&[(100.0, 0.0)], &[(100.5, 0.75)]);
        let new = book.top(2);
        let diff = old.diff(&new);
        assert_eq!(diff.bids, [(98.5, 3.0), (100.0, 0.0)]);
        assert_eq!(diff.asks, [(100.5, 0.75)]);
        let mut applied = old.clone();
        applied.apply(&diff);
        assert_eq!(applied, new);
        // Applying it again changes nothing: a client that already has the
        // newer view can take the diff too.
        applied.apply(&diff);
        assert_eq!(applied, new);
        assert!(new.diff(&new).is_empty());
    }
}
