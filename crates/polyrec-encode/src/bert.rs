//! A plain BERT encoder whose parameter names follow the Hugging Face checkpoint
//! (`embeddings.word_embeddings.weight`, `encoder.layer.3.attention.self.query.bias`, ...).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::config::BertConfig;

#[derive(Debug)]
struct Embeddings {
    word: nn::Embedding,
    position: nn::Embedding,
    token_type: nn::Embedding,
    norm: nn::LayerNorm,
}

impl Embeddings {
    fn new(p: &nn::Path<'_>, c: &BertConfig) -> Self {
        let ln = nn::LayerNormConfig {
            eps: c.layer_norm_eps,
            ..Default::default()
        };
        Self {
            word: nn::embedding(
                p / "word_embeddings",
                c.vocab_size,
                c.hidden_size,
                Default::default(),
            ),
            position: nn::embedding(
                p / "position_embeddings",
                c.max_position_embeddings,
                c.hidden_size,
                Default::default(),
            ),
            token_type: nn::embedding(
                p / "token_type_embeddings",
                c.type_vocab_size,
                c.hidden_size,
                Default::default(),
            ),
            norm: nn::layer_norm(p / "LayerNorm", vec![c.hidden_size], ln),
        }
    }

    fn forward_t(&self, ids: &Tensor, type_ids: &Tensor, dropout: f64, train: bool) -> Tensor {
        let seq = ids.size()[1];
        let positions = Tensor::arange(seq, (Kind::Int64, ids.device())).unsqueeze(0);
        let h = self.word.forward(ids)
            + self.position.forward(&positions)
            + self.token_type.forward(type_ids);
        self.norm.forward(&h).dropout(dropout, train)
    }
}

#[derive(Debug)]
struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attn_out: nn::Linear,
    attn_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    out_norm: nn::LayerNorm,
    heads: i64,
    act: String,
}

impl Layer {
    fn new(p: &nn::Path<'_>, c: &BertConfig) -> Self {
        let ln = nn::LayerNormConfig {
            eps: c.layer_norm_eps,
            ..Default::default()
        };
        let h = c.hidden_size;
        let att = p / "attention";
        Self {
            query: nn::linear(&att / "self" / "query", h, h, Default::default()),
            key: nn::linear(&att / "self" / "key", h, h, Default::default()),
            value: nn::linear(&att / "self" / "value", h, h, Default::default()),
            attn_out: nn::linear(&att / "output" / "dense", h, h, Default::default()),
            attn_norm: nn::layer_norm(&att / "output" / "LayerNorm", vec![h], ln),
            intermediate: nn::linear(
                p / "intermediate" / "dense",
                h,
                c.intermediate_size,
                Default::default(),
            ),
            output: nn::linear(
                p / "output" / "dense",
                c.intermediate_size,
                h,
                Default::default(),
            ),
            out_norm: nn::layer_norm(p / "output" / "LayerNorm", vec![h], ln),
            heads: c.num_attention_heads,
            act: c.hidden_act.clone(),
        }
    }

    /// `mask` is an additive attention bias of shape `[batch, 1, 1, seq]`.
    fn forward_t(&self, xs: &Tensor, mask: &Tensor, dropout: f64, train: bool) -> Tensor {
        let (b, s, h) = xs.size3().unwrap_or((0, 0, 0));
        let d = h / self.heads;
        let split = |t: Tensor| t.view([b, s, self.heads, d]).transpose(1, 2);
        let q = split(self.query.forward(xs));
        let k = split(self.key.forward(xs));
        let v = split(self.value.forward(xs));
        let p = if train { dropout } else { 0.0 };
        let ctx =
            Tensor::scaled_dot_product_attention(&q, &k, &v, Some(mask), p, false, None, false);
        let ctx = ctx.transpose(1, 2).contiguous().view([b, s, h]);
        let a = self
            .attn_norm
            .forward(&(self.attn_out.forward(&ctx).dropout(dropout, train) + xs));
        let inter = self.intermediate.forward(&a);
        let inter = match self.act.as_str() {
            "relu" => inter.relu(),
            "gelu_new" | "gelu_pytorch_tanh" => inter.gelu("tanh"),
            _ => inter.gelu("none"),
        };
        self.out_norm
            .forward(&(self.output.forward(&inter).dropout(dropout, train) + a))
    }
}

/// The BERT encoder stack (embeddings + transformer layers), without the pooler.
#[derive(Debug)]
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    dropout: f64,
}

impl BertModel {
    /// Creates the parameters under `p` (`p / "embeddings"`, `p / "encoder" / "layer" / i`).
    pub fn new(p: &nn::Path<'_>, c: &BertConfig) -> Self {
        let enc = p / "encoder" / "layer";
        Self {
            embeddings: Embeddings::new(&(p / "embeddings"), c),
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::new(&(&enc / i), c))
                .collect(),
            dropout: 0.1,
        }
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Token embeddings `[batch, seq, hidden]` for token ids and a 0/1 attention mask
    /// (both `[batch, seq]`, int64).
    pub fn forward_t(&self, ids: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        let type_ids = ids.zeros_like();
        let mut h = self
            .embeddings
            .forward_t(ids, &type_ids, self.dropout, train);
        // Additive mask: 0 where attended, a large negative number where padded.
        let bias = (attention_mask.to_kind(h.kind()).ones_like()
            - attention_mask.to_kind(h.kind()))
        .unsqueeze(1)
        .unsqueeze(1)
            * -1e4;
        let bias = bias.to_kind(h.kind());
        for layer in &self.layers {
            h = layer.forward_t(&h, &bias, self.dropout, train);
        }
        h
    }
}
