//! Each provider adapter against a local server speaking that provider's
//! documented wire format: subscriptions, exact quotes, pings and
//! heartbeats, garbage, abrupt drops with resubscription, and errors.

use crate::common::provider::MockProvider;
use crate::common::{OLD_EVENTS, TestServer, quotes_until, readyz_until, regular_ts};
use app::protocol::{FeedState, MarketSession, Quote, ServerMsg};
use serde_json::json;
use tokio_tungstenite::tungstenite::http::StatusCode;

fn quote(symbol: &str, last: f64, bid: f64, ask: f64) -> Quote {
    Quote {
        symbol: symbol.into(),
        last,
        bid,
        ask,
        open: 0.0,
        high: 0.0,
        low: 0.0,
        prev_close: 0.0,
        volume: 0,
        ts: 0,
        session: MarketSession::Regular,
        close: 0.0,
    }
}

/// `expected` with the session and close `got` has: for a US equity they
/// follow this server's clock (after the regular session the close is the
/// last regular price; within it, the previous close), checked here.
fn with_session(expected: Quote, got: &Quote, last_regular: f64) -> Quote {
    let close = if got.session == MarketSession::Regular {
        expected.prev_close
    } else {
        last_regular
    };
    assert_eq!(got.close, close, "{got:?}");
    Quote {
        session: got.session,
        close,
        ..expected
    }
}

/// Waits for `/readyz` to report this feed down with an error containing `text`.
async fn feed_error(server: &TestServer, feed: &str, text: &str) -> String {
    let body =
        readyz_until(server, |status, body| {
            status == 503
                && body["feeds"].as_array().into_iter().flatten().any(|f| {
                    f["name"] == feed && f["error"].as_str().is_some_and(|e| e.contains(text))
                })
        })
        .await;
    body.to_string()
}

async fn live(server: &TestServer) {
    readyz_until(server, |status, _| status == 200).await;
}

/// The real server on a Finnhub adapter pointed at `mock`.
async fn start_finnhub(
    mock: &MockProvider,
    token: &str,
    symbols: &str,
    extra: &[&str],
) -> TestServer {
    let args = [
        "--feed",
        "finnhub",
        // History: none (its own tests are in backfill.rs).
        "--backfill-bars",
        "0",
        "--finnhub-url",
        &mock.url,
        "--finnhub-token",
        token,
        "--symbols",
        symbols,
        OLD_EVENTS[0],
        OLD_EVENTS[1],
    ];
    TestServer::start(&[&args[..], extra].concat()).await
}

fn status_of(msg: ServerMsg) -> Option<FeedState> {
    match msg {
        ServerMsg::Status { state, .. } => Some(state),
        _ => None,
    }
}

#[tokio::test]
async fn finnhub_subscribes_ingests_trades_and_resubscribes_after_a_drop() {
    let mut mock = MockProvider::start().await;
    let server = start_finnhub(&mock, "s3cr3t", "AAPL,MSFT", &["--flush-ms", "20"]).await;
    let mut conn = mock.accept().await;
    assert_eq!(
        conn.uri, "/?token=s3cr3t",
        "the token goes in the query string"
    );
    assert_eq!(
        conn.recv().await,
        json!({"type": "subscribe", "symbol": "AAPL"})
    );
    assert_eq!(
        conn.recv().await,
        json!({"type": "subscribe", "symbol": "MSFT"})
    );
    live(&server).await;

    conn.send(json!({"type": "ping"})).await;
    conn.send_text("this is not JSON").await;
    conn.send_text(r#"{"type":"trade","data":[{"s":"AAPL"}]}"#)
        .await;
    // Trades stamped in a regular session of the last days (within --max-event-age).
    let t0 = regular_ts();
    conn.send(json!({"type": "trade", "data": [
        {"s": "AAPL", "p": 190.5, "t": t0, "v": 100, "c": ["1"]},
        {"s": "AAPL", "p": 191.25, "t": t0 + 500, "v": 50, "c": null}
    ]}))
    .await;
    let quotes = quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.volume == 150)
    })
    .await;
    let expected = Quote {
        open: 190.5,
        high: 191.25,
        low: 190.5,
        prev_close: 190.5,
        volume: 150,
        ts: t0 + 500,
        ..quote("AAPL", 191.25, 191.25, 191.25)
    };
    assert_eq!(
        quotes,
        vec![with_session(expected, &quotes[0], 191.25)],
        "bid = ask = last; prev close = first price; volume = sum"
    );

    // A client watching the feed's state through the drop.
    let mut client = server.connect().await;
    client
        .until(|m| status_of(m).filter(|s| *s == FeedState::Live))
        .await;
    conn.drop_abruptly();
    client
        .until(|m| status_of(m).filter(|s| *s == FeedState::Stale))
        .await;
    let mut again = mock.accept().await;
    assert_eq!(
        again.recv().await,
        json!({"type": "subscribe", "symbol": "AAPL"})
    );
    assert_eq!(
        again.recv().await,
        json!({"type": "subscribe", "symbol": "MSFT"})
    );
    client
        .until(|m| status_of(m).filter(|s| *s == FeedState::Live))
        .await;
    again
        .send(
            json!({"type": "trade", "data": [{"s": "MSFT", "p": 420.0, "t": t0 + 1_000, "v": 7}]}),
        )
        .await;
    let msft = quotes_until(&server, "MSFT", |q| !q.is_empty()).await;
    assert_eq!((msft[0].last, msft[0].volume), (420.0, 7));
    server.shutdown().await;
}

#[tokio::test]
async fn finnhub_auth_failure_is_reported() {
    let mock = MockProvider::start().await;
    mock.refuse_with(Some(StatusCode::UNAUTHORIZED)).await;
    let server = TestServer::start(&[
        "--feed",
        "finnhub",
        // History: none (its own tests are in backfill.rs).
        "--backfill-bars",
        "0",
        "--finnhub-url",
        &mock.url,
        "--finnhub-token",
        "wrong",
    ])
    .await;
    let body = feed_error(&server, "finnhub", "HTTP 401").await;
    assert!(body.contains("check the API token"), "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn coinbase_ticker_heartbeat_gap_recovery_and_errors() {
    let mut mock = MockProvider::start().await;
    let args = [
        "--feed",
        "coinbase",
        // History: none (its own tests are in backfill.rs).
        "--backfill-bars",
        "0",
        "--coinbase-url",
        &mock.url,
        "--coinbase-products",
        "BTC-USD,ETH-USD",
    ];
    let server = TestServer::start(&[&args[..], &["--flush-ms", "20"]].concat()).await;
    let mut conn = mock.accept().await;
    let subscribe = json!({"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channels": ["ticker", "heartbeat", "level2_batch"]});
    assert_eq!(conn.recv().await, subscribe);
    conn.send(json!({"type": "subscriptions", "channels": [{"name": "ticker", "product_ids": ["BTC-USD", "ETH-USD"]}]})).await;
    live(&server).await;

    let t0 = tickertape::now_ms();
    let time = rfc3339(t0, chrono::SecondsFormat::Micros);
    let ticker = |sequence: u64, trade_id: u64, price: &str, volume: &str| {
        json!({"type": "ticker", "sequence": sequence, "product_id": "BTC-USD", "price": price,
               "open_24h": "98000.00", "volume_24h": volume, "low_24h": "97000.50", "high_24h": "101000.25",
               "volume_30d": "540000", "best_bid": "99718.01", "best_bid_size": "0.5", "best_ask": "99728.83",
               "best_ask_size": "0.25", "side": "buy", "time": time,
               "trade_id": trade_id, "last_size": "0.0025"})
    };
    conn.send_text("{broken").await;
    conn.send(ticker(100, 5, "99728.83", "9756.6")).await;
    conn.send(ticker(99, 4, "1.00", "1")).await; // stale: older sequence
    let quotes = quotes_until(&server, "BTC-USD", |q| !q.is_empty()).await;
    let expected = Quote {
        open: 98000.0,
        high: 101000.25,
        low: 97000.5,
        prev_close: 98000.0,
        volume: 9757,
        ts: t0,
        close: 98000.0,
        ..quote("BTC-USD", 99728.83, 99718.01, 99728.83)
    };
    assert_eq!(
        quotes,
        vec![expected],
        "24 h figures and the book come from the ticker"
    );

    // Heartbeats announce trades no ticker showed: resubscribe that product.
    for _ in 0..2 {
        conn.send(json!({"type": "heartbeat", "sequence": 120, "last_trade_id": 9, "product_id": "BTC-USD",
                         "time": rfc3339(t0 + 2_000, chrono::SecondsFormat::Micros)}))
            .await;
    }
    assert_eq!(
        conn.recv().await,
        json!({"type": "unsubscribe", "product_ids": ["BTC-USD"], "channels": ["ticker"]})
    );
    assert_eq!(
        conn.recv().await,
        json!({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["ticker"]})
    );
    conn.send(ticker(130, 9, "99800.00", "9760.0")).await;
    quotes_until(&server, "BTC-USD", |q| {
        q.first()
            .is_some_and(|q| q.last == 99800.0 && q.volume == 9760)
    })
    .await;

    // A provider error fails the connection; the adapter comes back and subscribes again.
    conn.send(json!({"type": "error", "message": "Failed to subscribe", "reason": "FOO-USD is not a valid product"})).await;
    feed_error(&server, "coinbase", "FOO-USD is not a valid product").await;
    let mut again = mock.accept().await;
    assert_eq!(again.recv().await, subscribe);
    again.drop_abruptly();
    let mut third = mock.accept().await;
    assert_eq!(
        third.recv().await,
        subscribe,
        "resubscribes after an abrupt drop too"
    );
    server.shutdown().await;
}

/// Plays Alpaca's side of the handshake up to the subscription.
async fn alpaca_handshake(conn: &mut crate::common::provider::MockConn, symbols: &[&str]) {
    conn.send(json!([{"T": "success", "msg": "connected"}]))
        .await;
    assert_eq!(
        conn.recv().await,
        json!({"action": "auth", "key": "KEY", "secret": "SECRET"})
    );
    conn.send(json!([{"T": "success", "msg": "authenticated"}]))
        .await;
    assert_eq!(
        conn.recv().await,
        json!({"action": "subscribe", "trades": symbols, "quotes": symbols, "statuses": symbols})
    );
    conn.send(json!([{"T": "subscription", "trades": symbols, "quotes": symbols, "bars": []}]))
        .await;
}

fn alpaca_args(url: &str) -> Vec<String> {
    [
        "--feed",
        "alpaca",
        // History: none (its own tests are in backfill.rs).
        "--backfill-bars",
        "0",
        "--alpaca-url",
        url,
        "--alpaca-key",
        "KEY",
        "--alpaca-secret",
        "SECRET",
        "--symbols",
        "AAPL",
        OLD_EVENTS[0],
        OLD_EVENTS[1],
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test]
async fn alpaca_handshake_trades_and_quotes_then_reconnect() {
    let mut mock = MockProvider::start().await;
    let args = alpaca_args(&mock.url);
    let server = TestServer::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let mut conn = mock.accept().await;
    alpaca_handshake(&mut conn, &["AAPL"]).await;
    live(&server).await;

    let t0 = regular_ts();
    let at = |ms: i64| rfc3339(t0 + ms, chrono::SecondsFormat::Millis);
    conn.send(json!([
        {"T": "q", "S": "AAPL", "bx": "V", "bp": 189.9, "bs": 3, "ax": "V", "ap": 190.1, "as": 2, "c": ["R"], "z": "C",
         "t": at(100)},
        {"T": "t", "S": "AAPL", "i": 1, "x": "V", "p": 190.0, "s": 100, "c": ["@"], "z": "C", "t": at(200)}
    ]))
    .await;
    conn.send_text("[{\"T\":\"t\",\"S\":\"AAPL\"}, garbage")
        .await;
    conn.send(
        json!([{"T": "t", "S": "AAPL", "i": 2, "x": "V", "p": 190.05, "s": 10, "c": ["@"], "z": "C",
                      "t": at(300)}]),
    )
    .await;
    let quotes = quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.volume == 110)
    })
    .await;
    let expected = Quote {
        open: 190.0,
        high: 190.05,
        low: 190.0,
        prev_close: 190.0,
        volume: 110,
        ts: t0 + 300,
        ..quote("AAPL", 190.05, 189.9, 190.1)
    };
    assert_eq!(
        quotes,
        vec![with_session(expected, &quotes[0], 190.05)],
        "the book comes from quotes; trades keep it"
    );

    // A trading status halts the symbol; a resumption lifts it.
    conn.send(json!([{"T": "s", "S": "AAPL", "sc": "H", "sm": "Trading Halt", "rc": "T12",
                      "rm": "Trading Halted; For information requested by NASDAQ", "t": at(400), "z": "C"}]))
        .await;
    quotes_until(&server, "AAPL", |q| {
        q.first()
            .is_some_and(|q| q.session == MarketSession::Halted)
    })
    .await;
    conn.send(
        json!([{"T": "s", "S": "AAPL", "sc": "T", "sm": "Trading Resumption", "rc": "",
                      "rm": "", "t": at(500), "z": "C"}]),
    )
    .await;
    quotes_until(&server, "AAPL", |q| {
        q.first()
            .is_some_and(|q| q.session != MarketSession::Halted)
    })
    .await;

    conn.drop_abruptly();
    let mut again = mock.accept().await;
    alpaca_handshake(&mut again, &["AAPL"]).await;
    live(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn alpaca_auth_failure_and_connection_limit_are_reported() {
    let mut mock = MockProvider::start().await;
    let args = alpaca_args(&mock.url);
    let server = TestServer::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let mut conn = mock.accept().await;
    conn.send(json!([{"T": "success", "msg": "connected"}]))
        .await;
    conn.recv().await;
    conn.send(json!([{"T": "error", "code": 402, "msg": "auth failed"}]))
        .await;
    let body = feed_error(&server, "alpaca", "error 402").await;
    assert!(
        body.contains("check --alpaca-key and --alpaca-secret"),
        "{body}"
    );

    let mut conn = mock.accept().await;
    conn.send(json!([{"T": "error", "code": 406, "msg": "connection limit exceeded"}]))
        .await;
    let body = feed_error(&server, "alpaca", "error 406").await;
    assert!(
        body.contains("another connection uses these credentials"),
        "{body}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_provider_is_reconnected_after_the_feed_timeout() {
    let mut mock = MockProvider::start().await;
    let server = start_finnhub(&mock, "t", "AAPL", &["--feed-timeout", "1"]).await;
    let mut conn = mock.accept().await;
    conn.recv().await;
    // Say nothing: after a second the adapter gives up on this connection.
    feed_error(&server, "finnhub", "silent for 1s").await;
    let mut again = mock.accept().await;
    assert_eq!(
        again.recv().await,
        json!({"type": "subscribe", "symbol": "AAPL"})
    );
    drop(conn);
    server.shutdown().await;
}

#[tokio::test]
async fn several_feeds_serve_together_and_fail_alone() {
    let mut mock = MockProvider::start().await;
    let replay = format!("replay:{}/samples/us-open.csv", env!("CARGO_MANIFEST_DIR"));
    let args = [
        "--feed",
        &replay,
        "--replay-speed",
        "max",
        "--feed",
        "coinbase",
        // History: none (its own tests are in backfill.rs).
        "--backfill-bars",
        "0",
        "--coinbase-url",
        &mock.url,
        "--coinbase-products",
        "BTC-USD",
    ];
    let server = TestServer::start(&args).await;
    let symbols: Vec<app::protocol::SymbolInfo> =
        server.get("/api/symbols").await.json().await.unwrap();
    let names: Vec<&str> = symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(
        names,
        ["JPM", "MSFT", "TSLA", "AAPL", "NVDA", "BTC-USD"],
        "replay's symbols, then coinbase's"
    );
    assert_eq!(symbols[5].name, "Bitcoin / USD");

    let mut client = server.connect().await;
    let mut conn = mock.accept().await;
    conn.recv().await;
    conn.send(json!({"type": "subscriptions", "channels": []}))
        .await;
    client
        .until(|m| match m {
            ServerMsg::Status {
                feed,
                state: FeedState::Live,
            } if feed == "coinbase" => Some(()),
            _ => None,
        })
        .await;
    conn.drop_abruptly();
    client
        .until(|m| match m {
            ServerMsg::Status {
                feed,
                state: FeedState::Stale,
            } if feed == "coinbase" => Some(()),
            _ => None,
        })
        .await;
    assert_eq!(
        server.get("/readyz").await.status(),
        200,
        "one live feed keeps the node ready"
    );
    server.shutdown().await;
}

/// A Unix-millisecond time as providers write it (RFC 3339, UTC).
fn rfc3339(ms: i64, precision: chrono::SecondsFormat) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a representable time")
        .to_rfc3339_opts(precision, true)
}
