//! A small smoke run of `tickertape-loadgen` against the real server: the
//! benchmark tool itself must count what clients receive correctly.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::cluster::Node;
use crate::common::{TestServer, free_port};

#[tokio::test]
async fn the_load_generator_reports_what_its_clients_received() {
    let server = TestServer::start(&[
        "--sim-symbols",
        "20",
        "--sim-rate",
        "10",
        "--flush-ms",
        "100",
    ])
    .await;
    let url = server.ws_url();
    let batches = || server.state.hub.metrics().batches.get();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tickertape-loadgen"))
            .args([
                "--url",
                &url,
                "--clients",
                "20",
                "--ramp-secs",
                "0.5",
                "--duration",
                "3",
                "--warmup",
                "1",
            ])
            .output()
            .unwrap()
    });
    // The server's batches over the load generator's own window: from the
    // end of its ramp and warm-up to its end (a busy machine publishes
    // fewer than ten a second, and slower still while it starts clients).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (window_start, batches_before) = (Instant::now(), batches());
    let out = run.await.unwrap();
    let published = (batches() - batches_before) as f64 / window_start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["connected"], 20);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["seq_gaps"], 0);
    // Every client gets one diff per batch the server published (each batch
    // carries some of the 20 symbols), whatever pace a loaded machine allows.
    let messages = report["messages_per_sec"].as_f64().unwrap();
    let expected = 20.0 * published;
    assert!(
        (0.75 * expected..=1.25 * expected).contains(&messages),
        "{messages} messages/s counted, {expected} sent"
    );
    let changes = report["changes_per_sec"].as_f64().unwrap();
    assert!(changes > 15.0 * messages, "{changes} changes/s");
    assert!(report["latency_ms"]["p99"].as_u64().unwrap() < 500);
    server.shutdown().await;
}

#[test]
fn the_load_generator_refuses_remote_targets() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickertape-loadgen"))
        .args(["--url", "ws://192.0.2.1:3000/ws", "--clients", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only targets this machine"));
}

#[tokio::test]
async fn reconnecting_clients_come_back_after_a_restart_within_the_spread() {
    let addr = format!("127.0.0.1:{}", free_port());
    let args = [
        "--addr",
        addr.as_str(),
        "--restart-spread-ms",
        "1500",
        "--sim-symbols",
        "10",
    ];
    let first = Node::start(&args);
    let url = first.ws_url();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tickertape-loadgen"))
            .args(["--url", &url, "--clients", "30", "--ramp-secs", "0.5"])
            .args(["--duration", "9", "--warmup", "0", "--reconnect"])
            .output()
            .unwrap()
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A deployment: the old process goes, a new one takes its address.
    let restarted = Instant::now();
    assert!(first.terminate().success());
    let second = Node::start(&args);
    let down = restarted.elapsed();
    let out = run.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let restart = &report["restart"];
    assert_eq!(restart["closed"], 30, "{restart}");
    assert_eq!(restart["live_again"], 30, "{restart}");
    assert_eq!(report["closed_by_server"]["1012"], 30);
    assert!(restart["hint_ms"]["max"].as_u64().unwrap() < 1_500);
    // Spread over the window: not all at once, and none long after it.
    let back = restart["all_back_ms"].as_u64().unwrap();
    assert!(
        back >= 750 && back < 1_500 + down.as_millis() as u64 + 4_000,
        "all back after {back} ms, the server down for {down:?}"
    );
    let sessions = second.metrics().await;
    assert!(
        sessions.contains("tickertape_sessions_opened_total 30"),
        "{sessions}"
    );
}
