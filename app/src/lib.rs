//! tickertape's page: Leptos components and the client state behind them.
//!
//! Each module, what it owns, and who may call it (imports run one way: a
//! module never imports one that imports it):
//!
//! - [`protocol`]: the wire types, plain serde; used by the server, the browser and every test client.
//! - [`binary`]: `snapshot` and `diff` in the compact frames of `tickertape.v1.bin` (pure); used by the server and `connection`.
//! - [`calendar`]: market time, which session a symbol trades in (pure); used by the server and `components`.
//! - [`format`]: how numbers, changes and times read on screen (pure); used by components and server tests.
//! - [`alerts`]: the viewer's price alerts as the page knows them (rules, firings log, toasts, form); written by `connection`, read and changed by `components`.
//! - [`indicators`]: chart indicators (SMA, EMA, Bollinger, RSI, MACD, VWAP) as pure studies updated one live bar at a time; used by `components::chart`.
//! - [`table`]: the quote table's search, sort and cursor rules (pure); used by `components`.
//! - [`store`]: the quotes the page shows, one signal per field; written by `connection` and the board, read by `components`.
//! - [`selection`]: the charted symbol and interval, kept in the URL; read by `components` and `connection`; `PageUrl` is given by the server.
//! - [`watchlist`]: the viewer's watchlists (model, localStorage) and their shared handle; used by `components`.
//! - [`depth`]: the main chart's trades tape and order book as the page shows them; written by `connection`, read by `components`.
//! - [`chart_feed`]: which series a chart shows and the bars on their way to its drawing; fed by `connection`, drawn by `components::chart`.
//! - [`connection`]: the page's one WebSocket and what the page shows of it ([`Link`](connection::Link)); `core` decides (pure, unit-tested), `browser` does the I/O; started by `components::Dashboard`.
//! - [`theme`]: the dark/light theme, its cookie and toggle; used by `components::header` and the server.
//! - [`board`]: what the page is first rendered with ([`Board`]), handed over by the server, read back by the browser; used by `store`, `components` and the server.
//! - [`components`]: one module per screen region; [`App`] picks the dashboard or the 404 page.
//!
//! The server renders the page with the current quotes (a [`Board`] it
//! provides through [`BoardSource`]); the browser hydrates the same markup,
//! then the connection keeps the store live.

#![recursion_limit = "256"]

pub mod alerts;
pub mod binary;
pub mod board;
pub mod calendar;
pub mod chart_feed;
pub mod components;
pub mod connection;
pub mod depth;
#[cfg(feature = "hydrate")]
pub mod fetch;
pub mod format;
pub mod indicators;
pub mod protocol;
pub mod selection;
pub mod store;
pub mod table;
pub mod theme;
pub mod watchlist;

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};

#[cfg(feature = "ssr")]
pub use crate::board::BoardSource;
pub use crate::board::{BOARD_ELEMENT, Board, Sparkline, page_board};
use crate::components::{Dashboard, NotFound};

/// The HTML document around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The viewer's theme, if chosen; otherwise CSS follows the system.
    let theme = use_context::<theme::RequestedTheme>()
        .and_then(|t| t.0)
        .map(theme::Theme::as_str);
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=theme>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="dark light" />
                <meta name="description" content="Live stock prices, streamed over WebSockets." />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" id="leptos" href="/pkg/tickertape.css" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: the dashboard at `/`, "not found" anywhere else. (One
/// page needs no router: the selection lives in the query string, see
/// [`selection`], and the whole page is rendered before it is sent.)
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let page = if selection::PageUrl::current().path == "/" {
        Either::Left(view! { <Dashboard /> })
    } else {
        Either::Right(view! { <NotFound /> })
    };
    // Each page sets its own title (one `<Title>` per page: with two, which
    // one the server renders depends on registration order).
    page
}
