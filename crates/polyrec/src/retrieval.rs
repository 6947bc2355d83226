//! Training a two-tower retrieval model from a dataset spec: ingest, split leave-one-out
//! (optionally holding out a share of items), encode texts through the embedding cache,
//! train, score by full ranking, and write a model directory with the item index.
//!
//! The directory holds `model.safetensors`, `features.json`, `tower.json`, `train.toml`,
//! `metrics.json` (`"topk"`: hit, NDCG, recall, precision and MRR at 10 and 20 on the test
//! part, overall, per scenario and on cold items; `"most_popular"`: the same for the
//! popularity baseline; `"valid_topk"`: the best epoch's validation scores),
//! `history.jsonl` (one line per epoch), the item index (`item_index.safetensors`,
//! `item_index.json`) and every user's vector (`user_index.safetensors`, `user_index.json`).
//!
//! [`Candidates`] reads such a directory for a [`crate::Recommender`]: a known user's
//! nearest items by the learned vectors become ranking candidates
//! ([`crate::LoadOptions::retrieval`]).

use std::path::{Path, PathBuf};

use polyrec_data::Dataset;
use polyrec_rank::DeviceRequest;
use polyrec_rank::evaluate::Part;
use polyrec_rank::prepare::TextInputs;
use polyrec_rank::retrieval::hnsw::{HnswIndex, HnswOptions};
use polyrec_rank::retrieval::{
    self, ItemIndex, RetrievalRunConfig, TwoTower, eval::evaluate_topk, eval::most_popular_topk,
};
use polyrec_rank::train::{Observer, TrainSummary};
use serde_json::{Value, json};

use crate::pipeline::{load_dataset, load_encoder, text_inputs};
use crate::recommend::Error;

/// A retrieval training run.
#[derive(Debug, Clone)]
pub struct RetrievalPipeline {
    /// The dataset spec (TOML).
    pub spec: PathBuf,
    /// The model, trainer, split and cold-item share.
    pub run: RetrievalRunConfig,
    /// Folder of the data files (default: the spec's `data_dir`).
    pub data_dir: Option<PathBuf>,
    /// The sentence-transformers model folder (default: the set-up's all-MiniLM-L6-v2).
    pub text_model: Option<PathBuf>,
    /// Where the model trains.
    pub device: DeviceRequest,
    /// The embedding cache folder (default: `embeddings` in [`crate::home_dir`]).
    pub cache_dir: Option<PathBuf>,
}

/// What [`RetrievalPipeline::run`] returns.
#[derive(Debug)]
pub struct RetrievalTrained {
    /// The content of `metrics.json`.
    pub metrics: Value,
    /// Epochs, best epoch and validation scores (ndcg@10).
    pub summary: TrainSummary,
    /// The model directory written.
    pub dir: PathBuf,
}

impl RetrievalPipeline {
    /// Trains, scores and writes the model directory `out`.
    pub fn run(&self, out: &Path, observer: &mut dyn Observer) -> Result<RetrievalTrained, Error> {
        let mut cfg = self.run.clone();
        let spec_path = std::path::absolute(&self.spec)
            .map_err(|e| Error::Load(format!("{}: {e}", self.spec.display())))?;
        cfg.spec = Some(spec_path.display().to_string());
        cfg.check()?;
        let device = self.device.resolve()?;
        observer.stage(&format!("ingest: {}", self.spec.display()));
        let (spec, ds) = load_dataset(&self.spec, self.data_dir.as_deref())?;
        let text = if cfg.model.text {
            let encoder = load_encoder(self.text_model.as_deref())?;
            let cache_dir = self
                .cache_dir
                .clone()
                .unwrap_or_else(|| crate::home_dir().join("embeddings"));
            observer.stage(&format!("text: {}", encoder.files().dir.display()));
            text_inputs(
                &retrieval::run_config(&cfg),
                &ds,
                &encoder,
                &cache_dir,
                true,
            )?
        } else {
            TextInputs::default()
        };
        let data = retrieval::prepare_retrieval(&ds, Some(&spec), &cfg, text)?;
        tch::manual_seed(cfg.train.seed as i64);
        let mut model = TwoTower::new(&cfg.model, data.shapes.clone(), data.tables, device)?;
        observer.stage(&format!(
            "training two_tower on {} ({} users, {} training interactions, {} cold items; {} parameters; {device:?})",
            ds.name,
            data.seqs.users(),
            data.seqs.interactions(),
            data.seqs.cold_items.len(),
            model.trainable_parameters()
        ));
        let summary = retrieval::train::fit(&mut model, &ds, &data.seqs, &cfg.train, observer)?;
        observer.stage("full-ranking evaluation on the test part");
        let metrics = json!({
            "topk": evaluate_topk(&model, &ds, &data.seqs, Part::Test),
            "most_popular": most_popular_topk(&ds, &data.seqs, Part::Test),
            "valid_topk": summary
                .history
                .get(summary.best_epoch.saturating_sub(1))
                .map(|r| r.valid.clone())
                .unwrap_or(Value::Null),
        });
        retrieval::save(out, &model, &data.space, &cfg)?;
        retrieval::export_user_vectors(out, &model, &ds, &data.seqs)?;
        let write = |name: &str, bytes: &[u8]| -> Result<(), Error> {
            Ok(polyrec_rank::io::atomic_write(&out.join(name), bytes)?)
        };
        let ser = |e: serde_json::Error| Error::Load(format!("serialising: {e}"));
        write(
            "metrics.json",
            serde_json::to_string_pretty(&metrics)
                .map_err(ser)?
                .as_bytes(),
        )?;
        let mut lines = String::new();
        for r in &summary.history {
            lines.push_str(&serde_json::to_string(r).map_err(ser)?);
            lines.push('\n');
        }
        write("history.jsonl", lines.as_bytes())?;
        Ok(RetrievalTrained {
            metrics,
            summary,
            dir: out.to_path_buf(),
        })
    }
}

/// Candidate generation from a trained two-tower model: its item index and user vectors,
/// matched to a recommender's dataset by raw id.
#[derive(Debug)]
pub struct Candidates {
    items: ItemIndex,
    /// Per index row: the dataset's item index (`None`: not in the catalog).
    item_of_row: Vec<Option<u32>>,
    users: ItemIndex,
    /// Per dataset user: the row of `users`.
    row_of_user: Vec<Option<usize>>,
    /// Per dataset item: the row of `items`.
    row_of_item: Vec<Option<usize>>,
    /// The directory, for messages.
    dir: PathBuf,
    /// Approximate search over `items`, when asked for ([`Candidates::use_hnsw`]); shared
    /// by the replicas of a service.
    hnsw: Option<std::sync::Arc<HnswIndex>>,
}

impl Candidates {
    /// Reads the item index and user vectors of a two-tower model directory and matches
    /// their ids to `ds`. Fails when the directory lacks them or shares no item with `ds`.
    pub fn load(dir: &Path, ds: &Dataset) -> Result<Self, Error> {
        let items = ItemIndex::load(dir)?;
        let users = ItemIndex::load_named(dir, "user_index")?;
        if users.info().dim != items.info().dim {
            return Err(Error::Load(format!(
                "{}: user vectors of width {} against item vectors of width {}",
                dir.display(),
                users.info().dim,
                items.info().dim
            )));
        }
        let item_of_row: Vec<Option<u32>> = items
            .info()
            .items
            .iter()
            .map(|id| ds.items.ids.get(id))
            .collect();
        if item_of_row.iter().all(Option::is_none) {
            return Err(Error::Load(format!(
                "{}: none of the index's {} items is in the catalog of `{}`",
                dir.display(),
                items.len(),
                ds.name
            )));
        }
        let mut row_of_item = vec![None; ds.items.ids.len()];
        for (row, i) in item_of_row.iter().enumerate() {
            if let Some(i) = i {
                row_of_item[*i as usize] = Some(row);
            }
        }
        let mut row_of_user = vec![None; ds.users.ids.len()];
        for (row, id) in users.info().items.iter().enumerate() {
            if let Some(u) = ds.users.ids.get(id) {
                row_of_user[u as usize] = Some(row);
            }
        }
        Ok(Self {
            items,
            item_of_row,
            users,
            row_of_user,
            row_of_item,
            dir: dir.to_path_buf(),
            hnsw: None,
        })
    }

    /// Searches the item vectors through an HNSW graph instead of exactly (for catalogs that
    /// outgrow exact search): [`Candidates::for_user`] then returns at most
    /// `options.ef_search` items, the ones the graph finds.
    pub fn use_hnsw(&mut self, options: HnswOptions) -> Result<(), Error> {
        self.hnsw = Some(std::sync::Arc::new(HnswIndex::build(&self.items, options)?));
        Ok(())
    }

    /// Uses `other`'s HNSW graph when this one has none and both read the same model
    /// directory (the replicas of a service build it once).
    pub(crate) fn share_hnsw(&mut self, other: &Candidates) {
        if self.hnsw.is_none() && self.dir == other.dir && self.items.len() == other.items.len() {
            self.hnsw = other.hnsw.clone();
        }
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the model has a vector for dataset user `user`.
    pub fn knows(&self, user: u32) -> bool {
        self.row_of_user
            .get(user as usize)
            .is_some_and(Option::is_some)
    }

    /// The model's scores (logits) of a known user for dataset items `items`, `None` for a
    /// user the model has no vector for. An item outside the index (a catalog item added
    /// after training) gets the lowest score of the others.
    pub fn scores(&self, user: u32, items: &[usize]) -> Option<Vec<f32>> {
        let q = self
            .row_of_user
            .get(user as usize)
            .copied()
            .flatten()
            .and_then(|r| self.users.vector(r))?;
        let raw: Vec<Option<f32>> = items
            .iter()
            .map(|&i| {
                let v = self
                    .items
                    .vector(self.row_of_item.get(i).copied().flatten()?)?;
                Some(v.iter().zip(q).map(|(a, b)| a * b).sum())
            })
            .collect();
        let low = raw.iter().flatten().copied().fold(f32::INFINITY, f32::min);
        let low = if low.is_finite() { low } else { 0.0 };
        Some(raw.into_iter().map(|s| s.unwrap_or(low)).collect())
    }

    /// A known user's `n` best items by the learned vectors, best first, skipping the items
    /// `skip` says to (dataset indices): `(item, score)`. Empty for a user the model has no
    /// vector for.
    pub fn for_user(&self, user: u32, n: usize, skip: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
        let Some(q) = self
            .row_of_user
            .get(user as usize)
            .copied()
            .flatten()
            .and_then(|r| self.users.vector(r))
        else {
            return Vec::new();
        };
        let exclude: std::collections::HashSet<usize> = self
            .item_of_row
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_none_or(&skip))
            .map(|(r, _)| r)
            .collect();
        match &self.hnsw {
            Some(h) => h.search(&self.items, q, n, &exclude),
            None => self.items.search(q, n, &exclude),
        }
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(r, s)| Some((self.item_of_row[r]?, s)))
        .collect()
    }
}
