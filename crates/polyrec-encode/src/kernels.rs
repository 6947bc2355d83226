//! Fused CPU passes for inference: a linear layer's bias added together with what follows
//! it (the exact GELU, or the residual connection and the layer norm) in one pass over the
//! output, in place.
//!
//! libtorch adds a linear layer's bias by first copying it into every output row and then
//! accumulating the product onto it, and runs GELU and the residual add as separate
//! passes, each writing a new tensor; its vectorised erf also uses 256-bit registers on
//! CPUs that have 512-bit ones. Here the product is computed without bias (no copy) and
//! one pass then adds the bias and applies GELU, or adds the bias and the residual and
//! normalises each row while it is in cache (sums in 16 interleaved lanes).
//!
//! The GELU is the exact one, `x/2 * (1 + erf(x/sqrt 2))`, with erf from Abramowitz and
//! Stegun 7.1.26 (absolute error below 1.5e-7, the same approximation libtorch vectorises)
//! and a Cephes-style `exp`. For negative inputs `1 + erf` is formed directly from the
//! complementary series, so there is no cancellation. The fast path applies only to
//! contiguous `f32` CPU tensors that need no gradient; anything else takes libtorch's ops.
#![allow(unsafe_code)] // in-place access to the data of tensors made here, see `data_mut`

use rayon::prelude::*;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// Defines `$name`, which runs the `#[inline(always)]`, branch-free `$portable` compiled
/// for the widest vector unit the CPU has (AVX-512, else AVX2 with FMA, else the build's
/// baseline), chosen at run time.
macro_rules! multiversioned {
    ($(#[$doc:meta])* fn $name:ident => $portable:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    $portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}

/// `gelu(x W^T + b)` for the linear layer `lin`, exact (erf) GELU.
pub(crate) fn linear_gelu(x: &Tensor, lin: &nn::Linear) -> Tensor {
    let mut out = match product(x, lin, None) {
        Ok(out) => out,
        Err(with_bias) => return with_bias.gelu("none"),
    };
    let n = last_dim(&out);
    with_bias(lin, n, |bias| {
        let rows = data_mut(&mut out);
        if parallel(rows.len()) {
            rows.par_chunks_mut(n).for_each(|row| bias_gelu(row, bias));
        } else {
            rows.chunks_mut(n).for_each(|row| bias_gelu(row, bias));
        }
    });
    out
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
) -> Tensor {
    let mut out = match product(x, lin, Some(residual)) {
        Ok(out) => out,
        Err(with_bias) => return norm.forward(&(with_bias + residual)),
    };
    let n = last_dim(&out);
    let affine = |t: &Option<Tensor>| {
        t.as_ref().is_none_or(|t| {
            t.device() == Device::Cpu
                && t.kind() == Kind::Float
                && t.is_contiguous()
                && t.size() == [n as i64]
        })
    };
    if !affine(&norm.ws) || !affine(&norm.bs) {
        return norm.forward(&(with_torch_bias(out, lin) + residual));
    }
    let res = data(residual);
    let (ones, zeros) = (vec![1.0; n], vec![0.0; n]);
    let gamma = norm.ws.as_ref().map_or(&ones[..], data);
    let beta = norm.bs.as_ref().map_or(&zeros[..], data);
    let eps = eps as f32;
    with_bias(lin, n, |bias| {
        let rows = data_mut(&mut out);
        let pass = |(row, r): (&mut [f32], &[f32])| residual_norm(row, bias, r, gamma, beta, eps);
        if parallel(rows.len()) {
            rows.par_chunks_mut(n).zip(res.par_chunks(n)).for_each(pass);
        } else {
            rows.chunks_mut(n).zip(res.chunks(n)).for_each(pass);
        }
    });
    out
}

/// The product `x W^T`: without its bias when a fused pass may finish it in place (`Ok`),
/// else with it, through libtorch's ops (`Err`; off the CPU that is one product with the
/// bias added in its epilogue).
fn product(x: &Tensor, lin: &nn::Linear, residual: Option<&Tensor>) -> Result<Tensor, Tensor> {
    if x.device() != Device::Cpu || x.kind() != Kind::Float {
        return Err(x.apply(lin));
    }
    let out = x.linear::<&Tensor>(&lin.ws, None);
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

/// Runs `f` with the bias as a slice (zeros when the layer has none).
fn with_bias(lin: &nn::Linear, n: usize, f: impl FnOnce(&[f32])) {
    match &lin.bs {
        Some(b) if b.is_contiguous() && b.numel() == n => f(data(b)),
        Some(b) => {
            let b = b.contiguous();
            f(data(&b))
        }
        None => f(&vec![0.0; n]),
    }
}

/// Whether a pass over `len` values is worth splitting across libtorch's intra-op threads
/// (inside an encoder worker there is one, so passes stay on the worker's core).
fn parallel(len: usize) -> bool {
    len >= 1 << 16 && tch::get_num_threads() > 1
}

/// The values of a contiguous `f32` CPU tensor.
fn data(t: &Tensor) -> &[f32] {
    debug_assert!(t.is_contiguous() && t.kind() == Kind::Float && t.device() == Device::Cpu);
    let n = t.numel();
    if n == 0 {
        return &[];
    }
    // SAFETY: callers pass contiguous f32 CPU tensors (checked in `fast` and
    // `with_bias`), so `data_ptr` points at `numel` initialised f32 values that stay alive
    // and unchanged while `t` is borrowed.
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, n) }
}

/// The values of a contiguous `f32` CPU tensor made by a matrix product here, for writing.
fn data_mut(t: &mut Tensor) -> &mut [f32] {
    debug_assert!(t.is_contiguous() && t.kind() == Kind::Float && t.device() == Device::Cpu);
    let n = t.numel();
    // SAFETY: `t` is the fresh, contiguous f32 CPU result of a matrix product made in
    // `linear_gelu` or `linear_residual_norm` (never a view of another tensor and never
    // shared), so its storage holds `numel` f32 values and nothing else reads or writes them
    // while it is borrowed.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, n) }
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

/// Exact GELU, `x/2 * (1 + erf(x/sqrt 2))`.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    // Abramowitz and Stegun 7.1.26: erf(z) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-z^2),
    // t = 1 / (1 + p z), for z >= 0.
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / P.mul_add(z, 1.0);
    let poly = A5
        .mul_add(t, A4)
        .mul_add(t, A3)
        .mul_add(t, A2)
        .mul_add(t, A1)
        * t;
    // erfc(|z|) = poly * exp(-z^2); 1 + erf(x/sqrt 2) is 2 - erfc for x >= 0, erfc below.
    let erfc = poly * exp_nonpositive(-z * z);
    let one_plus_erf = if x >= 0.0 { 2.0 - erfc } else { erfc };
    0.5 * x * one_plus_erf
}

/// `exp(x)` for `x <= 0` (Cephes-style: `2^n * e^r`, `|r| <= ln 2 / 2`, degree-6
/// polynomial; relative error about 1e-7); inputs below -87 give about 1.6e-38 instead of
/// a denormal or zero, which no caller can tell apart from zero after the multiplication.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Rounding x / ln 2 to an integer n by adding 1.5 * 2^23: n lands in the low mantissa
    // bits, read back without a float-to-integer conversion (which would not vectorise).
    const SHIFT: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let shifted = x.mul_add(std::f32::consts::LOG2_E, SHIFT);
    let n = shifted - SHIFT;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let p = 1.987_569_1e-4_f32
        .mul_add(r, 1.398_199_9e-3)
        .mul_add(r, 8.333_452e-3)
        .mul_add(r, 4.166_579_6e-2)
        .mul_add(r, 0.166_666_65)
        .mul_add(r, 0.5);
    let e = p.mul_add(r * r, r) + 1.0;
    // 2^n through the exponent bits; n is in [-126, 0] here.
    let n_int = shifted.to_bits().wrapping_sub(SHIFT.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    e * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 (W. J. Cody's rational approximations are not needed: this series and
    /// continued fraction are exact to double precision over the range tested).
    fn erf64(x: f64) -> f64 {
        let z = x.abs();
        let v = if z < 3.0 {
            // Maclaurin series.
            let mut sum = z;
            let mut term = z;
            let mut k = 0.0;
            loop {
                k += 1.0;
                term *= -z * z / k;
                let add = term / (2.0 * k + 1.0);
                sum += add;
                if add.abs() < 1e-17 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // Continued fraction for erfc.
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (z + f);
            }
            1.0 - (-z * z).exp() / (std::f64::consts::PI.sqrt() * (z + f))
        };
        v.copysign(x)
    }

    #[test]
    fn exp_matches_the_standard_library() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let got = f64::from(exp_nonpositive(x));
            let want = f64::from(x).exp();
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp_nonpositive(-1000.0) < 1e-37);
    }

    #[test]
    fn gelu_matches_the_definition_within_float_precision() {
        let mut worst = 0.0f64;
        for i in -120_000..=120_000 {
            let x = i as f64 / 10_000.0;
            let want = 0.5 * x * (1.0 + erf64(x / std::f64::consts::SQRT_2));
            let got = f64::from(gelu(x as f32));
            worst = worst.max((got - want).abs());
        }
        assert!(worst < 3e-6, "worst absolute error {worst}");
        assert_eq!(gelu(0.0), 0.0);
        assert!(gelu(-30.0).abs() < 1e-30);
        assert_eq!(gelu(30.0), 30.0);
    }

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
            let got = linear_gelu(&x, &lin);
            let diff = f64::try_from((got - &want).abs().max()).unwrap_or(f64::NAN);
            assert!(diff < 1e-5, "gelu: max difference {diff}");
            let h = want;
            let want = (h.apply(&back) + &x).apply(&norm);
            let got = linear_residual_norm(&h, &back, &x, &norm, 1e-12);
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
        let y = linear_gelu(&x, &lin);
        assert!(y.requires_grad(), "the graph is kept for training");
    }
}
