//! Register tiles of small matrix products, the building block of the attention pass: a
//! `ROWS x LANES` block of the product accumulated over the shared dimension. This file
//! holds the operands and the portable tile; `super::x86` holds the AVX-512 and AVX2
//! ones, and `super::tile_product` picks one for the CPU at run time.

/// Columns of a tile of a small product (one 512-bit vector, two 256-bit ones).
pub(super) const LANES: usize = 16;
/// Rows of a tile of a small product.
pub(super) const ROWS: usize = 8;

/// A tile of a small product.
pub(super) type Tile = [[f32; LANES]; ROWS];

/// One operand of a tile product: step `t` reads from `values[at + t * stride]` on.
#[derive(Clone, Copy)]
pub(super) struct Operand<'a> {
    pub(super) values: &'a [f32],
    pub(super) at: usize,
    pub(super) stride: usize,
}

impl<'a> Operand<'a> {
    pub(super) fn new(values: &'a [f32], stride: usize, at: usize) -> Self {
        Self { values, at, stride }
    }

    /// Whether `n` steps of `width` values lie inside `values`.
    pub(super) fn fits(&self, n: usize, width: usize) -> bool {
        n == 0
            || (n - 1)
                .checked_mul(self.stride)
                .and_then(|x| x.checked_add(self.at)?.checked_add(width))
                .is_some_and(|end| end <= self.values.len())
    }

    /// The `N` values of step `t` (zeros past the end).
    pub(super) fn step<const N: usize>(&self, t: usize) -> [f32; N] {
        let at = self.at + t * self.stride;
        std::array::from_fn(|i| self.values.get(at + i).copied().unwrap_or(0.0))
    }
}

/// `out[r][l] = sum over t < n of a[t][r] * b[t][l]`, for `r < ROWS`, `l < LANES`.
pub(super) type TileFn = fn(Operand<'_>, Operand<'_>, usize) -> Tile;

/// [`TileFn`] in portable code (zeros for reads past the end of an operand).
pub(super) fn tile_portable(a: Operand<'_>, b: Operand<'_>, n: usize) -> Tile {
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
