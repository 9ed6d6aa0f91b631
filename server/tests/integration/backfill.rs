//! Provider history: each adapter against a local server speaking the
//! provider's documented REST format for bars — paging, HTTP 429 with
//! `Retry-After`, a 5xx mid-way, a plan without candles — and the span a
//! feed missed while it was down, filled exactly.

use std::collections::HashMap;

use app::protocol::{Candle, DAY_MS, Interval, TradingDay};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::provider::MockProvider;
use crate::common::rest::{Answer, MockRest, Seen};

const MIN: i64 = 60_000;

/// The provider's bar for the bucket starting at `t` (ms) of `step` ms:
/// different for every bucket and symbol, so a misplaced bar shows.
fn bar(symbol: &str, t: i64, step: i64) -> Candle {
    let k = (t / step).rem_euclid(97) as f64 + symbol.len() as f64;
    let o = 100.0 + k / 4.0;
    Candle {
        t,
        o,
        h: o + 0.5,
        l: o - 0.25,
        c: o + 0.25,
        v: 10 + (t / step).rem_euclid(7) as u64,
    }
}

fn seconds(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

/// `GET /products/{id}/candles` as Coinbase Exchange answers it: at most
/// 300 buckets from `start` to `end` (both included), newest first,
/// `[time, low, high, open, close, volume]`.
fn coinbase(path: &str, q: &HashMap<String, String>, _: &HeaderMap) -> Answer {
    let Some(product) = path
        .strip_prefix("/products/")
        .and_then(|p| p.strip_suffix("/candles"))
    else {
        return (404, json!({"message": "NotFound"}));
    };
    let granularity: i64 = q
        .get("granularity")
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    if ![60, 300, 900, 3_600, 21_600, 86_400].contains(&granularity) {
        return (400, json!({"message": "Unsupported granularity"}));
    }
    let step = granularity * 1_000;
    let (start, end) = (seconds(&q["start"]), seconds(&q["end"]));
    let first = (start + step - 1).div_euclid(step) * step;
    let last = end.div_euclid(step) * step;
    if (last - first) / step + 1 > 300 {
        return (
            400,
            json!({"message": "granularity too small for the requested time range. Count of aggregations requested exceeds 300"}),
        );
    }
    let rows: Vec<Value> = (0..=((last - first) / step))
        .rev()
        .map(|i| {
            let b = bar(product, first + i * step, step);
            json!([b.t / 1_000, b.l, b.h, b.o, b.c, b.v as f64])
        })
        .collect();
    (200, Value::Array(rows))
}

async fn candles(server: &TestServer, symbol: &str, interval: &str) -> Vec<Candle> {
    let body: Value = server
        .get(&format!(
            "/api/candles/{symbol}?interval={interval}&limit=5000"
        ))
        .await
        .json()
        .await
        .unwrap();
    serde_json::from_value(body).unwrap()
}

/// Every bucket of `step` from the one holding `from` through the one
/// holding `to`, as the mock serves them.
fn expected(symbol: &str, from: i64, to: i64, step: i64) -> Vec<Candle> {
    let first = from.div_euclid(step) * step;
    (0..=(to.div_euclid(step) * step - first) / step)
        .map(|i| bar(symbol, first + i * step, step))
        .collect()
}

fn minute_requests(seen: &[Seen], granularity: &str) -> Vec<(i64, i64)> {
    seen.iter()
        .filter(|s| {
            s.status == 200 && s.query.get("granularity").map(String::as_str) == Some(granularity)
        })
        .map(|s| (seconds(&s.query["start"]), seconds(&s.query["end"])))
        .collect()
}

#[tokio::test]
async fn coinbase_fills_every_interval_in_pages_through_429_and_a_5xx() {
    let rest = MockRest::start(coinbase).await;
    // The second request is rate limited, the fourth fails with a 503.
    rest.fault(1, 429, Some("1"));
    rest.fault(3, 503, None);
    let mut ws = MockProvider::start().await;
    let server = TestServer::start(&[
        "--feed",
        "coinbase",
        "--coinbase-url",
        &ws.url,
        "--coinbase-rest-url",
        &rest.url,
        "--coinbase-products",
        "BTC-USD",
        "--backfill-bars",
        "700",
    ])
    .await;
    // The stream is connected once the history is in.
    let _conn = ws.accept().await;
    let seen = rest.seen();
    let done = |s: &Seen| s.query.get("end").map(|e| seconds(e));
    let now = seen.iter().filter_map(done).max().unwrap();

    // 701 minutes in three pages (300, 300, 101), each asked once more
    // after its fault; nothing asked twice otherwise.
    let minutes = minute_requests(&seen, "60");
    assert_eq!(minutes.len(), 3, "{minutes:?}");
    assert_eq!(minutes[0].0, (now - 700 * MIN).div_euclid(MIN) * MIN);
    assert_eq!(minutes[1].0, minutes[0].1 + MIN, "pages join");
    assert_eq!(minutes[2].1, now);
    assert_eq!((seen[1].status, seen[2].status), (429, 200));
    assert_eq!(
        seen[1].query, seen[2].query,
        "the rate-limited page is asked again"
    );
    assert!(
        seen[2].at.duration_since(seen[1].at) >= std::time::Duration::from_millis(950),
        "Retry-After: 1 was waited"
    );
    assert_eq!((seen[3].status, seen[4].status), (503, 200));
    assert_eq!(seen[3].query, seen[4].query);
    assert!(seen.iter().all(|s| s.headers.contains_key("user-agent")));
    // At most 10 requests a second.
    for pair in seen.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= std::time::Duration::from_millis(95));
    }

    let start = now - 700 * MIN;
    assert_eq!(
        candles(&server, "BTC-USD", "1m").await,
        expected("BTC-USD", start, now, MIN)
    );
    assert_eq!(
        candles(&server, "BTC-USD", "1h").await,
        expected("BTC-USD", now - 700 * 60 * MIN, now, 60 * MIN)
    );
    assert_eq!(
        candles(&server, "BTC-USD", "1d").await,
        expected("BTC-USD", now - 700 * DAY_MS, now, DAY_MS),
        "daily bars are UTC days for crypto"
    );
    assert!(
        candles(&server, "BTC-USD", "1s").await.is_empty(),
        "providers have no 1 s bars"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn after_an_outage_coinbase_fills_exactly_the_missed_span() {
    let rest = MockRest::start(coinbase).await;
    let mut ws = MockProvider::start().await;
    let server = TestServer::start(&[
        "--feed",
        "coinbase",
        "--coinbase-url",
        &ws.url,
        "--coinbase-rest-url",
        &rest.url,
        "--coinbase-products",
        "BTC-USD",
        "--backfill-bars",
        "30",
        "--flush-ms",
        "20",
    ])
    .await;
    let mut conn = ws.accept().await;
    conn.recv().await;
    conn.send(json!({"type": "subscriptions", "channels": []}))
        .await;
    let at_start = rest.seen().len();
    let t0 = tickertape::now_ms();
    let time = chrono::DateTime::from_timestamp_millis(t0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    conn.send(
        json!({"type": "ticker", "sequence": 1, "product_id": "BTC-USD", "price": "50000.5",
                     "time": time, "trade_id": 1, "last_size": "0.5"}),
    )
    .await;
    crate::common::quotes_until(&server, "BTC-USD", |q| {
        q.first().is_some_and(|q| q.last == 50000.5)
    })
    .await;

    conn.drop_abruptly();
    let _again = ws.accept().await;
    let seen = rest.seen();
    let refill = &seen[at_start..];
    let asked = |granularity: &str| {
        let pages = minute_requests(refill, granularity);
        assert_eq!(pages.len(), 1, "one page for {granularity} s: {pages:?}");
        pages[0]
    };
    // From the bar before the one the last trade was in: it was open when
    // the feed stopped.
    for (granularity, step) in [
        ("60", MIN),
        ("300", 5 * MIN),
        ("3600", 60 * MIN),
        ("86400", DAY_MS),
    ] {
        let (from, _) = asked(granularity);
        assert_eq!(
            from,
            t0.div_euclid(step) * step - step,
            "{granularity} s bars"
        );
    }
    let (from, to) = asked("60");
    // The held bar of the last trade is replaced by the provider's, which
    // saw the whole minute.
    let got = candles(&server, "BTC-USD", "1m").await;
    let tail: Vec<Candle> = got.into_iter().filter(|c| c.t >= from).collect();
    assert_eq!(tail, expected("BTC-USD", from, to, MIN));
    server.shutdown().await;
}

/// `GET /v2/stocks/bars` as Alpaca answers it: bars of every symbol asked,
/// symbol by symbol, in pages (here of at most 500) chained by
/// `next_page_token`; the key and secret in headers.
fn alpaca(path: &str, q: &HashMap<String, String>, headers: &HeaderMap) -> Answer {
    if path != "/v2/stocks/bars" {
        return (404, json!({"message": "Not Found"}));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("APCA-API-KEY-ID") != Some("key") || header("APCA-API-SECRET-KEY") != Some("secret") {
        return (401, json!({"message": "unauthorized."}));
    }
    let step = match q["timeframe"].as_str() {
        "1Min" => MIN,
        "5Min" => 5 * MIN,
        "15Min" => 15 * MIN,
        "1Hour" => 60 * MIN,
        "1Day" => DAY_MS,
        _ => return (422, json!({"message": "invalid timeframe"})),
    };
    let (start, end) = (seconds(&q["start"]), seconds(&q["end"]));
    let mut all = Vec::new();
    for symbol in q["symbols"].split(',') {
        let mut t = if step == DAY_MS {
            TradingDay::NewYork.bucket(Interval::D1, start)
        } else {
            start.div_euclid(step) * step
        };
        while t <= end {
            if t >= start {
                all.push((symbol.to_string(), bar(symbol, t, step)));
            }
            t = if step == DAY_MS {
                TradingDay::NewYork.bucket(Interval::D1, t + 30 * 3_600_000)
            } else {
                t + step
            };
        }
    }
    let limit: usize = q["limit"].parse::<usize>().unwrap().min(500);
    let offset: usize = q
        .get("page_token")
        .map(|t| t.strip_prefix("page-").unwrap().parse().unwrap())
        .unwrap_or(0);
    let page = &all[offset..(offset + limit).min(all.len())];
    let mut bars: HashMap<String, Vec<Value>> = HashMap::new();
    for (symbol, b) in page {
        let t = chrono::DateTime::from_timestamp_millis(b.t)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        bars.entry(symbol.clone()).or_default().push(
            json!({"t": t, "o": b.o, "h": b.h, "l": b.l, "c": b.c, "v": b.v, "n": 12, "vw": b.o}),
        );
    }
    let next = (offset + limit < all.len()).then(|| format!("page-{}", offset + limit));
    (200, json!({"bars": bars, "next_page_token": next}))
}

#[tokio::test]
async fn alpaca_pages_by_token_with_the_stream_keys() {
    let rest = MockRest::start(alpaca).await;
    let mut ws = MockProvider::start().await;
    let server = TestServer::start(&[
        "--feed",
        "alpaca",
        "--alpaca-url",
        &format!("{}/v2/sip", ws.url),
        "--alpaca-rest-url",
        &rest.url,
        "--alpaca-key",
        "key",
        "--alpaca-secret",
        "secret",
        "--symbols",
        "AAPL,MSFT",
        "--backfill-bars",
        "700",
    ])
    .await;
    let _conn = ws.accept().await;
    let seen = rest.seen();
    assert!(seen.iter().all(|s| s.status == 200), "{seen:#?}");
    let minutes: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.query["timeframe"] == "1Min")
        .collect();
    // 2 × 701 bars in pages of 500: three requests, the later two with the
    // token the one before gave.
    assert_eq!(minutes.len(), 3);
    assert_eq!(minutes[0].query.get("page_token"), None);
    assert_eq!(minutes[1].query["page_token"], "page-500");
    assert_eq!(minutes[2].query["page_token"], "page-1000");
    assert_eq!(minutes[0].query["symbols"], "AAPL,MSFT");
    assert_eq!(minutes[0].query["feed"], "sip", "the stream's data feed");
    let now = seconds(&minutes[0].query["end"]);
    for symbol in ["AAPL", "MSFT"] {
        assert_eq!(
            candles(&server, symbol, "1m").await,
            expected(symbol, now - 700 * MIN, now, MIN)
        );
    }
    // Daily bars start at New York midnight, and are the trading days.
    let days = candles(&server, "AAPL", "1d").await;
    assert!(days.len() >= 699, "{}", days.len());
    for d in &days {
        assert_eq!(TradingDay::NewYork.bucket(Interval::D1, d.t), d.t);
        assert_eq!(*d, bar("AAPL", d.t, DAY_MS));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn finnhub_without_candles_in_the_plan_asks_once_and_streams_on() {
    let rest = MockRest::start(|path, q, _| {
        assert_eq!(path, "/stock/candle");
        assert_eq!(q["token"], "t0k");
        (
            403,
            json!({"error": "You don't have access to this resource."}),
        )
    })
    .await;
    let mut ws = MockProvider::start().await;
    let server = TestServer::start(&[
        "--feed",
        "finnhub",
        "--finnhub-url",
        &ws.url,
        "--finnhub-rest-url",
        &rest.url,
        "--finnhub-token",
        "t0k",
        "--symbols",
        "AAPL,MSFT",
        "--flush-ms",
        "20",
    ])
    .await;
    let mut conn = ws.accept().await;
    assert_eq!(rest.seen().len(), 1, "a refusal ends the fill");
    conn.recv().await;
    conn.recv().await;
    let t0 = tickertape::now_ms();
    conn.send(json!({"type": "trade", "data": [{"s": "AAPL", "p": 190.5, "t": t0, "v": 100}]}))
        .await;
    crate::common::quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 190.5)
    })
    .await;
    let bars = candles(&server, "AAPL", "1m").await;
    assert_eq!(
        bars,
        vec![Candle::open(t0.div_euclid(MIN) * MIN, 190.5, 100)]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn finnhub_candles_where_the_plan_allows() {
    let rest = MockRest::start(|_, q, _| {
        let step = match q["resolution"].as_str() {
            "1" => MIN,
            "5" => 5 * MIN,
            "15" => 15 * MIN,
            "60" => 60 * MIN,
            // Daily candles are stamped at midnight UTC of their date.
            "D" => DAY_MS,
            _ => return (422, json!({"s": "error"})),
        };
        let (from, to): (i64, i64) = (q["from"].parse().unwrap(), q["to"].parse().unwrap());
        let bars: Vec<Candle> = expected(&q["symbol"], from * 1_000, to * 1_000, step)
            .into_iter()
            .filter(|b| b.t >= from * 1_000)
            .collect();
        if bars.is_empty() {
            return (200, json!({"s": "no_data"}));
        }
        let col = |f: fn(&Candle) -> f64| bars.iter().map(f).collect::<Vec<_>>();
        (
            200,
            json!({"s": "ok", "t": bars.iter().map(|b| b.t / 1_000).collect::<Vec<_>>(),
                   "o": col(|b| b.o), "h": col(|b| b.h), "l": col(|b| b.l), "c": col(|b| b.c),
                   "v": col(|b| b.v as f64)}),
        )
    })
    .await;
    let mut ws = MockProvider::start().await;
    let server = TestServer::start(&[
        "--feed",
        "finnhub",
        "--finnhub-url",
        &ws.url,
        "--finnhub-rest-url",
        &rest.url,
        "--finnhub-token",
        "t0k",
        "--symbols",
        "AAPL",
        "--backfill-bars",
        "100",
    ])
    .await;
    let _conn = ws.accept().await;
    let seen = rest.seen();
    assert_eq!(seen.len(), 5, "one request per interval");
    let now: i64 = seen[0].query["to"].parse::<i64>().unwrap() * 1_000;
    let minutes = candles(&server, "AAPL", "1m").await;
    assert_eq!(minutes, expected("AAPL", now - 100 * MIN, now, MIN));
    assert_eq!(minutes.len(), 101, "from the bucket 100 minutes back");
    // A date's bar is that New York trading day's.
    let days = candles(&server, "AAPL", "1d").await;
    let last = days.last().unwrap();
    let date = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .date_naive()
    };
    let newest_utc_day = now.div_euclid(DAY_MS) * DAY_MS;
    assert_eq!(
        last.t,
        TradingDay::NewYork.bucket(Interval::D1, newest_utc_day + 12 * 3_600_000)
    );
    assert_eq!(date(last.t), date(newest_utc_day));
    assert_eq!(
        (last.o, last.v),
        (
            bar("AAPL", newest_utc_day, DAY_MS).o,
            bar("AAPL", newest_utc_day, DAY_MS).v
        )
    );
    server.shutdown().await;
}
