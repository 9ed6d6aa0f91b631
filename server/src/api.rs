//! The JSON HTTP API and the health probes.

use app::protocol::{ApiError, QuotesResponse, SymbolInfo};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::subscription::Subscription;

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
pub async fn symbols(State(state): State<AppState>) -> Json<Vec<SymbolInfo>> {
    Json(state.hub.symbols().to_vec())
}

#[derive(Debug, Deserialize)]
pub struct QuotesQuery {
    /// Comma-separated symbols; absent means every symbol.
    symbols: Option<String>,
}

/// `GET /api/quotes[?symbols=AAPL,MSFT]`: unknown symbols are ignored.
pub async fn quotes(
    State(state): State<AppState>,
    Query(query): Query<QuotesQuery>,
) -> Json<QuotesResponse> {
    let sub = match query.symbols.as_deref() {
        None => Subscription::all(),
        Some(list) => {
            let mut sub = Subscription::default();
            list.split(',')
                .filter_map(|s| state.hub.lookup(s.trim()))
                .for_each(|id| sub.insert(id));
            sub
        }
    };
    let (seq, quotes) = state.hub.snapshot(&sub);
    Json(QuotesResponse { seq, quotes })
}

/// `GET /healthz`: the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize)]
struct NotReady {
    ready: bool,
    reason: String,
    feeds_down: Vec<String>,
}

/// `GET /readyz`: 200 once at least one feed is live, else 503 saying why.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.hub.any_feed_live() {
        return "ready".into_response();
    }
    let feeds_down = state.hub.feeds_down();
    let reason = format!("no feed is live ({} down)", feeds_down.join(", "));
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(NotReady {
            ready: false,
            reason,
            feeds_down,
        }),
    )
        .into_response()
}
