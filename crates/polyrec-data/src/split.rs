//! Seeded splits of the interaction log into train / validation / test row sets.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Dataset, Error, Result};

/// Row indices of each part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training rows.
    pub train: Vec<u32>,
    /// Validation rows.
    pub valid: Vec<u32>,
    /// Test rows.
    pub test: Vec<u32>,
    /// Users or items held out entirely (cold-start splits only).
    pub held_out: Vec<u32>,
}

impl Split {
    /// Total rows across parts.
    pub fn len(&self) -> usize {
        self.train.len() + self.valid.len() + self.test.len()
    }
    /// Whether all parts are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn check_ratios(valid: f64, test: f64) -> Result<()> {
    for (name, v) in [("valid", valid), ("test", test)] {
        if !(0.0..1.0).contains(&v) {
            return Err(Error::Param {
                name,
                value: v.to_string(),
                reason: "must be in [0, 1)",
            });
        }
    }
    if valid + test >= 1.0 {
        return Err(Error::Param {
            name: "valid + test",
            value: (valid + test).to_string(),
            reason: "must leave rows for training",
        });
    }
    Ok(())
}

/// Random split by ratio, stratified by scenario: each scenario contributes the same shares.
pub fn random_split(ds: &Dataset, valid: f64, test: f64, seed: u64) -> Result<Split> {
    check_ratios(valid, test)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut by_scenario: Vec<Vec<u32>> = vec![Vec::new(); ds.scenarios.len().max(1)];
    for (r, &s) in ds.interactions.scenario.iter().enumerate() {
        by_scenario[s as usize].push(r as u32);
    }
    let mut out = Split::default();
    for mut rows in by_scenario {
        rows.shuffle(&mut rng);
        let n = rows.len();
        let n_test = (n as f64 * test).round() as usize;
        let n_valid = (n as f64 * valid).round() as usize;
        out.test.extend_from_slice(&rows[..n_test]);
        out.valid.extend_from_slice(&rows[n_test..n_test + n_valid]);
        out.train.extend_from_slice(&rows[n_test + n_valid..]);
    }
    for part in [&mut out.train, &mut out.valid, &mut out.test] {
        part.sort_unstable();
    }
    Ok(out)
}

/// Rows in time order (ties by row order).
fn by_time(ds: &Dataset, rows: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut v: Vec<u32> = rows.collect();
    v.sort_by_key(|&r| (ds.interactions.timestamp[r as usize], r));
    v
}

/// Temporal split with a global cut: the oldest rows train, the newest `test` share tests,
/// the `valid` share before them validates.
pub fn temporal_split(ds: &Dataset, valid: f64, test: f64) -> Result<Split> {
    check_ratios(valid, test)?;
    let rows = by_time(ds, 0..ds.interactions.len() as u32);
    let n = rows.len();
    let n_test = (n as f64 * test).round() as usize;
    let n_valid = (n as f64 * valid).round() as usize;
    let cut = n - n_test - n_valid;
    Ok(Split {
        train: rows[..cut].to_vec(),
        valid: rows[cut..cut + n_valid].to_vec(),
        test: rows[cut + n_valid..].to_vec(),
        held_out: Vec::new(),
    })
}

fn rows_per_user(ds: &Dataset) -> Vec<Vec<u32>> {
    let mut per: Vec<Vec<u32>> = vec![Vec::new(); ds.users.ids.len()];
    for (r, &u) in ds.interactions.user.iter().enumerate() {
        per[u as usize].push(r as u32);
    }
    per
}

/// Per-user temporal split: each user's last `n_test` rows test, the `n_valid` before them
/// validate. A user with too few rows keeps at least one training row.
pub fn last_n_split(ds: &Dataset, n_valid: usize, n_test: usize) -> Split {
    let mut out = Split::default();
    for rows in rows_per_user(ds) {
        let rows = by_time(ds, rows.into_iter());
        let n = rows.len();
        let t = n_test.min(n.saturating_sub(1));
        let v = n_valid.min(n.saturating_sub(1 + t));
        let cut = n - t - v;
        out.train.extend_from_slice(&rows[..cut]);
        out.valid.extend_from_slice(&rows[cut..cut + v]);
        out.test.extend_from_slice(&rows[cut + v..]);
    }
    for part in [&mut out.train, &mut out.valid, &mut out.test] {
        part.sort_unstable();
    }
    out
}

/// Leave-one-out for top-K evaluation: each user's latest row tests, the one before
/// validates (users with fewer than 3 rows keep theirs in training).
pub fn leave_one_out(ds: &Dataset) -> Split {
    let mut out = Split::default();
    for rows in rows_per_user(ds) {
        let rows = by_time(ds, rows.into_iter());
        let n = rows.len();
        if n < 3 {
            out.train.extend_from_slice(&rows);
            continue;
        }
        out.train.extend_from_slice(&rows[..n - 2]);
        out.valid.push(rows[n - 2]);
        out.test.push(rows[n - 1]);
    }
    for part in [&mut out.train, &mut out.valid, &mut out.test] {
        part.sort_unstable();
    }
    out
}

/// What a cold-start split holds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColdStart {
    /// Hold out a share of items.
    Items,
    /// Hold out a share of users.
    Users,
}

/// Cold-start split: a seeded `share` of items (or users) is held out entirely; all their
/// rows go to test. The remaining rows are split at random with the `valid` ratio.
pub fn cold_start_split(
    ds: &Dataset,
    what: ColdStart,
    share: f64,
    valid: f64,
    seed: u64,
) -> Result<Split> {
    check_ratios(valid, share)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, col) = match what {
        ColdStart::Items => (ds.items.ids.len(), &ds.interactions.item),
        ColdStart::Users => (ds.users.ids.len(), &ds.interactions.user),
    };
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.shuffle(&mut rng);
    let k = (n as f64 * share).round() as usize;
    let mut held = vec![false; n];
    for &i in &ids[..k] {
        held[i as usize] = true;
    }
    let mut out = Split {
        held_out: ids[..k].to_vec(),
        ..Default::default()
    };
    out.held_out.sort_unstable();
    let mut warm = Vec::new();
    for (r, &e) in col.iter().enumerate() {
        if held[e as usize] {
            out.test.push(r as u32)
        } else {
            warm.push(r as u32)
        }
    }
    warm.shuffle(&mut rng);
    let n_valid = (warm.len() as f64 * valid).round() as usize;
    out.valid = warm[..n_valid].to_vec();
    out.train = warm[n_valid..].to_vec();
    out.valid.sort_unstable();
    out.train.sort_unstable();
    Ok(out)
}

/// Cold-start split whose validation is cold too: a seeded `share` of the items (or users)
/// is held out for test, the next seeded `valid` share for validation, each with all its
/// rows; every other row trains. A model then selects its epoch on entities it has never
/// seen, as it will be used. The test part is the same as [`cold_start_split`]'s for the
/// same seed and `share`; `held_out` lists the test entities only.
pub fn cold_start_split_cold_valid(
    ds: &Dataset,
    what: ColdStart,
    share: f64,
    valid: f64,
    seed: u64,
) -> Result<Split> {
    check_ratios(valid, share)?;
    if valid + share >= 1.0 {
        return Err(Error::Param {
            name: "valid",
            value: valid.to_string(),
            reason: "the validation and test shares together must be below 1",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, col) = match what {
        ColdStart::Items => (ds.items.ids.len(), &ds.interactions.item),
        ColdStart::Users => (ds.users.ids.len(), &ds.interactions.user),
    };
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.shuffle(&mut rng);
    let k = (n as f64 * share).round() as usize;
    let kv = ((n as f64 * valid).round() as usize).min(n - k);
    // 0 = train, 1 = valid, 2 = test.
    let mut part = vec![0u8; n];
    for &i in &ids[..k] {
        part[i as usize] = 2;
    }
    for &i in &ids[k..k + kv] {
        part[i as usize] = 1;
    }
    let mut out = Split {
        held_out: ids[..k].to_vec(),
        ..Default::default()
    };
    out.held_out.sort_unstable();
    for (r, &e) in col.iter().enumerate() {
        match part[e as usize] {
            2 => out.test.push(r as u32),
            1 => out.valid.push(r as u32),
            _ => out.train.push(r as u32),
        }
    }
    Ok(out)
}
