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
/// projection: `softmax(q k^T / sqrt(d) + key_bias) v` for every head, with `x` of shape
/// `[batch, seq, hidden]`, `weight` `[3 hidden, hidden]` and `bias` `[3 hidden]` (query,
/// key and value rows stacked in that order). `key_bias` is an additive bias per key
/// position, `[batch * seq]` (large and negative where padded), or `None` when nothing is
/// padded. Returns the context `[batch, seq, hidden]` with the heads side by side (the
/// layout the output projection reads), or `None` where the fast path does not apply
/// (not `f32` CPU tensors of those shapes, or gradients needed): the caller then takes
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
    pack: Option<&PackCache>,
) -> Option<Tensor> {
    let cpu_f32 =
        |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float && !t.requires_grad();
    let (b, s, h) = x.size3().ok()?;
    let (b, s, h) = (b as usize, s as usize, h as usize);
    if !(cpu_f32(x) && cpu_f32(weight) && cpu_f32(bias))
        || heads == 0
        || h == 0
        || h % heads != 0
        || b * s == 0
        || weight.size() != [3 * h as i64, h as i64]
        || bias.size() != [3 * h as i64]
        || key_bias.is_some_and(|k| k.len() != b * s)
    {
        return None;
    }
    let all = packed_or_torch(x, weight, pack);
    let bias = bias.contiguous();
    let mut ctx = Tensor::zeros([b as i64, s as i64, h as i64], (Kind::Float, Device::Cpu));
    // SAFETY: `all` (the product) and `ctx` (the zeros) were just made here and share their
    // storage with nothing; `bias` is the caller's stacked projection bias (or a contiguous
    // copy of it), a parameter that nothing writes while a forward pass runs.
    let (all_v, bias_v, out) = unsafe {
        (
            data(&all, b * s * 3 * h)?,
            data(&bias, 3 * h)?,
            data_mut(&mut ctx, b * s * h)?,
        )
    };
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
                let got = self_attention(&x, &weight, &bias, heads as usize, None, None)
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
                let got = self_attention(&x, &weight, &bias, heads as usize, Some(&keys), None)
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
            self_attention(&x, &w, &b, 3, None, None).is_none(),
            "8 is not 3 heads"
        );
        assert!(
            self_attention(&x, &w, &b, 0, None, None).is_none(),
            "no heads"
        );
        let double = x.to_kind(Kind::Double);
        let (wd, bd) = (w.to_kind(Kind::Double), b.to_kind(Kind::Double));
        assert!(
            self_attention(&double, &wd, &bd, 2, None, None).is_none(),
            "f64"
        );
        assert!(
            self_attention(&x, &w, &b, 2, Some(&[0.0; 2]), None).is_none(),
            "bias length"
        );
        let narrow = Tensor::randn([24, 4], opts);
        assert!(
            self_attention(&x, &narrow, &b, 2, None, None).is_none(),
            "weight shape"
        );
        let empty = Tensor::zeros([1, 3, 0], opts);
        let (w0, b0) = (Tensor::zeros([0, 0], opts), Tensor::zeros([0], opts));
        assert!(
            self_attention(&empty, &w0, &b0, 2, None, None).is_none(),
            "hidden 0"
        );
        assert!(
            self_attention(&x, &w, &b, 2, None, None).is_some(),
            "this one applies"
        );
        let w = w.set_requires_grad(true);
        assert!(
            self_attention(&x, &w, &b, 2, None, None).is_none(),
            "gradients"
        );
    }
}
