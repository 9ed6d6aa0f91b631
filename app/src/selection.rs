//! What the user is looking at, kept in the URL (`/?symbol=MSFT&interval=1m`)
//! so a link or a reload restores it, server-rendered.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::protocol::Interval;
use crate::store::QuoteStore;

/// The charted symbol and interval, read from and written to the URL.
#[derive(Clone, Copy)]
pub struct Selection {
    /// The URL's `symbol` if the page shows it, else the first row's.
    pub symbol: Memo<Option<Arc<str>>>,
    /// The URL's `interval`, else 1m.
    pub interval: Memo<Interval>,
    /// A `symbol` in the URL that the page does not show.
    pub unknown: Memo<Option<String>>,
    navigate: StoredValue<Navigate>,
}

/// Goes to a URL of this app without reloading the page.
type Navigate = Arc<dyn Fn(&str) + Send + Sync>;

impl Selection {
    /// Follows the current URL; must be created inside the `<Router>`.
    pub fn from_url(store: QuoteStore) -> Selection {
        let query = use_query_map();
        let wanted = Memo::new(move |_| query.with(|q| q.get("symbol")));
        let symbol = Memo::new(move |_| match wanted.get() {
            Some(s) => {
                store.rows.track();
                store.row(&s).map(|r| r.symbol)
            }
            None => store
                .rows
                .with(|rows| rows.first().map(|r| r.symbol.clone())),
        });
        let unknown = Memo::new(move |_| {
            store.rows.track();
            wanted.get().filter(|s| store.row(s).is_none())
        });
        let interval = Memo::new(move |_| {
            query
                .with(|q| q.get("interval").and_then(|i| i.parse().ok()))
                .unwrap_or_default()
        });
        let navigate = use_navigate();
        let go = move |url: &str| {
            navigate(
                url,
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        };
        Selection {
            symbol,
            interval,
            unknown,
            navigate: StoredValue::new(Arc::new(go)),
        }
    }

    /// Charts `symbol`, keeping the interval.
    pub fn select(&self, symbol: &str) {
        self.go(symbol, self.interval.get_untracked());
    }

    /// Switches the interval, keeping the symbol.
    pub fn set_interval(&self, interval: Interval) {
        let symbol = self.symbol.get_untracked();
        self.go(symbol.as_deref().unwrap_or_default(), interval);
    }

    fn go(&self, symbol: &str, interval: Interval) {
        let url = url_for(symbol, interval);
        self.navigate.with_value(|navigate| navigate(&url));
    }
}

/// The dashboard's URL for a symbol and interval.
pub fn url_for(symbol: &str, interval: Interval) -> String {
    format!("/?symbol={}&interval={interval}", encode(symbol))
}

/// Percent-encodes what a ticker could hold that a query value cannot.
fn encode(symbol: &str) -> String {
    symbol
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_symbol_and_interval() {
        assert_eq!(url_for("MSFT", Interval::M1), "/?symbol=MSFT&interval=1m");
        assert_eq!(url_for("BRK.B", Interval::S5), "/?symbol=BRK.B&interval=5s");
        assert_eq!(
            url_for("BTC/USD & co", Interval::M5),
            "/?symbol=BTC%2FUSD%20%26%20co&interval=5m"
        );
    }
}
