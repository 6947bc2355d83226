//! Input families and the feature space: which inputs a model sees, their vocabularies
//! and statistics (fixed by the training split and saved with the model), and the dataset
//! encoded as tensors in that space.
//!
//! Families, each switchable in [`FeatureConfig`] so that its contribution can be measured:
//! user and item ids; every categorical attribute of the spec (code 0 = unknown, so unseen
//! values work) plus derived ones ([`DerivedAttribute`]); numeric attributes, standardised
//! with statistics of the training split only; the scenario; the item's and the user's text
//! embedding; a knowledge-graph layer over the item's sampled neighbours; and the user's
//! history (the items of the training split the user interacted with).
//!
//! Interaction-level text written together with the label (a review next to its rating)
//! would give the answer away, so it is never an input.

use std::collections::HashMap;

use polyrec_data::{Column, Dataset, DatasetSpec, spec::Source};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::heads::{HeadKind, TaskHead};
use crate::{Error, Result};

/// A transform that derives a categorical attribute from another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// The first whitespace-separated token (`"Action Comedy"` -> `"Action"`).
    FirstToken,
    /// The decade of a year (`"1995"` -> `"1990s"`); non-numbers map to unknown.
    Decade,
}

/// A derived categorical attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedAttribute {
    /// Name of the new attribute.
    pub name: String,
    /// The categorical attribute (of users or items) it is derived from.
    pub from: String,
    /// How.
    pub transform: Transform,
}

/// Which inputs a model sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    /// Width of every field vector.
    pub embedding_dim: i64,
    /// User and item id embeddings.
    pub ids: bool,
    /// Categorical attributes of users and items.
    pub categorical: bool,
    /// Numeric attributes of users and items.
    pub numeric: bool,
    /// Only these attributes (categorical, numeric or derived); all when absent.
    pub attributes: Option<Vec<String>>,
    /// Attributes left out.
    pub exclude: Vec<String>,
    /// Derived categorical attributes.
    pub derive: Vec<DerivedAttribute>,
    /// The scenario id as an input.
    pub scenario: bool,
    /// Item and user text embeddings from the language model (when the data has texts).
    pub text: bool,
    /// The knowledge-graph layer over the item's sampled neighbours (when the data has a graph).
    pub kg: bool,
    /// Neighbours sampled per node per hop for the knowledge-graph layer.
    pub kg_neighbours: usize,
    /// The user's training history, pooled.
    pub history: bool,
    /// At most this many of the user's latest training items form the history.
    pub history_len: usize,
    /// Pool the history with attention to the candidate item (DIN-style: each past item is
    /// weighted by the softmax of its inner product with the candidate's history vector),
    /// added to the plain mean; off: the mean alone.
    pub history_attention: bool,
    /// A task whose training label goes with each history item (e.g. the rating a user
    /// gave it): each past item's vector is scaled per dimension by a learned vector of its
    /// label, `e_item * (1 + g_label)` (`g` starts at zero), so liked and disliked items can
    /// pull the user's vector in opposite directions. Only training labels are used, and the
    /// candidate itself is left out of its own history as always. `None`: no labels.
    pub history_feedback: Option<String>,
    /// L2 penalty on the embedding rows a batch uses.
    pub embedding_l2: f64,
    /// Append the pairwise inner products of the field vectors (factorisation-machine /
    /// DLRM-style interactions) to what the architecture reads.
    pub pairwise: bool,
    /// Add a factorisation-machine term to every task's output: the pairwise interactions
    /// of all fields, `((sum v)^2 - sum v^2) / 2`, weighted per task (DeepFM style).
    pub fm: bool,
    /// During training, drop each field vector of each row with this probability (the rest
    /// are scaled up to keep the expectation): a regulariser against memorised ids.
    pub field_dropout: f64,
    /// During training, replace the user id vector and, independently, the item id vector of
    /// each row by zeros with this probability (DropoutNet-style, no rescaling): a cold user
    /// or item reads zeros there, so the model learns to predict from attributes, text and
    /// the graph when an id has no vector. For cold-start use; 0 (off) by default.
    pub id_dropout: f64,
    /// Fine-tune the language model's top this many transformer layers jointly with the
    /// ranker (0: its embeddings stay fixed). Item texts are re-encoded through those
    /// layers for the distinct items of each training batch; the lower layers run once.
    pub finetune_layers: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            embedding_dim: 16,
            ids: true,
            categorical: true,
            numeric: true,
            attributes: None,
            exclude: Vec::new(),
            derive: Vec::new(),
            scenario: true,
            text: true,
            kg: true,
            kg_neighbours: 8,
            history: true,
            history_len: 50,
            history_attention: false,
            history_feedback: None,
            embedding_l2: 1e-2,
            pairwise: false,
            fm: false,
            field_dropout: 0.0,
            id_dropout: 0.0,
            finetune_layers: 0,
        }
    }
}

impl FeatureConfig {
    /// Checks the values once, at the edge.
    pub fn check(&self) -> Result<()> {
        let bad = |field, value: String, reason| {
            Err(Error::Config {
                field,
                value,
                reason,
            })
        };
        if !(1..=4096).contains(&self.embedding_dim) {
            return bad(
                "embedding_dim",
                self.embedding_dim.to_string(),
                "must be in 1..=4096",
            );
        }
        if !(1..=256).contains(&self.kg_neighbours) {
            return bad(
                "kg_neighbours",
                self.kg_neighbours.to_string(),
                "must be in 1..=256",
            );
        }
        if !(1..=10_000).contains(&self.history_len) {
            return bad(
                "history_len",
                self.history_len.to_string(),
                "must be in 1..=10000",
            );
        }
        if self.finetune_layers > 64 {
            return bad(
                "finetune_layers",
                self.finetune_layers.to_string(),
                "must be in 0..=64",
            );
        }
        if !(0.0..1.0).contains(&self.field_dropout) {
            return bad(
                "field_dropout",
                self.field_dropout.to_string(),
                "must be in [0, 1)",
            );
        }
        if !(0.0..1.0).contains(&self.id_dropout) {
            return bad(
                "id_dropout",
                self.id_dropout.to_string(),
                "must be in [0, 1)",
            );
        }
        if !(self.embedding_l2 >= 0.0 && self.embedding_l2.is_finite()) {
            return bad(
                "embedding_l2",
                self.embedding_l2.to_string(),
                "must be finite and >= 0",
            );
        }
        Ok(())
    }
}

/// Whether an attribute belongs to users or items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// A user attribute.
    User,
    /// An item attribute.
    Item,
}

/// A categorical input field: its vocabulary (index 0 = unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalField {
    /// Attribute name.
    pub name: String,
    /// Users or items.
    pub side: Side,
    /// The attribute it reads (itself, or the source of a derived attribute).
    pub source: String,
    /// Values by code; code 0 is unknown.
    pub vocab: Vec<String>,
    /// The transform of a derived attribute.
    pub transform: Option<Transform>,
}

/// A numeric input field and its training statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericField {
    /// Attribute name.
    pub name: String,
    /// Users or items.
    pub side: Side,
    /// Training-split mean.
    pub mean: f32,
    /// Training-split standard deviation (1 when it is 0).
    pub std: f32,
}

/// Everything fixed at training time that maps a dataset to tensors: saved with a model as
/// `features.json` and applied unchanged to any data it later scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpace {
    /// The configuration.
    pub config: FeatureConfig,
    /// Raw user ids by code - 1 (code 0 is an unknown user).
    pub users: Vec<String>,
    /// Raw item ids by code - 1 (code 0 is an unknown item).
    pub items: Vec<String>,
    /// Scenario names by index.
    pub scenarios: Vec<String>,
    /// Categorical fields.
    pub categorical: Vec<CategoricalField>,
    /// Numeric fields.
    pub numeric: Vec<NumericField>,
    /// Tasks, in the dataset's order.
    pub tasks: Vec<TaskHead>,
    /// For each task, the attribute its label is read from when it is a user-level task.
    pub task_sources: Vec<Option<String>>,
    /// Width of the item text embedding (0: no item text input).
    pub item_text_dim: i64,
    /// Width of the user text embedding (0: no user text input).
    pub user_text_dim: i64,
    /// Whether the user text template reads the field of a user-level task.
    pub user_text_fields: Vec<String>,
    /// Knowledge-graph sizes `(entities, relations)` when the graph layer is on.
    pub kg: Option<(i64, i64)>,
    /// The fine-tuned top layers of the language model, when `finetune_layers > 0`.
    #[serde(default)]
    pub item_text_encoder: Option<TextEncoderSpec>,
}

/// The shape of the language model's layers a ranker fine-tunes (enough to rebuild them
/// from a checkpoint without the model folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEncoderSpec {
    /// How many top layers are trained.
    pub layers: usize,
    /// The transformer's configuration.
    pub bert: polyrec_encode::BertConfig,
    /// Pooling: `mean`, `cls` or `max`.
    pub pooling: String,
    /// Whether pooled vectors are L2-normalised.
    pub normalize: bool,
}

/// Fields of the model input, in the order [`FeatureSpace::field_names`] lists them.
impl FeatureSpace {
    /// Builds the space from a dataset (its training rows give the statistics).
    pub fn build(
        ds: &Dataset,
        spec: Option<&DatasetSpec>,
        config: &FeatureConfig,
        train_rows: &[u32],
    ) -> Result<Self> {
        config.check()?;
        let wanted = |name: &str| {
            !config.exclude.iter().any(|e| e == name)
                && config
                    .attributes
                    .as_ref()
                    .is_none_or(|a| a.iter().any(|x| x == name))
        };
        let mut categorical = Vec::new();
        let mut numeric = Vec::new();
        let sides = [
            (Side::User, &ds.users.attributes),
            (Side::Item, &ds.items.attributes),
        ];
        for (side, attrs) in sides {
            for a in attrs {
                match &a.column {
                    Column::Categorical { vocab, .. } if config.categorical && wanted(&a.name) => {
                        categorical.push(CategoricalField {
                            name: a.name.clone(),
                            side,
                            source: a.name.clone(),
                            vocab: vocab.names().to_vec(),
                            transform: None,
                        });
                    }
                    Column::Numeric(values) if config.numeric && wanted(&a.name) => {
                        let (mean, std) = numeric_stats(ds, side, values, train_rows);
                        numeric.push(NumericField {
                            name: a.name.clone(),
                            side,
                            mean,
                            std,
                        });
                    }
                    _ => {}
                }
            }
        }
        for d in &config.derive {
            let Some((side, vocab)) = sides.iter().find_map(|(side, attrs)| {
                attrs
                    .iter()
                    .find(|a| a.name == d.from)
                    .and_then(|a| match &a.column {
                        Column::Categorical { vocab, .. } => Some((*side, vocab)),
                        Column::Numeric(_) => None,
                    })
            }) else {
                return Err(Error::Input(format!(
                    "derived attribute `{}`: `{}` is not a categorical attribute of the users or items",
                    d.name, d.from
                )));
            };
            if !(config.categorical && wanted(&d.name)) {
                continue;
            }
            let mut values = vec!["<oov>".to_string()];
            for name in vocab.names().iter().skip(1) {
                if let Some(v) = apply(d.transform, name)
                    && !values.contains(&v)
                {
                    values.push(v);
                }
            }
            categorical.push(CategoricalField {
                name: d.name.clone(),
                side,
                source: d.from.clone(),
                vocab: values,
                transform: Some(d.transform),
            });
        }
        let (tasks, task_sources) = task_heads(ds, spec, train_rows)?;
        let user_text_fields = spec
            .and_then(|s| s.users.as_ref())
            .and_then(|u| u.text.as_ref())
            .map(|t| template_fields(t))
            .unwrap_or_default();
        Ok(Self {
            config: config.clone(),
            users: ds.users.ids.names().to_vec(),
            items: ds.items.ids.names().to_vec(),
            scenarios: ds.scenarios.clone(),
            categorical,
            numeric,
            tasks,
            task_sources,
            item_text_dim: 0,
            user_text_dim: 0,
            user_text_fields,
            item_text_encoder: None,
            kg: None,
        })
    }

    /// Names of the input fields, in order (each becomes one vector of the model input).
    pub fn field_names(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.config.ids {
            f.extend(["user".to_string(), "item".to_string()]);
        }
        if self.config.scenario {
            f.push("scenario".into());
        }
        f.extend(self.categorical.iter().map(|c| c.name.clone()));
        f.extend(self.numeric.iter().map(|c| c.name.clone()));
        if self.item_text_dim > 0 {
            f.push("item_text".into());
        }
        if self.user_text_dim > 0 {
            f.push("user_text".into());
        }
        if self.kg.is_some() {
            f.push("kg".into());
        }
        if self.config.history {
            f.push("history".into());
        }
        f
    }

    /// For a user-level task: a 0/1 mask over the fields, 0 where a field reads the task's
    /// own label attribute (so its prediction cannot copy it).
    pub fn field_mask(&self, task: usize) -> Option<Vec<f32>> {
        let src = self.task_sources.get(task)?.as_ref()?;
        let names = self.field_names();
        let leaky = |name: &str| {
            self.categorical
                .iter()
                .any(|c| c.name == name && c.side == Side::User && &c.source == src)
                || self
                    .numeric
                    .iter()
                    .any(|c| c.name == name && c.side == Side::User && &c.name == src)
                || (name == "user_text" && self.user_text_fields.iter().any(|f| f == src))
        };
        Some(
            names
                .iter()
                .map(|n| if leaky(n) { 0.0 } else { 1.0 })
                .collect(),
        )
    }

    /// Total rows of the shared categorical embedding table (all fields' vocabularies).
    pub fn categorical_rows(&self) -> i64 {
        self.categorical.iter().map(|c| c.vocab.len() as i64).sum()
    }

    /// Offsets of each categorical field in the shared table.
    pub fn categorical_offsets(&self) -> Vec<i64> {
        let mut off = 0;
        self.categorical
            .iter()
            .map(|c| {
                let o = off;
                off += c.vocab.len() as i64;
                o
            })
            .collect()
    }
}

fn apply(t: Transform, v: &str) -> Option<String> {
    match t {
        Transform::FirstToken => v.split_whitespace().next().map(str::to_string),
        Transform::Decade => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|y| y.is_finite())
            .map(|y| format!("{}s", (y / 10.0).floor() as i64 * 10)),
    }
}

/// `{field}` names a template reads.
fn template_fields(t: &str) -> Vec<String> {
    t.split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(f, _)| f.trim().to_string()))
        .collect()
}

fn numeric_stats(ds: &Dataset, side: Side, values: &[f32], train_rows: &[u32]) -> (f32, f32) {
    let (mut n, mut s, mut s2) = (0f64, 0f64, 0f64);
    for &r in train_rows {
        let e = match side {
            Side::User => ds.interactions.user[r as usize],
            Side::Item => ds.interactions.item[r as usize],
        } as usize;
        if let Some(v) = values.get(e).copied().filter(|v| v.is_finite()) {
            n += 1.0;
            s += f64::from(v);
            s2 += f64::from(v) * f64::from(v);
        }
    }
    if n == 0.0 {
        return (0.0, 1.0);
    }
    let mean = s / n;
    let var = (s2 / n - mean * mean).max(0.0);
    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
    (mean as f32, std as f32)
}

fn task_heads(
    ds: &Dataset,
    spec: Option<&DatasetSpec>,
    train_rows: &[u32],
) -> Result<(Vec<TaskHead>, Vec<Option<String>>)> {
    let mut heads = Vec::new();
    let mut sources = Vec::new();
    for (t, task) in ds.tasks.iter().enumerate() {
        let ts = spec.and_then(|s| s.tasks.iter().find(|x| x.name == task.name));
        let user_level = ts.is_some_and(|x| matches!(x.from, Source::User));
        let kind = match &task.kind {
            polyrec_data::TaskKind::Binary => HeadKind::Binary,
            polyrec_data::TaskKind::Multiclass { classes } => {
                if classes.is_empty() {
                    return Err(Error::Input(format!("task `{}` has no classes", task.name)));
                }
                HeadKind::Multiclass {
                    classes: classes.len(),
                }
            }
            polyrec_data::TaskKind::Regression => {
                let labels = &ds.interactions.labels[t];
                let (mut n, mut s, mut s2) = (0f64, 0f64, 0f64);
                for &r in train_rows {
                    let v = f64::from(labels[r as usize]);
                    if v.is_finite() {
                        n += 1.0;
                        s += v;
                        s2 += v * v;
                    }
                }
                let mean = if n > 0.0 { s / n } else { 0.0 };
                let var = if n > 0.0 { s2 / n - mean * mean } else { 0.0 };
                let std = if var > 1e-12 { var.sqrt() } else { 1.0 };
                let range = ts
                    .and_then(|x| x.range)
                    .map(|[lo, hi]| [lo as f32, hi as f32]);
                HeadKind::Regression {
                    mean: mean as f32,
                    std: std as f32,
                    range,
                }
            }
        };
        heads.push(TaskHead {
            name: task.name.clone(),
            kind,
            user_level,
        });
        sources.push(ts.filter(|_| user_level).map(|x| x.field.clone()));
    }
    Ok((heads, sources))
}

/// A dataset encoded in a [`FeatureSpace`]: one row per interaction, on the CPU.
#[derive(Debug)]
pub struct EncodedRows {
    /// User code per row (0 = unknown to the model).
    pub user: Tensor,
    /// Item code per row (0 = unknown to the model).
    pub item: Tensor,
    /// Scenario index per row.
    pub scenario: Tensor,
    /// `[rows, categorical fields]` codes, already offset into the shared table.
    pub categorical: Tensor,
    /// `[rows, numeric fields]` standardised values (0 where missing).
    pub numeric: Tensor,
    /// `[rows, tasks]` labels.
    pub labels: Tensor,
}

/// A batch of model inputs.
#[derive(Debug)]
pub struct Inputs {
    /// User codes `[B]`.
    pub user: Tensor,
    /// Item codes `[B]`.
    pub item: Tensor,
    /// Scenario indices `[B]`.
    pub scenario: Tensor,
    /// Categorical codes `[B, C]`.
    pub categorical: Tensor,
    /// Numeric values `[B, N]`.
    pub numeric: Tensor,
    /// Item text embeddings `[B, T]` that replace the model's table (items the model has
    /// never seen, added at serving time); `None` reads the table.
    pub item_text: Option<Tensor>,
    /// User text embeddings `[B, T]` that replace the model's table (new users described
    /// by a profile text); `None` reads the table.
    pub user_text: Option<Tensor>,
}

impl Inputs {
    /// Moves the batch to a device.
    pub fn to(&self, device: Device) -> Self {
        Self {
            user: self.user.to(device),
            item: self.item.to(device),
            scenario: self.scenario.to(device),
            categorical: self.categorical.to(device),
            numeric: self.numeric.to(device),
            item_text: self.item_text.as_ref().map(|t| t.to(device)),
            user_text: self.user_text.as_ref().map(|t| t.to(device)),
        }
    }
}

/// Per-entity model inputs of a dataset in a [`FeatureSpace`]: codes of every user, item,
/// scenario and attribute, to build [`Inputs`] for any (user, item, scenario) triple, for
/// example every candidate item of one user at serving time.
#[derive(Debug, Clone)]
pub struct EntityFeatures {
    user_code: Vec<i64>,
    item_code: Vec<i64>,
    scen_code: Vec<i64>,
    cat: Vec<(Side, Vec<i64>)>,
    /// Where each categorical field starts in the shared table (its unknown code).
    offsets: Vec<i64>,
    num: Vec<(Side, Vec<f32>, f32, f32)>,
}

impl EntityFeatures {
    /// The codes of every entity of `ds` in `space` (ids unknown to the space get code 0).
    pub fn new(space: &FeatureSpace, ds: &Dataset) -> Result<Self> {
        let user_code = code_map(&space.users, ds.users.ids.names());
        let item_code = code_map(&space.items, ds.items.ids.names());
        let scen_code: Vec<i64> = ds
            .scenarios
            .iter()
            .map(|s| space.scenarios.iter().position(|x| x == s).unwrap_or(0) as i64)
            .collect();
        let offsets = space.categorical_offsets();
        let mut cat: Vec<(Side, Vec<i64>)> = Vec::new();
        for (f, field) in space.categorical.iter().enumerate() {
            let attrs = match field.side {
                Side::User => &ds.users.attributes,
                Side::Item => &ds.items.attributes,
            };
            let codes = match attrs.iter().find(|a| a.name == field.source) {
                Some(polyrec_data::Attribute {
                    column: Column::Categorical { vocab, codes },
                    ..
                }) => {
                    let index: HashMap<&str, i64> = field
                        .vocab
                        .iter()
                        .enumerate()
                        .skip(1)
                        .map(|(i, v)| (v.as_str(), i as i64))
                        .collect();
                    codes
                        .iter()
                        .map(|&c| {
                            let raw = if c == 0 { None } else { Some(vocab.name(c)) };
                            let v = match (raw, field.transform) {
                                (None, _) => None,
                                (Some(r), None) => Some(r.to_string()),
                                (Some(r), Some(t)) => apply(t, r),
                            };
                            offsets[f] + v.and_then(|v| index.get(v.as_str()).copied()).unwrap_or(0)
                        })
                        .collect()
                }
                _ => {
                    return Err(Error::Input(format!(
                        "the model reads the categorical attribute `{}`, which the data lack",
                        field.source
                    )));
                }
            };
            cat.push((field.side, codes));
        }
        let mut num: Vec<(Side, Vec<f32>, f32, f32)> = Vec::new();
        for field in &space.numeric {
            let attrs = match field.side {
                Side::User => &ds.users.attributes,
                Side::Item => &ds.items.attributes,
            };
            match attrs.iter().find(|a| a.name == field.name) {
                Some(polyrec_data::Attribute {
                    column: Column::Numeric(v),
                    ..
                }) => num.push((field.side, v.clone(), field.mean, field.std)),
                _ => {
                    return Err(Error::Input(format!(
                        "the model reads the numeric attribute `{}`, which the data lack",
                        field.name
                    )));
                }
            }
        }
        Ok(Self {
            user_code,
            item_code,
            scen_code,
            cat,
            offsets,
            num,
        })
    }

    /// The model code of a dataset user (0: unknown to the model).
    pub fn user_code(&self, user: u32) -> i64 {
        self.user_code.get(user as usize).copied().unwrap_or(0)
    }

    /// The model code of a dataset item (0: unknown to the model).
    pub fn item_code(&self, item: u32) -> i64 {
        self.item_code.get(item as usize).copied().unwrap_or(0)
    }

    /// Inputs for `(user, item, scenario)` triples of dataset indices. `None` stands for an
    /// entity the dataset lacks (a new user or item): code 0 and unknown attributes.
    pub fn inputs(&self, rows: &[(Option<u32>, Option<u32>, u32)]) -> Inputs {
        let n = rows.len();
        let (c, m) = (self.cat.len(), self.num.len());
        let mut cats = Vec::with_capacity(n * c);
        let mut nums = Vec::with_capacity(n * m);
        let (mut users, mut items, mut scens) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for &(u, i, s) in rows {
            users.push(u.map_or(0, |u| self.user_code(u)));
            items.push(i.map_or(0, |i| self.item_code(i)));
            scens.push(self.scen_code.get(s as usize).copied().unwrap_or(0));
            for ((side, codes), &unknown) in self.cat.iter().zip(&self.offsets) {
                let e = if *side == Side::User { u } else { i };
                cats.push(
                    e.and_then(|e| codes.get(e as usize).copied())
                        .unwrap_or(unknown),
                );
            }
            for (side, values, mean, std) in &self.num {
                let e = if *side == Side::User { u } else { i };
                let v = e
                    .and_then(|e| values.get(e as usize).copied())
                    .unwrap_or(f32::NAN);
                nums.push(if v.is_finite() { (v - mean) / std } else { 0.0 });
            }
        }
        let n = n as i64;
        Inputs {
            user: Tensor::from_slice(&users),
            item: Tensor::from_slice(&items),
            scenario: Tensor::from_slice(&scens),
            categorical: Tensor::from_slice(&cats).view([n, c as i64]),
            numeric: Tensor::from_slice(&nums).view([n, m as i64]),
            item_text: None,
            user_text: None,
        }
    }
}

impl EncodedRows {
    /// Encodes every interaction of `ds` (ids unknown to the space get code 0).
    pub fn encode(space: &FeatureSpace, ds: &Dataset) -> Result<Self> {
        let n = ds.interactions.len();
        let entities = EntityFeatures::new(space, ds)?;
        let triples: Vec<(Option<u32>, Option<u32>, u32)> = (0..n)
            .map(|r| {
                (
                    Some(ds.interactions.user[r]),
                    Some(ds.interactions.item[r]),
                    u32::from(ds.interactions.scenario[r]),
                )
            })
            .collect();
        let x = entities.inputs(&triples);
        let cols: Vec<&[f32]> = space
            .tasks
            .iter()
            .map(|h| {
                ds.task_index(&h.name)
                    .map(|i| ds.interactions.labels[i].as_slice())
                    .ok_or_else(|| {
                        Error::Input(format!(
                            "the model predicts task `{}`, which the data lack",
                            h.name
                        ))
                    })
            })
            .collect::<Result<_>>()?;
        let t = cols.len();
        let mut labels = Vec::with_capacity(n * t);
        for r in 0..n {
            for c in &cols {
                labels.push(c[r]);
            }
        }
        Ok(Self {
            user: x.user,
            item: x.item,
            scenario: x.scenario,
            categorical: x.categorical,
            numeric: x.numeric,
            labels: Tensor::from_slice(&labels).view([n as i64, t as i64]),
        })
    }

    /// The inputs and labels of the rows `rows` (a CPU `Int64` tensor), on `device`.
    pub fn batch(&self, rows: &Tensor, device: Device) -> (Inputs, Tensor) {
        let x = Inputs {
            user: self.user.index_select(0, rows),
            item: self.item.index_select(0, rows),
            scenario: self.scenario.index_select(0, rows),
            categorical: self.categorical.index_select(0, rows),
            numeric: self.numeric.index_select(0, rows),
            item_text: None,
            user_text: None,
        };
        let y = self.labels.index_select(0, rows);
        if device == Device::Cpu {
            (x, y)
        } else {
            (x.to(device), y.to(device))
        }
    }

    /// Number of rows.
    pub fn len(&self) -> i64 {
        self.user.size()[0]
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Dataset index -> model code (index + 1 in `known`, 0 when unknown).
fn code_map(known: &[String], names: &[String]) -> Vec<i64> {
    let index: HashMap<&str, i64> = known
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as i64 + 1))
        .collect();
    names
        .iter()
        .map(|s| index.get(s.as_str()).copied().unwrap_or(0))
        .collect()
}

/// A `[rows]` Int64 tensor of row indices.
pub fn row_tensor(rows: &[u32]) -> Tensor {
    let v: Vec<i64> = rows.iter().map(|&r| i64::from(r)).collect();
    Tensor::from_slice(&v).to_kind(Kind::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_and_template_fields() {
        assert_eq!(
            apply(Transform::FirstToken, "Action Comedy").as_deref(),
            Some("Action")
        );
        assert_eq!(apply(Transform::Decade, "1995").as_deref(), Some("1990s"));
        assert_eq!(apply(Transform::Decade, "n/a"), None);
        assert_eq!(
            template_fields("A {age}-year-old {occupation} ({gender})."),
            ["age", "occupation", "gender"]
        );
    }
}
