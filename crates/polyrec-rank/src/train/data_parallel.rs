//! Data parallelism for the trainer (the Horovod pattern): every rank holds the whole
//! model, computes gradients on its shard of each global batch, and the gradients are
//! averaged over the ranks before every optimiser step, so every rank takes the same step.
//!
//! - Gradients travel flattened into a few large `f32` buckets ([`BUCKET_FLOATS`] each),
//!   one all-reduce per bucket, not one call per parameter.
//! - A rank's gradient is weighted by its share of the global batch (its rows over the
//!   batch's rows), so the average is the gradient of the global batch's mean loss even
//!   when the last batch does not split evenly (a rank may then have no rows at all).
//! - The batch's loss rides in the last bucket, so every rank sees the same global loss
//!   (and stops together when it is not finite).

use std::ops::Range;

use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::collective::Collective;

/// Floats per all-reduce bucket (16 MiB).
pub const BUCKET_FLOATS: usize = 1 << 22;

/// The parameters of a model in optimiser order and their gradient buckets.
pub(crate) struct DataParallel<'a> {
    comm: &'a dyn Collective,
    params: Vec<Tensor>,
    /// Parameter index ranges, one per bucket.
    buckets: Vec<Range<usize>>,
    buf: Vec<f32>,
    /// Wall time spent averaging gradients (flatten, all-reduce, copy back) since the last
    /// [`DataParallel::take_timing`], and the steps it covers.
    reduce_seconds: f64,
    reduce_steps: usize,
}

impl<'a> DataParallel<'a> {
    /// Buckets over `params` (shallow clones of the optimiser's tensors, same order).
    pub(crate) fn new(comm: &'a dyn Collective, params: Vec<Tensor>) -> Self {
        let mut buckets = Vec::new();
        let (mut start, mut floats) = (0, 0usize);
        for (i, p) in params.iter().enumerate() {
            let n = p.numel();
            if floats > 0 && floats + n > BUCKET_FLOATS {
                buckets.push(start..i);
                start = i;
                floats = 0;
            }
            floats += n;
        }
        buckets.push(start..params.len());
        Self {
            comm,
            params,
            buckets,
            buf: Vec::new(),
            reduce_seconds: 0.0,
            reduce_steps: 0,
        }
    }

    /// Number of buckets (all-reduce calls per step).
    pub(crate) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Number of gradient values every step reduces.
    pub(crate) fn gradient_floats(&self) -> usize {
        self.params.iter().map(Tensor::numel).sum()
    }

    /// Seconds spent averaging gradients and the steps since the last call.
    pub(crate) fn take_timing(&mut self) -> (f64, usize) {
        let t = (self.reduce_seconds, self.reduce_steps);
        (self.reduce_seconds, self.reduce_steps) = (0.0, 0);
        t
    }

    /// Makes every rank's parameters rank 0's.
    pub(crate) fn broadcast_parameters(&mut self) {
        let params: Vec<Tensor> = self.params.iter().map(Tensor::shallow_clone).collect();
        broadcast_tensors(self.comm, &params);
    }

    /// Replaces every rank's local gradients by their average over the global batch, and
    /// returns the global batch's mean loss. `rows` are this rank's rows of a global batch
    /// of `global_rows`; `loss` is the mean loss over this rank's rows (ignored without rows).
    pub(crate) fn average_gradients(&mut self, rows: usize, global_rows: usize, loss: f64) -> f64 {
        let start = std::time::Instant::now();
        define_missing_gradients(&self.params);
        let share = rows as f32 / global_rows.max(1) as f32;
        let last = self.buckets.len() - 1;
        let mut global_loss = 0.0;
        for (b, range) in self.buckets.clone().into_iter().enumerate() {
            let grads: Vec<Tensor> = self.params[range.clone()]
                .iter()
                .map(Tensor::grad)
                .collect();
            flatten_into(&grads, &mut self.buf);
            for x in &mut self.buf {
                *x *= share;
            }
            if b == last {
                self.buf
                    .push(if rows > 0 { loss as f32 * share } else { 0.0 });
            }
            self.comm.all_reduce_sum(&mut self.buf);
            if b == last {
                global_loss = f64::from(self.buf.pop().unwrap_or(f32::NAN));
            }
            unflatten_from(&self.buf, &grads);
        }
        self.reduce_seconds += start.elapsed().as_secs_f64();
        self.reduce_steps += 1;
        global_loss
    }

    /// SHA-256 of every parameter's `f32` values, in optimiser order (equal on every rank
    /// when the ranks hold the same model).
    pub(crate) fn digest(&mut self) -> String {
        let mut h = Sha256::new();
        for range in self.buckets.clone() {
            flatten_into(&self.params[range], &mut self.buf);
            for x in &self.buf {
                h.update(x.to_le_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Makes every rank's `tensors` rank 0's (in place; they may live on any device).
pub(crate) fn broadcast_tensors(comm: &dyn Collective, tensors: &[Tensor]) {
    let mut buf = Vec::new();
    let mut start = 0;
    while start < tensors.len() {
        let mut end = start;
        let mut floats = 0;
        while end < tensors.len()
            && (end == start || floats + tensors[end].numel() <= BUCKET_FLOATS)
        {
            floats += tensors[end].numel();
            end += 1;
        }
        flatten_into(&tensors[start..end], &mut buf);
        comm.broadcast_f32(&mut buf);
        unflatten_from(&buf, &tensors[start..end]);
        start = end;
    }
}

/// Gives a zero gradient to every parameter that has none (one this rank's batch did not
/// reach), so that every rank sends and receives the same buckets.
fn define_missing_gradients(params: &[Tensor]) {
    let missing: Vec<Tensor> = params
        .iter()
        .filter(|p| !p.grad().defined())
        .map(|p| (p * 0.0).sum(Kind::Float))
        .collect();
    if !missing.is_empty() {
        Tensor::stack(&missing, 0).sum(Kind::Float).backward();
    }
}

/// Copies `tensors` (flattened, in order, as `f32`) into `buf` on the host.
fn flatten_into(tensors: &[Tensor], buf: &mut Vec<f32>) {
    buf.clear();
    let flat: Vec<Tensor> = tensors
        .iter()
        .filter(|t| t.defined())
        .map(|t| t.detach().reshape([-1]))
        .collect();
    if flat.is_empty() {
        return;
    }
    let all = Tensor::cat(&flat, 0)
        .to_kind(Kind::Float)
        .to_device(Device::Cpu)
        .contiguous();
    let n = all.numel();
    buf.resize(n, 0.0);
    all.copy_data(buf, n);
}

/// Copies `buf` back into `tensors` (the inverse of [`flatten_into`]).
fn unflatten_from(buf: &[f32], tensors: &[Tensor]) {
    let Some(first) = tensors.iter().find(|t| t.defined()) else {
        return;
    };
    let src = Tensor::from_slice(buf).to_device(first.device());
    let mut offset = 0i64;
    tch::no_grad(|| {
        for t in tensors.iter().filter(|t| t.defined()) {
            let n = t.numel() as i64;
            let piece = src.narrow(0, offset, n).view(t.size().as_slice());
            let mut dst = t.shallow_clone();
            dst.copy_(&piece);
            offset += n;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::SingleProcess;

    #[test]
    fn flatten_and_unflatten_round_trip() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let b = Tensor::from_slice(&[5.0f32]);
        let mut buf = Vec::new();
        flatten_into(&[a.shallow_clone(), b.shallow_clone()], &mut buf);
        assert_eq!(buf, [1.0, 2.0, 3.0, 4.0, 5.0]);
        let back = [a.zeros_like(), b.zeros_like()];
        unflatten_from(&buf, &back);
        assert_eq!(
            Vec::<f32>::try_from(back[0].reshape([-1])).ok(),
            Some(vec![1.0, 2.0, 3.0, 4.0])
        );
        assert_eq!(back[1].double_value(&[0]), 5.0);
    }

    #[test]
    fn one_rank_keeps_its_gradient_and_loss() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let unused = Tensor::from_slice(&[3.0f32]).set_requires_grad(true);
        (&p * &p).sum(Kind::Float).backward();
        let mut dp = DataParallel::new(
            &SingleProcess,
            vec![p.shallow_clone(), unused.shallow_clone()],
        );
        let loss = dp.average_gradients(4, 4, 0.5);
        assert_eq!(loss, 0.5);
        assert_eq!(Vec::<f32>::try_from(p.grad()).ok(), Some(vec![2.0, -4.0]));
        // A parameter the batch did not reach gets a zero gradient.
        assert_eq!(unused.grad().double_value(&[0]), 0.0);
        assert_eq!(dp.digest().len(), 64);
    }

    #[test]
    fn buckets_split_large_models() {
        let big = |n: i64| Tensor::zeros([n], (Kind::Float, Device::Cpu));
        let n = BUCKET_FLOATS as i64;
        let dp = DataParallel::new(&SingleProcess, vec![big(n - 1), big(2), big(n), big(1)]);
        assert_eq!(dp.buckets, [0..1, 1..2, 2..3, 3..4]);
        let dp = DataParallel::new(&SingleProcess, vec![big(10), big(20)]);
        assert_eq!(dp.bucket_count(), 1);
    }
}
