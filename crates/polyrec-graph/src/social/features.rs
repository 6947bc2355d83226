//! The features of a (user, candidate) pair that the link model scores.
//!
//! Graph structure (on the friendship graph the model may see: for training and evaluation,
//! one with the pairs to predict removed), behaviour and profile text. Every feature is
//! symmetric in the two users, so a pair scores the same whichever end asks.

use crate::social::{Behaviour, ProfileVectors, SocialNetwork};

/// Number of features per pair.
pub const N_FEATURES: usize = 12;

/// Feature names, in vector order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "common_friends",
    "adamic_adar",
    "resource_allocation",
    "friend_jaccard",
    "pagerank",
    "min_degree",
    "max_degree",
    "behaviour_cosine",
    "shared_items",
    "item_jaccard",
    "profile_cosine",
    "paths3",
];

/// One pair's features, in [`FEATURE_NAMES`] order.
pub type PairFeatures = [f32; N_FEATURES];

/// What the features are computed from.
#[derive(Debug, Clone, Copy)]
pub struct FeatureSources<'a> {
    /// The friendship graph.
    pub network: &'a SocialNetwork,
    /// Who played what, if known.
    pub behaviour: Option<&'a Behaviour>,
    /// Profile-text embeddings, if known.
    pub profiles: Option<&'a ProfileVectors>,
    /// Restart probability of personalised PageRank.
    pub restart: f64,
    /// Power-iteration rounds of personalised PageRank.
    pub iterations: usize,
}

impl FeatureSources<'_> {
    /// The personalised PageRank vector of `source` (to pass to [`Self::pair`]).
    pub fn pagerank(&self, source: u32) -> Vec<f64> {
        self.network
            .personalized_pagerank(source, self.restart, self.iterations)
    }

    /// Features of `(a, b)`; `pagerank_a` is [`Self::pagerank`] of `a`.
    pub fn pair(&self, a: u32, b: u32, pagerank_a: &[f64]) -> PairFeatures {
        let net = self.network;
        let common = net.common_friends(a, b);
        let (mut aa, mut ra) = (0.0f64, 0.0f64);
        for &z in &common {
            let d = net.degree(z) as f64;
            aa += 1.0 / d.ln();
            ra += 1.0 / d;
        }
        let (da, db) = (net.degree(a), net.degree(b));
        let union = da + db - common.len();
        let jaccard = if union > 0 {
            common.len() as f32 / union as f32
        } else {
            0.0
        };
        // pi_a(b) / d(b) = pi_b(a) / d(a) on an undirected graph: symmetric. Times twice the
        // number of edges, so that the walk's stationary distribution (d / 2m) scores 1.
        let ppr = pagerank_a.get(b as usize).copied().unwrap_or(0.0) / db.max(1) as f64
            * 2.0
            * net.n_edges().max(1) as f64;
        let (cos, shared, item_jaccard) = match self.behaviour {
            Some(beh) => {
                let (s, j) = beh.overlap(a, b);
                (beh.cosine(a, b), s as f32, j)
            }
            None => (0.0, 0.0, 0.0),
        };
        let text = self.profiles.map_or(0.0, |p| p.cosine(a, b));
        // Paths of length 3 (a - x - y - b), each weighted 1 / sqrt(d(x) d(y)) (the L3
        // score of Kovacs et al., 2019): friends of a who are friends of b's friends.
        let mut paths3 = 0.0f64;
        for &x in net.friends(a) {
            if x == b {
                continue;
            }
            let dx = net.degree(x) as f64;
            for &y in net.friends(x) {
                if y != a && y != b && net.are_friends(y, b) {
                    paths3 += 1.0 / (dx * net.degree(y) as f64).sqrt();
                }
            }
        }
        [
            (common.len() as f32).ln_1p(),
            aa as f32,
            ra as f32,
            jaccard,
            (ppr as f32).ln_1p(),
            (da.min(db) as f32).ln_1p(),
            (da.max(db) as f32).ln_1p(),
            cos,
            shared.ln_1p(),
            item_jaccard,
            text,
            (paths3 as f32).ln_1p(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_length_three_are_counted_weighted_and_symmetric() -> crate::Result<()> {
        // 0 - 1 - 2 - 3, and 0 - 4 - 2: from 0 to 3 the paths 0-1-2-3 and 0-4-2-3.
        let net = SocialNetwork::new(5, &[(0, 1), (1, 2), (2, 3), (0, 4), (4, 2)])?;
        let s = FeatureSources {
            network: &net,
            behaviour: None,
            profiles: None,
            restart: 0.2,
            iterations: 20,
        };
        let at = FEATURE_NAMES
            .iter()
            .position(|n| *n == "paths3")
            .expect("paths3");
        // d(1) = d(4) = 2, d(2) = 3: two paths of weight 1 / sqrt(2 * 3).
        let want = (2.0 / 6f64.sqrt()).ln_1p() as f32;
        let a = s.pair(0, 3, &s.pagerank(0))[at];
        let b = s.pair(3, 0, &s.pagerank(3))[at];
        assert!((a - want).abs() < 1e-6, "{a} vs {want}");
        assert!((a - b).abs() < 1e-6);
        // Friends of friends without a third hop: no path of length 3 from 1 to 4.
        assert_eq!(s.pair(1, 4, &s.pagerank(1))[at], 0.0);
        Ok(())
    }
}
