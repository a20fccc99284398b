//! A bounded least-recently-used cache: when full, the entry asked for longest ago gives
//! way.
//!
//! The decoded-event cache of [`crate::TantivyStore`] used to empty itself when full. A
//! process answering many questions (`serve`, `bench trace`) moves from one set of questions
//! to the next; emptying the cache when the events of the earlier questions filled it threw
//! away the current questions' events with them, and the next question started cold: at
//! 10 M events, four addresses traced in turn (~56 000 events in all, within the 65 536
//! entries) had one trace in a round decode its events again after other questions had
//! filled the cache. Evicting the least recently used keeps the current questions' events
//! and lets the earlier ones go. (A random victim, tried first, was worse: the earlier
//! questions' events went no sooner than the current ones, and address traces at 10 M took
//! 2.5–3× as long at the median.)
//!
//! The entries sit in a vector, chained from most to least recently used by index: no
//! allocation per entry beyond the value, and no dependency.

use std::collections::HashMap;
use std::hash::Hash;

/// No entry (the end of the chain).
const NONE: u32 = u32::MAX;

struct Entry<K, V> {
    key: K,
    value: V,
    /// The entry used just before this one (towards the most recent), or [`NONE`].
    newer: u32,
    /// The entry used just after this one (towards the least recent), or [`NONE`].
    older: u32,
}

/// Entries chained by recency, and where each key sits.
pub(crate) struct LruCache<K, V> {
    capacity: usize,
    entries: Vec<Entry<K, V>>,
    slot_of: HashMap<K, u32, foldhash::fast::RandomState>,
    newest: u32,
    oldest: u32,
}

impl<K: Copy + Eq + Hash, V> LruCache<K, V> {
    /// An empty cache of at most `capacity` entries (at least one, at most `u32::MAX - 1`).
    pub(crate) fn new(capacity: usize) -> Self {
        LruCache {
            capacity: capacity.clamp(1, (NONE - 1) as usize),
            entries: Vec::new(),
            slot_of: HashMap::default(),
            newest: NONE,
            oldest: NONE,
        }
    }

    /// The value under `key`, which becomes the most recently used.
    pub(crate) fn get(&mut self, key: &K) -> Option<&V> {
        let slot = *self.slot_of.get(key)?;
        self.unlink(slot);
        self.link_newest(slot);
        Some(&self.entries[slot as usize].value)
    }

    /// Keeps `value` under `key` as the most recently used; when the cache is full, in place
    /// of the least recently used entry. A key already held has its value replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if let Some(&slot) = self.slot_of.get(&key) {
            self.entries[slot as usize].value = value;
            self.unlink(slot);
            self.link_newest(slot);
            return;
        }
        if self.entries.len() < self.capacity {
            let slot = self.entries.len() as u32;
            self.entries.push(Entry {
                key,
                value,
                newer: NONE,
                older: NONE,
            });
            self.slot_of.insert(key, slot);
            self.link_newest(slot);
            return;
        }
        let slot = self.oldest;
        self.unlink(slot);
        let entry = &mut self.entries[slot as usize];
        let evicted = std::mem::replace(&mut entry.key, key);
        entry.value = value;
        self.slot_of.remove(&evicted);
        self.slot_of.insert(key, slot);
        self.link_newest(slot);
    }

    /// Takes `slot` out of the chain.
    fn unlink(&mut self, slot: u32) {
        let Entry { newer, older, .. } = self.entries[slot as usize];
        match newer {
            NONE => self.newest = older,
            newer => self.entries[newer as usize].older = older,
        }
        match older {
            NONE => self.oldest = newer,
            older => self.entries[older as usize].newer = newer,
        }
    }

    /// Puts `slot` (out of the chain) at its newest end.
    fn link_newest(&mut self, slot: u32) {
        let entry = &mut self.entries[slot as usize];
        entry.newer = NONE;
        entry.older = self.newest;
        match self.newest {
            NONE => self.oldest = slot,
            newest => self.entries[newest as usize].newer = slot,
        }
        self.newest = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn holds_what_it_was_given_until_full() {
        let mut cache = LruCache::new(4);
        for key in 0..4u32 {
            cache.insert(key, key * 10);
        }
        for key in 0..4u32 {
            assert_eq!(cache.get(&key), Some(&(key * 10)));
        }
        assert_eq!(cache.get(&9), None);
    }

    #[test]
    fn the_entry_asked_for_longest_ago_gives_way() {
        let mut cache = LruCache::new(3);
        cache.insert(1u32, "one");
        cache.insert(2, "two");
        cache.insert(3, "three");
        // 1 is asked for again: 2 is now the least recently used.
        assert_eq!(cache.get(&1), Some(&"one"));
        cache.insert(4, "four");
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.get(&1), Some(&"one"));
        assert_eq!(cache.get(&3), Some(&"three"));
        assert_eq!(cache.get(&4), Some(&"four"));
    }

    #[test]
    fn a_key_held_has_its_value_replaced_not_duplicated() {
        let mut cache = LruCache::new(2);
        cache.insert(1u32, "a");
        cache.insert(2, "b");
        cache.insert(1, "c");
        // Replacing made 1 the most recent: 2 goes first.
        cache.insert(3, "d");
        assert_eq!(cache.get(&1), Some(&"c"));
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.entries.len(), 2);
    }

    #[test]
    fn a_capacity_of_zero_still_holds_the_last_entry() {
        let mut cache = LruCache::new(0);
        cache.insert(1u32, 1);
        cache.insert(2u32, 2);
        assert_eq!(cache.get(&2), Some(&2));
        assert_eq!(cache.get(&1), None);
    }

    /// The case the cache is for: a process moves on to new questions whose events fit the
    /// cache, while the events of the earlier ones filled it. After one round, the new
    /// questions' events are all held (emptying when full lost some of them every round).
    #[test]
    fn questions_that_fit_stay_warm_after_earlier_ones_filled_the_cache() {
        let capacity = 1_000;
        let mut cache = LruCache::new(capacity);
        for earlier in 10_000..10_000 + capacity as u32 {
            cache.insert(earlier, ());
        }
        let current = 0..900u32;
        for key in current.clone() {
            if cache.get(&key).is_none() {
                cache.insert(key, ());
            }
        }
        for _round in 0..3 {
            for key in current.clone() {
                assert!(cache.get(&key).is_some(), "{key} was evicted");
            }
        }
    }

    /// Random gets and inserts against a plain list kept in recency order.
    #[test]
    fn behaves_as_a_list_in_recency_order() {
        let capacity = 7;
        let mut cache = LruCache::new(capacity);
        let mut model: VecDeque<(u32, u32)> = VecDeque::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for step in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = (state % 12) as u32;
            let position = model.iter().position(|(held, _)| *held == key);
            if state & (1 << 40) == 0 {
                let expected = position.map(|index| {
                    let entry = model.remove(index).unwrap_or_default();
                    model.push_front(entry);
                    entry.1
                });
                assert_eq!(cache.get(&key).copied(), expected, "get {key} at {step}");
            } else {
                if let Some(index) = position {
                    model.remove(index);
                } else if model.len() == capacity {
                    model.pop_back();
                }
                model.push_front((key, step));
                cache.insert(key, step);
            }
            assert_eq!(cache.slot_of.len(), model.len());
        }
        // The chain from newest to oldest is the model's order.
        let mut chain = Vec::new();
        let mut slot = cache.newest;
        while slot != NONE {
            let entry = &cache.entries[slot as usize];
            chain.push((entry.key, entry.value));
            slot = entry.older;
        }
        assert_eq!(chain, model.into_iter().collect::<Vec<_>>());
    }
}
