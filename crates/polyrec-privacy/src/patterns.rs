//! The kinds found with regular expressions (e-mail, URL credentials, IPv6, IBAN), each
//! followed by the validation a pattern cannot do.

use crate::checks;
use crate::error::{Error, Result};
use crate::kind::{Found, Kind};
use regex::Regex;
use std::net::Ipv6Addr;
use std::ops::Range;

const EMAIL: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}";
const URL_CREDENTIALS: &str = r"[A-Za-z][A-Za-z0-9+.\-]{0,15}://([^\s/?#@:]+:[^\s/?#@]*)@[^\s/?#@]";
const IPV6: &str = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}";
const IBAN_START: &str = r"[A-Z]{2}[0-9]{2}";

/// The compiled patterns; built once per [`crate::Redactor`].
#[derive(Debug, Clone)]
pub(crate) struct Patterns {
    email: Regex,
    url_credentials: Regex,
    ipv6: Regex,
    iban_start: Regex,
}

fn compile(kind: Kind, pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|source| Error::Pattern {
        kind: kind.name(),
        source,
    })
}

impl Patterns {
    pub(crate) fn new() -> Result<Self> {
        Ok(Patterns {
            email: compile(Kind::Email, EMAIL)?,
            url_credentials: compile(Kind::UrlCredentials, URL_CREDENTIALS)?,
            ipv6: compile(Kind::Ipv6, IPV6)?,
            iban_start: compile(Kind::Iban, IBAN_START)?,
        })
    }

    /// E-mail addresses: `local@domain.tld`, ASCII only.
    pub(crate) fn emails(&self, text: &str, out: &mut Vec<Found>) {
        out.extend(self.email.find_iter(text).map(|m| (Kind::Email, m.range())));
    }

    /// The `user:password` of `scheme://user:password@host`.
    pub(crate) fn url_credentials(&self, text: &str, out: &mut Vec<Found>) {
        for c in self.url_credentials.captures_iter(text) {
            if let Some(m) = c.get(1) {
                out.push((Kind::UrlCredentials, m.range()));
            }
        }
    }

    /// IPv6 addresses that `std` parses, with at least two written groups and a digit
    /// (so `a::b` in code and `10:30:00` times stay), an IPv4 tail included.
    pub(crate) fn ipv6(&self, text: &str, out: &mut Vec<Found>) {
        let b = text.as_bytes();
        for m in self.ipv6.find_iter(text) {
            let (start, mut end) = (m.start(), m.end());
            if b.get(end) == Some(&b'.') {
                end = ipv4_tail_end(b, end);
            }
            let glued = |p: Option<&u8>| p.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b':');
            if start > 0 && glued(b.get(start - 1)) || glued(b.get(end)) {
                continue;
            }
            let mut cand = &text[start..end];
            if cand.ends_with(':') && !cand.ends_with("::") {
                cand = &cand[..cand.len() - 1];
            }
            let written = cand.split(':').filter(|g| !g.is_empty()).count();
            let has_digit = cand.bytes().any(|c| c.is_ascii_digit());
            if written >= 2 && has_digit && cand.parse::<Ipv6Addr>().is_ok() {
                out.push((Kind::Ipv6, start..start + cand.len()));
            }
        }
    }

    /// IBANs, in one piece or in printed groups of four: the country's length of
    /// uppercase letters and digits, single spaces allowed between them, mod-97 valid.
    /// An IBAN-shaped string that fails mod 97 goes to `shadow` instead: the digits
    /// inside a mistyped IBAN are not phone numbers.
    pub(crate) fn ibans(&self, text: &str, out: &mut Vec<Found>, shadow: &mut Vec<Range<usize>>) {
        let b = text.as_bytes();
        for m in self.iban_start.find_iter(text) {
            let start = m.start();
            if start > 0 && b[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let Some(len) = checks::iban_expected_len(&b[start..start + 2]) else {
                continue;
            };
            if let Some((compact, end)) = iban_chars(b, start, len) {
                let glued = b.get(end).is_some_and(u8::is_ascii_alphanumeric);
                if glued {
                    continue;
                }
                if checks::iban(&compact) {
                    out.push((Kind::Iban, start..end));
                } else {
                    shadow.push(start..end);
                }
            }
        }
    }
}

/// Extends `end` (at a `.`) over `d.d.d` of an IPv4 tail; returns `end` if there is none.
fn ipv4_tail_end(b: &[u8], end: usize) -> usize {
    let mut e = end;
    while e < b.len() && (b[e].is_ascii_digit() || b[e] == b'.') {
        e += 1;
    }
    while e > end && b[e - 1] == b'.' {
        e -= 1;
    }
    e
}

/// `len` alphanumerics from `start`, allowing one space between any two; the compact
/// form and where it ends.
fn iban_chars(b: &[u8], start: usize, len: usize) -> Option<(Vec<u8>, usize)> {
    let mut compact = Vec::with_capacity(len);
    let mut i = start;
    while compact.len() < len {
        let c = *b.get(i)?;
        if c.is_ascii_uppercase() || c.is_ascii_digit() {
            compact.push(c);
            i += 1;
        } else if c == b' '
            && !compact.is_empty()
            && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            i += 1;
        } else {
            return None;
        }
    }
    Some((compact, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ibans_only(p: &Patterns, text: &str, out: &mut Vec<Found>) {
        p.ibans(text, out, &mut Vec::new());
    }

    fn run(f: fn(&Patterns, &str, &mut Vec<Found>), text: &str) -> Vec<String> {
        let p = Patterns::new().expect("built-in patterns compile");
        let mut out = Vec::new();
        f(&p, text, &mut out);
        out.into_iter().map(|(_, r)| text[r].to_string()).collect()
    }

    #[test]
    fn emails() {
        assert_eq!(
            run(Patterns::emails, "写信给zhang.wei+rec@example.com.cn谢谢"),
            ["zhang.wei+rec@example.com.cn"]
        );
        assert_eq!(
            run(Patterns::emails, "@handle and a@b"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn url_credentials() {
        assert_eq!(
            run(
                Patterns::url_credentials,
                "see https://bob:s3cr3t@db.example.org/x"
            ),
            ["bob:s3cr3t"]
        );
        assert_eq!(
            run(Patterns::url_credentials, "https://example.org/a:b@c"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn ipv6() {
        assert_eq!(
            run(Patterns::ipv6, "from 2001:db8::1 and fe80::1%eth0"),
            ["2001:db8::1", "fe80::1"]
        );
        assert_eq!(
            run(Patterns::ipv6, "mapped ::ffff:192.0.2.128."),
            ["::ffff:192.0.2.128"]
        );
        assert_eq!(
            run(
                Patterns::ipv6,
                "at 10:30:45, std::io, a::b, 00:1A:2B:3C:4D:5E"
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn ibans() {
        assert_eq!(
            run(ibans_only, "IBAN DE89 3704 0044 0532 0130 00 bitte"),
            ["DE89 3704 0044 0532 0130 00"]
        );
        assert_eq!(
            run(ibans_only, "GB29NWBK60161331926819."),
            ["GB29NWBK60161331926819"]
        );
        assert_eq!(
            run(ibans_only, "DE89 3704 0044 0532 0130 01"),
            Vec::<String>::new()
        );
    }
}
