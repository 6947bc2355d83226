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

/// Multi-head self-attention at inference on the CPU, from the stacked query/key/value
/// projection: `softmax(q k^T / sqrt(d) + key_bias) v` for every head, with `x` of shape
/// `[batch, seq, hidden]`, `weight` `[3 hidden, hidden]` and `bias` `[3 hidden]` (query,
/// key and value rows stacked in that order). `key_bias` is an additive bias per key
/// position, `[batch * seq]` (large and negative where padded), or `None` when nothing is
/// padded. Returns the context `[batch, seq, hidden]` with the heads side by side (the
/// layout the output projection reads), or `None` where the fast path does not apply
/// (not a contiguous `f32` CPU tensor, or gradients needed): the caller then takes
/// libtorch's attention.
///
/// libtorch's CPU attention wants `[batch, heads, seq, d]` views (a transposed copy in and
/// out), and its flash kernel finishes the softmax of rows shorter than its block with a
/// scalar `exp`. Here one pass per sequence gathers each head's query, key and value with
/// their biases; the two products run as register tiles and the softmax is vectorised
/// across queries.
pub(crate) fn self_attention(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    heads: usize,
    key_bias: Option<&[f32]>,
) -> Option<Tensor> {
    let cpu_f32 =
        |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float && !t.requires_grad();
    let (b, s, h) = x.size3().ok()?;
    let (b, s, h) = (b as usize, s as usize, h as usize);
    if !(cpu_f32(x) && cpu_f32(weight) && cpu_f32(bias))
        || heads == 0
        || h % heads != 0
        || b * s == 0
        || bias.size() != [3 * h as i64]
        || key_bias.is_some_and(|k| k.len() != b * s)
    {
        return None;
    }
    let all = x.linear::<&Tensor>(weight, None);
    if !all.is_contiguous() || all.size() != [b as i64, s as i64, 3 * h as i64] {
        return None;
    }
    let bias = bias.contiguous();
    let (all_v, bias_v) = (data(&all), data(&bias));
    let mut ctx = Tensor::zeros([b as i64, s as i64, h as i64], (Kind::Float, Device::Cpu));
    let out = data_mut(&mut ctx);
    let product = tile_product();
    // One scratch buffer per thread, reused across its sequences.
    let one = |scratch: &mut Vec<f32>, (i, ctx): (usize, &mut [f32])| {
        let rows = &all_v[i * s * 3 * h..(i + 1) * s * 3 * h];
        let keys = key_bias.map_or(&[][..], |k| &k[i * s..(i + 1) * s]);
        let sequence = Sequence {
            rows,
            bias: bias_v,
            key_bias: keys,
            heads,
            product,
        };
        attend(&sequence, ctx, scratch);
    };
    if parallel(out.len()) && b > 1 {
        out.par_chunks_mut(s * h)
            .enumerate()
            .for_each_init(Vec::new, one);
    } else {
        let mut scratch = Vec::new();
        out.chunks_mut(s * h)
            .enumerate()
            .for_each(|x| one(&mut scratch, x));
    }
    Some(ctx)
}

/// One sequence for [`attend`].
struct Sequence<'a> {
    /// Its `[seq, 3 hidden]` bias-free query/key/value projection.
    rows: &'a [f32],
    /// The `[3 hidden]` bias of that projection.
    bias: &'a [f32],
    /// Empty, or an additive bias per key position.
    key_bias: &'a [f32],
    heads: usize,
    product: TileFn,
}

multiversioned! {
    /// Attention of one sequence into `ctx`, its `[seq, hidden]` context.
    fn attend => attend_portable(x: &Sequence<'_>, ctx: &mut [f32], scratch: &mut Vec<f32>)
}

/// Columns of a tile of a small product (one 512-bit vector, two 256-bit ones).
const LANES: usize = 16;
/// Rows of a tile of a small product.
const ROWS: usize = 8;

/// A tile of a small product.
type Tile = [[f32; LANES]; ROWS];

/// One operand of a tile product: step `t` reads from `values[at + t * stride]` on.
#[derive(Clone, Copy)]
struct Operand<'a> {
    values: &'a [f32],
    at: usize,
    stride: usize,
}

impl<'a> Operand<'a> {
    fn new(values: &'a [f32], stride: usize, at: usize) -> Self {
        Self { values, at, stride }
    }

    /// Whether `n` steps of `width` values lie inside `values`.
    fn fits(&self, n: usize, width: usize) -> bool {
        n == 0
            || (n - 1)
                .checked_mul(self.stride)
                .and_then(|x| x.checked_add(self.at + width))
                .is_some_and(|end| end <= self.values.len())
    }

    /// The `N` values of step `t` (zeros past the end).
    fn step<const N: usize>(&self, t: usize) -> [f32; N] {
        let at = self.at + t * self.stride;
        std::array::from_fn(|i| self.values.get(at + i).copied().unwrap_or(0.0))
    }
}

/// `out[r][l] = sum over t < n of a[t][r] * b[t][l]`, for `r < ROWS`, `l < LANES`.
type TileFn = fn(Operand<'_>, Operand<'_>, usize) -> Tile;

/// The tile product for this CPU: AVX-512, else AVX2 with FMA, else portable code.
fn tile_product() -> TileFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return x86::tile_avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return x86::tile_avx2;
        }
    }
    tile_portable
}

fn tile_portable(a: Operand<'_>, b: Operand<'_>, n: usize) -> Tile {
    let mut acc = [[0.0f32; LANES]; ROWS];
    for t in 0..n {
        let (ar, br) = (a.step::<ROWS>(t), b.step::<LANES>(t));
        for (row, x) in acc.iter_mut().zip(ar) {
            for (o, y) in row.iter_mut().zip(br) {
                *o = x.mul_add(y, *o);
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m512, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_storeu_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    use super::{LANES, Operand, ROWS, Tile, tile_portable};

    /// A tile kernel on raw pointers: `(a, a stride, b, b stride, steps)`.
    type Kernel = unsafe fn(*const f32, usize, *const f32, usize, usize) -> Tile;

    /// Runs `kernel` on the operands when every read of its `n` steps lies inside them,
    /// else the portable code.
    ///
    /// # Safety
    /// The CPU has the features `kernel` is compiled for.
    unsafe fn checked(a: Operand<'_>, b: Operand<'_>, n: usize, kernel: Kernel) -> Tile {
        if !(a.fits(n, ROWS) && b.fits(n, LANES)) {
            return tile_portable(a, b, n);
        }
        let (pa, pb) = (a.values[a.at..].as_ptr(), b.values[b.at..].as_ptr());
        // SAFETY: the kernel reads `ROWS` values of `a` and `LANES` of `b` per step, all
        // inside the slices (checked above); the caller vouches for the CPU.
        unsafe { kernel(pa, a.stride, pb, b.stride, n) }
    }

    /// [`super::TileFn`] with the tile held in eight 512-bit registers.
    pub(super) fn tile_avx512(a: Operand<'_>, b: Operand<'_>, n: usize) -> Tile {
        // SAFETY: `tile_product` hands this function out only on CPUs with AVX-512F.
        unsafe { checked(a, b, n, avx512) }
    }

    /// # Safety
    /// The CPU has AVX-512F; `a + t sa + r` for `r < ROWS` and `b + t sb + l` for
    /// `l < LANES` are readable for every `t < n`.
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(a: *const f32, sa: usize, b: *const f32, sb: usize, n: usize) -> Tile {
        let mut acc: [__m512; ROWS] = [_mm512_setzero_ps(); ROWS];
        for t in 0..n {
            // SAFETY: within the ranges the caller guarantees.
            let (ar, bv) = unsafe { (a.add(t * sa), _mm512_loadu_ps(b.add(t * sb))) };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above (r < ROWS).
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(unsafe { *ar.add(r) }), bv, *acc);
            }
        }
        let mut out = [[0.0f32; LANES]; ROWS];
        for (o, acc) in out.iter_mut().zip(acc) {
            // SAFETY: `o` holds 16 floats.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr(), acc) };
        }
        out
    }

    /// [`super::TileFn`] in 256-bit registers, half the rows at a time (so the
    /// accumulators and operands fit the 16 registers).
    pub(super) fn tile_avx2(a: Operand<'_>, b: Operand<'_>, n: usize) -> Tile {
        // SAFETY: `tile_product` hands this function out only on CPUs with AVX2 and FMA.
        unsafe { checked(a, b, n, avx2) }
    }

    /// # Safety
    /// The CPU has AVX2 and FMA; `a + t sa + r` for `r < ROWS` and `b + t sb + l` for
    /// `l < LANES` are readable for every `t < n`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(a: *const f32, sa: usize, b: *const f32, sb: usize, n: usize) -> Tile {
        const HALF: usize = ROWS / 2;
        let mut out = [[0.0f32; LANES]; ROWS];
        for (half, out) in out.chunks_exact_mut(HALF).enumerate() {
            let mut lo: [__m256; HALF] = [_mm256_setzero_ps(); HALF];
            let mut hi: [__m256; HALF] = [_mm256_setzero_ps(); HALF];
            for t in 0..n {
                // SAFETY: within the ranges the caller guarantees.
                let (ar, br) = unsafe { (a.add(t * sa + half * HALF), b.add(t * sb)) };
                // SAFETY: as above.
                let (bl, bh) = unsafe { (_mm256_loadu_ps(br), _mm256_loadu_ps(br.add(8))) };
                for r in 0..HALF {
                    // SAFETY: as above (half * HALF + r < ROWS).
                    let x = _mm256_set1_ps(unsafe { *ar.add(r) });
                    lo[r] = _mm256_fmadd_ps(x, bl, lo[r]);
                    hi[r] = _mm256_fmadd_ps(x, bh, hi[r]);
                }
            }
            for ((o, l), h) in out.iter_mut().zip(lo).zip(hi) {
                // SAFETY: `o` holds 16 floats: 8 from its start and 8 from its middle.
                unsafe {
                    _mm256_storeu_ps(o.as_mut_ptr(), l);
                    _mm256_storeu_ps(o.as_mut_ptr().add(8), h);
                }
            }
        }
        out
    }
}

#[inline(always)]
fn attend_portable(x: &Sequence<'_>, ctx: &mut [f32], scratch: &mut Vec<f32>) {
    let Sequence {
        rows,
        bias,
        key_bias,
        heads,
        product,
    } = *x;
    let h = bias.len() / 3;
    let (s, d) = (ctx.len() / h, h / heads);
    let scale = 1.0 / (d as f32).sqrt();
    // Scratch, padded so every tile is whole (padding stays zero), filled in one pass over
    // the rows: for all heads, the scaled queries qt [h, sq] and the keys kt [h, sk]
    // transposed (so head `n` is rows n d .. (n + 1) d), the values v [heads, s, dp]; then
    // per head pt [s, sq], the scores / probabilities transposed (key rows, query lanes),
    // and per-query maxima and sums.
    let sq = s.div_ceil(LANES) * LANES;
    let sk = s.div_ceil(ROWS) * ROWS;
    let dp = d.div_ceil(LANES) * LANES;
    scratch.clear();
    scratch.resize(h * sq + h * sk + heads * s * dp + s * sq + 2 * sq, 0.0);
    let (qt_all, rest) = scratch.split_at_mut(h * sq);
    let (kt_all, rest) = rest.split_at_mut(h * sk);
    let (v_all, rest) = rest.split_at_mut(heads * s * dp);
    let (pt, rest) = rest.split_at_mut(s * sq);
    let (max, sum) = rest.split_at_mut(sq);
    let (bq, rest) = bias.split_at(h);
    let (bk, bv) = rest.split_at(h);
    for (j, row) in rows.chunks_exact(3 * h).take(s).enumerate() {
        let (q, rest) = row.split_at(h);
        let (k, v) = rest.split_at(h);
        for (c, (x, b)) in q.iter().zip(bq).enumerate() {
            qt_all[c * sq + j] = (*x + *b) * scale;
        }
        for (c, (x, b)) in k.iter().zip(bk).enumerate() {
            kt_all[c * sk + j] = *x + *b;
        }
        for (n, (x, b)) in v.chunks_exact(d).zip(bv.chunks_exact(d)).enumerate() {
            let at = (n * s + j) * dp;
            for ((o, x), b) in v_all[at..at + d].iter_mut().zip(x).zip(b) {
                *o = *x + *b;
            }
        }
    }
    for head in 0..heads {
        let qt = &qt_all[head * d * sq..(head + 1) * d * sq];
        let kt = &kt_all[head * d * sk..(head + 1) * d * sk];
        let v = &v_all[head * s * dp..(head + 1) * s * dp];
        // Scores: a tile of ROWS keys x LANES queries held in registers over the head dim.
        for i0 in (0..sq).step_by(LANES) {
            for j0 in (0..sk).step_by(ROWS) {
                let acc = product(Operand::new(kt, sk, j0), Operand::new(qt, sq, i0), d);
                for (r, a) in acc.iter().enumerate().take(s.saturating_sub(j0)) {
                    let at = (j0 + r) * sq + i0;
                    pt[at..at + LANES].copy_from_slice(a);
                }
            }
        }
        // Softmax over keys for every query at once (queries in lanes).
        max.fill(f32::NEG_INFINITY);
        for (j, p) in pt.chunks_exact_mut(sq).enumerate() {
            let kb = key_bias.get(j).copied().unwrap_or(0.0);
            for (p, m) in p.iter_mut().zip(max.iter_mut()) {
                *p += kb;
                *m = if *p > *m { *p } else { *m };
            }
        }
        sum.fill(0.0);
        for p in pt.chunks_exact_mut(sq) {
            for ((p, m), t) in p.iter_mut().zip(max.iter()).zip(sum.iter_mut()) {
                *p = exp_nonpositive(*p - *m);
                *t += *p;
            }
        }
        // Weighted sum of values: a tile of ROWS queries x LANES of the head dim (only
        // tiles that hold a real query).
        for i0 in (0..s).step_by(ROWS) {
            for c0 in (0..dp).step_by(LANES) {
                let acc = product(Operand::new(pt, sq, i0), Operand::new(v, dp, c0), s);
                let width = (d - c0).min(LANES);
                for (r, a) in acc.iter().enumerate().take(s.saturating_sub(i0)) {
                    let i = i0 + r;
                    let inv = 1.0 / sum[i];
                    let at = i * h + head * d + c0;
                    for (o, a) in ctx[at..at + width].iter_mut().zip(a) {
                        *o = *a * inv;
                    }
                }
            }
        }
    }
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
    // SAFETY: callers pass contiguous f32 CPU tensors (checked in `fast`, `with_bias` and
    // `self_attention`), so `data_ptr` points at `numel` initialised f32 values that stay alive
    // and unchanged while `t` is borrowed.
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, n) }
}

/// The values of a contiguous `f32` CPU tensor made by a matrix product here, for writing.
fn data_mut(t: &mut Tensor) -> &mut [f32] {
    debug_assert!(t.is_contiguous() && t.kind() == Kind::Float && t.device() == Device::Cpu);
    let n = t.numel();
    // SAFETY: `t` is a fresh, contiguous f32 CPU tensor made in this module (the result
    // of a matrix product in `linear_gelu` or `linear_residual_norm`, or the output made by
    // `self_attention`), never a view of another tensor and never shared, so its storage
    // holds `numel` f32 values and nothing else reads or writes them while it is borrowed.
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

    /// libtorch's attention on the same stacked projection, `[b, s, h]`.
    fn reference_attention(
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        heads: i64,
        mask: Option<&Tensor>,
    ) -> Tensor {
        let (b, s, h) = x.size3().unwrap_or((0, 0, 0));
        let all = x.linear(weight, Some(bias));
        let part = |i: i64| {
            all.narrow(-1, i * h, h)
                .view([b, s, heads, h / heads])
                .transpose(1, 2)
        };
        Tensor::scaled_dot_product_attention(
            &part(0),
            &part(1),
            &part(2),
            mask,
            0.0,
            false,
            None,
            false,
        )
        .transpose(1, 2)
        .contiguous()
        .view([b, s, h])
    }

    #[test]
    fn self_attention_matches_libtorch_for_any_head_size_length_and_padding() {
        tch::manual_seed(11);
        let opts = (Kind::Float, Device::Cpu);
        // (batch, seq, hidden, heads): head sizes 32, 24 (not a whole vector), 64 and 1;
        // lengths below, at and above the tile sizes.
        for (b, s, h, heads) in [
            (2, 1, 64, 2),
            (3, 7, 96, 4),
            (2, 17, 128, 2),
            (4, 40, 384, 12),
            (1, 33, 8, 8),
        ] {
            tch::no_grad(|| {
                let x = Tensor::randn([b, s, h], opts);
                let weight = Tensor::randn([3 * h, h], opts) / (h as f64).sqrt();
                let bias = Tensor::randn([3 * h], opts) * 0.5;
                // Unpadded.
                let want = reference_attention(&x, &weight, &bias, heads, None);
                let got = self_attention(&x, &weight, &bias, heads as usize, None)
                    .expect("the fast path applies to f32 CPU tensors");
                let diff = f64::try_from((&got - &want).abs().max()).unwrap_or(f64::NAN);
                assert!(diff < 1e-5, "b={b} s={s} h={h} heads={heads}: {diff}");
                // Right-padded to different lengths (sequence i keeps s - i positions).
                let lens: Vec<i64> = (0..b).map(|i| (s - i).max(1)).collect();
                let mask = Tensor::from_slice(
                    &lens
                        .iter()
                        .flat_map(|&l| (0..s).map(move |j| if j < l { 0.0f32 } else { -1e4 }))
                        .collect::<Vec<f32>>(),
                )
                .view([b, 1, 1, s]);
                let keys = Vec::<f32>::try_from(mask.reshape([-1])).unwrap_or_default();
                let want = reference_attention(&x, &weight, &bias, heads, Some(&mask));
                let got = self_attention(&x, &weight, &bias, heads as usize, Some(&keys))
                    .expect("the fast path applies with a key bias");
                let diff = f64::try_from((&got - &want).abs().max()).unwrap_or(f64::NAN);
                assert!(
                    diff < 1e-5,
                    "padded b={b} s={s} h={h} heads={heads}: {diff}"
                );
            });
        }
    }

    #[test]
    fn self_attention_declines_what_it_cannot_do() {
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([1, 3, 8], opts);
        let (w, b) = (Tensor::randn([24, 8], opts), Tensor::randn([24], opts));
        assert!(
            self_attention(&x, &w, &b, 3, None).is_none(),
            "8 is not 3 heads"
        );
        assert!(self_attention(&x, &w, &b, 0, None).is_none(), "no heads");
        let double = x.to_kind(Kind::Double);
        let (wd, bd) = (w.to_kind(Kind::Double), b.to_kind(Kind::Double));
        assert!(self_attention(&double, &wd, &bd, 2, None).is_none(), "f64");
        assert!(
            self_attention(&x, &w, &b, 2, Some(&[0.0; 2])).is_none(),
            "bias length"
        );
        let w = w.set_requires_grad(true);
        assert!(self_attention(&x, &w, &b, 2, None).is_none(), "gradients");
    }

    #[test]
    fn every_tile_product_agrees_with_the_portable_one() {
        let a: Vec<f32> = (0..2_000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let b: Vec<f32> = (0..3_000)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0)
            .collect();
        let fast = tile_product();
        for (sa, a0, sb, b0, n) in [(8, 0, 16, 0, 0), (8, 3, 16, 5, 1), (24, 7, 48, 2, 40)] {
            let (oa, ob) = (Operand::new(&a, sa, a0), Operand::new(&b, sb, b0));
            let want = tile_portable(oa, ob, n);
            let got = fast(oa, ob, n);
            for (w, g) in want.iter().flatten().zip(got.iter().flatten()) {
                assert!((w - g).abs() <= 1e-4 * w.abs().max(1.0), "{w} vs {g}");
            }
        }
        // Reads past the end fall back to the portable code, which reads zeros there.
        let (oa, ob) = (Operand::new(&a, 8, 1_990), Operand::new(&b, 16, 0));
        assert_eq!(fast(oa, ob, 2), tile_portable(oa, ob, 2));
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
