//! The topic model: the signals blended with weights chosen on a validation part of the
//! training period, top-K topics with the evidence for their reasons.

use serde::Serialize;

use super::signals::{N_SIGNALS, SIGNALS, Signal, SignalScores};
use super::{TagHistory, TopicSignals, TopicVectors};
use crate::Result;

/// How a topic model is built and validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicConfig {
    /// Share of each user's applications (the latest) held out: for validation inside
    /// the training period, and for testing in [`super::evaluate`].
    pub holdout_fraction: f64,
    /// Users with fewer applications are never held out (all their applications train).
    pub min_applications: usize,
    /// Half-life of the reuse signal's recency weights, in days.
    pub half_life_days: f64,
    /// The weight grid: every weight is a multiple of `1 / grid_steps`, weights sum to 1.
    pub grid_steps: usize,
    /// The K of recall@K that chooses the weights.
    pub k: usize,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            holdout_fraction: 0.2,
            min_applications: 5,
            half_life_days: 30.0,
            grid_steps: 5,
            k: 10,
        }
    }
}

impl TopicConfig {
    fn half_life_s(&self) -> f64 {
        self.half_life_days * 86_400.0
    }
}

/// Blend weights, one per signal of [`SIGNALS`].
pub type Weights = [f32; N_SIGNALS];

/// What a suggested topic rests on, for its reasons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicEvidence {
    /// The user's own applications of the topic, and on how many items.
    pub applications: u32,
    /// Distinct items the user tagged with it.
    pub items: u32,
    /// The user's topic that shares the most items with it.
    pub item_neighbour: Option<u32>,
    /// The user's topic whose users most use it too.
    pub user_neighbour: Option<u32>,
    /// The user's topics closest to it in meaning (at most two, closest first).
    pub similar: Vec<u32>,
    /// An item the user tagged that carries the topic (someone else's tag, or the user's).
    pub shared_item: Option<u32>,
    /// How many users use the topic.
    pub users: u32,
    /// Each signal's weighted part of the score, in the order of [`SIGNALS`].
    pub contributions: Weights,
}

/// One suggested topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicSuggestion {
    /// The topic.
    pub topic: u32,
    /// The blended score (the weights sum to 1, every signal is in `[0, 1]`).
    pub score: f32,
    /// Its evidence.
    pub evidence: TopicEvidence,
}

/// A fitted topic recommender.
#[derive(Debug, Clone)]
pub struct TopicModel {
    /// The signals of the whole history.
    pub signals: TopicSignals,
    /// The blend's weights.
    pub weights: BlendWeights,
}

impl TopicModel {
    /// Chooses the weights on the latest part of each user's history (validation) with the
    /// signals built from the rest, then builds the signals from the whole history.
    pub fn fit(h: &TagHistory, text: Option<&TopicVectors>, cfg: &TopicConfig) -> Result<Self> {
        let weights = choose_weights(h, text, cfg)?;
        Self::with_weights(h, text, cfg, weights)
    }

    /// A model with given weights.
    pub fn with_weights(
        h: &TagHistory,
        text: Option<&TopicVectors>,
        cfg: &TopicConfig,
        weights: BlendWeights,
    ) -> Result<Self> {
        let signals = TopicSignals::new(h, text.cloned(), cfg.half_life_s())?;
        Ok(Self { signals, weights })
    }

    /// The `k` best topics for `user`, best first; `only_new` leaves out the user's own
    /// topics. A user without applications gets the most used topics.
    pub fn recommend(&self, user: u32, k: usize, only_new: bool) -> Vec<TopicSuggestion> {
        let scores = self.signals.scores(user);
        let weights = if self.signals.profile(user).is_empty() {
            one_hot(Signal::Popularity)
        } else {
            self.weights.get(only_new)
        };
        rank(&self.signals, &scores, &weights, user, k, only_new)
            .into_iter()
            .map(|(t, score)| TopicSuggestion {
                topic: t,
                score,
                evidence: self.evidence(user, t, &scores, &weights),
            })
            .collect()
    }

    fn evidence(&self, user: u32, t: u32, s: &SignalScores, w: &Weights) -> TopicEvidence {
        let sig = &self.signals;
        let profile = sig.profile(user);
        let own = profile.iter().find(|p| p.topic == t);
        let strongest = |cooc: &[std::collections::HashMap<u32, f32>]| {
            profile
                .iter()
                .filter(|p| p.topic != t)
                .filter_map(|p| cooc[p.topic as usize].get(&t).map(|&c| (p.topic, c)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|(p, _)| p)
        };
        let mut similar: Vec<(u32, f32)> = match &sig.text {
            Some(text) => profile
                .iter()
                .filter(|p| p.topic != t)
                .map(|p| (p.topic, text.cosine(p.topic, t)))
                .collect(),
            None => Vec::new(),
        };
        similar.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let items = &sig.topic_items[t as usize];
        let shared_item = sig.user_items.get(user as usize).and_then(|mine| {
            mine.iter()
                .find(|i| items.binary_search(i).is_ok())
                .copied()
        });
        TopicEvidence {
            applications: own.map_or(0, |p| p.applications),
            items: own.map_or(0, |p| p.items),
            item_neighbour: strongest(&sig.item_cooc),
            user_neighbour: strongest(&sig.user_cooc),
            similar: similar.into_iter().take(2).map(|(p, _)| p).collect(),
            shared_item,
            users: sig.user_count[t as usize] as u32,
            contributions: std::array::from_fn(|i| w[i] * s[i][t as usize]),
        }
    }
}

/// The weights that put all on one signal.
pub fn one_hot(signal: Signal) -> Weights {
    std::array::from_fn(|i| if SIGNALS[i] == signal { 1.0 } else { 0.0 })
}

/// The `k` best known topics by `sum_i w_i s_i`, ties by popularity then topic index;
/// `only_new` leaves out the user's own topics.
pub fn rank(
    sig: &TopicSignals,
    s: &SignalScores,
    w: &Weights,
    user: u32,
    k: usize,
    only_new: bool,
) -> Vec<(u32, f32)> {
    let profile = sig.profile(user);
    let mut all: Vec<(u32, f32)> = (0..sig.n_topics as u32)
        .filter(|&t| sig.is_known(t))
        .filter(|&t| !only_new || profile.binary_search_by_key(&t, |p| p.topic).is_err())
        .map(|t| (t, (0..N_SIGNALS).map(|i| w[i] * s[i][t as usize]).sum()))
        .collect();
    let order = |a: &(u32, f32), b: &(u32, f32)| {
        b.1.total_cmp(&a.1)
            .then(sig.user_count[b.0 as usize].total_cmp(&sig.user_count[a.0 as usize]))
            .then(a.0.cmp(&b.0))
    };
    if all.len() > k {
        all.select_nth_unstable_by(k, order);
        all.truncate(k);
    }
    all.sort_by(order);
    all
}

/// Every weight vector on the grid: multiples of `1 / steps` summing to 1, over the
/// signals in `on`.
pub fn weight_grid(steps: usize, on: &[bool; N_SIGNALS]) -> Vec<Weights> {
    fn go(
        i: usize,
        left: usize,
        steps: usize,
        on: &[bool],
        cur: &mut Vec<usize>,
        out: &mut Vec<Weights>,
    ) {
        if i == N_SIGNALS {
            if left == 0 {
                out.push(std::array::from_fn(|j| cur[j] as f32 / steps as f32));
            }
            return;
        }
        let max = if on[i] { left } else { 0 };
        for x in 0..=max {
            cur.push(x);
            go(i + 1, left - x, steps, on, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(0, steps.max(1), steps.max(1), on, &mut Vec::new(), &mut out);
    out
}

/// Recall@k of one ranking against a user's held-out topics.
pub(crate) fn recall(ranked: &[(u32, f32)], truth: &[u32]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let hits = ranked
        .iter()
        .filter(|(t, _)| truth.binary_search(t).is_ok())
        .count();
    hits as f64 / truth.len() as f64
}

/// Blend weights for both kinds of request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BlendWeights {
    /// For every later topic (the user's own included).
    pub all: Weights,
    /// For topics new to the user (their own left out of the ranking).
    pub new: Weights,
}

impl BlendWeights {
    /// The weights of one kind of request.
    pub fn get(&self, only_new: bool) -> Weights {
        if only_new { self.new } else { self.all }
    }
}

/// For each kind of request, the grid point with the best mean recall@k on the validation
/// part of `h` (each user's latest `holdout_fraction`), the signals built from the rest:
/// `all` by recall of every later topic, `new` by recall of the later topics new to the
/// user. Ties keep the first grid point; without validation users, equal weights.
pub fn choose_weights(
    h: &TagHistory,
    text: Option<&TopicVectors>,
    cfg: &TopicConfig,
) -> Result<BlendWeights> {
    let split = h.temporal_split(cfg.holdout_fraction, cfg.min_applications);
    let sig = TopicSignals::new(&split.train, text.cloned(), cfg.half_life_s())?;
    let on: [bool; N_SIGNALS] =
        std::array::from_fn(|i| SIGNALS[i] != Signal::Text || text.is_some());
    let grid = weight_grid(cfg.grid_steps, &on);
    let n_on = on.iter().filter(|&&b| b).count() as f32;
    let equal: Weights = std::array::from_fn(|i| if on[i] { 1.0 / n_on } else { 0.0 });
    let mut users = Vec::new();
    for (u, truth) in &split.test {
        let profile = sig.profile(*u);
        if profile.is_empty() {
            continue;
        }
        let fresh: Vec<u32> = truth
            .iter()
            .copied()
            .filter(|t| profile.binary_search_by_key(t, |p| p.topic).is_err())
            .collect();
        users.push((*u, truth.clone(), fresh, sig.scores(*u)));
    }
    let best = |only_new: bool| {
        let mut best = (f64::NEG_INFINITY, equal);
        for w in &grid {
            let total: f64 = users
                .iter()
                .map(|(u, truth, fresh, s)| {
                    let truth = if only_new { fresh } else { truth };
                    if truth.is_empty() {
                        return 0.0;
                    }
                    recall(&rank(&sig, s, w, *u, cfg.k, only_new), truth)
                })
                .sum();
            if total > best.0 {
                best = (total, *w);
            }
        }
        best.1
    };
    Ok(BlendWeights {
        all: best(false),
        new: best(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_covers_the_simplex_of_the_signals_that_are_on() {
        let on = [true, true, false, false, false, false];
        let g = weight_grid(4, &on);
        assert_eq!(g.len(), 5);
        for w in &g {
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!(w[2..].iter().all(|&x| x == 0.0));
        }
        assert_eq!(weight_grid(5, &[true; N_SIGNALS]).len(), 252);
    }

    #[test]
    fn recall_counts_distinct_hits() {
        assert_eq!(recall(&[(1, 0.9), (4, 0.5), (7, 0.1)], &[1, 2, 7, 9]), 0.5);
        assert_eq!(recall(&[(3, 1.0)], &[]), 0.0);
    }
}
