//! The charts beside the main one in a layout of 2 or 4: each its own
//! symbol and interval, drawn like the main chart with its indicators, its
//! crosshair and visible time range following the others' when linked.

use leptos::html::Div;
use leptos::prelude::*;

use super::view::{ChartView, Charted};
use crate::format;
use crate::protocol::Interval;
use crate::selection::Selection;
use crate::store::QuoteStore;

/// Charts 1 to 3 of the layout, as many as it shows.
#[component]
pub fn LinkedCharts() -> impl IntoView {
    let layout = expect_context::<Selection>().layout;
    let charts = move || (1..layout.count.get()).map(|n| n as u8).collect::<Vec<_>>();
    view! {
        <For each=charts key=|chart| *chart let:chart>
            <LinkedChart chart />
        </For>
    }
}

#[component]
fn LinkedChart(chart: u8) -> impl IntoView {
    let selection = expect_context::<Selection>();
    let store = expect_context::<QuoteStore>();
    let layout = selection.layout;
    let charted = Charted::linked(selection, chart);
    let view = ChartView::new();
    Effect::new(move |_| {
        if let Some(symbol) = charted.symbol.get() {
            view.calendar.set(store.calendar(&symbol));
        }
    });
    let container = NodeRef::<Div>::new();
    #[cfg(feature = "hydrate")]
    {
        let feed = expect_context::<crate::chart_feed::ChartFeeds>().0[usize::from(chart)];
        super::drawing::mount(container, view, feed, charted);
    }
    let symbols = move || {
        store
            .rows
            .with(|rows| rows.iter().map(|r| r.symbol.clone()).collect::<Vec<_>>())
    };
    let current = move || {
        charted
            .symbol
            .get()
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let pick_symbol = move |ev: leptos::ev::Event| {
        layout.set_chart(
            chart,
            &event_target_value(&ev),
            charted.interval.get_untracked(),
        );
    };
    let pick_interval = move |ev: leptos::ev::Event| {
        if let (Ok(interval), Some(symbol)) = (
            event_target_value(&ev).parse::<Interval>(),
            charted.symbol.get_untracked(),
        ) {
            layout.set_chart(chart, &symbol, interval);
        }
    };
    let row = move || charted.symbol.get().and_then(|s| store.row(&s));
    let price = move || {
        row()
            .map(|r| format::price(r.price()()))
            .unwrap_or_default()
    };
    let change = move || {
        row().map(|r| {
            let (_, pct) = r.day_change();
            let pct = pct();
            (
                format::change_pct(pct),
                format!("chart-change {}", format::direction(pct).class()),
            )
        })
    };
    let hovered = move || {
        view.hovered.get().map(|bar| {
            format!(
                "O {}  H {}  L {}  C {}",
                format::price(bar.o),
                format::price(bar.h),
                format::price(bar.l),
                format::price(bar.c)
            )
        })
    };
    view! {
        <section class="panel chart-panel linked-chart" aria-label=format!("Chart {}", chart + 1)>
            <div class="chart-head">
                <div class="chart-title">
                    <select
                        class="linked-symbol"
                        aria-label="Symbol"
                        data-testid="linked-symbol"
                        prop:value=current
                        on:change=pick_symbol
                    >
                        <For each=symbols key=|s| s.clone() let:symbol>
                            <option value=symbol.to_string()>{symbol.to_string()}</option>
                        </For>
                    </select>
                    <span class="chart-last">{price}</span>
                    {move || change().map(|(text, class)| view! { <span class=class>{text}</span> })}
                </div>
                <select
                    class="linked-interval"
                    aria-label="Interval"
                    data-testid="linked-interval"
                    prop:value=move || charted.interval.get().to_string()
                    on:change=pick_interval
                >
                    {Interval::ALL
                        .map(|i| view! { <option value=i.as_str()>{i.as_str()}</option> })
                        .into_iter()
                        .collect_view()}
                </select>
            </div>
            <p class="linked-readout" data-testid="linked-readout">{hovered}</p>
            <div class="chart-box">
                <div class="chart" node_ref=container data-testid="linked-chart" data-chart=chart></div>
            </div>
        </section>
    }
}
