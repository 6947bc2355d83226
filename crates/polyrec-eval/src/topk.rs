//! Top-K metrics with binary relevance, and full-ranking evaluation over all items.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use rayon::prelude::*;

/// Sums of per-user top-K metrics at several cut-offs; [`TopK::means`] averages them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopK {
    ks: Vec<usize>,
    users: usize,
    sums: Vec<[f64; 5]>, // recall, precision, hit, ndcg, mrr per k
}

impl TopK {
    /// An accumulator for the cut-offs `ks`.
    pub fn new(ks: &[usize]) -> Self {
        Self {
            ks: ks.to_vec(),
            users: 0,
            sums: vec![[0.0; 5]; ks.len()],
        }
    }

    /// Adds one user: `ranked` best first, `relevant` the set of relevant items. A user with
    /// no relevant item is skipped (recall would be undefined).
    pub fn add<T: Eq + Hash>(&mut self, ranked: &[T], relevant: &HashSet<T>) {
        if relevant.is_empty() {
            return;
        }
        self.users += 1;
        for (k_idx, &k) in self.ks.iter().enumerate() {
            let top = &ranked[..k.min(ranked.len())];
            let mut hits = 0usize;
            let mut dcg = 0f64;
            let mut first = None;
            for (r, item) in top.iter().enumerate() {
                if relevant.contains(item) {
                    hits += 1;
                    dcg += 1.0 / ((r + 2) as f64).log2();
                    first.get_or_insert(r + 1);
                }
            }
            let ideal: f64 = (0..relevant.len().min(k))
                .map(|r| 1.0 / ((r + 2) as f64).log2())
                .sum();
            let s = &mut self.sums[k_idx];
            s[0] += hits as f64 / relevant.len() as f64;
            s[1] += hits as f64 / k.max(1) as f64;
            s[2] += f64::from(u8::from(hits > 0));
            s[3] += if ideal > 0.0 { dcg / ideal } else { 0.0 };
            s[4] += first.map_or(0.0, |r| 1.0 / r as f64);
        }
    }

    /// Merges another accumulator with the same cut-offs.
    pub fn merge(mut self, other: Self) -> Self {
        self.users += other.users;
        for (a, b) in self.sums.iter_mut().zip(other.sums) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self
    }

    /// Users counted.
    pub fn users(&self) -> usize {
        self.users
    }

    /// Means over users, keyed `recall@K`, `precision@K`, `hit@K`, `ndcg@K`, `mrr@K`
    /// (empty when no user counted).
    pub fn means(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        if self.users == 0 {
            return out;
        }
        for (k, s) in self.ks.iter().zip(&self.sums) {
            for (name, v) in ["recall", "precision", "hit", "ndcg", "mrr"].iter().zip(s) {
                out.insert(format!("{name}@{k}"), v / self.users as f64);
            }
        }
        out
    }
}

/// Full-ranking evaluation: for every user with relevant items, `score` fills a buffer with
/// a score for every item; items the user trained on are excluded; the top `max(ks)` are
/// compared with the relevant set. Parallel over users; memory is one `n_items` buffer per
/// worker thread, never a users x items matrix.
pub fn full_ranking<F>(
    n_items: usize,
    train_items: &[HashSet<u32>],
    relevant: &[HashSet<u32>],
    ks: &[usize],
    score: F,
) -> TopK
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let kmax = ks.iter().copied().max().unwrap_or(0);
    (0..relevant.len())
        .into_par_iter()
        .fold(
            || Worker {
                acc: TopK::new(ks),
                buf: vec![0f32; n_items],
                excluded: vec![false; n_items],
                top: Vec::with_capacity(kmax + 1),
                ranked: Vec::with_capacity(kmax),
            },
            |mut w, u| {
                if relevant[u].is_empty() {
                    return w;
                }
                score(u, &mut w.buf);
                // Training items are flagged in a per-thread mask (set here, reset below),
                // not looked up in the hash set once per item.
                let seen = train_items.get(u);
                for &i in seen.into_iter().flatten() {
                    if let Some(x) = w.excluded.get_mut(i as usize) {
                        *x = true;
                    }
                }
                // One pass keeps the best `kmax` in order: score descending, then item
                // index ascending. Items come in index order, so an item tied with the
                // current k-th loses to it; most items cost one comparison.
                w.top.clear();
                let scan = if kmax == 0 { 0 } else { n_items };
                for (i, (&s, &skip)) in w.buf.iter().zip(&w.excluded).enumerate().take(scan) {
                    if skip {
                        continue;
                    }
                    if w.top.len() == kmax {
                        if s.total_cmp(&w.top[kmax - 1].0).is_le() {
                            continue;
                        }
                        w.top.pop();
                    }
                    let at = w.top.partition_point(|t| t.0.total_cmp(&s).is_ge());
                    w.top.insert(at, (s, i as u32));
                }
                for &i in seen.into_iter().flatten() {
                    if let Some(x) = w.excluded.get_mut(i as usize) {
                        *x = false;
                    }
                }
                w.ranked.clear();
                w.ranked.extend(w.top.iter().map(|t| t.1));
                w.acc.add(&w.ranked, &relevant[u]);
                w
            },
        )
        .map(|w| w.acc)
        .reduce(|| TopK::new(ks), TopK::merge)
}

/// Per-thread state of [`full_ranking`].
struct Worker {
    acc: TopK,
    buf: Vec<f32>,
    excluded: Vec<bool>,
    top: Vec<(f32, u32)>,
    ranked: Vec<u32>,
}
