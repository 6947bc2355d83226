//! The architectures: each a plain struct built from its config and a `VarStore` path,
//! reading the `[B, F, D]` field vectors of the input layer and writing one output column
//! per task.

mod aitm;
mod esmm;
mod linear;
mod mmoe;
mod pepnet;
mod ple;
mod shared_bottom;
mod star;

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use crate::heads::TaskHead;
use crate::tower::MlpConfig;
use crate::{Error, Result};

pub use aitm::{Aitm, AitmConfig};
pub use esmm::{Esmm, EsmmConfig};
pub use linear::{Linear, MlpModel, MlpModelConfig};
pub use mmoe::{Mmoe, MmoeConfig};
pub use pepnet::{Pepnet, PepnetConfig};
pub use ple::{Ple, PleConfig};
pub use shared_bottom::{SharedBottom, SharedBottomConfig};
pub use star::{Star, StarConfig};

/// What an architecture reads.
#[derive(Debug)]
pub struct NetInput<'a> {
    /// `[B, F, D]` field vectors.
    pub fields: &'a Tensor,
    /// `[B]` scenario indices.
    pub scenario: &'a Tensor,
    /// `[B, D]` scenario embeddings, when the scenario is an input.
    pub scenario_vectors: Option<&'a Tensor>,
    /// Whether [`NetInput::flat`] appends the pairwise inner products of the fields.
    pub pairwise: bool,
}

impl NetInput<'_> {
    /// The fields flattened to `[B, F * D]`, followed by their `F (F - 1) / 2` pairwise inner
    /// products when `pairwise` is on.
    pub fn flat(&self) -> Tensor {
        flatten(self.fields, self.pairwise)
    }
}

/// Width of [`NetInput::flat`] for `fields` fields of width `dim`.
pub fn flat_width(fields: i64, dim: i64, pairwise: bool) -> i64 {
    fields * dim
        + if pairwise {
            fields * (fields - 1) / 2
        } else {
            0
        }
}

/// `[B, F, D]` -> `[B, F * D (+ F (F - 1) / 2)]`.
pub fn flatten(fields: &Tensor, pairwise: bool) -> Tensor {
    let flat = fields.flatten(1, -1);
    if !pairwise {
        return flat;
    }
    let f = fields.size()[1];
    let dots = fields.matmul(&fields.transpose(1, 2)); // [B, F, F]
    let iu = Tensor::triu_indices(f, f, 1, (tch::Kind::Int64, fields.device()));
    let pairs = dots
        .flatten(1, -1)
        .index_select(1, &(iu.get(0) * f + iu.get(1)));
    Tensor::cat(&[flat, pairs], 1)
}

/// An architecture: field vectors in, one `[B, width]` output per task out.
pub trait Architecture: Send + std::fmt::Debug {
    /// One output per task, in task order: logits (binary, multiclass) or standardised
    /// values (regression).
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor>;

    /// A loss term of the architecture itself, added to the tasks' losses (AITM's
    /// calibration); `None` for most.
    fn extra_loss(&self, _outputs: &[Tensor]) -> Option<Tensor> {
        None
    }
}

/// Every model of polyrec-rank, by name (`kind` in a TOML config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// Logistic regression (binary tasks) / linear regression (regression tasks): one linear
    /// head per task over the input fields.
    Lr,
    /// One MLP per task over the input fields.
    Mlp(MlpModelConfig),
    /// One MLP shared by every task, one tower per task.
    SharedBottom(SharedBottomConfig),
    /// Multi-gate mixture of experts: shared experts, one softmax gate per task.
    Mmoe(MmoeConfig),
    /// Progressive layered extraction: levels of shared and task-specific experts (CGC).
    Ple(PleConfig),
    /// Entire-space multi-task model: CTR and CVR towers, CTCVR = CTR x CVR.
    Esmm(EsmmConfig),
    /// Adaptive information transfer between sequential tasks, with a calibrator.
    Aitm(AitmConfig),
    /// STAR: shared x scenario-specific weights, partitioned normalisation, auxiliary network.
    Star(StarConfig),
    /// PEPNet: scenario-conditioned field gate (EPNet) and per-task parameter gates (PPNet).
    Pepnet(PepnetConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::Mmoe(MmoeConfig::default())
    }
}

/// One line per model, for `--help`.
pub const MODEL_HELP: &[(&str, &str)] = &[
    (
        "lr",
        "logistic / linear regression per task (single-task baseline)",
    ),
    ("mlp", "one MLP per task (single-task baseline)"),
    ("shared_bottom", "one shared MLP, one tower per task"),
    ("mmoe", "multi-gate mixture of experts (default)"),
    ("ple", "progressive layered extraction (multi-level CGC)"),
    ("esmm", "entire-space CTR x CVR (click, then conversion)"),
    (
        "aitm",
        "adaptive information transfer between sequential tasks",
    ),
    (
        "star",
        "STAR: shared x scenario-specific weights, partitioned norm, auxiliary net",
    ),
    (
        "pepnet",
        "PEPNet: scenario field gate + per-task parameter gates",
    ),
];

impl ModelConfig {
    /// The config of a model name with default hyper-parameters.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "lr" => Self::Lr,
            "mlp" => Self::Mlp(MlpModelConfig::default()),
            "shared_bottom" => Self::SharedBottom(SharedBottomConfig::default()),
            "mmoe" => Self::Mmoe(MmoeConfig::default()),
            "ple" => Self::Ple(PleConfig::default()),
            "esmm" => Self::Esmm(EsmmConfig::default()),
            "aitm" => Self::Aitm(AitmConfig::default()),
            "star" => Self::Star(StarConfig::default()),
            "pepnet" => Self::Pepnet(PepnetConfig::default()),
            other => {
                return Err(Error::Input(format!(
                    "unknown model `{other}`; one of: {}",
                    MODEL_HELP
                        .iter()
                        .map(|m| m.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        })
    }

    /// The model's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Lr => "lr",
            Self::Mlp(_) => "mlp",
            Self::SharedBottom(_) => "shared_bottom",
            Self::Mmoe(_) => "mmoe",
            Self::Ple(_) => "ple",
            Self::Esmm(_) => "esmm",
            Self::Aitm(_) => "aitm",
            Self::Star(_) => "star",
            Self::Pepnet(_) => "pepnet",
        }
    }

    /// Builds the architecture under `p` for `fields` fields of width `dim`, the given tasks
    /// and `scenarios` scenarios.
    pub fn build(
        &self,
        p: &nn::Path<'_>,
        fields: i64,
        dim: i64,
        heads: &[TaskHead],
        scenarios: i64,
        pairwise: bool,
    ) -> Result<Box<dyn Architecture>> {
        if heads.is_empty() {
            return Err(Error::Config {
                field: "tasks",
                value: "[]".into(),
                reason: "a model needs at least one task",
            });
        }
        let widths: Vec<i64> = heads.iter().map(TaskHead::width).collect();
        let in_dim = flat_width(fields, dim, pairwise);
        Ok(match self {
            Self::Lr => Box::new(Linear::new(p, in_dim, &widths)),
            Self::Mlp(c) => Box::new(MlpModel::new(p, in_dim, &widths, c)?),
            Self::SharedBottom(c) => Box::new(SharedBottom::new(p, in_dim, &widths, c)?),
            Self::Mmoe(c) => Box::new(Mmoe::new(p, in_dim, &widths, c)?),
            Self::Ple(c) => Box::new(Ple::new(p, in_dim, &widths, c)?),
            Self::Esmm(c) => Box::new(Esmm::new(p, in_dim, heads, c)?),
            Self::Aitm(c) => Box::new(Aitm::new(p, in_dim, heads, c)?),
            Self::Star(c) => Box::new(Star::new(p, in_dim, &widths, scenarios, c)?),
            Self::Pepnet(c) => Box::new(Pepnet::new(p, fields, dim, &widths, pairwise, c)?),
        })
    }
}

/// Towers, one per task, each an MLP ending in the task's output width.
pub(crate) fn towers(
    p: &nn::Path<'_>,
    in_dim: i64,
    widths: &[i64],
    config: &MlpConfig,
) -> Result<Vec<crate::tower::Mlp>> {
    config.check()?;
    Ok(widths
        .iter()
        .enumerate()
        .map(|(t, &w)| crate::tower::Mlp::new(&(p / "tower" / t), in_dim, config, Some(w)))
        .collect())
}

pub(crate) fn check_dim(field: &'static str, v: usize, max: usize) -> Result<()> {
    if v == 0 || v > max {
        return Err(Error::Config {
            field,
            value: v.to_string(),
            reason: "out of range (1 to the documented maximum)",
        });
    }
    Ok(())
}
