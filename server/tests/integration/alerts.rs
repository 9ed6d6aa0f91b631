//! Price alerts through the real server: made over HTTP, checked on every
//! trade (a cross that reverses within one flush still fires, once), told
//! to every connected page, deleted; bad input named.

use std::time::Duration;

use app::protocol::{Alert, AlertCondition, ServerMsg};
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
