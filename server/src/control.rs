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

use app::protocol::ApiError;
use app::protocol::{FeedState, MarketSession, Quote};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::feed::Outage;
use crate::feed::sim::{MAX_STEPS, NotRunning, SimRemote};
use crate::guard::Token;
use crate::hub::Hub;
use crate::market::{Event, PushInlet, Pushed, Synced, Tick, now_ms};
use crate::session::Cutter;
use crate::subscription::Subscription;
use crate::wire::json_error;

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
    /// Push feeds' inlets, by name: a price for their symbols goes in as a push.
    pub inlets: Arc<HashMap<String, PushInlet>>,
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
        .with_state(api)
}

/// A request that presented the control token: every handler takes one.
pub struct Authorized;

impl axum::extract::FromRequestParts<ControlApi> for Authorized {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        api: &ControlApi,
    ) -> Result<Authorized, Refused> {
        match crate::guard::bearer(&parts.headers) {
            Some(presented) if api.token.matches(presented) => Ok(Authorized),
            _ => Err(Refused::new(
                StatusCode::UNAUTHORIZED,
                "the control API needs its token: Authorization: Bearer <--control-token>",
            )),
        }
    }
}

/// The simulator as `GET /api/control` and the `sim` routes show it.
#[derive(Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SimState {
    pub paused: bool,
    /// Steps the walk has taken since the start.
    pub steps: u64,
}

/// A feed as the control routes show it.
#[derive(Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FeedControl {
    pub name: String,
    pub state: FeedState,
    /// Whether the control API holds it down.
    pub failed: bool,
}

/// `GET /api/control`.
#[derive(Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ControlState {
    /// Absent without a simulated feed.
    pub sim: Option<SimState>,
    pub feeds: Vec<FeedControl>,
}

#[utoipa::path(
    get,
    path = "/api/control",
    tag = "control",
    description = "The simulator's state and every feed's.",
    security(("control_token" = [])),
    responses(
        (status = 200, description = "The state", body = ControlState),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn status(_: Authorized, State(api): State<ControlApi>) -> Json<ControlState> {
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

#[utoipa::path(
    post,
    path = "/api/control/sim/pause",
    tag = "control",
    description = "Stops the simulator's walk: it takes steps only when asked.",
    security(("control_token" = [])),
    responses(
        (status = 200, description = "Paused", body = SimState),
        (status = 404, description = "No simulated feed (`--feed sim`)", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn pause(_: Authorized, State(api): State<ControlApi>) -> Answer<SimState> {
    let sim = the_sim(&api)?;
    sim.set_paused(true);
    Ok(Json(sim_state(sim)))
}

#[utoipa::path(
    post,
    path = "/api/control/sim/resume",
    tag = "control",
    description = "Lets the simulator walk on its own again.",
    security(("control_token" = [])),
    responses(
        (status = 200, description = "Walking", body = SimState),
        (status = 404, description = "No simulated feed (`--feed sim`)", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn resume(_: Authorized, State(api): State<ControlApi>) -> Answer<SimState> {
    let sim = the_sim(&api)?;
    sim.set_paused(false);
    Ok(Json(sim_state(sim)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StepRequest {
    ticks: Option<u32>,
}

/// `POST /api/control/sim/step`: `{"ticks": N}` (default 1) steps now,
/// answered once the hub has published them.
#[utoipa::path(
    post,
    path = "/api/control/sim/step",
    tag = "control",
    description = "Takes `ticks` steps of the walk now (default 1, at most 10,000), answered once the hub has published them. With `--seed` and `--sim-paused`, the same steps give the same prices.",
    request_body(content = StepRequest, description = "Empty, or the number of steps"),
    security(("control_token" = [])),
    responses(
        (status = 200, description = "Stepped and published", body = SimState),
        (status = 400, description = "An unreadable body, or ticks outside 1 to 10,000", body = ApiError),
        (status = 404, description = "No simulated feed (`--feed sim`)", body = ApiError),
        (status = 409, description = "The simulator is down (failed by this API): restore it first", body = ApiError),
        (status = 503, description = "The hub did not publish in time, or the server is shutting down", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn step(_: Authorized, State(api): State<ControlApi>, body: Bytes) -> Answer<SimState> {
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    price: f64,
    size: Option<f64>,
}

/// `POST /api/control/symbols/{symbol}/price`: a trade at that price now;
/// answers the symbol's quote as published.
#[utoipa::path(
    post,
    path = "/api/control/symbols/{symbol}/price",
    tag = "control",
    description = "A trade at `price` (of `size`, default 100) in `symbol` now, through its feed where it can take it: the simulator walks on from that price; a push feed takes it as a push (it counts as the feed's activity). Answers the quote as published.",
    params(("symbol" = String, Path, description = "A symbol the server serves", example = "AAPL")),
    request_body(content = PriceRequest),
    security(("control_token" = [])),
    responses(
        (status = 200, description = "The symbol's quote with the trade", body = Quote),
        (status = 400, description = "An unreadable body, or a price or size that is not a positive number", body = ApiError),
        (status = 404, description = "Unknown symbol", body = ApiError),
        (status = 409, description = "The symbol is halted, its feed is failed, or it has no quote yet", body = ApiError),
        (status = 503, description = "The hub did not publish in time, or the server is shutting down", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn price(
    _: Authorized,
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
    if published(&api, id).is_some_and(|q| q.session == MarketSession::Halted) {
        return Err(Refused::new(
            StatusCode::CONFLICT,
            format!("{symbol} is halted: nothing trades until it is resumed"),
        ));
    }
    let route = route_of(&api, id)?;
    let tick = Tick::trade(symbol.as_str(), request.price, size, now_ms());
    match route {
        Route::Sim(sim) => {
            sim.trade(&symbol, request.price, size)
                .await
                .map_err(not_running)?;
        }
        // Through the push feed, as a push: it counts as the feed's activity.
        Route::Push(inlet) => {
            let (point, passed) = Synced::new();
            let pushed = Pushed {
                ticks: vec![tick],
                then: Some(point),
            };
            inlet.tx.send(pushed).await.map_err(|_| shutting_down())?;
            return match tokio::time::timeout(WAIT, passed).await {
                Ok(Ok(())) => quote_of(&api, id),
                _ => Err(not_published()),
            };
        }
        Route::Hub => send(&api, Event::Trade(tick)).await?,
    }
    quote_after_sync(&api, id).await
}

#[utoipa::path(
    post,
    path = "/api/control/symbols/{symbol}/halt",
    tag = "control",
    description = "Halts trading in `symbol` (its session becomes `halted`; the simulator stops trading it) until resumed. Answers the quote as published.",
    params(("symbol" = String, Path, description = "A symbol the server serves", example = "AAPL")),
    security(("control_token" = [])),
    responses(
        (status = 200, description = "The halted quote", body = Quote),
        (status = 404, description = "Unknown symbol", body = ApiError),
        (status = 409, description = "The symbol's feed is failed, or the symbol has no quote yet", body = ApiError),
        (status = 503, description = "The hub did not publish in time, or the server is shutting down", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn halt(
    _: Authorized,
    State(api): State<ControlApi>,
    Path(symbol): Path<String>,
) -> Answer<Quote> {
    set_halted(api, symbol, true).await
}

#[utoipa::path(
    post,
    path = "/api/control/symbols/{symbol}/resume",
    tag = "control",
    description = "Ends a halt: the session is its calendar's again. Answers the quote as published.",
    params(("symbol" = String, Path, description = "A symbol the server serves", example = "AAPL")),
    security(("control_token" = [])),
    responses(
        (status = 200, description = "The quote", body = Quote),
        (status = 404, description = "Unknown symbol", body = ApiError),
        (status = 409, description = "The symbol's feed is failed, or the symbol has no quote yet", body = ApiError),
        (status = 503, description = "The hub did not publish in time, or the server is shutting down", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn unhalt(
    _: Authorized,
    State(api): State<ControlApi>,
    Path(symbol): Path<String>,
) -> Answer<Quote> {
    set_halted(api, symbol, false).await
}

/// Halts `symbol` (or ends its halt); the simulator stops (or restarts)
/// trading it too.
async fn set_halted(api: ControlApi, symbol: String, halted: bool) -> Answer<Quote> {
    let id = known(&api, &symbol)?;
    if let Route::Sim(sim) = route_of(&api, id)? {
        sim.halt(&symbol, halted).await.map_err(not_running)?;
    } else {
        let (symbol, ts) = (symbol.as_str().into(), now_ms());
        send(&api, Event::Halt { symbol, halted, ts }).await?;
    }
    quote_after_sync(&api, id).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FailRequest {
    error: Option<String>,
}

/// `POST /api/control/feeds/{name}/fail`: the feed goes down as an outage
/// would take it (stale, its error the given one) until restored;
/// answered once it is stale.
#[utoipa::path(
    post,
    path = "/api/control/feeds/{name}/fail",
    tag = "control",
    description = "Takes the feed down as an outage would: `stale` with `error` (default \"failed by the control API\") as its reason in `/readyz`, its order books lost, until restored. Answered once it is stale.",
    params(("name" = String, Path, description = "A feed's name as `status` messages give it", example = "sim")),
    request_body(content = FailRequest, description = "Empty, or the error to report"),
    security(("control_token" = [])),
    responses(
        (status = 200, description = "The feed, down", body = FeedControl),
        (status = 400, description = "An unreadable body", body = ApiError),
        (status = 404, description = "No feed of that name", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn fail(
    _: Authorized,
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
#[utoipa::path(
    post,
    path = "/api/control/feeds/{name}/restore",
    tag = "control",
    description = "Ends an outage: the feed reconnects. Answered once it is live again, or after 5 s as it is then.",
    params(("name" = String, Path, description = "A feed's name as `status` messages give it", example = "sim")),
    security(("control_token" = [])),
    responses(
        (status = 200, description = "The feed", body = FeedControl),
        (status = 404, description = "No feed of that name", body = ApiError),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn restore(
    _: Authorized,
    State(api): State<ControlApi>,
    Path(name): Path<String>,
) -> Answer<FeedControl> {
    outage_of(&api, &name)?.send_replace(None);
    Ok(Json(feed_when(&api, &name, FeedState::Live).await))
}

#[derive(Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Dropped {
    /// Sessions open when they were cut.
    pub dropped: usize,
}

/// `POST /api/control/connections/drop`.
#[utoipa::path(
    post,
    path = "/api/control/connections/drop",
    tag = "control",
    description = "Cuts every `/ws` session at once without a close frame, as a network failure would: clients reconnect. Later sessions are not cut.",
    security(("control_token" = [])),
    responses(
        (status = 200, description = "How many were cut", body = Dropped),
        (status = 401, description = "No or a wrong `--control-token`", body = ApiError),
    ),
)]
pub async fn drop_connections(_: Authorized, State(api): State<ControlApi>) -> Json<Dropped> {
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

/// How a trade or halt in a symbol gets to the hub: through its feed
/// where the feed can take it (so the walk, or the push feed's activity,
/// agrees), else straight in.
enum Route<'a> {
    Sim(&'a SimRemote),
    Push(&'a PushInlet),
    Hub,
}

/// The route to symbol `id`'s feed; refused while the feed is failed.
fn route_of(api: &ControlApi, id: usize) -> Result<Route<'_>, Refused> {
    let Some(feed) = api.symbol_feeds.get(id) else {
        return Ok(Route::Hub);
    };
    if let Some(reason) = api.outages.get(feed).and_then(|o| o.borrow().clone()) {
        return Err(Refused::new(
            StatusCode::CONFLICT,
            format!("feed {feed:?} is failed ({reason}): restore it first"),
        ));
    }
    Ok(match (&api.sim, api.inlets.get(feed)) {
        (Some(sim), _) if feed == "sim" => Route::Sim(sim),
        (_, Some(inlet)) => Route::Push(inlet),
        _ => Route::Hub,
    })
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
    api.events.send(event).await.map_err(|_| shutting_down())
}

fn shutting_down() -> Refused {
    Refused::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down",
    )
}

fn not_published() -> Refused {
    Refused::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the hub did not publish in time",
    )
}

/// Waits until the hub has published every event sent before.
async fn synced(api: &ControlApi) -> Result<(), Refused> {
    let (point, passed) = Synced::new();
    send(api, Event::Sync(point)).await?;
    match tokio::time::timeout(WAIT, passed).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(not_published()),
    }
}

async fn quote_after_sync(api: &ControlApi, id: usize) -> Answer<Quote> {
    synced(api).await?;
    quote_of(api, id)
}

/// Symbol `id`'s quote as published.
fn published(api: &ControlApi, id: usize) -> Option<Quote> {
    let mut sub = Subscription::default();
    sub.insert(id);
    let (_, quotes) = api.hub.published().snapshot(&sub);
    quotes.into_iter().next()
}

fn quote_of(api: &ControlApi, id: usize) -> Answer<Quote> {
    published(api, id).map(Json).ok_or_else(|| {
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
