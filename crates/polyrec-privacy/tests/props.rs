//! Property tests: any input, no panic; masked output holds no found value; redaction
//! is idempotent; text without personal data comes back unchanged.

use polyrec_privacy::{Redacted, Redactor};
use proptest::prelude::*;

fn redactor() -> Redactor {
    Redactor::with_all_kinds().expect("the default spec is valid")
}

/// Valid values of every kind, to glue between random pieces.
const SAMPLES: &[&str] = &[
    "zhang.wei@example.cn",
    "a@b.co",
    "+86 138 1234 5678",
    "13912345678",
    "010-62751234",
    "(415) 555-0132",
    "+44 (0)20 7946 0958",
    "01 23 45 67 89",
    "4111 1111 1111 1111",
    "378282246310005",
    "11010519491231002X",
    "440524198001010013",
    "DE89 3704 0044 0532 0130 00",
    "GB29NWBK60161331926819",
    "192.168.1.10",
    "2001:db8::1",
    "::ffff:192.0.2.128",
    "https://bob:pw@db.example.com/x",
];

/// Text that looks like the places personal data hides: samples glued to noise made of
/// the characters the detectors care about.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(SAMPLES).prop_map(str::to_string),
        "[a-zA-Z0-9 .:@+()/_%\\-X]{0,10}",
        "[中文号码：，。 ]{0,4}",
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

/// Ordinary text: words, Chinese, punctuation, and numbers as reviews write them
/// (years, dates, times, prices, versions, counts).
fn ordinary_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,10}",
        "[的了是我电影好看推荐]{1,6}",
        "[ ,.!?;()]{1,2}",
        (1950u32..2030).prop_map(|y| y.to_string()),
        (1950u32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        (0u32..24, 0u32..60).prop_map(|(h, m)| format!("{h:02}:{m:02}")),
        (1u32..5000, 0u32..100).prop_map(|(a, b)| format!("${a}.{b:02}")),
        (0u32..10, 0u32..30, 0u32..10).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        (2u32..1000).prop_map(|n| format!("{n} minutes")),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|v| v.join(" "))
}

/// 2,000 cases per property, or `PROPTEST_CASES` when set.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn check_invariants(r: &Redactor, text: &str) -> Result<(), TestCaseError> {
    let found = r.find(text);
    let mut end = 0;
    for m in &found {
        prop_assert!(m.range.start >= end && m.range.start < m.range.end);
        prop_assert!(text.is_char_boundary(m.range.start) && text.is_char_boundary(m.range.end));
        end = m.range.end;
    }
    let Redacted { text: once, counts } = r.redact(text);
    // A second pass may find values that masking exposed; never fewer.
    prop_assert!(counts.total() >= found.len() as u64);
    for m in &found {
        let value = &text[m.range.clone()];
        prop_assert!(
            !once.contains(value),
            "{:?} still holds {:?}: {:?}",
            text,
            value,
            once
        );
    }
    let twice = r.redact(&once);
    prop_assert_eq!(&twice.text, &once, "not idempotent on {:?}", text);
    prop_assert!(twice.counts.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_string_keeps_the_invariants(text in any::<String>()) {
        check_invariants(&redactor(), &text)?;
    }

    #[test]
    fn any_bytes_keep_the_invariants(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_invariants(&redactor(), &String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn tricky_text_keeps_the_invariants(text in tricky_text()) {
        check_invariants(&redactor(), &text)?;
    }

    #[test]
    fn every_sample_is_found_between_spaces(i in 0..SAMPLES.len(), pre in "[a-z ]{0,5}", post in "[a-z ]{0,5}") {
        let text = format!("{pre} {} {post}", SAMPLES[i]);
        prop_assert!(redactor().redact(&text).counts.total() >= 1, "{:?}", text);
    }

    #[test]
    fn ordinary_text_is_unchanged(text in ordinary_text()) {
        let out = redactor().redact(&text);
        prop_assert_eq!(&out.text, &text);
        prop_assert!(out.counts.is_empty());
    }
}
