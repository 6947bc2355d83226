//! The social scenario: people and what they do, for friend suggestions.
//!
//! - [`SocialNetwork`]: the friendship graph on petgraph, with common neighbours,
//!   Adamic-Adar, friends of friends and personalised PageRank;
//! - [`Behaviour`]: who played (bought, watched) what and how much, and how alike two
//!   users are; [`ProfileVectors`]: profile-text embeddings passed in as plain numbers
//!   (this crate needs no language model);
//! - [`FriendModel`]: candidates from all of these, scored by a learned [`LinkModel`] over
//!   [`FEATURE_NAMES`], as [`FriendSuggestion`]s whose evidence (common friends, shared
//!   items, similarities) makes the reasons;
//! - [`LinkHoldout`] and [`evaluate`]: the hold-out protocol (AUC, recall@K) for the model
//!   and the classic [`Baseline`]s.

mod behaviour;
mod features;
mod friends;
mod holdout;
mod model;

pub use behaviour::{Behaviour, ProfileVectors};
pub use features::{FEATURE_NAMES, FeatureSources, N_FEATURES, PairFeatures};
pub use friends::{
    CandidateConfig, CandidateSource, FriendConfig, FriendModel, FriendSuggestion, ItemSuggestion,
};
pub use holdout::{Baseline, LinkHoldout, LinkReport, LinkScorer, evaluate};
pub use model::{LinkModel, LinkModelConfig, NodeRef};

mod network;
pub use network::SocialNetwork;
