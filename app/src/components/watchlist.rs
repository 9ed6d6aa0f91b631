//! The live quote table: one row per symbol, one reactive cell per field.

use leptos::prelude::*;

use crate::connection::Link;
use crate::format;
use crate::protocol::FeedState;
use crate::selection::Selection;
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
                            <th scope="col" class="spark">"30 min"</th>
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
    let selection = expect_context::<Selection>();
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
        spark,
        feed,
        ..
    } = row;
    // The row's feed is down: its prices are the last ones seen, not live.
    let stale = move || {
        feed.as_deref().is_some_and(|f| {
            link.feeds
                .with(|feeds| feeds.iter().any(|(n, s)| n == f && *s != FeedState::Live))
        })
    };
    let is_selected = {
        let symbol = symbol.clone();
        move || selection.symbol.with(|s| s.as_deref() == Some(&*symbol))
    };
    let on_click = {
        let symbol = symbol.clone();
        move |_| selection.select(&symbol)
    };
    let on_key = {
        let symbol = symbol.clone();
        move |e: leptos::ev::KeyboardEvent| {
            if e.key() == "Enter" {
                selection.select(&symbol);
            }
        }
    };
    let direction = move || format::direction(change());
    view! {
        <tr
            data-symbol=symbol.to_string()
            tabindex="0"
            class:selected=is_selected.clone()
            class:stale=stale
            aria-selected=move || if is_selected() { "true" } else { "false" }
            on:click=on_click
            on:keydown=on_key
        >
            <th scope="row" class="sym">{symbol.to_string()}</th>
            <td class="name">{move || name.get().to_string()}</td>
            <td class=move || format!("num last {}", flash_class(flash.get()))>{move || format::price(last.get())}</td>
            <td class=move || format!("num chg {}", direction())>{move || format::change(change(), prev_close.get())}</td>
            <td class=move || format!("num pct {}", direction())>{move || format::change_pct(pct())}</td>
            <td class=move || format!("spark {}", direction())>
                <svg viewBox=format!("0 0 {SPARK_W} {SPARK_H}") width=SPARK_W height=SPARK_H aria-hidden="true">
                    <polyline points=move || spark.with(|p| format::spark_points(p, SPARK_W, SPARK_H)) />
                </svg>
            </td>
            <td class="num bid">{move || format::price(bid.get())}</td>
            <td class="num ask">{move || format::price(ask.get())}</td>
            <td class="num high">{move || format::price(high.get())}</td>
            <td class="num low">{move || format::price(low.get())}</td>
            <td class="num vol">{move || format::volume(volume.get())}</td>
            <td class="num time">{move || format::clock_time(ts.get(), link.tz_offset_min.get())}</td>
        </tr>
    }
}

/// Sparkline size in CSS pixels.
const SPARK_W: u32 = 88;
const SPARK_H: u32 = 24;
