//! `tickertape.v1.bin`: negotiated next to JSON, and the same messages.
//! A JSON client and binary clients watch the same server; every snapshot
//! and diff they read must be the same message, bit for bit.

use std::collections::BTreeMap;
use std::time::Duration;

use app::protocol::{Quote, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Client, Read, TestServer, WAIT, apply_quotes, tick};

const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "BTC-USD", "ETH-USD"];

#[tokio::test]
async fn the_binary_subprotocol_is_chosen_when_offered_and_json_stays_the_default() {
    let server = TestServer::start(&["--symbols", "AAPL,MSFT"]).await;
    let url = server.ws_url();
    for (offered, chosen) in [
        ("tickertape.v1.bin", Some("tickertape.v1.bin")),
        ("tickertape.v1.json", Some("tickertape.v1.json")),
        (
            "tickertape.v1.json, tickertape.v1.bin",
            Some("tickertape.v1.bin"),
        ),
    ] {
        let (mut client, got) = Client::connect_offering(&url, offered).await;
        assert_eq!(got.as_deref(), chosen, "offering {offered}");
        client
            .send_json(json!({"op": "subscribe", "symbols": ["*"]}))
            .await;
        // hello is JSON text on both; the snapshot is binary only on bin.
        let mut kinds = Vec::new();
        while kinds.last() != Some(&"snapshot") {
            let frame = tokio::time::timeout(WAIT, client.ws.next()).await.unwrap();
            match frame.unwrap().unwrap() {
                Message::Text(text) => {
                    let msg: ServerMsg = serde_json::from_str(&text).unwrap();
                    if let ServerMsg::Snapshot { .. } = msg {
                        assert_ne!(chosen, Some("tickertape.v1.bin"), "a JSON snapshot");
                        kinds.push("snapshot");
                    } else {
                        kinds.push("text");
                    }
                }
                Message::Binary(bytes) => {
                    assert_eq!(chosen, Some("tickertape.v1.bin"));
                    let msg = client.decoder.decode(&bytes).unwrap();
                    assert!(matches!(msg, ServerMsg::Snapshot { .. }), "{msg:?}");
                    kinds.push("snapshot");
                }
                _ => {}
            }
        }
        assert_eq!(kinds[0], "text", "hello first, as JSON");
    }
    server.shutdown().await;
}

/// Reads snapshots and diffs (in order, each checked to continue the seq)
/// until the client's quotes equal `wanted`; returns them.
async fn follow_until(client: &mut Client, wanted: &BTreeMap<String, Quote>) -> Vec<ServerMsg> {
    let mut seen = Vec::new();
    let mut state: BTreeMap<String, Quote> = BTreeMap::new();
    let mut seq = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while state != *wanted {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never caught up: {state:?}"
        );
        let msg = match tokio::time::timeout(WAIT, client.read()).await.unwrap() {
            Read::Msg(msg) => msg,
            Read::Closed(frame) => panic!("closed: {frame:?}"),
        };
        match &msg {
            ServerMsg::Snapshot { seq: s, .. } => seq = *s,
            ServerMsg::Diff { seq: s, .. } => {
                assert_eq!(*s, seq + 1, "seq runs on");
                seq = *s;
            }
            _ => continue,
        }
        apply_quotes(&mut state, &msg);
        seen.push(msg);
    }
    seen
}

#[tokio::test]
async fn json_and_binary_clients_read_the_same_snapshots_and_diffs() {
    let (server, ticks) = TestServer::scripted(&["--flush-ms", "40"], &SYMBOLS).await;
    let url = server.ws_url();
    // A first trade before anyone connects: in the snapshot.
    ticks.send(tick("AAPL", 189.23, 100)).await.unwrap();
    let expect_quotes = || async {
        let quotes: serde_json::Value = server.get("/api/quotes").await.json().await.unwrap();
        let quotes: Vec<Quote> = serde_json::from_value(quotes["quotes"].clone()).unwrap();
        quotes
            .into_iter()
            .map(|q| (q.symbol.clone(), q))
            .collect::<BTreeMap<_, _>>()
    };
    while expect_quotes().await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (mut text, _) = Client::connect_offering(&url, "tickertape.v1.json").await;
    let (mut bin, _) = Client::connect_offering(&url, "tickertape.v1.bin").await;
    // Paced: its diffs are merged over several batches (the other path).
    let (mut paced, _) = Client::connect_offering(&url, "tickertape.v1.bin").await;
    // Each follows from its snapshot on (read by `follow_until`).
    for client in [&mut text, &mut bin, &mut paced] {
        client
            .send_json(json!({"op": "subscribe", "symbols": ["*"]}))
            .await;
    }
    paced.send_json(json!({"op": "rate", "max_hz": 4})).await;

    // Symbols first seen after the snapshot (named in their diff), prices
    // in cents, crypto decimals and beyond, volumes, a halt.
    let prices = [
        ("MSFT", 411.5),
        ("BTC-USD", 97_123.456_78),
        ("ETH-USD", 3_456.123_456_789_1),
        ("AAPL", 189.25),
        ("AAPL", 0.1 + 0.2),
        ("MSFT", 411.49),
        ("BTC-USD", 1e-7),
    ];
    for (symbol, price) in prices {
        ticks.send(tick(symbol, price, 7)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let wanted = expect_quotes().await;
    assert_eq!(wanted.len(), SYMBOLS.len());

    let from_text = follow_until(&mut text, &wanted).await;
    let from_bin = follow_until(&mut bin, &wanted).await;
    assert!(
        from_text.len() > prices.len() / 2,
        "{} messages",
        from_text.len()
    );
    assert_eq!(
        format!("{from_bin:?}"),
        format!("{from_text:?}"),
        "the same messages, every float printed alike"
    );
    assert_eq!(from_bin, from_text);
    let from_paced = follow_until(&mut paced, &wanted).await;
    assert!(from_paced.len() < from_text.len(), "merged diffs");
    server.shutdown().await;
}

#[tokio::test]
async fn a_binary_client_subscribed_to_some_symbols_gets_only_those() {
    let (server, ticks) = TestServer::scripted(&["--flush-ms", "40"], &SYMBOLS).await;
    let (mut client, _) = Client::connect_offering(&server.ws_url(), "tickertape.v1.bin").await;
    let (_, quotes) = client.subscribe(&["MSFT", "ETH-USD"]).await;
    assert!(quotes.is_empty(), "no trades yet");
    for (symbol, price) in [("AAPL", 1.5), ("ETH-USD", 2.25), ("MSFT", 3.125)] {
        ticks.send(tick(symbol, price, 1)).await.unwrap();
    }
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        if let ServerMsg::Diff { changes, .. } = client.msg().await {
            for change in changes {
                seen.insert(change.symbol.clone(), change.last);
            }
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            ("ETH-USD".to_string(), Some(2.25)),
            ("MSFT".to_string(), Some(3.125))
        ])
    );
    // Client messages stay JSON: a binary one is refused, the session stays.
    client
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    let error = client
        .until(|m| match m {
            ServerMsg::Error { message, .. } => Some(message),
            _ => None,
        })
        .await;
    assert!(error.contains("JSON text frames"), "{error}");
    server.shutdown().await;
}
