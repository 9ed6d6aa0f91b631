//! `{"op":"rate"}`: a client that asks for fewer messages gets the merged
//! change since its last, at its pace, and its state stays exact.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app::protocol::{ErrorCode, Quote, ServerMsg};
use serde_json::json;

use crate::common::{Client, Read, TestServer};

/// Reads for `span`, checking every diff continues the seq, applying it to
/// `state`; returns how many diffs came.
async fn diffs_for(
    client: &mut Client,
    span: Duration,
    seq: &mut u64,
    state: &mut HashMap<String, Quote>,
) -> usize {
    let end = Instant::now() + span;
    let mut diffs = 0;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(read) = tokio::time::timeout(left, client.read()).await else {
            break;
        };
        match read {
            Read::Msg(ServerMsg::Diff {
                seq: s, changes, ..
            }) => {
                assert_eq!(s, *seq + 1, "no gap, no repeat");
                *seq = s;
                for change in changes {
                    if let Some(quote) = state.get_mut(&change.symbol) {
                        quote.apply(&change);
                    }
                }
                diffs += 1;
            }
            Read::Msg(ServerMsg::Snapshot { .. }) => panic!("a paced client is not resynced"),
            Read::Msg(_) => {}
            Read::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }
    diffs
}

#[tokio::test]
async fn a_paced_client_gets_one_merged_diff_per_period_and_full_rate_again_after() {
    let args = [
        "--symbols",
        "AAPL,MSFT,NVDA",
        "--sim-rate",
        "20",
        "--flush-ms",
        "50",
    ];
    let server = TestServer::start(&args).await;
    let mut client = server.connect().await;
    let (mut seq, quotes) = client.subscribe(&["*"]).await;
    let mut state: HashMap<String, Quote> =
        quotes.into_iter().map(|q| (q.symbol.clone(), q)).collect();

    // Full rate first: a diff per 50 ms batch, about 20 a second.
    let full = diffs_for(&mut client, Duration::from_secs(1), &mut seq, &mut state).await;
    assert!(full >= 8, "{full} diffs in a second at full rate");

    client.send_json(json!({"op": "rate", "max_hz": 2})).await;
    let paced = diffs_for(&mut client, Duration::from_secs(3), &mut seq, &mut state).await;
    assert!((3..=8).contains(&paced), "{paced} diffs in 3 s at 2 Hz");

    client.send_json(json!({"op": "rate"})).await;
    let again = diffs_for(&mut client, Duration::from_secs(1), &mut seq, &mut state).await;
    assert!(
        again >= 8,
        "{again} diffs in a second after full rate again"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_paced_clients_state_is_exact() {
    let args = [
        "--control-token",
        "t",
        "--sim-paused",
        "--seed",
        "2",
        "--symbols",
        "AAPL,MSFT",
        "--flush-ms",
        "20",
    ];
    let server = TestServer::start(&args).await;
    let mut client = server.connect().await;
    let (mut seq, quotes) = client.subscribe(&["*"]).await;
    let mut state: HashMap<String, Quote> =
        quotes.into_iter().map(|q| (q.symbol.clone(), q)).collect();
    client.send_json(json!({"op": "rate", "max_hz": 1})).await;
    let http = reqwest::Client::new();
    // Five batches within a second: at most two messages carry them.
    for _ in 0..5 {
        http.post(server.url("/api/control/sim/step"))
            .bearer_auth("t")
            .body(r#"{"ticks":1}"#)
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let diffs = diffs_for(
        &mut client,
        Duration::from_millis(1500),
        &mut seq,
        &mut state,
    )
    .await;
    assert!(
        (1..=2).contains(&diffs),
        "{diffs} diffs for 5 batches at 1 Hz"
    );
    let now: serde_json::Value = server.get("/api/quotes").await.json().await.unwrap();
    let now: Vec<Quote> = serde_json::from_value(now["quotes"].clone()).unwrap();
    for quote in now {
        assert_eq!(
            state[&quote.symbol], quote,
            "the merged diffs give the state"
        );
    }

    // A rate that is not a positive number is refused; the pace stays.
    for bad in [json!(0), json!(-1), json!("fast")] {
        client.send_json(json!({"op": "rate", "max_hz": bad})).await;
        let code = client
            .until(|m| match m {
                ServerMsg::Error { code, .. } => Some(code),
                _ => None,
            })
            .await;
        assert_eq!(code, ErrorCode::BadRequest);
    }
    server.shutdown().await;
}
