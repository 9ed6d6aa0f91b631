//! Protocol v1 over a real socket: the real server on port 0, tokio-tungstenite clients.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Client, Read, TestServer, tick};
use app::protocol::{Change, ErrorCode, FeedState, Quote, QuotesResponse, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const FAST_SIM: &[&str] = &["--seed", "7", "--tick-ms", "20", "--flush-ms", "50"];

fn error_of(msg: ServerMsg) -> Option<(ErrorCode, String)> {
    match msg {
        ServerMsg::Error { code, message } => Some((code, message)),
        _ => None,
    }
}

fn diff_of(msg: ServerMsg) -> Option<(u64, Vec<Change>)> {
    match msg {
        ServerMsg::Diff { seq, changes, .. } => Some((seq, changes)),
        _ => None,
    }
}

#[tokio::test]
async fn hello_comes_first_then_feed_status() {
    let server = TestServer::start(&["--heartbeat-ms", "4000"]).await;
    let mut client = server.connect().await;
    match client.msg().await {
        ServerMsg::Hello {
            protocol,
            server_time,
            heartbeat_ms,
            epoch,
        } => {
            assert_eq!(epoch.len(), 16, "names the batch numbering: {epoch}");
            assert_eq!(protocol, 1);
            assert_eq!(heartbeat_ms, 4000);
            assert!((server_time - tickertape::now_ms()).abs() < 5_000);
        }
        other => panic!("expected hello, got {other:?}"),
    }
    let state = client
        .until(|m| match m {
            ServerMsg::Status { feed, state } if feed == "sim" && state == FeedState::Live => {
                Some(state)
            }
            _ => None,
        })
        .await;
    assert_eq!(state, FeedState::Live);
    server.shutdown().await;
}

#[tokio::test]
async fn snapshot_then_contiguous_diffs_of_only_changed_fields() {
    let server = TestServer::start(FAST_SIM).await;
    let mut client = server.connect().await;
    let (seq, quotes) = client.subscribe(&["AAPL", "MSFT"]).await;
    assert_eq!(seq, 1, "seq starts at the first snapshot");
    let mut state: BTreeMap<String, Quote> =
        quotes.into_iter().map(|q| (q.symbol.clone(), q)).collect();
    assert_eq!(state.keys().collect::<Vec<_>>(), ["AAPL", "MSFT"]);

    for expected in seq + 1..seq + 16 {
        let (seq, changes) = client.until(diff_of).await;
        assert_eq!(seq, expected, "seq grows by exactly 1");
        assert!(!changes.is_empty(), "no empty diffs");
        for change in changes {
            let quote = state
                .get_mut(&change.symbol)
                .expect("only subscribed symbols");
            let mut applied = quote.clone();
            applied.apply(&change);
            let minimal = quote.diff(&applied).unwrap_or_default();
            assert_eq!(
                Change {
                    symbol: change.symbol.clone(),
                    ..minimal
                },
                change,
                "only changed fields"
            );
            *quote = applied;
        }
    }
    server.shutdown().await;
}

/// The contract's central promise, checked exactly: snapshot + every diff in
/// order = the server's quotes, once the feed goes quiet.
#[tokio::test]
async fn applying_every_diff_reproduces_the_server_state() {
    let symbols = ["AAA", "BBB", "CCC", "DDD"];
    let (server, feed) = TestServer::scripted(&["--flush-ms", "20"], &symbols).await;
    feed.send(tick("AAA", 10.0, 100)).await.unwrap();
    let mut client = server.connect().await;
    let (mut seq, quotes) = client.subscribe(&["*"]).await;
    let mut state: BTreeMap<String, Quote> =
        quotes.into_iter().map(|q| (q.symbol.clone(), q)).collect();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for burst in 0..40 {
        for _ in 0..rng.random_range(1..20) {
            let symbol = symbols[rng.random_range(0..symbols.len())];
            let price = (rng.random_range(500..1500) as f64) / 100.0 + 0.001 * burst as f64;
            feed.send(tick(symbol, price, rng.random_range(1..500)))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
    }
    // Apply diffs until the server has been quiet for a while.
    loop {
        match tokio::time::timeout(Duration::from_millis(500), client.read()).await {
            Err(_) => break,
            Ok(Read::Msg(ServerMsg::Diff {
                seq: s, changes, ..
            })) => {
                assert_eq!(s, seq + 1);
                seq = s;
                for change in changes {
                    match state.get_mut(&change.symbol) {
                        Some(q) => q.apply(&change),
                        None => drop(state.insert(
                            change.symbol.clone(),
                            change.to_quote().expect("complete first change"),
                        )),
                    }
                }
            }
            Ok(Read::Msg(_)) => {}
            Ok(Read::Closed(frame)) => panic!("closed: {frame:?}"),
        }
    }
    let server_quotes: QuotesResponse = server.get("/api/quotes").await.json().await.unwrap();
    let client_quotes: Vec<Quote> = state.into_values().collect();
    assert_eq!(client_quotes.len(), 4);
    assert_eq!(client_quotes, server_quotes.quotes);
    server.shutdown().await;
}

#[tokio::test]
async fn resync_sends_a_fresh_snapshot_with_the_next_seq() {
    let server = TestServer::start(FAST_SIM).await;
    let mut client = server.connect().await;
    client.subscribe(&["NVDA"]).await;
    let (mut last, _) = client.until(diff_of).await;
    client.send_json(json!({"op": "resync"})).await;
    // Diffs sent before the resync was read, then the snapshot: each one
    // more than the message before.
    let (seq, quotes) = client
        .until(|m| match m {
            ServerMsg::Snapshot { seq, quotes, .. } => Some((seq, quotes)),
            ServerMsg::Diff { seq, .. } => {
                assert_eq!(seq, last + 1, "seq grows by exactly 1");
                last = seq;
                None
            }
            _ => None,
        })
        .await;
    assert_eq!(seq, last + 1, "the snapshot is the next seq");
    assert_eq!(
        quotes.iter().map(|q| q.symbol.as_str()).collect::<Vec<_>>(),
        ["NVDA"]
    );
    let (next, _) = client.until(diff_of).await;
    assert_eq!(next, seq + 1);
    server.shutdown().await;
}

#[tokio::test]
async fn two_clients_get_only_their_own_symbols() {
    let server = TestServer::start(FAST_SIM).await;
    let mut apple = server.connect().await;
    let mut micro = server.connect().await;
    let (_, a) = apple.subscribe(&["AAPL"]).await;
    let (_, m) = micro.subscribe(&["MSFT", "GOOGL"]).await;
    assert_eq!(
        a.iter().map(|q| q.symbol.as_str()).collect::<Vec<_>>(),
        ["AAPL"]
    );
    assert_eq!(
        m.iter().map(|q| q.symbol.as_str()).collect::<Vec<_>>(),
        ["MSFT", "GOOGL"]
    );
    for _ in 0..10 {
        let (_, changes) = apple.until(diff_of).await;
        assert!(changes.iter().all(|c| c.symbol == "AAPL"), "{changes:?}");
        let (_, changes) = micro.until(diff_of).await;
        assert!(
            changes
                .iter()
                .all(|c| c.symbol == "MSFT" || c.symbol == "GOOGL"),
            "{changes:?}"
        );
    }
    // Unsubscribing narrows the stream without a snapshot: once a ping sent
    // after the unsubscribe is answered, GOOGL never appears again.
    micro
        .send_json(json!({"op": "unsubscribe", "symbols": ["GOOGL"]}))
        .await;
    micro.send_json(json!({"op": "ping", "t": 1})).await;
    micro
        .until(|m| match m {
            ServerMsg::Pong { .. } => Some(()),
            _ => None,
        })
        .await;
    for _ in 0..10 {
        let msg = micro.msg().await;
        assert!(
            !matches!(msg, ServerMsg::Snapshot { .. }),
            "unsubscribe sends no snapshot"
        );
        if let Some((_, changes)) = diff_of(msg) {
            assert!(changes.iter().all(|c| c.symbol == "MSFT"), "{changes:?}");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_that_is_not_a_websocket_upgrade_is_told_why() {
    let server = TestServer::start(&[]).await;
    let plain = server.get("/ws").await;
    assert_eq!(plain.status(), 400);
    let body: serde_json::Value = plain.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Upgrade: websocket"),
        "{body}"
    );
    let old_version = reqwest::Client::new()
        .get(server.url("/ws"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "8")
        .send()
        .await
        .unwrap();
    assert_eq!(old_version.status(), 400);
    let body: serde_json::Value = old_version.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("13"), "{body}");
    // The server is still there for a real client.
    let mut client = server.connect().await;
    assert!(matches!(client.msg().await, ServerMsg::Hello { .. }));
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_pings_get_pongs_and_a_clients_close_an_answer() {
    let server = TestServer::start(&[]).await;
    let mut client = server.connect().await;
    client
        .ws
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match client.ws.next().await {
                Some(Ok(Message::Pong(data))) => return data,
                Some(Ok(_)) => continue,
                other => panic!("no pong: {other:?}"),
            }
        }
    })
    .await
    .expect("a pong in time");
    assert_eq!(&pong[..], b"are you there");
    let bye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    client.ws.close(Some(bye)).await.unwrap();
    assert_eq!(client.close_code().await, Some(1000));
    server.shutdown().await;
}

#[tokio::test]
async fn ping_is_answered_with_the_same_t() {
    let server = TestServer::start(&[]).await;
    let mut client = server.connect().await;
    client.send_text(r#"{"op":"ping","t":1700000000123}"#).await;
    let t = client
        .until(|m| match m {
            ServerMsg::Pong { t, server_time } => {
                assert!(server_time > 1_700_000_000_000);
                Some(t)
            }
            _ => None,
        })
        .await;
    assert_eq!(t.to_string(), "1700000000123");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_socket_stays_usable() {
    let server = TestServer::start(&[]).await;
    let mut client = server.connect().await;
    let cases = [
        (r#"{"op":"subscribe","symbols":["AAPL""#, "malformed JSON"),
        (r#"{"op":"teleport"}"#, "unknown op \"teleport\""),
        (r#"{"symbols":["AAPL"]}"#, "missing \"op\""),
        (
            r#"{"op":"subscribe","symbols":"AAPL"}"#,
            "bad \"subscribe\" message",
        ),
        (r#"[1,2,3]"#, "missing \"op\""),
    ];
    for (text, expected) in cases {
        client.send_text(text).await;
        let (code, message) = client.until(error_of).await;
        assert_eq!(code, ErrorCode::BadRequest, "{text}");
        assert!(message.contains(expected), "{text}: {message}");
    }
    client
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    let (code, message) = client.until(error_of).await;
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(message.contains("binary"), "{message}");

    // Still a working connection.
    let (_, quotes) = client.subscribe(&["AAPL"]).await;
    assert_eq!(quotes.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_symbols_are_reported_and_the_rest_still_applies() {
    let server = TestServer::start(&[]).await;
    let mut client = server.connect().await;
    client
        .send_json(json!({"op": "subscribe", "symbols": ["AAPL", "NOPE", "ZZZZ"]}))
        .await;
    let (code, message) = client.until(error_of).await;
    assert_eq!(code, ErrorCode::UnknownSymbol);
    assert_eq!(message, "unknown symbols: NOPE, ZZZZ");
    let quotes = client
        .until(|m| match m {
            ServerMsg::Snapshot { quotes, .. } => Some(quotes),
            _ => None,
        })
        .await;
    assert_eq!(
        quotes.iter().map(|q| q.symbol.as_str()).collect::<Vec<_>>(),
        ["AAPL"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn frames_over_64_kib_are_closed_with_1009() {
    let server = TestServer::start(&[]).await;
    let mut client = server.connect().await;
    let symbols: Vec<String> = (0..10_000).map(|i| format!("SYM{i:05}")).collect();
    let text = json!({"op": "subscribe", "symbols": symbols}).to_string();
    assert!(text.len() > 64 * 1024);
    let _ = client.ws.send(Message::text(text)).await;
    assert_eq!(client.close_code().await, Some(1009));
    // The server is unharmed.
    let mut other = server.connect().await;
    assert_eq!(other.subscribe(&["AAPL"]).await.1.len(), 1);
    server.shutdown().await;
}

/// Sends `messages` as fast as it can to a server allowing 10 a second,
/// then reads to the close: how many `rate_limited` errors came, and the
/// close code.
async fn flood(messages: impl Iterator<Item = Message>) -> (usize, Option<u16>) {
    let server = TestServer::start(&["--client-msg-rate", "10"]).await;
    let mut client = server.connect().await;
    for message in messages {
        let _ = client.ws.send(message).await;
    }
    let mut rate_limited = 0;
    let code = loop {
        match client.read().await {
            Read::Msg(ServerMsg::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => rate_limited += 1,
            Read::Msg(_) => {}
            Read::Closed(frame) => break frame.map(|f| u16::from(f.code)),
        }
    };
    server.shutdown().await;
    (rate_limited, code)
}

#[tokio::test]
async fn a_client_flooding_websocket_pings_is_rate_limited_then_closed_with_1008() {
    let pings = (0..200).map(|_| Message::Ping(b"hi".to_vec().into()));
    let (rate_limited, code) = flood(pings).await;
    assert_eq!(rate_limited, 1, "one rate_limited error, not one per ping");
    assert_eq!(code, Some(1008));
}

#[tokio::test]
async fn a_flooding_client_is_rate_limited_then_closed_with_1008() {
    let messages = (0..200).map(|i| Message::text(format!(r#"{{"op":"ping","t":{i}}}"#)));
    let (rate_limited, code) = flood(messages).await;
    assert_eq!(
        rate_limited, 1,
        "one rate_limited error, not one per message"
    );
    assert_eq!(code, Some(1008));
}

#[tokio::test]
async fn a_client_that_pauses_within_the_rate_is_never_limited() {
    let server = TestServer::start(&["--client-msg-rate", "10"]).await;
    let mut client = server.connect().await;
    for i in 0..30 {
        client
            .send_text(&format!(r#"{{"op":"ping","t":{i}}}"#))
            .await;
        let t = client
            .until(|m| {
                if let ServerMsg::Pong { t, .. } = m {
                    Some(t)
                } else {
                    error_of(m).map(|e| panic!("{e:?}"))
                }
            })
            .await;
        assert_eq!(t.as_u64(), Some(i));
        tokio::time::sleep(Duration::from_millis(110)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_upgrade_checks_the_origin() {
    let server = TestServer::start(&["--allowed-origin", "https://dash.example.com"]).await;
    let url = server.ws_url();
    let refused = Client::connect_with_origin(&url, "http://evil.test")
        .await
        .err()
        .expect("refused");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 403),
        other => panic!("expected HTTP 403, got {other}"),
    }
    let own = format!("http://{}", server.addr);
    assert!(
        Client::connect_with_origin(&url, &own).await.is_ok(),
        "same origin"
    );
    assert!(
        Client::connect_with_origin(&url, "https://dash.example.com")
            .await
            .is_ok(),
        "listed origin"
    );
    server.shutdown().await;
}

/// A peer that completes the handshake and then never reads nor answers:
/// raw TCP, so no client library sends pongs behind the test's back.
#[tokio::test]
async fn the_server_pings_and_drops_a_silent_peer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server =
        TestServer::start(&["--heartbeat-ms", "100", "--heartbeat-timeout-ms", "400"]).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut bytes))
        .await
        .expect("server closes")
        .unwrap();
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response")
        + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    let frames = crate::common::server_frames(&bytes[head_end..]);
    let opcodes: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
    assert!(opcodes.contains(&0x9), "the server pinged: {opcodes:?}");
    let (_, close) = frames
        .iter()
        .find(|(op, _)| *op == 0x8)
        .expect("a close frame");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1000);
    assert_eq!(&close[2..], b"heartbeat timeout");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_every_client_with_1012_and_a_spread_of_retry_times() {
    let server = TestServer::start(&["--restart-spread-ms", "3000"]).await;
    let mut clients = Vec::new();
    for _ in 0..12 {
        let mut client = server.connect().await;
        client.subscribe(&["*"]).await;
        clients.push(client);
    }
    server.shutdown().await;
    let mut waits = std::collections::BTreeSet::new();
    for client in &mut clients {
        let frame = loop {
            if let crate::common::Read::Closed(frame) = client.read().await {
                break frame.expect("a close frame");
            }
        };
        assert_eq!(u16::from(frame.code), 1012, "service restart");
        let reason = frame.reason.to_string();
        let ms: u64 = reason
            .split_once("retry_after_ms=")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("no retry hint in {reason:?}"));
        assert!(ms < 3000, "{reason}");
        waits.insert(ms);
    }
    assert!(waits.len() >= 6, "each client its own wait: {waits:?}");
}
