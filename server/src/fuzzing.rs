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

/// Binary frames (`tickertape.v1.bin`), as the page decodes them, one
/// connection's worth: whatever diff decodes must encode back to a frame
/// that decodes to the same message.
pub fn binary_frames(frames: &[&[u8]]) {
    use app::binary::{self, Decoder, Header, Snapshot};
    use app::protocol::{MarketSession, Quote, ServerMsg};
    let mut decoder = Decoder::default();
    for frame in frames {
        let Ok(ServerMsg::Diff {
            seq,
            batch,
            ts,
            changes,
        }) = decoder.decode(frame)
        else {
            continue;
        };
        // A fresh decoder, told every symbol by a snapshot, then the diff
        // encoded again.
        let mut symbols: Vec<&str> = changes.iter().map(|c| c.symbol.as_str()).collect();
        symbols.sort_unstable();
        symbols.dedup();
        let named: Vec<Quote> = symbols
            .iter()
            .map(|&symbol| Quote {
                symbol: symbol.to_string(),
                last: 1.0,
                bid: 1.0,
                ask: 1.0,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                prev_close: 1.0,
                volume: 0,
                ts: 0,
                session: MarketSession::Regular,
                close: 1.0,
            })
            .collect();
        let id_of = |symbol: &str| symbols.binary_search(&symbol).unwrap_or(0) as u32;
        let mut again = Decoder::default();
        let snapshot = Snapshot::new(named.iter().map(|q| (id_of(&q.symbol), q)));
        assert!(again.decode(&snapshot.frame(1, 1)).is_ok());
        let mut body = Vec::new();
        for change in &changes {
            binary::encode_change(id_of(&change.symbol), change, ts, &mut body);
        }
        let header = Header {
            kind: binary::DIFF,
            seq,
            batch,
            base_ts: ts,
            count: changes.len() as u64,
        };
        let back = again.decode(&binary::frame(header, &body));
        let Ok(ServerMsg::Diff { changes: back, .. }) = back else {
            panic!("a diff that decoded did not decode again: {back:?}");
        };
        assert_eq!(format!("{back:?}"), format!("{changes:?}"));
    }
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
