//! Telephone number rules, applied to a run of digit groups that the numeric scanner
//! found. Each rule names the written form it accepts; anything else is not a phone.

/// A candidate: its digits (trunk `(0)` removed), the length of each digit group, and
/// whether it was written with a leading `+`.
pub(crate) struct Candidate<'a> {
    pub digits: &'a [u8],
    pub groups: &'a [usize],
    pub plus: bool,
}

/// Whether the candidate is written like a telephone number.
pub(crate) fn is_phone(c: &Candidate<'_>) -> bool {
    let d = c.digits;
    if d.len() < 7 || c.groups.is_empty() {
        return false;
    }
    if c.plus {
        return international(d, c.groups[0]);
    }
    // `00` international prefix: "0086 138 1234 5678", "00 44 20 7946 0958".
    if c.groups[0] >= 2 && d.starts_with(b"00") {
        let country_group = match c.groups {
            [2, cc, ..] => *cc,
            [g, ..] => g - 2,
            [] => 0,
        };
        return country_group > 0 && international(&d[2..], country_group);
    }
    national(d, c.groups)
}

/// E.164 after the `+`: 8-15 digits, a country code of 1-3 digits written as its own
/// group (or everything in one group), and country rules for China (+86) and the North
/// American plan (+1).
fn international(d: &[u8], first_group: usize) -> bool {
    if !(8..=15).contains(&d.len()) || d[0] == b'0' || first_group > 3 && first_group != d.len() {
        return false;
    }
    if let Some(rest) = d.strip_prefix(b"86") {
        return cn_mobile(rest) || cn_landline_without_trunk(rest);
    }
    if let Some(rest) = d.strip_prefix(b"1") {
        return nanp(rest);
    }
    true
}

/// Mainland-China mobile: 11 digits, `1[3-9]...`.
fn cn_mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == b'1' && (b'3'..=b'9').contains(&d[1])
}

/// Mainland-China landline after +86: area code without its trunk 0 (10, 2x, 3xx-9xx)
/// and a 7-8 digit number.
fn cn_landline_without_trunk(d: &[u8]) -> bool {
    (9..=11).contains(&d.len()) && (d.starts_with(b"10") || (b'2'..=b'9').contains(&d[0]))
}

/// North American numbering plan: area code and exchange both start with 2-9.
fn nanp(d: &[u8]) -> bool {
    d.len() == 10 && (b'2'..=b'9').contains(&d[0]) && (b'2'..=b'9').contains(&d[3])
}

/// National forms, which must be grouped the way people write them.
fn national(d: &[u8], groups: &[usize]) -> bool {
    // 138 1234 5678, 138-1234-5678, 13812345678
    if cn_mobile(d) && matches!(groups, [11] | [3, 4, 4] | [3, 8]) {
        return true;
    }
    // (415) 555-0132, 415-555-0132, 415.555.0132, 1-800-555-0199
    if matches!(groups, [3, 3, 4]) && nanp(d) {
        return true;
    }
    if matches!(groups, [1, 3, 3, 4]) && d[0] == b'1' && nanp(&d[1..]) {
        return true;
    }
    if d[0] == b'0' && d[1] != b'0' {
        // French pairs: 01 23 45 67 89
        if matches!(groups, [2, 2, 2, 2, 2]) {
            return true;
        }
        // Trunk 0 + area code of 3-5 digits, then groups of 3+: 010-12345678,
        // 0755-1234 5678, 020 7946 0958, 07700 900123, 030 12345678, 0161 496 0000.
        return groups.len() >= 2
            && (3..=5).contains(&groups[0])
            && (10..=12).contains(&d.len())
            && groups[1..].iter().all(|&g| g >= 3);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(s: &str) -> bool {
        let plus = s.starts_with('+');
        let mut digits = Vec::new();
        let mut groups = Vec::new();
        for g in s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|g| !g.is_empty())
        {
            digits.extend_from_slice(g.as_bytes());
            groups.push(g.len());
        }
        is_phone(&Candidate {
            digits: &digits,
            groups: &groups,
            plus,
        })
    }

    #[test]
    fn accepts_written_forms() {
        for s in [
            "+86 138 1234 5678",
            "+8613812345678",
            "0086 139-1234-5678",
            "138 1234 5678",
            "13812345678",
            "010-12345678",
            "0755-1234-5678",
            "+86 10 1234 5678",
            "(415) 555-0132",
            "415.555.0132",
            "1-800-555-0199",
            "+1 415 555 0132",
            "+44 20 7946 0958",
            "020 7946 0958",
            "07700 900123",
            "+33 1 23 45 67 89",
            "01 23 45 67 89",
            "+49 30 12345678",
        ] {
            assert!(phone(s), "{s}");
        }
    }

    #[test]
    fn rejects_dates_prices_and_ids() {
        for s in [
            "2024-01-15",
            "12345678901",
            "123-456-7890",
            "978-7-111-54742-6",
            "1999-2024",
            "01-02-2024",
            "0001-2345-6789",
            "+1 123 555 0132",
            "+86 123 4567 8901",
            "1234 5678",
            "00 2000-01-01",
            "00 1234 5678 9012",
        ] {
            assert!(!phone(s), "{s}");
        }
    }
}
