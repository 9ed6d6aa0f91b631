//! The set of symbols one session receives.

use crate::market::SymbolId;

/// Symbols a session is subscribed to: every symbol (`*`, including ones that
/// appear later) or an explicit set, kept as a bitset over symbol ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    all: bool,
    bits: Vec<u64>,
}

impl Subscription {
    /// Every symbol.
    pub fn all() -> Subscription {
        Subscription {
            all: true,
            bits: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.bits.iter().all(|w| *w == 0)
    }

    /// Symbols named (0 for `*`, which names none).
    pub fn len(&self) -> usize {
        if self.all {
            0
        } else {
            self.bits.iter().map(|w| w.count_ones() as usize).sum()
        }
    }

    pub fn is_all(&self) -> bool {
        self.all
    }

    pub fn contains(&self, id: SymbolId) -> bool {
        self.all
            || self
                .bits
                .get(id / 64)
                .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn subscribe_all(&mut self) {
        *self = Subscription::all();
    }

    pub fn insert(&mut self, id: SymbolId) {
        if self.all {
            return;
        }
        if self.bits.len() <= id / 64 {
            self.bits.resize(id / 64 + 1, 0);
        }
        self.bits[id / 64] |= 1 << (id % 64);
    }

    /// Removes one symbol; `universe` is the number of symbols, needed to
    /// turn `*` into "everything but this one".
    pub fn remove(&mut self, id: SymbolId, universe: usize) {
        if self.all {
            *self = Subscription::default();
            (0..universe).for_each(|i| self.insert(i));
        }
        if let Some(word) = self.bits.get_mut(id / 64) {
            *word &= !(1 << (id % 64));
        }
    }

    pub fn clear(&mut self) {
        *self = Subscription::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_star() {
        let mut sub = Subscription::default();
        assert!(sub.is_empty());
        sub.insert(3);
        sub.insert(130);
        sub.insert(130);
        assert_eq!(sub.len(), 2);
        assert!(sub.contains(3) && sub.contains(130) && !sub.contains(4) && !sub.contains(1000));
        sub.remove(3, 200);
        assert!(!sub.contains(3) && !sub.is_empty());
        sub.remove(130, 200);
        assert!(sub.is_empty());

        let mut star = Subscription::all();
        assert!(star.contains(10_000));
        star.remove(5, 8);
        assert!(!star.is_all() && !star.contains(5) && star.contains(7) && !star.contains(8));
    }
}
