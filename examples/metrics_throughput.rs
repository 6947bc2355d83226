//! AUC and LogLoss of a large predictions file (columns label,score), timed apart from
//! reading it (used by `benches/metrics_vs_sklearn.sh`).
//!
//! `cargo run --release --example metrics_throughput -- rows.csv`

use std::time::Instant;

use polyrec::eval::pointwise::{auc, logloss};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: metrics_throughput FILE.csv"))?;
    let text = std::fs::read_to_string(&path)?;
    let (mut labels, mut scores) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1) {
        let (l, s) = line
            .split_once(',')
            .ok_or_else(|| anyhow::anyhow!("{path}:{}: expected label,score", i + 1))?;
        labels.push(l.parse::<f64>()?);
        scores.push(s.parse::<f64>()?);
    }
    let start = Instant::now();
    let a = auc(&labels, &scores);
    let t_auc = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let l = logloss(&labels, &scores);
    let t_ll = start.elapsed().as_secs_f64();
    println!(
        "rows={} auc={:.12} logloss={:.12} auc_s={t_auc:.4} logloss_s={t_ll:.4}",
        labels.len(),
        a.unwrap_or(f64::NAN),
        l.unwrap_or(f64::NAN)
    );
    Ok(())
}
