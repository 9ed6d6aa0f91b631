//! Coinbase Exchange, public market data (`--feed coinbase`; no key needed).
//!
//! Wire format (https://docs.cdp.coinbase.com/exchange/websocket-feed):
//! connect to `wss://ws-feed.exchange.coinbase.com`, send
//! `{"type":"subscribe","product_ids":[…],"channels":["ticker","heartbeat"]}`,
//! receive `subscriptions`, then per product `ticker` messages (last trade,
//! best bid/ask, 24 h open/high/low/volume, `sequence`, `trade_id`) and one
//! `heartbeat` a second (`sequence`, `last_trade_id`).
//!
//! Ordering and gaps: a ticker whose `sequence` is not newer than the last one
//! of its product is stale and dropped. A heartbeat naming a trade newer than
//! any ticker seen is a possible gap; if the next heartbeat still shows it,
//! tickers were lost, and the adapter resubscribes that product's ticker,
//! which makes Coinbase send a fresh one at once. Each ticker carries the
//! absolute 24 h figures, so one fresh message restores the whole quote.
//!
//! History (https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproductcandles):
//! `GET https://api.exchange.coinbase.com/products/{product}/candles?granularity=S&start=…&end=…`
//! answers at most 300 bars, newest first, each `[time, low, high, open,
//! close, volume]` with `time` in Unix seconds; `start` and `end` (RFC 3339)
//! are both included. A longer span is asked in pages of 300. Public
//! endpoints allow 10 requests a second per IP.

use std::collections::HashMap;
use std::time::Duration;

use app::protocol::{Candle, Interval, SymbolInfo, TradingDay};
use async_trait::async_trait;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::rest::{self, Collected, Plan, Rest, RestError};
use super::upstream::{Upstream, number, preview, rfc3339, rfc3339_ms};
use super::{Feed, FeedError, FeedOutput, History, Resume, Session, Tick};

pub const DEFAULT_URL: &str = "wss://ws-feed.exchange.coinbase.com";
pub const DEFAULT_REST_URL: &str = "https://api.exchange.coinbase.com";
/// Bars one candles request answers at most.
const BARS_PER_REQUEST: i64 = 300;
/// The public endpoints' rate limit: 10 requests a second.
const REST_PACE: Duration = Duration::from_millis(100);
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

/// What one message means for the adapter.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    Tick(Tick),
    /// Resubscribe this product's ticker to recover from a gap.
    Recover(String),
    Subscribed,
    Nothing,
}

/// Per-connection state: the message handling, without any I/O.
#[derive(Default)]
pub(crate) struct Stream {
    products: HashMap<String, Product>,
}

impl Stream {
    pub(crate) fn on_message(&mut self, text: &str) -> Result<Action, String> {
        let msg: Value = serde_json::from_str(text)
            .map_err(|e| format!("unreadable message ({e}): {}", preview(text)))?;
        match msg.get("type").and_then(Value::as_str) {
            Some("ticker") => self.on_ticker(&msg),
            Some("heartbeat") => self.on_heartbeat(&msg),
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

fn subscribe(kind: &str, products: &[String], channels: &[&str]) -> Value {
    json!({"type": kind, "product_ids": products, "channels": channels})
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
            &["ticker", "heartbeat"],
        ))
        .await?;
        let mut stream = Stream::default();
        while let Some(text) = ws.next_text(&stop).await? {
            match stream.on_message(&text) {
                Ok(Action::Tick(tick)) => {
                    self.plan.saw(tick.ts);
                    out.send(tick).await?;
                }
                Ok(Action::Subscribed) => out.set_live(),
                Ok(Action::Recover(product)) => {
                    let product = [product];
                    ws.send_json(&subscribe("unsubscribe", &product, &["ticker"]))
                        .await?;
                    ws.send_json(&subscribe("subscribe", &product, &["ticker"]))
                        .await?;
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
    fn products_get_readable_names() {
        assert_eq!(crypto_info("ETH-EUR").name, "Ethereum / EUR");
        assert_eq!(crypto_info("ETH-EUR").currency, "EUR");
        assert_eq!(crypto_info("FOO-USD").name, "FOO / USD");
    }
}
