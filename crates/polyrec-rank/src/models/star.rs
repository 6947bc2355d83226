//! STAR: one network whose every layer multiplies shared weights element-wise with the
//! scenario's own (`W = W_shared * W_s`, `b = b_shared + b_s`), after a partitioned
//! normalisation (a layer norm whose scale and shift are shared x scenario-specific), plus
//! an auxiliary network on the scenario embedding whose output is added to every logit.
//! Task towers on top make it multi-task.
//!
//! Unlike the paper's batch statistics, the normalisation uses each row's own statistics,
//! so training and serving agree and the checkpoint holds no running averages.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::{Architecture, NetInput, check_dim, towers};
use crate::tower::{Mlp, MlpConfig};
use crate::{Error, Result};

/// Configuration of a [`Star`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StarConfig {
    /// Widths of the star-topology layers.
    pub hidden: Vec<i64>,
    /// Each task's tower.
    pub tower: MlpConfig,
    /// Hidden width of the auxiliary network (0: none).
    pub auxiliary: i64,
}

impl Default for StarConfig {
    fn default() -> Self {
        Self {
            hidden: vec![128, 64],
            tower: MlpConfig::widths(&[32]),
            auxiliary: 32,
        }
    }
}

#[derive(Debug)]
struct StarLayer {
    w: Tensor,
    b: Tensor,
    ws: Tensor,
    bs: Tensor,
}

/// The STAR model: `norm.*`, `layer<l>.{weight,bias,scenario_weight,scenario_bias}`,
/// `aux.*`, `tower.<t>.*`.
#[derive(Debug)]
pub struct Star {
    gamma: Tensor,
    beta: Tensor,
    gamma_s: Tensor,
    beta_s: Tensor,
    layers: Vec<StarLayer>,
    aux: Option<(nn::Embedding, nn::Linear, Vec<nn::Linear>)>,
    towers: Vec<Mlp>,
    scenarios: i64,
}

impl Star {
    /// Builds the model for `scenarios` scenarios.
    pub fn new(
        p: &nn::Path<'_>,
        in_dim: i64,
        widths: &[i64],
        scenarios: i64,
        c: &StarConfig,
    ) -> Result<Self> {
        check_dim("scenarios", scenarios.max(0) as usize, 1024)?;
        if c.hidden.is_empty() || c.hidden.iter().any(|&w| w <= 0) || c.auxiliary < 0 {
            return Err(Error::Config {
                field: "hidden",
                value: format!("{:?} (auxiliary {})", c.hidden, c.auxiliary),
                reason: "STAR needs at least one positive layer width and auxiliary >= 0",
            });
        }
        let s = scenarios;
        let q = p / "norm";
        let (gamma, beta) = (q.ones("gamma", &[in_dim]), q.zeros("beta", &[in_dim]));
        let (gamma_s, beta_s) = (
            q.ones("scenario_gamma", &[s, in_dim]),
            q.zeros("scenario_beta", &[s, in_dim]),
        );
        let mut layers = Vec::new();
        let mut width = in_dim;
        for (l, &h) in c.hidden.iter().enumerate() {
            let q = p / format!("layer{l}");
            let bound = 1.0 / (width as f64).sqrt();
            layers.push(StarLayer {
                w: q.uniform("weight", &[width, h], -bound, bound),
                b: q.zeros("bias", &[h]),
                ws: q.ones("scenario_weight", &[s, width, h]),
                bs: q.zeros("scenario_bias", &[s, h]),
            });
            width = h;
        }
        let aux = (c.auxiliary > 0).then(|| {
            let q = p / "aux";
            let e = nn::embedding(&q / "scenario", s, 16, Default::default());
            let hidden = nn::linear(&q / "hidden", 16 + in_dim, c.auxiliary, Default::default());
            let outs = widths
                .iter()
                .enumerate()
                .map(|(t, &w)| nn::linear(&q / "out" / t, c.auxiliary, w, Default::default()))
                .collect();
            (e, hidden, outs)
        });
        let towers = towers(p, width, widths, &c.tower)?;
        Ok(Self {
            gamma,
            beta,
            gamma_s,
            beta_s,
            layers,
            aux,
            towers,
            scenarios: s,
        })
    }
}

impl Architecture for Star {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let flat = x.flat();
        let sc = x.scenario.clamp(0, self.scenarios - 1);
        let d = flat.size()[1];
        let normed = flat.layer_norm([d], None::<Tensor>, None::<Tensor>, 1e-5, false);
        let mut h = normed * (&self.gamma * self.gamma_s.index_select(0, &sc))
            + (&self.beta + self.beta_s.index_select(0, &sc));
        // Rows grouped by scenario: each group runs through its own product of weights.
        let masks: Vec<Tensor> = (0..self.scenarios)
            .map(|s| sc.eq(s).to_kind(Kind::Float).unsqueeze(-1))
            .collect();
        for layer in &self.layers {
            let mut out: Option<Tensor> = None;
            for (s, m) in masks.iter().enumerate() {
                let w = &layer.w * layer.ws.get(s as i64);
                let b = &layer.b + layer.bs.get(s as i64);
                let y = (h.matmul(&w) + b) * m;
                out = Some(match out {
                    Some(o) => o + y,
                    None => y,
                });
            }
            h = out.unwrap_or(h).relu();
        }
        let aux: Option<Vec<Tensor>> = self.aux.as_ref().map(|(e, hidden, outs)| {
            let a = hidden
                .forward(&Tensor::cat(&[e.forward(&sc), flat.shallow_clone()], 1))
                .relu();
            outs.iter().map(|o| o.forward(&a)).collect()
        });
        self.towers
            .iter()
            .enumerate()
            .map(|(t, tower)| {
                let y = tower.forward_t(&h, train, false);
                match &aux {
                    Some(a) => y + &a[t],
                    None => y,
                }
            })
            .collect()
    }
}
