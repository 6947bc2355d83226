//! The tile product of `super::tile` in AVX-512 and in AVX2 with FMA registers. Each
//! kernel runs on raw pointers behind a safe function that checks every read of its steps
//! lies inside the operands (else it runs the portable tile) and that is handed out only on
//! CPUs with the features (see `super::tile_product`).
#![allow(unsafe_code)] // SIMD intrinsics on raw pointers, bounds checked in `checked`

use std::arch::x86_64::{
    __m256, __m512, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps,
    _mm256_storeu_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_storeu_ps,
};

use super::tile::{LANES, Operand, ROWS, Tile, TileFn, tile_portable};

/// The fastest tile product this CPU runs (AVX-512, else AVX2 with FMA), if any: the only
/// way out of this module for the functions below, whose soundness rests on that check.
pub(super) fn tile_product() -> Option<TileFn> {
    if std::arch::is_x86_feature_detected!("avx512f") {
        return Some(tile_avx512);
    }
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return Some(tile_avx2);
    }
    None
}

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
    let (Some(va), Some(vb)) = (a.values.get(a.at..), b.values.get(b.at..)) else {
        return tile_portable(a, b, n);
    };
    // SAFETY: the kernel reads `ROWS` values of `a` and `LANES` of `b` per step, all
    // inside the slices (checked above); the caller vouches for the CPU.
    unsafe { kernel(va.as_ptr(), a.stride, vb.as_ptr(), b.stride, n) }
}

/// [`TileFn`] with the tile held in eight 512-bit registers.
fn tile_avx512(a: Operand<'_>, b: Operand<'_>, n: usize) -> Tile {
    // SAFETY: `tile_product` hands this function out only on CPUs with AVX-512F, and
    // nothing else in the crate can reach it.
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

/// [`TileFn`] in 256-bit registers, half the rows at a time (so the
/// accumulators and operands fit the 16 registers).
fn tile_avx2(a: Operand<'_>, b: Operand<'_>, n: usize) -> Tile {
    // SAFETY: `tile_product` hands this function out only on CPUs with AVX2 and FMA, and
    // nothing else in the crate can reach it.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kernel this CPU runs, by name.
    fn kernels() -> Vec<(&'static str, TileFn)> {
        let mut out: Vec<(&'static str, TileFn)> = Vec::new();
        if std::arch::is_x86_feature_detected!("avx512f") {
            out.push(("avx512", tile_avx512));
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            out.push(("avx2", tile_avx2));
        }
        out
    }

    #[test]
    fn every_tile_product_agrees_with_the_portable_one() {
        let a: Vec<f32> = (0..2_000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let b: Vec<f32> = (0..3_000)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0)
            .collect();
        for (name, fast) in kernels() {
            for (sa, a0, sb, b0, n) in [(8, 0, 16, 0, 0), (8, 3, 16, 5, 1), (24, 7, 48, 2, 40)] {
                let (oa, ob) = (Operand::new(&a, sa, a0), Operand::new(&b, sb, b0));
                let want = tile_portable(oa, ob, n);
                let got = fast(oa, ob, n);
                for (w, g) in want.iter().flatten().zip(got.iter().flatten()) {
                    assert!(
                        (w - g).abs() <= 1e-4 * w.abs().max(1.0),
                        "{name}: {w} vs {g}"
                    );
                }
            }
            // Reads past the end fall back to the portable code, which reads zeros there.
            let (oa, ob) = (Operand::new(&a, 8, 1_990), Operand::new(&b, 16, 0));
            assert_eq!(fast(oa, ob, 2), tile_portable(oa, ob, 2), "{name}");
            // So does an operand that starts past the end.
            let (oa, ob) = (Operand::new(&a, 8, 5_000), Operand::new(&b, 16, 0));
            assert_eq!(fast(oa, ob, 0), tile_portable(oa, ob, 0), "{name}");
        }
    }
}
