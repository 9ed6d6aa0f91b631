//! The real server on port 0, and WebSocket/HTTP clients that talk to it.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use app::binary;
use app::protocol::{Level, Quote, ServerMsg, SymbolInfo};
use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use tickertape::AppState;
use tickertape::config::Config;
use tickertape::feed::{Depth, Feed, FeedError, FeedOutput, Tick};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// The real server with the configuration these flags give.
    pub async fn start(args: &[&str]) -> TestServer {
        let config = config(args);
        TestServer::serve(AppState::start(&config).expect("start")).await
    }

    /// The real server fed by a scripted feed; returns the feed's handle.
    pub async fn scripted(args: &[&str], symbols: &[&str]) -> (TestServer, mpsc::Sender<Tick>) {
        let (feed, ticks) = ScriptedFeed::new(symbols);
        let state = AppState::start_with_feeds(&config(args), vec![Box::new(feed)]).expect("start");
        (TestServer::serve(state).await, ticks)
    }

    /// The real server fed by a scripted feed of trades and order books.
    pub async fn scripted_with_depth(
        args: &[&str],
        symbols: &[&str],
    ) -> (TestServer, mpsc::Sender<Tick>, mpsc::Sender<Depth>) {
        let (mut feed, ticks) = ScriptedFeed::new(symbols);
        let (books, rx) = mpsc::channel(1024);
        feed.depth = Some(rx);
        let state = AppState::start_with_feeds(&config(args), vec![Box::new(feed)]).expect("start");
        (TestServer::serve(state).await, ticks, books)
    }

    /// The real server on `state`, built by the caller (custom feeds).
    pub async fn serve(state: AppState) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        let task = tokio::spawn(tickertape::serve(listener, state.clone(), async move {
            shutdown.cancelled().await
        }));
        TestServer {
            addr,
            state,
            stop,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(self.url(path)).await.expect("GET")
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// Triggers a graceful shutdown and waits for `serve` to return.
    pub async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("shutdown in time")
            .unwrap()
            .unwrap();
    }
}

/// The configuration these flags give; without `--data-dir`, in memory
/// (`--ephemeral`), so tests never share a database.
pub fn config(args: &[&str]) -> Config {
    let ephemeral = (!args.contains(&"--data-dir")).then_some("--ephemeral");
    let argv = std::iter::once("tickertape")
        .chain(args.iter().copied())
        .chain(ephemeral);
    Config::from_args(argv).expect("valid test configuration")
}

/// A feed the test drives tick by tick.
pub struct ScriptedFeed {
    symbols: Vec<String>,
    rx: mpsc::Receiver<Tick>,
    /// Order-book events, if the test sends any.
    depth: Option<mpsc::Receiver<Depth>>,
}

impl ScriptedFeed {
    pub fn new(symbols: &[&str]) -> (ScriptedFeed, mpsc::Sender<Tick>) {
        let (tx, rx) = mpsc::channel(1024);
        (
            ScriptedFeed {
                symbols: symbols.iter().map(|s| s.to_string()).collect(),
                rx,
                depth: None,
            },
            tx,
        )
    }
}

#[async_trait]
impl Feed for ScriptedFeed {
    fn name(&self) -> &str {
        "script"
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        let info = |s: &String| SymbolInfo {
            symbol: s.clone(),
            name: format!("{s} Corp"),
            currency: "USD".into(),
            trading_day: Default::default(),
        };
        self.symbols.iter().map(info).collect()
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                tick = self.rx.recv() => match tick {
                    Some(tick) => out.send(tick).await?,
                    None => return Err(FeedError::Upstream("script ended".into())),
                },
                Some(depth) = async { self.depth.as_mut()?.recv().await }, if self.depth.is_some() => {
                    out.send_depth(depth).await?;
                }
            }
        }
    }
}

pub fn tick(symbol: &str, price: f64, size: u64) -> Tick {
    Tick {
        bid: Some(price - 0.01),
        ask: Some(price + 0.01),
        ..Tick::trade(symbol, price, size as f64, tickertape::now_ms())
    }
}

/// What a client read: a protocol message, or the close frame.
#[derive(Debug)]
pub enum Read {
    Msg(ServerMsg),
    Closed(Option<CloseFrame>),
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Reads binary frames (`tickertape.v1.bin`).
    pub decoder: binary::Decoder,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = connect_async(url).await.expect("WebSocket connect");
        Client::from(ws)
    }

    pub fn from(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            decoder: binary::Decoder::default(),
        }
    }

    /// Connects offering `protocols` (`Sec-WebSocket-Protocol`); returns
    /// the client and the subprotocol the server chose.
    pub async fn connect_offering(url: &str, protocols: &str) -> (Client, Option<String>) {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
        let (ws, response) = connect_async(request).await.expect("WebSocket connect");
        let chosen = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_string());
        (Client::from(ws), chosen)
    }

    pub async fn connect_with_origin(
        url: &str,
        origin: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        let (ws, _) = connect_async(request).await?;
        Ok(Client::from(ws))
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_json(&mut self, value: serde_json::Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next protocol message or close frame; pings are skipped.
    pub async fn read(&mut self) -> Read {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let msg = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("bad server JSON {text}: {e}"));
                    return Read::Msg(msg);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let msg = self
                        .decoder
                        .decode(&bytes)
                        .unwrap_or_else(|e| panic!("bad binary frame {bytes:?}: {}", e.0));
                    return Read::Msg(msg);
                }
                Some(Ok(Message::Close(frame))) => return Read::Closed(frame),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
                Some(Err(e)) => panic!("read error: {e}"),
                None => return Read::Closed(None),
            }
        }
    }

    pub async fn msg(&mut self) -> ServerMsg {
        match self.read().await {
            Read::Msg(msg) => msg,
            Read::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }

    /// Reads until a message matches, returning it; panics after `WAIT`.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(ServerMsg) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching message in time"
            );
            if let Some(found) = pick(self.msg().await) {
                return found;
            }
        }
    }

    /// Reads until the close frame, returning its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Read::Closed(frame) = self.read().await {
                return frame.map(|f| f.code.into());
            }
        }
    }

    /// Subscribes and returns the snapshot's seq and quotes.
    pub async fn subscribe(&mut self, symbols: &[&str]) -> (u64, Vec<Quote>) {
        self.send_json(serde_json::json!({"op": "subscribe", "symbols": symbols}))
            .await;
        self.until(|m| match m {
            ServerMsg::Snapshot { seq, quotes, .. } => Some((seq, quotes)),
            _ => None,
        })
        .await
    }
}

/// Applies a snapshot (replacing every quote) or a diff (each change to its
/// quote; a symbol not seen yet must come whole) to the quotes a client
/// keeps, as a browser does; other messages change nothing.
pub fn apply_quotes(quotes: &mut BTreeMap<String, Quote>, msg: &ServerMsg) {
    match msg {
        ServerMsg::Snapshot { quotes: all, .. } => {
            *quotes = all.iter().map(|q| (q.symbol.clone(), q.clone())).collect();
        }
        ServerMsg::Diff { changes, .. } => {
            for change in changes {
                match quotes.get_mut(&change.symbol) {
                    Some(quote) => quote.apply(change),
                    None => {
                        let quote = change.to_quote().expect("a new symbol's change is full");
                        quotes.insert(quote.symbol.clone(), quote);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Splits unmasked server frames into (opcode, payload); stops at a partial frame.
pub fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, header) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 if bytes.len() >= 10 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => break,
            n => (usize::from(n), 2),
        };
        if bytes.len() < header + len {
            break;
        }
        frames.push((opcode, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    frames
}

/// This process's resident memory in KiB (Linux).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The first sample in Prometheus text whose line starts with `name`; 0 if none.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub mod cluster;
pub mod provider;
pub mod rest;

/// A free loopback port (for the binary, which binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory with `files` written into it.
pub fn scratch(files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tickertape-scratch-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

/// A self-signed certificate for 127.0.0.1, written to a scratch directory.
pub fn certificate() -> (std::path::PathBuf, rcgen::Certificate) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "tickertape-tls-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    (dir, cert)
}

/// A TLS client that trusts `cert` (and speaks neither h2 nor http/1.1 by ALPN).
pub fn tls_connector(cert: &rcgen::Certificate) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// Polls `/api/quotes?symbols=…` until `ready` accepts the quotes.
pub async fn quotes_until(
    server: &TestServer,
    symbols: &str,
    mut ready: impl FnMut(&[Quote]) -> bool,
) -> Vec<Quote> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response: app::protocol::QuotesResponse = server
            .get(&format!("/api/quotes?symbols={symbols}"))
            .await
            .json()
            .await
            .unwrap();
        if ready(&response.quotes) {
            return response.quotes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "quotes never got there: {:?}",
            response.quotes
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/readyz` until `ready` accepts its status and JSON body.
pub async fn readyz_until(
    server: &TestServer,
    mut ready: impl FnMut(u16, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let response = server.get("/readyz").await;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        if ready(status, &body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never got there: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An instant with US equities in their regular session for the next ten
/// minutes, at most ten days back: trades of a US equity stamped from it
/// count toward the day's open, high, low and volume whatever time the
/// tests run at. (A server taking them needs `--max-event-age` of ten days:
/// [`OLD_EVENTS`].)
pub fn regular_ts() -> i64 {
    use app::protocol::{MarketSession, TradingDay};
    let regular = |t: i64| TradingDay::NewYork.session_at(t) == MarketSession::Regular;
    let mut t = tickertape::now_ms() - 10 * 60_000;
    while !(regular(t) && regular(t + 10 * 60_000)) {
        t -= 60_000;
    }
    t
}

/// Flags that let a server take trades stamped up to ten days back.
pub const OLD_EVENTS: [&str; 2] = ["--max-event-age", "864000"];

/// A book as a client keeps it: `book` messages applied in order.
#[derive(Debug, Default, PartialEq)]
pub struct ClientBook {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub live: bool,
}

impl ClientBook {
    pub fn apply(&mut self, msg: &serde_json::Value) {
        let levels = |side: &str| -> Vec<Level> {
            serde_json::from_value(msg[side].clone()).expect("levels")
        };
        if msg["snapshot"] == true {
            *self = ClientBook::default();
        }
        for (side, descending) in [("bids", true), ("asks", false)] {
            let book = if descending {
                &mut self.bids
            } else {
                &mut self.asks
            };
            for (price, size) in levels(side) {
                book.retain(|(p, _)| *p != price);
                if size > 0.0 {
                    book.push((price, size));
                }
            }
            book.sort_by(|a, b| {
                let order = a.0.total_cmp(&b.0);
                if descending { order.reverse() } else { order }
            });
        }
        self.live = msg["live"] == true;
    }
}
