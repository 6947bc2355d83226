//! The exported item index and exact search over it: the item tower's vectors of every
//! item (`item_index.safetensors`, `vectors` `[items, D]`) with their raw ids
//! (`item_index.json`), searched by blocked dot products in parallel.

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;
use tch::{Kind, Tensor};

use super::IndexInfo;
use crate::{Error, Result};

/// Items per block of the exact search.
const BLOCK: usize = 4096;

/// Item vectors in memory, row-major, with their ids.
#[derive(Debug, Clone)]
pub struct ItemIndex {
    info: IndexInfo,
    vectors: Vec<f32>,
}

impl ItemIndex {
    /// Reads `item_index.safetensors` and `item_index.json` from a model directory.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_named(dir, "item_index")
    }

    /// Reads `{stem}.safetensors` and `{stem}.json` from a model directory (`item_index`,
    /// or `user_index` for the exported user vectors, whose `items` are user ids).
    pub fn load_named(dir: &Path, stem: &str) -> Result<Self> {
        let jpath = dir.join(format!("{stem}.json"));
        let info: IndexInfo = serde_json::from_str(&crate::io::read_text(&jpath)?)
            .map_err(|e| Error::file(&jpath, e))?;
        let vpath = dir.join(format!("{stem}.safetensors"));
        let named = Tensor::read_safetensors(&vpath).map_err(|e| Error::file(&vpath, e))?;
        let Some((_, v)) = named.into_iter().find(|(n, _)| n == "vectors") else {
            return Err(Error::file(&vpath, "no tensor `vectors`"));
        };
        let shape = v.size();
        if shape.len() != 2 || shape[0] != info.items.len() as i64 || shape[1] != info.dim {
            return Err(Error::file(
                &vpath,
                format!(
                    "`vectors` has shape {shape:?}; {stem}.json lists {} rows of width {}",
                    info.items.len(),
                    info.dim
                ),
            ));
        }
        let flat = v.to_kind(Kind::Float).contiguous().view([-1]);
        let vectors = Vec::<f32>::try_from(&flat).map_err(|e| Error::file(&vpath, e))?;
        Ok(Self { info, vectors })
    }

    /// From vectors `[items * dim]` and their description.
    pub fn new(info: IndexInfo, vectors: Vec<f32>) -> Result<Self> {
        if vectors.len() != info.items.len() * info.dim as usize {
            return Err(Error::Input(format!(
                "{} values for {} items of width {}",
                vectors.len(),
                info.items.len(),
                info.dim
            )));
        }
        Ok(Self { info, vectors })
    }

    /// What the index holds.
    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    /// The vector of row `row`; `None` past the end.
    pub fn vector(&self, row: usize) -> Option<&[f32]> {
        let d = self.info.dim as usize;
        self.vectors.get(row * d..(row + 1) * d)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.info.items.len()
    }

    /// Whether it holds no item.
    pub fn is_empty(&self) -> bool {
        self.info.items.is_empty()
    }

    /// The `k` items with the largest dot product with `query` (best first, ties by row),
    /// skipping the rows in `exclude`: `(row, score)`. Blocks of items are scored in
    /// parallel and their best `k` merged.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        exclude: &HashSet<usize>,
    ) -> Result<Vec<(usize, f32)>> {
        let d = self.info.dim as usize;
        if query.len() != d {
            return Err(Error::Input(format!(
                "query of width {}, the index holds vectors of width {d}",
                query.len()
            )));
        }
        let n = self.len();
        let mut best: Vec<(usize, f32)> = (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .flat_map_iter(|b| {
                let rows = b * BLOCK..((b + 1) * BLOCK).min(n);
                let mut top: Vec<(usize, f32)> = rows
                    .filter(|r| !exclude.contains(r))
                    .map(|r| {
                        let v = &self.vectors[r * d..(r + 1) * d];
                        (r, v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>())
                    })
                    .collect();
                // Only the block's best `k` need an order.
                let by_score =
                    |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                if k > 0 && top.len() > k {
                    top.select_nth_unstable_by(k - 1, by_score);
                }
                top.truncate(k);
                top.sort_by(by_score);
                top
            })
            .collect();
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        best.truncate(k);
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_search_matches_a_full_sort_across_blocks() -> Result<()> {
        let n = BLOCK + 37;
        let d = 3;
        let vectors: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let info = IndexInfo {
            items: (0..n).map(|i| format!("i{i}")).collect(),
            dim: d as i64,
            normalized: false,
            score_scale: 1.0,
        };
        let index = ItemIndex::new(info, vectors.clone())?;
        let q = [0.3f32, -0.2, 0.9];
        let exclude: HashSet<usize> = [5, BLOCK + 3].into_iter().collect();
        let got = index.search(&q, 25, &exclude)?;
        let mut all: Vec<(usize, f32)> = (0..n)
            .filter(|r| !exclude.contains(r))
            .map(|r| (r, (0..d).map(|j| vectors[r * d + j] * q[j]).sum()))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(got, all[..25].to_vec());
        assert!(index.search(&[1.0], 3, &exclude).is_err());
        Ok(())
    }
}
