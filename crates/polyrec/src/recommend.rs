//! Serving a trained model: from a request (a user or a profile text, a scenario, an
//! optional free-text query) to top-K items with per-task scores and reasons.
//!
//! One request runs the mission's flow:
//! 1. **language-model understanding**: the query (or a new user's profile text) is encoded
//!    by the sentence encoder, in the same space as the item texts;
//! 2. **candidates**: every catalog item when the catalog has at most
//!    [`Recommender::candidate_limit`] items, else the nearest items to the query (or the
//!    user's profile) by exact cosine, merged with knowledge-graph relatives of the user's
//!    liked items and, when a two-tower model is loaded ([`LoadOptions::retrieval`]), the
//!    known user's nearest items by its learned vectors;
//! 3. **ranking**: the multi-task model scores every candidate in the request's scenario;
//!    items the user already consumed are left out;
//! 4. **blending**: each task's prediction is put on `[0, 1]` (binary: the probability;
//!    regression: `(y - low) / (high - low)` over the spec's range, else over the
//!    candidates), and the personal score is the weighted mean over tasks (default: every
//!    item-level task, weight 1). The final score is
//!    `(1 - w) * personal + w * max(cosine, 0)`, where `cosine` is the item text's
//!    similarity to the query, or without a query to the user's profile (the mean of the
//!    liked items' texts, or a new user's profile text), and `w` is the request's
//!    `text_weight` (default 0.5 with a query, 0.2 without);
//! 5. **reasons**: a knowledge-graph path from a liked item (`polyrec-graph`), and the text
//!    evidence (query words the item's text contains, or the liked item it is closest to).
//!
//! Cold start: a new user sends a profile text and/or a few liked item ids instead of a
//! user id (the model reads the profile's embedding as the user text, the user id and
//! attributes as unknown); a new item ([`Recommender::add_item`]) is scored from its text
//! alone: it takes the model's predictions for its five nearest catalog items by text,
//! weighted by a softmax over their similarities (temperature 0.05), moved towards the
//! user's own labels on the nearest items of their history in proportion to the top
//! similarity, and its own text relevance.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use polyrec_data::{Dataset, TaskKind};
use polyrec_encode::{EmbeddingCache, Embeddings, SentenceEncoder, TextEncoder};
use polyrec_graph::{KnowledgeGraph, RelatednessConfig};
use polyrec_rank::heads::HeadKind;

use crate::feedback::Feedback;
use polyrec_rank::{EntityFeatures, Ranker, RunConfig, model_dir};
use rayon::prelude::*;

use crate::lru::Lru;
use crate::social::{FriendRecommendation, SocialOptions, SocialRecommender};
use crate::topics::{TopicOptions, TopicRecommendation, TopicRecommender};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

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

fn bad(field: &'static str, message: impl Into<String>) -> Error {
    Error::Request {
        field,
        message: message.into(),
    }
}

/// The largest K a request may ask for.
pub const MAX_K: usize = 1000;
/// Catalog items whose predictions a new item borrows (its nearest by text).
const NEIGHBOURS: usize = 5;
/// Temperature of the softmax over those neighbours' text similarities.
const NEIGHBOUR_TEMPERATURE: f64 = 0.05;
/// Memory for the per-user prediction cache (rows of `items x tasks` f32 values).
const SCORE_CACHE_BYTES: usize = 256 << 20;
/// Graph reason lists kept (per user and item).
const REASON_CACHE_ENTRIES: usize = 200_000;
/// With a diversity weight, MMR chooses K out of the best `DIVERSITY_POOL * K`.
const DIVERSITY_POOL: usize = 5;

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

/// Where [`Recommender::load`] finds what a model directory does not hold.
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
    /// candidates ([`Recommender::set_retrieval`]).
    pub retrieval: Option<PathBuf>,
    /// [`Recommender::candidate_limit`] (default 5,000).
    pub candidate_limit: Option<usize>,
    /// Search the two-tower item vectors through an HNSW graph with these options instead
    /// of exactly (catalogs that outgrow exact search; see
    /// [`crate::retrieval::Candidates::use_hnsw`]).
    pub hnsw: Option<polyrec_rank::retrieval::hnsw::HnswOptions>,
    /// Train a friend model on the dataset's `[social]` table at load time, so that
    /// requests can ask for `friends` ([`Recommender::set_social`]).
    pub social: Option<SocialOptions>,
    /// Fit a topic model on the dataset's `[tags]` log at load time, so that requests can
    /// ask for `topics` ([`Recommender::set_topics`]).
    pub topics: Option<TopicOptions>,
}

struct Added {
    id: String,
    name: String,
    vec: Vec<f32>,
}

/// A cache keyed by two dense ids, shared between replicas.
type SharedLru<V> = Arc<Mutex<Lru<(u32, u32), V>>>;

/// A trained model with its data, language model and graph, ready to answer requests.
/// `recommend` takes `&self`: one instance serves concurrent requests.
pub struct Recommender {
    ranker: Ranker,
    config: RunConfig,
    ds: Dataset,
    entities: EntityFeatures,
    encoder: SentenceEncoder,
    /// Normalised item text embeddings, `[items, dim]` row-major.
    item_vecs: Vec<f32>,
    dim: usize,
    added: Vec<Added>,
    kg: Option<KnowledgeGraph>,
    /// Per user: consumed items.
    consumed: Vec<HashSet<u32>>,
    /// Per user: (item, interaction row) of every interaction.
    rows: Vec<Vec<(u32, u32)>>,
    /// Per user: liked items with a strength (the rating when there is a rating task).
    liked: Vec<Vec<(u32, f32)>>,
    /// How a reason words the strength of a liked item.
    feedback: Feedback,
    /// Per user: the scenario of the latest interaction.
    last_scenario: Vec<u16>,
    /// Above this many items, candidates are retrieved instead of all scored.
    pub candidate_limit: usize,
    /// Learned retrieval (a two-tower model's vectors), when loaded.
    retrieval: Option<crate::retrieval::Candidates>,
    /// The friend model, when loaded (shared by the replicas of a service).
    pub(crate) social: Option<Arc<SocialRecommender>>,
    /// The topic model, when loaded (shared by the replicas of a service).
    pub(crate) topics: Option<Arc<TopicRecommender>>,
    /// Per (user, scenario): the model's predictions for the whole catalog.
    score_cache: SharedLru<Arc<Vec<f32>>>,
    /// Per (user, item): graph reasons.
    reason_cache: SharedLru<Arc<Vec<Reason>>>,
}

impl std::fmt::Debug for Recommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recommender")
            .field("dataset", &self.ds.name)
            .field("model", &self.config.model.name())
            .field("items", &self.ds.items.ids.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in one request must not poison the caches for the others.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Normalised softmax weights over similarities (temperature [`NEIGHBOUR_TEMPERATURE`]): a
/// near-copy dominates, loose matches count little. Also returns the top similarity.
fn softmax_weights<T>(sims: &[(T, f32)]) -> (f64, Vec<f64>) {
    let top = sims.iter().map(|(_, s)| f64::from(*s)).fold(0.0, f64::max);
    let w: Vec<f64> = sims
        .iter()
        .map(|(_, s)| ((f64::from(*s) - top) / NEIGHBOUR_TEMPERATURE).exp())
        .collect();
    let total = w.iter().sum::<f64>().max(1e-12);
    (top, w.into_iter().map(|x| x / total).collect())
}

/// Dot product with eight independent partial sums, so that the compiler vectorises it (a
/// plain `sum()` must add in order and stays scalar: it was the largest cost of a warm
/// request).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

const STOPWORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "that",
    "this",
    "from",
    "about",
    "some",
    "something",
    "want",
    "like",
    "movie",
    "film",
    "films",
    "movies",
    "please",
    "give",
    "show",
    "find",
    "good",
];

impl Recommender {
    /// Loads a model directory written by `polyrec train`, its dataset (the spec it records,
    /// or `options.spec`), the language model and the knowledge graph.
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Self, Error> {
        let device = polyrec_rank::DeviceRequest::Auto.resolve()?;
        let (ranker, config) = model_dir::load(dir, device)?;
        let spec_path = match (&options.spec, &config.spec) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => PathBuf::from(s),
            (None, None) => {
                return Err(Error::Load(format!(
                    "{}: the model directory names no dataset spec; pass one",
                    dir.display()
                )));
            }
        };
        let (_, ds) = crate::pipeline::load_dataset(&spec_path, options.data_dir.as_deref())?;
        let encoder = crate::pipeline::load_encoder(options.text_model.as_deref())?;
        let mut rec = Self::new(ranker, config, ds, encoder)?;
        if let Some(n) = options.candidate_limit {
            if n == 0 {
                return Err(Error::Load("candidate_limit must be at least 1".into()));
            }
            rec.candidate_limit = n;
        }
        if let Some(r) = &options.retrieval {
            rec.set_retrieval(r)?;
            if let (Some(c), Some(h)) = (&mut rec.retrieval, options.hnsw) {
                c.use_hnsw(h)?;
            }
        } else if options.hnsw.is_some() {
            return Err(Error::Load(
                "hnsw options without a two-tower model (retrieval) to search".into(),
            ));
        }
        if let Some(o) = &options.social {
            let social = SocialRecommender::fit(rec.ds.clone(), o, &mut |_, _| {})?;
            rec.set_social(Arc::new(social))?;
        }
        if let Some(o) = &options.topics {
            let topics = TopicRecommender::fit(rec.ds.clone(), o, &mut |_| {})?;
            rec.set_topics(Arc::new(topics))?;
        }
        Ok(rec)
    }

    /// Uses a friend model (trained on this recommender's dataset) for requests that ask
    /// for `friends`.
    pub fn set_social(&mut self, social: Arc<SocialRecommender>) -> Result<(), Error> {
        self.check_same_users("friend", social.dataset())?;
        self.social = Some(social);
        Ok(())
    }

    /// Uses a topic model (fitted on this recommender's dataset) for requests that ask for
    /// `topics`.
    pub fn set_topics(&mut self, topics: Arc<TopicRecommender>) -> Result<(), Error> {
        self.check_same_users("topic", topics.dataset())?;
        self.topics = Some(topics);
        Ok(())
    }

    /// A side model (friends, topics) answers for users by raw id: it must come from this
    /// recommender's dataset.
    fn check_same_users(&self, model: &str, d: &Dataset) -> Result<(), Error> {
        if d.name != self.ds.name || d.users.ids.names() != self.ds.users.ids.names() {
            return Err(Error::Load(format!(
                "the {model} model was built on dataset `{}` with {} users, this recommender \
                 serves `{}` with {} users",
                d.name,
                d.users.ids.len(),
                self.ds.name,
                self.ds.users.ids.len()
            )));
        }
        Ok(())
    }

    /// Uses a two-tower model directory for candidate generation: when the catalog is
    /// larger than [`Recommender::candidate_limit`], a known user's `candidate_limit` best
    /// items by the learned vectors join the text and graph candidates.
    pub fn set_retrieval(&mut self, dir: &Path) -> Result<(), Error> {
        self.retrieval = Some(crate::retrieval::Candidates::load(dir, &self.ds)?);
        Ok(())
    }

    /// Builds a recommender from its parts (the model must have been trained on `ds`'s
    /// kind of data: its ids and attributes are matched by name).
    pub fn new(
        ranker: Ranker,
        config: RunConfig,
        ds: Dataset,
        encoder: SentenceEncoder,
    ) -> Result<Self, Error> {
        let entities = EntityFeatures::new(ranker.space(), &ds)?;
        let texts: Vec<&str> = ds
            .items
            .texts
            .iter()
            .zip(&ds.items.names)
            .zip(ds.items.ids.names())
            .map(|((t, n), id)| t.as_deref().or(n.as_deref()).unwrap_or(id.as_str()))
            .collect();
        let mut cache = EmbeddingCache::open(&crate::home_dir().join("embeddings"), &encoder);
        let (emb, _): (Embeddings, _) = cache.encode(&encoder, &texts)?;
        let dim = emb.dim;
        let mut item_vecs = emb.data;
        for row in item_vecs.chunks_mut(dim.max(1)) {
            normalise(row);
        }
        let kg = match &ds.kg {
            Some(_) => Some(KnowledgeGraph::from_dataset(&ds)?),
            None => None,
        };
        let n_users = ds.users.ids.len();
        let like = ds.tasks.iter().position(|t| t.kind == TaskKind::Binary);
        let rating = ds.tasks.iter().position(|t| t.kind == TaskKind::Regression);
        let mut consumed = vec![HashSet::new(); n_users];
        let mut rows: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n_users];
        let mut liked: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_users];
        let mut last: Vec<(i64, u16)> = vec![(i64::MIN, 0); n_users];
        let it = &ds.interactions;
        for r in 0..it.len() {
            let (u, i) = (it.user[r] as usize, it.item[r]);
            consumed[u].insert(i);
            rows[u].push((i, r as u32));
            let positive = like.is_none_or(|t| it.labels[t][r] > 0.5);
            if positive {
                let strength = rating.map_or(1.0, |t| it.labels[t][r]);
                liked[u].push((i, strength));
            }
            if it.timestamp[r] >= last[u].0 {
                last[u] = (it.timestamp[r], it.scenario[r]);
            }
        }
        let feedback =
            Feedback::for_task(rating.map(|t| ds.tasks[t].name.as_str()), ranker.heads());
        let row_bytes = ds.items.ids.len().max(1) * ranker.heads().len().max(1) * 4;
        let score_capacity = SCORE_CACHE_BYTES / row_bytes;
        Ok(Self {
            ranker,
            config,
            entities,
            encoder,
            item_vecs,
            dim,
            added: Vec::new(),
            kg,
            consumed,
            rows,
            liked,
            feedback,
            last_scenario: last.into_iter().map(|(_, s)| s).collect(),
            candidate_limit: 5000,
            retrieval: None,
            social: None,
            topics: None,
            score_cache: Arc::new(Mutex::new(Lru::new(score_capacity))),
            reason_cache: Arc::new(Mutex::new(Lru::new(REASON_CACHE_ENTRIES))),
            ds,
        })
    }

    /// The catalog items' normalised text embeddings, `[items, dim]` row-major, and `dim`
    /// (what the text relevance and the diversity re-ranking compare).
    pub fn item_text_vectors(&self) -> (&[f32], usize) {
        (&self.item_vecs, self.dim)
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.ds
    }

    /// Items that can be recommended: the dataset's and those added at run time.
    pub fn catalog_len(&self) -> usize {
        self.ds.items.ids.len() + self.added.len()
    }

    /// The run configuration the model was trained with.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// The ranking model.
    pub fn ranker(&self) -> &Ranker {
        &self.ranker
    }

    /// The sentence encoder.
    pub fn encoder(&self) -> &SentenceEncoder {
        &self.encoder
    }

    /// Adds an item known only by its text (cold start); returns its position among the
    /// added items.
    pub fn add_item(&mut self, item: NewItem) -> Result<usize, Error> {
        if item.id.trim().is_empty() {
            return Err(bad("id", "must not be empty"));
        }
        if item.text.trim().is_empty() || item.text.len() > MAX_TEXT {
            return Err(bad("text", format!("must have 1 to {MAX_TEXT} bytes")));
        }
        if self.ds.items.ids.get(&item.id).is_some() || self.added.iter().any(|a| a.id == item.id) {
            return Err(bad("id", format!("item `{}` already exists", item.id)));
        }
        let mut vec = self.encoder.encode(&[item.text.as_str()])?.data;
        normalise(&mut vec);
        self.added.push(Added {
            name: item.name.unwrap_or_else(|| item.id.clone()),
            id: item.id,
            vec,
        });
        Ok(self.added.len() - 1)
    }

    fn item_vec(&self, c: usize) -> &[f32] {
        let n = self.ds.items.ids.len();
        if c < n {
            &self.item_vecs[c * self.dim..(c + 1) * self.dim]
        } else {
            &self.added[c - n].vec
        }
    }

    fn item_name(&self, c: usize) -> (String, String) {
        let n = self.ds.items.ids.len();
        if c < n {
            let id = self.ds.items.ids.names()[c].clone();
            let name = self.ds.items.names[c].clone().unwrap_or_else(|| id.clone());
            (id, name)
        } else {
            let a = &self.added[c - n];
            (a.id.clone(), a.name.clone())
        }
    }

    fn encode_text(&self, field: &'static str, text: &str) -> Result<Vec<f32>, Error> {
        if text.trim().is_empty() || text.len() > MAX_TEXT {
            return Err(bad(field, format!("must have 1 to {MAX_TEXT} bytes")));
        }
        let mut v = self.encoder.encode(&[text])?.data;
        normalise(&mut v);
        Ok(v)
    }

    /// The request's scenario: the one it names, else the known user's latest, else the
    /// first.
    fn scenario_of(&self, req: &Request, user: Option<u32>) -> Result<u32, Error> {
        match &req.scenario {
            Some(s) => Ok(self
                .ds
                .scenarios
                .iter()
                .position(|x| x == s)
                .ok_or_else(|| {
                    bad(
                        "scenario",
                        format!(
                            "unknown scenario `{s}` (scenarios: {})",
                            self.ds.scenarios.join(", ")
                        ),
                    )
                })? as u32),
            None => Ok(user.map_or(0, |u| u32::from(self.last_scenario[u as usize]))),
        }
    }

    /// Answers a request: the items, and the other result types it asks for.
    pub fn recommend(&self, req: &Request) -> Result<Response, Error> {
        let types = crate::multi_type::requested(req)?;
        let mut resp = if types.contains(&ResultType::Items) {
            self.recommend_items(req)?
        } else {
            self.empty_response(req)?
        };
        for t in types {
            match t {
                ResultType::Items => {}
                ResultType::Friends => resp.friends = Some(self.friends_for(req)?),
                ResultType::Topics => resp.topics = Some(self.topics_for(req)?),
            }
        }
        Ok(resp)
    }

    /// The response of a request that leaves items out: who and where, checked as for
    /// items.
    fn empty_response(&self, req: &Request) -> Result<Response, Error> {
        let k = req.k.unwrap_or(10);
        if !(1..=MAX_K).contains(&k) {
            return Err(bad("k", format!("{k} is not in 1..={MAX_K}")));
        }
        let user = match &req.user {
            Some(id) => Some(
                self.ds
                    .users
                    .ids
                    .get(id)
                    .ok_or_else(|| bad("user", format!("unknown user `{id}`")))?,
            ),
            None => None,
        };
        let scenario = self.scenario_of(req, user)?;
        Ok(Response {
            user: req.user.clone(),
            scenario: self
                .ds
                .scenarios
                .get(scenario as usize)
                .cloned()
                .unwrap_or_default(),
            items: Vec::new(),
            friends: None,
            topics: None,
        })
    }

    /// The items of a request.
    fn recommend_items(&self, req: &Request) -> Result<Response, Error> {
        let n_items = self.ds.items.ids.len();
        let k = req.k.unwrap_or(10);
        if !(1..=MAX_K).contains(&k) {
            return Err(bad("k", format!("{k} is not in 1..={MAX_K}")));
        }
        // Who.
        let user: Option<u32> = match (&req.user, &req.profile, req.liked.is_empty()) {
            (Some(_), Some(_), _) => {
                return Err(bad("profile", "send `user` or `profile`, not both"));
            }
            (Some(id), None, _) => Some(self.ds.users.ids.get(id).ok_or_else(|| {
                bad(
                    "user",
                    format!("unknown user `{id}` (a new user sends `profile` instead)"),
                )
            })?),
            (None, None, true) => {
                return Err(bad(
                    "user",
                    "send `user`, or `profile`/`liked` for a new user",
                ));
            }
            (None, _, _) => None,
        };
        let mut liked: Vec<(u32, f32)> = match user {
            Some(u) => self.liked[u as usize].clone(),
            None => Vec::new(),
        };
        for id in &req.liked {
            let i = self
                .ds
                .items
                .ids
                .get(id)
                .ok_or_else(|| bad("liked", format!("unknown item `{id}`")))?;
            liked.push((i, 1.0));
        }
        // Where.
        let scenario = self.scenario_of(req, user)?;
        // Task weights.
        let heads = self.ranker.heads();
        let mut weights: Vec<f64> = vec![0.0; heads.len()];
        if req.weights.is_empty() {
            for (t, h) in heads.iter().enumerate() {
                if !h.user_level && !matches!(h.kind, HeadKind::Multiclass { .. }) {
                    weights[t] = 1.0;
                }
            }
        } else {
            for (name, &w) in &req.weights {
                let t = heads
                    .iter()
                    .position(|h| &h.name == name && !h.user_level)
                    .ok_or_else(|| {
                        bad(
                            "weights",
                            format!(
                                "`{name}` is not an item-level task of the model (tasks: {})",
                                heads
                                    .iter()
                                    .filter(|h| !h.user_level)
                                    .map(|h| h.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                if matches!(heads[t].kind, HeadKind::Multiclass { .. }) {
                    return Err(bad(
                        "weights",
                        format!("`{name}` is a multiclass task: it has no score to blend"),
                    ));
                }
                if !(w.is_finite() && w >= 0.0) {
                    return Err(bad(
                        "weights",
                        format!("`{name}`: {w} must be finite and >= 0"),
                    ));
                }
                weights[t] = w;
            }
        }
        let total_w: f64 = weights.iter().sum();
        if total_w <= 0.0 {
            return Err(bad("weights", "at least one weight must be positive"));
        }
        // Understanding: the query, and the user's profile vector.
        let query_vec = match &req.query {
            Some(q) => Some(self.encode_text("query", q)?),
            None => None,
        };
        let mut profile_vec: Option<Vec<f32>> = match &req.profile {
            Some(p) => Some(self.encode_text("profile", p)?),
            None => None,
        };
        if profile_vec.is_none() && !liked.is_empty() {
            let mut v = vec![0f32; self.dim];
            for &(i, _) in &liked {
                for (a, b) in v.iter_mut().zip(self.item_vec(i as usize)) {
                    *a += b;
                }
            }
            normalise(&mut v);
            profile_vec = Some(v);
        }
        let relevance_vec = query_vec.as_ref().or(profile_vec.as_ref());
        let text_weight = req
            .text_weight
            .unwrap_or(if query_vec.is_some() { 0.5 } else { 0.2 });
        if !(0.0..=1.0).contains(&text_weight) {
            return Err(bad(
                "text_weight",
                format!("{text_weight} is not in [0, 1]"),
            ));
        }
        // Candidates.
        let total = n_items + self.added.len();
        // Items left out: what the user consumed (unless asked for) and what the request
        // says they liked, as a mask over the catalog.
        let mut excluded = vec![false; n_items];
        if let Some(u) = user
            && !req.include_consumed
        {
            for &i in &self.consumed[u as usize] {
                excluded[i as usize] = true;
            }
        }
        for &(i, _) in &liked[liked.len() - req.liked.len()..] {
            excluded[i as usize] = true;
        }
        let keep = |c: usize| -> bool { c >= n_items || !excluded[c] };
        let mut candidates: Vec<usize> = if total <= self.candidate_limit {
            (0..total).filter(|&c| keep(c)).collect()
        } else {
            let mut set: HashSet<usize> = HashSet::new();
            // Learned retrieval: the user's nearest items by the two-tower vectors.
            if let (Some(r), Some(u)) = (&self.retrieval, user) {
                let found = r.for_user(u, self.candidate_limit, |i| !keep(i as usize));
                set.extend(found.into_iter().map(|(i, _)| i as usize));
            }
            if let Some(v) = relevance_vec {
                let (vecs, added, dim) = (&self.item_vecs, &self.added, self.dim);
                let mut sims: Vec<(usize, f32)> = (0..total)
                    .into_par_iter()
                    .map(|c| {
                        let row = if c < n_items {
                            &vecs[c * dim..(c + 1) * dim]
                        } else {
                            &added[c - n_items].vec[..]
                        };
                        (c, dot(v, row))
                    })
                    .collect();
                let lim = self.candidate_limit.min(sims.len());
                sims.select_nth_unstable_by(lim.saturating_sub(1), |a, b| b.1.total_cmp(&a.1));
                set.extend(sims[..lim].iter().map(|s| s.0));
            }
            if let Some(kg) = &self.kg {
                let cfg = RelatednessConfig::default();
                let mut top = liked.clone();
                top.sort_by(|a, b| b.1.total_cmp(&a.1));
                for &(i, _) in top.iter().take(20) {
                    set.extend(
                        kg.related_items(i, 50, &cfg)
                            .into_iter()
                            .map(|(j, _)| j as usize),
                    );
                }
            }
            if set.is_empty() {
                set.extend(0..self.candidate_limit.min(total));
            }
            let mut v: Vec<usize> = set.into_iter().filter(|&c| keep(c)).collect();
            v.sort_unstable();
            v
        };
        for (attr, values) in &req.filters {
            let column = self
                .ds
                .items
                .attributes
                .iter()
                .find(|a| &a.name == attr)
                .ok_or_else(|| bad("filters", format!("items have no attribute `{attr}`")))?;
            let polyrec_data::Column::Categorical { vocab, codes } = &column.column else {
                return Err(bad(
                    "filters",
                    format!("`{attr}` is not a categorical attribute"),
                ));
            };
            candidates.retain(|&c| {
                c < n_items && codes[c] != 0 && {
                    let v = vocab.name(codes[c]);
                    values
                        .iter()
                        .any(|want| v == want || v.split_whitespace().any(|t| t == want))
                }
            });
        }
        // Ranking: `predictions` is `[candidates x heads]`, row-major.
        let predictions = self.score(user, scenario, &candidates, profile_vec.as_deref())?;
        let hn = heads.len();
        let norms: Vec<(f64, f64)> = heads
            .iter()
            .enumerate()
            .map(|(t, h)| match &h.kind {
                HeadKind::Regression {
                    range: Some([lo, hi]),
                    ..
                } => (f64::from(*lo), f64::from(*hi)),
                HeadKind::Regression { .. } => {
                    let col = predictions.iter().skip(t).step_by(hn.max(1)).copied();
                    let lo = col.clone().fold(f64::INFINITY, f64::min);
                    let hi = col.fold(f64::NEG_INFINITY, f64::max);
                    (lo, hi)
                }
                _ => (0.0, 1.0),
            })
            .collect();
        // Only the tasks with a positive weight take part: (head, weight / total, low, span).
        let blend: Vec<(usize, f64, f64, f64)> = weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(t, w)| {
                (
                    t,
                    w / total_w,
                    norms[t].0,
                    (norms[t].1 - norms[t].0).max(1e-9),
                )
            })
            .collect();
        let retrieval_weight = req.retrieval_weight.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&retrieval_weight) {
            return Err(bad(
                "retrieval_weight",
                format!("{retrieval_weight} is not in [0, 1]"),
            ));
        }
        // The learned retrieval's pick scores, `exp(s - max s)` over the candidates.
        let pick: Option<Vec<f64>> = match (&self.retrieval, user) {
            (Some(r), Some(u)) if retrieval_weight > 0.0 => r.scores(u, &candidates).map(|s| {
                let top = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                s.iter().map(|&x| f64::from(x - top).exp()).collect()
            }),
            _ => None,
        };
        // (item, score, text relevance, row of `predictions`)
        let mut scored: Vec<(usize, f64, Option<f64>, usize)> = candidates
            .iter()
            .enumerate()
            .map(|(pos, &c)| {
                let p = &predictions[pos * hn..(pos + 1) * hn];
                let mut personal: f64 = blend
                    .iter()
                    .map(|&(t, w, lo, span)| w * ((p[t] - lo) / span).clamp(0.0, 1.0))
                    .sum();
                if let Some(pick) = &pick {
                    personal =
                        personal.powf(1.0 - retrieval_weight) * pick[pos].powf(retrieval_weight);
                }
                let rel = relevance_vec.map(|v| f64::from(dot(v, self.item_vec(c))));
                let score = match rel {
                    Some(r) => (1.0 - text_weight) * personal + text_weight * r.max(0.0),
                    None => personal,
                };
                (c, score, rel, pos)
            })
            .collect();
        let diversity = req.diversity.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&diversity) {
            return Err(bad("diversity", format!("{diversity} is not in [0, 1]")));
        }
        let k = k.min(scored.len());
        // MMR looks past the top K: a pool of the best few K, then greedy selection.
        let pool = if diversity > 0.0 {
            (k * DIVERSITY_POOL).min(scored.len())
        } else {
            k
        };
        if pool > 0 {
            scored.select_nth_unstable_by(pool - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        scored.truncate(pool);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if diversity > 0.0 {
            scored = self.mmr(scored, k, diversity);
        }
        let items = scored
            .into_iter()
            .map(|(c, score, rel, pos)| {
                let (item, name) = self.item_name(c);
                let scores = heads
                    .iter()
                    .zip(&predictions[pos * hn..(pos + 1) * hn])
                    .filter(|(h, _)| !h.user_level)
                    .map(|(h, v)| (h.name.clone(), *v))
                    .collect();
                Recommendation {
                    item,
                    name,
                    score,
                    scores,
                    relevance: rel,
                    reasons: self.reasons(
                        c,
                        &liked,
                        user.filter(|_| req.liked.is_empty()),
                        req.query.as_deref(),
                        rel,
                    ),
                }
            })
            .collect();
        Ok(Response {
            user: req.user.clone(),
            scenario: self
                .ds
                .scenarios
                .get(scenario as usize)
                .cloned()
                .unwrap_or_default(),
            items,
            friends: None,
            topics: None,
        })
    }

    /// Greedy maximal-marginal-relevance selection of `k` out of `pool` (best first).
    fn mmr<T, U>(
        &self,
        pool: Vec<(usize, f64, T, U)>,
        k: usize,
        d: f64,
    ) -> Vec<(usize, f64, T, U)> {
        let mut rest: Vec<Option<(usize, f64, T, U)>> = pool.into_iter().map(Some).collect();
        let mut max_sim = vec![0f64; rest.len()];
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let best = rest
                .iter()
                .enumerate()
                .filter_map(|(j, r)| r.as_ref().map(|r| (j, (1.0 - d) * r.1 - d * max_sim[j])))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            let Some((j, _)) = best else { break };
            let chosen = rest[j].take().expect("present");
            let v = self.item_vec(chosen.0);
            for (m, r) in max_sim.iter_mut().zip(&rest) {
                if let Some(r) = r {
                    *m = m.max(f64::from(dot(v, self.item_vec(r.0))));
                }
            }
            out.push(chosen);
        }
        out
    }

    /// The model's predictions (label units) for `items`, `[items x heads]` row-major.
    fn predict(
        &self,
        user: Option<u32>,
        scenario: u32,
        items: &[usize],
        profile: Option<&[f32]>,
    ) -> Vec<f64> {
        let space = self.ranker.space();
        let device = self.ranker.device();
        let heads = self.ranker.heads().len();
        let user_text = |b: usize| -> Option<Tensor> {
            match (user, profile) {
                (None, Some(p)) if space.user_text_dim == p.len() as i64 => Some(
                    Tensor::from_slice(p)
                        .view([1, p.len() as i64])
                        .expand([b as i64, -1], false)
                        .contiguous(),
                ),
                _ => None,
            }
        };
        let mut out = Vec::with_capacity(items.len() * heads);
        for chunk in items.chunks(8192) {
            let triples: Vec<(Option<u32>, Option<u32>, u32)> = chunk
                .iter()
                .map(|&c| (user, Some(c as u32), scenario))
                .collect();
            let mut x = self.entities.inputs(&triples);
            x.user_text = user_text(chunk.len());
            let preds = self.ranker.predict_items(&x.to(device));
            let cols: Vec<Vec<f64>> = preds
                .iter()
                .map(|t| {
                    let t = if t.dim() == 2 {
                        t.argmax(1, false)
                    } else {
                        t.shallow_clone()
                    };
                    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(tch::Device::Cpu))
                        .unwrap_or_default()
                })
                .collect();
            for r in 0..chunk.len() {
                out.extend(
                    (0..heads).map(|h| cols.get(h).and_then(|c| c.get(r)).copied().unwrap_or(0.0)),
                );
            }
        }
        out
    }

    /// A known user's predictions for the whole catalog in a scenario, `[items x heads]`,
    /// from the cache or computed once and cached: the model and the user's inputs do not
    /// change while the recommender lives, so a cached row is exactly what the model gives.
    fn catalog_predictions(&self, user: u32, scenario: u32) -> Arc<Vec<f32>> {
        let key = (user, scenario);
        if let Some(hit) = lock(&self.score_cache).get(&key) {
            return hit;
        }
        let n_items = self.ds.items.ids.len();
        let all: Vec<usize> = (0..n_items).collect();
        let flat: Vec<f32> = self
            .predict(Some(user), scenario, &all, None)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let flat = Arc::new(flat);
        lock(&self.score_cache).insert(key, Arc::clone(&flat));
        flat
    }

    /// Computes and caches the predictions of these known users in these scenarios (the
    /// warm-up of a service), and the graph reasons of each one's default top 10 there;
    /// returns how many prediction rows were computed.
    pub fn warm_up(&self, keys: &[(u32, u32)]) -> usize {
        let mut n = 0;
        for &(u, s) in keys {
            if (u as usize) < self.ds.users.ids.len()
                && (s as usize) < self.ds.scenarios.len().max(1)
                && !lock(&self.score_cache).contains(&(u, s))
            {
                self.catalog_predictions(u, s);
                n += 1;
                let req = Request {
                    user: Some(self.ds.users.ids.names()[u as usize].clone()),
                    scenario: self.ds.scenarios.get(s as usize).cloned(),
                    ..Request::default()
                };
                // Only for the caches: a failure here is the request's to report later.
                let _ = self.recommend(&req);
            }
        }
        n
    }

    /// Whether answering `req` needs neither the language model nor the ranking model: a
    /// known user, no query or profile text, and their predictions in the scenario cached
    /// (such a request costs well under a millisecond; the service answers it inline).
    pub fn answers_from_cache(&self, req: &Request) -> bool {
        if req.query.is_some() || req.profile.is_some() || !req.liked.is_empty() {
            return false;
        }
        let Some(u) = req.user.as_ref().and_then(|id| self.ds.users.ids.get(id)) else {
            return false;
        };
        let Ok(s) = self.scenario_of(req, Some(u)) else {
            return false;
        };
        self.ds.items.ids.len() <= self.candidate_limit && lock(&self.score_cache).contains(&(u, s))
    }

    /// Makes this recommender use `other`'s caches (replicas of one model in a service
    /// share what any of them computed), and its friend model, topic model and HNSW graph
    /// where this one was loaded without them.
    pub fn share_caches(&mut self, other: &Recommender) {
        self.score_cache = Arc::clone(&other.score_cache);
        self.reason_cache = Arc::clone(&other.reason_cache);
        if self.social.is_none() {
            self.social = other.social.clone();
        }
        if self.topics.is_none() {
            self.topics = other.topics.clone();
        }
        if let (Some(mine), Some(theirs)) = (&mut self.retrieval, &other.retrieval) {
            mine.share_hnsw(theirs);
        }
    }

    /// Cache entries and (hits, misses): the per-user prediction cache, then the graph
    /// reason cache.
    pub fn cache_stats(&self) -> [(usize, u64, u64); 2] {
        let a = lock(&self.score_cache);
        let b = lock(&self.reason_cache);
        [
            (a.len(), a.stats().0, a.stats().1),
            (b.len(), b.stats().0, b.stats().1),
        ]
    }

    /// Each task's prediction (label units) for every candidate in the scenario,
    /// `[candidates x heads]` row-major.
    fn score(
        &self,
        user: Option<u32>,
        scenario: u32,
        candidates: &[usize],
        profile: Option<&[f32]>,
    ) -> Result<Vec<f64>, Error> {
        let n_items = self.ds.items.ids.len();
        let h = self.ranker.heads().len();
        // A known user's predictions do not depend on `profile` (only a new user's text goes
        // into the model), so they come from the per-user cache.
        let cached = match user {
            Some(u) if n_items <= self.candidate_limit => {
                Some(self.catalog_predictions(u, scenario))
            }
            _ => None,
        };
        let predict = |items: &[usize]| -> Vec<f64> {
            match &cached {
                Some(all) => items
                    .iter()
                    .flat_map(|&c| all[c * h..(c + 1) * h].iter().map(|&v| f64::from(v)))
                    .collect(),
                None => self.predict(user, scenario, items, profile),
            }
        };
        let known_pos: Vec<usize> = (0..candidates.len())
            .filter(|&p| candidates[p] < n_items)
            .collect();
        if known_pos.len() == candidates.len() {
            return Ok(predict(candidates));
        }
        let known: Vec<usize> = known_pos.iter().map(|&p| candidates[p]).collect();
        // `table` holds predictions for the items of `row_of` (item -> row).
        let mut table = predict(&known);
        let mut row_of: std::collections::HashMap<usize, usize> =
            known.iter().enumerate().map(|(r, &c)| (c, r)).collect();
        // A new item takes the model's predictions for its nearest catalog items by text,
        // weighted by similarity: the model never saw an item without id and attributes.
        let new_pos: Vec<usize> = (0..candidates.len())
            .filter(|&p| candidates[p] >= n_items)
            .collect();
        let neighbours: Vec<Vec<(usize, f32)>> = new_pos
            .iter()
            .map(|&p| {
                let v = self.item_vec(candidates[p]);
                let mut sims: Vec<(usize, f32)> = (0..n_items)
                    .map(|j| (j, dot(v, self.item_vec(j)).max(0.0)))
                    .collect();
                let k = NEIGHBOURS.min(sims.len());
                if k > 0 {
                    sims.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
                }
                sims.truncate(k);
                sims
            })
            .collect();
        let mut missing: Vec<usize> = neighbours
            .iter()
            .flatten()
            .map(|&(j, _)| j)
            .filter(|j| !row_of.contains_key(j))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let first = table.len() / h.max(1);
        table.extend(predict(&missing));
        row_of.extend(missing.into_iter().enumerate().map(|(r, c)| (c, first + r)));
        let mut out = vec![0.0; candidates.len() * h];
        for (r, &p) in known_pos.iter().enumerate() {
            out[p * h..(p + 1) * h].copy_from_slice(&table[r * h..(r + 1) * h]);
        }
        for (&p, near) in new_pos.iter().zip(&neighbours) {
            let (_, w) = softmax_weights(near);
            let avg = &mut out[p * h..(p + 1) * h];
            for (&(j, _), wj) in near.iter().zip(&w) {
                let r = row_of[&j];
                for (a, v) in avg.iter_mut().zip(&table[r * h..(r + 1) * h]) {
                    *a += wj * v;
                }
            }
            if let Some(u) = user {
                self.blend_history(u, candidates[p], avg);
            }
        }
        Ok(out)
    }

    /// Moves a new item's borrowed predictions towards the user's own labels on the items of
    /// their history closest to it by text (softmax over the five nearest), in proportion
    /// to how close the nearest one is: a sequel of a film the user rated 5 is predicted
    /// near 5 for that user, an item unlike their history keeps the borrowed predictions.
    fn blend_history(&self, user: u32, c: usize, pred: &mut [f64]) {
        let rows = &self.rows[user as usize];
        if rows.is_empty() {
            return;
        }
        let v = self.item_vec(c);
        let mut sims: Vec<(u32, f32)> = rows
            .iter()
            .map(|&(i, r)| (r, dot(v, self.item_vec(i as usize)).max(0.0)))
            .collect();
        let k = NEIGHBOURS.min(sims.len());
        sims.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        sims.truncate(k);
        let (top, w) = softmax_weights(&sims);
        for (t, head) in self.ranker.heads().iter().enumerate() {
            if head.user_level || matches!(head.kind, HeadKind::Multiclass { .. }) {
                continue;
            }
            let Some(ti) = self.ds.task_index(&head.name) else {
                continue;
            };
            let own: f64 = sims
                .iter()
                .zip(&w)
                .map(|(&(r, _), wj)| wj * f64::from(self.ds.interactions.labels[ti][r as usize]))
                .sum::<f64>();
            if own.is_finite() {
                pred[t] = top * own + (1.0 - top) * pred[t];
            }
        }
    }

    /// Graph reasons: paths from the user's liked items to `c` (cached per known user).
    fn graph_reasons(&self, c: usize, liked: &[(u32, f32)], user: Option<u32>) -> Arc<Vec<Reason>> {
        let n_items = self.ds.items.ids.len();
        let key = user.map(|u| (u, c as u32));
        if let Some(k) = &key
            && let Some(hit) = lock(&self.reason_cache).get(k)
        {
            return hit;
        }
        let mut out = Vec::new();
        if let Some(kg) = &self.kg
            && c < n_items
        {
            for p in kg.reasons(liked, c as u32, 1) {
                let cand = self.item_name(c).1;
                let path = if p.length == 1 {
                    vec![p.from_name.clone(), p.via.relation.clone(), cand]
                } else {
                    vec![
                        p.from_name.clone(),
                        p.via.relation.clone(),
                        p.via.label.clone(),
                        cand,
                    ]
                };
                out.push(Reason {
                    kind: "graph".into(),
                    text: p.describe(&self.feedback.phrase(p.strength)),
                    path: Some(path),
                    words: Vec::new(),
                });
            }
        }
        let out = Arc::new(out);
        if let Some(k) = key {
            lock(&self.reason_cache).insert(k, Arc::clone(&out));
        }
        out
    }

    fn reasons(
        &self,
        c: usize,
        liked: &[(u32, f32)],
        user: Option<u32>,
        query: Option<&str>,
        relevance: Option<f64>,
    ) -> Vec<Reason> {
        let n_items = self.ds.items.ids.len();
        let mut out: Vec<Reason> = self.graph_reasons(c, liked, user).as_ref().clone();
        let text = if c < n_items {
            self.ds.items.texts[c].clone().unwrap_or_default()
        } else {
            String::new()
        };
        if let Some(q) = query {
            let lower = text.to_lowercase();
            let words: Vec<String> = q
                .split(|ch: char| !ch.is_alphanumeric())
                .map(str::to_lowercase)
                .filter(|w| w.len() >= 3 && !STOPWORDS.contains(&w.as_str()))
                .filter(|w| {
                    lower
                        .split(|ch: char| !ch.is_alphanumeric())
                        .any(|t| t == w)
                })
                .collect();
            let sim = relevance.unwrap_or(0.0);
            out.push(Reason {
                kind: "text".into(),
                text: if words.is_empty() {
                    format!("close in meaning to your request (text similarity {sim:.2})")
                } else {
                    format!(
                        "its description matches \"{}\" from your request (text similarity {sim:.2})",
                        words.join("\", \"")
                    )
                },
                path: None,
                words: words.clone(),
            });
        } else if let Some((h, s)) = liked
            .iter()
            .map(|&(h, s)| (h, s, dot(self.item_vec(h as usize), self.item_vec(c))))
            .filter(|&(h, _, _)| h as usize != c)
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(h, s, sim)| ((h, sim), s))
        {
            let name = self.item_name(h.0 as usize).1;
            out.push(Reason {
                kind: "text".into(),
                text: format!(
                    "close to {name}, {} (text similarity {:.2})",
                    self.feedback.phrase(s),
                    h.1
                ),
                path: None,
                words: Vec::new(),
            });
        } else if let Some(sim) = relevance {
            out.push(Reason {
                kind: "text".into(),
                text: format!("close in meaning to your profile (text similarity {sim:.2})"),
                path: None,
                words: Vec::new(),
            });
        }
        out
    }
}
