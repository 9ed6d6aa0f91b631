//! Finnhub trades over WebSocket (`--feed finnhub`).
//!
//! Wire format (https://finnhub.io/docs/api/websocket-trades): connect to
//! `wss://ws.finnhub.io?token=…`, send `{"type":"subscribe","symbol":"AAPL"}`
//! per symbol, receive `{"type":"trade","data":[{"s","p","t","v","c"}]}` and
//! `{"type":"ping"}`. Every (re)connect subscribes again.

use std::time::Duration;

use app::protocol::SymbolInfo;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::upstream::{Upstream, preview, with_query};
use super::{Feed, FeedError, FeedOutput, Tick, equity_info};

pub const DEFAULT_URL: &str = "wss://ws.finnhub.io";

/// How to reach Finnhub and what to ask it for.
#[derive(Clone, Debug)]
pub struct FinnhubConfig {
    pub url: String,
    pub token: String,
    pub symbols: Vec<String>,
    /// Silence after which the connection is considered dead.
    pub idle: Duration,
}

pub struct Finnhub {
    config: FinnhubConfig,
}

impl Finnhub {
    pub fn new(config: FinnhubConfig) -> Finnhub {
        Finnhub { config }
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
