//! Single-task baselines: logistic / linear regression and an MLP per task.

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, Module};

use super::{Architecture, NetInput, towers};
use crate::Result;
use crate::tower::{Mlp, MlpConfig, forward_same_input};

/// One linear head per task over the flattened fields: logistic regression for a binary
/// task, linear regression for a regression task (the field embeddings make it a
/// factorised one-hot model).
#[derive(Debug)]
pub struct Linear {
    heads: Vec<nn::Linear>,
}

impl Linear {
    /// Builds one head per output width.
    pub fn new(p: &nn::Path<'_>, in_dim: i64, widths: &[i64]) -> Self {
        let heads = widths
            .iter()
            .enumerate()
            .map(|(t, &w)| nn::linear(p / "head" / t, in_dim, w, Default::default()))
            .collect();
        Self { heads }
    }
}

impl Architecture for Linear {
    fn forward(&self, x: &NetInput<'_>, _train: bool) -> Vec<Tensor> {
        let flat = x.flat();
        self.heads.iter().map(|h| h.forward(&flat)).collect()
    }
}

/// Configuration of [`MlpModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpModelConfig {
    /// Each task's MLP (the output layer is added).
    pub mlp: MlpConfig,
}

impl Default for MlpModelConfig {
    fn default() -> Self {
        Self {
            mlp: MlpConfig::widths(&[128, 64, 32]),
        }
    }
}

/// One MLP per task.
#[derive(Debug)]
pub struct MlpModel {
    towers: Vec<Mlp>,
}

impl MlpModel {
    /// Builds one MLP per output width.
    pub fn new(p: &nn::Path<'_>, in_dim: i64, widths: &[i64], c: &MlpModelConfig) -> Result<Self> {
        Ok(Self {
            towers: towers(p, in_dim, widths, &c.mlp)?,
        })
    }
}

impl Architecture for MlpModel {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let towers: Vec<&Mlp> = self.towers.iter().collect();
        forward_same_input(&towers, &x.flat(), train, false)
    }
}
