//! One row of the quote table: a symbol's live quote, one reactive cell per
//! field, which charts the symbol when chosen and, in an open watchlist,
//! can be removed or dragged to a new place.

use std::sync::Arc;

use leptos::prelude::*;

use super::state::TableState;
use crate::components::alerts::AlertBell;
use crate::connection::Link;
use crate::format;
use crate::protocol::{FeedState, MarketSession};
use crate::selection::Selection;
use crate::store::{Row, SPARK_H, SPARK_W};
use crate::watchlist::Watchlists;

#[component]
pub fn QuoteRow(row: Row) -> impl IntoView {
    let link = expect_context::<Link>();
    let state = expect_context::<TableState>();
    let watchlists = expect_context::<Watchlists>();
    let (change, pct) = row.day_change();
    let price = row.price();
    let Row {
        symbol,
        name,
        bid,
        ask,
        high,
        low,
        prev_close,
        volume,
        ts,
        session,
        flash,
        spark,
        feed,
        ..
    } = row;
    let halted = move || session.get() == MarketSession::Halted;
    let stale = move || feed_is_down(link, feed.as_deref());
    let list_open = move || watchlists.0.with(|l| l.active.is_some());
    let (is_selected, is_current) = (is_charted(symbol.clone()), is_cursor(symbol.clone()));
    let choose = chooser(symbol.clone());
    let on_click = {
        let choose = choose.clone();
        move |_| choose()
    };
    let on_key = move |e: leptos::ev::KeyboardEvent| {
        if e.key() == "Enter" {
            choose();
        }
    };
    let direction = move || format::direction(change()).class();
    view! {
        <tr
            data-symbol=symbol.to_string()
            draggable=move || list_open().then_some("true")
            on:dragstart=drag_from(symbol.clone())
            on:dragover=move |e| {
                if state.dragging.with_untracked(Option::is_some) {
                    e.prevent_default();
                }
            }
            on:drop=drop_on(symbol.clone())
            on:dragend=move |_| state.dragging.set(None)
            tabindex="0"
            class:selected=is_selected
            class:cursor=is_current.clone()
            class:stale=stale
            class:halted=halted
            aria-selected=move || if is_current() { "true" } else { "false" }
            on:click=on_click
            on:keydown=on_key
        >
            <SymbolCell symbol=symbol.clone() />
            <td class="name">{move || name.get().to_string()} <SessionBadge session=session /></td>
            <td class=move || format!("num last {}", flash.get().class())>{move || format::price(price())}</td>
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

/// A badge naming the session, where it is not the regular one.
#[component]
pub fn SessionBadge(session: RwSignal<MarketSession>) -> impl IntoView {
    move || {
        let session = session.get();
        (session != MarketSession::Regular).then(|| {
            view! {
                <span class=format!("session-badge {}", session.as_str()) data-testid="session-badge">
                    {format::session_label(session)}
                </span>
            }
        })
    }
}

/// The symbol, and in an open list a button that removes it from the list.
#[component]
fn SymbolCell(symbol: Arc<str>) -> impl IntoView {
    let watchlists = expect_context::<Watchlists>();
    let list_open = move || watchlists.0.with(|l| l.active.is_some());
    let remove = {
        let symbol = symbol.clone();
        move |e: leptos::ev::MouseEvent| {
            e.stop_propagation();
            watchlists.0.update(|l| l.remove(&symbol));
        }
    };
    let remove_label = {
        let symbol = symbol.clone();
        move || {
            let list = watchlists.open_name().unwrap_or_default();
            format!("Remove {symbol} from {list}")
        }
    };
    view! {
        <th scope="row" class="sym">
            {symbol.to_string()}
            <AlertBell symbol=symbol.clone() />
            <Show when=list_open>
                <button type="button" class="row-remove" aria-label=remove_label.clone() on:click=remove.clone()>
                    "×"
                </button>
            </Show>
        </th>
    }
}

/// Whether the row's feed is down: its prices are the last ones seen, not live.
fn feed_is_down(link: Link, feed: Option<&str>) -> bool {
    feed.is_some_and(|f| {
        link.feeds
            .with(|feeds| feeds.iter().any(|(n, s)| n == f && *s != FeedState::Live))
    })
}

/// Whether `symbol` is the charted one.
fn is_charted(symbol: Arc<str>) -> impl Fn() -> bool + Clone + Send + Sync + 'static {
    let selection = expect_context::<Selection>();
    move || selection.symbol.with(|s| s.as_deref() == Some(&*symbol))
}

/// Whether `symbol`'s row is the keyboard cursor's, or the charted one
/// while there is no cursor.
fn is_cursor(symbol: Arc<str>) -> impl Fn() -> bool + Clone + Send + Sync + 'static {
    let state = expect_context::<TableState>();
    let charted = is_charted(symbol.clone());
    move || match state.cursor.get() {
        Some(cursor) => *cursor == *symbol,
        None => charted(),
    }
}

/// Puts the cursor on `symbol` and charts it.
fn chooser(symbol: Arc<str>) -> impl Fn() + Clone + 'static {
    let state = expect_context::<TableState>();
    let selection = expect_context::<Selection>();
    move || {
        state.cursor.set(Some(symbol.clone()));
        selection.select(&symbol);
    }
}

/// Starts dragging `symbol`'s row.
fn drag_from(symbol: Arc<str>) -> impl Fn(leptos::ev::DragEvent) + 'static {
    let state = expect_context::<TableState>();
    move |_| state.dragging.set(Some(symbol.clone()))
}

/// A dragged row dropped on `target`'s: it takes that place in the list.
fn drop_on(target: Arc<str>) -> impl Fn(leptos::ev::DragEvent) + 'static {
    let state = expect_context::<TableState>();
    let watchlists = expect_context::<Watchlists>();
    move |e| {
        e.prevent_default();
        if let Some(moved) = state.dragging.get_untracked() {
            watchlists.0.update(|l| l.move_to(&moved, &target));
        }
        state.dragging.set(None);
    }
}
