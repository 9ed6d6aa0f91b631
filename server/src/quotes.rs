//! The quote rules: how trades and book updates fold into a symbol's
//! [`Quote`], whatever the source does or does not supply.
//!
//! - bid = ask = last for a source that never sends a quote;
//! - previous close, open, high, low and volume come from the source when it
//!   supplies them, else from the session: the first price seen (open and
//!   previous close), the running high and low, the sum of trade sizes;
//! - a late trade (older than the newest one) counts toward high, low and
//!   volume but does not become the last price;
//! - market time (see [`app::calendar`]): a trade's session is its
//!   symbol's calendar's at the trade's time (or halted, if its feed says
//!   so). Only regular-session trades move open, high, low, volume and the
//!   close; extended-hours trades move the last price. The first regular
//!   trade of a new trading day (or the clock reaching its open) starts the
//!   day again: the previous close becomes the last regular session's close,
//!   open, high and low start from that trade, volume from zero.

use app::protocol::{MarketSession, Quote, TradingDay};

use crate::market::{Book, Tick};

/// One symbol's state in the hub.
#[derive(Clone, Debug, Default)]
pub struct Working {
    quote: Option<Quote>,
    /// Exact running volume (trade sizes may be fractional).
    volume: f64,
    /// Time of the newest trade, which alone sets the last price.
    last_trade: i64,
    /// Time of the newest book update.
    book_ts: i64,
    /// Whether the source has ever quoted this symbol.
    has_book: bool,
    /// A book seen before the first trade, applied when the quote is born.
    early_book: Option<(f64, f64)>,
    /// The trading day the regular figures are of, and its last regular price.
    day: Option<i64>,
    regular_last: Option<f64>,
    /// The day opened by the clock, its open not traded yet.
    awaiting_open: bool,
    /// Halted by its feed (until the feed says otherwise).
    halted: bool,
}

impl Working {
    pub fn quote(&self) -> Option<&Quote> {
        self.quote.as_ref()
    }

    /// The state a stored quote stands for: its figures, and its time as
    /// that of the last trade and book (older events do not move them).
    pub fn restored(quote: Quote, calendar: TradingDay) -> Working {
        Working {
            volume: quote.volume as f64,
            last_trade: quote.ts,
            book_ts: quote.ts,
            has_book: quote.bid != quote.last || quote.ask != quote.last,
            early_book: None,
            day: Some(calendar.session_day(quote.ts)),
            regular_last: (quote.session == MarketSession::Regular).then_some(quote.last),
            awaiting_open: false,
            halted: quote.session == MarketSession::Halted,
            quote: Some(quote),
        }
    }

    /// Folds in a trade with a finite, positive price.
    pub fn trade(&mut self, symbol: &str, tick: &Tick, calendar: TradingDay) {
        let s = &tick.session;
        let price = tick.price;
        let session = if self.halted {
            MarketSession::Halted
        } else {
            calendar.session_at(tick.ts)
        };
        let regular = session == MarketSession::Regular;
        let ended = self.ended(session);
        let born = self.quote.is_none();
        let quote = self.quote.get_or_insert_with(|| {
            let prev_close = s.prev_close.unwrap_or(price);
            Quote {
                symbol: symbol.to_owned(),
                last: price,
                bid: price,
                ask: price,
                open: s.open.unwrap_or(price),
                high: price,
                low: price,
                prev_close,
                volume: 0,
                ts: tick.ts,
                session,
                close: prev_close,
            }
        });
        let newest = tick.ts >= self.last_trade;
        if regular {
            let day = calendar.session_day(tick.ts);
            match self.day {
                Some(d) if day > d => {
                    roll_over(quote, &mut self.volume, self.regular_last, Some(price));
                    self.regular_last = None;
                    self.day = Some(day);
                }
                None => {
                    // The first regular trade after extended-hours ones opens the day.
                    if !born {
                        (quote.open, quote.high, quote.low) = (price, price, price);
                    }
                    self.day = Some(day);
                }
                _ if self.awaiting_open => {
                    (quote.open, quote.high, quote.low) = (price, price, price);
                }
                _ => {}
            }
            self.awaiting_open = false;
            quote.high = quote.high.max(price);
            quote.low = quote.low.min(price);
            self.volume += tick.size.max(0.0);
            if newest {
                self.regular_last = Some(price);
            }
        } else if ended {
            quote.close = self.regular_last.unwrap_or(quote.close);
        }
        // Figures the source supplies win.
        quote.high = s.high.unwrap_or(quote.high);
        quote.low = s.low.unwrap_or(quote.low);
        quote.open = s.open.unwrap_or(quote.open);
        quote.prev_close = s.prev_close.unwrap_or(quote.prev_close);
        self.volume = s.volume.unwrap_or(self.volume);
        quote.volume = self.volume.round() as u64;
        quote.ts = quote.ts.max(tick.ts);
        if newest {
            self.last_trade = tick.ts;
            quote.last = price;
            quote.session = session;
        }
        match (tick.bid, tick.ask) {
            (Some(bid), Some(ask)) if tick.ts >= self.book_ts => {
                (quote.bid, quote.ask) = (bid, ask);
                self.book_ts = tick.ts;
                self.has_book = true;
            }
            _ if !self.has_book => (quote.bid, quote.ask) = (quote.last, quote.last),
            _ => {}
        }
        if let Some((bid, ask)) = self.early_book.take() {
            (quote.bid, quote.ask) = (bid, ask);
        }
    }

    /// Whether the regular session whose figures this holds has ended by
    /// a moment in `session` (its close is then final).
    fn ended(&self, session: MarketSession) -> bool {
        matches!(session, MarketSession::Post | MarketSession::Closed)
            && self.regular_last.is_some()
    }

    /// The clock moved to `now` (this server's, for a symbol whose feed
    /// keeps wall-clock time): the session follows the calendar; at the end
    /// of a regular session its close is final; at the open of a new
    /// trading day the day starts again. Returns whether the quote changed.
    pub fn clock(&mut self, calendar: TradingDay, now: i64) -> bool {
        let Some(quote) = self.quote.as_mut() else {
            return false;
        };
        let before = (quote.session, quote.close, quote.prev_close, quote.volume);
        // The calendar's session: a halt hides it, but the day goes on.
        let session = calendar.session_at(now);
        quote.session = if self.halted {
            MarketSession::Halted
        } else {
            session
        };
        if matches!(session, MarketSession::Post | MarketSession::Closed)
            && self.regular_last.is_some()
        {
            quote.close = self.regular_last.unwrap_or(quote.close);
        }
        let day = calendar.session_day(now);
        if session == MarketSession::Regular && self.day.is_some_and(|d| day > d) {
            roll_over(quote, &mut self.volume, self.regular_last, None);
            self.regular_last = None;
            self.day = Some(day);
            self.awaiting_open = true;
        }
        before != (quote.session, quote.close, quote.prev_close, quote.volume)
    }

    /// The feed halts trading in the symbol (`true`) or lifts the halt.
    pub fn halt(&mut self, halted: bool, calendar: TradingDay, ts: i64) {
        self.halted = halted;
        if let Some(quote) = self.quote.as_mut() {
            quote.session = if halted {
                MarketSession::Halted
            } else {
                calendar.session_at(ts)
            };
        }
    }

    /// Folds in a best bid and offer (finite, positive).
    pub fn book(&mut self, book: &Book) {
        self.has_book = true;
        if book.ts < self.book_ts {
            return;
        }
        self.book_ts = book.ts;
        match &mut self.quote {
            Some(quote) => {
                (quote.bid, quote.ask) = (book.bid, book.ask);
                quote.ts = quote.ts.max(book.ts);
            }
            None => self.early_book = Some((book.bid, book.ask)),
        }
    }
}

/// A new trading day: the previous close is the last regular session's
/// (its last price, if this server saw it, else the close it held), open,
/// high and low start from `first` (the day's first regular trade; the last
/// price until there is one), volume from zero.
fn roll_over(quote: &mut Quote, volume: &mut f64, regular_last: Option<f64>, first: Option<f64>) {
    let close = regular_last.unwrap_or(quote.close);
    quote.prev_close = close;
    quote.close = close;
    let open = first.unwrap_or(quote.last);
    (quote.open, quote.high, quote.low) = (open, open, open);
    *volume = 0.0;
    quote.volume = 0;
}

/// Whether a price from a source can be used at all.
pub fn usable(price: f64) -> bool {
    price.is_finite() && price > 0.0
}

/// Drops session figures that are not usable numbers.
pub fn sanitise(tick: &mut Tick) {
    let s = &mut tick.session;
    for field in [&mut s.prev_close, &mut s.open, &mut s.high, &mut s.low] {
        *field = field.filter(|v| usable(*v));
    }
    s.volume = s.volume.filter(|v| v.is_finite() && *v >= 0.0);
    tick.bid = tick.bid.filter(|v| usable(*v));
    tick.ask = tick.ask.filter(|v| usable(*v));
    if !tick.size.is_finite() || tick.size < 0.0 {
        tick.size = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Session;

    fn fold(events: &[Either]) -> Quote {
        let mut w = Working::default();
        for e in events {
            match e {
                Either::T(t) => w.trade("X", t, TradingDay::Utc),
                Either::B(b) => w.book(b),
            }
        }
        w.quote().cloned().expect("a quote")
    }

    enum Either {
        T(Tick),
        B(Book),
    }

    fn trade(price: f64, size: f64, ts: i64) -> Either {
        Either::T(Tick::trade("X", price, size, ts))
    }

    fn book(bid: f64, ask: f64, ts: i64) -> Either {
        Either::B(Book {
            symbol: "X".into(),
            bid,
            ask,
            ts,
        })
    }

    #[test]
    fn a_source_without_quotes_gets_bid_ask_last_and_session_figures() {
        let q = fold(&[
            trade(10.0, 1.5, 1),
            trade(12.0, 2.0, 2),
            trade(11.0, 0.25, 3),
        ]);
        assert_eq!((q.bid, q.ask, q.last), (11.0, 11.0, 11.0));
        assert_eq!(
            (q.open, q.prev_close, q.high, q.low),
            (10.0, 10.0, 12.0, 10.0)
        );
        assert_eq!(q.volume, 4, "3.75 units, rounded");
        assert_eq!(q.ts, 3);
    }

    #[test]
    fn book_updates_move_bid_ask_and_survive_plain_trades() {
        let q = fold(&[
            book(9.9, 10.1, 1),
            trade(10.0, 1.0, 2),
            trade(10.05, 1.0, 3),
            book(10.0, 10.2, 4),
        ]);
        assert_eq!((q.bid, q.ask, q.last), (10.0, 10.2, 10.05));
        let q = fold(&[trade(10.0, 1.0, 1), book(9.9, 10.1, 2), trade(10.1, 1.0, 3)]);
        assert_eq!(
            (q.bid, q.ask),
            (9.9, 10.1),
            "a trade without a quote keeps the book"
        );
        let q = fold(&[trade(10.0, 1.0, 1), book(9.9, 10.1, 5), book(9.0, 11.0, 4)]);
        assert_eq!((q.bid, q.ask), (9.9, 10.1), "an older book is ignored");
    }

    #[test]
    fn a_late_trade_counts_but_is_not_last_even_after_a_newer_book() {
        let q = fold(&[
            trade(10.0, 1.0, 10),
            book(9.9, 10.1, 30),
            trade(10.2, 1.0, 20),
            trade(13.0, 1.0, 5),
        ]);
        assert_eq!(
            q.last, 10.2,
            "a trade newer than the last trade is last, whatever the book time"
        );
        assert_eq!((q.high, q.volume, q.ts), (13.0, 3, 30));
    }

    #[test]
    fn supplied_session_figures_win() {
        let session = Session {
            prev_close: Some(9.0),
            open: Some(9.5),
            high: Some(15.0),
            low: Some(8.0),
            volume: Some(1234.6),
        };
        let mut t = Tick::trade("X", 10.0, 1.0, 1);
        t.session = session;
        let q = fold(&[Either::T(t), trade(10.5, 1.0, 2)]);
        assert_eq!((q.prev_close, q.open, q.high, q.low), (9.0, 9.5, 15.0, 8.0));
        assert_eq!(
            q.volume, 1236,
            "later plain trades add to the supplied volume"
        );
    }

    #[test]
    fn unusable_numbers_are_dropped() {
        let mut t = Tick::trade("X", 10.0, f64::NAN, 1);
        t.bid = Some(f64::INFINITY);
        t.ask = Some(-1.0);
        t.session.high = Some(f64::NAN);
        t.session.volume = Some(-5.0);
        sanitise(&mut t);
        assert_eq!(
            (t.size, t.bid, t.ask, t.session.high, t.session.volume),
            (0.0, None, None, None, None)
        );
        assert!(!usable(0.0) && !usable(f64::NAN) && usable(0.01));
    }

    /// New York local `hh:mm` on a date in 2026, as Unix ms.
    fn ny(month: i64, day: i64, hh: i64, mm: i64) -> i64 {
        let days = (chrono::NaiveDate::from_ymd_opt(2026, month as u32, day as u32).unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days();
        app::calendar::new_york_instant(days, (hh * 60 + mm) * 60_000)
    }

    fn us_trade(w: &mut Working, price: f64, size: f64, ts: i64) {
        w.trade("X", &Tick::trade("X", price, size, ts), TradingDay::NewYork);
    }

    #[test]
    fn extended_hours_trades_move_last_but_not_the_regular_figures() {
        use MarketSession::*;
        let mut w = Working::default();
        us_trade(&mut w, 100.0, 10.0, ny(1, 13, 9, 45));
        us_trade(&mut w, 104.0, 10.0, ny(1, 13, 11, 0));
        us_trade(&mut w, 102.0, 10.0, ny(1, 13, 15, 59));
        let q = w.quote().unwrap().clone();
        assert_eq!(
            (q.open, q.high, q.low, q.volume, q.session),
            (100.0, 104.0, 100.0, 30, Regular)
        );
        us_trade(&mut w, 110.0, 5.0, ny(1, 13, 16, 30));
        let q = w.quote().unwrap();
        assert_eq!(q.last, 110.0, "after hours moves the last price");
        assert_eq!(
            (q.high, q.volume),
            (104.0, 30),
            "not the session's high or volume"
        );
        assert_eq!(
            (q.close, q.session),
            (102.0, Post),
            "the close is the last regular price"
        );
        us_trade(&mut w, 98.0, 5.0, ny(1, 14, 8, 0));
        let q = w.quote().unwrap();
        assert_eq!((q.last, q.low, q.session), (98.0, 100.0, Pre));
        assert_eq!(
            q.prev_close, 100.0,
            "the day has not rolled over before the open"
        );
    }

    #[test]
    fn the_first_regular_trade_of_a_new_day_rolls_it_over() {
        let mut w = Working::default();
        us_trade(&mut w, 100.0, 10.0, ny(1, 13, 10, 0));
        us_trade(&mut w, 101.0, 10.0, ny(1, 13, 15, 0));
        us_trade(&mut w, 99.0, 10.0, ny(1, 14, 7, 0));
        us_trade(&mut w, 97.5, 3.0, ny(1, 14, 9, 31));
        let q = w.quote().unwrap();
        assert_eq!(q.prev_close, 101.0, "yesterday's regular close");
        assert_eq!((q.open, q.high, q.low, q.volume), (97.5, 97.5, 97.5, 3));
        assert_eq!(
            q.close, 101.0,
            "until today's session ends, the last close is yesterday's"
        );
    }

    #[test]
    fn the_clock_closes_the_session_and_opens_the_next_day() {
        use MarketSession::*;
        let mut w = Working::default();
        us_trade(&mut w, 100.0, 10.0, ny(1, 13, 10, 0));
        us_trade(&mut w, 101.0, 10.0, ny(1, 13, 15, 0));
        assert!(
            !w.clock(TradingDay::NewYork, ny(1, 13, 15, 30)),
            "nothing changes mid-session"
        );
        assert!(w.clock(TradingDay::NewYork, ny(1, 13, 16, 0)));
        assert_eq!(
            (w.quote().unwrap().session, w.quote().unwrap().close),
            (Post, 101.0)
        );
        assert!(w.clock(TradingDay::NewYork, ny(1, 13, 20, 0)));
        assert_eq!(w.quote().unwrap().session, Closed);
        assert!(w.clock(TradingDay::NewYork, ny(1, 14, 9, 30)));
        let q = w.quote().unwrap().clone();
        assert_eq!(
            (q.session, q.prev_close, q.volume),
            (Regular, 101.0, 0),
            "opened by the clock"
        );
        us_trade(&mut w, 103.0, 4.0, ny(1, 14, 9, 30) + 500);
        let q = w.quote().unwrap();
        assert_eq!(
            (q.open, q.high, q.low, q.volume),
            (103.0, 103.0, 103.0, 4),
            "the first trade sets the open"
        );
    }

    #[test]
    fn a_halt_holds_until_lifted() {
        use MarketSession::*;
        let mut w = Working::default();
        us_trade(&mut w, 100.0, 10.0, ny(1, 13, 10, 0));
        w.halt(true, TradingDay::NewYork, ny(1, 13, 10, 1));
        assert_eq!(w.quote().unwrap().session, Halted);
        w.clock(TradingDay::NewYork, ny(1, 13, 10, 5));
        assert_eq!(
            w.quote().unwrap().session,
            Halted,
            "the clock does not lift a halt"
        );
        w.halt(false, TradingDay::NewYork, ny(1, 13, 10, 6));
        assert_eq!(w.quote().unwrap().session, Regular);
    }

    #[test]
    fn around_the_clock_the_utc_day_rolls_over() {
        let mut w = Working::default();
        let day = 86_400_000;
        w.trade(
            "X",
            &Tick::trade("X", 10.0, 1.0, 20_000 * day + 5),
            TradingDay::Utc,
        );
        w.trade(
            "X",
            &Tick::trade("X", 12.0, 1.0, 20_000 * day + 9),
            TradingDay::Utc,
        );
        w.trade(
            "X",
            &Tick::trade("X", 11.0, 2.0, 20_001 * day + 1),
            TradingDay::Utc,
        );
        let q = w.quote().unwrap();
        assert_eq!(
            (q.prev_close, q.open, q.high, q.volume),
            (12.0, 11.0, 11.0, 2)
        );
        assert_eq!(q.session, MarketSession::Regular);
    }
}
