//! Full-ranking top-K evaluation of a users x items score matrix (written by
//! `benches/topk_vs_numpy_recbole.py make`), timed apart from file reading; the polyrec side
//! of `benches/topk_vs_numpy_recbole.sh`. The score callback copies one user's row, so the
//! timing covers masking, top-K selection and the metrics, as on the NumPy and RecBole
//! sides. One untimed pass warms the thread pool and the caches, then one pass is timed.
//!
//! `cargo run --release --example topk_throughput -- CASE_DIR`

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use polyrec::eval::topk::full_ranking;

fn pairs(path: &Path) -> anyhow::Result<Vec<(usize, u32)>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let (u, i) = line.split_once('\t').ok_or_else(|| {
                anyhow::anyhow!("{}:{}: expected user<TAB>item", path.display(), n + 1)
            })?;
            Ok((u.parse()?, i.parse()?))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("usage: topk_throughput CASE_DIR"))?,
    );
    let scores = polyrec::encode::io::read_npy(&dir.join("scores.npy"))?;
    let (n_users, n_items) = (scores.len(), scores.dim);
    let mut train = vec![HashSet::new(); n_users];
    for (u, i) in pairs(&dir.join("train.tsv"))? {
        train[u].insert(i);
    }
    let mut relevant = vec![HashSet::new(); n_users];
    for (u, i) in pairs(&dir.join("test.tsv"))? {
        relevant[u].insert(i);
    }
    let evaluate = || {
        full_ranking(n_items, &train, &relevant, &[5, 10, 20], |u, buf| {
            buf.copy_from_slice(&scores.data[u * n_items..(u + 1) * n_items]);
        })
    };
    evaluate();
    let start = Instant::now();
    let topk = evaluate();
    let secs = start.elapsed().as_secs_f64();
    let means: Vec<String> = topk
        .means()
        .iter()
        .map(|(k, v)| format!("{k}={v:.12}"))
        .collect();
    println!(
        "users={} {} seconds={secs:.6}",
        topk.users(),
        means.join(" ")
    );
    Ok(())
}
