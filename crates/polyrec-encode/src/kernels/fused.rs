//! The fused passes that finish a linear layer in place: bias + exact GELU, and bias +
//! residual + layer norm, one pass per row over the bias-free product (see the module
//! docs of `super` for why).
#![allow(unsafe_code)] // slices over tensors made or checked here, see `super::storage`

use rayon::prelude::*;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::gemm::{PackCache, product as packed_or_torch};
use super::math::gelu;
use super::parallel;
use super::storage::{data, data_mut};

/// `gelu(x W^T + b)` for the linear layer `lin`, exact (erf) GELU; `pack` holds the
/// packed copy of `lin`'s weight (see `super::gemm`), if any.
pub(crate) fn linear_gelu(x: &Tensor, lin: &nn::Linear, pack: Option<&PackCache>) -> Tensor {
    let mut out = match product(x, lin, None, pack) {
        Ok(out) => out,
        Err(with_bias) => return with_bias.gelu("none"),
    };
    let (n, len) = (last_dim(&out), out.numel());
    let done = with_bias(lin, n, |bias| {
        // SAFETY: `out` is the bias-free product `product` just made; it shares its storage
        // with no other tensor.
        let rows = unsafe { data_mut(&mut out, len) }?;
        if parallel(rows.len()) {
            rows.par_chunks_mut(n).for_each(|row| bias_gelu(row, bias));
        } else {
            rows.chunks_mut(n).for_each(|row| bias_gelu(row, bias));
        }
        Some(())
    });
    match done.flatten() {
        Some(()) => out,
        None => with_torch_bias(out, lin).gelu("none"),
    }
}

/// `layer_norm(x W^T + b + residual)` for the linear layer `lin` and the layer norm
/// `norm` (whose epsilon is `eps`): one pass per row adds the bias and the residual and
/// normalises while the row is in cache.
pub(crate) fn linear_residual_norm(
    x: &Tensor,
    lin: &nn::Linear,
    residual: &Tensor,
    norm: &nn::LayerNorm,
    eps: f64,
    pack: Option<&PackCache>,
) -> Tensor {
    let mut out = match product(x, lin, Some(residual), pack) {
        Ok(out) => out,
        Err(with_bias) => return norm.forward(&(with_bias + residual)),
    };
    let (n, len) = (last_dim(&out), out.numel());
    let (ones, zeros) = (vec![1.0; n], vec![0.0; n]);
    // SAFETY: the residual is this layer's input and the affine parameters belong to the
    // norm; nothing writes to either while a forward pass runs (`out`, the only tensor
    // written here, is a new one).
    let inputs = unsafe {
        (
            data(residual, len),
            norm.ws.as_ref().map_or(Some(&ones[..]), |w| data(w, n)),
            norm.bs.as_ref().map_or(Some(&zeros[..]), |b| data(b, n)),
        )
    };
    let (Some(res), Some(gamma), Some(beta)) = inputs else {
        return norm.forward(&(with_torch_bias(out, lin) + residual));
    };
    let eps = eps as f32;
    let done = with_bias(lin, n, |bias| {
        // SAFETY: `out` is the bias-free product `product` just made; it shares its storage
        // with no other tensor.
        let rows = unsafe { data_mut(&mut out, len) }?;
        let pass = |(row, r): (&mut [f32], &[f32])| residual_norm(row, bias, r, gamma, beta, eps);
        if parallel(rows.len()) {
            rows.par_chunks_mut(n).zip(res.par_chunks(n)).for_each(pass);
        } else {
            rows.chunks_mut(n).zip(res.chunks(n)).for_each(pass);
        }
        Some(())
    });
    match done.flatten() {
        Some(()) => out,
        None => norm.forward(&(with_torch_bias(out, lin) + residual)),
    }
}

/// The product `x W^T`: without its bias when a fused pass may finish it in place (`Ok`),
/// else with it, through libtorch's ops (`Err`; off the CPU that is one product with the
/// bias added in its epilogue).
fn product(
    x: &Tensor,
    lin: &nn::Linear,
    residual: Option<&Tensor>,
    pack: Option<&PackCache>,
) -> Result<Tensor, Tensor> {
    if x.device() != Device::Cpu || x.kind() != Kind::Float {
        return Err(x.apply(lin));
    }
    let out = packed_or_torch(x, &lin.ws, pack);
    if fast(&out, lin, residual) {
        Ok(out)
    } else {
        Err(with_torch_bias(out, lin))
    }
}

fn with_torch_bias(out: Tensor, lin: &nn::Linear) -> Tensor {
    match &lin.bs {
        Some(b) => out + b,
        None => out,
    }
}

/// Whether the bias-free product `out` may be finished in place: a contiguous `f32` CPU
/// tensor outside any autograd graph (gradients off, or nothing needing them), with a bias
/// and residual of matching kind and shape.
fn fast(out: &Tensor, lin: &nn::Linear, residual: Option<&Tensor>) -> bool {
    let cpu_f32 = |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float;
    cpu_f32(out)
        && !out.requires_grad()
        && out.numel() > 0
        && out.is_contiguous()
        && lin
            .bs
            .as_ref()
            .is_none_or(|b| cpu_f32(b) && b.size() == [*out.size().last().unwrap_or(&0)])
        && residual.is_none_or(|r| cpu_f32(r) && r.is_contiguous() && r.size() == out.size())
}

fn last_dim(t: &Tensor) -> usize {
    t.size().last().map_or(1, |&d| d.max(1) as usize)
}

/// Runs `f` with the `n` values of `lin`'s bias (zeros when it has none); `None` when the
/// bias is not `n` `f32` values on the CPU.
fn with_bias<R>(lin: &nn::Linear, n: usize, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    match &lin.bs {
        Some(b) => {
            let b = b.contiguous();
            // SAFETY: `b` is the layer's bias parameter (or a contiguous copy of it), which
            // nothing writes while a forward pass runs.
            let values = unsafe { data(&b, n) }?;
            Some(f(values))
        }
        None => Some(f(&vec![0.0; n])),
    }
}

multiversioned! {
    /// `row = layer_norm(row + bias + residual) * gamma + beta`.
    fn residual_norm => residual_norm_portable(
        row: &mut [f32],
        bias: &[f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32
    )
}

#[inline(always)]
fn residual_norm_portable(
    row: &mut [f32],
    bias: &[f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    for ((v, b), r) in row.iter_mut().zip(bias).zip(residual) {
        *v += *b + *r;
    }
    let n = row.len().max(1) as f32;
    let mean = lane_sum(row, |v| v) / n;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    let rstd = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = ((*v - mean) * rstd).mul_add(*g, *b);
    }
}

/// Sum of `f(v)` over `values` in 16 interleaved partial sums (so it vectorises; also more
/// accurate than one running sum).
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    acc.iter().sum::<f32>() + tail
}

multiversioned! {
    /// `row[i] = gelu(row[i] + bias[i])`.
    fn bias_gelu => bias_gelu_portable(row: &mut [f32], bias: &[f32])
}

/// Branch-free, so the compiler vectorises it for whatever features its caller enables.
#[inline(always)]
fn bias_gelu_portable(row: &mut [f32], bias: &[f32]) {
    for (v, b) in row.iter_mut().zip(bias) {
        *v = gelu(*v + *b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_passes_match_libtorch() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let lin = nn::linear(vs.root() / "l", 48, 80, Default::default());
        let back = nn::linear(vs.root() / "b", 80, 48, Default::default());
        let config = nn::LayerNormConfig {
            eps: 1e-12,
            ..Default::default()
        };
        let norm = nn::layer_norm(vs.root() / "n", vec![48], config);
        tch::no_grad(|| {
            // Affine parameters that are not the identity.
            let _ = norm
                .ws
                .as_ref()
                .map(|w| w.shallow_clone().uniform_(0.5, 1.5));
            let _ = norm
                .bs
                .as_ref()
                .map(|b| b.shallow_clone().uniform_(-0.5, 0.5));
            let x = Tensor::randn([3, 7, 48], (Kind::Float, Device::Cpu)) * 3.0;
            let product = x.linear::<&Tensor>(&lin.ws, None);
            assert!(fast(&product, &lin, None), "the fused pass applies here");
            let want = x.apply(&lin).gelu("none");
            let got = linear_gelu(&x, &lin, None);
            let diff = f64::try_from((got - &want).abs().max()).unwrap_or(f64::NAN);
            assert!(diff < 1e-5, "gelu: max difference {diff}");
            let h = want;
            let want = (h.apply(&back) + &x).apply(&norm);
            let got = linear_residual_norm(&h, &back, &x, &norm, 1e-12, None);
            let diff = f64::try_from((got - want).abs().max()).unwrap_or(f64::NAN);
            assert!(diff < 1e-5, "residual and norm: max difference {diff}");
        });
    }

    #[test]
    fn tensors_that_need_gradients_take_libtorch_ops() {
        let vs = nn::VarStore::new(Device::Cpu);
        let lin = nn::linear(vs.root() / "l", 4, 6, Default::default());
        let x = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
        let product = x.linear::<&Tensor>(&lin.ws, None);
        assert!(
            !fast(&product, &lin, None),
            "trainable weights, gradients on"
        );
        let y = linear_gelu(&x, &lin, None);
        assert!(y.requires_grad(), "the graph is kept for training");
    }
}
