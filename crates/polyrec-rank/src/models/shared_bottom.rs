//! Shared-Bottom: one MLP shared by every task, one tower per task on top.

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use super::{Architecture, NetInput, towers};
use crate::Result;
use crate::tower::{Mlp, MlpConfig, forward_same_input};

/// Configuration of a [`SharedBottom`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedBottomConfig {
    /// The shared bottom MLP.
    pub bottom: MlpConfig,
    /// Each task's tower (hidden layers; the output layer is added).
    pub tower: MlpConfig,
}

impl Default for SharedBottomConfig {
    fn default() -> Self {
        Self {
            bottom: MlpConfig::widths(&[128, 64]),
            tower: MlpConfig::widths(&[32]),
        }
    }
}

/// A Shared-Bottom multi-task model: parameters `bottom.*`, `tower.<t>.*`.
#[derive(Debug)]
pub struct SharedBottom {
    bottom: Mlp,
    towers: Vec<Mlp>,
}

impl SharedBottom {
    /// Builds the model for inputs of width `in_dim` and one output per width.
    pub fn new(
        p: &nn::Path<'_>,
        in_dim: i64,
        widths: &[i64],
        c: &SharedBottomConfig,
    ) -> Result<Self> {
        c.bottom.check()?;
        let bottom = Mlp::new(&(p / "bottom"), in_dim, &c.bottom, None);
        let towers = towers(p, bottom.out_dim(), widths, &c.tower)?;
        Ok(Self { bottom, towers })
    }
}

impl Architecture for SharedBottom {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let shared = self.bottom.forward_t(&x.flat(), train, true);
        let towers: Vec<&Mlp> = self.towers.iter().collect();
        forward_same_input(&towers, &shared, train, false)
    }
}
