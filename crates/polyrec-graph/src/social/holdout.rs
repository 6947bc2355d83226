//! The link-prediction protocol: hide a seeded share of the friendships, learn and compute
//! every feature on the rest, then measure how well the hidden ones are found.
//!
//! - AUC: the hidden friendships against as many random pairs that are not friends in the
//!   full graph;
//! - recall@K: for up to `users` sampled users with at least one hidden friendship, every
//!   user who is not already a friend in the visible graph is ranked, and the share of the
//!   hidden friends in the top K is averaged over users.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::social::friends::random_non_friends;
use crate::social::{Behaviour, FriendModel, SocialNetwork};
use crate::{Error, Result};

/// A split of a friendship graph into what a model sees and what it must find.
#[derive(Debug, Clone)]
pub struct LinkHoldout {
    /// The visible graph (the full graph less `hidden`).
    pub visible: SocialNetwork,
    /// The hidden friendships.
    pub hidden: Vec<(u32, u32)>,
    /// Random non-friend pairs (in the full graph), as many as `hidden`.
    pub negatives: Vec<(u32, u32)>,
}

impl LinkHoldout {
    /// Hides `share` of `network`'s friendships, chosen with `seed`.
    pub fn new(network: &SocialNetwork, share: f64, seed: u64) -> Result<Self> {
        if !(share > 0.0 && share < 1.0) {
            return Err(Error::Param {
                name: "share",
                value: share.to_string(),
                reason: "must be in (0, 1)",
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut edges = network.edges();
        edges.shuffle(&mut rng);
        let n = ((edges.len() as f64) * share).round() as usize;
        let hidden = edges[..n].to_vec();
        let negatives = random_non_friends(network, n, &mut rng);
        Ok(Self {
            visible: network.without(&hidden)?,
            hidden,
            negatives,
        })
    }
}

/// Scores candidate friends of one user; higher is likelier.
pub trait LinkScorer: Sync {
    /// One score per candidate.
    fn scores(&self, user: u32, candidates: &[u32]) -> Vec<f64>;
}

impl LinkScorer for FriendModel {
    fn scores(&self, user: u32, candidates: &[u32]) -> Vec<f64> {
        self.score(user, candidates)
            .into_iter()
            .map(f64::from)
            .collect()
    }
}

/// The classic unsupervised link predictors.
#[derive(Debug, Clone, Copy)]
pub enum Baseline<'a> {
    /// Number of common friends.
    CommonNeighbours(&'a SocialNetwork),
    /// Adamic-Adar.
    AdamicAdar(&'a SocialNetwork),
    /// Jaccard index of the two users' item sets.
    ItemJaccard(&'a Behaviour),
}

impl LinkScorer for Baseline<'_> {
    fn scores(&self, user: u32, candidates: &[u32]) -> Vec<f64> {
        candidates
            .iter()
            .map(|&c| match self {
                Self::CommonNeighbours(g) => g.common_friends(user, c).len() as f64,
                Self::AdamicAdar(g) => g.adamic_adar(user, c),
                Self::ItemJaccard(b) => f64::from(b.overlap(user, c).1),
            })
            .collect()
    }
}

/// What [`evaluate`] measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkReport {
    /// AUC of hidden friendships against random non-friend pairs.
    pub auc: f64,
    /// Mean recall@`k` over the sampled users.
    pub recall: f64,
    /// The K of recall.
    pub k: usize,
    /// Users the recall is averaged over.
    pub users: usize,
    /// Hidden friendships.
    pub positives: usize,
    /// Negative pairs.
    pub negatives: usize,
}

/// Runs the protocol of the module docs for `scorer` (which must have been built on
/// `split.visible` only). Ties in a ranking go to the lower user index.
pub fn evaluate(
    split: &LinkHoldout,
    scorer: &dyn LinkScorer,
    k: usize,
    users: usize,
    seed: u64,
) -> Result<LinkReport> {
    let mut labels = Vec::new();
    let mut scores = Vec::new();
    let mut by_user: std::collections::BTreeMap<u32, Vec<(u32, f64)>> = Default::default();
    for (pairs, label) in [(&split.hidden, 1.0), (&split.negatives, 0.0)] {
        for &(a, b) in pairs {
            by_user.entry(a).or_default().push((b, label));
        }
    }
    for (a, rows) in &by_user {
        let c: Vec<u32> = rows.iter().map(|r| r.0).collect();
        scores.extend(scorer.scores(*a, &c));
        labels.extend(rows.iter().map(|r| r.1));
    }
    let auc = polyrec_eval::pointwise::auc(&labels, &scores).ok_or(Error::Param {
        name: "hidden",
        value: split.hidden.len().to_string(),
        reason: "AUC needs hidden friendships and negatives",
    })?;

    let n = split.visible.n_users() as u32;
    let mut hidden_of: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for &(a, b) in &split.hidden {
        hidden_of.entry(a).or_default().push(b);
        hidden_of.entry(b).or_default().push(a);
    }
    let mut sample: Vec<u32> = hidden_of.keys().copied().collect();
    sample.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    sample.truncate(users);
    let recalls: Vec<f64> = sample
        .par_iter()
        .map(|&u| {
            let cands: Vec<u32> = (0..n)
                .filter(|&v| v != u && !split.visible.are_friends(u, v))
                .collect();
            let s = scorer.scores(u, &cands);
            let mut order: Vec<usize> = (0..cands.len()).collect();
            order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(cands[a].cmp(&cands[b])));
            let truth = &hidden_of[&u];
            let hits = order
                .iter()
                .take(k)
                .filter(|&&i| truth.contains(&cands[i]))
                .count();
            hits as f64 / truth.len() as f64
        })
        .collect();
    let recall = recalls.iter().sum::<f64>() / recalls.len().max(1) as f64;
    Ok(LinkReport {
        auc,
        recall,
        k,
        users: recalls.len(),
        positives: split.hidden.len(),
        negatives: split.negatives.len(),
    })
}
