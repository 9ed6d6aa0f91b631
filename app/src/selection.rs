//! What the user is looking at, kept in the URL
//! (`/?symbol=MSFT&interval=1m&ind=sma20,rsi14`)
//! so a link or a reload restores it, server-rendered.

use std::sync::Arc;

use leptos::prelude::*;

use crate::indicators::{Spec, list_key, parse_list};
use crate::protocol::Interval;
use crate::store::QuoteStore;

/// The page's address: its path and query string (without `?`). The server
/// provides the request's as context; the browser reads `location`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageUrl {
    pub path: String,
    pub query: String,
}

impl PageUrl {
    /// The address of the page being rendered (server) or shown (browser).
    pub fn current() -> PageUrl {
        #[cfg(feature = "hydrate")]
        {
            let location = window().location();
            PageUrl {
                path: location.pathname().unwrap_or_default(),
                query: location
                    .search()
                    .unwrap_or_default()
                    .trim_start_matches('?')
                    .to_string(),
            }
        }
        #[cfg(not(feature = "hydrate"))]
        use_context::<PageUrl>().unwrap_or_default()
    }

    /// Every key and value of the query, percent-decoded, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
    }

    /// The first value of `key` in the query, percent-decoded.
    pub fn get(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == key).then(|| decode(v))
        })
    }
}

/// The charted symbol and interval, read from and written to the URL.
#[derive(Clone, Copy)]
pub struct Selection {
    /// The URL's `symbol` if the page shows it, else the first row's.
    pub symbol: Memo<Option<Arc<str>>>,
    /// The URL's `interval`, else 1m.
    pub interval: Memo<Interval>,
    /// A `symbol` in the URL that the page does not show.
    pub unknown: Memo<Option<String>>,
    /// The chart's indicators, the URL's `ind` (`sma20,rsi14`).
    pub indicators: Memo<Vec<Spec>>,
    /// Symbols compared with the charted one, the URL's `cmp` (at most
    /// three the page shows, not the charted one).
    pub compare: Memo<Vec<Arc<str>>>,
    /// The charts beside the main one (the URL's `layout` and `charts`).
    pub layout: Layout,
    /// The URL's query string.
    query: RwSignal<PageUrl>,
}

impl Selection {
    /// Follows the page's URL.
    pub fn from_url(store: QuoteStore) -> Selection {
        let query = RwSignal::new(PageUrl::current());
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
        let indicators = Memo::new(move |_| {
            query.with(|q| q.get("ind").map(|i| parse_list(&i)).unwrap_or_default())
        });
        let compare = Memo::new(move |_| {
            let listed = query.with(|q| q.get("cmp")).unwrap_or_default();
            let charted = symbol.get();
            store.rows.track();
            let mut out: Vec<Arc<str>> = Vec::new();
            for name in listed.split(',').filter(|s| !s.is_empty()) {
                if let Some(row) = store.row(name)
                    && Some(&row.symbol) != charted.as_ref()
                    && !out.contains(&row.symbol)
                    && out.len() < MAX_COMPARE
                {
                    out.push(row.symbol);
                }
            }
            out
        });
        Selection {
            layout: Layout::from_url(query, store, symbol, interval),
            symbol,
            interval,
            unknown,
            indicators,
            compare,
            query,
        }
    }

    /// The charts beside the main one.
    pub fn layout(&self) -> Layout {
        self.layout
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

    /// Shows these indicators on the chart, keeping the rest.
    pub fn set_indicators(&self, specs: &[Spec]) {
        let symbol = self.symbol.get_untracked();
        let compare = self.compare.get_untracked();
        let interval = self.interval.get_untracked();
        self.go_with(
            symbol.as_deref().unwrap_or_default(),
            interval,
            specs,
            &compare,
        );
    }

    /// Compares these symbols with the charted one, keeping the rest.
    pub fn set_compare(&self, symbols: &[Arc<str>]) {
        let symbol = self.symbol.get_untracked();
        let specs = self.indicators.get_untracked();
        let interval = self.interval.get_untracked();
        self.go_with(
            symbol.as_deref().unwrap_or_default(),
            interval,
            &specs,
            symbols,
        );
    }

    /// Shows `symbol` at `interval` with the chart's indicators and comparisons.
    fn go(&self, symbol: &str, interval: Interval) {
        let compare = self.compare.get_untracked();
        self.go_with(symbol, interval, &self.indicators.get_untracked(), &compare);
    }

    /// Replaces the history entry (a click on a row is not a page to go
    /// back to).
    fn go_with(&self, symbol: &str, interval: Interval, indicators: &[Spec], compare: &[Arc<str>]) {
        let mut url = url_for(symbol, interval);
        if !indicators.is_empty() {
            url.push_str("&ind=");
            url.push_str(&list_key(indicators));
        }
        let compare: Vec<String> = compare
            .iter()
            .filter(|s| &***s != symbol)
            .map(|s| encode(s))
            .collect();
        if !compare.is_empty() {
            url.push_str("&cmp=");
            url.push_str(&compare.join(","));
        }
        // The rest of the view (the layout) stays as it is.
        let rest = self.query.with_untracked(|q| {
            q.pairs()
                .filter(|(k, _)| !MAIN_KEYS.contains(&k.as_str()))
                .map(|(k, v)| format!("&{}={}", encode(&k), encode_list(&v)))
                .collect::<String>()
        });
        url.push_str(&rest);
        replace_url(self.query, &url);
    }
}

/// The query keys of the main chart's view.
const MAIN_KEYS: [&str; 4] = ["symbol", "interval", "ind", "cmp"];

/// Shows `url` (`/?…`) as the page's address, without a history entry.
fn replace_url(query: RwSignal<PageUrl>, url: &str) {
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url));
    }
    query.set(PageUrl {
        path: "/".into(),
        query: url.trim_start_matches("/?").to_string(),
    });
}

/// Encodes a comma-separated list, keeping its commas and colons readable.
fn encode_list(value: &str) -> String {
    value
        .split(',')
        .map(|item| item.split(':').map(encode).collect::<Vec<_>>().join(":"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Fills `charts` up to `n` with the next rows' symbols not charted yet, at `interval`.
fn fill(
    charts: &mut Vec<(Arc<str>, Interval)>,
    n: usize,
    store: QuoteStore,
    main: Option<Arc<str>>,
    interval: Interval,
) {
    let rows = store
        .rows
        .with_untracked(|rows| rows.iter().map(|r| r.symbol.clone()).collect::<Vec<_>>());
    for symbol in rows {
        if charts.len() >= n {
            break;
        }
        if Some(&symbol) != main.as_ref() && !charts.iter().any(|(s, _)| *s == symbol) {
            charts.push((symbol, interval));
        }
    }
}

/// How many charts the page shows at most, and their choices.
pub const LAYOUTS: [usize; 3] = [1, 2, 4];

/// The charts beside the main one, each with its own symbol and interval,
/// kept in the URL: `&layout=4&charts=MSFT:5m,NVDA:1h,TSLA:15m`. A chart
/// the URL does not name (or names a symbol the page does not show) shows
/// the next row's symbol at the main chart's interval.
#[derive(Clone, Copy)]
pub struct Layout {
    /// 1, 2 or 4.
    pub count: Memo<usize>,
    /// Charts 1 to `count - 1`: symbol and interval each.
    pub others: Memo<Vec<(Arc<str>, Interval)>>,
    query: RwSignal<PageUrl>,
    store: QuoteStore,
    main: Memo<Option<Arc<str>>>,
    interval: Memo<Interval>,
}

impl Layout {
    fn from_url(
        query: RwSignal<PageUrl>,
        store: QuoteStore,
        main: Memo<Option<Arc<str>>>,
        interval: Memo<Interval>,
    ) -> Layout {
        let count = Memo::new(move |_| {
            let wanted = query.with(|q| q.get("layout").and_then(|n| n.parse().ok()));
            wanted.filter(|n| LAYOUTS.contains(n)).unwrap_or(1)
        });
        let others = Memo::new(move |_| {
            let n = count.get() - 1;
            let listed = query.with(|q| q.get("charts")).unwrap_or_default();
            let interval = interval.get();
            store.rows.track();
            let mut out: Vec<(Arc<str>, Interval)> = Vec::new();
            for item in listed.split(',').take(n) {
                let (name, iv) = item.split_once(':').unwrap_or((item, ""));
                let Some(row) = store.row(name) else { continue };
                out.push((row.symbol, iv.parse().unwrap_or(interval)));
            }
            fill(&mut out, n, store, main.get(), interval);
            out
        });
        Layout {
            count,
            others,
            query,
            store,
            main,
            interval,
        }
    }

    /// What chart `chart` shows (0 is the main chart's, not the layout's).
    pub fn series(&self, chart: u8) -> Option<crate::chart_feed::Series> {
        let index = usize::from(chart).checked_sub(1)?;
        self.others.with(|o| {
            o.get(index)
                .map(|(s, i)| crate::chart_feed::Series::new(s, *i))
        })
    }

    /// Shows `count` charts (the URL names each).
    pub fn set_count(&self, count: usize) {
        let mut others = self.others.get_untracked();
        let (main, interval) = (self.main.get_untracked(), self.interval.get_untracked());
        fill(
            &mut others,
            count.saturating_sub(1),
            self.store,
            main,
            interval,
        );
        others.truncate(count.saturating_sub(1));
        self.write(count, &others);
    }

    /// Shows `symbol` at `interval` on chart `chart` (1 and up).
    pub fn set_chart(&self, chart: u8, symbol: &str, interval: Interval) {
        let mut others = self.others.get_untracked();
        if let Some(slot) = usize::from(chart)
            .checked_sub(1)
            .and_then(|i| others.get_mut(i))
        {
            *slot = (symbol.into(), interval);
            self.write(self.count.get_untracked(), &others);
        }
    }

    fn write(&self, count: usize, others: &[(Arc<str>, Interval)]) {
        let kept = self.query.with_untracked(|q| {
            q.pairs()
                .filter(|(k, _)| k != "layout" && k != "charts")
                .map(|(k, v)| format!("{}={}", encode(&k), encode_list(&v)))
                .collect::<Vec<_>>()
        });
        let mut url = format!("/?{}", kept.join("&"));
        if count > 1 {
            let charts: Vec<String> = others
                .iter()
                .map(|(s, i)| format!("{}:{i}", encode(s)))
                .collect();
            url.push_str(&format!("&layout={count}&charts={}", charts.join(",")));
        }
        replace_url(self.query, &url);
    }
}

/// Symbols a chart compares with its own at most.
pub const MAX_COMPARE: usize = 3;

/// The dashboard's URL for a symbol and interval.
pub fn url_for(symbol: &str, interval: Interval) -> String {
    format!("/?symbol={}&interval={interval}", encode(symbol))
}

/// Percent-encodes what a ticker could hold that a query value or a path
/// segment cannot.
pub fn encode(symbol: &str) -> String {
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

/// Decodes `%XX` escapes and `+` (a space in a query).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_back_what_url_for_wrote() {
        for symbol in ["MSFT", "BRK.B", "BTC/USD & co", "é+x"] {
            let url = url_for(symbol, Interval::S5);
            let page = PageUrl {
                path: "/".into(),
                query: url.trim_start_matches("/?").into(),
            };
            assert_eq!(page.get("symbol").as_deref(), Some(symbol));
            assert_eq!(page.get("interval").as_deref(), Some("5s"));
        }
        let page = PageUrl {
            path: "/".into(),
            query: "a=1&symbol=A+B&bad=%zz%4&symbol=second&flag".into(),
        };
        assert_eq!(page.get("symbol").as_deref(), Some("A B"), "the first one");
        assert_eq!(
            page.get("bad").as_deref(),
            Some("%zz%4"),
            "bad escapes kept"
        );
        assert_eq!(page.get("flag").as_deref(), Some(""));
        assert_eq!(page.get("none"), None);
    }

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
