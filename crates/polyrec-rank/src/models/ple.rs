//! PLE: levels of customised gate control (CGC), each with shared and task-specific
//! experts; task gates mix their own and the shared experts, a shared gate mixes all of
//! them for the next level.

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn;

use super::mmoe::{Experts, mix};
use super::{Architecture, NetInput, check_dim, towers};
use crate::Result;
use crate::tower::{Mlp, MlpConfig, forward_same_input};

/// Configuration of a [`Ple`] model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PleConfig {
    /// Number of CGC levels (1 to 8).
    pub levels: usize,
    /// Shared experts per level (1 to 32).
    pub shared_experts: usize,
    /// Task-specific experts per task per level (1 to 32).
    pub task_experts: usize,
    /// Each expert's MLP.
    pub expert: MlpConfig,
    /// Each task's tower.
    pub tower: MlpConfig,
}

impl Default for PleConfig {
    fn default() -> Self {
        Self {
            levels: 2,
            shared_experts: 1,
            task_experts: 1,
            expert: MlpConfig::widths(&[128, 64]),
            tower: MlpConfig::widths(&[32]),
        }
    }
}

#[derive(Debug)]
struct Level {
    shared: Experts,
    specific: Vec<Experts>,
    task_gates: Vec<nn::Linear>,
    shared_gate: Option<nn::Linear>,
}

impl Level {
    /// Shared and task-specific expert outputs when every expert reads the same input.
    fn forward_grouped(&self, x: &Tensor, train: bool) -> (Vec<Tensor>, Vec<Vec<Tensor>>) {
        let groups = std::iter::once(&self.shared).chain(&self.specific);
        let experts: Vec<&Mlp> = groups.clone().flat_map(|g| &g.experts).collect();
        let mut outs = forward_same_input(&experts, x, train, true).into_iter();
        let mut grouped = groups.map(|g| outs.by_ref().take(g.experts.len()).collect());
        let shared = grouped.next().unwrap_or_default();
        (shared, grouped.collect())
    }
}

/// The PLE model: `level<l>.shared.*`, `level<l>.task<t>.*`, `level<l>.gate<t>.*`,
/// `level<l>.shared_gate.*`, `tower.<t>.*`.
#[derive(Debug)]
pub struct Ple {
    levels: Vec<Level>,
    towers: Vec<Mlp>,
}

impl Ple {
    /// Builds the model.
    pub fn new(p: &nn::Path<'_>, in_dim: i64, widths: &[i64], c: &PleConfig) -> Result<Self> {
        check_dim("levels", c.levels, 8)?;
        check_dim("shared_experts", c.shared_experts, 32)?;
        check_dim("task_experts", c.task_experts, 32)?;
        let n_tasks = widths.len();
        let mut levels = Vec::with_capacity(c.levels);
        let mut width = in_dim;
        for l in 0..c.levels {
            let q = p / format!("level{l}");
            let shared = Experts::new(&(&q / "shared"), c.shared_experts, width, &c.expert)?;
            let specific = (0..n_tasks)
                .map(|t| Experts::new(&(&q / format!("task{t}")), c.task_experts, width, &c.expert))
                .collect::<Result<Vec<_>>>()?;
            let per_task = (c.task_experts + c.shared_experts) as i64;
            let task_gates = (0..n_tasks)
                .map(|t| nn::linear(&q / format!("gate{t}"), width, per_task, Default::default()))
                .collect();
            let all = (c.task_experts * n_tasks + c.shared_experts) as i64;
            let shared_gate = (l + 1 < c.levels)
                .then(|| nn::linear(&q / "shared_gate", width, all, Default::default()));
            width = shared.out_dim;
            levels.push(Level {
                shared,
                specific,
                task_gates,
                shared_gate,
            });
        }
        let towers = towers(p, width, widths, &c.tower)?;
        Ok(Self { levels, towers })
    }
}

impl Architecture for Ple {
    fn forward(&self, x: &NetInput<'_>, train: bool) -> Vec<Tensor> {
        let flat = x.flat();
        let n_tasks = self.towers.len();
        let mut task_in: Vec<Tensor> = (0..n_tasks).map(|_| flat.shallow_clone()).collect();
        let mut shared_in = flat;
        for (l, level) in self.levels.iter().enumerate() {
            // The first level's experts all read the input: one grouped first layer.
            let (shared_out, mut specific_out) = if l == 0 {
                level.forward_grouped(&shared_in, train)
            } else {
                let own = level.specific.iter().zip(&task_in);
                let own = own.map(|(e, x)| e.forward(x, train)).collect();
                (level.shared.forward(&shared_in, train), own)
            };
            let mut all: Vec<Tensor> = shared_out.iter().map(Tensor::shallow_clone).collect();
            let mut next = Vec::with_capacity(n_tasks);
            for ((own, gate), input) in specific_out.drain(..).zip(&level.task_gates).zip(&task_in)
            {
                all.extend(own.iter().map(Tensor::shallow_clone));
                let mut mine = own;
                mine.extend(shared_out.iter().map(Tensor::shallow_clone));
                next.push(mix(&mine, gate, input));
            }
            if let Some(g) = &level.shared_gate {
                shared_in = mix(&all, g, &shared_in);
            }
            task_in = next;
        }
        self.towers
            .iter()
            .zip(&task_in)
            .map(|(t, h)| t.forward_t(h, train, false))
            .collect()
    }
}
