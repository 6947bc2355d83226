//! The two towers, in one `VarStore`: `item.*` and `user.*` (trainable), `categorical`
//! (one table for the attribute values of both sides), `temperature`, and the fixed inputs
//! under `fixed.*` (attribute codes, text embeddings, graph samples, which ids trained), so
//! a checkpoint alone rebuilds every item vector, cold items included.

use std::path::Path;

use polyrec_data::Dataset;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::config::{HistoryEncoder, TwoTowerConfig};
use super::sequence::{SelfAttention, running_mean};
use crate::features::{EntityFeatures, FeatureSpace, Side};
use crate::input_layer::SideTables;
use crate::{Error, Result};

/// Sizes of the towers' fixed inputs (saved with the model as `tower.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TowerShapes {
    /// Users (codes `1..=users`; 0 is unknown).
    pub users: i64,
    /// Items (codes `1..=items`; 0 is unknown).
    pub items: i64,
    /// Rows of the shared categorical table.
    pub categorical_rows: i64,
    /// Categorical fields of users.
    pub user_categorical: i64,
    /// Categorical fields of items.
    pub item_categorical: i64,
    /// Numeric fields of users.
    pub user_numeric: i64,
    /// Numeric fields of items.
    pub item_numeric: i64,
    /// Width of the item text embedding (0: none).
    pub item_text_dim: i64,
    /// Width of the user text embedding (0: none).
    pub user_text_dim: i64,
    /// `(entities, relations)` of the knowledge graph, padding rows included.
    pub kg: Option<(i64, i64)>,
    /// Neighbours per hop of the graph samples.
    pub kg_neighbours: i64,
}

/// The fixed inputs by model code (row 0: unknown).
#[derive(Debug, Default)]
pub struct TowerTables {
    /// `[users + 1, Cu]` codes into the categorical table.
    pub user_categorical: Option<Tensor>,
    /// `[items + 1, Ci]` codes into the categorical table.
    pub item_categorical: Option<Tensor>,
    /// `[users + 1, Nu]` standardised values.
    pub user_numeric: Option<Tensor>,
    /// `[items + 1, Ni]` standardised values.
    pub item_numeric: Option<Tensor>,
    /// The language model's embeddings, the graph samples and which ids trained.
    pub side: SideTables,
}

/// Splits the categorical/numeric columns of `x` by side.
fn columns(t: &Tensor, sides: &[Side], want: Side) -> Tensor {
    let idx: Vec<i64> = sides
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == want)
        .map(|(i, _)| i as i64)
        .collect();
    t.index_select(1, &Tensor::from_slice(&idx))
}

/// The shapes and fixed inputs of a feature space over `ds`, with the side tables of
/// [`crate::prepare::prepare`].
pub fn tower_inputs(
    space: &FeatureSpace,
    side: SideTables,
    ds: &Dataset,
) -> Result<(TowerShapes, TowerTables)> {
    let ef = EntityFeatures::new(space, ds)?;
    let nu = space.users.len();
    let ni = space.items.len();
    let user_rows: Vec<(Option<u32>, Option<u32>, u32)> = std::iter::once((None, None, 0))
        .chain((0..nu as u32).map(|u| (Some(u), None, 0)))
        .collect();
    let item_rows: Vec<(Option<u32>, Option<u32>, u32)> = std::iter::once((None, None, 0))
        .chain((0..ni as u32).map(|i| (None, Some(i), 0)))
        .collect();
    if ds.users.ids.len() != nu || ds.items.ids.len() != ni {
        return Err(Error::Input(
            "the feature space was built on another dataset".into(),
        ));
    }
    let (xu, xi) = (ef.inputs(&user_rows), ef.inputs(&item_rows));
    let cat_sides: Vec<Side> = space.categorical.iter().map(|c| c.side).collect();
    let num_sides: Vec<Side> = space.numeric.iter().map(|c| c.side).collect();
    let tables = TowerTables {
        user_categorical: Some(columns(&xu.categorical, &cat_sides, Side::User)),
        item_categorical: Some(columns(&xi.categorical, &cat_sides, Side::Item)),
        user_numeric: Some(columns(&xu.numeric, &num_sides, Side::User)),
        item_numeric: Some(columns(&xi.numeric, &num_sides, Side::Item)),
        side,
    };
    let count = |s: &[Side], w| s.iter().filter(|x| **x == w).count() as i64;
    let shapes = TowerShapes {
        users: nu as i64,
        items: ni as i64,
        categorical_rows: space.categorical_rows(),
        user_categorical: count(&cat_sides, Side::User),
        item_categorical: count(&cat_sides, Side::Item),
        user_numeric: count(&num_sides, Side::User),
        item_numeric: count(&num_sides, Side::Item),
        item_text_dim: space.item_text_dim,
        user_text_dim: space.user_text_dim,
        kg: space.kg.map(|(e, r)| (e + 1, r + 1)),
        kg_neighbours: space.config.kg_neighbours as i64,
    };
    Ok((shapes, tables))
}

fn emb(p: nn::Path<'_>, n: i64, d: i64) -> nn::Embedding {
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

/// A fixed tensor in the store (travels with the checkpoint, never trained).
fn fixed(p: &nn::Path<'_>, name: &str, t: Option<Tensor>, shape: &[i64], kind: Kind) -> Tensor {
    let t = t.unwrap_or_else(|| Tensor::zeros(shape, (kind, Device::Cpu)));
    p.add(name, t.to_kind(kind).to_device(p.device()), false)
}

/// Numeric fields: a vector per field scaled by the value, plus a bias per field.
#[derive(Debug)]
struct Numeric {
    values: Tensor,
    weight: Tensor,
    bias: Tensor,
}

impl Numeric {
    fn new(
        p: &nn::Path<'_>,
        fixed_p: &nn::Path<'_>,
        values: Option<Tensor>,
        rows: i64,
        n: i64,
        d: i64,
    ) -> Option<Self> {
        (n > 0).then(|| Self {
            values: fixed(fixed_p, "numeric", values, &[rows, n], Kind::Float),
            weight: p.randn("weight", &[n, d], 0.0, 0.05),
            bias: p.zeros("bias", &[n, d]),
        })
    }

    /// `[rows, n * d]` for the rows `codes` (all rows when `None`).
    fn forward(&self, codes: Option<&Tensor>) -> Tensor {
        let v = codes.map_or_else(
            || self.values.shallow_clone(),
            |c| self.values.index_select(0, c),
        );
        let f = v.unsqueeze(-1) * &self.weight + &self.bias;
        f.flatten(1, 2)
    }
}

/// The knowledge-graph field of the item tower: attention over sampled 1- and 2-hop
/// neighbours (KGCN), with a learned query in place of KGCN's user vector, so that an item
/// vector does not depend on who asks.
#[derive(Debug)]
struct GraphField {
    entities: nn::Embedding,
    relations: nn::Embedding,
    query: Tensor,
    hop: [Tensor; 4],
    k: i64,
    combine: nn::Linear,
}

impl GraphField {
    fn forward(&self) -> Tensor {
        let n = self.hop[0].size()[0];
        let d = self.query.size()[0];
        let k = self.k;
        let q = self.query.view([1, 1, 1, d]);
        let rv2 = self.relations.forward(&self.hop[2]).view([n, k, k, d]);
        let ev2 = self.entities.forward(&self.hop[3]).view([n, k, k, d]);
        let a2 = (&rv2 * &q)
            .sum_dim_intlist(-1, true, Kind::Float)
            .softmax(2, Kind::Float);
        let h1 =
            self.entities.forward(&self.hop[1]) + (a2 * ev2).sum_dim_intlist(2, false, Kind::Float);
        let rv1 = self.relations.forward(&self.hop[0]);
        let a1 = (&rv1 * self.query.view([1, 1, d]))
            .sum_dim_intlist(-1, true, Kind::Float)
            .softmax(1, Kind::Float);
        let agg = (a1 * h1).sum_dim_intlist(1, false, Kind::Float);
        self.combine.forward(&agg).tanh()
    }
}

/// Concatenated fields -> `d`: a projection plus a residual feed-forward layer.
#[derive(Debug)]
struct Mixer {
    proj: nn::Linear,
    ff1: nn::Linear,
    ff2: nn::Linear,
}

impl Mixer {
    fn new(p: &nn::Path<'_>, fields: i64, d: i64) -> Self {
        Self {
            proj: nn::linear(p / "proj", fields * d, d, Default::default()),
            ff1: nn::linear(p / "ff1", d, 2 * d, Default::default()),
            ff2: nn::linear(p / "ff2", 2 * d, d, Default::default()),
        }
    }

    fn forward(&self, x: &Tensor, dropout: f64, train: bool) -> Tensor {
        let h = self.proj.forward(&x.dropout(dropout, train));
        let f = self
            .ff2
            .forward(&self.ff1.forward(&h).gelu("none").dropout(dropout, train));
        h + f
    }
}

/// The item tower: id, attributes, text, graph.
#[derive(Debug)]
struct ItemTower {
    id: Option<nn::Embedding>,
    seen: Tensor,
    categorical: Option<Tensor>,
    numeric: Option<Numeric>,
    text: Option<(Tensor, nn::Linear)>,
    graph: Option<GraphField>,
    mixer: Mixer,
}

/// The user tower: id, attributes, profile text, and the ordered recent items.
#[derive(Debug)]
struct UserTower {
    id: Option<nn::Embedding>,
    seen: Tensor,
    categorical: Option<Tensor>,
    numeric: Option<Numeric>,
    text: Option<(Tensor, nn::Linear)>,
    mixer: Option<Mixer>,
    attention: Option<SelfAttention>,
    combine: Option<nn::Linear>,
}

/// A two-tower retrieval model.
#[derive(Debug)]
pub struct TwoTower {
    vs: nn::VarStore,
    config: TwoTowerConfig,
    shapes: TowerShapes,
    categorical: Option<nn::Embedding>,
    item: ItemTower,
    user: UserTower,
    log_temperature: Tensor,
}

impl TwoTower {
    /// Builds the model on `device`. Tables `tables` lacks are created empty, to be filled
    /// by loading a checkpoint.
    pub fn new(
        config: &TwoTowerConfig,
        shapes: TowerShapes,
        tables: TowerTables,
        device: Device,
    ) -> Result<Self> {
        config.check()?;
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let fx = &root / "fixed";
        let d = config.dim;
        let (nu, ni) = (shapes.users + 1, shapes.items + 1);
        let side = tables.side;
        let (seen_u, seen_i) = match side.seen {
            Some((u, i)) => (Some(u), Some(i)),
            None => (None, None),
        };
        let seen_items = fixed(
            &fx,
            "seen_items",
            seen_i.or_else(|| Some(Tensor::ones([ni], (Kind::Float, Device::Cpu)))),
            &[ni],
            Kind::Float,
        );
        let seen_users = fixed(
            &fx,
            "seen_users",
            seen_u.or_else(|| Some(Tensor::ones([nu], (Kind::Float, Device::Cpu)))),
            &[nu],
            Kind::Float,
        );
        let attrs = config.attributes;
        let categorical = (attrs && shapes.categorical_rows > 0)
            .then(|| emb(&root / "categorical", shapes.categorical_rows, d));
        let cat_codes = |name: &str, t: Option<Tensor>, rows: i64, n: i64| {
            (attrs && n > 0 && shapes.categorical_rows > 0)
                .then(|| fixed(&fx, name, t, &[rows, n], Kind::Int64))
        };
        let text = |p: nn::Path<'_>, name: &str, t: Option<Tensor>, rows: i64, dim: i64| {
            (config.text && dim > 0).then(|| {
                (
                    fixed(&fx, name, t, &[rows, dim], Kind::Float),
                    nn::linear(&p / "text", dim, d, Default::default()),
                )
            })
        };
        let ip = &root / "item";
        let graph = match (config.kg, shapes.kg) {
            (true, Some((ne, nr))) => {
                let k = shapes.kg_neighbours;
                let [a, b, c, e] = match side.kg {
                    Some([a, b, c, e]) => [Some(a), Some(b), Some(c), Some(e)],
                    None => [None, None, None, None],
                };
                let g = &ip / "kg";
                Some(GraphField {
                    entities: emb(&g / "entities", ne, d),
                    relations: emb(&g / "relations", nr, d),
                    query: g.randn("query", &[d], 0.0, 0.05),
                    hop: [
                        fixed(&fx, "kg_hop1_relations", a, &[ni, k], Kind::Int64),
                        fixed(&fx, "kg_hop1_entities", b, &[ni, k], Kind::Int64),
                        fixed(&fx, "kg_hop2_relations", c, &[ni, k * k], Kind::Int64),
                        fixed(&fx, "kg_hop2_entities", e, &[ni, k * k], Kind::Int64),
                    ],
                    k,
                    combine: nn::linear(&g / "combine", d, d, Default::default()),
                })
            }
            _ => None,
        };
        let item_categorical = cat_codes(
            "item_categorical",
            tables.item_categorical,
            ni,
            shapes.item_categorical,
        );
        let item_numeric = if attrs {
            Numeric::new(
                &(&ip / "numeric"),
                &(&fx / "item"),
                tables.item_numeric,
                ni,
                shapes.item_numeric,
                d,
            )
        } else {
            None
        };
        let item_text = text(
            ip.clone(),
            "item_text",
            side.item_text,
            ni,
            shapes.item_text_dim,
        );
        let item_fields = i64::from(config.ids)
            + item_categorical.as_ref().map_or(0, |t| t.size()[1])
            + item_numeric.as_ref().map_or(0, |n| n.weight.size()[0])
            + i64::from(item_text.is_some())
            + i64::from(graph.is_some());
        if item_fields == 0 {
            return Err(Error::Input(
                "the item tower has no input: the data lack every family the config enables (ids, attributes, text, kg)".into(),
            ));
        }
        let item = ItemTower {
            id: config.ids.then(|| emb(&ip / "id", ni, d)),
            seen: seen_items,
            categorical: item_categorical,
            numeric: item_numeric,
            text: item_text,
            graph,
            mixer: Mixer::new(&(&ip / "mixer"), item_fields, d),
        };
        let up = &root / "user";
        let user_categorical = cat_codes(
            "user_categorical",
            tables.user_categorical,
            nu,
            shapes.user_categorical,
        );
        let user_numeric = if attrs {
            Numeric::new(
                &(&up / "numeric"),
                &(&fx / "user"),
                tables.user_numeric,
                nu,
                shapes.user_numeric,
                d,
            )
        } else {
            None
        };
        let user_text = text(
            up.clone(),
            "user_text",
            side.user_text,
            nu,
            shapes.user_text_dim,
        );
        let user_fields = i64::from(config.ids)
            + user_categorical.as_ref().map_or(0, |t| t.size()[1])
            + user_numeric.as_ref().map_or(0, |n| n.weight.size()[0])
            + i64::from(user_text.is_some());
        let history = config.history != HistoryEncoder::None;
        if user_fields == 0 && !history {
            return Err(Error::Input(
                "the user tower has no input: enable ids, attributes, text or a history".into(),
            ));
        }
        let attention = (config.history == HistoryEncoder::Attention).then(|| {
            SelfAttention::new(
                &(&up / "history"),
                d,
                config.history_len as i64,
                config.layers,
                config.heads,
                config.dropout,
            )
        });
        let user = UserTower {
            id: config.ids.then(|| emb(&up / "id", nu, d)),
            seen: seen_users,
            categorical: user_categorical,
            numeric: user_numeric,
            text: user_text,
            mixer: (user_fields > 0).then(|| Mixer::new(&(&up / "mixer"), user_fields, d)),
            attention,
            combine: (user_fields > 0 && history)
                .then(|| nn::linear(&up / "combine", 2 * d, d, Default::default())),
        };
        let t0 = Tensor::from(config.temperature.ln() as f32);
        let log_temperature = root.add("temperature", t0, config.learn_temperature);
        Ok(Self {
            vs,
            config: config.clone(),
            shapes,
            categorical,
            item,
            user,
            log_temperature,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TwoTowerConfig {
        &self.config
    }

    /// The shapes of the fixed inputs.
    pub fn shapes(&self) -> &TowerShapes {
        &self.shapes
    }

    /// The parameters (trainable and fixed).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The device.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Item vectors of every item code, `[items + 1, D]`, before normalisation (row 0: the
    /// unknown item). In training, each item's id vector is dropped with probability
    /// `id_dropout`, so that the other fields learn to stand for it (cold items have none).
    pub fn item_vectors_raw(&self, train: bool) -> Tensor {
        let t = &self.item;
        let mut f: Vec<Tensor> = Vec::new();
        if let Some(id) = &t.id {
            let n = t.seen.size()[0];
            let codes = Tensor::arange(n, (Kind::Int64, self.device()));
            let mut keep = t.seen.shallow_clone();
            let p = self.config.id_dropout;
            if train && p > 0.0 {
                let mut m = Tensor::empty([n], (Kind::Float, self.device()));
                keep *= m.bernoulli_float_(1.0 - p);
            }
            f.push(id.forward(&codes) * keep.unsqueeze(-1));
        }
        if let (Some(codes), Some(table)) = (&t.categorical, &self.categorical) {
            f.push(table.forward(codes).flatten(1, 2));
        }
        if let Some(n) = &t.numeric {
            f.push(n.forward(None));
        }
        if let Some((table, proj)) = &t.text {
            f.push(proj.forward(table));
        }
        if let Some(g) = &t.graph {
            f.push(g.forward());
        }
        t.mixer
            .forward(&Tensor::cat(&f, 1), self.config.dropout, train)
    }

    /// Scales vectors for scoring: L2-normalised when the config says so.
    pub fn for_scoring(&self, v: &Tensor) -> Tensor {
        if self.config.normalize {
            v / v.norm_scalaropt_dim(2, [-1], true).clamp_min(1e-8)
        } else {
            v.shallow_clone()
        }
    }

    /// The factor scores are multiplied by (1 / temperature for normalised vectors).
    pub fn score_scale(&self) -> Tensor {
        if self.config.normalize {
            (-&self.log_temperature).exp()
        } else {
            Tensor::ones([], (Kind::Float, self.device()))
        }
    }

    /// The user tower: `users` `[B]` codes and `inputs` `[B, L]` item codes read by each
    /// slot (right-aligned, 0 = empty), over the raw item vectors `items`
    /// ([`TwoTower::item_vectors_raw`]): the user vector after each slot, `[B, L, D]`.
    pub fn user_vectors(
        &self,
        users: &Tensor,
        inputs: &Tensor,
        items: &Tensor,
        train: bool,
    ) -> Tensor {
        let t = &self.user;
        let s = inputs.size();
        let (b, l) = (s[0], s[1]);
        let d = self.config.dim;
        let mut f: Vec<Tensor> = Vec::new();
        if let Some(id) = &t.id {
            f.push(id.forward(users) * t.seen.index_select(0, users).unsqueeze(-1));
        }
        if let (Some(codes), Some(table)) = (&t.categorical, &self.categorical) {
            f.push(table.forward(&codes.index_select(0, users)).flatten(1, 2));
        }
        if let Some(n) = &t.numeric {
            f.push(n.forward(Some(users)));
        }
        if let Some((table, proj)) = &t.text {
            f.push(proj.forward(&table.index_select(0, users)));
        }
        let fixed = t
            .mixer
            .as_ref()
            .map(|m| m.forward(&Tensor::cat(&f, 1), self.config.dropout, train));
        let history = match self.config.history {
            HistoryEncoder::None => None,
            _ => {
                let present = inputs.ne(0);
                let v = items.index_select(0, &inputs.view([-1])).view([b, l, d])
                    * present.to_kind(Kind::Float).unsqueeze(-1);
                Some(match &t.attention {
                    Some(att) => att.forward(&v, &present, train),
                    None => running_mean(&v, &present),
                })
            }
        };
        match (fixed, history) {
            (Some(s), Some(h)) => {
                let s = s.unsqueeze(1).expand([b, l, d], false);
                t.combine
                    .as_ref()
                    .map_or_else(|| &h + &s, |lin| lin.forward(&Tensor::cat(&[&h, &s], -1)))
            }
            (Some(s), None) => s.unsqueeze(1).expand([b, l, d], false),
            (None, Some(h)) => h,
            (None, None) => Tensor::zeros([b, l, d], (Kind::Float, self.device())),
        }
    }

    /// Vectors for serving, no gradients: every item (`[items + 1, D]`, ready for scoring)
    /// and the users `users` after reading `histories` (`[B, L]`), `[B, D]`.
    pub fn encode(&self, users: &Tensor, histories: &Tensor) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let raw = self.item_vectors_raw(false);
            let device = self.device();
            let u = self.user_vectors(
                &users.to_device(device),
                &histories.to_device(device),
                &raw,
                false,
            );
            let last = u.select(1, u.size()[1] - 1);
            (
                self.for_scoring(&raw),
                self.for_scoring(&last) * self.score_scale(),
            )
        })
    }

    /// Writes the parameters to `path` atomically.
    pub fn save_weights(&self, path: &Path) -> Result<()> {
        crate::io::atomic_safetensors(path, |tmp| self.vs.save(tmp))
    }

    /// Reads parameters written by [`TwoTower::save_weights`] (names and shapes must match).
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        crate::io::load_checked(&mut self.vs, path, true)
    }

    /// Copies every parameter (for keeping the best epoch in memory).
    pub fn snapshot(&self) -> Vec<(String, Tensor)> {
        self.vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.detach().copy()))
            .collect()
    }

    /// Restores a [`TwoTower::snapshot`].
    pub fn restore(&mut self, snap: &[(String, Tensor)]) {
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for (k, t) in snap {
                if let Some(mut v) = vars.get(k).map(Tensor::shallow_clone) {
                    v.copy_(t);
                }
            }
        });
    }

    /// Trainable parameters by name, in name order.
    pub fn trainable(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Number of trainable scalars.
    pub fn trainable_parameters(&self) -> i64 {
        self.trainable().iter().map(|(_, t)| t.numel() as i64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::RetrievalLoss;
    use super::super::data::{Sequences, windows};
    use super::super::train::{Catalog, batch_loss};
    use super::*;

    /// Five users, six items (item 6 never trained), every input family.
    fn synthetic(config: &TwoTowerConfig, with_tables: bool) -> Result<TwoTower> {
        let shapes = TowerShapes {
            users: 5,
            items: 6,
            categorical_rows: 6,
            user_categorical: 1,
            item_categorical: 1,
            user_numeric: 1,
            item_numeric: 0,
            item_text_dim: 8,
            user_text_dim: 8,
            kg: Some((10, 4)),
            kg_neighbours: 2,
        };
        let tables = if with_tables {
            tch::manual_seed(7);
            let codes = |n: i64, lo: i64| {
                Tensor::randint_low(lo, lo + 3, [n, 1], (Kind::Int64, Device::Cpu))
            };
            let ints =
                |n: i64, w: i64, hi: i64| Tensor::randint(hi, [n, w], (Kind::Int64, Device::Cpu));
            let seen_items = Tensor::ones([7], (Kind::Float, Device::Cpu));
            let _ = seen_items.get(0).fill_(0.0);
            let _ = seen_items.get(6).fill_(0.0);
            TowerTables {
                user_categorical: Some(codes(6, 0)),
                item_categorical: Some(codes(7, 3)),
                user_numeric: Some(Tensor::randn([6, 1], (Kind::Float, Device::Cpu))),
                item_numeric: None,
                side: SideTables {
                    item_text: Some(Tensor::randn([7, 8], (Kind::Float, Device::Cpu))),
                    user_text: Some(Tensor::randn([6, 8], (Kind::Float, Device::Cpu))),
                    kg: Some([ints(7, 2, 4), ints(7, 2, 10), ints(7, 4, 4), ints(7, 4, 10)]),
                    seen: Some((Tensor::ones([6], (Kind::Float, Device::Cpu)), seen_items)),
                    ..Default::default()
                },
            }
        } else {
            TowerTables::default()
        };
        tch::manual_seed(1);
        TwoTower::new(config, shapes, tables, Device::Cpu)
    }

    fn config() -> TwoTowerConfig {
        TwoTowerConfig {
            dim: 8,
            heads: 2,
            history_len: 4,
            kg_neighbours: 2,
            learn_temperature: true,
            dropout: 0.0,
            ..Default::default()
        }
    }

    fn sequences() -> Sequences {
        Sequences {
            train: vec![
                vec![1, 2, 3],
                vec![2, 4, 5, 1, 3, 2],
                vec![5],
                vec![1, 4],
                vec![3, 3, 2],
            ],
            valid: vec![None; 5],
            test: vec![None; 5],
            cold_items: vec![5],
        }
    }

    #[test]
    fn shapes_of_both_towers() -> Result<()> {
        let model = synthetic(&config(), true)?;
        let users = Tensor::from_slice(&[1i64, 3, 5]);
        let hist = Tensor::from_slice(&[0i64, 1, 2, 3, 0, 0, 0, 0, 4, 5, 1, 2]).view([3, 4]);
        let raw = model.item_vectors_raw(false);
        assert_eq!(raw.size(), [7, 8]);
        assert_eq!(
            model.user_vectors(&users, &hist, &raw, false).size(),
            [3, 4, 8]
        );
        let (items, u) = model.encode(&users, &hist);
        assert_eq!((items.size(), u.size()), (vec![7, 8], vec![3, 8]));
        let norms = items.norm_scalaropt_dim(2, [-1], false);
        assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
        Ok(())
    }

    #[test]
    fn every_parameter_gets_a_gradient_under_every_loss() -> Result<()> {
        let cases = [
            (RetrievalLoss::Softmax, HistoryEncoder::Attention),
            (RetrievalLoss::SampledSoftmax, HistoryEncoder::Attention),
            (RetrievalLoss::Bpr, HistoryEncoder::Attention),
            (RetrievalLoss::Softmax, HistoryEncoder::Mean),
            (RetrievalLoss::Softmax, HistoryEncoder::None),
        ];
        for (loss, history) in cases {
            let cfg = TwoTowerConfig {
                loss,
                history,
                extra_negatives: 3,
                id_dropout: 0.0,
                ..config()
            };
            let model = synthetic(&cfg, true)?;
            let seqs = sequences();
            let catalog = Catalog::new(&seqs, 6, Device::Cpu);
            let ws = windows(&seqs, 4);
            let loss_value = batch_loss(&model, &catalog, &seqs, &ws, true);
            assert!(loss_value.double_value(&[]).is_finite());
            loss_value.backward();
            for (name, p) in model.trainable() {
                let g = p.grad();
                assert!(
                    g.defined(),
                    "{loss:?} {history:?}: `{name}` has no gradient"
                );
                assert!(
                    g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                    "{loss:?} {history:?}: `{name}` has a zero gradient"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn a_checkpoint_gives_identical_scores() -> Result<()> {
        let model = synthetic(&config(), true)?;
        let dir = tempfile::tempdir().map_err(|e| Error::Input(e.to_string()))?;
        let path = dir.path().join("model.safetensors");
        model.save_weights(&path)?;
        let mut back = synthetic(&config(), false)?;
        back.load_weights(&path)?;
        let users = Tensor::from_slice(&[1i64, 2, 4]);
        let hist = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 0]).view([3, 4]);
        let (ia, ua) = model.encode(&users, &hist);
        let (ib, ub) = back.encode(&users, &hist);
        assert!(ia.equal(&ib) && ua.equal(&ub));
        // A store of another configuration is refused with the parameter's name.
        let mut other = synthetic(
            &TwoTowerConfig {
                kg: false,
                ..config()
            },
            false,
        )?;
        assert!(other.load_weights(&path).is_err());
        Ok(())
    }

    #[test]
    fn cold_items_get_vectors_from_text_and_graph() -> Result<()> {
        // Item 6 never trained: its id vector is zero, its text and graph are its own.
        let with_content = synthetic(&config(), true)?;
        let v = tch::no_grad(|| with_content.item_vectors_raw(false));
        let (cold, warm) = (v.get(6), v.get(5));
        assert!(cold.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!((&cold - &warm).abs().sum(Kind::Float).double_value(&[]) > 1e-4);
        // Ids only: a cold item has nothing of its own, so it looks like the unknown item.
        let ids_only = TwoTowerConfig {
            attributes: false,
            text: false,
            kg: false,
            ..config()
        };
        let m = synthetic(&ids_only, true)?;
        let v = tch::no_grad(|| m.item_vectors_raw(false));
        assert!(v.get(6).equal(&v.get(0)));
        assert!(!v.get(5).equal(&v.get(0)));
        Ok(())
    }
}
