//! Price alerts through the real server: made over HTTP, checked on every
//! trade (a cross that reverses within one flush still fires, once), told
//! to every connected page, deleted; bad input named.

use std::time::Duration;

use app::protocol::{Alert, AlertCondition, DeliveryState, ServerMsg};
use serde_json::{Value, json};

use crate::common::{Client, TestServer, quotes_until, tick};

async fn post(server: &TestServer, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/api/alerts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The next alert message a client gets (skipping diffs and the rest).
async fn next_alert(client: &mut Client) -> ServerMsg {
    client
        .until(|m| match m {
            ServerMsg::Alert { .. }
            | ServerMsg::AlertCreated { .. }
            | ServerMsg::AlertDeleted { .. } => Some(m),
            _ => None,
        })
        .await
}

#[tokio::test]
async fn a_cross_that_reverses_within_one_flush_fires_once_on_every_page() {
    // One batch a second: the cross and its reversal fall in the same one.
    let (server, ticks) = TestServer::scripted(&["--flush-ms", "1000"], &["AAPL", "MSFT"]).await;
    ticks.send(tick("AAPL", 229.0, 100)).await.unwrap();
    quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 229.0)
    })
    .await;
    let mut pages = [server.connect().await, server.connect().await];

    let (status, made) = post(
        &server,
        json!({"symbol": "AAPL", "condition": "above", "value": 230.5, "note": "breakout"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let made: Alert = serde_json::from_value(made).unwrap();
    assert_eq!(
        (
            made.symbol.as_str(),
            made.condition,
            made.value,
            made.armed,
            made.note.as_deref()
        ),
        ("AAPL", AlertCondition::Above, 230.5, true, Some("breakout"))
    );
    for page in &mut pages {
        assert_eq!(
            next_alert(page).await,
            ServerMsg::AlertCreated {
                alert: made.clone()
            }
        );
    }

    let crossing = tick("AAPL", 231.0, 10);
    let at = crossing.ts;
    ticks.send(crossing).await.unwrap();
    ticks.send(tick("AAPL", 229.5, 10)).await.unwrap();
    ticks.send(tick("MSFT", 500.0, 10)).await.unwrap();
    let fired = ServerMsg::Alert {
        id: made.id,
        symbol: "AAPL".into(),
        condition: AlertCondition::Above,
        value: 230.5,
        price: 231.0,
        ts: at,
    };
    for page in &mut pages {
        assert_eq!(
            next_alert(page).await,
            fired,
            "the trade's own price and time"
        );
    }
    // Back below and staying there: nothing more.
    ticks.send(tick("AAPL", 229.0, 10)).await.unwrap();
    let more = tokio::time::timeout(Duration::from_millis(2_500), next_alert(&mut pages[0])).await;
    assert!(more.is_err(), "fired again: {more:?}");
    // Its batch shows the quote back below the level: the reversal came within the same flush.
    let quotes = quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 229.0)
    })
    .await;
    assert_eq!(quotes[0].high, 231.0);

    let listed: Vec<Alert> = server.get("/api/alerts").await.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].armed, listed[0].last_fired),
        (false, Some(at)),
        "once: disarmed"
    );

    let client = reqwest::Client::new();
    let delete = |id: u64| {
        client
            .delete(server.url(&format!("/api/alerts/{id}")))
            .send()
    };
    assert_eq!(delete(made.id).await.unwrap().status(), 204);
    assert_eq!(delete(made.id).await.unwrap().status(), 404);
    for page in &mut pages {
        assert_eq!(
            next_alert(page).await,
            ServerMsg::AlertDeleted { id: made.id }
        );
    }
    let listed: Vec<Alert> = server.get("/api/alerts").await.json().await.unwrap();
    assert!(listed.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn bad_alerts_are_refused_naming_the_field() {
    let (server, _ticks) = TestServer::scripted(&[], &["AAPL"]).await;
    let cases = [
        (
            json!({"symbol": "AAPL", "condition": "above"}),
            400,
            "value",
        ),
        (
            json!({"symbol": "AAPL", "condition": "sideways", "value": 1}),
            400,
            "condition",
        ),
        (
            json!({"symbol": "AAPL", "condition": "above", "value": "high"}),
            400,
            "value",
        ),
        (
            json!({"symbol": "AAPL", "condition": "above", "value": -3}),
            400,
            "value",
        ),
        (
            json!({"symbol": "AAPL", "condition": "above", "value": 1, "repeat": "twice"}),
            400,
            "repeat",
        ),
        (
            json!({"symbol": "AAPL", "condition": "above", "value": 1, "colour": "red"}),
            400,
            "colour",
        ),
        (
            json!({"symbol": "AAPL", "condition": "above", "value": 1, "webhook": "http://127.0.0.1:9/"}),
            400,
            "webhook",
        ),
        (
            json!({"symbol": "AAPL", "condition": "above", "value": 1, "note": "x".repeat(501)}),
            400,
            "note",
        ),
        (
            json!({"symbol": "NOPE", "condition": "above", "value": 1}),
            404,
            "NOPE",
        ),
        (json!(["not", "an", "object"]), 400, "object"),
    ];
    for (body, status, names) in cases {
        let (got, answer) = post(&server, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(names), "{body}: {error}");
    }
    let listed: Vec<Alert> = server.get("/api/alerts").await.json().await.unwrap();
    assert!(listed.is_empty(), "nothing was made");
    server.shutdown().await;
}

/// What a webhook receiver was sent.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    signature: String,
    delivery: String,
    attempt: String,
    body: String,
}

/// A local webhook receiver: `/hooks/flaky` answers its first POST with a
/// 500 and later ones with 204, `/hooks/moved` redirects to
/// `/hooks/elsewhere`, which accepts.
async fn receiver() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = seen.clone();
    let handler = move |uri: Uri, headers: HeaderMap, body: String| {
        let log = log.clone();
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let path = uri.path().to_owned();
            let earlier = {
                let mut log = log.lock().unwrap();
                let earlier = log.iter().filter(|r| r.path == path).count();
                log.push(Received {
                    path: path.clone(),
                    signature: header("x-tickertape-signature"),
                    delivery: header("x-tickertape-delivery"),
                    attempt: header("x-tickertape-attempt"),
                    body,
                });
                earlier
            };
            match path.as_str() {
                "/hooks/flaky" if earlier == 0 => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "try later").into_response()
                }
                "/hooks/gone" => (StatusCode::GONE, "no such hook").into_response(),
                "/hooks/moved" => (
                    StatusCode::FOUND,
                    [(axum::http::header::LOCATION, "/hooks/elsewhere")],
                )
                    .into_response(),
                _ => StatusCode::NO_CONTENT.into_response(),
            }
        }
    };
    let app = axum::Router::new().fallback(axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

/// The hex HMAC-SHA256 of `body`, worked out here (not with the server's code).
fn hmac_hex(secret: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn alerts_until(server: &TestServer, done: impl Fn(&[Alert]) -> bool) -> Vec<Alert> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let listed: Vec<Alert> = server.get("/api/alerts").await.json().await.unwrap();
        if done(&listed) {
            return listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alerts never got there: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_fires_again_only_after_going_back_and_each_firing_is_posted_signed_and_retried() {
    let (hooks, seen) = receiver().await;
    let allow = format!("http://{hooks}/hooks/");
    let (server, ticks) = TestServer::scripted(
        &[
            "--alert-cooldown",
            "1",
            "--webhook-allow",
            &allow,
            "--webhook-secret",
            "s3cret",
        ],
        &["AAPL"],
    )
    .await;
    ticks.send(tick("AAPL", 99.0, 100)).await.unwrap();
    quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 99.0)
    })
    .await;
    let mut page = server.connect().await;

    // Targets outside the allowed prefix are refused, naming the field.
    for outside in [
        format!("http://{hooks}/elsewhere"),
        "http://127.0.0.1:9/hooks/".to_owned(),
    ] {
        let (status, answer) = post(
            &server,
            json!({"symbol": "AAPL", "condition": "above", "value": 100, "webhook": outside}),
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains("webhook"));
    }
    let flaky = format!("http://{hooks}/hooks/flaky");
    let (status, every) = post(
        &server,
        json!({"symbol": "AAPL", "condition": "above", "value": 100, "repeat": "every", "webhook": flaky}),
    )
    .await;
    assert_eq!(status, 201, "{every}");
    let every: Alert = serde_json::from_value(every).unwrap();
    let (status, moved) = post(
        &server,
        json!({"symbol": "AAPL", "condition": "above", "value": 100, "webhook": format!("http://{hooks}/hooks/moved")}),
    )
    .await;
    assert_eq!(status, 201, "{moved}");
    let moved: Alert = serde_json::from_value(moved).unwrap();
    let (status, gone) = post(
        &server,
        json!({"symbol": "AAPL", "condition": "above", "value": 100, "webhook": format!("http://{hooks}/hooks/gone")}),
    )
    .await;
    assert_eq!(status, 201, "{gone}");
    let gone: Alert = serde_json::from_value(gone).unwrap();

    // Fires at 100.5. Back to 99.95 is within the 0.1 % margin: not re-armed,
    // so 100.6 does not fire. After the 1 s cool-down, 99.8 is back past the
    // margin: re-armed, and 100.2 fires again.
    let mut fired_at = Vec::new();
    for (price, wait) in [
        (100.5, 0),
        (99.95, 0),
        (100.6, 0),
        (99.8, 1_100),
        (100.2, 0),
    ] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let t = tick("AAPL", price, 1);
        if price == 100.5 || price == 100.2 {
            fired_at.push(t.ts);
        }
        ticks.send(t).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut firings = Vec::new();
    while firings.len() < 4 {
        let msg = next_alert(&mut page).await;
        if let ServerMsg::Alert { id, price, ts, .. } = msg {
            firings.push((id, price, ts));
        }
    }
    firings.sort_by_key(|f| (f.2, f.0));
    assert_eq!(
        firings,
        [
            (every.id, 100.5, fired_at[0]),
            (moved.id, 100.5, fired_at[0]),
            (gone.id, 100.5, fired_at[0]),
            (every.id, 100.2, fired_at[1]),
        ],
        "every: again only after going back past the margin and the cool-down"
    );
    let more = tokio::time::timeout(Duration::from_millis(1_500), next_alert(&mut page)).await;
    assert!(more.is_err(), "fired again: {more:?}");

    // Deliveries end: the flaky receiver's 500 retried, the redirect not followed.
    let listed = alerts_until(&server, |alerts| {
        alerts.iter().all(|a| {
            a.history.iter().all(|f| {
                f.webhook
                    .as_ref()
                    .is_some_and(|d| d.state != DeliveryState::Pending)
            })
        })
    })
    .await;
    let states = |id: u64| -> Vec<(DeliveryState, u32, Option<u16>)> {
        let alert = listed.iter().find(|a| a.id == id).unwrap();
        alert
            .history
            .iter()
            .map(|f| {
                let d = f.webhook.clone().unwrap();
                (d.state, d.attempts, d.status)
            })
            .collect()
    };
    assert_eq!(
        states(every.id),
        [
            (DeliveryState::Delivered, 2, Some(204)),
            (DeliveryState::Delivered, 1, Some(204))
        ]
    );
    assert_eq!(states(moved.id), [(DeliveryState::Failed, 1, Some(302))]);
    assert_eq!(
        states(gone.id),
        [(DeliveryState::Failed, 1, Some(410))],
        "a 4xx is not retried"
    );
    let error = |id: u64| {
        let alert = listed.iter().find(|a| a.id == id).unwrap();
        alert.history[0]
            .webhook
            .clone()
            .unwrap()
            .error
            .unwrap_or_default()
    };
    assert!(
        error(gone.id).contains("no such hook"),
        "{}",
        error(gone.id)
    );
    assert!(error(moved.id).contains("redirect"), "{}", error(moved.id));

    let seen = seen.lock().unwrap().clone();
    let flaky: Vec<&Received> = seen.iter().filter(|r| r.path == "/hooks/flaky").collect();
    assert_eq!(
        flaky.len(),
        3,
        "two firings, the first retried once: {seen:?}"
    );
    assert!(
        !seen.iter().any(|r| r.path == "/hooks/elsewhere"),
        "a redirect is not followed"
    );
    let first = format!("{}-{}", every.id, fired_at[0]);
    let second = format!("{}-{}", every.id, fired_at[1]);
    let named: Vec<(&str, &str)> = flaky
        .iter()
        .map(|r| (r.delivery.as_str(), r.attempt.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            (first.as_str(), "1"),
            (first.as_str(), "2"),
            (second.as_str(), "1")
        ]
    );
    for r in &seen {
        assert_eq!(
            r.signature,
            format!("sha256={}", hmac_hex("s3cret", &r.body)),
            "signed"
        );
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["type"], "alert");
        assert_eq!(body["symbol"], "AAPL");
    }
    assert_eq!(flaky[0].body, flaky[1].body, "a retry sends the same body");
    let body: Value = serde_json::from_str(&flaky[2].body).unwrap();
    assert_eq!(
        (
            body["id"].as_u64(),
            body["price"].as_f64(),
            body["ts"].as_i64(),
            body["value"].as_f64()
        ),
        (Some(every.id), Some(100.2), Some(fired_at[1]), Some(100.0)),
        "the alert message's JSON"
    );

    let metrics = server.get("/metrics").await.text().await.unwrap();
    for line in [
        "tickertape_webhook_deliveries_total{outcome=\"delivered\"} 2",
        "tickertape_webhook_deliveries_total{outcome=\"failed\"} 2",
        "tickertape_webhook_attempts_total 5",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_replayed_cross_and_reversal_between_two_flushes_fires_exactly_once() {
    // 5 s after the first trade the price crosses 230.5 and is back below
    // 2 ms later, well within one 1 s flush; then it stays below.
    let t0 = tickertape::now_ms();
    let rows = [(0, 229.0), (5_000, 231.0), (5_002, 229.5), (6_500, 229.2)];
    let csv: String = std::iter::once("ts,symbol,price,size\n".to_owned())
        .chain(
            rows.iter()
                .map(|(at, price)| format!("{},AAPL,{price},10\n", t0 + at)),
        )
        .collect();
    let dir = crate::common::scratch(&[("cross.csv", &csv)]);
    let feed = format!("replay:{}", dir.join("cross.csv").display());
    let server = TestServer::start(&["--feed", &feed, "--flush-ms", "1000"]).await;
    quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 229.0)
    })
    .await;
    let mut page = server.connect().await;
    let (status, made) = post(
        &server,
        json!({"symbol": "AAPL", "condition": "above", "value": 230.5}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let made: Alert = serde_json::from_value(made).unwrap();

    let fired = page
        .until(|m| match m {
            ServerMsg::Alert { id, price, ts, .. } => Some((id, price, ts)),
            _ => None,
        })
        .await;
    assert_eq!(fired, (made.id, 231.0, t0 + 5_000), "the crossing trade");
    // The replay is over, the price below the level since.
    quotes_until(&server, "AAPL", |q| {
        q.first().is_some_and(|q| q.last == 229.2)
    })
    .await;
    let more = tokio::time::timeout(
        Duration::from_millis(1_500),
        page.until(|m| matches!(m, ServerMsg::Alert { .. }).then_some(m)),
    )
    .await;
    assert!(more.is_err(), "fired again: {more:?}");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
