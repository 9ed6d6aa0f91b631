//! Market time with the real server: the simulator on the US equities
//! calendar (`--sim-clock market`), its clock started just before Monday's
//! open on the first trading day after clocks went forward and run 7,200
//! times as fast as the wall clock (a simulated day in 12 s), across pre-market → regular → after hours → closed →
//! Tuesday's pre-market and open, with halts; what a client sees in quotes
//! and diffs, and the daily bars.

use std::collections::HashMap;
use std::time::Duration;

use app::protocol::{Candle, MarketSession, Quote, ServerMsg, TradingDay};
use chrono::DateTime;

use crate::common::TestServer;

/// Monday 9 March 2026 (daylight saving time began the day before), 09:29 in New York.
const START: &str = "2026-03-09T09:29:00-04:00";

fn ms(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn a_simulated_day_goes_through_every_session_and_rolls_over_at_the_open() {
    let server = TestServer::start(&[
        "--sim-clock",
        "market",
        "--sim-start",
        START,
        "--sim-speed",
        "7200",
        "--sim-halts",
        "--sim-symbols",
        "6",
        "--sim-rate",
        "20",
        "--flush-ms",
        "20",
        "--seed",
        "3",
    ])
    .await;
    let symbols: serde_json::Value = server.get("/api/symbols").await.json().await.unwrap();
    assert!(
        symbols
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["trading_day"] == "new_york"),
        "on market time the simulator's symbols follow the New York calendar"
    );

    let mut client = server.connect().await;
    let (_, snapshot) = client.subscribe(&["*"]).await;
    let mut quotes: HashMap<String, Quote> = snapshot
        .into_iter()
        .map(|q| (q.symbol.clone(), q))
        .collect();
    // Each symbol's sessions in the order diffs told them, and its quote
    // when Monday's regular session had just ended.
    let mut seen: HashMap<String, Vec<MarketSession>> = HashMap::new();
    let mut at_close: HashMap<String, Quote> = HashMap::new();
    let mut halts = 0;
    let tuesday_open = ms("2026-03-10T09:30:00-04:00");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the simulated day never reached Tuesday's open: {seen:?}"
        );
        let ServerMsg::Diff { changes, .. } = client.msg().await else {
            continue;
        };
        for change in changes {
            let quote = quotes.get_mut(&change.symbol).expect("a known symbol");
            quote.apply(&change);
            if change.session == Some(MarketSession::Halted) {
                halts += 1;
            }
            let sessions = seen.entry(change.symbol.clone()).or_default();
            if quote.session != MarketSession::Halted && sessions.last() != Some(&quote.session) {
                sessions.push(quote.session);
            }
            // The first quote after Monday's regular session ended.
            if matches!(quote.session, MarketSession::Post | MarketSession::Closed) {
                at_close
                    .entry(change.symbol.clone())
                    .or_insert_with(|| quote.clone());
            }
        }
        let done = quotes.values().all(|q| {
            q.session == MarketSession::Regular
                && TradingDay::NewYork.session_day(q.ts)
                    == TradingDay::NewYork.session_day(tuesday_open)
        });
        if done {
            break;
        }
    }
    use MarketSession::*;
    // In order; a batch may carry two changes at once on a busy machine
    // (after hours and closed, told one after the other within a flush),
    // so a session may be skipped in the diffs, never reordered.
    let day = [Regular, Post, Closed, Pre, Regular];
    for (symbol, sessions) in &seen {
        let from = sessions.iter().position(|s| *s == Regular).unwrap_or(0);
        let mut rest = day.iter();
        assert!(
            sessions[from..].iter().all(|s| rest.any(|d| d == s)),
            "{symbol}: the sessions out of order: {sessions:?}"
        );
        assert_eq!(sessions.last(), Some(&Regular), "{symbol}: {sessions:?}");
        assert!(sessions[from..].len() >= 4, "{symbol}: {sessions:?}");
    }
    assert!(halts > 0, "--sim-halts halted a symbol now and then");

    for (symbol, quote) in &quotes {
        let monday = &at_close[symbol];
        assert_eq!(
            quote.prev_close, monday.close,
            "{symbol}: Tuesday's previous close is Monday's regular close"
        );
        assert!(monday.close > 0.0);
        assert!(
            quote.volume < monday.volume || monday.volume == 0,
            "{symbol}: the volume started again"
        );
        // Monday's daily bar is its regular session: the figures the quote had at the close.
        let days: Vec<Candle> = server
            .get(&format!("/api/candles/{symbol}?interval=1d&limit=3"))
            .await
            .json()
            .await
            .unwrap();
        let monday_bar = days
            .iter()
            .find(|d| d.t == TradingDay::NewYork.bucket(app::protocol::Interval::D1, ms(START)))
            .expect("Monday's daily bar");
        assert_eq!(
            (monday_bar.o, monday_bar.h, monday_bar.l, monday_bar.c),
            (monday.open, monday.high, monday.low, monday.close),
            "{symbol}: the daily bar and the day's figures agree"
        );
    }
    server.shutdown().await;
}
