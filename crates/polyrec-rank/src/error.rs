//! The error type of `polyrec-rank`.

use std::path::PathBuf;

/// Errors raised while building, training, saving, loading or running ranking models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A libtorch operation failed (shape mismatch, device error, ...).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Loading or splitting the data failed.
    #[error(transparent)]
    Data(#[from] polyrec_data::Error),
    /// Building the knowledge graph or its samples failed.
    #[error(transparent)]
    Graph(#[from] polyrec_graph::Error),
    /// Encoding texts failed.
    #[error(transparent)]
    Encode(#[from] polyrec_encode::Error),
    /// A model configuration value is invalid.
    #[error("invalid model config: field `{field}` = {value}: {reason}")]
    Config {
        /// The configuration field.
        field: &'static str,
        /// The offending value, rendered.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A configuration or model file could not be read, parsed or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The data do not fit what the model or the request needs.
    #[error("{0}")]
    Input(String),
}

impl Error {
    /// A file error from any displayable cause.
    pub(crate) fn file(path: &std::path::Path, cause: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.to_path_buf(),
            message: cause.to_string(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
