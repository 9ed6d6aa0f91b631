//! Symbol, name and live price above the chart.

use leptos::prelude::*;

use crate::format;
use crate::selection::Selection;
use crate::store::QuoteStore;

#[component]
pub fn ChartTitle() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let store = expect_context::<QuoteStore>();
    let row = move || selection.symbol.get().and_then(|s| store.row(&s));
    view! {
        <div class="chart-title">
            {move || {
                row()
                    .map(|row| {
                        let (change, pct) = row.day_change();
                        let (price, extended) = (row.price(), row.extended());
                        let (prev_close, name) = (row.prev_close, row.name);
                        view! {
                            <h2 class="chart-symbol" data-testid="chart-symbol">
                                {row.symbol.to_string()}
                            </h2>
                            <span class="chart-name">{move || name.get().to_string()}</span>
                            <span class="chart-last">{move || format::price(price())}</span>
                            <span class=move || {
                                format!("chart-change {}", format::direction(change()).class())
                            }>
                                {move || format::change(change(), prev_close.get())} " ("
                                {move || format::change_pct(pct())} ")"
                            </span>
                            {move || {
                                extended()
                                    .map(|(session, last, pct)| {
                                        view! {
                                            <span class="chart-extended">
                                                {format::extended_label(session)} " "
                                                <span class="ext-price">{format::price(last)}</span> " "
                                                <span class=format::direction(pct).class()>{format::change_pct(pct)}</span>
                                            </span>
                                        }
                                    })
                            }}
                        }
                    })
            }}
        </div>
    }
}
