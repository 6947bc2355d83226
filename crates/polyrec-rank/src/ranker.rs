//! A ranking model: the input layer, an architecture and the task heads, in one `VarStore`
//! (`input.*`, `net.*`, `loss.*`), saved as `model.safetensors` beside `features.json`.

use std::path::Path;

use tch::{Device, Kind, Tensor, nn};

use crate::Result;
use crate::features::{FeatureSpace, Inputs};
use crate::heads::TaskHead;
use crate::input_layer::{InputLayer, SideTables};
use crate::models::{Architecture, ModelConfig, NetInput};

/// Where the language model's fine-tuned layers live in the variable store.
pub const TEXT_ENCODER_PREFIX: &str = "input.item_text.encoder.";

/// A trained or trainable multi-scenario, multi-task model.
#[derive(Debug)]
pub struct Ranker {
    vs: nn::VarStore,
    space: FeatureSpace,
    config: ModelConfig,
    input: InputLayer,
    net: Box<dyn Architecture>,
    /// Distinct field masks of user-level tasks, with the tasks that use each.
    masked_passes: Vec<(Tensor, Vec<usize>)>,
    log_vars: Option<Tensor>,
    fm: Vec<nn::Linear>,
}

/// The outputs of one forward pass.
#[derive(Debug)]
pub struct Output {
    /// One `[B, width]` tensor per task.
    pub tasks: Vec<Tensor>,
    /// The embedding penalty of the rows used.
    pub penalty: Tensor,
}

impl Ranker {
    /// Builds a model for `space` on `device`. `uncertainty` adds one learned log-variance
    /// per task that weighs the losses (Kendall et al.).
    pub fn new(
        space: FeatureSpace,
        config: ModelConfig,
        side: SideTables,
        device: Device,
        uncertainty: bool,
    ) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let input = InputLayer::new(&(&root / "input"), &space, side);
        let net = config.build(
            &(&root / "net"),
            input.fields(),
            input.dim(),
            &space.tasks,
            space.scenarios.len().max(1) as i64,
            space.config.pairwise,
        )?;
        let mut passes: Vec<(Vec<f32>, Vec<usize>)> = Vec::new();
        for t in 0..space.tasks.len() {
            if let Some(mask) = space.field_mask(t) {
                match passes.iter_mut().find(|(m, _)| *m == mask) {
                    Some((_, ts)) => ts.push(t),
                    None => passes.push((mask, vec![t])),
                }
            }
        }
        let d = input.dim();
        let masked_passes = passes
            .into_iter()
            .map(|(m, ts)| {
                let f = m.len() as i64;
                let mask = Tensor::from_slice(&m).view([1, f, 1]).to_device(device);
                let _ = d;
                (mask, ts)
            })
            .collect();
        let fm = if space.config.fm {
            space
                .tasks
                .iter()
                .enumerate()
                .map(|(t, h)| nn::linear(&root / "fm" / t, d, h.width(), Default::default()))
                .collect()
        } else {
            Vec::new()
        };
        let log_vars =
            uncertainty.then(|| (&root / "loss").zeros("log_var", &[space.tasks.len() as i64]));
        Ok(Self {
            vs,
            space,
            config,
            input,
            net,
            masked_passes,
            log_vars,
            fm,
        })
    }

    /// The feature space.
    pub fn space(&self) -> &FeatureSpace {
        &self.space
    }

    /// The task heads.
    pub fn heads(&self) -> &[TaskHead] {
        &self.space.tasks
    }

    /// The architecture's config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The parameters.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Mutable parameters (for loading).
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// The device.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Forward pass. Tasks of user-level labels get their outputs from a second pass
    /// without the fields that read their own label attribute.
    pub fn forward_t(&self, x: &Inputs, train: bool) -> Output {
        self.forward_passes(x, train, true)
    }

    fn forward_passes(&self, x: &Inputs, train: bool, user_level: bool) -> Output {
        let (mut fields, penalty) = self.input.forward(x, train);
        let p = self.space.config.field_dropout;
        if train && p > 0.0 {
            let s = fields.size();
            let mut keep = Tensor::empty([s[0], s[1], 1], (Kind::Float, fields.device()));
            let keep = keep.bernoulli_float_(1.0 - p);
            fields = fields * keep / (1.0 - p);
        }
        let scen = self.input.scenario_vectors(x);
        let run = |f: &Tensor| {
            let mut out = self.net.forward(
                &NetInput {
                    fields: f,
                    scenario: &x.scenario,
                    scenario_vectors: scen.as_ref(),
                    pairwise: self.space.config.pairwise,
                },
                train,
            );
            if !self.fm.is_empty() {
                let sum = f.sum_dim_intlist(1, false, Kind::Float);
                let v = (sum.square() - f.square().sum_dim_intlist(1, false, Kind::Float)) * 0.5;
                for (o, lin) in out.iter_mut().zip(&self.fm) {
                    *o = &*o + nn::Module::forward(lin, &v);
                }
            }
            out
        };
        let mut tasks = run(&fields);
        let passes = if user_level {
            &self.masked_passes[..]
        } else {
            &[]
        };
        for (mask, ts) in passes {
            let masked = run(&(&fields * mask));
            for &t in ts {
                tasks[t] = masked[t].shallow_clone();
            }
        }
        let tasks = tasks
            .into_iter()
            .zip(&self.space.tasks)
            .map(|(o, h)| if h.width() == 1 { o.view([-1]) } else { o })
            .collect();
        Output { tasks, penalty }
    }

    /// The training loss: per-task losses over the rows where `mask` (`[B, T]`) is 1,
    /// weighted by `weights` (or by learned uncertainties), plus the architecture's own
    /// term and the embedding penalty.
    pub fn loss(&self, out: &Output, labels: &Tensor, mask: &Tensor, weights: &[f64]) -> Tensor {
        let mut total = out.penalty.shallow_clone();
        for (t, (o, head)) in out.tasks.iter().zip(&self.space.tasks).enumerate() {
            let t64 = t as i64;
            let l = head.loss(o, &labels.select(1, t64), &mask.select(1, t64));
            let w = weights.get(t).copied().unwrap_or(1.0);
            total += match &self.log_vars {
                Some(lv) => {
                    let s = lv.get(t64);
                    (l * (-&s).exp() + s) * w
                }
                None => l * w,
            };
        }
        if let Some(extra) = self.net.extra_loss(&out.tasks) {
            total += extra;
        }
        total
    }

    /// Predictions in label units, one `[B]` tensor per task (no gradients).
    pub fn predict(&self, x: &Inputs) -> Vec<Tensor> {
        tch::no_grad(|| {
            let out = self.forward_t(x, false);
            out.tasks
                .iter()
                .zip(&self.space.tasks)
                .map(|(o, h)| h.predict(o))
                .collect()
        })
    }

    /// Predictions of the item-level tasks only (no gradients), for ranking items: the
    /// second pass that user-level tasks need is skipped, so their columns here are not
    /// predictions and must not be used.
    pub fn predict_items(&self, x: &Inputs) -> Vec<Tensor> {
        tch::no_grad(|| {
            let out = self.forward_passes(x, false, false);
            out.tasks
                .iter()
                .zip(&self.space.tasks)
                .map(|(o, h)| h.predict(o))
                .collect()
        })
    }

    /// Writes the parameters to `path` (a `.safetensors` file) atomically.
    pub fn save_weights(&self, path: &Path) -> Result<()> {
        crate::io::atomic_safetensors(path, |tmp| self.vs.save(tmp))
    }

    /// Reads parameters written by [`Ranker::save_weights`] (names and shapes must match).
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        crate::io::load_checked(&mut self.vs, path, false)
    }

    /// Copies every parameter (for keeping the best epoch in memory).
    pub fn snapshot(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.detach().copy()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Restores a [`Ranker::snapshot`].
    pub fn restore(&mut self, snap: &[(String, Tensor)]) {
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for (k, t) in snap {
                if let Some(mut v) = vars.get(k).map(Tensor::shallow_clone) {
                    v.copy_(t);
                }
            }
        });
    }

    /// Number of trainable scalars.
    pub fn trainable_parameters(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .sum::<usize>() as i64
    }
}
