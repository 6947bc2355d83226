//! Vector helpers of the recommender: normalisation, fast dot products and softmax weights
//! over text similarities.

/// Temperature of the softmax over those neighbours' text similarities.
pub(super) const NEIGHBOUR_TEMPERATURE: f64 = 0.05;

pub(super) fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Normalised softmax weights over similarities (temperature [`NEIGHBOUR_TEMPERATURE`]): a
/// near-copy dominates, loose matches count little. Also returns the top similarity.
pub(super) fn softmax_weights<T>(sims: &[(T, f32)]) -> (f64, Vec<f64>) {
    let top = sims.iter().map(|(_, s)| f64::from(*s)).fold(0.0, f64::max);
    let w: Vec<f64> = sims
        .iter()
        .map(|(_, s)| ((f64::from(*s) - top) / NEIGHBOUR_TEMPERATURE).exp())
        .collect();
    let total = w.iter().sum::<f64>().max(1e-12);
    (top, w.into_iter().map(|x| x / total).collect())
}

/// Dot product with eight independent partial sums, so that the compiler vectorises it (a
/// plain `sum()` must add in order and stays scalar: it was the largest cost of a warm
/// request).
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}
