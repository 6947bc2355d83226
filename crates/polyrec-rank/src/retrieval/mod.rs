//! Learned retrieval: a two-tower model that maps users and items into one vector space,
//! so that the items a user may want next are the nearest item vectors, found over the
//! whole catalog by an exact (blocked, parallel) or approximate search.
//!
//! - The **item tower** reads the item's id, attributes, language-model text embedding and
//!   knowledge-graph neighbourhood (KGCN-style attention over sampled neighbours). An item
//!   without training rows has no id vector: its vector comes from the other families, so
//!   a new item is retrievable as soon as it has a text or graph links.
//! - The **user tower** reads the user's id, attributes, profile text and the ordered
//!   recent items, as item-tower vectors, through causal self-attention with position
//!   embeddings (SASRec-style) or a running mean.
//! - **Training** treats every interaction as a positive, retrieved from the user vector
//!   after the items before it: full softmax over the catalog, sampled softmax with
//!   in-batch negatives (logQ-corrected) plus uniform ones, or BPR; scores are cosines
//!   over a temperature, or plain dot products.
//! - **Evaluation** is full ranking on leave-one-out splits ([`eval`]).
//!
//! ```
//! use polyrec_rank::retrieval::{TwoTower, TwoTowerConfig, TowerShapes, TowerTables};
//!
//! // Three users and four items with ids only, no data set needed.
//! let shapes = TowerShapes {
//!     users: 3, items: 4, categorical_rows: 0, user_categorical: 0, item_categorical: 0,
//!     user_numeric: 0, item_numeric: 0, item_text_dim: 0, user_text_dim: 0, kg: None,
//!     kg_neighbours: 8,
//! };
//! let cfg = TwoTowerConfig { text: false, kg: false, attributes: false, history_len: 4, ..Default::default() };
//! let model = TwoTower::new(&cfg, shapes, TowerTables::default(), tch::Device::Cpu)?;
//! let users = tch::Tensor::from_slice(&[1i64, 2]);
//! let histories = tch::Tensor::from_slice(&[0i64, 0, 1, 2, 0, 0, 0, 3]).view([2, 4]);
//! let (items, users) = model.encode(&users, &histories);
//! assert_eq!(items.size(), [5, 64]);   // every item code, row 0 the unknown item
//! assert_eq!(users.size(), [2, 64]);
//! # Ok::<(), polyrec_rank::Error>(())
//! ```

pub mod config;
pub mod data;
pub mod eval;
pub mod hnsw;
pub mod index;
pub mod model;
mod sequence;
pub mod train;

use std::path::Path;

use polyrec_data::{Dataset, DatasetSpec};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

pub use config::{HistoryEncoder, RetrievalLoss, RetrievalRunConfig, TwoTowerConfig};
pub use data::Sequences;
pub use index::ItemIndex;
pub use model::{TowerShapes, TowerTables, TwoTower};

use crate::features::{FeatureConfig, FeatureSpace};
use crate::prepare::{TextInputs, make_split, prepare};
use crate::train::config::RunConfig;
use crate::{Error, Result};

/// The inputs of the feature space a two-tower model reads.
pub fn feature_config(m: &TwoTowerConfig) -> FeatureConfig {
    FeatureConfig {
        embedding_dim: m.dim,
        ids: m.ids,
        categorical: m.attributes,
        numeric: m.attributes,
        scenario: false,
        text: m.text,
        kg: m.kg,
        kg_neighbours: m.kg_neighbours,
        history: false,
        ..FeatureConfig::default()
    }
}

/// The ranking run configuration whose data preparation a retrieval run shares.
pub fn run_config(cfg: &RetrievalRunConfig) -> RunConfig {
    RunConfig {
        spec: cfg.spec.clone(),
        features: feature_config(&cfg.model),
        train: cfg.train.clone(),
        split: cfg.split.clone(),
        ..RunConfig::default()
    }
}

/// A retrieval run's data, ready for training and evaluation.
#[derive(Debug)]
pub struct RetrievalData {
    /// Vocabularies and statistics (saved as `features.json`).
    pub space: FeatureSpace,
    /// The sequences and held-out items.
    pub seqs: Sequences,
    /// Sizes of the fixed inputs.
    pub shapes: TowerShapes,
    /// The fixed inputs.
    pub tables: TowerTables,
}

/// Splits (leave-one-out, optionally with cold items) and prepares a retrieval run; `text`
/// holds the language model's embeddings when the config reads text.
pub fn prepare_retrieval(
    ds: &Dataset,
    spec: Option<&DatasetSpec>,
    cfg: &RetrievalRunConfig,
    text: TextInputs,
) -> Result<RetrievalData> {
    cfg.check()?;
    let mut split = make_split(ds, &cfg.split, cfg.train.seed, Path::new("."))?;
    let cold = data::hold_out_items(ds, &mut split, cfg.cold_items, cfg.train.seed);
    let (prepared, side) = prepare(ds, spec, &run_config(cfg), split, text)?;
    let seqs = Sequences::new(ds, &prepared.split, cold)?;
    let (shapes, tables) = model::tower_inputs(&prepared.space, side, ds)?;
    Ok(RetrievalData {
        space: prepared.space,
        seqs,
        shapes,
        tables,
    })
}

/// What `item_index.json` says about `item_index.safetensors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Raw item ids, one per row of `vectors`.
    pub items: Vec<String>,
    /// Vector width.
    pub dim: i64,
    /// Whether the vectors are L2-normalised (scores are then cosines).
    pub normalized: bool,
    /// What a user vector's dot product with a row is multiplied by to give the model's
    /// score (1 / temperature for normalised vectors).
    pub score_scale: f64,
}

/// Writes a retrieval model directory: `model.safetensors`, `features.json`, `tower.json`,
/// `train.toml`, and the item index (`item_index.safetensors` with `vectors`
/// `[items, D]`, one row per item of `features.json`, and `item_index.json`).
pub fn save(
    dir: &Path,
    model: &TwoTower,
    space: &FeatureSpace,
    cfg: &RetrievalRunConfig,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
    polyrec_data::persist::make_private(dir).map_err(|e| Error::file(dir, e))?;
    model.save_weights(&dir.join("model.safetensors"))?;
    crate::io::atomic_write(&dir.join("features.json"), &json_bytes(dir, space)?)?;
    crate::io::atomic_write(&dir.join("tower.json"), &json_bytes(dir, model.shapes())?)?;
    crate::io::atomic_write(&dir.join("train.toml"), cfg.to_toml()?.as_bytes())?;
    export_index(dir, model, space)
}

/// Writes the item index of `model` into `dir`.
pub fn export_index(dir: &Path, model: &TwoTower, space: &FeatureSpace) -> Result<()> {
    let (vectors, scale) = tch::no_grad(|| {
        let raw = model.item_vectors_raw(false);
        let v = model.for_scoring(&raw).narrow(0, 1, raw.size()[0] - 1);
        (
            v.to_kind(Kind::Float).to_device(Device::Cpu).contiguous(),
            model.score_scale().double_value(&[]),
        )
    });
    let path = dir.join("item_index.safetensors");
    crate::io::atomic_safetensors(&path, |tmp| {
        Tensor::write_safetensors(&[("vectors", &vectors)], tmp)
    })?;
    let info = IndexInfo {
        items: space.items.clone(),
        dim: vectors.size()[1],
        normalized: model.config().normalize,
        score_scale: scale,
    };
    crate::io::atomic_write(&dir.join("item_index.json"), &json_bytes(dir, &info)?)
}

/// Writes each user's vector after reading their training and validation history (what
/// the test part is scored with): `user_index.safetensors` (`vectors` `[users, D]`, ready
/// for a dot product with the item index) and `user_index.json` (the raw user ids, one per
/// row). The facade retrieves a known user's candidates from it without running the user
/// tower.
pub fn export_user_vectors(
    dir: &Path,
    model: &TwoTower,
    ds: &Dataset,
    seqs: &data::Sequences,
) -> Result<()> {
    let n = seqs.users() as i64;
    let hist = data::histories(ds, seqs, model.config().history_len, true);
    let users = Tensor::arange_start(1, n + 1, (Kind::Int64, Device::Cpu));
    let (_, vectors) = model.encode(&users, &hist);
    let vectors = vectors
        .to_kind(Kind::Float)
        .to_device(Device::Cpu)
        .contiguous();
    let path = dir.join("user_index.safetensors");
    crate::io::atomic_safetensors(&path, |tmp| {
        Tensor::write_safetensors(&[("vectors", &vectors)], tmp)
    })?;
    let info = IndexInfo {
        items: ds.users.ids.names().to_vec(),
        dim: vectors.size()[1],
        normalized: model.config().normalize,
        score_scale: 1.0,
    };
    crate::io::atomic_write(&dir.join("user_index.json"), &json_bytes(dir, &info)?)
}

fn json_bytes<T: Serialize>(dir: &Path, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::file(dir, e))
}

/// Loads a retrieval model directory onto `device`.
pub fn load(dir: &Path, device: Device) -> Result<(TwoTower, FeatureSpace, RetrievalRunConfig)> {
    let cfg = RetrievalRunConfig::from_toml_file(&dir.join("train.toml"))?;
    let read = |name: &str| -> Result<String> { crate::io::read_text(&dir.join(name)) };
    let space: FeatureSpace = serde_json::from_str(&read("features.json")?)
        .map_err(|e| Error::file(&dir.join("features.json"), e))?;
    let shapes: TowerShapes = serde_json::from_str(&read("tower.json")?)
        .map_err(|e| Error::file(&dir.join("tower.json"), e))?;
    let mut model = TwoTower::new(&cfg.model, shapes, TowerTables::default(), device)?;
    model.load_weights(&dir.join("model.safetensors"))?;
    Ok((model, space, cfg))
}
