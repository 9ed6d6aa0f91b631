//! The quote rules: how trades and book updates fold into a symbol's
//! [`Quote`], whatever the source does or does not supply.
//!
//! - bid = ask = last for a source that never sends a quote;
//! - previous close, open, high, low and volume come from the source when it
//!   supplies them, else from the session: the first price seen (open and
//!   previous close), the running high and low, the sum of trade sizes;
//! - a late trade (older than the newest one) counts toward high, low and
//!   volume but does not become the last price.

use app::protocol::Quote;

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
}

impl Working {
    pub fn quote(&self) -> Option<&Quote> {
        self.quote.as_ref()
    }

    /// The state a stored quote stands for: its figures, and its time as
    /// that of the last trade and book (older events do not move them).
    pub fn restored(quote: Quote) -> Working {
        Working {
            volume: quote.volume as f64,
            last_trade: quote.ts,
            book_ts: quote.ts,
            has_book: quote.bid != quote.last || quote.ask != quote.last,
            early_book: None,
            quote: Some(quote),
        }
    }

    /// Folds in a trade with a finite, positive price.
    pub fn trade(&mut self, symbol: &str, tick: &Tick) {
        let s = &tick.session;
        let price = tick.price;
        let quote = self.quote.get_or_insert_with(|| Quote {
            symbol: symbol.to_owned(),
            last: price,
            bid: price,
            ask: price,
            open: s.open.unwrap_or(price),
            high: price,
            low: price,
            prev_close: s.prev_close.unwrap_or(price),
            volume: 0,
            ts: tick.ts,
        });
        quote.high = s.high.unwrap_or(quote.high.max(price));
        quote.low = s.low.unwrap_or(quote.low.min(price));
        quote.open = s.open.unwrap_or(quote.open);
        quote.prev_close = s.prev_close.unwrap_or(quote.prev_close);
        self.volume = s.volume.unwrap_or(self.volume + tick.size.max(0.0));
        quote.volume = self.volume.round() as u64;
        quote.ts = quote.ts.max(tick.ts);
        if tick.ts >= self.last_trade {
            self.last_trade = tick.ts;
            quote.last = price;
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
                Either::T(t) => w.trade("X", t),
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
}
