//! The `tickertape` binary as a user runs it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Client;

const BIN: &str = env!("CARGO_BIN_EXE_tickertape");

#[test]
fn help_documents_every_flag_and_its_environment_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let flags = [
        ("--addr", "TICKERTAPE_ADDR"),
        ("--feed", "TICKERTAPE_FEED"),
        ("--symbols", "TICKERTAPE_SYMBOLS"),
        ("--seed", "TICKERTAPE_SEED"),
        ("--tick-ms", "TICKERTAPE_TICK_MS"),
        ("--flush-ms", "TICKERTAPE_FLUSH_MS"),
        ("--allowed-origin", "TICKERTAPE_ALLOWED_ORIGIN"),
        ("--heartbeat-ms", "TICKERTAPE_HEARTBEAT_MS"),
        ("--log-format", "TICKERTAPE_LOG_FORMAT"),
        ("--config", "TICKERTAPE_CONFIG"),
        ("--feed-timeout", "TICKERTAPE_FEED_TIMEOUT"),
        ("--replay-speed", "TICKERTAPE_REPLAY_SPEED"),
        ("--replay-loop", "TICKERTAPE_REPLAY_LOOP"),
        ("--finnhub-token", "TICKERTAPE_FINNHUB_TOKEN"),
        ("--finnhub-url", "TICKERTAPE_FINNHUB_URL"),
        ("--coinbase-url", "TICKERTAPE_COINBASE_URL"),
        ("--coinbase-products", "TICKERTAPE_COINBASE_PRODUCTS"),
        ("--alpaca-url", "TICKERTAPE_ALPACA_URL"),
        ("--alpaca-key", "TICKERTAPE_ALPACA_KEY"),
        ("--alpaca-secret", "TICKERTAPE_ALPACA_SECRET"),
        ("--max-open-connections", "TICKERTAPE_MAX_OPEN_CONNECTIONS"),
        ("--idle-timeout", "TICKERTAPE_IDLE_TIMEOUT"),
        ("--write-timeout", "TICKERTAPE_WRITE_TIMEOUT"),
        ("--clock-skew-ms", "TICKERTAPE_CLOCK_SKEW_MS"),
        ("--bus-user", "TICKERTAPE_BUS_USER"),
        ("--bus-password", "TICKERTAPE_BUS_PASSWORD"),
        ("--bus-token", "TICKERTAPE_BUS_TOKEN"),
        ("--bus-nkey", "TICKERTAPE_BUS_NKEY"),
        ("--bus-creds", "TICKERTAPE_BUS_CREDS"),
        ("--bus-ca", "TICKERTAPE_BUS_CA"),
        ("--max-event-age", "TICKERTAPE_MAX_EVENT_AGE"),
    ];
    for (flag, env) in flags {
        assert!(help.contains(flag), "--help lacks {flag}");
        assert!(help.contains(env), "--help lacks {env}");
    }
    // Secrets from the environment are never echoed by --help.
    let secrets = [
        ("TICKERTAPE_FINNHUB_TOKEN", "hunter2"),
        ("TICKERTAPE_BUS", "nats://edge:hunter3@bus.example"),
        ("TICKERTAPE_BUS_PASSWORD", "hunter4"),
        ("TICKERTAPE_BUS_TOKEN", "hunter5"),
    ];
    let out = Command::new(BIN)
        .arg("--help")
        .envs(secrets)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
        assert!(!help.contains(secret), "--help shows {secret}");
    }
}

#[test]
fn bad_flags_fail_with_a_clear_message() {
    let out = Command::new(BIN)
        .args(["--feed", "nasdaq-by-pigeon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown feed \"nasdaq-by-pigeon\""), "{err}");
    let out = Command::new(BIN)
        .args(["--symbols", "AAPL,NOPE", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));
}

#[tokio::test]
async fn sigterm_closes_clients_with_1012_and_exits_zero() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
            "--ephemeral",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
            break Client::from(ws);
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    terminate_closes_clients_with_1012(&mut child, &mut client).await;
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("shutting down")),
        "JSON logs: {log}"
    );
}

/// An example program, built beside the test binaries (`cargo test` builds
/// every example).
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = examples.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test -p tickertape` builds it (or `cargo build -p tickertape --example {name}`)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn an_adapter_written_outside_serves_through_run_with_feeds() {
    let exe = example("custom_feed");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(&exe)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--ephemeral"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its prices reach /api/quotes; without --feed, no simulator beside it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let quotes = loop {
        let answer = reqwest::get(format!("{base}/api/quotes")).await;
        if let Ok(body) = answer {
            let body: serde_json::Value = body.json().await.unwrap();
            let quotes = body["quotes"].as_array().cloned().unwrap_or_default();
            if quotes.len() == 2 {
                break quotes;
            }
        }
        assert!(Instant::now() < deadline, "no quotes from the example");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (quote, (symbol, around)) in quotes.iter().zip([("BEAM", 42.0), ("TIDE", 7.5)]) {
        assert_eq!(quote["symbol"], symbol);
        let last = quote["last"].as_f64().unwrap();
        assert!((last / around - 1.0).abs() <= 0.021, "{quote}");
    }
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    // SIGTERM: clients are told 1012 (come back later) and it exits cleanly, as the binary does.
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .unwrap();
    let mut client = Client::from(ws);
    terminate_closes_clients_with_1012(&mut child, &mut client).await;

    // A flag that cannot apply to its feeds stops it with the reason.
    let out = Command::new(&exe)
        .args([
            "--role",
            "edge",
            "--bus",
            "nats://127.0.0.1:1",
            "--ephemeral",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--role edge mirrors the ingest node"),
        "{said}"
    );
}

/// SIGTERM to `child`: `client` (subscribed here) is closed with 1012 and
/// the process exits with success within 10 s.
async fn terminate_closes_clients_with_1012(child: &mut std::process::Child, client: &mut Client) {
    client.subscribe(&["*"]).await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(client.close_code().await, Some(1012));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
}
