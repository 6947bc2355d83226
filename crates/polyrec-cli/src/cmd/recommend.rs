//! `polyrec recommend`: top-K items with reasons for a user (or a new user's profile) in a
//! scenario, optionally from a free-text request, with a model directory of `polyrec train`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use polyrec::rank::retrieval::hnsw::HnswOptions;
use polyrec::social::SocialOptions;
use polyrec::topics::TopicOptions;
use polyrec::{LoadOptions, Recommender, Request, ResultType};

const EXAMPLE: &str = "Examples:
  polyrec recommend --model runs/ml100k --user 196 --scenario 'age 35+' -k 10
  polyrec recommend --model runs/ml100k --user 196 --query 'a light comedy for a rainy evening'
  polyrec recommend --model runs/ml100k --profile 'I love old horror films' --weight like=0.7 --weight rating=0.3 --json
  polyrec recommend --model runs/lastfm --user 2 --types items,friends --count-task plays --verb play
  polyrec recommend --model runs/ml-latest --user 474 --types items,topics";

/// Where a trained model's dataset and language model come from (`recommend`, `serve`).
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The dataset spec (default: the one the model was trained on).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// The data folder (default: the spec's).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The sentence-transformers folder (default: the set-up's model).
    #[arg(long)]
    text_model: Option<PathBuf>,
    /// A two-tower model directory (`polyrec train --model two_tower`) trained on the same
    /// data: a known user's nearest items by its learned vectors join the candidates.
    #[arg(long)]
    retrieval: Option<PathBuf>,
    /// Above this many catalog items, candidates are retrieved (learned vectors, text,
    /// graph) instead of scoring the whole catalog.
    #[arg(long)]
    candidate_limit: Option<usize>,
    /// Search the two-tower vectors through an HNSW graph whose searches keep this many
    /// candidates (at most that many learned candidates per request) instead of exactly.
    #[arg(long, value_name = "EF_SEARCH", requires = "retrieval")]
    hnsw: Option<usize>,
    /// The result types to give, comma-separated: items, friends, topics. Friends train a
    /// friend model on the dataset's [social] table at load (`polyrec social` evaluates
    /// it); topics fit a topic model on its [tags] log.
    #[arg(long, value_delimiter = ',', default_value = "items")]
    pub types: Vec<ResultType>,
    /// For friends: the task whose labels weight an interaction in the behaviour
    /// similarity (plays; default: every interaction counts once).
    #[arg(long)]
    count_task: Option<String>,
    /// For friends: the verb of the shared-items reason ("you both VERB X").
    #[arg(long, default_value = "like")]
    verb: String,
}

impl LoadArgs {
    /// As load options.
    pub fn options(&self) -> LoadOptions {
        LoadOptions {
            spec: self.spec.clone(),
            data_dir: self.data_dir.clone(),
            text_model: self.text_model.clone(),
            retrieval: self.retrieval.clone(),
            candidate_limit: self.candidate_limit,
            hnsw: self.hnsw.map(|ef_search| HnswOptions {
                ef_search,
                ..Default::default()
            }),
            social: self
                .types
                .contains(&ResultType::Friends)
                .then(|| SocialOptions {
                    count_task: self.count_task.clone(),
                    text_model: self.text_model.clone(),
                    verb: self.verb.clone(),
                    ..Default::default()
                }),
            topics: self
                .types
                .contains(&ResultType::Topics)
                .then(|| TopicOptions {
                    text_model: self.text_model.clone(),
                    ..Default::default()
                }),
        }
    }
}

/// Arguments of `polyrec recommend`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLE)]
pub struct RecommendArgs {
    /// A model directory written by `polyrec train`.
    #[arg(long)]
    model: PathBuf,
    /// A known user's id.
    #[arg(long)]
    user: Option<String>,
    /// A new user's profile text (instead of --user).
    #[arg(long)]
    profile: Option<String>,
    /// A new user's liked item ids (repeatable).
    #[arg(long)]
    liked: Vec<String>,
    /// The scenario (default: the user's latest).
    #[arg(long)]
    scenario: Option<String>,
    /// A free-text request.
    #[arg(long)]
    query: Option<String>,
    /// How many items.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Blend weight of a task, TASK=W (repeatable; default every item-level task, 1).
    #[arg(long = "weight", value_name = "TASK=W")]
    weights: Vec<String>,
    /// Weight of text relevance against the personal score, in [0, 1].
    #[arg(long)]
    text_weight: Option<f64>,
    /// Diversity weight in [0, 1]: re-rank by maximal marginal relevance over item texts.
    #[arg(long)]
    diversity: Option<f64>,
    #[command(flatten)]
    sources: LoadArgs,
    /// Print the JSON response (the body `POST /recommend` returns).
    #[arg(long)]
    json: bool,
}

pub fn run(a: RecommendArgs) -> anyhow::Result<ExitCode> {
    let mut weights = BTreeMap::new();
    for w in &a.weights {
        let (task, value) = w
            .split_once('=')
            .with_context(|| format!("--weight {w}: expected TASK=W"))?;
        let value: f64 = value
            .parse()
            .with_context(|| format!("--weight {w}: `{value}` is not a number"))?;
        weights.insert(task.to_string(), value);
    }
    let rec = Recommender::load(&a.model, &a.sources.options())?;
    let req = Request {
        user: a.user,
        profile: a.profile,
        liked: a.liked,
        scenario: a.scenario,
        query: a.query,
        k: Some(a.k),
        weights,
        text_weight: a.text_weight,
        diversity: a.diversity,
        types: a.sources.types.clone(),
        ..Default::default()
    };
    let resp = rec.recommend(&req)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&resp)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(q) = &req.query {
        println!("request: {q:?}");
    }
    print!("{resp}");
    Ok(ExitCode::SUCCESS)
}
