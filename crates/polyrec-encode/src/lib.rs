//! Transformer sentence embeddings on libtorch: the "language-model understanding" stage
//! of polyrec.
//!
//! `polyrec-encode` loads a sentence-transformers model folder as the Hugging Face
//! ecosystem ships it (`config.json`, `model.safetensors`, `tokenizer.json`,
//! `modules.json`, `sentence_bert_config.json`, `1_Pooling/config.json`, Normalize) and
//! runs its BERT-family transformer through `tch`, on CUDA when present and on the CPU
//! otherwise. It sits beside `polyrec-graph` above `polyrec-data`; the ranking crate uses
//! it for item, user and request texts and can fine-tune its top layers
//! ([`SentenceEncoder::unfreeze_top_layers`]).
//!
//! Throughput comes from parallel tokenisation, batches of similar length (less padding),
//! one batch per core at once on the CPU (workers sharing the weights), no gradient
//! tracking at inference, and an [`EmbeddingCache`] so repeated texts are not recomputed.
//! Inference ([`BertModel::inference`], a [`BertInference`]) also stacks each layer's
//! query/key/value weights into one product, drops the attention mask when a batch has no
//! padding, and on the CPU runs the layers over the batch's real tokens only (no product,
//! norm or attention on padding) and finishes each linear layer in one fused pass per row
//! (bias + exact GELU; bias + residual + layer norm) instead of libtorch's separate bias
//! copy, activation, add and norm. Training ([`BertModel::forward_t`]) keeps libtorch's ops.
//!
//! ```no_run
//! use polyrec_encode::{EncoderOptions, SentenceEncoder, TextEncoder};
//!
//! // A sentence-transformers folder (the facade's `polyrec::setup::model_dir()` finds the
//! // set-up's all-MiniLM-L6-v2).
//! let dir = std::path::Path::new("all-MiniLM-L6-v2");
//! let encoder = SentenceEncoder::load(&dir, EncoderOptions::default())?;
//! let emb = encoder.encode(&["a light comedy for a rainy evening", "Heat (1995)"])?;
//! assert_eq!(emb.len(), 2);
//! assert_eq!(emb.dim, 384);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The doctest below runs everywhere: embeddings are plain row-major data.
//!
//! ```
//! use polyrec_encode::Embeddings;
//! let e = Embeddings { dim: 2, data: vec![1.0, 0.0, 0.6, 0.8] };
//! assert_eq!(e.row(1), &[0.6, 0.8]);
//! assert!((e.cosine(0, 1) - 0.6).abs() < 1e-6);
//! ```
#![warn(missing_docs)]

mod bert;
mod cache;
pub mod checkpoint;
mod config;
mod device;
mod encoder;
mod error;
pub mod io;
mod kernels;

pub use bert::{BertInference, BertModel, BertTop};
pub use cache::{CacheStats, EmbeddingCache};
pub use config::{BertConfig, ModelFiles, Pooling};
pub use device::{DeviceReport, DeviceRequest};
pub use encoder::{
    CHARS_PER_TOKEN, EncoderOptions, MAX_CPU_WORKERS, SentenceEncoder, Tokens, pool,
};
pub use error::{Error, Result};
/// The `tch` crate this encoder is built on (its tensors, devices and thread settings).
pub use tch;

/// Embeddings of `n` texts, row-major `[n, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Width of each row.
    pub dim: usize,
    /// `n * dim` values.
    pub data: Vec<f32>,
}

impl Embeddings {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Cosine similarity of rows `i` and `j`.
    pub fn cosine(&self, i: usize, j: usize) -> f32 {
        cosine(self.row(i), self.row(j))
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        (dot / (na * nb)) as f32
    }
}

/// Texts in, embeddings out: the seam between text understanding and the rest of polyrec.
pub trait TextEncoder {
    /// Embedding width.
    fn dim(&self) -> usize;
    /// A string that changes whenever the model's outputs could change (for caches).
    fn fingerprint(&self) -> &str;
    /// Embeds texts; row `i` belongs to `texts[i]`.
    fn encode(&self, texts: &[&str]) -> Result<Embeddings>;
}
