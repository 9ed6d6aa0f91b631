//! A client that stops reading must not hurt anyone else. (Its own test
//! binary: the memory it measures is this process's.)

#[path = "integration/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use app::protocol::ServerMsg;
use common::{Read, TestServer, metric, rss_kib};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// A client that completes the handshake, subscribes to everything, and
/// never reads again. Its receive buffer is tiny, so it backs up fast.
async fn stalled_client(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 129];
    let n = tcp.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));
    // A masked text frame (clients must mask), mask key 0: the payload as is.
    let payload = br#"{"op":"subscribe","symbols":["*"]}"#;
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    tcp.write_all(&frame).await.unwrap();
    tcp
}

#[tokio::test]
async fn a_stalled_client_is_evicted_without_delaying_a_healthy_one() {
    let args = [
        "--sim-symbols",
        "500",
        "--sim-rate",
        "10",
        "--flush-ms",
        "20",
        "--send-timeout-ms",
        "1000",
    ];
    let server = TestServer::start(&args).await;
    let mut healthy = server.connect().await;
    let (mut seq, _) = healthy.subscribe(&["*"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib();
    let stalled = stalled_client(server.addr).await;

    let started = Instant::now();
    let (mut worst, mut diffs) = (0i64, 0);
    let mut peak = baseline;
    let mut evicted = false;
    while started.elapsed() < Duration::from_secs(20) && !(evicted && diffs > 200) {
        match healthy.read().await {
            Read::Msg(ServerMsg::Diff { seq: s, ts, .. }) => {
                assert_eq!(s, seq + 1, "the healthy client misses nothing");
                seq = s;
                diffs += 1;
                worst = worst.max(tickertape::now_ms() - ts);
            }
            Read::Msg(_) => {}
            Read::Closed(frame) => panic!("the healthy client was closed: {frame:?}"),
        }
        if diffs % 50 == 0 {
            peak = peak.max(rss_kib());
            let metrics = server.get("/metrics").await.text().await.unwrap();
            evicted = metric(&metrics, "tickertape_sessions_closed_total{code=\"1013\"}") == 1
                && metric(&metrics, "tickertape_slow_consumer_evictions_total") == 1;
        }
    }
    assert!(
        evicted,
        "the stalled client was not closed with 1013 within 20 s"
    );
    assert!(
        diffs > 200,
        "the healthy client kept receiving ({diffs} diffs)"
    );
    assert!(
        worst < 1_000,
        "the healthy client's worst delivery latency was {worst} ms"
    );
    let growth_mib = peak.saturating_sub(baseline) / 1024;
    assert!(
        growth_mib < 150,
        "memory grew by {growth_mib} MiB while a client stalled"
    );
    drop(stalled);
    server.shutdown().await;
}
