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
        self.forward_rest(xs.shallow_clone(), 0, train, last_activation)
    }

    /// The layers from `first` on, applied to `h`.
    fn forward_rest(
        &self,
        mut h: tch::Tensor,
        first: usize,
        train: bool,
        last_activation: bool,
    ) -> tch::Tensor {
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate().skip(first) {
            h = layer.forward(&h);
            if i + 1 < n || last_activation {
                h = h.relu().dropout(self.dropout, train);
            }
        }
        h
    }
}

/// Runs several MLPs that read the same input: their first layers go through one matrix
/// product (the weights concatenated), then each MLP goes on with its own slice. The
/// parameters stay where they are (and keep their names); only the arithmetic is grouped.
/// Equal to calling [`Mlp::forward_t`] on each, up to floating-point rounding.
pub fn forward_same_input(
    mlps: &[&Mlp],
    xs: &tch::Tensor,
    train: bool,
    last_activation: bool,
) -> Vec<tch::Tensor> {
    let groupable = mlps.len() > 1
        && mlps.iter().all(|m| {
            m.layers.first().is_some_and(|l| l.bs.is_some())
                && (m.layers.len() > 1 || last_activation)
                && m.dropout == mlps[0].dropout
        });
    if !groupable {
        return mlps
            .iter()
            .map(|m| m.forward_t(xs, train, last_activation))
            .collect();
    }
    let firsts: Vec<&nn::Linear> = mlps.iter().filter_map(|m| m.layers.first()).collect();
    let ws: Vec<&tch::Tensor> = firsts.iter().map(|l| &l.ws).collect();
    let bs: Vec<&tch::Tensor> = firsts.iter().filter_map(|l| l.bs.as_ref()).collect();
    let widths: Vec<i64> = firsts.iter().map(|l| l.ws.size()[0]).collect();
    let h = xs
        .linear(&tch::Tensor::cat(&ws, 0), Some(tch::Tensor::cat(&bs, 0)))
        .relu()
        .dropout(mlps[0].dropout, train);
    h.split_with_sizes(&widths, 1)
        .into_iter()
        .zip(mlps)
        .map(|(h, m)| m.forward_rest(h, 1, train, last_activation))
        .collect()
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
    fn grouped_first_layers_match_separate_calls() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let c = MlpConfig::widths(&[6, 4]);
        let a = Mlp::new(&(vs.root() / "a"), 5, &c, None);
        let b = Mlp::new(&(vs.root() / "b"), 5, &c, Some(2));
        let one = Mlp::new(&(vs.root() / "c"), 5, &MlpConfig::widths(&[]), Some(3));
        let x = tch::Tensor::randn([7, 5], (tch::Kind::Float, tch::Device::Cpu));
        for last in [true, false] {
            let grouped = forward_same_input(&[&a, &b], &x, false, last);
            let separate = [a.forward_t(&x, false, last), b.forward_t(&x, false, last)];
            for (g, s) in grouped.iter().zip(&separate) {
                assert_eq!(g.size(), s.size());
                assert!(g.allclose(s, 1e-6, 1e-6, false));
            }
        }
        // A single linear layer without activation is not grouped, and still right.
        let out = forward_same_input(&[&one, &a], &x, false, false);
        assert!(out[0].allclose(&one.forward_t(&x, false, false), 1e-6, 1e-6, false));
        // Gradients reach every grouped weight.
        let y = forward_same_input(&[&a, &b], &x, true, true);
        (y[0].sum(tch::Kind::Float) + y[1].sum(tch::Kind::Float)).backward();
        for (name, t) in vs.variables() {
            if name.starts_with("a.") || name.starts_with("b.") {
                assert!(t.grad().defined(), "{name} has no gradient");
                assert!(
                    t.grad().abs().sum(tch::Kind::Float).double_value(&[]) > 0.0,
                    "{name}"
                );
            }
        }
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
