//! The per-user temporal hold-out of a topic recommender: recall@K of each user's later
//! topics, for the blend and for each signal alone (popularity alone is most-popular).

use serde::Serialize;

use super::model::{BlendWeights, choose_weights, one_hot, rank, recall};
use super::signals::{SIGNALS, Signal};
use super::{TagHistory, TopicConfig, TopicSignals, TopicVectors};
use crate::Result;

/// One scorer's recall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicRow {
    /// `blend` or a signal's name.
    pub name: String,
    /// Mean recall@K of the user's distinct later topics.
    pub recall_all: f64,
    /// Mean recall@K of the later topics the user had not used before (own topics left out
    /// of the ranking), over the users who have such topics.
    pub recall_new: f64,
}

/// The hold-out's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicReport {
    /// The K.
    pub k: usize,
    /// Held-out users (at least `min_applications` applications).
    pub users_all: usize,
    /// Held-out users with at least one later topic new to them.
    pub users_new: usize,
    /// Training applications.
    pub train_applications: usize,
    /// Held-out applications.
    pub test_applications: usize,
    /// The blend's weights, chosen on validation inside the training part.
    pub weights: BlendWeights,
    /// The blend first, then every signal alone.
    pub rows: Vec<TopicRow>,
}

/// Holds out each user's latest `holdout_fraction` of applications
/// ([`TagHistory::temporal_split`]), chooses the blend's weights inside the rest
/// ([`choose_weights`]: validation is the latest part of the training part) and measures
/// recall@K of the held-out topics. Deterministic: nothing is sampled.
pub fn evaluate(
    h: &TagHistory,
    text: Option<&TopicVectors>,
    cfg: &TopicConfig,
) -> Result<TopicReport> {
    let split = h.temporal_split(cfg.holdout_fraction, cfg.min_applications);
    let weights = choose_weights(&split.train, text, cfg)?;
    let sig = TopicSignals::new(&split.train, text.cloned(), cfg.half_life_days * 86_400.0)?;
    let mut scorers = vec![("blend".to_string(), weights)];
    for s in SIGNALS {
        if s != Signal::Text || text.is_some() {
            let w = one_hot(s);
            scorers.push((s.name().to_string(), BlendWeights { all: w, new: w }));
        }
    }
    let users: Vec<_> = split
        .test
        .iter()
        .map(|(u, truth)| {
            let profile = sig.profile(*u);
            let new: Vec<u32> = truth
                .iter()
                .copied()
                .filter(|t| profile.binary_search_by_key(t, |p| p.topic).is_err())
                .collect();
            (*u, truth, new, sig.scores(*u))
        })
        .collect();
    let users_new = users.iter().filter(|x| !x.2.is_empty()).count();
    let rows = scorers
        .into_iter()
        .map(|(name, w)| {
            let mut all = 0.0;
            let mut new = 0.0;
            for (u, truth, fresh, s) in &users {
                // A user without training topics gets most-popular, as in `recommend`.
                let w = if sig.profile(*u).is_empty() {
                    let p = one_hot(Signal::Popularity);
                    BlendWeights { all: p, new: p }
                } else {
                    w
                };
                all += recall(&rank(&sig, s, &w.all, *u, cfg.k, false), truth);
                if !fresh.is_empty() {
                    new += recall(&rank(&sig, s, &w.new, *u, cfg.k, true), fresh);
                }
            }
            TopicRow {
                name,
                recall_all: all / users.len().max(1) as f64,
                recall_new: new / users_new.max(1) as f64,
            }
        })
        .collect();
    Ok(TopicReport {
        k: cfg.k,
        users_all: users.len(),
        users_new,
        train_applications: split.train.applications.len(),
        test_applications: h.applications.len() - split.train.applications.len(),
        weights,
        rows,
    })
}
