//! Vocabularies: strings to dense `u32` indices and back.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A bidirectional string <-> dense index map, in order of insertion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocab {
    names: Vec<String>,
    /// Lookup by name. foldhash (per-process random seed) hashes the short ids of real
    /// logs several times faster than SipHash; ingest profiles spent 13% in SipHash.
    #[serde(skip)]
    index: HashMap<String, u32, foldhash::fast::RandomState>,
}

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
        self.index.get(name).copied()
    }

    /// The index of `name`, inserting it when new. The second value is `true` when inserted.
    pub fn insert(&mut self, name: &str) -> (u32, bool) {
        if let Some(&i) = self.index.get(name) {
            return (i, false);
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        (i, true)
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
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
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
