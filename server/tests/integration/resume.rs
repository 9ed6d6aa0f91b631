//! `resume`: a client that reconnects continues from the batch it holds
//! with one diff when the server still has every batch since, and gets a
//! snapshot otherwise; `seq` runs on across the reconnect either way.

use std::collections::BTreeMap;
use std::time::Duration;

use app::binary;
use app::protocol::{Quote, ServerMsg};
use serde_json::json;
use tokio::sync::mpsc;

use crate::common::{Client, TestServer, apply_quotes, metric, tick};
use tickertape::feed::Tick;

const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "NVDA"];

/// Where a client is: the server's epoch, its last seq and batch, its quotes.
struct Held {
    /// The names of the binary frames' symbol ids, which last as long as
    /// the server's epoch: kept for the next connection.
    decoder: binary::Decoder,
    epoch: String,
    seq: u64,
    batch: u64,
    quotes: BTreeMap<String, Quote>,
}

impl Held {
    fn apply(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Snapshot { seq, batch, .. } => (self.seq, self.batch) = (*seq, *batch),
            ServerMsg::Diff { seq, batch, .. } => {
                assert_eq!(*seq, self.seq + 1, "seq runs on");
                assert!(*batch >= self.batch, "batches never go back");
                (self.seq, self.batch) = (*seq, *batch);
            }
            _ => {}
        }
        apply_quotes(&mut self.quotes, msg);
    }
}

async fn server_quotes(server: &TestServer) -> BTreeMap<String, Quote> {
    let body: serde_json::Value = server.get("/api/quotes").await.json().await.unwrap();
    let quotes: Vec<Quote> = serde_json::from_value(body["quotes"].clone()).unwrap();
    quotes.into_iter().map(|q| (q.symbol.clone(), q)).collect()
}

/// Trades until the server has published them.
async fn trade(server: &TestServer, ticks: &mpsc::Sender<Tick>, trades: &[(&str, f64)]) {
    for &(symbol, price) in trades {
        ticks.send(tick(symbol, price, 5)).await.unwrap();
    }
    let (symbol, price) = *trades.last().unwrap();
    while server_quotes(server).await.get(symbol).map(|q| q.last) != Some(price) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Connects offering `protocol`, returns the client and the hello's epoch.
async fn connect(server: &TestServer, protocol: &str) -> (Client, String) {
    let (mut client, _) = Client::connect_offering(&server.ws_url(), protocol).await;
    let ServerMsg::Hello { epoch, .. } = client.msg().await else {
        panic!("hello first");
    };
    (client, epoch)
}

/// A client live on `*` until its quotes equal the server's; then it leaves.
async fn follow_then_leave(server: &TestServer, protocol: &str) -> Held {
    let (mut client, epoch) = connect(server, protocol).await;
    client
        .send_json(json!({"op": "subscribe", "symbols": ["*"]}))
        .await;
    let mut held = Held {
        decoder: binary::Decoder::default(),
        epoch,
        seq: 0,
        batch: 0,
        quotes: BTreeMap::new(),
    };
    let wanted = server_quotes(server).await;
    while held.quotes != wanted {
        held.apply(&client.msg().await);
    }
    held.decoder = std::mem::take(&mut client.decoder);
    held
}

/// Connects again as a client that keeps what it knew of the server.
async fn reconnect(server: &TestServer, protocol: &str, held: &mut Held) -> (Client, String) {
    let (mut client, epoch) = connect(server, protocol).await;
    if epoch == held.epoch {
        client.decoder = std::mem::take(&mut held.decoder);
    }
    (client, epoch)
}

fn resume(held: &Held, epoch: &str) -> serde_json::Value {
    json!({"op": "resume", "epoch": epoch, "seq": held.seq, "batch": held.batch, "symbols": ["*"]})
}

/// The first snapshot or diff.
async fn answer(client: &mut Client) -> ServerMsg {
    client
        .until(|m| matches!(m, ServerMsg::Snapshot { .. } | ServerMsg::Diff { .. }).then_some(m))
        .await
}

#[tokio::test]
async fn a_client_back_within_the_retention_continues_with_one_diff_in_json_and_binary() {
    let (server, ticks) = TestServer::scripted(&["--flush-ms", "20"], &SYMBOLS).await;
    trade(&server, &ticks, &[("AAPL", 100.0), ("MSFT", 400.0)]).await;
    for protocol in ["tickertape.v1.json", "tickertape.v1.bin"] {
        let mut held = follow_then_leave(&server, protocol).await;
        // Away: several batches, one of them a symbol the client never saw.
        trade(&server, &ticks, &[("AAPL", 100.5)]).await;
        trade(&server, &ticks, &[("NVDA", 120.25), ("AAPL", 101.0)]).await;
        let (mut client, epoch) = reconnect(&server, protocol, &mut held).await;
        assert_eq!(epoch, held.epoch, "the same server: the same numbering");
        client.send_json(resume(&held, &epoch)).await;
        let msg = answer(&mut client).await;
        let ServerMsg::Diff { seq, changes, .. } = &msg else {
            panic!("one diff, not {msg:?}");
        };
        assert_eq!(*seq, held.seq + 1);
        let symbols: Vec<&str> = changes.iter().map(|c| c.symbol.as_str()).collect();
        assert_eq!(
            symbols,
            ["AAPL", "NVDA"],
            "each changed symbol once, merged"
        );
        held.apply(&msg);
        assert_eq!(
            held.quotes,
            server_quotes(&server).await,
            "exact after one diff"
        );
        // And live from there.
        trade(&server, &ticks, &[("MSFT", 401.0)]).await;
        while held.quotes != server_quotes(&server).await {
            held.apply(&client.msg().await);
        }
    }
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric(&metrics, "tickertape_resumes_total{answer=\"diff\"}"),
        2
    );
    server.shutdown().await;
}

#[tokio::test]
async fn nothing_new_is_an_empty_diff_and_another_epoch_or_a_long_absence_a_snapshot() {
    let (server, ticks) = TestServer::scripted(&["--flush-ms", "20"], &SYMBOLS).await;
    trade(&server, &ticks, &[("AAPL", 100.0)]).await;
    let held = follow_then_leave(&server, "tickertape.v1.json").await;

    // Back before anything traded: nothing to send but the go-ahead.
    let (mut client, epoch) = connect(&server, "tickertape.v1.json").await;
    client.send_json(resume(&held, &epoch)).await;
    match answer(&mut client).await {
        ServerMsg::Diff {
            seq,
            batch,
            changes,
            ..
        } => {
            assert_eq!((seq, batch), (held.seq + 1, held.batch));
            assert!(changes.is_empty());
        }
        other => panic!("an empty diff, not {other:?}"),
    }

    // Another server's numbering (a restart): a snapshot, seq still on.
    let (mut client, _) = connect(&server, "tickertape.v1.json").await;
    client.send_json(resume(&held, "0123456789abcdef")).await;
    let msg = answer(&mut client).await;
    assert!(
        matches!(&msg, ServerMsg::Snapshot { seq, quotes, .. } if *seq == held.seq + 1 && quotes.len() == 1),
        "{msg:?}"
    );

    // Away for longer than the server keeps batches (50): a snapshot.
    for i in 0..60 {
        trade(&server, &ticks, &[("MSFT", 400.0 + f64::from(i))]).await;
    }
    let mut held = held;
    let (mut client, epoch) = reconnect(&server, "tickertape.v1.bin", &mut held).await;
    client.send_json(resume(&held, &epoch)).await;
    let msg = answer(&mut client).await;
    assert!(
        matches!(&msg, ServerMsg::Snapshot { seq, quotes, .. } if *seq == held.seq + 1 && quotes.len() == 2),
        "{msg:?}"
    );
    // A batch from the future is not believed either.
    let mut ahead = held;
    ahead.batch += 1_000;
    let (mut client, epoch) = connect(&server, "tickertape.v1.json").await;
    client.send_json(resume(&ahead, &epoch)).await;
    assert!(matches!(
        answer(&mut client).await,
        ServerMsg::Snapshot { .. }
    ));
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric(&metrics, "tickertape_resumes_total{answer=\"snapshot\"}"),
        3
    );
    assert_eq!(
        metric(&metrics, "tickertape_resumes_total{answer=\"diff\"}"),
        1
    );
    server.shutdown().await;
}
