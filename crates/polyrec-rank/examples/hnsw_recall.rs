//! Recall and speed of approximate (HNSW) against exact search over a two-tower model's
//! exported vectors: every user vector of the directory is a query.
//!
//! ```sh
//! polyrec train --model two_tower --spec examples/data/ml-100k.toml --split loo --out runs/tt
//! RAYON_NUM_THREADS=1 cargo run --release -p polyrec-rank --example hnsw_recall -- runs/tt 10,20,50,100,200
//! ```

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use polyrec_rank::retrieval::ItemIndex;
use polyrec_rank::retrieval::hnsw::{HnswIndex, HnswOptions, recall_against_exact};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: hnsw_recall DIR [EF,EF,...]")?);
    let efs: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "10,20,50,100,200".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let items = ItemIndex::load(&dir)?;
    let users = ItemIndex::load_named(&dir, "user_index")?;
    let d = users.info().dim as usize;
    let queries: Vec<f32> = (0..users.len())
        .flat_map(|r| users.vector(r).unwrap_or_default().to_vec())
        .collect();
    println!(
        "{} items, {} queries, width {d}, {} rayon thread(s)",
        items.len(),
        users.len(),
        rayon::current_num_threads()
    );
    let none = HashSet::new();
    let t = Instant::now();
    for q in queries.chunks(d) {
        std::hint::black_box(items.search(q, 10, &none)?);
    }
    let exact_us = t.elapsed().as_secs_f64() * 1e6 / users.len() as f64;
    println!("exact top-10: {exact_us:.1} us per query\n");
    println!("| ef_search | build | recall@10 | recall@50 | us per query (top 10) | vs exact |");
    println!("|---|---|---|---|---|---|");
    for ef in efs {
        let t = Instant::now();
        let hnsw = HnswIndex::build(
            &items,
            HnswOptions {
                ef_search: ef,
                ..Default::default()
            },
        )?;
        let build = t.elapsed().as_secs_f64();
        let r10 = recall_against_exact(&items, &hnsw, &queries, 10)?;
        let r50 = recall_against_exact(&items, &hnsw, &queries, 50)?;
        let t = Instant::now();
        for q in queries.chunks(d) {
            std::hint::black_box(hnsw.search(&items, q, 10, &none)?);
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / users.len() as f64;
        println!(
            "| {ef} | {build:.2} s | {r10:.4} | {r50:.4} | {us:.1} | {:.2}x |",
            exact_us / us
        );
    }
    Ok(())
}
