//! The control API: a test makes the market do exactly what it asserts.

use app::protocol::{FeedState, MarketSession, Quote, ServerMsg};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Client, TestServer, WAIT, config};

const TOKEN: &str = "drive-it";

/// A paused simulator on a fixed seed, driven by the control API.
fn paused(seed: &str) -> Vec<&str> {
    vec![
        "--control-token",
        TOKEN,
        "--sim-paused",
        "--seed",
        seed,
        "--symbols",
        "AAPL,MSFT,NVDA",
        "--flush-ms",
        "20",
    ]
}

async fn control(server: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn control_get(server: &TestServer) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(server.url("/api/control"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET");
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn quotes(server: &TestServer) -> Vec<Quote> {
    let body: Value = server.get("/api/quotes").await.json().await.unwrap();
    serde_json::from_value(body["quotes"].clone()).unwrap()
}

/// What the walk makes of a quote: last, bid and ask. (The day's other
/// figures come from history made up back from the start time; see
/// `with_a_fixed_clock_start_the_whole_quote_repeats_whenever_a_server_starts`.)
fn prices(quotes: &[Quote]) -> Vec<(String, f64, f64, f64)> {
    quotes
        .iter()
        .map(|q| (q.symbol.clone(), q.last, q.bid, q.ask))
        .collect()
}

/// Quotes once every symbol has its opening trade.
async fn opened(server: &TestServer) -> Vec<Quote> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let quotes = quotes(server).await;
        if quotes.len() == 3 {
            return quotes;
        }
        assert!(tokio::time::Instant::now() < deadline, "no opening quotes");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_control_api_is_off_without_its_token_and_refuses_other_tokens() {
    let off = TestServer::start(&["--flush-ms", "20"]).await;
    assert_eq!(
        off.get("/api/control").await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = control(&off, "/api/control/sim/pause", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    off.shutdown().await;

    // The viewers' token is not the control token, and the other way round.
    let on = TestServer::start(&["--control-token", TOKEN, "--auth-token", "viewer"]).await;
    let post = |token: Option<&str>| {
        let mut request = reqwest::Client::new().post(on.url("/api/control/sim/pause"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some("viewer"), Some("drive-it-not")] {
        let response = post(token).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("--control-token"));
    }
    assert_eq!(post(Some(TOKEN)).await.unwrap().status(), StatusCode::OK);
    let viewer = reqwest::Client::new()
        .get(on.url("/api/quotes"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), StatusCode::UNAUTHORIZED);
    on.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_and_the_same_steps_give_the_same_quotes() {
    let (a, b) = (
        TestServer::start(&paused("7")).await,
        TestServer::start(&paused("7")).await,
    );
    let other = TestServer::start(&paused("8")).await;
    let opening = opened(&a).await;
    assert_eq!(prices(&opening), prices(&opened(&b).await));

    // Paused: nothing moves on its own.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(prices(&quotes(&a).await), prices(&opening));
    let (_, state) = control_get(&a).await;
    assert_eq!(state["sim"], json!({"paused": true, "steps": 0}));

    // Answered once published: the quotes read right after show the steps.
    for server in [&a, &b, &other] {
        opened(server).await;
        let (status, body) = control(server, "/api/control/sim/step", json!({"ticks": 40})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"paused": true, "steps": 40}));
    }
    let stepped = quotes(&a).await;
    assert_eq!(prices(&stepped), prices(&quotes(&b).await));
    assert_ne!(prices(&stepped), prices(&opening), "40 steps move prices");
    assert_ne!(
        prices(&stepped),
        prices(&quotes(&other).await),
        "another seed walks elsewhere"
    );

    // Bad steps are refused and take none.
    for body in [
        json!({"ticks": 0}),
        json!({"ticks": 10_001}),
        json!({"tick": 1}),
    ] {
        let (status, answer) = control(&a, "/api/control/sim/step", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
    assert_eq!(prices(&quotes(&a).await), prices(&stepped));

    // Resumed, it walks on its own again.
    let (_, body) = control(&a, "/api/control/sim/resume", json!({})).await;
    assert_eq!(body["paused"], json!(false));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_ne!(prices(&quotes(&a).await), prices(&stepped));
    for server in [a, b, other] {
        server.shutdown().await;
    }
}

/// A quote without its time: every figure.
fn figures(quotes: &[Quote]) -> Vec<String> {
    quotes
        .iter()
        .map(|q| format!("{:?}", Quote { ts: 0, ..q.clone() }))
        .collect()
}

#[tokio::test]
async fn with_a_fixed_clock_start_the_whole_quote_repeats_whenever_a_server_starts() {
    // The day's open, high, low and volume come from history made up back
    // from the simulated clock's start (without --sim-start, the wall
    // clock's: a second apart, they differ); fixed, they repeat too.
    let args = [paused("11"), vec!["--sim-start", "2026-03-02T15:00:00Z"]].concat();
    let a = TestServer::start(&args).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let b = TestServer::start(&args).await;
    assert_eq!(figures(&opened(&a).await), figures(&opened(&b).await));
    for server in [&a, &b] {
        control(server, "/api/control/sim/step", json!({"ticks": 30})).await;
    }
    let stepped = quotes(&a).await;
    assert_eq!(figures(&stepped), figures(&quotes(&b).await));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_set_price_trades_now_and_the_walk_goes_on_from_there() {
    let server = TestServer::start(&paused("3")).await;
    opened(&server).await;
    let mut client = server.connect().await;
    client.subscribe(&["AAPL"]).await;

    let (status, quote) = control(
        &server,
        "/api/control/symbols/AAPL/price",
        json!({"price": 123.45, "size": 300}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    let quote: Quote = serde_json::from_value(quote).unwrap();
    assert_eq!(quote.last, 123.45);
    assert!(quote.bid <= 123.45 && 123.45 <= quote.ask, "{quote:?}");
    let seen = client
        .until(|m| match m {
            ServerMsg::Diff { changes, .. } => changes.iter().find_map(|c| c.last),
            _ => None,
        })
        .await;
    assert_eq!(seen, 123.45, "the page hears the price");

    // The walk continues from the set price, a step at a time.
    control(&server, "/api/control/sim/step", json!({"ticks": 5})).await;
    let after = quotes(&server).await;
    let aapl = after.iter().find(|q| q.symbol == "AAPL").unwrap();
    assert!((aapl.last / 123.45 - 1.0).abs() < 0.01, "{aapl:?}");

    for (path, body, want) in [
        (
            "/api/control/symbols/ZZZZ/price",
            json!({"price": 1}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/control/symbols/AAPL/price",
            json!({"price": -1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/control/symbols/AAPL/price",
            json!({"price": "1"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/control/symbols/AAPL/price",
            json!({}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/control/feeds/nope/fail",
            json!({}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, answer) = control(&server, path, body).await;
        assert_eq!(status, want, "{path}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn prices_and_halts_reach_a_push_feeds_symbols_too() {
    let args = [
        "--feed",
        "push:desk",
        "--symbols",
        "ACME",
        "--control-token",
        TOKEN,
        "--flush-ms",
        "20",
    ];
    let server = TestServer::start(&args).await;
    let (status, quote) = control(
        &server,
        "/api/control/symbols/ACME/price",
        json!({"price": 10.5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert_eq!(quote["last"], json!(10.5));
    let (_, quote) = control(&server, "/api/control/symbols/ACME/halt", json!({})).await;
    assert_eq!(quote["session"], json!("halted"));
    // Nothing trades while halted.
    let (status, answer) = control(
        &server,
        "/api/control/symbols/ACME/price",
        json!({"price": 11}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("halted"));
    // Back to its calendar's session (New York's: closed at night).
    let (_, quote) = control(&server, "/api/control/symbols/ACME/resume", json!({})).await;
    assert!(quote["session"].is_string() && quote["session"] != json!("halted"));

    // The price went in as a push: the push feed is live.
    let (_, state) = control_get(&server).await;
    assert_eq!(state["feeds"][0]["state"], json!("live"), "{state}");

    // A failed push feed takes nothing, pushed or set, until restored.
    let (status, _) = control(&server, "/api/control/feeds/desk/fail", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let push = || {
        reqwest::Client::new()
            .post(server.url("/api/feeds/desk/ticks"))
            .body(r#"[{"symbol":"ACME","price":12}]"#)
            .send()
    };
    let refused = push().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let why: Value = refused.json().await.unwrap();
    assert!(why["error"].as_str().unwrap().contains("failed"), "{why}");
    let (status, _) = control(
        &server,
        "/api/control/symbols/ACME/price",
        json!({"price": 12}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    control(&server, "/api/control/feeds/desk/restore", json!({})).await;
    assert_eq!(push().await.unwrap().status(), StatusCode::ACCEPTED);
    // No simulator here.
    let (status, _) = control(&server, "/api/control/sim/step", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test]
async fn a_halted_symbol_stops_trading_until_resumed() {
    let server = TestServer::start(&paused("5")).await;
    opened(&server).await;
    let (status, quote) = control(&server, "/api/control/symbols/MSFT/halt", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    let halted: Quote = serde_json::from_value(quote).unwrap();
    assert_eq!(halted.session, MarketSession::Halted);

    control(&server, "/api/control/sim/step", json!({"ticks": 50})).await;
    let msft = |quotes: Vec<Quote>| quotes.into_iter().find(|q| q.symbol == "MSFT").unwrap();
    let still = msft(quotes(&server).await);
    assert_eq!((still.last, still.volume), (halted.last, halted.volume));
    assert_eq!(still.session, MarketSession::Halted);

    let (_, quote) = control(&server, "/api/control/symbols/MSFT/resume", json!({})).await;
    assert_eq!(quote["session"], json!("regular"));
    control(&server, "/api/control/sim/step", json!({"ticks": 50})).await;
    assert_ne!(msft(quotes(&server).await).volume, halted.volume);
    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_feed_is_stale_with_its_error_until_restored() {
    let server = TestServer::start(&paused("9")).await;
    opened(&server).await;
    let mut client = server.connect().await;
    client.subscribe(&["AAPL"]).await;
    let until_state = |want: FeedState| {
        move |m: ServerMsg| match m {
            ServerMsg::Status { feed, state } if feed == "sim" && state == want => Some(()),
            _ => None,
        }
    };

    let (status, body) = control(
        &server,
        "/api/control/feeds/sim/fail",
        json!({"error": "exchange unreachable"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"name": "sim", "state": "stale", "failed": true})
    );
    client.until(until_state(FeedState::Stale)).await;
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("exchange unreachable"));
    // A simulator that is down takes no steps.
    let (status, _) = control(&server, "/api/control/sim/step", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, body) = control(&server, "/api/control/feeds/sim/restore", json!({})).await;
    assert_eq!(
        body,
        json!({"name": "sim", "state": "live", "failed": false})
    );
    client.until(until_state(FeedState::Live)).await;
    let (status, _) = control(&server, "/api/control/sim/step", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn drop_cuts_every_session_without_a_close_frame_and_clients_come_back() {
    let server = TestServer::start(&["--control-token", TOKEN, "--flush-ms", "20"]).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = server.connect().await;
        client.subscribe(&["AAPL"]).await;
        clients.push(client);
    }
    let (status, body) = control(&server, "/api/control/connections/drop", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"dropped": 3}));
    for client in &mut clients {
        let ended = tokio::time::timeout(WAIT, async {
            loop {
                match client.ws.next().await {
                    Some(Ok(Message::Close(frame))) => return Some(frame),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
        .expect("the connection ends");
        assert_eq!(ended, None, "no close frame: a network failure");
    }
    // A new session is not cut by the earlier drop.
    let mut again = Client::connect(&server.ws_url()).await;
    again.subscribe(&["AAPL"]).await;
    server.shutdown().await;
}

#[tokio::test]
async fn flags_that_would_be_ignored_are_refused() {
    use tickertape::{AppState, StartError};
    let feeds = || -> Vec<Box<dyn tickertape::Feed>> { Vec::new() };
    let refused = |result: Result<AppState, StartError>| match result {
        Err(StartError::NotApplicable(why)) => why,
        other => panic!("not refused: {:?}", other.err()),
    };
    let why = refused(AppState::start_with_feeds(
        &config(&["--feed", "sim"]),
        feeds(),
    ));
    assert!(why.contains("--feed"), "{why}");
    let edge = config(&["--role", "edge", "--bus", "nats://127.0.0.1:1"]);
    let why = refused(AppState::start_with_feeds(&edge, feeds()));
    assert!(why.contains("--role"), "{why}");
    let scripted = crate::common::ScriptedFeed::new(&["AAPL"]).0;
    let why = refused(AppState::start_node_with(&edge, vec![Box::new(scripted)]).await);
    assert!(why.contains("--role edge"), "{why}");
    // --sim-paused without the control API could never trade.
    assert!(tickertape::config::Config::from_args(["tickertape", "--sim-paused"]).is_err());
}
