//! AUC, GAUC and LogLoss on two million rows.
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use polyrec_eval::pointwise::{auc, gauc, logloss};

fn bench(c: &mut Criterion) {
    let n = 2_000_000usize;
    // A deterministic scramble: labels correlate with scores, with ties from rounding.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let scores: Vec<f64> = (0..n).map(|_| (next() * 1000.0).round() / 1000.0).collect();
    let labels: Vec<f64> = scores
        .iter()
        .map(|s| f64::from(u8::from(next() < *s)))
        .collect();
    let users: Vec<u32> = (0..n).map(|i| (i % 50_000) as u32).collect();
    let mut g = c.benchmark_group("metrics");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("auc 2M", |b| b.iter(|| auc(&labels, &scores)));
    g.bench_function("gauc 2M, 50k users", |b| {
        b.iter(|| gauc(&users, &labels, &scores))
    });
    g.bench_function("logloss 2M", |b| b.iter(|| logloss(&labels, &scores)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
