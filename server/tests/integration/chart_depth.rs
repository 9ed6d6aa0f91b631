//! Several charts on one connection, the trades tape and the order book, as
//! a client sees them on the wire.

use std::time::Duration;

use app::protocol::{ServerMsg, Trade, TradeSide};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tickertape::feed::{Depth, DepthChange, Tick};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Client, ClientBook, TestServer, WAIT, tick};

/// The next text frame, as JSON (pings skipped).
async fn next_json(client: &mut Client) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, client.ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("readable");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

/// Reads until a frame of `kind` arrives.
async fn next_of(client: &mut Client, kind: &str) -> Value {
    loop {
        let frame = next_json(client).await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

fn depth(symbol: &str, change: DepthChange) -> Depth {
    Depth {
        symbol: symbol.into(),
        ts: tickertape::now_ms(),
        change,
    }
}

#[tokio::test]
async fn each_chart_gets_its_own_series_and_only_other_charts_are_named() {
    let (server, feed) = TestServer::scripted(&["--flush-ms", "20"], &["AAA", "BBB"]).await;
    feed.send(tick("AAA", 10.0, 1)).await.unwrap();
    feed.send(tick("BBB", 50.0, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut client = server.connect().await;
    client
        .send_json(json!({"op": "chart", "symbol": "AAA", "interval": "1m"}))
        .await;
    let first = next_of(&mut client, "candles").await;
    assert_eq!(first["symbol"], "AAA");
    assert!(
        first.get("chart").is_none(),
        "chart 0 is not named: {first}"
    );
    client
        .send_json(json!({"op": "chart", "symbol": "BBB", "interval": "5s", "chart": 2}))
        .await;
    let second = next_of(&mut client, "candles").await;
    assert_eq!(
        (&second["symbol"], &second["chart"]),
        (&json!("BBB"), &json!(2))
    );
    assert_eq!(second["interval"], "5s");

    feed.send(tick("AAA", 10.5, 1)).await.unwrap();
    feed.send(tick("BBB", 51.0, 1)).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let candle = next_of(&mut client, "candle").await;
        seen.push((candle["symbol"].clone(), candle.get("chart").cloned()));
    }
    seen.sort_by_key(|(s, _)| s.to_string());
    assert_eq!(
        seen,
        [(json!("AAA"), None), (json!("BBB"), Some(json!(2)))],
        "each series once, on its chart"
    );

    client
        .send_json(json!({"op": "chart", "symbol": "AAA", "chart": 4}))
        .await;
    let error = next_of(&mut client, "error").await;
    assert_eq!(error["code"], "bad_request");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("chart must be between 0 and 3")
    );

    // Chart 2 stops: only chart 0's bars come.
    client.send_json(json!({"op": "chart", "chart": 2})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    feed.send(tick("BBB", 52.0, 1)).await.unwrap();
    feed.send(tick("AAA", 11.0, 1)).await.unwrap();
    let candle = next_of(&mut client, "candle").await;
    assert_eq!(candle["symbol"], "AAA");
    server.shutdown().await;
}

fn trades(msg: ServerMsg) -> Option<Vec<Trade>> {
    match msg {
        ServerMsg::Trades {
            symbol,
            trades,
            chart: 0,
        } if symbol == "AAA" => Some(trades),
        _ => None,
    }
}

#[tokio::test]
async fn the_tape_starts_with_the_latest_trades_then_brings_each_new_one_in_order() {
    let (server, feed) = TestServer::scripted(&["--flush-ms", "20"], &["AAA", "BBB"]).await;
    let at = tickertape::now_ms();
    let trade = |price: f64, size: u64, offset: i64, side: Option<TradeSide>| Tick {
        ts: at + offset,
        side,
        ..tick("AAA", price, size)
    };
    for t in [
        trade(10.0, 100, 0, None),
        trade(10.5, 200, 1, None),
        trade(10.5, 300, 2, None),
        trade(10.25, 400, 3, None),
    ] {
        feed.send(t).await.unwrap();
    }
    feed.send(tick("BBB", 1.0, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut client = server.connect().await;
    client
        .send_json(json!({"op": "chart", "symbol": "AAA", "trades": true}))
        .await;
    let latest = client.until(trades).await;
    let seen: Vec<(f64, f64, Option<TradeSide>)> =
        latest.iter().map(|t| (t.p, t.s, t.side)).collect();
    // Sides by the tick test: the first has none, an unchanged price keeps
    // the last direction.
    assert_eq!(
        seen,
        [
            (10.0, 100.0, None),
            (10.5, 200.0, Some(TradeSide::Up)),
            (10.5, 300.0, Some(TradeSide::Up)),
            (10.25, 400.0, Some(TradeSide::Down)),
        ]
    );

    feed.send(trade(10.3, 7, 4, Some(TradeSide::Sell)))
        .await
        .unwrap();
    feed.send(trade(10.4, 8, 5, None)).await.unwrap();
    feed.send(tick("BBB", 2.0, 1)).await.unwrap();
    let mut new = Vec::new();
    while new.len() < 2 {
        new.extend(client.until(trades).await);
    }
    let seen: Vec<(f64, Option<TradeSide>)> = new.iter().map(|t| (t.p, t.side)).collect();
    assert_eq!(
        seen,
        [(10.3, Some(TradeSide::Sell)), (10.4, Some(TradeSide::Up))],
        "only the new trades, oldest first, the feed's side where it says"
    );
    assert!(new.windows(2).all(|w| w[0].t <= w[1].t));
    server.shutdown().await;
}

#[tokio::test]
async fn the_book_is_a_snapshot_then_changes_and_is_never_live_crossed_or_lost() {
    let (server, _feed, books) =
        TestServer::scripted_with_depth(&["--flush-ms", "20"], &["AAA", "BBB"]).await;
    let snapshot = DepthChange::Snapshot {
        bids: vec![(99.0, 1.0), (98.0, 2.0)],
        asks: vec![(101.0, 1.0), (102.0, 3.0)],
    };
    books.send(depth("AAA", snapshot)).await.unwrap();
    let mut client = server.connect().await;
    client
        .send_json(json!({"op": "chart", "symbol": "AAA", "book": true, "chart": 1}))
        .await;
    let mut book = ClientBook::default();
    let first = next_of(&mut client, "book").await;
    assert_eq!(
        (&first["snapshot"], &first["chart"]),
        (&json!(true), &json!(1))
    );
    book.apply(&first);
    assert_eq!(
        book,
        ClientBook {
            bids: vec![(99.0, 1.0), (98.0, 2.0)],
            asks: vec![(101.0, 1.0), (102.0, 3.0)],
            live: true,
        }
    );

    let update = DepthChange::Update {
        bids: vec![(99.0, 0.0), (100.0, 5.0)],
        asks: vec![(102.0, 4.0)],
    };
    books.send(depth("AAA", update)).await.unwrap();
    let diff = next_of(&mut client, "book").await;
    assert_eq!(diff["snapshot"], false);
    book.apply(&diff);
    let expected = ClientBook {
        bids: vec![(100.0, 5.0), (98.0, 2.0)],
        asks: vec![(101.0, 1.0), (102.0, 4.0)],
        live: true,
    };
    assert_eq!(book, expected);

    // A client arriving now starts from the same book.
    let mut late = server.connect().await;
    late.send_json(json!({"op": "chart", "symbol": "AAA", "book": true}))
        .await;
    let mut late_book = ClientBook::default();
    late_book.apply(&next_of(&mut late, "book").await);
    assert_eq!(late_book, expected);

    // A bid at the ask: updates were lost, the book is not live.
    let crossing = DepthChange::Update {
        bids: vec![(101.0, 1.0)],
        asks: vec![],
    };
    books.send(depth("AAA", crossing)).await.unwrap();
    book.apply(&next_of(&mut client, "book").await);
    assert!(!book.live, "crossed: {book:?}");
    // The feed lost track: nothing is shown as live until a new snapshot.
    books.send(depth("AAA", DepthChange::Lost)).await.unwrap();
    book.apply(&next_of(&mut client, "book").await);
    assert_eq!(book, ClientBook::default());
    let fresh = DepthChange::Snapshot {
        bids: vec![(100.5, 1.0)],
        asks: vec![(100.75, 1.0)],
    };
    books.send(depth("AAA", fresh)).await.unwrap();
    book.apply(&next_of(&mut client, "book").await);
    assert_eq!(
        book,
        ClientBook {
            bids: vec![(100.5, 1.0)],
            asks: vec![(100.75, 1.0)],
            live: true,
        }
    );
    server.shutdown().await;
}
