//! A model directory, as `polyrec train` writes it and `polyrec eval` reads it:
//!
//! | file | what |
//! |---|---|
//! | `model.safetensors` | the best epoch's parameters (names follow the module tree) |
//! | `features.json` | the [`FeatureSpace`]: vocabularies, statistics, tasks |
//! | `train.toml` | the fully resolved [`RunConfig`], enough to re-run |
//! | `metrics.json` | test metrics per scenario x task |
//! | `history.jsonl` | one line per epoch |
//! | `curves.svg` | training loss and validation metrics per epoch |
//! | `scenarios.svg` | each task's headline test metric per scenario |
//! | `report.md` | a readable summary |
//! | `checkpoint/` | the last epoch's weights and optimiser state, for resuming |
//!
//! Every file is written atomically (temporary file, then rename).

use std::path::Path;

use tch::Device;

use crate::features::FeatureSpace;
use crate::input_layer::SideTables;
use crate::ranker::Ranker;
use crate::train::config::RunConfig;
use crate::{Error, Result};

/// Writes the model's parameters, feature space and resolved config into `dir`.
pub fn save(dir: &Path, model: &Ranker, config: &RunConfig) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
    model.save_weights(&dir.join("model.safetensors"))?;
    let space = serde_json::to_vec_pretty(model.space()).map_err(|e| Error::file(dir, e))?;
    crate::io::atomic_write(&dir.join("features.json"), &space)?;
    crate::io::atomic_write(&dir.join("train.toml"), config.to_toml()?.as_bytes())?;
    // A model holds per-user embeddings learned from their data: owner-only.
    polyrec_data::persist::make_private(dir).map_err(|e| Error::file(dir, e))?;
    Ok(())
}

/// Loads a model directory onto `device`.
pub fn load(dir: &Path, device: Device) -> Result<(Ranker, RunConfig)> {
    let tpath = dir.join("train.toml");
    let raw: toml::Value =
        toml::from_str(&crate::io::read_text(&tpath)?).map_err(|e| Error::file(&tpath, e))?;
    // A directory written before ensembles existed holds one model and no `ensemble` key
    // (whose default is now larger than one).
    let old = raw.get("train").and_then(|t| t.get("ensemble")).is_none();
    let mut config: RunConfig = raw.try_into().map_err(|e| Error::file(&tpath, e))?;
    if old {
        config.train.ensemble = 1;
    }
    let fpath = dir.join("features.json");
    let space: FeatureSpace =
        serde_json::from_str(&crate::io::read_text(&fpath)?).map_err(|e| Error::file(&fpath, e))?;
    let mut model = Ranker::ensemble(
        space,
        config.model.clone(),
        SideTables::default(),
        device,
        config.train.uncertainty,
        config.train.ensemble,
    )?;
    model.load_weights(&dir.join("model.safetensors"))?;
    Ok((model, config))
}
