//! The error type of `polyrec-encode`.

use std::path::PathBuf;

/// Errors raised while loading a model or encoding texts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A model file is missing or malformed.
    #[error("model {path}: {message}")]
    Model {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An input file of texts is unusable.
    #[error("{path}:{line}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when it concerns the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A libtorch operation failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A device was requested that this machine cannot provide (or that is not a device).
    #[error("device `{requested}` is not available: {reason}")]
    Device {
        /// What was asked for (`cuda`, `cuda:1`, ...).
        requested: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A CPU encoding worker thread panicked (a bug: please report it).
    #[error("encoding worker: {0}")]
    Worker(String),
}

impl Error {
    pub(crate) fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Model {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
