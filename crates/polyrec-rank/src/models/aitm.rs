//! AITM: adaptive information transfer between sequential tasks (click -> conversion).
//! Each task's tower output is combined by attention with what the previous task passes
//! on; a calibrator penalises a later-stage probability above the earlier one.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::esmm::check_sequential;
use super::{Architecture, NetInput};
use crate::heads::TaskHead;
use crate::tower::{Mlp, MlpConfig};
use crate::{Error, Result};

/// Configuration of an [`Aitm`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AitmConfig {
    /// Each task's tower (its last width is the width of the transferred information).
    pub tower: MlpConfig,
    /// Weight of the calibration loss `mean(max(p_t - p_{t-1}, 0))`.
    pub calibration: f64,
}

impl Default for AitmConfig {
    fn default() -> Self {
        Self {
            tower: MlpConfig::widths(&[128, 64, 32]),
            calibration: 0.6,
        }
    }
}

#[derive(Debug)]
struct Transfer {
    info: nn::Linear,
    q: nn::Linear,
    k: nn::Linear,
    v: nn::Linear,
}

/// The AITM model: `tower.<t>.*`, `head.<t>.*`, `transfer.<t>.{info,q,k,v}.*`.
#[derive(Debug)]
pub struct Aitm {
    towers: Vec<Mlp>,
    heads: Vec<nn::Linear>,
    transfers: Vec<Transfer>,
    binary: Vec<bool>,
    calibration: f64,
    width: i64,
}

impl Aitm {
    /// Builds the model.
    pub fn new(p: &nn::Path<'_>, in_dim: i64, heads: &[TaskHead], c: &AitmConfig) -> Result<Self> {
        check_sequential(heads, "aitm")?;
        c.tower.check()?;
        if !(c.calibration >= 0.0 && c.calibration.is_finite()) {
            return Err(Error::Config {
                field: "calibration",
                value: c.calibration.to_string(),
                reason: "must be finite and >= 0",
            });
        }
        let towers: Vec<Mlp> = (0..heads.len())
            .map(|t| Mlp::new(&(p / "tower" / t), in_dim, &c.tower, None))
            .collect();
        let h = towers.first().map_or(in_dim, Mlp::out_dim);
        let lin = |q: nn::Path<'_>| nn::linear(q, h, h, Default::default());
        let transfers = (1..heads.len())
            .map(|t| {
                let q = p / "transfer" / t;
                Transfer {
                    info: lin(&q / "info"),
                    q: lin(&q / "q"),
                    k: lin(&q / "k"),
                    v: lin(&q / "v"),
                }
            })
            .collect();
        let outs = heads
            .iter()
            .enumerate()
            .map(|(t, head)| nn::linear(p / "head" / t, h, head.width(), Default::default()))
            .collect();
        Ok(Self {
            towers,
            heads: outs,
            transfers,
            binary: heads.iter().map(TaskHead::is_binary).collect(),
            calibration: c.calibration,
            width: h,
        })
    }
}

impl Architecture for Aitm {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let flat = x.flat();
        let mut prev: Option<Tensor> = None;
        let mut out = Vec::with_capacity(self.towers.len());
        for (t, tower) in self.towers.iter().enumerate() {
            let q = tower.forward_t(&flat, train, true);
            let z = match (&prev, t.checked_sub(1).and_then(|i| self.transfers.get(i))) {
                (Some(pz), Some(tr)) => {
                    let info = tr.info.forward(pz).relu();
                    let items = Tensor::stack(&[info, q], 1); // [B, 2, H]
                    let score = (tr.q.forward(&items) * tr.k.forward(&items)).sum_dim_intlist(
                        -1,
                        true,
                        Kind::Float,
                    ) / (self.width as f64).sqrt();
                    (score.softmax(1, Kind::Float) * tr.v.forward(&items)).sum_dim_intlist(
                        1,
                        false,
                        Kind::Float,
                    )
                }
                _ => q,
            };
            out.push(self.heads[t].forward(&z));
            prev = Some(z);
        }
        out
    }

    fn extra_loss(&self, outputs: &[Tensor]) -> Option<Tensor> {
        if self.calibration == 0.0 {
            return None;
        }
        let terms: Vec<Tensor> = (1..outputs.len())
            .filter(|&t| self.binary[t] && self.binary[t - 1])
            .map(|t| {
                (outputs[t].sigmoid() - outputs[t - 1].sigmoid())
                    .relu()
                    .mean(Kind::Float)
            })
            .collect();
        (!terms.is_empty()).then(|| Tensor::stack(&terms, 0).sum(Kind::Float) * self.calibration)
    }
}
