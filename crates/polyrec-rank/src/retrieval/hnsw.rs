//! Approximate search over an [`ItemIndex`]: a hierarchical navigable small-world graph
//! (HNSW, the `instant-distance` crate) for catalogs that outgrow exact search.
//!
//! The two-tower model scores by dot product, which is not a distance. The index therefore
//! searches the usual reduction of maximum inner product to nearest neighbours (Bachrach et
//! al., 2014): each item vector `x` gains one coordinate `sqrt(M^2 - |x|^2)`, where `M` is
//! the largest item norm, and a query `q` gains a 0; then
//! `|q' - x'|^2 = |q|^2 + M^2 - 2 q.x`, so the nearest items are exactly those with the
//! largest dot product. The scores returned are the exact dot products of the items found.
//!
//! The graph searches a beam of `ef_search` candidates, so one search returns at most that
//! many items (after the excluded ones are dropped): ask for `k` well below it.
//! [`recall_against_exact`] measures how many of the exact top `k` a configuration finds.

use std::collections::HashSet;

use instant_distance::{Builder, Hnsw, Point, PointId, Search};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ItemIndex;
use crate::{Error, Result};

/// How the graph is built and searched.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HnswOptions {
    /// Beam width while inserting (higher: better graph, slower build).
    pub ef_construction: usize,
    /// Beam width while searching: the most items one search returns (higher: better
    /// recall, slower search).
    pub ef_search: usize,
    /// Seed of the layer assignment.
    pub seed: u64,
}

impl Default for HnswOptions {
    fn default() -> Self {
        Self {
            ef_construction: 100,
            ef_search: 200,
            seed: 1,
        }
    }
}

impl HnswOptions {
    /// Checks the values.
    pub fn check(&self) -> Result<()> {
        for (field, value) in [
            ("hnsw.ef_construction", self.ef_construction),
            ("hnsw.ef_search", self.ef_search),
        ] {
            if value == 0 {
                return Err(Error::Config {
                    field,
                    value: value.to_string(),
                    reason: "must be at least 1",
                });
            }
        }
        Ok(())
    }
}

/// An item vector with the extra coordinate (squared Euclidean distance).
#[derive(Debug, Clone)]
struct Lifted(Vec<f32>);

impl Point for Lifted {
    fn distance(&self, other: &Self) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    }
}

/// The HNSW graph over an index's item vectors.
pub struct HnswIndex {
    hnsw: Hnsw<Lifted>,
    /// Index row of each graph point.
    rows: Vec<usize>,
    options: HnswOptions,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("items", &self.rows.len())
            .field("options", &self.options)
            .finish()
    }
}

impl HnswIndex {
    /// Builds the graph over every row of `index` (in parallel).
    pub fn build(index: &ItemIndex, options: HnswOptions) -> Result<Self> {
        options.check()?;
        let n = index.len();
        let norms: Vec<f32> = (0..n)
            .map(|r| {
                index
                    .vector(r)
                    .map_or(0.0, |v| v.iter().map(|x| x * x).sum())
            })
            .collect();
        let max = norms.iter().copied().fold(0.0f32, f32::max);
        let points: Vec<Lifted> = (0..n)
            .map(|r| {
                let mut v = index.vector(r).unwrap_or_default().to_vec();
                v.push((max - norms[r]).max(0.0).sqrt());
                Lifted(v)
            })
            .collect();
        let (hnsw, ids): (Hnsw<Lifted>, Vec<PointId>) = Builder::default()
            .ef_construction(options.ef_construction)
            .ef_search(options.ef_search)
            .seed(options.seed)
            .build_hnsw(points);
        // `ids[r]` is the graph point of row `r`; invert it.
        let mut rows = vec![0usize; n];
        for (r, id) in ids.iter().enumerate() {
            rows[id.into_inner() as usize] = r;
        }
        Ok(Self {
            hnsw,
            rows,
            options,
        })
    }

    /// The options it was built with.
    pub fn options(&self) -> HnswOptions {
        self.options
    }

    /// Up to `k` items with the largest dot product with `query` that the graph finds,
    /// skipping the rows in `exclude`: `(row, exact score)`, best first (ties by row).
    /// Fewer than `k` come back when `k` plus the excluded rows found exceed `ef_search`.
    pub fn search(
        &self,
        index: &ItemIndex,
        query: &[f32],
        k: usize,
        exclude: &HashSet<usize>,
    ) -> Result<Vec<(usize, f32)>> {
        let d = index.info().dim as usize;
        if query.len() != d {
            return Err(Error::Input(format!(
                "query of width {}, the index holds vectors of width {d}",
                query.len()
            )));
        }
        if index.len() != self.rows.len() {
            return Err(Error::Input(format!(
                "the graph holds {} items, the index {}",
                self.rows.len(),
                index.len()
            )));
        }
        let mut q = query.to_vec();
        q.push(0.0);
        let mut search = Search::default();
        let mut found: Vec<(usize, f32)> = self
            .hnsw
            .search(&Lifted(q), &mut search)
            .map(|item| self.rows[item.pid.into_inner() as usize])
            .filter(|r| !exclude.contains(r))
            .map(|r| {
                let v = index.vector(r).unwrap_or_default();
                (r, v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>())
            })
            .collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        found.truncate(k);
        Ok(found)
    }
}

/// Recall of approximate search against exact search: for each query, the share of the
/// exact top `k` (over all rows, nothing excluded) that the graph returns in its top `k`,
/// averaged over the queries (`queries` row-major, the index's width).
pub fn recall_against_exact(
    index: &ItemIndex,
    hnsw: &HnswIndex,
    queries: &[f32],
    k: usize,
) -> Result<f64> {
    let d = index.info().dim as usize;
    if d == 0 || !queries.len().is_multiple_of(d) || queries.is_empty() {
        return Err(Error::Input(format!(
            "{} query values are not rows of width {d}",
            queries.len()
        )));
    }
    let none = HashSet::new();
    let hits: Vec<f64> = queries
        .par_chunks(d)
        .map(|q| -> Result<f64> {
            let exact: HashSet<usize> = index
                .search(q, k, &none)?
                .into_iter()
                .map(|x| x.0)
                .collect();
            let approx = hnsw.search(index, q, k, &none)?;
            let found = approx.iter().filter(|(r, _)| exact.contains(r)).count();
            Ok(found as f64 / exact.len().max(1) as f64)
        })
        .collect::<Result<_>>()?;
    Ok(hits.iter().sum::<f64>() / hits.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::IndexInfo;
    use rand::{Rng, SeedableRng};

    fn random_index(n: usize, d: usize, seed: u64) -> ItemIndex {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // Unnormalised vectors with very different norms: the case the lifting is for.
        let vectors: Vec<f32> = (0..n)
            .flat_map(|i| {
                let scale = 0.2 + (i % 7) as f32 * 0.3;
                (0..d)
                    .map(|_| rng.random_range(-1.0f32..1.0) * scale)
                    .collect::<Vec<_>>()
            })
            .collect();
        let info = IndexInfo {
            items: (0..n).map(|i| format!("i{i}")).collect(),
            dim: d as i64,
            normalized: false,
            score_scale: 1.0,
        };
        ItemIndex::new(info, vectors).expect("index")
    }

    #[test]
    fn finds_the_exact_top_items_by_dot_product_and_honours_exclusions() -> Result<()> {
        let index = random_index(3000, 16, 7);
        let hnsw = HnswIndex::build(&index, HnswOptions::default())?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let queries: Vec<f32> = (0..100 * 16)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let recall = recall_against_exact(&index, &hnsw, &queries, 10)?;
        assert!(recall >= 0.95, "recall@10 {recall}");
        // Exclusions are never returned; scores are exact dot products, best first.
        let q = &queries[..16];
        let exact = index.search(q, 5, &HashSet::new())?;
        let exclude: HashSet<usize> = exact.iter().take(2).map(|x| x.0).collect();
        let got = hnsw.search(&index, q, 10, &exclude)?;
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|(r, _)| !exclude.contains(r)));
        assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
        for (r, s) in &got {
            let v = index.vector(*r).expect("row");
            let dot: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            assert_eq!(*s, dot);
        }
        // A wrong width is an error, not a panic.
        assert!(hnsw.search(&index, &[1.0], 3, &HashSet::new()).is_err());
        assert!(
            HnswIndex::build(
                &index,
                HnswOptions {
                    ef_search: 0,
                    ..Default::default()
                }
            )
            .is_err()
        );
        Ok(())
    }
}
