//! The two-tower configuration (`[model]` of a retrieval run, `kind = "two_tower"`) and the
//! run configuration around it (`train.toml` of a retrieval model directory).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::train::config::{SplitConfig, TrainConfig};
use crate::{Error, Result};

/// How the user tower reads the user's ordered recent items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryEncoder {
    /// No history.
    None,
    /// The mean of the item vectors (order-blind).
    Mean,
    /// Causal self-attention over the item vectors with position embeddings (SASRec-style):
    /// the user vector after each item reads only that item and the ones before it.
    Attention,
}

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetrievalLoss {
    /// Softmax over every item of the catalog (exact; affordable for small catalogs).
    Softmax,
    /// Sampled softmax: the other positives of the batch are the negatives, their logits
    /// corrected by the log of their sampling probability (logQ, from training popularity),
    /// plus `extra_negatives` uniformly sampled items.
    SampledSoftmax,
    /// Bayesian personalised ranking against one uniformly sampled item per positive.
    Bpr,
}

/// A two-tower retrieval model: which input families each tower reads, the sequence
/// encoder, the scoring and the loss. Every family is switchable, so its share of the
/// quality can be measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwoTowerConfig {
    /// Always `two_tower` (marks the `[model]` table of a retrieval run).
    pub kind: String,
    /// Width of the field vectors and of both towers' outputs.
    pub dim: i64,
    /// User and item id embeddings (an item without training rows gets a zero id vector).
    pub ids: bool,
    /// Categorical and numeric attributes of users and items.
    pub attributes: bool,
    /// The item's and the user's text embedding from the language model (when the data
    /// have texts), through a learned projection.
    pub text: bool,
    /// The item's knowledge-graph neighbourhood: attention over sampled 1- and 2-hop
    /// neighbours (KGCN-style, with a learned query since the item tower sees no user).
    pub kg: bool,
    /// Neighbours sampled per node per hop.
    pub kg_neighbours: usize,
    /// The user's ordered recent items.
    pub history: HistoryEncoder,
    /// At most this many recent items.
    pub history_len: usize,
    /// Self-attention blocks (`history = "attention"`).
    pub layers: usize,
    /// Attention heads (must divide `dim`).
    pub heads: i64,
    /// Dropout in the towers while training, in `[0, 1)`.
    pub dropout: f64,
    /// While training, each item's id vector is dropped with this probability, so the
    /// attributes, text and graph learn to stand for it (cold items have no id vector).
    pub id_dropout: f64,
    /// L2-normalise both towers' outputs (scores are cosines divided by the temperature);
    /// without it scores are plain dot products.
    pub normalize: bool,
    /// Softmax temperature of normalised scores.
    pub temperature: f64,
    /// Learn the temperature (starting from `temperature`).
    pub learn_temperature: bool,
    /// The loss.
    pub loss: RetrievalLoss,
    /// Uniformly sampled negatives per batch added to the in-batch ones (sampled softmax).
    pub extra_negatives: usize,
    /// Subtract the log sampling probability from in-batch negatives' logits.
    pub logq: bool,
}

impl Default for TwoTowerConfig {
    fn default() -> Self {
        Self {
            kind: "two_tower".into(),
            dim: 64,
            ids: true,
            attributes: true,
            text: true,
            kg: true,
            kg_neighbours: 8,
            history: HistoryEncoder::Attention,
            history_len: 50,
            layers: 2,
            heads: 2,
            dropout: 0.2,
            id_dropout: 0.1,
            normalize: true,
            temperature: 0.1,
            learn_temperature: false,
            loss: RetrievalLoss::Softmax,
            extra_negatives: 0,
            logq: true,
        }
    }
}

impl TwoTowerConfig {
    /// Checks the values once, at the edge.
    pub fn check(&self) -> Result<()> {
        let bad = |field, value: String, reason| {
            Err(Error::Config {
                field,
                value,
                reason,
            })
        };
        if self.kind != "two_tower" {
            return bad(
                "kind",
                self.kind.clone(),
                "a retrieval model is `two_tower`",
            );
        }
        if !(1..=4096).contains(&self.dim) {
            return bad("dim", self.dim.to_string(), "must be in 1..=4096");
        }
        if !(1..=256).contains(&self.kg_neighbours) {
            return bad(
                "kg_neighbours",
                self.kg_neighbours.to_string(),
                "must be in 1..=256",
            );
        }
        if !(2..=4096).contains(&self.history_len) {
            return bad(
                "history_len",
                self.history_len.to_string(),
                "must be in 2..=4096",
            );
        }
        if self.layers > 16 {
            return bad("layers", self.layers.to_string(), "must be in 0..=16");
        }
        if self.heads < 1 || self.dim % self.heads != 0 {
            return bad("heads", self.heads.to_string(), "must divide dim");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", self.dropout.to_string(), "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.id_dropout) {
            return bad(
                "id_dropout",
                self.id_dropout.to_string(),
                "must be in [0, 1)",
            );
        }
        if !(self.temperature > 1e-4 && self.temperature <= 100.0) {
            return bad(
                "temperature",
                self.temperature.to_string(),
                "must be in (0.0001, 100]",
            );
        }
        if self.extra_negatives > 1 << 20 {
            return bad(
                "extra_negatives",
                self.extra_negatives.to_string(),
                "must be at most 1048576",
            );
        }
        if !(self.ids || self.attributes || self.text || self.kg) {
            return bad(
                "ids",
                "false".into(),
                "the item tower needs at least one of ids, attributes, text, kg",
            );
        }
        Ok(())
    }
}

/// Everything a retrieval run needs besides the data (`train.toml` of its model directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalRunConfig {
    /// The dataset spec this model was trained on (recorded by `polyrec train`).
    pub spec: Option<String>,
    /// The model.
    pub model: TwoTowerConfig,
    /// The trainer: `lr`, `weight_decay`, `batch_size` (sequence windows per batch),
    /// `epochs`, `patience` (on validation ndcg@10), `clip_norm`, `seed`, `optimizer`,
    /// `schedule`; the ranking-only keys are ignored.
    pub train: TrainConfig,
    /// The split; top-K protocols use `leave_one_out`.
    pub split: SplitConfig,
    /// Item cold start: this seeded share of items loses every training and validation
    /// row; the test users whose test item is one of them are scored apart (`cold_items`).
    pub cold_items: f64,
}

impl Default for RetrievalRunConfig {
    fn default() -> Self {
        Self {
            spec: None,
            model: TwoTowerConfig::default(),
            train: TrainConfig {
                lr: 2e-3,
                batch_size: 64,
                epochs: 30,
                patience: 3,
                ..TrainConfig::default()
            },
            split: SplitConfig::LeaveOneOut,
            cold_items: 0.0,
        }
    }
}

impl RetrievalRunConfig {
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
        self.model.check()?;
        self.train.check()?;
        if !(0.0..0.9).contains(&self.cold_items) {
            return Err(Error::Config {
                field: "cold_items",
                value: self.cold_items.to_string(),
                reason: "must be in [0, 0.9)",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_values() {
        let c = RetrievalRunConfig::default();
        assert!(c.check().is_ok());
        let text = c.to_toml().unwrap_or_default();
        let back: RetrievalRunConfig = toml::from_str(&text).unwrap_or_default();
        assert_eq!(back, c);
        assert!(toml::from_str::<RetrievalRunConfig>("[model]\nwidth = 3\n").is_err());
        let odd = TwoTowerConfig {
            heads: 3,
            ..Default::default()
        };
        assert!(odd.check().is_err());
        let empty = TwoTowerConfig {
            ids: false,
            attributes: false,
            text: false,
            kg: false,
            ..Default::default()
        };
        assert!(empty.check().is_err());
    }
}
