//! Fixed-size, seeded neighbour samples per item for KGCN/KGAT-style layers, as dense index
//! arrays ready to become tensors.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::{Error, KnowledgeGraph, Result};

/// Neighbour samples of every item, row-major.
///
/// `hop1_*` has shape `[n_items, k]`; `hop2_*` has shape `[n_items, k, k]` (the neighbours
/// of each hop-1 entity). Items or entities without neighbours are padded with
/// [`NeighbourSample::pad_relation`] and [`NeighbourSample::pad_entity`], so a model can keep
/// one embedding row for "nothing here".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourSample {
    /// Neighbours per node per hop.
    pub k: usize,
    /// Hop-1 relations.
    pub hop1_relations: Vec<u32>,
    /// Hop-1 entities.
    pub hop1_entities: Vec<u32>,
    /// Hop-2 relations.
    pub hop2_relations: Vec<u32>,
    /// Hop-2 entities.
    pub hop2_entities: Vec<u32>,
    /// The padding relation id (= number of relations).
    pub pad_relation: u32,
    /// The padding entity id (= number of entities).
    pub pad_entity: u32,
}

/// One item's (hop-1 relations, hop-1 entities, hop-2 relations, hop-2 entities).
type ItemSample = (Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>);

/// Draws `k` of the `len` neighbours that `at(i)` gives by position.
fn draw(
    len: usize,
    at: impl Fn(usize) -> (u32, u32),
    k: usize,
    rng: &mut ChaCha8Rng,
    pad: (u32, u32),
    out_r: &mut Vec<u32>,
    out_e: &mut Vec<u32>,
) {
    if len == 0 {
        out_r.extend(std::iter::repeat_n(pad.0, k));
        out_e.extend(std::iter::repeat_n(pad.1, k));
    } else if len >= k {
        // Without replacement (partial Fisher-Yates over indices).
        let mut idx: Vec<usize> = (0..len).collect();
        for i in 0..k {
            let j = rng.random_range(i..idx.len());
            idx.swap(i, j);
            let (r, e) = at(idx[i]);
            out_r.push(r);
            out_e.push(e);
        }
    } else {
        // With replacement, as KGCN does for small neighbourhoods.
        for _ in 0..k {
            let (r, e) = at(rng.random_range(0..len));
            out_r.push(r);
            out_e.push(e);
        }
    }
}

impl KnowledgeGraph {
    /// Samples `k` neighbours per item (hop 1) and per hop-1 entity (hop 2). Each item has its
    /// own generator seeded from `(seed, item)`, so results do not depend on thread count.
    pub fn sample_neighbours(&self, k: usize, seed: u64) -> Result<NeighbourSample> {
        if k == 0 {
            return Err(Error::Param {
                name: "k",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        let pad = (self.relations.len() as u32, self.n_entities() as u32);
        let per_item: Vec<ItemSample> = (0..self.n_items() as u32)
            .into_par_iter()
            .map(|item| {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    seed ^ (u64::from(item) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let (mut r1, mut e1) = (Vec::with_capacity(k), Vec::with_capacity(k));
                let hop1 = self.item_neighbours(item);
                draw(hop1.len(), |i| hop1[i], k, &mut rng, pad, &mut r1, &mut e1);
                let (mut r2, mut e2) = (Vec::with_capacity(k * k), Vec::with_capacity(k * k));
                for &e in &e1 {
                    // Position i of the entity's neighbours, straight from petgraph's edges.
                    let run = if e == pad.1 {
                        &[][..]
                    } else {
                        self.entity_triple_edges(e)
                    };
                    let at = |i: usize| {
                        let edge = &run[run.len() - 1 - i];
                        (edge.weight, self.entity_of(edge.target()))
                    };
                    draw(run.len(), at, k, &mut rng, pad, &mut r2, &mut e2);
                }
                (r1, e1, r2, e2)
            })
            .collect();
        let mut s = NeighbourSample {
            k,
            hop1_relations: Vec::new(),
            hop1_entities: Vec::new(),
            hop2_relations: Vec::new(),
            hop2_entities: Vec::new(),
            pad_relation: pad.0,
            pad_entity: pad.1,
        };
        for (r1, e1, r2, e2) in per_item {
            s.hop1_relations.extend(r1);
            s.hop1_entities.extend(e1);
            s.hop2_relations.extend(r2);
            s.hop2_entities.extend(e2);
        }
        Ok(s)
    }
}
