//! Connections held to their clocks and counted: sockets that never become
//! requests, idle keep-alive connections, responses nobody reads, the cap
//! on open sockets, WebSocket admission under a burst, and a shutdown that
//! always ends.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Client, TestServer, certificate, free_port, metric, tls_connector};
use futures_util::future::join_all;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

/// How long a test waits for the server to act on a 1 s clock.
const GRACE: Duration = Duration::from_secs(5);

/// Reads until the peer closes (or fails); `None` if it is still open after `within`.
async fn closed_within(io: &mut (impl AsyncRead + Unpin), within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut sink = Vec::new();
    tokio::time::timeout(within, io.read_to_end(&mut sink))
        .await
        .ok()
        .map(|_| started.elapsed())
}

/// Sends a keep-alive `GET path` and reads exactly one response; its status.
async fn http1_get(io: &mut (impl AsyncRead + AsyncWrite + Unpin), path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    io.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = io.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before the response was complete");
        got.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&got);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a content-length");
        if body.len() >= length {
            return head[9..12].parse().unwrap();
        }
    }
}

/// A connection whose reader stalls quickly: a 2 KB receive window and small
/// segments, so the server's send buffer cannot swallow a large response
/// (on loopback its 64 KB segments would let it buffer megabytes).
fn stalling_socket(addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_tcp_mss(536).unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    TcpStream::from_std(socket.into()).unwrap()
}

async fn metrics_of(server: &TestServer) -> String {
    server.get("/metrics").await.text().await.unwrap()
}

fn tls_args(dir: &std::path::Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        dir.join("cert.pem").to_string_lossy().into_owned(),
        "--tls-key".into(),
        dir.join("key.pem").to_string_lossy().into_owned(),
    ]
}

/// Nothing at all, half an HTTP/2 preface, half an HTTP/1 request head.
const NEVER_REQUESTS: [&[u8]; 3] = [b"", b"PRI * HTTP/2.0\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n"];

#[tokio::test]
async fn sockets_that_never_send_a_request_are_closed_within_the_handshake_timeout() {
    let server = TestServer::start(&["--handshake-timeout", "1"]).await;
    let plain = NEVER_REQUESTS.map(|start| async move {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(start).await.unwrap();
        (start, closed_within(&mut tcp, GRACE).await)
    });
    for (start, closed) in join_all(plain).await {
        let after = closed.unwrap_or_else(|| {
            panic!("a plain socket that sent {start:?} is still open after {GRACE:?}")
        });
        assert!(
            after >= Duration::from_millis(900),
            "closed after {after:?}, before its time"
        );
    }
    let text = metrics_of(&server).await;
    assert_eq!(
        metric(
            &text,
            "tickertape_http_connections_closed_total{reason=\"handshake_timeout\"}"
        ),
        3,
        "{text}"
    );
    server.shutdown().await;

    // The same after a completed TLS handshake.
    let (dir, cert) = certificate();
    let mut args = tls_args(&dir);
    args.extend(["--handshake-timeout".into(), "1".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start(&args).await;
    let connector = tls_connector(&cert);
    let over_tls = NEVER_REQUESTS.map(|start| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(server.addr).await.unwrap();
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
            tls.write_all(start).await.unwrap();
            tls.flush().await.unwrap();
            (start, closed_within(&mut tls, GRACE).await)
        }
    });
    for (start, closed) in join_all(over_tls).await {
        assert!(
            closed.is_some(),
            "a TLS connection that sent {start:?} is still open after {GRACE:?}"
        );
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let server = TestServer::start(&["--idle-timeout", "1"]).await;

    // HTTP/1.1: two requests on one connection, then silence.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(http1_get(&mut tcp, "/healthz").await, 200);
    assert_eq!(http1_get(&mut tcp, "/api/symbols").await, 200);
    let after = closed_within(&mut tcp, GRACE)
        .await
        .expect("an idle HTTP/1.1 connection is still open");
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}, not kept alive"
    );

    // HTTP/2 (prior knowledge): one request, then silence.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut h2, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    let connection = tokio::spawn(connection);
    let request = axum::http::Request::get(server.url("/healthz"))
        .body(())
        .unwrap();
    let (response, _) = h2.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    let started = Instant::now();
    tokio::time::timeout(GRACE, connection)
        .await
        .expect("an idle HTTP/2 connection is still open")
        .unwrap()
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(900));

    let text = metrics_of(&server).await;
    assert!(
        metric(
            &text,
            "tickertape_http_connections_closed_total{reason=\"idle_timeout\"}"
        ) >= 2,
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_response_the_client_does_not_read_is_abandoned_after_the_write_timeout() {
    // A page of 500 rows (~70 KB) to a client with a 2 KB receive window.
    let server = TestServer::start(&["--sim-symbols", "500", "--write-timeout", "1"]).await;
    let full = server.get("/").await.bytes().await.unwrap().len();
    let before = metric(&metrics_of(&server).await, "tickertape_http_connections ");
    let mut tcp = stalling_socket(server.addr);
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    // Not reading: the server's write waits, then gives up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(GRACE, tcp.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection is still open");
    assert!(
        got.len() < full,
        "the whole page ({full} bytes) was still sent to a client that stopped reading for 3 s"
    );
    let text = metrics_of(&server).await;
    assert_eq!(
        metric(
            &text,
            "tickertape_http_connections_closed_total{reason=\"write_timeout\"}"
        ),
        1,
        "{text}"
    );
    // Its socket (and buffer) is gone: open sockets back to what they were.
    assert_eq!(
        metric(&text, "tickertape_http_connections "),
        before,
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn open_sockets_are_capped_and_the_server_keeps_serving_the_ones_it_has() {
    let server =
        TestServer::start(&["--max-open-connections", "8", "--handshake-timeout", "60"]).await;
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(http1_get(&mut kept, "/healthz").await, 200);
    let mut idle = Vec::new();
    for _ in 0..7 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // The ninth is refused at once, with a 503 for a plain HTTP client.
    let mut ninth = TcpStream::connect(server.addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(GRACE, ninth.read_to_end(&mut answer))
        .await
        .expect("a socket beyond the cap is held open")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // The connections it has are served as before.
    assert_eq!(http1_get(&mut kept, "/api/symbols").await, 200);
    // A place freed is a place taken.
    drop(idle.pop());
    let deadline = Instant::now() + GRACE;
    loop {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        if tcp.read_exact(&mut head).await.is_ok() && &head[9..12] == b"200" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was never given again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = metrics_of(&server).await;
    assert!(
        metric(
            &text,
            "tickertape_http_connections_closed_total{reason=\"limit\"}"
        ) >= 1
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_parallel_upgrades_admits_exactly_max_connections() {
    let server = TestServer::start(&["--max-connections", "5"]).await;
    let url = server.ws_url();
    let attempts = (0..40).map(|_| tokio_tungstenite::connect_async(url.clone()));
    let results = join_all(attempts).await;
    let mut admitted = Vec::new();
    let mut refused = 0;
    for result in results {
        match result {
            Ok((ws, _)) => admitted.push(Client::from(ws)),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                refused += 1;
            }
            Err(e) => panic!("unexpected upgrade failure: {e}"),
        }
    }
    assert_eq!((admitted.len(), refused), (5, 35));
    // A place freed is a place taken.
    drop(admitted.pop());
    let deadline = Instant::now() + GRACE;
    while tokio_tungstenite::connect_async(url.clone()).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the freed place was never given again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn sigterm_exits_within_the_shutdown_timeout_whatever_is_in_flight() {
    let (dir, cert) = certificate();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut args = tls_args(&dir);
    args.extend(
        [
            "--addr",
            &addr.to_string(),
            "--sim-symbols",
            "500",
            "--ephemeral",
            "--shutdown-timeout",
            "2",
            "--write-timeout",
            "600",
            "--handshake-timeout",
            "600",
            "--idle-timeout",
            "600",
            "--send-timeout-ms",
            "600000",
            "--heartbeat-timeout-ms",
            "600000",
        ]
        .map(String::from),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickertape"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let connector = tls_connector(&cert);
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stuck = loop {
        if let Ok(tcp) = TcpStream::connect(addr).await {
            break connector.connect(name.clone(), tcp).await.expect("TLS");
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A response nobody reads (a 70 KB page), a socket mid-handshake, a
    // TLS connection that never sends a request, and a WebSocket session
    // that has stopped reading.
    drop(stuck);
    stuck = connector
        .connect(name.clone(), stalling_socket(addr))
        .await
        .unwrap();
    stuck
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut half_hello = TcpStream::connect(addr).await.unwrap();
    half_hello
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let silent = connector
        .connect(name.clone(), TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    let ws_tcp = TcpStream::connect(addr).await.unwrap();
    let ws_tls = connector.connect(name.clone(), ws_tcp).await.unwrap();
    let (mut session, _) = tokio_tungstenite::client_async(format!("wss://{addr}/ws"), ws_tls)
        .await
        .expect("WebSocket over TLS");
    use futures_util::SinkExt;
    session
        .send(r#"{"op":"subscribe","symbols":["*"]}"#.into())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("still running 10 s after SIGTERM with --shutdown-timeout 2");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM; the bound is 2 s + 1 s"
    );
    drop((stuck, half_hello, silent, session));
    let _ = std::fs::remove_dir_all(dir);
}
