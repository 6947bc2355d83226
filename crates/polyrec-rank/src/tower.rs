//! Multi-layer perceptrons: the building block of bottoms, experts and task towers.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};

use crate::{Error, Result};

/// Configuration of a multi-layer perceptron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpConfig {
    /// Widths of the hidden layers, in order. Empty means a single linear layer.
    pub hidden: Vec<i64>,
    /// Dropout probability after each hidden activation, in `[0, 1)`.
    pub dropout: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![128, 64],
            dropout: 0.0,
        }
    }
}

impl MlpConfig {
    /// Hidden layers of these widths, no dropout.
    pub fn widths(hidden: &[i64]) -> Self {
        Self {
            hidden: hidden.to_vec(),
            dropout: 0.0,
        }
    }

    /// Checks the values once, at the edge.
    pub fn check(&self) -> Result<()> {
        if let Some(w) = self.hidden.iter().find(|&&w| w <= 0) {
            return Err(Error::Config {
                field: "hidden",
                value: w.to_string(),
                reason: "every layer width must be positive",
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config {
                field: "dropout",
                value: self.dropout.to_string(),
                reason: "must be in [0, 1)",
            });
        }
        Ok(())
    }
}

/// A ReLU multi-layer perceptron whose parameters live under one `VarStore` path
/// (`<path>/layer0/weight`, `<path>/layer1/bias`, ...).
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    dropout: f64,
    out_dim: i64,
}

impl Mlp {
    /// Builds hidden layers from `config` and, when `output` is given, a final linear
    /// layer without activation of that width.
    pub fn new(path: &nn::Path<'_>, in_dim: i64, config: &MlpConfig, output: Option<i64>) -> Self {
        let mut layers = Vec::with_capacity(config.hidden.len() + 1);
        let mut width = in_dim;
        let widths = config.hidden.iter().copied().chain(output);
        for (i, w) in widths.enumerate() {
            layers.push(nn::linear(
                path / format!("layer{i}"),
                width,
                w,
                Default::default(),
            ));
            width = w;
        }
        Self {
            layers,
            dropout: config.dropout,
            out_dim: width,
        }
    }

    /// Width of the output.
    pub fn out_dim(&self) -> i64 {
        self.out_dim
    }

    /// Forward pass; dropout is active only when `train` is true. The last layer has no
    /// activation when the MLP was built with an output width.
    pub fn forward_t(&self, xs: &tch::Tensor, train: bool, last_activation: bool) -> tch::Tensor {
        let n = self.layers.len();
        let mut h = xs.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h);
            if i + 1 < n || last_activation {
                h = h.relu().dropout(self.dropout, train);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_config() {
        assert!(
            MlpConfig {
                hidden: vec![8, 0],
                dropout: 0.0
            }
            .check()
            .is_err()
        );
        assert!(
            MlpConfig {
                hidden: vec![8],
                dropout: 1.0
            }
            .check()
            .is_err()
        );
        assert!(MlpConfig::default().check().is_ok());
    }

    #[test]
    fn parameter_names_follow_the_module_tree() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mlp = Mlp::new(
            &(vs.root() / "tower" / "like"),
            5,
            &MlpConfig::default(),
            Some(1),
        );
        assert_eq!(mlp.out_dim(), 1);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "tower.like.layer0.bias",
                "tower.like.layer0.weight",
                "tower.like.layer1.bias",
                "tower.like.layer1.weight",
                "tower.like.layer2.bias",
                "tower.like.layer2.weight",
            ]
        );
    }
}
