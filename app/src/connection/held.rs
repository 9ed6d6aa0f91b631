//! Quote changes a hidden tab holds instead of drawing them.

use std::collections::HashMap;

use crate::protocol::Change;

/// Quote changes that arrive while the tab is hidden, merged per symbol
/// (later fields win) in arrival order: the charted symbol's are applied
/// once a second (the tab's title shows its price), the rest when the tab
/// shows again.
#[derive(Debug, Default)]
pub struct Held {
    changes: Vec<Change>,
    index: HashMap<String, usize>,
    /// Server time of the newest diff held.
    pub ts: i64,
    /// When the charted symbol's change was last applied (browser clock).
    pub title_at: f64,
}

impl Held {
    pub fn add(&mut self, ts: i64, change: &Change) {
        self.ts = ts;
        match self.index.get(&change.symbol) {
            Some(&i) => self.changes[i].merge(change),
            None => {
                self.index.insert(change.symbol.clone(), self.changes.len());
                self.changes.push(change.clone());
            }
        }
    }

    /// Everything held, and the newest diff's time.
    pub fn take(&mut self) -> (i64, Vec<Change>) {
        self.index.clear();
        (self.ts, std::mem::take(&mut self.changes))
    }

    /// Takes `symbol`'s held change, if any.
    pub fn take_symbol(&mut self, symbol: &str) -> Option<Change> {
        let i = self.index.remove(symbol)?;
        let empty = Change {
            symbol: symbol.to_string(),
            ..Default::default()
        };
        Some(std::mem::replace(&mut self.changes[i], empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(symbol: &str, last: Option<f64>, volume: Option<u64>) -> Change {
        Change {
            symbol: symbol.into(),
            last,
            volume,
            ..Default::default()
        }
    }

    #[test]
    fn changes_merge_per_symbol_in_arrival_order() {
        let mut held = Held::default();
        held.add(1, &change("A", Some(1.0), Some(10)));
        held.add(2, &change("B", Some(2.0), None));
        held.add(3, &change("A", Some(1.5), None));
        let (ts, changes) = held.take();
        assert_eq!(ts, 3);
        assert_eq!(
            changes,
            [
                change("A", Some(1.5), Some(10)),
                change("B", Some(2.0), None)
            ]
        );
        assert_eq!(held.take().1, [], "taken once");
    }

    #[test]
    fn one_symbol_is_taken_alone_and_leaves_no_stale_fields() {
        let mut held = Held::default();
        held.add(1, &change("A", Some(1.0), None));
        held.add(1, &change("B", Some(2.0), None));
        assert_eq!(held.take_symbol("A"), Some(change("A", Some(1.0), None)));
        assert_eq!(held.take_symbol("A"), None);
        held.add(2, &change("A", None, Some(5)));
        let (_, changes) = held.take();
        assert_eq!(
            changes,
            [
                change("A", None, None),
                change("B", Some(2.0), None),
                change("A", None, Some(5))
            ]
        );
    }
}
