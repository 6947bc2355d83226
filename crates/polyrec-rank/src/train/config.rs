//! The run configuration (`train.toml`): model, features, split and trainer settings. A
//! model directory keeps the fully resolved one, enough to re-run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::features::FeatureConfig;
use crate::models::ModelConfig;
use crate::{Error, Result};

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam; `weight_decay` is an L2 term added to the gradient.
    Adam,
    /// AdamW; `weight_decay` shrinks the weights directly (decoupled).
    Adamw,
}

/// The learning-rate schedule over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Cosine decay from `lr` to `lr * min_factor` over the epochs.
    Cosine,
    /// Multiply by `gamma` every epoch.
    Exponential,
}

/// Trainer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Weight decay (see [`OptimizerKind`]).
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Final factor of the cosine schedule.
    pub min_factor: f64,
    /// Per-epoch factor of the exponential schedule.
    pub gamma: f64,
    /// Rows per training batch.
    pub batch_size: usize,
    /// Rows per evaluation batch.
    pub eval_batch_size: usize,
    /// Maximum epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a better validation score (0: never stop early).
    pub patience: usize,
    /// Clip the global gradient norm to this value (0: no clipping).
    pub clip_norm: f64,
    /// Seed of every random choice: initialisation, batch order, dropout, user hold-out.
    pub seed: u64,
    /// Loss weight per task name (default 1).
    pub task_weights: BTreeMap<String, f64>,
    /// Learn one uncertainty per task that weighs its loss.
    pub uncertainty: bool,
    /// Weight of each task in the validation score that selects the best epoch: the score
    /// is the weighted mean of AUC (binary), accuracy (multiclass) and `-RMSE / std`
    /// (regression, `std` of the training labels). A task not listed weighs its number of
    /// validation examples over the largest task's (1 for tasks scored on every row; about
    /// 0.01 for a user profile scored on 95 users next to 10,000 rows).
    pub monitor: BTreeMap<String, f64>,
    /// Learning rate of the language model's fine-tuned layers
    /// (`features.finetune_layers > 0`), usually far below `lr`.
    pub finetune_lr: f64,
    /// Decay of an exponential moving average of the trainable parameters, updated after
    /// every step (0: off). Validation, the best checkpoint and the trained model use the
    /// averaged weights; training continues from the live ones. 0.999 averages over about
    /// the last 1,000 steps. Ranking models only: the two-tower trainer does not average.
    pub ema_decay: f64,
    /// Train this many independently initialised copies of the model side by side, each
    /// on its own loss over the same batches, and predict with the mean of their outputs
    /// (a deep ensemble; 1: a single model). Costs this many times the training and
    /// prediction time and parameters; the fixed text and graph tables are shared. A run
    /// that fine-tunes the language model trains one model.
    pub ensemble: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            min_factor: 0.1,
            gamma: 0.8,
            batch_size: 256,
            eval_batch_size: 8192,
            epochs: 10,
            patience: 2,
            clip_norm: 0.0,
            seed: 2024,
            task_weights: BTreeMap::new(),
            uncertainty: false,
            monitor: BTreeMap::new(),
            finetune_lr: 5e-5,
            ema_decay: 0.999,
            ensemble: 3,
        }
    }
}

impl TrainConfig {
    /// Checks the values once, at the edge.
    pub fn check(&self) -> Result<()> {
        let bad = |field, value: String, reason| {
            Err(Error::Config {
                field,
                value,
                reason,
            })
        };
        if !(self.lr > 0.0 && self.lr < 10.0) {
            return bad("lr", self.lr.to_string(), "must be in (0, 10)");
        }
        if !(self.finetune_lr > 0.0 && self.finetune_lr < 10.0) {
            return bad(
                "finetune_lr",
                self.finetune_lr.to_string(),
                "must be in (0, 10)",
            );
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad(
                "ema_decay",
                self.ema_decay.to_string(),
                "must be in [0, 1) (0 turns averaging off)",
            );
        }
        if !(1..=64).contains(&self.ensemble) {
            return bad(
                "ensemble",
                self.ensemble.to_string(),
                "must be in 1..=64 (1: a single model)",
            );
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "must be >= 0",
            );
        }
        if !(1..=1 << 20).contains(&self.batch_size) {
            return bad(
                "batch_size",
                self.batch_size.to_string(),
                "must be in 1..=1048576",
            );
        }
        if !(1..=1 << 22).contains(&self.eval_batch_size) {
            return bad(
                "eval_batch_size",
                self.eval_batch_size.to_string(),
                "must be in 1..=4194304",
            );
        }
        if !(1..=10_000).contains(&self.epochs) {
            return bad("epochs", self.epochs.to_string(), "must be in 1..=10000");
        }
        if !(self.clip_norm >= 0.0 && self.clip_norm.is_finite()) {
            return bad("clip_norm", self.clip_norm.to_string(), "must be >= 0");
        }
        if !(self.min_factor > 0.0 && self.min_factor <= 1.0) {
            return bad(
                "min_factor",
                self.min_factor.to_string(),
                "must be in (0, 1]",
            );
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return bad("gamma", self.gamma.to_string(), "must be in (0, 1]");
        }
        for (k, w) in self.task_weights.iter().chain(&self.monitor) {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::Input(format!(
                    "task weight of `{k}` is {w}: weights must be finite and >= 0"
                )));
            }
        }
        Ok(())
    }

    /// The learning rate of an epoch (0-based).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Exponential => self.lr * self.gamma.powi(epoch as i32),
            Schedule::Cosine => {
                let t = epoch as f64 / (self.epochs.max(2) - 1) as f64;
                let f = self.min_factor
                    + (1.0 - self.min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
                self.lr * f
            }
        }
    }
}

/// How rows are split into train, validation and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitConfig {
    /// Random rows, stratified by scenario, seeded.
    Random {
        /// Validation share.
        valid: f64,
        /// Test share.
        test: f64,
    },
    /// The oldest rows train, the newest test.
    Temporal {
        /// Validation share.
        valid: f64,
        /// Test share.
        test: f64,
    },
    /// A seeded share of items held out with all their rows (test).
    ColdItems {
        /// Share of items held out.
        share: f64,
        /// Validation share: of the items (held out like the test ones) when `cold_valid`,
        /// else of the remaining rows.
        valid: f64,
        /// Whether validation holds out items too, so that the epoch is chosen on unseen
        /// items (the default), or is a random share of the warm rows.
        #[serde(default = "yes")]
        cold_valid: bool,
    },
    /// A seeded share of users held out with all their rows (test).
    ColdUsers {
        /// Share of users held out.
        share: f64,
        /// Validation share: of the users (held out like the test ones) when `cold_valid`,
        /// else of the remaining rows.
        valid: f64,
        /// Whether validation holds out users too, so that the epoch is chosen on unseen
        /// users (the default), or is a random share of the warm rows.
        #[serde(default = "yes")]
        cold_valid: bool,
    },
    /// Leave-one-out by time, per user: the latest interaction tests, the one before
    /// validates, ties by file order (users with fewer than 3 rows only train).
    LeaveOneOut,
    /// One word (`train`, `valid`, `test`) per data row of the interaction file, in order.
    File {
        /// The split file.
        path: String,
    },
}

fn yes() -> bool {
    true
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self::Random {
            valid: 0.1,
            test: 0.1,
        }
    }
}

impl SplitConfig {
    /// Parses the command-line form: `random`, `temporal`, `cold-items`, `cold-users`,
    /// `loo` (leave-one-out by time) or `file:PATH`.
    pub fn parse_cli(s: &str) -> Result<Self> {
        Ok(match s {
            "random" => Self::default(),
            "temporal" => Self::Temporal {
                valid: 0.1,
                test: 0.1,
            },
            "cold-items" => Self::ColdItems {
                share: 0.1,
                valid: 0.1,
                cold_valid: true,
            },
            "cold-users" => Self::ColdUsers {
                share: 0.1,
                valid: 0.1,
                cold_valid: true,
            },
            "loo" | "leave-one-out" => Self::LeaveOneOut,
            other => match other.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Self::File {
                    path: p.to_string(),
                },
                _ => {
                    return Err(Error::Input(format!(
                        "split `{s}`: expected random, temporal, cold-items, cold-users, loo or file:PATH"
                    )));
                }
            },
        })
    }
}

/// Everything a training run needs besides the data: `train.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// The dataset spec this model was trained on (recorded by `polyrec train`).
    pub spec: Option<String>,
    /// Only these tasks (all when absent): a single task makes a single-task model.
    pub tasks: Option<Vec<String>>,
    /// Share of users whose user-level labels (a profile such as gender) are hidden from
    /// training; half of them validate, half test.
    pub user_holdout: Option<f64>,
    /// The architecture.
    pub model: ModelConfig,
    /// The inputs.
    pub features: FeatureConfig,
    /// The trainer.
    pub train: TrainConfig,
    /// The split.
    pub split: SplitConfig,
}

impl RunConfig {
    /// Reads a TOML file (unknown keys are errors).
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = crate::io::read_text(path)?;
        toml::from_str(&text).map_err(|e| Error::file(path, e))
    }

    /// The TOML text of the resolved configuration.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Input(format!("config to TOML: {e}")))
    }

    /// Checks every part.
    pub fn check(&self) -> Result<()> {
        self.features.check()?;
        self.train.check()?;
        if let Some(h) = self.user_holdout
            && !(h > 0.0 && h < 1.0)
        {
            return Err(Error::Config {
                field: "user_holdout",
                value: h.to_string(),
                reason: "must be in (0, 1)",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_round_trip_and_reject_unknown_keys() {
        let c = RunConfig::default();
        let text = c.to_toml().ok().unwrap_or_default();
        let back: RunConfig = toml::from_str(&text).unwrap_or_default();
        assert_eq!(back, c);
        assert!(toml::from_str::<RunConfig>("[train]\nlearning_rate = 1.0\n").is_err());
        let m: RunConfig =
            toml::from_str("[model]\nkind = \"mmoe\"\nexperts = 3\n").unwrap_or_default();
        assert!(matches!(m.model, ModelConfig::Mmoe(ref x) if x.experts == 3));
        // The ensemble size: 3 by default, 1..=64 accepted.
        assert_eq!(c.train.ensemble, 3);
        for (k, ok) in [(0, false), (1, true), (64, true), (65, false)] {
            let t = TrainConfig {
                ensemble: k,
                ..Default::default()
            };
            assert_eq!(t.check().is_ok(), ok, "ensemble = {k}");
        }
        assert!(SplitConfig::parse_cli("file:x.txt").is_ok());
        assert!(SplitConfig::parse_cli("nope").is_err());
        assert_eq!(
            SplitConfig::parse_cli("loo").ok(),
            Some(SplitConfig::LeaveOneOut)
        );
    }

    #[test]
    fn schedules() {
        let mut t = TrainConfig {
            epochs: 5,
            ..Default::default()
        };
        assert_eq!(t.lr_at(3), t.lr);
        t.schedule = Schedule::Cosine;
        assert!((t.lr_at(0) - t.lr).abs() < 1e-12);
        assert!((t.lr_at(4) - t.lr * t.min_factor).abs() < 1e-12);
    }
}
