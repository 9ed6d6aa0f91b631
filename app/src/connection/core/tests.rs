//! The connection's state machine, driven event by event as a browser
//! would drive it, with the clock and the jitter in the test's hands.

use super::*;

/// A core under test, with its clock.
struct Page {
    core: ConnectionCore,
    now: f64,
}

impl Page {
    /// A visible page showing every symbol, its socket not yet open.
    fn new() -> Page {
        Page::with(Start {
            online: true,
            ..Start::default()
        })
    }

    /// Jitter is always the largest, so delays are the backoff's ceiling.
    fn with(start: Start) -> Page {
        Page::with_jitter(start, 1.0)
    }

    fn with_jitter(start: Start, random: f64) -> Page {
        Page {
            core: ConnectionCore::new(start, Box::new(move || random)),
            now: 1_000_000.0,
        }
    }

    /// A page whose socket is open and whose first snapshot (seq 1) arrived.
    fn live() -> Page {
        let mut page = Page::new();
        page.on(Event::Start);
        page.on(Event::Opened);
        page.on(snapshot(1, &["AAPL", "MSFT"]));
        page
    }

    fn on(&mut self, event: Event) -> Vec<Action> {
        self.core.handle(event, self.now)
    }

    /// Advances the clock by `ms`, in half-second steps of the page timer.
    fn wait(&mut self, ms: f64) -> Vec<Action> {
        let end = self.now + ms;
        let mut actions = Vec::new();
        while self.now + TICK_MS <= end {
            self.now += TICK_MS;
            actions.extend(self.on(Event::Clock));
        }
        self.now = end;
        actions
    }

    /// Closes the socket and lets the reconnect's wait run out.
    fn fail_connect(&mut self) -> Vec<Action> {
        let mut actions = self.on(Event::Closed {
            code: 1006,
            reason: String::new(),
        });
        let ticket = reconnect_ticket(&actions).expect("a reconnect is scheduled");
        actions.extend(self.on(Event::ReconnectDue(ticket)));
        actions
    }
}

fn quote(symbol: &str, last: f64) -> Quote {
    Quote {
        symbol: symbol.into(),
        last,
        bid: last,
        ask: last,
        open: last,
        high: last,
        low: last,
        prev_close: last,
        volume: 1,
        ts: 1,
        session: Default::default(),
        close: 0.0,
    }
}

fn server(msg: &ServerMsg) -> Event {
    Event::Message(serde_json::to_string(msg).unwrap())
}

fn snapshot(seq: u64, symbols: &[&str]) -> Event {
    let quotes = symbols.iter().map(|s| quote(s, 10.0)).collect();
    server(&ServerMsg::Snapshot {
        seq,
        batch: seq + 1000,
        quotes,
    })
}

fn change(symbol: &str, last: f64) -> Change {
    Change {
        symbol: symbol.into(),
        last: Some(last),
        ..Default::default()
    }
}

fn diff(seq: u64, changes: &[Change]) -> Event {
    server(&ServerMsg::Diff {
        seq,
        batch: seq + 1000,
        ts: seq as i64 * 100,
        changes: changes.to_vec(),
    })
}

fn closed(code: u16) -> Event {
    Event::Closed {
        code,
        reason: "bye".into(),
    }
}

fn sent(actions: &[Action]) -> Vec<ClientMsg> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(msg) => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn subscribe(symbols: &[&str]) -> ClientMsg {
    ClientMsg::Subscribe {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
    }
}

fn unsubscribe_all() -> ClientMsg {
    ClientMsg::Unsubscribe {
        symbols: vec!["*".into()],
    }
}

fn chart(series: Option<(&str, Interval)>) -> ClientMsg {
    ClientMsg::Chart {
        symbol: series.map(|(s, _)| s.to_string()),
        interval: series.map(|(_, i)| i),
        limit: Some(CHART_BARS),
        chart: 0,
        trades: false,
        book: false,
    }
}

fn applied(actions: &[Action]) -> Vec<Vec<Change>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ApplyChanges { changes, .. } => Some(changes.clone()),
            _ => None,
        })
        .collect()
}

fn links(actions: &[Action]) -> Vec<LinkState> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Link(state) => Some(*state),
            _ => None,
        })
        .collect()
}

fn reconnect_ticket(actions: &[Action]) -> Option<Ticket> {
    actions.iter().find_map(|a| match a {
        Action::ReconnectAfter { ticket, .. } => Some(*ticket),
        _ => None,
    })
}

fn reconnect_delay(actions: &[Action]) -> Option<f64> {
    actions.iter().find_map(|a| match a {
        Action::ReconnectAfter { ms, .. } => Some(*ms),
        _ => None,
    })
}

fn polls(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Poll { url, .. } => Some(url.clone()),
            _ => None,
        })
        .collect()
}

fn has(actions: &[Action], action: &Action) -> bool {
    actions.contains(action)
}

// --- Connecting and going live ---

#[test]
fn the_page_connects_subscribes_to_everything_on_open_and_is_live_at_the_snapshot() {
    let mut page = Page::new();
    let start = page.on(Event::Start);
    assert_eq!(start, [Action::Open], "the badge already says Connecting");
    page.on(Event::Charting {
        chart: 0,
        series: Some(Series::new("MSFT", Interval::M1)),
    });
    let opened = page.on(Event::Opened);
    assert_eq!(
        sent(&opened),
        [subscribe(&["*"]), chart(Some(("MSFT", Interval::M1)))]
    );
    let live = page.on(snapshot(1, &["AAPL"]));
    assert_eq!(
        live,
        [
            Action::ReplaceQuotes(vec![quote("AAPL", 10.0)]),
            Action::Link(LinkState::Live)
        ]
    );
}

#[test]
fn nothing_is_sent_before_the_socket_opens() {
    let mut page = Page::new();
    page.on(Event::Start);
    assert_eq!(sent(&page.on(Event::PingDue)), []);
    let charting = page.on(Event::Charting {
        chart: 0,
        series: Some(Series::new("A", Interval::M1)),
    });
    assert_eq!(sent(&charting), []);
    let watching = page.on(Event::Watching(Some(vec!["A".into()])));
    assert_eq!(sent(&watching), []);
}

#[test]
fn diffs_in_order_are_applied_and_tick_the_page_clock_at_most_twice_a_second() {
    let mut page = Page::live();
    let first = page.on(diff(2, &[change("AAPL", 11.0)]));
    assert_eq!(applied(&first), [vec![change("AAPL", 11.0)]]);
    assert!(has(&first, &Action::Tick));
    assert!(has(
        &first,
        &Action::ApplyChanges {
            ts: 200,
            changes: vec![change("AAPL", 11.0)]
        }
    ));
    page.now += 100.0;
    let second = page.on(diff(3, &[change("MSFT", 9.0)]));
    assert_eq!(applied(&second).len(), 1);
    assert!(!has(&second, &Action::Tick), "100 ms after the last tick");
    page.now += TICK_MS;
    assert!(has(
        &page.on(diff(4, &[change("AAPL", 12.0)])),
        &Action::Tick
    ));
}

#[test]
fn the_page_clock_ticks_in_quiet_times_but_not_in_a_hidden_tab() {
    let mut page = Page::live();
    let ticks = |actions: &[Action]| actions.iter().filter(|a| **a == Action::Tick).count();
    assert_eq!(ticks(&page.wait(2_000.0)), 4);
    page.on(Event::Visibility { hidden: true });
    assert_eq!(ticks(&page.wait(2_000.0)), 0);
}

#[test]
fn a_ping_measures_the_round_trip_from_its_pong() {
    let mut page = Page::live();
    let ping = sent(&page.on(Event::PingDue));
    let t = match &ping[..] {
        [ClientMsg::Ping { t }] => t.clone(),
        other => panic!("one ping, got {other:?}"),
    };
    page.now += 42.0;
    let pong = page.on(server(&ServerMsg::Pong { t, server_time: 0 }));
    assert_eq!(pong, [Action::Latency(42.0)]);
}

#[test]
fn feed_states_and_server_errors_are_passed_on_and_unknown_messages_ignored() {
    let mut page = Page::live();
    let status = page.on(server(&ServerMsg::Status {
        feed: "sim".into(),
        state: FeedState::Stale,
    }));
    assert_eq!(
        status,
        [Action::Feed {
            name: "sim".into(),
            state: FeedState::Stale
        }]
    );
    let error = page.on(Event::Message(
        r#"{"type":"error","code":"rate_limited","message":"slow down"}"#.into(),
    ));
    assert!(matches!(&error[..], [Action::Warn(w)] if w.contains("slow down")));
    assert_eq!(page.on(Event::Message(r#"{"type":"news"}"#.into())), []);
    let garbage = page.on(Event::Message("{not json".into()));
    assert!(matches!(&garbage[..], [Action::Warn(_)]));
}

// --- seq, gaps and resync ---

#[test]
fn a_gap_sends_one_resync_and_freezes_the_table_until_the_snapshot() {
    let mut page = Page::live();
    let gap = page.on(diff(3, &[change("AAPL", 11.0)]));
    assert_eq!(sent(&gap), [ClientMsg::Resync]);
    assert_eq!(applied(&gap), [] as [Vec<Change>; 0]);
    assert_eq!(links(&gap), [LinkState::Resyncing]);
    for seq in 4..8 {
        let later = page.on(diff(seq, &[change("AAPL", 12.0)]));
        assert_eq!(later, [], "neither applied nor asked again");
    }
    let snapshot = page.on(snapshot(8, &["AAPL"]));
    assert_eq!(links(&snapshot), [LinkState::Live]);
    assert_eq!(applied(&page.on(diff(9, &[change("AAPL", 13.0)]))).len(), 1);
}

#[test]
fn a_duplicate_or_old_seq_is_a_gap_too() {
    for seq in [1, 2] {
        let mut page = Page::live();
        page.on(diff(2, &[change("AAPL", 11.0)]));
        let again = page.on(diff(seq, &[change("AAPL", 11.0)]));
        assert_eq!(sent(&again), [ClientMsg::Resync], "seq {seq} after 2");
        assert_eq!(applied(&again), [] as [Vec<Change>; 0]);
    }
}

#[test]
fn a_diff_before_any_snapshot_asks_for_one_and_the_badge_still_says_connecting() {
    let mut page = Page::new();
    page.on(Event::Start);
    page.on(Event::Opened);
    let early = page.on(diff(5, &[change("AAPL", 11.0)]));
    assert_eq!(sent(&early), [ClientMsg::Resync]);
    assert_eq!(links(&early), []);
    assert_eq!(applied(&early), [] as [Vec<Change>; 0]);
}

#[test]
fn an_unanswered_resync_is_sent_again_after_1_2_4_then_every_8_seconds() {
    let mut page = Page::live();
    page.on(diff(3, &[]));
    let mut resent_at = Vec::new();
    let start = page.now;
    for _ in 0..(30_000.0 / TICK_MS) as usize {
        let actions = page.wait(TICK_MS);
        if sent(&actions).contains(&ClientMsg::Resync) {
            resent_at.push(page.now - start);
        }
    }
    assert_eq!(
        resent_at,
        [1_000.0, 3_000.0, 7_000.0, 15_000.0, 23_000.0],
        "waits of 1, 2, 4, 8 and 8 s"
    );
    page.on(snapshot(9, &["AAPL"]));
    assert_eq!(sent(&page.wait(20_000.0)), [], "answered: no more resyncs");
}

#[test]
fn a_resync_that_fails_again_after_its_snapshot_starts_over_at_one_second() {
    let mut page = Page::live();
    page.on(diff(3, &[]));
    page.wait(4_000.0); // two retries
    page.on(snapshot(10, &["AAPL"]));
    let gap = page.on(diff(12, &[]));
    assert_eq!(sent(&gap), [ClientMsg::Resync]);
    assert_eq!(sent(&page.wait(500.0)), []);
    assert_eq!(
        sent(&page.wait(500.0)),
        [ClientMsg::Resync],
        "1 s after the gap"
    );
}

// --- Closing, reconnecting and being offline ---

#[test]
fn every_close_code_reconnects_with_growing_backoff() {
    for code in [1000, 1001, 1006, 1008, 1009, 1011, 1013] {
        let mut page = Page::live();
        let close = page.on(closed(code));
        assert!(
            matches!(&close[0], Action::Log(line) if line.contains(&code.to_string())),
            "{close:?}"
        );
        assert!(has(&close, &Action::Close));
        assert_eq!(reconnect_delay(&close), Some(500.0), "code {code}");
        assert_eq!(
            links(&close),
            [LinkState::Reconnecting {
                at_ms: page.now + 500.0
            }]
        );
    }
    let mut page = Page::live();
    let delays: Vec<f64> = (0..8)
        .map(|_| reconnect_delay(&page.fail_connect()).unwrap())
        .collect();
    assert_eq!(
        delays,
        [
            500.0, 1_000.0, 2_000.0, 4_000.0, 8_000.0, 10_000.0, 10_000.0, 10_000.0
        ],
        "at most 10 s once polling (from the third failure)"
    );
}

#[test]
fn the_jitter_spreads_reconnects_between_half_and_all_of_the_backoff() {
    let online = Start {
        online: true,
        ..Start::default()
    };
    let mut page = Page::with_jitter(online, 0.0);
    page.on(Event::Start);
    page.on(Event::Opened);
    assert_eq!(reconnect_delay(&page.on(closed(1006))), Some(250.0));
}

#[test]
fn only_the_latest_reconnect_connects() {
    let mut page = Page::live();
    let first = reconnect_ticket(&page.on(closed(1006))).unwrap();
    let second = reconnect_ticket(&page.on(Event::Offline)).unwrap();
    assert_eq!(page.on(Event::ReconnectDue(first)), [], "superseded");
    let due = page.on(Event::ReconnectDue(second));
    assert_eq!(due, [Action::Link(LinkState::Connecting), Action::Open]);
    assert_eq!(page.on(Event::ReconnectDue(second)), [], "used");
}

#[test]
fn a_socket_that_cannot_be_created_is_retried() {
    let mut page = Page::new();
    page.on(Event::Start);
    let failed = page.on(Event::OpenFailed("SyntaxError".into()));
    assert!(!has(&failed, &Action::Close), "there is no socket to close");
    assert_eq!(reconnect_delay(&failed), Some(500.0));
}

#[test]
fn a_silent_socket_is_dropped_after_twice_the_heartbeat() {
    let mut page = Page::live();
    page.on(server(&ServerMsg::Hello {
        protocol: 1,
        server_time: 0,
        heartbeat_ms: 2_000,
        epoch: String::new(),
    }));
    assert_eq!(
        reconnect_delay(&page.wait(4_000.0)),
        None,
        "4 s is not more than 4 s"
    );
    let dropped = page.wait(TICK_MS);
    assert!(has(&dropped, &Action::Close));
    assert!(reconnect_delay(&dropped).is_some());
}

#[test]
fn silence_counts_only_once_live_and_defaults_to_30_seconds() {
    let mut page = Page::new();
    page.on(Event::Start);
    page.on(Event::Opened);
    assert_eq!(
        reconnect_delay(&page.wait(60_000.0)),
        None,
        "still connecting"
    );
    page.on(snapshot(1, &["AAPL"]));
    page.wait(29_500.0);
    page.on(diff(2, &[])); // any message counts
    assert_eq!(reconnect_delay(&page.wait(30_000.0)), None);
    assert!(reconnect_delay(&page.wait(TICK_MS)).is_some());
}

#[test]
fn offline_says_so_at_once_and_online_reconnects_at_once_with_a_fresh_backoff() {
    let mut page = Page::live();
    page.fail_connect();
    page.fail_connect();
    let offline = page.on(Event::Offline);
    assert!(has(&offline, &Action::Close));
    assert_eq!(links(&offline), [LinkState::Offline]);
    // A reconnect while offline fails the same way and still says Offline.
    let ticket = reconnect_ticket(&offline).unwrap();
    page.on(Event::ReconnectDue(ticket));
    assert_eq!(links(&page.on(closed(1006))), [LinkState::Offline]);
    let online = page.on(Event::Online);
    assert_eq!(online, [Action::Link(LinkState::Connecting), Action::Open]);
    page.on(Event::Opened);
    assert_eq!(
        reconnect_delay(&page.on(closed(1006))),
        Some(500.0),
        "attempt 0"
    );
}

#[test]
fn online_with_a_socket_up_changes_nothing() {
    let mut page = Page::live();
    assert_eq!(page.on(Event::Online), []);
}

#[test]
fn events_of_a_dropped_socket_are_ignored() {
    let mut page = Page::live();
    page.on(closed(1006));
    assert_eq!(page.on(closed(1006)), []);
    assert_eq!(page.on(Event::Opened), []);
    assert_eq!(page.on(diff(2, &[change("AAPL", 1.0)])), []);
}

// --- Falling back to polling, and back ---

#[test]
fn after_three_failed_connects_the_page_polls_until_a_snapshot() {
    let mut page = Page::new();
    page.on(Event::Start);
    assert_eq!(polls(&page.fail_connect()), [] as [String; 0]);
    assert_eq!(polls(&page.fail_connect()), [] as [String; 0]);
    let third = page.on(closed(1011));
    assert_eq!(polls(&third), ["/api/quotes"]);
    assert!(has(&third, &Action::Polling(Polling::Started)));
    assert!(has(&third, &Action::StartPolling));
    assert_eq!(polls(&page.on(Event::PollDue)), ["/api/quotes"]);
    page.now += 50.0;
    let answer = page.on(Event::Polled {
        watching: None,
        quotes: vec![quote("AAPL", 3.0)],
    });
    assert_eq!(
        answer,
        [
            Action::ReplaceQuotes(vec![quote("AAPL", 3.0)]),
            Action::Polling(Polling::Answered { at_ms: page.now })
        ]
    );
    let ticket = reconnect_ticket(&third).unwrap();
    page.on(Event::ReconnectDue(ticket));
    page.on(Event::Opened);
    let back = page.on(snapshot(1, &["AAPL"]));
    assert!(has(&back, &Action::StopPolling));
    assert!(has(&back, &Action::Polling(Polling::Off)));
    assert_eq!(links(&back), [LinkState::Live]);
    assert_eq!(polls(&page.on(Event::PollDue)), [] as [String; 0]);
}

#[test]
fn a_connection_that_was_live_counts_as_one_failure_toward_polling() {
    let mut page = Page::live();
    assert_eq!(polls(&page.fail_connect()), [] as [String; 0]);
    assert_eq!(polls(&page.fail_connect()), [] as [String; 0]);
    assert_eq!(polls(&page.fail_connect()), ["/api/quotes"]);
}

#[test]
fn a_poll_answer_after_a_snapshot_or_for_another_watchlist_is_dropped() {
    let mut page = polling_page();
    let stale = page.on(Event::Polled {
        watching: Some(vec!["NVDA".into()]),
        quotes: vec![quote("NVDA", 1.0)],
    });
    assert_eq!(stale, [], "asked for another list");
    page.on(Event::Opened);
    page.on(snapshot(1, &["AAPL"]));
    let late = page.on(Event::Polled {
        watching: None,
        quotes: vec![quote("AAPL", 1.0)],
    });
    assert_eq!(late, [], "the snapshot is newer");
}

/// A page that has fallen back to polling, its fourth connect opening.
fn polling_page() -> Page {
    let mut page = Page::new();
    page.on(Event::Start);
    for _ in 0..3 {
        page.fail_connect();
    }
    page
}

#[test]
fn with_a_watchlist_open_polls_ask_for_its_symbols_and_a_change_polls_at_once() {
    let mut page = polling_page();
    let opened = page.on(Event::Watching(Some(vec!["NVDA".into(), "A&B".into()])));
    assert_eq!(polls(&opened), ["/api/quotes?symbols=NVDA,A%26B"]);
    assert_eq!(
        polls(&page.on(Event::PollDue)),
        ["/api/quotes?symbols=NVDA,A%26B"]
    );
    let closed = page.on(Event::Watching(None));
    assert_eq!(polls(&closed), ["/api/quotes"]);
}

// --- What the page subscribes to ---

#[test]
fn a_watchlist_change_resubscribes_while_open_and_waits_while_connecting() {
    let mut page = Page::live();
    let list = page.on(Event::Watching(Some(vec!["NVDA".into()])));
    assert_eq!(sent(&list), [unsubscribe_all(), subscribe(&["NVDA"])]);
    assert_eq!(
        page.on(Event::Watching(Some(vec!["NVDA".into()]))),
        [],
        "same list"
    );
    let ticket = reconnect_ticket(&page.on(closed(1006))).unwrap();
    let meanwhile = page.on(Event::Watching(Some(vec!["AMD".into()])));
    assert_eq!(sent(&meanwhile), []);
    page.on(Event::ReconnectDue(ticket));
    let opened = page.on(Event::Opened);
    assert_eq!(
        sent(&opened)[0],
        subscribe(&["AMD"]),
        "the list as it is now"
    );
}

#[test]
fn a_watchlist_change_while_resyncing_resubscribes_and_the_table_stays_frozen() {
    let mut page = Page::live();
    page.on(diff(5, &[]));
    let list = page.on(Event::Watching(Some(vec!["NVDA".into()])));
    assert_eq!(sent(&list), [unsubscribe_all(), subscribe(&["NVDA"])]);
    assert_eq!(applied(&page.on(diff(6, &[change("NVDA", 1.0)]))).len(), 0);
    let answer = page.on(snapshot(7, &["NVDA"]));
    assert_eq!(links(&answer), [LinkState::Live]);
}

#[test]
fn a_new_chart_selection_asks_for_its_series_and_drops_bars_of_the_old_one() {
    let mut page = Page::live();
    let msft = Series::new("MSFT", Interval::M1);
    page.on(Event::Charting {
        chart: 0,
        series: Some(msft.clone()),
    });
    let five = page.on(Event::Charting {
        chart: 0,
        series: Some(Series::new("MSFT", Interval::S5)),
    });
    assert_eq!(sent(&five), [chart(Some(("MSFT", Interval::S5)))]);
    assert_eq!(
        page.on(Event::Charting {
            chart: 0,
            series: Some(Series::new("MSFT", Interval::S5)),
        }),
        []
    );
    let bar = Candle::open(0, 1.0, 1);
    let old = |interval| ServerMsg::Candles {
        symbol: "MSFT".into(),
        interval,
        candles: vec![bar],
        chart: 0,
    };
    assert_eq!(page.on(server(&old(Interval::M1))), [], "stale history");
    let history = page.on(server(&old(Interval::S5)));
    assert_eq!(
        history,
        [Action::ChartHistory {
            chart: 0,
            series: Series::new("MSFT", Interval::S5),
            candles: vec![bar]
        }]
    );
    let live = |symbol: &str| ServerMsg::Candle {
        symbol: symbol.into(),
        interval: Interval::S5,
        candle: bar,
        chart: 0,
    };
    assert_eq!(page.on(server(&live("AAPL"))), []);
    assert_eq!(
        page.on(server(&live("MSFT"))),
        [Action::ChartCandle {
            chart: 0,
            candle: bar
        }]
    );
    assert_eq!(
        sent(&page.on(Event::Charting {
            chart: 0,
            series: None,
        })),
        [chart(None)]
    );
}

#[test]
fn linked_charts_each_ask_for_their_series_and_get_only_their_bars() {
    let mut page = charting_msft();
    let second = page.on(Event::Charting {
        chart: 2,
        series: Some(Series::new("NVDA", Interval::M5)),
    });
    let asked = ClientMsg::Chart {
        symbol: Some("NVDA".into()),
        interval: Some(Interval::M5),
        limit: Some(CHART_BARS),
        chart: 2,
        trades: false,
        book: false,
    };
    assert_eq!(sent(&second), std::slice::from_ref(&asked));
    let bar = Candle::open(0, 1.0, 1);
    let on = |chart, symbol: &str| ServerMsg::Candle {
        symbol: symbol.into(),
        interval: Interval::M5,
        candle: bar,
        chart,
    };
    assert_eq!(page.on(server(&on(0, "NVDA"))), [], "not chart 0's series");
    assert_eq!(page.on(server(&on(1, "NVDA"))), [], "chart 1 shows nothing");
    assert_eq!(
        page.on(server(&on(2, "NVDA"))),
        [Action::ChartCandle {
            chart: 2,
            candle: bar
        }]
    );
    // Hidden, every chart stops; shown again, each asks again.
    let hidden = sent(&page.on(Event::Visibility { hidden: true }));
    assert!(hidden.contains(&ClientMsg::Chart {
        symbol: None,
        interval: None,
        limit: Some(CHART_BARS),
        chart: 2,
        trades: false,
        book: false,
    }));
    let shown = sent(&page.on(Event::Visibility { hidden: false }));
    assert!(shown.contains(&asked), "{shown:?}");
    let gone = page.on(Event::Charting {
        chart: 2,
        series: None,
    });
    assert_eq!(sent(&gone).len(), 1, "chart 2 stopped");
}

#[test]
fn the_tape_and_book_ride_on_the_main_chart_and_follow_its_symbol() {
    let mut page = charting_msft();
    let open = sent(&page.on(Event::Depth(true)));
    assert_eq!(
        open,
        [ClientMsg::Chart {
            symbol: Some("MSFT".into()),
            interval: Some(Interval::M1),
            limit: Some(CHART_BARS),
            chart: 0,
            trades: true,
            book: true,
        }]
    );
    let trade = Trade {
        t: 5,
        p: 1.0,
        s: 2.0,
        side: None,
    };
    let trades = |symbol: &str| ServerMsg::Trades {
        symbol: symbol.into(),
        trades: vec![trade],
        chart: 0,
    };
    assert_eq!(page.on(server(&trades("AAPL"))), [], "another symbol's");
    let first = Action::Trades {
        symbol: "MSFT".into(),
        trades: vec![trade],
        replace: true,
    };
    assert_eq!(page.on(server(&trades("MSFT"))), [first]);
    let next = page.on(server(&trades("MSFT")));
    assert!(matches!(&next[..], [Action::Trades { replace: false, .. }]));
    let book = ServerMsg::Book {
        symbol: "MSFT".into(),
        snapshot: true,
        live: true,
        bids: vec![(1.0, 1.0)],
        asks: vec![(1.1, 1.0)],
        ts: 9,
        chart: 0,
    };
    assert!(matches!(&page.on(server(&book))[..], [Action::Book(b)] if b.snapshot && b.live));
    let closed = sent(&page.on(Event::Depth(false)));
    assert_eq!(closed, [chart(Some(("MSFT", Interval::M1)))]);
    assert_eq!(page.on(server(&trades("MSFT"))), [], "closed");
}

// --- A hidden tab ---

/// A live page charting MSFT.
fn charting_msft() -> Page {
    let mut page = Page::live();
    page.on(Event::Charting {
        chart: 0,
        series: Some(Series::new("MSFT", Interval::M1)),
    });
    page
}

fn rate(max_hz: Option<f64>) -> ClientMsg {
    ClientMsg::Rate { max_hz }
}

#[test]
fn a_hidden_tab_slows_to_one_message_a_second_and_no_chart_keeping_its_subscription() {
    let mut page = charting_msft();
    let hidden = page.on(Event::Visibility { hidden: true });
    assert_eq!(sent(&hidden), [rate(Some(HIDDEN_HZ)), chart(None)]);
    assert_eq!(page.on(Event::Visibility { hidden: true }), [], "no change");
    let shown = page.on(Event::Visibility { hidden: false });
    assert_eq!(
        sent(&shown),
        [rate(None), chart(Some(("MSFT", Interval::M1)))],
        "no resubscribe: seq runs on, no snapshot"
    );
}

#[test]
fn a_tab_hidden_when_it_connects_asks_for_everything_at_the_hidden_rate() {
    let mut page = Page::live();
    page.on(Event::Visibility { hidden: true });
    let reconnect = page.fail_connect();
    assert!(has(&reconnect, &Action::Open), "{reconnect:?}");
    let opened = page.on(Event::Opened);
    assert_eq!(
        sent(&opened)[..2],
        [subscribe(&["*"]), rate(Some(HIDDEN_HZ))]
    );
}

#[test]
fn a_hidden_tab_holds_diffs_applies_the_title_symbol_once_a_second_and_the_rest_when_shown() {
    let mut page = charting_msft();
    page.on(Event::Visibility { hidden: true });
    let first = page.on(diff(2, &[change("MSFT", 1.0), change("AAPL", 1.0)]));
    assert_eq!(applied(&first), [vec![change("MSFT", 1.0)]]);
    assert!(has(&first, &Action::TickTitle));
    assert!(!has(&first, &Action::Tick));
    page.now += 400.0;
    assert_eq!(
        page.on(diff(3, &[change("MSFT", 2.0)])),
        [],
        "held: within the second"
    );
    page.now += 600.0;
    let second = page.on(diff(4, &[change("AAPL", 3.0)]));
    assert_eq!(applied(&second), [vec![change("MSFT", 2.0)]]);
    let candle = ServerMsg::Candle {
        symbol: "MSFT".into(),
        interval: Interval::M1,
        candle: Candle::open(0, 1.0, 1),
        chart: 0,
    };
    assert_eq!(page.on(server(&candle)), [], "no bars for a hidden chart");
    let shown = page.on(Event::Visibility { hidden: false });
    let changes = applied(&shown).concat();
    assert!(changes.contains(&change("AAPL", 3.0)));
    assert!(
        changes
            .iter()
            .filter(|c| c.symbol == "MSFT")
            .all(Change::is_empty),
        "MSFT's changes were applied already"
    );
}

#[test]
fn a_hidden_tabs_snapshot_merges_and_drops_what_was_held() {
    let mut page = charting_msft();
    page.on(Event::Visibility { hidden: true });
    page.on(diff(2, &[change("MSFT", 1.0), change("AAPL", 1.0)]));
    let snapshot = page.on(snapshot(3, &["MSFT"]));
    assert_eq!(
        snapshot,
        [Action::MergeQuotes(vec![quote("MSFT", 10.0)])],
        "the other rows stay"
    );
    let shown = page.on(Event::Visibility { hidden: false });
    assert_eq!(
        applied(&shown),
        [] as [Vec<Change>; 0],
        "the snapshot is newer"
    );
}

// --- The numbers ---

#[test]
fn backoff_doubles_caps_and_jitters() {
    assert_eq!(RECONNECT.jittered_ms(0, 0.0), 250.0);
    assert_eq!(RECONNECT.jittered_ms(0, 1.0), 500.0);
    assert_eq!(RECONNECT.jittered_ms(3, 1.0), 4_000.0);
    assert_eq!(RECONNECT.jittered_ms(20, 1.0), 30_000.0);
    assert_eq!(RECONNECT.jittered_ms(20, 0.0), 15_000.0);
}

#[test]
fn resyncs_are_retried_after_1_2_4_then_every_8_seconds() {
    let waits: Vec<f64> = (0..6).map(|a| RESYNC_RETRY.delay_ms(a)).collect();
    assert_eq!(
        waits,
        [1_000.0, 2_000.0, 4_000.0, 8_000.0, 8_000.0, 8_000.0]
    );
    assert_eq!(RESYNC_RETRY.delay_ms(u32::MAX), 8_000.0);
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

// --- A restarting server ---

#[test]
fn a_restarting_server_is_reconnected_to_when_it_says_not_at_once() {
    let mut page = Page::live();
    let closed = page.on(Event::Closed {
        code: SERVICE_RESTART,
        reason: "service restart; retry_after_ms=4321".into(),
    });
    let Some(Action::ReconnectAfter { ms, .. }) = closed
        .iter()
        .find(|a| matches!(a, Action::ReconnectAfter { .. }))
    else {
        panic!("no reconnect: {closed:?}");
    };
    assert_eq!(*ms, 4321.0);
    assert!(
        !has(&closed, &Action::StartPolling),
        "a restart is not a failure"
    );
    // A hint beyond reason is capped; none, or another code, is the backoff.
    assert_eq!(
        restart_hint(1012, "retry_after_ms=9999999"),
        Some(MAX_RESTART_WAIT_MS)
    );
    assert_eq!(restart_hint(1012, "service restart"), None);
    assert_eq!(restart_hint(1001, "retry_after_ms=5"), None);
    assert_eq!(restart_hint(1012, "retry_after_ms=x"), None);
}

/// A snapshot in `tickertape.v1.bin`, symbol i with id i.
fn bin_snapshot(seq: u64, symbols: &[&str]) -> Event {
    let quotes: Vec<Quote> = symbols.iter().map(|s| quote(s, 10.0)).collect();
    let ids = quotes.iter().enumerate().map(|(i, q)| (i as u32, q));
    Event::Frame(binary::Snapshot::new(ids).frame(seq, seq + 1000))
}

/// A diff in `tickertape.v1.bin` of `(id, change)`s.
fn bin_diff(seq: u64, changes: &[(u32, Change)]) -> Event {
    let ts = seq as i64 * 100;
    let mut body = Vec::new();
    for (id, change) in changes {
        binary::encode_change(*id, change, ts, &mut body);
    }
    let header = binary::Header {
        kind: binary::DIFF,
        seq,
        batch: seq + 1000,
        base_ts: ts,
        count: changes.len() as u64,
    };
    Event::Frame(binary::frame(header, &body))
}

#[test]
fn binary_frames_move_the_page_exactly_as_their_json_does() {
    let mut json = Page::new();
    let mut bin = Page::new();
    for page in [&mut json, &mut bin] {
        page.on(Event::Start);
        page.on(Event::Opened);
    }
    assert_eq!(
        json.on(snapshot(1, &["AAPL", "MSFT"])),
        bin.on(bin_snapshot(1, &["AAPL", "MSFT"]))
    );
    let changes = [change("MSFT", 11.25), change("AAPL", 9.5)];
    assert_eq!(
        json.on(diff(2, &changes)),
        bin.on(bin_diff(
            2,
            &[(1, changes[0].clone()), (0, changes[1].clone())]
        ))
    );
}

#[test]
fn an_unreadable_binary_frame_resyncs_and_symbol_ids_last_as_long_as_the_epoch() {
    let mut page = Page::new();
    page.on(Event::Start);
    page.on(Event::Opened);
    page.on(bin_snapshot(1, &["AAPL"]));
    let garbage = page.on(Event::Frame(vec![binary::DIFF, 2, 0, 9]));
    assert_eq!(sent(&garbage), [ClientMsg::Resync]);
    assert_eq!(links(&garbage), [LinkState::Resyncing]);
    assert_eq!(
        links(&page.on(bin_snapshot(3, &["AAPL"]))),
        [LinkState::Live]
    );
    assert_eq!(
        applied(&page.on(bin_diff(4, &[(0, change("AAPL", 12.0))]))),
        [vec![change("AAPL", 12.0)]]
    );
    // Ids belong to the server's epoch: kept on a new connection to it,
    // forgotten when another epoch greets the page.
    page.on(hello("e1"));
    page.fail_connect();
    page.on(Event::Opened);
    page.on(hello("e1"));
    page.on(bin_snapshot(1, &["AAPL"]));
    let known = page.on(bin_diff(2, &[(0, change("AAPL", 13.0))]));
    assert_eq!(applied(&known), [vec![change("AAPL", 13.0)]]);
    page.fail_connect();
    page.on(Event::Opened);
    page.on(hello("e2"));
    let unnamed = page.on(bin_diff(1, &[(0, change("AAPL", 14.0))]));
    assert_eq!(applied(&unnamed), [] as [Vec<Change>; 0]);
    assert_eq!(sent(&unnamed), [ClientMsg::Resync]);
}

fn hello(epoch: &str) -> Event {
    server(&ServerMsg::Hello {
        protocol: 1,
        server_time: 0,
        heartbeat_ms: 15_000,
        epoch: epoch.into(),
    })
}

/// A page live on a server of epoch `e1`, at seq 3 (batch 1003).
fn live_on_e1() -> Page {
    let mut page = Page::new();
    page.on(Event::Start);
    page.on(Event::Opened);
    page.on(hello("e1"));
    page.on(snapshot(1, &["AAPL", "MSFT"]));
    page.on(diff(2, &[change("AAPL", 11.0)]));
    page.on(diff(3, &[change("MSFT", 12.0)]));
    page
}

fn resume(seq: u64, batch: u64) -> ClientMsg {
    ClientMsg::Resume {
        epoch: "e1".into(),
        seq,
        batch,
        symbols: vec!["*".into()],
    }
}

#[test]
fn a_new_socket_resumes_where_the_last_left_off_and_one_diff_makes_it_live() {
    let mut page = live_on_e1();
    page.fail_connect();
    let opened = page.on(Event::Opened);
    assert_eq!(sent(&opened)[..1], [resume(3, 1003)], "not a subscribe");
    page.on(hello("e1"));
    let caught_up = page.on(diff(4, &[change("AAPL", 13.0)]));
    assert_eq!(applied(&caught_up), [vec![change("AAPL", 13.0)]]);
    assert_eq!(links(&caught_up), [LinkState::Live]);
    // And on from there; a later reconnect resumes from the newest.
    page.on(diff(5, &[change("MSFT", 14.0)]));
    page.fail_connect();
    assert_eq!(sent(&page.on(Event::Opened))[..1], [resume(5, 1005)]);
}

#[test]
fn a_resume_answered_by_a_snapshot_starts_over_from_it() {
    let mut page = live_on_e1();
    page.fail_connect();
    page.on(Event::Opened);
    page.on(hello("e2")); // a restarted server: another numbering
    let fresh = page.on(snapshot(4, &["AAPL"]));
    assert_eq!(links(&fresh), [LinkState::Live]);
    assert!(has(
        &fresh,
        &Action::ReplaceQuotes(vec![quote("AAPL", 10.0)])
    ));
    page.fail_connect();
    let again = page.on(Event::Opened);
    assert_eq!(
        sent(&again)[..1],
        [ClientMsg::Resume {
            epoch: "e2".into(),
            seq: 4,
            batch: 1004,
            symbols: vec!["*".into()],
        }]
    );
}

#[test]
fn without_an_epoch_or_after_a_gap_a_new_socket_subscribes_afresh() {
    // An older server names no epoch: nothing to resume.
    let mut page = Page::live();
    page.fail_connect();
    assert_eq!(sent(&page.on(Event::Opened))[..1], [subscribe(&["*"])]);
    // A gap: the quotes are not those of any batch until the snapshot.
    let mut page = live_on_e1();
    page.on(diff(9, &[change("AAPL", 1.0)]));
    page.fail_connect();
    assert_eq!(sent(&page.on(Event::Opened))[..1], [subscribe(&["*"])]);
}

#[test]
fn a_phone_sized_page_asks_for_fewer_messages_and_for_all_once_wider() {
    let mut page = Page::with(Start {
        online: true,
        narrow: true,
        ..Start::default()
    });
    page.on(Event::Start);
    let opened = page.on(Event::Opened);
    assert_eq!(
        sent(&opened)[..2],
        [
            subscribe(&["*"]),
            ClientMsg::Rate {
                max_hz: Some(NARROW_HZ)
            }
        ]
    );
    page.on(snapshot(1, &["AAPL"]));
    // Hidden wins over narrow; shown again, narrow again.
    let hidden = page.on(Event::Visibility { hidden: true });
    assert!(sent(&hidden).contains(&ClientMsg::Rate {
        max_hz: Some(HIDDEN_HZ)
    }));
    let shown = page.on(Event::Visibility { hidden: false });
    assert!(sent(&shown).contains(&ClientMsg::Rate {
        max_hz: Some(NARROW_HZ)
    }));
    assert_eq!(
        sent(&page.on(Event::Narrow(false))),
        [ClientMsg::Rate { max_hz: None }]
    );
    assert_eq!(
        sent(&page.on(Event::Narrow(false))),
        [],
        "no change, no message"
    );
    // A wide page sends no rate on a new socket.
    page.fail_connect();
    let reopened = page.on(Event::Opened);
    assert!(
        !sent(&reopened)
            .iter()
            .any(|m| matches!(m, ClientMsg::Rate { .. }))
    );
}
