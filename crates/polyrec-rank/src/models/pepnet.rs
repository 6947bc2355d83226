//! PEPNet: an embedding personalisation network (EPNet) scales every input field by a gate
//! computed from the scenario embedding and the (gradient-stopped) fields, and a parameter
//! personalisation network (PPNet) scales every hidden layer of each task's tower by a gate
//! computed from the same context. Gates are `2 * sigmoid(.)`, so 1 is neutral.

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, Module};

use super::{Architecture, NetInput};
use crate::{Error, Result};

/// Configuration of a [`Pepnet`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PepnetConfig {
    /// Hidden width of every gate network.
    pub gate_hidden: i64,
    /// Hidden widths of each task's tower.
    pub tower: Vec<i64>,
    /// Dropout after each tower layer.
    pub dropout: f64,
}

impl Default for PepnetConfig {
    fn default() -> Self {
        Self {
            gate_hidden: 64,
            tower: vec![128, 64, 32],
            dropout: 0.0,
        }
    }
}

#[derive(Debug)]
struct Gate {
    hidden: nn::Linear,
    out: nn::Linear,
}

impl Gate {
    fn new(p: nn::Path<'_>, in_dim: i64, hidden: i64, out: i64) -> Self {
        Self {
            hidden: nn::linear(&p / "hidden", in_dim, hidden, Default::default()),
            out: nn::linear(&p / "out", hidden, out, Default::default()),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.out.forward(&self.hidden.forward(x).relu()).sigmoid() * 2.0
    }
}

#[derive(Debug)]
struct Tower {
    layers: Vec<(nn::Linear, Gate)>,
    out: nn::Linear,
}

/// The PEPNet model: `epnet.*`, `tower.<t>.layer<l>.*`, `tower.<t>.gate<l>.*`,
/// `tower.<t>.out.*`.
#[derive(Debug)]
pub struct Pepnet {
    epnet: Gate,
    towers: Vec<Tower>,
    dim: i64,
    dropout: f64,
}

impl Pepnet {
    /// Builds the model for `fields` fields of width `dim`.
    pub fn new(
        p: &nn::Path<'_>,
        fields: i64,
        dim: i64,
        widths: &[i64],
        pairwise: bool,
        c: &PepnetConfig,
    ) -> Result<Self> {
        if c.gate_hidden <= 0 || c.tower.is_empty() || c.tower.iter().any(|&w| w <= 0) {
            return Err(Error::Config {
                field: "tower",
                value: format!("{:?} (gate_hidden {})", c.tower, c.gate_hidden),
                reason: "PEPNet needs positive gate and tower widths",
            });
        }
        if !(0.0..1.0).contains(&c.dropout) {
            return Err(Error::Config {
                field: "dropout",
                value: c.dropout.to_string(),
                reason: "must be in [0, 1)",
            });
        }
        let in_dim = super::flat_width(fields, dim, pairwise);
        let ctx = fields * dim + dim;
        let epnet = Gate::new(p / "epnet", ctx, c.gate_hidden, fields);
        let towers = widths
            .iter()
            .enumerate()
            .map(|(t, &w)| {
                let q = p / "tower" / t;
                let mut width = in_dim;
                let layers = c
                    .tower
                    .iter()
                    .enumerate()
                    .map(|(l, &h)| {
                        let lin =
                            nn::linear(&q / format!("layer{l}"), width, h, Default::default());
                        width = h;
                        (
                            lin,
                            Gate::new(&q / format!("gate{l}"), ctx, c.gate_hidden, h),
                        )
                    })
                    .collect();
                Tower {
                    layers,
                    out: nn::linear(&q / "out", width, w, Default::default()),
                }
            })
            .collect();
        Ok(Self {
            epnet,
            towers,
            dim,
            dropout: c.dropout,
        })
    }
}

impl Architecture for Pepnet {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let b = x.fields.size()[0];
        let scen = match x.scenario_vectors {
            Some(s) => s.shallow_clone(),
            None => Tensor::zeros([b, self.dim], (tch::Kind::Float, x.fields.device())),
        };
        let ctx = Tensor::cat(&[x.fields.flatten(1, -1).detach(), scen], 1);
        let gated = super::flatten(
            &(x.fields * self.epnet.forward(&ctx).unsqueeze(-1)),
            x.pairwise,
        );
        self.towers
            .iter()
            .map(|t| {
                let mut h = gated.shallow_clone();
                for (lin, gate) in &t.layers {
                    h = (lin.forward(&h).relu() * gate.forward(&ctx)).dropout(self.dropout, train);
                }
                t.out.forward(&h)
            })
            .collect()
    }
}
