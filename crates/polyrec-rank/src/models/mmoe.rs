//! MMoE: shared experts, one softmax gate per task mixing them, one tower per task.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::{Architecture, NetInput, check_dim, towers};
use crate::Result;
use crate::tower::{Mlp, MlpConfig, forward_same_input};

/// Configuration of an [`Mmoe`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MmoeConfig {
    /// Number of experts (1 to 64).
    pub experts: usize,
    /// Each expert's MLP.
    pub expert: MlpConfig,
    /// Each task's tower.
    pub tower: MlpConfig,
}

impl Default for MmoeConfig {
    fn default() -> Self {
        Self {
            experts: 4,
            expert: MlpConfig::widths(&[128, 64]),
            tower: MlpConfig::widths(&[32]),
        }
    }
}

/// A mixture of experts with one gate per output.
#[derive(Debug)]
pub(crate) struct Experts {
    pub experts: Vec<Mlp>,
    pub out_dim: i64,
}

impl Experts {
    pub fn new(p: &nn::Path<'_>, n: usize, in_dim: i64, c: &MlpConfig) -> Result<Self> {
        c.check()?;
        let experts: Vec<Mlp> = (0..n)
            .map(|e| Mlp::new(&(p / e), in_dim, c, None))
            .collect();
        let out_dim = experts.first().map_or(in_dim, Mlp::out_dim);
        Ok(Self { experts, out_dim })
    }

    /// The `E` expert outputs, each `[B, H]` (their first layers as one matrix product).
    pub fn forward(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let experts: Vec<&Mlp> = self.experts.iter().collect();
        forward_same_input(&experts, x, train, true)
    }
}

/// Mixes `[B, H]` expert outputs with `softmax(gate(x))`.
pub(crate) fn mix(outputs: &[Tensor], gate: &nn::Linear, x: &Tensor) -> Tensor {
    let w = gate.forward(x).softmax(-1, Kind::Float).unsqueeze(-1);
    (Tensor::stack(outputs, 1) * w).sum_dim_intlist(1, false, Kind::Float)
}

/// The MMoE model: `experts.<e>.*`, `gate.<t>.*`, `tower.<t>.*`.
#[derive(Debug)]
pub struct Mmoe {
    experts: Experts,
    gates: Vec<nn::Linear>,
    towers: Vec<Mlp>,
}

impl Mmoe {
    /// Builds the model.
    pub fn new(p: &nn::Path<'_>, in_dim: i64, widths: &[i64], c: &MmoeConfig) -> Result<Self> {
        check_dim("experts", c.experts, 64)?;
        let experts = Experts::new(&(p / "experts"), c.experts, in_dim, &c.expert)?;
        let gates = (0..widths.len())
            .map(|t| nn::linear(p / "gate" / t, in_dim, c.experts as i64, Default::default()))
            .collect();
        let towers = towers(p, experts.out_dim, widths, &c.tower)?;
        Ok(Self {
            experts,
            gates,
            towers,
        })
    }
}

impl Architecture for Mmoe {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let flat = x.flat();
        let outs = self.experts.forward(&flat, train);
        self.gates
            .iter()
            .zip(&self.towers)
            .map(|(g, t)| t.forward_t(&mix(&outs, g, &flat), train, false))
            .collect()
    }
}
