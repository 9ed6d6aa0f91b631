//! Replaying the sample session: what clients end up with equals what the
//! file says, field for field, whether they ask at the end or watch it all.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Read, TestServer};
use app::protocol::{Candle, Interval, Quote, QuotesResponse, ServerMsg, TradingDay};

pub const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/us-open.csv");

/// A row of the sample, read here independently of the server's parser.
pub struct Row {
    ts: i64,
    symbol: String,
    price: f64,
    size: f64,
    book: Option<(f64, f64)>,
}

pub fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    assert_eq!(lines.next(), Some("ts,symbol,price,size,bid,ask"));
    lines
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            let ts = c[0].parse().unwrap_or_else(|_| {
                chrono::DateTime::parse_from_rfc3339(c[0])
                    .unwrap()
                    .timestamp_millis()
            });
            let book = (!c[4].is_empty()).then(|| (c[4].parse().unwrap(), c[5].parse().unwrap()));
            Row {
                ts,
                symbol: c[1].into(),
                price: c[2].parse().unwrap(),
                size: c[3].parse().unwrap(),
                book,
            }
        })
        .collect()
}

/// The final quote of every symbol, by the documented rules: first price is
/// open and previous close; bid = ask = last until the file quotes a symbol,
/// then the latest quote stays; volume is the sum of sizes.
pub fn expected_quotes(rows: &[Row]) -> BTreeMap<String, Quote> {
    let mut out: BTreeMap<String, (Quote, f64)> = BTreeMap::new();
    for r in rows {
        let (q, volume) = out.entry(r.symbol.clone()).or_insert_with(|| {
            let q = Quote {
                symbol: r.symbol.clone(),
                last: r.price,
                bid: r.price,
                ask: r.price,
                open: r.price,
                high: r.price,
                low: r.price,
                prev_close: r.price,
                volume: 0,
                ts: r.ts,
                // The file is ten minutes of a regular session.
                session: app::protocol::MarketSession::Regular,
                close: r.price,
            };
            (q, 0.0)
        });
        let quoted_before = rows
            .iter()
            .take_while(|x| !std::ptr::eq(*x, r))
            .any(|x| x.symbol == r.symbol && x.book.is_some());
        q.last = r.price;
        q.high = q.high.max(r.price);
        q.low = q.low.min(r.price);
        q.ts = r.ts;
        *volume += r.size;
        q.volume = volume.round() as u64;
        match r.book {
            Some((bid, ask)) => (q.bid, q.ask) = (bid, ask),
            None if !quoted_before => (q.bid, q.ask) = (r.price, r.price),
            None => {}
        }
    }
    out.into_iter().map(|(s, (q, _))| (s, q)).collect()
}

/// 1-second bars of one symbol, computed from the file.
fn expected_seconds(rows: &[Row], symbol: &str) -> Vec<Candle> {
    expected_bars(rows, symbol, Interval::S1)
}

/// One symbol's bars of `interval`, computed from the file (its tickers are
/// US equities: daily bars are New York days).
pub fn expected_bars(rows: &[Row], symbol: &str, interval: Interval) -> Vec<Candle> {
    let mut bars: Vec<Candle> = Vec::new();
    let mut volumes: Vec<f64> = Vec::new();
    for r in rows.iter().filter(|r| r.symbol == symbol) {
        let t = TradingDay::NewYork.bucket(interval, r.ts);
        match bars.last_mut() {
            Some(b) if b.t == t => {
                b.h = b.h.max(r.price);
                b.l = b.l.min(r.price);
                b.c = r.price;
                *volumes.last_mut().unwrap() += r.size;
                b.v = volumes.last().unwrap().round() as u64;
            }
            _ => {
                bars.push(Candle {
                    t,
                    o: r.price,
                    h: r.price,
                    l: r.price,
                    c: r.price,
                    v: r.size.round() as u64,
                });
                volumes.push(r.size);
            }
        }
    }
    bars
}

#[tokio::test]
async fn a_replayed_session_ends_in_exactly_the_files_state() {
    let rows = rows();
    assert!(rows.len() > 1_000);
    let expected = expected_quotes(&rows);
    let replay = format!("replay:{SAMPLE}");
    // 600 s of recorded time at 300×: two seconds of replay to watch live.
    let server = TestServer::start(&[
        "--feed",
        &replay,
        "--replay-speed",
        "300",
        "--flush-ms",
        "20",
    ])
    .await;
    let mut client = server.connect().await;
    let (mut seq, snapshot) = client.subscribe(&["*"]).await;
    let mut watched: BTreeMap<String, Quote> = snapshot
        .into_iter()
        .map(|q| (q.symbol.clone(), q))
        .collect();
    let mut diffs = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(1_500), client.read()).await {
            Err(_) => break, // quiet: the replay is over
            Ok(Read::Msg(ServerMsg::Diff {
                seq: s, changes, ..
            })) => {
                assert_eq!(s, seq + 1, "no gaps");
                seq = s;
                diffs += 1;
                for change in changes {
                    match watched.get_mut(&change.symbol) {
                        Some(q) => q.apply(&change),
                        None => {
                            drop(watched.insert(change.symbol.clone(), change.to_quote().unwrap()))
                        }
                    }
                }
            }
            Ok(Read::Msg(_)) => {}
            Ok(Read::Closed(frame)) => panic!("closed: {frame:?}"),
        }
    }
    assert!(
        diffs > 20,
        "the client watched the replay happen ({diffs} diffs)"
    );
    assert_eq!(
        watched, expected,
        "snapshot + every diff = the file's final state"
    );

    let served: QuotesResponse = server.get("/api/quotes").await.json().await.unwrap();
    let served: BTreeMap<String, Quote> = served
        .quotes
        .into_iter()
        .map(|q| (q.symbol.clone(), q))
        .collect();
    assert_eq!(served, expected, "/api/quotes = the file's final state");

    let (_, late) = server.connect().await.subscribe(&["*"]).await;
    assert_eq!(
        late.into_iter()
            .map(|q| (q.symbol.clone(), q))
            .collect::<BTreeMap<_, _>>(),
        expected
    );

    for symbol in expected.keys() {
        let bars: Vec<Candle> = server
            .get(&format!("/api/candles/{symbol}?interval=1s&limit=1200"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            bars,
            expected_seconds(&rows, symbol),
            "{symbol}: 1 s candles from the file's own timestamps"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_looped_replay_moves_forward_in_time() {
    let rows = rows();
    let file_end = rows.iter().map(|r| r.ts).max().unwrap();
    let shift = file_end - rows.iter().map(|r| r.ts).min().unwrap() + 1_000;
    let replay = format!("replay:{SAMPLE}");
    let server =
        TestServer::start(&["--feed", &replay, "--replay-speed", "max", "--replay-loop"]).await;
    // Passes after the first carry the file's times shifted past its end.
    let quotes = crate::common::quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.ts > file_end)
    })
    .await;
    let ts = quotes[0].ts;
    let is_a_shifted_row = rows
        .iter()
        .any(|r| r.symbol == "AAPL" && (ts - r.ts) % shift == 0);
    assert!(
        is_a_shifted_row,
        "each pass moves the file's times forward by its span + 1 s"
    );
    server.shutdown().await;
}
