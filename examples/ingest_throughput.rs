//! Ingest a dataset spec repeatedly and report rows per second (the polyrec side of
//! `benches/data_vs_pandas.sh`). One untimed load warms the page cache and the thread
//! pool; `seconds` is the mean of the timed loads.
//!
//! `cargo run --release --example ingest_throughput -- examples/data/ml-100k.toml 20`

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let spec = args
        .next()
        .unwrap_or_else(|| "examples/data/ml-100k.toml".into());
    let repeats: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    // `${POLYREC_DATA_DIR}` in a spec stands for the set-up's data folder.
    let vars = polyrec::setup::spec_vars();
    let mut rows = polyrec::data::Dataset::load_with(&spec, None, &vars)?
        .report
        .files
        .iter()
        .map(|f| f.total)
        .sum::<usize>();
    let start = Instant::now();
    for _ in 0..repeats {
        let ds = polyrec::data::Dataset::load_with(&spec, None, &vars)?;
        rows = ds.report.files.iter().map(|f| f.total).sum::<usize>();
    }
    let secs = start.elapsed().as_secs_f64() / repeats as f64;
    println!(
        "rows={rows} seconds={secs:.6} rows_per_s={:.0}",
        rows as f64 / secs
    );
    Ok(())
}
