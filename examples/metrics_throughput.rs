//! AUC or LogLoss of a large predictions file (columns label,score), timed apart from
//! reading it (the polyrec side of `benches/metrics_vs_numpy_sklearn.sh`). One untimed
//! pass warms caches and the thread pool; the second pass is timed. Threads: rayon's
//! default (one per core) or `RAYON_NUM_THREADS`.
//!
//! `cargo run --release --example metrics_throughput -- rows.csv auc|logloss`

use std::time::Instant;

use polyrec::eval::pointwise::{auc, logloss};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || anyhow::anyhow!("usage: metrics_throughput FILE.csv auc|logloss");
    let path = args.next().ok_or_else(usage)?;
    let metric = args.next().ok_or_else(usage)?;
    let f: fn(&[f64], &[f64]) -> Option<f64> = match metric.as_str() {
        "auc" => auc,
        "logloss" => logloss,
        _ => return Err(usage()),
    };
    let text = std::fs::read_to_string(&path)?;
    let (mut labels, mut scores) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1) {
        let (l, s) = line
            .split_once(',')
            .ok_or_else(|| anyhow::anyhow!("{path}:{}: expected label,score", i + 1))?;
        labels.push(l.parse::<f64>()?);
        scores.push(s.parse::<f64>()?);
    }
    let warm = f(&labels, &scores);
    let start = Instant::now();
    let value = f(&labels, &scores);
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(warm == value, "two passes disagree: {warm:?} vs {value:?}");
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse::<usize>().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "rows={} threads={threads} value={:.12} seconds={secs:.6}",
        labels.len(),
        value.unwrap_or(f64::NAN)
    );
    Ok(())
}
