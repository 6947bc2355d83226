//! The request and answer types of [`super::Recommender`], its errors and load options.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::social::{FriendRecommendation, SocialOptions};
use crate::topics::{TopicOptions, TopicRecommendation};

/// Errors of loading and serving. [`Error::Request`] is the caller's fault (a 4xx).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad request: the field and why.
    #[error("request field `{field}`: {message}")]
    Request {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The model directory, data or language model could not be loaded.
    #[error("{0}")]
    Load(String),
    /// The ranking layer failed.
    #[error(transparent)]
    Rank(#[from] polyrec_rank::Error),
    /// The data layer failed.
    #[error(transparent)]
    Data(#[from] polyrec_data::Error),
    /// The language model failed.
    #[error(transparent)]
    Encode(#[from] polyrec_encode::Error),
    /// The graph layer failed.
    #[error(transparent)]
    Graph(#[from] polyrec_graph::Error),
}

pub(super) fn bad(field: &'static str, message: impl Into<String>) -> Error {
    Error::Request {
        field,
        message: message.into(),
    }
}

/// The largest K a request may ask for.
pub const MAX_K: usize = 1000;

/// The longest query or profile text, in bytes.
pub const MAX_TEXT: usize = 4096;

/// A recommendation request (the JSON body of `POST /recommend`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Request {
    /// A known user's raw id.
    pub user: Option<String>,
    /// A new user's profile text (instead of `user`).
    pub profile: Option<String>,
    /// A new user's liked items (raw ids), instead of or beside `profile`.
    pub liked: Vec<String>,
    /// The scenario name (default: the scenario of the user's latest interaction, else
    /// the first one).
    pub scenario: Option<String>,
    /// A free-text request ("a light comedy for a rainy evening").
    pub query: Option<String>,
    /// How many items (default 10, at most [`MAX_K`]).
    pub k: Option<usize>,
    /// Blend weight per task name (default: every item-level task, weight 1).
    pub weights: BTreeMap<String, f64>,
    /// Weight of text relevance against the personal score, in `[0, 1]`.
    pub text_weight: Option<f64>,
    /// Keep items the user already consumed.
    pub include_consumed: bool,
    /// Only items whose categorical attribute has one of these values
    /// (`{"class": ["Horror"]}`; a multi-valued attribute matches on any token).
    pub filters: BTreeMap<String, Vec<String>>,
    /// Diversity weight in `[0, 1]` (default 0): the list is re-ranked by maximal
    /// marginal relevance, `(1 - d) * score - d * max cosine to the items already
    /// chosen`, over the items' text embeddings.
    pub diversity: Option<f64>,
    /// Weight in `[0, 1]` of the two-tower model's view that the user picks the item next,
    /// when one is loaded ([`LoadOptions::retrieval`]) and the user is known (default 0.5;
    /// otherwise unused). The personal score becomes `personal^(1 - w) * pick^w`, where
    /// `pick = exp(s - max s)` over the candidates' learned scores `s` (the softmax over
    /// the candidates, divided by its largest value): 0 ranks by the multi-task model
    /// alone, 1 by the learned retrieval alone, 0.5 by their product (how likely the user
    /// is to pick the item and to like it).
    pub retrieval_weight: Option<f64>,
    /// What to recommend (default: items only). Several types come back in one
    /// [`Response`], `k` of each: `["items", "friends", "topics"]` asks for items, people
    /// to follow and topics (tags) to use next. Friends and topics need a known `user` and a
    /// recommender loaded with their model ([`LoadOptions::social`],
    /// [`LoadOptions::topics`]).
    pub types: Vec<ResultType>,
}

/// A type of result a [`Request`] can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultType {
    /// Catalog items, ranked by the multi-task model (the default).
    Items,
    /// People to befriend or follow, from the friendship graph, behaviour and profile
    /// texts ([`crate::social`]).
    Friends,
    /// Topics (tags) the user is likely to use or follow next, from the tag log and the
    /// topics' texts ([`crate::topics`]).
    Topics,
}

impl ResultType {
    /// Every type, in the order a response lists them.
    pub const ALL: [ResultType; 3] = [ResultType::Items, ResultType::Friends, ResultType::Topics];

    /// The name used in requests (`items`, `friends`).
    pub fn name(self) -> &'static str {
        match self {
            ResultType::Items => "items",
            ResultType::Friends => "friends",
            ResultType::Topics => "topics",
        }
    }
}

impl std::str::FromStr for ResultType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
                format!("unknown result type `{s}` (types: {})", names.join(", "))
            })
    }
}

/// Why an item is recommended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// `graph` or `text`.
    pub kind: String,
    /// One sentence.
    pub text: String,
    /// For `graph`: the path as (from item, relation, entity, relation, item) labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
    /// For `text`: the words of the request found in the item's description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Raw item id.
    pub item: String,
    /// Display name.
    pub name: String,
    /// The blended score.
    pub score: f64,
    /// Each task's prediction, in label units.
    pub scores: BTreeMap<String, f64>,
    /// Text relevance (cosine to the query or the user's profile), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
    /// Reasons.
    pub reasons: Vec<Reason>,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The user (absent for a new user).
    pub user: Option<String>,
    /// The scenario the items were scored in.
    pub scenario: String,
    /// Items, best first (empty when the request's `types` leave items out).
    pub items: Vec<Recommendation>,
    /// People to befriend, best first, when the request asked for `friends`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friends: Option<Vec<FriendRecommendation>>,
    /// Topics to use or follow next, best first, when the request asked for `topics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<TopicRecommendation>>,
}

/// The plain-text form: a header line, then one line per item with its task scores and
/// one line per reason.
impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "top {} for {} in scenario {}:",
            self.items.len(),
            self.user
                .as_deref()
                .map_or("a new user".to_string(), |u| format!("user {u}")),
            self.scenario
        )?;
        for (n, it) in self.items.iter().enumerate() {
            let scores: Vec<String> = it
                .scores
                .iter()
                .map(|(t, v)| format!("{t} {v:.3}"))
                .collect();
            writeln!(
                f,
                "{:>3}. {} [{}]  score {:.3} ({})",
                n + 1,
                it.name,
                it.item,
                it.score,
                scores.join(", ")
            )?;
            for r in &it.reasons {
                writeln!(f, "       {}: {}", r.kind, r.text)?;
            }
        }
        if let Some(friends) = &self.friends {
            writeln!(f, "{} people to befriend:", friends.len())?;
            for (n, p) in friends.iter().enumerate() {
                writeln!(f, "{:>3}. user {}  score {:.3}", n + 1, p.user, p.score)?;
                for r in &p.reasons {
                    writeln!(f, "       {}: {}", r.kind, r.text)?;
                }
            }
        }
        if let Some(topics) = &self.topics {
            writeln!(f, "{} topics:", topics.len())?;
            for (n, t) in topics.iter().enumerate() {
                writeln!(f, "{:>3}. {}  score {:.3}", n + 1, t.topic, t.score)?;
                for r in &t.reasons {
                    writeln!(f, "       {r}")?;
                }
            }
        }
        Ok(())
    }
}

/// An item added at run time (cold start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    /// Raw id (must be new).
    pub id: String,
    /// Display name (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Its text.
    pub text: String,
}

/// Where [`Recommender::load`](super::Recommender::load) finds what a model directory does not hold.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The dataset spec (default: the one recorded in the model directory).
    pub spec: Option<PathBuf>,
    /// The data folder (default: the spec's).
    pub data_dir: Option<PathBuf>,
    /// The sentence-transformers folder (default: the set-up's model).
    pub text_model: Option<PathBuf>,
    /// A two-tower model directory (`polyrec train --model two_tower`) trained on the same
    /// data: a known user's nearest items by its learned vectors join the ranking
    /// candidates ([`Recommender::set_retrieval`](super::Recommender::set_retrieval)).
    pub retrieval: Option<PathBuf>,
    /// [`Recommender::candidate_limit`](super::Recommender::candidate_limit) (default 5,000).
    pub candidate_limit: Option<usize>,
    /// Search the two-tower item vectors through an HNSW graph with these options instead
    /// of exactly (catalogs that outgrow exact search; see
    /// [`crate::retrieval::Candidates::use_hnsw`]).
    pub hnsw: Option<polyrec_rank::retrieval::hnsw::HnswOptions>,
    /// Train a friend model on the dataset's `[social]` table at load time, so that
    /// requests can ask for `friends` ([`Recommender::set_social`](super::Recommender::set_social)).
    pub social: Option<SocialOptions>,
    /// Fit a topic model on the dataset's `[tags]` log at load time, so that requests can
    /// ask for `topics` ([`Recommender::set_topics`](super::Recommender::set_topics)).
    pub topics: Option<TopicOptions>,
}
