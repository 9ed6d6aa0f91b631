//! The page's quote store: a list of rows, each field its own signal.
//!
//! Snapshots and diffs write only the fields whose value changed, so a diff
//! re-renders only the cells that show those fields. The row list itself
//! changes only when symbols come or go.

use std::collections::HashMap;
use std::sync::Arc;

use leptos::prelude::*;

use crate::board::{Board, Sparkline};
use crate::protocol::{Change, Interval, MarketSession, Quote, TradingDay, pct_change};

/// Minutes a sparkline spans.
pub const SPARK_MINUTES: usize = 30;
/// Sparkline size in CSS pixels.
pub const SPARK_W: u32 = 88;
pub const SPARK_H: u32 = 24;

/// How long a price stays tinted after it moves, in milliseconds.
pub const FLASH_MS: f64 = 700.0;

/// The tint a price shows after it moved: set on the move, cleared by
/// [`QuoteStore::fade_flashes`] [`FLASH_MS`] later. Two style changes per
/// move and no animation, so a busy table does not keep the browser drawing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flash {
    #[default]
    None,
    Up,
    Down,
}

impl Flash {
    /// The class that tints the price.
    pub fn class(self) -> &'static str {
        match self {
            Flash::Up => "flash-up",
            Flash::Down => "flash-down",
            Flash::None => "",
        }
    }
}

/// One symbol's live quote.
#[derive(Clone, Debug)]
pub struct Row {
    pub symbol: Arc<str>,
    pub name: RwSignal<Arc<str>>,
    /// The feed the symbol comes from, when the server said.
    pub feed: Option<Arc<str>>,
    pub last: RwSignal<f64>,
    pub bid: RwSignal<f64>,
    pub ask: RwSignal<f64>,
    pub open: RwSignal<f64>,
    pub high: RwSignal<f64>,
    pub low: RwSignal<f64>,
    pub prev_close: RwSignal<f64>,
    pub volume: RwSignal<u64>,
    pub ts: RwSignal<i64>,
    /// Which part of its trading day the symbol is in.
    pub session: RwSignal<MarketSession>,
    /// The latest regular session's close.
    pub close: RwSignal<f64>,
    pub flash: RwSignal<Flash>,
    /// When `flash` was last set (browser clock, ms).
    flash_at: StoredValue<f64>,
    /// The last [`SPARK_MINUTES`] closes, the newest one live.
    pub spark: RwSignal<Vec<f64>>,
    /// Start of the minute `spark`'s last point belongs to.
    spark_minute: StoredValue<i64>,
}

fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.with_untracked(|current| *current != value) {
        signal.set(value);
    }
}

fn set_opt<T: PartialEq + Send + Sync + Copy + 'static>(signal: RwSignal<T>, value: Option<T>) {
    if let Some(value) = value {
        set_if_changed(signal, value);
    }
}

impl Row {
    fn new(quote: &Quote, (name, feed): Meta, spark: Option<&Sparkline>) -> Row {
        let (closes, minute) = match spark {
            Some(s) if !s.closes.is_empty() => (s.closes.clone(), s.minute),
            _ => (vec![quote.last], Interval::M1.bucket(quote.ts)),
        };
        Row {
            symbol: quote.symbol.as_str().into(),
            name: RwSignal::new(name),
            feed,
            last: RwSignal::new(quote.last),
            bid: RwSignal::new(quote.bid),
            ask: RwSignal::new(quote.ask),
            open: RwSignal::new(quote.open),
            high: RwSignal::new(quote.high),
            low: RwSignal::new(quote.low),
            prev_close: RwSignal::new(quote.prev_close),
            volume: RwSignal::new(quote.volume),
            ts: RwSignal::new(quote.ts),
            session: RwSignal::new(quote.session),
            close: RwSignal::new(quote.close),
            flash: RwSignal::new(Flash::default()),
            flash_at: StoredValue::new(0.0),
            spark: RwSignal::new(closes),
            spark_minute: StoredValue::new(minute),
        }
    }

    /// Folds the live price into the sparkline: a new point each minute,
    /// else the newest point moves. Writes only when something changed.
    pub fn roll_spark(&self) {
        let (last, minute) = (
            self.last.get_untracked(),
            Interval::M1.bucket(self.ts.get_untracked()),
        );
        if minute > self.spark_minute.get_value() {
            self.spark_minute.set_value(minute);
            self.spark.update(|points| {
                points.push(last);
                let excess = points.len().saturating_sub(SPARK_MINUTES);
                points.drain(..excess);
            });
        } else if self.spark.with_untracked(|p| spark_moves(p, last)) {
            self.spark.update(|points| {
                if let Some(newest) = points.last_mut() {
                    *newest = last;
                }
            });
        }
    }

    /// Writes a change; a new last price also tints the price up or down
    /// (`now_ms`: the browser clock, for [`QuoteStore::fade_flashes`]).
    pub fn apply(&self, change: &Change, now_ms: f64) {
        set_opt(self.session, change.session);
        set_opt(self.close, change.close);
        // A halted symbol does not flash: nothing trades, and a price that
        // moves there is a correction.
        let halted = self.session.get_untracked() == MarketSession::Halted;
        if let Some(last) = change.last.filter(|_| !halted) {
            let old = self.last.get_untracked();
            if last != old {
                let dir = if last > old { Flash::Up } else { Flash::Down };
                set_if_changed(self.flash, dir);
                self.flash_at.set_value(now_ms);
            }
        }
        set_opt(self.last, change.last);
        set_opt(self.bid, change.bid);
        set_opt(self.ask, change.ask);
        set_opt(self.open, change.open);
        set_opt(self.high, change.high);
        set_opt(self.low, change.low);
        set_opt(self.prev_close, change.prev_close);
        set_opt(self.volume, change.volume);
        set_opt(self.ts, change.ts);
    }

    /// Tracked closure for the price the row stands at: the last price in
    /// the regular session (and around the clock); outside it, the last
    /// regular session's close (the live price is then an extended-hours
    /// one, see [`Row::extended`]).
    pub fn price(&self) -> impl Fn() -> f64 + Copy + Send + Sync + use<> {
        let (last, close, session) = (self.last, self.close, self.session);
        move || match session.get() {
            s if is_extended(s) && close.get() > 0.0 => close.get(),
            _ => last.get(),
        }
    }

    /// Tracked closure for the extended-hours price and its move from the
    /// last close, while the symbol is outside its regular session and has
    /// traded since it closed; `None` otherwise.
    pub fn extended(
        &self,
    ) -> impl Fn() -> Option<(MarketSession, f64, f64)> + Copy + Send + Sync + use<> {
        let (last, close, session) = (self.last, self.close, self.session);
        move || {
            let (session, last, close) = (session.get(), last.get(), close.get());
            (is_extended(session) && close > 0.0 && last != close)
                .then(|| (session, last, pct_change(last, close)))
        }
    }

    /// Tracked closures for the day's change (of [`Row::price`] from the
    /// previous close): in price units, and in percent.
    pub fn day_change(
        &self,
    ) -> (
        impl Fn() -> f64 + Copy + Send + Sync + use<>,
        impl Fn() -> f64 + Copy + Send + Sync + use<>,
    ) {
        let (price, prev_close) = (self.price(), self.prev_close);
        (
            move || price() - prev_close.get(),
            move || pct_change(price(), prev_close.get()),
        )
    }

    /// The row's current values as a quote (untracked).
    pub fn quote(&self) -> Quote {
        Quote {
            symbol: self.symbol.to_string(),
            last: self.last.get_untracked(),
            bid: self.bid.get_untracked(),
            ask: self.ask.get_untracked(),
            open: self.open.get_untracked(),
            high: self.high.get_untracked(),
            low: self.low.get_untracked(),
            prev_close: self.prev_close.get_untracked(),
            volume: self.volume.get_untracked(),
            ts: self.ts.get_untracked(),
            session: self.session.get_untracked(),
            close: self.close.get_untracked(),
        }
    }
}

/// The feeds' clock's distance from the server's, from the newest event
/// time in a diff sent at `server_ms`: within a minute (a live feed's
/// latency) it is none; further, to the second.
fn market_offset(newest_event_ms: i64, server_ms: i64) -> i64 {
    let offset = newest_event_ms - server_ms;
    if offset.abs() < 60_000 {
        0
    } else {
        offset.div_euclid(1_000) * 1_000
    }
}

/// Whether a session is outside the regular one, with figures of the last
/// regular session (not halted: a halt is within the session).
pub fn is_extended(session: MarketSession) -> bool {
    matches!(
        session,
        MarketSession::Pre | MarketSession::Post | MarketSession::Closed
    )
}

/// Whether moving a sparkline's newest point to `last` changes the drawing
/// by half a pixel or more; a move too small to see is not worth a repaint.
fn spark_moves(points: &[f64], last: f64) -> bool {
    let Some(&newest) = points.last() else {
        return false;
    };
    if newest == last {
        return false;
    }
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    // The newest point sets an end of the range, or `last` would: every
    // point's height changes.
    if last < lo || last > hi || newest == lo || newest == hi {
        return true;
    }
    (last - newest).abs() / (hi - lo) * f64::from(SPARK_H - 2) >= 0.5
}

/// A symbol's display name and feed.
type Meta = (Arc<str>, Option<Arc<str>>);

/// All rows, in display order, plus what the page knows about the feed.
#[derive(Clone, Copy)]
pub struct QuoteStore {
    pub rows: RwSignal<Vec<Row>>,
    /// Position of each symbol in `rows`; rebuilt whenever `rows` is set.
    index: StoredValue<HashMap<Arc<str>, usize>>,
    names: StoredValue<HashMap<String, Arc<str>>>,
    /// Every symbol the server serves and its name, in the server's order
    /// (quoted or not, subscribed or not).
    universe: StoredValue<Vec<(Arc<str>, Arc<str>)>>,
    feeds: StoredValue<HashMap<String, Arc<str>>>,
    /// Each symbol's calendar (US equities: New York's).
    calendars: StoredValue<HashMap<String, TradingDay>>,
    /// Server time of the newest diff applied (Unix ms), 0 before any.
    pub updated_at: RwSignal<i64>,
    /// Whether the server quotes US equities (symbols on the New York
    /// calendar): the top bar then says whether their market is open.
    pub us_market: RwSignal<bool>,
    /// How far the feeds' clock is from the server's (ms): 0 for live
    /// feeds; a replay's or a simulated clock's distance from now. The
    /// market status reads the calendar at the feeds' time.
    pub market_offset: RwSignal<i64>,
}

impl Default for QuoteStore {
    fn default() -> Self {
        QuoteStore::new()
    }
}

impl QuoteStore {
    pub fn new() -> QuoteStore {
        QuoteStore {
            rows: RwSignal::new(Vec::new()),
            index: StoredValue::new(HashMap::new()),
            names: StoredValue::new(HashMap::new()),
            universe: StoredValue::new(Vec::new()),
            feeds: StoredValue::new(HashMap::new()),
            calendars: StoredValue::new(HashMap::new()),
            updated_at: RwSignal::new(0),
            us_market: RwSignal::new(false),
            market_offset: RwSignal::new(0),
        }
    }

    /// Fills the store from the server-rendered board.
    pub fn load(&self, board: &Board) {
        self.learn_symbols(board);
        if self.rows.with_untracked(Vec::is_empty) {
            // (Else a live snapshot got here first and is newer.)
            self.set_rows(self.rows_of(board));
        }
    }

    /// Every symbol the board names: its name and feed.
    fn learn_symbols(&self, board: &Board) {
        let us = board
            .symbols
            .iter()
            .any(|s| s.trading_day == TradingDay::NewYork);
        set_if_changed(self.us_market, us);
        self.calendars.set_value(
            board
                .symbols
                .iter()
                .map(|s| (s.symbol.clone(), s.trading_day))
                .collect(),
        );
        self.universe.set_value(
            board
                .symbols
                .iter()
                .map(|s| (s.symbol.as_str().into(), s.name.as_str().into()))
                .collect(),
        );
        self.set_names(
            board
                .symbols
                .iter()
                .map(|s| (s.symbol.clone(), s.name.clone())),
        );
        self.feeds.update_value(|feeds| {
            feeds.extend(
                board
                    .symbol_feeds
                    .iter()
                    .map(|(s, f)| (s.clone(), f.as_str().into())),
            );
        });
    }

    /// The board's quotes as rows, in the server's symbol order, with
    /// their sparklines.
    fn rows_of(&self, board: &Board) -> Vec<Row> {
        let order: HashMap<&str, usize> = board
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.symbol.as_str(), i))
            .collect();
        let mut quotes: Vec<&Quote> = board.quotes.iter().collect();
        quotes.sort_by_key(|q| order.get(q.symbol.as_str()).copied().unwrap_or(usize::MAX));
        let sparks: HashMap<&str, &Sparkline> = board
            .sparklines
            .iter()
            .map(|s| (s.symbol.as_str(), s))
            .collect();
        let row = |q: &Quote| {
            Row::new(
                q,
                self.meta(&q.symbol),
                sparks.get(q.symbol.as_str()).copied(),
            )
        };
        quotes.into_iter().map(row).collect()
    }

    fn set_rows(&self, rows: Vec<Row>) {
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.symbol.clone(), i))
            .collect();
        self.index.set_value(index);
        self.rows.set(rows);
    }

    /// Every symbol the server serves, with its name.
    pub fn universe(&self) -> Vec<(Arc<str>, Arc<str>)> {
        self.universe.get_value()
    }

    /// The row of `symbol`, if shown (untracked).
    /// The calendar `symbol` trades on (around the clock if unknown).
    pub fn calendar(&self, symbol: &str) -> TradingDay {
        self.calendars
            .with_value(|c| c.get(symbol).copied())
            .unwrap_or_default()
    }

    pub fn row(&self, symbol: &str) -> Option<Row> {
        let i = self.index.with_value(|index| index.get(symbol).copied())?;
        self.rows.with_untracked(|rows| rows.get(i).cloned())
    }

    fn meta(&self, symbol: &str) -> Meta {
        let name = self
            .names
            .with_value(|names| names.get(symbol).cloned())
            .unwrap_or_else(|| "".into());
        (
            name,
            self.feeds.with_value(|feeds| feeds.get(symbol).cloned()),
        )
    }

    /// Records display names (the board's); rows already shown take them too.
    fn set_names(&self, names: impl IntoIterator<Item = (String, String)>) {
        for (symbol, name) in names {
            let name: Arc<str> = name.as_str().into();
            if let Some(row) = self.row(&symbol) {
                set_if_changed(row.name, name.clone());
            }
            self.names.update_value(|map| {
                map.insert(symbol, name);
            });
        }
    }

    /// Replaces the store's state with a snapshot, keeping the rows (and
    /// their DOM) of symbols that stay.
    pub fn apply_snapshot(&self, quotes: &[Quote], now_ms: f64) {
        let old: HashMap<Arc<str>, Row> = self
            .rows
            .with_untracked(|rows| rows.iter().map(|r| (r.symbol.clone(), r.clone())).collect());
        let same_symbols =
            quotes.len() == old.len() && quotes.iter().all(|q| old.contains_key(q.symbol.as_str()));
        let mut rows = Vec::with_capacity(quotes.len());
        for quote in quotes {
            match old.get(quote.symbol.as_str()) {
                Some(row) => {
                    row.apply(&Change::full(quote), now_ms);
                    rows.push(row.clone());
                }
                None => rows.push(Row::new(quote, self.meta(&quote.symbol), None)),
            }
        }
        if !same_symbols {
            self.set_rows(rows);
        }
    }

    /// Merges quotes into the rows the store has (a hidden tab's snapshot,
    /// which asked for one symbol: the other rows stay as they are).
    pub fn merge_quotes(&self, quotes: &[Quote], now_ms: f64) {
        let changes: Vec<Change> = quotes.iter().map(Change::full).collect();
        let newest = quotes.iter().map(|q| q.ts).max().unwrap_or_default();
        let ts = newest.max(self.updated_at.get_untracked());
        self.apply_diff(ts, &changes, now_ms);
    }

    /// Applies one diff's changes; a symbol not yet shown is added when its
    /// change is complete. Flashes that are over fade on the way.
    pub fn apply_diff(&self, ts: i64, changes: &[Change], now_ms: f64) {
        self.fade_flashes(now_ms);
        let mut added = Vec::new();
        for change in changes {
            match self.row(&change.symbol) {
                Some(row) => row.apply(change, now_ms),
                None => added.extend(change.to_quote()),
            }
        }
        if !added.is_empty() {
            let mut rows = self.rows.get_untracked();
            rows.extend(
                added
                    .iter()
                    .map(|q| Row::new(q, self.meta(&q.symbol), None)),
            );
            self.set_rows(rows);
        }
        set_if_changed(self.updated_at, ts);
        if let Some(newest) = changes.iter().filter_map(|c| c.ts).max() {
            set_if_changed(self.market_offset, market_offset(newest, ts));
        }
    }

    /// Clears the tint of every price that moved [`FLASH_MS`] or more
    /// before `now_ms` (called with each diff and by the page clock).
    pub fn fade_flashes(&self, now_ms: f64) {
        self.rows.with_untracked(|rows| {
            for row in rows {
                if row.flash.get_untracked() != Flash::None
                    && now_ms - row.flash_at.get_value() >= FLASH_MS
                {
                    row.flash.set(Flash::None);
                }
            }
        });
    }

    /// Moves every row's sparkline to the live price (call at most ~2 Hz).
    pub fn roll_sparks(&self) {
        self.rows
            .with_untracked(|rows| rows.iter().for_each(Row::roll_spark));
    }

    /// Every row's quote (untracked), in display order.
    pub fn quotes(&self) -> Vec<Quote> {
        self.rows
            .with_untracked(|rows| rows.iter().map(Row::quote).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SymbolInfo;

    fn quote(symbol: &str, last: f64) -> Quote {
        Quote {
            symbol: symbol.into(),
            last,
            bid: last - 0.01,
            ask: last + 0.01,
            open: last,
            high: last,
            low: last,
            prev_close: last,
            volume: 100,
            ts: 1,
            session: Default::default(),
            close: 0.0,
        }
    }

    fn board() -> Board {
        let info = |s: &str| SymbolInfo {
            symbol: s.into(),
            name: format!("{s} Corp"),
            currency: "USD".into(),
            trading_day: Default::default(),
        };
        Board {
            seq: 1,
            symbols: vec![info("B"), info("A")],
            quotes: vec![quote("A", 10.0), quote("B", 20.0)],
            feeds: Vec::new(),
            sparklines: vec![Sparkline {
                symbol: "A".into(),
                minute: 0,
                closes: vec![9.0, 9.5],
            }],
            symbol_feeds: vec![("A".into(), "sim".into())],
        }
    }

    #[test]
    fn loads_in_symbol_order_with_names() {
        let owner = Owner::new();
        owner.with(|| {
            let store = QuoteStore::new();
            store.load(&board());
            let rows = store.rows.get_untracked();
            assert_eq!(
                rows.iter().map(|r| &*r.symbol).collect::<Vec<_>>(),
                ["B", "A"]
            );
            assert_eq!(&*rows[1].name.get_untracked(), "A Corp");
            assert_eq!(rows[1].feed.as_deref(), Some("sim"));
            assert_eq!(rows[0].feed, None);
        });
    }

    #[test]
    fn diffs_write_fields_and_flash_the_direction_until_the_flash_fades() {
        Owner::new().with(|| {
            let store = QuoteStore::new();
            store.load(&board());
            let change = Change {
                symbol: "A".into(),
                last: Some(10.5),
                volume: Some(300),
                ..Default::default()
            };
            store.apply_diff(99, &[change], 1_000.0);
            let a = store.rows.get_untracked()[1].clone();
            assert_eq!(
                (a.last.get_untracked(), a.volume.get_untracked()),
                (10.5, 300)
            );
            assert_eq!(a.flash.get_untracked(), Flash::Up);
            let down = |last| Change {
                symbol: "A".into(),
                last: Some(last),
                ..Default::default()
            };
            store.apply_diff(100, &[down(10.25)], 1_200.0);
            assert_eq!(a.flash.get_untracked(), Flash::Down);
            assert_eq!(store.updated_at.get_untracked(), 100);
            store.fade_flashes(1_200.0 + FLASH_MS - 1.0);
            assert_eq!(a.flash.get_untracked(), Flash::Down, "not over yet");
            store.fade_flashes(1_200.0 + FLASH_MS);
            assert_eq!(a.flash.get_untracked(), Flash::None, "faded");
            let b = store.row("B").unwrap();
            store.apply_diff(101, &[down(10.0)], 3_000.0);
            store.apply_diff(
                102,
                &[Change {
                    volume: Some(1),
                    ..Change::full(&b.quote())
                }],
                3_000.0 + FLASH_MS,
            );
            assert_eq!(
                (a.flash.get_untracked(), b.flash.get_untracked()),
                (Flash::None, Flash::None),
                "a diff fades what is over; a change without a new price does not flash"
            );
        });
    }

    #[test]
    fn sparklines_move_with_the_price_and_roll_each_minute() {
        Owner::new().with(|| {
            let store = QuoteStore::new();
            store.load(&board());
            let a = store.row("A").unwrap();
            assert_eq!(a.spark.get_untracked(), vec![9.0, 9.5]);
            store.apply_diff(
                1,
                &[Change {
                    symbol: "A".into(),
                    last: Some(10.5),
                    ts: Some(30_000),
                    ..Default::default()
                }],
                0.0,
            );
            store.roll_sparks();
            assert_eq!(
                a.spark.get_untracked(),
                vec![9.0, 10.5],
                "same minute: the newest point moves"
            );
            store.apply_diff(
                2,
                &[Change {
                    symbol: "A".into(),
                    last: Some(11.0),
                    ts: Some(61_000),
                    ..Default::default()
                }],
                0.0,
            );
            store.roll_sparks();
            assert_eq!(
                a.spark.get_untracked(),
                vec![9.0, 10.5, 11.0],
                "a new minute adds a point"
            );
            assert_eq!(
                store.row("B").unwrap().spark.get_untracked(),
                vec![20.0],
                "no history: starts at the price"
            );
            for minute in 2..40 {
                let change = Change {
                    symbol: "A".into(),
                    ts: Some(minute * 60_000),
                    ..Default::default()
                };
                store.apply_diff(minute, &[change], 0.0);
                store.roll_sparks();
            }
            assert_eq!(a.spark.get_untracked().len(), SPARK_MINUTES);
        });
    }

    #[test]
    fn a_sparkline_redraws_only_for_a_move_it_can_show() {
        let points = [10.0, 20.0, 15.0];
        assert!(!spark_moves(&points, 15.0), "no move");
        assert!(
            !spark_moves(&points, 15.1),
            "0.01 of the range: 0.2 px on a 24 px line"
        );
        assert!(spark_moves(&points, 15.5), "0.05 of the range: 1.1 px");
        assert!(spark_moves(&points, 21.0), "a new high rescales the line");
        assert!(
            spark_moves(&[10.0, 20.0], 19.99),
            "the newest point is the high"
        );
        assert!(!spark_moves(&[], 1.0));
    }

    #[test]
    fn a_merged_snapshot_keeps_the_other_rows_and_the_newest_time() {
        Owner::new().with(|| {
            let store = QuoteStore::new();
            store.load(&board());
            store.apply_diff(50, &[], 0.0);
            store.merge_quotes(&[quote("A", 12.0)], 0.0);
            assert_eq!(store.quotes(), vec![quote("B", 20.0), quote("A", 12.0)]);
            assert_eq!(
                store.updated_at.get_untracked(),
                50,
                "the quote's ts 1 is older"
            );
            let newer = Quote {
                ts: 70,
                ..quote("B", 21.0)
            };
            store.merge_quotes(std::slice::from_ref(&newer), 0.0);
            assert_eq!(store.updated_at.get_untracked(), 70);
        });
    }

    #[test]
    fn snapshots_replace_state_and_diffs_add_new_symbols() {
        Owner::new().with(|| {
            let store = QuoteStore::new();
            store.load(&board());
            store.apply_snapshot(&[quote("A", 11.0), quote("C", 5.0)], 0.0);
            assert_eq!(store.quotes(), vec![quote("A", 11.0), quote("C", 5.0)]);
            store.apply_diff(
                1,
                &[
                    Change::full(&quote("D", 1.0)),
                    Change {
                        symbol: "E".into(),
                        last: Some(2.0),
                        ..Default::default()
                    },
                ],
                0.0,
            );
            let symbols: Vec<String> = store.quotes().into_iter().map(|q| q.symbol).collect();
            assert_eq!(
                symbols,
                ["A", "C", "D"],
                "an incomplete change for an unknown symbol is not a row"
            );
        });
    }
}
