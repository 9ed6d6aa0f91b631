//! Real processes for cluster tests: `nats-server` (Debian's package) and
//! `tickertape` binaries in each role, on loopback ports the OS picks.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use app::protocol::{Candle, Quote, QuotesResponse, ServerMsg};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::{Client, apply_quotes};

const TICKERTAPE: &str = env!("CARGO_BIN_EXE_tickertape");
/// How long a process may take to start serving: an edge first copies the
/// ingest node's whole state, which on a busy machine takes a while.
const START: Duration = Duration::from_secs(60);

/// The `nats-server` binary: `NATS_SERVER`, else on PATH or in /usr/sbin.
fn nats_binary() -> String {
    if let Ok(path) = std::env::var("NATS_SERVER") {
        return path;
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin"])
    {
        let path = format!("{dir}/nats-server");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!(
        "nats-server not found: install Debian's nats-server package (make test does) or set NATS_SERVER"
    )
}

/// Reads a child's output on a thread, so it never blocks on a full pipe,
/// and hands each line over.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `marker`; returns the rest of it.
fn wait_for(lines: &mpsc::Receiver<String>, marker: &str, what: &str) -> String {
    let deadline = Instant::now() + START;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => match line.split_once(marker) {
                Some((_, rest)) => return rest.trim().to_owned(),
                None => seen.push(line),
            },
            Err(_) => break,
        }
    }
    panic!("{what} did not start; it printed:\n{}", seen.join("\n"))
}

/// A `nats-server` on loopback, killed on drop.
pub struct Nats {
    child: Child,
    pub port: u16,
}

impl Nats {
    /// On a port the OS picks.
    pub fn start() -> Nats {
        Nats::start_on(None)
    }

    /// Again on a known port (a restart of the same server).
    pub fn start_on(port: Option<u16>) -> Nats {
        Nats::start_with(port, None, &[])
    }

    /// With a configuration file (its `$VARIABLES` from `env`).
    pub fn configured(config: &std::path::Path, env: &[(&str, &str)]) -> Nats {
        Nats::start_with(None, Some(config), env)
    }

    fn start_with(
        port: Option<u16>,
        config: Option<&std::path::Path>,
        env: &[(&str, &str)],
    ) -> Nats {
        let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
        let mut command = Command::new(nats_binary());
        if let Some(config) = config {
            command.arg("-c").arg(config);
        }
        let mut child = command
            .args(["-a", "127.0.0.1", "-p", &port_arg])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let lines = lines_of(child.stderr.take().unwrap());
        // Owned before waiting: a server that never listens is killed with it.
        let mut nats = Nats { child, port: 0 };
        let addr = wait_for(&lines, "Listening for client connections on", "nats-server");
        nats.port = addr.rsplit(':').next().unwrap().parse().unwrap();
        // Keep draining its log.
        std::thread::spawn(move || for _ in lines {});
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tickertape` process, killed on drop.
pub struct Node {
    child: Child,
    pub base: String,
    /// Every line it has logged so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Node {
    /// Starts the binary with `args` on a free port (unless they name an
    /// `--addr`) and waits until it serves; in memory unless `args` name a
    /// data directory.
    pub fn start(args: &[&str]) -> Node {
        let ephemeral = (!args.contains(&"--data-dir")).then_some("--ephemeral");
        let any_port = (!args.contains(&"--addr")).then_some(["--addr", "127.0.0.1:0"]);
        let mut child = Command::new(TICKERTAPE)
            .args(any_port.into_iter().flatten())
            .args(["--log-format", "json"])
            .args(ephemeral)
            .args(args)
            .env("TICKERTAPE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tickertape");
        let (tx, lines) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        let stdout = lines_of(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout {
                kept.lock().unwrap().push(line.clone());
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Owned before waiting: a node that never serves is killed with it.
        let mut node = Node {
            child,
            base: String::new(),
            log,
        };
        let rest = wait_for(&lines, "serving http", "tickertape");
        node.base = format!("http{}", rest.split(['"', ' ']).next().unwrap());
        // The node's log, shown with the output of a failing test.
        let name = node.base.clone();
        std::thread::spawn(move || {
            for line in lines {
                eprintln!("[{name}] {line}");
            }
        });
        node
    }

    pub fn ingest(bus: &str, extra: &[&str]) -> Node {
        let args = [&["--role", "ingest", "--bus", bus], extra].concat();
        Node::start(&args)
    }

    pub fn edge(bus: &str, extra: &[&str]) -> Node {
        let args = [&["--role", "edge", "--bus", bus], extra].concat();
        Node::start(&args)
    }

    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http", "ws", 1))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("GET")
    }

    pub async fn quotes(&self) -> Vec<Quote> {
        let response: QuotesResponse = self.get("/api/quotes").await.json().await.unwrap();
        response.quotes
    }

    pub async fn candles(&self, symbol: &str, interval: &str) -> Vec<Candle> {
        let path = format!("/api/candles/{symbol}?interval={interval}&limit=1200");
        self.get(&path).await.json().await.unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    /// Sends a signal (`STOP`, `CONT`, `KILL`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Node {
    /// Stops it as a deployment does (SIGTERM) and waits for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("wait for tickertape")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebSocket client that keeps the quotes it was sent, as a browser does.
pub struct Watcher {
    pub client: Client,
    pub quotes: BTreeMap<String, Quote>,
    /// The newest state each feed was reported in.
    pub feeds: BTreeMap<String, app::protocol::FeedState>,
    /// The `seq` of the last snapshot or diff; each next one must be exactly
    /// one more (resyncs of the edge included).
    pub seq: u64,
}

impl Watcher {
    /// Connects and subscribes to every symbol; the feed states sent with
    /// the greeting are kept.
    pub async fn connect(node: &Node) -> Watcher {
        let mut watcher = Watcher {
            client: Client::connect(&node.ws_url()).await,
            quotes: BTreeMap::new(),
            feeds: BTreeMap::new(),
            seq: 0,
        };
        watcher
            .client
            .send_json(serde_json::json!({"op": "subscribe", "symbols": ["*"]}))
            .await;
        loop {
            let msg = watcher.client.msg().await;
            let snapshot = matches!(msg, ServerMsg::Snapshot { .. });
            watcher.apply(msg);
            if snapshot {
                return watcher;
            }
        }
    }

    fn apply(&mut self, msg: ServerMsg) {
        if let ServerMsg::Snapshot { seq, .. } | ServerMsg::Diff { seq, .. } = msg {
            assert_eq!(seq, self.seq + 1, "seq grows by exactly 1 per message");
            self.seq = seq;
        }
        apply_quotes(&mut self.quotes, &msg);
        if let ServerMsg::Status { feed, state } = msg {
            self.feeds.insert(feed, state);
        }
    }

    /// The next message, if one comes before `deadline`.
    async fn next_before(&mut self, deadline: Instant) -> Option<ServerMsg> {
        loop {
            let frame = tokio::time::timeout_at(deadline.into(), self.client.ws.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("protocol JSON"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// Applies messages until `feed` is reported in `state`.
    pub async fn until_feed(&mut self, feed: &str, state: app::protocol::FeedState) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.feeds.get(feed) != Some(&state) {
            match self.next_before(deadline).await {
                Some(msg) => self.apply(msg),
                None => panic!("{feed} never became {state:?}"),
            }
        }
    }

    /// Applies messages for `time`.
    pub async fn follow_for(&mut self, time: Duration) {
        let deadline = Instant::now() + time;
        while let Some(msg) = self.next_before(deadline).await {
            self.apply(msg);
        }
    }

    /// Applies messages until a quote differs from `before` (or 20 s
    /// pass); whether one did. A busy machine may take a while to deliver
    /// the first change, so waiting a fixed time would fail by chance.
    pub async fn moves_from(&mut self, before: &BTreeMap<String, Quote>) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.quotes == *before {
            match self.next_before(deadline).await {
                Some(msg) => self.apply(msg),
                None => return false,
            }
        }
        true
    }

    pub fn quote_list(&self) -> Vec<Quote> {
        self.quotes.values().cloned().collect()
    }
}

/// Sorted by symbol, for comparing nodes.
pub fn by_symbol(mut quotes: Vec<Quote>) -> Vec<Quote> {
    quotes.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    quotes
}
