//! `tickertape-loadgen`: opens many protocol-v1 WebSocket clients against a
//! server on this machine and reports what they received.
//!
//! Clients connect over `--ramp-secs`, subscribe, and read for `--duration`
//! seconds; the first `--warmup` seconds are not measured. Reported: clients
//! connected and failed, seq gaps, messages/s, changes/s, bytes/s, delivery
//! latency (receipt time − the diff's `ts`) p50/p99/max, how the server
//! closed connections, and (with `--server-pid`) the server's CPU seconds and
//! RSS over the measured window. Loopback only; it stops by itself.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

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
    /// Seconds to read after the last client connected (at most 600).
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
    /// Also write the JSON report here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
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
}

#[derive(Debug, Serialize)]
struct Report {
    url: String,
    clients: u32,
    stalled: u32,
    connected: u64,
    failed: u64,
    seq_gaps: u64,
    window_secs: f64,
    messages_per_sec: f64,
    changes_per_sec: f64,
    bytes_per_sec: f64,
    latency_ms: Latency,
    closed_by_server: std::collections::BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<ServerUse>,
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
    rss_start_kib: u64,
    rss_end_kib: u64,
    rss_peak_kib: u64,
    cpu_secs_per_million_changes: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_loopback(&args.url)?;
    raise_fd_limit();
    let ramp = Duration::from_secs_f64(args.ramp_secs.max(0.0));
    let duration = Duration::from_secs_f64(args.duration.clamp(0.1, 600.0));
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
        args: args.clone(),
    });
    let sampler = args
        .server_pid
        .map(|pid| tokio::spawn(sample_server(pid, shared.window_start, shared.window_end)));
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
    let report = report(&shared, server).await;
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

async fn client(i: u32, shared: &Shared) {
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0);
    let connecting =
        tokio_tungstenite::connect_async_with_config(&shared.args.url, Some(config), false);
    let mut ws = match tokio::time::timeout(Duration::from_secs(10), connecting).await {
        Ok(Ok((ws, _))) => ws,
        _ => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    if let Some(subscribe) = subscription(&shared.args, i)
        && ws.send(Message::text(subscribe)).await.is_err()
    {
        return;
    }
    if i < shared.args.stall {
        // Never read: the server must cope. Afterwards, see how it ended.
        tokio::time::sleep_until(shared.stop.into()).await;
        let ending = drain_until_close(&mut ws).await;
        *shared.closes.lock().await.entry(ending).or_default() += 1;
        return;
    }
    let mut reader = Reader::default();
    let ending = loop {
        let next = tokio::time::timeout_at(shared.stop.into(), ws.next()).await;
        match next {
            Err(_) => break None,
            Ok(Some(Ok(Message::Text(text)))) => reader.on_text(&text, shared),
            Ok(Some(Ok(Message::Close(frame)))) => {
                break Some(frame.map_or("close".into(), |f| u16::from(f.code).to_string()));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break Some("dropped without a close frame".to_string()),
        }
    };
    reader.flush(shared).await;
    if let Some(ending) = ending {
        *shared.closes.lock().await.entry(ending).or_default() += 1;
    }
    let _ = ws.close(None).await;
}

/// Reads what a stalled client never read, to find how the server ended it.
async fn drain_until_close(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> String {
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
#[derive(Default)]
struct Reader {
    expected: Option<u64>,
    latency: Histogram,
}

impl Reader {
    fn on_text(&mut self, text: &str, shared: &Shared) {
        let now = Instant::now();
        let measuring = now >= shared.window_start && now < shared.window_end;
        let kind = field_str(text, "\"type\":\"");
        match kind {
            Some("snapshot") => self.expected = field_u64(text, "\"seq\":").map(|s| s + 1),
            Some("diff") => {
                let seq = field_u64(text, "\"seq\":");
                if self.expected.is_some() && seq != self.expected && measuring {
                    shared.totals.gaps.fetch_add(1, Ordering::Relaxed);
                }
                self.expected = seq.map(|s| s + 1);
                if measuring {
                    let changes = text.matches("\"symbol\"").count() as u64;
                    shared.totals.changes.fetch_add(changes, Ordering::Relaxed);
                    if let Some(ts) = field_u64(text, "\"ts\":") {
                        let received = chrono::Utc::now().timestamp_millis().max(0) as u64;
                        self.latency.record(received.saturating_sub(ts));
                    }
                }
            }
            _ => {}
        }
        if measuring {
            shared.totals.messages.fetch_add(1, Ordering::Relaxed);
            shared
                .totals
                .bytes
                .fetch_add(text.len() as u64, Ordering::Relaxed);
        }
    }

    async fn flush(&self, shared: &Shared) {
        shared.latency.lock().await.merge(&self.latency);
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
    let (cpu_start, rss_start) = (cpu_secs(pid)?, rss_kib(pid)?);
    let mut peak = rss_start;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(rss_kib(pid).unwrap_or(0));
    }
    let rss_end = rss_kib(pid)?;
    Some(ServerUse {
        cpu_secs: cpu_secs(pid)? - cpu_start,
        rss_start_kib: rss_start,
        rss_end_kib: rss_end,
        rss_peak_kib: peak.max(rss_end),
        cpu_secs_per_million_changes: None,
    })
}

/// User + system CPU time of a process, from /proc/<pid>/stat.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Resident set size of a process in KiB, from /proc/<pid>/status.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn report(shared: &Shared, mut server: Option<ServerUse>) -> Report {
    let window = shared
        .window_end
        .duration_since(shared.window_start)
        .as_secs_f64()
        .max(1e-9);
    let t = &shared.totals;
    let changes = t.changes.load(Ordering::Relaxed);
    let latency = shared.latency.lock().await.clone();
    if let Some(s) = server.as_mut() {
        s.cpu_secs_per_million_changes = (changes > 0).then(|| s.cpu_secs / changes as f64 * 1e6);
    }
    Report {
        url: shared.args.url.clone(),
        clients: shared.args.clients,
        stalled: shared.args.stall,
        connected: shared.connected.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        seq_gaps: t.gaps.load(Ordering::Relaxed),
        window_secs: window,
        messages_per_sec: t.messages.load(Ordering::Relaxed) as f64 / window,
        changes_per_sec: changes as f64 / window,
        bytes_per_sec: t.bytes.load(Ordering::Relaxed) as f64 / window,
        latency_ms: Latency {
            samples: latency.count,
            p50: latency.percentile(50.0),
            p99: latency.percentile(99.0),
            max: latency.max,
        },
        closed_by_server: shared.closes.lock().await.clone(),
        server,
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
            "\nserver: {:.2} CPU s in window, RSS {} → {} KiB (peak {}), {} CPU s per million changes",
            s.cpu_secs,
            s.rss_start_kib,
            s.rss_end_kib,
            s.rss_peak_kib,
            s.cpu_secs_per_million_changes.map_or("-".into(), |v| format!("{v:.2}"))
        ));
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
