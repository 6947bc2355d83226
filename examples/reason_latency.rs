//! Latency of reason-path queries on MovieLens-100K's Freebase graph, one query at a time
//! on one thread: for every user, 20 items they have not rated (a fixed stride through the
//! catalog) as candidates, the user's items rated 4 or 5 as the history, top 3 paths.
//! Prints the median, p90, p99 and maximum per query.
//!
//! `cargo run --release --example reason_latency [-- DATA_DIR]`

use std::collections::HashSet;
use std::time::Instant;

use polyrec::data::Dataset;
use polyrec::graph::KnowledgeGraph;
use polyrec::setup::ml100k_dir as default_ml100k_dir;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(default_ml100k_dir, Into::into);
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-100k.toml");
    let ds = Dataset::load(&spec, Some(&dir))?;
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    let rating = ds
        .task_index("rating")
        .ok_or_else(|| anyhow::anyhow!("the spec has no rating task"))?;
    let n_users = ds.users.ids.len();
    let n_items = ds.items.ids.len() as u32;
    let mut history: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_users];
    let mut rated: Vec<HashSet<u32>> = vec![HashSet::new(); n_users];
    for r in 0..ds.interactions.len() {
        let (u, i) = (ds.interactions.user[r] as usize, ds.interactions.item[r]);
        rated[u].insert(i);
        let v = ds.interactions.labels[rating][r];
        if v >= 4.0 {
            history[u].push((i, v));
        }
    }
    let mut queries = Vec::new();
    for (u, seen) in rated.iter().enumerate() {
        let mut i = (u as u32 * 37) % n_items;
        let mut picked = 0;
        while picked < 20 {
            if !seen.contains(&i) {
                queries.push((u, i));
                picked += 1;
            }
            i = (i + 83) % n_items;
        }
    }
    // One untimed pass warms the caches, then every query is timed on its own.
    let mut with_paths = 0usize;
    for &(u, c) in &queries {
        with_paths += usize::from(!kg.reasons(&history[u], c, 3).is_empty());
    }
    let mut micros: Vec<f64> = queries
        .iter()
        .map(|&(u, c)| {
            let start = Instant::now();
            let paths = kg.reasons(&history[u], c, 3);
            let t = start.elapsed().as_secs_f64() * 1e6;
            std::hint::black_box(paths);
            t
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    let q = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    let hist: Vec<usize> = history.iter().map(Vec::len).collect();
    println!(
        "queries={} with_paths={} history_mean={:.1} mean_us={mean:.1} median_us={:.1} p90_us={:.1} p99_us={:.1} max_us={:.1}",
        micros.len(),
        with_paths,
        hist.iter().sum::<usize>() as f64 / n_users as f64,
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
    Ok(())
}
