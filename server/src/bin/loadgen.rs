//! `tickertape-loadgen`: opens many protocol-v1 WebSocket clients against a
//! server on this machine and reports what they received.
//!
//! Clients connect over `--ramp-secs`, subscribe, and read for `--duration`
//! seconds; the first `--warmup` seconds are not measured. Reported: clients
//! connected and failed, seq gaps, messages/s, changes/s, bytes/s, delivery
//! latency (receipt time − the diff's `ts`) p50/p99/max, how the server
//! closed connections, and (with `--server-pid`) the server's CPU seconds and
//! RSS over the measured window. Loopback only; it stops by itself.
//!
//! With `--resync-storm <rounds>`, once every client has its first snapshot
//! and the warm-up is over, every client sends `{"op":"resync"}` at the same
//! instants, one second apart, and the report gains a `storm` section: the
//! time from each request to its snapshot (p50/p99/max), how many snapshots
//! arrived, seq contiguity, and the server's user and system CPU seconds from
//! just before the first round to the last snapshot of the last round.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::binary;
use app::protocol::{SUBPROTOCOL_BIN, SUBPROTOCOL_JSON};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{Mutex, Notify, watch};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// One client's WebSocket.
type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Load generator for tickertape (and any server speaking protocol v1).
#[derive(Debug, Parser, Clone)]
#[command(name = "tickertape-loadgen", version)]
struct Args {
    /// WebSocket URL; must be on this machine (127.0.0.1 / ::1 / localhost).
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws")]
    url: String,
    /// Clients to open.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    clients: u32,
    /// Seconds over which to open them.
    #[arg(long, default_value_t = 2.0)]
    ramp_secs: f64,
    /// Seconds to read after the last client connected (at most 3,600: a soak).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds at the start of `duration` not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// What each client subscribes to: `*`, a comma list, `none` (idle
    /// clients), or `one` (client i takes the i-th symbol of `--symbol-list`).
    #[arg(long, default_value = "*")]
    subscribe: String,
    /// Symbols for `--subscribe one`.
    #[arg(long, default_value = "AAPL,MSFT,NVDA,AMZN,GOOGL,META,TSLA,JPM,V,UNH")]
    symbol_list: String,
    /// Of the clients, this many subscribe and then never read (stalled).
    #[arg(long, default_value_t = 0)]
    stall: u32,
    /// Server process to sample CPU time and RSS of (Linux /proc).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Rounds of a resync storm (0: none): after the warm-up, every client
    /// sends `resync` at once, this many times one second apart. Needs
    /// subscribed clients and `--duration` ≥ `--warmup` + rounds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=300))]
    resync_storm: u32,
    /// Clients come back when the server closes them with 1012 (a restart):
    /// after its `retry_after_ms` hint, retrying refused connections with
    /// backoff (250 ms doubling to 4 s, ±50 % jitter), until `--duration`
    /// ends. The report gains a `restart` section.
    #[arg(long)]
    reconnect: bool,
    /// Also write the JSON report here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// How snapshots and diffs travel: `json` (tickertape.v1.json) or `bin`
    /// (tickertape.v1.bin, binary frames).
    #[arg(long, value_enum, default_value_t = Encoding::Json)]
    encoding: Encoding,
}

/// The subprotocol clients offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    Json,
    Bin,
}

/// What a snapshot or diff says, however it was encoded.
struct Update {
    snapshot: bool,
    seq: Option<u64>,
    /// A diff's `ts`.
    ts: Option<u64>,
    changes: u64,
}

/// Latencies in whole milliseconds, 0..=10 s, plus the largest seen.
#[derive(Clone, Default)]
struct Histogram {
    buckets: Vec<u64>,
    max: u64,
    count: u64,
}

impl Histogram {
    fn record(&mut self, ms: u64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; 10_001];
        }
        self.buckets[ms.min(10_000) as usize] += 1;
        self.max = self.max.max(ms);
        self.count += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        if other.buckets.is_empty() {
            return;
        }
        if self.buckets.is_empty() {
            self.buckets = vec![0; 10_001];
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.max = self.max.max(other.max);
        self.count += other.count;
    }

    fn percentile(&self, p: f64) -> Option<u64> {
        let target = ((self.count as f64) * p / 100.0).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Some(ms as u64);
            }
        }
        None
    }
}

/// What every client adds to while the window is open.
#[derive(Default)]
struct Totals {
    messages: AtomicU64,
    changes: AtomicU64,
    bytes: AtomicU64,
    /// Payload plus each WebSocket frame's header: what the server wrote,
    /// short of TCP and IP.
    wire_bytes: AtomicU64,
    gaps: AtomicU64,
}

struct Shared {
    args: Args,
    totals: Totals,
    latency: Mutex<Histogram>,
    connected: AtomicU64,
    failed: AtomicU64,
    /// Close codes the server sent, and connections lost without one.
    closes: Mutex<std::collections::BTreeMap<String, u64>>,
    window_start: Instant,
    window_end: Instant,
    stop: Instant,
    storm: Option<Storm>,
    restart: Option<Restart>,
}

/// What clients saw of a restart (`--reconnect`).
#[derive(Default)]
struct Restart {
    /// Clients the server closed with 1012, and when the first was.
    closed: AtomicU64,
    first_close: std::sync::Mutex<Option<Instant>>,
    /// Of them, those live again (a snapshot on a new connection), and
    /// when the last was.
    relived: AtomicU64,
    last_relive: std::sync::Mutex<Option<Instant>>,
    /// Connection attempts that failed on the way back.
    failed_attempts: AtomicU64,
    /// Per client: the hint, and the time from its close to its snapshot.
    hints: Mutex<Histogram>,
    downtime: Mutex<Histogram>,
}

impl Restart {
    fn closed(&self, at: Instant) {
        self.closed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_close.lock().unwrap_or_else(|e| e.into_inner());
        *first = Some(first.map_or(at, |f| f.min(at)));
    }

    fn relived(&self, at: Instant) {
        self.relived.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_relive.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some(last.map_or(at, |l| l.max(at)));
    }
}

/// The `retry_after_ms` of a 1012 close's reason, if it has one.
fn retry_hint(reason: &str) -> Option<u64> {
    let (_, after) = reason.split_once("retry_after_ms=")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// How a client's connection ended.
enum Ending {
    Closed { code: u16, reason: String },
    Dropped,
}

impl Ending {
    /// Its label in `closed_by_server`.
    fn label(&self) -> String {
        match self {
            Ending::Closed { code, .. } => code.to_string(),
            Ending::Dropped => "dropped without a close frame".into(),
        }
    }
}

/// A resync storm's shared state: the coordinator starts rounds, clients
/// send `resync` and count their answers.
struct Storm {
    rounds: u32,
    /// The round last started (0: none yet); every reading client watches it.
    round: watch::Sender<u32>,
    /// Clients that got their first snapshot, or that never will (failed,
    /// stalled, ended): the storm starts when this reaches `--clients`.
    settled: AtomicU64,
    /// Clients that got their first snapshot: those that take part.
    ready: AtomicU64,
    /// Of the ready clients, those answered in every round or gone.
    finished: AtomicU64,
    all_finished: Notify,
    requests: AtomicU64,
    snapshots: AtomicU64,
    /// Snapshots and diffs after a client's first resync whose seq was not the previous one + 1.
    gaps: AtomicU64,
    latency: Mutex<Histogram>,
    /// When the last snapshot answering a resync arrived.
    last_snapshot: std::sync::Mutex<Option<Instant>>,
}

impl Storm {
    fn new(rounds: u32) -> Self {
        Storm {
            rounds,
            round: watch::Sender::new(0),
            settled: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            all_finished: Notify::new(),
            requests: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            latency: Mutex::new(Histogram::default()),
            last_snapshot: std::sync::Mutex::new(None),
        }
    }

    fn finish(&self) {
        let finished = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if finished >= self.ready.load(Ordering::SeqCst) {
            self.all_finished.notify_one();
        }
    }
}

/// What the coordinator saw of a storm.
struct StormWindow {
    rounds_started: u32,
    start: Instant,
    /// The server's user and system CPU seconds over the storm.
    server: Option<StormServerUse>,
}

#[derive(Debug, Serialize)]
struct Report {
    url: String,
    encoding: Encoding,
    clients: u32,
    stalled: u32,
    connected: u64,
    failed: u64,
    seq_gaps: u64,
    window_secs: f64,
    messages_per_sec: f64,
    changes_per_sec: f64,
    bytes_per_sec: f64,
    /// WebSocket bytes (payload and frame headers) per delivered change.
    wire_bytes_per_change: Option<f64>,
    latency_ms: Latency,
    closed_by_server: std::collections::BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<ServerUse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storm: Option<StormReport>,
    restart: Option<RestartReport>,
}

/// `--resync-storm`: every client's resyncs and their answers.
#[derive(Debug, Serialize)]
struct StormReport {
    rounds: u32,
    /// Rounds started before `--duration` ran out (all of them, normally).
    rounds_started: u32,
    /// Clients taking part: those that had their first snapshot.
    clients: u64,
    requests: u64,
    snapshots: u64,
    /// Snapshots and diffs after a client's first resync whose seq was not
    /// the previous one + 1 (the protocol's contiguity rule).
    seq_gaps: u64,
    /// From just before the first round to the last snapshot.
    window_secs: f64,
    /// From sending `resync` to receiving its snapshot.
    latency_ms: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<StormServerUse>,
}

#[derive(Debug, Serialize)]
struct StormServerUse {
    user_secs: f64,
    system_secs: f64,
}

#[derive(Debug, Serialize)]
struct Latency {
    samples: u64,
    p50: Option<u64>,
    p99: Option<u64>,
    max: u64,
}

#[derive(Debug, Serialize)]
struct ServerUse {
    cpu_secs: f64,
    /// The part of `cpu_secs` in user space and in the kernel.
    user_secs: f64,
    system_secs: f64,
    rss_start_kib: u64,
    rss_end_kib: u64,
    rss_peak_kib: u64,
    cpu_secs_per_million_changes: Option<f64>,
    user_secs_per_million_changes: Option<f64>,
    system_secs_per_million_changes: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_loopback(&args.url)?;
    if args.resync_storm > 0 {
        anyhow::ensure!(
            args.subscribe != "none",
            "--resync-storm needs subscribed clients (not --subscribe none)"
        );
        anyhow::ensure!(
            args.duration >= args.warmup + f64::from(args.resync_storm),
            "--resync-storm {} needs --duration of at least --warmup + {0} seconds",
            args.resync_storm
        );
    }
    raise_fd_limit();
    let ramp = Duration::from_secs_f64(args.ramp_secs.max(0.0));
    let duration = Duration::from_secs_f64(args.duration.clamp(0.1, 3600.0));
    let warmup = Duration::from_secs_f64(args.warmup.clamp(0.0, args.duration));
    let begin = Instant::now();
    let shared = Arc::new(Shared {
        totals: Totals::default(),
        latency: Mutex::new(Histogram::default()),
        connected: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        closes: Mutex::new(Default::default()),
        window_start: begin + ramp + warmup,
        window_end: begin + ramp + duration,
        stop: begin + ramp + duration,
        storm: (args.resync_storm > 0).then(|| Storm::new(args.resync_storm)),
        restart: args.reconnect.then(Restart::default),
        args: args.clone(),
    });
    let sampler = args
        .server_pid
        .map(|pid| tokio::spawn(sample_server(pid, shared.window_start, shared.window_end)));
    let storm = shared
        .storm
        .is_some()
        .then(|| tokio::spawn(run_storm(shared.clone())));
    let mut tasks = Vec::with_capacity(args.clients as usize);
    for i in 0..args.clients {
        let due = begin + ramp.mul_f64(f64::from(i) / f64::from(args.clients));
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            client(i, &shared).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let server = match sampler {
        Some(s) => s.await.ok().flatten(),
        None => None,
    };
    let storm = match storm {
        Some(s) => s.await.ok(),
        None => None,
    };
    let report = report(&shared, server, storm).await;
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    eprintln!("{}", table(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, json)?;
    }
    Ok(())
}

/// Refuses anything but this machine: a load test is never aimed elsewhere.
fn check_loopback(url: &str) -> anyhow::Result<()> {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .trim_matches(['[', ']']);
    let local = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        local,
        "refusing {url}: the load generator only targets this machine (127.0.0.1, ::1, localhost)"
    );
    Ok(())
}

/// Raises the soft open-file limit to the hard one: one socket per client.
fn raise_fd_limit() {
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
}

/// Opens one WebSocket to the server, offering the chosen encoding.
async fn open(shared: &Shared) -> Option<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0);
    let mut request = shared.args.url.as_str().into_client_request().ok()?;
    let protocol = match shared.args.encoding {
        Encoding::Json => SUBPROTOCOL_JSON,
        Encoding::Bin => SUBPROTOCOL_BIN,
    };
    request
        .headers_mut()
        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    match tokio::time::timeout(Duration::from_secs(10), connecting).await {
        Ok(Ok((ws, _))) => Some(ws),
        _ => None,
    }
}

/// Back after a restart: waits `hint_ms`, then connects, retrying with
/// jittered backoff; `None` when `--duration` runs out first.
async fn reopen(shared: &Shared, restart: &Restart, hint_ms: u64) -> Option<Ws> {
    let stop = tokio::time::Instant::from(shared.stop);
    let mut wait = Duration::from_millis(hint_ms);
    let mut backoff = Duration::from_millis(250);
    loop {
        let due = tokio::time::Instant::now() + wait;
        if due >= stop {
            return None;
        }
        tokio::time::sleep_until(due).await;
        if let Some(ws) = open(shared).await {
            return Some(ws);
        }
        restart.failed_attempts.fetch_add(1, Ordering::Relaxed);
        wait = backoff.mul_f64(rand::random_range(0.5..1.5));
        backoff = (backoff * 2).min(Duration::from_secs(4));
    }
}

async fn client(i: u32, shared: &Shared) {
    // Created first: however this client ends, the storm hears of it.
    let mut reader = Reader::new(shared);
    let Some(mut ws) = open(shared).await else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    if let Some(subscribe) = subscription(&shared.args, i)
        && ws.send(Message::text(subscribe)).await.is_err()
    {
        return;
    }
    if i < shared.args.stall {
        drop(reader); // takes no part in a storm
        // Never read: the server must cope. Afterwards, see how it ended.
        tokio::time::sleep_until(shared.stop.into()).await;
        let ending = drain_until_close(&mut ws).await;
        *shared.closes.lock().await.entry(ending).or_default() += 1;
        return;
    }
    let mut rounds = shared.storm.as_ref().map(|s| s.round.subscribe());
    let stop = tokio::time::sleep_until(shared.stop.into());
    tokio::pin!(stop);
    loop {
        let ending = loop {
            tokio::select! {
                next = ws.next() => match next {
                    Some(Ok(Message::Text(text))) => reader.on_text(&text, shared),
                    Some(Ok(Message::Binary(bytes))) => reader.on_binary(&bytes, shared),
                    Some(Ok(Message::Close(frame))) => {
                        break Some(frame.map_or(Ending::Closed { code: 1005, reason: String::new() }, |f| {
                            Ending::Closed { code: u16::from(f.code), reason: f.reason.to_string() }
                        }));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break Some(Ending::Dropped),
                },
                round = next_round(&mut rounds) => {
                    if reader.resync(round, &mut ws).await.is_err() {
                        break Some(Ending::Dropped);
                    }
                }
                () = &mut stop => break None,
            }
        };
        let Some(ending) = ending else { break };
        *shared
            .closes
            .lock()
            .await
            .entry(ending.label())
            .or_default() += 1;
        // A restart: come back as told, and follow the new server.
        let (Some(restart), Ending::Closed { code: 1012, reason }) = (&shared.restart, &ending)
        else {
            break;
        };
        let closed_at = Instant::now();
        restart.closed(closed_at);
        let hint = retry_hint(reason).unwrap_or(0);
        restart.hints.lock().await.record(hint);
        let Some(again) = reopen(shared, restart, hint).await else {
            break;
        };
        ws = again;
        if let Some(subscribe) = subscription(&shared.args, i)
            && ws.send(Message::text(subscribe)).await.is_err()
        {
            break;
        }
        reader.expected = None;
        reader.relive = Some(closed_at);
    }
    reader.flush(shared).await;
    let _ = ws.close(None).await;
}

/// Reads what a stalled client never read, to find how the server ended it.
async fn drain_until_close(ws: &mut Ws) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                return frame.map_or("close".into(), |f| u16::from(f.code).to_string());
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => return "dropped without a close frame".into(),
            Err(_) => return "still open".into(),
        }
    }
}

/// The storm's round once the coordinator starts one; never without a storm.
async fn next_round(rounds: &mut Option<watch::Receiver<u32>>) -> u32 {
    if let Some(rx) = rounds
        && rx.changed().await.is_ok()
    {
        return *rx.borrow_and_update();
    }
    std::future::pending().await
}

/// Waits until every client is subscribed (or gone) and the warm-up is over,
/// starts the storm's rounds one second apart, and waits for the last round's
/// snapshots (at most until `--duration` runs out).
async fn run_storm(shared: Arc<Shared>) -> StormWindow {
    let storm = shared.storm.as_ref().expect("a storm was asked for");
    let clients = u64::from(shared.args.clients);
    while storm.settled.load(Ordering::SeqCst) < clients && Instant::now() < shared.stop {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep_until(shared.window_start.into()).await;
    let start = Instant::now();
    let pid = shared.args.server_pid;
    let cpu_start = pid.and_then(cpu_times);
    let mut rounds_started = 0;
    for round in 1..=storm.rounds {
        let at = start + Duration::from_secs(u64::from(round - 1));
        if at >= shared.stop {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        storm.round.send_replace(round);
        rounds_started = round;
    }
    let deadline = tokio::time::sleep_until(shared.stop.into());
    tokio::pin!(deadline);
    while storm.finished.load(Ordering::SeqCst) < storm.ready.load(Ordering::SeqCst) {
        tokio::select! {
            () = storm.all_finished.notified() => {}
            () = &mut deadline => break,
        }
    }
    let server =
        cpu_start
            .zip(pid.and_then(cpu_times))
            .map(|((user0, system0), (user1, system1))| StormServerUse {
                user_secs: user1 - user0,
                system_secs: system1 - system0,
            });
    StormWindow {
        rounds_started,
        start,
        server,
    }
}

fn subscription(args: &Args, i: u32) -> Option<String> {
    let symbols: Vec<&str> = match args.subscribe.as_str() {
        "none" => return None,
        "one" => {
            let list: Vec<&str> = args.symbol_list.split(',').collect();
            vec![list[i as usize % list.len()]]
        }
        other => other.split(',').collect(),
    };
    Some(serde_json::json!({"op": "subscribe", "symbols": symbols}).to_string())
}

/// One client's view: seq tracking and local counters, merged at the end.
struct Reader<'a> {
    expected: Option<u64>,
    /// Back after a restart that closed it then: its next snapshot makes it
    /// live again.
    relive: Option<Instant>,
    /// Per restart, from its close to its snapshot on the new connection.
    downtime: Histogram,
    latency: Histogram,
    storm: Option<StormPart<'a>>,
}

/// A client's part in a resync storm. Dropping it tells the coordinator this
/// client is done, however it ended.
struct StormPart<'a> {
    storm: &'a Storm,
    /// Got its first snapshot: takes part.
    ready: bool,
    /// Resyncs sent.
    sent: u32,
    /// When each unanswered resync was sent, oldest first (answers come in order).
    pending: VecDeque<Instant>,
    answered: u32,
    latency: Histogram,
    finished: bool,
}

impl Drop for StormPart<'_> {
    fn drop(&mut self) {
        if !self.ready {
            self.storm.settled.fetch_add(1, Ordering::SeqCst);
        } else if !self.finished {
            self.storm.finish();
        }
    }
}

impl<'a> Reader<'a> {
    fn new(shared: &'a Shared) -> Self {
        Reader {
            expected: None,
            relive: None,
            downtime: Histogram::default(),
            latency: Histogram::default(),
            storm: shared.storm.as_ref().map(|storm| StormPart {
                storm,
                ready: false,
                sent: 0,
                pending: VecDeque::new(),
                answered: 0,
                latency: Histogram::default(),
                finished: false,
            }),
        }
    }

    /// Sends `resync` for storm round `round` (and any round missed), if this
    /// client takes part.
    async fn resync(&mut self, round: u32, ws: &mut Ws) -> Result<(), WsError> {
        let Some(part) = self.storm.as_mut().filter(|p| p.ready) else {
            return Ok(());
        };
        while part.sent < round {
            part.pending.push_back(Instant::now());
            part.sent += 1;
            part.storm.requests.fetch_add(1, Ordering::Relaxed);
            ws.send(Message::text(r#"{"op":"resync"}"#)).await?;
        }
        Ok(())
    }

    /// Storm bookkeeping for a snapshot or diff with `seq`, received at `now`.
    fn on_storm_message(&mut self, snapshot: bool, seq: Option<u64>, now: Instant) {
        let Some(part) = self.storm.as_mut() else {
            return;
        };
        if part.sent > 0 && self.expected.is_some() && seq != self.expected {
            part.storm.gaps.fetch_add(1, Ordering::Relaxed);
        }
        if !snapshot {
            return;
        }
        if !part.ready {
            part.ready = true;
            part.storm.ready.fetch_add(1, Ordering::SeqCst);
            part.storm.settled.fetch_add(1, Ordering::SeqCst);
        }
        let Some(sent) = part.pending.pop_front() else {
            return;
        };
        part.latency
            .record(now.duration_since(sent).as_millis() as u64);
        part.answered += 1;
        part.storm.snapshots.fetch_add(1, Ordering::Relaxed);
        let mut last = part.storm.last_snapshot.lock().unwrap();
        *last = Some(last.map_or(now, |l| l.max(now)));
        drop(last);
        if part.answered == part.storm.rounds && !part.finished {
            part.finished = true;
            part.storm.finish();
        }
    }

    fn on_text(&mut self, text: &str, shared: &Shared) {
        let update = match field_str(text, "\"type\":\"") {
            Some("snapshot") => Some(Update {
                snapshot: true,
                seq: field_u64(text, "\"seq\":"),
                ts: None,
                changes: 0,
            }),
            Some("diff") => Some(Update {
                snapshot: false,
                seq: field_u64(text, "\"seq\":"),
                ts: field_u64(text, "\"ts\":"),
                changes: text.matches("\"symbol\"").count() as u64,
            }),
            _ => None,
        };
        self.on_message(update, text.len(), shared);
    }

    /// A binary frame: its header says all the counting needs.
    fn on_binary(&mut self, bytes: &[u8], shared: &Shared) {
        let update = binary::header(bytes).ok().map(|h| Update {
            snapshot: h.kind == binary::SNAPSHOT,
            seq: Some(h.seq),
            ts: (h.kind == binary::DIFF)
                .then(|| u64::try_from(h.base_ts).ok())
                .flatten(),
            changes: if h.kind == binary::DIFF { h.count } else { 0 },
        });
        self.on_message(update, bytes.len(), shared);
    }

    fn on_message(&mut self, update: Option<Update>, len: usize, shared: &Shared) {
        let now = Instant::now();
        let measuring = now >= shared.window_start && now < shared.window_end;
        match update {
            Some(Update {
                snapshot: true,
                seq,
                ..
            }) => {
                self.on_storm_message(true, seq, now);
                self.expected = seq.map(|s| s + 1);
                if let (Some(closed_at), Some(restart)) = (self.relive.take(), &shared.restart) {
                    restart.relived(now);
                    self.downtime
                        .record(now.duration_since(closed_at).as_millis() as u64);
                }
            }
            Some(Update {
                snapshot: false,
                seq,
                ts,
                changes,
            }) => {
                self.on_storm_message(false, seq, now);
                if self.expected.is_some() && seq != self.expected && measuring {
                    shared.totals.gaps.fetch_add(1, Ordering::Relaxed);
                }
                self.expected = seq.map(|s| s + 1);
                if measuring {
                    shared.totals.changes.fetch_add(changes, Ordering::Relaxed);
                    if let Some(ts) = ts {
                        let received = chrono::Utc::now().timestamp_millis().max(0) as u64;
                        self.latency.record(received.saturating_sub(ts));
                    }
                }
            }
            None => {}
        }
        if measuring {
            shared.totals.messages.fetch_add(1, Ordering::Relaxed);
            shared.totals.bytes.fetch_add(len as u64, Ordering::Relaxed);
            shared
                .totals
                .wire_bytes
                .fetch_add(frame_size(len), Ordering::Relaxed);
        }
    }

    async fn flush(&self, shared: &Shared) {
        shared.latency.lock().await.merge(&self.latency);
        if let Some(restart) = &shared.restart {
            restart.downtime.lock().await.merge(&self.downtime);
        }
        if let Some(part) = &self.storm {
            part.storm.latency.lock().await.merge(&part.latency);
        }
    }
}

/// The string value after `key` (up to the next quote).
fn field_str<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let end = text[start..].find('"')?;
    Some(&text[start..start + end])
}

/// The integer after `key` (the first occurrence).
fn field_u64(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

/// The server's CPU seconds and RSS across the measured window.
async fn sample_server(pid: u32, start: Instant, end: Instant) -> Option<ServerUse> {
    tokio::time::sleep_until(start.into()).await;
    let (cpu_start, rss_start) = (cpu_times(pid)?, rss_kib(pid)?);
    let mut peak = rss_start;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(rss_kib(pid).unwrap_or(0));
    }
    let rss_end = rss_kib(pid)?;
    let (user, system) = cpu_times(pid)?;
    let (user_secs, system_secs) = (user - cpu_start.0, system - cpu_start.1);
    Some(ServerUse {
        cpu_secs: user_secs + system_secs,
        user_secs,
        system_secs,
        rss_start_kib: rss_start,
        rss_end_kib: rss_end,
        rss_peak_kib: peak.max(rss_end),
        cpu_secs_per_million_changes: None,
        user_secs_per_million_changes: None,
        system_secs_per_million_changes: None,
    })
}

/// A server's (unmasked) text frame of `payload` bytes on the wire: the
/// payload and a 2-byte header, plus 2 for a 16-bit or 8 for a 64-bit length.
fn frame_size(payload: usize) -> u64 {
    let extended = match payload {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    (payload + 2 + extended) as u64
}

/// User and system CPU seconds of a process, from /proc/<pid>/stat.
fn cpu_times(pid: u32) -> Option<(f64, f64)> {
    parse_cpu_times(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// User and system CPU seconds from a /proc/<pid>/stat line: fields 14 and 15.
fn parse_cpu_times(stat: &str) -> Option<(f64, f64)> {
    // Split after `(comm)`, which may hold spaces and parentheses: field n is fields[n - 3].
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    // USER_HZ is 100 on Linux.
    Some((ticks(14)? / 100.0, ticks(15)? / 100.0))
}

/// Resident set size of a process in KiB, from /proc/<pid>/status.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn report(
    shared: &Shared,
    mut server: Option<ServerUse>,
    storm: Option<StormWindow>,
) -> Report {
    let window = shared
        .window_end
        .duration_since(shared.window_start)
        .as_secs_f64()
        .max(1e-9);
    let t = &shared.totals;
    let changes = t.changes.load(Ordering::Relaxed);
    let latency = shared.latency.lock().await.clone();
    if let Some(s) = server.as_mut() {
        let per_million = |secs: f64| (changes > 0).then(|| secs / changes as f64 * 1e6);
        s.cpu_secs_per_million_changes = per_million(s.cpu_secs);
        s.user_secs_per_million_changes = per_million(s.user_secs);
        s.system_secs_per_million_changes = per_million(s.system_secs);
    }
    Report {
        url: shared.args.url.clone(),
        encoding: shared.args.encoding,
        clients: shared.args.clients,
        stalled: shared.args.stall,
        connected: shared.connected.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        seq_gaps: t.gaps.load(Ordering::Relaxed),
        window_secs: window,
        messages_per_sec: t.messages.load(Ordering::Relaxed) as f64 / window,
        changes_per_sec: changes as f64 / window,
        bytes_per_sec: t.bytes.load(Ordering::Relaxed) as f64 / window,
        wire_bytes_per_change: (changes > 0)
            .then(|| t.wire_bytes.load(Ordering::Relaxed) as f64 / changes as f64),
        latency_ms: Latency {
            samples: latency.count,
            p50: latency.percentile(50.0),
            p99: latency.percentile(99.0),
            max: latency.max,
        },
        closed_by_server: shared.closes.lock().await.clone(),
        server,
        storm: match (&shared.storm, storm) {
            (Some(s), Some(w)) => Some(storm_report(s, w).await),
            _ => None,
        },
        restart: match &shared.restart {
            Some(r) => Some(restart_report(r).await),
            None => None,
        },
    }
}

/// What `--reconnect` clients saw of a restart.
#[derive(Debug, Serialize)]
struct RestartReport {
    /// Clients the server closed with 1012.
    closed: u64,
    /// Of them, live again before the end.
    live_again: u64,
    /// From the first 1012 to the last client live again.
    all_back_ms: Option<u64>,
    /// Connection attempts refused or failed on the way back.
    failed_attempts: u64,
    /// The servers' hints, and each client's time from its close to its snapshot.
    hint_ms: Latency,
    downtime_ms: Latency,
}

async fn restart_report(r: &Restart) -> RestartReport {
    let summary = |h: &Histogram| Latency {
        samples: h.count,
        p50: h.percentile(50.0),
        p99: h.percentile(99.0),
        max: h.max,
    };
    let first = *r.first_close.lock().unwrap_or_else(|e| e.into_inner());
    let last = *r.last_relive.lock().unwrap_or_else(|e| e.into_inner());
    RestartReport {
        closed: r.closed.load(Ordering::Relaxed),
        live_again: r.relived.load(Ordering::Relaxed),
        all_back_ms: match (first, last) {
            (Some(f), Some(l)) => Some(l.saturating_duration_since(f).as_millis() as u64),
            _ => None,
        },
        failed_attempts: r.failed_attempts.load(Ordering::Relaxed),
        hint_ms: summary(&*r.hints.lock().await),
        downtime_ms: summary(&*r.downtime.lock().await),
    }
}

async fn storm_report(storm: &Storm, window: StormWindow) -> StormReport {
    let latency = storm.latency.lock().await.clone();
    let last = *storm.last_snapshot.lock().unwrap();
    StormReport {
        rounds: storm.rounds,
        rounds_started: window.rounds_started,
        clients: storm.ready.load(Ordering::SeqCst),
        requests: storm.requests.load(Ordering::Relaxed),
        snapshots: storm.snapshots.load(Ordering::Relaxed),
        seq_gaps: storm.gaps.load(Ordering::Relaxed),
        window_secs: last.map_or(0.0, |l| l.duration_since(window.start).as_secs_f64()),
        latency_ms: Latency {
            samples: latency.count,
            p50: latency.percentile(50.0),
            p99: latency.percentile(99.0),
            max: latency.max,
        },
        server: window.server,
    }
}

fn table(r: &Report) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut out = format!(
        "clients {}/{} connected, {} failed, {} stalled | gaps {} | {:.0} msg/s, {:.0} changes/s, {:.1} MB/s | latency ms p50 {} p99 {} max {}",
        r.connected,
        r.clients,
        r.failed,
        r.stalled,
        r.seq_gaps,
        r.messages_per_sec,
        r.changes_per_sec,
        r.bytes_per_sec / 1e6,
        opt(r.latency_ms.p50),
        opt(r.latency_ms.p99),
        r.latency_ms.max
    );
    if let Some(s) = &r.server {
        out.push_str(&format!(
            "\nserver: {:.2} CPU s in window ({:.2} user, {:.2} system), RSS {} → {} KiB (peak {}), {} CPU s per million changes",
            s.cpu_secs,
            s.user_secs,
            s.system_secs,
            s.rss_start_kib,
            s.rss_end_kib,
            s.rss_peak_kib,
            s.cpu_secs_per_million_changes.map_or("-".into(), |v| format!("{v:.2}"))
        ));
    }
    if let Some(s) = &r.storm {
        out.push_str(&format!(
            "\nstorm: {}/{} rounds × {} clients, {}/{} snapshots, gaps {} | resync → snapshot ms p50 {} p99 {} max {} | {:.2} s",
            s.rounds_started,
            s.rounds,
            s.clients,
            s.snapshots,
            s.requests,
            s.seq_gaps,
            opt(s.latency_ms.p50),
            opt(s.latency_ms.p99),
            s.latency_ms.max,
            s.window_secs
        ));
        if let Some(u) = &s.server {
            out.push_str(&format!(
                ", server CPU {:.2} s user + {:.2} s system",
                u.user_secs, u.system_secs
            ));
        }
    }
    if !r.closed_by_server.is_empty() {
        out.push_str(&format!("\nendings: {:?}", r.closed_by_server));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_allowed() {
        assert!(check_loopback("ws://127.0.0.1:3000/ws").is_ok());
        assert!(check_loopback("ws://localhost:3000/ws").is_ok());
        assert!(check_loopback("ws://[::1]:3000/ws").is_ok());
        assert!(check_loopback("ws://10.0.0.5:3000/ws").is_err());
        assert!(check_loopback("wss://example.com/ws").is_err());
    }

    #[test]
    fn fields_are_found_without_a_json_parser() {
        let text = r#"{"type":"diff","seq":42,"ts":1700000000123,"changes":[{"symbol":"A","last":1.5},{"symbol":"B"}]}"#;
        assert_eq!(field_str(text, "\"type\":\""), Some("diff"));
        assert_eq!(field_u64(text, "\"seq\":"), Some(42));
        assert_eq!(field_u64(text, "\"ts\":"), Some(1_700_000_000_123));
        assert_eq!(text.matches("\"symbol\"").count(), 2);
    }

    #[test]
    fn a_frame_on_the_wire_is_its_payload_and_header() {
        assert_eq!(frame_size(0), 2);
        assert_eq!(frame_size(125), 127);
        assert_eq!(frame_size(126), 130);
        assert_eq!(frame_size(65_535), 65_539);
        assert_eq!(frame_size(65_536), 65_546);
    }

    #[test]
    fn cpu_times_are_fields_14_and_15_after_the_command_name() {
        let stat =
            "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 37 0 0 20 0 9 0 100";
        assert_eq!(parse_cpu_times(stat), Some((2.5, 0.37)));
        assert_eq!(parse_cpu_times("4242 (x) S 1"), None);
        assert!(cpu_times(std::process::id()).is_some());
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record(ms);
        }
        assert_eq!(
            (h.percentile(50.0), h.percentile(99.0), h.max),
            (Some(50), Some(99), 100)
        );
        let mut merged = Histogram::default();
        merged.merge(&h);
        merged.record(20_000);
        assert_eq!((merged.count, merged.max), (101, 20_000));
    }
}
