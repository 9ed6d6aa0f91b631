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
/// The WebSocket subprotocol of protocol v1 with `snapshot` and `diff` in
/// their compact binary form ([`crate::binary`]); everything else as JSON.
pub const SUBPROTOCOL_BIN: &str = "tickertape.v1.bin";
/// The symbol that subscribes to every symbol, present and future.
pub const ALL_SYMBOLS: &str = "*";

/// One instrument the server knows (`GET /api/symbols`).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymbolInfo {
    pub symbol: String,
    pub name: String,
    pub currency: String,
    /// The day its daily bars follow (absent from older servers: UTC).
    #[serde(default)]
    pub trading_day: TradingDay,
}

/// Declares [`Quote`], [`Change`] and the per-field operations from one list
/// of fields, so a new field cannot be forgotten in any of them.
macro_rules! quote_fields {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)?) => {
        /// The full current state of one symbol. Prices are in the symbol's
        /// currency.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
        pub struct Quote {
            pub symbol: String,
            $($(#[$doc])* pub $field: $ty,)*
        }

        /// The fields of one quote that changed since the previous message.
        /// A symbol the receiver has not seen yet arrives with every field set.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
        pub struct Change {
            pub symbol: String,
            $(#[serde(default, skip_serializing_if = "Option::is_none")]
            #[cfg_attr(feature = "schema", schema(nullable = false))]
            #[cfg_attr(feature = "typescript", ts(optional))]
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

            /// True when the change carries every field (how a symbol first
            /// reaches a client).
            pub fn is_full(&self) -> bool {
                true $(&& self.$field.is_some())*
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
    /// The last trade's price, in any session.
    last: f64,
    bid: f64,
    ask: f64,
    /// The regular session's open, high and low (extended-hours trades do
    /// not move them).
    open: f64,
    high: f64,
    low: f64,
    /// The close of the regular session before the current (or latest) one.
    prev_close: f64,
    /// Shares traded today in the regular session.
    volume: u64,
    /// Event time of the last update, Unix milliseconds.
    ts: i64,
    /// The session the symbol is in (absent from older servers: regular).
    #[serde(default)]
    session: MarketSession,
    /// The latest regular session's last price: the close once it has
    /// ended, the last price while it runs (absent from older servers: 0).
    #[serde(default)]
    close: f64,
}

/// Which part of the trading day a symbol is in. US equities: pre-market,
/// the regular session, after hours, or closed (nights, weekends,
/// holidays); crypto: always regular. `halted`: its market stopped trading
/// it for now (a feed says so).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketSession {
    Pre,
    #[default]
    Regular,
    Post,
    Closed,
    Halted,
}

impl MarketSession {
    /// The name on the wire and on screen badges.
    pub fn as_str(self) -> &'static str {
        match self {
            MarketSession::Pre => "pre",
            MarketSession::Regular => "regular",
            MarketSession::Post => "post",
            MarketSession::Closed => "closed",
            MarketSession::Halted => "halted",
        }
    }
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

impl Same for MarketSession {
    fn same(&self, other: &MarketSession) -> bool {
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Adds symbols (`"*"` = every symbol); answered by a snapshot.
    Subscribe { symbols: Vec<String> },
    /// Removes symbols; no snapshot follows.
    Unsubscribe { symbols: Vec<String> },
    /// Asks for a fresh snapshot of the current subscription.
    Resync,
    /// After a reconnect, instead of `subscribe`: `symbols` as `subscribe`
    /// takes them, and the state the client holds, as of `batch` of the
    /// server's `epoch` (both from the last `snapshot` or `diff` applied,
    /// whose `seq` is `seq`). If the server still holds every batch since,
    /// it answers with one `diff` (possibly without changes) numbered
    /// `seq + 1` bringing that state up to date; otherwise with a `snapshot`
    /// numbered `seq + 1`. Either way `seq` runs on from there.
    Resume {
        epoch: String,
        seq: u64,
        batch: u64,
        symbols: Vec<String>,
    },
    /// Asks for at most `max_hz` messages about quotes and charts a second
    /// (each the merged change since the last, so the state stays exact);
    /// without it, every batch again.
    Rate {
        #[serde(default)]
        #[cfg_attr(feature = "typescript", ts(optional = nullable))]
        max_hz: Option<f64>,
    },
    /// Latency probe; `t` is echoed verbatim in the `pong`.
    Ping {
        #[cfg_attr(feature = "schema", schema(value_type = f64))]
        #[cfg_attr(feature = "typescript", ts(type = "number"))]
        t: Number,
    },
    /// Chooses the symbol and interval one of this connection's charts
    /// shows: answered by `candles` (history, oldest first, at most
    /// `limit`), then a `candle` whenever one of its candles changes.
    /// Without `symbol`, stops that chart. A connection has up to
    /// [`MAX_CHARTS`] charts, numbered by `chart` (0 when absent); answers
    /// about chart 0 carry no `chart` field, others name theirs. `trades`
    /// adds the symbol's trades tape (`trades` messages), `book` its order
    /// book (`book` messages) where its feed has depth.
    Chart {
        #[serde(default)]
        #[cfg_attr(feature = "typescript", ts(optional = nullable))]
        symbol: Option<String>,
        #[serde(default)]
        #[cfg_attr(feature = "typescript", ts(optional = nullable))]
        interval: Option<Interval>,
        #[serde(default)]
        #[cfg_attr(feature = "typescript", ts(optional = nullable))]
        limit: Option<usize>,
        #[serde(default, skip_serializing_if = "is_zero")]
        chart: u8,
        #[serde(default, skip_serializing_if = "is_false")]
        trades: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        book: bool,
    },
}

/// Charts one connection may have (`chart` 0 to 3).
pub const MAX_CHARTS: u8 = 4;
/// Trades one `trades` message carries at most (the newest).
pub const TRADES_PER_MESSAGE: usize = 50;
/// Price levels per side a `book` message covers (the best).
pub const BOOK_DEPTH: usize = 20;

fn is_zero(n: &u8) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !b
}

/// Which side a trade was on: the buyer's or seller's initiative where the
/// feed says (`buy`: a buyer took an offer), else the tick test (`up`: above
/// the previous different price, `down`: below it).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeSide {
    Buy,
    Sell,
    Up,
    Down,
}

impl TradeSide {
    /// Whether it reads as buying pressure (coloured up).
    pub fn is_up(self) -> bool {
        matches!(self, TradeSide::Buy | TradeSide::Up)
    }
}

/// One trade on the tape.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// Unix milliseconds.
    pub t: i64,
    pub p: f64,
    /// Shares or units.
    pub s: f64,
    /// Unknown for the first trade a server sees of a symbol whose feed does
    /// not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(nullable = false))]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub side: Option<TradeSide>,
}

/// One price level of a book: `[price, size]`; size 0 in a diff removes it.
pub type Level = (f64, f64);

/// Applies a `book` message's changed levels (size 0: gone) to one side of
/// a book, best first (`bids`: the highest first), keeping the best `depth`.
pub fn apply_levels(side: &mut Vec<Level>, changes: &[Level], bids: bool, depth: usize) {
    for &(price, size) in changes {
        side.retain(|(p, _)| *p != price);
        if size > 0.0 {
            side.push((price, size));
        }
    }
    side.sort_by(|a, b| {
        let order = a.0.total_cmp(&b.0);
        if bids { order.reverse() } else { order }
    });
    side.truncate(depth);
}

/// A candle interval.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
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
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "1h")]
    H1,
    /// A trading day: see [`TradingDay`].
    #[serde(rename = "1d")]
    D1,
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

impl Interval {
    /// How many intervals there are.
    pub const COUNT: usize = 7;
    pub const ALL: [Interval; Interval::COUNT] = [
        Interval::S1,
        Interval::S5,
        Interval::M1,
        Interval::M5,
        Interval::M15,
        Interval::H1,
        Interval::D1,
    ];

    /// Length in milliseconds (a day is 24 h here; a trading day that
    /// changes clocks is 23 or 25 h, see [`TradingDay`]).
    pub const fn ms(self) -> i64 {
        match self {
            Interval::S1 => 1_000,
            Interval::S5 => 5_000,
            Interval::M1 => 60_000,
            Interval::M5 => 300_000,
            Interval::M15 => 900_000,
            Interval::H1 => HOUR_MS,
            Interval::D1 => DAY_MS,
        }
    }

    /// Start of the bucket holding `ts` on the UTC grid:
    /// `floor(ts / interval) * interval`. (A daily bar of a symbol whose
    /// trading day is not the UTC day starts at [`TradingDay::bucket`].)
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
            Interval::M15 => "15m",
            Interval::H1 => "1h",
            Interval::D1 => "1d",
        }
    }

    /// Position in [`Interval::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The calendar day an instrument's daily bars and session follow.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingDay {
    /// The UTC day: crypto, and the simulator.
    #[default]
    Utc,
    /// The New York calendar day of the trade: US equities (US daylight
    /// saving time: from the second Sunday of March to the first Sunday of
    /// November).
    NewYork,
}

impl TradingDay {
    /// Start of the bucket of `interval` holding `ts`: for a daily bar, the
    /// midnight (as Unix ms) that starts its day; otherwise the UTC grid.
    pub fn bucket(self, interval: Interval, ts: i64) -> i64 {
        match (interval, self) {
            (Interval::D1, TradingDay::NewYork) => {
                let midnight = (ts + new_york_offset(ts)).div_euclid(DAY_MS) * DAY_MS;
                // The offset at midnight, which differs on the days clocks change.
                let guess = midnight - new_york_offset(ts);
                midnight - new_york_offset(guess)
            }
            _ => interval.bucket(ts),
        }
    }
}

/// New York's offset from UTC at `ts`, in ms: -4 h in daylight saving time
/// (from 2:00 local on the second Sunday of March to 2:00 local on the first
/// Sunday of November), else -5 h.
pub(crate) fn new_york_offset(ts: i64) -> i64 {
    let year = year_of(ts.div_euclid(DAY_MS));
    let starts = nth_sunday(year, 3, 2) * DAY_MS + 7 * HOUR_MS;
    let ends = nth_sunday(year, 11, 1) * DAY_MS + 6 * HOUR_MS;
    if (starts..ends).contains(&ts) {
        -4 * HOUR_MS
    } else {
        -5 * HOUR_MS
    }
}

/// Days since 1970-01-01 of the `n`th Sunday of `month` in `year`.
fn nth_sunday(year: i64, month: i64, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    // 1970-01-01 was a Thursday (Sunday = 0).
    let weekday = (first + 4).rem_euclid(7);
    first + (7 - weekday) % 7 + 7 * (n - 1)
}

/// Days since 1970-01-01 of a (proleptic Gregorian) date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a day counted from 1970-01-01.
fn year_of(days: i64) -> i64 {
    civil_date(days).0
}

/// Year, month (1–12) and day of a day counted from 1970-01-01.
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
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
            .ok_or_else(|| format!("unknown interval {s:?} (use 1s, 5s, 1m, 5m, 15m, 1h or 1d)"))
    }
}

/// One OHLCV bar; `t` is the bucket start, Unix milliseconds.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
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
    if ![
        "subscribe",
        "unsubscribe",
        "resync",
        "resume",
        "rate",
        "ping",
        "chart",
    ]
    .contains(&op.as_str())
    {
        return Err(DecodeError(format!("unknown op {op:?}")));
    }
    serde_json::from_value(value).map_err(|e| DecodeError(format!("bad {op:?} message: {e}")))
}

/// The state of one feed as clients see it.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    Live,
    Stale,
    Reconnecting,
}

/// Machine-readable reason in an `error` message.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnknownSymbol,
    RateLimited,
    /// A subscribe named more symbols than one connection may have.
    TooManySymbols,
    /// A code this client does not know yet. Never sent.
    #[serde(other, skip_serializing)]
    #[cfg_attr(feature = "typescript", ts(skip))]
    Other,
}

/// A message from the server (JSON, tagged by `type`).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Hello {
        protocol: u32,
        server_time: i64,
        heartbeat_ms: u64,
        /// Names the server's batch numbering: `resume` needs the same.
        /// (An addition to v1: empty from older servers.)
        #[serde(default)]
        epoch: String,
    },
    Snapshot {
        seq: u64,
        /// The server's batch the quotes are current as of (for `resume`;
        /// an addition to v1: 0 from older servers).
        #[serde(default)]
        batch: u64,
        quotes: Vec<Quote>,
    },
    Diff {
        seq: u64,
        /// The server's newest batch this diff includes (see `Snapshot`).
        #[serde(default)]
        batch: u64,
        ts: i64,
        changes: Vec<Change>,
    },
    Status {
        feed: String,
        state: FeedState,
    },
    Pong {
        #[cfg_attr(feature = "schema", schema(value_type = f64))]
        #[cfg_attr(feature = "typescript", ts(type = "number"))]
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
        /// Which of the connection's charts (absent: 0).
        #[serde(default, skip_serializing_if = "is_zero")]
        chart: u8,
    },
    /// One changed candle of the charted symbol: the current one, or a
    /// just-closed or older one that a late trade corrected.
    Candle {
        symbol: String,
        interval: Interval,
        candle: Candle,
        #[serde(default, skip_serializing_if = "is_zero")]
        chart: u8,
    },
    /// The charted symbol's latest trades, oldest first: on `chart` with
    /// `trades`, the newest [`TRADES_PER_MESSAGE`] the server holds, then
    /// those of each flush (the newest of them, for a client that is behind).
    Trades {
        symbol: String,
        trades: Vec<Trade>,
        #[serde(default, skip_serializing_if = "is_zero")]
        chart: u8,
    },
    /// The charted symbol's order book, best [`BOOK_DEPTH`] levels per side,
    /// best first: whole when `snapshot`, else the levels that changed
    /// (size 0: gone). `live` is false while the book cannot be trusted
    /// (its feed is not live, it crossed, or it waits for a snapshot).
    Book {
        symbol: String,
        snapshot: bool,
        live: bool,
        #[cfg_attr(feature = "schema", schema(value_type = Vec<(f64, f64)>))]
        bids: Vec<Level>,
        #[cfg_attr(feature = "schema", schema(value_type = Vec<(f64, f64)>))]
        asks: Vec<Level>,
        /// Server time of the state it describes, Unix milliseconds.
        ts: i64,
        #[serde(default, skip_serializing_if = "is_zero")]
        chart: u8,
    },
    /// An alert fired on the trade at `price`, `ts` (sent to every page).
    Alert {
        id: u64,
        symbol: String,
        condition: AlertCondition,
        value: f64,
        price: f64,
        ts: i64,
    },
    /// An alert was made (by any page or client).
    AlertCreated {
        alert: Alert,
    },
    /// An alert was deleted.
    AlertDeleted {
        id: u64,
    },
    /// An alert's state changed: it fired (disarmed, a firing added to its
    /// history), was re-armed or expired, or a webhook delivery ended.
    AlertUpdated {
        alert: Alert,
    },
    /// A message type this client does not know yet; ignored. Never sent.
    #[serde(other, skip_serializing)]
    #[cfg_attr(feature = "typescript", ts(skip))]
    Unknown,
}

/// What an alert watches: the price crossing a level, or the change from
/// the previous close (in percent) crossing a value.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCondition {
    Above,
    Below,
    ChangePctAbove,
    ChangePctBelow,
}

/// Whether an alert fires once (then it is disarmed) or every time it
/// crosses again (re-armed once the figure has moved back past its value by
/// a margin and a cool-down has passed).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRepeat {
    #[default]
    Once,
    Every,
}

/// An alert rule as stored (`GET /api/alerts`).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub symbol: String,
    pub condition: AlertCondition,
    pub value: f64,
    #[serde(default)]
    pub repeat: AlertRepeat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(nullable = false))]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(nullable = false))]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub webhook: Option<String>,
    /// After this time (Unix ms) it no longer fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(nullable = false))]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub expires: Option<i64>,
    /// Whether it fires at the next crossing.
    pub armed: bool,
    /// When it was made and when it last fired (Unix ms).
    pub created: i64,
    pub last_fired: Option<i64>,
    /// Its latest firings, oldest first (at most [`ALERT_HISTORY`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Firing>,
}

/// Firings an alert remembers.
pub const ALERT_HISTORY: usize = 20;

/// One firing of an alert: the trade it fired on, and its webhook delivery
/// when the alert has a webhook.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub ts: i64,
    pub price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(nullable = false))]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub webhook: Option<Delivery>,
}

/// Where a webhook delivery stands.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub state: DeliveryState,
    /// POSTs made so far.
    pub attempts: u32,
    /// The receiver's last HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(nullable = false))]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub status: Option<u16>,
    /// Why the last attempt failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(nullable = false))]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub error: Option<String>,
}

/// `pending` while attempts remain, then `delivered` (a 2xx answer) or
/// `failed` (every attempt failed, or the receiver refused it with a 4xx).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

/// `GET /api/quotes`.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuotesResponse {
    pub seq: u64,
    pub quotes: Vec<Quote>,
}

/// The body of every non-2xx JSON answer of the HTTP API.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A whole quote around `last` (also for other modules' tests).
    pub(crate) fn quote(symbol: &str, last: f64) -> Quote {
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
            session: Default::default(),
            close: 0.0,
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
            epoch: "3f9a".into(),
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"type":"hello","protocol":1,"server_time":5,"heartbeat_ms":15000,"epoch":"3f9a"}"#
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
        let diff =
            r#"{"type":"diff","seq":3,"batch":41,"ts":9,"changes":[{"symbol":"A","bid":1.5}]}"#;
        let parsed: ServerMsg = serde_json::from_str(diff).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), diff);
        // From a server before `batch` and `epoch`: 0 and empty.
        let older = r#"{"type":"diff","seq":3,"ts":9,"changes":[]}"#;
        let parsed: ServerMsg = serde_json::from_str(older).unwrap();
        assert!(matches!(parsed, ServerMsg::Diff { batch: 0, .. }));
        let older = r#"{"type":"hello","protocol":1,"server_time":5,"heartbeat_ms":15000}"#;
        let parsed: ServerMsg = serde_json::from_str(older).unwrap();
        assert!(matches!(parsed, ServerMsg::Hello { epoch, .. } if epoch.is_empty()));
    }

    #[test]
    fn chart_messages_have_the_documented_shapes() {
        assert_eq!(
            decode_client(r#"{"op":"chart","symbol":"AAPL","interval":"5s","limit":300}"#),
            Ok(ClientMsg::Chart {
                symbol: Some("AAPL".into()),
                interval: Some(Interval::S5),
                limit: Some(300),
                chart: 0,
                trades: false,
                book: false,
            })
        );
        assert_eq!(
            decode_client(r#"{"op":"chart"}"#),
            Ok(ClientMsg::Chart {
                symbol: None,
                interval: None,
                limit: None,
                chart: 0,
                trades: false,
                book: false,
            })
        );
        let second = ClientMsg::Chart {
            symbol: Some("MSFT".into()),
            interval: Some(Interval::M5),
            limit: None,
            chart: 2,
            trades: true,
            book: true,
        };
        let text = serde_json::to_string(&second).unwrap();
        assert_eq!(
            text,
            r#"{"op":"chart","symbol":"MSFT","interval":"5m","limit":null,"chart":2,"trades":true,"book":true}"#
        );
        assert_eq!(decode_client(&text), Ok(second));
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
            chart: 0,
        };
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"type":"candle","symbol":"A","interval":"1m","candle":{"t":60000,"o":1.5,"h":2.0,"l":1.25,"c":1.75,"v":300}}"#
        );
        let on_third = r#"{"type":"candle","symbol":"A","interval":"1m","candle":{"t":60000,"o":1.5,"h":2.0,"l":1.25,"c":1.75,"v":300},"chart":2}"#;
        assert_eq!(
            serde_json::from_str::<ServerMsg>(on_third).unwrap(),
            ServerMsg::Candle {
                symbol: "A".into(),
                interval: Interval::M1,
                candle,
                chart: 2,
            }
        );
    }

    #[test]
    fn tape_and_book_messages_have_the_documented_shapes() {
        let trades = ServerMsg::Trades {
            symbol: "BTC-USD".into(),
            trades: vec![
                Trade {
                    t: 1_000,
                    p: 64_000.5,
                    s: 0.25,
                    side: Some(TradeSide::Sell),
                },
                Trade {
                    t: 1_001,
                    p: 64_001.0,
                    s: 2.0,
                    side: None,
                },
            ],
            chart: 0,
        };
        assert_eq!(
            serde_json::to_string(&trades).unwrap(),
            r#"{"type":"trades","symbol":"BTC-USD","trades":[{"t":1000,"p":64000.5,"s":0.25,"side":"sell"},{"t":1001,"p":64001.0,"s":2.0}]}"#
        );
        let book = r#"{"type":"book","symbol":"BTC-USD","snapshot":false,"live":true,"bids":[[63999.5,0.0]],"asks":[[64001.0,1.5]],"ts":7,"chart":1}"#;
        assert_eq!(
            serde_json::from_str::<ServerMsg>(book).unwrap(),
            ServerMsg::Book {
                symbol: "BTC-USD".into(),
                snapshot: false,
                live: true,
                bids: vec![(63_999.5, 0.0)],
                asks: vec![(64_001.0, 1.5)],
                ts: 7,
                chart: 1,
            }
        );
        assert!(TradeSide::Up.is_up() && TradeSide::Buy.is_up() && !TradeSide::Down.is_up());
    }

    #[test]
    fn intervals_bucket_by_floor_and_parse_by_name() {
        assert_eq!(Interval::M1.bucket(119_999), 60_000);
        assert_eq!(Interval::M1.bucket(120_000), 120_000);
        assert_eq!(Interval::S5.bucket(-1), -5_000);
        assert_eq!("5m".parse::<Interval>(), Ok(Interval::M5));
        assert_eq!("1h".parse::<Interval>(), Ok(Interval::H1));
        assert_eq!(Interval::D1.bucket(DAY_MS + 5), DAY_MS);
        assert!(
            "2h".parse::<Interval>()
                .unwrap_err()
                .contains("1s, 5s, 1m, 5m, 15m, 1h or 1d")
        );
        for (i, interval) in Interval::ALL.into_iter().enumerate() {
            assert_eq!(interval.index(), i);
            assert_eq!(interval.as_str().parse::<Interval>(), Ok(interval));
        }
    }

    /// Unix ms of a UTC date and time.
    fn utc(y: i64, mo: i64, d: i64, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * DAY_MS + h * HOUR_MS + mi * 60_000
    }

    #[test]
    fn calendar_arithmetic_agrees_with_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(utc(2026, 11, 29, 0, 0), 1_795_910_400_000);
        assert_eq!(year_of(days_from_civil(2024, 12, 31)), 2024);
        assert_eq!(year_of(days_from_civil(2025, 1, 1)), 2025);
        assert_eq!(year_of(days_from_civil(2028, 2, 29)), 2028);
        // US daylight saving time 2026: 8 March to 1 November.
        assert_eq!(nth_sunday(2026, 3, 2), days_from_civil(2026, 3, 8));
        assert_eq!(nth_sunday(2026, 11, 1), days_from_civil(2026, 11, 1));
        assert_eq!(nth_sunday(2025, 3, 2), days_from_civil(2025, 3, 9));
        assert_eq!(nth_sunday(2025, 11, 1), days_from_civil(2025, 11, 2));
    }

    #[test]
    fn a_new_york_daily_bar_starts_at_new_york_midnight() {
        let ny = |ts| TradingDay::NewYork.bucket(Interval::D1, ts);
        // Winter (EST, UTC-5): midnight is 05:00 UTC.
        assert_eq!(ny(utc(2026, 1, 15, 15, 30)), utc(2026, 1, 15, 5, 0));
        // A trade at 23:00 New York time is still that New York day.
        assert_eq!(ny(utc(2026, 1, 16, 4, 0)), utc(2026, 1, 15, 5, 0));
        assert_eq!(ny(utc(2026, 1, 16, 5, 0)), utc(2026, 1, 16, 5, 0));
        // Summer (EDT, UTC-4): midnight is 04:00 UTC.
        assert_eq!(ny(utc(2026, 7, 1, 14, 0)), utc(2026, 7, 1, 4, 0));
        // The day clocks go forward (8 March 2026) began at EST midnight,
        // the day they go back (1 November) at EDT midnight.
        assert_eq!(ny(utc(2026, 3, 8, 15, 0)), utc(2026, 3, 8, 5, 0));
        assert_eq!(ny(utc(2026, 3, 9, 3, 59)), utc(2026, 3, 8, 5, 0));
        assert_eq!(ny(utc(2026, 3, 9, 4, 0)), utc(2026, 3, 9, 4, 0));
        assert_eq!(ny(utc(2026, 11, 1, 15, 0)), utc(2026, 11, 1, 4, 0));
        assert_eq!(ny(utc(2026, 11, 2, 4, 59)), utc(2026, 11, 1, 4, 0));
        assert_eq!(ny(utc(2026, 11, 2, 5, 0)), utc(2026, 11, 2, 5, 0));
        // The UTC day and other intervals are the plain grid.
        let ts = utc(2026, 1, 16, 4, 0);
        assert_eq!(
            TradingDay::Utc.bucket(Interval::D1, ts),
            utc(2026, 1, 16, 0, 0)
        );
        assert_eq!(TradingDay::NewYork.bucket(Interval::H1, ts + 1), ts);
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
