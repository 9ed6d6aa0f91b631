//! Push feeds (`--feed push:<name>`): trades other programs send, in any
//! language, to `POST /api/feeds/<name>/ticks` (see [`crate::push`]). The
//! feed serves the symbols `--symbols` declares; it is live while trades
//! come and stale after `--feed-timeout` of silence.

use std::sync::Arc;
use std::time::Duration;

use app::protocol::SymbolInfo;
use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ClockBounds, Feed, FeedError, FeedOutput, PushInlet, Skew, Tick};
use crate::market::Pushed;

/// Trades one request may carry at most.
pub const MAX_TICKS: usize = 10_000;
/// Requests waiting for the hub, per feed: beyond, a push is refused (429).
const QUEUE: usize = 64;

/// One pushed trade, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushedTrade {
    symbol: String,
    price: f64,
    #[serde(default)]
    size: Option<f64>,
    #[serde(default)]
    bid: Option<f64>,
    #[serde(default)]
    ask: Option<f64>,
    /// Unix milliseconds; the arrival time without.
    #[serde(default)]
    ts: Option<i64>,
}

/// Why a push was refused.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// A line (or item) that is not a usable trade: nothing was taken.
    Bad(String),
    /// More than [`MAX_TICKS`] trades.
    TooMany(usize),
    /// The hub is behind: try again shortly.
    Busy,
    /// The feed has stopped.
    Gone,
}

/// Reads `body` (a JSON array of trades, or one JSON object per line) and
/// hands every trade to the feed `inlet` leads to; all or none. `now`
/// stamps trades without a `ts`; a `ts` outside `bounds` is refused.
pub fn push(
    inlet: &PushInlet,
    body: &str,
    now: i64,
    bounds: ClockBounds,
) -> Result<usize, Refused> {
    let ticks = read(inlet, body, now, bounds)?;
    let n = ticks.len();
    if n == 0 {
        return Ok(0);
    }
    match inlet.tx.try_send(Pushed::trades(ticks)) {
        Ok(()) => Ok(n),
        Err(mpsc::error::TrySendError::Full(_)) => Err(Refused::Busy),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(Refused::Gone),
    }
}

/// The trades of `body` for the feed `inlet` leads to (see [`push`]).
pub fn read(
    inlet: &PushInlet,
    body: &str,
    now: i64,
    bounds: ClockBounds,
) -> Result<Vec<Tick>, Refused> {
    Reader { inlet, now, bounds }.parse(body)
}

/// Reads a push's trades for one feed.
struct Reader<'a> {
    inlet: &'a PushInlet,
    now: i64,
    bounds: ClockBounds,
}

impl Reader<'_> {
    fn parse(&self, body: &str) -> Result<Vec<Tick>, Refused> {
        let text = body.trim_start();
        let items: Vec<(String, Result<PushedTrade, String>)> = if text.starts_with('[') {
            let values: Vec<serde_json::Value> = serde_json::from_str(text)
                .map_err(|e| Refused::Bad(format!("malformed JSON array: {e}")))?;
            if values.len() > MAX_TICKS {
                return Err(Refused::TooMany(values.len()));
            }
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let trade = serde_json::from_value(v).map_err(|e| e.to_string());
                    (format!("item {}", i + 1), trade)
                })
                .collect()
        } else {
            let lines: Vec<(usize, &str)> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .collect();
            if lines.len() > MAX_TICKS {
                return Err(Refused::TooMany(lines.len()));
            }
            // Numbered as the body's lines (the leading blank ones trimmed).
            let skipped = body.lines().take_while(|l| l.trim().is_empty()).count();
            lines
                .into_iter()
                .map(|(n, l)| {
                    let trade = serde_json::from_str(l).map_err(|e| e.to_string());
                    (format!("line {}", n + skipped + 1), trade)
                })
                .collect()
        };
        items
            .into_iter()
            .map(|(at, trade)| {
                trade
                    .and_then(|t| self.tick(t))
                    .map_err(|why| Refused::Bad(format!("{at}: {why}")))
            })
            .collect()
    }

    fn tick(&self, t: PushedTrade) -> Result<Tick, String> {
        let (now, bounds) = (self.now, self.bounds);
        if !self.inlet.symbols.contains(&t.symbol) {
            return Err(format!(
                "unknown symbol {:?} (feed {} serves those --symbols names)",
                t.symbol, self.inlet.name
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(t.price) {
            return Err(format!("price must be a positive number, not {}", t.price));
        }
        let size = t.size.unwrap_or(0.0);
        if !(size.is_finite() && size >= 0.0) {
            return Err(format!("size must be a number of at least 0, not {size}"));
        }
        for (name, quote) in [("bid", t.bid), ("ask", t.ask)] {
            if let Some(v) = quote.filter(|v| !positive(*v)) {
                return Err(format!("{name} must be a positive number, not {v}"));
            }
        }
        let ts = t.ts.unwrap_or(now);
        if let Some(skew) = bounds.judge(ts, now) {
            let (how, by) = match skew {
                Skew::Future => ("ahead of", bounds.ahead),
                Skew::Old => ("behind", bounds.behind),
            };
            return Err(format!(
                "ts {ts} is more than {by:?} {how} the server's clock"
            ));
        }
        Ok(Tick {
            bid: t.bid,
            ask: t.ask,
            ..Tick::trade(t.symbol, t.price, size, ts)
        })
    }
}

/// The feed side: trades pushed to its [`PushInlet`], in order.
pub struct PushFeed {
    symbols: Vec<SymbolInfo>,
    inlet: PushInlet,
    rx: mpsc::Receiver<Pushed>,
    /// Silence this long makes the feed stale.
    idle: Duration,
}

impl PushFeed {
    /// A push feed called `name` serving `symbols`.
    pub fn new(name: &str, symbols: Vec<SymbolInfo>, idle: Duration) -> PushFeed {
        let (tx, rx) = mpsc::channel(QUEUE);
        let inlet = PushInlet {
            name: name.into(),
            symbols: Arc::new(symbols.iter().map(|s| s.symbol.clone()).collect()),
            tx,
        };
        PushFeed {
            symbols,
            inlet,
            rx,
            idle,
        }
    }
}

#[async_trait]
impl Feed for PushFeed {
    fn name(&self) -> &str {
        &self.inlet.name
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        self.symbols.clone()
    }

    fn inlet(&self) -> Option<PushInlet> {
        Some(self.inlet.clone())
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        // Nothing pushed yet: not live.
        out.set_stale();
        let mut live = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                pushed = tokio::time::timeout(self.idle, self.rx.recv()) => match pushed {
                    Ok(Some(pushed)) => {
                        live = true;
                        for tick in pushed.ticks {
                            out.send(tick).await?;
                        }
                        if let Some(synced) = pushed.then {
                            out.pass_sync(synced).await?;
                        }
                    }
                    Ok(None) => return Err(FeedError::HubGone),
                    Err(_) if live => {
                        live = false;
                        tracing::info!(feed = %self.inlet.name, idle = ?self.idle, "nothing pushed; stale");
                        out.set_stale();
                    }
                    Err(_) => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> PushFeed {
        let info = |s: &str| crate::feed::equity_info(s);
        PushFeed::new(
            "desk",
            vec![info("AAPL"), info("MSFT")],
            Duration::from_secs(5),
        )
    }

    const NOW: i64 = 1_795_000_000_000;

    #[test]
    fn arrays_and_lines_of_trades_are_read_with_their_defaults() {
        let feed = feed();
        let bounds = ClockBounds::default();
        let array = r#"[{"symbol":"AAPL","price":101.5,"size":10,"bid":101.4,"ask":101.6,"ts":1795000000000},{"symbol":"MSFT","price":400}]"#;
        let ticks = Reader {
            inlet: &feed.inlet,
            now: NOW + 1,
            bounds,
        }
        .parse(array)
        .unwrap();
        assert_eq!(ticks.len(), 2);
        assert_eq!(
            (ticks[0].price, ticks[0].size, ticks[0].bid, ticks[0].ts),
            (101.5, 10.0, Some(101.4), NOW)
        );
        assert_eq!(
            (ticks[1].size, ticks[1].bid, ticks[1].ts),
            (0.0, None, NOW + 1),
            "size 0, now"
        );
        let lines = "{\"symbol\":\"AAPL\",\"price\":1}\n\n{\"symbol\":\"MSFT\",\"price\":2}\n";
        assert_eq!(
            Reader {
                inlet: &feed.inlet,
                now: NOW,
                bounds
            }
            .parse(lines)
            .unwrap()
            .len(),
            2
        );
    }

    #[test]
    fn the_first_bad_line_is_named_and_nothing_is_taken() {
        let feed = feed();
        let bounds = ClockBounds::default();
        let bad = |body: &str| match push(&feed.inlet, body, NOW, bounds) {
            Err(Refused::Bad(why)) => why,
            other => panic!("{other:?}"),
        };
        let body = "{\"symbol\":\"AAPL\",\"price\":1}\n{\"symbol\":\"ZZZ\",\"price\":1}\n{\"symbol\":\"AAPL\",\"price\":-1}";
        assert!(
            bad(body).starts_with("line 2: unknown symbol \"ZZZ\""),
            "{}",
            bad(body)
        );
        assert!(
            bad(r#"[{"symbol":"AAPL","price":1},{"symbol":"AAPL","price":0}]"#)
                .starts_with("item 2: price must be a positive number")
        );
        assert!(
            bad(r#"{"symbol":"AAPL","price":1,"colour":"red"}"#).contains("unknown field `colour`")
        );
        assert!(bad(r#"{"symbol":"AAPL","price":1,"size":-2}"#).contains("size must be"));
        assert!(bad(r#"{"symbol":"AAPL","price":1,"ask":"x"}"#).starts_with("line 1:"));
        assert!(
            bad(&format!(
                r#"{{"symbol":"AAPL","price":1,"ts":{}}}"#,
                NOW + 60_000
            ))
            .contains("ahead of the server's clock")
        );
        assert!(bad("[1,").starts_with("malformed JSON array"));
        assert!(feed.rx.is_empty(), "no bad request was taken");
        let many: String = (0..=MAX_TICKS)
            .map(|_| "{\"symbol\":\"AAPL\",\"price\":1}\n")
            .collect();
        assert_eq!(
            push(&feed.inlet, &many, NOW, bounds),
            Err(Refused::TooMany(MAX_TICKS + 1))
        );
    }

    #[test]
    fn a_full_queue_refuses_until_the_feed_catches_up() {
        let feed = feed();
        let one = r#"{"symbol":"AAPL","price":1}"#;
        for _ in 0..QUEUE {
            assert_eq!(push(&feed.inlet, one, NOW, ClockBounds::default()), Ok(1));
        }
        assert_eq!(
            push(&feed.inlet, one, NOW, ClockBounds::default()),
            Err(Refused::Busy)
        );
    }
}
