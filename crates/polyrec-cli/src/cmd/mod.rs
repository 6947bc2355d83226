//! One module per subcommand. Each exposes its clap arguments and
//! `run(args) -> anyhow::Result<ExitCode>`.

pub mod data;
pub mod demo;
pub mod embed;
pub mod job;
pub mod metrics;
pub mod recommend;
pub mod serve;
pub mod social;
pub mod train;

use polyrec::encode::{CacheStats, EmbeddingCache, Embeddings, TextEncoder};

/// Texts per chunk of [`encode_with_progress`] (and per unit of work of a sharded
/// `polyrec embed`, so that its ranks encode exactly the batches one process would).
pub const ENCODE_CHUNK: usize = 512;

/// Embeds texts in chunks (each chunk still sorted by length inside the encoder), through
/// the cache when one is given, with a progress bar on a terminal.
pub fn encode_with_progress(
    encoder: &dyn TextEncoder,
    mut cache: Option<&mut EmbeddingCache>,
    texts: &[&str],
) -> anyhow::Result<(Embeddings, CacheStats)> {
    let bar = indicatif::ProgressBar::new(texts.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} embedding {pos}/{len} texts [{bar:30}] {per_sec}, eta {eta}",
        )?
        .progress_chars("=> "),
    );
    let mut out = Embeddings {
        dim: encoder.dim(),
        data: Vec::with_capacity(texts.len() * encoder.dim()),
    };
    let mut total = CacheStats::default();
    for chunk in texts.chunks(ENCODE_CHUNK) {
        let (emb, stats) = match cache.as_deref_mut() {
            Some(c) => c.encode(encoder, chunk)?,
            None => (
                encoder.encode(chunk)?,
                CacheStats {
                    computed: chunk.len(),
                    ..Default::default()
                },
            ),
        };
        total.hits += stats.hits;
        total.computed += stats.computed;
        total.rebuilt |= stats.rebuilt;
        out.data.extend_from_slice(&emb.data);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok((out, total))
}
