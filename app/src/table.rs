//! What the quote table shows and in which order: the search filter, the
//! column sort, and the keyboard cursor. Pure functions here; the component
//! in `components/quote_table/` wires them to signals.

use std::cmp::Ordering;

use crate::protocol::{Quote, pct_change};

/// A sortable column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Symbol,
    Name,
    Last,
    Change,
    ChangePct,
    Bid,
    Ask,
    High,
    Low,
    Volume,
    Time,
}

impl SortKey {
    /// Whether the column's values move with every tick (its order must be
    /// refreshed, and is, at a throttled pace).
    pub fn is_live(self) -> bool {
        !matches!(self, SortKey::Symbol | SortKey::Name)
    }
}

/// Which way a sorted column runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDir {
    Ascending,
    Descending,
}

impl SortDir {
    pub fn flipped(self) -> SortDir {
        match self {
            SortDir::Ascending => SortDir::Descending,
            SortDir::Descending => SortDir::Ascending,
        }
    }

    /// The header's `aria-sort`.
    pub fn aria(self) -> &'static str {
        match self {
            SortDir::Ascending => "ascending",
            SortDir::Descending => "descending",
        }
    }

    /// The arrow the header shows.
    pub fn mark(self) -> &'static str {
        match self {
            SortDir::Ascending => "▲",
            SortDir::Descending => "▼",
        }
    }
}

/// A column and a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub dir: SortDir,
}

impl Sort {
    /// The sort after a click on `key`'s header: a new column sorts
    /// ascending, the same column flips.
    pub fn clicked(current: Option<Sort>, key: SortKey) -> Sort {
        let dir = match current {
            Some(s) if s.key == key => s.dir.flipped(),
            _ => SortDir::Ascending,
        };
        Sort { key, dir }
    }

    /// Which way `key`'s column runs under `current`, if it is the sorted one.
    pub fn dir_of(current: Option<Sort>, key: SortKey) -> Option<SortDir> {
        current.filter(|s| s.key == key).map(|s| s.dir)
    }

    fn compare(self, a: &(Quote, &str), b: &(Quote, &str)) -> Ordering {
        let (qa, qb) = (&a.0, &b.0);
        let num = |f: fn(&Quote) -> f64| f(qa).total_cmp(&f(qb));
        let ordering = match self.key {
            SortKey::Symbol => qa.symbol.cmp(&qb.symbol),
            SortKey::Name => a.1.to_lowercase().cmp(&b.1.to_lowercase()),
            SortKey::Last => num(|q| q.last),
            SortKey::Change => num(|q| q.last - q.prev_close),
            SortKey::ChangePct => num(|q| pct_change(q.last, q.prev_close)),
            SortKey::Bid => num(|q| q.bid),
            SortKey::Ask => num(|q| q.ask),
            SortKey::High => num(|q| q.high),
            SortKey::Low => num(|q| q.low),
            SortKey::Volume => qa.volume.cmp(&qb.volume),
            SortKey::Time => qa.ts.cmp(&qb.ts),
        };
        let ordering = match self.dir {
            SortDir::Ascending => ordering,
            SortDir::Descending => ordering.reverse(),
        };
        // Ties keep symbol order, so equal rows never swap between refreshes.
        ordering.then_with(|| qa.symbol.cmp(&qb.symbol))
    }
}

/// How well `query` matches a symbol and its name: lower is better, `None`
/// is no match. Case-insensitive; the letters of the query must appear in
/// order (so "nvda", "nvd", "nvidia" and "nvdia" all find NVIDIA).
pub fn match_score(query: &str, symbol: &str, name: &str) -> Option<u32> {
    let query = query.trim().to_lowercase();
    if query.is_empty() {
        return Some(0);
    }
    let (symbol, name) = (symbol.to_lowercase(), name.to_lowercase());
    if symbol == query {
        return Some(0);
    }
    if symbol.starts_with(&query) {
        return Some(1);
    }
    if name.split_whitespace().any(|word| word.starts_with(&query)) {
        return Some(2);
    }
    if symbol.contains(&query) || name.contains(&query) {
        return Some(3);
    }
    let compact: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    if is_subsequence(&compact, &symbol) {
        return Some(4);
    }
    if is_subsequence(&compact, &name) {
        return Some(5);
    }
    None
}

fn is_subsequence(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars();
    needle.chars().all(|c| hay.any(|h| h == c))
}

/// The symbols to show, in order: those matching `query`, sorted by `sort`,
/// else by how well they match (best first), else as they come.
/// `rows` holds each row's quote and name.
pub fn arrange(rows: Vec<(Quote, &str)>, query: &str, sort: Option<Sort>) -> Vec<String> {
    let mut kept: Vec<(u32, usize, (Quote, &str))> = rows
        .into_iter()
        .enumerate()
        .filter_map(|(i, row)| Some((match_score(query, &row.0.symbol, row.1)?, i, row)))
        .collect();
    match sort {
        Some(sort) => kept.sort_by(|a, b| sort.compare(&a.2, &b.2)),
        None => kept.sort_by_key(|(score, i, _)| (*score, *i)),
    }
    kept.into_iter().map(|(_, _, (q, _))| q.symbol).collect()
}

/// The row `step` rows away from `current` in `shown`, clamped to the ends;
/// with no current row, the first (or last, going up).
pub fn step(shown: &[impl AsRef<str>], current: Option<&str>, step: isize) -> Option<usize> {
    if shown.is_empty() {
        return None;
    }
    let last = shown.len() - 1;
    let Some(at) = current.and_then(|c| shown.iter().position(|s| s.as_ref() == c)) else {
        return Some(if step < 0 { last } else { 0 });
    };
    Some(at.saturating_add_signed(step).min(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(symbol: &str, last: f64, prev_close: f64, volume: u64) -> Quote {
        Quote {
            symbol: symbol.into(),
            last,
            bid: last,
            ask: last,
            open: last,
            high: last,
            low: last,
            prev_close,
            volume,
            ts: 0,
            session: Default::default(),
            close: 0.0,
        }
    }

    fn rows() -> Vec<(Quote, &'static str)> {
        vec![
            (quote("AAPL", 200.0, 190.0, 5), "Apple Inc."),
            (quote("MSFT", 400.0, 404.0, 9), "Microsoft Corporation"),
            (quote("NVDA", 100.0, 98.0, 7), "NVIDIA Corporation"),
            (quote("AMZN", 150.0, 150.0, 1), "Amazon.com, Inc."),
        ]
    }

    #[test]
    fn search_is_fuzzy_over_symbol_and_name_and_best_matches_come_first() {
        assert_eq!(arrange(rows(), "nvda", None), ["NVDA"]);
        assert_eq!(arrange(rows(), "nvidia", None), ["NVDA"]);
        assert_eq!(arrange(rows(), "nvdia", None), ["NVDA"], "letters in order");
        assert_eq!(arrange(rows(), "corp", None), ["MSFT", "NVDA"]);
        assert_eq!(
            arrange(rows(), "a", None),
            ["AAPL", "AMZN", "MSFT", "NVDA"],
            "symbol prefixes first, then the rest in table order"
        );
        assert_eq!(arrange(rows(), "  ", None).len(), 4, "blank shows all");
        assert!(arrange(rows(), "zzz", None).is_empty());
    }

    #[test]
    fn sorting_orders_by_the_column_and_flips() {
        use SortDir::{Ascending, Descending};
        let by = |key, dir| Some(Sort { key, dir });
        assert_eq!(
            arrange(rows(), "", by(SortKey::Last, Ascending)),
            ["NVDA", "AMZN", "AAPL", "MSFT"]
        );
        assert_eq!(
            arrange(rows(), "", by(SortKey::ChangePct, Descending)),
            ["AAPL", "NVDA", "AMZN", "MSFT"]
        );
        assert_eq!(
            arrange(rows(), "", by(SortKey::Name, Ascending)),
            ["AMZN", "AAPL", "MSFT", "NVDA"]
        );
        assert_eq!(
            arrange(rows(), "corp", by(SortKey::Volume, Descending)),
            ["MSFT", "NVDA"],
            "sorting applies to what the search kept"
        );
    }

    #[test]
    fn a_header_click_sorts_ascending_then_flips() {
        let first = Sort::clicked(None, SortKey::Last);
        assert_eq!(first.dir, SortDir::Ascending);
        let again = Sort::clicked(Some(first), SortKey::Last);
        assert_eq!(again.dir, SortDir::Descending);
        assert_eq!(
            Sort::clicked(Some(again), SortKey::Last).dir,
            SortDir::Ascending
        );
        let other = Sort::clicked(Some(again), SortKey::Volume);
        assert_eq!(
            (other.key, other.dir),
            (SortKey::Volume, SortDir::Ascending)
        );
        assert_eq!(
            Sort::dir_of(Some(first), SortKey::Last),
            Some(SortDir::Ascending)
        );
        assert_eq!(Sort::dir_of(Some(first), SortKey::Bid), None);
        assert_eq!(Sort::dir_of(None, SortKey::Bid), None);
    }

    #[test]
    fn the_cursor_steps_and_stops_at_the_ends() {
        let shown = ["A", "B", "C"];
        assert_eq!(step(&shown, None, 1), Some(0));
        assert_eq!(step(&shown, None, -1), Some(2));
        assert_eq!(step(&shown, Some("B"), 1), Some(2));
        assert_eq!(step(&shown, Some("C"), 1), Some(2));
        assert_eq!(step(&shown, Some("A"), -1), Some(0));
        assert_eq!(step(&shown, Some("gone"), 1), Some(0));
        assert_eq!(step(&[] as &[&str], Some("A"), 1), None);
    }
}
