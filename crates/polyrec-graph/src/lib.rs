//! Knowledge-graph fusion: structure from triples for features, cold start and reasons.
//!
//! `polyrec-graph` stands on `polyrec-data` (it reads a [`Dataset`]'s knowledge graph,
//! items, users and social edges) and needs no libtorch: it produces dense index arrays
//! that the ranking crate turns into tensors for its trainable KG layer.
//!
//! - [`KnowledgeGraph`]: a typed petgraph graph of items, entities and users, with the
//!   relation vocabulary and its inverses, and statistics.
//! - [`NeighbourSample`]: fixed-size, seeded 1- and 2-hop (relation, entity) samples per
//!   item, reproducible whatever the thread count.
//! - Relatedness: items that share entities, weighted by relation and entity rarity; top-N
//!   per item; also for items that never appear in interactions (cold start) and for users
//!   who only declared liked items or entities.
//! - [`ReasonPath`]: paths from a user's liked items to a candidate, ranked by length, then
//!   entity rarity, then rating, and rendered as a sentence.
//!
//! - [`topics`]: topic recommendation from a tag log: the folksonomy graph and FolkRank,
//!   topic reuse, co-occurrence, popularity and text similarity blended, with a temporal
//!   hold-out.
//!
//! ```
//! use polyrec_data::{Dataset, DatasetSpec};
//! use polyrec_graph::{KnowledgeGraph, RelatednessConfig};
//! # let dir = tempfile::tempdir()?;
//! # let w = |n: &str, t: &str| std::fs::write(dir.path().join(n), t);
//! w("log.inter", "user_id:token\titem_id:token\trating:float\nu1\tHeat\t5\nu1\tCollateral\t2\n")?;
//! w("g.kg", "head_id:token\trelation_id:token\ttail_id:token\nm.heat\tdirected_by\tm.mann\nm.coll\tdirected_by\tm.mann\n")?;
//! w("g.link", "item_id:token\tentity_id:token\nHeat\tm.heat\nCollateral\tm.coll\nAli\tm.ali\n")?;
//! let spec = DatasetSpec::from_toml_str(r#"
//!     name = "tiny"
//!     interactions = { path = "log.inter", user = "user_id", item = "item_id" }
//!     kg = { triples = { path = "g.kg" }, links = { path = "g.link" } }
//!     [[tasks]]
//!     name = "rating"
//!     kind = "regression"
//!     field = "rating"
//! "#, std::path::Path::new("inline.toml"))?;
//! # let res = Dataset::load_spec(&spec, dir.path());
//! # assert!(res.as_ref().err().is_some_and(|e| e.to_string().contains("unknown item id")));
//! # std::fs::write(dir.path().join("g.link"), "item_id:token\tentity_id:token\nHeat\tm.heat\nCollateral\tm.coll\n")?;
//! let ds = Dataset::load_spec(&spec, dir.path())?;
//! let kg = KnowledgeGraph::from_dataset(&ds)?;
//! let heat = ds.items.ids.get("Heat").ok_or("no item")?;
//! let coll = ds.items.ids.get("Collateral").ok_or("no item")?;
//! let related = kg.related_items(heat, 5, &RelatednessConfig::default());
//! assert_eq!(related[0].0, coll);
//! let why = kg.reasons(&[(heat, 5.0)], coll, 1);
//! assert_eq!(why[0].to_string(), "shares directed_by m.mann with Heat, which you rated 5");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod error;
mod graph;
mod reasons;
mod related;
mod sampling;
pub mod social;
pub mod topics;

pub use error::{Error, Result};
pub use graph::{GraphStats, KnowledgeGraph, Node, RelationId};
pub use polyrec_data::Dataset;
pub use reasons::{ReasonPath, Step, strength_text};
pub use related::RelatednessConfig;
pub use sampling::NeighbourSample;
