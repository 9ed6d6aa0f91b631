//! Push feeds: trades POSTed by other programs reach clients exactly.

use app::protocol::{FeedState, ServerMsg};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Client, TestServer};

const ARGS: &[&str] = &[
    "--feed",
    "push:desk",
    "--symbols",
    "AAPL,MSFT",
    "--flush-ms",
    "20",
    "--feed-timeout",
    "1",
];

async fn push(
    server: &TestServer,
    feed: &str,
    body: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/api/feeds/{feed}/ticks")))
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Reads until the feed `desk` is reported in `state`.
async fn until_state(client: &mut Client, state: FeedState) {
    client
        .until(|m| match m {
            ServerMsg::Status { feed, state: s } if feed == "desk" && s == state => Some(()),
            _ => None,
        })
        .await;
}

/// The last prices a client has seen, by symbol, once `want` are all there.
async fn until_prices(client: &mut Client, want: &[(&str, f64)]) {
    let mut seen = std::collections::HashMap::new();
    client
        .until(|m| {
            let changes = match m {
                ServerMsg::Diff { changes, .. } => changes,
                ServerMsg::Snapshot { quotes, .. } => {
                    quotes.iter().map(app::protocol::Change::full).collect()
                }
                _ => return None,
            };
            for c in changes {
                if let Some(last) = c.last {
                    seen.insert(c.symbol, last);
                }
            }
            want.iter()
                .all(|(s, p)| seen.get(*s) == Some(p))
                .then_some(())
        })
        .await;
}

#[tokio::test]
async fn pushed_trades_reach_clients_exactly_and_a_bad_line_takes_nothing() {
    let server = TestServer::start(ARGS).await;
    let mut client = server.connect().await;
    until_state(&mut client, FeedState::Stale).await;
    client.subscribe(&["AAPL", "MSFT"]).await;

    let lines = "{\"symbol\":\"AAPL\",\"price\":101.5,\"size\":10}\n{\"symbol\":\"MSFT\",\"price\":400.25,\"bid\":400.2,\"ask\":400.3}\n";
    let (status, body) = push(&server, "desk", lines, None).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::ACCEPTED, Some(2))
    );
    until_state(&mut client, FeedState::Live).await;
    until_prices(&mut client, &[("AAPL", 101.5), ("MSFT", 400.25)]).await;

    let array = r#"[{"symbol":"AAPL","price":102},{"symbol":"AAPL","price":102.75}]"#;
    let (status, body) = push(&server, "desk", array, None).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::ACCEPTED, Some(2))
    );
    until_prices(&mut client, &[("AAPL", 102.75)]).await;

    // One bad line: a 400 naming it, and the good line before it is not taken.
    let bad = "{\"symbol\":\"MSFT\",\"price\":1}\n{\"symbol\":\"NOPE\",\"price\":1}\n";
    let (status, body) = push(&server, "desk", bad, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with("line 2: unknown symbol \"NOPE\""),
        "{error}"
    );
    let (status, body) = push(&server, "nope", lines, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("push feeds: desk"));
    let huge = "x".repeat(tickertape::push::MAX_BODY + 1);
    assert_eq!(
        push(&server, "desk", &huge, None).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let quotes: Value = server
        .get("/api/quotes?symbols=MSFT")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        quotes["quotes"][0]["last"], 400.25,
        "the bad request took nothing"
    );

    // Silence: stale after --feed-timeout; a push: live again.
    until_state(&mut client, FeedState::Stale).await;
    let (status, _) = push(&server, "desk", r#"{"symbol":"MSFT","price":399}"#, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    until_state(&mut client, FeedState::Live).await;
    until_prices(&mut client, &[("MSFT", 399.0)]).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_push_token_guards_pushing_apart_from_the_viewers_token() {
    let args = [
        ARGS,
        &["--push-token", "pushs3cret", "--auth-token", "views3cret"],
    ]
    .concat();
    let server = TestServer::start(&args).await;
    let one = r#"{"symbol":"AAPL","price":50}"#;
    assert_eq!(
        push(&server, "desk", one, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        push(&server, "desk", one, Some("views3cret")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        push(&server, "desk", one, Some("pushs3cret")).await.0,
        StatusCode::ACCEPTED
    );
    // The viewers' routes still need theirs.
    assert_eq!(
        server.get("/api/quotes").await.status(),
        StatusCode::UNAUTHORIZED
    );
    server.shutdown().await;

    // Behind a proxy without a push token nobody may push.
    let proxied = TestServer::start(&[ARGS, &["--trust-proxy"]].concat()).await;
    assert_eq!(
        push(&proxied, "desk", one, None).await.0,
        StatusCode::FORBIDDEN
    );
    proxied.shutdown().await;
}

#[tokio::test]
async fn a_push_feed_needs_its_symbols() {
    let config = crate::common::config(&["--feed", "push:desk"]);
    let error = tickertape::AppState::start(&config).err().expect("refused");
    assert!(error.to_string().contains("--symbols"), "{error}");
}

#[tokio::test]
async fn a_streaming_pusher_s_prices_reach_a_client_in_order_and_a_bad_frame_is_answered() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start(ARGS).await;
    let mut client = server.connect().await;
    client.subscribe(&["AAPL", "MSFT"]).await;
    let url = format!("ws://{}/api/feeds/desk/ws", server.addr);
    let (mut pusher, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");

    // A frame with a bad line: answered, nothing taken, the socket stays.
    let bad = "{\"symbol\":\"AAPL\",\"price\":5}\n{\"symbol\":\"AAPL\",\"price\":\"x\"}";
    pusher.send(Message::text(bad)).await.unwrap();
    let answer = tokio::time::timeout(crate::common::WAIT, pusher.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let answer: Value = serde_json::from_str(answer.to_text().unwrap()).unwrap();
    assert!(
        answer["error"].as_str().unwrap().starts_with("line 2:"),
        "{answer}"
    );

    // Sixty prices, one frame each (objects, arrays, lines alike).
    let prices: Vec<f64> = (0..60).map(|i| 100.0 + f64::from(i) * 0.25).collect();
    for (i, price) in prices.iter().enumerate() {
        let trade = format!(r#"{{"symbol":"AAPL","price":{price},"size":1}}"#);
        let frame = if i % 2 == 0 {
            trade
        } else {
            format!("[{trade}]")
        };
        pusher.send(Message::text(frame)).await.unwrap();
    }
    let mut seen = Vec::new();
    client
        .until(|m| {
            if let ServerMsg::Diff { changes, .. } = m {
                seen.extend(
                    changes
                        .iter()
                        .filter(|c| c.symbol == "AAPL")
                        .filter_map(|c| c.last),
                );
            }
            (seen.last() == prices.last()).then_some(())
        })
        .await;
    assert!(
        !seen.contains(&5.0),
        "the bad frame's good line was not taken"
    );
    // Batched, a client may see fewer prices, but only pushed ones, in order.
    let mut pushed = prices.iter();
    assert!(seen.iter().all(|p| pushed.any(|q| q == p)), "{seen:?}");
    server.shutdown().await;
}
