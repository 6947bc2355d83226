//! The per-user signals a topic model blends: the user's own topic reuse (frequency and
//! recency), topic co-occurrence over items and over users, FolkRank on the folksonomy,
//! popularity, and the language-model similarity of the user's topics to each topic.

use std::collections::HashMap;

use serde::Serialize;

use super::{Folksonomy, TagHistory};
use crate::{Error, Result};

/// One signal of the blend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The user's own use of the topic, each application decayed by its age.
    Reuse,
    /// Topics that share items with the user's topics (cosine of their item sets).
    ItemCoOccurrence,
    /// Topics that the users of the user's topics also use (cosine of their user sets,
    /// the user left out).
    UserCoOccurrence,
    /// FolkRank from the user on the folksonomy graph.
    FolkRank,
    /// How many users use the topic.
    Popularity,
    /// Cosine between the topic's text embedding and the user's profile embedding.
    Text,
}

/// The signals, in the order of [`SignalScores`] and of a blend's weights.
pub const SIGNALS: [Signal; 6] = [
    Signal::Reuse,
    Signal::ItemCoOccurrence,
    Signal::UserCoOccurrence,
    Signal::FolkRank,
    Signal::Popularity,
    Signal::Text,
];
/// Number of signals.
pub const N_SIGNALS: usize = SIGNALS.len();

impl Signal {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reuse => "reuse",
            Self::ItemCoOccurrence => "item co-occurrence",
            Self::UserCoOccurrence => "user co-occurrence",
            Self::FolkRank => "FolkRank",
            Self::Popularity => "popularity",
            Self::Text => "text",
        }
    }
}

/// Per signal, one value per topic, min-max normalised to `[0, 1]` over the topics.
pub type SignalScores = [Vec<f32>; N_SIGNALS];

/// Topic text embeddings as plain rows (one per topic of the vocabulary), stored unit
/// length; whoever owns the language model computes them (`polyrec::topics`). The same
/// unit-row type as the users' profile vectors of the social scenario.
pub type TopicVectors = crate::social::ProfileVectors;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One topic in a user's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserTopic {
    /// The topic.
    pub topic: u32,
    /// Applications of it by the user.
    pub applications: u32,
    /// Distinct items the user tagged with it.
    pub items: u32,
    /// The applications, each weighted `0.5^(age / half-life)`, the age counted back from
    /// the user's latest application.
    pub recency: f32,
}

/// Everything the signals need, built once from a tag history.
#[derive(Debug, Clone)]
pub struct TopicSignals {
    /// Topics in the vocabulary.
    pub n_topics: usize,
    /// Per user, their topics (sorted by topic).
    pub profiles: Vec<Vec<UserTopic>>,
    /// Per topic, the topics sharing items with it and how many items.
    pub item_cooc: Vec<HashMap<u32, f32>>,
    /// Per topic, the topics its users also use and how many users.
    pub user_cooc: Vec<HashMap<u32, f32>>,
    /// Items carrying each topic.
    pub item_count: Vec<f32>,
    /// Users of each topic.
    pub user_count: Vec<f32>,
    /// Per user, the items they tagged (sorted).
    pub user_items: Vec<Vec<u32>>,
    /// Per topic, the items carrying it (sorted).
    pub topic_items: Vec<Vec<u32>>,
    /// The folksonomy graph.
    pub folksonomy: Folksonomy,
    /// Topic text embeddings, when the language model is on.
    pub text: Option<TopicVectors>,
}

/// Distinct members per group, as sorted lists.
fn groups(n: usize, pairs: impl Iterator<Item = (u32, u32)>) -> Vec<Vec<u32>> {
    let mut g = vec![Vec::new(); n];
    for (k, v) in pairs {
        g[k as usize].push(v);
    }
    for list in &mut g {
        list.sort_unstable();
        list.dedup();
    }
    g
}

/// Per topic, how many groups hold it together with each other topic.
fn co_occurrence(n_topics: usize, groups: &[Vec<u32>]) -> Vec<HashMap<u32, f32>> {
    let mut c = vec![HashMap::new(); n_topics];
    for g in groups {
        for &a in g {
            for &b in g.iter().filter(|&&b| b != a) {
                *c[a as usize].entry(b).or_insert(0.0) += 1.0;
            }
        }
    }
    c
}

impl TopicSignals {
    /// Builds the signals of a history; `half_life_s` is the recency half-life in seconds.
    pub fn new(h: &TagHistory, text: Option<TopicVectors>, half_life_s: f64) -> Result<Self> {
        if let Some(t) = &text
            && t.len() != h.n_topics
        {
            return Err(Error::Param {
                name: "text",
                value: t.len().to_string(),
                reason: "needs one row per topic of the vocabulary",
            });
        }
        let topic_items = groups(h.n_topics, h.applications.iter().map(|a| (a.topic, a.item)));
        let item_topics = groups(h.n_items, h.applications.iter().map(|a| (a.item, a.topic)));
        let user_topics = groups(h.n_users, h.applications.iter().map(|a| (a.user, a.topic)));
        let user_items = groups(h.n_users, h.applications.iter().map(|a| (a.user, a.item)));
        let mut user_count = vec![0.0f32; h.n_topics];
        for list in &user_topics {
            for &t in list {
                user_count[t as usize] += 1.0;
            }
        }
        Ok(Self {
            n_topics: h.n_topics,
            profiles: profiles(h, half_life_s),
            item_cooc: co_occurrence(h.n_topics, &item_topics),
            user_cooc: co_occurrence(h.n_topics, &user_topics),
            item_count: topic_items.iter().map(|l| l.len() as f32).collect(),
            user_count,
            user_items,
            topic_items,
            folksonomy: Folksonomy::new(h),
            text,
        })
    }

    /// The user's topics (empty for a user without applications or out of range).
    pub fn profile(&self, user: u32) -> &[UserTopic] {
        self.profiles.get(user as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether any user used the topic: only such topics are candidates (a topic first
    /// used later is not known yet).
    pub fn is_known(&self, topic: u32) -> bool {
        self.user_count[topic as usize] > 0.0
    }

    /// Every signal for every topic, for one user, each min-max normalised over the topics
    /// (a signal that is constant, e.g. text when it is off, is all zeros).
    pub fn scores(&self, user: u32) -> SignalScores {
        let profile = self.profile(user);
        let total: f32 = profile.iter().map(|p| p.applications as f32).sum();
        let weight = |p: &UserTopic| p.applications as f32 / total.max(1.0);
        let mut s: SignalScores = std::array::from_fn(|_| vec![0.0f32; self.n_topics]);
        for p in profile {
            s[0][p.topic as usize] = p.recency;
            let w = weight(p);
            self.spread(
                &mut s[1],
                p.topic,
                w,
                &self.item_cooc,
                &self.item_count,
                None,
            );
            self.spread(
                &mut s[2],
                p.topic,
                w,
                &self.user_cooc,
                &self.user_count,
                Some(profile),
            );
        }
        if !profile.is_empty() {
            s[3] = self.folksonomy.folkrank(user);
        }
        s[4].clone_from(&self.user_count);
        if let (Some(text), false) = (&self.text, profile.is_empty()) {
            let mut centre = vec![0.0f32; text.dim()];
            for p in profile {
                for (c, x) in centre.iter_mut().zip(text.row(p.topic)) {
                    *c += weight(p) * x;
                }
            }
            for (t, v) in s[5].iter_mut().enumerate() {
                *v = dot(&centre, text.row(t as u32));
            }
        }
        for v in &mut s {
            normalise(v);
        }
        s
    }

    /// Adds `w * C(from, t) / sqrt(n(from) n(t))` to every topic `t` co-occurring with
    /// `from`; with `own` (user co-occurrence), the user's own joint use is left out.
    fn spread(
        &self,
        out: &mut [f32],
        from: u32,
        w: f32,
        cooc: &[HashMap<u32, f32>],
        count: &[f32],
        own: Option<&[UserTopic]>,
    ) {
        let nf = count[from as usize];
        for (&t, &c) in &cooc[from as usize] {
            let mine = own.is_some_and(|p| p.binary_search_by_key(&t, |x| x.topic).is_ok());
            let c = if mine { c - 1.0 } else { c };
            if c > 0.0 {
                out[t as usize] += w * c / (nf * count[t as usize]).sqrt();
            }
        }
    }
}

/// Min-max to `[0, 1]`; a constant vector becomes zeros.
fn normalise(v: &mut [f32]) {
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    if hi > lo {
        v.iter_mut().for_each(|x| *x = (*x - lo) / (hi - lo));
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// Per user, their topics with counts and recency weights.
fn profiles(h: &TagHistory, half_life_s: f64) -> Vec<Vec<UserTopic>> {
    h.by_user()
        .into_iter()
        .map(|apps| {
            let Some(last) = apps.last().map(|a| a.time) else {
                return Vec::new();
            };
            let mut by: HashMap<u32, (UserTopic, Vec<u32>)> = HashMap::new();
            for a in &apps {
                let e = by.entry(a.topic).or_insert_with(|| {
                    let p = UserTopic {
                        topic: a.topic,
                        applications: 0,
                        items: 0,
                        recency: 0.0,
                    };
                    (p, Vec::new())
                });
                e.0.applications += 1;
                e.0.recency += 0.5f64.powf((last - a.time) as f64 / half_life_s.max(1.0)) as f32;
                e.1.push(a.item);
            }
            let mut list: Vec<UserTopic> = by
                .into_values()
                .map(|(mut p, mut items)| {
                    items.sort_unstable();
                    items.dedup();
                    p.items = items.len() as u32;
                    p
                })
                .collect();
            list.sort_unstable_by_key(|p| p.topic);
            list
        })
        .collect()
}
