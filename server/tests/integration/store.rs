//! The history store as a user meets it: the real binary on a data
//! directory, stopped and started, killed, given a disk that fills up, or a
//! read-only one (a small tmpfs in a mount namespace of the test's own, made
//! with `unshare`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use app::protocol::{Candle, Quote, QuotesResponse};
use serde_json::Value;
use tickertape::candles::CAPACITY;

use app::protocol::ServerMsg;

use crate::common::{Client, free_port, scratch};

const BIN: &str = env!("CARGO_BIN_EXE_tickertape");
const DAY_MS: i64 = 86_400_000;

/// The binary on `args`, listening on a free port.
struct Node {
    child: Child,
    port: u16,
}

impl Node {
    fn spawn(program: &str, args: &[String]) -> Node {
        let port = free_port();
        let child = Command::new(program)
            .args(args.iter().map(|a| a.replace("{port}", &port.to_string())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Node { child, port }
    }

    /// The binary on `data` with `extra` flags.
    fn start(data: &Path, extra: &[&str]) -> Node {
        let mut args = vec![
            "--addr".to_string(),
            "127.0.0.1:{port}".into(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Node::spawn(BIN, &args)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(self.url("/readyz")).await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited at start ({status}): {}", self.stderr());
            }
            assert!(Instant::now() < deadline, "not ready in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        reqwest::get(self.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn quote(&self, symbol: &str) -> Quote {
        let r: QuotesResponse = self.json(&format!("/api/quotes?symbols={symbol}")).await;
        r.quotes.into_iter().next().expect("a quote")
    }

    async fn candles(&self, symbol: &str, interval: &str) -> Vec<Candle> {
        self.json(&format!(
            "/api/candles/{symbol}?interval={interval}&limit=5000"
        ))
        .await
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }

    /// Waits until the feeds' history is in the store and only a flush's
    /// worth of live changes waits.
    async fn written(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.metric("tickertape_store_history_waiting").await > 0.0
            || self.metric("tickertape_store_pending_rows").await > 10_000.0
        {
            assert!(Instant::now() < deadline, "the history was never written");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal}");
    }

    /// SIGTERM, and the exit status.
    async fn stop(mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "did not exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "{status}: {}", self.stderr());
    }

    fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut err = String::new();
        if self.child.try_wait().ok().flatten().is_some()
            && let Some(mut pipe) = self.child.stderr.take()
        {
            let _ = pipe.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bars of `before` that were complete when it was read (all but the
/// newest, which may still have changed), each as `after` has it (from the
/// oldest bar `after` reaches: both are the newest 5,000, and time went on).
fn assert_kept(before: &[Candle], after: &[Candle], what: &str) {
    let (complete, _) = before.split_at(before.len().saturating_sub(1));
    let from = after.first().map_or(i64::MAX, |b| b.t);
    let complete: Vec<&Candle> = complete.iter().filter(|b| b.t >= from).collect();
    assert!(
        complete.len() > CAPACITY,
        "{what}: too little to compare: {}",
        complete.len()
    );
    for bar in complete {
        let found = after.iter().find(|b| b.t == bar.t);
        assert_eq!(
            found,
            Some(bar),
            "{what}: the bar at {} after restart",
            bar.t
        );
    }
}

#[tokio::test]
async fn a_restart_continues_every_bar_and_the_days_figures() {
    let data = scratch(&[]);
    let flags = ["--seed", "5", "--flush-ms", "50"];
    let mut node = Node::start(&data, &flags);
    node.ready().await;
    node.written().await;
    let quote = node.quote("AAPL").await;
    let seconds = node.candles("AAPL", "1s").await;
    let minutes = node.candles("AAPL", "1m").await;
    let hours = node.candles("AAPL", "1h").await;
    assert_eq!(
        minutes.len(),
        5_000,
        "the simulator's whole history is stored, not only the {CAPACITY} bars memory holds"
    );
    assert!(
        minutes.windows(2).all(|w| w[1].t - w[0].t == 60_000),
        "a bar every minute"
    );
    node.stop().await;
    let stopped = tickertape::now_ms();

    // Down for two seconds; then started with another seed, which would
    // open every walk elsewhere if it did not continue the stored one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut node = Node::start(&data, &["--seed", "6", "--flush-ms", "50"]);
    node.ready().await;
    let started = tickertape::now_ms();
    let again = node.quote("AAPL").await;
    let deep = node.candles("AAPL", "1s").await;
    assert!(
        deep.len() > CAPACITY,
        "older bars than memory holds come from the store: {}",
        deep.len()
    );
    assert!(
        deep.windows(2).all(|w| w[0].t < w[1].t),
        "oldest first, once each"
    );
    assert_kept(&seconds, &deep, "1 s");
    assert_kept(&minutes, &node.candles("AAPL", "1m").await, "1 m");
    let hours_now = node.candles("AAPL", "1h").await;
    assert_kept(&hours, &hours_now, "1 h");
    let open = hours.last().unwrap();
    let now = hours_now.iter().find(|b| b.t == open.t);
    let now = now.expect("the hour open at the stop is there");
    assert!(
        now.v >= open.v && now.o == open.o,
        "it goes on: {open:?} then {now:?}"
    );

    if quote.ts.div_euclid(DAY_MS) == started.div_euclid(DAY_MS) {
        assert_eq!(again.open, quote.open, "the same day's open");
        assert_eq!(again.prev_close, quote.prev_close);
        assert!(again.high >= quote.high && again.low <= quote.low);
        assert!(again.volume >= quote.volume, "the day's volume goes on");
    } else {
        assert_eq!(again.prev_close, quote.last, "a new day closes the old one");
    }
    let jump = (again.last - quote.last).abs() / quote.last;
    assert!(
        jump < 0.005,
        "the walk continues from {} (now {})",
        quote.last,
        again.last
    );

    // Nothing was made up for the time it was down.
    let gap: Vec<i64> = node
        .candles("AAPL", "1s")
        .await
        .iter()
        .map(|b| b.t)
        .filter(|t| *t >= stopped + 1_000 && *t < started - 2_000)
        .collect();
    assert!(gap.is_empty(), "bars while stopped: {gap:?}");
    node.stop().await;
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn kill_9_at_full_rate_loses_at_most_the_last_moments() {
    let data = scratch(&[]);
    // 5,000 trades a second.
    let flags = ["--sim-symbols", "100", "--sim-rate", "50", "--seed", "8"];
    let mut node = Node::start(&data, &flags);
    node.ready().await;
    // Once the simulator's generated history (1.4 million bars) is written,
    // only live changes wait: a flush's worth.
    node.written().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seconds = node.candles("AAPL", "1s").await;
    let read_at = tickertape::now_ms();
    node.kill();

    let db = data.join("tickertape.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);

    let mut node = Node::start(&data, &flags);
    node.ready().await;
    let after = node.candles("AAPL", "1s").await;
    // Written every second: what was two seconds old when it was read is
    // there (from the oldest bar the newest 5,000 reach after the restart).
    let from = after.first().map_or(i64::MAX, |b| b.t);
    let settled: Vec<Candle> = seconds
        .iter()
        .filter(|b| b.t >= from && b.t + 1_000 < read_at - 2_000)
        .copied()
        .collect();
    assert!(settled.len() > CAPACITY, "{}", settled.len());
    for bar in &settled {
        assert!(
            after.iter().any(|b| b.t == bar.t && b.v >= bar.v),
            "the bar at {} ({} ms before it was read, just before the kill) is gone or shrank",
            bar.t,
            read_at - bar.t
        );
    }
    node.stop().await;
    let _ = std::fs::remove_dir_all(data);
}

/// The binary on a data directory that is a tmpfs of `size` in a mount
/// namespace of its own. Creating `<control>/break` runs `breaks` in that
/// namespace, creating `<control>/mend` runs `mends` (`{data}` in them is
/// the data directory).
fn start_on_tmpfs(size: &str, breaks: &str, mends: &str, control: &Path) -> Node {
    let data = control.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let d = data.display().to_string();
    let c = control.display();
    let (breaks, mends) = (breaks.replace("{data}", &d), mends.replace("{data}", &d));
    let script = format!(
        "set -e; mount -t tmpfs -o size={size} none {d}; \
         ( while [ ! -e {c}/break ]; do sleep 0.05; done; {breaks}; touch {c}/broken; \
           while [ ! -e {c}/mend ]; do sleep 0.05; done; {mends}; touch {c}/mended ) & \
         exec {BIN} --addr 127.0.0.1:{{port}} --data-dir {d} --sim-symbols 5 --flush-ms 50"
    );
    Node::spawn("unshare", &["-rm".into(), "sh".into(), "-c".into(), script])
}

async fn wait_for(path: PathBuf) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Live prices keep flowing while the store fails, `/readyz` and
/// `/metrics` say so, and once the disk is usable again it writes again.
async fn survives(size: &str, breaks: &str, mends: &str, expect: &str) {
    let control = scratch(&[]);
    let mut node = start_on_tmpfs(size, breaks, mends, &control);
    node.ready().await;
    assert_eq!(node.metric("tickertape_store_failing").await, 0.0);
    std::fs::write(control.join("break"), "").unwrap();
    wait_for(control.join("broken")).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let body: Value = loop {
        let r = reqwest::get(node.url("/readyz")).await.unwrap();
        if r.status() == 503 {
            break r.json().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the failing store was never reported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = body["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("history store failing"), "{body}");
    assert!(reason.contains(expect), "{body}");
    assert_eq!(node.metric("tickertape_store_failing").await, 1.0);
    let errors = node.metric("tickertape_store_errors_total").await;

    let mut client = Client::connect(&format!("ws://127.0.0.1:{}/ws", node.port)).await;
    client.subscribe(&["*"]).await;
    for _ in 0..3 {
        client
            .until(|m| matches!(m, ServerMsg::Diff { .. }).then_some(()))
            .await;
    }

    // Retried meanwhile, not given up on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(node.metric("tickertape_store_errors_total").await > errors);

    std::fs::write(control.join("mend"), "").unwrap();
    wait_for(control.join("mended")).await;
    let deadline = Instant::now() + Duration::from_secs(45);
    while node.metric("tickertape_store_failing").await != 0.0 {
        assert!(Instant::now() < deadline, "the store never wrote again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = reqwest::get(node.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), 200);
    node.stop().await;
    let _ = std::fs::remove_dir_all(control);
}

#[tokio::test]
async fn a_full_disk_keeps_prices_live_and_the_store_catches_up() {
    survives(
        "8m",
        "head -c 64m /dev/zero > {data}/filler 2>/dev/null || true",
        "rm -f {data}/filler",
        "full",
    )
    .await;
}

#[test]
fn a_read_only_data_dir_is_a_clear_error_at_start() {
    let control = scratch(&[]);
    let d = control.join("data");
    std::fs::create_dir_all(&d).unwrap();
    let d = d.display();
    let script = format!(
        "set -e; mount -t tmpfs -o ro none {d}; exec {BIN} --addr 127.0.0.1:0 --data-dir {d}"
    );
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&d.to_string()), "names the directory: {err}");
    assert!(err.contains("Read-only file system"), "says why: {err}");
    let _ = std::fs::remove_dir_all(control);
}

#[tokio::test]
async fn a_replay_at_full_speed_then_a_restart_keeps_exactly_the_files_candles() {
    replay_then_restart(false).await;
}

/// Killed instead of stopped: the bars of 5 m and longer still open then
/// were never written (they are written as they close), and come back
/// rebuilt from the stored minutes.
#[tokio::test]
async fn a_replay_killed_then_restarted_rebuilds_its_open_long_bars() {
    replay_then_restart(true).await;
}

async fn replay_then_restart(kill: bool) {
    use crate::replay::{SAMPLE, expected_bars, expected_quotes, rows};
    let rows = rows();
    let expected = expected_quotes(&rows);
    let data = scratch(&[]);
    let replay = format!("replay:{SAMPLE}");
    let flags = [
        "--feed",
        &replay,
        "--replay-speed",
        "max",
        "--flush-ms",
        "20",
    ];
    let served = |node: &Node| {
        let url = node.url("/api/quotes");
        async move {
            let r: QuotesResponse = reqwest::get(url).await.unwrap().json().await.unwrap();
            r.quotes
                .into_iter()
                .map(|q| (q.symbol.clone(), q))
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let mut node = Node::start(&data, &flags);
    node.ready().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while served(&node).await != expected {
        assert!(
            Instant::now() < deadline,
            "the replay never reached the file's end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.written().await;
    // A write a second, and a second for a margin.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    if kill {
        node.kill();
    } else {
        node.stop().await;
    }

    // The same command again: it continues after what is stored, which is
    // everything, so nothing is applied twice.
    let mut node = Node::start(&data, &flags);
    node.ready().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(served(&node).await, expected, "the quotes are the file's");
    for symbol in expected.keys() {
        for interval in ["1s", "1m", "5m", "15m", "1h", "1d"] {
            let bars = node.candles(symbol, interval).await;
            let want = expected_bars(&rows, symbol, interval.parse().unwrap());
            assert_eq!(bars, want, "{symbol} {interval}: the file's candles, once");
        }
    }
    node.stop().await;
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn alert_rules_survive_a_restart() {
    let data = scratch(&[]);
    let flags = ["--seed", "5"];
    let mut node = Node::start(&data, &flags);
    node.ready().await;
    // Ready once the feed is live; the first quotes follow with the first batch.
    let last = loop {
        let r: QuotesResponse = node.json("/api/quotes?symbols=AAPL").await;
        if let Some(q) = r.quotes.first() {
            break q.last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let client = reqwest::Client::new();
    let mut made = Vec::new();
    for body in [
        serde_json::json!({"symbol": "AAPL", "condition": "above", "value": last * 2.0, "note": "moon"}),
        serde_json::json!({"symbol": "MSFT", "condition": "change_pct_below", "value": -40.0, "repeat": "every"}),
        // At the price now: the random walk crosses one of these two soon.
        serde_json::json!({"symbol": "AAPL", "condition": "above", "value": last}),
        serde_json::json!({"symbol": "AAPL", "condition": "below", "value": last}),
        serde_json::json!({"symbol": "NVDA", "condition": "below", "value": 1.0}),
    ] {
        let response = client
            .post(node.url("/api/alerts"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        made.push(response.json::<app::protocol::Alert>().await.unwrap());
    }
    let gone = made.pop().unwrap();
    let response = client
        .delete(node.url(&format!("/api/alerts/{}", gone.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // One of the two at the price fires and is disarmed.
    let fired = loop {
        let listed: Vec<app::protocol::Alert> = node.json("/api/alerts").await;
        let fired: Vec<_> = listed.into_iter().filter(|a| !a.armed).collect();
        if !fired.is_empty() {
            break fired;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        fired
            .iter()
            .all(|a| a.last_fired.is_some() && a.history.len() == 1)
    );
    node.stop().await;

    let mut node = Node::start(&data, &flags);
    node.ready().await;
    let listed: Vec<app::protocol::Alert> = node.json("/api/alerts").await;
    let ids = |alerts: &[app::protocol::Alert]| alerts.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&listed),
        ids(&made),
        "the rules made, the deleted one gone"
    );
    for a in &listed {
        if let Some(before) = fired.iter().find(|f| f.id == a.id) {
            assert_eq!(
                a, before,
                "a fired rule comes back disarmed, with its firing"
            );
        } else if a.armed {
            let made = made.iter().find(|m| m.id == a.id).unwrap();
            assert_eq!(a, made, "as made");
        }
    }
    assert_eq!(listed[0], made[0]);
    assert_eq!(listed[1], made[1]);
    let response = client
        .post(node.url("/api/alerts"))
        .json(&serde_json::json!({"symbol": "AAPL", "condition": "below", "value": 1.0}))
        .send()
        .await
        .unwrap();
    let next: app::protocol::Alert = response.json().await.unwrap();
    assert!(
        next.id > gone.id,
        "ids are not reused: {} after {}",
        next.id,
        gone.id
    );
    node.stop().await;
    let _ = std::fs::remove_dir_all(data);
}
