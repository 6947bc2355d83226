//! Beyond accuracy: how varied, how far-reaching and how unexpected top-K lists are.
//!
//! - **Intra-list diversity@K** (ILD): the mean pairwise distance `1 - cos(a, b)` between
//!   the item vectors of one list's top K (Ziegler et al. 2005, with cosine distance over
//!   whatever vectors the caller passes: text embeddings, category one-hots), averaged over
//!   lists. A list of fewer than two items has none and is skipped.
//! - **Catalog coverage@K**: the share of the catalog that appears in at least one top-K list.
//! - **Novelty@K**: the mean self-information `-log2 p(i)` of the recommended items, where
//!   `p(i)` is the share of users who interacted with item `i` (popular items are not news);
//!   an item nobody interacted with counts as interacted with by one user.
//!
//! ```
//! use polyrec_eval::diversity::Diversity;
//! // Three items: 0 and 1 point the same way, 2 is orthogonal; 4 users.
//! let vectors = vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
//! let users_per_item = [4, 2, 1];
//! let mut d = Diversity::new(10, 3, 2, &vectors, &users_per_item, 4)?;
//! d.add(&[0, 1])?; // identical directions: distance 0
//! d.add(&[0, 2])?; // orthogonal: distance 1
//! let m = d.means();
//! assert!((m["ild@10"] - 0.5).abs() < 1e-9);
//! assert!((m["coverage@10"] - 1.0).abs() < 1e-9);
//! // -log2(4/4), -log2(2/4), -log2(4/4), -log2(1/4): mean (0 + 1 + 0 + 2) / 4.
//! assert!((m["novelty@10"] - 0.75).abs() < 1e-9);
//! # Ok::<(), polyrec_eval::Error>(())
//! ```

use std::collections::BTreeMap;

use crate::{Error, Result};

/// Accumulates ILD, coverage and novelty of top-K lists over dense item indices.
#[derive(Debug, Clone)]
pub struct Diversity {
    k: usize,
    dim: usize,
    /// Item vectors, L2-normalised on construction, `[items, dim]` row-major.
    vectors: Vec<f32>,
    /// Self-information of each item, bits.
    info: Vec<f64>,
    seen: Vec<bool>,
    ild_sum: f64,
    ild_lists: usize,
    novelty_sum: f64,
    novelty_items: usize,
    lists: usize,
}

impl Diversity {
    /// An accumulator at cut-off `k` for `items` items with `vectors` (`[items, dim]`
    /// row-major; a zero vector is at distance 1 from every item), `users_per_item` (how
    /// many users interacted with each item) out of `users` users.
    pub fn new(
        k: usize,
        items: usize,
        dim: usize,
        vectors: &[f32],
        users_per_item: &[usize],
        users: usize,
    ) -> Result<Self> {
        if k == 0 {
            return Err(Error::Input("diversity: k must be at least 1".into()));
        }
        if vectors.len() != items * dim {
            return Err(Error::Input(format!(
                "diversity: {} vector values for {items} items of width {dim}",
                vectors.len()
            )));
        }
        if users_per_item.len() != items {
            return Err(Error::Input(format!(
                "diversity: {} popularity counts for {items} items",
                users_per_item.len()
            )));
        }
        if users == 0 || users_per_item.iter().any(|&c| c > users) {
            return Err(Error::Input(format!(
                "diversity: item counts must lie in 0..={users} users, and users must be positive"
            )));
        }
        let mut normed = vectors.to_vec();
        for row in normed.chunks_mut(dim.max(1)) {
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 && n.is_finite() {
                row.iter_mut().for_each(|x| *x /= n);
            } else {
                row.iter_mut().for_each(|x| *x = 0.0);
            }
        }
        let info = users_per_item
            .iter()
            .map(|&c| -((c.max(1) as f64) / users as f64).log2())
            .collect();
        Ok(Self {
            k,
            dim,
            vectors: normed,
            info,
            seen: vec![false; items],
            ild_sum: 0.0,
            ild_lists: 0,
            novelty_sum: 0.0,
            novelty_items: 0,
            lists: 0,
        })
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// Adds one list, best first (only its first K count). An index past the catalog is an
    /// error; the accumulator is unchanged then.
    pub fn add(&mut self, ranked: &[usize]) -> Result<()> {
        let top = &ranked[..self.k.min(ranked.len())];
        if let Some(&bad) = top.iter().find(|&&i| i >= self.seen.len()) {
            return Err(Error::Input(format!(
                "diversity: item {bad} is not in the catalog of {} items",
                self.seen.len()
            )));
        }
        self.lists += 1;
        if top.len() >= 2 {
            let mut sum = 0f64;
            let mut pairs = 0usize;
            for (a, &i) in top.iter().enumerate() {
                for &j in &top[a + 1..] {
                    let cos: f32 = self
                        .row(i)
                        .iter()
                        .zip(self.row(j))
                        .map(|(x, y)| x * y)
                        .sum();
                    sum += 1.0 - f64::from(cos);
                    pairs += 1;
                }
            }
            self.ild_sum += sum / pairs as f64;
            self.ild_lists += 1;
        }
        for &i in top {
            self.seen[i] = true;
            self.novelty_sum += self.info[i];
            self.novelty_items += 1;
        }
        Ok(())
    }

    /// Lists added.
    pub fn lists(&self) -> usize {
        self.lists
    }

    /// `ild@K`, `coverage@K` and `novelty@K` (NaN for ILD and novelty with nothing added).
    pub fn means(&self) -> BTreeMap<String, f64> {
        let k = self.k;
        let covered = self.seen.iter().filter(|&&s| s).count();
        let mut m = BTreeMap::new();
        m.insert(
            format!("ild@{k}"),
            if self.ild_lists > 0 {
                self.ild_sum / self.ild_lists as f64
            } else {
                f64::NAN
            },
        );
        m.insert(
            format!("coverage@{k}"),
            covered as f64 / self.seen.len().max(1) as f64,
        );
        m.insert(
            format!("novelty@{k}"),
            if self.novelty_items > 0 {
                self.novelty_sum / self.novelty_items as f64
            } else {
                f64::NAN
            },
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let v = [1.0f32, 0.0];
        assert!(Diversity::new(0, 1, 2, &v, &[1], 1).is_err());
        assert!(Diversity::new(5, 2, 2, &v, &[1, 1], 1).is_err());
        assert!(Diversity::new(5, 1, 2, &v, &[2], 1).is_err());
        let mut d = Diversity::new(5, 1, 2, &v, &[1], 1).expect("valid");
        assert!(d.add(&[0, 3]).is_err());
        assert_eq!(d.lists(), 0);
    }

    #[test]
    fn only_the_top_k_count_and_zero_vectors_are_far_from_everything() {
        let v = [1.0f32, 0.0, 0.0, 0.0, 2.0, 0.0];
        let mut d = Diversity::new(2, 3, 2, &v, &[1, 1, 1], 2).expect("valid");
        // Items 0 and 2 point the same way; item 1 (beyond K) does not count.
        d.add(&[0, 2, 1]).expect("add");
        let m = d.means();
        assert!(m["ild@2"].abs() < 1e-9);
        assert!((m["coverage@2"] - 2.0 / 3.0).abs() < 1e-9);
        let mut d = Diversity::new(2, 3, 2, &v, &[1, 1, 1], 2).expect("valid");
        d.add(&[1, 0]).expect("add");
        assert!((d.means()["ild@2"] - 1.0).abs() < 1e-9);
        // A one-item list has no pair: no ILD, but it counts for coverage and novelty.
        let mut d = Diversity::new(2, 3, 2, &v, &[1, 1, 1], 2).expect("valid");
        d.add(&[0]).expect("add");
        assert!(d.means()["ild@2"].is_nan());
        assert!((d.means()["novelty@2"] - 1.0).abs() < 1e-9);
    }
}
