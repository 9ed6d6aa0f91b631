//! The page connection's state machine, with no browser in it.
//!
//! [`ConnectionCore`] takes what happens ([`Event`]: the socket opened,
//! closed or brought a message, a timer fired, the tab hid or showed, the
//! page started watching other symbols or charting another series, a poll
//! answered) and says what to do about it ([`Action`]: send this, apply
//! that to the store, reconnect in N ms, poll, show this link state). It
//! owns `seq` contiguity, `resync` and its retries, reconnecting with
//! backoff and jitter, the fallback to polling and back, and what the page
//! subscribes to. The browser shell (`connection::browser`) only turns
//! browser events into [`Event`]s and carries out [`Action`]s.

use super::held::Held;
use crate::alerts::AlertNews;
use crate::binary;
use crate::chart_feed::Series;
use crate::protocol::{
    ALL_SYMBOLS, Candle, Change, ClientMsg, FeedState, Interval, Level, MAX_CHARTS, Quote,
    ServerMsg, Trade,
};

/// Bars of history the chart asks for.
pub const CHART_BARS: usize = 1_000;
/// How often the page clock ticks at most (see [`Action::Tick`]).
pub const TICK_MS: f64 = 500.0;
/// Failed connects in a row before the page falls back to polling.
pub const FALLBACK_AFTER: u32 = 3;
/// While polling, the WebSocket is retried at least this often.
pub const DEGRADED_RETRY_MS: f64 = 10_000.0;
/// Without a heartbeat from the server, silence this long means a dead socket.
pub const DEFAULT_SILENCE_MS: f64 = 30_000.0;
/// Close code of a server going down to restart (its reason may say when
/// to come back: `retry_after_ms=N`).
pub const SERVICE_RESTART: u16 = 1012;
/// The longest a restart hint is honoured for.
pub const MAX_RESTART_WAIT_MS: f64 = 60_000.0;

/// The wait a restarting server asked for in its close reason, if any.
pub fn restart_hint(code: u16, reason: &str) -> Option<f64> {
    if code != SERVICE_RESTART {
        return None;
    }
    let (_, after) = reason.split_once("retry_after_ms=")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let ms: f64 = digits.parse().ok()?;
    Some(ms.min(MAX_RESTART_WAIT_MS))
}

/// How often a hidden tab applies the charted symbol's price (its title).
pub const TITLE_EVERY_MS: f64 = 1_000.0;
/// Messages a second a hidden tab asks the server for (`rate`): each the
/// merged change since the last, so it stays exact and is never resynced.
pub const HIDDEN_HZ: f64 = 1.0;
/// Messages a second a phone-sized page asks for while shown: a small
/// screen shows few rows, and a phone's battery and data pay for each.
pub const NARROW_HZ: f64 = 4.0;

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

impl LinkState {
    /// Whether a snapshot arrived on the current socket.
    fn reached_snapshot(self) -> bool {
        matches!(self, LinkState::Live | LinkState::Resyncing)
    }
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

/// Identifies one scheduled reconnect; only the latest one connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u32);

/// Something that happened to the connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The page is up: connect.
    Start,
    /// The socket opened.
    Opened,
    /// The socket could not even be created (the browser's reason).
    OpenFailed(String),
    /// The socket closed, with the close frame's code and reason.
    Closed { code: u16, reason: String },
    /// A text frame from the server.
    Message(String),
    /// A binary frame from the server (`tickertape.v1.bin`).
    Frame(Vec<u8>),
    /// The half-second timer.
    Clock,
    /// Time to measure the round trip.
    PingDue,
    /// A reconnect's wait is over.
    ReconnectDue(Ticket),
    /// Time to poll again (the polling timer, while polling).
    PollDue,
    /// A poll answered; `watching` is what it asked for.
    Polled {
        watching: Option<Vec<String>>,
        quotes: Vec<Quote>,
    },
    /// The tab hid or showed.
    Visibility { hidden: bool },
    /// The window became phone-sized (or stopped being).
    Narrow(bool),
    /// The symbols the page wants quotes for; `None`: every symbol.
    Watching(Option<Vec<String>>),
    /// The series one of the page's charts shows, if any (0: the main one).
    Charting { chart: u8, series: Option<Series> },
    /// Whether the page shows the main chart's trades tape and order book.
    Depth(bool),
    /// The browser's network came back.
    Online,
    /// The browser lost its network.
    Offline,
}

/// What the browser shell is to do. Times are the event's.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Open a new socket (there is none).
    Open,
    /// Close the current socket; its later events are not reported.
    Close,
    Send(ClientMsg),
    /// A snapshot (or a poll's answer): the store holds these quotes, and
    /// only these.
    ReplaceQuotes(Vec<Quote>),
    /// A hidden tab's snapshot: merged into the rows the store has.
    MergeQuotes(Vec<Quote>),
    /// A diff (or changes held while hidden): applied to the store.
    ApplyChanges {
        ts: i64,
        changes: Vec<Change>,
    },
    /// The page clock's work: advance it (clock, countdowns, title,
    /// movers), move the sparklines, clear the flashes that are over.
    Tick,
    /// Advance the page clock only (a hidden tab's title follows it).
    TickTitle,
    Link(LinkState),
    /// The last ping's round trip, in milliseconds.
    Latency(f64),
    Feed {
        name: String,
        state: FeedState,
    },
    Polling(Polling),
    /// Report [`Event::PollDue`] every two seconds until [`Action::StopPolling`].
    StartPolling,
    StopPolling,
    /// Fetch `url` now and report [`Event::Polled`] with `watching`.
    Poll {
        url: String,
        watching: Option<Vec<String>>,
    },
    /// Report [`Event::ReconnectDue`] with `ticket` after `ms`.
    ReconnectAfter {
        ms: f64,
        ticket: Ticket,
    },
    /// History of a chart's series: replaces its bars.
    ChartHistory {
        chart: u8,
        series: Series,
        candles: Vec<Candle>,
    },
    /// One bar of a chart's series changed.
    ChartCandle {
        chart: u8,
        candle: Candle,
    },
    /// Trades of the main chart's symbol, oldest first; `replace`: the
    /// first after asking, the server's latest rather than new ones.
    Trades {
        symbol: String,
        trades: Vec<Trade>,
        replace: bool,
    },
    /// The main chart's symbol's order book: whole, or the levels that changed.
    Book(BookNews),
    /// Fetch the alert rules as they are now (the socket opened: messages
    /// about them may have been missed while it was closed).
    LoadAlerts,
    /// The server said something about alerts.
    Alert(AlertNews),
    /// Something worth a line in the console.
    Log(String),
    Warn(String),
}

/// A `book` message for the main chart's symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct BookNews {
    pub symbol: String,
    pub snapshot: bool,
    pub live: bool,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub ts: i64,
}

/// The socket as the core knows it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Socket {
    None,
    Opening,
    Open,
}

/// A point in a server's stream of batches: its epoch, the batch, and the
/// `seq` of the message that brought the page there.
#[derive(Clone, Debug, PartialEq)]
struct Position {
    epoch: String,
    seq: u64,
    batch: u64,
}

/// An unanswered `resync`: sent again at `next_at_ms` (browser clock),
/// each time after a longer wait (see [`RESYNC_RETRY`]).
#[derive(Debug)]
struct Resync {
    attempt: u32,
    next_at_ms: f64,
}

/// See the module documentation.
pub struct ConnectionCore {
    socket: Socket,
    link: LinkState,
    online: bool,
    /// The tab is hidden: the page asks for its quotes at [`HIDDEN_HZ`] and
    /// no chart, and holds what comes (see [`Held`]).
    hidden: bool,
    /// A phone-sized window: shown, it asks for [`NARROW_HZ`].
    narrow: bool,
    held: Held,
    watching: Option<Vec<String>>,
    /// What each of the page's charts shows (0: the main one).
    charted: [Option<Series>; MAX_CHARTS as usize],
    /// Whether the main chart asks for its symbol's trades and book.
    depth: bool,
    /// The tape was asked for and its first `trades` has not come yet.
    tape_asked: bool,
    /// The `seq` the next snapshot/diff must carry; `None` until a snapshot.
    expected_seq: Option<u64>,
    resync: Option<Resync>,
    /// Reads binary frames (symbol ids are the server epoch's: kept across
    /// reconnects to it, forgotten when `hello` names another).
    decoder: binary::Decoder,
    /// The server's batch numbering, as this socket's `hello` named it.
    epoch: String,
    /// Where the quotes the page holds came from: a new socket `resume`s
    /// from here instead of starting over with a snapshot.
    position: Option<Position>,
    /// Reconnect attempts since the last snapshot (sets the backoff).
    attempt: u32,
    /// Connects in a row that never reached a snapshot.
    failures: u32,
    polling: bool,
    /// The scheduled reconnect, if any.
    reconnect: Option<Ticket>,
    tickets: u32,
    last_message_ms: f64,
    silence_ms: f64,
    /// When the page clock was last advanced.
    clock_ms: f64,
    /// A uniform random number in [0, 1), for the reconnect jitter.
    random: Box<dyn FnMut() -> f64>,
    /// The time of the event being handled.
    now: f64,
    /// The actions of the event being handled.
    out: Vec<Action>,
}

/// What the page is like when its connection starts.
#[derive(Clone, Debug, Default)]
pub struct Start {
    pub hidden: bool,
    /// A phone-sized window: quotes at [`NARROW_HZ`].
    pub narrow: bool,
    pub online: bool,
    pub watching: Option<Vec<String>>,
}

impl ConnectionCore {
    pub fn new(start: Start, random: Box<dyn FnMut() -> f64>) -> ConnectionCore {
        ConnectionCore {
            socket: Socket::None,
            link: LinkState::Connecting,
            online: start.online,
            hidden: start.hidden,
            narrow: start.narrow,
            held: Held::default(),
            watching: start.watching,
            charted: Default::default(),
            depth: false,
            tape_asked: false,
            expected_seq: None,
            resync: None,
            decoder: binary::Decoder::default(),
            epoch: String::new(),
            position: None,
            attempt: 0,
            failures: 0,
            polling: false,
            reconnect: None,
            tickets: 0,
            last_message_ms: 0.0,
            silence_ms: DEFAULT_SILENCE_MS,
            clock_ms: 0.0,
            random,
            now: 0.0,
            out: Vec::new(),
        }
    }

    /// Handles `event`, which happened at `now_ms` (browser clock), and
    /// returns what to do, in order.
    pub fn handle(&mut self, event: Event, now_ms: f64) -> Vec<Action> {
        self.now = now_ms;
        match event {
            Event::Start => self.connect(),
            Event::Opened => self.on_open(),
            Event::OpenFailed(why) => self.on_open_failed(&why),
            Event::Closed { code, reason } => self.on_close(code, &reason),
            Event::Message(text) => self.on_text(&text),
            Event::Frame(bytes) => self.on_frame(&bytes),
            Event::Clock => self.on_clock(),
            Event::PingDue => self.send(ClientMsg::Ping {
                t: (now_ms as i64).into(),
            }),
            Event::ReconnectDue(ticket) => self.on_reconnect_due(ticket),
            Event::PollDue => self.poll_now(),
            Event::Polled { watching, quotes } => self.on_polled(watching, quotes),
            Event::Visibility { hidden } => self.on_visibility(hidden),
            Event::Narrow(narrow) => self.on_narrow(narrow),
            Event::Watching(watching) => self.on_watching(watching),
            Event::Charting { chart, series } => self.on_charting(chart, series),
            Event::Depth(on) => self.on_depth(on),
            Event::Online => self.on_online(),
            Event::Offline => self.on_offline(),
        }
        std::mem::take(&mut self.out)
    }

    fn emit(&mut self, action: Action) {
        self.out.push(action);
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.emit(Action::Warn(text.into()));
    }

    fn set_link(&mut self, state: LinkState) {
        if state != self.link {
            self.link = state;
            self.emit(Action::Link(state));
        }
    }

    /// Sends `msg` if the socket is open (nothing queues for a later one).
    fn send(&mut self, msg: ClientMsg) {
        if self.socket == Socket::Open {
            self.emit(Action::Send(msg));
        }
    }

    // --- The socket's life ---

    fn connect(&mut self) {
        self.reconnect = None;
        self.expected_seq = None;
        self.resync = None;
        self.socket = Socket::Opening;
        self.last_message_ms = self.now;
        self.set_link(LinkState::Connecting);
        self.emit(Action::Open);
    }

    fn on_open(&mut self) {
        if self.socket == Socket::Opening {
            self.socket = Socket::Open;
            self.epoch.clear();
            match self.position.clone() {
                Some(from) => self.resume(from),
                None => self.subscribe(),
            }
            self.request_charts();
            self.emit(Action::LoadAlerts);
        }
    }

    fn on_open_failed(&mut self, why: &str) {
        if self.socket == Socket::Opening {
            self.warn(format!("cannot open WebSocket: {why}"));
            self.socket = Socket::None;
            self.schedule_reconnect();
        }
    }

    fn on_close(&mut self, code: u16, reason: &str) {
        if self.socket != Socket::None {
            self.emit(Action::Log(format!("connection closed: {code} {reason}")));
            match restart_hint(code, reason) {
                // The server restarts and says when to come back: then,
                // not at once with every other page.
                Some(ms) => self.reconnect_after(ms),
                None => self.schedule_reconnect(),
            }
        }
    }

    /// Drops the socket and connects again after `ms`, as a restarting
    /// server asked; not a failure (no backoff, no fallback to polling).
    fn reconnect_after(&mut self, ms: f64) {
        self.drop_socket();
        self.failures = 0;
        self.attempt = 0;
        self.set_link(LinkState::Reconnecting {
            at_ms: self.now + ms,
        });
        self.tickets = self.tickets.wrapping_add(1);
        let ticket = Ticket(self.tickets);
        self.reconnect = Some(ticket);
        self.emit(Action::ReconnectAfter { ms, ticket });
    }

    fn drop_socket(&mut self) {
        if self.socket != Socket::None {
            self.socket = Socket::None;
            self.emit(Action::Close);
        }
    }

    /// Drops the socket and connects again after the backoff; after
    /// [`FALLBACK_AFTER`] failures in a row, polls meanwhile.
    fn schedule_reconnect(&mut self) {
        let was_live = self.link.reached_snapshot();
        self.drop_socket();
        self.failures = if was_live {
            1
        } else {
            self.failures.saturating_add(1)
        };
        let mut delay = RECONNECT.jittered_ms(self.attempt, (self.random)());
        if self.polling {
            delay = delay.min(DEGRADED_RETRY_MS);
        }
        self.attempt = self.attempt.saturating_add(1);
        self.set_link(if self.online {
            LinkState::Reconnecting {
                at_ms: self.now + delay,
            }
        } else {
            LinkState::Offline
        });
        if self.failures >= FALLBACK_AFTER && !self.polling {
            self.start_polling();
        }
        self.tickets = self.tickets.wrapping_add(1);
        let ticket = Ticket(self.tickets);
        self.reconnect = Some(ticket);
        self.emit(Action::ReconnectAfter { ms: delay, ticket });
    }

    fn on_reconnect_due(&mut self, ticket: Ticket) {
        if self.reconnect == Some(ticket) {
            self.connect();
        }
    }

    /// Says "Offline" at once (nothing can arrive on the socket).
    fn on_offline(&mut self) {
        self.online = false;
        self.schedule_reconnect();
    }

    /// Reconnects at once, backoff reset, unless a socket is up already.
    fn on_online(&mut self) {
        self.online = true;
        if self.socket == Socket::None {
            self.attempt = 0;
            self.connect();
        }
    }

    /// Every half second: tick the page clock if no diff did, send an
    /// unanswered `resync` again when its time comes, drop a silent socket.
    fn on_clock(&mut self) {
        if !self.hidden {
            self.tick();
        }
        self.retry_resync();
        let silent = self.now - self.last_message_ms > self.silence_ms;
        if self.socket != Socket::None && self.link.reached_snapshot() && silent {
            self.warn("no message for too long; reconnecting");
            self.schedule_reconnect();
        }
    }

    /// The page clock's work, at most every [`TICK_MS`]. Done with a diff
    /// when diffs flow, so it lands in the frame the diff draws anyway
    /// rather than in one of its own; the timer covers quiet times.
    fn tick(&mut self) {
        if self.now - self.clock_ms >= TICK_MS {
            self.clock_ms = self.now;
            self.emit(Action::Tick);
        }
    }

    // --- What the page asks the server for ---

    /// What the page watches, as `subscribe` names it.
    fn symbols(&self) -> Vec<String> {
        self.watching
            .clone()
            .unwrap_or_else(|| vec![ALL_SYMBOLS.into()])
    }

    /// Subscribes to what the page watches, at the page's rate.
    fn subscribe(&mut self) {
        let symbols = self.symbols();
        self.send(ClientMsg::Subscribe { symbols });
        self.send_slower_rate();
    }

    /// Asks the new socket to continue from `from`: one diff if the server
    /// still holds what happened since, else a snapshot, numbered next.
    fn resume(&mut self, from: Position) {
        self.expected_seq = Some(from.seq + 1);
        self.send(ClientMsg::Resume {
            epoch: from.epoch,
            seq: from.seq,
            batch: from.batch,
            symbols: self.symbols(),
        });
        self.send_slower_rate();
    }

    /// The most messages a second the page wants: [`HIDDEN_HZ`] while
    /// hidden, [`NARROW_HZ`] on a phone-sized screen, else every batch.
    fn max_hz(&self) -> Option<f64> {
        match (self.hidden, self.narrow) {
            (true, _) => Some(HIDDEN_HZ),
            (false, true) => Some(NARROW_HZ),
            (false, false) => None,
        }
    }

    /// The page's rate, to a server that sends every batch until told.
    fn send_slower_rate(&mut self) {
        if self.max_hz().is_some() {
            self.send_rate();
        }
    }

    fn send_rate(&mut self) {
        let max_hz = self.max_hz();
        self.send(ClientMsg::Rate { max_hz });
    }

    /// A phone-sized window asks for fewer messages; a wider one for all.
    fn on_narrow(&mut self, narrow: bool) {
        if narrow != self.narrow {
            self.narrow = narrow;
            if !self.hidden {
                self.send_rate();
            }
        }
    }

    fn resubscribe(&mut self) {
        self.send(ClientMsg::Unsubscribe {
            symbols: vec![ALL_SYMBOLS.into()],
        });
        self.subscribe();
    }

    /// Asks for what one chart shows (history, then live bars; the main
    /// one's trades and book if shown); a hidden tab asks for none. A chart
    /// other than the main one that shows nothing is not mentioned, unless
    /// it stops showing something.
    fn request_chart(&mut self, chart: u8) {
        let wanted = self.charted[usize::from(chart)]
            .clone()
            .filter(|_| !self.hidden);
        let (symbol, interval) = match wanted {
            Some(series) => (Some(series.symbol), Some(series.interval)),
            None => (None, None),
        };
        let depth = chart == 0 && self.depth && symbol.is_some();
        self.tape_asked |= depth;
        self.send(ClientMsg::Chart {
            symbol,
            interval,
            limit: Some(CHART_BARS),
            chart,
            trades: depth,
            book: depth,
        });
    }

    /// Asks for every chart the page shows (the main one always).
    fn request_charts(&mut self) {
        for chart in 0..MAX_CHARTS {
            if chart == 0 || self.charted[usize::from(chart)].is_some() {
                self.request_chart(chart);
            }
        }
    }

    /// A watchlist opened or closed: the server sends only what it shows
    /// (and a poll asks for it at once).
    fn on_watching(&mut self, watching: Option<Vec<String>>) {
        if watching != self.watching {
            self.watching = watching;
            self.resubscribe();
            if self.polling {
                self.poll_now();
            }
        }
    }

    fn on_charting(&mut self, chart: u8, series: Option<Series>) {
        let Some(slot) = self.charted.get_mut(usize::from(chart)) else {
            return;
        };
        if series != *slot {
            *slot = series;
            self.request_chart(chart);
        }
    }

    fn on_depth(&mut self, on: bool) {
        if on != self.depth {
            self.depth = on;
            self.request_chart(0);
        }
    }

    /// A hidden tab asks for its quotes once a second ([`HIDDEN_HZ`]) and
    /// no chart; shown again, it applies what it held and asks for its
    /// rate again (every batch, or [`NARROW_HZ`] on a phone) and the
    /// chart's history. The subscription stays, so
    /// `seq` runs on: no snapshot, no resync.
    fn on_visibility(&mut self, hidden: bool) {
        if hidden == self.hidden {
            return;
        }
        self.hidden = hidden;
        if !hidden {
            let (ts, changes) = self.held.take();
            if !changes.is_empty() {
                self.apply(ts, changes);
            }
        }
        self.send_rate();
        self.request_charts();
    }

    // --- Server messages ---

    fn on_text(&mut self, text: &str) {
        if self.socket == Socket::None {
            return;
        }
        self.last_message_ms = self.now;
        match serde_json::from_str::<ServerMsg>(text) {
            Ok(msg) => self.on_message(msg),
            Err(e) => self.warn(format!("unreadable server message: {e}")),
        }
    }

    /// A binary frame holds a snapshot or a diff: one that cannot be read
    /// leaves the quotes behind, so the page asks for a fresh snapshot.
    fn on_frame(&mut self, bytes: &[u8]) {
        if self.socket == Socket::None {
            return;
        }
        self.last_message_ms = self.now;
        match self.decoder.decode(bytes) {
            Ok(msg) => self.on_message(msg),
            Err(e) => {
                self.warn(format!("unreadable binary frame: {}; resyncing", e.0));
                if self.resync.is_none() {
                    self.start_resync();
                }
            }
        }
    }

    fn on_message(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Hello {
                heartbeat_ms,
                epoch,
                ..
            } => {
                self.silence_ms = (2 * heartbeat_ms) as f64;
                self.decoder.epoch(&epoch);
                self.epoch = epoch;
            }
            ServerMsg::Snapshot { seq, batch, quotes } => self.on_snapshot(seq, batch, quotes),
            ServerMsg::Diff {
                seq,
                batch,
                ts,
                changes,
            } => self.on_diff(seq, batch, ts, changes),
            ServerMsg::Status { feed, state } => self.emit(Action::Feed { name: feed, state }),
            ServerMsg::Pong { t, .. } => {
                if let Some(sent) = t.as_f64() {
                    self.emit(Action::Latency(self.now - sent));
                }
            }
            ServerMsg::Candles {
                symbol,
                interval,
                candles,
                chart,
            } => self.on_candles(chart, &symbol, interval, candles),
            ServerMsg::Candle {
                symbol,
                interval,
                candle,
                chart,
            } => self.on_candle(chart, &symbol, interval, candle),
            ServerMsg::Trades {
                symbol,
                trades,
                chart: 0,
            } => {
                if self.shows_depth_of(&symbol) {
                    let replace = std::mem::take(&mut self.tape_asked);
                    self.emit(Action::Trades {
                        symbol,
                        trades,
                        replace,
                    });
                }
            }
            ServerMsg::Book {
                symbol,
                snapshot,
                live,
                bids,
                asks,
                ts,
                chart: 0,
            } => {
                if self.shows_depth_of(&symbol) {
                    self.emit(Action::Book(BookNews {
                        symbol,
                        snapshot,
                        live,
                        bids,
                        asks,
                        ts,
                    }));
                }
            }
            ServerMsg::Trades { .. } | ServerMsg::Book { .. } => {}
            ServerMsg::Error { code, message } => {
                self.warn(format!("server error {code:?}: {message}"))
            }
            msg @ (ServerMsg::Alert { .. }
            | ServerMsg::AlertCreated { .. }
            | ServerMsg::AlertDeleted { .. }
            | ServerMsg::AlertUpdated { .. }) => {
                if let Some(news) = AlertNews::from_msg(msg) {
                    self.emit(Action::Alert(news));
                }
            }
            ServerMsg::Unknown => {}
        }
    }

    fn charts(&self, chart: u8, symbol: &str, interval: Interval) -> Option<&Series> {
        self.charted
            .get(usize::from(chart))?
            .as_ref()
            .filter(|s| s.is(symbol, interval))
    }

    /// Whether the main chart shows `symbol` with its tape and book.
    fn shows_depth_of(&self, symbol: &str) -> bool {
        self.depth && !self.hidden && self.charted[0].as_ref().is_some_and(|s| s.symbol == symbol)
    }

    /// History for a chart, unless it is of a series no longer charted.
    fn on_candles(&mut self, chart: u8, symbol: &str, interval: Interval, candles: Vec<Candle>) {
        if let Some(series) = self.charts(chart, symbol, interval).cloned() {
            self.emit(Action::ChartHistory {
                chart,
                series,
                candles,
            });
        }
    }

    /// A live bar for a chart; once the chart stream stops, a hidden tab
    /// draws none.
    fn on_candle(&mut self, chart: u8, symbol: &str, interval: Interval, candle: Candle) {
        if self.charts(chart, symbol, interval).is_some() && !self.hidden {
            self.emit(Action::ChartCandle { chart, candle });
        }
    }

    /// A snapshot: the page is live (again), whatever it was doing.
    fn on_snapshot(&mut self, seq: u64, batch: u64, quotes: Vec<Quote>) {
        self.held.take(); // the snapshot is newer
        // A hidden tab asked for one symbol: the other rows stay.
        self.emit(if self.hidden {
            Action::MergeQuotes(quotes)
        } else {
            Action::ReplaceQuotes(quotes)
        });
        self.expected_seq = Some(seq + 1);
        self.resync = None;
        self.at(seq, batch);
        self.live();
    }

    /// The stream is whole from here: the connection is live.
    fn live(&mut self) {
        self.attempt = 0;
        self.failures = 0;
        self.stop_polling();
        self.set_link(LinkState::Live);
    }

    /// The page holds the quotes of `batch`, its message `seq` applied:
    /// where a new socket can resume (servers that do not number batches
    /// send none, and cannot resume).
    fn at(&mut self, seq: u64, batch: u64) {
        if self.epoch.is_empty() || batch == 0 {
            self.position = None;
            return;
        }
        match &mut self.position {
            // Every diff moves it: the epoch is kept, not copied again.
            Some(position) if position.epoch == self.epoch => {
                (position.seq, position.batch) = (seq, batch);
            }
            _ => {
                self.position = Some(Position {
                    epoch: self.epoch.clone(),
                    seq,
                    batch,
                })
            }
        }
    }

    fn on_diff(&mut self, seq: u64, batch: u64, ts: i64, changes: Vec<Change>) {
        if self.expected_seq == Some(seq) {
            if self.hidden {
                self.hold(ts, &changes);
            } else {
                self.apply(ts, changes);
            }
            self.expected_seq = Some(seq + 1);
            self.at(seq, batch);
            if self.link != LinkState::Live && self.resync.is_none() {
                // The answer to a `resume`: continued without a snapshot.
                self.live();
            }
        } else if self.resync.is_none() {
            let expected = self.expected_seq;
            self.warn(format!(
                "seq gap: expected {expected:?}, got {seq}; resyncing"
            ));
            self.start_resync();
        }
    }

    /// Asks for a snapshot; until it comes, nothing the page shows moves.
    fn start_resync(&mut self) {
        self.expected_seq = None;
        self.position = None;
        self.resync = Some(Resync {
            attempt: 0,
            next_at_ms: self.now + RESYNC_RETRY.delay_ms(0),
        });
        self.send(ClientMsg::Resync);
        if self.link == LinkState::Live {
            self.set_link(LinkState::Resyncing);
        }
    }

    /// Sends `resync` again if the last one got no snapshot in time (lost
    /// on the way, or ignored), each time waiting longer.
    fn retry_resync(&mut self) {
        let now = self.now;
        let Some(resync) = self.resync.as_mut().filter(|r| now >= r.next_at_ms) else {
            return;
        };
        resync.attempt = resync.attempt.saturating_add(1);
        resync.next_at_ms = now + RESYNC_RETRY.delay_ms(resync.attempt);
        self.warn("no snapshot for resync; asking again");
        self.send(ClientMsg::Resync);
    }

    fn apply(&mut self, ts: i64, changes: Vec<Change>) {
        self.emit(Action::ApplyChanges { ts, changes });
        if !self.hidden {
            self.tick();
        }
    }

    /// A diff while the tab is hidden: held, and at most once a second the
    /// charted symbol's change applies, so the tab's title shows its price.
    /// (Driven by arriving messages: a hidden tab's timers may be throttled
    /// to once a minute.)
    fn hold(&mut self, ts: i64, changes: &[Change]) {
        for change in changes {
            self.held.add(ts, change);
        }
        if self.now - self.held.title_at >= TITLE_EVERY_MS {
            self.held.title_at = self.now;
            self.apply_charted();
        }
    }

    fn apply_charted(&mut self) {
        let Some(symbol) = self.charted[0].as_ref().map(|s| s.symbol.clone()) else {
            return;
        };
        if let Some(change) = self.held.take_symbol(&symbol) {
            let ts = self.held.ts;
            self.apply(ts, vec![change]);
        }
        self.clock_ms = self.now;
        self.emit(Action::TickTitle);
    }

    // --- Polling ---

    /// The WebSocket keeps failing (a proxy may block it): poll until a
    /// snapshot arrives again, for what the page watches.
    fn start_polling(&mut self) {
        self.warn("WebSocket unavailable; polling /api/quotes");
        self.polling = true;
        self.emit(Action::Polling(Polling::Started));
        self.poll_now();
        self.emit(Action::StartPolling);
    }

    fn stop_polling(&mut self) {
        if self.polling {
            self.polling = false;
            self.emit(Action::StopPolling);
            self.emit(Action::Polling(Polling::Off));
        }
    }

    fn poll_now(&mut self) {
        if self.polling {
            let watching = self.watching.clone();
            let url = quotes_url(watching.as_deref());
            self.emit(Action::Poll { url, watching });
        }
    }

    /// A poll's answer, unless a snapshot came meanwhile (it is newer) or
    /// the page now watches something else (the next poll asks for that).
    fn on_polled(&mut self, watching: Option<Vec<String>>, quotes: Vec<Quote>) {
        if self.polling && watching == self.watching {
            self.emit(Action::ReplaceQuotes(quotes));
            self.emit(Action::Polling(Polling::Answered { at_ms: self.now }));
        }
    }
}

/// Capped exponential backoff, the one the page uses for every retry:
/// `base · 2^attempt`, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base_ms: f64,
    pub max_ms: f64,
}

impl Backoff {
    /// The wait before attempt `attempt` (0-based).
    pub fn delay_ms(self, attempt: u32) -> f64 {
        (self.base_ms * f64::from(1u32 << attempt.min(16))).min(self.max_ms)
    }

    /// The same with jitter, given a uniform random number in [0, 1): in
    /// [50 %, 100 %] of the delay, so a restarted server is not hit by every
    /// page at once.
    pub fn jittered_ms(self, attempt: u32, random: f64) -> f64 {
        self.delay_ms(attempt) * (0.5 + 0.5 * random)
    }
}

/// Reconnecting: from 500 ms, capped at 30 s, jittered.
pub const RECONNECT: Backoff = Backoff {
    base_ms: 500.0,
    max_ms: 30_000.0,
};

/// Sending `resync` again when no snapshot answered: 1 s, 2 s, 4 s, then
/// every 8 s.
pub const RESYNC_RETRY: Backoff = Backoff {
    base_ms: 1_000.0,
    max_ms: 8_000.0,
};

/// The `/api/quotes` address that polls for `watching`: every symbol, or
/// those named.
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

#[cfg(test)]
mod tests;
