//! `/api/openapi.json`: an OpenAPI 3.1 document that names every route the
//! router has, and that every answer keeps to. Each route is called with good
//! and bad input (and without the tokens); each answer's status must be one
//! the document lists for that route, its media type one listed for that
//! status, and its body must validate against that schema (`jsonschema`,
//! draft 2020-12, `$ref`s resolved within the document). The WebSocket
//! messages a client reads are checked against the document's `ServerMsg`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::common::{TestServer, WAIT};

const ARGS: &[&str] = &[
    "--feed",
    "push:desk",
    "--symbols",
    "AAPL,MSFT",
    "--flush-ms",
    "20",
    "--control-token",
    CONTROL,
];

const CONTROL: &str = "in-control";

/// Routes served to browsers, not part of the HTTP API the document
/// describes: the page and the WebSocket protocol (docs/DESIGN.md).
const BROWSER_ROUTES: [&str; 2] = ["/", "/ws"];

/// What came back: status, media type (without parameters), body.
struct Answer {
    status: u16,
    media: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        let body = response.bytes().await.expect("a body").to_vec();
        Answer {
            status,
            media,
            body,
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The document, and which answers were checked against it.
struct Contract {
    doc: Value,
    /// `http://host:port` of the server it came from.
    base: String,
    /// (method, path template) → statuses answered.
    seen: BTreeMap<(String, String), BTreeSet<u16>>,
}

impl Contract {
    async fn fetch(server: &TestServer) -> Contract {
        let response = server.get("/api/openapi.json").await;
        assert_eq!(response.status(), 200);
        let doc: Value = response.json().await.expect("the document is JSON");
        let mut contract = Contract {
            doc,
            base: server.url(""),
            seen: BTreeMap::new(),
        };
        // The document describes its own route too.
        let again = Answer::of(server.get("/api/openapi.json").await).await;
        contract.check("get", "/api/openapi.json", &again);
        contract
    }

    /// Sends `request` and checks its answer as one of `method template`'s.
    async fn call(&mut self, method: &str, template: &str, request: RequestBuilder) -> Answer {
        let answer = Answer::of(request.send().await.expect("a response")).await;
        self.check(method, template, &answer);
        answer
    }

    /// The answer's status is documented for the operation, its media type
    /// for that status, and its body fits that media type's schema.
    fn check(&mut self, method: &str, template: &str, answer: &Answer) {
        let what = format!("{} {template} → {}", method.to_uppercase(), answer.status);
        let operation = &self.doc["paths"][template][method];
        assert!(operation.is_object(), "{what}: the route is not documented");
        let documented = self.resolve(&operation["responses"][answer.status.to_string()]);
        assert!(
            documented.is_object(),
            "{what}: status not documented (body {})",
            String::from_utf8_lossy(&answer.body)
        );
        match documented["content"].as_object() {
            None => assert!(
                answer.body.is_empty(),
                "{what}: documented without a body, answered {:?}",
                String::from_utf8_lossy(&answer.body)
            ),
            Some(content) => {
                let media = answer.media.as_deref().unwrap_or("(none)");
                let Some(schema) = content.get(media).map(|c| &c["schema"]) else {
                    panic!("{what}: answered {media}, documented {:?}", content.keys());
                };
                let instance = match media {
                    "application/json" => serde_json::from_slice(&answer.body)
                        .unwrap_or_else(|e| panic!("{what}: not JSON ({e})")),
                    _ => Value::String(String::from_utf8_lossy(&answer.body).into_owned()),
                };
                if let Err(why) = self.validate(schema, &instance) {
                    panic!("{what}: the body does not fit its schema:\n{why}\nbody: {instance}");
                }
            }
        }
        self.seen
            .entry((method.to_string(), template.to_string()))
            .or_default()
            .insert(answer.status);
    }

    /// `value`, or what its `$ref` (within the document) points at.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => self.doc.pointer(pointer).unwrap_or(&Value::Null),
            None => value,
        }
    }

    /// Validates `instance` against `schema`, whose `$ref`s point into the
    /// document's components.
    fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
        });
        if let (Some(root), Some(schema)) = (root.as_object_mut(), schema.as_object()) {
            root.extend(schema.clone());
        }
        let validator = jsonschema::draft202012::new(&root).map_err(|e| e.to_string())?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("  {} (at {})", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Every (method, path) the document describes.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                    found.insert((method.clone(), path.clone()));
                }
            }
        }
        found
    }
}

/// The path of every `.route("…", …)` in the server's source.
fn routes_in_source() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("server/src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                for call in text.split(".route(").skip(1) {
                    let literal = call.trim_start().strip_prefix('"');
                    if let Some((route, _)) = literal.and_then(|l| l.split_once('"')) {
                        routes.insert(route.to_string());
                    }
                }
            }
        }
    }
    routes
}

/// The methods the running router takes on `path`: its 405 answer's `Allow`.
async fn methods_of(server: &TestServer, path: &str) -> BTreeSet<String> {
    let concrete = path
        .replace("{symbol}", "AAPL")
        .replace("{id}", "1")
        .replace("{name}", "desk");
    let response = reqwest::Client::new()
        .request(Method::PATCH, server.url(&concrete))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 405, "PATCH {concrete}");
    let allow = response.headers()[reqwest::header::ALLOW]
        .to_str()
        .expect("Allow")
        .to_ascii_lowercase();
    allow
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| m != "head")
        .collect()
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_names_every_route_the_router_has() {
    let server = TestServer::start(ARGS).await;
    let contract = Contract::fetch(&server).await;
    let version = contract.doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi {version:?}");

    let mut served = BTreeSet::new();
    for path in routes_in_source() {
        if BROWSER_ROUTES.contains(&path.as_str()) {
            continue;
        }
        for method in methods_of(&server, &path).await {
            served.insert((method, path.clone()));
        }
    }
    assert!(served.len() >= 12, "routes found: {served:?}");
    assert_eq!(
        contract.operations(),
        served,
        "documented (left) and served by the router (right)"
    );

    let schemes = &contract.doc["components"]["securitySchemes"];
    for name in ["viewer_token", "push_token"] {
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_answer_has_a_documented_status_and_fits_its_schema() {
    let server = TestServer::start(ARGS).await;
    let mut api = Contract::fetch(&server).await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(server.url(path));

    // Before any trade: alive, not ready.
    api.call("get", "/healthz", get("/healthz")).await;
    let not_ready = api.call("get", "/readyz", get("/readyz")).await;
    assert_eq!(not_ready.status, 503);

    push_every_way(&mut api, &server).await;
    let ready = until(&mut api, "/readyz", |a| a.status == 200).await;
    assert_eq!(ready.body, b"ready");

    let symbols = api.call("get", "/api/symbols", get("/api/symbols")).await;
    assert_eq!(symbols.json().as_array().map(Vec::len), Some(2));
    let template = "/api/quotes";
    let quotes = until(&mut api, template, |a| {
        let last = |i: usize| a.json()["quotes"][i]["last"].clone();
        (last(0), last(1)) == (json!(101.5), json!(400.5))
    })
    .await;
    assert_eq!(quotes.json()["quotes"][1]["symbol"], "MSFT");
    let some = api
        .call("get", template, get("/api/quotes?symbols=MSFT,NOPE"))
        .await;
    assert_eq!(some.json()["quotes"][0]["symbol"], "MSFT");

    candles(&mut api, &server).await;
    alerts(&mut api, &server).await;
    control_every_way(&mut api, &server).await;
    let metrics = api.call("get", "/metrics", get("/metrics")).await;
    assert!(String::from_utf8_lossy(&metrics.body).contains("tickertape_"));

    // Every documented route answered at least once.
    let unanswered: Vec<_> = api
        .operations()
        .into_iter()
        .filter(|op| !api.seen.contains_key(op))
        .collect();
    assert!(unanswered.is_empty(), "never called: {unanswered:?}");
    server.shutdown().await;
}

/// GETs `path` until `done` holds; every answer is checked.
async fn until(api: &mut Contract, path: &str, done: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let url = format!("{}{path}", api.base);
        let answer = api.call("get", path, reqwest::Client::new().get(url)).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path}: not in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The push routes: JSON array, NDJSON, a bad line, an unknown feed, too
/// many trades and too many bytes, then the WebSocket route.
async fn push_every_way(api: &mut Contract, server: &TestServer) {
    let http = reqwest::Client::new();
    let ticks = "/api/feeds/{name}/ticks";
    let post = |feed: &str, body: String| {
        http.post(server.url(&format!("/api/feeds/{feed}/ticks")))
            .body(body)
    };
    let array = r#"[{"symbol":"AAPL","price":101.5,"size":10,"bid":101.4,"ask":101.6}]"#;
    let taken = api.call("post", ticks, post("desk", array.into())).await;
    assert_eq!((taken.status, taken.json()), (202, json!({"accepted": 1})));
    let lines = "{\"symbol\":\"MSFT\",\"price\":400.25}\n{\"symbol\":\"MSFT\",\"price\":400.5,\"ts\":null}\n";
    let taken = api.call("post", ticks, post("desk", lines.into())).await;
    assert_eq!(taken.status, 202);
    let bad = "{\"symbol\":\"MSFT\",\"price\":1}\n{\"symbol\":\"NOPE\",\"price\":1}\n";
    assert_eq!(
        api.call("post", ticks, post("desk", bad.into()))
            .await
            .status,
        400
    );
    assert_eq!(
        api.call("post", ticks, post("nope", array.into()))
            .await
            .status,
        404
    );
    let many = "{\"symbol\":\"AAPL\",\"price\":1}\n".repeat(10_001);
    assert_eq!(
        api.call("post", ticks, post("desk", many)).await.status,
        413
    );
    let huge = "x".repeat(tickertape::push::MAX_BODY + 1);
    assert_eq!(
        api.call("post", ticks, post("desk", huge)).await.status,
        413
    );

    let ws = "/api/feeds/{name}/ws";
    let plain = api
        .call("get", ws, http.get(server.url("/api/feeds/desk/ws")))
        .await;
    assert_eq!(plain.status, 400, "a GET that is not an upgrade");
    let url = format!("ws://{}/api/feeds/desk/ws", server.addr);
    api.check("get", ws, &upgrade(&url, None).await);
    let url = format!("ws://{}/api/feeds/nope/ws", server.addr);
    let unknown = upgrade(&url, None).await;
    assert_eq!(unknown.status, 404);
    api.check("get", ws, &unknown);
}

/// The control routes on a push feed (no simulator: its routes are 404),
/// good and bad, and without the token; then on a paused simulator.
async fn control_every_way(api: &mut Contract, server: &TestServer) {
    let http = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        http.post(server.url(path))
            .bearer_auth(CONTROL)
            .body(body.to_string())
    };
    let status = http.get(server.url("/api/control")).bearer_auth(CONTROL);
    let state = api.call("get", "/api/control", status).await;
    assert_eq!(state.json()["sim"], Value::Null);
    let unauthorised = http.get(server.url("/api/control")).bearer_auth("viewer");
    assert_eq!(
        api.call("get", "/api/control", unauthorised).await.status,
        401
    );
    for (template, path, body, want) in [
        ("/api/control/sim/pause", "/api/control/sim/pause", "", 404),
        (
            "/api/control/sim/resume",
            "/api/control/sim/resume",
            "",
            404,
        ),
        ("/api/control/sim/step", "/api/control/sim/step", "{}", 404),
        (
            "/api/control/symbols/{symbol}/price",
            "/api/control/symbols/AAPL/price",
            r#"{"price":99.5}"#,
            200,
        ),
        (
            "/api/control/symbols/{symbol}/price",
            "/api/control/symbols/AAPL/price",
            r#"{"price":0}"#,
            400,
        ),
        (
            "/api/control/symbols/{symbol}/price",
            "/api/control/symbols/NOPE/price",
            r#"{"price":1}"#,
            404,
        ),
        (
            "/api/control/symbols/{symbol}/halt",
            "/api/control/symbols/AAPL/halt",
            "",
            200,
        ),
        (
            "/api/control/symbols/{symbol}/halt",
            "/api/control/symbols/NOPE/halt",
            "",
            404,
        ),
        (
            "/api/control/symbols/{symbol}/resume",
            "/api/control/symbols/AAPL/resume",
            "",
            200,
        ),
        (
            "/api/control/feeds/{name}/fail",
            "/api/control/feeds/desk/fail",
            r#"{"error":"cable cut"}"#,
            200,
        ),
        (
            "/api/control/feeds/{name}/fail",
            "/api/control/feeds/desk/fail",
            "{",
            400,
        ),
        (
            "/api/control/feeds/{name}/fail",
            "/api/control/feeds/nope/fail",
            "",
            404,
        ),
        (
            "/api/control/feeds/{name}/restore",
            "/api/control/feeds/desk/restore",
            "",
            200,
        ),
        (
            "/api/control/feeds/{name}/restore",
            "/api/control/feeds/nope/restore",
            "",
            404,
        ),
        (
            "/api/control/connections/drop",
            "/api/control/connections/drop",
            "",
            200,
        ),
    ] {
        let answer = api.call("post", template, post(path, body)).await;
        assert_eq!(answer.status, want, "{path} {body}");
    }

    // A failed push feed refuses pushes (503).
    let fail = post("/api/control/feeds/desk/fail", "");
    api.call("post", "/api/control/feeds/{name}/fail", fail)
        .await;
    let refused = http
        .post(server.url("/api/feeds/desk/ticks"))
        .body(r#"[{"symbol":"AAPL","price":1}]"#);
    let refused = api.call("post", "/api/feeds/{name}/ticks", refused).await;
    assert_eq!(refused.status, 503);
    let restore = post("/api/control/feeds/desk/restore", "");
    api.call("post", "/api/control/feeds/{name}/restore", restore)
        .await;

    let args = [
        "--control-token",
        CONTROL,
        "--sim-paused",
        "--seed",
        "4",
        "--symbols",
        "AAPL",
        "--flush-ms",
        "20",
    ];
    let sim = TestServer::start(&args).await;
    let post = |path: &str, body: &str| {
        http.post(sim.url(path))
            .bearer_auth(CONTROL)
            .body(body.to_string())
    };
    let state = api
        .call(
            "get",
            "/api/control",
            http.get(sim.url("/api/control")).bearer_auth(CONTROL),
        )
        .await;
    assert_eq!(state.json()["sim"]["paused"], true);
    for (template, body, want) in [
        ("/api/control/sim/step", r#"{"ticks":3}"#, 200),
        ("/api/control/sim/step", r#"{"ticks":0}"#, 400),
        ("/api/control/sim/resume", "", 200),
        ("/api/control/sim/pause", "", 200),
        ("/api/control/feeds/sim/fail", "", 200),
        ("/api/control/sim/step", "", 409),
        ("/api/control/feeds/sim/restore", "", 200),
    ] {
        let path = template.replace("{name}", "sim");
        let template = if template.contains("/feeds/") {
            template.replace("/sim/", "/{name}/")
        } else {
            template.to_string()
        };
        let answer = api.call("post", &template, post(&path, body)).await;
        assert_eq!(answer.status, want, "{path} {body}");
    }
    sim.shutdown().await;
}

/// A WebSocket handshake's answer (101 with no body, or the refusal).
async fn upgrade(url: &str, token: Option<&str>) -> Answer {
    let mut request = url.into_client_request().expect("a ws URL");
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("a header");
        request.headers_mut().insert("authorization", value);
    }
    match connect_async(request).await {
        Ok((_, response)) => Answer {
            status: response.status().as_u16(),
            media: None,
            body: Vec::new(),
        },
        Err(tungstenite::Error::Http(response)) => Answer {
            status: response.status().as_u16(),
            media: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_string),
            body: response.body().clone().unwrap_or_default(),
        },
        Err(e) => panic!("{url}: {e}"),
    }
}

/// Bars: good, a bad interval, limit and `before`, an unknown symbol.
async fn candles(api: &mut Contract, server: &TestServer) {
    let template = "/api/candles/{symbol}";
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(server.url(path));
    let bars = api.call("get", template, get("/api/candles/AAPL")).await;
    assert_eq!(bars.status, 200);
    assert!(
        bars.json()
            .as_array()
            .is_some_and(|b| b.iter().any(|bar| bar["c"] == json!(101.5)))
    );
    let some = "/api/candles/MSFT?interval=1s&limit=2&before=99999999999999";
    assert_eq!(api.call("get", template, get(some)).await.status, 200);
    for bad in ["interval=2m", "limit=0", "limit=5001", "before=yesterday"] {
        let path = format!("/api/candles/AAPL?{bad}");
        assert_eq!(
            api.call("get", template, get(&path)).await.status,
            400,
            "{bad}"
        );
    }
    let unknown = api.call("get", template, get("/api/candles/NOPE")).await;
    assert_eq!(unknown.status, 404);
}

/// Alert rules: made (and refused), listed with a firing, deleted.
async fn alerts(api: &mut Contract, server: &TestServer) {
    let (list, one) = ("/api/alerts", "/api/alerts/{id}");
    let http = reqwest::Client::new();
    let url = |path: &str| server.url(path);
    let create = |body: Value| http.post(url(list)).json(&body);

    let empty = api.call("get", list, http.get(url(list))).await;
    assert_eq!(empty.json(), json!([]));
    let rule = json!({"symbol": "AAPL", "condition": "above", "value": 102, "note": "breakout"});
    let made = api.call("post", list, create(rule)).await;
    assert_eq!(made.status, 201);
    let id = made.json()["id"].as_u64().expect("an id");
    let bad = json!({"symbol": "AAPL", "condition": "sideways", "value": 1});
    assert_eq!(api.call("post", list, create(bad)).await.status, 400);
    let unknown = json!({"symbol": "NOPE", "condition": "below", "value": 1});
    assert_eq!(api.call("post", list, create(unknown)).await.status, 404);
    let huge = http.post(url(list)).body(" ".repeat(64 * 1024 + 1));
    assert_eq!(api.call("post", list, huge).await.status, 413);

    // A trade across it: the rule fires and keeps the firing.
    let trade = r#"[{"symbol":"AAPL","price":103}]"#;
    let pushed = http.post(url("/api/feeds/desk/ticks")).body(trade);
    api.call("post", "/api/feeds/{name}/ticks", pushed).await;
    let fired = until(api, list, |a| {
        a.json()[0]["history"][0]["price"] == json!(103.0)
    })
    .await;
    assert_eq!(fired.json()[0]["armed"], false);

    let path = format!("/api/alerts/{id}");
    let gone = api.call("delete", one, http.delete(url(&path))).await;
    assert_eq!(gone.status, 204);
    assert_eq!(
        api.call("delete", one, http.delete(url(&path)))
            .await
            .status,
        404
    );
    let nonsense = http.delete(url("/api/alerts/seven"));
    assert_eq!(api.call("delete", one, nonsense).await.status, 400);
}

#[tokio::test]
async fn refusals_for_want_of_a_token_are_documented() {
    let args = [ARGS, &["--auth-token", "viewer", "--push-token", "pusher"]].concat();
    let server = TestServer::start(&args).await;
    let http = reqwest::Client::new();
    let fetched = http
        .get(server.url("/api/openapi.json"))
        .bearer_auth("viewer")
        .send()
        .await
        .expect("GET");
    let mut api = Contract {
        doc: fetched.json().await.expect("the document"),
        base: server.url(""),
        seen: BTreeMap::new(),
    };
    let docs = http.get(server.url("/api/openapi.json"));
    assert_eq!(api.call("get", "/api/openapi.json", docs).await.status, 401);
    for (method, template, path) in [
        ("get", "/api/symbols", "/api/symbols"),
        ("get", "/api/quotes", "/api/quotes"),
        ("get", "/api/candles/{symbol}", "/api/candles/AAPL"),
        ("get", "/api/alerts", "/api/alerts"),
        ("post", "/api/alerts", "/api/alerts"),
        ("delete", "/api/alerts/{id}", "/api/alerts/1"),
        ("get", "/readyz", "/readyz"),
        ("get", "/metrics", "/metrics"),
    ] {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let request = http.request(method.clone(), server.url(path));
        let lower = method.as_str().to_ascii_lowercase();
        assert_eq!(
            api.call(&lower, template, request).await.status,
            401,
            "{path}"
        );
    }
    api.call("get", "/healthz", http.get(server.url("/healthz")))
        .await;

    let ticks = "/api/feeds/{name}/ticks";
    let trade = r#"[{"symbol":"AAPL","price":100}]"#;
    let url = server.url("/api/feeds/desk/ticks");
    let viewer = http.post(&url).bearer_auth("viewer").body(trade);
    assert_eq!(api.call("post", ticks, viewer).await.status, 401);
    let pusher = http.post(&url).bearer_auth("pusher").body(trade);
    assert_eq!(api.call("post", ticks, pusher).await.status, 202);
    let ws = format!("ws://{}/api/feeds/desk/ws", server.addr);
    let refused = upgrade(&ws, Some("viewer")).await;
    assert_eq!(refused.status, 401);
    api.check("get", "/api/feeds/{name}/ws", &refused);
    let opened = upgrade(&ws, Some("pusher")).await;
    assert_eq!(opened.status, 101);
    api.check("get", "/api/feeds/{name}/ws", &opened);
    server.shutdown().await;

    // No push token behind a proxy: nobody may push.
    let args = [ARGS, &["--trust-proxy"]].concat();
    let server = TestServer::start(&args).await;
    let url = server.url("/api/feeds/desk/ticks");
    let refused = api.call("post", ticks, http.post(url).body(trade)).await;
    assert_eq!(refused.status, 403);
    let ws = format!("ws://{}/api/feeds/desk/ws", server.addr);
    let refused = upgrade(&ws, None).await;
    assert_eq!(refused.status, 403);
    api.check("get", "/api/feeds/{name}/ws", &refused);
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_messages_fit_the_documented_server_msg() {
    let server = TestServer::start(ARGS).await;
    let api = Contract::fetch(&server).await;
    let server_msg = json!({"$ref": "#/components/schemas/ServerMsg"});
    let mut client = server.connect().await;
    let chart =
        json!({"op": "chart", "symbol": "AAPL", "interval": "1s", "trades": true, "chart": 1});
    for msg in [
        json!({"op": "subscribe", "symbols": ["AAPL", "NOPE"]}),
        chart,
    ] {
        let client_msg = json!({"$ref": "#/components/schemas/ClientMsg"});
        assert_eq!(api.validate(&client_msg, &msg), Ok(()), "{msg}");
        client.send_json(msg).await;
    }
    let answers = ["hello", "status", "error", "snapshot", "candles"];
    read_until(&mut client, &api, &answers).await;
    let trade = r#"[{"symbol":"AAPL","price":101.5,"size":10}]"#;
    let push = reqwest::Client::new()
        .post(server.url("/api/feeds/desk/ticks"))
        .body(trade);
    assert_eq!(push.send().await.expect("POST").status(), 202);
    read_until(&mut client, &api, &["diff", "candle", "trades"]).await;
    // A message outside the protocol does not fit it.
    let made_up = json!({"type": "diff", "seq": "two", "ts": 1, "changes": []});
    assert!(api.validate(&server_msg, &made_up).is_err());
    server.shutdown().await;
}

/// Reads frames, each checked against `ServerMsg`, until a message of each
/// type in `want` has come since the call.
async fn read_until(client: &mut crate::common::Client, api: &Contract, want: &[&str]) {
    let server_msg = json!({"$ref": "#/components/schemas/ServerMsg"});
    let mut now = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !want.iter().all(|t| now.contains(*t)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {now:?} of {want:?}"
        );
        let frame = tokio::time::timeout(WAIT, client.ws.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = frame else {
            continue;
        };
        let msg: Value = serde_json::from_str(&text).expect("JSON");
        if let Err(why) = api.validate(&server_msg, &msg) {
            panic!(
                "a {} message does not fit ServerMsg:\n{why}\n{text}",
                msg["type"]
            );
        }
        now.insert(msg["type"].as_str().unwrap_or_default().to_string());
    }
}
