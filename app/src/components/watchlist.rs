//! The live quote table: one row per symbol, one reactive cell per field.

use leptos::prelude::*;

use crate::connection::Link;
use crate::format;
use crate::protocol::FeedState;
use crate::selection::Selection;
use crate::store::{Flash, QuoteStore, Row};

/// Height of one table row in CSS pixels (`.quotes tbody tr` in the CSS).
const ROW_HEIGHT: f64 = 35.0;
/// Rows rendered beyond each edge of the view, so scrolling shows no gaps.
const OVERSCAN: usize = 12;
/// Rows rendered before the page can measure its table (server-side and
/// the first client render, which must match it).
const INITIAL_ROWS: usize = 40;

/// The rows to render, `start..end`: those in view plus the overscan. Only
/// these exist in the DOM; the others still update their signals, unseen.
pub fn window(len: usize, scroll_top: f64, viewport: Option<f64>) -> (usize, usize) {
    let Some(height) = viewport else {
        return (0, len.min(INITIAL_ROWS));
    };
    let first = (scroll_top.max(0.0) / ROW_HEIGHT) as usize;
    let shown = (height.max(0.0) / ROW_HEIGHT).ceil() as usize;
    let end = (first + shown + OVERSCAN).min(len);
    (first.saturating_sub(OVERSCAN).min(end), end)
}

#[component]
pub fn Watchlist() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let scroller = NodeRef::<leptos::html::Div>::new();
    let scroll_top = RwSignal::new(0.0);
    let viewport = RwSignal::new(None::<f64>);
    let range =
        Memo::new(move |_| window(store.rows.with(Vec::len), scroll_top.get(), viewport.get()));
    let visible = move || {
        let (start, end) = range.get();
        store.rows.with(|rows| rows[start..end].to_vec())
    };
    let pad = move |above: bool| {
        let (start, end) = range.get();
        let rows = if above {
            start
        } else {
            store.rows.with(Vec::len) - end
        };
        format!("height: {}px", rows as f64 * ROW_HEIGHT)
    };
    #[cfg(feature = "hydrate")]
    measure(scroller, viewport);
    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            scroll_top.set(f64::from(el.scroll_top()));
        }
    };
    view! {
        <section class="panel watchlist" aria-labelledby="watchlist-title">
            <div class="panel-head">
                <h2 id="watchlist-title">"Quotes"</h2>
                <span class="muted">{move || format!("{} symbols", store.rows.with(Vec::len))}</span>
            </div>
            <div class="table-wrap" node_ref=scroller on:scroll=on_scroll>
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
                        <tr class="spacer" aria-hidden="true" style=move || pad(true)></tr>
                        <For each=visible key=|row| row.symbol.clone() let:row>
                            <QuoteRow row />
                        </For>
                        <tr class="spacer" aria-hidden="true" style=move || pad(false)></tr>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// Keeps `viewport` at the table box's height, from mount on.
#[cfg(feature = "hydrate")]
fn measure(scroller: NodeRef<leptos::html::Div>, viewport: RwSignal<Option<f64>>) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    Effect::new(move |observed: Option<bool>| {
        if observed == Some(true) {
            return true;
        }
        let Some(el) = scroller.get() else {
            return false;
        };
        viewport.set(Some(f64::from(el.client_height())));
        let target = el.clone();
        let on_resize = Closure::<dyn FnMut()>::new(move || {
            viewport.set(Some(f64::from(target.client_height())))
        });
        if let Ok(observer) = web_sys::ResizeObserver::new(on_resize.as_ref().unchecked_ref()) {
            observer.observe(&el);
        }
        // The observer lives as long as the page.
        on_resize.forget();
        true
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_view_plus_overscan() {
        assert_eq!(
            window(500, 0.0, None),
            (0, INITIAL_ROWS),
            "before measuring: what the server rendered"
        );
        assert_eq!(window(10, 0.0, None), (0, 10));
        assert_eq!(window(500, 0.0, Some(700.0)), (0, 20 + OVERSCAN));
        let (start, end) = window(500, 35.0 * 100.0, Some(700.0));
        assert_eq!((start, end), (100 - OVERSCAN, 120 + OVERSCAN));
        assert_eq!(
            window(500, 35.0 * 495.0, Some(700.0)),
            (495 - OVERSCAN, 500),
            "clamped at the end"
        );
        assert_eq!(window(0, 100.0, Some(700.0)), (0, 0));
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
