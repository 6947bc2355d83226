//! The user tower's sequence encoders over item vectors: a causal self-attention stack with
//! position embeddings (SASRec-style, pre-layer-norm), or a causal running mean.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// One pre-layer-norm transformer block with causal multi-head attention.
#[derive(Debug)]
struct Block {
    ln1: nn::LayerNorm,
    qkv: nn::Linear,
    out: nn::Linear,
    ln2: nn::LayerNorm,
    ff1: nn::Linear,
    ff2: nn::Linear,
}

impl Block {
    fn new(p: &nn::Path<'_>, d: i64) -> Self {
        let ln = |name: &str| nn::layer_norm(p / name, vec![d], Default::default());
        Self {
            ln1: ln("ln1"),
            qkv: nn::linear(p / "qkv", d, 3 * d, Default::default()),
            out: nn::linear(p / "out", d, d, Default::default()),
            ln2: ln("ln2"),
            ff1: nn::linear(p / "ff1", d, 2 * d, Default::default()),
            ff2: nn::linear(p / "ff2", 2 * d, d, Default::default()),
        }
    }

    /// `x` `[B, L, D]`; `allowed` `[B, 1, L, L]` (query, key) pairs that may attend.
    fn forward(
        &self,
        x: &Tensor,
        allowed: &Tensor,
        heads: i64,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let s = x.size();
        let (b, l, d) = (s[0], s[1], s[2]);
        let dh = d / heads;
        let qkv = self
            .qkv
            .forward(&self.ln1.forward(x))
            .view([b, l, 3, heads, dh])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let att = q.matmul(&k.transpose(-2, -1)) / (dh as f64).sqrt();
        let att = att
            .masked_fill(&allowed.logical_not(), f64::NEG_INFINITY)
            .softmax(-1, Kind::Float)
            .dropout(dropout, train);
        let h = att.matmul(&v).permute([0, 2, 1, 3]).reshape([b, l, d]);
        let x = x + self.out.forward(&h).dropout(dropout, train);
        let f = self
            .ff2
            .forward(&self.ff1.forward(&self.ln2.forward(&x)).gelu("none"))
            .dropout(dropout, train);
        x + f
    }
}

/// Causal self-attention over a right-aligned sequence of item vectors.
#[derive(Debug)]
pub struct SelfAttention {
    positions: nn::Embedding,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
    heads: i64,
    dropout: f64,
}

impl SelfAttention {
    /// `layers` blocks of width `d` over sequences of `len` slots, under `p`.
    pub fn new(
        p: &nn::Path<'_>,
        d: i64,
        len: i64,
        layers: usize,
        heads: i64,
        dropout: f64,
    ) -> Self {
        Self {
            positions: nn::embedding(
                p / "positions",
                len,
                d,
                nn::EmbeddingConfig {
                    ws_init: nn::Init::Randn {
                        mean: 0.0,
                        stdev: 0.02,
                    },
                    ..Default::default()
                },
            ),
            blocks: (0..layers)
                .map(|i| Block::new(&(p / "block" / i), d))
                .collect(),
            norm: nn::layer_norm(p / "norm", vec![d], Default::default()),
            heads,
            dropout,
        }
    }

    /// `items` `[B, L, D]` item vectors (zeros where `present` is false), `present`
    /// `[B, L]` bool: the state after each slot, `[B, L, D]`. A slot attends to the present
    /// slots up to itself, and always to itself (so an empty history is well defined).
    pub fn forward(&self, items: &Tensor, present: &Tensor, train: bool) -> Tensor {
        let s = items.size();
        let (l, device) = (s[1], items.device());
        let pos = self
            .positions
            .forward(&Tensor::arange(l, (Kind::Int64, device)));
        let x = (items + pos.unsqueeze(0)).dropout(self.dropout, train);
        let causal = Tensor::ones([l, l], (Kind::Bool, device)).tril(0);
        let eye = Tensor::eye(l, (Kind::Bool, device));
        let allowed = causal
            .unsqueeze(0)
            .logical_and(&present.unsqueeze(1))
            .logical_or(&eye.unsqueeze(0));
        let allowed = allowed.unsqueeze(1);
        let h = self.blocks.iter().fold(x, |h, blk| {
            blk.forward(&h, &allowed, self.heads, self.dropout, train)
        });
        self.norm.forward(&h)
    }
}

/// The causal running mean of the present item vectors (zeros before the first one).
pub fn running_mean(items: &Tensor, present: &Tensor) -> Tensor {
    let m = present.to_kind(Kind::Float).unsqueeze(-1);
    let sum = (items * &m).cumsum(1, Kind::Float);
    let n = m.cumsum(1, Kind::Float).clamp_min(1.0);
    sum / n
}
