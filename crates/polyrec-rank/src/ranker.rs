//! A ranking model: the input layer, an architecture and the task heads, in one `VarStore`
//! (`input.*`, `net.*`, `loss.*`), saved as `model.safetensors` beside `features.json`.
//!
//! An ensemble (`train.ensemble = K`) holds K such models, the first under the names above
//! and the others under `member1.*`, `member2.*`, ...: each is initialised on its own and
//! trained on its own loss (on the same batches), and the model's output is the mean of
//! theirs (of the logits for binary and multiclass tasks, of the values for regression).
//! They share the fixed tables (texts, graph neighbours, histories).

use std::path::Path;

use tch::{Device, Kind, Tensor, nn};

use crate::features::{FeatureSpace, Inputs};
use crate::heads::TaskHead;
use crate::input_layer::{InputLayer, SideTables};
use crate::models::{Architecture, ModelConfig, NetInput};
use crate::{Error, Result};

/// Where the language model's fine-tuned layers live in the variable store.
pub const TEXT_ENCODER_PREFIX: &str = "input.item_text.encoder.";

/// A trained or trainable multi-scenario, multi-task model.
#[derive(Debug)]
pub struct Ranker {
    vs: nn::VarStore,
    space: FeatureSpace,
    config: ModelConfig,
    /// One or more (an ensemble) independently initialised models.
    members: Vec<Member>,
    /// Distinct field masks of user-level tasks, with the tasks that use each.
    masked_passes: Vec<(Tensor, Vec<usize>)>,
    log_vars: Option<Tensor>,
}

/// One model of the ensemble.
#[derive(Debug)]
struct Member {
    input: InputLayer,
    net: Box<dyn Architecture>,
    fm: Vec<nn::Linear>,
}

/// The outputs of one forward pass.
#[derive(Debug)]
pub struct Output {
    /// One `[B, width]` tensor per task (the mean over the members of an ensemble).
    pub tasks: Vec<Tensor>,
    /// The embedding penalty of the rows used (summed over the members).
    pub penalty: Tensor,
    /// Each member's own outputs, when there are several: what each one is trained on.
    pub members: Vec<Vec<Tensor>>,
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
        Self::ensemble(space, config, side, device, uncertainty, 1)
    }

    /// Builds an ensemble of `members` models (see the module documentation); one member is
    /// the plain model of [`Ranker::new`], with the same parameter names.
    pub fn ensemble(
        space: FeatureSpace,
        config: ModelConfig,
        side: SideTables,
        device: Device,
        uncertainty: bool,
        members: usize,
    ) -> Result<Self> {
        if members == 0 || members > 64 {
            return Err(Error::Config {
                field: "ensemble",
                value: members.to_string(),
                reason: "must be in 1..=64",
            });
        }
        if members > 1 && space.config.finetune_layers > 0 {
            return Err(Error::Config {
                field: "ensemble",
                value: members.to_string(),
                reason: "an ensemble cannot fine-tune the language model \
                         (features.finetune_layers > 0): use ensemble = 1",
            });
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let mut side = Some(side);
        let mut list: Vec<Member> = Vec::with_capacity(members);
        for k in 0..members {
            let base = if k == 0 {
                root.clone()
            } else {
                &root / format!("member{k}")
            };
            let input = match list.first() {
                None => {
                    InputLayer::new(&(&base / "input"), &space, side.take().unwrap_or_default())
                }
                Some(first) => InputLayer::new_member(&(&base / "input"), &space, &first.input),
            };
            let net = config.build(
                &(&base / "net"),
                input.fields(),
                input.dim(),
                &space.tasks,
                space.scenarios.len().max(1) as i64,
                space.config.pairwise,
            )?;
            let d = input.dim();
            let fm = if space.config.fm {
                space
                    .tasks
                    .iter()
                    .enumerate()
                    .map(|(t, h)| nn::linear(&base / "fm" / t, d, h.width(), Default::default()))
                    .collect()
            } else {
                Vec::new()
            };
            list.push(Member { input, net, fm });
        }
        let mut passes: Vec<(Vec<f32>, Vec<usize>)> = Vec::new();
        for t in 0..space.tasks.len() {
            if let Some(mask) = space.field_mask(t) {
                match passes.iter_mut().find(|(m, _)| *m == mask) {
                    Some((_, ts)) => ts.push(t),
                    None => passes.push((mask, vec![t])),
                }
            }
        }
        let masked_passes = passes
            .into_iter()
            .map(|(m, ts)| {
                let f = m.len() as i64;
                let mask = Tensor::from_slice(&m).view([1, f, 1]).to_device(device);
                (mask, ts)
            })
            .collect();
        let log_vars =
            uncertainty.then(|| (&root / "loss").zeros("log_var", &[space.tasks.len() as i64]));
        Ok(Self {
            vs,
            space,
            config,
            members: list,
            masked_passes,
            log_vars,
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
        let (first, rest) = self.members.split_first().expect("a model has a member");
        let (mut tasks, mut penalty) = self.member_forward(first, x, train, user_level);
        if rest.is_empty() {
            return Output {
                tasks,
                penalty,
                members: Vec::new(),
            };
        }
        let mut members = vec![tasks.iter().map(Tensor::shallow_clone).collect::<Vec<_>>()];
        for m in rest {
            let (out, pen) = self.member_forward(m, x, train, user_level);
            penalty += pen;
            for (sum, o) in tasks.iter_mut().zip(&out) {
                *sum = &*sum + o;
            }
            members.push(out);
        }
        let k = self.members.len() as f64;
        let tasks = tasks.into_iter().map(|t| t / k).collect();
        Output {
            tasks,
            penalty,
            members,
        }
    }

    /// One member's outputs (`[B]` or `[B, width]` per task) and embedding penalty.
    fn member_forward(
        &self,
        m: &Member,
        x: &Inputs,
        train: bool,
        user_level: bool,
    ) -> (Vec<Tensor>, Tensor) {
        let (mut fields, penalty) = m.input.forward(x, train);
        let p = self.space.config.field_dropout;
        if train && p > 0.0 {
            let s = fields.size();
            let mut keep = Tensor::empty([s[0], s[1], 1], (Kind::Float, fields.device()));
            let keep = keep.bernoulli_float_(1.0 - p);
            fields = fields * keep / (1.0 - p);
        }
        let scen = m.input.scenario_vectors(x);
        let run = |f: &Tensor| {
            let mut out = m.net.forward(
                &NetInput {
                    fields: f,
                    scenario: &x.scenario,
                    scenario_vectors: scen.as_ref(),
                    pairwise: self.space.config.pairwise,
                },
                train,
            );
            if !m.fm.is_empty() {
                let sum = f.sum_dim_intlist(1, false, Kind::Float);
                let v = (sum.square() - f.square().sum_dim_intlist(1, false, Kind::Float)) * 0.5;
                for (o, lin) in out.iter_mut().zip(&m.fm) {
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
        (tasks, penalty)
    }

    /// The training loss: per-task losses over the rows where `mask` (`[B, T]`) is 1,
    /// weighted by `weights` (or by learned uncertainties), plus the architecture's own
    /// term and the embedding penalty.
    /// An ensemble's loss is the sum of its members' own: each is trained as if alone.
    pub fn loss(&self, out: &Output, labels: &Tensor, mask: &Tensor, weights: &[f64]) -> Tensor {
        if out.members.is_empty() {
            return self.tasks_loss(&out.tasks, 0, labels, mask, weights) + &out.penalty;
        }
        let mut total = out.penalty.copy();
        for (k, tasks) in out.members.iter().enumerate() {
            total += self.tasks_loss(tasks, k, labels, mask, weights);
        }
        total
    }

    /// One member's task losses and its architecture's own term.
    fn tasks_loss(
        &self,
        outputs: &[Tensor],
        member: usize,
        labels: &Tensor,
        mask: &Tensor,
        weights: &[f64],
    ) -> Tensor {
        let mut total = Tensor::zeros([], (Kind::Float, labels.device()));
        for (t, (o, head)) in outputs.iter().zip(&self.space.tasks).enumerate() {
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
        if let Some(extra) = self.members[member].net.extra_loss(outputs) {
            total += extra;
        }
        total
    }

    /// Number of models averaged (1 unless an ensemble).
    pub fn members(&self) -> usize {
        self.members.len()
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
