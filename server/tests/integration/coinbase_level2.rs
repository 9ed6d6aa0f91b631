//! The Coinbase adapter's order book against a recorded Coinbase Exchange
//! level-2 sequence (`tests/data/coinbase-level2.jsonl`), played by a local
//! server speaking Coinbase's wire format.
//!
//! The recording, BTC-USD on `level2_batch` with `ticker` and `heartbeat`:
//! the subscriptions answer, a snapshot, 12 updates, then a gap (the batches
//! that lifted the lowest asks never came, so the next update's bids cross
//! the book) and one more update still in flight. Coinbase then answers the
//! adapter's unsubscribe and subscribe (two `subscriptions`) and sends a
//! fresh snapshot; 5 updates later one arrives older than the one before it
//! (out of order), again followed by one in flight, the two answers and a
//! snapshot; then 6 updates and a last ticker. Its times are moved to end
//! just before now (a live feed's events must be recent); nothing else is
//! changed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::protocol::{BOOK_DEPTH, FeedState, Level, ServerMsg};
use serde_json::{Value, json};
use tickertape::book::OrderBook;
use tickertape::feed::coinbase::{Coinbase, CoinbaseConfig};
use tickertape::feed::{ClockBounds, Feed, FeedOutput, FeedSink};
use tickertape::market::{Depth, DepthChange, Event, FeedId, History};
use tickertape::metrics::Metrics;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::common::TestServer;
use crate::common::provider::{MockConn, MockProvider};

const RECORDING: &str = include_str!("../data/coinbase-level2.jsonl");

/// Updates that apply cleanly after each snapshot of the recording, before
/// its gap (the last snapshot's all do).
const CLEAN_UPDATES: [usize; 3] = [12, 5, 6];

/// The recording's messages, their times moved so that the first is 10 s
/// ago.
fn recording() -> Vec<Value> {
    let mut lines: Vec<Value> = RECORDING
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let time = |msg: &Value| {
        let text = msg.get("time")?.as_str()?;
        chrono::DateTime::parse_from_rfc3339(text).ok()
    };
    let first = lines.iter().find_map(time).expect("a timed message");
    let shift = chrono::DateTime::from_timestamp_millis(tickertape::now_ms() - 10_000)
        .expect("now")
        .signed_duration_since(first);
    for msg in &mut lines {
        if let Some(at) = time(msg) {
            msg["time"] = json!((at + shift).to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        }
    }
    lines
}

fn kind(msg: &Value) -> &str {
    msg["type"].as_str().unwrap_or_default()
}

/// A `subscriptions` message without `level2_batch`: Coinbase's answer to
/// an unsubscribe from it, so the adapter must have asked for one.
fn answers_unsubscribe(msg: &Value) -> bool {
    kind(msg) == "subscriptions"
        && msg["channels"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["name"] != "level2_batch"))
}

/// What the adapter sends to get a fresh BTC-USD snapshot.
async fn expect_resubscribe(conn: &mut MockConn) {
    let request = |kind: &str| json!({"type": kind, "product_ids": ["BTC-USD"], "channels": ["level2_batch"]});
    assert_eq!(conn.recv().await, request("unsubscribe"));
    assert_eq!(conn.recv().await, request("subscribe"));
}

/// A book worked out by hand from the recording: size by price in cents.
#[derive(Clone, Debug, Default)]
struct HandBook {
    bids: BTreeMap<i64, Level>,
    asks: BTreeMap<i64, Level>,
}

impl HandBook {
    fn set(&mut self, side: &str, price: &Value, size: &Value) {
        let price: f64 = price.as_str().unwrap().parse().unwrap();
        let size: f64 = size.as_str().unwrap().parse().unwrap();
        let key = (price * 100.0).round() as i64;
        let levels = match side {
            "buy" => &mut self.bids,
            "sell" => &mut self.asks,
            other => panic!("side {other}"),
        };
        if size == 0.0 {
            levels.remove(&key);
        } else {
            levels.insert(key, (price, size));
        }
    }

    fn from_snapshot(msg: &Value) -> HandBook {
        let mut book = HandBook::default();
        for (name, side) in [("bids", "buy"), ("asks", "sell")] {
            for level in msg[name].as_array().unwrap() {
                book.set(side, &level[0], &level[1]);
            }
        }
        book
    }

    fn apply(&mut self, update: &Value) {
        for change in update["changes"].as_array().unwrap() {
            self.set(change[0].as_str().unwrap(), &change[1], &change[2]);
        }
    }

    /// The best `depth` levels per side, best first.
    fn top(&self, depth: usize) -> (Vec<Level>, Vec<Level>) {
        (
            self.bids.values().rev().take(depth).copied().collect(),
            self.asks.values().take(depth).copied().collect(),
        )
    }
}

/// Per snapshot of the recording, the book after its first `n` updates
/// for every `n`: `phases[k][n]`.
fn hand_books(lines: &[Value]) -> Vec<Vec<HandBook>> {
    let mut phases: Vec<Vec<HandBook>> = Vec::new();
    for msg in lines {
        match kind(msg) {
            "snapshot" => phases.push(vec![HandBook::from_snapshot(msg)]),
            "l2update" => {
                let phase = phases.last_mut().expect("a snapshot first");
                let mut next = phase.last().unwrap().clone();
                next.apply(msg);
                phase.push(next);
            }
            _ => {}
        }
    }
    phases
}

/// A hub stand-in: every event the adapter hands over, in order.
struct Sink {
    events: mpsc::Sender<Event>,
    states: Mutex<Vec<FeedState>>,
}

impl FeedSink for Sink {
    fn events(&self) -> mpsc::Sender<Event> {
        self.events.clone()
    }
    fn set_state(&self, _: FeedId, state: FeedState) {
        self.states.lock().unwrap().push(state);
    }
    fn set_error(&self, _: FeedId, _: String) {}
    fn history(&self, _: Vec<History>, _: i64) {}
}

fn config(url: &str) -> CoinbaseConfig {
    CoinbaseConfig {
        url: url.to_string(),
        products: vec!["BTC-USD".into()],
        idle: Duration::from_secs(30),
        rest_url: "http://127.0.0.1:9".into(),
        depth: 0,
    }
}

#[tokio::test]
async fn coinbase_level2_recording_forwards_every_clean_change_and_no_crossed_book() {
    let lines = recording();
    let mut mock = MockProvider::start().await;
    let (tx, mut rx) = mpsc::channel(1024);
    let sink = Arc::new(Sink {
        events: tx,
        states: Mutex::default(),
    });
    let mut out = FeedOutput::new(
        0,
        "coinbase".into(),
        sink.clone(),
        ClockBounds::default(),
        &Metrics::new(),
    );
    let stop = CancellationToken::new();
    let mut feed = Coinbase::new(config(&mock.url));
    let run = tokio::spawn({
        let stop = stop.clone();
        async move { feed.run(&mut out, stop).await }
    });

    let mut conn = mock.accept().await;
    assert_eq!(
        conn.recv().await,
        json!({"type": "subscribe", "product_ids": ["BTC-USD"],
               "channels": ["ticker", "heartbeat", "level2_batch"]})
    );
    for msg in &lines {
        if answers_unsubscribe(msg) {
            expect_resubscribe(&mut conn).await;
        }
        conn.send(msg.clone()).await;
    }
    // The last message is a ticker: once its trade is in, so is everything
    // before it.
    let tickers = lines.iter().filter(|m| kind(m) == "ticker").count();
    let mut depths: Vec<Depth> = Vec::new();
    let mut trades = 0;
    while trades < tickers {
        let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the recording's events in time")
            .expect("the adapter runs");
        match event {
            Event::Depth(depth) => depths.push(depth),
            Event::Trade(_) => trades += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    stop.cancel();
    run.await.unwrap().expect("stopped cleanly");
    assert_eq!(sink.states.lock().unwrap().as_slice(), [FeedState::Live]);

    // Lost at the start, then per snapshot its clean updates, each gap
    // making the book lost again.
    let kinds: Vec<&str> = depths
        .iter()
        .map(|d| match d.change {
            DepthChange::Snapshot { .. } => "snapshot",
            DepthChange::Update { .. } => "update",
            DepthChange::Lost => "lost",
        })
        .collect();
    let mut expected = Vec::new();
    for clean in CLEAN_UPDATES {
        expected.push("lost");
        expected.push("snapshot");
        expected.extend(std::iter::repeat_n("update", clean));
    }
    assert_eq!(kinds, expected);
    assert!(depths.iter().all(|d| &*d.symbol == "BTC-USD"));

    // Applied in order, the events never make a crossed book, and at each
    // loss and at the end it is the book worked out by hand.
    let hand = hand_books(&lines);
    assert_eq!(hand.len(), CLEAN_UPDATES.len());
    let mut book = OrderBook::default();
    let (mut phase, mut applied) = (None::<usize>, 0);
    let check = |book: &OrderBook, phase: usize, applied: usize| {
        let view = book.top(100);
        let (bids, asks) = hand[phase][applied].top(100);
        assert_eq!(
            (view.bids, view.asks),
            (bids, asks),
            "snapshot {phase} + {applied} updates"
        );
    };
    for depth in &depths {
        match &depth.change {
            DepthChange::Snapshot { bids, asks } => {
                book.snapshot(bids, asks);
                phase = Some(phase.map_or(0, |p| p + 1));
                applied = 0;
            }
            DepthChange::Update { bids, asks } => {
                book.update(bids, asks);
                applied += 1;
            }
            DepthChange::Lost => {
                if let Some(phase) = phase {
                    assert_eq!(applied, CLEAN_UPDATES[phase]);
                    check(&book, phase, applied);
                }
                book.lose();
            }
        }
        assert!(book.is_synced() || book.top(1).is_empty());
        assert!(!book.top(1).crossed(), "crossed after {depth:?}");
    }
    assert_eq!((phase, applied), (Some(2), CLEAN_UPDATES[2]));
    check(&book, 2, applied);
    assert_eq!(
        hand[2].len(),
        CLEAN_UPDATES[2] + 1,
        "every update after the last snapshot applied"
    );
}

/// A `book` message applied to what a client shows: whole when a
/// snapshot, else the levels changed (size 0: gone).
#[derive(Debug, Default, PartialEq)]
struct Shown {
    bids: Vec<Level>,
    asks: Vec<Level>,
    live: bool,
}

impl Shown {
    fn apply(&mut self, snapshot: bool, live: bool, bids: Vec<Level>, asks: Vec<Level>) {
        if snapshot {
            (self.bids, self.asks) = (bids, asks);
        } else {
            for (side, changes) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
                for (price, size) in changes {
                    side.retain(|l| l.0 != price);
                    if size > 0.0 {
                        side.push((price, size));
                    }
                }
            }
        }
        self.bids.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.asks.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.live = live;
        if live {
            assert!(!self.bids.is_empty() && !self.asks.is_empty());
            assert!(
                self.bids[0].0 < self.asks[0].0,
                "crossed but live: {self:?}"
            );
        }
    }
}

/// Reads `book` messages for BTC-USD into `shown` until `done` holds.
async fn book_until(
    client: &mut crate::common::Client,
    shown: &mut Shown,
    done: impl Fn(&Shown) -> bool,
) {
    client
        .until(|msg| match msg {
            ServerMsg::Book {
                symbol,
                snapshot,
                live,
                bids,
                asks,
                chart: 0,
                ..
            } if symbol == "BTC-USD" => {
                shown.apply(snapshot, live, bids, asks);
                done(shown).then_some(())
            }
            _ => None,
        })
        .await;
}

#[tokio::test]
async fn coinbase_level2_recording_serves_the_book_worked_out_by_hand() {
    let lines = recording();
    let mut mock = MockProvider::start().await;
    let server = TestServer::start(&[
        "--feed",
        "coinbase",
        "--backfill-bars",
        "0",
        "--coinbase-url",
        &mock.url,
        "--coinbase-products",
        "BTC-USD",
        "--flush-ms",
        "20",
    ])
    .await;
    let mut conn = mock.accept().await;
    assert_eq!(
        conn.recv().await,
        json!({"type": "subscribe", "product_ids": ["BTC-USD"],
               "channels": ["ticker", "heartbeat", "level2_batch"]})
    );
    let mut client = server.connect().await;
    client
        .send_json(json!({"op": "chart", "symbol": "BTC-USD", "interval": "1m", "book": true}))
        .await;
    client
        .until(|m| matches!(m, ServerMsg::Candles { .. }).then_some(()))
        .await;

    // The books worked out here from the recording's levels.
    let hand = hand_books(&lines);
    let live_book = |book: &HandBook| {
        let (bids, asks) = book.top(BOOK_DEPTH);
        Shown {
            bids,
            asks,
            live: true,
        }
    };
    let mut shown = Shown::default();
    // Snapshots sent, updates sent since the last one, gaps seen.
    let (mut snapshots, mut updates, mut gaps) = (0, 0, 0);
    for msg in &lines {
        if answers_unsubscribe(msg) {
            // The gap: the adapter asks for a fresh snapshot, and until it
            // comes the client is told the book is not live.
            expect_resubscribe(&mut conn).await;
            book_until(&mut client, &mut shown, |s| !s.live).await;
            gaps += 1;
        }
        conn.send(msg.clone()).await;
        match kind(msg) {
            "snapshot" => (snapshots, updates) = (snapshots + 1, 0),
            "l2update" => {
                updates += 1;
                // Just before a gap, the client has the book as it was.
                let phase = snapshots - 1;
                if phase + 1 < CLEAN_UPDATES.len() && updates == CLEAN_UPDATES[phase] {
                    let expected = live_book(&hand[phase][updates]);
                    book_until(&mut client, &mut shown, |s| *s == expected).await;
                }
            }
            _ => {}
        }
    }
    assert_eq!(gaps, 2, "both gaps of the recording");

    // After the recording: the last snapshot and every update after it.
    let last = hand.last().unwrap().last().unwrap();
    let expected = live_book(last);
    book_until(&mut client, &mut shown, |s| *s == expected).await;
    assert_eq!(shown.bids[0], (99719.0, 0.02));
    assert_eq!(shown.asks[0], (99719.2, 0.044));
    server.shutdown().await;
}
