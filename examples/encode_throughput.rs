//! Encode a file of texts (one JSON string per line) with the default model and report
//! sentences per second (used by `benches/encode_vs_sentence_transformers.sh`).
//!
//! `cargo run --release --example encode_throughput -- texts.jsonl [batch_size] [threads]`

use std::time::Instant;

use polyrec::encode::{EncoderOptions, SentenceEncoder, TextEncoder, io};
use polyrec::setup::model_dir as default_model_dir;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: encode_throughput TEXTS.jsonl [batch] [threads]"))?;
    let batch_size = args.next().map_or(Ok(64), |s| s.parse())?;
    let threads: Option<i32> = args.next().map(|s| s.parse()).transpose()?;
    // The application sets libtorch's process-wide threads once: one per worker.
    polyrec::encode::tch::set_num_threads(1);
    let threads = threads.or_else(|| {
        std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as i32)
    });
    let texts = io::read_texts(std::path::Path::new(&input))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = default_model_dir()
        .ok_or_else(|| anyhow::anyhow!("model not installed: run scripts/setup.sh"))?;
    let enc = SentenceEncoder::load(
        dir,
        EncoderOptions {
            device: polyrec::rank::DeviceRequest::Cpu.resolve()?,
            batch_size,
            threads,
            cpu_workers: None,
            half: false,
        },
    )?;
    let start = Instant::now();
    let emb = enc.encode(&refs)?;
    let secs = start.elapsed().as_secs_f64();
    io::write_npy(std::path::Path::new(&format!("{input}.polyrec.npy")), &emb)?;
    println!(
        "texts={} seconds={secs:.3} sentences_per_s={:.1}",
        emb.len(),
        emb.len() as f64 / secs
    );
    Ok(())
}
