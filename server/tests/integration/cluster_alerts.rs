//! Alerts in a cluster, all real processes on a real `nats-server`: rules
//! made, listed and deleted through an edge live on the ingest node, which
//! checks them on its trades; its events reach the edge's pages; bad input
//! is refused exactly as the ingest node refuses it; with the ingest node
//! gone the edge says so.

use std::time::{Duration, Instant};

use app::protocol::{Alert, AlertCondition, ServerMsg};
use serde_json::{Value, json};

use crate::common::Client;
use crate::common::cluster::{Nats, Node};

const HEARTBEAT: &[&str] = &["--bus-heartbeat-ms", "200"];

/// Garbage a broken or hostile publisher puts on the alerts subject: not
/// UTF-8, not JSON, not a server message, a server message of another kind.
const GARBAGE: [&[u8]; 4] = [
    b"\xff\xfe{}",
    b"{",
    br#"{"type":"alert_deleted","id":"seven"}"#,
    br#"{"type":"status","feed":"sim","state":"stale"}"#,
];

/// A request's status and JSON body (null when it has none).
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("HTTP body");
    let body = match text.as_str() {
        "" => Value::Null,
        text => serde_json::from_str(text).unwrap_or_else(|e| panic!("{status} {text}: {e}")),
    };
    (status, body)
}

async fn post(node: &Node, body: impl Into<String>) -> (u16, Value) {
    let request = reqwest::Client::new()
        .post(format!("{}/api/alerts", node.base))
        .header("content-type", "application/json")
        .body(body.into());
    answer(request).await
}

async fn delete(node: &Node, id: &str) -> (u16, Value) {
    let url = format!("{}/api/alerts/{id}", node.base);
    answer(reqwest::Client::new().delete(url)).await
}

async fn list(node: &Node) -> Vec<Alert> {
    let (status, body) =
        answer(reqwest::Client::new().get(format!("{}/api/alerts", node.base))).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("a list of alerts")
}

/// What a rule is, leaving out its state (which a firing changes).
fn rules(alerts: &[Alert]) -> Vec<(u64, String, AlertCondition, f64, i64)> {
    alerts
        .iter()
        .map(|a| (a.id, a.symbol.clone(), a.condition, a.value, a.created))
        .collect()
}

/// The first message `pick` takes within `wait`, skipping the rest.
async fn next<T>(
    page: &mut Client,
    wait: Duration,
    mut pick: impl FnMut(ServerMsg) -> Option<T>,
) -> T {
    let found = async {
        loop {
            if let Some(found) = pick(page.msg().await) {
                return found;
            }
        }
    };
    tokio::time::timeout(wait, found)
        .await
        .expect("the awaited alert message in time")
}

/// AAPL's last price on `node`, once it has one.
async fn aapl_last(node: &Node) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(quote) = node.quotes().await.into_iter().find(|q| q.symbol == "AAPL") {
            return quote.last;
        }
        assert!(Instant::now() < deadline, "AAPL never traded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one sample in Prometheus text, 0 if absent.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn an_edge_forwards_the_alert_api_to_the_ingest_node_and_relays_its_events() {
    let nats = Nats::start();
    let bus = nats.url();
    let sim = ["--seed", "5", "--sim-symbols", "4", "--sim-rate", "20"];
    let ingest = Node::ingest(&bus, &[&sim[..], HEARTBEAT].concat());
    let edge = Node::edge(&bus, HEARTBEAT);
    let rogue = async_nats::connect(bus.as_str()).await.unwrap();
    for payload in GARBAGE {
        rogue
            .publish("tickertape.alerts", payload.to_vec().into())
            .await
            .unwrap();
    }
    rogue.flush().await.unwrap();
    let mut page = Client::connect(&edge.ws_url()).await;
    page.subscribe(&["AAPL"]).await;
    let last = aapl_last(&edge).await;

    // Two rules at the current price through the edge: the next trade at
    // another price fires one of them.
    let mut made = Vec::new();
    for condition in ["above", "below"] {
        let body = json!({"symbol": "AAPL", "condition": condition, "value": last});
        let (status, alert) = post(&edge, body.to_string()).await;
        assert_eq!(status, 201, "{alert}");
        made.push(serde_json::from_value::<Alert>(alert).unwrap());
    }
    // The ingest node checks them on its trades; the edge's page hears of
    // each rule made, then of a firing (one may fire before the other is made).
    let mut created = Vec::new();
    let mut firing = None;
    next(&mut page, Duration::from_secs(30), |m| {
        match m {
            ServerMsg::AlertCreated { alert } => created.push(alert),
            ServerMsg::Alert {
                id,
                symbol,
                price,
                ts,
                ..
            } => {
                assert!(created.iter().any(|a| a.id == id), "fired before made");
                assert_eq!(symbol, "AAPL");
                firing.get_or_insert((id, price, ts));
            }
            _ => {}
        }
        (created.len() == made.len() && firing.is_some()).then_some(())
    })
    .await;
    assert_eq!(
        created, made,
        "the page is told of each rule made, in order"
    );
    assert_eq!(rules(&list(&edge).await), rules(&made));
    assert_eq!(
        rules(&list(&ingest).await),
        rules(&made),
        "the rules are the ingest node's"
    );
    let (id, price, ts) = firing.expect("a firing");
    let fired = made.iter().find(|a| a.id == id).unwrap();
    match fired.condition {
        AlertCondition::Above => assert!(price > last, "{price} above {last}"),
        _ => assert!(price < last, "{price} below {last}"),
    }
    assert!(
        (ts - fired.created).abs() < 60_000,
        "the trade's time: {ts}"
    );
    let listed = list(&edge).await;
    let fired_now = listed.iter().find(|a| a.id == id).unwrap();
    assert_eq!((fired_now.armed, fired_now.last_fired), (false, Some(ts)));

    // Deleted through the edge: 204, and the page hears of it.
    for alert in &made {
        assert_eq!(
            delete(&edge, &alert.id.to_string()).await,
            (204, Value::Null)
        );
        let deleted = next(&mut page, Duration::from_secs(10), |m| match m {
            ServerMsg::AlertDeleted { id } => Some(id),
            _ => None,
        })
        .await;
        assert_eq!(deleted, alert.id);
    }
    assert!(list(&edge).await.is_empty());
    assert!(list(&ingest).await.is_empty());

    // Bad input: the edge answers what the ingest node answers.
    let bad_bodies = [
        json!({"symbol": "AAPL", "condition": "above"}).to_string(),
        json!({"symbol": "AAPL", "condition": "sideways", "value": 1}).to_string(),
        json!({"symbol": "AAPL", "condition": "above", "value": 1, "colour": "red"}).to_string(),
        json!({"symbol": "AAPL", "condition": "above", "value": 1, "note": "x".repeat(501)})
            .to_string(),
        json!({"symbol": "NOPE", "condition": "above", "value": 1}).to_string(),
        "{".to_owned(),
        "[1, 2]".to_owned(),
        format!(r#"{{"symbol":"AAPL","note":"{}"}}"#, "x".repeat(70_000)),
    ];
    for body in bad_bodies {
        let shown = &body[..body.len().min(80)];
        let (status, error) = post(&ingest, body.clone()).await;
        assert!(
            matches!(status, 400 | 404 | 413),
            "{shown}: {status} {error}"
        );
        assert!(error["error"].is_string(), "{shown}: {error}");
        assert_eq!(post(&edge, body.clone()).await, (status, error), "{shown}");
    }
    let named = post(
        &edge,
        r#"{"symbol":"AAPL","condition":"above","value":"high"}"#,
    )
    .await;
    assert_eq!(named, (400, json!({"error": "value: must be a number"})));
    for id in ["abc", &made[0].id.to_string()] {
        let (status, error) = delete(&ingest, id).await;
        assert!(matches!(status, 400 | 404), "{id}: {status} {error}");
        assert_eq!(delete(&edge, id).await, (status, error), "{id}");
    }
    assert!(list(&ingest).await.is_empty(), "nothing was made");

    // Counted: events relayed, requests forwarded, the garbage dropped.
    let metrics = ingest.metrics().await;
    let out = sample(
        &metrics,
        "tickertape_bus_messages_total{kind=\"alert_out\"}",
    );
    assert!(
        out >= 6.0,
        "2 made, a firing and its update, 2 deleted: {out}"
    );
    let metrics = edge.metrics().await;
    let relayed = sample(&metrics, "tickertape_bus_messages_total{kind=\"alert_in\"}");
    assert_eq!(relayed, out, "every event published was relayed");
    let dropped = sample(&metrics, "tickertape_bus_errors_total{kind=\"alert_in\"}");
    assert_eq!(dropped, GARBAGE.len() as f64, "{metrics}");
    let forwarded = sample(
        &metrics,
        "tickertape_bus_messages_total{kind=\"alert_api\"}",
    );
    assert!(forwarded >= 10.0, "{forwarded}");

    // The ingest node gone: the edge says it cannot be reached, promptly.
    drop(ingest);
    let asked = Instant::now();
    let (status, error) =
        answer(reqwest::Client::new().get(format!("{}/api/alerts", edge.base))).await;
    assert_eq!(status, 503, "{error}");
    let error = error["error"].as_str().unwrap_or_default();
    assert!(error.contains("the ingest node is unreachable"), "{error}");
    assert!(asked.elapsed() < Duration::from_secs(10));
    assert!(
        sample(
            &edge.metrics().await,
            "tickertape_bus_errors_total{kind=\"alert_api\"}"
        ) >= 1.0
    );
}
