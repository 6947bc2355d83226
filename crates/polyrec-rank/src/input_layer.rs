//! The input layer: every input family of a [`FeatureSpace`] becomes one `D`-wide field
//! vector, so a batch becomes a `[B, F, D]` tensor that every architecture reads.
//!
//! Parameters (checkpoint names): `user`, `item`, `scenario`, `categorical` (one table for all
//! categorical fields, offset per field), `numeric.weight`/`numeric.bias` (a vector per field
//! scaled by the standardised value), `item_text.proj`/`user_text.proj` (learned projections
//! of the language model's embeddings), `kg.*` (entity and relation embeddings of the
//! knowledge-graph layer). Fixed tables travel in the checkpoint too, untrained:
//! `item_text.table`, `user_text.table`, `kg.hop1_*`, `kg.hop2_*`, `history.items`.

use std::sync::atomic::{AtomicBool, Ordering};

use polyrec_encode::{BertTop, Pooling};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::features::{FeatureSpace, Inputs};

/// What fine-tuning the language model's top layers needs from outside: the token states of
/// every item text after the frozen lower layers, and the top layers' pre-trained weights.
#[derive(Debug)]
pub struct TextTuning {
    /// `[items + 1, seq, hidden]` token states by item code (row 0: unknown, all masked).
    pub states: Tensor,
    /// `[items + 1, seq]` 0/1 attention mask.
    pub mask: Tensor,
    /// Pre-trained weights of the top layers, named as in [`BertTop`].
    pub weights: Vec<(String, Tensor)>,
}

/// Fixed inputs that come from outside the model: text embeddings, neighbour samples and
/// histories, indexed by model code (row 0 = unknown).
#[derive(Debug, Default)]
pub struct SideTables {
    /// `[items + 1, T]` item text embeddings.
    pub item_text: Option<Tensor>,
    /// `[users + 1, T]` user text embeddings.
    pub user_text: Option<Tensor>,
    /// `(hop-1 relations, hop-1 entities, hop-2 relations, hop-2 entities)`, `[items + 1, k]`
    /// and `[items + 1, k * k]`, padded with the relation/entity counts.
    pub kg: Option<[Tensor; 4]>,
    /// `[users + 1, H]` item codes of each user's latest training items (0 = none).
    pub history: Option<Tensor>,
    /// `[users + 1, H]` label codes of those items (`features.history_feedback`; 0 = none,
    /// 1 = no label, `2..` the label's value bucket, below `FEEDBACK_CODES` = 18).
    pub history_feedback: Option<Tensor>,
    /// `[users + 1]` and `[items + 1]`: 1 for ids with training rows, 0 for the rest, whose
    /// id embeddings were never trained and are replaced by zeros (cold start comes from
    /// attributes, text and the graph instead of untrained noise).
    pub seen: Option<(Tensor, Tensor)>,
    /// Inputs of language-model fine-tuning (`features.finetune_layers > 0`).
    pub item_text_tuning: Option<TextTuning>,
}

/// The language model's top layers, fine-tuned on the ranking objective. In training, the
/// distinct items of a batch are re-encoded through them; outside training the item text
/// table holds their current output (refreshed after training steps), so inference and a
/// reloaded checkpoint need neither the lower layers nor the model folder.
#[derive(Debug)]
struct TextTower {
    top: BertTop,
    /// Lower-layer states and mask; absent in a model loaded only to predict.
    states: Option<(Tensor, Tensor)>,
    pooling: Pooling,
    normalize: bool,
    /// Set by a training pass: the table no longer matches the layers.
    stale: AtomicBool,
}

impl TextTower {
    /// Pooled embeddings of the items `codes` (any shape `[B]`), through the top layers.
    fn encode(&self, states: &(Tensor, Tensor), codes: &Tensor, train: bool) -> Tensor {
        let device = codes.device();
        let (uniq, inverse, _) = codes.internal_unique2(true, true, false);
        let cpu = uniq.to_device(Device::Cpu);
        let m = states.1.index_select(0, &cpu);
        let len = m
            .sum_dim_intlist(1, false, Kind::Int64)
            .max()
            .int64_value(&[])
            .max(1);
        let m = m.narrow(1, 0, len).to_device(device);
        let h = states
            .0
            .index_select(0, &cpu)
            .narrow(1, 0, len)
            .to_device(device);
        let tokens = self.top.forward_t(&h, &m, train);
        polyrec_encode::pool(&tokens, &m, self.pooling, self.normalize).index_select(0, &inverse)
    }

    /// Recomputes every row of `table` from the layers (no gradients).
    fn refresh(&self, table: &Tensor) {
        let Some(states) = &self.states else {
            return;
        };
        let n = table.size()[0];
        let device = table.device();
        tch::no_grad(|| {
            let mut parts = Vec::new();
            let mut start = 0;
            while start < n {
                let len = (n - start).min(256);
                let codes = Tensor::arange_start(start, start + len, (Kind::Int64, device));
                parts.push(self.encode(states, &codes, false));
                start += len;
            }
            let mut t = table.shallow_clone();
            t.copy_(&Tensor::cat(&parts, 0).to_kind(t.kind()));
        });
        self.stale.store(false, Ordering::SeqCst);
    }
}

/// The variable at a dotted name under `p`.
fn var_at(p: &nn::Path<'_>, dotted: &str) -> Option<Tensor> {
    let (dirs, last) = dotted.rsplit_once('.')?;
    dirs.split('.')
        .fold(p.clone(), |q, part| &q / part)
        .get(last)
}

/// The knowledge-graph layer: user-personalised attention over an item's sampled 1- and
/// 2-hop neighbours (KGCN), with trainable entity and relation embeddings.
#[derive(Debug)]
struct KgLayer {
    entities: nn::Embedding,
    relations: nn::Embedding,
    hop: [Tensor; 4],
    k: i64,
    combine: nn::Linear,
}

impl KgLayer {
    fn forward(&self, item: &Tensor, user_vec: &Tensor) -> Tensor {
        let b = item.size()[0];
        let d = user_vec.size()[1];
        let gather = |t: &Tensor| t.index_select(0, item);
        let (r1, e1, r2, e2) = (
            gather(&self.hop[0]),
            gather(&self.hop[1]),
            gather(&self.hop[2]),
            gather(&self.hop[3]),
        );
        let u = user_vec.view([b, 1, 1, d]);
        // Hop 2: each hop-1 entity aggregates its own neighbours.
        let rv2 = self.relations.forward(&r2).view([b, self.k, self.k, d]);
        let ev2 = self.entities.forward(&e2).view([b, self.k, self.k, d]);
        let a2 = (&rv2 * &u)
            .sum_dim_intlist(-1, true, Kind::Float)
            .softmax(2, Kind::Float);
        let agg2 = (a2 * ev2).sum_dim_intlist(2, false, Kind::Float);
        let h1 = self.entities.forward(&e1) + agg2;
        // Hop 1: the item aggregates its neighbours.
        let rv1 = self.relations.forward(&r1);
        let a1 = (&rv1 * user_vec.view([b, 1, d]))
            .sum_dim_intlist(-1, true, Kind::Float)
            .softmax(1, Kind::Float);
        let agg1 = (a1 * h1).sum_dim_intlist(1, false, Kind::Float);
        self.combine.forward(&agg1).tanh()
    }
}

/// The input layer of a model.
#[derive(Debug)]
pub struct InputLayer {
    ids: Option<(nn::Embedding, nn::Embedding)>,
    seen: Option<(Tensor, Tensor)>,
    scenario: Option<nn::Embedding>,
    categorical: Option<nn::Embedding>,
    numeric: Option<(Tensor, Tensor)>,
    item_text: Option<(Tensor, nn::Linear)>,
    item_tower: Option<TextTower>,
    user_text: Option<(Tensor, nn::Linear)>,
    kg: Option<KgLayer>,
    kg_user: Option<nn::Embedding>,
    history: Option<(Tensor, nn::Embedding)>,
    /// Label codes of the history items and their learned scale vectors.
    history_feedback: Option<(Tensor, nn::Embedding)>,
    dim: i64,
    fields: i64,
    l2: f64,
    id_dropout: f64,
    history_attention: bool,
}

fn emb<'a, P: std::borrow::Borrow<nn::Path<'a>>>(p: P, n: i64, d: i64) -> nn::Embedding {
    nn::embedding(
        p,
        n,
        d,
        nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.05,
            },
            ..Default::default()
        },
    )
}

/// Rows of the history label-scale table: 0 (padding), 1 (no label) and at most
/// `FEEDBACK_CODES - 2` value buckets.
pub const FEEDBACK_CODES: i64 = 18;

fn fixed(p: &nn::Path<'_>, name: &str, t: Tensor) -> Tensor {
    p.add(name, t.to_device(p.device()), false)
}

impl InputLayer {
    /// Builds the layer under `p` for `space`, with the fixed tables of `side`. A table the
    /// space expects but `side` lacks is created empty (zeros), to be filled by loading a
    /// checkpoint.
    pub fn new(p: &nn::Path<'_>, space: &FeatureSpace, side: SideTables) -> Self {
        Self::build(p, space, side, None)
    }

    /// Another member of an ensemble under `p`: its own trainable parameters, freshly
    /// initialised, and the fixed tables (texts, graph neighbours, histories) of `first`,
    /// shared rather than copied (neither stored twice in memory nor in the checkpoint).
    pub fn new_member(p: &nn::Path<'_>, space: &FeatureSpace, first: &InputLayer) -> Self {
        Self::build(p, space, SideTables::default(), Some(first))
    }

    fn build(
        p: &nn::Path<'_>,
        space: &FeatureSpace,
        side: SideTables,
        first: Option<&InputLayer>,
    ) -> Self {
        // A fixed table: `first`'s own (`shared`) when building another member, else
        // registered under `q`.
        let fix = |q: &nn::Path<'_>,
                   name: &str,
                   shared: Option<&Tensor>,
                   make: &mut dyn FnMut() -> Tensor| match shared {
            Some(t) => t.shallow_clone(),
            None => fixed(q, name, make()),
        };
        let d = space.config.embedding_dim;
        let (nu, ni) = (space.users.len() as i64 + 1, space.items.len() as i64 + 1);
        let ids = space
            .config
            .ids
            .then(|| (emb(p / "user", nu, d), emb(p / "item", ni, d)));
        let seen = space.config.ids.then(|| {
            let q = p / "seen";
            let ones = |n| Tensor::ones([n], (Kind::Float, tch::Device::Cpu));
            let (mut u, mut i) = side.seen.map_or((None, None), |(u, i)| (Some(u), Some(i)));
            let shared = first.and_then(|f| f.seen.as_ref());
            (
                fix(&q, "users", shared.map(|s| &s.0), &mut || {
                    u.take().unwrap_or_else(|| ones(nu))
                }),
                fix(&q, "items", shared.map(|s| &s.1), &mut || {
                    i.take().unwrap_or_else(|| ones(ni))
                }),
            )
        });
        let scenario = space
            .config
            .scenario
            .then(|| emb(p / "scenario", space.scenarios.len().max(1) as i64, d));
        let categorical = (!space.categorical.is_empty())
            .then(|| emb(p / "categorical", space.categorical_rows(), d));
        let numeric = (!space.numeric.is_empty()).then(|| {
            let n = space.numeric.len() as i64;
            let q = p / "numeric";
            (
                q.randn("weight", &[n, d], 0.0, 0.05),
                q.zeros("bias", &[n, d]),
            )
        });
        let text = |name: &str,
                    dim: i64,
                    rows: i64,
                    table: Option<Tensor>,
                    shared: Option<&(Tensor, nn::Linear)>| {
            (dim > 0).then(|| {
                let q = p / name;
                let mut table = table;
                let t = fix(&q, "table", shared.map(|s| &s.0), &mut || {
                    table.take().unwrap_or_else(|| {
                        Tensor::zeros([rows, dim], (Kind::Float, tch::Device::Cpu))
                    })
                });
                (t, nn::linear(&q / "proj", dim, d, Default::default()))
            })
        };
        let item_text = text(
            "item_text",
            space.item_text_dim,
            ni,
            side.item_text,
            first.and_then(|f| f.item_text.as_ref()),
        );
        let item_tower = match (&space.item_text_encoder, &item_text) {
            (Some(spec), Some(_)) if spec.layers > 0 => {
                let q = p / "item_text" / "encoder";
                let top = BertTop::new(&q, &spec.bert, spec.layers);
                let states = side.item_text_tuning.map(|t| {
                    tch::no_grad(|| {
                        for (name, w) in &t.weights {
                            if let Some(mut v) = var_at(&q, name) {
                                v.copy_(w);
                            }
                        }
                    });
                    (t.states, t.mask)
                });
                Some(TextTower {
                    top,
                    states,
                    pooling: Pooling::parse(&spec.pooling).unwrap_or(Pooling::Mean),
                    normalize: spec.normalize,
                    stale: AtomicBool::new(false),
                })
            }
            _ => None,
        };
        let user_text = text(
            "user_text",
            space.user_text_dim,
            nu,
            side.user_text,
            first.and_then(|f| f.user_text.as_ref()),
        );
        let kg = space.kg.map(|(ne, nr)| {
            let q = p / "kg";
            let k = space.config.kg_neighbours as i64;
            let zeros = |w| Tensor::zeros([ni, w], (Kind::Int64, tch::Device::Cpu));
            let mut tables = side.kg.map(|t| t.map(Some));
            let shared = first.and_then(|f| f.kg.as_ref()).map(|g| &g.hop);
            let mut hop = |n: usize, name: &str, w: i64| {
                fix(&q, name, shared.map(|h| &h[n]), &mut || {
                    tables
                        .as_mut()
                        .and_then(|t| t[n].take())
                        .unwrap_or_else(|| zeros(w))
                })
            };
            let hop = [
                hop(0, "hop1_relations", k),
                hop(1, "hop1_entities", k),
                hop(2, "hop2_relations", k * k),
                hop(3, "hop2_entities", k * k),
            ];
            // Entity vectors start near zero (N(0, 1e-4)): an entity that no training item
            // reaches gets no gradient and stays there, so a cold item's unseen neighbours
            // (its own actors, say) read as "nothing known" rather than as untrained noise.
            // Not exactly zero, so that the relation attention has a gradient from the start.
            let near_zero = nn::EmbeddingConfig {
                ws_init: nn::Init::Randn {
                    mean: 0.0,
                    stdev: 1e-4,
                },
                ..Default::default()
            };
            KgLayer {
                entities: nn::embedding(&q / "entities", ne + 1, d, near_zero),
                relations: emb(&q / "relations", nr + 1, d),
                hop,
                k,
                combine: nn::linear(&q / "combine", d, d, Default::default()),
            }
        });
        let history_feedback = (space.config.history && space.config.history_feedback.is_some())
            .then(|| {
                let q = p / "history";
                let h = space.config.history_len as i64;
                let mut t = side.history_feedback;
                let shared = first.and_then(|f| f.history_feedback.as_ref());
                let t = fix(&q, "feedback", shared.map(|s| &s.0), &mut || {
                    t.take()
                        .unwrap_or_else(|| Tensor::zeros([nu, h], (Kind::Int64, tch::Device::Cpu)))
                });
                let gate = nn::embedding(
                    &q / "feedback_scale",
                    FEEDBACK_CODES,
                    d,
                    nn::EmbeddingConfig {
                        ws_init: nn::Init::Const(0.0),
                        ..Default::default()
                    },
                );
                (t, gate)
            });
        // Without id embeddings the graph attention still needs a user vector.
        let kg_user = (kg.is_some() && !space.config.ids).then(|| emb(p / "kg_user", nu, d));
        let history = space.config.history.then(|| {
            let q = p / "history";
            let h = space.config.history_len as i64;
            let mut t = side.history;
            let shared = first.and_then(|f| f.history.as_ref());
            let t = fix(&q, "items", shared.map(|s| &s.0), &mut || {
                t.take()
                    .unwrap_or_else(|| Tensor::zeros([nu, h], (Kind::Int64, tch::Device::Cpu)))
            });
            (t, emb(&q / "item", ni, d))
        });
        Self {
            ids,
            seen,
            scenario,
            categorical,
            numeric,
            item_text,
            item_tower,
            user_text,
            kg,
            kg_user,
            history,
            history_feedback,
            dim: d,
            fields: space.field_names().len() as i64,
            l2: space.config.embedding_l2,
            id_dropout: space.config.id_dropout,
            history_attention: space.config.history_attention,
        }
    }

    /// Field vector width.
    pub fn dim(&self) -> i64 {
        self.dim
    }

    /// Number of fields.
    pub fn fields(&self) -> i64 {
        self.fields
    }

    /// The scenario embedding of each row (`[B, D]`), when the scenario is an input.
    pub fn scenario_vectors(&self, x: &Inputs) -> Option<Tensor> {
        self.scenario.as_ref().map(|s| s.forward(&x.scenario))
    }

    /// `[B, F, D]` field vectors, and the L2 penalty of the embedding rows used. In
    /// training, fine-tuned text layers re-encode the batch's items.
    pub fn forward(&self, x: &Inputs, train: bool) -> (Tensor, Tensor) {
        let mut f: Vec<Tensor> = Vec::with_capacity(self.fields as usize);
        let mut reg: Vec<Tensor> = Vec::new();
        let mut user_vec = None;
        if let Some((u, i)) = &self.ids {
            let (uv, iv) = (u.forward(&x.user), i.forward(&x.item));
            let (uv, iv) = match &self.seen {
                Some((su, si)) => (
                    uv * su.index_select(0, &x.user).unsqueeze(-1),
                    iv * si.index_select(0, &x.item).unsqueeze(-1),
                ),
                None => (uv, iv),
            };
            reg.push(uv.square().sum(Kind::Float) + iv.square().sum(Kind::Float));
            user_vec = Some(uv.shallow_clone());
            let (uv, iv) = if train && self.id_dropout > 0.0 {
                let keep = |v: &Tensor| {
                    let mut k = Tensor::empty([v.size()[0], 1], (Kind::Float, v.device()));
                    v * k.bernoulli_float_(1.0 - self.id_dropout)
                };
                (keep(&uv), keep(&iv))
            } else {
                (uv, iv)
            };
            f.push(uv);
            f.push(iv);
        }
        if let Some(s) = &self.scenario {
            f.push(s.forward(&x.scenario));
        }
        if let Some(c) = &self.categorical {
            let v = c.forward(&x.categorical);
            reg.push(v.square().sum(Kind::Float));
            f.extend(v.unbind(1));
        }
        if let Some((w, b)) = &self.numeric {
            let v = x.numeric.unsqueeze(-1) * w + b;
            f.extend(v.unbind(1));
        }
        if let Some((table, proj)) = &self.item_text {
            let tuned = self
                .item_tower
                .as_ref()
                .and_then(|t| t.states.as_ref().map(|s| (t, s)));
            let e = match tuned {
                _ if x.item_text.is_some() => x.item_text.as_ref().map_or_else(
                    || table.index_select(0, &x.item),
                    |t| t.to_kind(table.kind()),
                ),
                Some((tower, states)) if train => {
                    tower.stale.store(true, Ordering::SeqCst);
                    tower.encode(states, &x.item, true)
                }
                Some((tower, _)) => {
                    if tower.stale.load(Ordering::SeqCst) {
                        tower.refresh(table);
                    }
                    table.index_select(0, &x.item)
                }
                None => table.index_select(0, &x.item),
            };
            f.push(proj.forward(&e));
        }
        if let Some((table, proj)) = &self.user_text {
            let e = match &x.user_text {
                Some(t) => t.to_kind(table.kind()),
                None => table.index_select(0, &x.user),
            };
            f.push(proj.forward(&e));
        }
        if let Some(kg) = &self.kg {
            let uv = match (&user_vec, &self.kg_user) {
                (Some(u), _) => u.shallow_clone(),
                (None, Some(e)) => e.forward(&x.user),
                (None, None) => {
                    Tensor::zeros([x.user.size()[0], self.dim], (Kind::Float, x.user.device()))
                }
            };
            f.push(kg.forward(&x.item, &uv));
        }
        if let Some((items, e)) = &self.history {
            let h = items.index_select(0, &x.user);
            // Padding and the candidate itself are left out: a training row's item is in its
            // user's history, a test row's is not, and the model must not learn the difference.
            let hidden = h.eq(0).logical_or(&h.eq_tensor(&x.item.unsqueeze(-1)));
            let mask = hidden.logical_not().to_kind(Kind::Float).unsqueeze(-1);
            let n = mask.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
            let mut hv = e.forward(&h);
            if let Some((codes, scale)) = &self.history_feedback {
                let c = codes.index_select(0, &x.user);
                hv = &hv * (scale.forward(&c) + 1.0);
            }
            let mut v = (&hv * &mask).sum_dim_intlist(1, false, Kind::Float) / n.sqrt();
            if self.history_attention {
                // [B, H] scores of each past item against the candidate.
                let target = e.forward(&x.item).unsqueeze(-1);
                let scores = hv.matmul(&target).squeeze_dim(-1) / (self.dim as f64).sqrt();
                let scores = scores.masked_fill(&hidden, -1e9);
                let w = scores.softmax(-1, Kind::Float).unsqueeze(-1) * &mask;
                v += (w * hv).sum_dim_intlist(1, false, Kind::Float);
            }
            f.push(v);
        }
        let fields = Tensor::stack(&f, 1);
        let b = fields.size()[0].max(1) as f64;
        let reg = if self.l2 > 0.0 && !reg.is_empty() {
            Tensor::stack(&reg, 0).sum(Kind::Float) * (self.l2 / b)
        } else {
            Tensor::zeros([], (Kind::Float, fields.device()))
        };
        (fields, reg)
    }
}
