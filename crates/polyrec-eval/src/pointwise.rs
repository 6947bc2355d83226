//! Pointwise metrics. Each returns `None` where the metric is undefined (empty input, a
//! single class for AUC), never a made-up value.

/// Area under the ROC curve; tied scores count one half (as scikit-learn's
/// `roc_auc_score`). O(n log n). `None` for empty input or a single class.
pub fn auc(labels: &[f64], scores: &[f64]) -> Option<f64> {
    use rayon::prelude::*;
    let n = labels.len().min(scores.len());
    let (labels, scores) = (&labels[..n], &scores[..n]);
    // Scores become order-preserving integer keys. One pass finds their range; the keys
    // are then bucketed by their top `AUC_BUCKET_BITS` bits within that range (a counting
    // sort per chunk of rows, the chunks in parallel), so a bucket's rows all rank above
    // the previous bucket's. Each bucket is gathered, sorted by (rest of the key, label)
    // and scanned; the buckets in parallel. Integer counts throughout: exact, and the same
    // for every number of threads.
    let (lo, hi) = scores
        .par_chunks(AUC_CHUNK)
        .map(|c| {
            c.iter().fold((u64::MAX, 0u64), |(lo, hi), &s| {
                let k = order_key(s);
                (lo.min(k), hi.max(k))
            })
        })
        .reduce(|| (u64::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    if lo > hi {
        return None;
    }
    // About 128 rows per bucket, at most 2^16 buckets.
    let bits = n.ilog2().saturating_sub(7).clamp(1, AUC_MAX_BUCKET_BITS);
    let shift = (64 - (hi - lo).leading_zeros()).saturating_sub(bits);
    let buckets = 1usize << bits;
    // The key's bits below the bucket, then the label as the lowest bit: within a bucket,
    // ordering these by key puts equal scores together.
    let low = if shift == 0 { 0 } else { (1u64 << shift) - 1 };
    // One chunk per thread (fewer, longer runs to gather per bucket); the counts are
    // exact, so the chunking does not change the result.
    let chunk = n
        .div_ceil(rayon::current_num_threads())
        .clamp(AUC_CHUNK, u32::MAX as usize);
    let chunks: Vec<(Vec<u32>, Vec<u64>)> = labels
        .par_chunks(chunk)
        .zip(scores.par_chunks(chunk))
        .map(|(ys, ss)| {
            let mut start = vec![0u32; buckets + 1];
            for &s in ss {
                start[((order_key(s) - lo) >> shift) as usize + 1] += 1;
            }
            for b in 1..=buckets {
                start[b] += start[b - 1];
            }
            let mut fill = start.clone();
            let mut out = vec![0u64; ss.len()];
            for (&y, &s) in ys.iter().zip(ss) {
                let k = order_key(s) - lo;
                let b = (k >> shift) as usize;
                out[fill[b] as usize] = ((k & low) << 1) | u64::from(y > 0.5);
                fill[b] += 1;
            }
            (start, out)
        })
        .collect();
    // Per bucket: (positives, negatives, twice the in-bucket wins + ties).
    let per_bucket: Vec<(u64, u64, u128)> = (0..buckets)
        .into_par_iter()
        .with_min_len(64)
        .map_init(
            || (Vec::new(), Vec::new()),
            |(rows, scratch): &mut (Vec<u64>, Vec<u64>), b| {
                rows.clear();
                for (start, out) in &chunks {
                    rows.extend_from_slice(&out[start[b] as usize..start[b + 1] as usize]);
                }
                order_by_key(rows, scratch);
                pair_counts(rows, |r| r >> 1, |r| r & 1 == 1)
            },
        )
        .collect();
    let (mut pos, mut neg, mut twice_wins) = (0u64, 0u64, 0u128);
    for (p, q, w) in per_bucket {
        // Every positive of this bucket beats every negative of the earlier buckets.
        twice_wins += w + 2 * u128::from(p) * u128::from(neg);
        pos += p;
        neg += q;
    }
    (pos > 0 && neg > 0).then(|| twice_wins as f64 / (2.0 * pos as f64 * neg as f64))
}

/// Fewest rows per chunk of the AUC's parallel passes.
const AUC_CHUNK: usize = 1 << 20;
/// The AUC buckets rows by at most this many top bits of the score range.
const AUC_MAX_BUCKET_BITS: u32 = 16;
/// Largest slice of a bucket that [`order_by_key`] sorts by comparison.
const AUC_SORT_SMALL: usize = 4096;

/// A `u64` whose unsigned order is `f64::total_cmp`'s order of `x`.
#[inline]
fn order_key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits(); // -0.0 + 0.0 is +0.0: the two zeros tie
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// Orders `(key << 1) | label` rows by key: keys ascending, equal keys adjacent (the
/// labels of one key in any order, which is all [`pair_counts`] needs). A slice of up to
/// [`AUC_SORT_SMALL`] rows is sorted; a larger one is split by a counting sort over its own
/// key range and each part ordered in turn, and a slice of one key stops there. A bucket
/// that holds few distinct scores many times over (rounded scores, ties) then costs a few
/// linear passes instead of a comparison sort.
fn order_by_key(rows: &mut [u64], scratch: &mut Vec<u64>) {
    if rows.len() <= AUC_SORT_SMALL {
        rows.sort_unstable();
        return;
    }
    let (lo, hi) = rows.iter().fold((u64::MAX, 0u64), |(lo, hi), &r| {
        (lo.min(r >> 1), hi.max(r >> 1))
    });
    if lo == hi {
        return;
    }
    // About 8 rows per part, at most 2^12 parts.
    let bits = (rows.len().ilog2() - 3).min(12);
    let shift = (64 - (hi - lo).leading_zeros()).saturating_sub(bits);
    let parts = ((hi - lo) >> shift) as usize + 1;
    let part = |r: u64| (((r >> 1) - lo) >> shift) as usize;
    let mut start = vec![0usize; parts + 1];
    for &r in rows.iter() {
        start[part(r) + 1] += 1;
    }
    for p in 1..=parts {
        start[p] += start[p - 1];
    }
    let mut fill = start.clone();
    scratch.clear();
    scratch.resize(rows.len(), 0);
    for &r in rows.iter() {
        let p = part(r);
        scratch[fill[p]] = r;
        fill[p] += 1;
    }
    rows.copy_from_slice(scratch);
    for p in 0..parts {
        let slice = &mut rows[start[p]..start[p + 1]];
        if slice.len() > 1 {
            order_by_key(slice, scratch);
        }
    }
}

/// AUC of one group's `(key, positive)` pairs sorted by key.
fn auc_sorted_pairs(rows: &[(u64, bool)]) -> Option<f64> {
    let (pos, neg, twice_wins) = pair_counts(rows, |r| r.0, |r| r.1);
    (pos > 0 && neg > 0).then(|| twice_wins as f64 / (2.0 * pos as f64 * neg as f64))
}

/// Over rows sorted by `key`: (positives, negatives, 2 x the (positive, negative) pairs in
/// order + the tied pairs).
fn pair_counts<T>(
    rows: &[T],
    key: impl Fn(&T) -> u64,
    positive: impl Fn(&T) -> bool,
) -> (u64, u64, u128) {
    let (mut pos, mut neg) = (0u64, 0u64);
    let mut twice_wins = 0u128;
    let mut i = 0;
    while i < rows.len() {
        let k = key(&rows[i]);
        let (mut p, mut q) = (0u64, 0u64);
        while i < rows.len() && key(&rows[i]) == k {
            if positive(&rows[i]) {
                p += 1;
            } else {
                q += 1;
            }
            i += 1;
        }
        // Positives here beat every earlier negative and tie with this run's negatives.
        twice_wins += u128::from(p) * u128::from(2 * neg + q);
        pos += p;
        neg += q;
    }
    (pos, neg, twice_wins)
}

/// Group AUC: the AUC of each user's rows, averaged with weights equal to the user's
/// number of rows, skipping users whose labels are all equal. `None` if no user counts.
pub fn gauc<U: Eq + std::hash::Hash>(users: &[U], labels: &[f64], scores: &[f64]) -> Option<f64> {
    use rayon::prelude::*;
    let n = users.len().min(labels.len()).min(scores.len());
    // Dense user ids in order of first appearance, then rows grouped by a counting sort.
    let mut ids: std::collections::HashMap<&U, u32> = std::collections::HashMap::new();
    let uid: Vec<u32> = users[..n]
        .iter()
        .map(|u| {
            let next = ids.len() as u32;
            *ids.entry(u).or_insert(next)
        })
        .collect();
    let mut start = vec![0usize; ids.len() + 1];
    for &u in &uid {
        start[u as usize + 1] += 1;
    }
    for g in 1..start.len() {
        start[g] += start[g - 1];
    }
    let mut fill = start.clone();
    let mut rows = vec![(0u64, false); n];
    for r in 0..n {
        let g = uid[r] as usize;
        rows[fill[g]] = (order_key(scores[r]), labels[r] > 0.5);
        fill[g] += 1;
    }
    // Each group sorted and scored in parallel; the weighted sum is taken in group order,
    // so the result does not depend on the number of threads.
    let mut groups: Vec<&mut [(u64, bool)]> = Vec::with_capacity(ids.len());
    let mut rest = rows.as_mut_slice();
    for w in start.windows(2) {
        let (g, tail) = rest.split_at_mut(w[1] - w[0]);
        groups.push(g);
        rest = tail;
    }
    let per_group: Vec<Option<(f64, f64)>> = groups
        .into_par_iter()
        .map(|g| {
            g.sort_unstable_by_key(|r| r.0);
            auc_sorted_pairs(g).map(|a| (a * g.len() as f64, g.len() as f64))
        })
        .collect();
    let (num, den) = per_group
        .into_iter()
        .flatten()
        .fold((0f64, 0f64), |(a, b), (x, y)| (a + x, b + y));
    (den > 0.0).then(|| num / den)
}

/// Binary cross-entropy with probabilities clipped to `[eps, 1 - eps]`, `eps` the f64
/// machine epsilon (scikit-learn's `log_loss` default).
pub fn logloss(labels: &[f64], probs: &[f64]) -> Option<f64> {
    let n = labels.len().min(probs.len());
    if n == 0 {
        return None;
    }
    use rayon::prelude::*;
    let eps = f64::EPSILON;
    // Fixed-size chunks summed in parallel, the partial sums added in chunk order: the
    // result does not depend on the number of threads.
    const CHUNK: usize = 1 << 16;
    let partial: Vec<f64> = labels[..n]
        .par_chunks(CHUNK)
        .zip(probs[..n].par_chunks(CHUNK))
        .map(|(ys, ps)| {
            ys.iter()
                .zip(ps)
                .map(|(&y, &p)| {
                    let p = p.clamp(eps, 1.0 - eps);
                    let q = if y > 0.5 { p } else { 1.0 - p };
                    -q.ln()
                })
                .sum::<f64>()
        })
        .collect();
    Some(partial.iter().sum::<f64>() / n as f64)
}

/// Root mean squared error.
pub fn rmse(labels: &[f64], preds: &[f64]) -> Option<f64> {
    let n = labels.len().min(preds.len());
    (n > 0).then(|| {
        (labels
            .iter()
            .zip(preds)
            .map(|(&y, &p)| (y - p).powi(2))
            .sum::<f64>()
            / n as f64)
            .sqrt()
    })
}

/// Mean absolute error.
pub fn mae(labels: &[f64], preds: &[f64]) -> Option<f64> {
    let n = labels.len().min(preds.len());
    (n > 0).then(|| {
        labels
            .iter()
            .zip(preds)
            .map(|(&y, &p)| (y - p).abs())
            .sum::<f64>()
            / n as f64
    })
}

/// Accuracy of class predictions.
pub fn accuracy(labels: &[u32], preds: &[u32]) -> Option<f64> {
    let n = labels.len().min(preds.len());
    (n > 0).then(|| labels.iter().zip(preds).filter(|(a, b)| a == b).count() as f64 / n as f64)
}

/// Macro-averaged F1 over the classes present in labels or predictions.
pub fn macro_f1(labels: &[u32], preds: &[u32]) -> Option<f64> {
    let n = labels.len().min(preds.len());
    if n == 0 {
        return None;
    }
    // Counts per class met (tp, fp, fn), in a map: a class index decides no allocation.
    let mut counts: std::collections::BTreeMap<u32, [f64; 3]> = std::collections::BTreeMap::new();
    for (&y, &p) in labels.iter().zip(preds) {
        if y == p {
            counts.entry(y).or_default()[0] += 1.0;
        } else {
            counts.entry(p).or_default()[1] += 1.0;
            counts.entry(y).or_default()[2] += 1.0;
        }
    }
    let f1: Vec<f64> = counts
        .values()
        .map(|[tp, fp, fn_]| {
            let d = 2.0 * tp + fp + fn_;
            if d == 0.0 { 0.0 } else { 2.0 * tp / d }
        })
        .collect();
    Some(f1.iter().sum::<f64>() / f1.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // Pairs (pos, neg): (0.8,0.1) win, (0.8,0.4) win, (0.4,0.1) win, (0.4,0.4) tie.
        let l = [1.0, 0.0, 1.0, 0.0];
        let s = [0.8, 0.1, 0.4, 0.4];
        assert_eq!(auc(&l, &s), Some(3.5 / 4.0));
        assert_eq!(auc(&[1.0, 1.0], &[0.1, 0.2]), None);
        assert_eq!(auc(&[], &[]), None);
    }

    /// The AUC by one full sort of (key, label) pairs: the reference for the bucketed one.
    fn auc_by_full_sort(labels: &[f64], scores: &[f64]) -> Option<f64> {
        let mut rows: Vec<(u64, bool)> = labels
            .iter()
            .zip(scores)
            .map(|(&y, &s)| (order_key(s), y > 0.5))
            .collect();
        rows.sort_unstable_by_key(|r| r.0);
        auc_sorted_pairs(&rows)
    }

    #[test]
    fn bucketed_auc_matches_a_full_sort_across_chunks_buckets_and_skew() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // More rows than one chunk, heavy ties (4 decimals), labels drawn from the score.
        let n = 2 * AUC_CHUNK + 12_345;
        let scores: Vec<f64> = (0..n)
            .map(|_| (rng.random::<f64>() * 1e4).round() / 1e4)
            .collect();
        let labels: Vec<f64> = scores
            .iter()
            .map(|&s| f64::from(u8::from(rng.random::<f64>() < s)))
            .collect();
        // On 4 threads the rows split into several chunks whatever the machine's cores.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .expect("a 4-thread pool");
        assert_eq!(
            pool.install(|| auc(&labels, &scores)),
            auc_by_full_sort(&labels, &scores)
        );
        assert_eq!(auc(&labels, &scores), auc_by_full_sort(&labels, &scores));
        // Skew: nearly every score inside one bucket (split again by its own range), a few far
        // outliers stretching the range, and the awkward values: both zeros, infinities, NaN.
        let mut skewed: Vec<f64> = (0..200_000)
            .map(|_| 0.5 + rng.random::<f64>() * 1e-9)
            .collect();
        skewed.extend([
            1e300,
            -1e300,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]);
        let labels: Vec<f64> = (0..skewed.len())
            .map(|_| f64::from(u8::from(rng.random::<bool>())))
            .collect();
        assert_eq!(auc(&labels, &skewed), auc_by_full_sort(&labels, &skewed));
        // Distinct scores, no ties.
        let distinct: Vec<f64> = (0..300_000).map(|_| rng.random::<f64>()).collect();
        let labels: Vec<f64> = distinct
            .iter()
            .map(|&s| f64::from(u8::from(rng.random::<f64>() < s)))
            .collect();
        assert_eq!(
            auc(&labels, &distinct),
            auc_by_full_sort(&labels, &distinct)
        );
    }

    #[test]
    fn order_by_key_groups_equal_keys_in_ascending_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut scratch = Vec::new();
        // Few distinct keys many times over, keys spread over the whole range, one key,
        // and a narrow cluster with one far outlier; each above the comparison-sort size.
        let cases: Vec<Vec<u64>> = vec![
            (0..50_000)
                .map(|_| rng.random_range(0..40u64) << 30)
                .collect(),
            (0..20_000).map(|_| rng.random::<u64>() >> 1).collect(),
            vec![7 << 20; 9_000],
            (0..30_000)
                .map(|i| {
                    if i == 0 {
                        u64::MAX >> 1
                    } else {
                        1_000_000 + rng.random_range(0..64u64)
                    }
                })
                .collect(),
        ];
        for keys in cases {
            let mut rows: Vec<u64> = keys
                .iter()
                .map(|&k| (k << 1) | u64::from(rng.random::<bool>()))
                .collect();
            let mut expected = rows.clone();
            expected.sort_unstable();
            order_by_key(&mut rows, &mut scratch);
            assert!(rows.windows(2).all(|w| w[0] >> 1 <= w[1] >> 1));
            let mut got = rows.clone();
            got.sort_unstable();
            assert_eq!(got, expected, "the same rows, reordered");
        }
    }

    #[test]
    fn f1_and_accuracy() {
        assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 2, 2, 2]), Some(0.75));
        // class 0: f1 1; class 1: f1 0; class 2: tp 2, fp 1 -> 0.8
        let f = macro_f1(&[0, 1, 2, 2], &[0, 2, 2, 2]).unwrap_or(0.0);
        assert!((f - 1.8 / 3.0).abs() < 1e-12);
    }
}
