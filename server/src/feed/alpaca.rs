//! Alpaca market data v2 (`--feed alpaca`): US equity trades and quotes.
//!
//! Wire format (https://docs.alpaca.markets/docs/streaming-market-data):
//! connect to `wss://stream.data.alpaca.markets/v2/{iex|sip}`; every server
//! message is a JSON array of objects tagged by `T`. The handshake is
//! `[{"T":"success","msg":"connected"}]` → send
//! `{"action":"auth","key":…,"secret":…}` → `[{"T":"success","msg":"authenticated"}]`
//! → send `{"action":"subscribe","trades":[…],"quotes":[…]}` →
//! `[{"T":"subscription",…}]`. Then `{"T":"t",…}` trades and `{"T":"q",…}`
//! quotes. Errors are `{"T":"error","code":N,"msg":…}`.

use std::time::Duration;

use app::protocol::SymbolInfo;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::upstream::{Upstream, preview, rfc3339_ms};
use super::{Book, Feed, FeedError, FeedOutput, Tick, equity_info};

pub const DEFAULT_URL: &str = "wss://stream.data.alpaca.markets/v2/iex";

/// How long each handshake step may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct AlpacaConfig {
    pub url: String,
    pub key: String,
    pub secret: String,
    pub symbols: Vec<String>,
    pub idle: Duration,
}

pub struct Alpaca {
    config: AlpacaConfig,
}

impl Alpaca {
    pub fn new(config: AlpacaConfig) -> Alpaca {
        Alpaca { config }
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
    /// Bars, status messages and anything newer: not used.
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
        ws.send_json(&json!({"action": "subscribe", "trades": c.symbols, "quotes": c.symbols}))
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
                       {"T":"b","S":"AAPL","o":1,"h":1,"l":1,"c":1,"v":1,"t":"2024-05-01T14:30:00Z"}]"#;
        let msgs = parse(text).unwrap();
        assert!(
            matches!(&msgs[0], Message::Trade { symbol, p, s, .. } if symbol == "AAPL" && *p == 173.7 && *s == 100.0)
        );
        assert!(matches!(&msgs[1], Message::Quote { bp, ap, .. } if *bp == 173.5 && *ap == 173.8));
        assert!(matches!(&msgs[2], Message::Other));
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
