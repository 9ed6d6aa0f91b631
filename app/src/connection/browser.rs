//! The connection's browser side: the WebSocket, timers, listeners and
//! fetches that report [`Event`]s to the [`ConnectionCore`], and the
//! store, link and chart writes that carry out its [`Action`]s. It decides
//! nothing itself.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::Link;
use super::core::{Action, ConnectionCore, Event, Start};
use crate::alerts::Alerts;
use crate::chart_feed::{ChartFeeds, Series};
use crate::depth::MarketDepth;
use crate::protocol::{QuotesResponse, SUBPROTOCOL_BIN, SUBPROTOCOL_JSON};
use crate::selection::Selection;
use crate::store::QuoteStore;

const CLOCK_EVERY: Duration = Duration::from_millis(500);
const PING_EVERY: Duration = Duration::from_secs(5);
const POLL_EVERY: Duration = Duration::from_secs(2);
/// The close code a close event without one stands for ("no status").
const NO_STATUS: u16 = 1005;
/// A window this narrow is phone-sized (the layout's narrowest breakpoint).
const PHONE_SIZED: &str = "(max-width: 600px)";

type SocketHandler = Closure<dyn FnMut(JsValue)>;

/// The core and everything its actions touch.
struct Shell {
    core: RefCell<ConnectionCore>,
    ws: RefCell<Option<WebSocket>>,
    /// The current socket's callbacks. Kept after the socket is closed (a
    /// close is carried out from inside its own `onclose`) and replaced
    /// when the next one opens (never from a socket callback).
    handlers: RefCell<Vec<SocketHandler>>,
    poll: RefCell<Option<IntervalHandle>>,
    store: QuoteStore,
    link: Link,
    charts: ChartFeeds,
    depth: MarketDepth,
    alerts: Alerts,
    counters: Counters,
}

type Shared = Rc<Shell>;

/// Opens the page's connection and keeps it open for the page's lifetime.
pub fn start(
    store: QuoteStore,
    link: Link,
    selection: Selection,
    charts: ChartFeeds,
    depth: MarketDepth,
    alerts: Alerts,
) {
    link.tz_offset_min
        .set(-js_sys::Date::new_0().get_timezone_offset() as i32);
    let start = Start {
        hidden: document().hidden(),
        narrow: narrow(),
        online: window().navigator().on_line(),
        watching: link.watching.get_untracked(),
    };
    let shell = Rc::new(Shell {
        core: RefCell::new(ConnectionCore::new(start, Box::new(js_sys::Math::random))),
        ws: RefCell::new(None),
        handlers: RefCell::new(Vec::new()),
        poll: RefCell::new(None),
        store,
        link,
        charts,
        depth,
        alerts,
        counters: Counters::new(),
    });
    dispatch(&shell, Event::Start);
    follow_selection(&shell, selection);
    follow_watching(&shell);
    every(&shell, CLOCK_EVERY, || Event::Clock);
    every(&shell, PING_EVERY, || Event::PingDue);
    listen(&shell, &window(), "online", || Event::Online);
    listen(&shell, &window(), "offline", || Event::Offline);
    listen(&shell, &document(), "visibilitychange", || {
        Event::Visibility {
            hidden: document().hidden(),
        }
    });
    if let Some(phone) = phone_sized() {
        listen(&shell, &phone, "change", || Event::Narrow(narrow()));
    }
}

/// The media query of a phone-sized window.
fn phone_sized() -> Option<web_sys::MediaQueryList> {
    window().match_media(PHONE_SIZED).ok().flatten()
}

/// Whether the window is phone-sized now.
fn narrow() -> bool {
    phone_sized().is_some_and(|q| q.matches())
}

/// Hands `event` to the core and carries out what it says (and what that
/// reports in turn), in order.
fn dispatch(shell: &Shared, event: Event) {
    let mut events = VecDeque::from([event]);
    while let Some(event) = events.pop_front() {
        let now = js_sys::Date::now();
        let actions = shell.core.borrow_mut().handle(event, now);
        for action in actions {
            events.extend(perform(shell, action, now));
        }
    }
}

/// Carries out `action`; an event it causes in turn is returned.
fn perform(shell: &Shared, action: Action, now: f64) -> Option<Event> {
    match action {
        Action::Open => return open(shell).err(),
        Action::Close => shell.close(),
        Action::Send(msg) => shell.send(&serde_json::to_string(&msg).ok()?),
        Action::StartPolling => {
            *shell.poll.borrow_mut() = every(shell, POLL_EVERY, || Event::PollDue)
        }
        Action::StopPolling => {
            if let Some(handle) = shell.poll.take() {
                handle.clear();
            }
        }
        Action::Poll { url, watching } => poll(shell, url, watching),
        Action::ReconnectAfter { ms, ticket } => after(shell, ms, Event::ReconnectDue(ticket)),
        Action::LoadAlerts => crate::alerts::browser::load(shell.alerts),
        Action::Alert(news) => {
            if let Some(toast) = shell.alerts.apply(news) {
                let offset = shell.link.tz_offset_min.get_untracked();
                crate::alerts::browser::announce(shell.alerts, toast, offset);
            }
        }
        Action::Log(line) => leptos::logging::log!("{line}"),
        Action::Warn(line) => leptos::logging::warn!("{line}"),
        shown => shell.show(shown, now),
    }
    None
}

impl Shell {
    /// The actions that change what the page shows: the store, the link,
    /// the chart (the others are [`perform`]'s).
    fn show(&self, action: Action, now: f64) {
        match action {
            Action::ReplaceQuotes(quotes) => {
                self.store.apply_snapshot(&quotes, now);
                self.counters.add(0, quotes.len());
            }
            Action::MergeQuotes(quotes) => {
                self.store.merge_quotes(&quotes, now);
                self.counters.add(0, quotes.len());
            }
            Action::ApplyChanges { ts, changes } => {
                self.store.apply_diff(ts, &changes, now);
                self.counters.add(1, changes.len());
            }
            Action::Tick => self.tick(now),
            Action::TickTitle => self.link.now_ms.set(now),
            Action::Link(state) => self.link.state.set(state),
            Action::Latency(ms) => self.link.latency_ms.set(Some(ms)),
            Action::Feed { name, state } => self.link.set_feed(name, state),
            Action::Polling(polling) => self.link.polling.set(polling),
            Action::ChartHistory {
                chart,
                series,
                candles,
            } => {
                self.charts
                    .with(chart, |feed| feed.history(series, candles));
            }
            Action::ChartCandle { chart, candle } => {
                self.charts.with(chart, |feed| feed.candle(&candle));
            }
            Action::Trades {
                symbol,
                trades,
                replace,
            } => self.depth.trades(&symbol, &trades, replace),
            Action::Book(book) => self.depth.book(
                &book.symbol,
                book.snapshot,
                book.live,
                &book.bids,
                &book.asks,
                book.ts,
            ),
            _ => {}
        }
    }

    fn send(&self, text: &str) {
        if let Some(ws) = self.ws.borrow().as_ref()
            && ws.ready_state() == WebSocket::OPEN
        {
            let _ = ws.send_with_str(text);
        }
    }

    fn close(&self) {
        if let Some(ws) = self.ws.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
    }

    /// The page clock's work (see [`Action::Tick`]).
    fn tick(&self, now: f64) {
        self.link.now_ms.set(now);
        self.store.fade_flashes(now);
        self.store.roll_sparks();
    }
}

/// Opens a socket whose events go to the core; on failure, the event that
/// says so.
fn open(shell: &Shared) -> Result<(), Event> {
    // Binary frames by default; a server without them answers in JSON.
    let protocols = js_sys::Array::of2(&SUBPROTOCOL_BIN.into(), &SUBPROTOCOL_JSON.into());
    let ws = WebSocket::new_with_str_sequence(&ws_url(), &protocols)
        .map_err(|e| Event::OpenFailed(format!("{e:?}")))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let on_open = on_socket(shell, |_| Some(Event::Opened));
    let on_message = on_socket(shell, |event| {
        let data = event.dyn_ref::<MessageEvent>()?.data();
        match data.as_string() {
            Some(text) => Some(Event::Message(text)),
            None => Some(Event::Frame(js_sys::Uint8Array::new(&data).to_vec())),
        }
    });
    let on_close = on_socket(shell, |event| {
        let close = event.dyn_ref::<CloseEvent>();
        Some(Event::Closed {
            code: close.map_or(NO_STATUS, CloseEvent::code),
            reason: close.map(CloseEvent::reason).unwrap_or_default(),
        })
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    *shell.handlers.borrow_mut() = vec![on_open, on_message, on_close];
    *shell.ws.borrow_mut() = Some(ws);
    Ok(())
}

/// A socket callback that reports what `read` makes of the browser's event.
fn on_socket(shell: &Shared, read: impl Fn(&JsValue) -> Option<Event> + 'static) -> SocketHandler {
    let shell = shell.clone();
    Closure::new(move |event: JsValue| {
        if let Some(event) = read(&event) {
            dispatch(&shell, event);
        }
    })
}

fn ws_url() -> String {
    let location = window().location();
    let scheme = if location.protocol().as_deref() == Ok("https:") {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}/ws", location.host().unwrap_or_default())
}

/// Fetches `url` and reports the quotes (a failed poll reports nothing:
/// the next one tries again).
fn poll(shell: &Shared, url: String, watching: Option<Vec<String>>) {
    let shell = shell.clone();
    leptos::task::spawn_local(async move {
        if let Some(answer) = fetch_quotes(&url).await {
            let quotes = answer.quotes;
            dispatch(&shell, Event::Polled { watching, quotes });
        }
    });
}

async fn fetch_quotes(url: &str) -> Option<QuotesResponse> {
    serde_json::from_str(&crate::fetch::text(url).await?).ok()
}

/// Reports `event` after `ms`.
fn after(shell: &Shared, ms: f64, event: Event) {
    let shell = shell.clone();
    set_timeout(
        move || dispatch(&shell, event),
        Duration::from_millis(ms as u64),
    );
}

/// Reports `event()` every `period`, until the handle is cleared.
fn every(shell: &Shared, period: Duration, event: fn() -> Event) -> Option<IntervalHandle> {
    let shell = shell.clone();
    set_interval_with_handle(move || dispatch(&shell, event()), period).ok()
}

/// Reports `event()` whenever `target` fires `name`, for the page's lifetime.
fn listen(shell: &Shared, target: &web_sys::EventTarget, name: &str, event: fn() -> Event) {
    let shell = shell.clone();
    let callback = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| dispatch(&shell, event()));
    let _ = target.add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
    callback.forget();
}

/// Tells the core which series each of the page's charts shows, and
/// whether the tape and book are open.
fn follow_selection(shell: &Shared, selection: Selection) {
    let main = shell.clone();
    Effect::new(move |_| {
        let (symbol, interval) = (selection.symbol.get(), selection.interval.get());
        let series = symbol.map(|symbol| Series::new(&symbol, interval));
        untrack(|| dispatch(&main, Event::Charting { chart: 0, series }));
    });
    let layout = selection.layout();
    for chart in 1..crate::protocol::MAX_CHARTS {
        let shell = shell.clone();
        Effect::new(move |_| {
            let series = layout.series(chart);
            untrack(|| dispatch(&shell, Event::Charting { chart, series }));
        });
    }
    let (shell, depth) = (shell.clone(), shell.depth);
    Effect::new(move |_| {
        let open = depth.open.get();
        untrack(|| dispatch(&shell, Event::Depth(open)));
    });
}

/// Tells the core what the page watches (a watchlist opened or closed).
fn follow_watching(shell: &Shared) {
    let shell = shell.clone();
    Effect::new(move |_| {
        let watching = shell.link.watching.get();
        untrack(|| dispatch(&shell, Event::Watching(watching)));
    });
}

/// What the page exposes to tests as `window.__tickertape`: the diff
/// messages and the quote updates it has applied.
struct Counters {
    object: js_sys::Object,
    diffs: Cell<u64>,
    changes: Cell<u64>,
}

impl Counters {
    fn new() -> Counters {
        let object = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&window(), &"__tickertape".into(), &object);
        Counters {
            object,
            diffs: Cell::new(0),
            changes: Cell::new(0),
        }
    }

    fn add(&self, diffs: u64, changes: usize) {
        self.diffs.set(self.diffs.get() + diffs);
        self.changes.set(self.changes.get() + changes as u64);
        for (key, value) in [("diffs", &self.diffs), ("changes", &self.changes)] {
            let value = JsValue::from(value.get() as f64);
            let _ = js_sys::Reflect::set(&self.object, &key.into(), &value);
        }
    }
}
