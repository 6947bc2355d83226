//! The numeric scanner: finds runs of ASCII digit groups joined by short separators
//! (`138 1234 5678`, `4111-1111-1111-1111`, `192.168.0.1`, `(010)12345678`) and decides,
//! for each group-aligned part of a run, whether it is a Chinese ID, a card number, an
//! IPv4 address or a phone number. Longest part first, leftmost first.

use crate::checks;
use crate::kind::{Found, Kind, KindSet};
use crate::phone;
use std::ops::Range;

/// The most groups one value spans: `+33 (0)1 23 45 67 89` has 7.
const MAX_GROUPS: usize = 8;
/// The most digits one value has (a 19-digit card, an 18-character ID).
const MAX_DIGITS: usize = 19;

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')')
}

/// A run of digit groups, as byte ranges of `text`.
struct Run<'t> {
    text: &'t [u8],
    groups: Vec<Range<usize>>,
    /// Where the run starts, a leading `+`, `(` or `(+` included.
    lead: usize,
    plus: bool,
}

/// Appends every numeric match of an enabled kind in `text` to `out`.
pub(crate) fn scan(text: &str, kinds: KindSet, out: &mut Vec<Found>) {
    let b = text.as_bytes();
    let mut run = Run {
        text: b,
        groups: Vec::new(),
        lead: 0,
        plus: false,
    };
    let mut i = 0;
    while let Some(off) = b
        .get(i..)
        .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
    {
        let start = i + off;
        run.groups.clear();
        let end = collect_groups(b, start, &mut run.groups);
        let (lead, plus) = lead_of(b, start);
        run.lead = lead;
        run.plus = plus;
        run.classify(kinds, out);
        i = end;
    }
}

/// Collects the digit groups of the run starting at `start`; returns where it ends.
fn collect_groups(b: &[u8], start: usize, groups: &mut Vec<Range<usize>>) -> usize {
    let mut g = start;
    loop {
        let mut j = g;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        groups.push(g..j);
        let mut k = j;
        while k < b.len() && k - j < 2 && is_sep(b[k]) {
            k += 1;
        }
        if k > j && k < b.len() && b[k].is_ascii_digit() {
            g = k;
        } else {
            return j;
        }
    }
}

/// A leading `+`, `(` or `(+` before the first digit.
fn lead_of(b: &[u8], start: usize) -> (usize, bool) {
    let before = |n: usize| start.checked_sub(n).map(|p| b[p]);
    match (before(1), before(2)) {
        (Some(b'+'), Some(b'(')) => (start - 2, true),
        (Some(b'+'), _) => (start - 1, true),
        (Some(b'('), _) => (start - 1, false),
        _ => (start, false),
    }
}

/// Whether a value may start at `at`: not glued to a word (`SKU13812345678`,
/// `item-13812345678`, `v1.2.3.4`).
fn left_ok(b: &[u8], at: usize) -> bool {
    let Some(p) = at.checked_sub(1) else {
        return true;
    };
    let c = b[p];
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(c, b'-' | b'_' | b'/') {
        return p == 0 || !b[p - 1].is_ascii_alphanumeric();
    }
    true
}

/// Whether a value may end at `at` (exclusive).
fn right_ok(b: &[u8], at: usize) -> bool {
    match b.get(at) {
        None => true,
        Some(c) if c.is_ascii_alphanumeric() => false,
        Some(b'-' | b'_') => !b.get(at + 1).is_some_and(u8::is_ascii_alphanumeric),
        Some(_) => true,
    }
}

impl Run<'_> {
    fn sep(&self, k: usize) -> &[u8] {
        &self.text[self.groups[k].end..self.groups[k + 1].start]
    }

    fn classify(&self, kinds: KindSet, out: &mut Vec<Found>) {
        let n = self.groups.len();
        let mut i = 0;
        'outer: while i < n {
            for j in (i + 1..=n.min(i + MAX_GROUPS)).rev() {
                if let Some((kind, range)) = self.part(i, j, kinds) {
                    out.push((kind, range));
                    i = j;
                    continue 'outer;
                }
            }
            i += 1;
        }
    }

    /// Classifies groups `i..j`.
    fn part(&self, i: usize, j: usize, kinds: KindSet) -> Option<(Kind, Range<usize>)> {
        let b = self.text;
        let g = &self.groups[i..j];
        let n_digits: usize = g.iter().map(|r| r.len()).sum();
        if n_digits > MAX_DIGITS {
            return None;
        }
        let start = if i == 0 {
            self.lead
        } else if b[g[0].start - 1] == b'(' {
            g[0].start - 1
        } else {
            g[0].start
        };
        // Inside a run the neighbour is a separator and another group, which may be
        // masked as a value of its own: only the run's own ends are checked, so that a
        // second pass over the masked text sees the same boundaries.
        if i == 0 && !left_ok(b, start) {
            return None;
        }
        let last = j == self.groups.len();
        let end = g[g.len() - 1].end;
        let mut digits = [0u8; MAX_DIGITS + 1];
        let mut lens = [0usize; MAX_GROUPS];
        let mut n = 0;
        for (k, r) in g.iter().enumerate() {
            digits[n..n + r.len()].copy_from_slice(&b[r.clone()]);
            n += r.len();
            lens[k] = r.len();
        }
        let lens = &lens[..g.len()];
        let mut sep_buf: [&[u8]; MAX_GROUPS] = [&[]; MAX_GROUPS];
        for (slot, k) in sep_buf.iter_mut().zip(i..j - 1) {
            *slot = self.sep(k);
        }
        let seps = &sep_buf[..j - 1 - i];

        if kinds.contains(Kind::CnId)
            && last
            && let Some(x) = b.get(end).filter(|c| matches!(c, b'X' | b'x'))
        {
            digits[n] = *x;
            let id_lens_ok = matches!(lens, [17] | [6, 8, 3]);
            if id_lens_ok && right_ok(b, end + 1) && spaces(seps) && checks::cn_id(&digits[..n + 1])
            {
                return Some((Kind::CnId, start..end + 1));
            }
        }
        if last && !right_ok(b, end) {
            return None;
        }
        let digits = &digits[..n];
        if kinds.contains(Kind::CnId)
            && matches!(lens, [18] | [6, 8, 4])
            && spaces(seps)
            && checks::cn_id(digits)
        {
            return Some((Kind::CnId, start..end));
        }
        if kinds.contains(Kind::Card) && card_grouping(lens, seps) && checks::card(digits) {
            return Some((Kind::Card, start..end));
        }
        if kinds.contains(Kind::Ipv4) && self.ipv4(i, j, start, end, seps) {
            return Some((Kind::Ipv4, start..end));
        }
        if kinds.contains(Kind::Phone) && self.phone(i, digits, lens, seps) {
            return Some((Kind::Phone, start..end));
        }
        None
    }

    /// Four dotted groups, not part of a longer dotted chain (`1.2.3.4.5`, `.1.2.3.4`);
    /// a sentence's full stop after the address is fine.
    fn ipv4(&self, i: usize, j: usize, start: usize, end: usize, seps: &[&[u8]]) -> bool {
        let b = self.text;
        let dot_before = start > 0 && b[start - 1] == b'.';
        let dot_after =
            b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(|c| !c.is_ascii_whitespace());
        if j - i != 4 || dot_before || dot_after || !seps.iter().all(|s| *s == b".") {
            return false;
        }
        let mut groups: [&[u8]; 4] = [&[]; 4];
        for (slot, r) in groups.iter_mut().zip(&self.groups[i..j]) {
            *slot = &self.text[r.clone()];
        }
        checks::ipv4_groups(&groups)
    }

    fn phone(&self, i: usize, digits: &[u8], lens: &[usize], seps: &[&[u8]]) -> bool {
        let plus = i == 0 && self.plus;
        // "+44 (0)20 7946 0958": the national trunk 0 in parentheses is not dialled.
        let trunk = plus
            && lens.len() >= 3
            && lens[1] == 1
            && digits[lens[0]] == b'0'
            && seps[0].ends_with(b"(")
            && seps[1].starts_with(b")");
        if trunk {
            let mut d = Vec::with_capacity(digits.len() - 1);
            d.extend_from_slice(&digits[..lens[0]]);
            d.extend_from_slice(&digits[lens[0] + 1..]);
            let mut l = vec![lens[0]];
            l.extend_from_slice(&lens[2..]);
            return phone::is_phone(&phone::Candidate {
                digits: &d,
                groups: &l,
                plus,
            });
        }
        phone::is_phone(&phone::Candidate {
            digits,
            groups: lens,
            plus,
        })
    }
}

/// Separators made of one space each (or none).
fn spaces(seps: &[&[u8]]) -> bool {
    seps.iter().all(|s| *s == b" ")
}

/// Card numbers are written in one piece or in groups of 4 (Amex and Diners 4-6-5 and
/// 4-6-4), with one kind of separator, a space or a dash.
fn card_grouping(lens: &[usize], seps: &[&[u8]]) -> bool {
    let one_sep = seps
        .first()
        .is_none_or(|s0| (*s0 == b" " || *s0 == b"-") && seps.iter().all(|s| s == s0));
    let fours = lens.len() >= 4
        && lens[..lens.len() - 1].iter().all(|&l| l == 4)
        && (1..=4).contains(&lens[lens.len() - 1]);
    one_sep && (lens.len() == 1 || fours || matches!(lens, [4, 6, 5] | [4, 6, 4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Kind, &str)> {
        let mut out = Vec::new();
        scan(text, Kind::ALL.into_iter().collect(), &mut out);
        out.into_iter().map(|(k, r)| (k, &text[r])).collect()
    }

    #[test]
    fn finds_each_numeric_kind() {
        assert_eq!(found("电话13812345678。"), [(Kind::Phone, "13812345678")]);
        assert_eq!(
            found("call (415) 555-0132 now"),
            [(Kind::Phone, "(415) 555-0132")]
        );
        assert_eq!(
            found("tel +44 (0)20 7946 0958."),
            [(Kind::Phone, "+44 (0)20 7946 0958")]
        );
        assert_eq!(
            found("card 4111 1111 1111 1111 ok"),
            [(Kind::Card, "4111 1111 1111 1111")]
        );
        assert_eq!(
            found("身份证号11010519491231002X，"),
            [(Kind::CnId, "11010519491231002X")]
        );
        assert_eq!(found("from 10.0.0.1:8080"), [(Kind::Ipv4, "10.0.0.1")]);
        assert_eq!(found("net 10.0.0.0/8"), [(Kind::Ipv4, "10.0.0.0")]);
    }

    #[test]
    fn leaves_ordinary_numbers() {
        for t in [
            "on 2024-01-15 at 10:30",
            "price 1299.00 or $1,299",
            "v1.2.3.4 and 1.2.3.4.5",
            "ISBN 978-7-111-54742-6",
            "order 2024011500421337",
            "SKU13812345678",
            "item-13812345678",
            "card 4111 1111 1111 1112",
            "id 110105194912310021",
        ] {
            assert_eq!(found(t), [], "{t}");
        }
    }

    #[test]
    fn a_long_run_of_numbers_stays_linear() {
        let text = "1 ".repeat(200_000);
        let t = std::time::Instant::now();
        assert_eq!(found(&text), []);
        assert!(t.elapsed().as_secs() < 5);
    }
}
