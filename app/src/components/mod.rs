//! Screen regions. [`Dashboard`] composes them around the shared store and
//! connection state.

mod detail;
mod header;
mod status_bar;
mod watchlist;

use leptos::prelude::*;

use crate::board_resource;
use crate::connection::Link;
use crate::store::QuoteStore;
use detail::Detail;
pub use detail::Selection;
use header::Header;
use status_bar::StatusBar;
use watchlist::Watchlist;

/// The dashboard page: header, live quote table, status bar.
#[component]
pub fn Dashboard() -> impl IntoView {
    let store = QuoteStore::new();
    let link = Link::new();
    provide_context(store);
    provide_context(link);
    let selected = Selection(RwSignal::new(None));
    provide_context(selected);
    let board = board_resource();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| untrack(|| crate::connection::start(store, link)));
    // Everything renders after the board is loaded, so the first paint
    // (server-side) shows real prices in every region.
    view! {
        <Suspense fallback=|| view! { <p class="notice">"Loading quotes…"</p> }>
            {move || Suspend::new(async move {
                match board.await {
                    Ok(board) => {
                        store.load(&board);
                        if selected.0.with_untracked(Option::is_none) {
                            selected.0.set(board.quotes.first().map(|q| q.symbol.as_str().into()));
                        }
                        if link.feeds.with_untracked(Vec::is_empty) {
                            link.feeds.set(board.feeds.clone());
                        }
                        view! {
                            <div class="app">
                                <Header />
                                <main class="content">
                                    <Watchlist />
                                    <Detail />
                                </main>
                                <StatusBar />
                            </div>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="notice error">{e}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Any path that is not a page.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="content not-found">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the dashboard"</a>
            </p>
        </main>
    }
}
