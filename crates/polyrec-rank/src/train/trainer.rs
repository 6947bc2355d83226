//! The training loop.
//!
//! Every epoch: the torch generator is re-seeded from `(seed, epoch)` and the batch order
//! is shuffled with a generator seeded the same way, so a CPU run repeats bit for bit and a
//! run resumed from an epoch checkpoint continues exactly as the uninterrupted one would.
//! After each epoch the model is scored on the validation part; the best epoch's weights
//! are kept and training stops after `patience` epochs without improvement.
//!
//! With a [`Collective`] of several ranks ([`FitOptions::collective`]) the loop is
//! data-parallel: rank 0's parameters (and a resumed run's state) are copied to every rank
//! first; every global batch of `batch_size` rows is split into one contiguous shard per
//! rank (the same seeded shuffle on every rank, so the shards are disjoint and together
//! cover the training rows); the gradients are averaged over the ranks before every step;
//! rank 0 alone validates and writes checkpoints, and its decision (score, improvement)
//! reaches every rank, so all ranks stop at the same epoch.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::Tensor;

use super::config::TrainConfig;
use super::data_parallel::{DataParallel, broadcast_tensors};
use super::ema::Ema;
use super::optim::Adam;
use crate::collective::{Collective, SingleProcess};
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
    /// Wall time from the end of the epoch's training to its validation decision: the
    /// evaluation on the rank that runs it (the only one with one process); other ranks
    /// wait this long for its result.
    #[serde(default)]
    pub valid_seconds: f64,
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
    /// Whether [`Observer::parameters`] wants the parameter digest after every step
    /// (costs a copy of the parameters per step; for checking that ranks agree).
    fn wants_parameter_digest(&self) -> bool {
        false
    }
    /// The SHA-256 of every trainable parameter after optimiser step `step` (from 1).
    fn parameters(&mut self, _step: i64, _digest: &str) {}
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

impl RunState {
    /// Where the run stands (what every rank must agree on), as bytes.
    fn progress_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(40);
        b.extend_from_slice(&(self.epochs_done as u64).to_le_bytes());
        b.extend_from_slice(&self.step.to_le_bytes());
        b.extend_from_slice(&(self.best_epoch as u64).to_le_bytes());
        b.extend_from_slice(&self.best_score.to_le_bytes());
        b.extend_from_slice(&(self.bad_epochs as u64).to_le_bytes());
        b
    }

    /// Takes the progress written by [`RunState::progress_bytes`].
    fn set_progress(&mut self, bytes: &[u8]) -> Result<()> {
        let word = |i: usize| -> Result<[u8; 8]> {
            bytes
                .get(8 * i..8 * i + 8)
                .and_then(|w| w.try_into().ok())
                .ok_or_else(|| {
                    Error::Input(format!(
                        "the run state from rank 0 has {} bytes, not 40",
                        bytes.len()
                    ))
                })
        };
        self.epochs_done = u64::from_le_bytes(word(0)?) as usize;
        self.step = i64::from_le_bytes(word(1)?);
        self.best_epoch = u64::from_le_bytes(word(2)?) as usize;
        self.best_score = f64::from_le_bytes(word(3)?);
        self.bad_epochs = u64::from_le_bytes(word(4)?) as usize;
        Ok(())
    }
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
    /// The ranks of a data-parallel job (none: this process alone). Every rank calls
    /// [`fit`] with the same data, configuration and model; only rank 0 writes
    /// checkpoints, and only rank 0's returned history holds validation metrics.
    pub collective: Option<&'a dyn Collective>,
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
    let comm: &dyn Collective = options.collective.unwrap_or(&SingleProcess);
    let (rank, ranks) = (comm.rank(), comm.size());
    let checkpoint = options.checkpoint.filter(|_| comm.is_root());
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
    let mut ema = Ema::new(cfg.ema_decay, &named);
    let params: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
    let mut dp = DataParallel::new(comm, params.iter().map(Tensor::shallow_clone).collect());
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
            if let Some(e) = &mut ema {
                e.load(&dir.join("ema.safetensors"), state.step)?;
            }
            if dir.join("best.safetensors").is_file() {
                let current = model.snapshot();
                model.load_weights(&dir.join("best.safetensors"))?;
                best = Some(model.snapshot());
                model.restore(&current);
            }
        }
    }
    if ranks > 1 {
        // Every rank starts from rank 0's parameters, optimiser moments and run state.
        dp.broadcast_parameters();
        broadcast_tensors(comm, &opt.moments());
        let mut bytes = state.progress_bytes();
        comm.broadcast_bytes(&mut bytes);
        state.set_progress(&bytes)?;
        opt.step = state.step;
        observer.stage(&format!(
            "data-parallel: rank {rank} of {ranks}, {} all-reduce bucket(s) per step",
            dp.bucket_count()
        ));
    }
    let digest = observer.wants_parameter_digest();
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
        // Dropout differs between ranks (rank 0 draws what a single process draws).
        let rank_mix = (rank as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        tch::manual_seed((seed_of(cfg.seed, epoch) ^ rank_mix) as i64);
        let mut order = data.split.train.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed_of(cfg.seed, epoch)));
        let lr = cfg.lr_at(epoch);
        observer.epoch_start(epoch + 1, n_batches);
        let start = Instant::now();
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for (b, global) in order.chunks(cfg.batch_size).enumerate() {
            let chunk = &global[crate::collective::shard_range(global.len(), rank, ranks)];
            let mut l = 0.0;
            if chunk.is_empty() {
                opt.zero_grad();
            } else {
                let idx = row_tensor(chunk);
                let (x, y) = data.rows.batch(&idx, device);
                let mask = data.train_mask.index_select(0, &idx).to_device(device);
                let out = model.forward_t(&x, true);
                let loss = model.loss(&out, &y, &mask, &weights);
                opt.zero_grad();
                loss.backward();
                l = loss.double_value(&[]);
            }
            if ranks > 1 {
                l = dp.average_gradients(chunk.len(), global.len(), l);
            }
            opt.clip_grad_norm(cfg.clip_norm);
            opt.step(lr);
            if let Some(e) = &mut ema {
                e.update();
            }
            if digest {
                observer.parameters(opt.step, &dp.digest());
            }
            if !l.is_finite() {
                return Err(Error::Input(format!(
                    "the training loss became {l} in epoch {} batch {}: lower the learning rate or enable clip_norm",
                    epoch + 1,
                    b + 1
                )));
            }
            loss_sum += l * global.len() as f64;
            seen += global.len();
            observer.batch(
                b + 1,
                l,
                seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
            );
        }
        let train_seconds = start.elapsed().as_secs_f64();
        if ranks > 1 {
            let (secs, steps) = dp.take_timing();
            observer.stage(&format!(
                "epoch {}: gradient averaging {:.2} ms per step ({} floats in {} bucket(s), {rank_rows} of {} rows per step on this rank; flatten, all-reduce and copy back)",
                epoch + 1,
                1e3 * secs / steps.max(1) as f64,
                dp.gradient_floats(),
                dp.bucket_count(),
                cfg.batch_size,
                rank_rows = crate::collective::shard_range(cfg.batch_size, rank, ranks).len(),
            ));
        }
        let valid_start = Instant::now();
        // Validate (and keep, if best) the averaged weights.
        if let Some(e) = &mut ema {
            e.apply();
        }
        let (valid, mut score, mut improved) = if comm.is_root() {
            let valid = evaluate(model, data, ds, Part::Valid, None, cfg.eval_batch_size);
            let score = monitor_score(&valid, model, &cfg.monitor);
            let improved = score > state.best_score || best.is_none();
            (valid, score, improved)
        } else {
            (Value::Null, f64::NAN, false)
        };
        if ranks > 1 {
            (score, improved) = broadcast_decision(comm, score, improved);
        }
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            lr,
            samples_per_sec: seen as f64 / train_seconds.max(1e-9),
            train_seconds,
            valid_seconds: valid_start.elapsed().as_secs_f64(),
            valid_score: score,
            valid,
        };
        observer.epoch_end(&record);
        state.history.push(record);
        if improved {
            state.best_score = score;
            state.best_epoch = epoch + 1;
            state.bad_epochs = 0;
            if comm.is_root() {
                best = Some(model.snapshot());
            }
            if let Some(dir) = checkpoint {
                model.save_weights(&dir.join("best.safetensors"))?;
            }
        } else {
            state.bad_epochs += 1;
        }
        if let Some(e) = &mut ema {
            e.restore();
        }
        state.epochs_done = epoch + 1;
        state.step = opt.step;
        if let Some(dir) = checkpoint {
            model.save_weights(&dir.join("last.safetensors"))?;
            opt.save(&dir.join("optimizer.safetensors"))?;
            if let Some(e) = &ema {
                e.save(&dir.join("ema.safetensors"))?;
            }
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

/// Rank 0's validation score and whether it improved, on every rank.
fn broadcast_decision(comm: &dyn Collective, score: f64, improved: bool) -> (f64, bool) {
    let mut bytes = score.to_le_bytes().to_vec();
    bytes.push(u8::from(improved));
    comm.broadcast_bytes(&mut bytes);
    let score = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(f64::NAN, f64::from_le_bytes);
    (score, bytes.get(8) == Some(&1))
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
