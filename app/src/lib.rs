//! tickertape's page: Leptos components and the client state behind them.
//!
//! Each module, what it owns, and who may call it (imports run one way: a
//! module never imports one that imports it):
//!
//! - [`protocol`]: the wire types, plain serde; used by the server, the browser and every test client.
//! - [`format`]: how numbers, changes and times read on screen (pure); used by components and server tests.
//! - [`table`]: the quote table's search, sort and cursor rules (pure); used by `components`.
//! - [`store`]: the quotes the page shows, one signal per field; written by `connection` and the board, read by `components`.
//! - [`selection`]: the charted symbol and interval, kept in the URL; read by `components` and `connection`; `PageUrl` is given by the server.
//! - [`watchlist`]: the viewer's watchlists (model, localStorage) and their shared handle; used by `components`.
//! - [`chart_feed`]: which series a chart shows and the bars on their way to its drawing; fed by `connection`, drawn by `components::chart`.
//! - [`connection`]: the page's one WebSocket and what the page shows of it ([`Link`](connection::Link)); `core` decides (pure, unit-tested), `browser` does the I/O; started by `components::Dashboard`.
//! - [`theme`]: the dark/light theme, its cookie and toggle; used by `components::header` and the server.
//! - [`components`]: one module per screen region; [`App`] picks the dashboard or the 404 page.
//!
//! The server renders the page with the current quotes (a [`Board`] it
//! provides through [`BoardSource`]); the browser hydrates the same markup,
//! then the connection keeps the store live.

#![recursion_limit = "256"]

pub mod chart_feed;
pub mod components;
pub mod connection;
pub mod format;
pub mod protocol;
pub mod selection;
pub mod store;
pub mod table;
pub mod theme;
pub mod watchlist;

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};
use serde::{Deserialize, Serialize};

use crate::components::{Dashboard, NotFound};
use crate::protocol::{FeedState, Quote, SymbolInfo};

/// What the page is first rendered with: every symbol and its quote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Board {
    /// The hub batch the quotes are current as of.
    pub seq: u64,
    pub symbols: Vec<SymbolInfo>,
    pub quotes: Vec<Quote>,
    /// Each feed's name and state.
    pub feeds: Vec<(String, FeedState)>,
    /// Recent closes per symbol for the table's sparklines.
    pub sparklines: Vec<Sparkline>,
    /// The feed each symbol comes from: (symbol, feed name).
    pub symbol_feeds: Vec<(String, String)>,
}

/// One symbol's last minutes of closes, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sparkline {
    pub symbol: String,
    /// Start of the newest minute (Unix ms); the last close belongs to it.
    pub minute: i64,
    pub closes: Vec<f64>,
}

/// How the server hands the current [`Board`] to the page it renders.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct BoardSource(std::sync::Arc<dyn Fn() -> Board + Send + Sync>);

#[cfg(feature = "ssr")]
impl BoardSource {
    pub fn new(f: impl Fn() -> Board + Send + Sync + 'static) -> BoardSource {
        BoardSource(std::sync::Arc::new(f))
    }

    pub fn board(&self) -> Board {
        (self.0)()
    }
}

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

/// The `id` of the element that carries the page's [`Board`] to the browser.
pub const BOARD_ELEMENT: &str = "tickertape-board";

/// The [`Board`] the page renders with, and its JSON as embedded in the page
/// (`<script type="application/json">`). On the server it is the current
/// board; in the browser, the copy the server embedded, read synchronously
/// so the page hydrates in one pass with no resource or suspense.
pub fn page_board() -> Result<(Board, String), String> {
    #[cfg(feature = "ssr")]
    {
        let board = use_context::<BoardSource>()
            .ok_or_else(|| "no quote source".to_string())?
            .board();
        let json = serde_json::to_string(&board).map_err(|e| e.to_string())?;
        Ok((board, script_safe(&json)))
    }
    #[cfg(not(feature = "ssr"))]
    {
        #[cfg(feature = "hydrate")]
        let json = document()
            .get_element_by_id(BOARD_ELEMENT)
            .and_then(|el| el.text_content());
        #[cfg(not(feature = "hydrate"))]
        let json: Option<String> = None;
        let json = json.ok_or_else(|| "the page carries no quotes".to_string())?;
        let board = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        Ok((board, json))
    }
}

/// JSON that cannot end the `<script>` element it sits in: `<`, `>` and `&`
/// become `\u` escapes (the same string to a JSON parser).
#[cfg(any(feature = "ssr", test))]
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script_and_parses_the_same() {
        let board = Board {
            symbols: vec![SymbolInfo {
                symbol: "AT&T".into(),
                name: "</script><b>".into(),
                currency: "USD".into(),
            }],
            ..Default::default()
        };
        let json = script_safe(&serde_json::to_string(&board).unwrap());
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert_eq!(serde_json::from_str::<Board>(&json).unwrap(), board);
    }
}
