//! Price history: `/api/candles` and the `chart` / `candles` / `candle` messages.

use std::time::Duration;

use crate::common::{Read, TestServer, tick};
use app::protocol::{Candle, ErrorCode, Interval, QuotesResponse, ServerMsg};
use serde_json::json;
use tickertape::candles::{CAPACITY, MAX_LIMIT};

async fn candles(server: &TestServer, query: &str) -> (u16, serde_json::Value) {
    let response = server.get(&format!("/api/candles/{query}")).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn bars(value: serde_json::Value) -> Vec<Candle> {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn the_simulator_backfills_history_that_joins_the_live_price() {
    let server = TestServer::start(&["--seed", "8"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = candles(&server, &format!("AAPL?interval=1m&limit={CAPACITY}")).await;
    assert_eq!(status, 200);
    let minutes = bars(body);
    assert!(minutes.len() >= 1_000, "{} minute bars", minutes.len());
    assert!(
        minutes.windows(2).all(|w| w[1].t - w[0].t == 60_000),
        "oldest first, gapless"
    );
    let now = tickertape::now_ms();
    assert!(
        now - minutes[0].t >= 2 * 3_600_000,
        "at least two hours back"
    );
    let newest_minute = minutes.last().unwrap().t;
    assert!(
        Interval::M1.bucket(now) - newest_minute <= 60_000,
        "history reaches the current minute"
    );

    // The 5-minute bars agree with the 1-minute ones they cover.
    let fives = bars(candles(&server, "AAPL?interval=5m&limit=30").await.1);
    let rolled = tickertape::candles::aggregate(&minutes, Interval::M5);
    let full = &fives[1..fives.len() - 1]; // the edges may be cut by the limits or still open
    for bar in full {
        let same = rolled.iter().find(|r| r.t == bar.t).expect("covered");
        assert_eq!((same.o, same.h, same.l), (bar.o, bar.h, bar.l), "{}", bar.t);
    }

    // No jump: the newest bar's close is the live price.
    let quotes: QuotesResponse = server
        .get("/api/quotes?symbols=AAPL")
        .await
        .json()
        .await
        .unwrap();
    let newest = bars(candles(&server, "AAPL?interval=1s&limit=1").await.1)[0];
    let last = quotes.quotes[0].last;
    assert!(
        (newest.c - last).abs() / last < 0.002,
        "history ends at {}, live at {last}",
        newest.c
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_chart_scrolled_back_pages_through_history_without_gaps_or_repeats() {
    let server = TestServer::start(&["--seed", "8"]).await;
    let newest = bars(candles(&server, "AAPL?interval=1m&limit=300").await.1);
    // Page left from the oldest bar held, as the chart does, until nothing is older.
    let mut pages = vec![newest.clone()];
    loop {
        let oldest = pages.last().unwrap()[0].t;
        let (status, body) = candles(
            &server,
            &format!("AAPL?interval=1m&limit=300&before={oldest}"),
        )
        .await;
        assert_eq!(status, 200);
        let page = bars(body);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 300);
        assert!(
            page.last().unwrap().t < oldest,
            "strictly older than {oldest}"
        );
        pages.push(page);
    }
    let walked: Vec<Candle> = pages.into_iter().rev().flatten().collect();
    assert!(
        walked.windows(2).all(|w| w[1].t - w[0].t == 60_000),
        "every minute once, oldest first"
    );
    // The same bars the server holds: all but the newest are settled (a new
    // minute meanwhile may also have pushed the oldest out of a full series).
    let all = bars(
        candles(&server, &format!("AAPL?interval=1m&limit={CAPACITY}"))
            .await
            .1,
    );
    let open = newest.last().unwrap().t;
    let settled: Vec<&Candle> = walked.iter().filter(|b| b.t < open).collect();
    let held: Vec<&Candle> = all.iter().filter(|b| b.t < open).collect();
    let common = settled.iter().filter(|b| held.contains(b)).count();
    assert!(
        common + 1 >= settled.len() && common + 1 >= held.len(),
        "{common} bars in common of {} walked and {} held",
        settled.len(),
        held.len()
    );
    // Before the newest bar: the same page as without `before`, one bar older.
    let last = newest.last().unwrap().t;
    let shifted = bars(
        candles(
            &server,
            &format!("AAPL?interval=1m&limit=300&before={last}"),
        )
        .await
        .1,
    );
    assert_eq!(shifted.last().unwrap().t, last - 60_000);
    assert_eq!(shifted.len(), 300);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let server = TestServer::start(&[]).await;
    let cases = [
        ("AAPL?interval=2m", 400, "unknown interval \"2m\""),
        ("AAPL?limit=0", 400, "limit must be"),
        ("AAPL?limit=abc", 400, "limit must be"),
        (
            &format!("AAPL?limit={}", MAX_LIMIT + 1),
            400,
            "limit must be",
        ),
        ("NOPE?interval=1m", 404, "unknown symbol: NOPE"),
        ("AAPL?before=yesterday", 400, "before must be"),
        ("AAPL?before=1.5", 400, "before must be"),
    ];
    for (query, status, message) in cases {
        let (got, body) = candles(&server, query).await;
        assert_eq!(got, status, "{query}");
        assert!(
            body["error"].as_str().unwrap().contains(message),
            "{query}: {body}"
        );
    }
    let (status, body) = candles(&server, "MSFT?limit=7").await;
    assert_eq!(status, 200);
    let seven = bars(body);
    assert_eq!(seven.len(), 7);
    assert!(
        seven.windows(2).all(|w| w[1].t - w[0].t == 60_000),
        "default interval is 1m"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_chart_gets_history_then_exact_live_candles_for_its_symbol_only() {
    let (server, feed) = TestServer::scripted(&["--flush-ms", "20"], &["AAA", "BBB"]).await;
    let mut client = server.connect().await;
    let base = Interval::M1.bucket(tickertape::now_ms());
    let mut t = tick("AAA", 10.0, 100);
    t.ts = base + 1_000;
    feed.send(t).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    client
        .send_json(json!({"op": "chart", "symbol": "AAA", "interval": "1m", "limit": 10}))
        .await;
    let history = client
        .until(|m| match m {
            ServerMsg::Candles {
                symbol,
                interval,
                candles,
                chart: 0,
            } => Some((symbol, interval, candles)),
            _ => None,
        })
        .await;
    assert_eq!((history.0.as_str(), history.1), ("AAA", Interval::M1));
    assert_eq!(history.2, vec![Candle::open(base, 10.0, 100)]);

    for (symbol, price, size, offset) in [
        ("BBB", 50.0, 1, 2_000),
        ("AAA", 10.5, 20, 3_000),
        ("AAA", 9.75, 5, 4_000),
    ] {
        let mut t = tick(symbol, price, size);
        t.ts = base + offset;
        feed.send(t).await.unwrap();
    }
    let mut last = None;
    while let Ok(read) = tokio::time::timeout(Duration::from_millis(400), client.read()).await {
        match read {
            Read::Msg(ServerMsg::Candle {
                symbol,
                interval,
                candle,
                chart: 0,
            }) => {
                assert_eq!(
                    (symbol.as_str(), interval),
                    ("AAA", Interval::M1),
                    "only the charted series"
                );
                last = Some(candle);
            }
            Read::Msg(ServerMsg::Diff { .. } | ServerMsg::Snapshot { .. }) => {
                panic!("no quotes without a subscribe")
            }
            Read::Msg(_) => {}
            Read::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }
    assert_eq!(
        last,
        Some(Candle {
            t: base,
            o: 10.0,
            h: 10.5,
            l: 9.75,
            c: 9.75,
            v: 125
        })
    );

    // Stop charting: nothing more arrives.
    client.send_json(json!({"op": "chart"})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut t = tick("AAA", 11.0, 1);
    t.ts = base + 5_000;
    feed.send(t).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), client.read()).await;
    assert!(quiet.is_err(), "unexpected {quiet:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn chart_requests_are_validated() {
    let server = TestServer::start(&[]).await;
    let mut client = server.connect().await;
    let error = |m| match m {
        ServerMsg::Error { code, message } => Some((code, message)),
        _ => None,
    };
    client
        .send_json(json!({"op": "chart", "symbol": "NOPE"}))
        .await;
    assert_eq!(
        client.until(error).await,
        (ErrorCode::UnknownSymbol, "unknown symbol: NOPE".into())
    );
    client
        .send_json(json!({"op": "chart", "symbol": "AAPL", "interval": "7m"}))
        .await;
    let (code, message) = client.until(error).await;
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(message.contains("bad \"chart\" message"), "{message}");
    client
        .send_json(json!({"op": "chart", "symbol": "AAPL", "limit": 0}))
        .await;
    let (code, message) = client.until(error).await;
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(message.contains("limit must be between 1 and"), "{message}");
    // Defaults: 1m and 500 bars.
    client
        .send_json(json!({"op": "chart", "symbol": "AAPL"}))
        .await;
    let (interval, n) = client
        .until(|m| match m {
            ServerMsg::Candles {
                interval, candles, ..
            } => Some((interval, candles.len())),
            _ => None,
        })
        .await;
    assert_eq!((interval, n), (Interval::M1, 500));
    server.shutdown().await;
}

#[tokio::test]
async fn a_subscribed_client_gets_diffs_and_candles_side_by_side() {
    let server = TestServer::start(&["--seed", "2", "--tick-ms", "20", "--flush-ms", "50"]).await;
    let mut client = server.connect().await;
    client.subscribe(&["*"]).await;
    client
        .send_json(json!({"op": "chart", "symbol": "TSLA", "interval": "1s"}))
        .await;
    let mut candles = Vec::new();
    let mut diffs = 0;
    while candles.len() < 20 {
        match client.msg().await {
            ServerMsg::Candle {
                symbol,
                interval,
                candle,
                chart: 0,
            } => {
                assert_eq!((symbol.as_str(), interval), ("TSLA", Interval::S1));
                candles.push(candle);
            }
            ServerMsg::Diff { .. } => diffs += 1,
            _ => {}
        }
    }
    assert!(diffs > 5);
    assert!(
        candles.windows(2).all(|w| w[1].t >= w[0].t),
        "never backwards"
    );
    assert!(candles.last().unwrap().t > candles[0].t, "new bars appear");
    server.shutdown().await;
}
