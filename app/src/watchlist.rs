//! Named watchlists, the model: the viewer's own lists of symbols ([`Lists`]),
//! kept in the browser's localStorage, and the reactive handle the page
//! shares ([`Watchlists`]). While a list is open the table shows only its
//! symbols, in the list's order, and the page subscribes to only those.
//! The bar that opens and edits them is `components::watchlist_picker`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The localStorage key.
pub const STORAGE_KEY: &str = "tickertape.watchlists";

/// One named list, in the viewer's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct List {
    pub name: String,
    pub symbols: Vec<String>,
}

/// Every list, and the one open (`None`: all symbols).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lists {
    pub lists: Vec<List>,
    pub active: Option<usize>,
}

impl Lists {
    /// What was saved; anything unreadable is no lists at all.
    pub fn from_json(text: &str) -> Lists {
        let mut lists: Lists = serde_json::from_str(text).unwrap_or_default();
        if lists.active.is_some_and(|i| i >= lists.lists.len()) {
            lists.active = None;
        }
        lists
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn active_list(&self) -> Option<&List> {
        self.lists.get(self.active?)
    }

    /// The symbols the page wants quotes for while `charted` is charted:
    /// the open list's and the charted one; `None` (every symbol) with no
    /// list open.
    pub fn watching(&self, charted: Option<&str>) -> Option<Vec<String>> {
        let mut symbols = self.active_list()?.symbols.clone();
        if let Some(charted) = charted
            && !symbols.iter().any(|s| s == charted)
        {
            symbols.push(charted.to_string());
        }
        Some(symbols)
    }

    /// Adds a list (a blank name becomes "Watchlist N"), opens it, and
    /// returns its index.
    pub fn create(&mut self, name: &str) -> usize {
        let name = match name.trim() {
            "" => format!("Watchlist {}", self.lists.len() + 1),
            name => name.to_owned(),
        };
        self.lists.push(List {
            name,
            symbols: Vec::new(),
        });
        let index = self.lists.len() - 1;
        self.active = Some(index);
        index
    }

    /// Deletes the open list; all symbols show again.
    pub fn delete_active(&mut self) {
        if let Some(i) = self.active.take() {
            self.lists.remove(i);
        }
    }

    /// Adds `symbol` to the open list (once).
    pub fn add(&mut self, symbol: &str) {
        let Some(list) = self.active.and_then(|i| self.lists.get_mut(i)) else {
            return;
        };
        if !list.symbols.iter().any(|s| s == symbol) {
            list.symbols.push(symbol.to_owned());
        }
    }

    pub fn remove(&mut self, symbol: &str) {
        if let Some(list) = self.active.and_then(|i| self.lists.get_mut(i)) {
            list.symbols.retain(|s| s != symbol);
        }
    }

    /// Moves `symbol` `by` places in the open list (clamped at the ends).
    pub fn shift(&mut self, symbol: &str, by: isize) {
        let Some(list) = self.active.and_then(|i| self.lists.get_mut(i)) else {
            return;
        };
        let Some(from) = list.symbols.iter().position(|s| s == symbol) else {
            return;
        };
        let to = from.saturating_add_signed(by).min(list.symbols.len() - 1);
        let moved = list.symbols.remove(from);
        list.symbols.insert(to, moved);
    }

    /// Moves `symbol` to where `target` is (a drag and drop).
    pub fn move_to(&mut self, symbol: &str, target: &str) {
        let Some(list) = self.active.and_then(|i| self.lists.get_mut(i)) else {
            return;
        };
        let (Some(from), Some(to)) = (
            list.symbols.iter().position(|s| s == symbol),
            list.symbols.iter().position(|s| s == target),
        ) else {
            return;
        };
        let moved = list.symbols.remove(from);
        list.symbols.insert(to, moved);
    }
}

/// The viewer's lists, shared by the picker, the table and the subscription.
#[derive(Clone, Copy)]
pub struct Watchlists(pub RwSignal<Lists>);

impl Watchlists {
    /// Empty on the server and at hydration (which must match it); the
    /// saved lists arrive right after.
    pub fn new() -> Watchlists {
        let lists = RwSignal::new(Lists::default());
        #[cfg(feature = "hydrate")]
        storage::follow(lists);
        Watchlists(lists)
    }

    /// The open list's symbols, or `None` when all symbols show.
    pub fn open_symbols(&self) -> Option<Vec<String>> {
        self.0
            .with(|l| l.active_list().map(|list| list.symbols.clone()))
    }

    pub fn open_name(&self) -> Option<String> {
        self.0
            .with(|l| l.active_list().map(|list| list.name.clone()))
    }
}

impl Default for Watchlists {
    fn default() -> Self {
        Watchlists::new()
    }
}

#[cfg(feature = "hydrate")]
mod storage {
    use leptos::prelude::*;

    use super::{Lists, STORAGE_KEY};

    fn local() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok().flatten()
    }

    /// Loads the saved lists once hydrated, then saves every change.
    pub fn follow(lists: RwSignal<Lists>) {
        Effect::new(move |_| {
            let saved = local().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
            if let Some(text) = saved {
                lists.set(Lists::from_json(&text));
            }
        });
        // Not on its first run: that is the empty state before the load.
        Effect::new(move |first: Option<()>| {
            let json = lists.with(Lists::to_json);
            if first.is_some()
                && let Some(storage) = local()
            {
                let _ = storage.set_item(STORAGE_KEY, &json);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tech() -> Lists {
        let mut lists = Lists::default();
        lists.create("Tech");
        for s in ["AAPL", "MSFT", "NVDA", "AAPL"] {
            lists.add(s);
        }
        lists
    }

    #[test]
    fn a_list_keeps_its_symbols_once_in_the_viewers_order() {
        let mut lists = tech();
        assert_eq!(
            lists.active_list().unwrap().symbols,
            ["AAPL", "MSFT", "NVDA"]
        );
        lists.shift("NVDA", -1);
        assert_eq!(
            lists.active_list().unwrap().symbols,
            ["AAPL", "NVDA", "MSFT"]
        );
        lists.shift("AAPL", -5);
        lists.shift("MSFT", 9);
        assert_eq!(
            lists.active_list().unwrap().symbols,
            ["AAPL", "NVDA", "MSFT"]
        );
        lists.move_to("MSFT", "AAPL");
        assert_eq!(
            lists.active_list().unwrap().symbols,
            ["MSFT", "AAPL", "NVDA"]
        );
        lists.remove("AAPL");
        assert_eq!(lists.active_list().unwrap().symbols, ["MSFT", "NVDA"]);
        assert_eq!(lists.create("  ").to_string(), "1");
        assert_eq!(lists.active_list().unwrap().name, "Watchlist 2");
        lists.delete_active();
        assert_eq!((lists.lists.len(), lists.active), (1, None));
    }

    #[test]
    fn an_open_list_watches_its_symbols_and_the_charted_one() {
        let mut lists = tech();
        assert_eq!(
            lists.watching(Some("TSLA")).unwrap(),
            ["AAPL", "MSFT", "NVDA", "TSLA"]
        );
        assert_eq!(
            lists.watching(Some("MSFT")).unwrap(),
            ["AAPL", "MSFT", "NVDA"],
            "once"
        );
        assert_eq!(lists.watching(None).unwrap(), ["AAPL", "MSFT", "NVDA"]);
        lists.active = None;
        assert_eq!(lists.watching(Some("TSLA")), None, "every symbol");
    }

    #[test]
    fn lists_survive_a_round_trip_and_bad_storage_is_ignored() {
        let lists = tech();
        assert_eq!(Lists::from_json(&lists.to_json()), lists);
        assert_eq!(Lists::from_json("{not json"), Lists::default());
        let stale = r#"{"lists":[],"active":3}"#;
        assert_eq!(Lists::from_json(stale).active, None);
    }
}
