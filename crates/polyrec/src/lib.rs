//! polyrec: language-model-enhanced, multi-scenario, multi-task recommendation.
//!
//! This is the thin facade over the polyrec crates. Each layer is re-exported as a module,
//! so one dependency gives the whole stack, while users who need only one layer can depend
//! on that crate alone (the data, graph and metrics crates build without libtorch):
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`data`] | `polyrec-data` | ingest logs, catalogs and knowledge-graph triples from a TOML spec, validating every row |
//! | [`graph`] | `polyrec-graph` | knowledge-graph fusion (petgraph): neighbours, related items, cold start, reason paths |
//! | [`encode`] | `polyrec-encode` | Transformer sentence embeddings on libtorch, CUDA when present |
//! | [`rank`] | `polyrec-rank` | multi-scenario, multi-task ranking models |
//! | [`eval`] | `polyrec-eval` | metrics per scenario x task, intervals and reports |
//!
//! [`social`] suggests friends (the social scenario) with reasons, from the friendship
//! graph, behaviour and profile texts through the language model. [`topics`] suggests
//! topics (tags) a user is likely to use next, from a tag log and the topics' texts. One
//! [`Request`] can ask for several [`ResultType`]s (items, friends, topics) and gets them in
//! one [`Response`].
//!
//! The flow: user input → language-model understanding → knowledge-graph fusion → ranking
//! model → personalised results with reasons.
//!
//! ```
//! use polyrec::rank::DeviceRequest;
//!
//! // Where models run: CUDA when libtorch sees a GPU, the CPU otherwise.
//! let device = DeviceRequest::Auto.resolve()?;
//! assert_eq!(device.is_cuda(), tch_available_cuda());
//! # fn tch_available_cuda() -> bool { polyrec::rank::DeviceReport::probe().cuda_available }
//! # Ok::<(), polyrec::rank::Error>(())
//! ```
#![warn(missing_docs)]

/// Data ingestion: specs, readers, validation, splits and batches (`polyrec-data`).
pub mod data {
    pub use polyrec_data::*;
}

/// Knowledge-graph fusion (`polyrec-graph`).
pub mod graph {
    pub use polyrec_graph::*;
}

/// Language-model text encoding on libtorch (`polyrec-encode`).
pub mod encode {
    pub use polyrec_encode::*;
}

/// Multi-scenario, multi-task ranking models (`polyrec-rank`).
pub mod rank {
    pub use polyrec_rank::*;
}

/// Metrics and reports (`polyrec-eval`).
pub mod eval {
    pub use polyrec_eval::*;
}

mod feedback;
mod lru;
mod multi_type;
pub mod pipeline;
pub mod recommend;
pub mod retrieval;
pub mod serve;
pub mod setup;
pub mod social;
pub mod topics;
pub mod web;
pub use pipeline::{Pipeline, Trained};
pub use recommend::{
    LoadOptions, NewItem, Recommendation, Recommender, Request, Response, ResultType,
};

/// The names most programs need, in one import: `use polyrec::prelude::*;`.
pub mod prelude {
    pub use polyrec_data::{Dataset, DatasetSpec, DatasetStats, TaskKind};
    pub use polyrec_encode::{EncoderOptions, SentenceEncoder, TextEncoder};
    pub use polyrec_eval::report::TaskType;
    pub use polyrec_graph::{KnowledgeGraph, RelatednessConfig};
    pub use polyrec_rank::{DeviceRequest, ModelConfig, Ranker, RunConfig};
}

/// polyrec's home folder, where the set-up installs its packages and where caches live:
/// `$POLYREC_HOME`, else `$XDG_CACHE_HOME/polyrec`, else `~/.cache/polyrec`
/// (see [`setup`]).
pub fn home_dir() -> std::path::PathBuf {
    setup::home_dir()
}
