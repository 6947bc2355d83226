//! Friend suggestions: candidates from the graph, behaviour and profile text, scored by
//! the learned link model, with reasons.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::social::features::{FeatureSources, PairFeatures};
use crate::social::{Behaviour, LinkModel, LinkModelConfig, ProfileVectors, SocialNetwork};
use crate::{Error, Result};

/// How many candidates each source proposes before the model scores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CandidateConfig {
    /// Highest personalised-PageRank users (friends of friends are always candidates).
    pub pagerank: usize,
    /// Most similar users by behaviour.
    pub behaviour: usize,
    /// Most similar users by profile text.
    pub profile: usize,
}

impl Default for CandidateConfig {
    fn default() -> Self {
        Self {
            pagerank: 100,
            behaviour: 50,
            profile: 50,
        }
    }
}

/// Training and candidate settings of [`FriendModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FriendConfig {
    /// The link model.
    pub model: LinkModelConfig,
    /// Rounds of supervision: each hides a fresh share of the friendships, computes the
    /// features on the rest and learns to find the hidden ones.
    pub rounds: usize,
    /// Share of friendships hidden per round, in (0, 1).
    pub hidden_share: f64,
    /// Per hidden friendship (a, b): pairs (a or b, a random user who is not their
    /// friend). Negatives that share the positive's first user teach the model to rank
    /// one user's candidates, which is what a suggestion list is.
    pub random_negatives: usize,
    /// Per hidden friendship: random pairs of users who are not friends.
    pub uniform_negatives: usize,
    /// Friend-of-friend non-friends per hidden friendship (the hard cases of a ranking).
    pub hard_negatives: usize,
    /// Non-friends among the 50 users of most similar behaviour, per hidden friendship
    /// (the other hard cases).
    pub similar_negatives: usize,
    /// Weight of the pairwise ranking loss between each hidden friendship and the
    /// negatives drawn for its own user (random, friend-of-friend and similar-behaviour
    /// ones), next to the pointwise logistic loss (weight 1); 0 trains pointwise only.
    pub rank_weight: f32,
    /// Restart probability of personalised PageRank.
    pub restart: f64,
    /// Power-iteration rounds of personalised PageRank.
    pub iterations: usize,
    /// Candidate generation.
    pub candidates: CandidateConfig,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for FriendConfig {
    fn default() -> Self {
        Self {
            model: LinkModelConfig::default(),
            rounds: 3,
            hidden_share: 0.1,
            random_negatives: 3,
            uniform_negatives: 3,
            hard_negatives: 0,
            similar_negatives: 0,
            rank_weight: 1.0,
            restart: 0.2,
            iterations: 20,
            candidates: CandidateConfig::default(),
            seed: 0,
        }
    }
}

impl FriendConfig {
    /// Checks the values a run cannot work with.
    pub fn check(&self) -> Result<()> {
        let bad = |name, value: String, reason| {
            Err(Error::Param {
                name,
                value,
                reason,
            })
        };
        if !(self.hidden_share > 0.0 && self.hidden_share < 1.0) {
            return bad(
                "hidden_share",
                self.hidden_share.to_string(),
                "must be in (0, 1)",
            );
        }
        if !(self.restart > 0.0 && self.restart < 1.0) {
            return bad("restart", self.restart.to_string(), "must be in (0, 1)");
        }
        if self.rounds == 0 {
            return bad("rounds", "0".into(), "at least one round is needed");
        }
        if self.random_negatives
            + self.uniform_negatives
            + self.hard_negatives
            + self.similar_negatives
            == 0
        {
            return bad("random_negatives", "0".into(), "some negatives are needed");
        }
        Ok(())
    }
}

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSource {
    /// A friend of a friend.
    FriendOfFriend,
    /// High personalised PageRank.
    Pagerank,
    /// Similar behaviour.
    Behaviour,
    /// Similar profile text.
    Profile,
}

/// One suggested friend, with the evidence its reasons are made of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FriendSuggestion {
    /// The suggested user (dense index).
    pub user: u32,
    /// The link model's probability that the two are friends.
    pub score: f32,
    /// Friends the two have in common, least connected first (the most telling).
    pub common_friends: Vec<u32>,
    /// Number of items both have.
    pub shared_items: usize,
    /// The items both have, strongest first (at most 5).
    pub top_shared_items: Vec<u32>,
    /// Cosine of the two behaviour vectors.
    pub behaviour_similarity: f32,
    /// Cosine of the two profile-text embeddings (0 without profiles).
    pub profile_similarity: f32,
    /// The candidate sources that proposed this user.
    pub sources: Vec<CandidateSource>,
}

/// A trained friend recommender over one friendship graph.
#[derive(Debug, Clone)]
pub struct FriendModel {
    network: SocialNetwork,
    behaviour: Option<Behaviour>,
    profiles: Option<ProfileVectors>,
    model: LinkModel,
    config: FriendConfig,
}

impl FriendModel {
    /// Trains the link model on `network` (see [`FriendConfig::rounds`]); `progress` is
    /// called with (rounds done, rounds) after each round.
    pub fn fit(
        network: SocialNetwork,
        behaviour: Option<Behaviour>,
        profiles: Option<ProfileVectors>,
        config: &FriendConfig,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self> {
        config.check()?;
        let n = network.n_users();
        for (what, len) in [
            ("behaviour", behaviour.as_ref().map(Behaviour::n_users)),
            ("profile", profiles.as_ref().map(ProfileVectors::len)),
        ] {
            if let Some(len) = len.filter(|&l| l != n) {
                return Err(Error::Param {
                    name: what,
                    value: format!("{len} users"),
                    reason: "the rows must match the users of the friendship graph",
                });
            }
        }
        let mut x: Vec<PairFeatures> = Vec::new();
        let mut y: Vec<f32> = Vec::new();
        let mut ranked: Vec<(u32, u32)> = Vec::new();
        let edges = network.edges();
        for round in 0..config.rounds {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ ((round as u64 + 1) * 0x9E37));
            let mut shuffled = edges.clone();
            shuffled.shuffle(&mut rng);
            let hidden_n = ((edges.len() as f64) * config.hidden_share).round() as usize;
            let hidden = &shuffled[..hidden_n.min(shuffled.len())];
            let seen = network.without(hidden)?;
            let mut pairs: Vec<((u32, u32), f32)> = hidden.iter().map(|&p| (p, 1.0)).collect();
            // (row of a hidden friendship, row of a negative of the same user), as rows of
            // `x` once this round's pairs are appended.
            let offset = x.len() as u32;
            let mut rank = |pos: usize, pairs: &Vec<((u32, u32), f32)>| {
                ranked.push((offset + pos as u32, offset + pairs.len() as u32 - 1));
            };
            let uniform =
                random_non_friends(&network, hidden.len() * config.uniform_negatives, &mut rng);
            pairs.extend(uniform.into_iter().map(|p| (p, 0.0)));
            let n_users = n as u32;
            for _ in 0..config.random_negatives {
                for (pos, &(a, b)) in hidden.iter().enumerate() {
                    let s = if rng.random_bool(0.5) { a } else { b };
                    for _ in 0..100 {
                        let v = rng.random_range(0..n_users);
                        if v != s && !network.are_friends(s, v) {
                            pairs.push(((s, v), 0.0));
                            rank(pos, &pairs);
                            break;
                        }
                    }
                }
            }
            for _ in 0..config.hard_negatives {
                for (pos, &(a, _)) in hidden.iter().enumerate() {
                    let fof = seen.friends_of_friends(a);
                    let open: Vec<u32> = fof
                        .iter()
                        .map(|p| p.0)
                        .filter(|&b| !network.are_friends(a, b))
                        .collect();
                    if let Some(&b) = open.get(rng.random_range(0..open.len().max(1))) {
                        pairs.push(((a, b), 0.0));
                        rank(pos, &pairs);
                    }
                }
            }
            if let Some(b) = behaviour.as_ref().filter(|_| config.similar_negatives > 0) {
                for (pos, &(a, _)) in hidden.iter().enumerate() {
                    let open: Vec<u32> = b
                        .similar_users(a, 50)
                        .into_iter()
                        .map(|p| p.0)
                        .filter(|&v| !network.are_friends(a, v))
                        .collect();
                    for _ in 0..config.similar_negatives {
                        if let Some(&v) = open.get(rng.random_range(0..open.len().max(1))) {
                            pairs.push(((a, v), 0.0));
                            rank(pos, &pairs);
                        }
                    }
                }
            }
            let sources = FeatureSources {
                network: &seen,
                behaviour: behaviour.as_ref(),
                profiles: profiles.as_ref(),
                restart: config.restart,
                iterations: config.iterations,
            };
            let (fx, fy) = pair_features_grouped(&sources, &pairs);
            x.extend(fx);
            y.extend(fy);
            progress(round + 1, config.rounds);
        }
        let model = LinkModel::fit_ranked(&config.model, &x, &y, &ranked, config.rank_weight);
        Ok(Self {
            network,
            behaviour,
            profiles,
            model,
            config: config.clone(),
        })
    }

    /// The friendship graph the model recommends on.
    pub fn network(&self) -> &SocialNetwork {
        &self.network
    }

    /// The behaviour vectors, if any.
    pub fn behaviour(&self) -> Option<&Behaviour> {
        self.behaviour.as_ref()
    }

    /// The trained link model.
    pub fn link_model(&self) -> &LinkModel {
        &self.model
    }

    fn sources(&self) -> FeatureSources<'_> {
        FeatureSources {
            network: &self.network,
            behaviour: self.behaviour.as_ref(),
            profiles: self.profiles.as_ref(),
            restart: self.config.restart,
            iterations: self.config.iterations,
        }
    }

    /// The model's logits for `(user, c)` for every `c` in `candidates`.
    pub fn score(&self, user: u32, candidates: &[u32]) -> Vec<f32> {
        let s = self.sources();
        let ppr = s.pagerank(user);
        candidates
            .iter()
            .map(|&c| self.model.logit(&s.pair(user, c, &ppr)))
            .collect()
    }

    /// Candidates for `user`: friends of friends, the highest personalised PageRank, the
    /// most similar behaviour and profile text; never `user` or a friend.
    pub fn candidates(&self, user: u32) -> Vec<(u32, Vec<CandidateSource>)> {
        let c = &self.config.candidates;
        let mut found: std::collections::BTreeMap<u32, BTreeSet<CandidateSource>> =
            Default::default();
        let mut add = |v: u32, s: CandidateSource| {
            found.entry(v).or_default().insert(s);
        };
        for (v, _) in self.network.friends_of_friends(user) {
            add(v, CandidateSource::FriendOfFriend);
        }
        let ppr = self.sources().pagerank(user);
        let mut by_rank: Vec<u32> = (0..self.network.n_users() as u32).collect();
        by_rank.sort_by(|a, b| ppr[*b as usize].total_cmp(&ppr[*a as usize]).then(a.cmp(b)));
        for v in by_rank
            .into_iter()
            .filter(|&v| ppr[v as usize] > 0.0)
            .take(c.pagerank)
        {
            add(v, CandidateSource::Pagerank);
        }
        if let Some(b) = &self.behaviour {
            for (v, _) in b.similar_users(user, c.behaviour) {
                add(v, CandidateSource::Behaviour);
            }
        }
        if let Some(p) = &self.profiles {
            for (v, _) in p.nearest(user, c.profile) {
                add(v, CandidateSource::Profile);
            }
        }
        found
            .into_iter()
            .filter(|(v, _)| *v != user && !self.network.are_friends(user, *v))
            .map(|(v, s)| (v, s.into_iter().collect()))
            .collect()
    }

    /// The `k` best friend suggestions for `user`, best first.
    pub fn recommend(&self, user: u32, k: usize) -> Result<Vec<FriendSuggestion>> {
        if user as usize >= self.network.n_users() {
            return Err(Error::OutOfRange {
                kind: "user",
                index: user,
                len: self.network.n_users(),
            });
        }
        let cands = self.candidates(user);
        let ids: Vec<u32> = cands.iter().map(|c| c.0).collect();
        let logits = self.score(user, &ids);
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(ids[a].cmp(&ids[b])));
        Ok(order
            .into_iter()
            .take(k)
            .map(|i| self.suggestion(user, ids[i], logits[i], cands[i].1.clone()))
            .collect())
    }

    fn suggestion(
        &self,
        user: u32,
        v: u32,
        logit: f32,
        sources: Vec<CandidateSource>,
    ) -> FriendSuggestion {
        let mut common = self.network.common_friends(user, v);
        common.sort_by_key(|&z| (self.network.degree(z), z));
        let (shared, top, cos) = match &self.behaviour {
            Some(b) => (
                b.overlap(user, v).0,
                b.shared_items(user, v, 5),
                b.cosine(user, v),
            ),
            None => (0, Vec::new(), 0.0),
        };
        FriendSuggestion {
            user: v,
            score: 1.0 / (1.0 + (-logit).exp()),
            common_friends: common,
            shared_items: shared,
            top_shared_items: top,
            behaviour_similarity: cos,
            profile_similarity: self.profiles.as_ref().map_or(0.0, |p| p.cosine(user, v)),
            sources,
        }
    }
}

/// Features and labels of `pairs`, computing one PageRank vector per distinct first user
/// (in parallel); the output keeps the pairs' order.
pub(crate) fn pair_features_grouped(
    s: &FeatureSources<'_>,
    pairs: &[((u32, u32), f32)],
) -> (Vec<PairFeatures>, Vec<f32>) {
    let mut by_source: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, ((a, _), _)) in pairs.iter().enumerate() {
        by_source.entry(*a).or_default().push(i);
    }
    let groups: Vec<(u32, Vec<usize>)> = by_source.into_iter().collect();
    let computed: Vec<Vec<(usize, PairFeatures)>> = groups
        .par_iter()
        .map(|(a, rows)| {
            let ppr = s.pagerank(*a);
            rows.iter()
                .map(|&i| (i, s.pair(*a, pairs[i].0.1, &ppr)))
                .collect()
        })
        .collect();
    let mut x = vec![[0.0; crate::social::features::N_FEATURES]; pairs.len()];
    for (i, f) in computed.into_iter().flatten() {
        x[i] = f;
    }
    (x, pairs.iter().map(|p| p.1).collect())
}

/// `count` distinct random pairs `(a, b)`, `a != b`, that are not friends in `network`.
pub(crate) fn random_non_friends(
    network: &SocialNetwork,
    count: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<(u32, u32)> {
    let n = network.n_users() as u32;
    let possible = (n as usize * n.saturating_sub(1) as usize) / 2 - network.n_edges();
    let count = count.min(possible);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let a = rng.random_range(0..n);
        let b = rng.random_range(0..n);
        if a != b && !network.are_friends(a, b) && seen.insert((a.min(b), a.max(b))) {
            out.push((a, b));
        }
    }
    out
}

/// An item suggested from what a user's friends have.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemSuggestion {
    /// The item (dense index).
    pub item: u32,
    /// The sum, over friends who have it, of their behaviour similarity to the user plus
    /// a constant for friendship itself, times their weight for the item.
    pub score: f32,
    /// The friends who have it, most similar first.
    pub friends: Vec<u32>,
}

impl FriendModel {
    /// Items `user` does not have yet, from their friends' behaviour: each friend votes
    /// for their items with `ln(1 + count)` times (0.1 + their behaviour cosine with the
    /// user). Empty without behaviour.
    pub fn items_from_friends(&self, user: u32, k: usize) -> Vec<ItemSuggestion> {
        let Some(b) = &self.behaviour else {
            return Vec::new();
        };
        let mine: std::collections::HashSet<u32> = b
            .top_items(user, usize::MAX)
            .into_iter()
            .map(|p| p.0)
            .collect();
        let mut friends: Vec<(u32, f32)> = self
            .network
            .friends(user)
            .iter()
            .map(|&f| (f, b.cosine(user, f)))
            .collect();
        friends.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut votes: std::collections::HashMap<u32, (f32, Vec<u32>)> = Default::default();
        for &(f, sim) in &friends {
            for (item, count) in b.top_items(f, usize::MAX) {
                if !mine.contains(&item) {
                    let e = votes.entry(item).or_default();
                    e.0 += (0.1 + sim) * count.ln_1p();
                    e.1.push(f);
                }
            }
        }
        let mut out: Vec<ItemSuggestion> = votes
            .into_iter()
            .map(|(item, (score, friends))| ItemSuggestion {
                item,
                score,
                friends,
            })
            .collect();
        out.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.item.cmp(&y.item)));
        out.truncate(k);
        out
    }
}
