//! Inputs built to make a scanner or a regex iterator go quadratic: each must be
//! redacted in time linear in its length (a few seconds for 1-2 MB here).

use polyrec_privacy::Redactor;
use std::time::{Duration, Instant};

fn time_redact(name: &str, text: &str) -> Duration {
    let r = Redactor::with_all_kinds().expect("the default spec is valid");
    let t = Instant::now();
    let out = r.redact(text);
    let took = t.elapsed();
    println!(
        "{name}: {} bytes, {took:?}, {} masked",
        text.len(),
        out.counts.total()
    );
    took
}

#[test]
fn pathological_inputs_stay_fast() {
    let cases: Vec<(&str, String)> = vec![
        ("at signs", "a@".repeat(500_000)),
        ("local part then @", format!("{}@", "a".repeat(1_000_000))),
        ("colons", "0:".repeat(500_000)),
        ("dotted digits", "1.".repeat(500_000)),
        ("spaced digits", "1 ".repeat(500_000)),
        ("one long number", "7".repeat(1_000_000)),
        ("iban starts", "DE89".repeat(250_000)),
        ("iban starts spaced", "DE89 ".repeat(200_000)),
        ("url schemes", "https://a:".repeat(100_000)),
        ("url with @", "http://a:b@".repeat(100_000)),
        ("emails", "x@example.com ".repeat(70_000)),
        ("phones", "13812345678 ".repeat(80_000)),
        ("ipv6", "2001:db8::1 ".repeat(80_000)),
    ];
    for (name, text) in &cases {
        let took = time_redact(name, text);
        assert!(took < Duration::from_secs(10), "{name}: {took:?}");
    }
}
