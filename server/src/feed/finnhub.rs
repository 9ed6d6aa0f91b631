//! Finnhub trades over WebSocket (`--feed finnhub`).
//!
//! Wire format (https://finnhub.io/docs/api/websocket-trades): connect to
//! `wss://ws.finnhub.io?token=…`, send `{"type":"subscribe","symbol":"AAPL"}`
//! per symbol, receive `{"type":"trade","data":[{"s","p","t","v","c"}]}` and
//! `{"type":"ping"}`. Every (re)connect subscribes again.
//!
//! History (https://finnhub.io/docs/api/stock-candles): `GET
//! https://finnhub.io/api/v1/stock/candle?symbol=AAPL&resolution=1&from=…&to=…&token=…`
//! (Unix seconds; resolutions 1, 5, 15, 60, D) answers
//! `{"s":"ok","t":[…],"o":[…],"h":[…],"l":[…],"c":[…],"v":[…]}` or
//! `{"s":"no_data"}`. Candles are not in every plan: without them the
//! answer is HTTP 403, logged once per fill, and charts start with live
//! trades.

use std::time::Duration;

use app::protocol::{Interval, SymbolInfo};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::rest::{self, Collected, Plan, Rest, RestError};
use super::upstream::{Upstream, preview, with_query};
use super::{Feed, FeedError, FeedOutput, History, Resume, Tick, equity_info};

pub const DEFAULT_URL: &str = "wss://ws.finnhub.io";
pub const DEFAULT_REST_URL: &str = "https://finnhub.io/api/v1";
/// 300 requests a minute (the plans with candles; the free plan has 60 and
/// no candles).
const REST_PACE: Duration = Duration::from_millis(200);
/// A daily bar's time is its date (at midnight UTC, or New York's); read at
/// noon UTC it falls in that date on either calendar.
const NOON_MS: i64 = 12 * 3_600_000;

/// How to reach Finnhub and what to ask it for.
#[derive(Clone, Debug)]
pub struct FinnhubConfig {
    pub url: String,
    pub token: String,
    pub symbols: Vec<String>,
    /// Silence after which the connection is considered dead.
    pub idle: Duration,
    /// The REST API history comes from.
    pub rest_url: String,
    /// Bars per interval a start fills (0: none).
    pub depth: usize,
}

pub struct Finnhub {
    config: FinnhubConfig,
    rest: Rest,
    plan: Plan,
}

impl Finnhub {
    pub fn new(config: FinnhubConfig) -> Finnhub {
        Finnhub {
            plan: Plan::new(config.depth),
            rest: Rest::new(REST_PACE),
            config,
        }
    }

    /// Every symbol's bars the plan asks for, up to `now`: one request per
    /// symbol and interval. A refusal (no candles in the plan) ends the fill.
    async fn fill(&self, now: i64, bars: &mut Collected) -> Result<(), RestError> {
        let url = format!(
            "{}/stock/candle",
            self.config.rest_url.trim_end_matches('/')
        );
        for interval in rest::INTERVALS {
            for symbol in &self.config.symbols {
                let Some(from) = self.plan.from(symbol, interval, now) else {
                    continue;
                };
                let query = [
                    ("symbol", symbol.clone()),
                    ("resolution", resolution(interval).to_string()),
                    ("from", interval.bucket(from).div_euclid(1_000).to_string()),
                    ("to", now.div_euclid(1_000).to_string()),
                    ("token", self.config.token.clone()),
                ];
                let answer = self.rest.get(&url, &query, &[]).await?;
                let candles: Candles = serde_json::from_value(answer)
                    .map_err(|e| RestError::Failed(format!("unreadable candles: {e}")))?;
                for candle in candles.bars(interval) {
                    bars.add(symbol, interval, candle);
                }
            }
        }
        Ok(())
    }
}

/// A `stock/candle` answer: parallel arrays, or `s: "no_data"`.
#[derive(Debug, Deserialize)]
struct Candles {
    s: String,
    #[serde(default)]
    t: Vec<i64>,
    #[serde(default)]
    o: Vec<f64>,
    #[serde(default)]
    h: Vec<f64>,
    #[serde(default)]
    l: Vec<f64>,
    #[serde(default)]
    c: Vec<f64>,
    #[serde(default)]
    v: Vec<f64>,
}

impl Candles {
    /// The bars, if the answer is `ok` (rows missing a field are skipped).
    fn bars(&self, interval: Interval) -> Vec<app::protocol::Candle> {
        if self.s != "ok" {
            return Vec::new();
        }
        let at = |i: usize| {
            let t = self.t.get(i)?.checked_mul(1_000)?;
            let t = if interval == Interval::D1 {
                t + NOON_MS
            } else {
                t
            };
            let (o, h, l, c, v) = (
                self.o.get(i)?,
                self.h.get(i)?,
                self.l.get(i)?,
                self.c.get(i)?,
                self.v.get(i)?,
            );
            rest::bar(t, *o, *h, *l, *c, *v)
        };
        (0..self.t.len()).filter_map(at).collect()
    }
}

/// Finnhub's name for an interval.
fn resolution(interval: Interval) -> &'static str {
    match interval {
        Interval::S1 | Interval::S5 | Interval::M1 => "1",
        Interval::M5 => "5",
        Interval::M15 => "15",
        Interval::H1 => "60",
        Interval::D1 => "D",
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Message {
    Trade { data: Vec<Trade> },
    Ping,
    Error { msg: String },
}

#[derive(Debug, Deserialize)]
struct Trade {
    s: String,
    p: f64,
    t: i64,
    v: f64,
}

/// Trades in one message, or a reason the message is unusable.
pub(crate) fn parse(text: &str) -> Result<Vec<Tick>, String> {
    match serde_json::from_str::<Message>(text) {
        Ok(Message::Trade { data }) => Ok(data
            .into_iter()
            .map(|d| Tick::trade(d.s, d.p, d.v, d.t))
            .collect()),
        Ok(Message::Ping) => Ok(Vec::new()),
        Ok(Message::Error { msg }) => Err(format!("provider error: {msg}")),
        Err(e) => Err(format!("unreadable message ({e}): {}", preview(text))),
    }
}

#[async_trait]
impl Feed for Finnhub {
    fn name(&self) -> &str {
        "finnhub"
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        self.config.symbols.iter().map(|s| equity_info(s)).collect()
    }

    fn resume(&mut self, from: &Resume) {
        self.plan.resume(from);
    }

    async fn history(&mut self, now_ms: i64) -> Vec<History> {
        let mut bars = Collected::default();
        let result = self.fill(now_ms, &mut bars).await;
        rest::finish("finnhub", &mut self.plan, now_ms, bars, result)
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        let url = with_query(&self.config.url, "token", &self.config.token);
        let mut ws = Upstream::connect("finnhub", &url, self.config.idle).await?;
        for symbol in &self.config.symbols {
            ws.send_json(&json!({"type": "subscribe", "symbol": symbol}))
                .await?;
        }
        out.set_live();
        while let Some(text) = ws.next_text(&stop).await? {
            match parse(&text) {
                Ok(ticks) => {
                    for tick in ticks {
                        self.plan.saw(tick.ts);
                        out.send(tick).await?;
                    }
                }
                Err(why) => tracing::warn!(feed = "finnhub", "skipped: {why}"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_pings_and_errors_parse() {
        let text = r#"{"data":[{"p":7296.89,"s":"BINANCE:BTCUSDT","t":1575526691134,"v":0.011467,"c":["1","12"]},
                      {"p":228.5,"s":"AAPL","t":1575526691200,"v":100,"c":null}],"type":"trade"}"#;
        let ticks = parse(text).unwrap();
        assert_eq!(
            ticks,
            vec![
                Tick::trade("BINANCE:BTCUSDT", 7296.89, 0.011467, 1575526691134),
                Tick::trade("AAPL", 228.5, 100.0, 1575526691200),
            ]
        );
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(vec![]));
        assert_eq!(
            parse(r#"{"type":"error","msg":"Invalid symbol"}"#),
            Err("provider error: Invalid symbol".into())
        );
        assert!(
            parse("not json")
                .unwrap_err()
                .starts_with("unreadable message")
        );
        assert!(parse(r#"{"type":"trade","data":[{"s":"AAPL"}]}"#).is_err());
    }
}
