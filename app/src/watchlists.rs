//! Named watchlists: the viewer's own lists of symbols, kept in the
//! browser's localStorage. While a list is open the table shows only its
//! symbols, in the list's order, and the page subscribes to only those.

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
    fn lists_survive_a_round_trip_and_bad_storage_is_ignored() {
        let lists = tech();
        assert_eq!(Lists::from_json(&lists.to_json()), lists);
        assert_eq!(Lists::from_json("{not json"), Lists::default());
        let stale = r#"{"lists":[],"active":3}"#;
        assert_eq!(Lists::from_json(stale).active, None);
    }
}
