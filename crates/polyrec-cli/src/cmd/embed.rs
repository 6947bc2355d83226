//! `polyrec embed`: texts in, a float32 `[n, dim]` .npy out.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use polyrec::encode::{
    EmbeddingCache, Embeddings, EncoderOptions, SentenceEncoder, TextEncoder, io,
};
use polyrec::rank::DeviceRequest;
use polyrec::rank::collective::{Collective, shard_range};

/// Arguments of `polyrec embed`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  polyrec embed --input texts.jsonl --output texts.npy")]
pub struct EmbedArgs {
    /// Texts: JSON Lines of strings, or one text per line for a `.txt` file.
    #[arg(long)]
    input: PathBuf,
    /// Output .npy (float32, C order, shape [n, dim]); row i is input line i. It must not
    /// be the input or a file of the model.
    #[arg(long)]
    output: PathBuf,
    /// A sentence-transformers model folder (default: all-MiniLM-L6-v2 from the set-up).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Texts per forward pass (1..=65536).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: DeviceRequest,
    /// Half precision (CUDA only).
    #[arg(long)]
    half: bool,
    /// CPU workers, each encoding one batch on one libtorch thread (default: all cores;
    /// 1..=1024, and never more than there are batches).
    #[arg(long)]
    threads: Option<i32>,
    /// Embedding cache folder: repeated texts are not recomputed.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Most texts per forward pass.
const MAX_BATCH_SIZE: usize = 65_536;

/// Checks what can be checked before any work: the counts in range, and an output that is
/// not the input (nor any file of the model).
fn check(a: &EmbedArgs, model: &std::path::Path) -> anyhow::Result<()> {
    use polyrec::data::persist::same_file;
    if !(1..=MAX_BATCH_SIZE).contains(&a.batch_size) {
        anyhow::bail!(
            "--batch-size {}: must be in 1..={MAX_BATCH_SIZE}",
            a.batch_size
        );
    }
    if let Some(t) = a.threads
        && !(1..=polyrec::encode::MAX_CPU_WORKERS as i32).contains(&t)
    {
        anyhow::bail!(
            "--threads {t}: must be in 1..={}",
            polyrec::encode::MAX_CPU_WORKERS
        );
    }
    if same_file(&a.output, &a.input) {
        anyhow::bail!(
            "--output {} is the input file {}: writing it would destroy the input; name another output",
            a.output.display(),
            a.input.display()
        );
    }
    let model_files = ["config.json", "model.safetensors", "tokenizer.json"];
    if let Some(f) = model_files
        .iter()
        .map(|f| model.join(f))
        .find(|f| same_file(&a.output, f))
    {
        anyhow::bail!(
            "--output {} is the model file {}: name another output",
            a.output.display(),
            f.display()
        );
    }
    Ok(())
}

/// Embeds the texts; under an MPI launcher each rank encodes a shard (see [`sharded`]).
pub fn run(a: EmbedArgs, comm: &dyn Collective) -> anyhow::Result<ExitCode> {
    let device = a.device.resolve_for_rank(comm.local_rank())?;
    let model = match a.model.clone() {
        Some(m) => m,
        None => polyrec::setup::model_dir().context(
            "no --model given and the default model is not installed (run scripts/setup.sh)",
        )?,
    };
    check(&a, &model)?;
    let texts = io::read_texts(&a.input)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // The application owns libtorch's (process-wide) thread settings: one intra-op thread
    // per worker, as many workers as threads asked for (or cores), never more than the
    // batches there are (the encoder makes a weight-sharing replica per worker it uses).
    let batches = refs.len().div_ceil(a.batch_size).max(1);
    let workers = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32))
        .min(i32::try_from(batches).unwrap_or(i32::MAX));
    polyrec::encode::tch::set_num_threads(1);
    let options = EncoderOptions {
        device,
        batch_size: a.batch_size,
        half: a.half,
        threads: Some(workers),
        cpu_workers: None,
    };
    let encoder = SentenceEncoder::load(&model, options)?;
    if comm.size() > 1 {
        return sharded(&a, &encoder, &refs, comm);
    }
    let start = Instant::now();
    let mut cache = a
        .cache_dir
        .as_ref()
        .map(|dir| EmbeddingCache::open(dir, &encoder));
    let (emb, stats) = super::encode_with_progress(&encoder, cache.as_mut(), &refs)?;
    if cache.is_some() {
        let rebuilt = if stats.rebuilt {
            " (corrupt cache rebuilt)"
        } else {
            ""
        };
        eprintln!(
            "cache: {} computed, {} from cache{rebuilt}",
            stats.computed, stats.hits
        );
    }
    let secs = start.elapsed().as_secs_f64();
    io::write_npy(&a.output, &emb)?;
    eprintln!(
        "embedded {} texts into [{}, {}] on {device:?} in {secs:.2} s ({:.1} texts/s) -> {}",
        emb.len(),
        emb.len(),
        encoder.dim(),
        emb.len() as f64 / secs.max(1e-9),
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `polyrec embed` as one rank of N: rank 0 decides what must be computed (every text, or
/// with `--cache-dir` the distinct texts its cache lacks) and tells the others; the work is
/// cut into the chunks a single process encodes one after the other
/// ([`super::ENCODE_CHUNK`] texts), each rank encodes a contiguous run of chunks, and rank 0
/// gathers the vectors, alone updates the cache, and writes the one output in input order.
/// Because every chunk is encoded exactly as a single process encodes it, the output is
/// byte-identical to a single-process run's.
fn sharded(
    a: &EmbedArgs,
    encoder: &SentenceEncoder,
    texts: &[&str],
    comm: &dyn Collective,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let mut cache = match &a.cache_dir {
        Some(dir) if comm.is_root() => Some(EmbeddingCache::open(dir, encoder)),
        _ => None,
    };
    let todo: Vec<usize> = match &cache {
        Some(c) => c.missing(texts),
        None => (0..texts.len()).collect(),
    };
    let mut bytes: Vec<u8> = todo
        .iter()
        .flat_map(|&i| (i as u64).to_le_bytes())
        .collect();
    comm.broadcast_bytes(&mut bytes);
    let todo: Vec<usize> = bytes
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) as usize)
        .collect();
    anyhow::ensure!(
        todo.iter().all(|&i| i < texts.len()),
        "rank {}: rank 0 names texts beyond the {} of {} (do all ranks read the same input?)",
        comm.rank(),
        texts.len(),
        a.input.display()
    );
    let chunks: Vec<&[usize]> = todo.chunks(super::ENCODE_CHUNK).collect();
    let mine = shard_range(chunks.len(), comm.rank(), comm.size());
    let mut local = Vec::new();
    for chunk in &chunks[mine.clone()] {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        let emb = encoder.encode(&batch)?;
        local.extend(emb.data.iter().flat_map(|x| x.to_le_bytes()));
    }
    let Some(parts) = comm.gather_bytes(&local) else {
        return Ok(ExitCode::SUCCESS);
    };
    let dim = encoder.dim();
    let data: Vec<f32> = parts
        .concat()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    anyhow::ensure!(
        data.len() == todo.len() * dim,
        "the ranks returned {} values for {} texts of dimension {dim}",
        data.len(),
        todo.len()
    );
    let computed = Embeddings { dim, data };
    let emb = match cache.as_mut() {
        Some(c) => {
            let done: Vec<&str> = todo.iter().map(|&i| texts[i]).collect();
            c.insert(&done, &computed)?;
            c.save()?;
            eprintln!(
                "cache: {} computed, {} from cache",
                todo.len(),
                texts.len() - todo.len()
            );
            c.encode(encoder, texts)?.0
        }
        None => computed,
    };
    let secs = start.elapsed().as_secs_f64();
    io::write_npy(&a.output, &emb)?;
    eprintln!(
        "embedded {} texts into [{}, {dim}] on {} ranks in {secs:.2} s ({:.1} texts/s) -> {}",
        emb.len(),
        emb.len(),
        comm.size(),
        emb.len() as f64 / secs.max(1e-9),
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
