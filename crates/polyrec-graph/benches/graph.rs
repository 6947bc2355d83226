//! Graph build, neighbour sampling for all items, related items, and reason-path queries on
//! MovieLens-100K's Freebase graph.
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use polyrec_data::Dataset;
use polyrec_graph::{KnowledgeGraph, RelatednessConfig};

fn bench(c: &mut Criterion) {
    let dir = setup_paths::ml100k_dir();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml");
    let Ok(ds) = Dataset::load(&spec, Some(&dir)) else {
        eprintln!("skipping: ML-100K not installed (run scripts/setup.sh)");
        return;
    };
    let Ok(kg) = KnowledgeGraph::from_dataset(&ds) else {
        return;
    };
    let mut g = c.benchmark_group("graph");
    g.sample_size(10);
    g.bench_function("build ml-100k", |b| {
        b.iter(|| KnowledgeGraph::from_dataset(&ds).map(|k| k.n_items()))
    });
    g.bench_function("sample 2-hop k=8 for all items", |b| {
        b.iter(|| kg.sample_neighbours(8, 1).map(|s| s.k))
    });
    g.bench_function("top-10 related for all items", |b| {
        b.iter(|| kg.all_related(10, &RelatednessConfig::default()).len())
    });
    // Reason queries: each user's liked items (rating >= 4) to an item they have not rated.
    let rating = ds.task_index("rating").unwrap_or(1);
    let mut history: Vec<Vec<(u32, f32)>> = vec![Vec::new(); ds.users.ids.len()];
    for r in 0..ds.interactions.len() {
        let v = ds.interactions.labels[rating][r];
        if v >= 4.0 {
            history[ds.interactions.user[r] as usize].push((ds.interactions.item[r], v));
        }
    }
    let mut u = 0usize;
    g.bench_function("reason paths, one (user, candidate) query", |b| {
        b.iter(|| {
            u = (u + 1) % history.len();
            kg.reasons(&history[u], (u * 7 % ds.items.ids.len()) as u32, 3)
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
