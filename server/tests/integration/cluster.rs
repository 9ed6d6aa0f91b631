//! One ingest node and several edges on a real `nats-server`, all real
//! `tickertape` processes: edges serve identical state, survive the ingest
//! node and NATS going away, and a late edge starts with everything.

use std::time::{Duration, Instant};

use app::protocol::{FeedState, ServerMsg};
use futures_util::StreamExt;

use crate::common::cluster::{Nats, Node, Watcher, by_symbol};
use crate::common::{Client, ClientBook, Read, apply_quotes};

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
    assert!(w1.moves_from(&quotes1).await, "edge 1 streams live prices");
    assert!(w2.moves_from(&quotes2).await, "edge 2 streams live prices");

    // The ingest node dies: both edges keep the last state and say stale.
    ingest.signal("KILL");
    drop(ingest);
    for w in [&mut w1, &mut w2] {
        w.until_feed("sim", FeedState::Stale).await;
        // A busy edge may still be applying batches it had queued when it
        // noticed the silence.
        w.follow_for(Duration::from_millis(300)).await;
    }
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
    assert!(
        w3.moves_from(&before).await,
        "prices move again on the late edge"
    );
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
    assert!(
        watcher.moves_from(&before).await,
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
    assert!(watcher.moves_from(&before).await, "the edge still streams");
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

/// What a client charting a symbol with its tape and book has seen.
#[derive(Default)]
struct Seen {
    book: ClientBook,
    books: usize,
    trades: Vec<app::protocol::Trade>,
}

/// Reads `client`'s chart messages for `time`, applying them.
async fn follow_depth(client: &mut Client, seen: &mut Seen, time: Duration) {
    let until = tokio::time::Instant::now() + time;
    while let Ok(read) = tokio::time::timeout_at(until, client.read()).await {
        let Read::Msg(msg) = read else {
            panic!("closed")
        };
        match msg {
            app::protocol::ServerMsg::Book { .. } => {
                seen.book.apply(&serde_json::to_value(&msg).unwrap());
                seen.books += 1;
                assert!(
                    !seen.book.live || seen.book.bids[0].0 < seen.book.asks[0].0,
                    "a live book is never crossed: {:?}",
                    seen.book
                );
            }
            app::protocol::ServerMsg::Trades { trades, .. } => seen.trades.extend(trades),
            _ => {}
        }
    }
}

#[tokio::test]
async fn edges_relay_the_trades_tape_and_the_order_book() {
    let nats = Nats::start();
    let bus = nats.url();
    let ingest = Node::ingest(&bus, &ingest_args());
    let edges = [Node::edge(&bus, HEARTBEAT), Node::edge(&bus, HEARTBEAT)];
    let mut clients = Vec::new();
    for edge in &edges {
        let mut w = Watcher::connect(edge).await;
        w.until_feed("sim", FeedState::Live).await;
        let mut client = Client::connect(&edge.ws_url()).await;
        let chart =
            serde_json::json!({"op": "chart", "symbol": "AAPL", "trades": true, "book": true});
        client.send_json(chart).await;
        clients.push((client, Seen::default()));
    }
    for (client, seen) in &mut clients {
        follow_depth(client, seen, Duration::from_millis(1_500)).await;
    }
    // Frozen, the ingest node publishes nothing more: what each client
    // holds is where the edges' copies stand.
    ingest.signal("STOP");
    for (client, seen) in &mut clients {
        follow_depth(client, seen, Duration::from_millis(800)).await;
    }
    let quote = by_symbol(edges[0].quotes().await)
        .into_iter()
        .find(|q| q.symbol == "AAPL")
        .unwrap();
    for (_, seen) in &clients {
        let book = &seen.book;
        assert!(seen.books > 2, "the book changes as it trades");
        assert!(book.live, "{book:?}");
        assert_eq!((book.bids.len(), book.asks.len()), (20, 20));
        // The simulator's book sits on its last quote.
        assert_eq!((book.bids[0].0, book.asks[0].0), (quote.bid, quote.ask));
        assert_eq!(book, &clients[0].1.book, "both edges serve one book");
        let trades = &seen.trades;
        assert!(trades.len() > 10, "the tape runs: {}", trades.len());
        assert!(trades.windows(2).all(|w| w[0].t <= w[1].t), "in order");
        assert_eq!(trades.last().unwrap().p, quote.last);
        assert!(
            trades.iter().all(|t| t.side.is_some()),
            "the simulator says the side"
        );
    }
    ingest.signal("CONT");
}

/// A client's view in a cluster: the epoch it was greeted with, its last
/// `seq` and `batch`, its quotes, and its quotes as of each batch.
struct Roamer {
    client: Client,
    epoch: String,
    seq: u64,
    batch: u64,
    quotes: std::collections::BTreeMap<String, app::protocol::Quote>,
    as_of: std::collections::BTreeMap<u64, Vec<app::protocol::Quote>>,
}

impl Roamer {
    /// Connects to `node`; the hello names its epoch.
    async fn greeted(node: &Node) -> (Client, String) {
        let mut client = Client::connect(&node.ws_url()).await;
        let ServerMsg::Hello { epoch, .. } = client.msg().await else {
            panic!("hello first");
        };
        (client, epoch)
    }

    /// A new client of `node`, subscribed to every symbol.
    async fn subscribed(node: &Node) -> Roamer {
        let (client, epoch) = Roamer::greeted(node).await;
        let mut roamer = Roamer {
            client,
            epoch,
            seq: 0,
            batch: 0,
            quotes: Default::default(),
            as_of: Default::default(),
        };
        roamer
            .client
            .send_json(serde_json::json!({"op": "subscribe", "symbols": ["*"]}))
            .await;
        roamer
    }

    /// Applies a snapshot or diff, checking `seq` runs on.
    fn apply(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Snapshot { seq, batch, .. } | ServerMsg::Diff { seq, batch, .. } => {
                if self.seq > 0 {
                    assert_eq!(*seq, self.seq + 1, "seq runs on");
                }
                (self.seq, self.batch) = (*seq, *batch);
            }
            _ => return,
        }
        apply_quotes(&mut self.quotes, msg);
        self.as_of
            .insert(self.batch, self.quotes.values().cloned().collect());
    }

    /// Applies messages for `time`.
    async fn follow_for(&mut self, time: Duration) {
        let deadline = tokio::time::Instant::now() + time;
        while let Ok(read) = tokio::time::timeout_at(deadline, self.client.read()).await {
            match read {
                Read::Msg(msg) => self.apply(&msg),
                Read::Closed(frame) => panic!("closed: {frame:?}"),
            }
        }
    }

    /// Leaves, and comes back to `node` with `resume`: the first message
    /// about quotes it gets there.
    async fn resume_on(&mut self, node: &Node) -> ServerMsg {
        let (client, epoch) = Roamer::greeted(node).await;
        assert_eq!(
            epoch, self.epoch,
            "every node numbers batches as the ingest node"
        );
        self.client = client;
        self.as_of.clear();
        let resume = serde_json::json!({
            "op": "resume", "epoch": self.epoch, "seq": self.seq,
            "batch": self.batch, "symbols": ["*"],
        });
        self.client.send_json(resume).await;
        let answer = self
            .client
            .until(|m| {
                matches!(m, ServerMsg::Snapshot { .. } | ServerMsg::Diff { .. }).then_some(m)
            })
            .await;
        self.apply(&answer);
        answer
    }

    /// Whether its quotes equal those of a client that got a snapshot from
    /// `node` at a batch both have seen.
    async fn agrees_with_a_fresh_client_of(&mut self, node: &Node) {
        let mut fresh = Roamer::subscribed(node).await;
        let (mine, theirs) = tokio::join!(
            self.follow_for(Duration::from_millis(1500)),
            fresh.follow_for(Duration::from_millis(1500))
        );
        let ((), ()) = (mine, theirs);
        let common: Vec<u64> = self
            .as_of
            .keys()
            .filter(|b| fresh.as_of.contains_key(b))
            .copied()
            .collect();
        assert!(!common.is_empty(), "both followed the same batches");
        for batch in common {
            assert_eq!(
                self.as_of[&batch], fresh.as_of[&batch],
                "as of batch {batch}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_resumes_on_another_edge_or_the_ingest_node_with_one_diff() {
    let nats = Nats::start();
    let bus = nats.url();
    let ingest = Node::ingest(&bus, &[&ingest_args()[..], &["--serve-browsers"]].concat());
    let (a, b) = (Node::edge(&bus, HEARTBEAT), Node::edge(&bus, HEARTBEAT));
    let mut roamer = Roamer::subscribed(&a).await;
    roamer.follow_for(Duration::from_secs(1)).await;
    assert!(roamer.batch > 0 && roamer.quotes.len() == 12);

    for node in [&b, &ingest, &a] {
        let seq = roamer.seq;
        let answer = roamer.resume_on(node).await;
        assert!(
            matches!(answer, ServerMsg::Diff { seq: s, .. } if s == seq + 1),
            "one diff, not a snapshot, from {}: {answer:?}",
            node.base
        );
        roamer.agrees_with_a_fresh_client_of(node).await;
        let resumed = sample(
            &node.metrics().await,
            "tickertape_resumes_total{answer=\"diff\"}",
        );
        assert_eq!(resumed, Some(1.0), "{}", node.base);
    }
}
