//! What users do: who listened to (bought, watched) what and how much, as sparse weighted
//! vectors, and the similarity of two users' behaviour.
//!
//! A user's weight for an item is `ln(1 + count) * idf(item)`, with
//! `idf = ln(n_users / users_of_item)`: many plays count, but with diminishing returns,
//! and an item everyone plays says little about two people. Similarity is the cosine of
//! these vectors; [`Behaviour::shared_items`] lists what two users share, strongest first.

use std::collections::HashMap;

use crate::{Error, Result};

/// Sparse per-user item vectors with their norms and an item -> users index.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Per user: (item, raw count, weight), sorted by item.
    rows: Vec<Vec<(u32, f32, f32)>>,
    norms: Vec<f32>,
    /// Per item: the users who have it.
    item_users: Vec<Vec<u32>>,
}

impl Behaviour {
    /// Builds the vectors from parallel columns of an interaction log: `user[i]` did
    /// `item[i]` `count[i]` times (a non-finite or negative count is an error). Repeated
    /// (user, item) rows add up.
    pub fn new(
        n_users: usize,
        n_items: usize,
        user: &[u32],
        item: &[u32],
        count: &[f32],
    ) -> Result<Self> {
        let mut acc: Vec<HashMap<u32, f32>> = vec![HashMap::new(); n_users];
        for i in 0..user.len().min(item.len()).min(count.len()) {
            let (u, it, c) = (user[i], item[i], count[i]);
            if u as usize >= n_users {
                return Err(Error::OutOfRange {
                    kind: "user",
                    index: u,
                    len: n_users,
                });
            }
            if it as usize >= n_items {
                return Err(Error::OutOfRange {
                    kind: "item",
                    index: it,
                    len: n_items,
                });
            }
            if !c.is_finite() || c < 0.0 {
                return Err(Error::Param {
                    name: "count",
                    value: c.to_string(),
                    reason: "a play count must be finite and not negative",
                });
            }
            *acc[u as usize].entry(it).or_insert(0.0) += c;
        }
        let mut item_users = vec![Vec::new(); n_items];
        for (u, m) in acc.iter().enumerate() {
            for &it in m.keys() {
                item_users[it as usize].push(u as u32);
            }
        }
        item_users.iter_mut().for_each(|l| l.sort_unstable());
        let n = n_users.max(1) as f32;
        let mut rows = Vec::with_capacity(n_users);
        let mut norms = Vec::with_capacity(n_users);
        for m in acc {
            let mut row: Vec<(u32, f32, f32)> = m
                .into_iter()
                .map(|(it, c)| {
                    let idf = (n / item_users[it as usize].len() as f32).ln().max(0.0);
                    (it, c, c.ln_1p() * idf)
                })
                .collect();
            row.sort_unstable_by_key(|r| r.0);
            norms.push(row.iter().map(|r| r.2 * r.2).sum::<f32>().sqrt());
            rows.push(row);
        }
        Ok(Self {
            rows,
            norms,
            item_users,
        })
    }

    /// The vectors of a dataset's interaction log, counting with the labels of `task` (a
    /// play count, a quantity); `None` counts every row once.
    pub fn from_dataset(ds: &polyrec_data::Dataset, task: Option<&str>) -> Result<Self> {
        let ones;
        let count: &[f32] = match task {
            Some(t) => {
                let i = ds.task_index(t).ok_or_else(|| Error::Param {
                    name: "task",
                    value: t.to_string(),
                    reason: "the dataset has no task of that name",
                })?;
                &ds.interactions.labels[i]
            }
            None => {
                ones = vec![1.0; ds.interactions.len()];
                &ones
            }
        };
        Self::new(
            ds.users.ids.len(),
            ds.items.ids.len(),
            &ds.interactions.user,
            &ds.interactions.item,
            count,
        )
    }

    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.rows.len()
    }

    /// A user's items with their raw counts, sorted by count, largest first.
    pub fn top_items(&self, user: u32, n: usize) -> Vec<(u32, f32)> {
        let mut v: Vec<(u32, f32)> = self
            .rows
            .get(user as usize)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|r| (r.0, r.1))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Number of distinct items of a user.
    pub fn n_items_of(&self, user: u32) -> usize {
        self.rows.get(user as usize).map_or(0, Vec::len)
    }

    fn merge(&self, a: u32, b: u32, mut f: impl FnMut(&(u32, f32, f32), &(u32, f32, f32))) {
        let empty = Vec::new();
        let x = self.rows.get(a as usize).unwrap_or(&empty);
        let y = self.rows.get(b as usize).unwrap_or(&empty);
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            match x[i].0.cmp(&y[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    f(&x[i], &y[j]);
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    /// Cosine of the two users' weighted vectors (0 when either has none).
    pub fn cosine(&self, a: u32, b: u32) -> f32 {
        let mut dot = 0.0;
        self.merge(a, b, |x, y| dot += x.2 * y.2);
        let d = self.norms.get(a as usize).copied().unwrap_or(0.0)
            * self.norms.get(b as usize).copied().unwrap_or(0.0);
        if d > 0.0 { dot / d } else { 0.0 }
    }

    /// Number of items both have, and the Jaccard index of the two item sets.
    pub fn overlap(&self, a: u32, b: u32) -> (usize, f32) {
        let mut shared = 0;
        self.merge(a, b, |_, _| shared += 1);
        let union = self.n_items_of(a) + self.n_items_of(b) - shared;
        let j = if union > 0 {
            shared as f32 / union as f32
        } else {
            0.0
        };
        (shared, j)
    }

    /// The items both users have, strongest shared weight first (the smaller of the two
    /// weights), at most `n`.
    pub fn shared_items(&self, a: u32, b: u32, n: usize) -> Vec<u32> {
        let mut v = Vec::new();
        self.merge(a, b, |x, y| v.push((x.0, x.2.min(y.2))));
        v.sort_by(|p, q| q.1.total_cmp(&p.1).then(p.0.cmp(&q.0)));
        v.into_iter().take(n).map(|p| p.0).collect()
    }

    /// The `n` users most similar to `user` by cosine (only users sharing an item), best
    /// first, without `user`.
    pub fn similar_users(&self, user: u32, n: usize) -> Vec<(u32, f32)> {
        let mut dot: HashMap<u32, f32> = HashMap::new();
        for &(it, _, w) in self.rows.get(user as usize).map_or(&[][..], Vec::as_slice) {
            for &v in &self.item_users[it as usize] {
                if v != user {
                    let wv = self.rows[v as usize]
                        .binary_search_by_key(&it, |r| r.0)
                        .map_or(0.0, |k| self.rows[v as usize][k].2);
                    *dot.entry(v).or_insert(0.0) += w * wv;
                }
            }
        }
        let nu = self.norms.get(user as usize).copied().unwrap_or(0.0);
        let mut v: Vec<(u32, f32)> = dot
            .into_iter()
            .map(|(v, d)| {
                let den = nu * self.norms[v as usize];
                (v, if den > 0.0 { d / den } else { 0.0 })
            })
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

/// One unit-length vector per user (e.g. the sentence embedding of a profile text), as
/// plain numbers: this crate needs no language model, whoever computes them passes them
/// in. A user without a profile has a zero row.
#[derive(Debug, Clone, Default)]
pub struct ProfileVectors {
    dim: usize,
    data: Vec<f32>,
}

impl ProfileVectors {
    /// Takes `n_users * dim` numbers, row by row, and normalises each row to unit length.
    pub fn new(dim: usize, mut data: Vec<f32>) -> Result<Self> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(Error::Param {
                name: "profile vectors",
                value: format!("{} numbers, width {dim}", data.len()),
                reason: "the numbers must fill whole rows of a non-zero width",
            });
        }
        if let Some(x) = data.iter().find(|x| !x.is_finite()) {
            return Err(Error::Param {
                name: "profile vectors",
                value: x.to_string(),
                reason: "every number must be finite",
            });
        }
        for row in data.chunks_mut(dim) {
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                row.iter_mut().for_each(|x| *x /= n);
            }
        }
        Ok(Self { dim, data })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The width of a row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i` (unit length, or zero for a row without text); empty past the end.
    pub fn row(&self, i: u32) -> &[f32] {
        let i = i as usize;
        self.data
            .get(i * self.dim..(i + 1) * self.dim)
            .unwrap_or_default()
    }

    /// Cosine of two rows (0 when either is missing).
    pub fn cosine(&self, a: u32, b: u32) -> f32 {
        let (a, b) = (a as usize, b as usize);
        if a >= self.len() || b >= self.len() {
            return 0.0;
        }
        let x = &self.data[a * self.dim..(a + 1) * self.dim];
        let y = &self.data[b * self.dim..(b + 1) * self.dim];
        x.iter().zip(y).map(|(p, q)| p * q).sum()
    }

    /// The `n` rows nearest to `user`'s by cosine, best first, without `user` itself.
    pub fn nearest(&self, user: u32, n: usize) -> Vec<(u32, f32)> {
        let mut v: Vec<(u32, f32)> = (0..self.len() as u32)
            .filter(|&v| v != user)
            .map(|v| (v, self.cosine(user, v)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_overlap_and_shared_items() -> Result<()> {
        // user 0: items 0 (100 plays), 1 (1); user 1: items 0 (50), 2 (5); user 2: item 3.
        let b = Behaviour::new(
            3,
            4,
            &[0, 0, 1, 1, 2],
            &[0, 1, 0, 2, 3],
            &[100.0, 1.0, 50.0, 5.0, 7.0],
        )?;
        assert_eq!(b.overlap(0, 1), (1, 1.0 / 3.0));
        assert!(b.cosine(0, 1) > 0.0 && b.cosine(0, 2) == 0.0);
        assert!((b.cosine(0, 1) - b.cosine(1, 0)).abs() < 1e-6);
        assert_eq!(b.shared_items(0, 1, 5), vec![0]);
        assert_eq!(b.top_items(0, 1), vec![(0, 100.0)]);
        assert_eq!(b.similar_users(0, 5)[0].0, 1);
        assert!(Behaviour::new(1, 1, &[0], &[0], &[f32::NAN]).is_err());
        Ok(())
    }

    #[test]
    fn profile_vectors_are_normalised_and_checked() -> Result<()> {
        let p = ProfileVectors::new(2, vec![3.0, 4.0, 6.0, 8.0, 0.0, 1.0])?;
        assert!((p.cosine(0, 1) - 1.0).abs() < 1e-6);
        assert!((p.cosine(0, 2) - 0.8).abs() < 1e-6);
        assert_eq!(p.nearest(2, 1)[0].0, 0);
        assert!(ProfileVectors::new(2, vec![1.0; 3]).is_err());
        Ok(())
    }
}
