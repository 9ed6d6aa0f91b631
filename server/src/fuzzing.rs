//! Entry points for the fuzz targets in `bench/fuzz`: every parser that
//! reads bytes a peer controls. Not an API; each returns nothing and must
//! never panic, whatever the input.

use crate::feed::coinbase::Stream;
use crate::feed::replay::Recording;
use crate::feed::{Book, Tick};
use crate::quotes::{self, Working};

/// A client's WebSocket message, as the session decodes it.
pub fn client_message(text: &str) {
    let _ = app::protocol::decode_client(text);
}

/// A server message, as the page decodes it.
pub fn server_message(text: &str) {
    let _ = serde_json::from_str::<app::protocol::ServerMsg>(text);
}

/// Upstream messages of every provider adapter.
pub fn provider_messages(text: &str) {
    let _ = crate::feed::finnhub::parse(text);
    let _ = crate::feed::alpaca::parse(text);
    let mut coinbase = Stream::default();
    for line in text.lines() {
        let _ = coinbase.on_message(line);
    }
}

/// A replay file.
pub fn replay_csv(text: &str) {
    let _ = Recording::parse(text);
}

/// Arbitrary trades and books folded by the quote rules: the result must
/// stay a sane quote (high ≥ last ≥ low).
pub fn quote_rules(events: &[(bool, f64, f64, i64)]) {
    let mut working = Working::default();
    for &(is_trade, a, b, ts) in events {
        if is_trade {
            let mut tick = Tick::trade("X", a, b, ts);
            if !quotes::usable(tick.price) {
                continue;
            }
            quotes::sanitise(&mut tick);
            working.trade("X", &tick, app::protocol::TradingDay::NewYork);
        } else if quotes::usable(a) && quotes::usable(b) {
            working.book(&Book {
                symbol: "X".into(),
                bid: a,
                ask: b,
                ts,
            });
        }
        if let Some(q) = working.quote() {
            assert!(q.high >= q.last && q.last >= q.low, "{q:?}");
        }
    }
}
