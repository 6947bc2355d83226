//! A small bounded map that forgets the least recently used half when it is full: the
//! per-user caches of [`crate::Recommender`] (model predictions, graph reasons).
use std::collections::HashMap;
use std::hash::Hash;

/// A bounded least-recently-used map.
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    tick: u64,
    capacity: usize,
    hits: u64,
    misses: u64,
}

impl<K: Hash + Eq + Copy, V: Clone> Lru<K, V> {
    /// A map of at most `capacity` entries (0: it keeps nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            tick: 0,
            capacity,
            hits: 0,
            misses: 0,
        }
    }

    /// The value of `key`, marked as just used.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        match self.map.get_mut(key) {
            Some((v, t)) => {
                *t = tick;
                self.hits += 1;
                Some(v.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Whether `key` is held (neither a use nor a hit).
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Stores `value`; when full, first forgets the older half (amortised O(1) per insert).
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            let mut ticks: Vec<u64> = self.map.values().map(|(_, t)| *t).collect();
            let mid = ticks.len() / 2;
            let (_, &mut cut, _) = ticks.select_nth_unstable(mid);
            self.map.retain(|_, (_, t)| *t > cut);
        }
        self.tick += 1;
        self.map.insert(key, (value, self.tick));
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// (hits, misses) since creation.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn keeps_recent_entries_within_capacity() {
        let mut c = Lru::new(4);
        for k in 0..4 {
            c.insert(k, k * 10);
        }
        assert_eq!(c.get(&0), Some(0)); // 0 is now the most recent
        c.insert(4, 40); // full: the entries used before 0 (1, 2, 3) go
        assert!(c.len() <= 4);
        assert_eq!(c.get(&0), Some(0));
        assert_eq!(c.get(&4), Some(40));
        assert_eq!(c.get(&1), None);
        assert_eq!(c.stats(), (3, 1));
        let mut none: Lru<u32, u32> = Lru::new(0);
        none.insert(1, 1);
        assert_eq!(none.get(&1), None);
    }
}
