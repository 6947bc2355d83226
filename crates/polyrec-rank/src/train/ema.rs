//! An exponential moving average of the trainable parameters (Polyak averaging): after
//! every optimiser step `shadow = decay * shadow + (1 - decay) * parameter`, from a zero
//! shadow and divided by `1 - decay^steps` when used (Adam's bias correction), so that
//! the average never mixes in the initial weights, even in a short run. Validation, the
//! best checkpoint and the returned model use the averaged weights; training goes on from
//! the live ones.

use std::path::Path;

use tch::Tensor;

use crate::{Error, Result};

/// The averaged copy of a list of parameters.
pub(crate) struct Ema {
    decay: f64,
    steps: i64,
    names: Vec<String>,
    params: Vec<Tensor>,
    shadow: Vec<Tensor>,
    /// The live values while the average is applied.
    held: Vec<Tensor>,
}

impl Ema {
    /// An empty average of `named`; `None` when `decay` is 0 (averaging off).
    pub(crate) fn new(decay: f64, named: &[(String, Tensor)]) -> Option<Self> {
        (decay > 0.0).then(|| Self {
            decay,
            steps: 0,
            names: named.iter().map(|(n, _)| n.clone()).collect(),
            params: named.iter().map(|(_, t)| t.shallow_clone()).collect(),
            shadow: named.iter().map(|(_, t)| t.detach().zeros_like()).collect(),
            held: Vec::new(),
        })
    }

    /// One averaging step, after an optimiser step.
    pub(crate) fn update(&mut self) {
        self.steps += 1;
        tch::no_grad(|| {
            for (s, p) in self.shadow.iter_mut().zip(&self.params) {
                // shadow += (1 - decay) * (p - shadow)
                let _ = s.g_add_(&((p.detach() - &*s) * (1.0 - self.decay)));
            }
        });
    }

    /// Puts the (bias-corrected) average into the parameters, keeping the live values
    /// for [`Ema::restore`]. Before the first step the parameters stay as they are.
    pub(crate) fn apply(&mut self) {
        if self.steps == 0 || !self.held.is_empty() {
            return;
        }
        let correction = 1.0 - self.decay.powi(self.steps.min(i64::from(i32::MAX)) as i32);
        tch::no_grad(|| {
            for (s, p) in self.shadow.iter().zip(&self.params) {
                self.held.push(p.detach().copy());
                let mut p = p.shallow_clone();
                p.copy_(&(s / correction));
            }
        });
    }

    /// Puts the live values back after [`Ema::apply`].
    pub(crate) fn restore(&mut self) {
        tch::no_grad(|| {
            for (h, p) in self.held.drain(..).zip(&self.params) {
                let mut p = p.shallow_clone();
                p.copy_(&h);
            }
        });
    }

    /// Writes the shadow (atomically), named as the parameters.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let named: Vec<(String, Tensor)> = self
            .names
            .iter()
            .zip(&self.shadow)
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        crate::io::atomic_safetensors(path, |tmp| Tensor::write_safetensors(&named, tmp))
    }

    /// Reads a shadow written by [`Ema::save`], `steps` optimiser steps into the run.
    pub(crate) fn load(&mut self, path: &Path, steps: i64) -> Result<()> {
        self.steps = steps;
        let read = Tensor::read_safetensors(path).map_err(|e| Error::file(path, e))?;
        let map: std::collections::HashMap<String, Tensor> = read.into_iter().collect();
        for (name, s) in self.names.iter().zip(&mut self.shadow) {
            match map.get(name) {
                Some(t) if t.size() == s.size() => {
                    tch::no_grad(|| s.copy_(t));
                }
                _ => {
                    return Err(Error::file(
                        path,
                        format!("the averaged weights do not match parameter `{name}`"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_without_the_initial_weights_and_round_trips() -> Result<()> {
        let p = Tensor::from_slice(&[0.0f32, 2.0]).set_requires_grad(true);
        let set = |v: [f32; 2]| tch::no_grad(|| p.shallow_clone().copy_(&Tensor::from_slice(&v)));
        let get = || Vec::<f32>::try_from(&p).expect("p");
        let mut ema = Ema::new(0.5, &[("w".into(), p.shallow_clone())]).expect("on");
        ema.apply(); // no step yet: nothing to average
        assert_eq!(get(), vec![0.0, 2.0]);
        set([4.0, 2.0]);
        ema.update();
        ema.apply(); // one step: the average is that step's weights, not half the initial
        assert_eq!(get(), vec![4.0, 2.0]);
        ema.restore();
        set([8.0, 6.0]);
        ema.update();
        ema.apply(); // (0.5 * 0.5 * [4, 2] + 0.5 * [8, 6]) / (1 - 0.25)
        let want = [(1.0 + 4.0) / 0.75, (0.5 + 3.0) / 0.75];
        assert!(
            get().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{:?}",
            get()
        );
        ema.restore();
        assert_eq!(get(), vec![8.0, 6.0]);
        let dir = tempfile::tempdir().map_err(|e| Error::file(Path::new("tmp"), e))?;
        let path = dir.path().join("ema.safetensors");
        ema.save(&path)?;
        let mut again = Ema::new(0.5, &[("w".into(), p.shallow_clone())]).expect("on");
        again.load(&path, 2)?;
        again.apply();
        assert!(
            get().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{:?}",
            get()
        );
        again.restore();
        assert!(Ema::new(0.0, &[("w".into(), p.shallow_clone())]).is_none());
        Ok(())
    }
}
