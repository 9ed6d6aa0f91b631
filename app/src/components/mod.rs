//! Screen regions. [`Dashboard`] composes them around the shared store and
//! connection state.

mod chart;
mod detail;
mod header;
mod lists;
mod movers;
mod status_bar;
mod watchlist;

use leptos::either::Either;
use leptos::prelude::*;

use crate::connection::Link;
use crate::selection::Selection;
use crate::store::QuoteStore;
pub use chart::{ChartMode, ChartPanel, ChartView};
use detail::Detail;
use header::Header;
pub use lists::Watchlists;
use movers::Movers;
use status_bar::StatusBar;
use watchlist::Watchlist;

/// The dashboard page: header, chart, detail panel, live quote table, status bar.
#[component]
pub fn Dashboard() -> impl IntoView {
    let store = QuoteStore::new();
    let link = Link::new();
    provide_context(store);
    provide_context(link);
    let selection = Selection::from_url(store);
    provide_context(selection);
    let chart = ChartView::new();
    provide_context(chart);
    let watchlists = Watchlists::new();
    provide_context(watchlists);
    // With a list open the server sends only its symbols (and the charted one).
    Effect::new(move |_| {
        let watching = watchlists.open_symbols().map(|mut symbols| {
            if let Some(charted) = selection.symbol.get()
                && !symbols.iter().any(|s| **s == *charted)
            {
                symbols.push(charted.to_string());
            }
            symbols
        });
        if link.watching.with_untracked(|w| *w != watching) {
            link.watching.set(watching);
        }
    });
    let board = crate::page_board();
    #[cfg(feature = "hydrate")]
    {
        let chart = crate::chart_feed::SharedChartFeed::new();
        provide_context(chart);
        Effect::new(move |_| untrack(|| crate::connection::start(store, link, selection, chart)));
    }
    // Everything renders from the board, so the first paint (server-side)
    // shows real prices in every region; the board itself travels in the
    // page for the browser to hydrate from.
    match board {
        Ok((board, json)) => {
            store.load(&board);
            if link.feeds.with_untracked(Vec::is_empty) {
                link.feeds.set(board.feeds.clone());
            }
            Either::Left(view! {
                <script type="application/json" id=crate::BOARD_ELEMENT inner_html=json></script>
                <div class="app">
                    <Header />
                    <PriceTitle />
                    <main class="content">
                        <ChartPanel />
                        <Detail />
                        <Movers />
                        <Watchlist />
                    </main>
                    <StatusBar />
                </div>
            })
        }
        Err(e) => Either::Right(view! { <p class="notice error">{e}</p> }),
    }
}

/// The page title: the selected symbol's price and day change, refreshed
/// with the page clock (twice a second; once a second in a hidden tab) rather
/// than on every trade: each new title is work for the browser's own
/// process, and a tab strip cannot show ten prices a second anyway.
#[component]
fn PriceTitle() -> impl IntoView {
    let store = expect_context::<QuoteStore>();
    let selection = expect_context::<Selection>();
    let link = expect_context::<Link>();
    let text = Memo::new(move |_| {
        link.now_ms.track();
        let Some(row) = selection.symbol.get().and_then(|s| store.row(&s)) else {
            return "tickertape — live market dashboard".to_string();
        };
        let (last, prev_close) = (row.last.get_untracked(), row.prev_close.get_untracked());
        format!(
            "{} {} {} · tickertape",
            row.symbol,
            crate::format::price(last),
            crate::format::change_pct(crate::protocol::pct_change(last, prev_close))
        )
    });
    view! { <leptos_meta::Title text=move || text.get() /> }
}

/// Any path that is not a page.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <leptos_meta::Title text="Page not found · tickertape" />
        <main class="content not-found">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the dashboard"</a>
            </p>
        </main>
    }
}
