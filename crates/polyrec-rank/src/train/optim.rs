//! Adam and AdamW over a model's trainable tensors, with state that a checkpoint can hold
//! (so a resumed run continues exactly where it stopped).

use std::path::Path;

use tch::{Kind, Tensor};

use super::config::OptimizerKind;
use crate::{Error, Result};

/// The optimiser state: first and second moments per parameter, and the step count.
#[derive(Debug)]
pub struct Adam {
    params: Vec<Tensor>,
    /// Learning-rate factor per parameter.
    scales: Vec<f64>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken.
    pub step: i64,
    kind: OptimizerKind,
    weight_decay: f64,
    betas: (f64, f64),
    eps: f64,
}

impl Adam {
    /// An optimiser over `params` (in a stable order: checkpoints store moments by position).
    pub fn new(params: Vec<Tensor>, kind: OptimizerKind, weight_decay: f64) -> Self {
        let zeros = |p: &Tensor| p.zeros_like().detach();
        Self {
            m: params.iter().map(zeros).collect(),
            v: params.iter().map(zeros).collect(),
            scales: vec![1.0; params.len()],
            params,
            step: 0,
            kind,
            weight_decay,
            betas: (0.9, 0.999),
            eps: 1e-8,
        }
    }

    /// Sets a learning-rate factor per parameter (same order as the parameters).
    pub fn with_scales(mut self, scales: Vec<f64>) -> Self {
        if scales.len() == self.params.len() {
            self.scales = scales;
        }
        self
    }

    /// The first and second moments (shallow clones sharing storage with the optimiser's),
    /// for copying one rank's state to the others.
    pub(crate) fn moments(&self) -> Vec<Tensor> {
        self.m
            .iter()
            .chain(&self.v)
            .map(Tensor::shallow_clone)
            .collect()
    }

    /// Clears every gradient.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales the gradients so that their global norm is at most `max` (no-op for 0);
    /// returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max: f64) -> f64 {
        if max <= 0.0 {
            return 0.0;
        }
        let norms: Vec<Tensor> = self
            .params
            .iter()
            .map(Tensor::grad)
            .filter(Tensor::defined)
            .map(|g| g.square().sum(Kind::Float))
            .collect();
        if norms.is_empty() {
            return 0.0;
        }
        let norm = Tensor::stack(&norms, 0)
            .sum(Kind::Float)
            .sqrt()
            .double_value(&[]);
        if norm > max {
            let f = max / (norm + 1e-12);
            tch::no_grad(|| {
                for p in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(f);
                    }
                }
            });
        }
        norm
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            let params = self.params.iter_mut().zip(&self.scales);
            for (((p, &scale), m), v) in params.zip(&mut self.m).zip(&mut self.v) {
                let lr = lr * scale;
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let g = match self.kind {
                    OptimizerKind::Adam if self.weight_decay > 0.0 => g + &*p * self.weight_decay,
                    _ => g,
                };
                let _ = m.g_mul_scalar_(b1);
                let _ = m.g_add_(&(&g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2);
                let _ = v.g_add_(&(g.square() * (1.0 - b2)));
                if self.kind == OptimizerKind::Adamw && self.weight_decay > 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let denom = (&*v / bc2).sqrt() + self.eps;
                let _ = p.g_sub_(&(&*m / &denom * (lr / bc1)));
            }
        });
    }

    /// Writes the moments to a safetensors file (the step count goes with the run state).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.m.len());
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            named.push((format!("m.{i}"), m.shallow_clone()));
            named.push((format!("v.{i}"), v.shallow_clone()));
        }
        crate::io::atomic_safetensors(path, |tmp| Tensor::write_safetensors(&named, tmp))
    }

    /// Reads moments written by [`Adam::save`].
    pub fn load(&mut self, path: &Path, step: i64) -> Result<()> {
        let named = Tensor::read_safetensors(path).map_err(|e| Error::file(path, e))?;
        let map: std::collections::HashMap<String, Tensor> = named.into_iter().collect();
        let device = self.params.first().map_or(tch::Device::Cpu, Tensor::device);
        for (i, (m, v)) in self.m.iter_mut().zip(&mut self.v).enumerate() {
            match (map.get(&format!("m.{i}")), map.get(&format!("v.{i}"))) {
                (Some(a), Some(b)) if a.size() == m.size() && b.size() == v.size() => {
                    *m = a.to_device(device);
                    *v = b.to_device(device);
                }
                _ => {
                    return Err(Error::file(
                        path,
                        format!("optimizer state does not match parameter {i}"),
                    ));
                }
            }
        }
        self.step = step;
        Ok(())
    }
}
