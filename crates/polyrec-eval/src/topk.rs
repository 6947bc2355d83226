//! Top-K metrics with binary relevance, and full-ranking evaluation over all items.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use rayon::prelude::*;

/// Sums of per-user top-K metrics at several cut-offs; [`TopK::means`] averages them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopK {
    ks: Vec<usize>,
    users: usize,
    sums: Vec<[f64; 5]>,   // recall, precision, hit, ndcg, mrr per k
    ascending: Vec<usize>, // indices of `ks` by increasing k
    discount: Vec<f64>,    // 1 / log2(r + 2) for ranks r below the largest k
}

impl TopK {
    /// An accumulator for the cut-offs `ks`.
    pub fn new(ks: &[usize]) -> Self {
        let mut ascending: Vec<usize> = (0..ks.len()).collect();
        ascending.sort_by_key(|&i| ks[i]);
        let kmax = ks.iter().copied().max().unwrap_or(0);
        Self {
            ks: ks.to_vec(),
            users: 0,
            sums: vec![[0.0; 5]; ks.len()],
            ascending,
            discount: (0..kmax).map(|r| 1.0 / ((r + 2) as f64).log2()).collect(),
        }
    }

    /// Adds one user: `ranked` best first, `relevant` the set of relevant items. A user with
    /// no relevant item is skipped (recall would be undefined).
    ///
    /// The cut-offs are visited in increasing order and share one pass over the ranks: every
    /// rank is looked up in `relevant` once, and the sums at a cut-off are the same prefix
    /// sums, in the same order, as a pass of its own would make.
    pub fn add<T: Eq + Hash>(&mut self, ranked: &[T], relevant: &HashSet<T>) {
        if relevant.is_empty() {
            return;
        }
        self.users += 1;
        let (mut r, mut hits, mut dcg, mut first) = (0usize, 0usize, 0f64, None);
        let (mut ideal_r, mut ideal) = (0usize, 0f64);
        for &k_idx in &self.ascending {
            let k = self.ks[k_idx];
            while r < k.min(ranked.len()) {
                if relevant.contains(&ranked[r]) {
                    hits += 1;
                    dcg += self.discount[r];
                    first.get_or_insert(r + 1);
                }
                r += 1;
            }
            while ideal_r < relevant.len().min(k) {
                ideal += self.discount[ideal_r];
                ideal_r += 1;
            }
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
/// compared with the relevant set (ties by item index). Parallel over users; memory is a few
/// `n_items` buffers per worker thread, never a users x items matrix. The selection of the
/// top items is exact and needs no sort of a user's scores (see `Selector`).
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
                select: Selector::default(),
                top: Vec::with_capacity(kmax),
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
                w.select.select(&w.buf, &w.excluded, kmax, &mut w.top);
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

/// Items per block of the first pass of [`Selector::select`].
const BLOCK: usize = 16;

/// An `i32` whose signed order is [`f32::total_cmp`]'s order of the score (the same
/// transformation `total_cmp` makes).
fn rank_key(s: f32) -> i32 {
    let b = s.to_bits() as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

/// Exact top-k selection over one user's scores, with its buffers (kept per thread).
///
/// Three passes over the items, branch-free but for the few candidates of the last:
/// 1. every score becomes a [`rank_key`] (an excluded item gets `i32::MIN`, below all);
/// 2. the maximum key of every block of [`BLOCK`] items; the k-th largest of these block
///    maxima is a lower bound of the k-th largest key overall (k different blocks each hold
///    an item at least that large), found by a partial selection of the few maxima;
/// 3. the items whose key reaches the bound are gathered from the blocks whose maximum
///    reaches it (about k blocks; branch-free compaction; usually little more than k
///    items), the best k of those found by a partial selection and sorted.
///
/// No users x items matrix, no per-item insertion into a sorted list, no full sort.
#[derive(Debug, Default)]
struct Selector {
    keys: Vec<i32>,
    maxima: Vec<i32>,
    nth: Vec<i32>,
    picked: Vec<u32>,
    candidates: Vec<(i32, u32)>,
}

impl Selector {
    /// Leaves in `top` the best `kmax` items of `scores` that are not `excluded`, in order:
    /// score descending by [`f32::total_cmp`], then item index ascending (fewer when fewer
    /// items are left).
    fn select(
        &mut self,
        scores: &[f32],
        excluded: &[bool],
        kmax: usize,
        top: &mut Vec<(f32, u32)>,
    ) {
        top.clear();
        let n = scores.len().min(excluded.len());
        if kmax == 0 || n == 0 {
            return;
        }
        self.keys.clear();
        self.keys.extend(
            scores[..n]
                .iter()
                .zip(&excluded[..n])
                .map(|(&s, &skip)| if skip { i32::MIN } else { rank_key(s) }),
        );
        self.maxima.clear();
        self.maxima.extend(
            self.keys
                .chunks(BLOCK)
                .map(|block| block.iter().copied().fold(i32::MIN, i32::max)),
        );
        self.nth.clear();
        self.nth.extend_from_slice(&self.maxima);
        let bound = if self.nth.len() >= kmax {
            let (_, kth, _) = self.nth.select_nth_unstable_by(kmax - 1, |a, b| b.cmp(a));
            *kth
        } else {
            i32::MIN
        };
        // Only blocks whose maximum reaches the bound can hold a candidate: about k of them.
        self.picked.resize(n, 0);
        let mut found = 0;
        for (b, &max) in self.maxima.iter().enumerate() {
            if max < bound {
                continue;
            }
            let start = b * BLOCK;
            let block = &self.keys[start..(start + BLOCK).min(n)];
            for (i, &key) in (start..).zip(block) {
                self.picked[found] = i as u32;
                found += usize::from(key >= bound);
            }
        }
        self.candidates.clear();
        self.candidates.extend(
            self.picked[..found]
                .iter()
                .filter(|&&i| !excluded[i as usize])
                .map(|&i| (self.keys[i as usize], i)),
        );
        let by_rank = |a: &(i32, u32), b: &(i32, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if self.candidates.len() > kmax {
            self.candidates.select_nth_unstable_by(kmax - 1, by_rank);
            self.candidates.truncate(kmax);
        }
        self.candidates.sort_unstable_by(by_rank);
        top.extend(
            self.candidates
                .iter()
                .map(|&(_, i)| (scores[i as usize], i)),
        );
    }
}

/// Per-thread state of [`full_ranking`].
struct Worker {
    acc: TopK,
    buf: Vec<f32>,
    excluded: Vec<bool>,
    select: Selector,
    top: Vec<(f32, u32)>,
    ranked: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The best `kmax` by a full sort: score descending by `total_cmp`, then index.
    fn sorted_top(scores: &[f32], excluded: &[bool], kmax: usize) -> Vec<(f32, u32)> {
        let mut all: Vec<(f32, u32)> = (0..scores.len())
            .filter(|&i| !excluded[i])
            .map(|i| (scores[i], i as u32))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(kmax);
        all
    }

    #[test]
    fn selection_matches_a_full_sort_with_ties_nan_zeros_and_exclusions() {
        let special = [
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::MAX,
            f32::MIN,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..400 {
            let n = (next() % 1000) as usize;
            let scores: Vec<f32> = (0..n)
                .map(|_| match next() % 10 {
                    0 => special[(next() % special.len() as u64) as usize],
                    // Few distinct values: many ties across chunks.
                    1..=4 => (next() % 5) as f32 - 2.0,
                    _ => (next() % 1_000_000) as f32 / 1e3 - 500.0,
                })
                .collect();
            // Sometimes most items excluded (fewer candidates than `kmax`), sometimes none.
            let every = [1, 2, 3, 10, u64::MAX][case % 5];
            let excluded: Vec<bool> = (0..n).map(|_| next() % every == 0).collect();
            for kmax in [0, 1, 5, 20, 64] {
                let mut top = Vec::new();
                Selector::default().select(&scores, &excluded, kmax, &mut top);
                let want = sorted_top(&scores, &excluded, kmax);
                let bits = |v: &[(f32, u32)]| -> Vec<(u32, u32)> {
                    v.iter().map(|t| (t.0.to_bits(), t.1)).collect()
                };
                assert_eq!(bits(&top), bits(&want), "case {case}, n {n}, kmax {kmax}");
            }
        }
    }

    #[test]
    fn an_excluded_item_never_fills_a_short_list() {
        // Two items left of five; the excluded ones score highest.
        let scores = [9.0, 1.0, 8.0, f32::NEG_INFINITY, 7.0];
        let excluded = [true, false, true, false, true];
        let mut top = Vec::new();
        Selector::default().select(&scores, &excluded, 3, &mut top);
        assert_eq!(top, vec![(1.0, 1), (f32::NEG_INFINITY, 3)]);
    }

    /// The sums of one user at one cut-off, each cut-off on its own pass (the definition).
    fn one_user(ranked: &[u32], relevant: &HashSet<u32>, k: usize) -> [f64; 5] {
        let top = &ranked[..k.min(ranked.len())];
        let (mut hits, mut dcg, mut first) = (0usize, 0f64, None);
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
        [
            hits as f64 / relevant.len() as f64,
            hits as f64 / k.max(1) as f64,
            f64::from(u8::from(hits > 0)),
            if ideal > 0.0 { dcg / ideal } else { 0.0 },
            first.map_or(0.0, |r| 1.0 / r as f64),
        ]
    }

    #[test]
    fn one_pass_over_the_ranks_gives_each_cut_off_its_own_sums() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        };
        // Unsorted and repeated cut-offs, zero, lists shorter than a cut-off.
        for ks in [vec![20, 5, 10], vec![3, 3, 1], vec![0, 7], vec![1]] {
            let mut acc = TopK::new(&ks);
            let mut want = vec![[0f64; 5]; ks.len()];
            for _ in 0..300 {
                let ranked: Vec<u32> = (0..next(25)).map(|_| next(40) as u32).collect();
                let relevant: HashSet<u32> = (0..next(6)).map(|_| next(40) as u32).collect();
                acc.add(&ranked, &relevant);
                if relevant.is_empty() {
                    continue;
                }
                for (w, &k) in want.iter_mut().zip(&ks) {
                    for (x, y) in w.iter_mut().zip(one_user(&ranked, &relevant, k)) {
                        *x += y;
                    }
                }
            }
            let bits =
                |v: &[[f64; 5]]| -> Vec<u64> { v.iter().flatten().map(|x| x.to_bits()).collect() };
            assert_eq!(bits(&acc.sums), bits(&want), "ks {ks:?}");
        }
    }

    #[test]
    fn hand_computed_metrics() {
        let mut acc = TopK::new(&[2, 1]);
        // Relevant at ranks 2 and 3 of 3; two relevant items.
        acc.add(&[7u32, 8, 9], &HashSet::from([8, 9]));
        let m = acc.means();
        let d2 = 1.0 / 3f64.log2();
        assert_eq!(m["recall@1"], 0.0);
        assert_eq!(m["recall@2"], 0.5);
        assert_eq!(m["precision@2"], 0.5);
        assert_eq!(m["hit@1"], 0.0);
        assert_eq!(m["hit@2"], 1.0);
        assert_eq!(m["mrr@2"], 0.5);
        assert!((m["ndcg@2"] - d2 / (1.0 + d2)).abs() < 1e-15);
    }
}
