//! Precision and recall per kind on the labelled set `tests/data/redaction_eval.tsv`
//! (see `gen_redaction_eval.py` beside it). Print the table with
//! `cargo test -p polyrec-privacy --test eval -- --nocapture`.

mod common;

use common::eval;
use polyrec_privacy::{Kind, Redactor};

const TSV: &str = include_str!("data/redaction_eval.tsv");

#[test]
fn labelled_set_meets_the_recall_targets() -> anyhow::Result<()> {
    let lines = eval::parse(TSV).map_err(anyhow::Error::msg)?;
    assert!(lines.len() >= 300, "the set has {} lines", lines.len());
    let redactor = Redactor::with_all_kinds()?;
    let (tally, errors) = eval::score(&redactor, &lines);
    println!("{}", eval::table(&tally));
    for e in &errors {
        println!("{e}");
    }
    for kind in [Kind::Email, Kind::Card, Kind::CnId, Kind::Phone] {
        let t = tally[&kind];
        assert!(
            t.tp + t.fn_ >= 30,
            "{kind}: only {} labelled values",
            t.tp + t.fn_
        );
        assert!(t.recall() >= 0.99, "{kind}: recall {:.3}", t.recall());
    }
    for kind in Kind::ALL {
        let t = tally[&kind];
        assert!(
            t.precision() >= 0.95,
            "{kind}: precision {:.3}",
            t.precision()
        );
    }
    Ok(())
}

#[test]
fn the_set_mixes_languages_and_negatives() -> anyhow::Result<()> {
    let lines = eval::parse(TSV).map_err(anyhow::Error::msg)?;
    let chinese = lines
        .iter()
        .filter(|l| {
            l.text
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        })
        .count();
    let negatives = lines.iter().filter(|l| l.expected.is_empty()).count();
    assert!(chinese >= 100, "{chinese} lines with Chinese");
    assert!(negatives >= 100, "{negatives} lines without personal data");
    Ok(())
}
