//! Checksums and validity rules, on plain ASCII strings. A leaf module: no detection here.

/// Luhn (mod 10) over ASCII digits.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if v > 9 {
            return false;
        }
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Whether `digits` (13-19 ASCII digits) start with an issuer prefix whose numbers have
/// that length, and pass Luhn. Prefixes: Visa 4; Mastercard 51-55, 2221-2720; Amex 34, 37;
/// Diners 300-305, 36, 38-39; Discover 6011, 644-649, 65; UnionPay 62, 81; JCB 3528-3589;
/// Maestro 50, 56-58, 63, 67, 68.
pub(crate) fn card(digits: &[u8]) -> bool {
    let n = digits.len();
    if !(13..=19).contains(&n) {
        return false;
    }
    let p = |k: usize| -> u32 {
        digits
            .iter()
            .take(k)
            .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let (p1, p2, p3, p4) = (p(1), p(2), p(3), p(4));
    let ok = match p1 {
        4 => matches!(n, 13 | 16 | 19),
        2 => (2221..=2720).contains(&p4) && n == 16,
        3 => match p2 {
            34 | 37 => n == 15,
            36 | 38 | 39 => (14..=19).contains(&n),
            30 => (300..=305).contains(&p3) && (14..=19).contains(&n),
            35 => (3528..=3589).contains(&p4) && (16..=19).contains(&n),
            _ => false,
        },
        5 => match p2 {
            51..=55 => n == 16,
            50 | 56..=58 => (12..=19).contains(&n),
            _ => false,
        },
        6 => match p2 {
            60 => p4 == 6011 && (16..=19).contains(&n),
            64 => (644..=649).contains(&p3) && (16..=19).contains(&n),
            62 | 65 | 63 | 67 | 68 => (16..=19).contains(&n),
            _ => false,
        },
        8 => p2 == 81 && (16..=19).contains(&n),
        _ => false,
    };
    ok && luhn(digits)
}

/// Chinese resident identity number (GB 11643-1999): 17 digits + check character
/// (digit or `X`/`x`), a known province code, a real birth date in 1900-2099 and the
/// ISO 7064 MOD 11-2 check character.
pub(crate) fn cn_id(id: &[u8]) -> bool {
    if id.len() != 18 || !id[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        id[r]
            .iter()
            .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let province = num(0..2);
    let known = matches!(province, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81..=83 | 91);
    if !known || !valid_date(num(6..10), num(10..12), num(12..14)) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = id[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    let expected = b"10X98765432"[(sum % 11) as usize];
    id[17].to_ascii_uppercase() == expected
}

fn valid_date(y: u32, m: u32, d: u32) -> bool {
    if !(1900..=2099).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

/// IBAN length by country (ISO 13616 registry, SWIFT release of 2024).
fn iban_length(country: &[u8]) -> Option<usize> {
    let len = match country {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FO" | b"GL" | b"NL" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"XK" => 20,
        b"CH" | b"CR" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"TL" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"PL" | b"SV" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        _ => return None,
    };
    Some(len)
}

/// The length an IBAN starting with `country` must have, if the country has IBANs.
pub(crate) fn iban_expected_len(country: &[u8]) -> Option<usize> {
    iban_length(country)
}

/// IBAN (ISO 13616) without spaces: known country, its length, uppercase alphanumerics,
/// check digits 02-98, and the mod-97 remainder 1.
pub(crate) fn iban(s: &[u8]) -> bool {
    if s.len() < 4 || iban_length(&s[..2]) != Some(s.len()) {
        return false;
    }
    if !s[2..4].iter().all(u8::is_ascii_digit)
        || !s
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    let rotated = s[4..].iter().chain(&s[..4]);
    let mut rem = 0u32;
    for &b in rotated {
        if b.is_ascii_digit() {
            rem = (rem * 10 + u32::from(b - b'0')) % 97;
        } else {
            let v = u32::from(b - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

/// IPv4 dotted quad: four groups of 1-3 digits, each 0-255, no leading zeros.
pub(crate) fn ipv4_groups(groups: &[&[u8]]) -> bool {
    groups.len() == 4
        && groups.iter().all(|g| {
            !g.is_empty()
                && g.len() <= 3
                && (g.len() == 1 || g[0] != b'0')
                && g.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')) <= 255
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b"41111x1111111111"));
    }

    #[test]
    fn card_prefixes_and_lengths() {
        assert!(card(b"4111111111111111")); // Visa
        assert!(card(b"5555555555554444")); // Mastercard
        assert!(card(b"2223003122003222")); // Mastercard 2-series
        assert!(card(b"378282246310005")); // Amex
        assert!(card(b"6011111111111117")); // Discover
        assert!(card(b"6200000000000005")); // UnionPay
        assert!(card(b"3530111333300000")); // JCB
        assert!(card(b"30569309025904")); // Diners
        assert!(!card(b"378282246310006")); // bad Luhn
        assert!(!card(b"1234567812345670")); // Luhn-valid, no issuer
        assert!(!card(b"37828224631000")); // Amex prefix, wrong length
    }

    #[test]
    fn cn_id_rules() {
        assert!(cn_id(b"11010519491231002X"));
        assert!(cn_id(b"11010519491231002x"));
        assert!(cn_id(b"440524198001010013"));
        assert!(!cn_id(b"440524188001010014")); // born before 1900
        assert!(!cn_id(b"110105194912310021")); // check character
        assert!(!cn_id(b"110105194902300020")); // 30 February, check character right
        assert!(!cn_id(b"990105194912310020")); // unknown province
    }

    #[test]
    fn iban_rules() {
        assert!(iban(b"DE89370400440532013000"));
        assert!(iban(b"GB29NWBK60161331926819"));
        assert!(iban(b"FR1420041010050500013M02606"));
        assert!(!iban(b"DE89370400440532013001"));
        assert!(!iban(b"DE8937040044053201300")); // too short for DE
        assert!(!iban(b"XX89370400440532013000"));
    }

    #[test]
    fn ipv4_rules() {
        let g = |s: &'static str| s.split('.').map(str::as_bytes).collect::<Vec<_>>();
        assert!(ipv4_groups(&g("192.168.1.10")));
        assert!(ipv4_groups(&g("0.0.0.0")));
        assert!(!ipv4_groups(&g("256.1.1.1")));
        assert!(!ipv4_groups(&g("01.1.1.1")));
        assert!(!ipv4_groups(&g("1.1.1")));
    }
}
