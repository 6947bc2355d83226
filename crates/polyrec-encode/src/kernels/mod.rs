//! Hand-written CPU kernels for inference: fused passes that finish a linear layer's bias
//! together with what follows it (the exact GELU, or the residual connection and the layer
//! norm) in one pass over the output, in place; and self-attention from the stacked
//! query/key/value projection (see `attention`).
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
//!
//! The module is laid out by concern: `gemm` (the linear layers' products against weights
//! packed once), `fused` (the linear-layer passes), `attention`
//! (self-attention from the stacked projection), `tile` (register tiles of small products,
//! portable) and `x86` (the same tiles in AVX-512 and AVX2 registers), `math` (GELU and
//! `exp`), and `storage` (a tensor's values as a slice, layout checked). This file holds
//! the entry points the model calls and the run-time choice of code for the CPU. Every
//! entry is safe and answers through libtorch's own ops when its fast path does not apply.

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

mod attention;
mod fused;
mod gemm;
mod math;
mod storage;
mod tile;
#[cfg(target_arch = "x86_64")]
mod x86;

pub(crate) use attention::self_attention;
pub(crate) use fused::{linear_gelu, linear_residual_norm};
pub(crate) use gemm::PackCache;

/// The tile product for this CPU: AVX-512, else AVX2 with FMA, else portable code.
fn tile_product() -> tile::TileFn {
    #[cfg(target_arch = "x86_64")]
    if let Some(fast) = x86::tile_product() {
        return fast;
    }
    tile::tile_portable
}

/// Whether a pass over `len` values is worth splitting across libtorch's intra-op threads
/// (inside an encoder worker there is one, so passes stay on the worker's core).
fn parallel(len: usize) -> bool {
    len >= 1 << 16 && tch::get_num_threads() > 1
}
