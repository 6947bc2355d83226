//! A plain BERT encoder whose parameter names follow the Hugging Face checkpoint
//! (`embeddings.word_embeddings.weight`, `encoder.layer.3.attention.self.query.bias`, ...).

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::config::BertConfig;
use crate::kernels;

/// Parameters start as zeros (a fill, no random draws): a checkpoint always overwrites
/// them, and replicas point them at another model's storage.
fn zero_linear() -> nn::LinearConfig {
    nn::LinearConfig {
        ws_init: nn::Init::Const(0.0),
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    }
}

fn zero_embedding() -> nn::EmbeddingConfig {
    nn::EmbeddingConfig {
        ws_init: nn::Init::Const(0.0),
        ..Default::default()
    }
}

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
                zero_embedding(),
            ),
            position: nn::embedding(
                p / "position_embeddings",
                c.max_position_embeddings,
                c.hidden_size,
                zero_embedding(),
            ),
            token_type: nn::embedding(
                p / "token_type_embeddings",
                c.type_vocab_size,
                c.hidden_size,
                zero_embedding(),
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
    eps: f64,
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
            query: nn::linear(&att / "self" / "query", h, h, zero_linear()),
            key: nn::linear(&att / "self" / "key", h, h, zero_linear()),
            value: nn::linear(&att / "self" / "value", h, h, zero_linear()),
            attn_out: nn::linear(&att / "output" / "dense", h, h, zero_linear()),
            attn_norm: nn::layer_norm(&att / "output" / "LayerNorm", vec![h], ln),
            intermediate: nn::linear(
                p / "intermediate" / "dense",
                h,
                c.intermediate_size,
                zero_linear(),
            ),
            output: nn::linear(
                p / "output" / "dense",
                c.intermediate_size,
                h,
                zero_linear(),
            ),
            out_norm: nn::layer_norm(p / "output" / "LayerNorm", vec![h], ln),
            heads: c.num_attention_heads,
            act: c.hidden_act.clone(),
            eps: c.layer_norm_eps,
        }
    }

    /// Query, key and value projections of `xs`, each `[batch, heads, seq, head_dim]`.
    fn qkv(&self, xs: &Tensor, projection: Projection<'_>) -> (Tensor, Tensor, Tensor) {
        let (b, s, h) = xs.size3().unwrap_or((0, 0, 0));
        let d = h / self.heads;
        let split = |t: Tensor| t.view([b, s, self.heads, d]).transpose(1, 2);
        match projection {
            Projection::Stacked(f) => {
                let all = xs.linear(&f.weight, Some(&f.bias));
                let part = |i: i64| split(all.narrow(-1, i * h, h));
                (part(0), part(1), part(2))
            }
            Projection::Separate => (
                split(self.query.forward(xs)),
                split(self.key.forward(xs)),
                split(self.value.forward(xs)),
            ),
        }
    }

    /// Context of the self-attention sublayer, `[batch, seq, hidden]`, through libtorch's
    /// attention.
    fn attention(&self, xs: &Tensor, mask: &Mask, projection: Projection<'_>, p: f64) -> Tensor {
        let (b, s, h) = xs.size3().unwrap_or((0, 0, 0));
        let (q, k, v) = self.qkv(xs, projection);
        let ctx = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            mask.bias.as_ref(),
            p,
            false,
            None,
            false,
        );
        ctx.transpose(1, 2).contiguous().view([b, s, h])
    }

    fn forward_t(
        &self,
        xs: &Tensor,
        mask: &Mask,
        projection: Projection<'_>,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let p = if train { dropout } else { 0.0 };
        let ctx = self.attention(xs, mask, projection, p);
        if !train {
            // The packed weights of the inference path (see `kernels::PackCache`).
            let packs = match projection {
                Projection::Stacked(f) => Some(&f.packs),
                Projection::Separate => None,
            };
            return self.finish(&ctx, xs, packs);
        }
        let a = self.attn_out.forward(&ctx).dropout(dropout, train) + xs;
        let a = self.attn_norm.forward(&a);
        let inter = self.intermediate.forward(&a);
        let inter = match self.act.as_str() {
            "relu" => inter.relu(),
            "gelu_new" | "gelu_pytorch_tanh" => inter.gelu("tanh"),
            _ => inter.gelu("none"),
        };
        let out = self.output.forward(&inter).dropout(dropout, train) + a;
        self.out_norm.forward(&out)
    }

    /// The layer at inference over the real tokens of a batch, `[tokens, hidden]`, the
    /// sequences one after another (`lengths` tokens each): the attention kernel where it
    /// applies, else libtorch's attention one sequence at a time.
    fn forward_real_tokens(&self, xs: &Tensor, lengths: &[usize], f: &StackedQkv) -> Tensor {
        let heads = usize::try_from(self.heads).unwrap_or(0);
        let pack = Some(&f.packs.qkv);
        let ctx = kernels::self_attention(xs, lengths, &f.weight, &f.bias, heads, pack)
            .unwrap_or_else(|| self.attention_by_sequence(xs, lengths, f));
        self.finish(&ctx, xs, Some(&f.packs))
    }

    /// [`Layer::attention`] of each sequence of `xs` (as in
    /// [`Layer::forward_real_tokens`]) alone, nothing masked.
    fn attention_by_sequence(&self, xs: &Tensor, lengths: &[usize], f: &StackedQkv) -> Tensor {
        let unmasked = Mask { bias: None };
        let mut at = 0;
        let mut parts = Vec::with_capacity(lengths.len());
        for &len in lengths {
            let len = i64::try_from(len).unwrap_or(0);
            if len > 0 {
                let x = xs.narrow(0, at, len).unsqueeze(0);
                let ctx = self.attention(&x, &unmasked, Projection::Stacked(f), 0.0);
                parts.push(ctx.squeeze_dim(0));
            }
            at += len;
        }
        if parts.is_empty() {
            return xs.zeros_like();
        }
        Tensor::cat(&parts, 0)
    }

    /// The rest of the layer at inference, from the attention's context `ctx` of the
    /// layer's input `xs` (rows of any layout): the output projection, residual and norm,
    /// the feed-forward block, residual and norm, on the fused kernels.
    fn finish(&self, ctx: &Tensor, xs: &Tensor, packs: Option<&LayerPacks>) -> Tensor {
        let pack = packs.map(|p| &p.attn_out);
        let a =
            kernels::linear_residual_norm(ctx, &self.attn_out, xs, &self.attn_norm, self.eps, pack);
        let inter = match self.act.as_str() {
            "relu" => self.intermediate.forward(&a).relu(),
            "gelu_new" | "gelu_pytorch_tanh" => self.intermediate.forward(&a).gelu("tanh"),
            _ => kernels::linear_gelu(&a, &self.intermediate, packs.map(|p| &p.intermediate)),
        };
        let pack = packs.map(|p| &p.output);
        kernels::linear_residual_norm(&inter, &self.output, &a, &self.out_norm, self.eps, pack)
    }

    /// Every parameter the inference weights are made from.
    fn inference_sources(&self) -> impl Iterator<Item = &Tensor> {
        [
            &self.query,
            &self.key,
            &self.value,
            &self.attn_out,
            &self.intermediate,
            &self.output,
        ]
        .into_iter()
        .flat_map(|l| std::iter::once(&l.ws).chain(l.bs.as_ref()))
    }

    /// A copy of the query, key and value weights stacked (call without gradients).
    fn stacked_qkv(&self) -> StackedQkv {
        let bias = |l: &nn::Linear| {
            l.bs.as_ref()
                .map_or_else(|| l.ws.zeros_like().select(1, 0), Tensor::shallow_clone)
        };
        StackedQkv {
            weight: Tensor::cat(&[&self.query.ws, &self.key.ws, &self.value.ws], 0),
            bias: Tensor::cat(&[bias(&self.query), bias(&self.key), bias(&self.value)], 0),
            packs: LayerPacks::default(),
        }
    }
}

/// Where attention may look. An additive bias: 0 where attended, a large negative number
/// where padded; none at all when nothing is padded (attention then skips the masking).
struct Mask {
    /// `[batch, 1, 1, seq]`, for libtorch's attention.
    bias: Option<Tensor>,
}

impl Mask {
    fn new(attention_mask: &Tensor, kind: Kind) -> Self {
        let padded = attention_mask.numel() > 0
            && !bool::try_from(attention_mask.ne(0).all()).unwrap_or(false);
        if !padded {
            return Self { bias: None };
        }
        let m = attention_mask.to_kind(kind);
        let bias = ((m.ones_like() - m).unsqueeze(1).unsqueeze(1) * -1e4).to_kind(kind);
        Self { bias: Some(bias) }
    }
}

/// How a layer projects its queries, keys and values.
#[derive(Debug, Clone, Copy)]
enum Projection<'a> {
    /// Three products with the checkpoint's own weights (training, and the reference path).
    Separate,
    /// One product with the stacked weights, and the CPU attention kernel where it applies
    /// (inference through a [`BertInference`]).
    Stacked(&'a StackedQkv),
}

/// The query, key and value weights of one layer stacked into one `[3h, h]` matrix (and
/// `[3h]` bias), a copy made for inference: one matrix product instead of three. With it,
/// the packed copies of the layer's four product weights, made on first use.
#[derive(Debug)]
struct StackedQkv {
    weight: Tensor,
    bias: Tensor,
    packs: LayerPacks,
}

/// One layer's weights packed for the CPU product kernel (`kernels::PackCache`): the
/// stacked projection, the attention output, the intermediate and the output layers.
#[derive(Debug, Default)]
struct LayerPacks {
    qkv: kernels::PackCache,
    attn_out: kernels::PackCache,
    intermediate: kernels::PackCache,
    output: kernels::PackCache,
}

/// The BERT encoder stack (embeddings + transformer layers), without the pooler.
#[derive(Debug)]
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    dropout: f64,
    /// The inference weights last made, kept while the parameters they come from are
    /// unchanged (see [`BertModel::inference_for`]).
    prepared: std::sync::Mutex<Option<Prepared>>,
}

/// The data pointer and version counter of every parameter the inference weights are made
/// from (see [`BertModel::parameters_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParametersKey(Option<Vec<(usize, i64)>>);

/// The inference weights of every layer (stacked projections, and their packed copies made
/// on first use), with what identifies the parameters they were made from: each one's data
/// pointer and libtorch version counter, which every in-place change (loading, an
/// optimiser step) bumps.
#[derive(Debug)]
struct Prepared {
    key: Vec<(usize, i64)>,
    stacked: Vec<StackedQkv>,
}

impl BertModel {
    /// Creates the parameters under `p` (`p / "embeddings"`, `p / "encoder" / "layer" / i`),
    /// filled with zeros: load a checkpoint into them.
    pub fn new(p: &nn::Path<'_>, c: &BertConfig) -> Self {
        let enc = p / "encoder" / "layer";
        Self {
            embeddings: Embeddings::new(&(p / "embeddings"), c),
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::new(&(&enc / i), c))
                .collect(),
            dropout: 0.1,
            prepared: std::sync::Mutex::new(None),
        }
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Token embeddings `[batch, seq, hidden]` for token ids and a 0/1 attention mask
    /// (both `[batch, seq]`, int64), with the checkpoint's own weights: the path for
    /// training (dropout when `train`) and the reference that [`BertInference`] matches.
    /// Gradients flow as the weights and libtorch's grad mode allow.
    pub fn forward_t(&self, ids: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        self.run(ids, attention_mask, &[], train)
    }

    /// The model prepared for inference: each layer's query, key and value weights
    /// stacked into one product (and, on the CPUs that take it, the products' weights
    /// packed for the kernel on first use). These copies are kept across calls and made
    /// again when a parameter has changed since (fine-tuning, loading).
    pub fn inference(&self) -> BertInference<'_> {
        self.inference_for(&self.parameters_key())
    }

    /// What identifies the parameters the inference weights are made from (`None` when
    /// libtorch cannot tell a version: the weights are then made again every time).
    pub(crate) fn parameters_key(&self) -> ParametersKey {
        ParametersKey(
            self.layers
                .iter()
                .flat_map(Layer::inference_sources)
                .map(|t| Some((t.data_ptr() as usize, t.f_internal_version().ok()?)))
                .collect(),
        )
    }

    /// [`BertModel::inference`] for a model whose parameters share their storage with
    /// another's (a replica): the copies are checked against that model's
    /// [`BertModel::parameters_key`], whose version counters the in-place changes bump (a
    /// replica's own counters do not see them).
    pub(crate) fn inference_for(&self, key: &ParametersKey) -> BertInference<'_> {
        let key = key.0.clone();
        let make = || tch::no_grad(|| self.layers.iter().map(Layer::stacked_qkv).collect());
        let mut prepared = match self.prepared.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Another pass holds the kept weights (a `BertInference` still alive): this
            // pass makes its own copy rather than wait for it (a deadlock).
            Err(std::sync::TryLockError::WouldBlock) => {
                return BertInference {
                    model: self,
                    weights: Weights::Own(make()),
                };
            }
        };
        let fresh = matches!((&*prepared, &key), (Some(p), Some(k)) if &p.key == k);
        if !fresh {
            *prepared = Some(Prepared {
                key: key.unwrap_or_default(),
                stacked: make(),
            });
        }
        BertInference {
            model: self,
            weights: Weights::Kept(prepared),
        }
    }

    /// The embeddings and every layer; the stacked projections, when given (one per
    /// layer), select the inference path of attention.
    fn run(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        stacked: &[StackedQkv],
        train: bool,
    ) -> Tensor {
        let type_ids = ids.zeros_like();
        let mut h = self
            .embeddings
            .forward_t(ids, &type_ids, self.dropout, train);
        if !train
            && stacked.len() == self.layers.len()
            && h.device() == Device::Cpu
            && h.kind() == Kind::Float
            && let Some(out) = self.run_real_tokens(&h, attention_mask, stacked)
        {
            return out;
        }
        let mask = Mask::new(attention_mask, h.kind());
        for (i, layer) in self.layers.iter().enumerate() {
            let projection = stacked
                .get(i)
                .map_or(Projection::Separate, Projection::Stacked);
            h = layer.forward_t(&h, &mask, projection, self.dropout, train);
        }
        h
    }

    /// The layers at inference on the CPU over the real tokens only: the rows the mask
    /// keeps are gathered into `[tokens, hidden]`, sequence after sequence, so no product,
    /// norm or attention runs on padding; the result is scattered back into
    /// `[batch, seq, hidden]` with zeros where the mask is 0. `None` when the mask is not
    /// `[batch, seq]` of `h`.
    fn run_real_tokens(
        &self,
        h: &Tensor,
        attention_mask: &Tensor,
        stacked: &[StackedQkv],
    ) -> Option<Tensor> {
        let (b, s, hidden) = h.size3().ok()?;
        if attention_mask.size() != [b, s] {
            return None;
        }
        let keep = Vec::<bool>::try_from(attention_mask.ne(0).reshape([-1])).ok()?;
        let seq = usize::try_from(s).ok()?.max(1);
        let lengths: Vec<usize> = keep
            .chunks(seq)
            .map(|row| row.iter().filter(|&&k| k).count())
            .collect();
        let rows = h.reshape([b * s, hidden]);
        let every = keep.iter().all(|&k| k);
        let positions: Vec<i64> = (0..b * s).filter(|&i| keep[i as usize]).collect();
        let index = Tensor::from_slice(&positions);
        if positions.is_empty() {
            return Some(h.zeros_like());
        }
        let mut x = if every {
            rows
        } else {
            rows.index_select(0, &index)
        };
        for (layer, f) in self.layers.iter().zip(stacked) {
            x = layer.forward_real_tokens(&x, &lengths, f);
        }
        if every {
            return Some(x.view([b, s, hidden]));
        }
        Some(
            Tensor::zeros([b * s, hidden], (x.kind(), x.device()))
                .index_copy(0, &index, &x)
                .view([b, s, hidden]),
        )
    }

    /// Token states after the embeddings and the lower `layers` transformer layers, for
    /// inference (no dropout): the fixed input of a [`BertTop`] that fine-tunes the rest.
    pub fn forward_lower(&self, ids: &Tensor, attention_mask: &Tensor, layers: usize) -> Tensor {
        let type_ids = ids.zeros_like();
        let mut h = self.embeddings.forward_t(ids, &type_ids, 0.0, false);
        let mask = Mask::new(attention_mask, h.kind());
        for layer in self.layers.iter().take(layers) {
            h = layer.forward_t(&h, &mask, Projection::Separate, 0.0, false);
        }
        h
    }
}

/// A [`BertModel`] ready for inference ([`BertModel::inference`]): the one entry point of
/// the fast path, which stacks each layer's query/key/value projection into one product
/// and, on the CPU, runs the hand-written attention and fused passes. It holds the model's
/// kept inference weights for one batch of work (the encoder makes one per call and
/// worker); a pass made while another is alive gets a copy of its own instead of waiting
/// for it.
#[derive(Debug)]
pub struct BertInference<'a> {
    model: &'a BertModel,
    weights: Weights<'a>,
}

/// The stacked weights a [`BertInference`] runs with.
#[derive(Debug)]
enum Weights<'a> {
    /// The model's kept copy, locked for this pass.
    Kept(std::sync::MutexGuard<'a, Option<Prepared>>),
    /// A copy of this pass's own, made while another pass held the kept one.
    Own(Vec<StackedQkv>),
}

impl BertInference<'_> {
    /// Token embeddings `[batch, seq, hidden]` for token ids and a 0/1 attention mask
    /// (both `[batch, seq]`, int64); no dropout and no gradients. Matches
    /// [`BertModel::forward_t`] without `train` to float rounding at every position the mask
    /// keeps; on the CPU the positions it leaves out are not computed and hold zeros.
    pub fn forward(&self, ids: &Tensor, attention_mask: &Tensor) -> Tensor {
        let stacked = match &self.weights {
            Weights::Kept(kept) => kept.as_ref().map_or(&[][..], |p| &p.stacked[..]),
            Weights::Own(own) => &own[..],
        };
        tch::no_grad(|| self.model.run(ids, attention_mask, stacked, false))
    }
}

/// The top `k` transformer layers of a BERT model as a module of their own, for
/// fine-tuning them jointly with another model: token states from the frozen lower layers
/// ([`BertModel::forward_lower`]) go in, token states come out. Parameter names under its
/// path are `layer.{j}.attention.self.query.weight`, ... with `j` counted from 0.
#[derive(Debug)]
pub struct BertTop {
    layers: Vec<Layer>,
    dropout: f64,
}

impl BertTop {
    /// Creates `k` layers shaped by `c` under `p` (zeros: copy weights in, or load them).
    pub fn new(p: &nn::Path<'_>, c: &BertConfig, k: usize) -> Self {
        Self {
            layers: (0..k).map(|j| Layer::new(&(p / "layer" / j), c)).collect(),
            dropout: 0.1,
        }
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Token states `[batch, seq, hidden]` from lower states of the same shape and a 0/1
    /// attention mask `[batch, seq]`; dropout when `train`.
    pub fn forward_t(&self, states: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        let mask = Mask::new(attention_mask, states.kind());
        let mut h = states.shallow_clone();
        for layer in &self.layers {
            h = layer.forward_t(&h, &mask, Projection::Separate, self.dropout, train);
        }
        h
    }
}
