//! The training loop.
//!
//! Every epoch: the torch generator is re-seeded from `(seed, epoch)` and the batch order
//! is shuffled with a generator seeded the same way, so a CPU run repeats bit for bit and a
//! run resumed from an epoch checkpoint continues exactly as the uninterrupted one would.
//! After each epoch the model is scored on the validation part; the best epoch's weights
//! are kept and training stops after `patience` epochs without improvement.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::Tensor;

use super::config::TrainConfig;
use super::optim::Adam;
use crate::evaluate::{Part, evaluate, monitor_score};
use crate::features::row_tensor;
use crate::prepare::Prepared;
use crate::ranker::Ranker;
use crate::{Error, Result};
use polyrec_data::Dataset;

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Training rows per second (forward, backward and update).
    pub samples_per_sec: f64,
    /// Wall time of the training part of the epoch.
    pub train_seconds: f64,
    /// The validation score that selects the best epoch.
    pub valid_score: f64,
    /// Validation metrics per scenario x task.
    pub valid: Value,
}

/// Progress callbacks (the CLI draws bars; tests stay silent).
pub trait Observer {
    /// A stage of a longer run starts or reports (one line, e.g. `training mmoe on ...`).
    fn stage(&mut self, _line: &str) {}
    /// An epoch starts with this many batches.
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    /// A batch finished; `loss` is its training loss.
    fn batch(&mut self, _done: usize, _loss: f64, _samples_per_sec: f64) {}
    /// An epoch finished.
    fn epoch_end(&mut self, _record: &EpochRecord) {}
}

/// An observer that shows nothing.
#[derive(Debug, Default)]
pub struct SilentObserver;
impl Observer for SilentObserver {}

/// The outcome of [`fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Every epoch, in order.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights the model holds now (from 1).
    pub best_epoch: usize,
    /// Its validation score.
    pub best_score: f64,
    /// Whether the run stopped before `epochs`.
    pub stopped_early: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    config: String,
    epochs_done: usize,
    step: i64,
    best_epoch: usize,
    best_score: f64,
    bad_epochs: usize,
    history: Vec<EpochRecord>,
}

fn seed_of(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Where a run keeps its checkpoints, and how far one call goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct FitOptions<'a> {
    /// With a folder, every epoch leaves the weights, the optimiser state and the run state
    /// there (atomically), and a run that finds them resumes after the last finished epoch.
    pub checkpoint: Option<&'a Path>,
    /// Stop this call after this many epochs (the checkpoint lets a later call go on).
    pub stop_after: Option<usize>,
    /// What else identifies the run besides the trainer settings (the model, features and
    /// split): a checkpoint of a run with another key is not resumed but refused.
    pub run_key: Option<&'a str>,
}

/// Trains `model` on `data` with `cfg`. On return the model holds the best epoch's weights.
pub fn fit(
    model: &mut Ranker,
    data: &Prepared,
    ds: &Dataset,
    cfg: &TrainConfig,
    options: FitOptions<'_>,
    observer: &mut dyn Observer,
) -> Result<TrainSummary> {
    let checkpoint = options.checkpoint;
    cfg.check()?;
    if data.split.train.is_empty() {
        return Err(Error::Input("the split has no training rows".into()));
    }
    let weights: Vec<f64> = model
        .heads()
        .iter()
        .map(|h| cfg.task_weights.get(&h.name).copied().unwrap_or(1.0))
        .collect();
    // Parameters in name order; the language model's fine-tuned layers get their own
    // learning rate.
    let mut named: Vec<(String, Tensor)> = model
        .var_store()
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let scales = named
        .iter()
        .map(|(n, _)| {
            if n.starts_with(crate::ranker::TEXT_ENCODER_PREFIX) {
                cfg.finetune_lr / cfg.lr
            } else {
                1.0
            }
        })
        .collect();
    let params = named.into_iter().map(|(_, t)| t).collect();
    let mut opt = Adam::new(params, cfg.optimizer, cfg.weight_decay).with_scales(scales);
    let config_key = format!(
        "{}\n{}",
        serde_json::to_string(cfg).unwrap_or_default(),
        options.run_key.unwrap_or_default()
    );
    let mut state = RunState {
        config: config_key.clone(),
        epochs_done: 0,
        step: 0,
        best_epoch: 0,
        best_score: f64::NEG_INFINITY,
        bad_epochs: 0,
        history: Vec::new(),
    };
    let mut best: Option<Vec<(String, Tensor)>> = None;
    if let Some(dir) = checkpoint {
        std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        polyrec_data::persist::make_private(dir).map_err(|e| Error::file(dir, e))?;
        if let Some(s) = resume(model, &mut opt, dir, &config_key)? {
            state = s;
            if dir.join("best.safetensors").is_file() {
                let current = model.snapshot();
                model.load_weights(&dir.join("best.safetensors"))?;
                best = Some(model.snapshot());
                model.restore(&current);
            }
        }
    }
    let device = model.device();
    let n_batches = data.split.train.len().div_ceil(cfg.batch_size);
    let mut stopped_early = false;
    let first = state.epochs_done;
    for epoch in first..cfg.epochs {
        if options.stop_after.is_some_and(|n| epoch - first >= n) {
            break;
        }
        if cfg.patience > 0 && state.bad_epochs >= cfg.patience {
            stopped_early = true;
            break;
        }
        tch::manual_seed(seed_of(cfg.seed, epoch) as i64);
        let mut order = data.split.train.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed_of(cfg.seed, epoch)));
        let lr = cfg.lr_at(epoch);
        observer.epoch_start(epoch + 1, n_batches);
        let start = Instant::now();
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let idx = row_tensor(chunk);
            let (x, y) = data.rows.batch(&idx, device);
            let mask = data.train_mask.index_select(0, &idx).to_device(device);
            let out = model.forward_t(&x, true);
            let loss = model.loss(&out, &y, &mask, &weights);
            opt.zero_grad();
            loss.backward();
            opt.clip_grad_norm(cfg.clip_norm);
            opt.step(lr);
            let l = loss.double_value(&[]);
            if !l.is_finite() {
                return Err(Error::Input(format!(
                    "the training loss became {l} in epoch {} batch {}: lower the learning rate or enable clip_norm",
                    epoch + 1,
                    b + 1
                )));
            }
            loss_sum += l * chunk.len() as f64;
            seen += chunk.len();
            observer.batch(
                b + 1,
                l,
                seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
            );
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let valid = evaluate(model, data, ds, Part::Valid, None, cfg.eval_batch_size);
        let score = monitor_score(&valid, model, &cfg.monitor);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            lr,
            samples_per_sec: seen as f64 / train_seconds.max(1e-9),
            train_seconds,
            valid_score: score,
            valid,
        };
        observer.epoch_end(&record);
        state.history.push(record);
        if score > state.best_score || best.is_none() {
            state.best_score = score;
            state.best_epoch = epoch + 1;
            state.bad_epochs = 0;
            best = Some(model.snapshot());
            if let Some(dir) = checkpoint {
                model.save_weights(&dir.join("best.safetensors"))?;
            }
        } else {
            state.bad_epochs += 1;
        }
        state.epochs_done = epoch + 1;
        state.step = opt.step;
        if let Some(dir) = checkpoint {
            model.save_weights(&dir.join("last.safetensors"))?;
            opt.save(&dir.join("optimizer.safetensors"))?;
            let json = serde_json::to_vec_pretty(&state).map_err(|e| Error::file(dir, e))?;
            crate::io::atomic_write(&dir.join("state.json"), &json)?;
        }
    }
    if cfg.patience > 0 && state.bad_epochs >= cfg.patience && state.epochs_done < cfg.epochs {
        stopped_early = true;
    }
    if let Some(b) = &best {
        model.restore(b);
    }
    Ok(TrainSummary {
        history: state.history,
        best_epoch: state.best_epoch,
        best_score: state.best_score,
        stopped_early,
    })
}

fn resume(
    model: &mut Ranker,
    opt: &mut Adam,
    dir: &Path,
    config_key: &str,
) -> Result<Option<RunState>> {
    let state_path = dir.join("state.json");
    if !state_path.is_file() {
        return Ok(None);
    }
    let text = crate::io::read_text(&state_path)?;
    let state: RunState = serde_json::from_str(&text).map_err(|e| Error::file(&state_path, e))?;
    if state.config != config_key {
        return Err(Error::file(
            &state_path,
            "this checkpoint belongs to a run with other settings (model, features, split or trainer); use a new output folder or remove its checkpoint folder",
        ));
    }
    model.load_weights(&dir.join("last.safetensors"))?;
    opt.load(&dir.join("optimizer.safetensors"), state.step)?;
    Ok(Some(state))
}
