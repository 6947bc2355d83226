//! Vocabularies: strings to dense `u32` indices and back.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use serde::{Deserialize, Serialize};

/// A bidirectional string <-> dense index map, in order of insertion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Vocab {
    names: Vec<String>,
    /// Lookup by name: indices into `names`, so each name is stored once and an insert
    /// hashes once. foldhash (per-process random seed) hashes the short ids of real logs
    /// several times faster than SipHash; ingest profiles spent 13% in SipHash.
    #[serde(skip)]
    index: HashTable<u32>,
    #[serde(skip)]
    hasher: foldhash::fast::RandomState,
}

/// Two vocabularies are equal when they hold the same names in the same order.
impl PartialEq for Vocab {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Eq for Vocab {}

impl Vocab {
    /// An empty vocabulary.
    pub fn new() -> Self {
        Self::default()
    }

    /// A vocabulary whose index 0 is the out-of-vocabulary bucket, named `name`.
    pub fn with_oov(name: &str) -> Self {
        let mut v = Self::new();
        v.insert(name);
        v
    }

    /// The index of `name`, if known.
    pub fn get(&self, name: &str) -> Option<u32> {
        let names = &self.names;
        self.index
            .find(self.hasher.hash_one(name), |&i| names[i as usize] == name)
            .copied()
    }

    /// The index of `name`, inserting it when new. The second value is `true` when inserted.
    pub fn insert(&mut self, name: &str) -> (u32, bool) {
        let (names, hasher) = (&self.names, &self.hasher);
        let entry = self.index.entry(
            hasher.hash_one(name),
            |&i| names[i as usize] == name,
            |&i| hasher.hash_one(names[i as usize].as_str()),
        );
        match entry {
            Entry::Occupied(e) => (*e.get(), false),
            Entry::Vacant(e) => {
                let i = names.len() as u32;
                e.insert(i);
                self.names.push(name.to_string());
                (i, true)
            }
        }
    }

    /// The name at index `i` (empty for an out-of-range index).
    pub fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }

    /// All names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Rebuilds the lookup index (after deserialisation, which skips it).
    pub(crate) fn reindex(&mut self) {
        let (names, hasher) = (&self.names, &self.hasher);
        let hash = |&i: &u32| hasher.hash_one(names[i as usize].as_str());
        self.index = HashTable::with_capacity(names.len());
        for i in 0..names.len() as u32 {
            self.index.insert_unique(hash(&i), i, hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_oov() {
        let mut v = Vocab::with_oov("<oov>");
        assert_eq!(v.insert("a"), (1, true));
        assert_eq!(v.insert("a"), (1, false));
        assert_eq!(v.get("b"), None);
        assert_eq!(v.name(1), "a");
        assert_eq!(v.len(), 2);
    }
}
