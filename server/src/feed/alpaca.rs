//! Alpaca market data v2 (`--feed alpaca`): US equity trades and quotes.
//!
//! Wire format (https://docs.alpaca.markets/docs/streaming-market-data):
//! connect to `wss://stream.data.alpaca.markets/v2/{iex|sip}`; every server
//! message is a JSON array of objects tagged by `T`. The handshake is
//! `[{"T":"success","msg":"connected"}]` → send
//! `{"action":"auth","key":…,"secret":…}` → `[{"T":"success","msg":"authenticated"}]`
//! → send `{"action":"subscribe","trades":[…],"quotes":[…]}` →
//! `[{"T":"subscription",…}]`. Then `{"T":"t",…}` trades, `{"T":"q",…}`
//! quotes and `{"T":"s",…}` trading statuses (`sc`: a halt is `H`, `P` (a
//! volatility pause) or `2`; trading resumes with `T`, `Q` or `3`).
//! Errors are `{"T":"error","code":N,"msg":…}`.
//!
//! History (https://docs.alpaca.markets/reference/stockbars): `GET
//! https://data.alpaca.markets/v2/stocks/bars?symbols=A,B&timeframe=1Min&start=…&end=…&limit=10000&feed=iex&sort=asc`
//! with the same key and secret as headers (`APCA-API-KEY-ID`,
//! `APCA-API-SECRET-KEY`) answers `{"bars":{"A":[{"t","o","h","l","c","v",…}]},
//! "next_page_token":…}`; a token means more: ask again with `page_token`.
//! Daily bars start at midnight New York time. The free plan allows 200
//! requests a minute.

use std::time::Duration;

use app::protocol::{Interval, SymbolInfo};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::rest::{self, Collected, Plan, Rest, RestError};
use super::upstream::{Upstream, preview, rfc3339, rfc3339_ms};
use super::{Book, Feed, FeedError, FeedOutput, History, Resume, Tick, equity_info};

pub const DEFAULT_URL: &str = "wss://stream.data.alpaca.markets/v2/iex";
pub const DEFAULT_REST_URL: &str = "https://data.alpaca.markets";
/// Bars one page holds at most.
const PAGE_LIMIT: usize = 10_000;
/// The free plan's rate limit: 200 requests a minute.
const REST_PACE: Duration = Duration::from_millis(300);

/// How long each handshake step may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct AlpacaConfig {
    pub url: String,
    pub key: String,
    pub secret: String,
    pub symbols: Vec<String>,
    pub idle: Duration,
    /// The REST API history comes from.
    pub rest_url: String,
    /// Bars per interval a start fills (0: none).
    pub depth: usize,
}

pub struct Alpaca {
    config: AlpacaConfig,
    rest: Rest,
    plan: Plan,
}

impl Alpaca {
    pub fn new(config: AlpacaConfig) -> Alpaca {
        Alpaca {
            plan: Plan::new(config.depth),
            rest: Rest::new(REST_PACE),
            config,
        }
    }

    /// The bars the plan asks for, up to `now`: one paged request per
    /// interval for every symbol, from the earliest start any of them needs.
    async fn fill(&self, now: i64, bars: &mut Collected) -> Result<(), RestError> {
        let c = &self.config;
        let url = format!("{}/v2/stocks/bars", c.rest_url.trim_end_matches('/'));
        // The data feed the stream uses (…/v2/iex or …/v2/sip).
        let feed = if c.url.trim_end_matches('/').ends_with("sip") {
            "sip"
        } else {
            "iex"
        };
        let headers = [
            ("APCA-API-KEY-ID", c.key.as_str()),
            ("APCA-API-SECRET-KEY", c.secret.as_str()),
        ];
        for interval in rest::INTERVALS {
            let Some(from) = c
                .symbols
                .iter()
                .filter_map(|s| self.plan.from(s, interval, now))
                .min()
            else {
                continue;
            };
            let query = [
                ("symbols", c.symbols.join(",")),
                ("timeframe", timeframe(interval).to_string()),
                ("start", rfc3339(interval.bucket(from))),
                ("end", rfc3339(now)),
                ("limit", PAGE_LIMIT.to_string()),
                ("adjustment", "raw".to_string()),
                ("feed", feed.to_string()),
                ("sort", "asc".to_string()),
            ];
            let mut token: Option<String> = None;
            loop {
                let mut paged = query.to_vec();
                paged.extend(token.take().map(|t| ("page_token", t)));
                let page = self.rest.get(&url, &paged, &headers).await?;
                let page: BarsPage = serde_json::from_value(page)
                    .map_err(|e| RestError::Failed(format!("unreadable bars page: {e}")))?;
                for (symbol, list) in page.bars.unwrap_or_default() {
                    for b in list {
                        let candle =
                            rfc3339_ms(&b.t).and_then(|t| rest::bar(t, b.o, b.h, b.l, b.c, b.v));
                        if let Some(candle) = candle {
                            bars.add(&symbol, interval, candle);
                        }
                    }
                }
                match page.next_page_token {
                    Some(next) if !next.is_empty() => token = Some(next),
                    _ => break,
                }
            }
        }
        Ok(())
    }
}

/// One page of `GET /v2/stocks/bars`.
#[derive(Debug, Deserialize)]
struct BarsPage {
    bars: Option<std::collections::HashMap<String, Vec<RestBar>>>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RestBar {
    t: String,
    o: f64,
    h: f64,
    l: f64,
    c: f64,
    v: f64,
}

/// Alpaca's name for an interval.
fn timeframe(interval: Interval) -> &'static str {
    match interval {
        Interval::S1 | Interval::S5 | Interval::M1 => "1Min",
        Interval::M5 => "5Min",
        Interval::M15 => "15Min",
        Interval::H1 => "1Hour",
        Interval::D1 => "1Day",
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "T")]
pub(crate) enum Message {
    #[serde(rename = "success")]
    Success { msg: String },
    #[serde(rename = "error")]
    Error { code: u16, msg: String },
    #[serde(rename = "subscription")]
    Subscription {},
    #[serde(rename = "t")]
    Trade {
        #[serde(rename = "S")]
        symbol: String,
        p: f64,
        s: f64,
        t: String,
    },
    #[serde(rename = "q")]
    Quote {
        #[serde(rename = "S")]
        symbol: String,
        bp: f64,
        ap: f64,
        t: String,
    },
    #[serde(rename = "s")]
    Status {
        #[serde(rename = "S")]
        symbol: String,
        /// The status code.
        sc: String,
        t: String,
    },
    /// Bars, limit-up-limit-down bands and anything newer: not used.
    #[serde(other)]
    Other,
}

/// What an error code means for the user.
fn explain(code: u16, msg: &str) -> String {
    let hint = match code {
        401 => "not authenticated",
        402 => "authentication failed: check --alpaca-key and --alpaca-secret",
        403 => "already authenticated",
        404 => "authentication timed out",
        405 => "symbol limit exceeded for this subscription",
        406 => "connection limit exceeded: another connection uses these credentials",
        407 => "slow client: this server did not keep up",
        409 => "insufficient subscription for this feed (try the iex URL)",
        _ => "",
    };
    if hint.is_empty() {
        format!("error {code}: {msg}")
    } else {
        format!("error {code} ({msg}): {hint}")
    }
}

/// One server message: a JSON array of tagged objects.
pub(crate) fn parse(text: &str) -> Result<Vec<Message>, String> {
    serde_json::from_str(text).map_err(|e| format!("unreadable message ({e}): {}", preview(text)))
}

/// Waits for the handshake message `want` (`connected`, `authenticated` or a
/// subscription), failing on an error message.
async fn expect(
    ws: &mut Upstream,
    stop: &CancellationToken,
    want: &str,
) -> Result<bool, FeedError> {
    let fail = |why: String| FeedError::Upstream(format!("alpaca: {why}"));
    let step = async {
        while let Some(text) = ws.next_text(stop).await? {
            for msg in parse(&text).map_err(fail)? {
                match msg {
                    Message::Error { code, msg } => return Err(fail(explain(code, &msg))),
                    Message::Success { msg } if msg == want => return Ok(true),
                    Message::Subscription {} if want == "subscription" => return Ok(true),
                    _ => {}
                }
            }
        }
        Ok(false)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, step)
        .await
        .map_err(|_| fail(format!("no \"{want}\" within {HANDSHAKE_TIMEOUT:?}")))?
}

#[async_trait]
impl Feed for Alpaca {
    fn name(&self) -> &str {
        "alpaca"
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
        rest::finish("alpaca", &mut self.plan, now_ms, bars, result)
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        let c = &self.config;
        let mut ws = Upstream::connect("alpaca", &c.url, c.idle).await?;
        if !expect(&mut ws, &stop, "connected").await? {
            return Ok(());
        }
        ws.send_json(&json!({"action": "auth", "key": c.key, "secret": c.secret}))
            .await?;
        if !expect(&mut ws, &stop, "authenticated").await? {
            return Ok(());
        }
        ws.send_json(&json!({"action": "subscribe", "trades": c.symbols, "quotes": c.symbols, "statuses": c.symbols}))
            .await?;
        if !expect(&mut ws, &stop, "subscription").await? {
            return Ok(());
        }
        out.set_live();
        while let Some(text) = ws.next_text(&stop).await? {
            let messages = match parse(&text) {
                Ok(messages) => messages,
                Err(why) => {
                    tracing::warn!(feed = "alpaca", "skipped: {why}");
                    continue;
                }
            };
            for msg in messages {
                if let Message::Trade { t, .. } = &msg
                    && let Some(ts) = rfc3339_ms(t)
                {
                    self.plan.saw(ts);
                }
                forward(msg, out).await?;
            }
        }
        Ok(())
    }
}

/// Hands one streamed message to the hub.
async fn forward(msg: Message, out: &mut FeedOutput) -> Result<(), FeedError> {
    match msg {
        Message::Trade { symbol, p, s, t } => match rfc3339_ms(&t) {
            Some(ts) => out.send(Tick::trade(symbol, p, s, ts)).await?,
            None => tracing::warn!(feed = "alpaca", %t, "skipped a trade with an unreadable time"),
        },
        Message::Quote { symbol, bp, ap, t } => match rfc3339_ms(&t) {
            Some(ts) => {
                out.send_book(Book {
                    symbol: symbol.into(),
                    bid: bp,
                    ask: ap,
                    ts,
                })
                .await?
            }
            None => tracing::warn!(feed = "alpaca", %t, "skipped a quote with an unreadable time"),
        },
        Message::Status { symbol, sc, t } => {
            let halted = match sc.as_str() {
                "H" | "P" | "2" => true,
                "T" | "Q" | "3" => false,
                _ => return Ok(()), // imbalances, price indications, …
            };
            let ts = rfc3339_ms(&t).unwrap_or_else(crate::market::now_ms);
            out.send_halt(symbol.into(), halted, ts).await?;
        }
        Message::Error { code: 407, msg } => {
            tracing::warn!(feed = "alpaca", "{}", explain(407, &msg))
        }
        Message::Error { code, msg } => {
            return Err(FeedError::Upstream(format!(
                "alpaca: {}",
                explain(code, &msg)
            )));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_quotes_and_errors_parse() {
        let text = r#"[{"T":"t","S":"AAPL","i":52983525029461,"x":"V","p":173.7,"s":100,"c":["@"],"z":"C","t":"2024-05-01T14:30:00.123456789Z"},
                       {"T":"q","S":"AAPL","bx":"V","bp":173.5,"bs":1,"ax":"V","ap":173.8,"as":2,"c":["R"],"z":"C","t":"2024-05-01T14:30:00.2Z"},
                       {"T":"b","S":"AAPL","o":1,"h":1,"l":1,"c":1,"v":1,"t":"2024-05-01T14:30:00Z"},
                       {"T":"s","S":"AAPL","sc":"H","sm":"Trading Halt","rc":"T12","rm":"Trading Halted; For information requested by NASDAQ","t":"2024-05-01T14:31:00Z","z":"C"}]"#;
        let msgs = parse(text).unwrap();
        assert!(
            matches!(&msgs[0], Message::Trade { symbol, p, s, .. } if symbol == "AAPL" && *p == 173.7 && *s == 100.0)
        );
        assert!(matches!(&msgs[1], Message::Quote { bp, ap, .. } if *bp == 173.5 && *ap == 173.8));
        assert!(matches!(&msgs[2], Message::Other));
        assert!(matches!(&msgs[3], Message::Status { sc, .. } if sc == "H"));
        assert_eq!(
            rfc3339_ms("2024-05-01T14:30:00.123456789Z"),
            Some(1_714_573_800_123)
        );
        assert!(parse(r#"{"T":"t"}"#).is_err(), "messages come in arrays");
    }

    #[test]
    fn error_codes_are_explained() {
        assert_eq!(
            explain(402, "auth failed"),
            "error 402 (auth failed): authentication failed: check --alpaca-key and --alpaca-secret"
        );
        assert!(
            explain(406, "connection limit exceeded")
                .contains("another connection uses these credentials")
        );
        assert_eq!(explain(500, "internal error"), "error 500: internal error");
    }
}
