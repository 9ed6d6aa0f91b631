//! Coinbase Exchange, public market data (`--feed coinbase`; no key needed).
//!
//! Wire format (https://docs.cdp.coinbase.com/exchange/websocket-feed,
//! channels: https://docs.cdp.coinbase.com/exchange/websocket-feed/channels):
//! connect to `wss://ws-feed.exchange.coinbase.com`, send
//! `{"type":"subscribe","product_ids":[…],"channels":["ticker","heartbeat","level2_batch"]}`,
//! receive `subscriptions`, then per product `ticker` messages (last trade
//! and its taker's `side`, best bid/ask, 24 h open/high/low/volume,
//! `sequence`, `trade_id`), one `heartbeat` a second (`sequence`,
//! `last_trade_id`), and the order book: one `snapshot` (`bids` and `asks`,
//! every level as `[price, size]`, both strings), then an `l2update` every
//! 50 ms or so (`time`, and `changes` as `[side, price, size]`: side `buy`
//! for a bid and `sell` for an ask, size the level's new size, `"0"`
//! removing it). `level2_batch` is the `level2` channel batched, and public
//! (`level2` needs authentication).
//!
//! Ordering and gaps: a ticker whose `sequence` is not newer than the last one
//! of its product is stale and dropped. A heartbeat naming a trade newer than
//! any ticker seen is a possible gap; if the next heartbeat still shows it,
//! tickers were lost, and the adapter resubscribes that product's ticker,
//! which makes Coinbase send a fresh one at once. Each ticker carries the
//! absolute 24 h figures, so one fresh message restores the whole quote.
//!
//! Order-book gaps: snapshots and updates carry no sequence number, so a
//! lost update can only be told by what the adapter can check. It keeps
//! each product's book itself, and takes the book as lost when an update
//! - is older (`time`) than the last one applied (out of order),
//! - leaves the book crossed, best bid at or above best ask (an update that
//!   took a level away was missed),
//! - or has a level it cannot read.
//!
//! It then tells the hub the book is lost (not shown as live) and
//! resubscribes that product's `level2_batch` (`unsubscribe`, then
//! `subscribe`), which Coinbase answers with a fresh snapshot. Updates for
//! a book without a snapshot (none yet, or lost) are ignored, and one is
//! asked for unless it is on its way. A book that fails again before any
//! update applied cleanly since its snapshot (one that stays crossed, as in
//! an auction) asks again only after a pause, so it cannot loop. Every new
//! connection starts with every product's book lost until its snapshot.
//!
//! History (https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproductcandles):
//! `GET https://api.exchange.coinbase.com/products/{product}/candles?granularity=S&start=…&end=…`
//! answers at most 300 bars, newest first, each `[time, low, high, open,
//! close, volume]` with `time` in Unix seconds; `start` and `end` (RFC 3339)
//! are both included. A longer span is asked in pages of 300. Public
//! endpoints allow 10 requests a second per IP.

use std::collections::HashMap;
use std::time::Duration;

use app::protocol::{Candle, Interval, Level, SymbolInfo, TradeSide, TradingDay};
use async_trait::async_trait;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::rest::{self, Collected, Plan, Rest, RestError};
use super::upstream::{Upstream, number, preview, rfc3339, rfc3339_ms};
use super::{Depth, DepthChange, Feed, FeedError, FeedOutput, History, Resume, Session, Tick};
use crate::book::OrderBook;
use crate::market::now_ms;

pub const DEFAULT_URL: &str = "wss://ws-feed.exchange.coinbase.com";
pub const DEFAULT_REST_URL: &str = "https://api.exchange.coinbase.com";
/// Bars one candles request answers at most.
const BARS_PER_REQUEST: i64 = 300;
/// The public endpoints' rate limit: 10 requests a second.
const REST_PACE: Duration = Duration::from_millis(100);
/// The order-book channel: `level2` batched, public.
const LEVEL2: &str = "level2_batch";
/// How long a book that failed again before any update applied since its
/// snapshot waits before it asks for another one (wall ms).
const RESYNC_BACKOFF_MS: i64 = 2_000;
/// How long an asked-for snapshot may take before it is asked for again.
const SNAPSHOT_WAIT_MS: i64 = 10_000;
pub const DEFAULT_PRODUCTS: &[&str] = &[
    "BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "DOGE-USD", "LTC-USD",
];

#[derive(Clone, Debug)]
pub struct CoinbaseConfig {
    pub url: String,
    pub products: Vec<String>,
    pub idle: Duration,
    /// The REST API history comes from.
    pub rest_url: String,
    /// Bars per interval a start fills (0: none).
    pub depth: usize,
}

pub struct Coinbase {
    config: CoinbaseConfig,
    rest: Rest,
    plan: Plan,
}

impl Coinbase {
    pub fn new(config: CoinbaseConfig) -> Coinbase {
        Coinbase {
            plan: Plan::new(config.depth),
            rest: Rest::new(REST_PACE),
            config,
        }
    }

    /// Every product's bars the plan asks for, up to `now`.
    async fn fill(&self, now: i64, bars: &mut Collected) -> Result<(), RestError> {
        for interval in rest::INTERVALS {
            for product in &self.config.products {
                if let Some(from) = self.plan.from(product, interval, now) {
                    self.candles(product, interval, from, now, bars).await?;
                }
            }
        }
        Ok(())
    }

    /// One product's bars of `interval` starting in `from..=to`, page by page.
    async fn candles(
        &self,
        product: &str,
        interval: Interval,
        from: i64,
        to: i64,
        bars: &mut Collected,
    ) -> Result<(), RestError> {
        let mut url = reqwest::Url::parse(&self.config.rest_url)
            .map_err(|e| RestError::Failed(format!("--coinbase-rest-url: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| RestError::Failed("--coinbase-rest-url cannot take a path".into()))?
            .pop_if_empty()
            .extend(["products", product, "candles"]);
        let granularity = interval.ms() / 1_000;
        let mut start = interval.bucket(from);
        while start <= to {
            let end = (start + (BARS_PER_REQUEST - 1) * interval.ms()).min(to);
            let query = [
                ("granularity", granularity.to_string()),
                ("start", rfc3339(start)),
                ("end", rfc3339(end)),
            ];
            let page = self.rest.get(url.as_str(), &query, &[]).await?;
            let rows = page.as_array().ok_or_else(|| {
                RestError::Failed(format!(
                    "candles: not a list: {}",
                    preview(&page.to_string())
                ))
            })?;
            for candle in rows.iter().filter_map(candle) {
                if (start..=end).contains(&candle.t) {
                    bars.add(product, interval, candle);
                }
            }
            start = end + interval.ms();
        }
        Ok(())
    }
}

/// One `[time, low, high, open, close, volume]` row.
fn candle(row: &Value) -> Option<Candle> {
    let row = row.as_array()?;
    let field = |i: usize| row.get(i).and_then(number);
    let seconds = row.first()?.as_i64()?;
    let (l, h, o, c, v) = (field(1)?, field(2)?, field(3)?, field(4)?, field(5)?);
    rest::bar(seconds.checked_mul(1_000)?, o, h, l, c, v)
}

/// What the adapter knows of one product's stream.
#[derive(Clone, Debug, Default)]
struct Product {
    sequence: u64,
    trade_id: u64,
    /// A trade id a heartbeat announced that no ticker has shown yet.
    suspect: Option<u64>,
}

/// One product's order book as the adapter follows it (see the module docs).
#[derive(Debug, Default)]
struct Level2 {
    book: OrderBook,
    /// The `time` of the newest update applied since the snapshot, in
    /// nanoseconds.
    last: Option<i64>,
    /// When the adapter last asked for a snapshot (wall ms).
    asked: Option<i64>,
    /// A snapshot was asked for and has not come yet.
    pending: bool,
    /// Times the book was lost since an update last applied cleanly.
    strikes: u32,
}

impl Level2 {
    /// Whether the adapter may ask for a snapshot at `now`.
    fn may_ask(&self, now: i64) -> bool {
        match self.asked {
            None => true,
            Some(at) if self.pending => now - at >= SNAPSHOT_WAIT_MS,
            // A book lost again before any update applied cleanly (one
            // that stays crossed) waits: no loop of snapshots.
            Some(at) => self.strikes == 0 || now - at >= RESYNC_BACKOFF_MS,
        }
    }

    fn ask(&mut self, now: i64) {
        self.asked = Some(now);
        self.pending = true;
    }
}

/// What one message means for the adapter.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    Tick(Tick),
    /// Resubscribe this product's ticker to recover from a gap.
    Recover(String),
    /// Order-book news: an event for the hub, and a product whose
    /// `level2_batch` to resubscribe for a fresh snapshot.
    Level2 {
        depth: Option<Depth>,
        resubscribe: Option<String>,
    },
    Subscribed,
    Nothing,
}

/// Per-connection state: the message handling, without any I/O.
#[derive(Default)]
pub(crate) struct Stream {
    products: HashMap<String, Product>,
    books: HashMap<String, Level2>,
}

impl Stream {
    /// A new connection's state, just after it subscribed to `products`'
    /// books at `now`: their snapshots are on their way.
    pub(crate) fn subscribed(products: &[String], now: i64) -> Stream {
        let mut stream = Stream::default();
        for product in products {
            stream.books.entry(product.clone()).or_default().ask(now);
        }
        stream
    }

    pub(crate) fn on_message(&mut self, text: &str) -> Result<Action, String> {
        self.on_message_at(text, now_ms())
    }

    /// A message received at `now` (wall ms).
    pub(crate) fn on_message_at(&mut self, text: &str, now: i64) -> Result<Action, String> {
        let msg: Value = serde_json::from_str(text)
            .map_err(|e| format!("unreadable message ({e}): {}", preview(text)))?;
        match msg.get("type").and_then(Value::as_str) {
            Some("ticker") => self.on_ticker(&msg),
            Some("heartbeat") => self.on_heartbeat(&msg),
            Some("snapshot") => self.on_snapshot(&msg, now),
            Some("l2update") => self.on_l2update(&msg, now),
            Some("subscriptions") => Ok(Action::Subscribed),
            Some("error") => {
                let reason = msg
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let message = msg
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                Err(format!("provider error: {message} {reason}")
                    .trim_end()
                    .to_string())
            }
            _ => Err(format!("unexpected message: {}", preview(text))),
        }
    }

    /// A whole book: replaces the product's.
    fn on_snapshot(&mut self, msg: &Value, now: i64) -> Result<Action, String> {
        let product_id = msg
            .get("product_id")
            .and_then(Value::as_str)
            .ok_or("snapshot without product_id")?;
        let book = self.books.entry(product_id.to_string()).or_default();
        book.pending = false;
        book.last = None;
        let side = |name: &str| msg.get(name).and_then(levels);
        let (Some(bids), Some(asks)) = (side("bids"), side("asks")) else {
            return Ok(self.lose(product_id, now, "unreadable snapshot level"));
        };
        book.book.snapshot(&bids, &asks);
        // Documented snapshots carry no time: the book is as of its
        // arrival, unless it says otherwise.
        let ts = msg
            .get("time")
            .and_then(Value::as_str)
            .and_then(rfc3339_ms)
            .unwrap_or(now);
        Ok(Action::Level2 {
            depth: Some(Depth {
                symbol: product_id.into(),
                ts,
                change: DepthChange::Snapshot { bids, asks },
            }),
            resubscribe: None,
        })
    }

    /// Levels changed: applied to the product's book once it is checked.
    fn on_l2update(&mut self, msg: &Value, now: i64) -> Result<Action, String> {
        let product_id = msg
            .get("product_id")
            .and_then(Value::as_str)
            .ok_or("l2update without product_id")?;
        let book = self.books.entry(product_id.to_string()).or_default();
        if !book.book.is_synced() {
            // Nothing to apply it to: ask for a snapshot, unless one is on
            // its way or was just asked for.
            if !book.may_ask(now) {
                return Ok(Action::Nothing);
            }
            book.ask(now);
            tracing::info!(
                feed = "coinbase",
                product = product_id,
                "order book without a snapshot; subscribing for one"
            );
            return Ok(Action::Level2 {
                depth: None,
                resubscribe: Some(product_id.to_string()),
            });
        }
        let Some(time) = msg.get("time").and_then(Value::as_str).and_then(rfc3339_ns) else {
            return Ok(self.lose(product_id, now, "l2update without a readable time"));
        };
        let Some((bids, asks)) = msg.get("changes").and_then(changes) else {
            return Ok(self.lose(product_id, now, "unreadable l2update level"));
        };
        if book.last.is_some_and(|last| time < last) {
            return Ok(self.lose(product_id, now, "l2update out of order"));
        }
        book.book.update(&bids, &asks);
        if book.book.top(1).crossed() {
            return Ok(self.lose(product_id, now, "crossed book: updates were lost"));
        }
        book.last = Some(time);
        book.strikes = 0;
        if bids.is_empty() && asks.is_empty() {
            return Ok(Action::Nothing);
        }
        Ok(Action::Level2 {
            depth: Some(Depth {
                symbol: product_id.into(),
                ts: time.div_euclid(1_000_000),
                change: DepthChange::Update { bids, asks },
            }),
            resubscribe: None,
        })
    }

    /// The product's book can no longer be trusted: the hub is told, and
    /// a fresh snapshot asked for (unless it must wait, see
    /// [`Level2::may_ask`]; the next update asks then).
    fn lose(&mut self, product_id: &str, now: i64, why: &str) -> Action {
        let book = self.books.entry(product_id.to_string()).or_default();
        let ask = book.may_ask(now);
        book.book.lose();
        book.last = None;
        book.strikes += 1;
        if ask {
            book.ask(now);
        }
        tracing::warn!(
            feed = "coinbase",
            product = product_id,
            resubscribing = ask,
            "order book lost: {why}"
        );
        Action::Level2 {
            depth: Some(Depth {
                symbol: product_id.into(),
                ts: now,
                change: DepthChange::Lost,
            }),
            resubscribe: ask.then(|| product_id.to_string()),
        }
    }

    fn on_ticker(&mut self, msg: &Value) -> Result<Action, String> {
        let field = |name: &str| msg.get(name).and_then(number);
        let product_id = msg
            .get("product_id")
            .and_then(Value::as_str)
            .ok_or("ticker without product_id")?;
        let price = field("price").ok_or("ticker without a price")?;
        let sequence = msg.get("sequence").and_then(Value::as_u64).unwrap_or(0);
        let ts = msg
            .get("time")
            .and_then(Value::as_str)
            .and_then(rfc3339_ms)
            .ok_or("ticker without a time")?;
        let product = self.products.entry(product_id.to_string()).or_default();
        if sequence != 0 && sequence <= product.sequence {
            return Ok(Action::Nothing); // stale or repeated
        }
        product.sequence = sequence;
        if let Some(trade_id) = msg.get("trade_id").and_then(Value::as_u64) {
            product.trade_id = product.trade_id.max(trade_id);
        }
        let open = field("open_24h");
        let tick = Tick {
            bid: field("best_bid"),
            ask: field("best_ask"),
            session: Session {
                prev_close: open,
                open,
                high: field("high_24h"),
                low: field("low_24h"),
                volume: field("volume_24h"),
            },
            // The taker's side: `buy`, a buyer took an offer.
            side: match msg.get("side").and_then(Value::as_str) {
                Some("buy") => Some(TradeSide::Buy),
                Some("sell") => Some(TradeSide::Sell),
                _ => None,
            },
            ..Tick::trade(product_id, price, field("last_size").unwrap_or(0.0), ts)
        };
        Ok(Action::Tick(tick))
    }

    fn on_heartbeat(&mut self, msg: &Value) -> Result<Action, String> {
        let product_id = msg
            .get("product_id")
            .and_then(Value::as_str)
            .ok_or("heartbeat without product_id")?;
        let Some(last_trade_id) = msg.get("last_trade_id").and_then(Value::as_u64) else {
            return Ok(Action::Nothing);
        };
        let product = self.products.entry(product_id.to_string()).or_default();
        if last_trade_id <= product.trade_id {
            product.suspect = None;
            return Ok(Action::Nothing);
        }
        // Seen twice in a row: the ticker for that trade is not just late.
        match product.suspect.replace(last_trade_id) {
            Some(earlier) if earlier <= last_trade_id => {
                product.suspect = None;
                tracing::warn!(
                    feed = "coinbase",
                    product = product_id,
                    seen = product.trade_id,
                    last_trade_id,
                    "ticker gap; resubscribing"
                );
                Ok(Action::Recover(product_id.to_string()))
            }
            _ => Ok(Action::Nothing),
        }
    }
}

/// `[[price, size], …]`, as a snapshot has them.
fn levels(rows: &Value) -> Option<Vec<Level>> {
    rows.as_array()?
        .iter()
        .map(|row| {
            let row = row.as_array()?;
            level(row.first()?, row.get(1)?)
        })
        .collect()
}

/// An update's `[[side, price, size], …]` as (bids, asks).
fn changes(rows: &Value) -> Option<(Vec<Level>, Vec<Level>)> {
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    for row in rows.as_array()? {
        let row = row.as_array()?;
        let level = level(row.get(1)?, row.get(2)?)?;
        match row.first()?.as_str()? {
            "buy" => bids.push(level),
            "sell" => asks.push(level),
            _ => return None,
        }
    }
    Some((bids, asks))
}

/// A level: a positive price and a size, 0 or more.
fn level(price: &Value, size: &Value) -> Option<Level> {
    let (price, size) = (number(price)?, number(size)?);
    (price > 0.0 && size >= 0.0).then_some((price, size))
}

/// An RFC 3339 time as Unix nanoseconds (updates' order is finer than a
/// millisecond).
fn rfc3339_ns(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
}

fn subscribe(kind: &str, products: &[String], channels: &[&str]) -> Value {
    json!({"type": kind, "product_ids": products, "channels": channels})
}

/// Unsubscribes and subscribes again one product's `channel`, which makes
/// Coinbase send its current state (a ticker, a book snapshot).
async fn resubscribe(ws: &mut Upstream, product: String, channel: &str) -> Result<(), FeedError> {
    let product = [product];
    ws.send_json(&subscribe("unsubscribe", &product, &[channel]))
        .await?;
    ws.send_json(&subscribe("subscribe", &product, &[channel]))
        .await
}

#[async_trait]
impl Feed for Coinbase {
    fn name(&self) -> &str {
        "coinbase"
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        self.config
            .products
            .iter()
            .map(|p| crypto_info(p))
            .collect()
    }

    fn resume(&mut self, from: &Resume) {
        self.plan.resume(from);
    }

    async fn history(&mut self, now_ms: i64) -> Vec<History> {
        let mut bars = Collected::default();
        let result = self.fill(now_ms, &mut bars).await;
        rest::finish("coinbase", &mut self.plan, now_ms, bars, result)
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        let mut ws = Upstream::connect("coinbase", &self.config.url, self.config.idle).await?;
        ws.send_json(&subscribe(
            "subscribe",
            &self.config.products,
            &["ticker", "heartbeat", LEVEL2],
        ))
        .await?;
        let mut stream = Stream::subscribed(&self.config.products, now_ms());
        // This connection's books start lost, which the hub is told once
        // it answers (before any snapshot): a connection that fails at
        // once does not make the feed look live.
        let mut told_lost = false;
        while let Some(text) = ws.next_text(&stop).await? {
            let action = stream.on_message(&text);
            if !told_lost && action.is_ok() {
                told_lost = true;
                for product in &self.config.products {
                    out.send_depth(Depth {
                        symbol: product.as_str().into(),
                        ts: now_ms(),
                        change: DepthChange::Lost,
                    })
                    .await?;
                }
            }
            match action {
                Ok(Action::Tick(tick)) => {
                    self.plan.saw(tick.ts);
                    out.send(tick).await?;
                }
                Ok(Action::Subscribed) => out.set_live(),
                Ok(Action::Recover(product)) => resubscribe(&mut ws, product, "ticker").await?,
                Ok(Action::Level2 {
                    depth,
                    resubscribe: product,
                }) => {
                    if let Some(depth) = depth {
                        out.send_depth(depth).await?;
                    }
                    if let Some(product) = product {
                        resubscribe(&mut ws, product, LEVEL2).await?;
                    }
                }
                Ok(Action::Nothing) => {}
                Err(why) if why.starts_with("provider error") => {
                    return Err(FeedError::Upstream(format!("coinbase: {why}")));
                }
                Err(why) => tracing::warn!(feed = "coinbase", "skipped: {why}"),
            }
        }
        Ok(())
    }
}

/// Display details for a product id like `BTC-USD`.
fn crypto_info(product: &str) -> SymbolInfo {
    let (base, quote) = product.split_once('-').unwrap_or((product, "USD"));
    let name = match base {
        "BTC" => "Bitcoin",
        "ETH" => "Ethereum",
        "SOL" => "Solana",
        "XRP" => "XRP",
        "DOGE" => "Dogecoin",
        "LTC" => "Litecoin",
        "ADA" => "Cardano",
        "AVAX" => "Avalanche",
        "LINK" => "Chainlink",
        "DOT" => "Polkadot",
        other => other,
    };
    SymbolInfo {
        trading_day: TradingDay::Utc,
        symbol: product.to_string(),
        name: format!("{name} / {quote}"),
        currency: quote.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticker(sequence: u64, trade_id: u64, price: &str) -> String {
        json!({
            "type": "ticker", "sequence": sequence, "product_id": "BTC-USD", "price": price,
            "open_24h": "100000.00", "volume_24h": "9756.916611", "low_24h": "99012.73", "high_24h": "102104.12",
            "volume_30d": "539862.627144", "best_bid": "99718.01", "best_bid_size": "0.02", "best_ask": "99728.83",
            "best_ask_size": "0.06", "side": "buy", "time": "2024-12-07T18:00:00.542551Z", "trade_id": trade_id,
            "last_size": "0.000261"
        })
        .to_string()
    }

    fn heartbeat(last_trade_id: u64) -> String {
        json!({"type": "heartbeat", "sequence": 1, "last_trade_id": last_trade_id, "product_id": "BTC-USD",
               "time": "2024-12-07T18:00:01.000000Z"})
        .to_string()
    }

    #[test]
    fn a_ticker_becomes_a_trade_with_book_and_24h_figures() {
        let mut stream = Stream::default();
        let Ok(Action::Tick(tick)) = stream.on_message(&ticker(10, 5, "99728.83")) else {
            panic!()
        };
        assert_eq!(tick.symbol.as_ref(), "BTC-USD");
        assert_eq!(
            (tick.price, tick.size, tick.ts),
            (99728.83, 0.000261, 1_733_594_400_542)
        );
        assert_eq!((tick.bid, tick.ask), (Some(99718.01), Some(99728.83)));
        assert_eq!(
            tick.session,
            Session {
                prev_close: Some(100000.0),
                open: Some(100000.0),
                high: Some(102104.12),
                low: Some(99012.73),
                volume: Some(9756.916611),
            }
        );
    }

    #[test]
    fn stale_tickers_are_dropped() {
        let mut stream = Stream::default();
        assert!(matches!(
            stream.on_message(&ticker(10, 5, "1")),
            Ok(Action::Tick(_))
        ));
        assert_eq!(stream.on_message(&ticker(10, 5, "2")), Ok(Action::Nothing));
        assert_eq!(stream.on_message(&ticker(9, 4, "3")), Ok(Action::Nothing));
        assert!(matches!(
            stream.on_message(&ticker(12, 6, "4")),
            Ok(Action::Tick(_))
        ));
    }

    #[test]
    fn a_gap_seen_on_two_heartbeats_triggers_recovery() {
        let mut stream = Stream::default();
        stream.on_message(&ticker(10, 5, "1")).unwrap();
        assert_eq!(
            stream.on_message(&heartbeat(5)),
            Ok(Action::Nothing),
            "in step"
        );
        assert_eq!(
            stream.on_message(&heartbeat(7)),
            Ok(Action::Nothing),
            "maybe just late"
        );
        stream.on_message(&ticker(11, 7, "2")).unwrap();
        assert_eq!(
            stream.on_message(&heartbeat(7)),
            Ok(Action::Nothing),
            "it was late"
        );
        assert_eq!(stream.on_message(&heartbeat(9)), Ok(Action::Nothing));
        assert_eq!(
            stream.on_message(&heartbeat(9)),
            Ok(Action::Recover("BTC-USD".into())),
            "lost"
        );
    }

    #[test]
    fn errors_and_garbage_are_told_apart() {
        let mut stream = Stream::default();
        let error = r#"{"type":"error","message":"Failed to subscribe","reason":"NOPE-USD is not a valid product"}"#;
        assert_eq!(
            stream.on_message(error),
            Err("provider error: Failed to subscribe NOPE-USD is not a valid product".into())
        );
        assert!(
            stream
                .on_message("{{{")
                .unwrap_err()
                .starts_with("unreadable message")
        );
        assert!(
            stream
                .on_message(r#"{"type":"ticker","product_id":"BTC-USD"}"#)
                .is_err()
        );
        assert_eq!(
            stream.on_message(r#"{"type":"subscriptions","channels":[]}"#),
            Ok(Action::Subscribed)
        );
    }

    #[test]
    fn the_tickers_side_is_the_takers() {
        let with_side = |side: Value| {
            let mut msg: Value = serde_json::from_str(&ticker(10, 5, "1")).unwrap();
            msg["side"] = side;
            let Ok(Action::Tick(tick)) = Stream::default().on_message(&msg.to_string()) else {
                panic!()
            };
            tick.side
        };
        assert_eq!(with_side(json!("buy")), Some(TradeSide::Buy));
        assert_eq!(with_side(json!("sell")), Some(TradeSide::Sell));
        assert_eq!(with_side(json!("sideways")), None);
        assert_eq!(with_side(Value::Null), None);
    }

    /// A wall-clock time for the level-2 tests (Unix ms).
    const NOW: i64 = 1_733_594_500_000;

    fn snapshot(bids: &[[&str; 2]], asks: &[[&str; 2]]) -> String {
        json!({"type": "snapshot", "product_id": "BTC-USD", "bids": bids, "asks": asks}).to_string()
    }

    fn l2update(time: &str, changes: Value) -> String {
        json!({"type": "l2update", "product_id": "BTC-USD", "time": time, "changes": changes})
            .to_string()
    }

    /// A stream holding a BTC-USD book: bids 99.50 / 99.00, asks 100.00 /
    /// 100.50.
    fn synced() -> Stream {
        let mut stream = Stream::subscribed(&["BTC-USD".into()], NOW);
        let got = stream.on_message_at(
            &snapshot(
                &[["99.50", "1.5"], ["99.00", "2"]],
                &[["100.00", "0.25"], ["100.50", "3.125"]],
            ),
            NOW + 100,
        );
        assert_eq!(
            got,
            Ok(Action::Level2 {
                depth: Some(Depth {
                    symbol: "BTC-USD".into(),
                    ts: NOW + 100,
                    change: DepthChange::Snapshot {
                        bids: vec![(99.5, 1.5), (99.0, 2.0)],
                        asks: vec![(100.0, 0.25), (100.5, 3.125)],
                    },
                }),
                resubscribe: None,
            })
        );
        stream
    }

    /// The book as the adapter holds it.
    fn held(stream: &Stream) -> crate::book::BookView {
        stream.books["BTC-USD"].book.top(50)
    }

    fn lost(resubscribe: bool, at: i64) -> Result<Action, String> {
        Ok(Action::Level2 {
            depth: Some(Depth {
                symbol: "BTC-USD".into(),
                ts: at,
                change: DepthChange::Lost,
            }),
            resubscribe: resubscribe.then(|| "BTC-USD".into()),
        })
    }

    #[test]
    fn an_update_sets_bids_and_asks_by_side_and_removes_zeros() {
        let mut stream = synced();
        let got = stream.on_message_at(
            &l2update(
                "2024-12-07T18:01:40.123456Z",
                json!([
                    ["buy", "99.75", "0.5"],
                    ["sell", "100.00", "0"],
                    ["buy", "99.00", "4.0"]
                ]),
            ),
            NOW + 200,
        );
        assert_eq!(
            got,
            Ok(Action::Level2 {
                depth: Some(Depth {
                    symbol: "BTC-USD".into(),
                    ts: 1_733_594_500_123,
                    change: DepthChange::Update {
                        bids: vec![(99.75, 0.5), (99.0, 4.0)],
                        asks: vec![(100.0, 0.0)],
                    },
                }),
                resubscribe: None,
            }),
            "ts is the update's time"
        );
        let view = held(&stream);
        assert_eq!(view.bids, [(99.75, 0.5), (99.5, 1.5), (99.0, 4.0)]);
        assert_eq!(view.asks, [(100.5, 3.125)]);
        // Same time again is not out of order; nothing changed, nothing sent.
        assert_eq!(
            stream.on_message_at(&l2update("2024-12-07T18:01:40.123456Z", json!([])), NOW),
            Ok(Action::Nothing)
        );
    }

    #[test]
    fn an_update_before_any_snapshot_is_ignored_and_asks_for_one() {
        let update = l2update("2024-12-07T18:01:40Z", json!([["buy", "99.75", "0.5"]]));
        // Not subscribed by this stream: ask for the book at once.
        let mut stream = Stream::default();
        assert_eq!(
            stream.on_message_at(&update, NOW),
            Ok(Action::Level2 {
                depth: None,
                resubscribe: Some("BTC-USD".into())
            })
        );
        assert_eq!(
            stream.on_message_at(&update, NOW + 50),
            Ok(Action::Nothing),
            "asked already"
        );
        // Subscribed: the snapshot is on its way, until it is overdue.
        let mut stream = Stream::subscribed(&["BTC-USD".into()], NOW);
        assert_eq!(stream.on_message_at(&update, NOW + 50), Ok(Action::Nothing));
        assert!(held(&stream).is_empty());
        assert_eq!(
            stream.on_message_at(&update, NOW + SNAPSHOT_WAIT_MS),
            Ok(Action::Level2 {
                depth: None,
                resubscribe: Some("BTC-USD".into())
            }),
            "the snapshot never came: asked again"
        );
    }

    #[test]
    fn an_update_older_than_the_last_is_a_gap() {
        let mut stream = synced();
        let newer = l2update(
            "2024-12-07T18:01:40.500001Z",
            json!([["buy", "99.10", "1"]]),
        );
        let older = l2update(
            "2024-12-07T18:01:40.500000Z",
            json!([["buy", "99.20", "1"]]),
        );
        assert!(matches!(
            stream.on_message_at(&newer, NOW),
            Ok(Action::Level2 {
                depth: Some(_),
                resubscribe: None
            })
        ));
        assert_eq!(stream.on_message_at(&older, NOW + 10), lost(true, NOW + 10));
        assert!(held(&stream).is_empty(), "nothing of it is kept");
        assert_eq!(
            stream.on_message_at(&newer, NOW + 20),
            Ok(Action::Nothing),
            "ignored until the snapshot"
        );
    }

    #[test]
    fn an_update_that_crosses_the_book_is_a_gap_and_is_not_forwarded() {
        let mut stream = synced();
        // A bid at the best ask: the update that took 100.00 away was lost.
        let crossing = l2update("2024-12-07T18:01:41Z", json!([["buy", "100.00", "0.1"]]));
        assert_eq!(stream.on_message_at(&crossing, NOW), lost(true, NOW));
        assert!(!stream.books["BTC-USD"].book.is_synced());
        // The fresh snapshot restores it.
        let fresh = snapshot(&[["100.00", "0.1"]], &[["100.25", "1"]]);
        assert!(matches!(
            stream.on_message_at(&fresh, NOW + 300),
            Ok(Action::Level2 {
                depth: Some(_),
                resubscribe: None
            })
        ));
        assert_eq!(held(&stream).bids, [(100.0, 0.1)]);
        assert_eq!(held(&stream).asks, [(100.25, 1.0)]);
    }

    #[test]
    fn unreadable_levels_lose_the_book_and_never_panic() {
        let bad = [
            json!([["buy", "not a price", "1"]]),
            json!([["buy", "99.1"]]),
            json!([["buy", "-99.1", "1"]]),
            json!([["buy", "99.1", "-1"]]),
            json!([["buy", "99.1", "NaN"]]),
            json!([["hold", "99.1", "1"]]),
            json!([[7, "99.1", "1"]]),
            json!(["buy", "99.1", "1"]),
            json!([[]]),
            json!({"buy": "99.1"}),
            json!("99.1"),
            Value::Null,
        ];
        for changes in bad {
            let mut stream = synced();
            let text = l2update("2024-12-07T18:01:41Z", changes.clone());
            assert_eq!(
                stream.on_message_at(&text, NOW),
                lost(true, NOW),
                "{changes}"
            );
        }
        // Without a readable time, order cannot be checked.
        for time in [json!("yesterday"), json!(17), Value::Null] {
            let mut stream = synced();
            let mut msg: Value = serde_json::from_str(&l2update("x", json!([]))).unwrap();
            msg["time"] = time.clone();
            assert_eq!(
                stream.on_message_at(&msg.to_string(), NOW),
                lost(true, NOW),
                "{time}"
            );
        }
        // A snapshot with a bad level is not applied.
        let mut stream = Stream::default();
        let text = snapshot(&[["99", "x"]], &[["100", "1"]]);
        assert_eq!(stream.on_message_at(&text, NOW), lost(true, NOW));
        assert!(held(&stream).is_empty());
        // Without a product, it is garbage: skipped, nothing to lose.
        assert!(
            stream
                .on_message_at(r#"{"type":"l2update","changes":[]}"#, NOW)
                .is_err()
        );
        assert!(
            stream
                .on_message_at(r#"{"type":"snapshot","bids":[],"asks":[]}"#, NOW)
                .is_err()
        );
    }

    #[test]
    fn a_book_that_fails_again_at_once_waits_before_asking_again() {
        let harmless = l2update("2024-12-07T18:01:40Z", json!([["buy", "99.10", "1"]]));
        let crossing = l2update("2024-12-07T18:01:41Z", json!([["buy", "100.00", "0.1"]]));
        let mut stream = synced();
        // A book that worked and then fails asks at once...
        stream.on_message_at(&harmless, NOW).unwrap();
        assert_eq!(stream.on_message_at(&crossing, NOW), lost(true, NOW));
        // ...but if the fresh one fails at its first update too (a book
        // that stays crossed, as in an auction), it waits: no loop.
        let fresh = snapshot(&[["99.50", "1"]], &[["100.00", "1"]]);
        stream.on_message_at(&fresh, NOW + 100).unwrap();
        assert_eq!(
            stream.on_message_at(&crossing, NOW + 150),
            lost(false, NOW + 150)
        );
        assert_eq!(
            stream.on_message_at(&harmless, NOW + 500),
            Ok(Action::Nothing)
        );
        assert_eq!(
            stream.on_message_at(&harmless, NOW + RESYNC_BACKOFF_MS),
            Ok(Action::Level2 {
                depth: None,
                resubscribe: Some("BTC-USD".into())
            }),
            "after the pause, the next update asks"
        );
    }

    #[test]
    fn products_get_readable_names() {
        assert_eq!(crypto_info("ETH-EUR").name, "Ethereum / EUR");
        assert_eq!(crypto_info("ETH-EUR").currency, "EUR");
        assert_eq!(crypto_info("FOO-USD").name, "FOO / USD");
    }
}
