//! Multi-head self-attention at inference on the CPU, from the stacked query/key/value
//! projection, one sequence per pass.
#![allow(unsafe_code)] // slices over tensors made or checked here, see `super::storage`

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use super::gemm::{PackCache, product as packed_or_torch};
use super::math::exp_nonpositive;
use super::storage::{data, data_mut};
use super::tile::{LANES, Operand, ROWS, TileFn};
use super::{parallel, tile_product};

/// Multi-head self-attention at inference on the CPU, from the stacked query/key/value
/// projection: `softmax(q k^T / sqrt(d)) v` for every head of every sequence, with `x` of
/// shape `[tokens, hidden]` holding the sequences' tokens one after another (`lengths`
/// of them each, no padding), `weight` `[3 hidden, hidden]` and `bias` `[3 hidden]` (query,
/// key and value rows stacked in that order). Returns the context `[tokens, hidden]` with
/// the heads side by side (the layout the output projection reads), or `None` where the
/// fast path does not apply (not `f32` CPU tensors of those shapes, lengths that do not
/// add up to the rows, or gradients needed): the caller then takes libtorch's attention.
///
/// libtorch's CPU attention wants `[batch, heads, seq, d]` views (a transposed copy in and
/// out) of padded sequences, and its flash kernel finishes the softmax of rows shorter
/// than its block with a scalar `exp`. Here one pass per sequence transposes each head's
/// queries and keys; the two products run as register tiles reading the values where the
/// projection left them, and the softmax is vectorised across queries. The key bias adds
/// `q . b_k` to every score of a query, which the softmax cancels, so it is skipped; the
/// value bias is added once per output (the probabilities sum to one).
pub(crate) fn self_attention(
    x: &Tensor,
    lengths: &[usize],
    weight: &Tensor,
    bias: &Tensor,
    heads: usize,
    pack: Option<&PackCache>,
) -> Option<Tensor> {
    let cpu_f32 =
        |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float && !t.requires_grad();
    let (t, h) = x.size2().ok()?;
    let (t, h) = (usize::try_from(t).ok()?, usize::try_from(h).ok()?);
    if !(cpu_f32(x) && cpu_f32(weight) && cpu_f32(bias))
        || heads == 0
        || h == 0
        || h % heads != 0
        || t == 0
        || lengths.iter().try_fold(0usize, |a, &l| a.checked_add(l)) != Some(t)
        || weight.size() != [3 * h as i64, h as i64]
        || bias.size() != [3 * h as i64]
    {
        return None;
    }
    let all = packed_or_torch(x, weight, pack);
    let bias = bias.contiguous();
    let mut ctx = Tensor::empty([t as i64, h as i64], (Kind::Float, Device::Cpu));
    // SAFETY: `all` (the product) and `ctx` were just made here and share their storage
    // with nothing; `bias` is the caller's stacked projection bias (or a contiguous copy of
    // it), a parameter that nothing writes while a forward pass runs.
    let (all_v, bias_v, out) = unsafe {
        (
            data(&all, t * 3 * h)?,
            data(&bias, 3 * h)?,
            data_mut(&mut ctx, t * h)?,
        )
    };
    // Each sequence's rows of the projection and of the context.
    let mut sequences = Vec::with_capacity(lengths.len());
    let (mut rows, mut out) = (all_v, out);
    for &len in lengths {
        let (r, rest) = rows.split_at(len * 3 * h);
        let (o, tail) = std::mem::take(&mut out).split_at_mut(len * h);
        (rows, out) = (rest, tail);
        if len > 0 {
            sequences.push((r, o));
        }
    }
    let product = tile_product();
    // One scratch buffer per thread, reused across its sequences.
    let one = |scratch: &mut Vec<f32>, (rows, ctx): (&[f32], &mut [f32])| {
        let sequence = Sequence {
            rows,
            bias: bias_v,
            heads,
            product,
        };
        attend(&sequence, ctx, scratch);
    };
    if parallel(t * h) && sequences.len() > 1 {
        sequences.into_par_iter().for_each_init(Vec::new, one);
    } else {
        let mut scratch = Vec::new();
        sequences.into_iter().for_each(|x| one(&mut scratch, x));
    }
    Some(ctx)
}

/// One sequence for [`attend`].
struct Sequence<'a> {
    /// Its `[seq, 3 hidden]` bias-free query/key/value projection.
    rows: &'a [f32],
    /// The `[3 hidden]` bias of that projection.
    bias: &'a [f32],
    heads: usize,
    product: TileFn,
}

multiversioned! {
    /// Attention of one sequence into `ctx`, its `[seq, hidden]` context.
    fn attend => attend_portable(x: &Sequence<'_>, ctx: &mut [f32], scratch: &mut Vec<f32>)
}

#[inline(always)]
fn attend_portable(x: &Sequence<'_>, ctx: &mut [f32], scratch: &mut Vec<f32>) {
    let Sequence {
        rows,
        bias,
        heads,
        product,
    } = *x;
    let h = bias.len() / 3;
    let (s, d) = (ctx.len() / h, h / heads);
    let scale = 1.0 / (d as f32).sqrt();
    // Scratch, padded so every tile is whole (padding stays zero): for all heads, the
    // scaled queries qt [h, sq] and the keys kt [h, sk] transposed (so head `n` is rows
    // n d .. (n + 1) d); then per head pt [s, sq], the scores / probabilities transposed
    // (key rows, query lanes), and per-query maxima and sums.
    let sq = s.div_ceil(LANES) * LANES;
    let sk = s.div_ceil(ROWS) * ROWS;
    scratch.clear();
    scratch.resize(h * sq + h * sk + s * sq + 2 * sq, 0.0);
    let (qt_all, rest) = scratch.split_at_mut(h * sq);
    let (kt_all, rest) = rest.split_at_mut(h * sk);
    let (pt, rest) = rest.split_at_mut(s * sq);
    let (max, sum) = rest.split_at_mut(sq);
    let (bq, rest) = bias.split_at(h);
    let bv = &rest[h..];
    transpose(rows, 3 * h, 0, h, qt_all, sq, |c, x| (x + bq[c]) * scale);
    transpose(rows, 3 * h, h, h, kt_all, sk, |_, x| x);
    for head in 0..heads {
        let qt = &qt_all[head * d * sq..(head + 1) * d * sq];
        let kt = &kt_all[head * d * sk..(head + 1) * d * sk];
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
        for p in pt.chunks_exact(sq) {
            for (p, m) in p.iter().zip(max.iter_mut()) {
                // A select, not a conditional store (which compiles to masked stores).
                *m = m.max(*p);
            }
        }
        sum.fill(0.0);
        for p in pt.chunks_exact_mut(sq) {
            for ((p, m), t) in p.iter_mut().zip(max.iter()).zip(sum.iter_mut()) {
                *p = exp_nonpositive(*p - *m);
                *t += *p;
            }
        }
        // Weighted sum of values, read in the projection's rows: a tile of ROWS queries x
        // LANES of the head dim (only tiles that hold a real query), plus the value bias.
        for i0 in (0..s).step_by(ROWS) {
            for c0 in (0..d).step_by(LANES) {
                let v = Operand::new(rows, 3 * h, 2 * h + head * d + c0);
                let acc = product(Operand::new(pt, sq, i0), v, s);
                let width = (d - c0).min(LANES);
                let bv = &bv[head * d + c0..head * d + c0 + width];
                for (r, a) in acc.iter().enumerate().take(s.saturating_sub(i0)) {
                    let i = i0 + r;
                    let inv = 1.0 / sum[i];
                    let at = i * h + head * d + c0;
                    let out = &mut ctx[at..at + width];
                    if let (Ok(out), Ok(bv)) = (
                        <&mut [f32; LANES]>::try_from(&mut *out),
                        <&[f32; LANES]>::try_from(bv),
                    ) {
                        for ((o, a), b) in out.iter_mut().zip(a).zip(bv) {
                            *o = a.mul_add(inv, *b);
                        }
                    } else {
                        for ((o, a), b) in out.iter_mut().zip(a).zip(bv) {
                            *o = a.mul_add(inv, *b);
                        }
                    }
                }
            }
        }
    }
}

/// `dst[c ldd + j] = f(c, src[j lds + at + c])` for `c < width` and every row `j` of `src`
/// (`src.len() / lds` rows): in blocks of `T x T`, each read as `T` runs of a row and
/// written as `T` runs of a column, so reads and writes both run along memory.
#[inline(always)]
fn transpose(
    src: &[f32],
    lds: usize,
    at: usize,
    width: usize,
    dst: &mut [f32],
    ldd: usize,
    f: impl Fn(usize, f32) -> f32,
) {
    const T: usize = 8;
    let rows = src.len() / lds;
    let (whole_rows, whole_cols) = (rows / T * T, width / T * T);
    for j0 in (0..whole_rows).step_by(T) {
        for c0 in (0..whole_cols).step_by(T) {
            let mut block = [[0.0f32; T]; T];
            for (r, b) in block.iter_mut().enumerate() {
                let from = (j0 + r) * lds + at + c0;
                b.copy_from_slice(&src[from..from + T]);
            }
            for c in 0..T {
                let out = &mut dst[(c0 + c) * ldd + j0..][..T];
                for (o, b) in out.iter_mut().zip(&block) {
                    *o = f(c0 + c, b[c]);
                }
            }
        }
    }
    // The edges: the last rows, and the last columns of the others.
    for j in 0..rows {
        let first = if j < whole_rows { whole_cols } else { 0 };
        for c in first..width {
            dst[c * ldd + j] = f(c, src[j * lds + at + c]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // (batch, seq, hidden, heads): head sizes 32, 24 (not a whole vector), 64, 1 and 5
        // (a hidden size that is not a whole transposed block); lengths below, at and
        // above the tile sizes.
        for (b, s, h, heads) in [
            (2, 1, 64, 2),
            (3, 7, 96, 4),
            (2, 17, 128, 2),
            (4, 40, 384, 12),
            (1, 33, 8, 8),
            (3, 11, 20, 4),
        ] {
            tch::no_grad(|| {
                let x = Tensor::randn([b, s, h], opts);
                let weight = Tensor::randn([3 * h, h], opts) / (h as f64).sqrt();
                let bias = Tensor::randn([3 * h], opts) * 0.5;
                // Sequences of the same length, one after another.
                let want = reference_attention(&x, &weight, &bias, heads, None).view([b * s, h]);
                let lengths = vec![s as usize; b as usize];
                let got = self_attention(
                    &x.view([b * s, h]),
                    &lengths,
                    &weight,
                    &bias,
                    heads as usize,
                    None,
                )
                .expect("the fast path applies to f32 CPU tensors");
                let diff = f64::try_from((&got - &want).abs().max()).unwrap_or(f64::NAN);
                assert!(diff < 1e-5, "b={b} s={s} h={h} heads={heads}: {diff}");
                // Sequences of different lengths (sequence i keeps s - i tokens; the second of
                // three or more keeps none),
                // against libtorch's attention over the same sequences right-padded.
                let lens: Vec<i64> = (0..b)
                    .map(|i| if i == 1 && b > 2 { 0 } else { (s - i).max(1) })
                    .collect();
                let mask = Tensor::from_slice(
                    &lens
                        .iter()
                        .flat_map(|&l| (0..s).map(move |j| if j < l { 0.0f32 } else { -1e4 }))
                        .collect::<Vec<f32>>(),
                )
                .view([b, 1, 1, s]);
                let want = reference_attention(&x, &weight, &bias, heads, Some(&mask));
                let real = |t: &Tensor| {
                    let parts: Vec<Tensor> = lens
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| t.get(i as i64).narrow(0, 0, l))
                        .collect();
                    Tensor::cat(&parts, 0)
                };
                let lengths: Vec<usize> = lens.iter().map(|&l| l as usize).collect();
                let got = self_attention(&real(&x), &lengths, &weight, &bias, heads as usize, None)
                    .expect("the fast path applies to sequences of any lengths");
                let diff = f64::try_from((&got - real(&want)).abs().max()).unwrap_or(f64::NAN);
                assert!(diff < 1e-5, "lengths {lens:?} h={h} heads={heads}: {diff}");
            });
        }
    }

    #[test]
    fn self_attention_declines_what_it_cannot_do() {
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([3, 8], opts);
        let (w, b) = (Tensor::randn([24, 8], opts), Tensor::randn([24], opts));
        let one = [3];
        assert!(
            self_attention(&x, &one, &w, &b, 3, None).is_none(),
            "8 is not 3 heads"
        );
        assert!(
            self_attention(&x, &one, &w, &b, 0, None).is_none(),
            "no heads"
        );
        let double = x.to_kind(Kind::Double);
        let (wd, bd) = (w.to_kind(Kind::Double), b.to_kind(Kind::Double));
        assert!(
            self_attention(&double, &one, &wd, &bd, 2, None).is_none(),
            "f64"
        );
        assert!(
            self_attention(&x, &[2, 2], &w, &b, 2, None).is_none(),
            "lengths that are not the rows"
        );
        assert!(
            self_attention(&x, &[usize::MAX, 4], &w, &b, 2, None).is_none(),
            "lengths that overflow"
        );
        let narrow = Tensor::randn([24, 4], opts);
        assert!(
            self_attention(&x, &one, &narrow, &b, 2, None).is_none(),
            "weight shape"
        );
        assert!(
            self_attention(&x.view([1, 3, 8]), &one, &w, &b, 2, None).is_none(),
            "not [tokens, hidden]"
        );
        let empty = Tensor::zeros([0, 8], opts);
        assert!(
            self_attention(&empty, &[0], &w, &b, 2, None).is_none(),
            "no tokens"
        );
        assert!(
            self_attention(&x, &[1, 0, 2], &w, &b, 2, None).is_some(),
            "this one applies"
        );
        let w = w.set_requires_grad(true);
        assert!(
            self_attention(&x, &one, &w, &b, 2, None).is_none(),
            "gradients"
        );
    }
}
