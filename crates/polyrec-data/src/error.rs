//! The error type of `polyrec-data`: every rejected row names its file, line, field and value.

use std::fmt;
use std::path::PathBuf;

/// Why one input row was rejected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    /// The input file.
    pub file: PathBuf,
    /// 1-based line (or record) number in that file; the header is line 1 for files with one.
    pub line: usize,
    /// The column or field at fault (empty when the whole row is at fault).
    pub field: String,
    /// The offending value, as read (truncated to 120 characters).
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl RowError {
    /// Builds a row error, truncating long values.
    pub fn new(
        file: impl Into<PathBuf>,
        line: usize,
        field: impl Into<String>,
        value: impl AsRef<str>,
        reason: impl Into<String>,
    ) -> Self {
        let value = value.as_ref();
        let value = if value.chars().count() > 120 {
            let mut v: String = value.chars().take(117).collect();
            v.push_str("...");
            v
        } else {
            value.to_string()
        };
        Self {
            file: file.into(),
            line,
            field: field.into(),
            value,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if !self.field.is_empty() {
            write!(f, "field `{}` ", self.field)?;
        }
        if self.field.is_empty() && self.value.is_empty() {
            // A fault of the file or the line as a whole (a bound, a structure).
            return write!(f, "{}", self.reason);
        }
        write!(f, "value {:?}: {}", self.value, self.reason)
    }
}

/// Errors of `polyrec-data`.
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
    /// The dataset spec is malformed or inconsistent.
    #[error("spec {path}: {message}")]
    Spec {
        /// The spec file (or `<inline>`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A header lacks a column the spec refers to.
    #[error("{file}: no column `{column}` (the header has: {available})")]
    MissingColumn {
        /// The input file.
        file: PathBuf,
        /// The column the spec names.
        column: String,
        /// The columns that are there.
        available: String,
    },
    /// Rows were rejected under the `fail` policy.
    #[error("{} invalid row(s); first: {}", .total, .errors.first().map(ToString::to_string).unwrap_or_default())]
    InvalidRows {
        /// The first errors, in file order (at most [`crate::MAX_REPORTED_ERRORS`]).
        errors: Vec<RowError>,
        /// How many rows were found invalid before stopping.
        total: usize,
    },
    /// The binary cache could not be used.
    #[error("cache {path}: {message}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An input passes one of the bounds in [`crate::limits`] (size, line length,
    /// decompression ratio, number of scenarios or classes), or is not a file that can be
    /// read to its end (a device).
    #[error("{0}")]
    Limit(RowError),
    /// A spec would read or write where it may not: a path outside the data folder without
    /// `allow_outside_data_dir`, or an output (the reject file) that is one of the inputs.
    #[error("{path}: {message}")]
    Path {
        /// The path at fault.
        path: PathBuf,
        /// What is wrong and how to allow it.
        message: String,
    },
    /// A split or batch parameter is invalid.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    Param {
        /// Parameter name.
        name: &'static str,
        /// Offending value.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn spec(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Spec {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
