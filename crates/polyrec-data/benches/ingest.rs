//! Ingest of MovieLens-100K with its knowledge graph (all files parsed and validated), from
//! text and from the binary cache.
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use polyrec_data::{Dataset, DatasetSpec, cache};

fn bench(c: &mut Criterion) {
    let spec_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml");
    let dir = setup_paths::ml100k_dir();
    let Ok(spec) = DatasetSpec::from_toml_file(&spec_path) else {
        eprintln!("skipping: cannot read {}", spec_path.display());
        return;
    };
    if !dir.join("ml-100k.inter").exists() {
        eprintln!(
            "skipping: ML-100K not installed at {} (run scripts/setup.sh)",
            dir.display()
        );
        return;
    }
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.bench_function("ml-100k with kg, parse + validate", |b| {
        b.iter(|| Dataset::load_spec(&spec, &dir).map(|d| d.interactions.len()))
    });
    let cache_dir = std::env::temp_dir().join("polyrec-bench-cache");
    let _ = cache::load_cached(&spec, &dir, &cache_dir);
    g.bench_function("ml-100k with kg, from binary cache", |b| {
        b.iter(|| {
            cache::load_cached(&spec, &dir, &cache_dir).map(|(d, hit)| (d.interactions.len(), hit))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
