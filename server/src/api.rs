//! The JSON HTTP API and the health probes, and `/api/openapi.json`, their
//! description (OpenAPI 3.1) generated from the handlers' `#[utoipa::path]`
//! and the wire types' schemas: see [`openapi`].

use app::protocol::{Alert, ApiError, Candle, FeedState, Interval, QuotesResponse, SymbolInfo};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::alerts::{NewAlert, Refused};
use crate::bus::edge::IngestAlerts;
use crate::bus::{AlertsReply, AlertsRequest, BusHealth, HealthWatch};
use crate::candles::{self, MAX_LIMIT};
use crate::hub::Hub;
use crate::store::{Health, SharedStore};
use crate::subscription::Subscription;

pub use crate::wire::json_error;

/// What `/readyz` reads: feeds' status, the bus's on ingest and edge nodes,
/// and the history store's where there is one.
#[derive(Clone)]
pub struct Readiness {
    pub hub: Hub,
    pub bus: Option<HealthWatch>,
    pub store: Option<SharedStore>,
}

/// What the API reads; handlers take the part they use.
#[derive(Clone)]
pub struct ApiState {
    pub hub: Hub,
    pub readiness: Readiness,
    pub alerts: AlertsApi,
}

impl FromRef<ApiState> for Hub {
    fn from_ref(state: &ApiState) -> Hub {
        state.hub.clone()
    }
}

impl FromRef<ApiState> for Readiness {
    fn from_ref(state: &ApiState) -> Readiness {
        state.readiness.clone()
    }
}

/// `/api/*`, the probes and `/metrics`.
pub fn router<S: Clone + Send + Sync + 'static>(state: ApiState) -> Router<S> {
    Router::new()
        .route("/api/symbols", get(symbols))
        .route("/api/quotes", get(quotes))
        .route("/api/candles/{symbol}", get(candles))
        .route(
            "/api/alerts",
            get(get_alerts)
                .post(post_alert)
                .layer(DefaultBodyLimit::max(MAX_ALERT_BODY)),
        )
        .route("/api/alerts/{id}", axum::routing::delete(delete_alert))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .with_state(state)
}

/// The HTTP API as OpenAPI 3.1: every route of this module, of
/// [`crate::push`] and of [`crate::control`]. A new route: give its handler a `#[utoipa::path]` and
/// name it in `paths` here (`server/tests/integration/openapi.rs` fails
/// until it is, and checks its answers against what it says).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tickertape",
        description = "A live market dashboard's HTTP API. The WebSocket protocol (`GET /ws`) is in docs/DESIGN.md; its messages are the `ServerMsg` and `ClientMsg` schemas here.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        symbols,
        quotes,
        candles,
        get_alerts,
        post_alert,
        delete_alert,
        crate::push::ticks,
        crate::push::stream,
        crate::control::status,
        crate::control::pause,
        crate::control::resume,
        crate::control::step,
        crate::control::price,
        crate::control::halt,
        crate::control::unhalt,
        crate::control::fail,
        crate::control::restore,
        crate::control::drop_connections,
        healthz,
        readyz,
        metrics,
        openapi,
    ),
    components(schemas(app::protocol::ServerMsg, app::protocol::ClientMsg)),
    modifiers(&Tokens),
    security(("viewer_token" = []), ()),
    tags(
        (name = "market", description = "Symbols, quotes and bars"),
        (name = "alerts", description = "Price alert rules"),
        (name = "push", description = "Push feeds' trades (`--feed push:<name>`)"),
        (name = "control", description = "Driving the market from end-to-end tests (`--control-token`; 404 without)"),
        (name = "operations", description = "Probes, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// The two bearer tokens: the viewers' and the pushers'.
struct Tokens;

impl utoipa::Modify for Tokens {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "viewer_token",
            bearer("`--auth-token`, needed by every route but /healthz and the push routes when the server has one (also taken as `?token=` or the `tickertape_token` cookie)"),
        );
        components.add_security_scheme(
            "push_token",
            bearer("`--push-token`, needed by the push routes when the server has one; without one, only this machine may push"),
        );
        components.add_security_scheme(
            "control_token",
            bearer("`--control-token`, needed by every control route (which exist only with it), from any peer"),
        );
    }
}

/// `GET /api/openapi.json`: [`ApiDoc`].
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "This document (OpenAPI 3.1)", body = Object),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
    ),
)]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

/// `GET /api/symbols`.
#[utoipa::path(
    get,
    path = "/api/symbols",
    tag = "market",
    description = "Every instrument the server serves, in its order.",
    responses(
        (status = 200, description = "The symbols", body = Vec<SymbolInfo>),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
    ),
)]
pub async fn symbols(State(hub): State<Hub>) -> Json<Vec<SymbolInfo>> {
    Json(hub.symbols().to_vec())
}

#[derive(Debug, Deserialize)]
pub struct QuotesQuery {
    /// Comma-separated symbols; absent means every symbol.
    symbols: Option<String>,
}

/// `GET /api/quotes[?symbols=AAPL,MSFT]`: unknown symbols are ignored.
#[utoipa::path(
    get,
    path = "/api/quotes",
    tag = "market",
    description = "The current quote of every symbol (or of those named), in the server's symbol order; `seq` is the hub's batch number.",
    params(
        ("symbols" = Option<String>, Query, description = "Comma-separated symbols; unknown ones are ignored", example = "AAPL,MSFT"),
    ),
    responses(
        (status = 200, description = "The quotes", body = QuotesResponse),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
    ),
)]
pub async fn quotes(
    State(hub): State<Hub>,
    Query(query): Query<QuotesQuery>,
) -> Json<QuotesResponse> {
    let sub = match query.symbols.as_deref() {
        None => Subscription::all(),
        Some(list) => {
            let mut sub = Subscription::default();
            list.split(',')
                .filter_map(|s| hub.lookup(s.trim()))
                .for_each(|id| sub.insert(id));
            sub
        }
    };
    let (seq, quotes) = hub.published().snapshot(&sub);
    Json(QuotesResponse { seq, quotes })
}

#[derive(Debug, Deserialize)]
pub struct CandlesQuery {
    interval: Option<String>,
    limit: Option<String>,
    /// Unix ms: only bars that start strictly before it (a chart scrolled back).
    before: Option<String>,
}

/// `GET /api/candles/{symbol}?interval=1s|5s|1m|5m&limit=N&before=<ms>`: the newest
/// `limit` bars starting strictly before `before` (default: all), oldest first;
/// from the history store for bars older than memory holds.
#[utoipa::path(
    get,
    path = "/api/candles/{symbol}",
    tag = "market",
    description = "A symbol's bars, oldest first: the newest `limit` starting strictly before `before`.",
    params(
        ("symbol" = String, Path, description = "A symbol the server serves", example = "AAPL"),
        ("interval" = Option<Interval>, Query, description = "Bar length (default 1m)"),
        ("limit" = Option<u32>, Query, description = "Bars at most (default 500)", minimum = 1, maximum = 5000),
        ("before" = Option<i64>, Query, description = "Unix ms: only bars starting strictly before it"),
    ),
    responses(
        (status = 200, description = "The bars", body = Vec<Candle>),
        (status = 400, description = "A bad interval, limit or `before`", body = ApiError),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
        (status = 404, description = "An unknown symbol", body = ApiError),
        (status = 503, description = "Stored history cannot be read right now", body = ApiError),
    ),
)]
pub async fn candles(
    State(hub): State<Hub>,
    Path(symbol): Path<String>,
    Query(query): Query<CandlesQuery>,
) -> Result<Json<Vec<Candle>>, Response> {
    let interval = match query.interval.as_deref() {
        None => Interval::default(),
        Some(text) => text
            .parse()
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, e))?,
    };
    let limit = match query.limit.as_deref() {
        None => candles::DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                json_error(
                    StatusCode::BAD_REQUEST,
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let id = hub
        .lookup(&symbol)
        .ok_or_else(|| json_error(StatusCode::NOT_FOUND, format!("unknown symbol: {symbol}")))?;
    let before = match query.before.as_deref() {
        None => i64::MAX,
        Some(text) => text.parse().map_err(|_| {
            json_error(
                StatusCode::BAD_REQUEST,
                "before must be a time in Unix milliseconds",
            )
        })?,
    };
    let bars = hub
        .charts()
        .history_before(id, interval, before, limit)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, %symbol, "cannot read stored bars");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "stored history cannot be read right now",
            )
        })?;
    Ok(Json(bars))
}

/// An answer of the alert API: its status and JSON body (`null` for 204).
/// The HTTP routes and the ingest node's bus responder both give these, from
/// the same functions, so an edge answers exactly as the ingest node does.
pub type Reply = (StatusCode, serde_json::Value);

/// Who answers the alert routes: this node's rules, or on an edge the
/// ingest node's, over the bus (an edge sees no trades to check rules on).
#[derive(Clone)]
pub enum AlertsApi {
    Local(Hub),
    Ingest(IngestAlerts),
}

impl FromRef<ApiState> for AlertsApi {
    fn from_ref(state: &ApiState) -> AlertsApi {
        state.alerts.clone()
    }
}

/// The largest `POST /api/alerts` body: a rule takes well under 4 KiB, and
/// an edge forwards the body in one bus message, far below NATS's 1 MB.
pub const MAX_ALERT_BODY: usize = 64 * 1024;

/// `GET /api/alerts`: every alert rule.
#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "alerts",
    description = "Every alert rule, by id.",
    responses(
        (status = 200, description = "The rules", body = Vec<Alert>),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
        (status = 503, description = "On an edge: the ingest node did not answer", body = ApiError),
    ),
)]
pub async fn get_alerts(State(api): State<AlertsApi>) -> Response {
    let reply = match api {
        AlertsApi::Local(hub) => list_alerts(&hub),
        AlertsApi::Ingest(ingest) => forward(&ingest, AlertsRequest::List).await,
    };
    respond(reply)
}

/// `POST /api/alerts`: 201 with the rule made; 400 naming a bad field; 404
/// for a symbol the server does not serve; 413 over [`MAX_ALERT_BODY`].
#[utoipa::path(
    post,
    path = "/api/alerts",
    tag = "alerts",
    description = "Makes an alert rule. Fields other than these are refused.",
    request_body(content = NewAlert, content_type = "application/json"),
    responses(
        (status = 201, description = "The rule made", body = Alert),
        (status = 400, description = "`<field>: <what is wrong>`", body = ApiError),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
        (status = 404, description = "A symbol the server does not serve", body = ApiError),
        (status = 413, description = "A body over 64 KiB", body = ApiError),
        (status = 503, description = "On an edge: the ingest node did not answer", body = ApiError),
    ),
)]
pub async fn post_alert(
    State(api): State<AlertsApi>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return respond(too_large());
        }
        Err(rejection) => return json_error(rejection.status(), rejection.body_text()),
    };
    let reply = match api {
        AlertsApi::Local(hub) => create_alert(&hub, &body),
        AlertsApi::Ingest(ingest) => match std::str::from_utf8(&body) {
            Ok(text) => {
                let request = AlertsRequest::Create {
                    body: text.to_owned(),
                };
                forward(&ingest, request).await
            }
            Err(_) => refuse_unreadable(&body),
        },
    };
    respond(reply)
}

/// `DELETE /api/alerts/{id}`: 204, or 404 for no such alert.
#[utoipa::path(
    delete,
    path = "/api/alerts/{id}",
    tag = "alerts",
    params(("id" = u64, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An id that is not a whole number", body = ApiError),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
        (status = 404, description = "No such rule", body = ApiError),
        (status = 503, description = "On an edge: the ingest node did not answer", body = ApiError),
    ),
)]
pub async fn delete_alert(State(api): State<AlertsApi>, Path(id): Path<String>) -> Response {
    let reply = match (parse_alert_id(&id), api) {
        (Err(refused), _) => refused,
        (Ok(id), AlertsApi::Local(hub)) => remove_alert(&hub, id),
        (Ok(id), AlertsApi::Ingest(ingest)) => forward(&ingest, AlertsRequest::Delete { id }).await,
    };
    respond(reply)
}

/// An edge's alert request, answered by the ingest node: its status and
/// body, or why it could not be asked.
async fn forward(ingest: &IngestAlerts, request: AlertsRequest) -> Reply {
    match ingest.ask(&request).await {
        Ok(reply) => reply,
        Err(e) => error_reply(e.status(), e.to_string()),
    }
}

/// Answers an edge's alert API request (on the ingest node) as this node's
/// routes would.
pub fn answer_alerts(hub: &Hub, request: AlertsRequest) -> AlertsReply {
    let (status, body) = match request {
        AlertsRequest::List => list_alerts(hub),
        // An edge bounds what it forwards; another bus client may not.
        AlertsRequest::Create { body } if body.len() > MAX_ALERT_BODY => too_large(),
        AlertsRequest::Create { body } => create_alert(hub, body.as_bytes()),
        AlertsRequest::Delete { id } => remove_alert(hub, id),
    };
    AlertsReply {
        status: status.as_u16(),
        body,
    }
}

/// Every rule, by id.
pub fn list_alerts(hub: &Hub) -> Reply {
    reply(StatusCode::OK, hub.alerts().list())
}

/// Makes a rule from a request body: 201 with it, 400 naming a bad field,
/// 404 for a symbol this node does not serve.
pub fn create_alert(hub: &Hub, body: &[u8]) -> Reply {
    let new = match NewAlert::parse(body) {
        Ok(new) => new,
        Err(refused) => return refusal(refused),
    };
    let Some(id) = hub.lookup(&new.symbol) else {
        let error = format!("unknown symbol: {}", new.symbol);
        return error_reply(StatusCode::NOT_FOUND, error);
    };
    match hub
        .alerts()
        .create(new, crate::market::now_ms(), last_and_prev_close(hub, id))
    {
        Ok(alert) => reply(StatusCode::CREATED, alert),
        Err(refused) => refusal(refused),
    }
}

/// Deletes rule `id`: 204, or 404 for no such rule.
pub fn remove_alert(hub: &Hub, id: u64) -> Reply {
    if hub.alerts().delete(id) {
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    } else {
        error_reply(StatusCode::NOT_FOUND, format!("no alert {id}"))
    }
}

/// The `{id}` of `DELETE /api/alerts/{id}`, or the 400 it gets.
pub fn parse_alert_id(text: &str) -> Result<u64, Reply> {
    text.parse()
        .map_err(|_| error_reply(StatusCode::BAD_REQUEST, "id: must be a whole number"))
}

/// A body that is not UTF-8 cannot travel in a bus request's text; it is
/// never JSON either, so the parse every node runs refuses it where it is.
fn refuse_unreadable(body: &[u8]) -> Reply {
    match NewAlert::parse(body) {
        Err(refused) => refusal(refused),
        Ok(_) => error_reply(StatusCode::BAD_REQUEST, "body: must be UTF-8"),
    }
}

/// The symbol's last price and previous close, if it has traded: where a
/// new rule's first crossing is measured from.
fn last_and_prev_close(hub: &Hub, id: crate::hub::SymbolId) -> Option<(f64, f64)> {
    let mut one = Subscription::default();
    one.insert(id);
    let (_, quotes) = hub.published().snapshot(&one);
    quotes.first().map(|q| (q.last, q.prev_close))
}

fn too_large() -> Reply {
    let error = format!("body: at most {MAX_ALERT_BODY} bytes");
    error_reply(StatusCode::PAYLOAD_TOO_LARGE, error)
}

fn refusal(refused: Refused) -> Reply {
    let error = format!("{}: {}", refused.field, refused.reason);
    error_reply(StatusCode::BAD_REQUEST, error)
}

/// A JSON `{"error": ...}` answer.
pub fn error_reply(status: StatusCode, error: impl Into<String>) -> Reply {
    let error = ApiError {
        error: error.into(),
    };
    reply(status, error)
}

fn reply(status: StatusCode, body: impl Serialize) -> Reply {
    match serde_json::to_value(body) {
        Ok(body) => (status, body),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an API answer");
            (StatusCode::INTERNAL_SERVER_ERROR, serde_json::Value::Null)
        }
    }
}

/// A [`Reply`] as an HTTP response; a 204 has no body.
fn respond((status, body): Reply) -> Response {
    if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        (status, Json(body)).into_response()
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format, metric names prefixed `tickertape_`", body = String, content_type = "text/plain"),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
    ),
)]
pub async fn metrics(State(hub): State<Hub>) -> Response {
    let content_type = [(
        axum::http::header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )];
    (content_type, hub.metrics().render()).into_response()
}

/// `GET /healthz`: the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process serves", body = String, content_type = "text/plain", example = "ok")),
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Why `/readyz` is not ready.
#[derive(Debug, Serialize, ToSchema)]
struct NotReady {
    ready: bool,
    reason: String,
    feeds: Vec<FeedReport>,
}

/// One feed's state, and its last failure.
#[derive(Debug, Serialize, ToSchema)]
struct FeedReport {
    name: String,
    state: FeedState,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<String>,
}

/// `GET /readyz`: 200 once at least one feed is live (and, on ingest and
/// edge nodes, the bus is up), else 503 saying why.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "At least one feed is live (and the bus is up, the history store writes)", body = String, content_type = "text/plain", example = "ready"),
        (status = 401, description = "No or a wrong `--auth-token`", body = ApiError),
        (status = 503, description = "Not ready, and why", body = NotReady),
    ),
)]
pub async fn readyz(State(state): State<Readiness>) -> Response {
    let bus_down = match state.bus.as_ref().map(|b| b.borrow().clone()) {
        Some(BusHealth::Down(reason)) => Some(reason),
        Some(BusHealth::Ok) | None => None,
    };
    let store_failing = match state.store.as_ref().map(|s| s.health()) {
        Some(Health::Failing(reason)) => Some(format!("history store failing: {reason}")),
        Some(Health::Ok) | None => None,
    };
    let down = bus_down.or(store_failing);
    if state.hub.feeds().any_live() && down.is_none() {
        return "ready".into_response();
    }
    let feeds: Vec<FeedReport> = state
        .hub
        .feeds()
        .all()
        .into_iter()
        .map(|f| FeedReport {
            name: f.name,
            state: f.state,
            error: f.error,
        })
        .collect();
    let stale: Vec<&str> = feeds.iter().map(|f| f.name.as_str()).collect();
    let reason = down.unwrap_or_else(|| format!("no feed is live ({} down)", stale.join(", ")));
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(NotReady {
            ready: false,
            reason,
            feeds,
        }),
    )
        .into_response()
}
