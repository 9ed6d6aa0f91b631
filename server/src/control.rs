//! The control API (`--control-token`): what an end-to-end test needs to
//! make the market do exactly what it asserts. Off (404) without the token;
//! with it every request needs `Authorization: Bearer <token>`, from any
//! peer. Every answer that changes market data comes once the hub has
//! published the change, so what a test reads next shows it.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/control` | the simulator's state and every feed's |
//! | `POST /api/control/sim/pause`, `…/resume` | stops or restarts the walk |
//! | `POST /api/control/sim/step` `{"ticks":N}` | N steps of the walk now |
//! | `POST /api/control/symbols/{symbol}/price` `{"price":p,"size"?:s}` | a trade at p now |
//! | `POST /api/control/symbols/{symbol}/halt`, `…/resume` | halts trading, or ends the halt |
//! | `POST /api/control/feeds/{name}/fail` `{"error"?:…}`, `…/restore` | an outage, or its end |
//! | `POST /api/control/connections/drop` | cuts every `/ws` session without a close frame |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::protocol::{FeedState, Quote};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::api::json_error;
use crate::feed::Outage;
use crate::feed::sim::{MAX_STEPS, NotRunning, SimRemote};
use crate::guard::Token;
use crate::hub::Hub;
use crate::market::{Event, Synced, Tick, now_ms};
use crate::session::Cutter;
use crate::subscription::Subscription;

/// How long an answer waits for the hub, or for a feed to change state.
const WAIT: Duration = Duration::from_secs(5);
/// A trade's size when the request names none.
const DEFAULT_SIZE: f64 = 100.0;

/// What the control routes act on.
#[derive(Clone)]
pub struct ControlApi {
    pub token: Token,
    pub hub: Hub,
    /// The simulator's remote, when a simulator runs.
    pub sim: Option<SimRemote>,
    /// Each feed's outage switch, by name.
    pub outages: Arc<HashMap<String, Outage>>,
    /// Which feed serves each symbol, by symbol id.
    pub symbol_feeds: Arc<[String]>,
    /// Straight into the hub: trades and halts of feeds other than the simulator.
    pub events: mpsc::Sender<Event>,
    pub cutter: Cutter,
    pub sessions: tokio_util::task::TaskTracker,
}

/// `/api/control/…`.
pub fn router<S: Clone + Send + Sync + 'static>(api: ControlApi) -> Router<S> {
    Router::new()
        .route("/api/control", get(status))
        .route("/api/control/sim/pause", post(pause))
        .route("/api/control/sim/resume", post(resume))
        .route("/api/control/sim/step", post(step))
        .route("/api/control/symbols/{symbol}/price", post(price))
        .route("/api/control/symbols/{symbol}/halt", post(halt))
        .route("/api/control/symbols/{symbol}/resume", post(unhalt))
        .route("/api/control/feeds/{name}/fail", post(fail))
        .route("/api/control/feeds/{name}/restore", post(restore))
        .route("/api/control/connections/drop", post(drop_connections))
        .route_layer(axum::middleware::from_fn_with_state(
            api.token.clone(),
            require_control_token,
        ))
        .with_state(api)
}

/// Refuses requests without the control token.
async fn require_control_token(
    State(token): State<Token>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if crate::guard::bearer(request.headers()).is_some_and(|b| token.matches(b)) {
        return next.run(request).await;
    }
    json_error(
        StatusCode::UNAUTHORIZED,
        "the control API needs its token: Authorization: Bearer <--control-token>",
    )
}

/// The simulator as `GET /api/control` and the `sim` routes show it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SimState {
    pub paused: bool,
    /// Steps the walk has taken since the start.
    pub steps: u64,
}

/// A feed as the control routes show it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct FeedControl {
    pub name: String,
    pub state: FeedState,
    /// Whether the control API holds it down.
    pub failed: bool,
}

/// `GET /api/control`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ControlState {
    /// Absent without a simulated feed.
    pub sim: Option<SimState>,
    pub feeds: Vec<FeedControl>,
}

async fn status(State(api): State<ControlApi>) -> Json<ControlState> {
    let feeds = api.hub.feeds().all();
    Json(ControlState {
        sim: api.sim.as_ref().map(sim_state),
        feeds: feeds
            .into_iter()
            .map(|f| FeedControl {
                failed: api
                    .outages
                    .get(&f.name)
                    .is_some_and(|o| o.borrow().is_some()),
                name: f.name,
                state: f.state,
            })
            .collect(),
    })
}

fn sim_state(sim: &SimRemote) -> SimState {
    SimState {
        paused: sim.paused(),
        steps: sim.steps(),
    }
}

type Answer<T> = Result<Json<T>, Refused>;

/// A refused request: its status and why, answered as `{"error": why}`.
#[derive(Debug)]
pub struct Refused(StatusCode, String);

impl Refused {
    fn new(status: StatusCode, why: impl Into<String>) -> Refused {
        Refused(status, why.into())
    }
}

impl axum::response::IntoResponse for Refused {
    fn into_response(self) -> Response {
        json_error(self.0, self.1)
    }
}

fn the_sim(api: &ControlApi) -> Result<&SimRemote, Refused> {
    api.sim.as_ref().ok_or_else(|| {
        Refused::new(
            StatusCode::NOT_FOUND,
            "no simulated feed here: start with --feed sim",
        )
    })
}

/// The simulator, if it is not held down by a failure.
fn the_running_sim(api: &ControlApi) -> Result<&SimRemote, Refused> {
    let sim = the_sim(api)?;
    match api.outages.get("sim") {
        Some(outage) if outage.borrow().is_some() => Err(not_running(NotRunning)),
        _ => Ok(sim),
    }
}

async fn pause(State(api): State<ControlApi>) -> Answer<SimState> {
    let sim = the_sim(&api)?;
    sim.set_paused(true);
    Ok(Json(sim_state(sim)))
}

async fn resume(State(api): State<ControlApi>) -> Answer<SimState> {
    let sim = the_sim(&api)?;
    sim.set_paused(false);
    Ok(Json(sim_state(sim)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepRequest {
    ticks: Option<u32>,
}

/// `POST /api/control/sim/step`: `{"ticks": N}` (default 1) steps now,
/// answered once the hub has published them.
async fn step(State(api): State<ControlApi>, body: Bytes) -> Answer<SimState> {
    let sim = the_running_sim(&api)?;
    let request: StepRequest = read_body(&body)?;
    let ticks = request.ticks.unwrap_or(1);
    if !(1..=MAX_STEPS).contains(&ticks) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            format!("ticks must be 1 to {MAX_STEPS}, not {ticks}"),
        ));
    }
    sim.step(ticks).await.map_err(not_running)?;
    synced(&api).await?;
    Ok(Json(sim_state(sim)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    price: f64,
    size: Option<f64>,
}

/// `POST /api/control/symbols/{symbol}/price`: a trade at that price now;
/// answers the symbol's quote as published.
async fn price(
    State(api): State<ControlApi>,
    Path(symbol): Path<String>,
    body: Bytes,
) -> Answer<Quote> {
    let id = known(&api, &symbol)?;
    let request: PriceRequest = read_body(&body)?;
    let size = request.size.unwrap_or(DEFAULT_SIZE);
    if !(request.price.is_finite() && request.price > 0.0) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "price must be a positive number",
        ));
    }
    if !(size.is_finite() && size > 0.0) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "size must be a positive number",
        ));
    }
    let by_sim = match simulated(&api, id)? {
        Some(sim) => sim
            .trade(&symbol, request.price, size)
            .await
            .map_err(not_running)?,
        None => false,
    };
    if !by_sim {
        let tick = Tick::trade(symbol.as_str(), request.price, size, now_ms());
        send(&api, Event::Trade(tick)).await?;
    }
    quote_after_sync(&api, id).await
}

async fn halt(State(api): State<ControlApi>, Path(symbol): Path<String>) -> Answer<Quote> {
    set_halted(api, symbol, true).await
}

async fn unhalt(State(api): State<ControlApi>, Path(symbol): Path<String>) -> Answer<Quote> {
    set_halted(api, symbol, false).await
}

/// Halts `symbol` (or ends its halt); the simulator stops (or restarts)
/// trading it too.
async fn set_halted(api: ControlApi, symbol: String, halted: bool) -> Answer<Quote> {
    let id = known(&api, &symbol)?;
    let by_sim = match simulated(&api, id)? {
        Some(sim) => sim.halt(&symbol, halted).await.map_err(not_running)?,
        None => false,
    };
    if !by_sim {
        let (symbol, ts) = (symbol.as_str().into(), now_ms());
        send(&api, Event::Halt { symbol, halted, ts }).await?;
    }
    quote_after_sync(&api, id).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailRequest {
    error: Option<String>,
}

/// `POST /api/control/feeds/{name}/fail`: the feed goes down as an outage
/// would take it (stale, its error the given one) until restored;
/// answered once it is stale.
async fn fail(
    State(api): State<ControlApi>,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer<FeedControl> {
    let outage = outage_of(&api, &name)?;
    let request: FailRequest = read_body(&body)?;
    let error = request
        .error
        .unwrap_or_else(|| "failed by the control API".to_string());
    outage.send_replace(Some(error));
    Ok(Json(feed_when(&api, &name, FeedState::Stale).await))
}

/// `POST /api/control/feeds/{name}/restore`: the feed reconnects;
/// answered once it is live again (or after 5 s, as it is then).
async fn restore(State(api): State<ControlApi>, Path(name): Path<String>) -> Answer<FeedControl> {
    outage_of(&api, &name)?.send_replace(None);
    Ok(Json(feed_when(&api, &name, FeedState::Live).await))
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Dropped {
    /// Sessions open when they were cut.
    pub dropped: usize,
}

/// `POST /api/control/connections/drop`.
async fn drop_connections(State(api): State<ControlApi>) -> Json<Dropped> {
    let dropped = api.sessions.len();
    api.cutter.cut();
    tracing::info!(dropped, "every WebSocket session cut by the control API");
    Json(Dropped { dropped })
}

/// An empty body, or JSON of `T`.
fn read_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Refused> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| Refused::new(StatusCode::BAD_REQUEST, format!("unreadable body: {e}")))
}

impl Default for PriceRequest {
    /// No price: refused as not positive.
    fn default() -> PriceRequest {
        PriceRequest {
            price: f64::NAN,
            size: None,
        }
    }
}

fn known(api: &ControlApi, symbol: &str) -> Result<usize, Refused> {
    api.hub
        .lookup(symbol)
        .ok_or_else(|| Refused::new(StatusCode::NOT_FOUND, format!("unknown symbol {symbol:?}")))
}

/// The simulator, if it serves symbol `id` (refused if it is down).
fn simulated(api: &ControlApi, id: usize) -> Result<Option<&SimRemote>, Refused> {
    match api.symbol_feeds.get(id) {
        Some(feed) if feed == "sim" && api.sim.is_some() => the_running_sim(api).map(Some),
        _ => Ok(None),
    }
}

fn outage_of<'a>(api: &'a ControlApi, name: &str) -> Result<&'a Outage, Refused> {
    api.outages.get(name).ok_or_else(|| {
        let mut names: Vec<&str> = api.outages.keys().map(String::as_str).collect();
        names.sort_unstable();
        Refused::new(
            StatusCode::NOT_FOUND,
            format!("no feed {name:?} (feeds: {})", names.join(", ")),
        )
    })
}

fn not_running(e: NotRunning) -> Refused {
    Refused::new(StatusCode::CONFLICT, format!("{e}: restore its feed first"))
}

async fn send(api: &ControlApi, event: Event) -> Result<(), Refused> {
    api.events.send(event).await.map_err(|_| {
        Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
    })
}

/// Waits until the hub has published every event sent before.
async fn synced(api: &ControlApi) -> Result<(), Refused> {
    let (point, passed) = Synced::new();
    send(api, Event::Sync(point)).await?;
    match tokio::time::timeout(WAIT, passed).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the hub did not publish in time",
        )),
    }
}

async fn quote_after_sync(api: &ControlApi, id: usize) -> Answer<Quote> {
    synced(api).await?;
    let mut sub = Subscription::default();
    sub.insert(id);
    let (_, quotes) = api.hub.published().snapshot(&sub);
    quotes.into_iter().next().map(Json).ok_or_else(|| {
        Refused::new(
            StatusCode::CONFLICT,
            "the symbol has no quote yet (its feed has not traded it)",
        )
    })
}

/// Feed `name` once it is in `state`, or as it is after [`WAIT`].
async fn feed_when(api: &ControlApi, name: &str, state: FeedState) -> FeedControl {
    let mut board = api.hub.feeds().watch();
    let reached = |all: &Vec<crate::market::FeedStatus>| {
        all.iter().any(|f| f.name == name && f.state == state)
    };
    let _ = tokio::time::timeout(WAIT, board.wait_for(reached)).await;
    let failed = api.outages.get(name).is_some_and(|o| o.borrow().is_some());
    let now = board
        .borrow()
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.state);
    FeedControl {
        name: name.to_string(),
        state: now.unwrap_or(FeedState::Stale),
        failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_is_the_defaults_and_a_bad_one_is_named() {
        let step: StepRequest = read_body(b"").unwrap();
        assert_eq!(step.ticks, None);
        let step: StepRequest = read_body(br#"{"ticks": 3}"#).unwrap();
        assert_eq!(step.ticks, Some(3));
        assert!(read_body::<StepRequest>(br#"{"tick": 3}"#).is_err());
        assert!(read_body::<StepRequest>(b"[").is_err());
        let price: PriceRequest = read_body(b"  ").unwrap();
        assert!(price.price.is_nan(), "no price is refused as not positive");
    }
}
