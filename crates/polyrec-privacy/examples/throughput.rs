//! Redaction speed in MB/s and texts/s, on ordinary text and on text dense with personal
//! data, plus any text files given (one text per line):
//!
//! `cargo run --release -p polyrec-privacy --example throughput -- [--show] [FILE...]`
//!
//! The built-in sets are the evaluation set's lines without personal data ("ordinary")
//! and with ("dense"), repeated to about 8 MB. `--show` prints what was found in the
//! files, to check them by eye for false alarms.

use polyrec_privacy::{Counts, Redactor};
use std::time::Instant;

const TSV: &str = include_str!("../tests/data/redaction_eval.tsv");

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show = args.iter().any(|a| a == "--show");
    let redactor = Redactor::with_all_kinds()?;

    let (mut ordinary, mut dense) = (Vec::new(), Vec::new());
    for line in TSV.lines().skip(1) {
        let (text, expected) = line.split_once('\t').unwrap_or((line, "-"));
        if expected == "-" {
            &mut ordinary
        } else {
            &mut dense
        }
        .push(text.to_string());
    }
    measure(
        &redactor,
        "ordinary (eval lines without PII)",
        &repeat(&ordinary, 8 << 20),
    );
    measure(
        &redactor,
        "dense (eval lines with PII)",
        &repeat(&dense, 8 << 20),
    );

    for path in args.iter().filter(|a| *a != "--show") {
        let raw = std::fs::read(path)?;
        let text = String::from_utf8_lossy(&raw);
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        measure(&redactor, path, &lines);
        if show {
            for line in &lines {
                for m in redactor.find(line) {
                    println!("  {}\t{:?}", m.kind, &line[m.range]);
                }
            }
        }
    }
    Ok(())
}

fn repeat(lines: &[String], bytes: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut n = 0;
    while n < bytes && !lines.is_empty() {
        for l in lines {
            n += l.len();
            out.push(l.clone());
        }
    }
    out
}

/// Median of 5 timed passes over all lines.
fn measure(redactor: &Redactor, name: &str, lines: &[String]) {
    let bytes: usize = lines.iter().map(String::len).sum();
    let mut times = Vec::new();
    let mut counts = Counts::default();
    for _ in 0..5 {
        counts = Counts::default();
        let t = Instant::now();
        for l in lines {
            counts.merge(&redactor.redact(l).counts);
        }
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let s = times[2];
    let found: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "{name}: {} texts, {:.1} MB, median {:.3} s = {:.0} MB/s, {:.0} texts/s (min {:.3} s, max {:.3} s); masked: {}",
        lines.len(),
        bytes as f64 / 1e6,
        s,
        bytes as f64 / 1e6 / s,
        lines.len() as f64 / s,
        times[0],
        times[4],
        if found.is_empty() {
            "nothing".to_string()
        } else {
            found.join(", ")
        }
    );
}
