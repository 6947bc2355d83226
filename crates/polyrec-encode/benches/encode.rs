//! Encoding throughput on the real ML-100K item texts (titles with year and genres).
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use polyrec_encode::{EncoderOptions, SentenceEncoder, TextEncoder};
use setup_paths::model_dir as default_model_dir;

fn bench(c: &mut Criterion) {
    let Some(dir) = default_model_dir() else {
        eprintln!("skipping: model not installed (run scripts/setup.sh)");
        return;
    };
    let data = std::env::var_os("POLYREC_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join("ml-100k.item");
    let Ok(text) = std::fs::read_to_string(&data) else {
        eprintln!("skipping: {} not found", data.display());
        return;
    };
    let texts: Vec<String> = text
        .lines()
        .skip(1)
        .take(512)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            format!(
                "{} ({}). Genres: {}",
                f.get(1).unwrap_or(&""),
                f.get(2).unwrap_or(&""),
                f.get(3).unwrap_or(&"")
            )
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // As an application does (the encoder leaves libtorch's process-wide settings alone):
    // one intra-op thread, one worker per core.
    tch::set_num_threads(1);
    let Ok(enc) = SentenceEncoder::load(
        &dir,
        EncoderOptions {
            device: tch::Device::Cpu,
            cpu_workers: std::thread::available_parallelism().ok().map(usize::from),
            ..Default::default()
        },
    ) else {
        return;
    };
    let mut g = c.benchmark_group("encode");
    g.sample_size(10);
    g.throughput(Throughput::Elements(refs.len() as u64));
    g.bench_function("512 ml-100k item texts, cpu", |b| {
        b.iter(|| enc.encode(&refs).map(|e| e.len()))
    });
    g.bench_function("tokenize 512 texts", |b| {
        b.iter(|| enc.tokenize(&refs).map(|t| t.len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
