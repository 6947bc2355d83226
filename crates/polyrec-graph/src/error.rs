//! The error type of `polyrec-graph`.

/// Errors of `polyrec-graph`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The dataset has no knowledge graph.
    #[error("dataset `{0}` has no knowledge graph (add a [kg] section to its spec)")]
    NoKnowledgeGraph(String),
    /// An index is out of range.
    #[error("{kind} {index} is out of range (there are {len})")]
    OutOfRange {
        /// `item`, `user` or `entity`.
        kind: &'static str,
        /// The index.
        index: u32,
        /// How many there are.
        len: usize,
    },
    /// A sampling parameter is invalid.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    Param {
        /// Parameter.
        name: &'static str,
        /// Value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// Loading the data failed.
    #[error(transparent)]
    Data(#[from] polyrec_data::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
