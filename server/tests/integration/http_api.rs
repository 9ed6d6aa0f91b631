//! The HTTP surface of the real server on port 0.

use std::time::Duration;

use crate::common::{TestServer, tick};
use app::protocol::{QuotesResponse, SymbolInfo};

#[tokio::test]
async fn symbols_lists_at_least_thirty_named_equities() {
    let server = TestServer::start(&[]).await;
    let symbols: Vec<SymbolInfo> = server.get("/api/symbols").await.json().await.unwrap();
    assert!(symbols.len() >= 30);
    let apple = symbols.iter().find(|s| s.symbol == "AAPL").unwrap();
    assert_eq!(
        (apple.name.as_str(), apple.currency.as_str()),
        ("Apple Inc.", "USD")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn quotes_are_all_or_filtered() {
    let server = TestServer::start(&["--seed", "3"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: QuotesResponse = server.get("/api/quotes").await.json().await.unwrap();
    assert!(all.quotes.len() >= 30);
    assert!(all.seq >= 1);
    for q in &all.quotes {
        assert!(
            q.last > 0.0 && q.bid <= q.ask && q.low <= q.last && q.last <= q.high,
            "{q:?}"
        );
    }
    let some: QuotesResponse = server
        .get("/api/quotes?symbols=MSFT,AAPL,NOPE")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = some.quotes.iter().map(|q| q.symbol.as_str()).collect();
    assert_eq!(
        names,
        ["AAPL", "MSFT"],
        "in symbol order; unknown ones ignored"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn probes_report_health_and_feed_readiness() {
    let (server, feed) = TestServer::scripted(&[], &["AAA"]).await;
    assert_eq!(server.get("/healthz").await.status(), 200);
    let not_ready = server.get("/readyz").await;
    assert_eq!(
        not_ready.status(),
        503,
        "no feed has delivered anything yet"
    );
    let body: serde_json::Value = not_ready.json().await.unwrap();
    assert_eq!(
        body["feeds"],
        serde_json::json!([{"name": "script", "state": "reconnecting"}])
    );
    assert!(body["reason"].as_str().unwrap().contains("no feed is live"));

    feed.send(tick("AAA", 1.0, 1)).await.unwrap();
    let mut status = 0;
    for _ in 0..50 {
        status = server.get("/readyz").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn the_page_is_server_rendered_with_current_prices() {
    let server = TestServer::start(&["--seed", "11"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = server.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    let quotes: QuotesResponse = server
        .get("/api/quotes?symbols=AAPL")
        .await
        .json()
        .await
        .unwrap();
    assert!(html.contains(r#"data-symbol="AAPL""#));
    assert!(html.contains("Apple Inc."));
    // The rendered price is the one the hub holds (give or take a tick).
    let rows = html.matches("<tr data-symbol=").count();
    assert!(rows >= 30, "{rows} rows rendered");
    let price = app::format::price(quotes.quotes[0].prev_close);
    assert!(
        html.contains(&price),
        "AAPL's previous close {price} is on the page"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let server = TestServer::start(&[]).await;
    assert_eq!(server.get("/no/such/page").await.status(), 404);
    server.shutdown().await;
}
