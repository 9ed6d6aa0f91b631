//! State copies between the ingest node and its edges: bars never go
//! backwards after a copy, quotes of a previous ingest epoch are withdrawn,
//! and a crowd of edges resyncing at once converges without a retry storm.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app::protocol::{Candle, ServerMsg, SymbolInfo};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::common::cluster::{Nats, Node, Watcher, by_symbol};
use crate::common::{Client, scratch};

const HEARTBEAT: &[&str] = &["--bus-heartbeat-ms", "200"];
const MINUTE: Duration = Duration::from_secs(60);

/// The value of one sample in Prometheus text (0 when absent).
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the node answers `/readyz` with 200.
async fn ready(node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.get("/readyz").await.status() != 200 {
        assert!(
            Instant::now() < deadline,
            "{} never became ready",
            node.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `ready` holds for the node's metrics (at most `wait`).
async fn metrics_until(
    node: &Node,
    what: &str,
    wait: Duration,
    mut ready: impl FnMut(&str) -> bool,
) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let metrics = node.metrics().await;
        if ready(&metrics) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "{what}; metrics:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The state of every bar a chart client was shown, by start time; fails on
/// a bar shown again with less volume (it went backwards).
#[derive(Default)]
struct Shown {
    bars: HashMap<i64, Candle>,
    updates: usize,
}

impl Shown {
    fn show(&mut self, bar: Candle, from: &str) {
        if let Some(before) = self.bars.get(&bar.t) {
            assert!(
                bar.v >= before.v,
                "the bar at {} went backwards ({from}): {before:?} then {bar:?}",
                bar.t
            );
        }
        self.bars.insert(bar.t, bar);
        self.updates += 1;
    }

    /// Reads `client` for `time`, checking every bar it is sent.
    async fn follow(&mut self, client: &mut Client, time: Duration) {
        let deadline = tokio::time::Instant::now() + time;
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, client.ws.next()).await {
            let Ok(Message::Text(text)) = frame else {
                continue;
            };
            match serde_json::from_str(&text).expect("protocol JSON") {
                ServerMsg::Candles { candles, .. } => {
                    for bar in candles {
                        self.show(bar, "history");
                    }
                }
                ServerMsg::Candle { candle, .. } => self.show(candle, "update"),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn bars_never_go_backwards_on_an_edge_after_a_state_copy() {
    let nats = Nats::start();
    let bus = nats.url();
    // Enough symbols that a copy takes a while; a busy symbol read last.
    let args = [
        &["--seed", "5", "--sim-symbols", "120", "--sim-rate", "20"][..],
        HEARTBEAT,
    ]
    .concat();
    let ingest = Node::ingest(&bus, &args);
    ready(&ingest).await;
    let edge = Node::edge(&bus, HEARTBEAT);
    let symbols: Vec<SymbolInfo> = edge.get("/api/symbols").await.json().await.unwrap();
    let last = &symbols.last().unwrap().symbol;
    let mut chart = Client::connect(&edge.ws_url()).await;
    chart
        .send_json(
            serde_json::json!({"op": "chart", "symbol": last, "interval": "1m", "limit": 10}),
        )
        .await;
    let mut shown = Shown::default();
    shown.follow(&mut chart, Duration::from_secs(2)).await;
    assert!(
        shown.updates > 5,
        "the chart is not moving: {} updates",
        shown.updates
    );

    // NATS goes away and comes back: the edge copies the state again while
    // batches keep coming, then applies the ones it held meanwhile.
    let port = nats.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _nats = Nats::start_on(Some(port));
    let before = shown.updates;
    let resynced = |m: &str| sample(m, "tickertape_bus_resyncs_total{reason=\"reconnect\"}") >= 1.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !resynced(&edge.metrics().await) || edge.get("/readyz").await.status() != 200 {
        assert!(Instant::now() < deadline, "the edge never resynced");
        shown.follow(&mut chart, Duration::from_millis(200)).await;
    }
    shown.follow(&mut chart, Duration::from_secs(3)).await;
    // Settled bars are the ingest node's exactly: none kept an older state
    // from a batch that was already in the copy. The ingest node is read
    // first; the edge once it has applied every batch published by then.
    for info in symbols.iter().rev().take(40) {
        let theirs = ingest.candles(&info.symbol, "1s").await;
        let published = sample(&ingest.metrics().await, "tickertape_bus_seq");
        let settled = tickertape::now_ms() - 3_000;
        metrics_until(&edge, "the edge to catch up", MINUTE, |m| {
            sample(m, "tickertape_bus_seq") >= published
        })
        .await;
        let ours = edge.candles(&info.symbol, "1s").await;
        let from = ours
            .first()
            .map_or(0, |b| b.t)
            .max(theirs.first().map_or(0, |b| b.t));
        let window = |bars: Vec<Candle>| -> Vec<Candle> {
            bars.into_iter()
                .filter(|b| b.t >= from && b.t < settled)
                .collect()
        };
        let (ours, theirs) = (window(ours), window(theirs));
        let differ = ours.iter().zip(&theirs).find(|(a, b)| a != b);
        assert!(
            differ.is_none() && ours.len() == theirs.len(),
            "{} 1 s bars: the edge has {} and the ingest node {}; first difference {differ:?}",
            info.symbol,
            ours.len(),
            theirs.len()
        );
    }
    // Catching up on the batches held during the copy must not lap the
    // hub's ring before the chart's session reads it (1013 for a client
    // that was keeping up).
    let evicted = sample(
        &edge.metrics().await,
        "tickertape_slow_consumer_evictions_total",
    );
    assert_eq!(evicted, 0.0, "the edge evicted a client that kept up");
    assert!(
        shown.updates > before + 5,
        "the chart saw too little after the copy: {} updates, {before} before it",
        shown.updates
    );
}

#[tokio::test]
async fn an_edge_withdraws_quotes_a_restarted_ingest_node_has_not_sent() {
    let dir = scratch(&[
        (
            "all.csv",
            "ts,symbol,price,size\n1795000000000,AAPL,100,1\n1795000000000,MSFT,200,1\n1795000000000,NVDA,300,1\n",
        ),
        (
            "aapl.csv",
            "ts,symbol,price,size\n1795000000000,AAPL,101,1\n",
        ),
    ]);
    let feed = |file: &str| format!("replay:{}", dir.join(file).display());
    let nats = Nats::start();
    let bus = nats.url();
    let all = feed("all.csv");
    let ingest = Node::ingest(&bus, &[&["--feed", all.as_str()][..], HEARTBEAT].concat());
    let edge = Node::edge(&bus, HEARTBEAT);
    let mut watcher = Watcher::connect(&edge).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while edge.quotes().await.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the edge never quoted every symbol"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The same universe from a new ingest process whose feed for MSFT and
    // NVDA cannot connect: in its epoch only AAPL has a quote.
    drop(ingest);
    let aapl = feed("aapl.csv");
    let args = [
        "--feed",
        aapl.as_str(),
        "--feed",
        "finnhub",
        // History: none (its own tests are in backfill.rs).
        "--backfill-bars",
        "0",
        "--finnhub-token",
        "t",
        "--finnhub-url",
        "ws://127.0.0.1:9",
        "--finnhub-symbols",
        "MSFT,NVDA",
    ];
    let ingest = Node::ingest(&bus, &[&args[..], HEARTBEAT].concat());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fresh = by_symbol(ingest.quotes().await);
        let served = by_symbol(edge.quotes().await);
        watcher.follow_for(Duration::from_millis(100)).await;
        if fresh.len() == 1 && served == fresh && watcher.quote_list() == served {
            // The client connected through it was sent a snapshot without them.
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edge serves {served:?}, its client holds {:?}, the ingest node {fresh:?}",
            watcher.quote_list()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn five_edges_resync_at_once_and_converge_without_a_retry_storm() {
    let nats = Nats::start();
    let bus = nats.url();
    let args = [
        &["--seed", "9", "--sim-symbols", "150", "--sim-rate", "5"][..],
        HEARTBEAT,
    ]
    .concat();
    let ingest = Node::ingest(&bus, &args);
    ready(&ingest).await;
    let edges: Vec<Node> = (0..5).map(|_| Node::edge(&bus, HEARTBEAT)).collect();
    let done = "tickertape_bus_state_transfers_total{outcome=\"done\"}";
    metrics_until(&ingest, "five initial copies", 3 * MINUTE, |m| {
        sample(m, done) >= 5.0
    })
    .await;

    let port = nats.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _nats = Nats::start_on(Some(port));
    // Two copies at a time, a request queued 30 s expires and is asked
    // again: on a busy 2-core machine five full copies take minutes.
    let metrics = metrics_until(&ingest, "five copies after the restart", 3 * MINUTE, |m| {
        sample(m, done) >= 10.0
    })
    .await;
    for edge in &edges {
        let deadline = Instant::now() + Duration::from_secs(30);
        while edge.get("/readyz").await.status() != 200 {
            assert!(
                Instant::now() < deadline,
                "{} not ready after the resync",
                edge.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // No retry storm: about one request per edge per event. (A transfer an
    // edge too starved of CPU to acknowledge in time is given up and asked
    // again, so a few more are allowed on a busy machine.)
    let requests: f64 = ["done", "gave_up", "publish_failed", "expired", "queue_full"]
        .iter()
        .map(|o| {
            sample(
                &metrics,
                &format!("tickertape_bus_state_transfers_total{{outcome=\"{o}\"}}"),
            )
        })
        .sum();
    assert!(
        (10.0..=14.0).contains(&requests),
        "{requests} state requests for 5 edges × 2 events:\n{metrics}"
    );
    // No edge took the heartbeats queued during its copy for lost batches.
    for edge in &edges {
        let metrics = edge.metrics().await;
        let gaps = sample(&metrics, "tickertape_bus_resyncs_total{reason=\"gap\"}");
        assert_eq!(
            gaps, 0.0,
            "{} resynced for a gap that was not there",
            edge.base
        );
    }
    // And they serve one state: equal symbol lists, quotes of the same symbols.
    let reference: Vec<String> = by_symbol(edges[0].quotes().await)
        .into_iter()
        .map(|q| q.symbol)
        .collect();
    assert_eq!(reference.len(), 150);
    for edge in &edges[1..] {
        let symbols: Vec<String> = by_symbol(edge.quotes().await)
            .into_iter()
            .map(|q| q.symbol)
            .collect();
        assert_eq!(symbols, reference, "{}", edge.base);
    }
}
