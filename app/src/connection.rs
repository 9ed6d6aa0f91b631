//! The page's live connection and what the page shows about it.
//!
//! [`Link`] is the reactive state (rendered on the server too, as
//! "connecting"). In the browser, [`start`] opens the one WebSocket, subscribes
//! to every symbol, applies snapshots and diffs to the
//! [`QuoteStore`](crate::store::QuoteStore), checks
//! `seq` contiguity (a gap or a diff before any snapshot sends `resync`, sent
//! again with backoff until a snapshot answers), measures latency with
//! `ping`, and reconnects with exponential backoff and jitter whenever the
//! socket closes or goes silent. While it keeps failing, quotes come from
//! polling `/api/quotes` for what the page watches.

use leptos::prelude::*;

use crate::protocol::FeedState;

/// The connection as the badge shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinkState {
    /// Opening the socket or waiting for the first snapshot.
    Connecting,
    /// Snapshot applied; diffs flowing.
    Live,
    /// A gap in `seq`: diffs cannot be applied (the table is frozen) until
    /// the snapshot a `resync` asks for arrives.
    Resyncing,
    /// Closed; the next attempt starts at `at_ms` (browser clock).
    Reconnecting { at_ms: f64 },
    /// The browser reports no network.
    Offline,
}

/// Whether quotes come from polling `/api/quotes` (the WebSocket keeps
/// failing) and how fresh the last poll is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Polling {
    /// Not polling: quotes come over the WebSocket.
    #[default]
    Off,
    /// Polling, no answer yet.
    Started,
    /// Polling; the last answer arrived at `at_ms` (browser clock).
    Answered { at_ms: f64 },
}

/// Reactive connection state, provided as context by the dashboard.
#[derive(Clone, Copy)]
pub struct Link {
    pub state: RwSignal<LinkState>,
    /// Round trip of the last `ping`, in milliseconds.
    pub latency_ms: RwSignal<Option<f64>>,
    /// Each feed's name and state, as `status` messages report them.
    pub feeds: RwSignal<Vec<(String, FeedState)>>,
    /// The browser clock, ticking twice a second (drives countdowns).
    pub now_ms: RwSignal<f64>,
    /// Minutes to add to UTC for the viewer's time zone; 0 on the server,
    /// set once the page hydrates.
    pub tz_offset_min: RwSignal<i32>,
    /// Whether quotes come from polling `/api/quotes` (the WebSocket keeps
    /// failing), and since when.
    pub polling: RwSignal<Polling>,
    /// The symbols the page wants quotes for; `None`: every symbol.
    pub watching: RwSignal<Option<Vec<String>>>,
}

impl Default for Link {
    fn default() -> Self {
        Link::new()
    }
}

impl Link {
    pub fn new() -> Link {
        Link {
            state: RwSignal::new(LinkState::Connecting),
            latency_ms: RwSignal::new(None),
            feeds: RwSignal::new(Vec::new()),
            now_ms: RwSignal::new(0.0),
            tz_offset_min: RwSignal::new(0),
            polling: RwSignal::new(Polling::Off),
            watching: RwSignal::new(None),
        }
    }

    /// Whole seconds since the last poll answered, while polling.
    pub fn poll_age_s(&self) -> Option<u32> {
        match self.polling.get() {
            Polling::Answered { at_ms } => {
                Some(((self.now_ms.get() - at_ms) / 1000.0).max(0.0).floor() as u32)
            }
            Polling::Off | Polling::Started => None,
        }
    }

    /// Whole seconds until the next reconnect attempt, if one is scheduled.
    pub fn countdown_s(&self) -> Option<u32> {
        match self.state.get() {
            LinkState::Reconnecting { at_ms } => {
                Some(((at_ms - self.now_ms.get()) / 1000.0).ceil().max(0.0) as u32)
            }
            _ => None,
        }
    }
}

/// Delay before `resync` is sent again when attempt `attempt` (0-based) got
/// no snapshot: 1 s, 2 s, 4 s, then every 8 s.
pub fn resync_retry_ms(attempt: u32) -> f64 {
    (1_000.0 * f64::from(1u32 << attempt.min(3))).min(8_000.0)
}

/// The `/api/quotes` address that polls for `watching` (see
/// [`Link::watching`]): every symbol, or those named.
pub fn quotes_url(watching: Option<&[String]>) -> String {
    match watching {
        None => "/api/quotes".to_string(),
        Some(symbols) => {
            let names: Vec<String> = symbols.iter().map(|s| percent_encode(s)).collect();
            format!("/api/quotes?symbols={}", names.join(","))
        }
    }
}

/// `text` with every byte but ASCII letters, digits, `-`, `.`, `_` and `~`
/// percent-encoded, for a query value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reconnect delay before attempt `attempt` (0-based), given a uniform
/// random number in [0, 1): exponential from 500 ms, capped at 30 s, with
/// jitter in [50 %, 100 %] so a restarted server is not hit by every page at
/// once.
pub fn backoff_ms(attempt: u32, random: f64) -> f64 {
    let exp = 500.0 * f64::from(1u32 << attempt.min(10));
    exp.min(30_000.0) * (0.5 + 0.5 * random)
}

#[cfg(feature = "hydrate")]
pub use client::start;

#[cfg(feature = "hydrate")]
mod client {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

    use super::{Link, LinkState, Polling, backoff_ms, quotes_url, resync_retry_ms};
    use crate::chart_feed::{Series, SharedChartFeed};
    use crate::protocol::{ALL_SYMBOLS, Change, ClientMsg, FeedState, SUBPROTOCOL_JSON, ServerMsg};
    use crate::selection::Selection;
    use crate::store::QuoteStore;

    /// Bars of history the chart asks for.
    const CHART_BARS: usize = 1_000;

    const PING_EVERY: Duration = Duration::from_secs(5);
    /// How often the page clock ticks (see [`Client::tick`]).
    const TICK_MS: f64 = 500.0;
    /// Failed connects in a row before the page falls back to polling.
    const FALLBACK_AFTER: u32 = 3;
    const POLL_EVERY: Duration = Duration::from_secs(2);
    /// While polling, the WebSocket is retried at least this often.
    const DEGRADED_RETRY_MS: f64 = 10_000.0;
    /// Without a heartbeat from the server, silence this long means a dead socket.
    const DEFAULT_SILENCE_MS: f64 = 30_000.0;

    type Shared = Rc<RefCell<Client>>;

    struct Client {
        store: QuoteStore,
        link: Link,
        /// Where the charted series' bars go.
        chart: SharedChartFeed,
        /// The series the page charts.
        charted: Option<Series>,
        ws: Option<WebSocket>,
        /// Identifies the current socket; events of older ones are ignored.
        generation: u32,
        attempt: u32,
        /// The `seq` the next snapshot/diff must carry; `None` until a snapshot.
        expected_seq: Option<u64>,
        /// A `resync` sent and not yet answered by a snapshot.
        resync: Option<Resync>,
        last_message_ms: f64,
        silence_ms: f64,
        /// Connects in a row that never reached a snapshot.
        failures: u32,
        /// The polling timer, while degraded.
        poll: Option<IntervalHandle>,
        /// Keeps the current socket's callbacks alive.
        handlers: Vec<Closure<dyn FnMut(JsValueEvent)>>,
        /// The tab is hidden: the page asks only for the charted symbol's
        /// quotes and no chart, and holds what comes (see [`Held`]) rather
        /// than re-rendering a page nobody sees.
        hidden: bool,
        held: Held,
        /// What the page exposes to tests as `window.__tickertape`.
        counters: js_sys::Object,
        diffs_applied: u64,
        changes_applied: u64,
    }

    /// An unanswered `resync`: sent again at `next_at_ms` (browser clock),
    /// each time after a longer wait (see [`resync_retry_ms`]).
    struct Resync {
        attempt: u32,
        next_at_ms: f64,
    }

    /// Quote changes that arrive while the tab is hidden, merged per symbol
    /// (later fields win) in arrival order: applied once a second (the
    /// charted symbol's, so the tab's title stays live) and when the tab
    /// shows again.
    #[derive(Default)]
    struct Held {
        changes: Vec<Change>,
        index: HashMap<String, usize>,
        ts: i64,
        /// When the charted symbol's change was last applied (browser clock).
        title_at: f64,
    }

    impl Held {
        fn add(&mut self, ts: i64, change: &Change) {
            self.ts = ts;
            match self.index.get(&change.symbol) {
                Some(&i) => self.changes[i].merge(change),
                None => {
                    self.index.insert(change.symbol.clone(), self.changes.len());
                    self.changes.push(change.clone());
                }
            }
        }

        fn take(&mut self) -> (i64, Vec<Change>) {
            self.index.clear();
            (self.ts, std::mem::take(&mut self.changes))
        }

        /// Takes `symbol`'s held change, if any.
        fn take_symbol(&mut self, symbol: &str) -> Option<Change> {
            let i = self.index.remove(symbol)?;
            let empty = Change {
                symbol: symbol.to_string(),
                ..Default::default()
            };
            Some(std::mem::replace(&mut self.changes[i], empty))
        }
    }

    type JsValueEvent = wasm_bindgen::JsValue;

    /// Opens the page's connection and keeps it open for the page's lifetime.
    pub fn start(store: QuoteStore, link: Link, selection: Selection, chart: SharedChartFeed) {
        let offset = -js_sys::Date::new_0().get_timezone_offset() as i32;
        link.tz_offset_min.set(offset);
        let client = Rc::new(RefCell::new(Client {
            store,
            link,
            chart,
            charted: None,
            ws: None,
            generation: 0,
            attempt: 0,
            expected_seq: None,
            resync: None,
            last_message_ms: js_sys::Date::now(),
            silence_ms: DEFAULT_SILENCE_MS,
            failures: 0,
            poll: None,
            handlers: Vec::new(),
            hidden: document().hidden(),
            held: Held::default(),
            counters: js_sys::Object::new(),
            diffs_applied: 0,
            changes_applied: 0,
        }));
        let _ = js_sys::Reflect::set(&window(), &"__tickertape".into(), &client.borrow().counters);
        connect(&client);
        let charter = client.clone();
        Effect::new(move |_| {
            let (symbol, interval) = (selection.symbol.get(), selection.interval.get());
            let series = symbol.map(|s| Series::new(&s, interval));
            let mut c = charter.borrow_mut();
            if c.charted != series {
                c.charted = series;
                c.request_chart();
            }
        });
        // A watchlist opened or closed: the server sends only what it shows.
        let subscriber = client.clone();
        Effect::new(move |previous: Option<Option<Vec<String>>>| {
            let watching = link.watching.get();
            if previous.is_some_and(|p| p != watching) {
                let polling = {
                    let c = subscriber.borrow();
                    c.send(&ClientMsg::Unsubscribe {
                        symbols: vec![ALL_SYMBOLS.into()],
                    });
                    c.subscribe();
                    c.poll.is_some()
                };
                if polling {
                    poll_once(subscriber.clone());
                }
            }
            watching
        });
        let watchdog = client.clone();
        set_interval(move || on_clock(&watchdog), Duration::from_millis(500));
        let pinger = client.clone();
        set_interval(
            move || {
                pinger.borrow().send(&ClientMsg::Ping {
                    t: (js_sys::Date::now() as i64).into(),
                })
            },
            PING_EVERY,
        );
        listen_online(client.clone());
        listen_visibility(client);
    }

    /// A hidden tab asks the server for the charted symbol's quotes only
    /// (its title shows them) and stops the chart; when it shows again it
    /// asks for everything again: a snapshot and the chart's history bring it
    /// up to date at once. Nobody sees a hidden tab, and every message costs
    /// the browser work, so the server sends it almost nothing meanwhile.
    fn listen_visibility(client: Shared) {
        let on_change = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let mut c = client.borrow_mut();
            let hidden = document().hidden();
            if hidden == c.hidden {
                return;
            }
            c.hidden = hidden;
            if !hidden {
                let (ts, changes) = c.held.take();
                if !changes.is_empty() {
                    c.apply(ts, &changes);
                }
            }
            c.send(&ClientMsg::Unsubscribe {
                symbols: vec![ALL_SYMBOLS.into()],
            });
            c.subscribe();
            c.request_chart();
        });
        let _ = document().add_event_listener_with_callback(
            "visibilitychange",
            on_change.as_ref().unchecked_ref(),
        );
        // The listener lives as long as the page.
        on_change.forget();
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

    fn connect(client: &Shared) {
        let generation = {
            let mut c = client.borrow_mut();
            c.generation = c.generation.wrapping_add(1);
            c.expected_seq = None;
            c.resync = None;
            c.link.state.set(LinkState::Connecting);
            c.generation
        };
        let ws = match WebSocket::new_with_str(&ws_url(), SUBPROTOCOL_JSON) {
            Ok(ws) => ws,
            Err(e) => {
                leptos::logging::warn!("cannot open WebSocket: {e:?}");
                schedule_reconnect(client);
                return;
            }
        };
        let on_open = handler(client, generation, |c, _| {
            c.subscribe();
            c.request_chart();
        });
        let on_message = handler(client, generation, |c, event| {
            if let Some(text) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                c.on_text(&text);
            }
        });
        let on_close = {
            let client = client.clone();
            Closure::<dyn FnMut(JsValueEvent)>::new(move |event: JsValueEvent| {
                if client.borrow().generation != generation {
                    return;
                }
                if let Some(close) = event.dyn_ref::<CloseEvent>() {
                    leptos::logging::log!("connection closed: {} {}", close.code(), close.reason());
                }
                schedule_reconnect(&client);
            })
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut c = client.borrow_mut();
        c.handlers = vec![on_open, on_message, on_close];
        c.ws = Some(ws);
        c.last_message_ms = js_sys::Date::now();
    }

    /// A socket callback that runs only while its socket is the current one.
    fn handler(
        client: &Shared,
        generation: u32,
        f: impl Fn(&mut Client, &JsValueEvent) + 'static,
    ) -> Closure<dyn FnMut(JsValueEvent)> {
        let client = client.clone();
        Closure::<dyn FnMut(JsValueEvent)>::new(move |event: JsValueEvent| {
            let mut c = client.borrow_mut();
            if c.generation == generation {
                f(&mut c, &event);
            }
        })
    }

    fn schedule_reconnect(client: &Shared) {
        let delay = {
            let mut c = client.borrow_mut();
            let was_live = matches!(
                c.link.state.get_untracked(),
                LinkState::Live | LinkState::Resyncing
            );
            c.drop_socket();
            c.failures = if was_live {
                1
            } else {
                c.failures.saturating_add(1)
            };
            let mut delay = backoff_ms(c.attempt, js_sys::Math::random());
            if c.poll.is_some() {
                delay = delay.min(DEGRADED_RETRY_MS);
            }
            c.attempt = c.attempt.saturating_add(1);
            let online = window().navigator().on_line();
            c.link.state.set(if online {
                LinkState::Reconnecting {
                    at_ms: js_sys::Date::now() + delay,
                }
            } else {
                LinkState::Offline
            });
            delay
        };
        let degrade = {
            let c = client.borrow();
            c.failures >= FALLBACK_AFTER && c.poll.is_none()
        };
        if degrade {
            start_polling(client);
        }
        let generation = client.borrow().generation;
        let client = client.clone();
        set_timeout(
            move || {
                if client.borrow().generation == generation && client.borrow().ws.is_none() {
                    connect(&client);
                }
            },
            Duration::from_millis(delay as u64),
        );
    }

    /// The WebSocket keeps failing (a proxy may block it): poll
    /// `/api/quotes` every two seconds until a snapshot arrives again, for
    /// what the page watches (an open watchlist: its symbols only, as the
    /// WebSocket subscription would be).
    fn start_polling(client: &Shared) {
        leptos::logging::warn!("WebSocket unavailable; polling /api/quotes");
        client.borrow().link.polling.set(Polling::Started);
        poll_once(client.clone());
        let poller = client.clone();
        let handle = set_interval_with_handle(move || poll_once(poller.clone()), POLL_EVERY);
        client.borrow_mut().poll = handle.ok();
    }

    fn poll_once(client: Shared) {
        let watching = client.borrow().link.watching.get_untracked();
        leptos::task::spawn_local(async move {
            let Some(quotes) = fetch_quotes(&quotes_url(watching.as_deref())).await else {
                return;
            };
            let mut c = client.borrow_mut();
            // A snapshot may have arrived meanwhile: it is newer. A list
            // opened or closed meanwhile: the next poll asks for it.
            if c.poll.is_some() && c.link.watching.with_untracked(|w| *w == watching) {
                c.store.apply_snapshot(&quotes.quotes, js_sys::Date::now());
                c.count(0, quotes.quotes.len());
                let at_ms = js_sys::Date::now();
                c.link.polling.set(Polling::Answered { at_ms });
            }
        });
    }

    async fn fetch_quotes(url: &str) -> Option<crate::protocol::QuotesResponse> {
        use wasm_bindgen_futures::JsFuture;
        let response: web_sys::Response = JsFuture::from(window().fetch_with_str(url))
            .await
            .ok()?
            .dyn_into()
            .ok()?;
        if !response.ok() {
            return None;
        }
        let text = JsFuture::from(response.text().ok()?)
            .await
            .ok()?
            .as_string()?;
        serde_json::from_str(&text).ok()
    }

    /// Every half second: tick the page clock if no diff did (see
    /// [`Client::tick`]), send an unanswered `resync` again when its time
    /// comes, close a silent socket.
    fn on_clock(client: &Shared) {
        let now = js_sys::Date::now();
        let silent = {
            let mut c = client.borrow_mut();
            if !c.hidden {
                c.tick(now);
            }
            c.retry_resync(now);
            c.ws.is_some()
                && matches!(
                    c.link.state.get_untracked(),
                    LinkState::Live | LinkState::Resyncing
                )
                && now - c.last_message_ms > c.silence_ms
        };
        if silent {
            leptos::logging::warn!("no message for too long; reconnecting");
            schedule_reconnect(client);
        }
    }

    /// Says "Offline" as soon as the browser goes offline (its socket is
    /// dropped: nothing can arrive on it), and reconnects at once when it
    /// comes back.
    fn listen_online(client: Shared) {
        let dropped = client.clone();
        let on_offline =
            Closure::<dyn FnMut(Event)>::new(move |_: Event| schedule_reconnect(&dropped));
        let _ = window()
            .add_event_listener_with_callback("offline", on_offline.as_ref().unchecked_ref());
        on_offline.forget();
        let on_online = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let idle = client.borrow().ws.is_none();
            if idle {
                client.borrow_mut().attempt = 0;
                connect(&client);
            }
        });
        let _ =
            window().add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
        // The listener lives as long as the page.
        on_online.forget();
    }

    impl Client {
        fn send(&self, msg: &ClientMsg) {
            let Some(ws) = self
                .ws
                .as_ref()
                .filter(|ws| ws.ready_state() == WebSocket::OPEN)
            else {
                return;
            };
            if let Ok(text) = serde_json::to_string(msg) {
                let _ = ws.send_with_str(&text);
            }
        }

        /// Asks for the chart the page shows (history, then live bars); a
        /// hidden tab asks for none.
        fn request_chart(&self) {
            let wanted = self.charted.clone().filter(|_| !self.hidden);
            let (symbol, interval) = match wanted {
                Some(series) => (Some(series.symbol), Some(series.interval)),
                None => (None, None),
            };
            self.send(&ClientMsg::Chart {
                symbol,
                interval,
                limit: Some(CHART_BARS),
            });
        }

        /// Subscribes to what the page watches (see [`Link::watching`]).
        /// A hidden tab subscribes to the charted symbol alone, if any.
        fn subscribe(&self) {
            let symbols = if self.hidden {
                let charted = self.charted.as_ref().map(|s| s.symbol.clone());
                match charted {
                    Some(symbol) => vec![symbol],
                    None => return,
                }
            } else {
                self.link
                    .watching
                    .get_untracked()
                    .unwrap_or_else(|| vec![ALL_SYMBOLS.into()])
            };
            self.send(&ClientMsg::Subscribe { symbols });
        }

        fn drop_socket(&mut self) {
            if let Some(ws) = self.ws.take() {
                ws.set_onopen(None);
                ws.set_onmessage(None);
                ws.set_onclose(None);
                let _ = ws.close();
            }
            self.generation = self.generation.wrapping_add(1);
        }

        fn on_text(&mut self, text: &str) {
            self.last_message_ms = js_sys::Date::now();
            let msg = match serde_json::from_str::<ServerMsg>(text) {
                Ok(msg) => msg,
                Err(e) => return leptos::logging::warn!("unreadable server message: {e}"),
            };
            match msg {
                ServerMsg::Hello { heartbeat_ms, .. } => {
                    self.silence_ms = (2 * heartbeat_ms) as f64;
                }
                ServerMsg::Snapshot { seq, quotes } => {
                    self.held.take(); // the snapshot is newer
                    if self.hidden {
                        // Only what a hidden tab asked for: the rest stays.
                        let changes: Vec<Change> = quotes.iter().map(Change::full).collect();
                        let ts = quotes.iter().map(|q| q.ts).max().unwrap_or_default();
                        let ts = ts.max(self.store.updated_at.get_untracked());
                        self.store.apply_diff(ts, &changes, js_sys::Date::now());
                    } else {
                        self.store.apply_snapshot(&quotes, js_sys::Date::now());
                    }
                    self.count(0, quotes.len());
                    self.expected_seq = Some(seq + 1);
                    self.resync = None;
                    self.attempt = 0;
                    self.failures = 0;
                    if let Some(poll) = self.poll.take() {
                        poll.clear();
                    }
                    self.link.polling.set(Polling::Off);
                    self.link.state.set(LinkState::Live);
                }
                ServerMsg::Diff { seq, ts, changes } => self.on_diff(seq, ts, &changes),
                ServerMsg::Status { feed, state } => self.on_status(feed, state),
                ServerMsg::Pong { t, .. } => {
                    if let Some(sent) = t.as_f64() {
                        self.link.latency_ms.set(Some(js_sys::Date::now() - sent));
                    }
                }
                ServerMsg::Candles {
                    symbol,
                    interval,
                    candles,
                } => {
                    if let Some(series) = self.charted.clone().filter(|s| s.is(&symbol, interval)) {
                        self.chart.with(|feed| feed.history(series, candles));
                    }
                }
                ServerMsg::Candle {
                    symbol,
                    interval,
                    candle,
                } => {
                    // Once the chart stream stops, a hidden tab sees none.
                    let charted = self
                        .charted
                        .as_ref()
                        .is_some_and(|s| s.is(&symbol, interval));
                    if !self.hidden && charted {
                        self.chart.with(|feed| feed.candle(&candle));
                    }
                }
                ServerMsg::Error { code, message } => {
                    leptos::logging::warn!("server error {code:?}: {message}")
                }
                ServerMsg::Unknown => {}
            }
        }

        fn on_diff(&mut self, seq: u64, ts: i64, changes: &[crate::protocol::Change]) {
            if self.expected_seq == Some(seq) {
                if self.hidden {
                    self.hold(ts, changes);
                } else {
                    self.apply(ts, changes);
                }
                self.expected_seq = Some(seq + 1);
            } else if self.resync.is_none() {
                leptos::logging::warn!(
                    "seq gap: expected {:?}, got {seq}; resyncing",
                    self.expected_seq
                );
                self.expected_seq = None;
                self.resync = Some(Resync {
                    attempt: 0,
                    next_at_ms: js_sys::Date::now() + resync_retry_ms(0),
                });
                self.send(&ClientMsg::Resync);
                // Until the snapshot, nothing the page shows moves.
                if self.link.state.get_untracked() == LinkState::Live {
                    self.link.state.set(LinkState::Resyncing);
                }
            }
        }

        /// Sends `resync` again if the last one got no snapshot in time
        /// (lost on the way, or ignored), each time waiting longer.
        fn retry_resync(&mut self, now: f64) {
            let Some(resync) = self.resync.as_mut().filter(|r| now >= r.next_at_ms) else {
                return;
            };
            resync.attempt = resync.attempt.saturating_add(1);
            resync.next_at_ms = now + resync_retry_ms(resync.attempt);
            leptos::logging::warn!("no snapshot for resync; asking again");
            self.send(&ClientMsg::Resync);
        }

        /// The page clock's work, at most every [`TICK_MS`]: advance
        /// `now_ms` (clock, countdowns, title, movers), move the
        /// sparklines, clear the flashes that are over. Done with a diff when
        /// diffs flow, so it lands in the frame the diff draws anyway rather
        /// than in one of its own; the timer covers quiet times.
        fn tick(&self, now: f64) {
            if now - self.link.now_ms.get_untracked() < TICK_MS {
                return;
            }
            self.link.now_ms.set(now);
            self.store.fade_flashes(now);
            self.store.roll_sparks();
        }

        /// Applies changes to the store and counts them for tests.
        fn apply(&mut self, ts: i64, changes: &[Change]) {
            let now = js_sys::Date::now();
            self.store.apply_diff(ts, changes, now);
            if !self.hidden {
                self.tick(now);
            }
            self.count(1, changes.len());
        }

        /// Counts applied diff messages and quote updates (a snapshot or a
        /// poll counts its quotes) into `window.__tickertape`.
        fn count(&mut self, diffs: u64, changes: usize) {
            self.diffs_applied += diffs;
            self.changes_applied += changes as u64;
            for (key, value) in [
                ("diffs", self.diffs_applied),
                ("changes", self.changes_applied),
            ] {
                let _ = js_sys::Reflect::set(&self.counters, &key.into(), &(value as f64).into());
            }
        }

        /// A diff while the tab is hidden: held (see [`Held`]), and at most
        /// once a second the charted symbol's change applies, so the tab's
        /// title shows its price. (Driven by arriving messages: a hidden tab's
        /// timers may be throttled to once a minute.)
        fn hold(&mut self, ts: i64, changes: &[Change]) {
            for change in changes {
                self.held.add(ts, change);
            }
            let now = js_sys::Date::now();
            if now - self.held.title_at >= 1_000.0 {
                self.held.title_at = now;
                self.apply_charted();
            }
        }

        fn apply_charted(&mut self) {
            let Some(symbol) = self.charted.as_ref().map(|s| s.symbol.clone()) else {
                return;
            };
            if let Some(change) = self.held.take_symbol(&symbol) {
                let ts = self.held.ts;
                self.apply(ts, &[change]);
            }
            // The title follows the page clock (see `PriceTitle`).
            self.link.now_ms.set(js_sys::Date::now());
        }

        fn on_status(&mut self, feed: String, state: FeedState) {
            self.link.feeds.update(|feeds| {
                match feeds.iter_mut().find(|(name, _)| *name == feed) {
                    Some(entry) => entry.1 = state,
                    None => feeds.push((feed, state)),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        assert_eq!(backoff_ms(0, 0.0), 250.0);
        assert_eq!(backoff_ms(0, 1.0), 500.0);
        assert_eq!(backoff_ms(3, 1.0), 4_000.0);
        assert_eq!(backoff_ms(20, 1.0), 30_000.0);
        assert_eq!(backoff_ms(20, 0.0), 15_000.0);
    }

    #[test]
    fn resyncs_are_retried_after_1_2_4_then_every_8_seconds() {
        let waits: Vec<f64> = (0..6).map(resync_retry_ms).collect();
        assert_eq!(
            waits,
            [1_000.0, 2_000.0, 4_000.0, 8_000.0, 8_000.0, 8_000.0]
        );
        assert_eq!(resync_retry_ms(u32::MAX), 8_000.0);
    }

    #[test]
    fn polls_ask_for_what_the_page_watches() {
        assert_eq!(quotes_url(None), "/api/quotes");
        let list = ["NVDA".to_string(), "BTC-USD".into(), "A&B=C".into()];
        assert_eq!(
            quotes_url(Some(&list)),
            "/api/quotes?symbols=NVDA,BTC-USD,A%26B%3DC"
        );
        assert_eq!(quotes_url(Some(&[])), "/api/quotes?symbols=");
    }

    #[test]
    fn the_poll_age_counts_whole_seconds_once_a_poll_answered() {
        Owner::new().with(|| {
            let link = Link::new();
            link.now_ms.set(10_900.0);
            assert_eq!(link.poll_age_s(), None);
            link.polling.set(Polling::Started);
            assert_eq!(link.poll_age_s(), None);
            link.polling.set(Polling::Answered { at_ms: 8_000.0 });
            assert_eq!(link.poll_age_s(), Some(2));
        });
    }

    #[test]
    fn the_countdown_rounds_up_to_whole_seconds() {
        Owner::new().with(|| {
            let link = Link::new();
            assert_eq!(link.countdown_s(), None);
            link.now_ms.set(1_000.0);
            link.state.set(LinkState::Reconnecting { at_ms: 3_200.0 });
            assert_eq!(link.countdown_s(), Some(3));
        });
    }
}
