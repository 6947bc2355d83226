//! The social scenario: friend suggestions with reasons, over a dataset with a `[social]`
//! table, where the profile texts go through the language model.
//!
//! A user's profile text is the names of their most played (bought, rated) items; its
//! sentence embedding (through the embedding cache) is one of the link model's features,
//! next to the friendship graph's and the behaviour's (see [`polyrec_graph::social`],
//! which holds the algorithms and needs no libtorch).
//!
//! ```no_run
//! use polyrec::social::{SocialOptions, SocialRecommender};
//!
//! let ds = polyrec::data::Dataset::load("examples/data/lastfm.toml", None)?;
//! let options = SocialOptions { count_task: Some("plays".into()), ..Default::default() };
//! let social = SocialRecommender::fit(ds, &options, &mut |_, _| {})?;
//! for f in social.recommend_friends("2", 5)? {
//!     println!("{} {:.3} {}", f.user, f.score, f.reasons[0].text);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

use polyrec_data::Dataset;
use polyrec_encode::{EmbeddingCache, SentenceEncoder};
use polyrec_graph::social::{
    Baseline, Behaviour, FriendConfig, FriendModel, FriendSuggestion, LinkHoldout, LinkReport,
    ProfileVectors, SocialNetwork, evaluate,
};
use serde::{Deserialize, Serialize};

use crate::pipeline::load_encoder;
use crate::recommend::{Error, MAX_K};

/// How the social recommender is built.
#[derive(Debug, Clone)]
pub struct SocialOptions {
    /// The task whose labels count a user's interactions with an item (plays); `None`
    /// counts each row once.
    pub count_task: Option<String>,
    /// Whether profile texts go through the language model (a link-model feature and a
    /// candidate source).
    pub profile_text: bool,
    /// Items named in a profile text (the most played first).
    pub profile_items: usize,
    /// The sentence-transformers model folder (default: the set-up's all-MiniLM-L6-v2).
    pub text_model: Option<PathBuf>,
    /// The embedding cache folder (default: `embeddings` in [`crate::home_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// The verb of the shared-items reason: "you both {verb} X".
    pub verb: String,
    /// The link model and its training.
    pub friends: FriendConfig,
}

impl Default for SocialOptions {
    fn default() -> Self {
        Self {
            count_task: None,
            profile_text: true,
            profile_items: 10,
            text_model: None,
            cache_dir: None,
            verb: "like".into(),
            friends: FriendConfig::default(),
        }
    }
}

/// Why a user is suggested, in words and with the names it cites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocialReason {
    /// `friends` (common friends), `items` (shared items) or `profile` (alike profiles).
    pub kind: String,
    /// The sentence.
    pub text: String,
    /// The users it names (raw ids).
    pub users: Vec<String>,
    /// The items it names (display names).
    pub items: Vec<String>,
}

/// One suggested friend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FriendRecommendation {
    /// The suggested user's raw id.
    pub user: String,
    /// The link model's probability that the two are friends.
    pub score: f32,
    /// Reasons, strongest evidence first (never empty).
    pub reasons: Vec<SocialReason>,
}

/// An item suggested from what the user's friends have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemFromFriends {
    /// The item's raw id.
    pub item: String,
    /// Its display name.
    pub name: String,
    /// The friends' weighted votes.
    pub score: f32,
    /// Which friends have it.
    pub reasons: Vec<SocialReason>,
}

/// Friend suggestions over one dataset.
#[derive(Debug)]
pub struct SocialRecommender {
    ds: Dataset,
    model: FriendModel,
    verb: String,
}

/// The profile text of every user: the names of their `n` most counted items.
pub fn profile_texts(ds: &Dataset, behaviour: &Behaviour, n: usize) -> Vec<String> {
    (0..ds.users.ids.len() as u32)
        .map(|u| {
            let names: Vec<&str> = behaviour
                .top_items(u, n)
                .into_iter()
                .map(|(i, _)| item_name(ds, i))
                .collect();
            names.join(", ")
        })
        .collect()
}

fn item_name(ds: &Dataset, i: u32) -> &str {
    ds.items
        .names
        .get(i as usize)
        .and_then(Option::as_deref)
        .unwrap_or_else(|| ds.items.ids.name(i))
}

/// The profile embeddings of every user through the cache (a user without items gets a
/// zero row).
pub fn profile_vectors(
    ds: &Dataset,
    behaviour: &Behaviour,
    options: &SocialOptions,
) -> Result<ProfileVectors, Error> {
    let encoder: SentenceEncoder = load_encoder(options.text_model.as_deref())?;
    let texts = profile_texts(ds, behaviour, options.profile_items);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = options
        .cache_dir
        .clone()
        .unwrap_or_else(|| crate::home_dir().join("embeddings"));
    let mut cache = EmbeddingCache::open(&dir, &encoder);
    let (emb, _) = cache.encode(&encoder, &refs)?;
    let mut data = emb.data;
    for (row, t) in data.chunks_mut(emb.dim).zip(&texts) {
        if t.is_empty() {
            row.iter_mut().for_each(|x| *x = 0.0);
        }
    }
    Ok(ProfileVectors::new(emb.dim, data)?)
}

fn parts(
    ds: &Dataset,
    options: &SocialOptions,
) -> Result<(SocialNetwork, Behaviour, Option<ProfileVectors>), Error> {
    if ds.social.is_empty() {
        return Err(Error::Load(format!(
            "dataset `{}` has no friendships: add a [social] table to its spec",
            ds.name
        )));
    }
    let network = SocialNetwork::from_dataset(ds)?;
    let behaviour = Behaviour::from_dataset(ds, options.count_task.as_deref())?;
    let profiles = if options.profile_text {
        Some(profile_vectors(ds, &behaviour, options)?)
    } else {
        None
    };
    Ok((network, behaviour, profiles))
}

impl SocialRecommender {
    /// Builds the graph, behaviour and profile vectors of `ds` and trains the link model;
    /// `progress` gets (rounds done, rounds) of its training.
    pub fn fit(
        ds: Dataset,
        options: &SocialOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self, Error> {
        let (network, behaviour, profiles) = parts(&ds, options)?;
        let model = FriendModel::fit(
            network,
            Some(behaviour),
            profiles,
            &options.friends,
            progress,
        )?;
        Ok(Self {
            ds,
            model,
            verb: options.verb.clone(),
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.ds
    }

    /// The trained friend model (graph, behaviour, link model).
    pub fn model(&self) -> &FriendModel {
        &self.model
    }

    /// The `k` best friend suggestions for the user with raw id `user`, best first: never
    /// the user, never a friend; each with its reasons.
    pub fn recommend_friends(
        &self,
        user: &str,
        k: usize,
    ) -> Result<Vec<FriendRecommendation>, Error> {
        let u = self.user_index(user, k)?;
        Ok(self
            .model
            .recommend(u, k)?
            .iter()
            .map(|s| FriendRecommendation {
                user: self.ds.users.ids.name(s.user).to_string(),
                score: s.score,
                reasons: self.reasons(s),
            })
            .collect())
    }

    /// The `k` items (artists) the user does not have yet that their friends have, best
    /// first, each with the friends who have it as its reason.
    pub fn recommend_items_from_friends(
        &self,
        user: &str,
        k: usize,
    ) -> Result<Vec<ItemFromFriends>, Error> {
        let u = self.user_index(user, k)?;
        Ok(self
            .model
            .items_from_friends(u, k)
            .into_iter()
            .map(|s| {
                let users: Vec<String> = s
                    .friends
                    .iter()
                    .take(3)
                    .map(|&f| self.ds.users.ids.name(f).to_string())
                    .collect();
                let n = s.friends.len();
                let text = if n == 1 {
                    format!("your friend user {} {}s it", users[0], self.verb)
                } else {
                    format!(
                        "{n} of your friends {} it, among them {}",
                        self.verb,
                        list(&users, "user ")
                    )
                };
                ItemFromFriends {
                    item: self.ds.items.ids.name(s.item).to_string(),
                    name: item_name(&self.ds, s.item).to_string(),
                    score: s.score,
                    reasons: vec![SocialReason {
                        kind: "friends".into(),
                        text,
                        users,
                        items: Vec::new(),
                    }],
                }
            })
            .collect())
    }

    fn user_index(&self, user: &str, k: usize) -> Result<u32, Error> {
        if k == 0 || k > MAX_K {
            return Err(Error::Request {
                field: "k",
                message: format!("{k} is not in 1..={MAX_K}"),
            });
        }
        self.ds.users.ids.get(user).ok_or_else(|| Error::Request {
            field: "user",
            message: format!("unknown user `{user}` in dataset `{}`", self.ds.name),
        })
    }

    /// The sentences of a suggestion: common friends (the three least connected named),
    /// shared items (the three strongest named), else alike profiles or behaviour.
    pub fn reasons(&self, s: &FriendSuggestion) -> Vec<SocialReason> {
        let mut out = Vec::new();
        let user = |u: u32| self.ds.users.ids.name(u).to_string();
        if !s.common_friends.is_empty() {
            let users: Vec<String> = s.common_friends.iter().take(3).map(|&u| user(u)).collect();
            let n = s.common_friends.len();
            let text = if n == 1 {
                format!("you share a friend: user {}", users[0])
            } else {
                format!(
                    "you share {n} friends, among them {}",
                    list(&users, "user ")
                )
            };
            out.push(SocialReason {
                kind: "friends".into(),
                text,
                users,
                items: Vec::new(),
            });
        }
        if s.shared_items > 0 {
            let items: Vec<String> = s
                .top_shared_items
                .iter()
                .take(3)
                .map(|&i| item_name(&self.ds, i).to_string())
                .collect();
            let more = s.shared_items.saturating_sub(items.len());
            let mut text = format!("you both {} {}", self.verb, list(&items, ""));
            if more > 0 {
                text.push_str(&format!(" ({} in common)", s.shared_items));
            }
            out.push(SocialReason {
                kind: "items".into(),
                text,
                users: Vec::new(),
                items,
            });
        }
        if out.is_empty() || s.profile_similarity >= 0.6 {
            out.push(SocialReason {
                kind: "profile".into(),
                text: format!(
                    "your profiles read alike (text similarity {:.2})",
                    s.profile_similarity
                ),
                users: Vec::new(),
                items: Vec::new(),
            });
        }
        out
    }
}

fn list(names: &[String], prefix: &str) -> String {
    let named: Vec<String> = names.iter().map(|n| format!("{prefix}{n}")).collect();
    match named.len() {
        0 => String::new(),
        1 => named[0].clone(),
        n => format!("{} and {}", named[..n - 1].join(", "), named[n - 1]),
    }
}

/// One row of [`evaluate_friends`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FriendEvaluation {
    /// `common neighbours`, `Adamic-Adar`, `item Jaccard` or `link model`.
    pub method: &'static str,
    /// The seed of the hold-out.
    pub seed: u64,
    /// AUC and recall.
    pub report: LinkReport,
}

/// The hold-out protocol ([`polyrec_graph::social::evaluate`]) for the link model and the
/// three baselines, once per seed: `share` of the friendships hidden, recall@`k` over up
/// to `users` sampled users. Everything the model learns from is computed on the visible
/// graph; profile texts and behaviour hold no friendships.
pub fn evaluate_friends(
    ds: &Dataset,
    options: &SocialOptions,
    seeds: &[u64],
    share: f64,
    k: usize,
    users: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<FriendEvaluation>, Error> {
    let (network, behaviour, profiles) = parts(ds, options)?;
    let mut out = Vec::new();
    for &seed in seeds {
        let split = LinkHoldout::new(&network, share, seed)?;
        progress(&format!("seed {seed}: training the link model"));
        let config = FriendConfig {
            seed,
            ..options.friends.clone()
        };
        let model = FriendModel::fit(
            split.visible.clone(),
            Some(behaviour.clone()),
            profiles.clone(),
            &config,
            &mut |_, _| {},
        )?;
        let rows: [(&'static str, &dyn polyrec_graph::social::LinkScorer); 4] = [
            (
                "common neighbours",
                &Baseline::CommonNeighbours(&split.visible),
            ),
            ("Adamic-Adar", &Baseline::AdamicAdar(&split.visible)),
            ("item Jaccard", &Baseline::ItemJaccard(&behaviour)),
            ("link model", &model),
        ];
        for (method, scorer) in rows {
            progress(&format!("seed {seed}: evaluating {method}"));
            let report = evaluate(&split, scorer, k, users, seed)?;
            out.push(FriendEvaluation {
                method,
                seed,
                report,
            });
        }
    }
    Ok(out)
}
