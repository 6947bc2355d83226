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

//!
//! The code: the request and answer types in `request`, loading and the prediction caches
//! here, the steps of the item answer (candidates, ranking, blending, diversity) in `items`,
//! the reasons in `reasons`.

mod items;
mod reasons;
mod request;
mod similarity;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use polyrec_data::{Dataset, TaskKind};
use polyrec_encode::{EmbeddingCache, Embeddings, SentenceEncoder, TextEncoder};
use polyrec_graph::{KnowledgeGraph, RelatednessConfig};
use polyrec_rank::heads::HeadKind;
use polyrec_rank::{EntityFeatures, Ranker, RunConfig, model_dir};
use rayon::prelude::*;
use tch::{Kind, Tensor};

use crate::feedback::Feedback;
use crate::lru::Lru;
use crate::social::SocialRecommender;
use crate::topics::TopicRecommender;

pub use request::*;
use similarity::{dot, normalise};

/// Catalog items whose predictions a new item borrows (its nearest by text).
const NEIGHBOURS: usize = 5;
/// Memory for the per-user prediction cache (rows of `items x tasks` f32 values).
const SCORE_CACHE_BYTES: usize = 256 << 20;
/// Graph reason lists kept (per user and item).
const REASON_CACHE_ENTRIES: usize = 200_000;
/// With a diversity weight, MMR chooses K out of the best `DIVERSITY_POOL * K`.
const DIVERSITY_POOL: usize = 5;

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
        Ok(self.response(req, scenario, Vec::new()))
    }

    /// The answer to `req` in `scenario` with these items; [`Recommender::recommend`] adds
    /// the other result types asked for.
    fn response(&self, req: &Request, scenario: u32, items: Vec<Recommendation>) -> Response {
        Response {
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
        }
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
}
