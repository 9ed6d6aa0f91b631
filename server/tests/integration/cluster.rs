//! One ingest node and several edges on a real `nats-server`, all real
//! `tickertape` processes: edges serve identical state, survive the ingest
//! node and NATS going away, and a late edge starts with everything.

use std::time::{Duration, Instant};

use app::protocol::FeedState;
use futures_util::StreamExt;

use crate::common::cluster::{Nats, Node, Watcher, by_symbol};

/// Fast heartbeats keep the test short: stale after 3 × 200 ms.
const HEARTBEAT: &[&str] = &["--bus-heartbeat-ms", "200"];

fn ingest_args() -> Vec<&'static str> {
    [
        &["--seed", "11", "--sim-symbols", "12", "--sim-rate", "20"],
        HEARTBEAT,
    ]
    .concat()
}

/// The value of one sample in Prometheus text, e.g. `tickertape_bus_connected`.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Every edge's quotes and 1 s candles, once they stopped changing.
async fn assert_identical(edges: &[&Node], watchers: &[&Watcher]) {
    let reference = by_symbol(edges[0].quotes().await);
    assert_eq!(reference.len(), 12, "every symbol has a quote");
    for edge in &edges[1..] {
        assert_eq!(by_symbol(edge.quotes().await), reference, "{}", edge.base);
    }
    for watcher in watchers {
        assert_eq!(watcher.quote_list(), reference, "a client's applied diffs");
    }
    for symbol in ["AAPL", "MSFT"] {
        for interval in ["1s", "1m"] {
            let bars = edges[0].candles(symbol, interval).await;
            assert!(!bars.is_empty());
            for edge in &edges[1..] {
                assert_eq!(
                    edge.candles(symbol, interval).await,
                    bars,
                    "{symbol} {interval}"
                );
            }
        }
    }
}

#[tokio::test]
async fn edges_serve_identical_state_through_an_ingest_restart_and_a_late_start() {
    let nats = Nats::start();
    let bus = nats.url();
    let ingest = Node::ingest(&bus, &ingest_args());
    let edge1 = Node::edge(&bus, HEARTBEAT);
    let edge2 = Node::edge(&bus, HEARTBEAT);
    let mut w1 = Watcher::connect(&edge1).await;
    let mut w2 = Watcher::connect(&edge2).await;
    w1.until_feed("sim", FeedState::Live).await;
    w2.until_feed("sim", FeedState::Live).await;
    let (quotes1, quotes2) = (w1.quotes.clone(), w2.quotes.clone());
    w1.follow_for(Duration::from_millis(800)).await;
    w2.follow_for(Duration::from_millis(10)).await;
    assert_ne!(w1.quotes, quotes1, "edge 1 streams live prices");

    // The ingest node dies: both edges keep the last state and say stale.
    ingest.signal("KILL");
    drop(ingest);
    for w in [&mut w1, &mut w2] {
        w.until_feed("sim", FeedState::Stale).await;
        // A busy edge may still be applying batches it had queued when it
        // noticed the silence.
        w.follow_for(Duration::from_millis(300)).await;
    }
    assert_ne!(w2.quotes, quotes2, "edge 2 streamed live prices");
    assert_identical(&[&edge1, &edge2], &[&w1, &w2]).await;
    let ready = edge1.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let reason = ready.text().await.unwrap();
    assert!(
        reason.contains("no heartbeat from the ingest node"),
        "{reason}"
    );

    // A new ingest process (a new epoch): edges copy its state and go live.
    let ingest = Node::ingest(&bus, &ingest_args());
    w1.until_feed("sim", FeedState::Live).await;
    w2.until_feed("sim", FeedState::Live).await;
    assert_eq!(edge1.get("/readyz").await.status(), 200);
    let metrics = edge1.metrics().await;
    assert!(
        sample(&metrics, "tickertape_bus_resyncs_total{reason=\"epoch\"}").unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );
    assert!(sample(&metrics, "tickertape_bus_lag_seconds_count").unwrap() > 0.0);
    assert_eq!(sample(&metrics, "tickertape_bus_connected"), Some(1.0));

    // A third edge starts late and serves the same state at once.
    let edge3 = Node::edge(&bus, HEARTBEAT);
    let mut w3 = Watcher::connect(&edge3).await;
    w3.until_feed("sim", FeedState::Live).await;
    w1.follow_for(Duration::from_millis(500)).await;
    ingest.signal("STOP");
    for w in [&mut w1, &mut w2, &mut w3] {
        w.until_feed("sim", FeedState::Stale).await;
        w.follow_for(Duration::from_millis(300)).await;
    }
    assert_identical(&[&edge1, &edge2, &edge3], &[&w1, &w2, &w3]).await;

    // The frozen ingest node resumes: same epoch, edges live again.
    ingest.signal("CONT");
    for w in [&mut w1, &mut w2, &mut w3] {
        w.until_feed("sim", FeedState::Live).await;
    }
    let before = w3.quotes.clone();
    w3.follow_for(Duration::from_millis(800)).await;
    assert_ne!(w3.quotes, before, "prices move again on the late edge");
}

#[tokio::test]
async fn edges_ride_out_a_nats_restart() {
    let nats = Nats::start();
    let bus = nats.url();
    let _ingest = Node::ingest(&bus, &ingest_args());
    let edge = Node::edge(&bus, HEARTBEAT);
    let mut watcher = Watcher::connect(&edge).await;
    watcher.until_feed("sim", FeedState::Live).await;

    let port = nats.kill();
    watcher.until_feed("sim", FeedState::Stale).await;
    let ready = edge.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let metrics = edge.metrics().await;
    assert_eq!(sample(&metrics, "tickertape_bus_connected"), Some(0.0));

    let _nats = Nats::start_on(Some(port));
    watcher.until_feed("sim", FeedState::Live).await;
    let before = watcher.quotes.clone();
    watcher.follow_for(Duration::from_millis(800)).await;
    assert_ne!(
        watcher.quotes, before,
        "prices flow again after NATS returns"
    );
    assert_eq!(
        by_symbol(edge.quotes().await).len(),
        12,
        "the edge still serves every symbol"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge.get("/readyz").await.status() != 200 {
        assert!(
            Instant::now() < deadline,
            "edge not ready after NATS returned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_ingest_node_serves_machines_not_browsers_and_edges_shrug_off_garbage() {
    let nats = Nats::start();
    let bus = nats.url();
    let ingest = Node::ingest(&bus, &ingest_args());
    let page = ingest.get("/").await;
    assert_eq!(page.status(), 404);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("browsers connect to an edge")
    );
    assert_eq!(ingest.get("/api/symbols").await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let batch_out = "tickertape_bus_messages_total{kind=\"batch_out\"}";
    while sample(&ingest.metrics().await, batch_out).unwrap_or(0.0) == 0.0 {
        assert!(
            Instant::now() < deadline,
            "the ingest node publishes no batches"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let edge = Node::edge(&bus, HEARTBEAT);
    let mut watcher = Watcher::connect(&edge).await;
    watcher.until_feed("sim", FeedState::Live).await;
    // A hostile or broken publisher on the cluster's subjects.
    let rogue = async_nats::connect(bus.as_str()).await.unwrap();
    for subject in ["tickertape.batch", "tickertape.heartbeat"] {
        for payload in ["", "{", "[1,2,3]", r#"{"epoch":"x"}"#] {
            rogue.publish(subject, payload.into()).await.unwrap();
        }
    }
    let mut replies = rogue.subscribe("rogue.inbox").await.unwrap();
    rogue
        .publish_with_reply("tickertape.state", "rogue.inbox", "".into())
        .await
        .unwrap();
    rogue.flush().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), replies.next())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first.payload).contains("\"part\":\"head\""));

    let before = watcher.quotes.clone();
    watcher.follow_for(Duration::from_millis(800)).await;
    assert_ne!(watcher.quotes, before, "the edge still streams");
    assert_eq!(watcher.feeds.get("sim"), Some(&FeedState::Live));
    let metrics = edge.metrics().await;
    let errors = sample(&metrics, "tickertape_bus_errors_total{kind=\"batch_in\"}").unwrap()
        + sample(
            &metrics,
            "tickertape_bus_errors_total{kind=\"heartbeat_in\"}",
        )
        .unwrap();
    assert_eq!(errors, 8.0, "{metrics}");
}
