//! The main chart's symbol's order book and trades tape, in the side column
//! under the detail panel: a header whose toggle opens the panel (the choice
//! is remembered in localStorage), then a price ladder, a depth chart and the
//! tape. Ladder rows are keyed by price and tape rows by id, so an update
//! touches only the rows it changes and a trade on screen is drawn once.

use std::collections::VecDeque;
use std::fmt::Write;

use leptos::prelude::*;

use crate::connection::{Link, LinkState};
use crate::depth::{BookShown, MarketDepth, TapeRow};
use crate::format;
use crate::protocol::{BOOK_DEPTH, Level, Trade, TradeSide};
use crate::selection::Selection;

/// Levels per side the ladder shows (the depth chart draws every one).
const LADDER_LEVELS: usize = 10;
/// The depth chart's width in viewBox units (stretched to the panel's).
const CHART_W: f64 = 300.0;
/// The depth chart's height in viewBox units (and CSS pixels).
const CHART_H: f64 = 90.0;
/// With trades on the tape but no book this long (ms) after asking, the
/// symbol has none: its feed has no depth.
const NO_BOOK_WITH_TRADES_MS: f64 = 1_000.0;
/// Without trades either, the wait before saying so.
const NO_BOOK_MS: f64 = 5_000.0;
/// The localStorage key of whether the panel is open.
#[cfg(feature = "hydrate")]
const OPEN_KEY: &str = "tickertape.depth";

/// The panel: its header and toggle always, the book and tape while open.
#[component]
pub fn DepthPanel() -> impl IntoView {
    let depth = expect_context::<MarketDepth>();
    let selection = expect_context::<Selection>();
    #[cfg(feature = "hydrate")]
    remember_open(depth);
    let open = move || depth.open.get();
    let symbol = move || selection.symbol.get().map(|s| s.to_string());
    view! {
        <section class="panel depth" class:open=open aria-label="Order book and trades" data-testid="depth">
            <div class="panel-head depth-head">
                <h2>"Order book · Trades"</h2>
                <span class="muted depth-symbol">{symbol}</span>
                <button
                    type="button"
                    class="depth-toggle"
                    aria-pressed=move || open().to_string()
                    data-testid="depth-toggle"
                    on:click=move |_| toggle(depth)
                >
                    {move || if open() { "Hide" } else { "Show" }}
                </button>
            </div>
            <Show when=open>
                <DepthBody />
            </Show>
        </section>
    }
}

/// Opens the panel, or closes it and forgets what it showed: reopened, it
/// shows the server's fresh tape and book, never an old book as live.
fn toggle(depth: MarketDepth) {
    let open = !depth.open.get_untracked();
    depth.open.set(open);
    if !open {
        depth.tape.update(VecDeque::clear);
        depth.book.set(BookShown::default());
    }
}

/// Reads the remembered choice once hydrated, then keeps each change.
#[cfg(feature = "hydrate")]
fn remember_open(depth: MarketDepth) {
    let storage = || web_sys::window()?.local_storage().ok().flatten();
    Effect::new(move |loaded: Option<()>| {
        let open = depth.open.get();
        if loaded.is_none() {
            let saved = storage().and_then(|s| s.get_item(OPEN_KEY).ok().flatten());
            if saved.as_deref() == Some("open") {
                depth.open.set(true);
            }
            return;
        }
        if let Some(s) = storage() {
            let _ = s.set_item(OPEN_KEY, if open { "open" } else { "closed" });
        }
    });
}

/// The open panel: the book (its state, ladder and depth chart) over the
/// tape.
#[component]
fn DepthBody() -> impl IntoView {
    let shown = Shown::new();
    let state = shown.state;
    view! {
        <div
            class="book"
            class:stale=move || state.get() != BookState::Live
            class:missing=move || state.get() == BookState::Missing
        >
            <StateBadge state />
            <Ladder shown />
            <DepthChart book=shown.book />
        </div>
        <Tape rows=shown.tape />
    }
}

/// What the open panel shows: the charted symbol's tape and book (nothing
/// while the page still holds another symbol's), and how far the book can
/// be trusted.
#[derive(Clone, Copy)]
struct Shown {
    book: Memo<BookShown>,
    ladder: Memo<Ladder>,
    state: Memo<BookState>,
    tape: Signal<Vec<TapeRow>>,
}

impl Shown {
    fn new() -> Shown {
        let depth = expect_context::<MarketDepth>();
        let selection = expect_context::<Selection>();
        let link = expect_context::<Link>();
        let current = Memo::new(move |_| {
            let charted = selection.symbol.get();
            depth.symbol.with(|s| s.as_deref() == charted.as_deref())
        });
        let book = Memo::new(move |_| {
            if current.get() {
                depth.book.get()
            } else {
                BookShown::default()
            }
        });
        let tape = Signal::derive(move || {
            if current.get() {
                depth.tape.with(|t| t.iter().copied().collect())
            } else {
                Vec::new()
            }
        });
        let traded = Memo::new(move |_| current.get() && depth.tape.with(|t| !t.is_empty()));
        let connected =
            Memo::new(move |_| matches!(link.state.get(), LinkState::Live | LinkState::Resyncing));
        let waited = waited_ms(selection, link, connected);
        let state = Memo::new(move |_| {
            book.with(|b| BookState::of(b, connected.get(), traded.get(), waited.get()))
        });
        Shown {
            book,
            ladder: Memo::new(move |_| book.with(Ladder::new)),
            state,
            tape,
        }
    }
}

/// Milliseconds since the page last asked for the charted symbol's book
/// (the panel opened, the symbol changed or the connection came back); 0
/// while it cannot ask. Counted on the page clock, which ticks twice a
/// second.
fn waited_ms(selection: Selection, link: Link, connected: Memo<bool>) -> Memo<f64> {
    let asking = Memo::new(move |_| connected.get() && link.now_ms.get() > 0.0);
    let since = RwSignal::new(None::<f64>);
    Effect::new(move |_| {
        selection.symbol.track();
        since.set(asking.get().then(|| link.now_ms.get_untracked()));
    });
    Memo::new(move |_| {
        since
            .get()
            .map_or(0.0, |at| (link.now_ms.get() - at).max(0.0))
    })
}

/// How far the book shown can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BookState {
    /// The server vouches for it, it is uncrossed and the page is connected.
    Live,
    /// None has arrived yet for the charted symbol.
    Waiting,
    /// The symbol has none (its feed has no depth): none came, though its
    /// trades did, or the wait ran out.
    Missing,
    /// The best bid is at or above the best ask.
    Crossed,
    /// The server says it cannot be trusted just now, or the page lost the
    /// connection that would update it.
    Stale,
}

impl BookState {
    fn of(book: &BookShown, connected: bool, traded: bool, waited_ms: f64) -> BookState {
        if book.bids.is_empty() && book.asks.is_empty() {
            let gave_up =
                waited_ms >= NO_BOOK_MS || (traded && waited_ms >= NO_BOOK_WITH_TRADES_MS);
            if book.ts == 0 && gave_up {
                BookState::Missing
            } else {
                BookState::Waiting
            }
        } else if !book.uncrossed() {
            BookState::Crossed
        } else if !book.live || !connected {
            BookState::Stale
        } else {
            BookState::Live
        }
    }

    /// What the badge says.
    fn label(self) -> &'static str {
        match self {
            BookState::Live => "Live",
            BookState::Waiting => "Waiting for the book…",
            BookState::Missing => "No order book for this symbol",
            BookState::Crossed => "Crossed",
            BookState::Stale => "Stale",
        }
    }

    /// The badge's CSS class.
    fn class(self) -> &'static str {
        match self {
            BookState::Live => "live",
            BookState::Waiting => "waiting",
            BookState::Missing => "missing",
            BookState::Crossed => "crossed",
            BookState::Stale => "stale",
        }
    }
}

/// Over the ladder while the book is not live: why.
#[component]
fn StateBadge(state: Memo<BookState>) -> impl IntoView {
    move || {
        let state = state.get();
        (state != BookState::Live).then(|| {
            view! {
                <p class=format!("book-state {}", state.class()) role="status" data-testid="book-state">
                    {state.label()}
                </p>
            }
        })
    }
}

/// A side of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Bid,
    Ask,
}

impl Side {
    /// The row's CSS class.
    fn class(self) -> &'static str {
        match self {
            Side::Bid => "bid",
            Side::Ask => "ask",
        }
    }

    /// The row's `data-testid`.
    fn test_id(self) -> &'static str {
        match self {
            Side::Bid => "book-bid",
            Side::Ask => "book-ask",
        }
    }
}

/// One level with the size from the side's best level down to it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rung {
    price: f64,
    size: f64,
    /// Sizes from the best level to this one, inclusive.
    total: f64,
}

/// The best `n` of a side's levels (best first), with running totals.
fn running(levels: &[Level], n: usize) -> Vec<Rung> {
    let mut total = 0.0;
    levels
        .iter()
        .take(n)
        .map(|&(price, size)| {
            total += size;
            Rung { price, size, total }
        })
        .collect()
}

/// The levels the ladder shows: the best [`LADDER_LEVELS`] a side.
#[derive(Clone, Debug, Default, PartialEq)]
struct Ladder {
    bids: Vec<Rung>,
    asks: Vec<Rung>,
}

impl Ladder {
    fn new(book: &BookShown) -> Ladder {
        Ladder {
            bids: running(&book.bids, LADDER_LEVELS),
            asks: running(&book.asks, LADDER_LEVELS),
        }
    }

    fn side(&self, side: Side) -> &[Rung] {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    /// The rows' prices top to bottom: asks highest first, bids highest
    /// first, so both best prices meet at the spread.
    fn prices(&self, side: Side) -> Vec<f64> {
        let prices = self.side(side).iter().map(|r| r.price);
        match side {
            Side::Bid => prices.collect(),
            Side::Ask => prices.rev().collect(),
        }
    }

    fn rung(&self, side: Side, price: f64) -> Option<Rung> {
        self.side(side).iter().find(|r| r.price == price).copied()
    }

    /// A level's depth bar, in percent of the width: its running total
    /// against the larger side's whole.
    fn bar(&self, rung: &Rung) -> f64 {
        let whole = |side: &[Rung]| side.last().map_or(0.0, |r| r.total);
        let full = whole(&self.bids).max(whole(&self.asks));
        if full > 0.0 {
            rung.total / full * 100.0
        } else {
            0.0
        }
    }
}

/// Asks above (the best nearest the middle), the spread, bids below; each
/// row over a bar of the depth from the best level to it.
#[component]
fn Ladder(shown: Shown) -> impl IntoView {
    let ladder = shown.ladder;
    view! {
        <table class="book-ladder" aria-label="Order book: asks, spread, bids" data-testid="book-ladder">
            <thead>
                <tr>
                    <th scope="col">"Price"</th>
                    <th scope="col" class="num">"Size"</th>
                    <th scope="col" class="num">"Total"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || ladder.with(|l| l.prices(Side::Ask)) key=|p: &f64| p.to_bits() let:price>
                    <LadderRow side=Side::Ask price ladder />
                </For>
            </tbody>
            <tbody>
                <SpreadRow book=shown.book />
            </tbody>
            <tbody>
                <For each=move || ladder.with(|l| l.prices(Side::Bid)) key=|p: &f64| p.to_bits() let:price>
                    <LadderRow side=Side::Bid price ladder />
                </For>
            </tbody>
        </table>
    }
}

/// One price level; its row stays while its price stays in the ladder.
#[component]
fn LadderRow(side: Side, price: f64, ladder: Memo<Ladder>) -> impl IntoView {
    let rung = Memo::new(move |_| ladder.with(|l| l.rung(side, price)));
    let bar = Memo::new(move |_| ladder.with(|l| rung.get().map_or(0.0, |r| l.bar(&r))));
    let size = move || rung.get().map(|r| size_text(r.size));
    let total = move || rung.get().map(|r| size_text(r.total));
    view! {
        <tr
            class=side.class()
            data-testid=side.test_id()
            data-price=price.to_string()
            style=move || format!("--depth: {:.1}%", bar.get())
        >
            <th scope="row" class="book-price">{format::price(price)}</th>
            <td class="num">{size}</td>
            <td class="num book-total">{total}</td>
        </tr>
    }
}

/// The ladder's middle: the best ask less the best bid, and that as a share
/// of the mid price.
#[component]
fn SpreadRow(book: Memo<BookShown>) -> impl IntoView {
    let spread = Memo::new(move |_| book.with(spread_text));
    view! {
        <tr class="book-spread" data-testid="book-spread">
            <th scope="row">"Spread"</th>
            <td class="num">{move || spread.get().map_or_else(|| "—".to_string(), |s| s.0)}</td>
            <td class="num muted">{move || spread.get().map(|s| s.1)}</td>
        </tr>
    }
}

/// The spread in price units and in percent of the mid price.
fn spread_text(book: &BookShown) -> Option<(String, String)> {
    let (bid, ask) = (book.bids.first()?.0, book.asks.first()?.0);
    let spread = ask - bid;
    let pct = spread / ((ask + bid) / 2.0) * 100.0;
    Some((
        format::change(spread, ask).replace('+', ""),
        format!("{pct:.3}%"),
    ))
}

/// One side's stepped outline and the area under it, as SVG path data.
#[derive(Clone, Debug, Default, PartialEq)]
struct Steps {
    line: String,
    area: String,
}

impl Steps {
    /// From the best level outwards to `edge`: up by each level's size at
    /// its price.
    fn new(rungs: &[Rung], x: impl Fn(f64) -> f64, y: impl Fn(f64) -> f64, edge: f64) -> Steps {
        let Some(best) = rungs.first() else {
            return Steps::default();
        };
        let mut line = format!("M{:.1},{CHART_H:.1}", x(best.price));
        let mut held = 0.0;
        for rung in rungs {
            let at = x(rung.price);
            let _ = write!(
                line,
                " L{at:.1},{:.1} L{at:.1},{:.1}",
                y(held),
                y(rung.total)
            );
            held = rung.total;
        }
        let _ = write!(line, " L{edge:.1},{:.1}", y(held));
        let area = format!("{line} L{edge:.1},{CHART_H:.1} Z");
        Steps { line, area }
    }
}

/// A depth chart: cumulative size by price, bids left of the mid price and
/// asks right of it, over a price range centred on it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Curve {
    bids: Steps,
    asks: Steps,
    /// The prices at the left edge, the middle and the right edge.
    low: f64,
    mid: f64,
    high: f64,
    /// Every level's size, per side.
    bid_total: f64,
    ask_total: f64,
}

impl Curve {
    fn of(book: &BookShown) -> Curve {
        let (bids, asks) = (
            running(&book.bids, BOOK_DEPTH),
            running(&book.asks, BOOK_DEPTH),
        );
        let mid = match (book.bids.first(), book.asks.first()) {
            (Some(bid), Some(ask)) => (bid.0 + ask.0) / 2.0,
            (Some((only, _)), None) | (None, Some((only, _))) => *only,
            (None, None) => return Curve::default(),
        };
        let far = |side: &[Rung]| side.last().map_or(0.0, |r| (r.price - mid).abs());
        let reach = far(&bids).max(far(&asks));
        let reach = if reach > 0.0 { reach } else { mid * 0.001 };
        let whole = |side: &[Rung]| side.last().map_or(0.0, |r| r.total);
        let (bid_total, ask_total) = (whole(&bids), whole(&asks));
        let top = bid_total.max(ask_total).max(f64::MIN_POSITIVE);
        let x = |price: f64| ((price - mid) / reach + 1.0) / 2.0 * CHART_W;
        let y = |total: f64| CHART_H - total / top * (CHART_H - 4.0);
        Curve {
            bids: Steps::new(&bids, x, y, 0.0),
            asks: Steps::new(&asks, x, y, CHART_W),
            low: mid - reach,
            mid,
            high: mid + reach,
            bid_total,
            ask_total,
        }
    }

    /// What a screen reader hears of it.
    fn label(&self) -> String {
        format!(
            "Depth chart: {} bid, {} offered",
            size_text(self.bid_total),
            size_text(self.ask_total)
        )
    }
}

/// Cumulative depth either side of the mid price, every level the server
/// sends.
#[component]
fn DepthChart(book: Memo<BookShown>) -> impl IntoView {
    let curve = Memo::new(move |_| book.with(Curve::of));
    let price = move |pick: fn(&Curve) -> f64| {
        move || {
            curve.with(|c| {
                if c.mid > 0.0 {
                    format::price(pick(c))
                } else {
                    String::new()
                }
            })
        }
    };
    view! {
        <div class="depth-chart" data-testid="depth-chart">
            <svg
                viewBox=format!("0 0 {CHART_W} {CHART_H}")
                preserveAspectRatio="none"
                role="img"
                aria-label=move || curve.with(Curve::label)
            >
                <line class="depth-mid" x1="150" y1="0" x2="150" y2="90" />
                <path class="depth-area bid" d=move || curve.with(|c| c.bids.area.clone()) />
                <path class="depth-line bid" d=move || curve.with(|c| c.bids.line.clone()) />
                <path class="depth-area ask" d=move || curve.with(|c| c.asks.area.clone()) />
                <path class="depth-line ask" d=move || curve.with(|c| c.asks.line.clone()) />
            </svg>
            <div class="depth-axis" aria-hidden="true">
                <span>{price(|c| c.low)}</span>
                <span>{price(|c| c.mid)}</span>
                <span>{price(|c| c.high)}</span>
            </div>
        </div>
    }
}

/// The tape: the newest trade on top, large ones standing out; it scrolls
/// in its own box.
#[component]
fn Tape(rows: Signal<Vec<TapeRow>>) -> impl IntoView {
    view! {
        <div class="tape-head">
            <h3>"Trades"</h3>
            <LargeInput />
        </div>
        <div class="tape-box" tabindex="0" role="region" aria-label="Trades tape">
            <table class="tape" aria-label="Trades, newest first" data-testid="tape">
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col" class="num">"Price"</th>
                        <th scope="col" class="num">"Size"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || rows.get() key=|row: &TapeRow| row.id let:row>
                        <TapeLine row />
                    </For>
                </tbody>
            </table>
            <Show when=move || rows.with(Vec::is_empty)>
                <p class="tape-empty muted">"Waiting for trades…"</p>
            </Show>
        </div>
    }
}

/// One trade: time, price and size, coloured by side; drawn once.
#[component]
fn TapeLine(row: TapeRow) -> impl IntoView {
    let link = expect_context::<Link>();
    let Trade { t, p, s, side } = row.trade;
    let direction = match side {
        Some(side) if side.is_up() => "up",
        Some(_) => "down",
        None => "flat",
    };
    view! {
        <tr
            class=format!("tape-row {direction}")
            class:large=row.large
            data-testid="tape-row"
            data-t=t
            data-price=p.to_string()
            data-side=side.map(side_name)
        >
            <td class="tape-time">{move || format::clock_time(t, link.tz_offset_min.get())}</td>
            <td class="num tape-price">{format::price(p)}</td>
            <td class="num">{size_text(s)}</td>
        </tr>
    }
}

/// A side as the protocol spells it.
fn side_name(side: TradeSide) -> &'static str {
    match side {
        TradeSide::Buy => "buy",
        TradeSide::Sell => "sell",
        TradeSide::Up => "up",
        TradeSide::Down => "down",
    }
}

/// The viewer's large-trade size; empty: automatic (a multiple of the
/// tape's median size). It marks trades from then on.
#[component]
fn LargeInput() -> impl IntoView {
    let depth = expect_context::<MarketDepth>();
    let value = depth.large.get_untracked().map(|v| v.to_string());
    let on_input = move |e: leptos::ev::Event| {
        let size = event_target_value(&e).trim().parse::<f64>().ok();
        depth.large.set(size.filter(|s| s.is_finite() && *s > 0.0));
    };
    view! {
        <label class="tape-large" title="Trades of at least this size stand out; empty: automatic">
            "Large ≥"
            <input
                type="number"
                min="0"
                step="any"
                placeholder="auto"
                value=value
                data-testid="tape-large"
                on:input=on_input
            />
        </label>
    }
}

/// A size as the book and tape show it: whole shares as they are (`842`),
/// ten thousand and up abbreviated (`12.3K`), fractions (crypto) to two
/// decimals from one and four below.
fn size_text(size: f64) -> String {
    match size {
        s if !s.is_finite() || s <= 0.0 => "—".into(),
        s if s >= 10_000.0 => format::volume(s.round() as u64),
        s if s.fract() == 0.0 || s >= 100.0 => format!("{s:.0}"),
        s if s >= 1.0 => format!("{s:.2}"),
        s => format!("{s:.4}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(bids: &[Level], asks: &[Level]) -> BookShown {
        BookShown {
            bids: bids.to_vec(),
            asks: asks.to_vec(),
            live: true,
            ts: 1,
        }
    }

    #[test]
    fn the_ladder_meets_at_the_spread_with_bars_against_the_larger_side() {
        let levels: Vec<Level> = (0..15).map(|i| (100.0 - f64::from(i), 10.0)).collect();
        let ladder = Ladder::new(&book(&levels, &[(101.0, 50.0), (102.0, 30.0)]));
        assert_eq!(ladder.bids.len(), LADDER_LEVELS, "ten levels a side");
        assert_eq!(
            ladder.prices(Side::Ask),
            [102.0, 101.0],
            "the best ask at the bottom"
        );
        assert_eq!(
            ladder.prices(Side::Bid)[0],
            100.0,
            "the best bid at the top"
        );
        let bids_whole = ladder.rung(Side::Bid, 91.0).unwrap();
        assert_eq!((bids_whole.total, ladder.bar(&bids_whole)), (100.0, 100.0));
        let best_ask = ladder.rung(Side::Ask, 101.0).unwrap();
        assert_eq!(ladder.bar(&best_ask), 50.0);
        assert_eq!(ladder.rung(Side::Ask, 100.0), None);
    }

    #[test]
    fn the_book_is_live_only_when_whole_uncrossed_vouched_for_and_connected() {
        let good = book(&[(99.0, 1.0)], &[(100.0, 1.0)]);
        assert_eq!(BookState::of(&good, true, true, 0.0), BookState::Live);
        assert_eq!(BookState::of(&good, false, true, 0.0), BookState::Stale);
        let unsure = BookShown {
            live: false,
            ..good.clone()
        };
        assert_eq!(BookState::of(&unsure, true, true, 0.0), BookState::Stale);
        let crossed = book(&[(100.5, 1.0)], &[(100.0, 1.0)]);
        assert_eq!(BookState::of(&crossed, true, true, 0.0), BookState::Crossed);
    }

    #[test]
    fn a_symbol_without_a_book_says_so_soon_after_its_trades_or_later_without() {
        let none = BookShown::default();
        assert_eq!(BookState::of(&none, true, false, 0.0), BookState::Waiting);
        assert_eq!(BookState::of(&none, true, true, 200.0), BookState::Waiting);
        assert_eq!(
            BookState::of(&none, true, true, 1_500.0),
            BookState::Missing
        );
        assert_eq!(
            BookState::of(&none, true, false, 3_000.0),
            BookState::Waiting
        );
        assert_eq!(
            BookState::of(&none, true, false, 6_000.0),
            BookState::Missing
        );
        // A book came and went (the feed lost it): it is on its way back.
        let emptied = BookShown { ts: 5, ..none };
        assert_eq!(
            BookState::of(&emptied, true, true, 9_000.0),
            BookState::Waiting
        );
    }

    #[test]
    fn the_depth_chart_steps_out_from_the_mid_price() {
        let curve = Curve::of(&book(
            &[(99.0, 2.0), (98.0, 2.0)],
            &[(101.0, 1.0), (102.0, 1.0)],
        ));
        assert_eq!((curve.low, curve.mid, curve.high), (98.0, 100.0, 102.0));
        assert_eq!((curve.bid_total, curve.ask_total), (4.0, 2.0));
        // Bids: up 2 at 99 (x 75), up 2 more at 98 (the left edge, the top).
        assert_eq!(
            curve.bids.line,
            "M75.0,90.0 L75.0,90.0 L75.0,47.0 L0.0,47.0 L0.0,4.0 L0.0,4.0"
        );
        assert!(
            curve.asks.area.starts_with("M225.0,90.0")
                && curve.asks.area.ends_with("L300.0,90.0 Z")
        );
        assert_eq!(Curve::of(&BookShown::default()), Curve::default());
    }

    #[test]
    fn spreads_and_sizes_read_compactly() {
        let (spread, pct) = spread_text(&book(&[(99.98, 1.0)], &[(100.02, 1.0)])).unwrap();
        assert_eq!((spread.as_str(), pct.as_str()), ("0.04", "0.040%"));
        assert_eq!(spread_text(&book(&[], &[(1.0, 1.0)])), None);
        assert_eq!(
            [842.0, 12_345.0, 1.5, 0.052_31, 250.4, 0.0].map(size_text),
            ["842", "12.3K", "1.50", "0.0523", "250", "—"]
        );
    }
}
