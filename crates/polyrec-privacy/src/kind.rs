//! The kinds of personal data the redactor knows, and per-kind counts.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::ops::Range;

/// A detector's raw match: its kind and byte range.
pub(crate) type Found = (Kind, Range<usize>);

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// `scheme://user:password@host`: the `user:password` part.
    UrlCredentials,
    /// An e-mail address.
    Email,
    /// A Chinese resident identity number (18 characters, checksum-validated).
    CnId,
    /// A payment card number (13-19 digits, known issuer prefix, Luhn-checked).
    Card,
    /// An IBAN (country length and mod-97 validated).
    Iban,
    /// An IPv6 address.
    Ipv6,
    /// An IPv4 address.
    Ipv4,
    /// A telephone number.
    Phone,
}

impl Kind {
    /// Every kind, in the order overlapping matches are preferred.
    pub const ALL: [Kind; 8] = [
        Kind::UrlCredentials,
        Kind::Email,
        Kind::CnId,
        Kind::Card,
        Kind::Iban,
        Kind::Ipv6,
        Kind::Ipv4,
        Kind::Phone,
    ];

    /// The name used in specs and reports (`"cn_id"`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::UrlCredentials => "url_credentials",
            Kind::Email => "email",
            Kind::CnId => "cn_id",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Ipv6 => "ipv6",
            Kind::Ipv4 => "ipv4",
            Kind::Phone => "phone",
        }
    }

    /// The label mask written in place of a match (`"[EMAIL]"`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::UrlCredentials => "[URL_CREDENTIALS]",
            Kind::Email => "[EMAIL]",
            Kind::CnId => "[CN_ID]",
            Kind::Card => "[CARD]",
            Kind::Iban => "[IBAN]",
            Kind::Ipv6 => "[IPV6]",
            Kind::Ipv4 => "[IPV4]",
            Kind::Phone => "[PHONE]",
        }
    }

    /// Position in [`Kind::ALL`]; lower wins when two matches overlap.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Parses a spec or report name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How many values of each kind were masked. Never holds the values themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u64; Kind::ALL.len()]);

impl Counts {
    /// The count for one kind.
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind.index()]
    }

    /// The count over all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Whether nothing was masked.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Adds one masked value of `kind`.
    pub fn add(&mut self, kind: Kind) {
        self.0[kind.index()] += 1;
    }

    /// Adds another set of counts (e.g. one text's into a load report's).
    pub fn merge(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// `(kind, count)` for every kind, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL.into_iter().map(|k| (k, self.get(k)))
    }
}

/// Serialised as a map from kind name to count, zeros left out: `{"email": 2}`.
impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let nonzero = self.0.iter().filter(|&&n| n > 0).count();
        let mut map = s.serialize_map(Some(nonzero))?;
        for (k, n) in self.iter().filter(|&(_, n)| n > 0) {
            map.serialize_entry(k.name(), &n)?;
        }
        map.end()
    }
}

/// A set of kinds, for the redactor's "which detectors run" test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KindSet(u16);

impl KindSet {
    pub(crate) fn insert(&mut self, kind: Kind) {
        self.0 |= 1 << kind.index();
    }
    pub(crate) fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind.index()) != 0
    }
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Kind> for KindSet {
    fn from_iter<I: IntoIterator<Item = Kind>>(iter: I) -> Self {
        let mut set = KindSet::default();
        for k in iter {
            set.insert(k);
        }
        set
    }
}

/// Read back from the same map; a kind missing from it counts 0, an unknown kind is an
/// error.
impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Kind, u64>::deserialize(d)?;
        let mut counts = Counts::default();
        for (k, n) in map {
            counts.0[k.index()] = n;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_follows_all() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(Kind::from_name(k.name()), Some(k));
            assert_eq!(k.index(), i);
        }
        assert_eq!(Kind::from_name("name"), None);
    }

    #[test]
    fn counts_add_and_merge() {
        let mut a = Counts::default();
        a.add(Kind::Email);
        a.add(Kind::Email);
        let mut b = Counts::default();
        b.add(Kind::Phone);
        a.merge(&b);
        assert_eq!(a.get(Kind::Email), 2);
        assert_eq!(a.get(Kind::Phone), 1);
        assert_eq!(a.total(), 3);
        assert!(Counts::default().is_empty());
    }
}
