//! Pointwise metrics. Each returns `None` where the metric is undefined (empty input, a
//! single class for AUC), never a made-up value.

/// Area under the ROC curve; tied scores count one half (as scikit-learn's
/// `roc_auc_score`). O(n log n). `None` for empty input or a single class.
pub fn auc(labels: &[f64], scores: &[f64]) -> Option<f64> {
    let n = labels.len().min(scores.len());
    // Positives and negatives apart, as order-preserving integer keys; each side is radix
    // sorted (the two sides in parallel), then one merge counts, for every positive, the
    // negatives below it and half of those tied with it. Integer counts: exact.
    let (mut pos, mut neg) = (Vec::new(), Vec::with_capacity(n));
    for (&y, &s) in labels[..n].iter().zip(&scores[..n]) {
        if y > 0.5 {
            pos.push(order_key(s));
        } else {
            neg.push(order_key(s));
        }
    }
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    rayon::join(|| radix_sort(&mut pos), || radix_sort(&mut neg));
    let (mut below, mut j) = (0u64, 0usize);
    let mut twice_wins = 0u128; // 2 x (pairs in order) + (tied pairs)
    let mut i = 0;
    while i < pos.len() {
        let k = pos[i];
        let mut run = 1u64;
        while i + (run as usize) < pos.len() && pos[i + run as usize] == k {
            run += 1;
        }
        while j < neg.len() && neg[j] < k {
            j += 1;
            below += 1;
        }
        let mut tied = 0u64;
        while j + (tied as usize) < neg.len() && neg[j + tied as usize] == k {
            tied += 1;
        }
        twice_wins += u128::from(run) * u128::from(2 * below + tied);
        i += run as usize;
    }
    Some(twice_wins as f64 / (2.0 * pos.len() as f64 * neg.len() as f64))
}

/// A `u64` whose unsigned order is `f64::total_cmp`'s order of `x`.
#[inline]
fn order_key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits(); // -0.0 + 0.0 is +0.0: the two zeros tie
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// LSD radix sort of `u64` keys, one byte per pass, skipping bytes that all keys share.
fn radix_sort(v: &mut Vec<u64>) {
    let n = v.len();
    if n < 512 {
        v.sort_unstable();
        return;
    }
    let mut hist = vec![[0usize; 256]; 8];
    for &x in v.iter() {
        for (d, h) in hist.iter_mut().enumerate() {
            h[((x >> (8 * d)) & 0xff) as usize] += 1;
        }
    }
    let mut src = std::mem::take(v);
    let mut dst = vec![0u64; n];
    for (d, h) in hist.iter().enumerate() {
        if h.contains(&n) {
            continue;
        }
        let mut offset = [0usize; 256];
        let mut acc = 0;
        for (o, &c) in offset.iter_mut().zip(h) {
            *o = acc;
            acc += c;
        }
        for &x in &src {
            let b = ((x >> (8 * d)) & 0xff) as usize;
            dst[offset[b]] = x;
            offset[b] += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    *v = src;
}

/// AUC of one group's `(key, positive)` pairs sorted by key.
fn auc_sorted_pairs(rows: &[(u64, bool)]) -> Option<f64> {
    let (mut pos, mut neg) = (0u64, 0u64);
    let mut twice_wins = 0u128;
    let mut i = 0;
    while i < rows.len() {
        let k = rows[i].0;
        let (mut p, mut q) = (0u64, 0u64);
        while i < rows.len() && rows[i].0 == k {
            if rows[i].1 {
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
    (pos > 0 && neg > 0).then(|| twice_wins as f64 / (2.0 * pos as f64 * neg as f64))
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

    #[test]
    fn f1_and_accuracy() {
        assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 2, 2, 2]), Some(0.75));
        // class 0: f1 1; class 1: f1 0; class 2: tp 2, fp 1 -> 0.8
        let f = macro_f1(&[0, 1, 2, 2], &[0, 2, 2, 2]).unwrap_or(0.0);
        assert!((f - 1.8 / 3.0).abs() < 1e-12);
    }
}
