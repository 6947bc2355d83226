//! Shuffled mini-batches, seeded per epoch, prepared in parallel.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::{Dataset, Error, Result};

/// One mini-batch in columnar form, ready to become tensors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Source rows.
    pub rows: Vec<u32>,
    /// Dense user index per row.
    pub users: Vec<u32>,
    /// Dense item index per row.
    pub items: Vec<u32>,
    /// Scenario per row.
    pub scenarios: Vec<u16>,
    /// Labels per task (task-major).
    pub labels: Vec<Vec<f32>>,
}

impl Batch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Builds the batches of one epoch over `rows`: the order is shuffled with a generator
/// seeded by `(seed, epoch)`, so every epoch differs and every run repeats; batches are
/// gathered in parallel. The last batch may be smaller.
pub fn epoch_batches(
    ds: &Dataset,
    rows: &[u32],
    batch_size: usize,
    seed: u64,
    epoch: u64,
) -> Result<Vec<Batch>> {
    if batch_size == 0 {
        return Err(Error::Param {
            name: "batch_size",
            value: "0".into(),
            reason: "must be positive",
        });
    }
    let mut order = rows.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    let inter = &ds.interactions;
    Ok(order
        .par_chunks(batch_size)
        .map(|chunk| Batch {
            rows: chunk.to_vec(),
            users: chunk.iter().map(|&r| inter.user[r as usize]).collect(),
            items: chunk.iter().map(|&r| inter.item[r as usize]).collect(),
            scenarios: chunk.iter().map(|&r| inter.scenario[r as usize]).collect(),
            labels: inter
                .labels
                .iter()
                .map(|col| chunk.iter().map(|&r| col[r as usize]).collect())
                .collect(),
        })
        .collect())
}
