//! Model configuration, mirroring the files of a sentence-transformers model folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// `config.json` of a BERT-family checkpoint (the fields the encoder uses).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Hidden width.
    pub hidden_size: i64,
    /// Transformer layers.
    pub num_hidden_layers: i64,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// Feed-forward width.
    pub intermediate_size: i64,
    /// Position embeddings.
    pub max_position_embeddings: i64,
    /// Token type embeddings.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Activation: `gelu`, `gelu_new`/`gelu_pytorch_tanh` (tanh approximation) or `relu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: i64,
    /// Model type (`bert`, ...), informative.
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

impl BertConfig {
    fn check(&self, path: &Path) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        if let Some((k, v)) = positive.iter().find(|(_, v)| *v <= 0) {
            return Err(Error::model(
                path,
                format!("`{k}` must be positive, found {v}"),
            ));
        }
        if self.type_vocab_size <= 0 {
            return Err(Error::model(
                path,
                format!(
                    "`type_vocab_size` must be positive, found {}",
                    self.type_vocab_size
                ),
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(Error::model(
                path,
                format!(
                    "`layer_norm_eps` must be a finite number above 0, found {}",
                    self.layer_norm_eps
                ),
            ));
        }
        if !(0..self.vocab_size).contains(&self.pad_token_id) {
            return Err(Error::model(
                path,
                format!(
                    "`pad_token_id` = {} is not a token of the vocabulary (0..{})",
                    self.pad_token_id, self.vocab_size
                ),
            ));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(Error::model(
                path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if !matches!(
            self.hidden_act.as_str(),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
        ) {
            return Err(Error::model(
                path,
                format!("unsupported hidden_act `{}`", self.hidden_act),
            ));
        }
        Ok(())
    }
}

/// Pooling strategy (`1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean of token embeddings over the attention mask.
    Mean,
    /// The first (`[CLS]`) token.
    Cls,
    /// Element-wise max over unmasked tokens.
    Max,
    /// Sum over the mask divided by the square root of the token count.
    MeanSqrtLen,
    /// Mean weighted by position (token `i` of the sequence has weight `i + 1`).
    WeightedMean,
    /// The last unmasked token.
    LastToken,
}

impl Pooling {
    /// The mode's name: `mean`, `cls` or `max`.
    /// The mode's name as sentence-transformers writes it in `"pooling_mode"`: `mean`,
    /// `cls`, `max`, `mean_sqrt_len_tokens`, `weightedmean` or `lasttoken`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Cls => "cls",
            Self::Max => "max",
            Self::MeanSqrtLen => "mean_sqrt_len_tokens",
            Self::WeightedMean => "weightedmean",
            Self::LastToken => "lasttoken",
        }
    }

    /// Parses a name written by [`Pooling::name`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mean" => Some(Self::Mean),
            "cls" => Some(Self::Cls),
            "max" => Some(Self::Max),
            "mean_sqrt_len_tokens" => Some(Self::MeanSqrtLen),
            "weightedmean" => Some(Self::WeightedMean),
            "lasttoken" => Some(Self::LastToken),
            _ => None,
        }
    }
}

/// `1_Pooling/config.json`, in either form sentence-transformers has written: one boolean
/// per mode (older versions), or a single `"pooling_mode"` name (newer ones).
#[derive(Debug, Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl PoolingFile {
    fn mode(&self, path: &Path) -> Result<Pooling> {
        if let Some(name) = &self.pooling_mode {
            return Pooling::parse(name).ok_or_else(|| {
                Error::model(
                    path,
                    format!(
                        "pooling_mode `{name}` is not one of mean, cls, max, mean_sqrt_len_tokens, weightedmean, lasttoken"
                    ),
                )
            });
        }
        let set: Vec<Pooling> = [
            (self.pooling_mode_mean_tokens, Pooling::Mean),
            (self.pooling_mode_cls_token, Pooling::Cls),
            (self.pooling_mode_max_tokens, Pooling::Max),
            (self.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
            (self.pooling_mode_weightedmean_tokens, Pooling::WeightedMean),
            (self.pooling_mode_lasttoken, Pooling::LastToken),
        ]
        .into_iter()
        .filter_map(|(on, p)| on.then_some(p))
        .collect();
        match set.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::model(path, "no pooling mode is set")),
            _ => Err(Error::model(
                path,
                format!(
                    "{} pooling modes are set ({}); concatenated poolings are not supported",
                    set.len(),
                    set.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
struct SentenceBertFile {
    #[serde(default)]
    max_seq_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// Everything the encoder reads from a model folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    /// The folder.
    pub dir: PathBuf,
    /// The transformer's configuration.
    pub bert: BertConfig,
    /// Tokens per text after truncation.
    pub max_seq_length: usize,
    /// Pooling.
    pub pooling: Pooling,
    /// Whether embeddings are L2-normalised (a Normalize module is listed).
    pub normalize: bool,
    /// The weights file.
    pub weights: PathBuf,
    /// The tokenizer file.
    pub tokenizer: PathBuf,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::model(path, "file is missing"),
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    serde_json::from_str(&text).map_err(|e| Error::model(path, format!("malformed JSON: {e}")))
}

impl ModelFiles {
    /// Reads and checks a sentence-transformers folder (or a plain BERT folder with
    /// `config.json`, `model.safetensors` and `tokenizer.json`, pooled by mean).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::model(dir, "model folder not found"));
        }
        let config_path = dir.join("config.json");
        let bert: BertConfig = read_json(&config_path)?;
        bert.check(&config_path)?;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(Error::model(
                &weights,
                "file is missing (only safetensors weights are read)",
            ));
        }
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(Error::model(&tokenizer, "file is missing"));
        }
        let modules_path = dir.join("modules.json");
        let modules: Vec<ModuleEntry> = if modules_path.exists() {
            read_json(&modules_path)?
        } else {
            Vec::new()
        };
        let normalize = modules.iter().any(|m| m.kind.ends_with("Normalize"));
        let pooling = match modules.iter().find(|m| m.kind.ends_with("Pooling")) {
            Some(m) => {
                let p = dir.join(&m.path).join("config.json");
                let f: PoolingFile = read_json(&p)?;
                f.mode(&p)?
            }
            None => Pooling::Mean,
        };
        // At least one token; at most the position embeddings (a longer setting is cut to
        // them, as sentence-transformers does).
        let sb = dir.join("sentence_bert_config.json");
        let max_seq_length = if sb.exists() {
            read_json::<SentenceBertFile>(&sb)?.max_seq_length
        } else {
            None
        };
        if max_seq_length == Some(0) {
            return Err(Error::model(
                &sb,
                "`max_seq_length` must be at least 1 (0 would give every text the same vector)",
            ));
        }
        let max_seq_length = max_seq_length
            .unwrap_or(bert.max_position_embeddings as usize)
            .min(bert.max_position_embeddings as usize);
        Ok(Self {
            dir: dir.to_path_buf(),
            bert,
            max_seq_length,
            pooling,
            normalize,
            weights,
            tokenizer,
        })
    }
}
