//! The redactor: runs the enabled detectors, resolves overlaps, masks.

use crate::error::Result;
use crate::kind::{Counts, Found, Kind, KindSet};
use crate::numeric;
use crate::patterns::Patterns;
use crate::spec::{MaskStyle, PrivacySpec};
use aho_corasick::{AhoCorasick, AhoCorasickKind};
use std::borrow::Cow;
use std::ops::Range;

/// One piece of personal data found in a text: its kind and byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// What it is.
    pub kind: Kind,
    /// Where it is, in bytes; always on `char` boundaries.
    pub range: Range<usize>,
}

/// A redacted text and how many values of each kind were masked in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    /// The text with every match replaced by its mask; borrowed when nothing matched.
    pub text: Cow<'a, str>,
    /// Masked values per kind (never the values).
    pub counts: Counts,
}

/// Finds and masks personal data in free text. Cheap to share: `Send + Sync`, no
/// interior mutability, so one redactor serves every thread.
#[derive(Debug, Clone)]
pub struct Redactor {
    kinds: KindSet,
    mask: MaskStyle,
    patterns: Patterns,
}

impl Redactor {
    /// Builds a redactor from a spec, after [`PrivacySpec::validate`].
    pub fn new(spec: &PrivacySpec) -> Result<Self> {
        spec.validate()?;
        let kinds = if spec.enabled {
            spec.kinds.iter().copied().collect()
        } else {
            KindSet::default()
        };
        Ok(Redactor {
            kinds,
            mask: spec.mask.clone(),
            patterns: Patterns::new()?,
        })
    }

    /// Every kind, label masks: the default for user-side text.
    pub fn with_all_kinds() -> Result<Self> {
        Redactor::new(&PrivacySpec::default())
    }

    /// The matches in `text`, sorted and non-overlapping. A value found once is also
    /// matched wherever else it occurs in the text, even where its context alone would
    /// not have been enough (`tel13812345678` after `13812345678`).
    pub fn find(&self, text: &str) -> Vec<Match> {
        let candidates = self.candidates(text);
        if candidates.is_empty() {
            return Vec::new();
        }
        let chosen = leftmost_longest(candidates);
        with_repeats(text, chosen)
    }

    /// `text` with every match masked, and the counts.
    ///
    /// Masking can expose a value that its neighbour hid: in `a@b.co13812345678` the
    /// phone is glued to the e-mail's last letter, and after `[EMAIL]` it is not. So the
    /// masked text is searched again until nothing more is found (at most
    /// [`Redactor::MAX_PASSES`] passes; the second pass is rarely needed and finds
    /// nothing in ordinary text), which makes redaction idempotent.
    pub fn redact<'a>(&self, text: &'a str) -> Redacted<'a> {
        let mut counts = Counts::default();
        let mut current: Cow<'a, str> = Cow::Borrowed(text);
        for _ in 0..Self::MAX_PASSES {
            let matches = self.find(&current);
            if matches.is_empty() {
                break;
            }
            current = Cow::Owned(self.mask(&current, &matches, &mut counts));
        }
        Redacted {
            text: current,
            counts,
        }
    }

    /// The most passes [`Redactor::redact`] makes over one text.
    pub const MAX_PASSES: usize = 4;

    fn mask(&self, text: &str, matches: &[Match], counts: &mut Counts) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for m in matches {
            out.push_str(&text[at..m.range.start]);
            out.push_str(self.mask_for(m.kind));
            counts.add(m.kind);
            at = m.range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Redacts a `String` in place (no copy when nothing matched); returns the counts.
    pub fn redact_in_place(&self, text: &mut String) -> Counts {
        let r = self.redact(text);
        let counts = r.counts;
        if let Cow::Owned(s) = r.text {
            *text = s;
        }
        counts
    }

    fn mask_for(&self, kind: Kind) -> &str {
        match &self.mask {
            MaskStyle::Label => kind.label(),
            MaskStyle::Fixed(s) => s,
        }
    }

    /// Every detector's raw matches. A byte scan first decides which detectors can
    /// match at all: without an ASCII digit or `@` nothing can, and text costs one pass.
    fn candidates(&self, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        if self.kinds.is_empty() {
            return out;
        }
        let b = text.as_bytes();
        let has_digit = b.iter().any(u8::is_ascii_digit);
        let has_at = memchr::memchr(b'@', b).is_some();
        if !has_digit && !has_at {
            return out;
        }
        let has_colon = memchr::memchr(b':', b).is_some();
        let on = |k| self.kinds.contains(k);
        if has_at && on(Kind::Email) {
            self.patterns.emails(text, &mut out);
        }
        if has_at
            && has_colon
            && on(Kind::UrlCredentials)
            && memchr::memmem::find(b, b"://").is_some()
        {
            self.patterns.url_credentials(text, &mut out);
        }
        if has_digit {
            if has_colon && on(Kind::Ipv6) {
                self.patterns.ipv6(text, &mut out);
            }
            let mut shadow = Vec::new();
            if on(Kind::Iban) {
                self.patterns.ibans(text, &mut out, &mut shadow);
            }
            let before = out.len();
            numeric::scan(text, self.kinds, &mut out);
            if !shadow.is_empty() {
                let mut kept = before;
                for k in before..out.len() {
                    let r = &out[k].1;
                    if !shadow.iter().any(|s| s.start <= r.start && r.end <= s.end) {
                        out.swap(kept, k);
                        kept += 1;
                    }
                }
                out.truncate(kept);
            }
        }
        out
    }
}

/// Up to this many distinct values, repeats are searched value by value.
const FEW_VALUES: usize = 16;

/// Non-overlapping matches: leftmost first, then longest, then by [`Kind::ALL`] order.
fn leftmost_longest(mut c: Vec<Found>) -> Vec<Match> {
    c.sort_by_key(|(k, r)| (r.start, std::cmp::Reverse(r.end), k.index()));
    let mut chosen: Vec<Match> = Vec::with_capacity(c.len());
    let mut end = 0;
    for (kind, range) in c {
        if range.start >= end && !range.is_empty() {
            end = range.end;
            chosen.push(Match { kind, range });
        }
    }
    chosen
}

/// Adds every other occurrence of a chosen value that overlaps nothing chosen. A few
/// values are searched one by one (`memmem`); many at once with one Aho-Corasick
/// automaton, so the cost stays linear in the text however many values it holds.
fn with_repeats(text: &str, chosen: Vec<Match>) -> Vec<Match> {
    let mut values: Vec<(&str, Kind)> = chosen
        .iter()
        .map(|m| (&text[m.range.clone()], m.kind))
        .collect();
    values.sort_unstable_by_key(|&(v, _)| v);
    values.dedup_by_key(|&mut (v, _)| v);
    let mut occurrences: Vec<Match> = Vec::new();
    if values.len() <= FEW_VALUES {
        for &(value, kind) in &values {
            occurrences.extend(text.match_indices(value).map(|(at, _)| Match {
                kind,
                range: at..at + value.len(),
            }));
        }
    } else {
        let searcher = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::NoncontiguousNFA))
            .build(values.iter().map(|&(v, _)| v));
        let Ok(searcher) = searcher else {
            return chosen; // too many patterns for the automaton: keep the first-pass matches
        };
        occurrences.extend(searcher.find_overlapping_iter(text).map(|hit| Match {
            kind: values[hit.pattern().as_usize()].1,
            range: hit.range(),
        }));
    }
    occurrences.sort_by_key(|m| (m.range.start, std::cmp::Reverse(m.range.end)));
    let mut extra: Vec<Match> = Vec::new();
    let mut extra_end = 0;
    for m in occurrences {
        let next_chosen = chosen.partition_point(|c| c.range.end <= m.range.start);
        let hits_chosen = chosen
            .get(next_chosen)
            .is_some_and(|c| c.range.start < m.range.end);
        if !hits_chosen && m.range.start >= extra_end {
            extra_end = m.range.end;
            extra.push(m);
        }
    }
    if extra.is_empty() {
        return chosen;
    }
    let mut all = chosen;
    all.extend(extra);
    all.sort_by_key(|m| m.range.start);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        let r = Redactor::with_all_kinds().expect("default spec is valid");
        r.redact(text).text.into_owned()
    }

    #[test]
    fn masks_each_kind_with_its_label() {
        assert_eq!(
            redact("mail a.b@example.com, call +86 138 1234 5678, card 4111-1111-1111-1111"),
            "mail [EMAIL], call [PHONE], card [CARD]"
        );
        assert_eq!(
            redact("https://bob:pw@example.com/x"),
            "https://[URL_CREDENTIALS]@example.com/x"
        );
        assert_eq!(
            redact("身份证11010519491231002X，IP 192.168.1.10"),
            "身份证[CN_ID]，IP [IPV4]"
        );
    }

    #[test]
    fn one_redactor_serves_many_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Redactor>();
    }

    #[test]
    fn plain_text_is_borrowed() {
        let r = Redactor::with_all_kinds().expect("default spec is valid");
        let out = r.redact("A quiet film about 2 brothers, 1999.");
        assert!(matches!(out.text, Cow::Borrowed(_)));
        assert!(out.counts.is_empty());
    }

    #[test]
    fn digits_inside_a_mistyped_iban_are_not_phones() {
        assert_eq!(
            redact("IBAN DE89 6940 0044 9704 4613 02 bounced"),
            "IBAN DE89 6940 0044 9704 4613 02 bounced"
        );
        assert_eq!(redact("IBAN DE89 3704 0044 0532 0130 00"), "IBAN [IBAN]");
    }

    #[test]
    fn a_value_exposed_by_masking_its_neighbour_is_masked() {
        assert_eq!(redact("a@b.co13812345678"), "[EMAIL][PHONE]");
        assert_eq!(redact("01 23 45 67 89(415) 555-0132"), "[PHONE][PHONE]");
    }

    #[test]
    fn many_distinct_values_stay_linear() {
        let text: String = (0..20_000)
            .map(|i| format!("u{i}@example.com 1{:010} ", 3_800_000_000u64 + i))
            .collect();
        let t = std::time::Instant::now();
        let out = Redactor::with_all_kinds().expect("valid").redact(&text);
        assert_eq!(out.counts.get(Kind::Email), 20_000);
        assert_eq!(out.counts.get(Kind::Phone), 20_000);
        assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    }

    #[test]
    fn repeats_of_a_found_value_are_masked_too() {
        assert_eq!(
            redact("13812345678 or tel13812345678"),
            "[PHONE] or tel[PHONE]"
        );
    }

    #[test]
    fn disabled_and_subset_specs() {
        let off = Redactor::new(&PrivacySpec::disabled()).expect("valid");
        assert_eq!(off.redact("a@b.com").text, "a@b.com");
        let only_email = Redactor::new(&PrivacySpec {
            kinds: vec![Kind::Email],
            ..PrivacySpec::default()
        })
        .expect("valid");
        let out = only_email.redact("a@b.com 13812345678");
        assert_eq!(out.text, "[EMAIL] 13812345678");
        assert_eq!(out.counts.get(Kind::Email), 1);
        assert_eq!(out.counts.total(), 1);
    }

    #[test]
    fn fixed_mask() {
        let r = Redactor::new(&PrivacySpec {
            mask: MaskStyle::Fixed("[REDACTED]".into()),
            ..PrivacySpec::default()
        })
        .expect("valid");
        assert_eq!(
            r.redact("a@b.com, 13812345678").text,
            "[REDACTED], [REDACTED]"
        );
    }
}
