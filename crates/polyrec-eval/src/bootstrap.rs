//! Bootstrap confidence intervals and a paired bootstrap test, seeded.
//!
//! Rows are resampled with ChaCha8 (`rand_chacha`, seeded from the caller's seed, the same
//! generator the graph sampler and the batch iterator use) and drawn uniformly without
//! modulo bias (`Rng::random_range`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A point estimate with a percentile bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The metric on all rows.
    pub estimate: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Percentile bootstrap interval at `level` (e.g. 0.95) of `metric(labels, scores)` over
/// `rounds` resamples of the rows. Resamples where the metric is undefined are dropped.
/// `None` when the metric is undefined on the data.
pub fn interval(
    labels: &[f64],
    scores: &[f64],
    metric: impl Fn(&[f64], &[f64]) -> Option<f64>,
    rounds: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    let estimate = metric(labels, scores)?;
    let n = labels.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut l, mut s) = (vec![0f64; n], vec![0f64; n]);
    let mut stats = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for k in 0..n {
            let i = rng.random_range(0..n);
            l[k] = labels[i];
            s[k] = scores[i];
        }
        if let Some(v) = metric(&l, &s) {
            stats.push(v);
        }
    }
    if stats.is_empty() {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let a = (1.0 - level) / 2.0;
    Some(Interval {
        estimate,
        lo: percentile(&stats, a),
        hi: percentile(&stats, 1.0 - a),
    })
}

/// The result of a paired bootstrap comparison of model B against model A.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedTest {
    /// metric(B) - metric(A) on all rows.
    pub difference: f64,
    /// Interval of the difference.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Two-sided bootstrap p-value of "no difference".
    pub p_value: f64,
}

/// Paired bootstrap: the same resampled rows score both models each round.
pub fn paired_test(
    labels: &[f64],
    scores_a: &[f64],
    scores_b: &[f64],
    metric: impl Fn(&[f64], &[f64]) -> Option<f64>,
    rounds: usize,
    seed: u64,
) -> Option<PairedTest> {
    let difference = metric(labels, scores_b)? - metric(labels, scores_a)?;
    let n = labels.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut l, mut a, mut b) = (vec![0f64; n], vec![0f64; n], vec![0f64; n]);
    let mut diffs = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for k in 0..n {
            let i = rng.random_range(0..n);
            l[k] = labels[i];
            a[k] = scores_a[i];
            b[k] = scores_b[i];
        }
        if let (Some(x), Some(y)) = (metric(&l, &a), metric(&l, &b)) {
            diffs.push(y - x);
        }
    }
    if diffs.is_empty() {
        return None;
    }
    diffs.sort_by(f64::total_cmp);
    let below = diffs.iter().filter(|d| **d <= 0.0).count() as f64 / diffs.len() as f64;
    let above = diffs.iter().filter(|d| **d >= 0.0).count() as f64 / diffs.len() as f64;
    Some(PairedTest {
        difference,
        lo: percentile(&diffs, 0.025),
        hi: percentile(&diffs, 0.975),
        p_value: (2.0 * below.min(above)).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(l: &[f64], _: &[f64]) -> Option<f64> {
        (!l.is_empty()).then(|| l.iter().sum::<f64>() / l.len() as f64)
    }

    #[test]
    fn same_seed_same_interval_other_seed_other_draws() {
        let labels: Vec<f64> = (0..500).map(|i| f64::from((i * 37 % 11) as u8)).collect();
        let a = interval(&labels, &labels, mean, 100, 0.9, 7);
        assert_eq!(a, interval(&labels, &labels, mean, 100, 0.9, 7));
        assert_ne!(a, interval(&labels, &labels, mean, 100, 0.9, 8));
        let a = a.expect("defined");
        assert!(a.lo < a.estimate && a.estimate < a.hi);
    }
}
