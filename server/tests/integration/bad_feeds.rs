//! Bad clocks and bad adapters: events stamped far from the server's clock
//! are dropped and counted; an adapter that panics is marked stale with the
//! panic as its error and restarted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::{TestServer, metric, quotes_until, readyz_until};
use app::protocol::{Candle, SymbolInfo};
use async_trait::async_trait;
use tickertape::AppState;
use tickertape::config::Config;
use tickertape::feed::{Feed, FeedError, FeedOutput, Tick};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn trades_stamped_far_from_the_clock_are_dropped_and_counted() {
    let (server, ticks) = TestServer::scripted(&["--flush-ms", "20"], &["AAPL"]).await;
    let now = tickertape::now_ms();
    let send = |price: f64, ts: i64| {
        let ticks = ticks.clone();
        async move {
            ticks
                .send(Tick::trade("AAPL", price, 1.0, ts))
                .await
                .unwrap()
        }
    };
    send(100.0, now).await;
    // Microseconds read as milliseconds, and a provider's clock an hour ahead.
    send(500.0, now * 1_000).await;
    send(400.0, now + 3_600_000).await;
    // Seconds read as milliseconds: a trade in January 1970.
    send(5.0, now / 1_000).await;
    send(101.0, now + 100).await;

    // The last trade on time is the last price, not the one from the future.
    let quotes = quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 101.0)
    })
    .await;
    assert_eq!(
        (quotes[0].high, quotes[0].low),
        (101.0, 100.0),
        "{quotes:?}"
    );
    // No bar outside the clock's bounds, and the newest bar is today's.
    let bars: Vec<Candle> = server
        .get("/api/candles/AAPL?interval=1s&limit=50")
        .await
        .json()
        .await
        .unwrap();
    let newest = bars.last().expect("a bar");
    assert!(newest.t <= now + 5_000 && newest.c == 101.0, "{bars:?}");
    assert!(bars.iter().all(|b| b.t >= now - 86_400_000), "{bars:?}");

    let text = server.get("/metrics").await.text().await.unwrap();
    let rejected = |reason: &str| {
        metric(
            &text,
            &format!(
                "tickertape_feed_events_rejected_total{{feed=\"script\",reason=\"{reason}\"}}"
            ),
        )
    };
    assert_eq!((rejected("future"), rejected("old")), (2, 1), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_skew_bound_is_a_flag() {
    let (server, ticks) = TestServer::scripted(
        &["--flush-ms", "20", "--clock-skew-ms", "120000"],
        &["AAPL"],
    )
    .await;
    let now = tickertape::now_ms();
    // A minute ahead is within a two-minute bound: accepted.
    ticks
        .send(Tick::trade("AAPL", 100.0, 1.0, now))
        .await
        .unwrap();
    ticks
        .send(Tick::trade("AAPL", 102.0, 1.0, now + 60_000))
        .await
        .unwrap();
    quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 102.0)
    })
    .await;
    server.shutdown().await;
}

/// An adapter with a bug: its first two runs send a trade and then panic.
struct Panicky {
    runs: Arc<AtomicU32>,
}

#[async_trait]
impl Feed for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        vec![SymbolInfo {
            symbol: "AAPL".into(),
            name: "Apple".into(),
            currency: "USD".into(),
            trading_day: Default::default(),
        }]
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        out.send(Tick::trade(
            "AAPL",
            100.0 + f64::from(run),
            1.0,
            tickertape::now_ms(),
        ))
        .await?;
        if run <= 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let index = usize::try_from(run).unwrap() + 10;
            let prices = [1.0, 2.0];
            // The bug: an index out of range.
            let _ = prices[index];
        }
        stop.cancelled().await;
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_adapter_is_marked_stale_with_the_panic_and_restarted() {
    let runs = Arc::new(AtomicU32::new(0));
    let feed = Panicky { runs: runs.clone() };
    let config = Config::from_args(["tickertape", "--flush-ms", "20", "--ephemeral"]).unwrap();
    let state = AppState::start_with_feeds(&config, vec![Box::new(feed)]).expect("start");
    let server = TestServer::serve(state).await;

    // Stale, with the panic's message as the error /readyz reports.
    let body = readyz_until(&server, |status, body| {
        status == 503 && body["feeds"][0]["state"] == "stale"
    })
    .await;
    let error = body["feeds"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("panicked") && error.contains("index out of bounds"),
        "{body}"
    );
    // Restarted with backoff until a run holds: live again, its trade served.
    readyz_until(&server, |status, _| {
        status == 200 && runs.load(Ordering::SeqCst) == 3
    })
    .await;
    let feeds = server.state.hub.feeds().all();
    assert_eq!(feeds[0].state, app::protocol::FeedState::Live, "{feeds:?}");
    quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 103.0)
    })
    .await;
    server.shutdown().await;
}
