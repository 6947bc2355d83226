//! Interaction sequences for retrieval: each user's training items in time order, the
//! validation and test item, and the training windows cut from the sequences.
//!
//! A window holds up to `len` consecutive items of one user, right-aligned in `len` slots
//! (empty slots on the left). Slot `p` reads the item before its target, so the user vector
//! after slot `p` is trained to retrieve the next item; the first item of a sequence is
//! predicted from an empty history. Windows are cut from the end of the sequence with half
//! a window of overlap, and each target is claimed by exactly one window, the one where it
//! has at least `len / 2` items of context (or all it has).

use polyrec_data::{Dataset, Split};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::{Error, Result};

/// Per-user sequences of item codes (dataset item index + 1) and the held-out items.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    /// Training items of each dataset user, oldest first (ties by file order).
    pub train: Vec<Vec<i64>>,
    /// The validation row of each user, if any.
    pub valid: Vec<Option<u32>>,
    /// The test row of each user, if any.
    pub test: Vec<Option<u32>>,
    /// Items held out of training (item cold start), dataset indices, sorted.
    pub cold_items: Vec<u32>,
}

impl Sequences {
    /// Builds the sequences of a leave-one-out split (at most one validation and one test
    /// row per user).
    pub fn new(ds: &Dataset, split: &Split, cold_items: Vec<u32>) -> Result<Self> {
        let n_users = ds.users.ids.len();
        let mut rows: Vec<Vec<(i64, u32)>> = vec![Vec::new(); n_users];
        for &r in &split.train {
            let r = r as usize;
            rows[ds.interactions.user[r] as usize].push((ds.interactions.timestamp[r], r as u32));
        }
        let train = rows
            .into_iter()
            .map(|mut v| {
                v.sort_unstable();
                v.into_iter()
                    .map(|(_, r)| i64::from(ds.interactions.item[r as usize]) + 1)
                    .collect()
            })
            .collect();
        let one_per_user = |part: &[u32], name: &str| -> Result<Vec<Option<u32>>> {
            let mut out = vec![None; n_users];
            for &r in part {
                let u = ds.interactions.user[r as usize] as usize;
                if out[u].replace(r).is_some() {
                    return Err(Error::Input(format!(
                        "user `{}` has more than one {name} row: top-K retrieval needs the leave-one-out split (--split loo)",
                        ds.users.ids.name(u as u32)
                    )));
                }
            }
            Ok(out)
        };
        Ok(Self {
            train,
            valid: one_per_user(&split.valid, "validation")?,
            test: one_per_user(&split.test, "test")?,
            cold_items,
        })
    }

    /// Number of users.
    pub fn users(&self) -> usize {
        self.train.len()
    }

    /// Training interactions.
    pub fn interactions(&self) -> usize {
        self.train.iter().map(Vec::len).sum()
    }
}

/// Removes a seeded `share` of the items from training: their training and validation rows
/// are dropped (their test rows stay). Returns the held-out items, sorted.
pub fn hold_out_items(ds: &Dataset, split: &mut Split, share: f64, seed: u64) -> Vec<u32> {
    if share <= 0.0 {
        return Vec::new();
    }
    let n = ds.items.ids.len();
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0xC01D_17E5));
    let k = ((n as f64) * share).round() as usize;
    let mut held = vec![false; n];
    for &i in &ids[..k] {
        held[i as usize] = true;
    }
    let keep = |r: &u32| !held[ds.interactions.item[*r as usize] as usize];
    split.train.retain(keep);
    split.valid.retain(keep);
    let mut out = ids[..k].to_vec();
    out.sort_unstable();
    out
}

/// One training window: `user`, and the targets `[lo, hi)` of the sequence it claims; its
/// inputs are the items `[start - 1, hi - 1)` (the item before `start` is absent at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Dataset user index.
    pub user: u32,
    /// First target of the window's slots.
    pub start: usize,
    /// First target whose loss counts.
    pub lo: usize,
    /// One past the last target.
    pub hi: usize,
}

/// Cuts every user's training sequence into windows of `len` slots.
pub fn windows(seqs: &Sequences, len: usize) -> Vec<Window> {
    let half = (len / 2).max(1);
    let mut out = Vec::new();
    for (u, s) in seqs.train.iter().enumerate() {
        let mut hi = s.len();
        while hi > 0 {
            let start = hi.saturating_sub(len);
            let lo = if start == 0 {
                0
            } else {
                (start + half).min(hi)
            };
            out.push(Window {
                user: u as u32,
                start,
                lo,
                hi,
            });
            hi = lo;
        }
    }
    out
}

/// A batch of windows as tensors: `users` `[B]` (model codes), `inputs` `[B, L]` item codes
/// read by each slot (0: empty), `targets` `[B, L]` item codes to retrieve (0: no loss).
#[derive(Debug)]
pub struct WindowBatch {
    /// User codes.
    pub users: Tensor,
    /// Items read, right-aligned.
    pub inputs: Tensor,
    /// Items to retrieve after each slot.
    pub targets: Tensor,
}

/// Builds the tensors of `batch` (CPU).
pub fn window_batch(seqs: &Sequences, batch: &[Window], len: usize) -> WindowBatch {
    let b = batch.len();
    let mut inputs = vec![0i64; b * len];
    let mut targets = vec![0i64; b * len];
    let mut users = Vec::with_capacity(b);
    for (row, w) in batch.iter().enumerate() {
        let s = &seqs.train[w.user as usize];
        users.push(i64::from(w.user) + 1);
        let n = w.hi - w.start;
        let offset = len - n;
        for (j, t) in (w.start..w.hi).enumerate() {
            let slot = row * len + offset + j;
            inputs[slot] = if t == 0 { 0 } else { s[t - 1] };
            if t >= w.lo {
                targets[slot] = s[t];
            }
        }
    }
    let shape = [b as i64, len as i64];
    WindowBatch {
        users: Tensor::from_slice(&users),
        inputs: Tensor::from_slice(&inputs).view(shape),
        targets: Tensor::from_slice(&targets).view(shape),
    }
}

/// `[users, L]` right-aligned histories for scoring: each user's latest `len` training
/// items, followed by the validation item when `with_valid` (scoring the test part).
pub fn histories(ds: &Dataset, seqs: &Sequences, len: usize, with_valid: bool) -> Tensor {
    let n = seqs.users();
    let mut out = vec![0i64; n * len];
    for (u, s) in seqs.train.iter().enumerate() {
        let mut h: Vec<i64> = s.clone();
        if with_valid && let Some(r) = seqs.valid[u] {
            h.push(i64::from(ds.interactions.item[r as usize]) + 1);
        }
        let take = &h[h.len().saturating_sub(len)..];
        let offset = len - take.len();
        out[u * len + offset..(u + 1) * len].copy_from_slice(take);
    }
    Tensor::from_slice(&out).view([n as i64, len as i64])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(lens: &[usize]) -> Sequences {
        Sequences {
            train: lens
                .iter()
                .map(|&n| (1..=n as i64).map(|i| i * 10).collect())
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn every_target_is_claimed_once_with_half_a_window_of_context() {
        let s = seqs(&[1, 3, 4, 17]);
        let ws = windows(&s, 4);
        for (u, seq) in s.train.iter().enumerate() {
            let mut claimed = vec![0; seq.len()];
            for w in ws.iter().filter(|w| w.user as usize == u) {
                assert!(w.hi - w.start <= 4);
                for c in &mut claimed[w.lo..w.hi] {
                    *c += 1;
                }
                if w.start > 0 {
                    assert!(w.lo - w.start >= 2, "{w:?}");
                }
            }
            assert!(claimed.iter().all(|&c| c == 1), "{u}: {claimed:?}");
        }
    }

    #[test]
    fn batches_read_the_item_before_each_target() {
        let s = seqs(&[3]);
        let ws = windows(&s, 4);
        assert_eq!(ws.len(), 1);
        let b = window_batch(&s, &ws, 4);
        let inputs: Vec<i64> = Vec::try_from(b.inputs.view([-1])).unwrap_or_default();
        let targets: Vec<i64> = Vec::try_from(b.targets.view([-1])).unwrap_or_default();
        assert_eq!(inputs, [0, 0, 10, 20]);
        assert_eq!(targets, [0, 10, 20, 30]);
    }
}
