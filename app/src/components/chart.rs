//! The main chart: the selected symbol's candles (or line / area) with volume,
//! interval buttons, a crosshair readout and a "back to live" control.
//!
//! The drawing is TradingView Lightweight Charts, mounted after hydration on a
//! `NodeRef` through a thin wasm-bindgen shim (`app/js/chart.js`) and removed
//! on cleanup. History and live bars reach it through [`ChartFeed`], written by
//! the connection; the chart is never rebuilt per bar.

use leptos::html::Div;
use leptos::prelude::*;

use crate::format;
use crate::protocol::{Candle, Interval};
use crate::selection::Selection;
use crate::store::QuoteStore;

/// How the price is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChartMode {
    #[default]
    Candles,
    Line,
    Area,
}

impl ChartMode {
    const ALL: [ChartMode; 3] = [ChartMode::Candles, ChartMode::Line, ChartMode::Area];

    pub fn as_str(self) -> &'static str {
        match self {
            ChartMode::Candles => "candles",
            ChartMode::Line => "line",
            ChartMode::Area => "area",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ChartMode::Candles => "Candles",
            ChartMode::Line => "Line",
            ChartMode::Area => "Area",
        }
    }
}

/// The chart's reactive state, shared by its controls and the connection.
#[derive(Clone, Copy)]
pub struct ChartView {
    pub mode: RwSignal<ChartMode>,
    /// The bar under the crosshair.
    pub hovered: RwSignal<Option<Candle>>,
    /// The newest bar shown.
    pub latest: RwSignal<Option<Candle>>,
    /// Whether the newest bar is in view (else "back to live" shows).
    pub at_live: RwSignal<bool>,
    /// Bars loaded for the current symbol and interval.
    pub bars: RwSignal<usize>,
}

impl Default for ChartView {
    fn default() -> Self {
        ChartView::new()
    }
}

impl ChartView {
    pub fn new() -> ChartView {
        ChartView {
            mode: RwSignal::new(ChartMode::default()),
            hovered: RwSignal::new(None),
            latest: RwSignal::new(None),
            at_live: RwSignal::new(true),
            bars: RwSignal::new(0),
        }
    }
}

#[component]
pub fn ChartPanel() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let view = expect_context::<ChartView>();
    let container = NodeRef::<Div>::new();
    #[cfg(feature = "hydrate")]
    mount(container, view);
    let empty = move || selection.symbol.with(Option::is_none);
    view! {
        <section class="panel chart-panel" aria-label="Price chart">
            <div class="chart-head">
                <ChartTitle />
                <div class="chart-controls">
                    <IntervalButtons />
                    <ModeButtons />
                </div>
            </div>
            <Readout />
            <div class="chart-box">
                <div class="chart" node_ref=container data-testid="chart"></div>
                <Show when=empty>
                    <p class="chart-empty">
                        {move || match selection.unknown.get() {
                            Some(symbol) => format!("Unknown symbol “{symbol}”"),
                            None => "Select a symbol to chart it".to_string(),
                        }}
                    </p>
                </Show>
                <button
                    class="back-to-live"
                    data-testid="back-to-live"
                    class:hidden=move || view.at_live.get()
                    on:click=move |_| scroll_to_live()
                >
                    "Back to live"
                </button>
            </div>
            <p class="attribution">
                "Charts by "
                <a href="https://www.tradingview.com/" target="_blank" rel="noopener">
                    "TradingView Lightweight Charts™"
                </a>
                " · Copyright © TradingView, Inc."
            </p>
        </section>
    }
}

/// Symbol, name and live price above the chart.
#[component]
fn ChartTitle() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let store = expect_context::<QuoteStore>();
    let row = move || selection.symbol.get().and_then(|s| store.row(&s));
    view! {
        <div class="chart-title">
            {move || {
                row()
                    .map(|row| {
                        let (change, pct) = row.day_change();
                        let (last, prev_close, name) = (row.last, row.prev_close, row.name);
                        view! {
                            <h2 class="chart-symbol" data-testid="chart-symbol">
                                {row.symbol.to_string()}
                            </h2>
                            <span class="chart-name">{move || name.get().to_string()}</span>
                            <span class="chart-last">{move || format::price(last.get())}</span>
                            <span class=move || {
                                format!("chart-change {}", format::direction(change()).class())
                            }>
                                {move || format::change(change(), prev_close.get())} " ("
                                {move || format::change_pct(pct())} ")"
                            </span>
                        }
                    })
            }}
        </div>
    }
}

#[component]
fn IntervalButtons() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let options = Interval::ALL.map(|i| (i, i.as_str(), i.as_str()));
    let current = Signal::derive(move || selection.interval.get());
    view! { <Segmented label="Interval" options current pick=move |i| selection.set_interval(i) /> }
}

#[component]
fn ModeButtons() -> impl IntoView {
    let view = expect_context::<ChartView>();
    let options = ChartMode::ALL.map(|m| (m, m.as_str(), m.label()));
    let current = Signal::derive(move || view.mode.get());
    view! { <Segmented label="Chart type" options current pick=move |m| view.mode.set(m) /> }
}

/// A row of toggle buttons, one pressed: `options` are (value, `data-value`, label).
#[component]
fn Segmented<T, const N: usize>(
    label: &'static str,
    options: [(T, &'static str, &'static str); N],
    current: Signal<T>,
    pick: impl Fn(T) + Copy + Send + Sync + 'static,
) -> impl IntoView
where
    T: Copy + PartialEq + Send + Sync + 'static,
{
    let buttons = options.map(|(value, key, text)| {
        let pressed = move || current.get() == value;
        view! {
            <button
                class:active=pressed
                aria-pressed=move || pressed().to_string()
                data-value=key
                on:click=move |_| pick(value)
            >
                {text}
            </button>
        }
    });
    view! {
        <div class="segmented" role="group" aria-label=label>
            {buttons.into_iter().collect_view()}
        </div>
    }
}

/// OHLCV of the bar under the crosshair, else of the newest bar.
#[component]
fn Readout() -> impl IntoView {
    let view = expect_context::<ChartView>();
    let link = expect_context::<crate::connection::Link>();
    let bar = move || view.hovered.get().or_else(|| view.latest.get());
    let field =
        move |f: fn(&Candle) -> String| move || bar().map(|b| f(&b)).unwrap_or_else(|| "—".into());
    let class = move || {
        let dir = bar().map_or(format::Direction::Flat, |b| format::direction(b.c - b.o));
        format!("readout {}", dir.class())
    };
    let time = move || {
        bar()
            .map(|b| format::clock_time(b.t, link.tz_offset_min.get()))
            .unwrap_or_default()
    };
    view! {
        <div class=class data-testid="readout" aria-live="off">
            <span class="readout-time">{time}</span>
            <span>"O " <b data-field="o">{field(|b| format::price(b.o))}</b></span>
            <span>"H " <b data-field="h">{field(|b| format::price(b.h))}</b></span>
            <span>"L " <b data-field="l">{field(|b| format::price(b.l))}</b></span>
            <span>"C " <b data-field="c">{field(|b| format::price(b.c))}</b></span>
            <span>"V " <b data-field="v">{field(|b| format::volume(b.v))}</b></span>
        </div>
    }
}

#[cfg(feature = "hydrate")]
pub use client::{ChartFeed, mount, scroll_to_live};

#[cfg(not(feature = "hydrate"))]
fn scroll_to_live() {}

#[cfg(feature = "hydrate")]
mod client {
    use std::cell::RefCell;

    use leptos::html::Div;
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;

    use super::ChartView;
    use crate::protocol::{Candle, Interval};

    #[wasm_bindgen(module = "/js/chart.js")]
    extern "C" {
        type PriceChart;

        #[wasm_bindgen(constructor)]
        fn new(el: &web_sys::HtmlElement, on_hover: &JsValue, on_scroll: &JsValue) -> PriceChart;
        #[wasm_bindgen(method, js_name = setData)]
        fn set_data(this: &PriceChart, json: &str, seconds_visible: bool);
        #[wasm_bindgen(method)]
        fn update(this: &PriceChart, json: &str) -> bool;
        #[wasm_bindgen(method, js_name = setMode)]
        fn set_mode(this: &PriceChart, mode: &str);
        #[wasm_bindgen(method, js_name = scrollToLive)]
        fn scroll_to_live(this: &PriceChart);
        #[wasm_bindgen(method)]
        fn remove(this: &PriceChart);
    }

    type HoverCallback = Closure<dyn FnMut(Option<String>)>;
    type ScrollCallback = Closure<dyn FnMut(bool)>;

    /// The chart as the connection sees it: where history and live bars go.
    #[derive(Default)]
    pub struct ChartFeed {
        chart: Option<PriceChart>,
        view: Option<ChartView>,
        /// What the page asked for; messages for anything else are stale.
        wanted: Option<(String, Interval)>,
        /// History that arrived before the chart was mounted.
        pending: Option<(String, Interval, Vec<Candle>)>,
        // The JS callbacks live as long as the chart.
        _callbacks: Option<(HoverCallback, ScrollCallback)>,
    }

    thread_local! {
        static FEED: RefCell<ChartFeed> = RefCell::new(ChartFeed::default());
    }

    impl ChartFeed {
        /// Runs `f` on the page's one chart feed.
        pub fn with<T>(f: impl FnOnce(&mut ChartFeed) -> T) -> T {
            FEED.with(|feed| f(&mut feed.borrow_mut()))
        }

        /// Records what the page charts now; returns whether it changed.
        pub fn want(&mut self, symbol: Option<&str>, interval: Interval) -> bool {
            let wanted = symbol.map(|s| (s.to_string(), interval));
            let changed = wanted != self.wanted;
            self.wanted = wanted;
            changed
        }

        pub fn wanted(&self) -> Option<(String, Interval)> {
            self.wanted.clone()
        }

        fn is_wanted(&self, symbol: &str, interval: Interval) -> bool {
            self.wanted
                .as_ref()
                .is_some_and(|(s, i)| s == symbol && *i == interval)
        }

        /// A `candles` message: replaces the chart's bars.
        pub fn history(&mut self, symbol: &str, interval: Interval, candles: Vec<Candle>) {
            if !self.is_wanted(symbol, interval) {
                return;
            }
            let (Some(chart), Some(view)) = (&self.chart, self.view) else {
                self.pending = Some((symbol.to_string(), interval, candles));
                return;
            };
            chart.set_data(&json(&candles), interval.ms() < 60_000);
            view.latest.set(candles.last().copied());
            view.hovered.set(None);
            view.bars.set(candles.len());
        }

        /// A `candle` message: one bar, updated in place or appended.
        pub fn candle(&mut self, symbol: &str, interval: Interval, candle: Candle) {
            if !self.is_wanted(symbol, interval) {
                return;
            }
            let (Some(chart), Some(view)) = (&self.chart, self.view) else {
                return;
            };
            if !chart.update(&json(&candle)) {
                return;
            }
            match view.latest.get_untracked() {
                Some(latest) if candle.t < latest.t => {} // a correction to an older bar
                Some(latest) if candle.t == latest.t => view.latest.set(Some(candle)),
                _ => {
                    view.bars.update(|n| *n += 1);
                    view.latest.set(Some(candle));
                }
            }
        }
    }

    fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
    }

    /// Creates the chart once its container is in the page; removes it on cleanup.
    pub fn mount(container: NodeRef<Div>, view: ChartView) {
        Effect::new(move |mounted: Option<bool>| {
            if mounted == Some(true) {
                return true;
            }
            let Some(el) = container.get() else {
                return false;
            };
            let on_hover = HoverCallback::new(move |bar: Option<String>| {
                view.hovered
                    .set(bar.and_then(|b| serde_json::from_str(&b).ok()));
            });
            let on_scroll =
                Closure::<dyn FnMut(bool)>::new(move |at_live: bool| view.at_live.set(at_live));
            let chart = PriceChart::new(&el, on_hover.as_ref(), on_scroll.as_ref());
            chart.set_mode(view.mode.get_untracked().as_str());
            ChartFeed::with(|feed| {
                feed.chart = Some(chart);
                feed.view = Some(view);
                feed._callbacks = Some((on_hover, on_scroll));
                if let Some((symbol, interval, candles)) = feed.pending.take() {
                    feed.history(&symbol, interval, candles);
                }
            });
            true
        });
        Effect::new(move |_| {
            let mode = view.mode.get();
            ChartFeed::with(|feed| feed.chart.as_ref().map(|c| c.set_mode(mode.as_str())));
        });
        on_cleanup(|| {
            ChartFeed::with(|feed| {
                if let Some(chart) = feed.chart.take() {
                    chart.remove();
                }
                feed.view = None;
                feed._callbacks = None;
            })
        });
    }

    pub fn scroll_to_live() {
        ChartFeed::with(|feed| feed.chart.as_ref().map(PriceChart::scroll_to_live));
    }
}
