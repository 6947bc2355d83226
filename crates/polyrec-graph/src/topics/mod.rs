//! Topic recommendation from a tag log (a folksonomy: users attach free-text tags to
//! items): which topics a user is likely to use next.
//!
//! - [`TagHistory`]: the applications (user, item, topic, time) and the per-user
//!   [`TemporalSplit`];
//! - [`Folksonomy`]: the user-topic-item graph on petgraph and FolkRank (personalised
//!   PageRank from the user minus the global PageRank);
//! - [`TopicSignals`]: the [`SIGNALS`] per user and topic: reuse (frequency with recency
//!   decay), co-occurrence over items and over users, FolkRank, popularity, and the cosine
//!   between the user's profile and each topic's text embedding ([`TopicVectors`], passed
//!   in as plain rows: this crate needs no language model; `polyrec::topics` computes them);
//! - [`TopicModel`]: the signals blended with weights chosen on a grid by recall@K on the
//!   latest part of each user's training history, top-K topics with [`TopicEvidence`];
//! - [`evaluate`]: the temporal hold-out, blend against each signal alone.
//!
//! ```
//! use polyrec_graph::topics::{Application, TagHistory, TopicConfig, TopicModel};
//! let app = |user, item, topic, time| Application { user, item, topic, time };
//! // User 0 tags with topics 0 and 1; user 1 uses 1 and 2 on the same item.
//! let h = TagHistory { n_users: 2, n_items: 2, n_topics: 3, applications: vec![
//!     app(0, 0, 0, 1), app(0, 1, 1, 2), app(1, 1, 1, 3), app(1, 1, 2, 4),
//! ]};
//! let model = TopicModel::fit(&h, None, &TopicConfig::default())?;
//! let new = model.recommend(0, 1, true);
//! assert_eq!(new[0].topic, 2);
//! assert_eq!(new[0].evidence.user_neighbour, Some(1));
//! # Ok::<(), polyrec_graph::Error>(())
//! ```

mod folksonomy;
mod history;
mod holdout;
mod model;
mod signals;

pub use folksonomy::{FolkNode, Folksonomy};
pub use history::{Application, TagHistory, TemporalSplit};
pub use holdout::{TopicReport, TopicRow, evaluate};
pub use model::{
    BlendWeights, TopicConfig, TopicEvidence, TopicModel, TopicSuggestion, Weights, choose_weights,
    one_hot, rank, weight_grid,
};
pub use signals::{
    N_SIGNALS, SIGNALS, Signal, SignalScores, TopicSignals, TopicVectors, UserTopic,
};
