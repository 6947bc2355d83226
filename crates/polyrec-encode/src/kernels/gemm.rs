//! The matrix products of a linear layer at inference, `x W^T`, against a copy of the
//! weight packed once for a register kernel (AVX-512, or AVX2 with FMA).
//!
//! libtorch hands these products to MKL, which packs both operands on every call, scales
//! the output by `beta = 0` in a pass of its own and, on AMD's CPUs, runs the kernel of its
//! default code path (see `docs/benchmarks.md`, "What the packed products change", for the
//! measured difference).
//! Here the weight `W [n, k]` is packed once per [`PackCache`] into panels of `nr`
//! columns, each `k` steps of `nr` contiguous values; a product then packs its input in
//! blocks of `mr` rows (each `KC` steps of `mr` values, so the block stays in the
//! first-level cache) and runs an `mr x nr` register tile over every panel, in blocks of
//! `NC` columns whose panels stay in the second-level cache. With AVX-512 the tile is
//! 12 x 32 (24 accumulators of 16 lanes), with AVX2 6 x 16 (12 accumulators of 8 lanes;
//! with the two panel vectors and the broadcast row value, 15 of the 16 registers).
//! Partial blocks of rows run a smaller tile and partial panels store through a mask, so
//! no shape is special. Each row's sums run in the same order whatever block it is in, so
//! a row's result does not depend on the other rows.
//!
//! Only AMD CPUs take this path (with AVX-512F, else AVX2 and FMA), where it was measured
//! against MKL's kernels for them; elsewhere (Intel's CPUs, whose own MKL kernels this was
//! not measured against; CPUs with neither) [`PackCache::weight`] answers `None` and the
//! callers keep libtorch's product. Nothing depends on MiniLM's sizes.
#![allow(unsafe_code)] // slices over tensors made or checked here; the kernel's pointers

use std::cell::RefCell;
use std::sync::OnceLock;

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use super::parallel;
use super::storage::{data, data_mut};

/// Steps of the shared dimension per pass over a block of rows.
const KC: usize = 384;
/// Columns per pass over all rows: their panels stay in the second-level cache.
const NC: usize = 256;

/// The register kernel a CPU runs: its tile is [`Isa::rows`] x [`Isa::cols`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// A 12 x 32 tile in 24 AVX-512 accumulators.
    Avx512,
    /// A 6 x 16 tile in 12 AVX2 accumulators (FMA).
    Avx2,
}

impl Isa {
    /// Rows of a block (the tile's rows).
    const fn rows(self) -> usize {
        match self {
            Self::Avx512 => 12,
            Self::Avx2 => 6,
        }
    }

    /// Columns of a panel (the tile's columns: two vectors).
    const fn cols(self) -> usize {
        match self {
            Self::Avx512 => 32,
            Self::Avx2 => 16,
        }
    }

    /// The widest kernel this CPU runs, if any.
    fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Some(Self::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Self::Avx2);
            }
        }
        None
    }
}

/// A weight `[n, k]` packed into panels of `isa.cols()` columns: panel `p` holds, for each
/// step `t < k`, the values `W[p nr + c][t]` for `c < nr` (zeros past `n`).
#[derive(Debug)]
pub(crate) struct PackedWeight {
    isa: Isa,
    n: usize,
    k: usize,
    panels: Vec<f32>,
}

impl PackedWeight {
    /// Packs a `[n, k]` `f32` CPU weight for this CPU's kernel, or `None` where the kernel
    /// is not chosen or for another kind of tensor.
    fn new(weight: &Tensor) -> Option<Self> {
        let isa = chosen()?;
        if weight.device() != Device::Cpu || weight.kind() != Kind::Float {
            return None;
        }
        let (n, k) = weight.size2().ok()?;
        let (n, k) = (usize::try_from(n).ok()?, usize::try_from(k).ok()?);
        if n == 0 || k == 0 {
            return None;
        }
        let w = weight.contiguous();
        // SAFETY: `w` is a parameter of the model (or a contiguous copy of one), which
        // nothing writes while an inference pass runs.
        let values = unsafe { data(&w, n * k) }?;
        Some(Self::from_rows(isa, values, n, k))
    }

    fn from_rows(isa: Isa, values: &[f32], n: usize, k: usize) -> Self {
        let nr = isa.cols();
        let mut panels = vec![0.0f32; n.div_ceil(nr) * nr * k];
        for (p, panel) in panels.chunks_exact_mut(nr * k).enumerate() {
            for (c, row) in values.chunks_exact(k).skip(p * nr).take(nr).enumerate() {
                for (t, &v) in row.iter().enumerate() {
                    panel[t * nr + c] = v;
                }
            }
        }
        Self { isa, n, k, panels }
    }
}

/// The packed copy of one weight, made by the first product and kept for the cache's life
/// (the model's inference weights: made again whenever the parameters have changed).
#[derive(Debug, Default)]
pub(crate) struct PackCache(OnceLock<Option<PackedWeight>>);

impl PackCache {
    /// The packed `weight`, packing it on first use; `None` where the kernel does not
    /// apply. Always call with the same weight.
    fn weight(&self, weight: &Tensor) -> Option<&PackedWeight> {
        self.0.get_or_init(|| PackedWeight::new(weight)).as_ref()
    }
}

/// `x W^T` without bias for `x [.., k]` and `weight [n, k]`: through the packed kernel when
/// `cache` is given and the kernel applies, else libtorch's.
pub(crate) fn product(x: &Tensor, weight: &Tensor, cache: Option<&PackCache>) -> Tensor {
    cache
        .and_then(|cache| packed_product(x, weight, cache))
        .unwrap_or_else(|| x.linear::<&Tensor>(weight, None))
}

fn packed_product(x: &Tensor, weight: &Tensor, cache: &PackCache) -> Option<Tensor> {
    if x.device() != Device::Cpu || x.kind() != Kind::Float || x.requires_grad() {
        return None;
    }
    let mut shape = x.size();
    let k = usize::try_from(*shape.last()?).ok()?;
    // Every product takes the kernel, however few its rows: a row's result then depends on
    // that row alone (the kernel sums each one in the same order in any block), so a text
    // gets the same bytes in any batch, as the embedding cache and sharded runs require.
    if k == 0 || x.numel() == 0 {
        return None;
    }
    let w = cache.weight(weight)?;
    if w.k != k {
        return None;
    }
    let m = x.numel() / k;
    let x = x.contiguous();
    *shape.last_mut()? = i64::try_from(w.n).ok()?;
    let mut out = Tensor::empty(shape.as_slice(), (Kind::Float, Device::Cpu));
    // SAFETY: `x` is the layer's input (or a contiguous copy of it), which nothing writes
    // during this product; `out` was just made here and shares its storage with nothing.
    let (a, c) = unsafe { (data(&x, m * k)?, data_mut(&mut out, m * w.n)?) };
    if parallel(c.len()) {
        // Whole blocks of rows per task.
        let mr = w.isa.rows();
        let rows = mr * m.div_ceil(mr * rayon::current_num_threads() * 4).max(1);
        c.par_chunks_mut(rows * w.n)
            .zip(a.par_chunks(rows * k))
            .for_each(|(c, a)| gemm(a, w, c));
    } else {
        gemm(a, w, c);
    }
    Some(out)
}

/// The kernel products take on this CPU: the widest it runs, on AMD's CPUs only (see the
/// module docs).
fn chosen() -> Option<Isa> {
    static CHOSEN: OnceLock<Option<Isa>> = OnceLock::new();
    *CHOSEN.get_or_init(|| Isa::detect().filter(|_| amd()))
}

fn amd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(unused_unsafe)] // `__cpuid` is safe on newer compilers
        // SAFETY: CPUID leaf 0 exists on every x86-64 CPU.
        let id = unsafe { std::arch::x86_64::__cpuid(0) };
        let vendor: Vec<u8> = [id.ebx, id.edx, id.ecx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        vendor == b"AuthenticAMD"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

thread_local! {
    /// The packed blocks of rows of the product running on this thread.
    static ROWS_SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `c [m, n] = a [m, k] W^T` (`m` from the lengths), with the kernel `w` was packed for.
///
/// # Panics
/// On a CPU without that kernel (a [`PackedWeight`] made by [`PackedWeight::new`] has the
/// CPU's own), or when the sizes do not fit.
fn gemm(a: &[f32], w: &PackedWeight, c: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    let m = a.len() / k;
    let (mr, nr) = (w.isa.rows(), w.isa.cols());
    assert!(
        a.len() == m * k && c.len() == m * n && w.panels.len() == n.div_ceil(nr) * nr * k,
        "gemm: operand sizes"
    );
    #[cfg(target_arch = "x86_64")]
    {
        let detected = Isa::detect();
        let runs = match w.isa {
            Isa::Avx512 => detected == Some(Isa::Avx512),
            Isa::Avx2 => detected.is_some(),
        };
        assert!(runs, "gemm: the CPU has no {:?}", w.isa);
        ROWS_SCRATCH.with_borrow_mut(|scratch| {
            scratch.resize(m.div_ceil(mr) * mr * KC.min(k), 0.0);
            // SAFETY: the CPU runs the weight's kernel and the sizes of every operand fit
            // (both checked just above).
            unsafe { x86::gemm(a, m, w, c, scratch) }
        });
    }
    #[cfg(not(target_arch = "x86_64"))]
    panic!("gemm: no kernel for this architecture");
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m256i, __m512, _mm256_broadcast_ss, _mm256_cmpgt_epi32, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_set1_epi32,
        _mm256_setr_epi32, _mm256_setzero_ps, _mm256_storeu_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };

    use super::{Isa, KC, NC, PackedWeight};

    /// `c = a W^T`: for each `KC` steps, pack the rows, then for each `NC` columns, each
    /// block of rows, each panel, one tile.
    ///
    /// # Safety
    /// The CPU runs `w.isa`'s kernel; `a` holds `m k` values, `c` `m n`, `w.panels`
    /// `ceil(n / nr) nr k` and `scratch` `ceil(m / mr) mr min(KC, k)`, with `mr`, `nr` the
    /// tile's rows and columns.
    pub(super) unsafe fn gemm(
        a: &[f32],
        m: usize,
        w: &PackedWeight,
        c: &mut [f32],
        scratch: &mut [f32],
    ) {
        let (n, k) = (w.n, w.k);
        let (mr, nr) = (w.isa.rows(), w.isa.cols());
        let kc = KC.min(k);
        let blocks = m.div_ceil(mr);
        let panels = n.div_ceil(nr);
        for pc in (0..k).step_by(kc) {
            let steps = kc.min(k - pc);
            for (i, dst) in scratch.chunks_exact_mut(mr * kc).take(blocks).enumerate() {
                let rows = mr.min(m - i * mr);
                let src = &a[i * mr * k + pc..];
                match rows {
                    // SAFETY: the block's rows hold `steps` values from `pc` each (`src`
                    // starts at row `i mr`, step `pc` of `a`, `m k` values), and `dst` holds
                    // `mr kc >= rows steps`.
                    12 => unsafe { pack_rows::<12>(src.as_ptr(), k, steps, dst.as_mut_ptr()) },
                    6 => unsafe { pack_rows::<6>(src.as_ptr(), k, steps, dst.as_mut_ptr()) },
                    _ => {
                        for t in 0..steps {
                            for r in 0..rows {
                                dst[t * rows + r] = src[r * k + t];
                            }
                        }
                    }
                }
            }
            for first in (0..panels).step_by(NC / nr) {
                for i in 0..blocks {
                    let rows = mr.min(m - i * mr);
                    let ap = scratch[i * mr * kc..].as_ptr();
                    for p in first..(first + NC / nr).min(panels) {
                        let cols = nr.min(n - p * nr);
                        // SAFETY: panel `p` from step `pc` holds `steps` x nr values; the
                        // tile's rows `i mr ..` and columns `p nr .. + cols` lie inside `c`;
                        // the packed rows hold `steps` x `rows` values; the caller vouches
                        // for the CPU.
                        unsafe {
                            let bp = w.panels.as_ptr().add((p * k + pc) * nr);
                            let cp = c.as_mut_ptr().add(i * mr * n + p * nr);
                            match w.isa {
                                Isa::Avx512 => tile512(rows, ap, bp, steps, cp, n, cols, pc > 0),
                                Isa::Avx2 => tile256(rows, ap, bp, steps, cp, n, cols, pc > 0),
                            }
                        }
                    }
                }
            }
        }
    }

    /// `dst[t R + r] = src[r lda + t]` for `r < R`, `t < steps`: a block of rows packed
    /// step by step (the loop the kernel reads).
    ///
    /// # Safety
    /// `src + r lda + t` is readable and `dst + t R + r` writable for every `r < R`,
    /// `t < steps`.
    unsafe fn pack_rows<const R: usize>(src: *const f32, lda: usize, steps: usize, dst: *mut f32) {
        let rows: [*const f32; R] = std::array::from_fn(|r| src.wrapping_add(r * lda));
        for t in 0..steps {
            for (r, row) in rows.iter().enumerate() {
                // SAFETY: the caller's guarantee.
                unsafe { *dst.add(t * R + r) = *row.add(t) };
            }
        }
    }

    /// Runs `$kernel::<rows>` for `rows` in the listed sizes.
    macro_rules! by_rows {
        ($rows:ident, $kernel:ident $args:tt, $($r:literal)*) => {
            match $rows {
                // SAFETY: the caller's guarantees, for `rows` rows.
                $($r => unsafe { $kernel::<$r> $args },)*
                _ => {}
            }
        };
    }

    /// One `rows x 32` tile (`rows <= 12`) in AVX-512 registers.
    ///
    /// # Safety
    /// As [`kernel512`].
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile512(
        rows: usize,
        a: *const f32,
        b: *const f32,
        steps: usize,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        add: bool,
    ) {
        by_rows!(rows, kernel512(a, b, steps, c, ldc, cols, add), 1 2 3 4 5 6 7 8 9 10 11 12);
    }

    /// `c[r][j] (+)= sum_t a[t R + r] b[t 32 + j]` for `r < R` and `j < cols` (the previous
    /// values are added when `add`).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `a` holds `steps R` values, `b` `steps 32`, and `c + r ldc + j`
    /// is valid for every `r < R` and `j < cols <= 32`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel512<const R: usize>(
        a: *const f32,
        b: *const f32,
        steps: usize,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        add: bool,
    ) {
        let mask = u32::MAX >> (32 - cols);
        let (lo, hi) = ((mask & 0xffff) as u16, (mask >> 16) as u16);
        let mut acc: [[__m512; 2]; R] = [[_mm512_setzero_ps(); 2]; R];
        if add {
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: masked loads of row `r`'s columns (the caller's guarantee).
                unsafe {
                    let row = c.add(r * ldc);
                    acc[0] = _mm512_maskz_loadu_ps(lo, row);
                    acc[1] = _mm512_maskz_loadu_ps(hi, row.add(16));
                }
            }
        }
        for t in 0..steps {
            // SAFETY: step `t` of both operands (the caller's guarantee).
            let (ar, b0, b1) = unsafe {
                let br = b.add(t * 32);
                (
                    a.add(t * R),
                    _mm512_loadu_ps(br),
                    _mm512_loadu_ps(br.add(16)),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above, `r < R`.
                let x = _mm512_set1_ps(unsafe { *ar.add(r) });
                acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: masked stores to row `r`'s columns (the caller's guarantee).
            unsafe {
                let row = c.add(r * ldc);
                _mm512_mask_storeu_ps(row, lo, acc[0]);
                _mm512_mask_storeu_ps(row.add(16), hi, acc[1]);
            }
        }
    }

    /// One `rows x 16` tile (`rows <= 6`) in AVX2 registers.
    ///
    /// # Safety
    /// As [`kernel256`].
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile256(
        rows: usize,
        a: *const f32,
        b: *const f32,
        steps: usize,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        add: bool,
    ) {
        by_rows!(rows, kernel256(a, b, steps, c, ldc, cols, add), 1 2 3 4 5 6);
    }

    /// The lanes `< n` of an AVX2 mask (all set from 8 on).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes(n: usize) -> __m256i {
        let n = i32::try_from(n.min(8)).unwrap_or(8);
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }

    /// `c[r][j] (+)= sum_t a[t R + r] b[t 16 + j]` for `r < R` and `j < cols` (the previous
    /// values are added when `add`).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds `steps R` values, `b` `steps 16`, and
    /// `c + r ldc + j` is valid for every `r < R` and `j < cols <= 16`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel256<const R: usize>(
        a: *const f32,
        b: *const f32,
        steps: usize,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        add: bool,
    ) {
        let full = cols == 16;
        let (lo, hi) = (lanes(cols), lanes(cols.saturating_sub(8)));
        let mut acc: [[__m256; 2]; R] = [[_mm256_setzero_ps(); 2]; R];
        if add {
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: row `r`'s columns, all 16 or masked (the caller's guarantee).
                unsafe {
                    let row = c.add(r * ldc);
                    if full {
                        acc[0] = _mm256_loadu_ps(row);
                        acc[1] = _mm256_loadu_ps(row.add(8));
                    } else {
                        acc[0] = _mm256_maskload_ps(row, lo);
                        acc[1] = _mm256_maskload_ps(row.add(8), hi);
                    }
                }
            }
        }
        for t in 0..steps {
            // SAFETY: step `t` of both operands (the caller's guarantee).
            let (ar, b0, b1) = unsafe {
                let br = b.add(t * 16);
                (
                    a.add(t * R),
                    _mm256_loadu_ps(br),
                    _mm256_loadu_ps(br.add(8)),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above, `r < R`.
                let x = unsafe { _mm256_broadcast_ss(&*ar.add(r)) };
                acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row `r`'s columns, all 16 or masked (the caller's guarantee).
            unsafe {
                let row = c.add(r * ldc);
                if full {
                    _mm256_storeu_ps(row, acc[0]);
                    _mm256_storeu_ps(row.add(8), acc[1]);
                } else {
                    _mm256_maskstore_ps(row, lo, acc[0]);
                    _mm256_maskstore_ps(row.add(8), hi, acc[1]);
                }
            }
        }
    }

    const _: () = assert!(
        Isa::Avx512.rows() <= 12
            && Isa::Avx512.cols() == 32
            && Isa::Avx2.rows() <= 6
            && Isa::Avx2.cols() == 16
            && NC.is_multiple_of(32)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7_919 + seed * 104_729) % 1_013) as f32 - 506.0) / 300.0)
            .collect()
    }

    /// The kernels this CPU runs.
    fn runnable() -> Vec<Isa> {
        match Isa::detect() {
            Some(Isa::Avx512) => vec![Isa::Avx512, Isa::Avx2],
            Some(Isa::Avx2) => vec![Isa::Avx2],
            None => Vec::new(),
        }
    }

    #[test]
    fn packed_products_match_libtorch_for_every_shape_edge() {
        // Rows around the blocks, columns around a panel, steps around KC.
        for (m, n, k) in [
            (96, 32, 384),
            (97, 33, 1),
            (107, 31, 385),
            (120, 100, 769),
            (131, 1, 7),
            (5, 17, 9),
            (200, 1_152, 384),
        ] {
            let opts = (Kind::Float, Device::Cpu);
            let x = Tensor::from_slice(&values(m * k, 1)).view([m as i64, k as i64]);
            let w = Tensor::from_slice(&values(n * k, 2))
                .view([n as i64, k as i64])
                .to_kind(opts.0);
            let want = x.linear::<&Tensor>(&w, None);
            let scale = f64::try_from(want.abs().max()).unwrap_or(1.0).max(1.0);
            // Each kernel the CPU runs.
            for isa in runnable() {
                let packed = PackedWeight::from_rows(isa, &values(n * k, 2), n, k);
                let mut c = vec![0.0f32; m * n];
                gemm(&values(m * k, 1), &packed, &mut c);
                let got = Tensor::from_slice(&c).view([m as i64, n as i64]);
                let diff = f64::try_from((got - &want).abs().max()).unwrap_or(f64::NAN);
                assert!(
                    diff <= 1e-5 * scale,
                    "{m}x{n}x{k}: {isa:?} kernel, max difference {diff}"
                );
            }
            // Through the tensor entry point, which takes the kernel where it is chosen.
            let cache = PackCache::default();
            let got = product(&x, &w, Some(&cache));
            assert_eq!(
                cache.0.get().is_some_and(Option::is_some),
                chosen().is_some()
            );
            let diff = f64::try_from((got - &want).abs().max()).unwrap_or(f64::NAN);
            assert!(diff <= 1e-5 * scale, "{m}x{n}x{k}: max difference {diff}");
        }
    }

    #[test]
    fn other_tensors_take_libtorch() {
        let cache = PackCache::default();
        let w = Tensor::from_slice(&values(8 * 4, 3)).view([8, 4]);
        let x = Tensor::from_slice(&values(100 * 4, 5))
            .view([-1, 4])
            .to_kind(Kind::Double);
        let y = product(&x, &w.to_kind(Kind::Double), Some(&cache));
        assert_eq!(y.kind(), Kind::Double);
        assert_eq!(y.size(), [100, 8]);
        assert!(cache.0.get().is_none(), "f64: nothing packed");
    }

    #[test]
    fn a_row_gets_the_same_bits_alone_and_in_any_block() {
        let (m, n, k) = (50, 70, 800);
        let a = values(m * k, 7);
        for isa in runnable() {
            let w = PackedWeight::from_rows(isa, &values(n * k, 8), n, k);
            let mut all = vec![0.0f32; m * n];
            gemm(&a, &w, &mut all);
            for row in [0, 5, 6, 11, 12, 37, 49] {
                let mut alone = vec![0.0f32; n];
                gemm(&a[row * k..(row + 1) * k], &w, &mut alone);
                let same = alone
                    .iter()
                    .zip(&all[row * n..(row + 1) * n])
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{isa:?}: row {row} differs alone and among {m} rows");
            }
        }
    }

    #[test]
    fn the_packed_layout_pads_the_last_panel_with_zeros() {
        for isa in [Isa::Avx512, Isa::Avx2] {
            let nr = isa.cols();
            let w = PackedWeight::from_rows(isa, &values((nr + 1) * 2, 6), nr + 1, 2);
            assert_eq!(w.panels.len(), 2 * nr * 2);
            assert_eq!(w.panels[nr], values((nr + 1) * 2, 6)[1], "row 0, step 1");
            assert_eq!(w.panels[2 * nr * 2 - 1], 0.0, "padding");
        }
    }
}
