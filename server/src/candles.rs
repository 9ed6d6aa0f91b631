//! Candle aggregation: OHLCV per symbol and interval in bounded ring buffers.
//!
//! Every trade lands in the bucket of its own timestamp
//! (`t = floor(ts / interval) * interval`), so a late trade corrects the past
//! bar it belongs to (while that bar is held) and never the newest one.

use std::collections::VecDeque;

use app::protocol::{Candle, Interval, TradingDay};

/// Bars kept per symbol and interval.
pub const CAPACITY: usize = 1_200;

/// The most bars one `GET /api/candles` answers with (from the store
/// beyond what memory holds).
pub const MAX_LIMIT: usize = 5_000;

/// Bars sent when a request names no limit: a `chart` message or
/// `GET /api/candles` without `limit`.
pub const DEFAULT_LIMIT: usize = 500;

/// A bar, the time of its newest trade (which decides the close) and its
/// exact volume (trade sizes may be fractional; the bar shows it rounded).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bar {
    candle: Candle,
    last_trade: i64,
    volume: f64,
}

impl Bar {
    fn open(t: i64, ts: i64, price: f64, size: f64) -> Bar {
        let candle = Candle {
            t,
            o: price,
            h: price,
            l: price,
            c: price,
            v: size.round() as u64,
        };
        Bar {
            candle,
            last_trade: ts,
            volume: size,
        }
    }

    fn add(&mut self, ts: i64, price: f64, size: f64) {
        let c = &mut self.candle;
        c.h = c.h.max(price);
        c.l = c.l.min(price);
        self.volume += size;
        c.v = self.volume.round() as u64;
        if ts >= self.last_trade {
            self.last_trade = ts;
            c.c = price;
        }
    }

    /// A bar as a source recorded it.
    fn recorded(candle: Candle) -> Bar {
        Bar {
            candle,
            last_trade: candle.t,
            volume: candle.v as f64,
        }
    }
}

/// One interval's bars, oldest first, at most `capacity` of them.
#[derive(Clone, Debug)]
pub struct Series {
    interval: Interval,
    /// The day a daily bar spans.
    day: TradingDay,
    capacity: usize,
    bars: VecDeque<Bar>,
}

impl Series {
    pub fn new(interval: Interval, capacity: usize) -> Series {
        Series::on(interval, TradingDay::Utc, capacity)
    }

    /// A series whose daily bars follow `day`.
    pub fn on(interval: Interval, day: TradingDay, capacity: usize) -> Series {
        Series {
            interval,
            day,
            capacity: capacity.max(1),
            bars: VecDeque::new(),
        }
    }

    /// Folds one trade in. Returns the start of the bar it changed, or `None`
    /// when the trade is older than every bar a full series holds.
    pub fn add(&mut self, ts: i64, price: f64, size: f64) -> Option<i64> {
        let t = self.bucket(ts);
        match self.bars.back_mut() {
            Some(last) if last.candle.t == t => last.add(ts, price, size),
            Some(last) if last.candle.t > t => return self.add_past(t, ts, price, size),
            _ => self.push_back(Bar::open(t, ts, price, size)),
        }
        Some(t)
    }

    /// Start of the bar holding `ts`.
    pub fn bucket(&self, ts: i64) -> i64 {
        self.day.bucket(self.interval, ts)
    }

    fn add_past(&mut self, t: i64, ts: i64, price: f64, size: f64) -> Option<i64> {
        match self.find(t) {
            Ok(i) => self.bars[i].add(ts, price, size),
            Err(0) if self.is_full() => return None,
            Err(i) => self.insert(i, Bar::open(t, ts, price, size)),
        }
        Some(t)
    }

    fn find(&self, t: i64) -> Result<usize, usize> {
        self.bars.binary_search_by_key(&t, |b| b.candle.t)
    }

    fn is_full(&self) -> bool {
        self.bars.len() >= self.capacity
    }

    fn insert(&mut self, i: usize, bar: Bar) {
        self.make_room();
        self.bars.insert(i, bar);
        self.trim();
    }

    fn push_back(&mut self, bar: Bar) {
        self.make_room();
        self.bars.push_back(bar);
        self.trim();
    }

    /// Room for one more bar, doubling as a `VecDeque` would but never past
    /// what the series keeps (one over it before the trim). Every symbol's
    /// series fills at the same pace: doubling past it would grow them all
    /// at once by most of their size (6.4 MiB at 100 symbols), for slots
    /// never used.
    fn make_room(&mut self) {
        let len = self.bars.len();
        if len < self.bars.capacity() {
            return;
        }
        let want = (len * 2).clamp(4, self.capacity + 1);
        self.bars.reserve_exact(want.saturating_sub(len).max(1));
    }

    fn trim(&mut self) {
        while self.bars.len() > self.capacity {
            self.bars.pop_front();
        }
    }

    /// Merges bars a source recorded up to `as_of` (any order): a bar the
    /// series lacks is added; one it holds is replaced by the record, which
    /// saw every trade until `as_of` — unless it has had a trade since (a
    /// live bar wins once it has trades the record cannot have).
    pub fn backfill(&mut self, history: &[Candle], as_of: i64) {
        for h in history {
            let candle = Candle {
                t: self.bucket(h.t),
                ..*h
            };
            match self.find(candle.t) {
                Ok(i) if self.bars[i].last_trade >= as_of => {}
                Ok(i) => self.bars[i] = Bar::recorded(candle),
                Err(0) if self.is_full() => {}
                Err(i) => self.insert(i, Bar::recorded(candle)),
            }
        }
    }

    /// Sets one bar as it is elsewhere (a mirror): replaced if held, else added.
    pub fn put(&mut self, candle: Candle) {
        let bar = Bar::recorded(candle);
        match self.find(candle.t) {
            Ok(i) => self.bars[i] = bar,
            Err(0) if self.is_full() => {}
            Err(i) => self.insert(i, bar),
        }
    }

    /// Replaces every bar with `bars` (oldest first; the newest kept if more
    /// than the capacity).
    pub fn replace(&mut self, bars: &[Candle]) {
        self.bars.clear();
        for &candle in bars {
            self.put(candle);
        }
    }

    /// The bar starting at `t`.
    pub fn get(&self, t: i64) -> Option<Candle> {
        self.find(t).ok().map(|i| self.bars[i].candle)
    }

    /// The newest `limit` bars, oldest first.
    pub fn last(&self, limit: usize) -> Vec<Candle> {
        self.before(i64::MAX, limit)
    }

    /// The newest `limit` bars that start strictly before `t`, oldest first
    /// (how a chart scrolled back asks for the bars left of what it has).
    pub fn before(&self, t: i64, limit: usize) -> Vec<Candle> {
        let end = self.bars.partition_point(|b| b.candle.t < t);
        let start = end.saturating_sub(limit);
        self.bars.range(start..end).map(|b| b.candle).collect()
    }

    pub fn len(&self) -> usize {
        self.bars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }
}

/// Every interval's series for one symbol.
#[derive(Clone, Debug)]
pub struct SymbolCandles {
    series: [Series; Interval::COUNT],
}

impl Default for SymbolCandles {
    fn default() -> Self {
        SymbolCandles::new(CAPACITY, TradingDay::Utc)
    }
}

impl SymbolCandles {
    pub fn new(capacity: usize, day: TradingDay) -> SymbolCandles {
        SymbolCandles {
            series: Interval::ALL.map(|i| Series::on(i, day, capacity)),
        }
    }

    /// Folds one trade into every interval; returns the bar each one
    /// changed. A daily bar is its trading day's regular session (as the
    /// day's open, high and low are): a trade outside it (`regular` false)
    /// goes into the intraday bars only.
    pub fn add(
        &mut self,
        ts: i64,
        price: f64,
        size: f64,
        regular: bool,
    ) -> [Option<i64>; Interval::COUNT] {
        let mut touched = [None; Interval::COUNT];
        for (slot, series) in touched.iter_mut().zip(&mut self.series) {
            if regular || series.interval != Interval::D1 {
                *slot = series.add(ts, price, size);
            }
        }
        touched
    }

    pub fn series(&self, interval: Interval) -> &Series {
        &self.series[interval.index()]
    }

    pub fn series_mut(&mut self, interval: Interval) -> &mut Series {
        &mut self.series[interval.index()]
    }
}

/// Rolls bars up into a longer interval (input oldest first, output too).
pub fn aggregate(bars: &[Candle], interval: Interval) -> Vec<Candle> {
    aggregate_on(bars, interval, TradingDay::Utc)
}

/// [`aggregate`] for a symbol whose daily bars follow `day`.
pub fn aggregate_on(bars: &[Candle], interval: Interval, day: TradingDay) -> Vec<Candle> {
    let mut out: Vec<Candle> = Vec::new();
    for bar in bars {
        let t = day.bucket(interval, bar.t);
        match out.last_mut() {
            Some(last) if last.t == t => {
                last.h = last.h.max(bar.h);
                last.l = last.l.min(bar.l);
                last.c = bar.c;
                last.v += bar.v;
            }
            _ => out.push(Candle { t, ..*bar }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_series_holds_no_room_beyond_its_bars() {
        let mut series = Series::new(Interval::S1, CAPACITY);
        for second in 0..3_000 {
            series.add(second * 1_000 + 5, 10.0, 1.0);
            assert!(series.bars.len() <= CAPACITY);
        }
        // A deque doubling from 1,024 would hold 2,048.
        assert!(
            series.bars.capacity() <= CAPACITY + 1,
            "room for {} bars",
            series.bars.capacity()
        );
        let newest = series.last(1);
        assert_eq!(newest[0].t, 2_999_000);
    }

    #[test]
    fn bars_before_a_time_are_the_newest_older_ones_oldest_first() {
        let mut series = Series::new(Interval::M1, 10);
        for minute in 0..6 {
            series.add(minute * 60_000 + 5, 10.0 + minute as f64, 1.0);
        }
        let starts = |bars: Vec<Candle>| bars.iter().map(|b| b.t / 60_000).collect::<Vec<_>>();
        assert_eq!(
            starts(series.before(4 * 60_000, 2)),
            [2, 3],
            "strictly older"
        );
        assert_eq!(starts(series.before(4 * 60_000 + 1, 2)), [3, 4]);
        assert_eq!(starts(series.before(60_000, 5)), [0]);
        assert!(
            series.before(0, 5).is_empty(),
            "nothing older than the first bar"
        );
        assert_eq!(starts(series.before(i64::MAX, 3)), [3, 4, 5]);
        assert_eq!(series.last(3), series.before(i64::MAX, 3));
    }

    const MIN: i64 = 60_000;

    fn series() -> Series {
        Series::new(Interval::M1, 5)
    }

    #[test]
    fn trades_bucket_by_their_own_timestamp_at_the_boundaries() {
        let mut s = series();
        assert_eq!(s.add(10 * MIN - 1, 100.0, 1.0), Some(9 * MIN));
        assert_eq!(s.add(10 * MIN, 101.0, 2.0), Some(10 * MIN));
        assert_eq!(s.add(11 * MIN - 1, 99.0, 3.0), Some(10 * MIN));
        assert_eq!(s.add(11 * MIN, 98.0, 4.0), Some(11 * MIN));
        assert_eq!(
            s.last(10),
            vec![
                Candle::open(9 * MIN, 100.0, 1),
                Candle {
                    t: 10 * MIN,
                    o: 101.0,
                    h: 101.0,
                    l: 99.0,
                    c: 99.0,
                    v: 5
                },
                Candle::open(11 * MIN, 98.0, 4),
            ]
        );
    }

    #[test]
    fn a_late_trade_updates_its_own_past_bar_and_never_the_newest() {
        let mut s = series();
        s.add(MIN, 10.0, 1.0);
        s.add(2 * MIN + 5, 11.0, 1.0);
        s.add(3 * MIN, 12.0, 1.0);
        let newest = s.get(3 * MIN).unwrap();
        // Late trade for the 1-minute bar: a new high and low, but not its close.
        assert_eq!(s.add(MIN + 30_000, 14.0, 5.0), Some(MIN));
        assert_eq!(s.add(MIN + 10, 9.0, 5.0), Some(MIN));
        assert_eq!(
            s.get(MIN),
            Some(Candle {
                t: MIN,
                o: 10.0,
                h: 14.0,
                l: 9.0,
                c: 14.0,
                v: 11
            })
        );
        // Inside the 2-minute bar but older than its only trade: not the close.
        s.add(2 * MIN + 1, 13.0, 1.0);
        assert_eq!(s.get(2 * MIN).unwrap().c, 11.0);
        assert_eq!(s.get(3 * MIN), Some(newest), "the newest bar is untouched");
    }

    #[test]
    fn a_late_trade_in_an_empty_past_bucket_is_inserted_in_order() {
        let mut s = series();
        s.add(MIN, 10.0, 1.0);
        s.add(4 * MIN, 12.0, 1.0);
        assert_eq!(s.add(2 * MIN + 1, 11.0, 1.0), Some(2 * MIN));
        let ts: Vec<i64> = s.last(10).iter().map(|c| c.t).collect();
        assert_eq!(ts, vec![MIN, 2 * MIN, 4 * MIN]);
    }

    #[test]
    fn the_ring_is_bounded_and_drops_what_is_too_old() {
        let mut s = series();
        for m in 0..8 {
            s.add(m * MIN, 10.0 + m as f64, 1.0);
        }
        assert_eq!(s.len(), 5);
        assert_eq!(s.last(1)[0].t, 7 * MIN);
        assert_eq!(s.last(10)[0].t, 3 * MIN);
        assert_eq!(s.add(MIN, 1.0, 1.0), None, "older than everything held");
        assert_eq!(s.last(10)[0].t, 3 * MIN);
        assert_eq!(
            s.last(2).iter().map(|c| c.t).collect::<Vec<_>>(),
            vec![6 * MIN, 7 * MIN]
        );
    }

    #[test]
    fn fractional_sizes_add_up_exactly_and_show_rounded() {
        let mut s = series();
        for _ in 0..12 {
            s.add(MIN, 100.0, 0.125);
        }
        assert_eq!(
            s.get(MIN).unwrap().v,
            2,
            "1.5 units, not 12 × round(0.125) = 0"
        );
        s.add(MIN + 1, 100.0, 1.25);
        assert_eq!(s.get(MIN).unwrap().v, 3, "2.75 units");
    }

    #[test]
    fn every_interval_sees_every_trade() {
        let mut c = SymbolCandles::new(10, TradingDay::Utc);
        let touched = c.add(7 * MIN + 12_345, 50.0, 3.0, true);
        assert_eq!(
            touched,
            [
                Some(7 * MIN + 12_000),
                Some(7 * MIN + 10_000),
                Some(7 * MIN),
                Some(5 * MIN),
                Some(0),
                Some(0),
                Some(0),
            ]
        );
        for interval in Interval::ALL {
            assert_eq!(c.series(interval).last(1)[0].v, 3);
        }
    }

    #[test]
    fn a_new_york_symbols_daily_bar_is_its_new_york_day() {
        // 2026-01-15 23:30 and 2026-01-16 00:30 in New York (EST, UTC-5).
        let evening = 1_768_537_800_000;
        let after_midnight = evening + 3_600_000;
        let mut ny = SymbolCandles::new(10, TradingDay::NewYork);
        ny.add(evening, 10.0, 1.0, true);
        ny.add(after_midnight, 11.0, 1.0, true);
        let days = ny.series(Interval::D1).last(5);
        assert_eq!(days.len(), 2, "two New York days: {days:?}");
        assert_eq!(days[0].t, 1_768_453_200_000, "15 January, 05:00 UTC");
        assert_eq!((days[0].c, days[1].o), (10.0, 11.0));
        // The same trades fall in one UTC day (16 January), and every other
        // interval is the plain grid.
        let mut utc = SymbolCandles::new(10, TradingDay::Utc);
        utc.add(evening, 10.0, 1.0, true);
        utc.add(after_midnight, 11.0, 1.0, true);
        assert_eq!(utc.series(Interval::D1).last(5).len(), 1);
        assert_eq!(
            ny.series(Interval::H1).last(5),
            utc.series(Interval::H1).last(5)
        );
    }

    #[test]
    fn aggregation_rolls_bars_up() {
        let bars: Vec<Candle> = (0..7)
            .map(|m| Candle {
                t: m * MIN,
                o: m as f64,
                h: m as f64 + 1.0,
                l: m as f64 - 1.0,
                c: m as f64 + 0.5,
                v: 10,
            })
            .collect();
        let five = aggregate(&bars, Interval::M5);
        assert_eq!(
            five,
            vec![
                Candle {
                    t: 0,
                    o: 0.0,
                    h: 5.0,
                    l: -1.0,
                    c: 4.5,
                    v: 50
                },
                Candle {
                    t: 5 * MIN,
                    o: 5.0,
                    h: 7.0,
                    l: 4.0,
                    c: 6.5,
                    v: 20
                },
            ]
        );
    }

    #[test]
    fn recorded_bars_replace_held_ones_unless_traded_since() {
        let mut s = series();
        s.add(2 * MIN + 5_000, 18.2, 3.0);
        s.add(3 * MIN + 5_000, 20.0, 7.0);
        let bar = |t, c| Candle {
            t,
            o: 18.0,
            h: 21.0,
            l: 17.5,
            c,
            v: 100,
        };
        // Recorded at 3 min + 1 s: it saw minute 2 whole, and minute 3
        // before the live trade at 3 min + 5 s.
        let history = [
            bar(MIN + 30_000, 18.0),
            bar(2 * MIN, 18.5),
            bar(3 * MIN, 19.0),
        ];
        s.backfill(&history, 3 * MIN + 1_000);
        assert_eq!(
            s.last(10),
            vec![
                bar(MIN, 18.0),
                bar(2 * MIN, 18.5),
                Candle::open(3 * MIN, 20.0, 7)
            ],
            "added at the bucket's start, replaced, kept"
        );
        // A live trade after a recorded bar updates it.
        s.add(2 * MIN + 50_000, 22.0, 1.0);
        assert_eq!(
            s.last(3)[1],
            Candle {
                h: 22.0,
                c: 22.0,
                v: 101,
                ..bar(2 * MIN, 18.5)
            }
        );
    }
}
