//! The live quote table: one row per symbol, one reactive cell per field.

use leptos::prelude::*;

use super::Selection;
use crate::connection::Link;
use crate::format;
use crate::store::{Flash, QuoteStore, Row};

#[component]
pub fn Watchlist() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    view! {
        <section class="panel watchlist" aria-labelledby="watchlist-title">
            <div class="panel-head">
                <h2 id="watchlist-title">"US equities"</h2>
                <span class="muted">{move || format!("{} symbols", store.rows.with(Vec::len))}</span>
            </div>
            <div class="table-wrap">
                <table class="quotes">
                    <thead>
                        <tr>
                            <th scope="col" class="sym">"Symbol"</th>
                            <th scope="col" class="name">"Name"</th>
                            <th scope="col" class="num">"Last"</th>
                            <th scope="col" class="num">"Chg"</th>
                            <th scope="col" class="num">"Chg %"</th>
                            <th scope="col" class="num">"Bid"</th>
                            <th scope="col" class="num">"Ask"</th>
                            <th scope="col" class="num">"High"</th>
                            <th scope="col" class="num">"Low"</th>
                            <th scope="col" class="num">"Volume"</th>
                            <th scope="col" class="num time">"Time"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || store.rows.get() key=|row| row.symbol.clone() let:row>
                            <QuoteRow row />
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// The flash class for the last price; alternating names restart the animation.
fn flash_class(flash: Flash) -> &'static str {
    match (flash.dir, flash.count % 2) {
        (1, 0) => "flash-up-a",
        (1, _) => "flash-up-b",
        (-1, 0) => "flash-down-a",
        (-1, _) => "flash-down-b",
        _ => "",
    }
}

#[component]
fn QuoteRow(row: Row) -> impl IntoView {
    let link = expect_context::<Link>();
    let Selection(selected) = expect_context::<Selection>();
    let (change, pct) = row.day_change();
    let Row {
        symbol,
        name,
        last,
        bid,
        ask,
        high,
        low,
        prev_close,
        volume,
        ts,
        flash,
        ..
    } = row;
    let is_selected = {
        let symbol = symbol.clone();
        move || selected.with(|s| s.as_deref() == Some(&*symbol))
    };
    let select = {
        let symbol = symbol.clone();
        move |_| selected.set(Some(symbol.clone()))
    };
    let change_class = move || format!("num chg {}", format::direction(change()));
    view! {
        <tr
            data-symbol=symbol.to_string()
            class:selected=is_selected.clone()
            aria-selected=move || if is_selected() { "true" } else { "false" }
            on:click=select
        >
            <th scope="row" class="sym">{symbol.to_string()}</th>
            <td class="name">{move || name.get().to_string()}</td>
            <td class=move || format!("num last {}", flash_class(flash.get()))>{move || format::price(last.get())}</td>
            <td class=change_class>{move || format::change(change(), prev_close.get())}</td>
            <td class=move || format!("num pct {}", format::direction(change()))>{move || format::change_pct(pct())}</td>
            <td class="num bid">{move || format::price(bid.get())}</td>
            <td class="num ask">{move || format::price(ask.get())}</td>
            <td class="num high">{move || format::price(high.get())}</td>
            <td class="num low">{move || format::price(low.get())}</td>
            <td class="num vol">{move || format::volume(volume.get())}</td>
            <td class="num time">{move || format::clock_time(ts.get(), link.tz_offset_min.get())}</td>
        </tr>
    }
}
