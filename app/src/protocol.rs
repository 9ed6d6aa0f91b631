//! WebSocket protocol v1 and the HTTP API's JSON shapes.
//!
//! Plain serde types, compiled for the server, the browser and every test
//! client. The contract they encode is `docs/DESIGN.md`; change both together.

use serde::{Deserialize, Serialize};
use serde_json::Number;

/// The protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;
/// The WebSocket subprotocol for JSON text frames (the default).
pub const SUBPROTOCOL_JSON: &str = "tickertape.v1.json";
/// The symbol that subscribes to every symbol, present and future.
pub const ALL_SYMBOLS: &str = "*";

/// One instrument the server knows (`GET /api/symbols`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymbolInfo {
    pub symbol: String,
    pub name: String,
    pub currency: String,
}

/// Declares [`Quote`], [`Change`] and the per-field operations from one list
/// of fields, so a new field cannot be forgotten in any of them.
macro_rules! quote_fields {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)?) => {
        /// The full current state of one symbol. Prices are in the symbol's
        /// currency.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct Quote {
            pub symbol: String,
            $($(#[$doc])* pub $field: $ty,)*
        }

        /// The fields of one quote that changed since the previous message.
        /// A symbol the receiver has not seen yet arrives with every field set.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct Change {
            pub symbol: String,
            $(#[serde(default, skip_serializing_if = "Option::is_none")]
            pub $field: Option<$ty>,)*
        }

        impl Quote {
            /// The change that turns `self` into `newer`, or `None` if nothing
            /// changed. Compares bit for bit, so no float change is lost.
            pub fn diff(&self, newer: &Quote) -> Option<Change> {
                let change = Change {
                    symbol: newer.symbol.clone(),
                    $($field: (!self.$field.same(&newer.$field)).then_some(newer.$field),)*
                };
                (!change.is_empty()).then_some(change)
            }

            /// Applies the fields a change carries.
            pub fn apply(&mut self, change: &Change) {
                $(if let Some(value) = change.$field {
                    self.$field = value;
                })*
            }
        }

        impl Change {
            /// A change carrying every field: how a symbol first reaches a client.
            pub fn full(quote: &Quote) -> Change {
                Change { symbol: quote.symbol.clone(), $($field: Some(quote.$field),)* }
            }

            /// True when the change carries no field.
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_none())*
            }

            /// The quote this change describes, if it carries every field.
            pub fn to_quote(&self) -> Option<Quote> {
                Some(Quote { symbol: self.symbol.clone(), $($field: self.$field?,)* })
            }

            /// Folds a later change for the same symbol into this one (later wins).
            pub fn merge(&mut self, later: &Change) {
                $(if later.$field.is_some() {
                    self.$field = later.$field;
                })*
            }
        }
    };
}

quote_fields! {
    last: f64,
    bid: f64,
    ask: f64,
    open: f64,
    high: f64,
    low: f64,
    prev_close: f64,
    /// Shares traded today.
    volume: u64,
    /// Event time of the last update, Unix milliseconds.
    ts: i64,
}

/// Equality that tells every distinct value apart (`-0.0` from `0.0`, NaNs).
trait Same {
    fn same(&self, other: &Self) -> bool;
}

impl Same for f64 {
    fn same(&self, other: &f64) -> bool {
        self.to_bits() == other.to_bits()
    }
}

impl Same for u64 {
    fn same(&self, other: &u64) -> bool {
        self == other
    }
}

impl Same for i64 {
    fn same(&self, other: &i64) -> bool {
        self == other
    }
}

/// Percent change from `base` to `value` (0 when there is no base).
pub fn pct_change(value: f64, base: f64) -> f64 {
    if base > 0.0 {
        (value - base) / base * 100.0
    } else {
        0.0
    }
}

/// A message from a client (text frame, JSON, tagged by `op`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Adds symbols (`"*"` = every symbol); answered by a snapshot.
    Subscribe { symbols: Vec<String> },
    /// Removes symbols; no snapshot follows.
    Unsubscribe { symbols: Vec<String> },
    /// Asks for a fresh snapshot of the current subscription.
    Resync,
    /// Latency probe; `t` is echoed verbatim in the `pong`.
    Ping { t: Number },
    /// Chooses the one symbol and interval this connection charts: answered
    /// by `candles` (history, oldest first, at most `limit`), then a `candle`
    /// whenever one of its candles changes. Without `symbol`, stops charting.
    Chart {
        #[serde(default)]
        symbol: Option<String>,
        #[serde(default)]
        interval: Option<Interval>,
        #[serde(default)]
        limit: Option<usize>,
    },
}

/// A candle interval.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum Interval {
    #[serde(rename = "1s")]
    S1,
    #[serde(rename = "5s")]
    S5,
    #[default]
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
}

impl Interval {
    pub const ALL: [Interval; 4] = [Interval::S1, Interval::S5, Interval::M1, Interval::M5];

    /// Length in milliseconds.
    pub const fn ms(self) -> i64 {
        match self {
            Interval::S1 => 1_000,
            Interval::S5 => 5_000,
            Interval::M1 => 60_000,
            Interval::M5 => 300_000,
        }
    }

    /// Start of the bucket holding `ts`: `floor(ts / interval) * interval`.
    pub const fn bucket(self, ts: i64) -> i64 {
        ts.div_euclid(self.ms()) * self.ms()
    }

    /// The name used on the wire and in URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::S1 => "1s",
            Interval::S5 => "5s",
            Interval::M1 => "1m",
            Interval::M5 => "5m",
        }
    }

    /// Position in [`Interval::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Interval {
    type Err = String;

    fn from_str(s: &str) -> Result<Interval, String> {
        Interval::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| format!("unknown interval {s:?} (use 1s, 5s, 1m or 5m)"))
    }
}

/// One OHLCV bar; `t` is the bucket start, Unix milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: u64,
}

impl Candle {
    /// A bar opened by one trade.
    pub fn open(t: i64, price: f64, size: u64) -> Candle {
        Candle {
            t,
            o: price,
            h: price,
            l: price,
            c: price,
            v: size,
        }
    }
}

/// Why a client message could not be used.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeError(pub String);

/// Decodes one client text frame, telling malformed JSON from a bad message.
pub fn decode_client(text: &str) -> Result<ClientMsg, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError(format!("malformed JSON: {e}")))?;
    let op = match value.get("op") {
        Some(serde_json::Value::String(op)) => op.clone(),
        Some(_) => return Err(DecodeError("\"op\" must be a string".into())),
        None => return Err(DecodeError("missing \"op\"".into())),
    };
    if !["subscribe", "unsubscribe", "resync", "ping", "chart"].contains(&op.as_str()) {
        return Err(DecodeError(format!("unknown op {op:?}")));
    }
    serde_json::from_value(value).map_err(|e| DecodeError(format!("bad {op:?} message: {e}")))
}

/// The state of one feed as clients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    Live,
    Stale,
    Reconnecting,
}

/// Machine-readable reason in an `error` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnknownSymbol,
    RateLimited,
    /// A subscribe named more symbols than one connection may have.
    TooManySymbols,
    /// A code this client does not know yet.
    #[serde(other)]
    Other,
}

/// A message from the server (JSON, tagged by `type`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Hello {
        protocol: u32,
        server_time: i64,
        heartbeat_ms: u64,
    },
    Snapshot {
        seq: u64,
        quotes: Vec<Quote>,
    },
    Diff {
        seq: u64,
        ts: i64,
        changes: Vec<Change>,
    },
    Status {
        feed: String,
        state: FeedState,
    },
    Pong {
        t: Number,
        server_time: i64,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The charted symbol's history, oldest first (answer to `chart`).
    Candles {
        symbol: String,
        interval: Interval,
        candles: Vec<Candle>,
    },
    /// One changed candle of the charted symbol: the current one, or a
    /// just-closed or older one that a late trade corrected.
    Candle {
        symbol: String,
        interval: Interval,
        candle: Candle,
    },
    /// A message type this client does not know yet; ignored.
    #[serde(other)]
    Unknown,
}

/// `GET /api/quotes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuotesResponse {
    pub seq: u64,
    pub quotes: Vec<Quote>,
}

/// The body of every non-2xx JSON answer of the HTTP API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(symbol: &str, last: f64) -> Quote {
        Quote {
            symbol: symbol.into(),
            last,
            bid: last - 0.01,
            ask: last + 0.01,
            open: 100.0,
            high: last.max(100.0),
            low: last.min(100.0),
            prev_close: 99.5,
            volume: 1_000,
            ts: 1_700_000_000_000,
        }
    }

    #[test]
    fn quote_round_trips_through_json() {
        let q = quote("AAPL", 101.37);
        let text = serde_json::to_string(&q).unwrap();
        assert_eq!(serde_json::from_str::<Quote>(&text).unwrap(), q);
    }

    #[test]
    fn change_serialises_only_changed_fields() {
        let old = quote("AAPL", 101.0);
        let mut new = old.clone();
        new.last = 101.25;
        new.volume += 300;
        let change = old.diff(&new).unwrap();
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(text, r#"{"symbol":"AAPL","last":101.25,"volume":1300}"#);
        assert_eq!(old.diff(&old), None);
    }

    #[test]
    fn applying_diffs_in_order_reproduces_the_server_state() {
        let mut server = vec![quote("AAPL", 101.0), quote("MSFT", 410.0)];
        let mut client = server.clone();
        let steps = [(0, 101.5, 10), (1, 409.9, 0), (0, 101.5, 5), (0, 100.75, 7)];
        for (i, last, extra_volume) in steps {
            let before = server[i].clone();
            server[i].last = last;
            server[i].high = server[i].high.max(last);
            server[i].low = server[i].low.min(last);
            server[i].volume += extra_volume;
            server[i].ts += 250;
            let change = before.diff(&server[i]).unwrap();
            let wire: Change =
                serde_json::from_str(&serde_json::to_string(&change).unwrap()).unwrap();
            client[i].apply(&wire);
        }
        assert_eq!(client, server);
    }

    #[test]
    fn merged_changes_equal_applying_both() {
        let a = quote("AAPL", 100.0);
        let mut b = a.clone();
        b.last = 100.5;
        b.volume = 2_000;
        let mut c = b.clone();
        c.last = 100.25;
        c.bid = 100.2;
        let mut merged = a.diff(&b).unwrap();
        merged.merge(&b.diff(&c).unwrap());
        let mut applied = a.clone();
        applied.apply(&merged);
        assert_eq!(applied, c);
    }

    #[test]
    fn full_change_rebuilds_the_quote() {
        let q = quote("NVDA", 130.1);
        assert_eq!(Change::full(&q).to_quote(), Some(q.clone()));
        assert_eq!(
            Change {
                symbol: "NVDA".into(),
                last: Some(1.0),
                ..Default::default()
            }
            .to_quote(),
            None
        );
    }

    #[test]
    fn client_messages_decode_and_errors_say_why() {
        assert_eq!(
            decode_client(r#"{"op":"subscribe","symbols":["AAPL","*"]}"#),
            Ok(ClientMsg::Subscribe {
                symbols: vec!["AAPL".into(), "*".into()]
            })
        );
        assert_eq!(decode_client(r#"{"op":"resync"}"#), Ok(ClientMsg::Resync));
        let ping = decode_client(r#"{"op":"ping","t":1700000000123}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&ping).unwrap(),
            r#"{"op":"ping","t":1700000000123}"#
        );
        let err = |text: &str| decode_client(text).unwrap_err().0;
        assert!(err("{nope").starts_with("malformed JSON"));
        assert_eq!(err(r#"{"op":"dance"}"#), "unknown op \"dance\"");
        assert_eq!(err(r#"{"symbols":[]}"#), "missing \"op\"");
        assert_eq!(err(r#"{"op":7}"#), "\"op\" must be a string");
        assert!(
            err(r#"{"op":"subscribe","symbols":"AAPL"}"#).starts_with("bad \"subscribe\" message")
        );
    }

    #[test]
    fn server_messages_match_the_documented_shapes() {
        let hello = ServerMsg::Hello {
            protocol: 1,
            server_time: 5,
            heartbeat_ms: 15_000,
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"type":"hello","protocol":1,"server_time":5,"heartbeat_ms":15000}"#
        );
        let status = ServerMsg::Status {
            feed: "sim".into(),
            state: FeedState::Reconnecting,
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"type":"status","feed":"sim","state":"reconnecting"}"#
        );
        let error = ServerMsg::Error {
            code: ErrorCode::UnknownSymbol,
            message: "ZZZZ".into(),
        };
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"type":"error","code":"unknown_symbol","message":"ZZZZ"}"#
        );
        let diff = r#"{"type":"diff","seq":3,"ts":9,"changes":[{"symbol":"A","bid":1.5}]}"#;
        let parsed: ServerMsg = serde_json::from_str(diff).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), diff);
    }

    #[test]
    fn chart_messages_have_the_documented_shapes() {
        assert_eq!(
            decode_client(r#"{"op":"chart","symbol":"AAPL","interval":"5s","limit":300}"#),
            Ok(ClientMsg::Chart {
                symbol: Some("AAPL".into()),
                interval: Some(Interval::S5),
                limit: Some(300)
            })
        );
        assert_eq!(
            decode_client(r#"{"op":"chart"}"#),
            Ok(ClientMsg::Chart {
                symbol: None,
                interval: None,
                limit: None
            })
        );
        assert!(
            decode_client(r#"{"op":"chart","symbol":"A","interval":"2m"}"#)
                .unwrap_err()
                .0
                .contains("bad \"chart\"")
        );
        let candle = Candle {
            t: 60_000,
            o: 1.5,
            h: 2.0,
            l: 1.25,
            c: 1.75,
            v: 300,
        };
        let msg = ServerMsg::Candle {
            symbol: "A".into(),
            interval: Interval::M1,
            candle,
        };
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"type":"candle","symbol":"A","interval":"1m","candle":{"t":60000,"o":1.5,"h":2.0,"l":1.25,"c":1.75,"v":300}}"#
        );
    }

    #[test]
    fn intervals_bucket_by_floor_and_parse_by_name() {
        assert_eq!(Interval::M1.bucket(119_999), 60_000);
        assert_eq!(Interval::M1.bucket(120_000), 120_000);
        assert_eq!(Interval::S5.bucket(-1), -5_000);
        assert_eq!("5m".parse::<Interval>(), Ok(Interval::M5));
        assert!(
            "1h".parse::<Interval>()
                .unwrap_err()
                .contains("1s, 5s, 1m or 5m")
        );
        for (i, interval) in Interval::ALL.into_iter().enumerate() {
            assert_eq!(interval.index(), i);
            assert_eq!(interval.as_str().parse::<Interval>(), Ok(interval));
        }
    }

    #[test]
    fn unknown_server_messages_and_codes_are_tolerated() {
        let future: ServerMsg =
            serde_json::from_str(r#"{"type":"trade_halt","symbol":"A"}"#).unwrap();
        assert_eq!(future, ServerMsg::Unknown);
        let code: ErrorCode = serde_json::from_str(r#""quota_exceeded""#).unwrap();
        assert_eq!(code, ErrorCode::Other);
    }
}
