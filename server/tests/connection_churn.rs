//! A storm of connections opened and dropped leaves nothing behind. (Its own
//! test binary: the memory it measures is this process's.)

#[path = "integration/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{TestServer, metric, rss_kib};
use serde_json::json;

#[tokio::test]
async fn ten_thousand_connects_and_disconnects_leave_nothing_behind() {
    let server = TestServer::start(&["--flush-ms", "50"]).await;
    let url = server.ws_url();
    let cycle = |subscribe: bool| {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url)
                .await
                .expect("connect");
            use futures_util::SinkExt;
            if subscribe {
                let msg = json!({"op": "subscribe", "symbols": ["AAPL"]}).to_string();
                ws.send(tokio_tungstenite::tungstenite::Message::text(msg))
                    .await
                    .unwrap();
            }
            drop(ws); // some leave without a close frame
        }
    };
    // Warm up, then measure from a settled baseline.
    for _ in 0..200 {
        cycle(true).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib();
    let total = 10_000;
    let mut done = 0;
    while done < total {
        let batch: Vec<_> = (0..50).map(|i| tokio::spawn(cycle(i % 2 == 0))).collect();
        for task in batch {
            task.await.unwrap();
        }
        done += 50;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = server.get("/metrics").await.text().await.unwrap();
        if metric(&metrics, "tickertape_connections ") == 0 || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        metric(&metrics, "tickertape_connections "),
        0,
        "sessions left open"
    );
    assert_eq!(
        metric(&metrics, "tickertape_sessions_opened_total"),
        total + 200
    );
    assert_eq!(
        server.state.sessions.tracker.len(),
        0,
        "session tasks left running"
    );
    let growth_mib = rss_kib().saturating_sub(baseline) / 1024;
    assert!(
        growth_mib < 40,
        "memory grew by {growth_mib} MiB over {total} connections"
    );
    server.shutdown().await;
}
