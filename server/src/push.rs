//! The routes push feeds take trades on: `POST /api/feeds/{name}/ticks`
//! (a JSON array of trades, or one JSON object per line), and for a
//! streaming source the WebSocket `/api/feeds/{name}/ws`, whose text
//! frames are the same (a frame that is not is answered with
//! `{"error":…}` and the socket stays open). With
//! `--push-token` it needs that token (`Authorization: Bearer …`), apart
//! from the viewers' `--auth-token`; without one, only peers on this
//! machine (loopback) may push, and behind a proxy (`--trust-proxy`, where
//! every peer looks local) nobody may.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use app::protocol::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::api::json_error;
use crate::feed::ClockBounds;
use crate::feed::push::{MAX_TICKS, Refused, push, read};
use crate::guard::Token;
use crate::market::now_ms;
use crate::market::{PushInlet, Pushed};

/// The largest body a push may have.
pub const MAX_BODY: usize = 1 << 20;

/// What the push route needs.
#[derive(Clone, Default)]
pub struct PushApi {
    /// Each push feed's inlet, by feed name.
    pub inlets: Arc<HashMap<String, PushInlet>>,
    /// Each feed's outage (the control API's): a failed feed takes nothing.
    pub outages: Arc<HashMap<String, tokio::sync::watch::Receiver<Option<String>>>>,
    pub token: Option<Token>,
    pub trust_proxy: bool,
    pub bounds: ClockBounds,
    /// Fires at shutdown: streaming pushers are closed (1001).
    pub shutdown: CancellationToken,
}

pub fn router<S: Clone + Send + Sync + 'static>(api: PushApi) -> Router<S> {
    Router::new()
        .route("/api/feeds/{name}/ticks", post(ticks))
        .route("/api/feeds/{name}/ws", get(stream))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// One pushed trade (what `feed::push` reads; fields other than these are refused).
#[derive(ToSchema)]
#[allow(dead_code)] // a schema: the route parses the body itself
struct PushedTrade {
    symbol: String,
    /// Above 0.
    price: f64,
    /// Default 0.
    size: Option<f64>,
    bid: Option<f64>,
    ask: Option<f64>,
    /// Unix ms, within the server's clock bounds; default the arrival time.
    ts: Option<i64>,
}

/// A push taken: how many trades.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub accepted: usize,
}

/// `POST /api/feeds/{name}/ticks`: a push feed's trades, all or none.
#[utoipa::path(
    post,
    path = "/api/feeds/{name}/ticks",
    tag = "push",
    description = "Trades for the push feed `name` (`--feed push:<name>`): a JSON array of trades or one JSON trade per line (NDJSON), taken all or none. Not behind `--auth-token`.",
    params(("name" = String, Path, description = "The push feed's name", example = "desk")),
    request_body(
        description = "A JSON array of trades, or one trade object per line",
        content(
            (Vec<PushedTrade> = "application/json"),
            (String = "application/x-ndjson"),
        ),
    ),
    security(("push_token" = []), ()),
    responses(
        (status = 202, description = "Every trade was taken", body = Accepted),
        (status = 400, description = "The first bad line (an unknown symbol or field, a price that is not positive, a `ts` outside the clock bounds); nothing was taken", body = ApiError),
        (status = 401, description = "No or a wrong `--push-token`", body = ApiError),
        (status = 403, description = "No `--push-token` configured, and the peer is another machine (or the server trusts a proxy)", body = ApiError),
        (status = 404, description = "No push feed of that name", body = ApiError),
        (status = 413, description = "A body over 1 MiB, or over 10,000 trades", body = ApiError),
        (status = 429, description = "The server is behind with this feed's trades", body = ApiError,
            headers(("Retry-After" = u32, description = "Seconds to wait: 1"))),
        (status = 503, description = "The feed is failed by the control API, or the server is shutting down", body = ApiError),
    ),
)]
pub async fn ticks(
    State(api): State<PushApi>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let inlet = match inlet(&api, &name, peer, &headers) {
        Ok(inlet) => inlet,
        Err((status, why)) => return json_error(status, why),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let why = format!("body: at most {MAX_BODY} bytes");
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, why);
        }
        Err(rejection) => return json_error(rejection.status(), rejection.body_text()),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    match push(inlet, text, now_ms(), api.bounds) {
        Ok(accepted) => (StatusCode::ACCEPTED, axum::Json(Accepted { accepted })).into_response(),
        Err(Refused::Bad(why)) => json_error(
            StatusCode::BAD_REQUEST,
            format!("{why}; nothing was accepted"),
        ),
        Err(Refused::TooMany(n)) => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{n} trades; at most {MAX_TICKS} a request"),
        ),
        Err(Refused::Busy) => {
            let mut response = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "the server is behind with this feed's trades; retry shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            response
        }
        Err(Refused::Gone) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ),
    }
}

/// The push feed `name`, if this peer may push to it.
fn inlet<'a>(
    api: &'a PushApi,
    name: &str,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Result<&'a PushInlet, (StatusCode, String)> {
    admit(api, peer.map(|c| c.0.0), headers).map_err(|(status, why)| (status, why.to_string()))?;
    if let Some(why) = down(api, name) {
        return Err((StatusCode::SERVICE_UNAVAILABLE, why));
    }
    api.inlets.get(name).ok_or_else(|| {
        let names: Vec<&str> = api.inlets.keys().map(String::as_str).collect();
        let known = if names.is_empty() {
            "none: start with --feed push:<name>".to_string()
        } else {
            names.join(", ")
        };
        (
            StatusCode::NOT_FOUND,
            format!("no push feed {name:?} (push feeds: {known})"),
        )
    })
}

/// Why feed `name` takes nothing now: failed by the control API.
fn down(api: &PushApi, name: &str) -> Option<String> {
    let reason = api.outages.get(name)?.borrow().clone()?;
    Some(format!(
        "feed {name:?} is failed ({reason}): nothing is taken until it is restored"
    ))
}

/// `GET /api/feeds/{name}/ws`: a streaming pusher.
#[utoipa::path(
    get,
    path = "/api/feeds/{name}/ws",
    tag = "push",
    description = "A WebSocket for a streaming pusher: its text frames are what the POST takes (an object, an array or lines). A frame with a bad line is answered `{\"error\":…}` and the socket stays open; frames wait while the server is behind; shutdown closes it with 1001. Same token and peer rules as the POST.",
    params(("name" = String, Path, description = "The push feed's name", example = "desk")),
    security(("push_token" = []), ()),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open"),
        (status = 400, description = "Not a WebSocket upgrade request", body = String, content_type = "text/plain"),
        (status = 401, description = "No or a wrong `--push-token`", body = ApiError),
        (status = 403, description = "No `--push-token` configured, and the peer is another machine (or the server trusts a proxy)", body = ApiError),
        (status = 404, description = "No push feed of that name", body = ApiError),
        (status = 503, description = "The feed is failed by the control API", body = ApiError),
    ),
)]
pub async fn stream(
    State(api): State<PushApi>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let inlet = match inlet(&api, &name, peer, &headers) {
        Ok(inlet) => inlet.clone(),
        Err((status, why)) => return json_error(status, why),
    };
    upgrade
        .max_message_size(MAX_BODY)
        .on_upgrade(move |socket| pushing(socket, inlet, api))
}

/// Takes one pusher's frames until it leaves or the server stops; a frame
/// waits while the hub is behind (the pusher feels it as backpressure).
async fn pushing(mut socket: WebSocket, inlet: PushInlet, api: PushApi) {
    loop {
        let frame = tokio::select! {
            _ = api.shutdown.cancelled() => {
                let close = axum::extract::ws::CloseFrame {
                    code: 1001,
                    reason: "server shutting down".into(),
                };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
            frame = socket.recv() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                let error = json!({ "error": "send trades as text frames of JSON" });
                if socket.send(Message::text(error.to_string())).await.is_err() {
                    return;
                }
                continue;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
        };
        let ticks = match read(&inlet, text.as_str(), now_ms(), api.bounds) {
            Ok(ticks) => ticks,
            Err(refused) => {
                let why = match refused {
                    Refused::Bad(why) => format!("{why}; nothing of this frame was accepted"),
                    Refused::TooMany(n) => format!("{n} trades; at most {MAX_TICKS} a frame"),
                    Refused::Busy | Refused::Gone => "the server cannot take it".into(),
                };
                let error = json!({ "error": why });
                if socket.send(Message::text(error.to_string())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if let Some(why) = down(&api, &inlet.name) {
            let error = json!({ "error": why });
            if socket.send(Message::text(error.to_string())).await.is_err() {
                return;
            }
            continue;
        }
        if !ticks.is_empty() && inlet.tx.send(Pushed::trades(ticks)).await.is_err() {
            return;
        }
    }
}

/// Whether this peer may push: the push token, or a loopback peer without one.
fn admit(
    api: &PushApi,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, &'static str)> {
    match &api.token {
        Some(token) => {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            if bearer.is_some_and(|b| token.matches(b)) {
                Ok(())
            } else {
                Err((
                    StatusCode::UNAUTHORIZED,
                    "pushing needs the push token: Authorization: Bearer <--push-token>",
                ))
            }
        }
        None if api.trust_proxy => Err((
            StatusCode::FORBIDDEN,
            "behind a proxy every peer looks local: set --push-token to push",
        )),
        None if peer.is_some_and(|p| p.ip().is_loopback()) => Ok(()),
        None => Err((
            StatusCode::FORBIDDEN,
            "without --push-token only this machine may push",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(token: Option<&str>, trust_proxy: bool) -> PushApi {
        PushApi {
            token: token.map(Token::new),
            trust_proxy,
            ..PushApi::default()
        }
    }

    fn status(result: Result<(), (StatusCode, &str)>) -> StatusCode {
        result.map_or_else(|(s, _)| s, |()| StatusCode::OK)
    }

    #[test]
    fn without_a_token_only_this_machine_may_push_and_never_behind_a_proxy() {
        let (local, remote) = ("127.0.0.1:5000".parse().ok(), "192.0.2.7:5000".parse().ok());
        let none = HeaderMap::new();
        assert_eq!(
            status(admit(&api(None, false), local, &none)),
            StatusCode::OK
        );
        assert_eq!(
            status(admit(&api(None, false), remote, &none)),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(admit(&api(None, false), None, &none)),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(admit(&api(None, true), local, &none)),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn with_a_token_anyone_presenting_it_may_push() {
        let mut good = HeaderMap::new();
        good.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        let mut bad = HeaderMap::new();
        bad.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        let remote = "192.0.2.7:5000".parse().ok();
        let api = api(Some("s3cret"), true);
        assert_eq!(status(admit(&api, remote, &good)), StatusCode::OK);
        assert_eq!(status(admit(&api, remote, &bad)), StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(admit(&api, remote, &HeaderMap::new())),
            StatusCode::UNAUTHORIZED
        );
    }
}
