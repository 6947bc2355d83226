//! Pointwise metrics. Each returns `None` where the metric is undefined (empty input, a
//! single class for AUC), never a made-up value.

/// Area under the ROC curve; tied scores count one half (as scikit-learn's
/// `roc_auc_score`). O(n log n). `None` for empty input or a single class.
pub fn auc(labels: &[f64], scores: &[f64]) -> Option<f64> {
    let n = labels.len().min(scores.len());
    let mut idx: Vec<u32> = (0..n as u32).collect();
    idx.sort_unstable_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]));
    auc_sorted(&idx, labels, scores)
}

/// AUC given row indices sorted by ascending score.
fn auc_sorted(idx: &[u32], labels: &[f64], scores: &[f64]) -> Option<f64> {
    let (mut pos, mut neg) = (0f64, 0f64);
    let mut rank_sum = 0f64; // sum of (average) ranks of positives, 1-based
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i] as usize];
        let mut j = i;
        let mut p = 0f64;
        while j < idx.len() && scores[idx[j] as usize] == s {
            if labels[idx[j] as usize] > 0.5 {
                p += 1.0;
            }
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += p * avg_rank;
        pos += p;
        neg += (j - i) as f64 - p;
        i = j;
    }
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Group AUC: the AUC of each user's rows, averaged with weights equal to the user's
/// number of rows, skipping users whose labels are all equal. `None` if no user counts.
pub fn gauc<U: Eq + std::hash::Hash + Clone>(
    users: &[U],
    labels: &[f64],
    scores: &[f64],
) -> Option<f64> {
    let mut groups: std::collections::HashMap<U, Vec<u32>> = std::collections::HashMap::new();
    for (i, u) in users
        .iter()
        .enumerate()
        .take(labels.len().min(scores.len()))
    {
        groups.entry(u.clone()).or_default().push(i as u32);
    }
    let (mut num, mut den) = (0f64, 0f64);
    for mut rows in groups.into_values() {
        rows.sort_unstable_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]));
        if let Some(a) = auc_sorted(&rows, labels, scores) {
            num += a * rows.len() as f64;
            den += rows.len() as f64;
        }
    }
    (den > 0.0).then(|| num / den)
}

/// Binary cross-entropy with probabilities clipped to `[eps, 1 - eps]`, `eps` the f64
/// machine epsilon (scikit-learn's `log_loss` default).
pub fn logloss(labels: &[f64], probs: &[f64]) -> Option<f64> {
    let n = labels.len().min(probs.len());
    if n == 0 {
        return None;
    }
    let eps = f64::EPSILON;
    let s: f64 = labels
        .iter()
        .zip(probs)
        .map(|(&y, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            if y > 0.5 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Some(s / n as f64)
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
    let k = labels.iter().chain(preds).copied().max().unwrap_or(0) as usize + 1;
    let (mut tp, mut fp, mut fn_) = (vec![0f64; k], vec![0f64; k], vec![0f64; k]);
    let mut present = vec![false; k];
    for (&y, &p) in labels.iter().zip(preds) {
        present[y as usize] = true;
        present[p as usize] = true;
        if y == p {
            tp[y as usize] += 1.0;
        } else {
            fp[p as usize] += 1.0;
            fn_[y as usize] += 1.0;
        }
    }
    let f1: Vec<f64> = (0..k)
        .filter(|&c| present[c])
        .map(|c| {
            let d = 2.0 * tp[c] + fp[c] + fn_[c];
            if d == 0.0 { 0.0 } else { 2.0 * tp[c] / d }
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
