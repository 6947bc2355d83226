//! Prints precision and recall per kind on the labelled set, then every miss and false
//! alarm: `cargo run -p polyrec-privacy --example redaction_eval`.

#[path = "../tests/common/eval.rs"]
#[allow(dead_code)]
mod eval;

fn main() -> anyhow::Result<()> {
    let tsv = include_str!("../tests/data/redaction_eval.tsv");
    let lines = eval::parse(tsv).map_err(anyhow::Error::msg)?;
    let redactor = polyrec_privacy::Redactor::with_all_kinds()?;
    let (tally, errors) = eval::score(&redactor, &lines);
    println!("{} lines\n\n{}", lines.len(), eval::table(&tally));
    for e in errors {
        println!("{e}");
    }
    Ok(())
}
