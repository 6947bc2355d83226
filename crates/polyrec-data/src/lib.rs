//! Ingestion of multi-scenario, multi-task recommendation data, with every row validated.
//!
//! `polyrec-data` is the bottom layer of polyrec: the graph, encoder, ranking and CLI
//! crates stand on the [`Dataset`] it builds, and it needs no libtorch. A TOML
//! [`DatasetSpec`] says which files to read (RecBole atomic files, CSV/TSV, JSON Lines,
//! Parquet, gzip-compressed or not), the role of each column, how item and user texts are
//! assembled from fields, how each task's label and each row's scenario are derived, and
//! where the knowledge-graph triples, item-entity links and social edges are.
//!
//! Bad input never panics and is never dropped silently: every rejected row is a
//! [`RowError`] naming the file, line, field, value and reason. Under `on_error = "fail"`
//! loading stops with the first errors; under `"skip"` it goes on, writes every rejected
//! row to a reject file and accounts for every row in [`LoadReport`].
//!
//! ```
//! use polyrec_data::{Dataset, DatasetSpec};
//! # let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("log.csv"), "user,item,stars\nu1,i1,5\nu2,i1,2\nu1,i2,oops\n")?;
//! let spec = DatasetSpec::from_toml_str(r#"
//!     name = "tiny"
//!     on_error = "skip"
//!     reject_file = "REJECTS"
//!     interactions = { path = "log.csv", user = "user", item = "item" }
//!     [[tasks]]
//!     name = "like"
//!     kind = "binary"
//!     field = "stars"
//!     rule = { op = ">=", threshold = 4 }
//! "#.replace("REJECTS", &dir.path().join("rejects.tsv").display().to_string()).as_str(),
//!     std::path::Path::new("inline.toml"))?;
//! let ds = Dataset::load_spec(&spec, dir.path())?;
//! assert_eq!(ds.interactions.len(), 2);
//! assert_eq!(ds.interactions.labels[0], [1.0, 0.0]);
//! assert_eq!(ds.report.rejected(), 1); // line 4: "oops" is not a number
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod batch;
pub mod cache;
mod dataset;
mod error;
pub mod limits;
mod load;
pub mod persist;
pub mod read;
mod report;
pub mod spec;
mod split;
mod stats;
mod vocab;

pub use batch::{Batch, epoch_batches};
pub use dataset::{
    Attribute, Column, Dataset, Interactions, ItemLink, Items, KgData, TagLog, Task, TaskKind,
    Triple, Users,
};
pub use error::{Error, Result, RowError};
pub use report::{FileReport, LoadReport};
pub use spec::{DatasetSpec, ErrorPolicy, Format, SpecVars};
pub use split::{
    ColdStart, Split, cold_start_split, cold_start_split_cold_valid, last_n_split, leave_one_out,
    random_split, temporal_split,
};
pub use stats::{DatasetStats, ScenarioStats, TaskStats};
pub use vocab::Vocab;

/// Under `on_error = "fail"`, loading stops once this many rows have been rejected.
pub const MAX_REPORTED_ERRORS: usize = 20;
