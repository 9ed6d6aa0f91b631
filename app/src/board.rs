//! What the page is first rendered with ([`Board`]), how the server hands
//! it over ([`BoardSource`]) and how the browser reads the copy embedded in
//! the page ([`page_board`]).

#[cfg(any(feature = "ssr", feature = "hydrate"))]
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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
                trading_day: Default::default(),
            }],
            ..Default::default()
        };
        let json = script_safe(&serde_json::to_string(&board).unwrap());
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert_eq!(serde_json::from_str::<Board>(&json).unwrap(), board);
    }
}
