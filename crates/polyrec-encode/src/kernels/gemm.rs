//! The matrix products of a linear layer at inference, `x W^T`, against a copy of the
//! weight packed once for the register kernel (AVX-512).
//!
//! libtorch hands these products to MKL, which packs both operands on every call, scales
//! the output by `beta = 0` in a pass of its own and, on AMD's CPUs, runs the kernel of its
//! default code path (see `docs/benchmarks.md`, "What the packed products change", for the
//! measured difference).
//! Here the weight `W [n, k]` is packed once per [`PackCache`] into panels of 32
//! columns, each `k` steps of 32 contiguous values; a product then packs its input in
//! blocks of 12 rows (each `KC` steps of 12 values, so the block stays in the first-level
//! cache) and runs a 12 x 32 register tile (24 accumulators) over every panel, in blocks
//! of `NC` columns whose panels stay in the second-level cache. Partial blocks of rows run
//! a smaller tile and partial panels store through a mask, so no shape is special.
//!
//! Only AMD CPUs with AVX-512F take this path, where it was measured against MKL's kernel
//! for them; elsewhere (Intel's CPUs, whose own MKL kernel this was not measured against;
//! CPUs without AVX-512F) [`PackCache::weight`] answers `None` and the callers keep
//! libtorch's product. Nothing depends on MiniLM's sizes.
#![allow(unsafe_code)] // slices over tensors made or checked here; the kernel's pointers

use std::cell::RefCell;
use std::sync::OnceLock;

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use super::parallel;
use super::storage::{data, data_mut};

/// Columns of a panel (two 512-bit vectors).
const NR: usize = 32;
/// Rows of a block (the register tile is `MR x NR`).
const MR: usize = 12;
/// Steps of the shared dimension per pass over a block of rows.
const KC: usize = 384;
/// Columns per pass over all rows: their panels stay in the second-level cache.
const NC: usize = 256;

/// A weight `[n, k]` packed into panels of [`NR`] columns: panel `p` holds, for each step
/// `t < k`, the values `W[p NR + c][t]` for `c < NR` (zeros past `n`).
#[derive(Debug)]
pub(crate) struct PackedWeight {
    n: usize,
    k: usize,
    panels: Vec<f32>,
}

impl PackedWeight {
    /// Packs a `[n, k]` `f32` CPU weight, or `None` on a CPU without the kernel or for
    /// another kind of tensor.
    fn new(weight: &Tensor) -> Option<Self> {
        if !chosen() || weight.device() != Device::Cpu || weight.kind() != Kind::Float {
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
        Some(Self::from_rows(values, n, k))
    }

    fn from_rows(values: &[f32], n: usize, k: usize) -> Self {
        let mut panels = vec![0.0f32; n.div_ceil(NR) * NR * k];
        for (p, panel) in panels.chunks_exact_mut(NR * k).enumerate() {
            for (c, row) in values.chunks_exact(k).skip(p * NR).take(NR).enumerate() {
                for (t, &v) in row.iter().enumerate() {
                    panel[t * NR + c] = v;
                }
            }
        }
        Self { n, k, panels }
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
        let rows = MR * m.div_ceil(MR * rayon::current_num_threads() * 4).max(1);
        c.par_chunks_mut(rows * w.n)
            .zip(a.par_chunks(rows * k))
            .for_each(|(c, a)| gemm(a, w, c));
    } else {
        gemm(a, w, c);
    }
    Some(out)
}

/// Whether this CPU runs the kernel (AVX-512F).
fn kernel_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether products take the kernel on this CPU: it runs it, and it is an AMD one (see the
/// module docs).
fn chosen() -> bool {
    static CHOSEN: OnceLock<bool> = OnceLock::new();
    *CHOSEN.get_or_init(|| kernel_available() && amd())
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

/// `c [m, n] = a [m, k] W^T` (`m` from the lengths).
///
/// # Panics
/// On a CPU without the kernel (the products reach it through a [`PackedWeight`] made by
/// [`PackedWeight::new`], which checks), or when the sizes do not fit.
fn gemm(a: &[f32], w: &PackedWeight, c: &mut [f32]) {
    assert!(kernel_available(), "gemm: the CPU has no AVX-512F");
    let (n, k) = (w.n, w.k);
    let m = a.len() / k;
    assert!(
        a.len() == m * k && c.len() == m * n && w.panels.len() == n.div_ceil(NR) * NR * k,
        "gemm: operand sizes"
    );
    #[cfg(target_arch = "x86_64")]
    ROWS_SCRATCH.with_borrow_mut(|scratch| {
        scratch.resize(m.div_ceil(MR) * MR * KC.min(k), 0.0);
        // SAFETY: the CPU has AVX-512F and the sizes of every operand fit (both checked
        // just above).
        unsafe { x86::gemm(a, m, w, c, scratch) }
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
        _mm512_set1_ps, _mm512_setzero_ps,
    };

    use super::{KC, MR, NC, NR, PackedWeight};

    /// `c = a W^T`: for each `KC` steps, pack the rows, then for each `NC` columns, each
    /// block of rows, each panel, one tile.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `a` holds `m k` values, `c` `m n`, `w.panels` `ceil(n / NR) NR k`
    /// and `scratch` `ceil(m / MR) MR min(KC, k)`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(
        a: &[f32],
        m: usize,
        w: &PackedWeight,
        c: &mut [f32],
        scratch: &mut [f32],
    ) {
        let (n, k) = (w.n, w.k);
        let kc = KC.min(k);
        let blocks = m.div_ceil(MR);
        let panels = n.div_ceil(NR);
        for pc in (0..k).step_by(kc) {
            let steps = kc.min(k - pc);
            for (i, dst) in scratch.chunks_exact_mut(MR * kc).take(blocks).enumerate() {
                let rows = MR.min(m - i * MR);
                let src = &a[i * MR * k + pc..];
                if rows == MR {
                    // SAFETY: the block's `MR` rows hold `steps` values from `pc` each
                    // (`src` starts at row `i MR`, step `pc` of `a`, `m k` values), and
                    // `dst` holds `MR kc >= MR steps`.
                    unsafe { pack_rows::<MR>(src.as_ptr(), k, steps, dst.as_mut_ptr()) }
                } else {
                    for t in 0..steps {
                        for r in 0..rows {
                            dst[t * rows + r] = src[r * k + t];
                        }
                    }
                }
            }
            for first in (0..panels).step_by(NC / NR) {
                for i in 0..blocks {
                    let rows = MR.min(m - i * MR);
                    let ap = scratch[i * MR * kc..].as_ptr();
                    for p in first..(first + NC / NR).min(panels) {
                        let cols = NR.min(n - p * NR);
                        let mask = if cols == NR {
                            u32::MAX
                        } else {
                            (1u32 << cols) - 1
                        };
                        // SAFETY: panel `p` from step `pc` holds `steps` x NR values; the
                        // tile's rows `i MR ..` and columns `p NR ..` (masked to `cols`) lie
                        // inside `c`; the packed rows hold `steps` x `rows` values.
                        unsafe {
                            let bp = w.panels.as_ptr().add((p * k + pc) * NR);
                            let cp = c.as_mut_ptr().add(i * MR * n + p * NR);
                            tile(rows, ap, bp, steps, cp, n, mask, pc > 0);
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
    /// The CPU has AVX-512F; `src + r lda + t` is readable and `dst + t R + r` writable for
    /// every `r < R`, `t < steps`.
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_rows<const R: usize>(src: *const f32, lda: usize, steps: usize, dst: *mut f32) {
        let rows: [*const f32; R] = std::array::from_fn(|r| src.wrapping_add(r * lda));
        for t in 0..steps {
            for (r, row) in rows.iter().enumerate() {
                // SAFETY: the caller's guarantee.
                unsafe { *dst.add(t * R + r) = *row.add(t) };
            }
        }
    }

    /// One `rows x NR` tile (`rows <= MR`), the tile size chosen at compile time.
    ///
    /// # Safety
    /// As [`kernel`].
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile(
        rows: usize,
        a: *const f32,
        b: *const f32,
        steps: usize,
        c: *mut f32,
        ldc: usize,
        mask: u32,
        add: bool,
    ) {
        macro_rules! by_rows {
            ($($r:literal)*) => {
                match rows {
                    // SAFETY: the caller's guarantees, for `rows` rows.
                    $($r => unsafe { kernel::<$r>(a, b, steps, c, ldc, mask, add) },)*
                    _ => {}
                }
            };
        }
        by_rows!(1 2 3 4 5 6 7 8 9 10 11 12);
    }

    /// `c[r][j] (+)= sum_t a[t R + r] b[t NR + j]` for `r < R` and the columns `j` set in
    /// `mask` (the previous values are added when `add`).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `a` holds `steps R` values, `b` `steps NR`, and `c + r ldc + j`
    /// is valid for every `r < R` and every `j` set in `mask`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const R: usize>(
        a: *const f32,
        b: *const f32,
        steps: usize,
        c: *mut f32,
        ldc: usize,
        mask: u32,
        add: bool,
    ) {
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
                let br = b.add(t * NR);
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

    const _: () = assert!(MR <= 12 && NR == 32 && NC.is_multiple_of(NR));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7_919 + seed * 104_729) % 1_013) as f32 - 506.0) / 300.0)
            .collect()
    }

    #[test]
    fn packed_products_match_libtorch_for_every_shape_edge() {
        if !kernel_available() {
            return;
        }
        // Rows around a block and the threshold, columns around a panel, steps around KC.
        for (m, n, k) in [
            (96, 32, 384),
            (97, 33, 1),
            (107, 31, 385),
            (120, 100, 769),
            (131, 1, 7),
            (200, 1_152, 384),
        ] {
            let opts = (Kind::Float, Device::Cpu);
            let x = Tensor::from_slice(&values(m * k, 1)).view([m as i64, k as i64]);
            let w = Tensor::from_slice(&values(n * k, 2))
                .view([n as i64, k as i64])
                .to_kind(opts.0);
            let want = x.linear::<&Tensor>(&w, None);
            let scale = f64::try_from(want.abs().max()).unwrap_or(1.0).max(1.0);
            // The kernel itself, on any CPU that runs it.
            let packed = PackedWeight::from_rows(&values(n * k, 2), n, k);
            let mut c = vec![0.0f32; m * n];
            gemm(&values(m * k, 1), &packed, &mut c);
            let got = Tensor::from_slice(&c).view([m as i64, n as i64]);
            let diff = f64::try_from((got - &want).abs().max()).unwrap_or(f64::NAN);
            assert!(
                diff <= 1e-5 * scale,
                "{m}x{n}x{k}: kernel, max difference {diff}"
            );
            // Through the tensor entry point, which takes the kernel where it is chosen.
            let cache = PackCache::default();
            let got = product(&x, &w, Some(&cache));
            assert_eq!(cache.0.get().is_some_and(Option::is_some), chosen());
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
        if !kernel_available() {
            return;
        }
        let (m, n, k) = (50, 70, 800);
        let a = values(m * k, 7);
        let w = PackedWeight::from_rows(&values(n * k, 8), n, k);
        let mut all = vec![0.0f32; m * n];
        gemm(&a, &w, &mut all);
        for row in [0, 11, 12, 37, 49] {
            let mut alone = vec![0.0f32; n];
            gemm(&a[row * k..(row + 1) * k], &w, &mut alone);
            let same = alone
                .iter()
                .zip(&all[row * n..(row + 1) * n])
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "row {row} differs alone and among {m} rows");
        }
    }

    #[test]
    fn the_packed_layout_pads_the_last_panel_with_zeros() {
        let w = PackedWeight::from_rows(&values(33 * 2, 6), 33, 2);
        assert_eq!(w.panels.len(), 2 * NR * 2);
        assert_eq!(w.panels[NR], values(33 * 2, 6)[1], "row 0, step 1");
        assert_eq!(w.panels[2 * NR * 2 - 1], 0.0, "padding");
    }
}
