//! The JSON HTTP API and the health probes.

use app::protocol::{ApiError, Candle, FeedState, Interval, QuotesResponse, SymbolInfo};
use axum::Json;
use axum::Router;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::bus::BusHealth;
use crate::bus::HealthWatch;
use crate::candles::{self, MAX_LIMIT};
use crate::hub::Hub;
use crate::store::{Health, SharedStore};
use crate::subscription::Subscription;

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
        .route("/api/alerts", get(alerts).post(create_alert))
        .route("/api/alerts/{id}", axum::routing::delete(delete_alert))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A JSON `{"error": ...}` answer.
pub fn json_error(status: StatusCode, error: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            error: error.into(),
        }),
    )
        .into_response()
}

/// `GET /api/symbols`.
pub async fn symbols(State(hub): State<Hub>) -> Json<Vec<SymbolInfo>> {
    Json(hub.symbols().to_vec())
}

#[derive(Debug, Deserialize)]
pub struct QuotesQuery {
    /// Comma-separated symbols; absent means every symbol.
    symbols: Option<String>,
}

/// `GET /api/quotes[?symbols=AAPL,MSFT]`: unknown symbols are ignored.
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
/// `GET /api/alerts`: every alert rule.
pub async fn alerts(State(hub): State<Hub>) -> Json<Vec<app::protocol::Alert>> {
    Json(hub.alerts().list())
}

/// `POST /api/alerts`: 201 with the rule made; 400 naming a bad field; 404
/// for a symbol the server does not serve.
pub async fn create_alert(State(hub): State<Hub>, body: axum::body::Bytes) -> Response {
    let refused = |r: crate::alerts::Refused| {
        json_error(
            StatusCode::BAD_REQUEST,
            format!("{}: {}", r.field, r.reason),
        )
    };
    let new = match crate::alerts::NewAlert::parse(&body) {
        Ok(new) => new,
        Err(r) => return refused(r),
    };
    let Some(id) = hub.lookup(&new.symbol) else {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("unknown symbol: {}", new.symbol),
        );
    };
    let mut one = Subscription::default();
    one.insert(id);
    let current = hub
        .published()
        .snapshot(&one)
        .1
        .first()
        .map(|q| (q.last, q.prev_close));
    match hub.alerts().create(new, crate::market::now_ms(), current) {
        Ok(alert) => (StatusCode::CREATED, Json(alert)).into_response(),
        Err(r) => refused(r),
    }
}

/// `DELETE /api/alerts/{id}`: 204, or 404 for no such alert.
pub async fn delete_alert(State(hub): State<Hub>, Path(id): Path<String>) -> Response {
    match id.parse::<u64>() {
        Ok(id) if hub.alerts().delete(id) => StatusCode::NO_CONTENT.into_response(),
        Ok(id) => json_error(StatusCode::NOT_FOUND, format!("no alert {id}")),
        Err(_) => json_error(StatusCode::BAD_REQUEST, "id: must be a whole number"),
    }
}

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

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(hub): State<Hub>) -> Response {
    let content_type = [(
        axum::http::header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )];
    (content_type, hub.metrics().render()).into_response()
}

/// `GET /healthz`: the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize)]
struct NotReady {
    ready: bool,
    reason: String,
    feeds: Vec<FeedReport>,
}

#[derive(Debug, Serialize)]
struct FeedReport {
    name: String,
    state: FeedState,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `GET /readyz`: 200 once at least one feed is live (and, on ingest and
/// edge nodes, the bus is up), else 503 saying why.
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
