//! Bars from a provider's REST API, for the adapters' [`Feed::history`]:
//! at start each interval is filled to a depth, after an outage exactly the
//! span the feed missed. The request and page format are each adapter's;
//! what they share lives here: a client that paces requests to the
//! provider's published rate limit, waits out HTTP 429 (honouring
//! `Retry-After`) and retries a 5xx or a broken connection with backoff, and
//! [`Plan`], which says what span to ask for.
//!
//! Providers have no 1 s or 5 s bars: those series start with the live feed.
//!
//! [`Feed::history`]: super::Feed::history

use std::collections::HashMap;
use std::time::Duration;

use app::protocol::{Candle, Interval};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::upstream::preview;
use super::{History, Resume};
use crate::backoff::Backoff;

/// The intervals providers serve bars for.
pub const INTERVALS: [Interval; 5] = [
    Interval::M1,
    Interval::M5,
    Interval::M15,
    Interval::H1,
    Interval::D1,
];

/// Bars per interval a start fills by default (`--backfill-bars`): what a
/// chart holds in memory.
pub const DEFAULT_DEPTH: usize = 1_200;

/// Tries per request before giving up (a 429, a 5xx or a broken connection
/// each use one).
const ATTEMPTS: u32 = 6;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest a `Retry-After` is waited.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why bars could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The provider refuses (HTTP 401 or 403): the key, or the plan, does
    /// not include this data. Asking again will not help.
    #[error("refused with HTTP {status}: {message}")]
    Refused { status: u16, message: String },
    /// Still failing after every retry, or an answer that cannot be read.
    #[error("{0}")]
    Failed(String),
}

/// An HTTP client for one provider's REST API.
pub struct Rest {
    client: reqwest::Client,
    /// Requests are at least this far apart (the provider's rate limit).
    pace: Duration,
    next: Mutex<Instant>,
    backoff: Backoff,
}

impl Rest {
    /// A client sending at most one request per `pace`.
    pub fn new(pace: Duration) -> Rest {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // Coinbase refuses requests without one.
            .user_agent(concat!("tickertape/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Rest {
            client,
            pace,
            next: Mutex::new(Instant::now()),
            backoff: Backoff {
                base: Duration::from_millis(500),
                max: Duration::from_secs(15),
                reset_after: Duration::ZERO,
            },
        }
    }

    /// GETs `url` with `query` and `headers` and reads the answer as JSON.
    pub async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&'static str, &str)],
    ) -> Result<Value, RestError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            self.wait_turn().await;
            let mut request = self.client.get(url).query(query);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let wait = match request.send().await {
                Err(e) => {
                    last = format!("request failed: {}", without_url(&e));
                    None
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    let body = response.text().await.unwrap_or_default();
                    match status {
                        s if s.is_success() => {
                            return serde_json::from_str(&body).map_err(|e| {
                                RestError::Failed(format!(
                                    "unreadable answer ({e}): {}",
                                    preview(&body)
                                ))
                            });
                        }
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(RestError::Refused {
                                status: status.as_u16(),
                                message: preview(&body),
                            });
                        }
                        StatusCode::TOO_MANY_REQUESTS => {
                            last = "HTTP 429 (rate limited)".into();
                            retry_after
                        }
                        s if s.is_server_error() => {
                            last = format!("HTTP {s}: {}", preview(&body));
                            None
                        }
                        s => {
                            return Err(RestError::Failed(format!("HTTP {s}: {}", preview(&body))));
                        }
                    }
                }
            };
            if attempt + 1 < ATTEMPTS {
                let delay = wait.unwrap_or_else(|| self.backoff.delay(attempt, &mut rand::rng()));
                tracing::debug!(url, error = %last, ?delay, "retrying a history request");
                tokio::time::sleep(delay).await;
            }
        }
        Err(RestError::Failed(format!(
            "{last} (gave up after {ATTEMPTS} tries)"
        )))
    }

    /// Waits until the rate limit allows the next request.
    async fn wait_turn(&self) {
        let mut next = self.next.lock().await;
        tokio::time::sleep_until(*next).await;
        *next = Instant::now() + self.pace;
    }
}

/// A `Retry-After` in seconds (the form these providers send), capped.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

/// A request error without its URL, which may hold a token.
fn without_url(error: &reqwest::Error) -> String {
    let mut error = error.to_string();
    if let Some(at) = error.find(" for url (") {
        error.truncate(at);
    }
    error
}

/// What span of bars the next fill asks for. A start fills each interval
/// to `depth` bars, or from where the history store left off; a later fill
/// (after the feed failed) from the last trade it saw, or the last fill if
/// none came since — exactly what was missed.
#[derive(Debug, Default)]
pub struct Plan {
    depth: usize,
    /// Each symbol's newest stored 1 m bar.
    stored: HashMap<String, i64>,
    /// The newest trade seen live.
    seen: Option<i64>,
    /// When the last fill asked for bars.
    filled: Option<i64>,
}

impl Plan {
    /// Fills `depth` bars per interval at start (0: none at all).
    pub fn new(depth: usize) -> Plan {
        Plan {
            depth,
            ..Plan::default()
        }
    }

    /// Where the history store left off.
    pub fn resume(&mut self, from: &Resume) {
        self.stored = from.newest_minute.clone();
    }

    /// A trade at `ts` arrived live.
    pub fn saw(&mut self, ts: i64) {
        self.seen = Some(self.seen.map_or(ts, |s| s.max(ts)));
    }

    /// The start of the bars to ask for, for `symbol` at `interval`, at
    /// `now`; `None` when there is nothing to fill. One bar before the
    /// known end is asked again: it was open when the feed stopped.
    pub fn from(&self, symbol: &str, interval: Interval, now: i64) -> Option<i64> {
        if self.depth == 0 {
            return None;
        }
        let depth = i64::try_from(self.depth).unwrap_or(i64::MAX);
        let deepest = now.saturating_sub(depth.saturating_mul(interval.ms()));
        let known = match (self.seen, self.filled) {
            (None, None) => self.stored.get(symbol).copied(),
            (seen, filled) => seen.max(filled),
        };
        let from = known.map_or(deepest, |k| {
            interval
                .bucket(k)
                .saturating_sub(interval.ms())
                .max(deepest)
        });
        (from < now).then_some(from)
    }

    /// A fill asked for bars up to `now`.
    pub fn filled(&mut self, now: i64) {
        self.filled = Some(now);
    }
}

/// Bars keyed by their start, oldest first and each once (pages can
/// overlap at their edges), as one [`History`] per symbol and interval.
#[derive(Default)]
pub struct Collected {
    bars: HashMap<(String, Interval), std::collections::BTreeMap<i64, Candle>>,
}

impl Collected {
    pub fn add(&mut self, symbol: &str, interval: Interval, candle: Candle) {
        self.bars
            .entry((symbol.to_string(), interval))
            .or_default()
            .insert(candle.t, candle);
    }

    pub fn into_history(self) -> Vec<History> {
        let mut out: Vec<History> = self
            .bars
            .into_iter()
            .map(|((symbol, interval), bars)| History {
                symbol: symbol.into(),
                interval,
                candles: bars.into_values().collect(),
            })
            .collect();
        out.sort_by(|a, b| (&a.symbol, a.interval).cmp(&(&b.symbol, b.interval)));
        out
    }
}

/// A bar from a provider's numbers, if they make one: finite, positive
/// prices with the high and low around the open and close, a volume that
/// is not negative.
pub fn bar(t: i64, o: f64, h: f64, l: f64, c: f64, volume: f64) -> Option<Candle> {
    let prices = [o, h, l, c];
    let sane = prices.iter().all(|p| p.is_finite() && *p > 0.0)
        && h >= o.max(c).max(l)
        && l <= o.min(c)
        && volume.is_finite()
        && volume >= 0.0;
    sane.then(|| Candle {
        t,
        o,
        h,
        l,
        c,
        v: volume.round() as u64,
    })
}

/// The end of a fill up to `now`: logs what it got and, if it stopped
/// early, why; the bars fetched before a failure are kept. The plan counts
/// the span as filled only if the fill completed.
pub fn finish(
    feed: &str,
    plan: &mut Plan,
    now: i64,
    bars: Collected,
    result: Result<(), RestError>,
) -> Vec<History> {
    let history = bars.into_history();
    let count: usize = history.iter().map(|h| h.candles.len()).sum();
    match result {
        Ok(()) => {
            plan.filled(now);
            if count > 0 {
                tracing::info!(feed, bars = count, series = history.len(), "history filled");
            }
        }
        Err(RestError::Refused { status, message }) => tracing::warn!(
            feed,
            status,
            message,
            "no history: the provider refused (the key or the plan does not include historical bars); charts start with live trades"
        ),
        Err(RestError::Failed(e)) => tracing::warn!(
            feed,
            error = %e,
            bars = count,
            "history request failed; keeping the bars fetched before it"
        ),
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_start_fills_to_depth_or_from_the_store() {
        let now = 1_000 * MIN + 30_000;
        let mut plan = Plan::new(100);
        assert_eq!(plan.from("A", Interval::M1, now), Some(now - 100 * MIN));
        plan.resume(&Resume {
            newest_minute: HashMap::from([("A".to_string(), 990 * MIN)]),
            ..Resume::default()
        });
        assert_eq!(plan.from("A", Interval::M1, now), Some(989 * MIN));
        assert_eq!(plan.from("B", Interval::M1, now), Some(now - 100 * MIN));
        // Stored too long ago: only to depth.
        plan.resume(&Resume {
            newest_minute: HashMap::from([("A".to_string(), 10 * MIN)]),
            ..Resume::default()
        });
        assert_eq!(plan.from("A", Interval::M1, now), Some(now - 100 * MIN));
        assert_eq!(Plan::new(0).from("A", Interval::M1, now), None);
    }

    #[test]
    fn after_an_outage_only_the_missed_span_is_asked() {
        let now = 1_000 * MIN;
        let mut plan = Plan::new(1_200);
        plan.filled(now);
        plan.saw(now + 5 * MIN + 10_000);
        plan.saw(now + 4 * MIN);
        let later = now + 20 * MIN;
        assert_eq!(plan.from("A", Interval::M1, later), Some(now + 4 * MIN));
        assert_eq!(
            plan.from("A", Interval::H1, later),
            Some(now - 60 * MIN - 40 * MIN)
        );
        // A second outage with no trade in between: from that fill.
        plan.filled(later);
        let again = later + 3 * MIN;
        assert_eq!(plan.from("A", Interval::M1, again), Some(later - MIN));
    }

    #[test]
    fn insane_bars_are_refused() {
        assert!(bar(0, 10.0, 11.0, 9.0, 10.5, 3.0).is_some());
        assert!(
            bar(0, 10.0, 9.5, 9.0, 10.5, 3.0).is_none(),
            "high below close"
        );
        assert!(
            bar(0, 10.0, 11.0, 10.2, 10.5, 3.0).is_none(),
            "low above open"
        );
        assert!(bar(0, f64::NAN, 11.0, 9.0, 10.5, 3.0).is_none());
        assert!(bar(0, 10.0, 11.0, 9.0, 10.5, -1.0).is_none());
        assert!(bar(0, 0.0, 0.0, 0.0, 0.0, 0.0).is_none());
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
