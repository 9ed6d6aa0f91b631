//! The hub as its readers see it, driven through its folder.

use super::*;
use crate::market::{Event, Tick};
use crate::subscription::Subscription;
use crate::wire;
use app::protocol::{Candle, Interval, ServerMsg};

fn hub(symbols: &[&str]) -> (Hub, Folder) {
    hub_keeping(symbols, 3)
}

fn hub_keeping(symbols: &[&str], retained_batches: usize) -> (Hub, Folder) {
    let infos = symbols
        .iter()
        .map(|s| SymbolInfo {
            symbol: s.to_string(),
            name: format!("{s} Inc."),
            currency: "USD".into(),
            trading_day: Default::default(),
        })
        .collect();
    let config = HubConfig {
        flush: Duration::from_millis(100),
        retained_batches,
        tick_capacity: 16,
        all_candles: false,
        metrics: Default::default(),
    };
    Hub::folding(infos, vec!["sim".into()], &config)
}

fn tick(symbol: &str, price: f64, size: u64, ts: i64) -> Tick {
    Tick {
        bid: Some(price - 0.01),
        ask: Some(price + 0.01),
        ..Tick::trade(symbol, price, size as f64, ts)
    }
}

#[test]
fn snapshots_and_histories_are_encoded_once_per_batch_and_follow_it() {
    let (hub, mut task) = hub(&["AAPL", "MSFT"]);
    task.apply(Event::Trade(tick("AAPL", 100.0, 10, 1_000)));
    task.apply(Event::Trade(tick("MSFT", 400.0, 10, 1_000)));
    task.flush(1_000);
    let all = Subscription::all();
    let (no, first) = hub.published().snapshot_frame(7, &all);
    let (_, again) = hub.published().snapshot_frame(8, &all);
    let msg: ServerMsg = serde_json::from_str(&first).unwrap();
    let ServerMsg::Snapshot {
        seq: 7,
        batch: 1,
        quotes,
    } = msg
    else {
        panic!("{first}")
    };
    assert_eq!((no, quotes), hub.published().snapshot(&all));
    assert_eq!(
        first.replace("\"seq\":7", "\"seq\":8"),
        again,
        "one encoding, two seqs"
    );
    let shared = hub.published().cached_snapshot().unwrap();
    let (_, third) = hub.published().snapshot_frame(9, &all);
    assert!(third.ends_with(&*shared.1), "the cached quotes are reused");

    let (since, history) = hub.history_frame(0, Interval::S1, 10);
    assert_eq!(since, no);
    assert!(Arc::ptr_eq(
        &history,
        &hub.history_frame(0, Interval::S1, 10).1
    ));
    // A new batch: both follow it.
    task.apply(Event::Trade(tick("AAPL", 101.0, 5, 1_200)));
    task.flush(1_300);
    let (later, frame) = hub.published().snapshot_frame(10, &all);
    assert_eq!(later, no + 1);
    assert!(
        frame.contains("101.0") || frame.contains("\"last\":101"),
        "{frame}"
    );
    let (since, history) = hub.history_frame(0, Interval::S1, 10);
    assert_eq!(since, later);
    let ServerMsg::Candles { candles, .. } = serde_json::from_str(&history).unwrap() else {
        panic!("{history}")
    };
    assert_eq!((candles[0].c, candles[0].v), (101.0, 15));
    // A subscription to one symbol gets only it.
    let mut one = Subscription::default();
    one.insert(1);
    let ServerMsg::Snapshot { quotes, .. } =
        serde_json::from_str(&hub.published().snapshot_frame(11, &one).1).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        quotes.iter().map(|q| q.symbol.as_str()).collect::<Vec<_>>(),
        ["MSFT"]
    );
}

#[test]
fn ticks_between_flushes_coalesce_into_one_change() {
    let (hub, mut task) = hub(&["AAPL", "MSFT"]);
    task.apply(Event::Trade(tick("AAPL", 100.0, 10, 1)));
    task.flush(1000);
    task.apply(Event::Trade(tick("AAPL", 101.0, 5, 2)));
    task.apply(Event::Trade(tick("AAPL", 100.5, 5, 3)));
    task.apply(Event::Trade(tick("AAPL", 100.5, 0, 3)));
    task.flush(1100);
    let batch = &hub.published().batches_after(1).unwrap()[0];
    assert_eq!(batch.no, 2);
    assert_eq!(batch.entries.len(), 1);
    let change = &batch.entries[0].change;
    assert_eq!(change.last, Some(100.5));
    assert_eq!(change.high, Some(101.0));
    assert_eq!(change.volume, Some(20));
    assert_eq!(change.low, None, "low did not change");
    assert_eq!(
        change.open, None,
        "open never changes after the first trade"
    );
}

#[test]
fn a_symbols_first_change_is_complete_and_later_ones_minimal() {
    let (hub, mut task) = hub(&["AAPL"]);
    let mut first = tick("AAPL", 100.0, 10, 1);
    first.session.prev_close = Some(99.0);
    task.apply(Event::Trade(first));
    task.flush(10);
    task.apply(Event::Trade(tick("AAPL", 100.0, 0, 1)));
    task.flush(20);
    let first = &hub.published().batches_after(0).unwrap()[0].entries[0].change;
    assert!(
        first.to_quote().is_some(),
        "first change carries every field: {first:?}"
    );
    assert_eq!(first.prev_close, Some(99.0));
    let later = hub.published().batches_after(1).unwrap();
    assert!(
        later.iter().all(|b| b.entries.is_empty()),
        "an unchanged quote publishes no change"
    );
}

#[test]
fn diffs_applied_to_a_snapshot_give_the_published_state() {
    let (hub, mut task) = hub_keeping(&["A", "B", "C"], 10);
    task.apply(Event::Trade(tick("A", 10.0, 1, 1)));
    task.apply(Event::Trade(tick("B", 20.0, 1, 1)));
    task.flush(1);
    let (no, mut client) = hub.published().snapshot(&Subscription::all());
    for (i, price) in [10.5, 9.75, 11.0, 11.0, 12.25].into_iter().enumerate() {
        task.apply(Event::Trade(tick(
            ["A", "B", "C"][i % 3],
            price,
            3,
            2 + i as i64,
        )));
        task.flush(10 + i as i64);
    }
    for batch in hub.published().batches_after(no).unwrap() {
        for e in &batch.entries {
            match client.iter_mut().find(|q| q.symbol == e.change.symbol) {
                Some(q) => q.apply(&e.change),
                None => client.push(e.change.to_quote().unwrap()),
            }
        }
    }
    client.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    assert_eq!(client, hub.published().snapshot(&Subscription::all()).1);
}

#[test]
fn the_shared_encoding_is_the_documented_diff() {
    let (hub, mut task) = hub(&["A", "B"]);
    task.apply(Event::Trade(tick("A", 10.0, 1, 1)));
    task.apply(Event::Trade(tick("B", 20.0, 1, 1)));
    task.flush(77);
    let batch = &hub.published().batches_after(0).unwrap()[0];
    let frame = format!("{{\"type\":\"diff\",\"seq\":5,{}", batch.all_tail);
    let parsed: ServerMsg = serde_json::from_str(&frame).unwrap();
    let changes = batch.entries.iter().map(|e| e.change.clone()).collect();
    assert_eq!(
        parsed,
        ServerMsg::Diff {
            seq: 5,
            batch: 0,
            ts: 77,
            changes
        }
    );
}

#[test]
fn readers_too_far_behind_are_told_so() {
    let (hub, mut task) = hub(&["A"]);
    for i in 1..=5 {
        task.apply(Event::Trade(tick("A", 10.0 + i as f64, 1, i)));
        task.flush(i);
    }
    assert_eq!(hub.published().batches_after(0).unwrap_err(), Lagged);
    assert_eq!(hub.published().batches_after(1).unwrap_err(), Lagged);
    let nos: Vec<u64> = hub
        .published()
        .batches_after(2)
        .unwrap()
        .iter()
        .map(|b| b.no)
        .collect();
    assert_eq!(nos, vec![3, 4, 5]);
    assert!(hub.published().batches_after(5).unwrap().is_empty());
}

#[test]
fn a_late_trade_adds_volume_but_is_not_the_last_price() {
    let (hub, mut task) = hub(&["A"]);
    task.apply(Event::Trade(tick("A", 10.0, 1, 2_000)));
    task.apply(Event::Trade(tick("A", 12.0, 5, 1_000)));
    task.flush(3_000);
    let quote = &hub.published().snapshot(&Subscription::all()).1[0];
    assert_eq!(
        (quote.last, quote.high, quote.volume, quote.ts),
        (10.0, 12.0, 6, 2_000)
    );
}

#[test]
fn each_batch_carries_the_changed_candles_once() {
    let (hub, mut task) = hub(&["A", "B"]);
    let _watches: Vec<ChartWatch> = (0..2)
        .flat_map(|id| Interval::ALL.map(|i| hub.watch_chart(id, i)))
        .collect();
    task.apply(Event::Trade(tick("A", 10.0, 1, 61_000)));
    task.apply(Event::Trade(tick("A", 11.0, 2, 61_500)));
    task.apply(Event::Trade(tick("B", 20.0, 3, 59_999)));
    task.flush(62_000);
    let batch = &hub.published().batches_after(0).unwrap()[0];
    let keys: Vec<(SymbolId, Interval, i64)> = batch
        .candles
        .iter()
        .map(|c| (c.id, c.interval, c.t))
        .collect();
    assert_eq!(
        keys,
        vec![
            (0, Interval::S1, 61_000),
            (0, Interval::S5, 60_000),
            (0, Interval::M1, 60_000),
            (0, Interval::M5, 0),
            (0, Interval::M15, 0),
            (0, Interval::H1, 0),
            (0, Interval::D1, 0),
            (1, Interval::S1, 59_000),
            (1, Interval::S5, 55_000),
            (1, Interval::M1, 0),
            (1, Interval::M5, 0),
            (1, Interval::M15, 0),
            (1, Interval::H1, 0),
            (1, Interval::D1, 0),
        ]
    );
    let msg: ServerMsg = serde_json::from_str(batch.candles[2].json.as_deref().unwrap()).unwrap();
    let candle = Candle {
        t: 60_000,
        o: 10.0,
        h: 11.0,
        l: 10.0,
        c: 11.0,
        v: 3,
    };
    assert_eq!(
        msg,
        ServerMsg::Candle {
            symbol: "A".into(),
            interval: Interval::M1,
            candle,
            chart: 0,
        }
    );
    assert_eq!(hub.charts().candles(0, Interval::M1, 10), vec![candle]);
}

#[test]
fn candles_are_encoded_only_for_charted_series() {
    let (hub, mut task) = hub(&["A", "B"]);
    let watch = hub.watch_chart(1, Interval::M1);
    task.apply(Event::Trade(tick("A", 10.0, 1, 61_000)));
    task.apply(Event::Trade(tick("B", 20.0, 1, 61_000)));
    task.flush(62_000);
    let keys: Vec<_> = hub.published().batches_after(0).unwrap()[0]
        .candles
        .iter()
        .map(|c| (c.id, c.interval))
        .collect();
    assert_eq!(keys, vec![(1, Interval::M1)]);
    drop(watch);
    task.apply(Event::Trade(tick("B", 21.0, 1, 61_500)));
    task.flush(63_000);
    assert!(
        hub.published().batches_after(1).unwrap()[0]
            .candles
            .is_empty()
    );
}

#[test]
fn unusable_ticks_are_ignored() {
    let (hub, mut task) = hub(&["A"]);
    task.apply(Event::Trade(tick("ZZZ", 10.0, 1, 1)));
    task.apply(Event::Trade(tick("A", f64::NAN, 1, 1)));
    task.apply(Event::Trade(tick("A", -3.0, 1, 1)));
    task.flush(1);
    assert!(hub.published().snapshot(&Subscription::all()).1.is_empty());
    task.apply(Event::Trade(Tick {
        bid: None,
        ask: Some(f64::INFINITY),
        ..tick("A", 5.0, 1, 1)
    }));
    task.flush(2);
    let quote = &hub.published().snapshot(&Subscription::all()).1[0];
    assert_eq!((quote.bid, quote.ask, quote.prev_close), (5.0, 5.0, 5.0));
}

#[test]
fn a_client_behind_gets_the_newest_trades_and_the_newest_whole_book() {
    use crate::market::{Depth, DepthChange};
    use app::protocol::{TRADES_PER_MESSAGE, Trade};
    let (hub, mut task) = hub_keeping(&["A", "B"], 10);
    let (_tape, _book) = (
        hub.depths().watch(0, Watched::Trades),
        hub.depths().watch(0, Watched::Book),
    );
    let book = |bid: f64| {
        Event::Depth(Depth {
            symbol: "A".into(),
            ts: 1,
            change: DepthChange::Snapshot {
                bids: vec![(bid, 1.0)],
                asks: vec![(bid + 1.0, 1.0)],
            },
        })
    };
    // Three flushes of 40 trades each, the book changing at each.
    for flush in 0..3 {
        for i in 0..40 {
            let n = flush * 40 + i;
            task.apply(Event::Trade(tick("A", 10.0 + n as f64, 1, n)));
        }
        task.apply(book(10.0 + flush as f64));
        task.flush(1_000 + flush);
    }
    let batches = hub.published().batches_after(0).unwrap();
    assert_eq!(batches.len(), 3);
    let frame = hub.depths().trades_of(&batches, 0).unwrap();
    let ServerMsg::Trades { trades, .. } = serde_json::from_str(&frame).unwrap() else {
        panic!("{frame}")
    };
    let times: Vec<i64> = trades.iter().map(|t: &Trade| t.t).collect();
    let newest: Vec<i64> = (120 - TRADES_PER_MESSAGE as i64..120).collect();
    assert_eq!(times, newest, "the newest, oldest first");
    // One batch: its own trades, shared.
    let one = hub.depths().trades_of(&batches[2..], 0).unwrap();
    assert_eq!(Some(one), batches[2].trades[0].json);

    let all: Vec<&Arc<Batch>> = batches.iter().collect();
    let whole = crate::wire::book_frame(&all, 0).unwrap();
    let ServerMsg::Book { snapshot, bids, .. } = serde_json::from_str(whole).unwrap() else {
        panic!("{whole}")
    };
    assert!(snapshot, "several changes: the whole book");
    assert_eq!(bids, [(12.0, 1.0)]);
    let diff = crate::wire::book_frame(&all[2..], 0).unwrap();
    assert!(diff.contains("\"snapshot\":false"), "{diff}");
    assert!(
        batches.iter().all(|b| b.trades.iter().all(|e| e.id == 0)),
        "B is not watched"
    );
}

#[test]
fn sessions_behind_by_the_same_span_share_one_merge_equal_to_their_own() {
    let (hub, mut task) = hub_keeping(&["AAPL", "MSFT", "NVDA"], 8);
    for (i, (symbol, price)) in [
        ("AAPL", 100.0),
        ("MSFT", 400.0),
        ("AAPL", 101.5),
        ("NVDA", 90.0),
    ]
    .into_iter()
    .enumerate()
    {
        let ts = 1_000 + 100 * i as i64;
        task.apply(Event::Trade(tick(symbol, price, 10, ts)));
        task.flush(ts);
    }
    let published = hub.published();
    let batches = published.batches_after(1).unwrap();
    assert_eq!(batches.len(), 3);
    assert!(
        published.merged(&batches, false).is_none(),
        "nobody made it yet"
    );
    let merged = published.merged(&batches, true).unwrap();
    let again = published.merged(&batches, false).unwrap();
    assert!(Arc::ptr_eq(&merged, &again), "one merge, shared");
    assert_eq!(hub.metrics().merges_shared.get(), 1);
    assert_eq!((merged.no, merged.ts), (4, 1_300));
    // The shared merge says what a session's own merge says.
    let all = Subscription::all();
    for encoding in [wire::Encoding::Json, wire::Encoding::Binary] {
        assert_eq!(
            wire::diff_frame(9, &merged, &all, encoding),
            wire::conflated_frame(9, &batches, &all, encoding),
        );
    }
    let shorter = published.batches_after(2).unwrap();
    assert!(published.merged(&shorter, false).is_none(), "another span");
}

#[test]
fn an_edge_numbers_batches_as_its_ingest_node_and_resumes_only_from_batches_it_published() {
    let infos = vec![SymbolInfo {
        symbol: "A".into(),
        name: "A Inc.".into(),
        currency: "USD".into(),
        trading_day: Default::default(),
    }];
    let config = HubConfig {
        flush: Duration::from_millis(100),
        retained_batches: 10,
        tick_capacity: 16,
        all_candles: false,
        metrics: Default::default(),
    };
    let mirror = Hub::mirroring(infos, vec!["sim".into()], &config);
    // A copy that carries nothing is still published as a batch (a resync).
    let publish = |public: u64| {
        let depth = CopiedDepth::default();
        mirror.publish((public, 0), Vec::new(), Vec::new(), depth, true, &[]);
    };
    let published = mirror.hub().published().clone();
    let (old, new) = (published::epoch_name(77), published::epoch_name(78));
    mirror.set_epoch(77);
    for public in [10, 11, 12, 20, 21] {
        publish(public);
    }
    let local = |public| published.resume_point(&old, public);
    assert_eq!(local(10), Some(1));
    assert_eq!(local(12), Some(3));
    assert_eq!(local(15), None, "skipped by copying the state anew");
    assert_eq!(local(20), Some(4));
    assert_eq!(local(21), Some(5), "the newest");
    assert_eq!(local(22), None, "not yet here");
    assert_eq!(published.resume_point(&new, 21), None, "another epoch");
    let (_, snapshot) = published.snapshot_frame(1, &Subscription::all());
    assert!(snapshot.contains("\"batch\":21,"), "{snapshot}");

    // The ingest node restarted: its numbers start again.
    mirror.set_epoch(78);
    assert_eq!(published.resume_point(&new, 21), None, "nothing of 78 yet");
    assert_eq!(published.resume_point(&old, 21), None);
    publish(3);
    assert_eq!(published.resume_point(&new, 3), Some(6));
    assert_eq!(published.resume_point(&new, 10), None, "77's batch 10");
}
