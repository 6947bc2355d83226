//! Shared-Bottom: one MLP shared by every task, one tower per task on top.
//!
//! The simplest multi-task architecture and the baseline the gated models (MMoE, PLE)
//! are compared against: all tasks share the bottom's parameters, each task owns its
//! tower. Parameters are named `bottom.*` and `tower.<task>.*`.

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use crate::tower::{Mlp, MlpConfig};
use crate::{Error, MultiTaskModel, Result};

/// Configuration of a [`SharedBottom`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedBottomConfig {
    /// The shared bottom MLP.
    pub bottom: MlpConfig,
    /// Each task's tower (hidden layers; the output layer of width 1 is added).
    pub tower: MlpConfig,
}

impl Default for SharedBottomConfig {
    fn default() -> Self {
        Self {
            bottom: MlpConfig {
                hidden: vec![128, 64],
                dropout: 0.0,
            },
            tower: MlpConfig {
                hidden: vec![32],
                dropout: 0.0,
            },
        }
    }
}

/// A Shared-Bottom multi-task model.
#[derive(Debug)]
pub struct SharedBottom {
    bottom: Mlp,
    towers: Vec<Mlp>,
    tasks: Vec<String>,
}

impl SharedBottom {
    /// Builds the model under `path` for inputs of width `in_dim` and the named tasks.
    pub fn new(
        path: &nn::Path<'_>,
        in_dim: i64,
        tasks: &[&str],
        config: &SharedBottomConfig,
    ) -> Result<Self> {
        config.bottom.check()?;
        config.tower.check()?;
        if in_dim <= 0 {
            return Err(Error::Config {
                field: "in_dim",
                value: in_dim.to_string(),
                reason: "the input width must be positive",
            });
        }
        if tasks.is_empty() {
            return Err(Error::Config {
                field: "tasks",
                value: "[]".to_string(),
                reason: "a multi-task model needs at least one task",
            });
        }
        let bottom = Mlp::new(&(path / "bottom"), in_dim, &config.bottom, None);
        let towers = tasks
            .iter()
            .map(|t| {
                Mlp::new(
                    &(path / "tower" / *t),
                    bottom.out_dim(),
                    &config.tower,
                    Some(1),
                )
            })
            .collect();
        Ok(Self {
            bottom,
            towers,
            tasks: tasks.iter().map(|t| (*t).to_string()).collect(),
        })
    }
}

impl MultiTaskModel for SharedBottom {
    fn tasks(&self) -> &[String] {
        &self.tasks
    }

    fn forward_t(&self, features: &Tensor, train: bool) -> Vec<Tensor> {
        let shared = self.bottom.forward_t(features, train, true);
        self.towers
            .iter()
            .map(|t| t.forward_t(&shared, train, false).squeeze_dim(-1))
            .collect()
    }
}
