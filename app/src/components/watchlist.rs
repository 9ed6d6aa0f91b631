//! The live quote table: one row per symbol, one reactive cell per field.

use std::sync::Arc;

use leptos::either::Either;
use leptos::prelude::*;

use crate::connection::Link;
use crate::format;
use crate::protocol::FeedState;
use crate::selection::Selection;
use crate::store::{QuoteStore, Row, SPARK_H, SPARK_W};
#[cfg(feature = "hydrate")]
use crate::table;
use crate::table::{Sort, SortKey, arrange};

use super::lists::{AddSuggestions, ListBar, Watchlists};

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

/// The table's columns: header text, CSS class, sort key (none: not sortable).
const COLUMNS: [(&str, &str, Option<SortKey>); 12] = [
    ("Symbol", "sym", Some(SortKey::Symbol)),
    ("Name", "name", Some(SortKey::Name)),
    ("Last", "num", Some(SortKey::Last)),
    ("Chg", "num", Some(SortKey::Change)),
    ("Chg %", "num", Some(SortKey::ChangePct)),
    ("30 min", "spark", None),
    ("Bid", "num", Some(SortKey::Bid)),
    ("Ask", "num", Some(SortKey::Ask)),
    ("High", "num", Some(SortKey::High)),
    ("Low", "num", Some(SortKey::Low)),
    ("Volume", "num", Some(SortKey::Volume)),
    ("Time", "num time", Some(SortKey::Time)),
];

/// How often a table sorted by a live column re-sorts (never while the
/// pointer is over it, so rows do not move under the pointer).
#[cfg(feature = "hydrate")]
const RESORT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The table's search, sort and keyboard cursor.
#[derive(Clone, Copy)]
struct TableState {
    query: RwSignal<String>,
    sort: RwSignal<Option<Sort>>,
    /// The row the arrow keys are on (the charted row until they move).
    cursor: RwSignal<Option<Arc<str>>>,
    /// Bumped to re-sort by live values.
    refresh: RwSignal<u64>,
    hovering: RwSignal<bool>,
    help: RwSignal<bool>,
    /// The row being dragged to a new place in the open list.
    dragging: RwSignal<Option<Arc<str>>>,
}

#[component]
pub fn Watchlist() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let state = TableState {
        query: RwSignal::new(String::new()),
        sort: RwSignal::new(None),
        cursor: RwSignal::new(None),
        refresh: RwSignal::new(0),
        hovering: RwSignal::new(false),
        help: RwSignal::new(false),
        dragging: RwSignal::new(None),
    };
    let watchlists = expect_context::<Watchlists>();
    provide_context(state);
    // The symbols shown, in order. Values are read untracked: live prices
    // re-sort only when `refresh` says so.
    let arranged = move || -> Vec<Arc<str>> {
        state.refresh.track();
        let (query, sort) = (state.query.get(), state.sort.get());
        let members = watchlists.open_symbols();
        store.rows.with(|rows| {
            // An open list shows its own symbols, in its own order.
            let rows: Vec<Row> = match &members {
                None => rows.clone(),
                Some(list) => list.iter().filter_map(|s| store.row(s)).collect(),
            };
            let names: Vec<Arc<str>> = rows.iter().map(|r| r.name.get_untracked()).collect();
            let quotes = rows.iter().zip(&names).map(|(r, n)| (r.quote(), &**n));
            let order = arrange(quotes.collect(), &query, sort);
            order
                .iter()
                .filter_map(|symbol| store.row(symbol).map(|r| r.symbol))
                .collect()
        })
    };
    // Computed once for the first render (server and hydration agree), then
    // kept current by an effect that writes only real changes. (A `Memo`
    // here recomputed on a list change but did not wake the rows' `For`.)
    let shown = RwSignal::new(untrack(arranged));
    Effect::new(move |_| {
        let next = arranged();
        if shown.with_untracked(|s| *s != next) {
            shown.set(next);
        }
    });
    let scroller = NodeRef::<leptos::html::Div>::new();
    let search = NodeRef::<leptos::html::Input>::new();
    let scroll_top = RwSignal::new(0.0);
    let viewport = RwSignal::new(None::<f64>);
    let range = Memo::new(move |_| window(shown.with(Vec::len), scroll_top.get(), viewport.get()));
    let visible = move || {
        let (start, end) = range.get();
        shown.with(|symbols| {
            symbols[start..end]
                .iter()
                .filter_map(|s| store.row(s))
                .collect::<Vec<_>>()
        })
    };
    let pad = move |above: bool| {
        let (start, end) = range.get();
        let rows = if above {
            start
        } else {
            shown.with(Vec::len) - end
        };
        format!("height: {}px", rows as f64 * ROW_HEIGHT)
    };
    #[cfg(feature = "hydrate")]
    {
        measure(scroller, viewport);
        keyboard(state, shown, expect_context(), watchlists, scroller, search);
        let _ = set_interval_with_handle(
            move || {
                let live = state.sort.get_untracked().is_some_and(|s| s.key.is_live());
                if live && !state.hovering.get_untracked() && !document().hidden() {
                    state.refresh.update(|n| *n += 1);
                }
            },
            RESORT_EVERY,
        );
    }
    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            scroll_top.set(f64::from(el.scroll_top()));
        }
    };
    let count = move || {
        let (shown, all) = (shown.with(Vec::len), store.rows.with(Vec::len));
        if shown == all {
            format!("{all} symbols")
        } else {
            format!("{shown} of {all} symbols")
        }
    };
    let headers = COLUMNS
        .into_iter()
        .map(|(label, class, key)| match key {
            Some(key) => Either::Left(view! {
                <th scope="col" class=class aria-sort=move || Sort::dir_of(state.sort.get(), key).map_or("none", |d| d.aria())>
                    <button type="button" class="sort" on:click=move |_| {
                        state.sort.update(|s| *s = Some(Sort::clicked(*s, key)));
                    }>
                        {label}
                        <span class="sort-mark" aria-hidden="true">
                            {move || Sort::dir_of(state.sort.get(), key).map_or("", |d| d.mark())}
                        </span>
                    </button>
                </th>
            }),
            None => Either::Right(view! { <th scope="col" class=class>{label}</th> }),
        })
        .collect_view();
    view! {
        <section class="panel watchlist" aria-labelledby="watchlist-title">
            <div class="panel-head">
                <h2 id="watchlist-title">"Quotes"</h2>
                <span class="muted" aria-live="polite">{count}</span>
                <input
                    type="search"
                    class="search"
                    node_ref=search
                    placeholder="Search symbol or name"
                    aria-label="Search symbols (press /)"
                    aria-keyshortcuts="/"
                    autocomplete="off"
                    spellcheck="false"
                    prop:value=move || state.query.get()
                    on:input=move |e| state.query.set(event_target_value(&e))
                />
                <button
                    type="button"
                    class="icon-button keys-button"
                    aria-label="Keyboard shortcuts"
                    aria-keyshortcuts="?"
                    on:click=move |_| state.help.update(|h| *h = !*h)
                >
                    "?"
                </button>
            </div>
            <div class="panel-sub">
                <ListBar />
                <AddSuggestions query=state.query />
            </div>
            <div
                class="table-wrap"
                node_ref=scroller
                on:scroll=on_scroll
                on:pointerenter=move |_| state.hovering.set(true)
                on:pointerleave=move |_| state.hovering.set(false)
            >
                <table class="quotes">
                    <thead>
                        <tr>{headers}</tr>
                    </thead>
                    <tbody>
                        <tr class="spacer" aria-hidden="true" style=move || pad(true)></tr>
                        <For each=visible key=|row| row.symbol.clone() let:row>
                            <QuoteRow row />
                        </For>
                        <tr class="spacer" aria-hidden="true" style=move || pad(false)></tr>
                    </tbody>
                </table>
                <Show when=move || shown.with(Vec::is_empty) && !state.query.with(String::is_empty)>
                    <p class="empty">
                        {move || format!("No symbol matches “{}”.", state.query.get().trim())}
                    </p>
                </Show>
                <Show when=move || {
                    watchlists.0.with(|l| l.active_list().is_some_and(|list| list.symbols.is_empty()))
                }>
                    <p class="empty">"This list is empty: search above to add symbols."</p>
                </Show>
                <Show when=move || store.rows.with(Vec::is_empty)>
                    <p class="empty" data-testid="no-data">
                        "Waiting for the first prices from the feed…"
                    </p>
                </Show>
            </div>
            <KeyHelp />
        </section>
    }
}

/// The `?` overlay: every key the table answers.
#[component]
fn KeyHelp() -> impl IntoView {
    let state = expect_context::<TableState>();
    let keys = [
        ("/", "Search symbols"),
        ("↓  j", "Next row"),
        ("↑  k", "Previous row"),
        ("Enter", "Chart the row"),
        ("Alt ↑ ↓", "Move the row within a watchlist"),
        ("Esc", "Clear the search, close this"),
        ("?", "Show or hide these keys"),
    ];
    view! {
        <Show when=move || state.help.get()>
            <div class="overlay" on:click=move |_| state.help.set(false)>
                <div
                    class="keys-dialog panel"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="keys-title"
                    on:click=|e| e.stop_propagation()
                >
                    <h2 id="keys-title">"Keyboard shortcuts"</h2>
                    <dl>
                        {keys
                            .into_iter()
                            .map(|(key, what)| view! {
                                <dt><kbd>{key}</kbd></dt>
                                <dd>{what}</dd>
                            })
                            .collect_view()}
                    </dl>
                    <button type="button" class="close" on:click=move |_| state.help.set(false)>
                        "Close"
                    </button>
                </div>
            </div>
        </Show>
    }
}

/// The table's keys, anywhere on the page (see [`KeyHelp`]).
#[cfg(feature = "hydrate")]
fn keyboard(
    state: TableState,
    shown: RwSignal<Vec<Arc<str>>>,
    selection: Selection,
    watchlists: Watchlists,
    scroller: NodeRef<leptos::html::Div>,
    search: NodeRef<leptos::html::Input>,
) {
    use wasm_bindgen::JsCast;
    let handle = window_event_listener(leptos::ev::keydown, move |e| {
        // Alt+↑/↓: move the cursor's row within the open list.
        let by = match e.key().as_str() {
            "ArrowUp" => -1,
            "ArrowDown" => 1,
            _ => 0,
        };
        if e.alt_key() && by != 0 {
            if let Some(symbol) = state.cursor.get_untracked() {
                e.prevent_default();
                watchlists.0.update(|l| l.shift(&symbol, by));
            }
            return;
        }
        if e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        let target = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .map(|el| el.tag_name().to_ascii_lowercase())
            .unwrap_or_default();
        let in_search = target == "input";
        let in_field = in_search || target == "textarea" || target == "select";
        let on_row = target == "tr";
        let key = e.key();
        let move_cursor = |by: isize| {
            let current = state
                .cursor
                .get_untracked()
                .or_else(|| selection.symbol.get_untracked());
            let next = shown.with_untracked(|s| {
                table::step(s, current.as_deref(), by).map(|i| (i, s[i].clone()))
            });
            if let Some((index, symbol)) = next {
                state.cursor.set(Some(symbol));
                reveal(scroller, index);
            }
        };
        match key.as_str() {
            "Escape" if state.help.get_untracked() => state.help.set(false),
            "Escape" => {
                state.query.set(String::new());
                if let Some(input) = search.get_untracked() {
                    let _ = input.blur();
                }
            }
            "/" if !in_field => {
                e.prevent_default();
                if let Some(input) = search.get_untracked() {
                    let _ = input.focus();
                }
            }
            "?" if !in_field => state.help.update(|h| *h = !*h),
            "ArrowDown" if !in_field || in_search => {
                e.prevent_default();
                move_cursor(1);
            }
            "ArrowUp" if !in_field || in_search => {
                e.prevent_default();
                move_cursor(-1);
            }
            "j" if !in_field => move_cursor(1),
            "k" if !in_field => move_cursor(-1),
            "Enter" if !in_field || in_search => {
                if on_row {
                    return; // the focused row charts itself
                }
                let pick = state
                    .cursor
                    .get_untracked()
                    .filter(|c| shown.with_untracked(|s| s.contains(c)))
                    .or_else(|| shown.with_untracked(|s| s.first().cloned()));
                if let Some(symbol) = pick {
                    state.cursor.set(Some(symbol.clone()));
                    selection.select(&symbol);
                }
            }
            _ => {}
        }
    });
    // Lives as long as the page.
    std::mem::forget(handle);
}

/// Scrolls the table box so row `index` is in view.
#[cfg(feature = "hydrate")]
fn reveal(scroller: NodeRef<leptos::html::Div>, index: usize) {
    let Some(el) = scroller.get_untracked() else {
        return;
    };
    let top = index as f64 * ROW_HEIGHT;
    let (scroll, height) = (f64::from(el.scroll_top()), f64::from(el.client_height()));
    // The sticky header covers the first row's height of the box.
    let room = (height - ROW_HEIGHT).max(ROW_HEIGHT);
    if top < scroll {
        el.set_scroll_top(top as i32);
    } else if top + ROW_HEIGHT > scroll + room {
        el.set_scroll_top((top + ROW_HEIGHT - room) as i32);
    }
    // Once rendered, bring the row into the page's view too (the table box
    // itself may be partly below the fold).
    request_animation_frame(move || {
        let Some(row) = el
            .query_selector("tbody tr[aria-selected=true]")
            .ok()
            .flatten()
        else {
            return;
        };
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Nearest);
        row.scroll_into_view_with_scroll_into_view_options(&options);
    });
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
    let state = expect_context::<TableState>();
    let watchlists = expect_context::<Watchlists>();
    let list_open = move || watchlists.0.with(|l| l.active.is_some());
    let is_selected = {
        let symbol = symbol.clone();
        move || selection.symbol.with(|s| s.as_deref() == Some(&*symbol))
    };
    // The keyboard cursor's row, or the charted one while there is none.
    let is_current = {
        let symbol = symbol.clone();
        move || match state.cursor.get() {
            Some(cursor) => *cursor == *symbol,
            None => selection.symbol.with(|s| s.as_deref() == Some(&*symbol)),
        }
    };
    let choose = {
        let symbol = symbol.clone();
        move || {
            state.cursor.set(Some(symbol.clone()));
            selection.select(&symbol);
        }
    };
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
            format!(
                "Remove {symbol} from {}",
                watchlists.open_name().unwrap_or_default()
            )
        }
    };
    let drag_start = {
        let symbol = symbol.clone();
        move |_| state.dragging.set(Some(symbol.clone()))
    };
    let drop_here = {
        let symbol = symbol.clone();
        move |e: leptos::ev::DragEvent| {
            e.prevent_default();
            if let Some(moved) = state.dragging.get_untracked() {
                watchlists.0.update(|l| l.move_to(&moved, &symbol));
            }
            state.dragging.set(None);
        }
    };
    view! {
        <tr
            data-symbol=symbol.to_string()
            draggable=move || list_open().then_some("true")
            on:dragstart=drag_start
            on:dragover=move |e| {
                if state.dragging.with_untracked(Option::is_some) {
                    e.prevent_default();
                }
            }
            on:drop=drop_here
            on:dragend=move |_| state.dragging.set(None)
            tabindex="0"
            class:selected=is_selected
            class:cursor=is_current.clone()
            class:stale=stale
            aria-selected=move || if is_current() { "true" } else { "false" }
            on:click=on_click
            on:keydown=on_key
        >
            <th scope="row" class="sym">
                {symbol.to_string()}
                <Show when=list_open>
                    <button type="button" class="row-remove" aria-label=remove_label.clone() on:click=remove.clone()>
                        "×"
                    </button>
                </Show>
            </th>
            <td class="name">{move || name.get().to_string()}</td>
            <td class=move || format!("num last {}", flash.get().class())>{move || format::price(last.get())}</td>
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
