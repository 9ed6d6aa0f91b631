//! Signing in to the bus (user and password, token, NKey, TLS with a custom
//! CA) without a secret ever reaching a log, and the shipped NATS
//! configuration (deploy/nats/tickertape.conf): a client with an edge's
//! credentials cannot forge a batch that edges apply.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::protocol::Change;
use futures_util::StreamExt;
use tickertape::bus::{BusBatch, Heartbeat};

use crate::common::cluster::{Nats, Node};
use crate::common::{certificate, scratch};

const HEARTBEAT: &[&str] = &["--bus-heartbeat-ms", "200"];
const FORGED_PRICE: f64 = 999_999.0;

fn assert_never_logged(nodes: &[&Node], secrets: &[&str]) {
    for node in nodes {
        let log = node.log.lock().unwrap();
        assert!(!log.is_empty());
        for line in log.iter() {
            for secret in secrets {
                assert!(
                    !line.contains(secret),
                    "{} logged a secret: {line}",
                    node.base
                );
            }
        }
    }
}

/// Waits until `node` serves quotes for every symbol.
async fn serving(node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.quotes().await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} never served quotes",
            node.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A NATS client that keeps the server errors it is sent.
async fn client(
    url: &str,
    user: &str,
    password: &str,
) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let kept = errors.clone();
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
        .event_callback(move |event| {
            let kept = kept.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    kept.lock().unwrap().push(e.to_string());
                }
            }
        })
        .connect(url)
        .await
        .expect("connect to NATS");
    (client, errors)
}

/// Publishes, right after a real batch (so it is next in line), a
/// well-formed batch that sets AAPL to [`FORGED_PRICE`].
async fn forge(forger: &async_nats::Client, listener: &async_nats::Client, edge: &Node) {
    let aapl = edge
        .quotes()
        .await
        .into_iter()
        .find(|q| q.symbol == "AAPL")
        .expect("AAPL");
    let mut batches = listener.subscribe("tickertape.batch").await.unwrap();
    let mut beats = listener.subscribe("tickertape.heartbeat").await.unwrap();
    let beat: Heartbeat = serde_json::from_slice(&beats.next().await.unwrap().payload).unwrap();
    let real: BusBatch = serde_json::from_slice(&batches.next().await.unwrap().payload).unwrap();
    let forged = BusBatch {
        epoch: real.epoch,
        seq: real.seq + 1,
        rev: beat.rev,
        ts: tickertape::now_ms(),
        changes: vec![
            Change {
                last: Some(FORGED_PRICE),
                ..Change::full(&aapl)
            }
            .into(),
        ],
        candles: Vec::new(),
        trades: Vec::new(),
        books: Vec::new(),
    };
    let payload = serde_json::to_vec(&forged).unwrap();
    forger
        .publish("tickertape.batch", payload.into())
        .await
        .unwrap();
    forger.flush().await.unwrap();
}

async fn edge_price(edge: &Node) -> f64 {
    let quotes = edge.quotes().await;
    quotes
        .iter()
        .find(|q| q.symbol == "AAPL")
        .map_or(0.0, |q| q.last)
}

#[tokio::test]
async fn only_the_ingest_node_may_publish_batches_under_the_shipped_nats_config() {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats/tickertape.conf");
    let (ingest_pw, edge_pw) = ("ingest-pw-5821", "edge-pw-7730");
    let nats = Nats::configured(
        &config,
        &[
            ("TICKERTAPE_INGEST_PASSWORD", ingest_pw),
            ("TICKERTAPE_EDGE_PASSWORD", edge_pw),
        ],
    );
    // Slow batches leave room for a forgery to land between two of them.
    let args = [
        &[
            "--bus-user",
            "ingest",
            "--bus-password",
            ingest_pw,
            "--sim-symbols",
            "12",
            "--flush-ms",
            "2000",
        ][..],
        HEARTBEAT,
    ]
    .concat();
    let ingest = Node::ingest(&nats.url(), &args);
    // The edge's credentials ride in its URL: taken out, used, never logged.
    let edge_url = format!("nats://edge:{edge_pw}@127.0.0.1:{}", nats.port);
    let edge = Node::edge(&edge_url, HEARTBEAT);
    serving(&edge).await;

    // A client holding the edge's credentials cannot publish a batch...
    let (rogue, refused) = client(&nats.url(), "edge", edge_pw).await;
    forge(&rogue, &rogue, &edge).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while refused.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "NATS never refused the forged batch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refusal = refused.lock().unwrap().join("; ");
    assert!(
        refusal.contains("Permissions Violation for Publish"),
        "{refusal}"
    );
    // ...so the edge never shows it.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        assert_ne!(
            edge_price(&edge).await,
            FORGED_PRICE,
            "the edge applied a forged batch"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Alert rules made through the edge reach the ingest node under these
    // permissions, but the edge's credentials cannot forge a firing.
    let made = reqwest::Client::new()
        .post(format!("{}/api/alerts", edge.base))
        .json(&serde_json::json!({"symbol": "AAPL", "condition": "above", "value": 1e6}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201, "{}", made.text().await.unwrap());
    let listed: Vec<app::protocol::Alert> = ingest.get("/api/alerts").await.json().await.unwrap();
    assert_eq!(listed.len(), 1, "the ingest node holds the rule");
    refused.lock().unwrap().clear();
    let firing = r#"{"type":"alert","id":1,"symbol":"AAPL","condition":"above","value":1000000.0,"price":1000001.0,"ts":1}"#;
    rogue
        .publish("tickertape.alerts", firing.into())
        .await
        .unwrap();
    rogue.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while refused.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "NATS never refused the forged firing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The same forgery with the ingest node's credentials is applied: it was
    // well-formed, and only the permissions stopped it.
    let (insider, _) = client(&nats.url(), "ingest", ingest_pw).await;
    forge(&insider, &rogue, &edge).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while edge_price(&edge).await != FORGED_PRICE {
        assert!(
            Instant::now() < deadline,
            "the control forgery was not applied either"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_never_logged(&[&ingest, &edge], &[ingest_pw, edge_pw]);
}

#[tokio::test]
async fn the_bus_takes_a_token_or_an_nkey_over_tls_with_a_custom_ca() {
    // A token.
    let token = "tok-59d1c3";
    let dir = scratch(&[(
        "token.conf",
        &format!("authorization {{ token: \"{token}\" }}\n"),
    )]);
    let nats = Nats::configured(&dir.join("token.conf"), &[]);
    let auth = ["--bus-token", token];
    let ingest = Node::ingest(
        &nats.url(),
        &[&auth[..], &["--sim-symbols", "4"], HEARTBEAT].concat(),
    );
    let edge = Node::edge(&nats.url(), &[&auth[..], HEARTBEAT].concat());
    serving(&edge).await;
    assert_never_logged(&[&ingest, &edge], &[token]);
    drop((edge, ingest, nats));

    // An NKey user on a bus that requires TLS, its certificate signed by a
    // CA the system does not know.
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let (certs, _) = certificate();
    let config = format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}\ntls {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
        user.public_key(),
        certs.join("cert.pem").display(),
        certs.join("key.pem").display()
    );
    let dir = scratch(&[("nkey.conf", &config), ("user.nk", &seed)]);
    let nats = Nats::configured(&dir.join("nkey.conf"), &[]);
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let nkey = dir.join("user.nk");
    let ca = certs.join("cert.pem");
    let access = [
        "--bus-nkey",
        nkey.to_str().unwrap(),
        "--bus-ca",
        ca.to_str().unwrap(),
    ];
    let ingest = Node::ingest(
        &url,
        &[&access[..], &["--sim-symbols", "4"], HEARTBEAT].concat(),
    );
    let edge = Node::edge(&url, &[&access[..], HEARTBEAT].concat());
    serving(&edge).await;
    assert_never_logged(&[&ingest, &edge], &[&seed]);
    let _ = std::fs::remove_dir_all(certs);
}

#[tokio::test]
async fn a_bad_bus_secret_is_reported_without_the_secret() {
    let dir = scratch(&[("token.conf", "authorization { token: \"right-token\" }\n")]);
    let nats = Nats::configured(&dir.join("token.conf"), &[]);
    let wrong = "wrong-token-4711";
    let ingest = Node::ingest(&nats.url(), &["--bus-token", wrong, "--sim-symbols", "4"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = ingest.get("/readyz").await;
        if response.status() == 503 {
            let body = response.text().await.unwrap();
            assert!(body.contains("bus"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "an ingest node refused by the bus says it is ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = ingest.log.lock().unwrap().join("\n");
    assert!(log.to_lowercase().contains("authorization"), "{log}");
    drop(log);
    assert_never_logged(&[&ingest], &[wrong]);

    // A seed file that is not a seed: a clear error at start.
    let dir = scratch(&[("bad.nk", "not a seed")]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickertape"))
        .args(["--role", "edge", "--bus", &nats.url(), "--bus-nkey"])
        .arg(dir.join("bad.nk"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not hold an NKey user seed"), "{err}");
    assert!(!err.contains("not a seed"), "{err}");
}
