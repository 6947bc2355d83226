//! Encode a file of texts (one JSON string per line) with the default model and report
//! the time of one pass (the polyrec side of `benches/encode_vs_sentence_transformers.py`).
//!
//! `cargo run --release --example encode_throughput -- TEXTS.jsonl [batch] [workers] [OUT.npy]`
//!
//! libtorch gets one intra-op thread and the encoder runs `workers` batches at once (default:
//! the available cores), each on its own thread, all in this one process; the tokenizer runs
//! on rayon's pool (the available cores, or `RAYON_NUM_THREADS`). The whole input is encoded once untimed (warm-up: page
//! cache, allocator, lazily made replicas), then once timed. The embeddings of the timed pass
//! go to `OUT.npy` (default `TEXTS.jsonl.polyrec.npy`), float32 `[texts, dim]`.

use std::time::Instant;

use polyrec::encode::{EncoderOptions, SentenceEncoder, TextEncoder, io};
use polyrec::setup::model_dir as default_model_dir;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: encode_throughput TEXTS.jsonl [batch] [workers] [OUT.npy]")
    })?;
    let batch_size = args.next().map_or(Ok(32), |s| s.parse())?;
    let workers: Option<i32> = args.next().map(|s| s.parse()).transpose()?;
    let out = args
        .next()
        .unwrap_or_else(|| format!("{input}.polyrec.npy"));
    // The application sets libtorch's process-wide threads once: one per worker.
    polyrec::encode::tch::set_num_threads(1);
    polyrec::encode::tch::set_num_interop_threads(1);
    let workers = workers
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as i32)
        })
        .unwrap_or(1)
        .max(1);
    let texts = io::read_texts(std::path::Path::new(&input))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = default_model_dir()
        .ok_or_else(|| anyhow::anyhow!("model not installed: run scripts/setup.sh"))?;
    let enc = SentenceEncoder::load(
        dir,
        EncoderOptions {
            device: polyrec::rank::DeviceRequest::Cpu.resolve()?,
            batch_size,
            threads: Some(workers),
            cpu_workers: None,
            half: false,
        },
    )?;
    let warm = Instant::now();
    enc.encode(&refs)?;
    let warm = warm.elapsed().as_secs_f64();
    let start = Instant::now();
    let emb = enc.encode(&refs)?;
    let secs = start.elapsed().as_secs_f64();
    io::write_npy(std::path::Path::new(&out), &emb)?;
    println!(
        "texts={} dim={} batch={batch_size} workers={workers} torch_threads=1 \
         warmup_seconds={warm:.3} seconds={secs:.3} sentences_per_s={:.1}",
        emb.len(),
        emb.dim,
        emb.len() as f64 / secs
    );
    Ok(())
}
