//! The sentence encoder: tokenizer + BERT + pooling (+ normalisation), batched by length.

use std::path::Path;

use rayon::prelude::*;
use tch::{Device, Kind, Tensor, nn};
use tokenizers::Tokenizer;

use crate::bert::{BertInference, BertModel};
use crate::config::{ModelFiles, Pooling};
use crate::{Embeddings, Error, Result, TextEncoder};

/// Options of a [`SentenceEncoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderOptions {
    /// Where the model runs.
    pub device: Device,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Run in half precision (CUDA only; ignored on the CPU).
    pub half: bool,
    /// How many CPU workers to run when `cpu_workers` is `None` (`None`: one). The encoder
    /// never changes libtorch's thread settings, which are process-wide: the application
    /// sets them once at start-up (`tch::set_num_threads`), e.g. to 1 when it runs several
    /// workers, so that they do not oversubscribe the cores.
    pub threads: Option<i32>,
    /// On the CPU, how many batches run at once, each on its own thread with libtorch's
    /// intra-op threads, all sharing the same weights (no copy). `None`: `threads`, else
    /// one; `Some(1)`: one batch at a time. A small model keeps one core busier per batch
    /// than many cores on one batch, so an application with `n` cores typically gives
    /// libtorch one intra-op thread and runs `n` workers.
    pub cpu_workers: Option<usize>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            device: Device::cuda_if_available(),
            batch_size: 32,
            half: false,
            threads: None,
            cpu_workers: None,
        }
    }
}

/// Token ids of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Input ids with special tokens, truncated at the model's max_seq_length.
    pub ids: Vec<u32>,
}

/// A sentence-transformers model on libtorch.
pub struct SentenceEncoder {
    files: ModelFiles,
    tokenizer: Tokenizer,
    vs: nn::VarStore,
    model: BertModel,
    options: EncoderOptions,
    fingerprint: String,
    /// Models that share the weights of `model`, one per CPU worker a call has used, made
    /// when a call first needs that many (never more than its batches or the workers).
    replicas: std::sync::Mutex<Vec<std::sync::Arc<std::sync::Mutex<Replica>>>>,
}

/// Most CPU workers (and so weight-sharing replicas) one encoder runs.
pub const MAX_CPU_WORKERS: usize = 1024;

/// Characters kept per token of `max_seq_length` before tokenisation: a word-piece token
/// covers at most 100 characters (longer words become one unknown token), so a text cut
/// there still gives every token the model sees, short of long runs of spaces.
pub const CHARS_PER_TOKEN: usize = 100;

/// `s` cut to at most `max` characters, at a character boundary.
fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The tokenizer's ids must all be tokens of the model's vocabulary.
fn check_tokenizer(tokenizer: &Tokenizer, files: &ModelFiles) -> Result<()> {
    let vocab = files.bert.vocab_size;
    let worst = tokenizer
        .get_vocab(true)
        .into_iter()
        .max_by_key(|(_, id)| *id);
    match worst {
        Some((token, id)) if i64::from(id) >= vocab => Err(Error::model(
            &files.tokenizer,
            format!(
                "token {token:?} has id {id}, past the model's vocabulary (vocab_size {vocab} in \
                 config.json): tokenizer and checkpoint do not belong together"
            ),
        )),
        _ => Ok(()),
    }
}

/// One finished batch: its index and its flattened embeddings.
type Done = (usize, Vec<f32>);

/// A [`BertModel`] whose tensors share storage with the encoder's own.
struct Replica {
    _vs: nn::VarStore,
    model: BertModel,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("dir", &self.files.dir)
            .field("options", &self.options)
            .finish()
    }
}

impl SentenceEncoder {
    /// Loads a model folder.
    pub fn load(dir: impl AsRef<Path>, options: EncoderOptions) -> Result<Self> {
        let files = ModelFiles::from_dir(dir)?;
        // Every size the config states is checked against the checkpoint before a tensor is
        // made, so a config that does not fit is an error naming the field.
        let shapes = crate::checkpoint::read_shapes(&files.weights)?;
        crate::checkpoint::check_config(
            &files.bert,
            &shapes,
            &files.dir.join("config.json"),
            &files.weights,
        )?;
        let mut tokenizer = Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| Error::model(&files.tokenizer, format!("cannot load tokenizer: {e}")))?;
        check_tokenizer(&tokenizer, &files)?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: files.max_seq_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let mut vs = nn::VarStore::new(options.device);
        let model = BertModel::new(&vs.root(), &files.bert);
        load_weights(&mut vs, &files.weights)?;
        if options.half && options.device.is_cuda() {
            vs.half();
        }
        vs.freeze();
        let fingerprint = fingerprint(&files)?;
        Ok(Self {
            files,
            tokenizer,
            vs,
            model,
            options,
            fingerprint,
            replicas: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The files it was loaded from.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// The options in force.
    pub fn options(&self) -> &EncoderOptions {
        &self.options
    }

    /// The variable store (for fine-tuning: see [`SentenceEncoder::unfreeze_top_layers`]).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Makes the top `k` transformer layers trainable (all others stay frozen);
    /// `k = 0` freezes everything. Returns the number of trainable tensors.
    pub fn unfreeze_top_layers(&mut self, k: usize) -> usize {
        self.vs.freeze();
        let n = self.model.num_layers();
        let first = n.saturating_sub(k);
        let mut count = 0;
        for (name, t) in self.vs.variables() {
            let layer = name
                .strip_prefix("encoder.layer.")
                .and_then(|rest| rest.split('.').next())
                .and_then(|i| i.parse::<usize>().ok());
            if layer.is_some_and(|l| l >= first) {
                let _ = t.set_requires_grad(true);
                count += 1;
            }
        }
        count
    }

    /// Token states of `texts` after all but the top `k` transformer layers, without
    /// gradients, padded to the longest text: `(states [n, seq, hidden], mask [n, seq])`
    /// on the CPU. With [`SentenceEncoder::top_layer_weights`] and a [`crate::BertTop`],
    /// a ranker fine-tunes the top `k` layers and re-encodes only the texts of its batch.
    pub fn lower_states(&self, texts: &[&str], k: usize) -> Result<(Tensor, Tensor)> {
        let lower = self.model.num_layers().saturating_sub(k);
        let tokens = self.tokenize(texts)?;
        let seq = tokens.iter().map(|t| t.ids.len()).max().unwrap_or(0).max(1);
        let pad_id = self.files.bert.pad_token_id;
        let device = self.options.device;
        let mut states = Vec::new();
        let mut masks = Vec::new();
        for chunk in tokens.chunks(self.options.batch_size.max(1)) {
            let mut ids = vec![pad_id; chunk.len() * seq];
            let mut mask = vec![0i64; chunk.len() * seq];
            for (r, t) in chunk.iter().enumerate() {
                for (c, &id) in t.ids.iter().enumerate() {
                    ids[r * seq + c] = i64::from(id);
                    mask[r * seq + c] = 1;
                }
            }
            let shape = [chunk.len() as i64, seq as i64];
            let ids = Tensor::from_slice(&ids).view(shape).to_device(device);
            let mask = Tensor::from_slice(&mask).view(shape).to_device(device);
            let h = tch::no_grad(|| self.model.forward_lower(&ids, &mask, lower));
            states.push(h.to_kind(Kind::Float).to_device(Device::Cpu));
            masks.push(mask.to_device(Device::Cpu));
        }
        if states.is_empty() {
            let h = self.files.bert.hidden_size;
            return Ok((
                Tensor::zeros([0, seq as i64, h], (Kind::Float, Device::Cpu)),
                Tensor::zeros([0, seq as i64], (Kind::Int64, Device::Cpu)),
            ));
        }
        Ok((Tensor::cat(&states, 0), Tensor::cat(&masks, 0)))
    }

    /// Copies of the top `k` layers' weights, named as in a [`crate::BertTop`] of `k`
    /// layers (`layer.0.attention.self.query.weight`, ... counted from the first copied).
    pub fn top_layer_weights(&self, k: usize) -> Vec<(String, Tensor)> {
        let n = self.model.num_layers();
        let first = n.saturating_sub(k);
        let mut out: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter_map(|(name, t)| {
                let rest = name.strip_prefix("encoder.layer.")?;
                let (i, tail) = rest.split_once('.')?;
                let i: usize = i.parse().ok()?;
                (i >= first).then(|| {
                    let copy = tch::no_grad(|| t.to_kind(Kind::Float).copy());
                    (format!("layer.{}.{tail}", i - first), copy)
                })
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Tokenizes texts in parallel.
    /// A text is first cut to [`SentenceEncoder::max_chars`] characters: the tokenizer then
    /// never works on more than the model can see (a 50 MB text costs what its head costs).
    /// An id past the vocabulary is an error, never an index into the embeddings.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Tokens>> {
        let tokenizer = &self.tokenizer;
        let (max_chars, vocab) = (self.max_chars(), self.files.bert.vocab_size);
        texts
            .par_iter()
            .map(|t| {
                let ids = tokenizer
                    .encode(truncate_chars(t, max_chars), true)
                    .map_err(|e| Error::Tokenizer(e.to_string()))?
                    .get_ids()
                    .to_vec();
                match ids.iter().find(|&&id| i64::from(id) >= vocab) {
                    Some(id) => Err(Error::Tokenizer(format!(
                        "token id {id} is past the model's vocabulary (vocab_size {vocab})"
                    ))),
                    None => Ok(Tokens { ids }),
                }
            })
            .collect()
    }

    /// Characters of a text kept before tokenisation: [`CHARS_PER_TOKEN`] per token of
    /// `max_seq_length`.
    pub fn max_chars(&self) -> usize {
        self.files.max_seq_length.saturating_mul(CHARS_PER_TOKEN)
    }

    /// Pooled (and normalised, if the model says so) embeddings of a padded batch, with
    /// gradient tracking as the variable store allows. `ids` and `mask` are `[batch, seq]`.
    pub fn forward_t(&self, ids: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let tokens = self.model.forward_t(ids, mask, train);
        pool(&tokens, mask, self.files.pooling, self.files.normalize)
    }

    /// Pads a group of token sequences into `(ids, mask)` tensors on the model's device.
    pub fn pad(&self, group: &[&Tokens]) -> (Tensor, Tensor) {
        pad(group, self.files.bert.pad_token_id, self.options.device)
    }

    /// Encodes texts: tokenizes in parallel, sorts by length so each batch pads little,
    /// runs without gradients and restores the input order. On the CPU, batches run on
    /// several workers at once (see [`EncoderOptions::cpu_workers`]).
    pub fn encode_texts(&self, texts: &[&str]) -> Result<Embeddings> {
        let dim = self.files.bert.hidden_size as usize;
        let tokens = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].ids.len()));
        let bs = self.options.batch_size.max(1);
        let chunks: Vec<&[usize]> = order.chunks(bs).collect();
        let (pad_id, device) = (self.files.bert.pad_token_id, self.options.device);
        let (pooling, normalize) = (self.files.pooling, self.files.normalize);
        let tokens = &tokens;
        // A `BertInference` is made once per call (and worker); its weights are checked
        // against the current (possibly fine-tuned) parameters each time.
        let run = move |model: &BertInference<'_>, chunk: &[usize]| -> Result<Vec<f32>> {
            let group: Vec<&Tokens> = chunk.iter().map(|&i| &tokens[i]).collect();
            let (ids, mask) = pad(&group, pad_id, device);
            let emb = pool(&model.forward(&ids, &mask), &mask, pooling, normalize)
                .to_kind(Kind::Float)
                .to(Device::Cpu)
                .contiguous();
            Ok(Vec::<f32>::try_from(emb.view([-1]))?)
        };
        let mut out = vec![0f32; texts.len() * dim];
        let mut place = |chunk: &[usize], flat: &[f32]| {
            for (k, &i) in chunk.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&flat[k * dim..(k + 1) * dim]);
            }
        };
        let workers = self.cpu_workers().min(chunks.len());
        if workers <= 1 {
            tch::no_grad(|| -> Result<()> {
                let model = self.model.inference();
                for chunk in &chunks {
                    place(chunk, &run(&model, chunk)?);
                }
                Ok(())
            })?;
            return Ok(Embeddings { dim, data: out });
        }
        let replicas = self.replicas_for(workers)?;
        let key = &self.model.parameters_key();
        // Workers take the next batch from a shared counter (longest first), so the
        // uneven batch costs balance out.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<Vec<Done>>> = std::thread::scope(|s| {
            let handles: Vec<_> = replicas
                .iter()
                .map(|replica| {
                    let (next, chunks, run, key) = (&next, &chunks, &run, key);
                    s.spawn(move || -> Result<Vec<Done>> {
                        let guard = replica.lock().map_err(|_| {
                            Error::Worker("a worker panicked during an earlier call".into())
                        })?;
                        let mut done = Vec::new();
                        tch::no_grad(|| -> Result<()> {
                            let model = guard.model.inference_for(key);
                            loop {
                                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(chunk) = chunks.get(k) else {
                                    return Ok(());
                                };
                                done.push((k, run(&model, chunk)?));
                            }
                        })?;
                        Ok(done)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Worker("a worker panicked".into())))
                })
                .collect()
        });
        for r in results {
            for (k, flat) in r? {
                place(chunks[k], &flat);
            }
        }
        Ok(Embeddings { dim, data: out })
    }

    /// Workers used for a large input: 1 off the CPU, at most [`MAX_CPU_WORKERS`].
    fn cpu_workers(&self) -> usize {
        if self.options.device != Device::Cpu {
            return 1;
        }
        self.options
            .cpu_workers
            .unwrap_or_else(|| self.options.threads.unwrap_or(1).max(1) as usize)
            .clamp(1, MAX_CPU_WORKERS)
    }

    /// The first `n` replicas, making those that do not exist yet.
    fn replicas_for(&self, n: usize) -> Result<Vec<std::sync::Arc<std::sync::Mutex<Replica>>>> {
        let mut all = self
            .replicas
            .lock()
            .map_err(|_| Error::Worker("a worker panicked during an earlier call".into()))?;
        while all.len() < n {
            all.push(std::sync::Arc::new(std::sync::Mutex::new(self.replica())));
        }
        Ok(all.iter().take(n).cloned().collect())
    }

    /// A model sharing this encoder's weight storage: built with the same names, then each
    /// tensor's data pointed at the encoder's tensor (no copy).
    fn replica(&self) -> Replica {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = BertModel::new(&vs.root(), &self.files.bert);
        let source = self.vs.variables();
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                if let Some(src) = source.get(&name) {
                    var.set_data(src);
                }
            }
        });
        vs.freeze();
        Replica { _vs: vs, model }
    }
}

impl TextEncoder for SentenceEncoder {
    fn dim(&self) -> usize {
        self.files.bert.hidden_size as usize
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        self.encode_texts(texts)
    }
}

/// Copies checkpoint tensors into the variable store, accepting names with or without a
/// model prefix (`bert.`, `model.`), and reporting missing or mis-shaped tensors by name.
fn load_weights(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    let tensors = Tensor::read_safetensors(path)
        .map_err(|e| Error::model(path, format!("cannot read safetensors: {e}")))?;
    let by_name: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
    let vars = vs.variables();
    let prefix = ["", "bert.", "model.", "encoder."]
        .into_iter()
        .find(|p| by_name.contains_key(&format!("{p}embeddings.word_embeddings.weight")))
        .ok_or_else(|| {
            Error::model(
                path,
                "no `embeddings.word_embeddings.weight` tensor: not a BERT checkpoint",
            )
        })?;
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in vars {
            let key = format!("{prefix}{name}");
            let src = by_name
                .get(&key)
                .ok_or_else(|| Error::model(path, format!("tensor `{key}` is missing")))?;
            if src.size() != var.size() {
                return Err(Error::model(
                    path,
                    format!(
                        "tensor `{key}` has shape {:?}, the config implies {:?}",
                        src.size(),
                        var.size()
                    ),
                ));
            }
            var.f_copy_(&src.to_kind(var.kind()))?;
        }
        Ok(())
    })
}

/// A fingerprint of the model: SHA-256 over the config, tokenizer, pooling and weights.
fn fingerprint(files: &ModelFiles) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in [
        files.dir.join("config.json"),
        files.tokenizer.clone(),
        files.weights.clone(),
    ] {
        let bytes = std::fs::read(&p).map_err(|e| Error::Io {
            path: p.clone(),
            source: e,
        })?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(format!(
        "{:?}/{}/{}",
        files.pooling, files.normalize, files.max_seq_length
    ));
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Pads a group of token sequences into `(ids, mask)` tensors on `device`.
fn pad(group: &[&Tokens], pad_id: i64, device: Device) -> (Tensor, Tensor) {
    let len = group.iter().map(|t| t.ids.len()).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(group.len() * len);
    let mut mask = Vec::with_capacity(group.len() * len);
    for t in group {
        ids.extend(t.ids.iter().map(|&i| i64::from(i)));
        mask.extend(std::iter::repeat_n(1i64, t.ids.len()));
        ids.extend(std::iter::repeat_n(pad_id, len - t.ids.len()));
        mask.extend(std::iter::repeat_n(0i64, len - t.ids.len()));
    }
    let shape = [group.len() as i64, len as i64];
    (
        Tensor::from_slice(&ids).view(shape).to(device),
        Tensor::from_slice(&mask).view(shape).to(device),
    )
}

/// Pools token states `[batch, seq, hidden]` under a 0/1 mask `[batch, seq]` into one
/// vector per text, L2-normalised when `normalize` (as the model folder says).
pub fn pool(tokens: &Tensor, mask: &Tensor, pooling: Pooling, normalize: bool) -> Tensor {
    let kind = tokens.kind();
    let m = mask.to_kind(kind).unsqueeze(-1);
    let count = || m.sum_dim_intlist(1, false, kind).clamp_min(1e-9);
    let pooled = match pooling {
        Pooling::Mean => (tokens * &m).sum_dim_intlist(1, false, kind) / count(),
        Pooling::MeanSqrtLen => (tokens * &m).sum_dim_intlist(1, false, kind) / count().sqrt(),
        Pooling::WeightedMean => {
            let seq = tokens.size()[1];
            let pos = Tensor::arange_start(1, seq + 1, (kind, tokens.device())).view([1, seq, 1]);
            let w = &m * pos;
            (tokens * &w).sum_dim_intlist(1, false, kind)
                / w.sum_dim_intlist(1, false, kind).clamp_min(1e-9)
        }
        Pooling::Cls => tokens.select(1, 0),
        Pooling::LastToken => {
            let last = (mask
                .to_kind(Kind::Int64)
                .sum_dim_intlist(1, false, Kind::Int64)
                - 1)
            .clamp_min(0)
            .view([-1, 1, 1])
            .expand([-1, 1, tokens.size()[2]], false);
            tokens.gather(1, &last, false).squeeze_dim(1)
        }
        Pooling::Max => (tokens + (m.ones_like() - &m) * -1e4).amax(1, false),
    };
    if normalize {
        let norm = pooled.norm_scalaropt_dim(2.0, [-1], true).clamp_min(1e-12);
        pooled / norm
    } else {
        pooled
    }
}
