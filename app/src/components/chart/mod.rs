//! The main chart: the selected symbol's candles (or line / area) with
//! volume, interval buttons, a crosshair readout and a "back to live"
//! control. The drawing itself is browser-only (`drawing`); what the chart
//! shows besides it is [`ChartView`].

mod controls;
#[cfg(feature = "hydrate")]
mod drawing;
mod linked;
mod readout;
#[cfg(feature = "hydrate")]
mod studies;
mod title;
mod view;

use leptos::html::Div;
use leptos::prelude::*;

use crate::selection::Selection;
use crate::store::QuoteStore;
use controls::{
    ClockButton, CompareLegend, IndicatorMenu, IntervalButtons, LayoutButtons, ModeButtons,
};
use linked::LinkedCharts;
use readout::Readout;
use title::ChartTitle;
pub use view::{ChartMode, ChartView, Links};

#[component]
pub fn ChartPanel() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let view = expect_context::<ChartView>();
    let container = NodeRef::<Div>::new();
    // The charted symbol's calendar: its sessions shaded, its exchange's clock.
    let store = expect_context::<QuoteStore>();
    Effect::new(move |_| {
        if let Some(symbol) = selection.symbol.get() {
            view.calendar.set(store.calendar(&symbol));
        }
    });
    #[cfg(feature = "hydrate")]
    let canvas = {
        let feed = expect_context::<crate::chart_feed::ChartFeeds>().0[0];
        drawing::mount(container, view, feed, selection.into())
    };
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
                    <ClockButton />
                    <IndicatorMenu />
                    <LayoutButtons />
                </div>
            </div>
            <Readout />
            <CompareLegend />
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
            <Attribution />
        </section>
    }
}

/// The main chart and, in a layout of 2 or 4, the charts beside it.
#[component]
pub fn ChartGrid() -> impl IntoView {
    let layout = expect_context::<Selection>().layout;
    #[cfg(feature = "hydrate")]
    drawing::follow_links(expect_context::<Links>());
    let class = move || format!("charts layout-{}", layout.count.get());
    view! {
        <div class=class data-testid="charts">
            <ChartPanel />
            <LinkedCharts />
        </div>
    }
}

/// The chart library's credit, as its licence asks.
#[component]
fn Attribution() -> impl IntoView {
    view! {
        <p class="attribution">
            "Charts by "
            <a href="https://www.tradingview.com/" target="_blank" rel="noopener">
                "TradingView Lightweight Charts™"
            </a>
            " · Copyright © TradingView, Inc."
        </p>
    }
}
