//! The live quote table: a search, the watchlist bar, sortable columns and
//! one row per symbol shown (virtually scrolled), driven by mouse or keys.

mod columns;
mod help;
#[cfg(feature = "hydrate")]
mod keys;
mod row;
pub use row::SessionBadge;
mod scroll;
mod state;

use std::sync::Arc;

use leptos::html::{Div, Input};
use leptos::prelude::*;

use super::watchlist_picker::{AddSuggestions, ListBar};
use crate::store::{QuoteStore, Row};
use crate::table::arrange;
use crate::watchlist::Watchlists;
use columns::ColumnHeaders;
use help::KeyHelp;
use row::QuoteRow;
use scroll::{spacer_style, visible_range};
use state::TableState;

/// How often a table sorted by a live column re-sorts (never while the
/// pointer is over it, so rows do not move under the pointer).
#[cfg(feature = "hydrate")]
const RESORT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

#[component]
pub fn QuoteTable() -> impl IntoView {
    let state = TableState::new();
    provide_context(state);
    let shown = shown_symbols(state);
    let scroller = NodeRef::<Div>::new();
    let search = NodeRef::<Input>::new();
    #[cfg(feature = "hydrate")]
    {
        keys::listen(keys::Keys {
            state,
            shown,
            selection: expect_context(),
            watchlists: expect_context(),
            scroller,
            search,
        });
        resort_live_columns(state);
    }
    view! {
        <section class="panel watchlist" aria-labelledby="watchlist-title">
            <TableHead shown search />
            <div class="panel-sub">
                <ListBar />
                <AddSuggestions query=state.query />
            </div>
            <TableBody shown scroller />
            <KeyHelp />
        </section>
    }
}

/// The symbols shown, in order. Computed once for the first render (server
/// and hydration agree), then kept current by an effect that writes only
/// real changes. (A `Memo` here recomputed on a list change but did not
/// wake the rows' `For`.)
fn shown_symbols(state: TableState) -> RwSignal<Vec<Arc<str>>> {
    let store = expect_context::<QuoteStore>();
    let watchlists = expect_context::<Watchlists>();
    let arranged = move || arranged(store, watchlists, state);
    let shown = RwSignal::new(untrack(arranged));
    Effect::new(move |_| {
        let next = arranged();
        if shown.with_untracked(|s| *s != next) {
            shown.set(next);
        }
    });
    shown
}

/// The symbols to show, in order: an open list's own, in its order, or
/// every row, then searched and sorted. Values are read untracked: live
/// prices re-sort only when `refresh` says so.
fn arranged(store: QuoteStore, watchlists: Watchlists, state: TableState) -> Vec<Arc<str>> {
    state.refresh.track();
    let (query, sort) = (state.query.get(), state.sort.get());
    let members = watchlists.open_symbols();
    store.rows.with(|rows| {
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
}

#[cfg(feature = "hydrate")]
fn resort_live_columns(state: TableState) {
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

/// Title, count, search and the keys button.
#[component]
fn TableHead(shown: RwSignal<Vec<Arc<str>>>, search: NodeRef<Input>) -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let state = expect_context::<TableState>();
    let count = move || {
        let (shown, all) = (shown.with(Vec::len), store.rows.with(Vec::len));
        if shown == all {
            format!("{all} symbols")
        } else {
            format!("{shown} of {all} symbols")
        }
    };
    view! {
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
    }
}

/// The scrolling box: the rows in view, spacers for the rest, and what it
/// says when there is nothing to show.
#[component]
fn TableBody(shown: RwSignal<Vec<Arc<str>>>, scroller: NodeRef<Div>) -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let state = expect_context::<TableState>();
    let (scroll_top, viewport) = (RwSignal::new(0.0), RwSignal::new(None::<f64>));
    #[cfg(feature = "hydrate")]
    scroll::measure(scroller, viewport);
    let range =
        Memo::new(move |_| visible_range(shown.with(Vec::len), scroll_top.get(), viewport.get()));
    let visible = move || {
        let (start, end) = range.get();
        shown.with(|symbols| {
            symbols[start..end]
                .iter()
                .filter_map(|s| store.row(s))
                .collect::<Vec<_>>()
        })
    };
    let above = move || spacer_style(range.get().0);
    let below = move || spacer_style(shown.with(Vec::len) - range.get().1);
    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            scroll_top.set(f64::from(el.scroll_top()));
        }
    };
    view! {
        <div
            class="table-wrap"
            node_ref=scroller
            on:scroll=on_scroll
            on:pointerenter=move |_| state.hovering.set(true)
            on:pointerleave=move |_| state.hovering.set(false)
        >
            <table class="quotes">
                <thead>
                    <tr><ColumnHeaders /></tr>
                </thead>
                <tbody>
                    <tr class="spacer" aria-hidden="true" style=above></tr>
                    <For each=visible key=|row| row.symbol.clone() let:row>
                        <QuoteRow row />
                    </For>
                    <tr class="spacer" aria-hidden="true" style=below></tr>
                </tbody>
            </table>
            <EmptyNotices shown />
        </div>
    }
}

/// Why the table is empty, when it is.
#[component]
fn EmptyNotices(shown: RwSignal<Vec<Arc<str>>>) -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let state = expect_context::<TableState>();
    let watchlists = expect_context::<Watchlists>();
    let no_match = move || shown.with(Vec::is_empty) && !state.query.with(String::is_empty);
    let empty_list = move || {
        watchlists
            .0
            .with(|l| l.active_list().is_some_and(|list| list.symbols.is_empty()))
    };
    view! {
        <Show when=no_match>
            <p class="empty">
                {move || format!("No symbol matches “{}”.", state.query.get().trim())}
            </p>
        </Show>
        <Show when=empty_list>
            <p class="empty">"This list is empty: search above to add symbols."</p>
        </Show>
        <Show when=move || store.rows.with(Vec::is_empty)>
            <p class="empty" data-testid="no-data">
                "Waiting for the first prices from the feed…"
            </p>
        </Show>
    }
}
