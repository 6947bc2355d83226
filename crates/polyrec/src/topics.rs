//! Topic recommendation with reasons, over a dataset with a `[tags]` table (a tag log),
//! where the topics' texts go through the language model.
//!
//! The algorithms live in [`polyrec_graph::topics`] (no libtorch): the folksonomy graph and
//! FolkRank, the user's own topic reuse (frequency, recency), co-occurrence over items and
//! users, popularity, and the cosine between a user's profile and each topic in the
//! language model's space. This module adds the text: every topic's normalised text is
//! embedded once through the [`EmbeddingCache`]; a user's profile vector is the mean of
//! their topics' embeddings weighted by how often they used each (the embedding of the
//! profile text "funny, witty, ..." approximated without one encoder call per user). The
//! blend's weights are chosen on a grid by recall@10 on the latest fifth of each user's
//! training history ([`polyrec_graph::topics::choose_weights`]), never on test data.
//!
//! An unknown user id is an [`Error::Request`]; a known user without tags gets the most
//! used topics, with "used by N people" as the reason.
//!
//! ```no_run
//! use polyrec::topics::{TopicOptions, TopicRecommender};
//!
//! let ds = polyrec::data::Dataset::load("examples/data/ml-latest-small.toml", None)?;
//! let topics = TopicRecommender::fit(ds, &TopicOptions::default(), &mut |s| eprintln!("{s}"))?;
//! for t in topics.recommend_topics("474", 5)? {
//!     println!("{} {:.3} {}", t.topic, t.score, t.reasons.join("; "));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

use polyrec_data::{Dataset, TagLog};
use polyrec_encode::EmbeddingCache;
use polyrec_graph::topics::{
    SIGNALS, Signal, TagHistory, TopicConfig, TopicModel, TopicReport, TopicSuggestion,
    TopicVectors, evaluate,
};
use serde::{Deserialize, Serialize};

use crate::pipeline::load_encoder;
use crate::recommend::{Error, MAX_K};

/// How the topic recommender is built.
#[derive(Debug, Clone)]
pub struct TopicOptions {
    /// Whether the topics' texts go through the language model (the text signal).
    pub text: bool,
    /// The sentence-transformers model folder (default: the set-up's all-MiniLM-L6-v2).
    pub text_model: Option<PathBuf>,
    /// The embedding cache folder (default: `embeddings` in [`crate::home_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// What the items are called in reasons, singular ("film": "you tagged 3 films ...").
    pub item_noun: String,
    /// The hold-out shares, recency half-life, weight grid and K.
    pub config: TopicConfig,
}

impl Default for TopicOptions {
    fn default() -> Self {
        Self {
            text: true,
            text_model: None,
            cache_dir: None,
            item_noun: "film".into(),
            config: TopicConfig::default(),
        }
    }
}

/// One recommended topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicRecommendation {
    /// The topic as first spelled in the tag log.
    pub topic: String,
    /// The blended score in `[0, 1]`.
    pub score: f32,
    /// Reasons, strongest signal first (never empty).
    pub reasons: Vec<String>,
}

/// Topic suggestions over one dataset.
#[derive(Debug)]
pub struct TopicRecommender {
    ds: Dataset,
    model: TopicModel,
    item_noun: String,
}

fn tag_log(ds: &Dataset) -> Result<&TagLog, Error> {
    ds.tags.as_ref().ok_or_else(|| {
        Error::Load(format!(
            "dataset `{}` has no tag log: add a [tags] table to its spec",
            ds.name
        ))
    })
}

/// The text embedding of every topic (its normalised text) through the cache.
pub fn topic_vectors(log: &TagLog, options: &TopicOptions) -> Result<TopicVectors, Error> {
    let encoder = load_encoder(options.text_model.as_deref())?;
    let texts: Vec<&str> = log.topics.names().iter().map(String::as_str).collect();
    let dir = options
        .cache_dir
        .clone()
        .unwrap_or_else(|| crate::home_dir().join("embeddings"));
    let mut cache = EmbeddingCache::open(&dir, &encoder);
    let (emb, _) = cache.encode(&encoder, &texts)?;
    Ok(TopicVectors::new(emb.dim, emb.data)?)
}

fn parts(
    ds: &Dataset,
    options: &TopicOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(TagHistory, Option<TopicVectors>), Error> {
    let log = tag_log(ds)?;
    let history = TagHistory::from_log(log, ds.users.ids.len(), ds.items.ids.len())?;
    let text = if options.text {
        progress(&format!("embedding {} topics", log.topics.len()));
        Some(topic_vectors(log, options)?)
    } else {
        None
    };
    Ok((history, text))
}

impl TopicRecommender {
    /// Embeds the topics (when `options.text`), chooses the blend's weights on validation
    /// and builds the signals from the whole tag log; `progress` gets stage messages.
    pub fn fit(
        ds: Dataset,
        options: &TopicOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self, Error> {
        let (history, text) = parts(&ds, options, progress)?;
        progress("choosing the blend's weights on validation");
        let model = TopicModel::fit(&history, text.as_ref(), &options.config)?;
        Ok(Self {
            ds,
            model,
            item_noun: options.item_noun.clone(),
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.ds
    }

    /// The fitted model (signals and weights).
    pub fn model(&self) -> &TopicModel {
        &self.model
    }

    /// The `k` (1..=[`MAX_K`]) topics the user with raw id `user` is most likely to use
    /// next, their own topics included, best first, each with reasons. A known user
    /// without tags gets the most used topics.
    pub fn recommend_topics(
        &self,
        user: &str,
        k: usize,
    ) -> Result<Vec<TopicRecommendation>, Error> {
        self.recommend(user, k, false)
    }

    /// As [`Self::recommend_topics`], leaving out the topics the user already uses.
    pub fn recommend_new_topics(
        &self,
        user: &str,
        k: usize,
    ) -> Result<Vec<TopicRecommendation>, Error> {
        self.recommend(user, k, true)
    }

    fn recommend(
        &self,
        user: &str,
        k: usize,
        only_new: bool,
    ) -> Result<Vec<TopicRecommendation>, Error> {
        if k == 0 || k > MAX_K {
            return Err(Error::Request {
                field: "k",
                message: format!("{k} is not in 1..={MAX_K}"),
            });
        }
        let u = self.ds.users.ids.get(user).ok_or_else(|| Error::Request {
            field: "user",
            message: format!("unknown user `{user}` in dataset `{}`", self.ds.name),
        })?;
        Ok(self
            .model
            .recommend(u, k, only_new)
            .iter()
            .map(|s| TopicRecommendation {
                topic: self.display(s.topic).to_string(),
                score: s.score,
                reasons: self.reasons(s),
            })
            .collect())
    }

    fn display(&self, t: u32) -> &str {
        self.ds
            .tags
            .as_ref()
            .and_then(|l| l.display.get(t as usize))
            .map_or("", String::as_str)
    }

    fn item_name(&self, i: u32) -> &str {
        self.ds
            .items
            .names
            .get(i as usize)
            .and_then(Option::as_deref)
            .unwrap_or_else(|| self.ds.items.ids.name(i))
    }

    /// The sentences of a suggestion, one per signal that adds to its score, the largest
    /// part first; popularity when nothing else does.
    pub fn reasons(&self, s: &TopicSuggestion) -> Vec<String> {
        let e = &s.evidence;
        let topic = self.display(s.topic);
        let mut parts: Vec<(f32, Signal)> = SIGNALS
            .iter()
            .zip(e.contributions)
            .filter(|(_, c)| *c > 0.0)
            .map(|(&sig, c)| (c, sig))
            .collect();
        parts.sort_by(|a, b| b.0.total_cmp(&a.0));
        let noun = |n: u32| {
            let s = if n == 1 { "" } else { "s" };
            format!("{n} {}{s}", self.item_noun)
        };
        let mut out: Vec<String> = parts
            .into_iter()
            .filter_map(|(_, sig)| match sig {
                Signal::Reuse => {
                    (e.items > 0).then(|| format!("you tagged {} '{topic}'", noun(e.items)))
                }
                Signal::ItemCoOccurrence => e.item_neighbour.map(|n| {
                    format!(
                        "{}s tagged '{}' are also tagged '{topic}'",
                        self.item_noun,
                        self.display(n)
                    )
                }),
                Signal::UserCoOccurrence => e
                    .user_neighbour
                    .map(|n| format!("people who use '{}' also use '{topic}'", self.display(n))),
                Signal::FolkRank => e.shared_item.map(|i| {
                    format!(
                        "'{topic}' is a tag of {}, which you tagged",
                        self.item_name(i)
                    )
                }),
                Signal::Text => (!e.similar.is_empty()).then(|| {
                    let names: Vec<String> = e
                        .similar
                        .iter()
                        .map(|&t| format!("'{}'", self.display(t)))
                        .collect();
                    format!("close in meaning to your tags {}", names.join(", "))
                }),
                Signal::Popularity => Some(popular(e.users)),
            })
            .collect();
        if out.is_empty() {
            out.push(popular(e.users));
        }
        out
    }
}

fn popular(users: u32) -> String {
    let s = if users == 1 { "person" } else { "people" };
    format!("used by {users} {s}")
}

/// The temporal hold-out ([`polyrec_graph::topics::evaluate`]) with and without the text
/// signal: each user's latest `holdout_fraction` of tag applications is test, the weights
/// are chosen inside the rest. Deterministic (nothing is sampled), so there is no seed.
#[derive(Debug, Clone, Serialize)]
pub struct TopicEvaluation {
    /// With the text signal (`None` when `options.text` is off).
    pub with_text: Option<TopicReport>,
    /// Without it.
    pub without_text: TopicReport,
}

/// Runs the hold-out of [`TopicEvaluation`] on `ds`'s tag log.
pub fn evaluate_topics(
    ds: &Dataset,
    options: &TopicOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<TopicEvaluation, Error> {
    let (history, text) = parts(ds, options, progress)?;
    progress("hold-out without text");
    let without_text = evaluate(&history, None, &options.config)?;
    let with_text = match &text {
        Some(t) => {
            progress("hold-out with text");
            Some(evaluate(&history, Some(t), &options.config)?)
        }
        None => None,
    };
    Ok(TopicEvaluation {
        with_text,
        without_text,
    })
}
