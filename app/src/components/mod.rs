//! Screen regions, one file (or folder) each, named for what they show.
//! [`Dashboard`] composes them around the page's shared state; [`NotFound`]
//! is every other path.

pub(crate) mod alerts;
mod chart;
mod depth;
mod detail;
mod header;
mod movers;
mod not_found;
mod page_title;
mod quote_table;
mod status_bar;
mod watchlist_picker;

use leptos::either::Either;
use leptos::prelude::*;

use crate::alerts::Alerts;

#[cfg(feature = "hydrate")]
use crate::chart_feed::ChartFeeds;
use crate::connection::Link;
use crate::depth::MarketDepth;
use crate::selection::Selection;
use crate::store::QuoteStore;
use crate::watchlist::Watchlists;
use alerts::{AlertsPanel, Toasts};
pub use chart::{ChartGrid, ChartMode, ChartPanel, ChartView, Links};
use depth::DepthPanel;
use detail::Detail;
use header::Header;
use movers::Movers;
pub use not_found::NotFound;
use page_title::PriceTitle;
use quote_table::QuoteTable;
use status_bar::StatusBar;

/// The dashboard page: header, chart, detail panel, movers, live quote
/// table, status bar.
#[component]
pub fn Dashboard() -> impl IntoView {
    let (store, link) = provide_page_state();
    let board = crate::board::page_board();
    #[cfg(feature = "hydrate")]
    start_connection(store, link);
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
                <script type="application/json" id=crate::board::BOARD_ELEMENT inner_html=json></script>
                <div class="app">
                    <Header />
                    <PriceTitle />
                    <main class="content">
                        <ChartGrid />
                        <Detail />
                        <DepthPanel />
                        <Movers />
                        <QuoteTable />
                    </main>
                    <StatusBar />
                    <AlertsPanel />
                    <Toasts />
                </div>
            })
        }
        Err(e) => Either::Right(view! { <p class="notice error">{e}</p> }),
    }
}

/// Provides the state every region shares (quotes, connection, selection,
/// chart view, watchlists) as context.
fn provide_page_state() -> (QuoteStore, Link) {
    let store = QuoteStore::new();
    let link = Link::new();
    provide_context(store);
    provide_context(link);
    let selection = Selection::from_url(store);
    provide_context(selection);
    provide_context(ChartView::new());
    provide_context(Links::new());
    provide_context(Alerts::new());
    provide_context(MarketDepth::new());
    let watchlists = Watchlists::new();
    provide_context(watchlists);
    follow_open_list(watchlists, selection, link);
    (store, link)
}

/// Once hydrated, the page's connection keeps the store live.
#[cfg(feature = "hydrate")]
fn start_connection(store: QuoteStore, link: Link) {
    let selection = expect_context::<Selection>();
    let charts = ChartFeeds::new();
    provide_context(charts);
    let alerts = expect_context::<Alerts>();
    crate::alerts::browser::start(alerts);
    let depth = expect_context::<MarketDepth>();
    Effect::new(move |_| {
        untrack(|| crate::connection::start(store, link, selection, charts, depth, alerts))
    });
}

/// With a list open the server sends only its symbols (and the charted one).
fn follow_open_list(watchlists: Watchlists, selection: Selection, link: Link) {
    Effect::new(move |_| {
        let charted = selection.symbol.get();
        let watching = watchlists.0.with(|l| l.watching(charted.as_deref()));
        if link.watching.with_untracked(|w| *w != watching) {
            link.watching.set(watching);
        }
    });
}
