//! ESMM: entire-space multi-task model. The first task is the click (CTR), the second the
//! conversion; the model learns CVR through CTCVR = CTR x CVR over every impression, so
//! the conversion column is the post-view conversion probability and needs no sample
//! selection. Further tasks get plain towers.

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn;

use super::{Architecture, NetInput, towers};
use crate::heads::TaskHead;
use crate::tower::{Mlp, MlpConfig, forward_same_input};
use crate::{Error, Result};

/// Configuration of an [`Esmm`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EsmmConfig {
    /// Each tower (CTR, CVR and any further task).
    pub tower: MlpConfig,
}

impl Default for EsmmConfig {
    fn default() -> Self {
        Self {
            tower: MlpConfig::widths(&[128, 64, 32]),
        }
    }
}

/// The ESMM model: `tower.0` (CTR), `tower.1` (CVR), `tower.<t>` for further tasks.
#[derive(Debug)]
pub struct Esmm {
    towers: Vec<Mlp>,
}

/// The first two heads must be binary (click, then conversion).
pub(crate) fn check_sequential(heads: &[TaskHead], model: &str) -> Result<()> {
    if heads.len() < 2 || !heads[0].is_binary() || !heads[1].is_binary() {
        return Err(Error::Input(format!(
            "{model} needs two binary tasks first (click, then conversion); the tasks are: {}",
            heads
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// `logit(sigmoid(a) * sigmoid(b))`, computed in log space.
pub(crate) fn product_logit(a: &Tensor, b: &Tensor) -> Tensor {
    let log_p = (a.log_sigmoid() + b.log_sigmoid()).clamp_max(-1e-7);
    let log_q = log_p.exp().neg().log1p();
    log_p - log_q
}

impl Esmm {
    /// Builds the model.
    pub fn new(p: &nn::Path<'_>, in_dim: i64, heads: &[TaskHead], c: &EsmmConfig) -> Result<Self> {
        check_sequential(heads, "esmm")?;
        let widths: Vec<i64> = heads.iter().map(TaskHead::width).collect();
        Ok(Self {
            towers: towers(p, in_dim, &widths, &c.tower)?,
        })
    }
}

impl Architecture for Esmm {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let towers: Vec<&Mlp> = self.towers.iter().collect();
        let mut out = forward_same_input(&towers, &x.flat(), train, false);
        out[1] = product_logit(&out[0], &out[1]);
        out
    }
}
