//! The main chart: the selected symbol's candles (or line / area) with volume,
//! interval buttons, a crosshair readout and a "back to live" control.
//!
//! The drawing is TradingView Lightweight Charts, mounted after hydration on a
//! `NodeRef` through a thin wasm-bindgen shim (`app/js/chart.js`) and removed
//! on cleanup. History and live bars reach it through the page's
//! [`ChartFeed`](crate::chart_feed::ChartFeed), written by the connection;
//! the chart is never rebuilt per bar.

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

    /// A whole new history is drawn.
    pub fn show_history(&self, candles: &[Candle]) {
        self.latest.set(candles.last().copied());
        self.hovered.set(None);
        self.bars.set(candles.len());
    }

    /// One bar was drawn: a correction to an older bar changes nothing
    /// here, the newest bar updates, a newer one is one bar more.
    pub fn show_candle(&self, candle: Candle) {
        match self.latest.get_untracked() {
            Some(latest) if candle.t < latest.t => {}
            Some(latest) if candle.t == latest.t => self.latest.set(Some(candle)),
            _ => {
                self.bars.update(|n| *n += 1);
                self.latest.set(Some(candle));
            }
        }
    }
}

#[component]
pub fn ChartPanel() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let view = expect_context::<ChartView>();
    let container = NodeRef::<Div>::new();
    #[cfg(feature = "hydrate")]
    let canvas = drawing::mount(container, view, expect_context(), selection);
    let back_to_live = move |_| {
        #[cfg(feature = "hydrate")]
        canvas.scroll_to_live();
    };
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
                    on:click=back_to_live
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

/// The drawing (browser only).
#[cfg(feature = "hydrate")]
mod drawing {
    use std::rc::Rc;

    use leptos::html::Div;
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;

    use super::ChartView;
    use crate::chart_feed::{ChartFeed, Drawing, Series, SharedChartFeed};
    use crate::protocol::{Candle, Interval};
    use crate::selection::Selection;

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

    /// The drawn chart as the feed sees it.
    struct LightweightChart {
        chart: Rc<PriceChart>,
        view: ChartView,
    }

    impl Drawing for LightweightChart {
        fn history(&mut self, interval: Interval, candles: &[Candle]) {
            self.chart.set_data(&json(candles), interval.ms() < 60_000);
            self.view.show_history(candles);
        }

        fn candle(&mut self, candle: &Candle) {
            if self.chart.update(&json(candle)) {
                self.view.show_candle(*candle);
            }
        }
    }

    fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
    }

    /// The chart once mounted, and the callbacks it calls (alive as long as it).
    struct Mounted {
        chart: Rc<PriceChart>,
        _callbacks: (HoverCallback, ScrollCallback),
    }

    /// The chart panel's handle on its drawing, for the controls that act on it.
    #[derive(Clone, Copy)]
    pub struct Canvas(StoredValue<Option<Mounted>, LocalStorage>);

    impl Canvas {
        pub fn scroll_to_live(&self) {
            self.with_chart(|chart| chart.scroll_to_live());
        }

        fn with_chart(&self, f: impl FnOnce(&PriceChart)) {
            self.0
                .with_value(|mounted| mounted.as_ref().map(|m| f(&m.chart)));
        }
    }

    /// Creates the chart once `container` is in the page, hands it to `feed`,
    /// keeps its type in step with the view; removes it on cleanup.
    pub fn mount(
        container: NodeRef<Div>,
        view: ChartView,
        feed: SharedChartFeed,
        selection: Selection,
    ) -> Canvas {
        let canvas = Canvas(StoredValue::new_local(None));
        Effect::new(move |mounted: Option<bool>| {
            if mounted == Some(true) {
                return true;
            }
            let Some(el) = container.get() else {
                return false;
            };
            let showing = selection
                .symbol
                .get_untracked()
                .map(|s| Series::new(&s, selection.interval.get_untracked()));
            canvas.0.set_value(Some(create(&el, view, feed, showing)));
            true
        });
        Effect::new(move |_| {
            let mode = view.mode.get();
            canvas.with_chart(|chart| chart.set_mode(mode.as_str()));
        });
        on_cleanup(move || {
            feed.with(ChartFeed::detach);
            if let Some(mounted) = canvas.0.try_update_value(Option::take).flatten() {
                mounted.chart.remove();
            }
        });
        canvas
    }

    fn create(
        el: &web_sys::HtmlElement,
        view: ChartView,
        feed: SharedChartFeed,
        showing: Option<Series>,
    ) -> Mounted {
        let on_hover = HoverCallback::new(move |bar: Option<String>| {
            view.hovered
                .set(bar.and_then(|b| serde_json::from_str(&b).ok()));
        });
        let on_scroll = ScrollCallback::new(move |at_live: bool| view.at_live.set(at_live));
        let chart = Rc::new(PriceChart::new(el, on_hover.as_ref(), on_scroll.as_ref()));
        chart.set_mode(view.mode.get_untracked().as_str());
        let drawing = LightweightChart {
            chart: chart.clone(),
            view,
        };
        feed.with(|feed| feed.attach(Box::new(drawing), showing.as_ref()));
        Mounted {
            chart,
            _callbacks: (on_hover, on_scroll),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_bars_update_the_newest_or_add_one_and_corrections_change_neither() {
        Owner::new().with(|| {
            let view = ChartView::new();
            let bar = |t, c| Candle {
                c,
                ..Candle::open(t, 1.0, 1)
            };
            view.show_history(&[bar(0, 1.0), bar(60, 2.0)]);
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (2, Some(bar(60, 2.0)))
            );
            view.show_candle(bar(60, 3.0));
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (2, Some(bar(60, 3.0)))
            );
            view.show_candle(bar(0, 9.0));
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (2, Some(bar(60, 3.0)))
            );
            view.show_candle(bar(120, 4.0));
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (3, Some(bar(120, 4.0)))
            );
        });
    }
}
