//! Security and limits of the real server: the access token, headers, TLS,
//! connection and subscription caps, handshake and first-message timeouts.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Client, TestServer, certificate};
use app::protocol::{ErrorCode, ServerMsg};
use reqwest::header;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn status(client: &reqwest::Client, url: String) -> u16 {
    client.get(url).send().await.unwrap().status().as_u16()
}

/// The WebSocket handshake's HTTP status (101 when accepted).
async fn upgrade_status(url: &str, header: Option<(&'static str, &str)>) -> u16 {
    let mut request = url.into_client_request().unwrap();
    if let Some((name, value)) = header {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

#[tokio::test]
async fn every_route_but_healthz_needs_the_token() {
    let server = TestServer::start(&["--auth-token", "s3cr3t"]).await;
    let http = no_redirects();
    assert_eq!(status(&http, server.url("/healthz")).await, 200);
    for path in [
        "/",
        "/readyz",
        "/metrics",
        "/api/symbols",
        "/api/quotes",
        "/api/candles/AAPL",
        "/api/alerts",
        "/pkg/tickertape.css",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"tickertape\""
        );
    }
    // Making and deleting alerts too: nothing is made without the token.
    let made = http
        .post(server.url("/api/alerts"))
        .json(&serde_json::json!({"symbol": "AAPL", "condition": "above", "value": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 401);
    let deleted = http
        .delete(server.url("/api/alerts/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 401);
    let listed = http
        .get(server.url("/api/alerts"))
        .bearer_auth("s3cr3t")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.text().await.unwrap(), "[]");
    let wrong = http
        .get(server.url("/api/quotes"))
        .bearer_auth("s3cr3")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "missing or wrong access token");
    let bearer = http
        .get(server.url("/api/quotes"))
        .bearer_auth("s3cr3t")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert_eq!(
        status(&http, server.url("/api/quotes?token=s3cr3t")).await,
        200
    );
    let cookie = http
        .get(server.url("/api/symbols"))
        .header(header::COOKIE, "tickertape_token=s3cr3t")
        .send()
        .await;
    assert_eq!(cookie.unwrap().status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn opening_the_page_with_the_token_sets_a_cookie_and_drops_it_from_the_url() {
    let server = TestServer::start(&["--auth-token", "s3cr3t"]).await;
    let http = no_redirects();
    let response = http
        .get(server.url("/?symbol=MSFT&token=s3cr3t&interval=5m"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/?symbol=MSFT&interval=5m"
    );
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        cookie,
        "tickertape_token=s3cr3t; Path=/; HttpOnly; SameSite=Strict"
    );
    let page = http
        .get(server.url("/?symbol=MSFT&interval=5m"))
        .header(header::COOKIE, "tickertape_token=s3cr3t");
    let page = page.send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("data-symbol=\"MSFT\""));
    let refused = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Access token required")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_websocket_upgrade_is_refused_without_the_token_never_accepted() {
    let server = TestServer::start(&["--auth-token", "s3cr3t"]).await;
    let url = server.ws_url();
    assert_eq!(upgrade_status(&url, None).await, 401);
    assert_eq!(
        upgrade_status(&url, Some(("authorization", "Bearer nope"))).await,
        401
    );
    assert_eq!(
        upgrade_status(&url, Some(("authorization", "Bearer s3cr3t"))).await,
        101
    );
    assert_eq!(
        upgrade_status(&format!("{url}?token=s3cr3t"), None).await,
        101
    );
    assert_eq!(
        upgrade_status(&url, Some(("cookie", "tickertape_token=s3cr3t"))).await,
        101
    );
    server.shutdown().await;
}

#[tokio::test]
async fn html_carries_security_headers_and_a_nonce_policy() {
    let server = TestServer::start(&[]).await;
    let response = reqwest::get(server.url("/")).await.unwrap();
    let headers = response.headers().clone();
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    let html = response.text().await.unwrap();
    let nonce = html
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script nonce");
    assert!(
        csp.contains(&format!(
            "script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"
        )),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    let api = reqwest::get(server.url("/api/quotes")).await.unwrap();
    assert_eq!(api.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503() {
    let server = TestServer::start(&["--max-connections", "2"]).await;
    let _a = server.connect().await;
    let _b = server.connect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(upgrade_status(&server.ws_url(), None).await, 503);
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("tickertape_upgrades_refused_total{reason=\"capacity\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tickertape_connections 2"), "{metrics}");
    server.shutdown().await;
}

#[tokio::test]
async fn subscriptions_are_capped_per_connection() {
    let server = TestServer::start(&["--max-symbols-per-client", "3"]).await;
    let mut client = server.connect().await;
    client
        .send_json(json!({"op": "subscribe", "symbols": ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL"]}))
        .await;
    let (code, message) = client
        .until(|m| match m {
            ServerMsg::Error { code, message } => Some((code, message)),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::TooManySymbols);
    assert_eq!(
        message,
        "at most 3 symbols per connection (or \"*\"); 2 not added"
    );
    let quotes = client
        .until(|m| match m {
            ServerMsg::Snapshot { quotes, .. } => Some(quotes),
            _ => None,
        })
        .await;
    assert_eq!(quotes.len(), 3);
    let (_, all) = client.subscribe(&["*"]).await;
    assert!(all.len() >= 30, "\"*\" is always allowed");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_speaks_is_closed_with_1008() {
    let server = TestServer::start(&["--first-message-timeout", "1"]).await;
    let mut silent = server.connect().await;
    let mut talker = server.connect().await;
    talker.subscribe(&["AAPL"]).await;
    assert_eq!(silent.close_code().await, Some(1008));
    tokio::time::sleep(Duration::from_millis(500)).await;
    talker.send_json(json!({"op": "ping", "t": 1})).await;
    talker
        .until(|m| matches!(m, ServerMsg::Pong { .. }).then_some(()))
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_that_never_finishes_its_headers_is_dropped() {
    let server = TestServer::start(&["--handshake-timeout", "1"]).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap(); // and nothing more
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the server still holds the half-sent request"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tls_serves_https_and_wss_on_the_same_port() {
    let (dir, cert) = certificate();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let args = [
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ];
    let server = TestServer::start(&args).await;

    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let health = https
        .get(format!("https://127.0.0.1:{}/healthz", server.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let url = format!("wss://127.0.0.1:{}/ws", server.addr.port());
    let connector = tokio_tungstenite::Connector::Rustls(Arc::new(config));
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector))
            .await
            .unwrap();
    let mut client = Client::from(ws);
    assert!(matches!(client.msg().await, ServerMsg::Hello { .. }));
    assert_eq!(client.subscribe(&["AAPL"]).await.1.len(), 1);

    // Plain HTTP on the TLS port gets nowhere.
    assert!(reqwest::get(server.url("/healthz")).await.is_err());
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_tls_handshake_that_never_starts_is_dropped() {
    let (dir, _) = certificate();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--handshake-timeout",
        "1",
    ];
    let server = TestServer::start(&args).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the server still holds a connection that never said hello"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_bad_certificate_is_a_clear_start_up_error() {
    let dir = std::env::temp_dir().join(format!("tickertape-badtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.join("key.pem"), "not a key").unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let args = [
        "tickertape",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let config = tickertape::config::Config::from_args(args).unwrap();
    let err = tickertape::AppState::start(&config)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("no certificate in"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A raw HTTP/1.1 exchange: the request's lines as given (reqwest cannot
/// send a bad `Host`), the connection closed after the answer. Returns the
/// status and the whole response as text.
async fn raw_request(server: &TestServer, head: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_once(' ')
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (status, text)
}

/// `GET path` addressed to `host`.
async fn get_for_host(server: &TestServer, path: &str, host: &str) -> (u16, String) {
    raw_request(server, &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n")).await
}

/// A WebSocket upgrade of `/ws` addressed to `host` from `origin`.
async fn upgrade_for_host(server: &TestServer, host: &str, origin: &str) -> u16 {
    let head = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: tickertape.v1.json\r\n"
    );
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(format!("{head}\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

#[tokio::test]
async fn a_host_that_is_not_a_host_gets_400_and_never_reaches_the_policy() {
    let server = TestServer::start(&[]).await;
    let injected = "x; script-src *";
    let long = "a".repeat(256);
    for host in [
        injected,
        "x\"y",
        "a b",
        "a/b",
        "x;report-uri https://evil",
        long.as_str(),
    ] {
        for path in ["/", "/healthz", "/api/quotes", "/ws"] {
            let (status, response) = get_for_host(&server, path, host).await;
            assert_eq!(status, 400, "{host:?} {path}: {response}");
            assert!(
                response.contains("bad Host header"),
                "{host:?} {path}: {response}"
            );
            assert!(
                !response.contains("script-src *") && !response.contains("evil"),
                "the host is echoed: {response}"
            );
        }
    }
    // A plain host is served (no --allowed-host: any host) and named in the policy.
    let own = server.addr.to_string();
    let (status, response) = get_for_host(&server, "/", &own).await;
    assert_eq!(status, 200);
    let csp = response
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .expect("a policy");
    assert!(
        csp.contains(&format!("connect-src 'self' ws://{own} wss://{own};")),
        "{csp}"
    );
    assert_eq!(
        get_for_host(&server, "/api/quotes", "Other.Example:80")
            .await
            .0,
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn with_allowed_hosts_any_other_host_gets_421_except_on_healthz() {
    let server = TestServer::start(&[
        "--allowed-host",
        "edge-1.internal:8080",
        "--public-origin",
        "https://Dash.Example.com",
    ])
    .await;
    for host in [
        "dash.example.com",
        "DASH.example.COM:443",
        "edge-1.internal:8080",
    ] {
        for path in ["/", "/api/quotes", "/metrics"] {
            let (status, response) = get_for_host(&server, path, host).await;
            assert_eq!(status, 200, "{host} {path}: {response}");
        }
    }
    let own = server.addr.to_string();
    let refused = [
        own.as_str(),
        "localhost",
        "127.0.0.1",
        "rebound.evil.example",
        "edge-1.internal:9090",
        "edge-1.internal",
    ];
    for host in refused {
        for path in [
            "/",
            "/api/quotes",
            "/readyz",
            "/metrics",
            "/ws",
            "/pkg/tickertape.css",
        ] {
            let (status, response) = get_for_host(&server, path, host).await;
            assert_eq!(status, 421, "{host} {path}: {response}");
            let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
            let body: serde_json::Value = serde_json::from_str(body).expect("a JSON error");
            assert_eq!(
                body["error"],
                format!("this server does not serve the host {host:?}")
            );
        }
        // Probes address nodes by IP.
        assert_eq!(get_for_host(&server, "/healthz", host).await.0, 200);
    }
    // No Host at all (HTTP/1.0) is not an allowed host either.
    let (status, response) = raw_request(&server, "GET /api/quotes HTTP/1.0\r\n").await;
    assert_eq!(status, 421);
    assert!(
        response.contains("a request must name the host it is for"),
        "{response}"
    );
    // The public origin may open the socket; the host it names must be served.
    assert_eq!(
        upgrade_for_host(&server, "dash.example.com", "https://dash.example.com").await,
        101
    );
    assert_eq!(
        upgrade_for_host(&server, "dash.example.com", "https://evil.example").await,
        403
    );
    assert_eq!(
        upgrade_for_host(&server, "evil.example", "http://evil.example").await,
        421
    );
    server.shutdown().await;
}

/// The `Set-Cookie` of `GET /?token=…` (a 303), with `extra` headers.
async fn token_cookie(client: &reqwest::Client, base: &str, extra: &[(&str, &str)]) -> String {
    let mut request = client.get(format!("{base}/?symbol=MSFT&token=s3cr3t"));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 303);
    response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_token_cookie_is_secure_behind_a_trusted_https_proxy_only() {
    let http = no_redirects();
    let https = [("x-forwarded-proto", "https")];
    let plain = TestServer::start(&["--auth-token", "s3cr3t"]).await;
    let base = plain.url("");
    let cookie = token_cookie(&http, &base, &https).await;
    assert!(
        !cookie.contains("Secure"),
        "an untrusted header counted: {cookie}"
    );
    plain.shutdown().await;

    let proxied = TestServer::start(&["--auth-token", "s3cr3t", "--trust-proxy"]).await;
    let base = proxied.url("");
    let cookie = token_cookie(&http, &base, &https).await;
    assert_eq!(
        cookie,
        "tickertape_token=s3cr3t; Path=/; HttpOnly; SameSite=Strict; Secure"
    );
    let forwarded = token_cookie(&http, &base, &[("x-forwarded-proto", "https, http")]).await;
    assert!(forwarded.ends_with("; Secure"), "{forwarded}");
    for proto in [&[("x-forwarded-proto", "http")][..], &[]] {
        let cookie = token_cookie(&http, &base, proto).await;
        assert!(!cookie.contains("Secure"), "{proto:?}: {cookie}");
    }
    // Any route answering a `?token=` sets the same cookie.
    let api = http
        .get(proxied.url("/api/quotes?token=s3cr3t"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    assert!(
        api.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
    proxied.shutdown().await;
}

#[tokio::test]
async fn over_tls_the_token_cookie_is_secure() {
    let (dir, cert) = certificate();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let args = [
        "--auth-token",
        "s3cr3t",
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ];
    let server = TestServer::start(&args).await;
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let cookie = token_cookie(&https, &base, &[]).await;
    assert_eq!(
        cookie,
        "tickertape_token=s3cr3t; Path=/; HttpOnly; SameSite=Strict; Secure"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
