//! Scores a redactor against `tests/data/redaction_eval.tsv`: exact (kind, value) matches
//! per line, summed per kind. Shared by the `eval` test and the `redaction_eval` example.

use polyrec_privacy::{Kind, Redactor};
use std::collections::BTreeMap;

/// True positives, false positives, false negatives of one kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
}

impl Tally {
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        1.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

/// One labelled line.
pub struct Line {
    pub number: usize,
    pub text: String,
    pub expected: Vec<(Kind, String)>,
}

/// Parses the TSV (header first; `expected` is `kind=value ;; ...` or `-`).
pub fn parse(tsv: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (i, raw) in tsv.lines().enumerate().skip(1) {
        let number = i + 1;
        let (text, exp) = raw
            .split_once('\t')
            .ok_or_else(|| format!("line {number}: no tab"))?;
        let mut expected = Vec::new();
        if exp != "-" {
            for item in exp.split(" ;; ") {
                let (k, v) = item
                    .split_once('=')
                    .ok_or_else(|| format!("line {number}: {item:?} has no '='"))?;
                let kind =
                    Kind::from_name(k).ok_or_else(|| format!("line {number}: kind {k:?}"))?;
                expected.push((kind, v.to_string()));
            }
        }
        lines.push(Line {
            number,
            text: text.to_string(),
            expected,
        });
    }
    Ok(lines)
}

/// Per-kind tallies, and a description of every miss and false alarm.
pub fn score(redactor: &Redactor, lines: &[Line]) -> (BTreeMap<Kind, Tally>, Vec<String>) {
    let mut tally: BTreeMap<Kind, Tally> = Kind::ALL
        .into_iter()
        .map(|k| (k, Tally::default()))
        .collect();
    let mut errors = Vec::new();
    for line in lines {
        let mut expected = line.expected.clone();
        for m in redactor.find(&line.text) {
            let got = (m.kind, line.text[m.range].to_string());
            let t = tally.entry(got.0).or_default();
            if let Some(pos) = expected.iter().position(|e| *e == got) {
                expected.swap_remove(pos);
                t.tp += 1;
            } else {
                t.fp += 1;
                errors.push(format!("line {}: false {} {:?}", line.number, got.0, got.1));
            }
        }
        for (kind, value) in expected {
            tally.entry(kind).or_default().fn_ += 1;
            errors.push(format!("line {}: missed {kind} {value:?}", line.number));
        }
    }
    (tally, errors)
}

/// The table as Markdown.
pub fn table(tally: &BTreeMap<Kind, Tally>) -> String {
    let mut s = String::from(
        "| kind | labelled | found | TP | FP | FN | precision | recall |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut all = Tally::default();
    for (k, t) in tally {
        s.push_str(&format!(
            "| {k} | {} | {} | {} | {} | {} | {:.3} | {:.3} |\n",
            t.tp + t.fn_,
            t.tp + t.fp,
            t.tp,
            t.fp,
            t.fn_,
            t.precision(),
            t.recall()
        ));
        all.tp += t.tp;
        all.fp += t.fp;
        all.fn_ += t.fn_;
    }
    s.push_str(&format!(
        "| **all** | {} | {} | {} | {} | {} | {:.3} | {:.3} |\n",
        all.tp + all.fn_,
        all.tp + all.fp,
        all.tp,
        all.fp,
        all.fn_,
        all.precision(),
        all.recall()
    ));
    s
}
