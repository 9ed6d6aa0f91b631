//! Batches to clients that keep up go from the fan-out writers, not from
//! each client's own task. Every client must still read every batch once, in
//! order, and end with exactly the server's quotes, also when it starts and
//! stops a chart or a rate midway (its own task takes over, then hands back)
//! and when it subscribes to a few symbols only.

use std::collections::BTreeMap;
use std::time::Duration;

use app::protocol::{Quote, QuotesResponse, ServerMsg};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::common::{Client, Read, TestServer, apply_quotes, metric, tick};

const SYMBOLS: [&str; 5] = ["AAA", "BBB", "CCC", "DDD", "EEE"];

/// What a client does midway through the stream.
#[derive(Clone, Copy, Debug)]
enum Midway {
    Nothing,
    Chart,
    Rate,
}

/// Reads until the server has been quiet for a while, checking each diff
/// follows the last; returns the quotes held and the diffs read.
async fn follow(
    mut client: Client,
    seq: u64,
    quotes: Vec<Quote>,
    midway: Midway,
) -> (BTreeMap<String, Quote>, u64) {
    let mut held: BTreeMap<String, Quote> =
        quotes.into_iter().map(|q| (q.symbol.clone(), q)).collect();
    let (mut seq, mut diffs) = (seq, 0u64);
    loop {
        let msg = match tokio::time::timeout(Duration::from_millis(800), client.read()).await {
            Err(_) => return (held, diffs),
            Ok(Read::Msg(msg)) => msg,
            Ok(Read::Closed(frame)) => panic!("closed: {frame:?}"),
        };
        if let ServerMsg::Diff { seq: s, .. } = &msg {
            assert_eq!(*s, seq + 1, "diffs follow each other");
            seq = *s;
            diffs += 1;
            let step = match (midway, diffs) {
                (Midway::Chart, 10) => {
                    Some(json!({"op": "chart", "symbol": "AAA", "interval": "1s"}))
                }
                (Midway::Chart, 30) => Some(json!({"op": "chart"})),
                (Midway::Rate, 10) => Some(json!({"op": "rate", "max_hz": 20})),
                (Midway::Rate, 20) => Some(json!({"op": "rate"})),
                _ => None,
            };
            if let Some(step) = step {
                client.send_json(step).await;
            }
        }
        apply_quotes(&mut held, &msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_reads_every_batch_in_order_and_ends_exact() {
    let (server, feed) = TestServer::scripted(&["--flush-ms", "20"], &SYMBOLS).await;
    feed.send(tick("AAA", 10.0, 100)).await.unwrap();
    let plans: [(&str, &[&str], Midway); 8] = [
        ("tickertape.v1.json", &["*"], Midway::Nothing),
        ("tickertape.v1.json", &["*"], Midway::Chart),
        ("tickertape.v1.json", &["*"], Midway::Rate),
        ("tickertape.v1.json", &["BBB", "CCC"], Midway::Nothing),
        ("tickertape.v1.bin", &["*"], Midway::Nothing),
        ("tickertape.v1.bin", &["*"], Midway::Chart),
        ("tickertape.v1.bin", &["*"], Midway::Rate),
        ("tickertape.v1.bin", &["DDD"], Midway::Nothing),
    ];
    let mut followers = Vec::new();
    for (protocol, symbols, midway) in plans {
        let (mut client, _) = Client::connect_offering(&server.ws_url(), protocol).await;
        let (seq, quotes) = client.subscribe(symbols).await;
        let symbols: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
        followers.push((symbols, tokio::spawn(follow(client, seq, quotes, midway))));
    }

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(19);
    for burst in 0..150 {
        for _ in 0..rng.random_range(1..8) {
            let symbol = SYMBOLS[rng.random_range(0..SYMBOLS.len())];
            let price = f64::from(rng.random_range(500..1500)) / 100.0 + 0.001 * f64::from(burst);
            feed.send(tick(symbol, price, rng.random_range(1..500)))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..40))).await;
    }

    // The last ticks are published within a flush.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server_quotes: QuotesResponse = server.get("/api/quotes").await.json().await.unwrap();
    let mut diffs = 0;
    for (symbols, follower) in followers {
        let (held, read) = follower.await.unwrap();
        let expected: Vec<&Quote> = server_quotes
            .quotes
            .iter()
            .filter(|q| symbols == ["*"] || symbols.contains(&q.symbol))
            .collect();
        assert_eq!(held.values().collect::<Vec<_>>(), expected, "{symbols:?}");
        assert!(read >= 20, "{symbols:?} read {read} diffs");
        diffs += read;
    }
    // Most diffs went from the writers: the sessions' own tasks sent the
    // first after each hand-back and those of the paced stretches.
    let metrics = server.get("/metrics").await.text().await.unwrap();
    let from_writers = metric(&metrics, "tickertape_fanout_sends_total");
    assert!(
        from_writers * 10 >= diffs * 7 && from_writers <= diffs,
        "{from_writers} of {diffs} diffs from the writers"
    );
    server.shutdown().await;
}
